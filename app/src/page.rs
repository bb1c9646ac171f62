//! The page: WebGPU check, the engine worker starting with visible progress, what the weights
//! are, the screens (clips, training, webcam, explorer), and "clear all".

use std::rc::Rc;

use fabnet_app::protocol::TrainState;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client::{self, Engine};
use crate::clips::{self, ClipView, Clips};
use crate::explore::Explorer;
use crate::privacy::PrivacyCheck;
use crate::project::{PageState, ProjectPanel};
use crate::speed::SpeedPanel;
use crate::storage;
use crate::training::{TrainLog, TrainPanel};
use crate::warm::{self, WarmLine, WarmState};
use crate::webcam::WebcamPanel;
use crate::weights;

const CLEARED: &str = "Cleared: nothing of yours is stored in this browser any more. Reload to start from the default weights.";

#[derive(Clone, PartialEq)]
enum Status {
    Loading(String),
    NoWebGpu,
    Ready,
    Failed(String),
}

/// Whether the browser keeps this page's storage under pressure (asking it to), and how much
/// is used of the quota.
async fn storage_state() -> String {
    let kept = match storage::ask_to_persist().await {
        Some(true) => "Storage: persistent (the browser keeps it until you clear it).",
        Some(false) => "Storage: best effort (the browser may clear it when the disk runs low; download the weights to keep them).",
        None => "Storage: this browser does not say whether it keeps it.",
    };
    match storage::estimate().await {
        Some((used, quota)) => format!("{kept} {:.1} MB used of {:.0} MB.", used / 1e6, quota / 1e6),
        None => kept.to_string(),
    }
}

#[component]
pub fn App() -> impl IntoView {
    let status = RwSignal::new(Status::Loading("starting".into()));
    let engine = RwSignal::new_local(None::<Rc<Engine>>);
    let about = RwSignal::new(String::new());
    let clips = RwSignal::new(Vec::<ClipView>::new());
    let live = RwSignal::new(None::<Vec<f32>>);
    // The face the webcam drives (picked in the explorer).
    let puppet = RwSignal::new(None::<crate::puppet::PuppetSource>);
    let log = RwSignal::new(TrainLog::default());
    // The attributes being taught, and their tags (stored by the Teach panel).
    let teaching = RwSignal::new(crate::teach::Teaching::default());
    let settings = RwSignal::new(fabnet_app::protocol::TrainSettings::default());
    // The clips of a project just opened, for the clips panel to show in place of its own.
    let opened = RwSignal::new(None::<Vec<storage::StoredClip>>);
    let project_page = PageState { clips, opened, teaching, settings, about };
    let notice = RwSignal::new(None::<String>);
    // How this browser keeps what the page stores, in words (asked once the engine is up).
    let kept = RwSignal::new(None::<String>);
    let warmed = RwSignal::new(WarmState::NotStarted);

    // Training updates come from the worker; when a run ends well, the model has changed:
    // store it and embed every clip again.
    let on_training = move |update: fabnet_app::protocol::TrainUpdate| {
        let ended = update.state == TrainState::Finished;
        let finished = ended && update.problem.is_none();
        let info = update.model.clone();
        log.update(|l| l.record(update));
        let Some(engine) = engine.get_untracked().filter(|_| ended) else { return };
        engine.training_ended();
        spawn_local(async move {
            match info.filter(|_| finished) {
                Some(info) => match weights::changed(&engine, info, None, about, clips).await {
                    Ok(()) => log.update(|l| l.applied = true),
                    Err(e) => notice.set(Some(e)),
                },
                // The model stays as it was: what the run's model embedded meanwhile is
                // embedded again with it.
                None => clips::refresh(&engine, clips).await,
            }
        });
    };

    spawn_local(async move {
        if !client::webgpu_available() {
            status.set(Status::NoWebGpu);
            return;
        }
        status.set(Status::Loading("reading this browser's storage".into()));
        let saved = storage::load_weights().await.unwrap_or_else(|e| {
            notice.set(Some(e));
            None
        });
        let started = match Engine::start(saved.clone(), |step| status.set(Status::Loading(step.to_string())), on_training).await {
            // Stored weights that no longer load must not lock the user out: fall back.
            Err(e) if saved.is_some() => {
                notice.set(Some(format!("the stored weights could not be used ({e}); the default weights are loaded instead")));
                Engine::start(None, |step| status.set(Status::Loading(step.to_string())), on_training).await
            }
            other => other,
        };
        match started {
            Ok(e) => {
                about.set(weights::describe(&e.info()));
                let e = Rc::new(e);
                engine.set(Some(e.clone()));
                status.set(Status::Ready);
                spawn_local(warm::warm_up(e, warmed));
            }
            Err(e) => status.set(Status::Failed(e)),
        }
        kept.set(Some(storage_state().await));
    });
    let engine_signal: Signal<Option<Rc<Engine>>, LocalStorage> = engine.into();

    // "Cleared" stops being true once there is something on the page again (a clip added, a
    // project opened).
    Effect::new(move |_| {
        if clips.with(|c| !c.is_empty()) {
            notice.update(|n| {
                if n.as_deref() == Some(CLEARED) {
                    *n = None;
                }
            });
        }
    });

    let clear_all = move |_| {
        let confirmed = web_sys::window()
            .and_then(|w| w.confirm_with_message("Remove every stored clip and the fine-tuned weights from this browser?").ok())
            .unwrap_or(false);
        if !confirmed {
            return;
        }
        spawn_local(async move {
            match storage::clear().await {
                Ok(()) => {
                    clips.set(Vec::new());
                    teaching.set(Default::default());
                    notice.set(Some(CLEARED.into()));
                }
                Err(e) => notice.set(Some(e)),
            }
        });
    };

    view! {
        <main>
            <header>
                <h1>"FAb-Net"</h1>
                <p class="tagline">
                    "Self-supervised facial attribute embeddings, computed on your own GPU. "
                    "Nothing you load leaves this device: the page fetches only its own files, and what it keeps (face crops, embeddings, fine-tuned weights) stays in this browser's storage."
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
                        <p data-testid="model-ready">"Model and face detector ready on WebGPU, in a worker."
                            " " <button class="quiet" data-testid="clear-all" on:click=clear_all>"Clear all stored data"</button></p>
                        <WarmLine state=warmed />
                        <ProjectPanel engine=engine_signal page=project_page />
                        <details class="about" data-testid="about-weights">
                            <summary>"About these weights"</summary>
                            <p data-testid="about-text">{move || about.get()}</p>
                            <p>"Faces are found with MTCNN (facenet-pytorch's weights, MIT licence), run on your GPU."</p>
                            <p data-testid="storage-state">{move || kept.get()}</p>
                            <PrivacyCheck engine=engine_signal />
                        </details>
                    }.into_any(),
                }}
                {move || notice.get().map(|n| view! { <p class="notice" data-testid="notice">{n}</p> })}
            </section>
            <Clips engine=engine_signal clips=clips opened=opened />
            <TrainPanel engine=engine_signal clips=clips log=log about=about settings=settings />
            // The webcam beside the explorer: its face is the moving point there.
            <div class="side-by-side">
                <WebcamPanel engine=engine_signal embedding=live puppet=puppet />
                <Explorer clips=clips live=live engine=engine_signal puppet=puppet teaching=teaching about=about />
            </div>
            <SpeedPanel engine=engine_signal />
        </main>
    }
}
