//! The Train panel: fine-tune (or train afresh) on the face tracks of the clips, in the engine
//! worker, with a live loss curve, speed, ETA, the curriculum window and sample re-syntheses;
//! pause, resume, stop. And the weights: download them (the file `fabnet embed` reads) or load
//! a weights file.

use std::rc::Rc;
use std::sync::Arc;

use fabnet::FabNetConfig;
use fabnet::face::RgbFrame;
use fabnet::probe::FineTuneCheck;
use fabnet_app::protocol::{Frame, Samples, TrainRequest, TrainSettings, TrainState, TrainUpdate};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;

use crate::chart::{LineChart, Mark, Series};
use crate::client::Engine;
use crate::clips::{ClipState, ClipView};
use crate::media;

/// Everything heard from one training run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainLog {
    /// (step, windowed loss) of every step.
    pub losses: Vec<(u32, f64)>,
    /// (step, validation loss).
    pub validation: Vec<(u32, f64)>,
    /// The first step trained with the flow decoder frozen, if one was.
    pub frozen_from: Option<u32>,
    /// (step, new window) each time the curriculum moved its window.
    pub window_moves: Vec<(u32, (f64, f64))>,
    pub last: Option<TrainUpdate>,
    pub samples: Option<Samples>,
    /// The finished run's model is stored and every clip embedded with it.
    pub applied: bool,
}

impl TrainLog {
    pub fn record(&mut self, mut update: TrainUpdate) {
        if let Some(last) = &self.last
            && last.window != update.window
        {
            self.window_moves.push((update.step, update.window));
        }
        if let Some(loss) = update.loss {
            self.losses.push((update.step, loss));
            if update.frozen_flow && self.frozen_from.is_none() {
                self.frozen_from = Some(update.step);
            }
        }
        if let Some(v) = update.val_loss {
            self.validation.push((update.step, v));
        }
        if let Some(s) = update.samples.take() {
            self.samples = Some(s);
        }
        self.last = Some(update);
    }

    pub fn state(&self) -> Option<TrainState> {
        self.last.as_ref().map(|u| u.state)
    }
}

/// A track's crops as the page holds them; equal when they are the same crops (a memo of
/// the training set compares them on every change of the clips).
#[derive(Clone)]
struct SharedCrops(Arc<Vec<RgbFrame>>);

impl PartialEq for SharedCrops {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The training set: every track of every ready clip with more frames than `views` (the
/// page's own crops, shared: a copy is made only for the worker, when a run starts), and a
/// line for each clip left out.
fn training_tracks(clips: &[ClipView], views: usize) -> (Vec<SharedCrops>, Vec<String>) {
    let mut tracks = Vec::new();
    let mut skipped = Vec::new();
    for clip in clips {
        let ClipState::Ready { tracks: ts } = &clip.state else { continue };
        let before = tracks.len();
        for t in ts.iter().filter(|t| t.frames > views) {
            tracks.push(SharedCrops(t.crops.clone()));
        }
        if tracks.len() == before {
            skipped.push(format!("{}: too short for {views} source view(s) (a track needs at least {} frames)", clip.name, views + 1));
        }
    }
    (tracks, skipped)
}

fn number<T: std::str::FromStr>(ev: &leptos::ev::Event) -> Option<T> {
    ev.target()?.dyn_into::<HtmlInputElement>().ok()?.value().trim().parse().ok()
}

/// A text field for one number of the settings; input that does not parse is ignored.
fn number_field<T: std::str::FromStr + ToString + 'static>(
    label: &'static str,
    testid: &'static str,
    settings: RwSignal<TrainSettings>,
    disabled: impl Fn() -> bool + Send + Sync + 'static,
    get: impl Fn(&TrainSettings) -> T + Send + Sync + 'static,
    set: impl Fn(&mut TrainSettings, T) + Send + Sync + 'static,
) -> impl IntoView {
    // Follows the settings (an opened project sets them).
    let value = move || settings.with(|s| get(s).to_string());
    let change = move |ev: leptos::ev::Event| {
        if let Some(v) = number::<T>(&ev) {
            settings.update(|s| set(s, v));
        }
    };
    view! { <label>{label}" "<input type="text" size="6" data-testid=testid prop:value=value on:change=change prop:disabled=disabled /></label> }
}

#[component]
pub fn TrainPanel(
    engine: Signal<Option<Rc<Engine>>, LocalStorage>,
    clips: RwSignal<Vec<ClipView>>,
    log: RwSignal<TrainLog>,
    about: RwSignal<String>,
    settings: RwSignal<TrainSettings>,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let download = RwSignal::new(None::<(String, String, usize)>);
    let running = move || matches!(log.with(|l| l.state()), Some(TrainState::Running | TrainState::Paused));
    let plan = Memo::new(move |_| {
        let views = settings.with(|s| s.source_views);
        clips.with(|c| training_tracks(c, views))
    });

    // What this device can take for the chosen network and views (tracked: a change of
    // weights changes the network).
    let bounds = move || {
        let engine = engine.get()?;
        engine.current_weights();
        let s = settings.get();
        let config = match &s.preset {
            None => engine.info().config,
            Some(name) => FabNetConfig::preset(name).ok()?,
        };
        let limits = engine.limits();
        Some((limits, config, s))
    };

    let start = move |_| {
        let Some(engine) = engine.get_untracked() else { return };
        if let Some((limits, config, s)) = untrack(bounds)
            && let Err(why) = limits.check_train(&config, s.batch_size, s.source_views)
        {
            error.set(Some(why));
            return;
        }
        let (tracks, _) = plan.get_untracked();
        if tracks.is_empty() {
            error.set(Some("no clip has a face track long enough to train on: add a video with a face".into()));
            return;
        }
        error.set(None);
        log.set(TrainLog::default());
        let tracks = tracks.iter().map(|t| t.0.iter().map(Frame::from).collect()).collect();
        let request = TrainRequest { settings: settings.get_untracked(), tracks };
        spawn_local(async move {
            if let Err(e) = engine.train(request).await {
                error.set(Some(e));
            }
        });
    };
    let control = move |what: &'static str| {
        move |_| {
            let Some(engine) = engine.get_untracked() else { return };
            spawn_local(async move {
                let result = match what {
                    "pause" => engine.pause().await,
                    "resume" => engine.resume().await,
                    _ => engine.stop().await,
                };
                if let Err(e) = result {
                    error.set(Some(e));
                }
            });
        }
    };
    let save = move |_| {
        let Some(engine) = engine.get_untracked() else { return };
        busy.set(true);
        spawn_local(async move {
            match engine.save_weights().await.and_then(|bytes| media::download_link(&bytes).map(|url| (url, bytes.len()))) {
                Ok((url, len)) => {
                    if let Some((old, _, _)) = download.get_untracked() {
                        media::revoke(&old);
                    }
                    let name = "fabnet-weights.fabnet".to_string();
                    media::click_download(&url, &name);
                    download.set(Some((url, name, len)));
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let load = move |ev: leptos::ev::Event| {
        let Some(engine) = engine.get_untracked() else { return };
        let Some(file) = media::picked_files(&ev).into_iter().next() else { return };
        busy.set(true);
        spawn_local(async move {
            let result = async {
                let bytes = media::read_file(&file).await?;
                // A checkpoint is kept (and its id taken) as the weights file the engine makes of it.
                let ours = (!fabnet::import::looks_like_checkpoint(&bytes)).then(|| bytes.clone());
                let info = engine.load_weights(bytes, file.name()).await.map_err(|e| format!("{}: {e}", file.name()))?;
                crate::weights::changed(&engine, info, ours, about, clips).await
            }
            .await;
            match result {
                Ok(()) => error.set(None),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="panel train">
            <h2>"Train"</h2>
            <p class="hint">"Fine-tune the model on the face tracks of your clips, on your GPU. Each step re-synthesises a frame from other frames of its track; the loss is how far off that is."</p>
            <div class="settings">
                <label>"Start from "
                    <select data-testid="train-preset" on:change=move |ev| {
                        let v = event_target_value(&ev);
                        settings.update(|s| s.preset = if v == "loaded" { None } else { Some(v) });
                    } prop:disabled=running>
                        <option value="loaded" prop:selected=move || settings.with(|s| s.preset.is_none())>"the loaded weights (fine-tune)"</option>
                        <option value="small" prop:selected=move || settings.with(|s| s.preset.as_deref() == Some("small"))>"scratch: small preset (64 px)"</option>
                        <option value="tiny" prop:selected=move || settings.with(|s| s.preset.as_deref() == Some("tiny"))>"scratch: tiny preset (32 px)"</option>
                    </select>
                </label>
                {number_field("steps", "train-steps", settings, running, |s| s.steps, |s, v| s.steps = v)}
                {number_field("batch", "train-batch", settings, running, |s| s.batch_size, |s, v| s.batch_size = v)}
                {number_field("learning rate", "train-lr", settings, running, |s| s.learning_rate, |s, v| s.learning_rate = v)}
                {number_field("source views", "train-views", settings, running, |s| s.source_views, |s, v| s.source_views = v)}
                <label><input type="checkbox" data-testid="train-curriculum" prop:checked=move || settings.with(|s| s.curriculum)
                    on:change=move |ev| settings.update(|s| s.curriculum = event_target_checked(&ev)) prop:disabled=running />" curriculum"</label>
            </div>
            <details class="under-the-hood">
                <summary>"Under the hood"</summary>
                <div class="settings">
                    <label><input type="checkbox" data-testid="train-adam" prop:checked=move || settings.with(|s| s.adam)
                        on:change=move |ev| settings.update(|s| s.adam = event_target_checked(&ev)) prop:disabled=running />" Adam (otherwise SGD with momentum 0.9, as the paper)"</label>
                    {number_field("validate every (steps)", "train-validate-every", settings, running, |s| s.validate_every, |s, v| s.validate_every = v)}
                    {number_field("curriculum patience (validations)", "train-patience", settings, running, |s| s.patience, |s, v| s.patience = v)}
                    <label><input type="checkbox" data-testid="train-jitter" prop:checked=move || settings.with(|s| s.jitter)
                        on:change=move |ev| settings.update(|s| s.jitter = event_target_checked(&ev)) prop:disabled=running />" crop jitter (the paper's)"</label>
                    <label><input type="checkbox" data-testid="train-two-stages" prop:checked=move || settings.with(|s| s.two_stages)
                        on:change=move |ev| settings.update(|s| s.two_stages = event_target_checked(&ev)) prop:disabled=running />" the paper's two stages (first half: one source view; second half: the source views above, flow decoder frozen)"</label>
                    {number_field("seed", "train-seed", settings, running, |s| s.seed, |s, v| s.seed = v)}
                </div>
                <p class="muted">"The curriculum trains on the easiest half of each batch first and moves the window up by 10% whenever the validation loss stops improving, up to 85-90%. Validation uses fixed examples (with the paper's crop jitter, drawn once) of frames held out from training: the last fifth of each track, or whole tracks when there are three or more. Fine-tuning drops a linear head the weights carry: it was fitted to the embedding before the run."</p>
            </details>
            {move || bounds().map(|(limits, config, s)| {
                let most = limits.max_train_batch(&config, s.source_views);
                let memory = limits.memory.map(|m| format!(", {:.0} GiB of memory", m as f64 / (1u64 << 30) as f64)).unwrap_or_default();
                let text = format!(
                    "On this device (buffers up to {:.0} MiB{memory}): a batch of at most {most} with {} source view(s) at {} px.",
                    limits.max_buffer as f64 / (1u64 << 20) as f64, s.source_views, config.image_size
                );
                let over = s.batch_size > most;
                view! {
                    <p class=if over { "problem" } else { "muted" } data-testid="train-bounds" data-max-batch=most.to_string()>
                        {text}{over.then(|| format!(" A batch of {} would not fit.", s.batch_size))}</p>
                }
            })}
            {move || plan.with(|(tracks, skipped)| view! {
                <p class="muted" data-testid="train-plan">{format!("{} face track(s) to train on", tracks.len())}</p>
                {skipped.iter().map(|s| view! { <p class="problem" data-testid="train-skipped">{s.clone()}</p> }).collect_view()}
            })}
            <div class="controls">
                <button data-testid="train-start" on:click=start prop:disabled=move || running() || engine.get().is_none()>"Train"</button>
                {move || if log.with(|l| l.state()) == Some(TrainState::Paused) {
                    view! { <button data-testid="train-resume" on:click=control("resume")>"Resume"</button> }.into_any()
                } else {
                    view! { <button data-testid="train-pause" on:click=control("pause") prop:disabled=move || !running()>"Pause"</button> }.into_any()
                }}
                <button data-testid="train-stop" on:click=control("stop") prop:disabled=move || !running()>"Stop"</button>
            </div>
            {move || error.get().map(|e| view! { <p class="problem" data-testid="error">{e}</p> })}
            <Progress log=log />
            <div class="weights">
                <h3>"Weights"</h3>
                <button data-testid="weights-download" on:click=save prop:disabled=move || busy.get() || engine.get().is_none()>"Download weights"</button>
                <label class="file">"Load weights (.fabnet, or the authors' .pth) "
                    <input type="file" accept=".fabnet,.bpk,.pth" data-testid="weights-upload" on:change=load prop:disabled=move || busy.get() || running() || engine.get().is_none() /></label>
                {move || download.get().map(|(url, name, len)| view! {
                    <a data-testid="weights-file" href=url download=name.clone()>{format!("{name} ({:.1} MB)", len as f64 / 1e6)}</a>
                })}
                <p class="muted">"The same file the native CLI writes and reads (fabnet embed --weights …). The authors' released checkpoints (*_4views.pth, either PyTorch format) load as they are, with their linear head; Download weights then gives them as a .fabnet."</p>
            </div>
        </section>
    }
}

const CURVE_W: f64 = 480.0;
const CURVE_H: f64 = 220.0;

#[component]
fn Progress(log: RwSignal<TrainLog>) -> impl IntoView {
    move || {
        let l = log.get();
        let u = l.last.clone()?;
        let eta =
            if u.steps_per_s > 0.0 && u.state != TrainState::Finished { format!("{:.0} s", (u.steps - u.step) as f64 / u.steps_per_s) } else { "-".into() };
        let state = match (u.state, &u.problem) {
            (_, Some(p)) => format!("stopped: {p}"),
            (TrainState::Running, _) => "training".into(),
            (TrainState::Paused, _) => "paused".into(),
            (TrainState::Finished, _) => "finished: the model now uses what it learned".into(),
        };
        let chart = loss_chart(&l);
        Some(view! {
            <div class="progress">
                <p data-testid="train-state" class:problem=u.problem.is_some()>{state}</p>
                <p>
                    "step " <output data-testid="train-step">{u.step}</output> " of " {u.steps}
                    " · loss " <output data-testid="train-loss">{l.losses.last().map(|(_, v)| format!("{v:.5}")).unwrap_or_default()}</output>
                    " · " {format!("{:.2}", u.steps_per_s)} " steps/s · ETA " {eta}
                    " · window [" <output data-testid="train-window">{format!("{:.0}%, {:.0}%", u.window.0 * 100.0, u.window.1 * 100.0)}</output> "]"
                    " · lr " {format!("{:.2e}", u.learning_rate)}
                    " · " <output data-testid="train-stage" data-frozen-from=l.frozen_from.map(|s| s.to_string()).unwrap_or_default()>
                        {format!("{} source view(s){}", u.views, if u.frozen_flow { ", flow decoder frozen" } else { "" })}</output>
                    {l.validation.last().map(|(_, v)| format!(" · validation {v:.5}"))}
                </p>
                <div data-testid="train-curve" data-losses=serde_json::to_string(&l.losses.iter().map(|p| p.1).collect::<Vec<_>>()).unwrap_or_default()>{chart}</div>
                <p class="muted">"Validation is on held-out frames: "
                    <span data-testid="train-held-out">{u.held_out.clone()}</span> "."
                    {(!l.window_moves.is_empty()).then_some(" Dotted lines: the curriculum window moved (the share of each batch's sorted losses trained on).")}</p>
                {l.applied.then(|| view! { <p data-testid="train-applied">"Saved in this browser; every clip is embedded with the new model."</p> })}
                {u.check.clone().map(check_table)}
                {l.samples.as_ref().map(sample_strip)}
            </div>
        })
    }
}

/// The training and validation losses against the step, on shared axes, with the moves of the
/// curriculum window marked.
fn loss_chart(l: &TrainLog) -> impl IntoView + use<> {
    let points = |pts: &[(u32, f64)]| pts.iter().map(|&(s, v)| (s as f64, v)).collect::<Vec<_>>();
    let series = vec![
        Series { name: "training (windowed)".into(), points: points(&l.losses), colour: "#2563eb", dashed: false, markers: false },
        Series { name: "validation (held out)".into(), points: points(&l.validation), colour: "#e11d48", dashed: true, markers: true },
    ];
    let marks = l.window_moves.iter().map(|&(step, (lo, hi))| Mark { x: step as f64, label: format!("{:.0}-{:.0}%", lo * 100.0, hi * 100.0) }).collect();
    view! { <LineChart series=series marks=marks x_label="step" y_label="L1 loss" width=CURVE_W height=CURVE_H /> }
}

fn grey_to_rgb(grey: &[f32]) -> Vec<f32> {
    grey.iter().chain(grey).chain(grey).copied().collect()
}

fn sample_strip(s: &Samples) -> impl IntoView + use<> {
    let img = |planar: &[f32], label: String| {
        let src = media::planar_to_data_url(planar, s.size).unwrap_or_default();
        view! { <figure><img src=src width="64" height="64" alt=label.clone() /><figcaption>{label}</figcaption></figure> }
    };
    let mut figures = vec![img(&s.target, "target".into())];
    figures.extend(s.sources.iter().enumerate().map(|(v, p)| img(p, format!("source {}", v + 1))));
    figures.push(img(&s.fused, "re-synthesis".into()));
    figures.extend(s.masks.iter().enumerate().map(|(v, m)| img(&grey_to_rgb(m), format!("weight {}", v + 1))));
    view! {
        <div class="samples" data-testid="train-samples">{figures}</div>
        <p class="muted">"Weights: each source's share of the output, white = all (the softmax of the confidence masks; with one source it is white everywhere)."</p>
    }
}

/// "Did fine-tuning help?": the landmark probe's error before and after the run, beside an
/// untrained network and the mean.
fn check_table(c: FineTuneCheck) -> impl IntoView {
    let rows = [
        ("before this run", c.before, "check-before"),
        ("after this run", c.after, "check-after"),
        ("an untrained network", c.untrained, "check-untrained"),
        ("always the mean position", c.mean, "check-mean"),
    ];
    view! {
        <div class="check" data-testid="train-check">
            <p>{format!(
                "Did fine-tuning help? A linear probe reads the five landmarks the face detector finds from the embedding: fitted on {} frames training used, tested on {} held-out frames. Error in % of the distance between the eyes (lower is better):",
                c.fit_frames, c.test_frames
            )}</p>
            <table>
                {rows.into_iter().map(|(label, value, id)| view! { <tr><td>{label}</td><td><output data-testid=id>{format!("{value:.1}")}</output></td></tr> }).collect_view()}
            </table>
        </div>
    }
}
