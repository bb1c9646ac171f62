//! The Speed panel: the model crate's benchmark (what `fabnet bench` runs natively) on this
//! device's GPU, in the worker, so a user sees what their device does and a native figure on
//! the same adapter can be put beside it (`bench/same_adapter.py`).

use std::rc::Rc;

use fabnet::bench::{BenchReport, BenchSpec};
use fabnet::config::PRESETS;
use fabnet::face::RgbFrame;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client::Engine;
use crate::media;

fn count_field(label: &'static str, testid: &'static str, value: RwSignal<usize>, busy: RwSignal<bool>, error: RwSignal<Option<String>>) -> impl IntoView {
    let changed = move |ev: leptos::ev::Event| match event_target_value(&ev).trim().parse::<usize>() {
        Ok(v) => value.set(v),
        Err(_) => error.set(Some(format!("{label}: a whole number, please"))),
    };
    view! {
        <label>{label} " "
            <input type="number" min="1" data-testid=testid prop:value=move || value.get().to_string() prop:disabled=move || busy.get() on:change=changed />
        </label>
    }
}

#[component]
pub fn SpeedPanel(engine: Signal<Option<Rc<Engine>>, LocalStorage>) -> impl IntoView {
    let preset = RwSignal::new("small".to_string());
    let encoder_batch = RwSignal::new(8usize);
    let train_batch = RwSignal::new(8usize);
    let views = RwSignal::new(2usize);
    let repeats = RwSignal::new(3usize);
    let frame = RwSignal::new(None::<(String, RgbFrame)>);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let report = RwSignal::new(None::<BenchReport>);

    let pick = move |ev: leptos::ev::Event| {
        let Some(file) = media::picked_files(&ev).into_iter().next() else { return };
        spawn_local(async move {
            match media::decode_image(&file).await {
                Ok(f) => {
                    error.set(None);
                    frame.set(Some((file.name(), f)));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let run = move |_| {
        let Some(engine) = engine.get_untracked() else { return };
        let spec = BenchSpec {
            preset: preset.get_untracked(),
            encoder_batch: encoder_batch.get_untracked(),
            train_batch: train_batch.get_untracked(),
            source_views: views.get_untracked(),
            repeats: repeats.get_untracked(),
        };
        // Refused here in the same words the worker would use, before anything is sent.
        if let Err(e) = spec.check() {
            error.set(Some(e));
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let picked = frame.get_untracked();
            match engine.bench(spec, picked.as_ref().map(|(_, f)| f)).await {
                Ok(r) => report.set(Some(r)),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <details class="panel speed" data-testid="speed">
            <summary><h2>"Speed of this device"</h2></summary>
            <p class="hint">"Times the network on your GPU, in the worker: a fresh network of the chosen preset embeds, takes train steps on random images and, with a picture of a face, finds and follows that face as the webcam view does. Natively, "<code>"fabnet bench"</code>" runs the same measurement."</p>
            <div class="settings">
                <label>"preset "
                    <select data-testid="speed-preset" on:change=move |ev| preset.set(event_target_value(&ev)) prop:disabled=move || busy.get()>
                        {PRESETS.iter().map(|(name, c)| view! {
                            <option value=*name selected=*name == "small">{format!("{name} ({} px)", c.image_size)}</option>
                        }).collect_view()}
                    </select>
                </label>
                {count_field("encoder batch", "speed-encoder-batch", encoder_batch, busy, error)}
                {count_field("train batch", "speed-train-batch", train_batch, busy, error)}
                {count_field("source views", "speed-views", views, busy, error)}
                {count_field("repetitions", "speed-repeats", repeats, busy, error)}
                <label class="file">"a picture with a face (for the detector rows) "
                    <input type="file" accept="image/*" data-testid="speed-frame" on:change=pick prop:disabled=move || busy.get() /></label>
                {move || frame.get().map(|(name, f)| view! { <span class="muted">{format!("{name}, {} x {}", f.width, f.height)}</span> })}
            </div>
            <div class="controls">
                <button data-testid="speed-run" on:click=run prop:disabled=move || busy.get() || engine.get().is_none()>"Measure"</button>
                {move || busy.get().then(|| view! { <span class="busy">"measuring…"</span> })}
            </div>
            {move || error.get().map(|e| view! { <p class="problem" data-testid="error">{e}</p> })}
            {move || report.get().map(|r| view! { <ReportTable report=r /> })}
        </details>
    }
}

#[component]
fn ReportTable(report: BenchReport) -> impl IntoView {
    let json = serde_json::to_string(&report).unwrap_or_default();
    let r = &report;
    let mut rows = vec![
        (format!("encoder, batch {}", r.encoder_batch), format!("{:.1} images/s", r.encoder_images_per_s), format!("{:.0} ms", r.encoder_first_ms)),
        (
            format!("train step, batch {}, {} source view(s)", r.train_batch, r.source_views),
            format!("{:.2} s ({:.1} samples/s)", r.train_step_s, r.train_samples_per_s),
            format!("{:.1} s", r.train_first_ms / 1e3),
        ),
    ];
    rows.push(("one tiny kernel read back".to_string(), format!("{:.2} ms", r.round_trip_ms), String::new()));
    rows.push((format!("one more kernel (a chain of {} read once)", 2 * fabnet::bench::CHAIN), format!("{:.0} µs", r.kernel_us), String::new()));
    match &r.detector {
        Some(d) => {
            rows.push((
                format!("face detector, {} x {} frame ({} face(s))", d.frame_width, d.frame_height, d.faces),
                format!("{:.0} ms", d.detect_ms),
                format!("{:.0} ms", d.detect_first_ms),
            ));
            rows.push(("face detector, live pyramid (the webcam looking again)".to_string(), format!("{:.0} ms", d.live_detect_ms), String::new()));
            rows.push((
                "webcam frame: follow + embed".to_string(),
                format!("{:.0} + {:.0} = {:.0} ms ({:.1} frames/s)", d.follow_ms, d.embed_ms, d.webcam_frame_ms, 1e3 / d.webcam_frame_ms),
                String::new(),
            ));
        }
        None => rows.push(("face detector".to_string(), "choose a picture with a face to measure it".to_string(), String::new())),
    }
    view! {
        <table class="speed-report" data-testid="speed-report" data-json=json>
            <thead><tr><th>{format!("{} preset, {} px", r.preset, r.image_size)}</th><th>"steady"</th><th>"first run (compiles kernels)"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|(what, steady, first)| view! { <tr><td>{what}</td><td>{steady}</td><td>{first}</td></tr> }).collect_view()}
            </tbody>
        </table>
    }
}
