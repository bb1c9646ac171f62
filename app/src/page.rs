//! The page: WebGPU check, default weights, and the embedding of a face the user picks.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;

use crate::gpu::{self, LoadedModel};
use crate::media;

const DEFAULT_WEIGHTS: &str = "weights/default.fabnet";

#[derive(Clone, PartialEq)]
enum Status {
    Starting,
    NoWebGpu,
    Ready(String),
    Failed(String),
}

#[derive(Clone)]
struct Embedded {
    name: String,
    preview: String,
    values: Vec<f32>,
}

#[component]
pub fn App() -> impl IntoView {
    let status = RwSignal::new(Status::Starting);
    let model = StoredValue::new_local(None::<LoadedModel>);
    let embedded = RwSignal::new(None::<Embedded>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    // Start the GPU and load the default weights once.
    spawn_local(async move {
        if !gpu::webgpu_available() {
            status.set(Status::NoWebGpu);
            return;
        }
        let result = async {
            let device = gpu::init_device().await?;
            let bytes = media::fetch_bytes(DEFAULT_WEIGHTS).await?;
            gpu::load(&bytes, &device)
        }
        .await;
        match result {
            Ok(loaded) => {
                let c = loaded.info.config;
                status.set(Status::Ready(format!(
                    "{} px faces, {}-d embedding. {}",
                    c.image_size, c.embedding_dim, loaded.info.provenance
                )));
                model.set_value(Some(loaded));
            }
            Err(e) => status.set(Status::Failed(e)),
        }
    });

    let on_pick = move |ev: leptos::ev::Event| {
        let Some(input) = ev.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()) else { return };
        let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
        error.set(None);
        busy.set(true);
        spawn_local(async move {
            match embed_file(model, &file).await {
                Ok(e) => embedded.set(Some(e)),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <main>
            <header>
                <h1>"FAb-Net"</h1>
                <p class="tagline">
                    "Self-supervised facial attribute embeddings, computed on your own GPU. "
                    "Nothing you load leaves this device."
                </p>
            </header>
            <section class="status" data-testid="status">
                {move || match status.get() {
                    Status::Starting => view! { <p>"Starting WebGPU and loading the default weights…"</p> }.into_any(),
                    Status::NoWebGpu => view! {
                        <p class="problem" data-testid="error">
                            "This browser has no WebGPU. Use a recent Chrome, Edge or Safari, or enable WebGPU in your browser's settings, then reload."
                        </p>
                    }.into_any(),
                    Status::Failed(e) => view! { <p class="problem" data-testid="error">{e}</p> }.into_any(),
                    Status::Ready(about) => view! { <p data-testid="model-ready">"Model ready: " {about}</p> }.into_any(),
                }}
            </section>
            <section class="pick">
                <label>
                    "Embed a face image: "
                    <input type="file" accept="image/*" data-testid="image-input" on:change=on_pick
                        prop:disabled=move || !matches!(status.get(), Status::Ready(_)) || busy.get() />
                </label>
                {move || busy.get().then(|| view! { <span class="busy">"embedding…"</span> })}
                {move || error.get().map(|e| view! { <p class="problem" data-testid="error">{e}</p> })}
            </section>
            {move || embedded.get().map(|e| view! { <EmbeddingView embedded=e /> })}
        </main>
    }
}

/// Decode `file`, embed it with the loaded model, and describe the result.
async fn embed_file(model: StoredValue<Option<LoadedModel>, LocalStorage>, file: &web_sys::File) -> Result<Embedded, String> {
    let size = model
        .with_value(|m| m.as_ref().map(|m| m.model.config.image_size))
        .ok_or("the model is not loaded yet")?;
    let (chw, preview) = media::image_file_to_chw(file, size).await?;
    // The model leaves its slot while the GPU works (the embedding is awaited), then goes back.
    let loaded = model.try_update_value(|m| m.take()).flatten().ok_or("the model is busy")?;
    let values = gpu::embed(&loaded, chw).await;
    model.set_value(Some(loaded));
    Ok(Embedded { name: file.name(), preview, values: values? })
}

#[component]
fn EmbeddingView(embedded: Embedded) -> impl IntoView {
    let peak = embedded.values.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let norm = embedded.values.iter().map(|v| v * v).sum::<f32>().sqrt();
    let bars = embedded
        .values
        .iter()
        .map(|v| {
            let height = 50.0 * v.abs() / peak;
            let style = if *v >= 0.0 {
                format!("height:{height:.1}px;margin-top:{:.1}px", 50.0 - height)
            } else {
                format!("height:{height:.1}px;margin-top:50px")
            };
            view! { <span class="bar" class:negative=*v < 0.0 style=style title=format!("{v:.4}")></span> }
        })
        .collect_view();
    let json = serde_json::to_string(&embedded.values).unwrap_or_default();
    view! {
        <section class="embedding">
            <img src=embedded.preview.clone() alt="the face as the model sees it" width="128" height="128" />
            <div>
                <p>{embedded.name.clone()} ": " {embedded.values.len()} " dimensions, norm " {format!("{norm:.3}")}</p>
                <div class="bars" data-testid="embedding-plot">{bars}</div>
                <details><summary>"Values"</summary><code data-testid="embedding">{json}</code></details>
            </div>
        </section>
    }
}
