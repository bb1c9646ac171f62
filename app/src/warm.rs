//! Compiling the GPU kernels while the page is fresh: WebGPU compiles each kernel on its first
//! use, seconds in all on a software adapter, which the first webcam frame or the first clip
//! would otherwise wait through. The passes go one request at a time, so anything the user
//! asks for meanwhile is served between two of them.

use std::rc::Rc;

use fabnet::face::warm::{self, FrameKind};
use leptos::prelude::*;

use crate::client::Engine;
use crate::media::MAX_SIDE;

/// How far the kernels are compiled.
#[derive(Clone, Debug, PartialEq)]
pub enum WarmState {
    NotStarted,
    Running {
        done: usize,
        total: usize,
    },
    Ready {
        seconds: f64,
    },
    /// A pass failed: nothing is lost, its kernels are compiled when a frame needs them.
    Failed(String),
}

/// The frames the detector will see most: a 4:3 webcam and a 16:9 video, each brought to
/// `MAX_SIDE` as `media` does.
fn frame_kinds() -> [FrameKind; 2] {
    let side = MAX_SIDE as usize;
    [FrameKind { width: side, height: side * 3 / 4, live: true }, FrameKind { width: side, height: side * 9 / 16, live: false }]
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or(0.0)
}

/// Every detector pass for those frames, the webcam's first with the encoder on one grey face
/// after them (the live path whole, soonest), then what the video's pyramid adds.
pub async fn warm_up(engine: Rc<Engine>, state: RwSignal<WarmState>) {
    let params = fabnet::face::DetectParams::default();
    let kinds = frame_kinds();
    let live = warm::passes(&params, &kinds[..1]);
    let video: Vec<_> = warm::passes(&params, &kinds).into_iter().filter(|p| !live.contains(p)).collect();
    let total = live.len() + 1 + video.len();
    let start = now_ms();
    let mut done = 0;
    state.set(WarmState::Running { done, total });
    let mut step = |result: Result<(), String>| match result {
        Ok(()) => {
            done += 1;
            state.set(WarmState::Running { done, total });
            true
        }
        Err(e) => {
            state.set(WarmState::Failed(e));
            false
        }
    };
    for pass in live {
        if !step(engine.warm_up(pass).await) {
            return;
        }
    }
    let size = engine.input_size();
    if !step(engine.embed(&[vec![0.5; 3 * size * size]]).await.map(|_| ())) {
        return;
    }
    for pass in video {
        if !step(engine.warm_up(pass).await) {
            return;
        }
    }
    state.set(WarmState::Ready { seconds: (now_ms() - start) / 1000.0 });
}

/// One line in the status panel: the passes done, then how long they took (`data-ready`).
#[component]
pub fn WarmLine(state: RwSignal<WarmState>) -> impl IntoView {
    let text = move || match state.get() {
        WarmState::NotStarted => String::new(),
        WarmState::Running { done, total } => format!("Compiling the GPU's kernels ahead of the first frame: {done} of {total} passes…"),
        WarmState::Ready { seconds } => format!("GPU kernels compiled ({seconds:.1} s): the first webcam frame and clip start at full speed."),
        WarmState::Failed(e) => format!("The GPU's kernels will be compiled on first use ({e})."),
    };
    view! {
        <p class="muted" data-testid="warm-up" data-ready=move || matches!(state.get(), WarmState::Ready { .. }).to_string()>
            {text}
        </p>
    }
}
