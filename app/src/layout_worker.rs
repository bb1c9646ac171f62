//! The layout worker: t-SNE and UMAP of the explorer's faces (`fabnet::layout`) on the CPU, in
//! a worker of its own, so that the page stays fluid and the engine worker keeps training while
//! a layout converges. The page ends a layout it no longer needs by ending the worker (a fit
//! cannot be interrupted from outside), so a worker runs one job and then waits for the next.
//!
//! Messages are plain objects; the points travel as one `Float32Array` each way.

use fabnet::layout::{self, Method};
use js_sys::{Float32Array, Object, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// A layout to compute: `points` holds `points.len() / dim` embeddings, one after the other.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub id: u32,
    pub method: Method,
    pub dim: usize,
    pub points: Vec<f32>,
}

/// What the worker says.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// Loaded: jobs can be sent.
    Ready,
    /// The layout of job `id` after `epoch` of `epochs` (finished when they are equal), and the
    /// seconds since the job arrived.
    Progress {
        id: u32,
        epoch: usize,
        epochs: usize,
        xy: Vec<[f32; 2]>,
        seconds: f64,
    },
    Failed {
        id: u32,
        message: String,
    },
}

fn set(object: &Object, key: &str, value: JsValue) {
    let _ = Reflect::set(object, &key.into(), &value);
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn number(object: &JsValue, key: &str) -> Option<f64> {
    get(object, key).as_f64()
}

impl Job {
    pub fn to_js(&self) -> Object {
        let object = Object::new();
        set(&object, "id", self.id.into());
        let (name, parameter) = match self.method {
            Method::Tsne { perplexity } => ("tsne", perplexity as f64),
            Method::Umap { neighbours } => ("umap", neighbours as f64),
        };
        set(&object, "method", name.into());
        set(&object, "parameter", parameter.into());
        set(&object, "dim", (self.dim as u32).into());
        set(&object, "points", Float32Array::from(self.points.as_slice()).into());
        object
    }

    pub fn from_js(value: &JsValue) -> Result<Self, String> {
        let id = number(value, "id").ok_or("a layout job without an id")? as u32;
        let parameter = number(value, "parameter").ok_or("a layout job without its parameter")?;
        let method = match get(value, "method").as_string().as_deref() {
            Some("tsne") => Method::Tsne { perplexity: parameter as f32 },
            Some("umap") => Method::Umap { neighbours: parameter.max(0.0) as usize },
            other => return Err(format!("unknown layout method {other:?}")),
        };
        let dim = number(value, "dim").filter(|d| *d >= 1.0).ok_or("a layout job without its dimension")? as usize;
        let points = get(value, "points").dyn_into::<Float32Array>().map_err(|_| "a layout job without its points")?.to_vec();
        if points.len() % dim != 0 {
            return Err(format!("{} values are not whole points of {dim}", points.len()));
        }
        Ok(Self { id, method, dim, points })
    }
}

impl Update {
    pub fn to_js(&self) -> Object {
        let object = Object::new();
        match self {
            Update::Ready => set(&object, "ready", true.into()),
            Update::Progress { id, epoch, epochs, xy, seconds } => {
                set(&object, "id", (*id).into());
                set(&object, "epoch", (*epoch as u32).into());
                set(&object, "epochs", (*epochs as u32).into());
                let flat: Vec<f32> = xy.iter().flatten().copied().collect();
                set(&object, "xy", Float32Array::from(flat.as_slice()).into());
                set(&object, "seconds", (*seconds).into());
            }
            Update::Failed { id, message } => {
                set(&object, "id", (*id).into());
                set(&object, "error", message.as_str().into());
            }
        }
        object
    }

    pub fn from_js(value: &JsValue) -> Option<Self> {
        if get(value, "ready").is_truthy() {
            return Some(Update::Ready);
        }
        let id = number(value, "id")? as u32;
        if let Some(message) = get(value, "error").as_string() {
            return Some(Update::Failed { id, message });
        }
        let xy = get(value, "xy").dyn_into::<Float32Array>().ok()?.to_vec().chunks_exact(2).map(|c| [c[0], c[1]]).collect();
        Some(Update::Progress {
            id,
            epoch: number(value, "epoch")? as usize,
            epochs: number(value, "epochs")? as usize,
            xy,
            seconds: number(value, "seconds").unwrap_or(0.0),
        })
    }
}

/// The worker's side: answer each job with its progress and its layout. Call once, from the
/// worker's `main`.
pub fn serve() {
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let post_scope = scope.clone();
    let post = move |update: Update| {
        let _ = post_scope.post_message(&update.to_js());
    };
    let now = {
        let performance = scope.performance();
        move || performance.as_ref().map_or(0.0, |p| p.now())
    };
    let post_job = post.clone();
    let on_message = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
        let started = now();
        let job = match Job::from_js(&event.data()) {
            Ok(job) => job,
            Err(message) => {
                post_job(Update::Failed { id: number(&event.data(), "id").unwrap_or(0.0) as u32, message });
                return;
            }
        };
        let embeddings: Vec<Vec<f32>> = job.points.chunks_exact(job.dim).map(<[f32]>::to_vec).collect();
        let id = job.id;
        let result = layout::layout(&embeddings, job.method, &mut |epoch, epochs, xy| {
            // The finished layout is sent once, below.
            if epoch < epochs {
                post_job(Update::Progress { id, epoch, epochs, xy: xy.to_vec(), seconds: (now() - started) / 1e3 });
            }
        });
        post_job(match result {
            Ok(xy) => {
                let epochs = job.method.epochs(embeddings.len());
                Update::Progress { id, epoch: epochs, epochs, xy, seconds: (now() - started) / 1e3 }
            }
            Err(e) => Update::Failed { id, message: e.to_string() },
        });
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    post(Update::Ready);
}
