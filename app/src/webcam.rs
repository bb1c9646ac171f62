//! The webcam screen: the face is found on the GPU (detected, then followed from frame to
//! frame), cropped as in training and embedded; the box, the embedding and the frames per
//! second update live.

use std::collections::VecDeque;
use std::rc::Rc;

use futures::FutureExt;
use futures::future::LocalBoxFuture;

use leptos::prelude::*;
use leptos::task::spawn_local;
use web_sys::HtmlCanvasElement;

use fabnet::face::{Detection, RgbFrame};
use fabnet_app::protocol::LiveFrame;

use crate::client::Engine;
use crate::media::{self, Webcam};
use crate::plots::EmbeddingBars;
use crate::puppet::{self, Driven, PuppetSource, PuppetView};

/// The linear head's task and its outputs for the latest webcam frame.
type HeadSignal = RwSignal<Option<(String, Vec<f32>)>>;

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or(0.0)
}

#[component]
pub fn WebcamPanel(
    engine: Signal<Option<Rc<Engine>>, LocalStorage>,
    embedding: RwSignal<Option<Vec<f32>>>,
    puppet: RwSignal<Option<PuppetSource>>,
) -> impl IntoView {
    let running = RwSignal::new(false);
    let fps = RwSignal::new(0.0f64);
    let frames = RwSignal::new(0u64);
    let face_seen = RwSignal::new(true);
    let timing = RwSignal::new(Timing::default());
    let error = RwSignal::new(None::<String>);
    let canvas_ref = NodeRef::<leptos::html::Canvas>::new();
    // The network's view of the face and the head's outputs for it, when the weights have a head.
    let head = RwSignal::new(None::<(String, Vec<f32>)>);
    // The puppet's latest picture; a new source starts blank.
    let driven = RwSignal::new(None::<Driven>);
    Effect::new(move |_| {
        puppet.track();
        driven.set(None);
    });

    let start = move |_| {
        let Some(engine) = engine.get_untracked() else { return };
        error.set(None);
        running.set(true);
        spawn_local(async move {
            let mut cam = match Webcam::start().await {
                Ok(c) => c,
                Err(e) => {
                    error.set(Some(e));
                    running.set(false);
                    return;
                }
            };
            let mut window_start = now_ms();
            let mut in_window = 0u32;
            // Summed over the frames since the rate was last shown, shown as their mean.
            let mut window_timing = Timing::default();
            // Frames sent to the worker, oldest first: it works on one while the page draws
            // the one before, so neither waits for the other.
            let mut in_flight: VecDeque<(RgbFrame, LocalBoxFuture<'static, Result<LiveFrame, String>>)> = VecDeque::new();
            let mut restart = true;
            while running.get_untracked() {
                while in_flight.len() < IN_FLIGHT {
                    match cam.grab() {
                        Ok(frame) => {
                            let answer = engine.live(&frame, restart).boxed_local();
                            restart = false;
                            in_flight.push_back((frame, answer));
                        }
                        // The first frames may not have arrived yet: wait, do not fail.
                        Err(e) if e.contains("no picture yet") => break,
                        Err(e) => {
                            error.set(Some(e));
                            running.set(false);
                            break;
                        }
                    }
                }
                let Some((frame, answer)) = in_flight.pop_front() else {
                    gloo_timers::future::TimeoutFuture::new(50).await;
                    continue;
                };
                let shown = match answer.await {
                    Ok(live) => show(&engine, &frame, live, frames.get_untracked(), canvas_ref, (embedding, head), (puppet, driven), face_seen).await,
                    Err(e) => Err(e),
                };
                match shown {
                    Ok(spent) => window_timing.add(spent),
                    Err(e) => {
                        error.set(Some(e));
                        break;
                    }
                }
                frames.update(|n| *n += 1);
                in_window += 1;
                timing.set(window_timing.mean(in_window));
                let elapsed = now_ms() - window_start;
                if elapsed >= 1000.0 {
                    fps.set(in_window as f64 * 1000.0 / elapsed);
                    window_start = now_ms();
                    in_window = 0;
                    window_timing = Timing::default();
                }
            }
            cam.stop();
            running.set(false);
        });
    };

    view! {
        <section class="panel webcam">
            <h2>"Webcam"</h2>
            <p class="hint">"Live embedding of the face in front of your camera. The picture never leaves this page."</p>
            <div class="controls">
                <button data-testid="webcam-start" on:click=start prop:disabled=move || running.get() || engine.get().is_none()>"Start camera"</button>
                <button data-testid="webcam-stop" on:click=move |_| running.set(false) prop:disabled=move || !running.get()>"Stop"</button>
                <span>"frames/s: " <output data-testid="webcam-fps">{move || format!("{:.1}", fps.get())}</output></span>
                <span>"frames: " <output data-testid="webcam-frames">{move || frames.get()}</output></span>
                <span class="muted" data-testid="webcam-timing">{move || timing.get().to_string()}</span>
            </div>
            {move || error.get().map(|e| view! { <p class="problem" data-testid="error">{e}</p> })}
            <div class="live">
                <canvas node_ref=canvas_ref data-testid="webcam-view"></canvas>
                <PuppetView source=puppet driven=driven />
                <div>
                    {move || (!face_seen.get() && running.get()).then(|| view! { <p class="muted">"no face in view"</p> })}
                    {move || embedding.get().map(|v| view! { <EmbeddingBars values=v testid="webcam-embedding" /> })}
                    {move || head.get().and_then(|(picture, values)| engine.get().map(|e| view! { <HeadView task=e.info().head_task.unwrap_or_default() picture=picture values=values /> }))}
                </div>
            </div>
        </section>
    }
}

/// Webcam frames the worker holds at once: the one it works on and the next.
const IN_FLIGHT: usize = 2;

/// One camera frame and what the worker made of it: draw it with its face's box, show the
/// embedding (and the head's outputs), drive the puppet. Returns where the frame's time went.
#[allow(clippy::too_many_arguments)]
async fn show(
    engine: &Engine,
    frame: &RgbFrame,
    live: LiveFrame,
    frame_number: u64,
    canvas_ref: NodeRef<leptos::html::Canvas>,
    (embedding, head): (RwSignal<Option<Vec<f32>>>, HeadSignal),
    (puppet, driven): (RwSignal<Option<PuppetSource>>, RwSignal<Option<Driven>>),
    face_seen: RwSignal<bool>,
) -> Result<Timing, String> {
    let face = Detection::largest(&live.faces).map(|d| d.bbox);
    if let Some(canvas) = canvas_ref.get_untracked() {
        let canvas: HtmlCanvasElement = canvas;
        media::draw_frame(&canvas, frame, face.map(|b| (b.x1 as f64, b.y1 as f64, b.width() as f64, b.height() as f64)))?;
    }
    face_seen.set(face.is_some());
    let Some(live_embedding) = live.embedding else {
        return Ok(Timing { face: live.face_ms, ..Timing::default() });
    };
    embedding.set(Some(live_embedding.clone()));
    match live.head {
        Some((input, values)) => head.set(Some((media::planar_to_data_url(&input, engine.input_size())?, values))),
        None => head.set(None),
    }
    let mut resynthesis = None;
    if let Some(source) = puppet.get_untracked() {
        let start = now_ms();
        let url = puppet::drive(engine, &source, live_embedding).await?;
        driven.set(Some(Driven { url, frame: frame_number }));
        resynthesis = Some(now_ms() - start);
    }
    Ok(Timing { face: live.face_ms, embedding: live.embed_ms, resynthesis })
}

/// Where a webcam frame's time went, in ms: finding the face and embedding it in the worker,
/// and the puppet's re-synthesis as the page waited for it. The panel shows the mean over the
/// last second: O-Net runs on every other frame only (`fabnet::face::LiveFaces`).
#[derive(Clone, Copy, Default, PartialEq)]
struct Timing {
    face: f64,
    embedding: f64,
    /// Driving the puppet, when there is one.
    resynthesis: Option<f64>,
}

impl Timing {
    fn add(&mut self, other: Timing) {
        self.face += other.face;
        self.embedding += other.embedding;
        if let Some(ms) = other.resynthesis {
            *self.resynthesis.get_or_insert(0.0) += ms;
        }
    }

    /// The mean of `frames` frames whose times were added up.
    fn mean(self, frames: u32) -> Timing {
        let n = f64::from(frames.max(1));
        Timing { face: self.face / n, embedding: self.embedding / n, resynthesis: self.resynthesis.map(|ms| ms / n) }
    }
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "face {:.0} ms, embedding {:.0} ms", self.face, self.embedding)?;
        match self.resynthesis {
            Some(ms) => write!(f, ", re-synthesis {ms:.0} ms"),
            None => Ok(()),
        }
    }
}

const HEAD_VIEW: f32 = 160.0;

/// The linear head's live output: landmarks drawn over the network's view of the face, head
/// pose as angles, anything else as labelled numbers.
#[component]
fn HeadView(task: String, picture: String, values: Vec<f32>) -> impl IntoView {
    let json = serde_json::to_string(&values).unwrap_or_default();
    let body = if task.contains("landmarks") && values.len().is_multiple_of(2) {
        let dots = values
            .chunks(2)
            .map(|p| view! { <circle cx=p[0] * HEAD_VIEW cy=p[1] * HEAD_VIEW r="2.5" fill="#22c55e" stroke="#052e16" stroke-width="0.8"></circle> })
            .collect_view();
        view! {
            <svg width=HEAD_VIEW height=HEAD_VIEW data-testid="head-landmarks">
                <image href=picture width=HEAD_VIEW height=HEAD_VIEW></image>
                {dots}
            </svg>
        }
        .into_any()
    } else if task.contains("roll, pitch, yaw") && values.len() == 3 {
        view! { <p class="pose">{format!("roll {:.1}°, pitch {:.1}°, yaw {:.1}°", values[0], values[1], values[2])}</p> }.into_any()
    } else if fabnet::probe::class_names(&task).is_some() {
        view! { <p class="class-answer" data-testid="head-answer">{fabnet::probe::answer(&task, &values)}</p> }.into_any()
    } else {
        view! { <p>{values.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(", ")}</p> }.into_any()
    };
    view! {
        <div class="head" data-testid="webcam-head" data-values=json>
            <p class="muted">"Linear head: " {task}</p>
            {body}
        </div>
    }
}
