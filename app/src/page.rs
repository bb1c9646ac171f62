//! The page: WebGPU check, the models loading with visible progress, what the weights are,
//! and the screens (clips, webcam).

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::clips::{ClipView, Clips};
use crate::explore::Explorer;
use crate::gpu::{self, Engine};
use crate::webcam::WebcamPanel;

#[derive(Clone, PartialEq)]
enum Status {
    Loading(String),
    NoWebGpu,
    Ready,
    Failed(String),
}

#[component]
pub fn App() -> impl IntoView {
    let status = RwSignal::new(Status::Loading("starting".into()));
    let engine = RwSignal::new_local(None::<Rc<Engine>>);
    let about = RwSignal::new(String::new());
    let clips = RwSignal::new(Vec::<ClipView>::new());
    let live = RwSignal::new(None::<Vec<f32>>);

    spawn_local(async move {
        if !gpu::webgpu_available() {
            status.set(Status::NoWebGpu);
            return;
        }
        match Engine::start(|step| status.set(Status::Loading(step.to_string()))).await {
            Ok(e) => {
                let c = e.info.config;
                about.set(format!("{} px faces, {}-d embedding. {}", c.image_size, c.embedding_dim, e.info.provenance));
                engine.set(Some(Rc::new(e)));
                status.set(Status::Ready);
            }
            Err(e) => status.set(Status::Failed(e)),
        }
    });
    let engine_signal: Signal<Option<Rc<Engine>>, LocalStorage> = engine.into();

    view! {
        <main>
            <header>
                <h1>"FAb-Net"</h1>
                <p class="tagline">
                    "Self-supervised facial attribute embeddings, computed on your own GPU. "
                    "Nothing you load leaves this device: the page fetches only its own files."
                </p>
            </header>
            <section class="panel status" data-testid="status">
                {move || match status.get() {
                    Status::Loading(step) => view! { <p class="busy" data-testid="loading">"Loading: " {step} "…"</p> }.into_any(),
                    Status::NoWebGpu => view! {
                        <p class="problem" data-testid="error">
                            "This browser has no WebGPU. Use a recent Chrome, Edge or Safari, or enable WebGPU in your browser's settings, then reload."
                        </p>
                    }.into_any(),
                    Status::Failed(e) => view! { <p class="problem" data-testid="error">{e}</p> }.into_any(),
                    Status::Ready => view! {
                        <p data-testid="model-ready">"Model and face detector ready on WebGPU."</p>
                        <details class="about" data-testid="about-weights">
                            <summary>"About these weights"</summary>
                            <p>{move || about.get()}</p>
                            <p>"Faces are found with MTCNN (facenet-pytorch's weights, MIT licence), run on your GPU."</p>
                        </details>
                    }.into_any(),
                }}
            </section>
            <Clips engine=engine_signal clips=clips />
            <WebcamPanel engine=engine_signal embedding=live />
            <Explorer clips=clips live=live />
        </main>
    }
}
