//! The page's side of the engine worker: each call is a message with an id, answered by the
//! worker's reply with the same id. Training progress arrives on its own and goes to the
//! listener given at start.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use fabnet::bench::{BenchReport, BenchSpec};
use fabnet::face::{DetectEvery, Detection, RgbFrame, WarmPass};
use fabnet::footprint::DeviceLimits;
use fabnet::probe::{Attribute, TeachReport};
use fabnet::weights::WeightsInfo;
use fabnet_app::EngineWorker;
use fabnet_app::protocol::{Call, Event, Frame, LiveFrame, Reply, Request, TrainRequest, TrainUpdate};
use fabnet_app::reach::Reach;
use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use gloo_worker::Spawnable;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use crate::media;

const DEFAULT_WEIGHTS: &str = "weights/default.fabnet";
const DETECTOR_WEIGHTS: &str = "weights/mtcnn.bpk";
/// Trunk's loader of the worker's wasm (`data-loader-shim` in index.html).
const WORKER_LOADER: &str = "./worker_loader.js";

/// Whether the browser exposes WebGPU at all (`navigator.gpu`).
pub fn webgpu_available() -> bool {
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w.navigator(), &JsValue::from_str("gpu")).ok())
        .is_some_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}

/// A worker starts from a blob URL that imports Trunk's loader (`loader`): a worker made from a
/// blob inherits the page's Content-Security-Policy, so the policy binds the worker (the engine
/// holds the frames and the weights) even where the host sends no headers.
pub(crate) fn worker_url(loader: &str) -> Result<String, String> {
    let page = web_sys::window().and_then(|w| w.location().href().ok()).ok_or("cannot locate a worker")?;
    let loader = web_sys::Url::new_with_base(loader, &page).map_err(|_| "cannot locate a worker".to_string())?;
    let parts = js_sys::Array::of1(&format!("import {:?};", loader.href()).into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(|_| "cannot start a worker".to_string())?;
    web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "cannot start a worker".to_string())
}

type Pending = Rc<RefCell<HashMap<u32, oneshot::Sender<Result<Reply, String>>>>>;

/// Why the worker stopped, once it has.
type Stopped = Rc<RefCell<Option<String>>>;
/// The channel the worker's panic arrives on, and its listener.
type CrashWatch = (web_sys::BroadcastChannel, Closure<dyn Fn(web_sys::MessageEvent)>);

/// Numbered requests to the worker, each answered by the reply with its number.
struct Channel {
    outbox: mpsc::UnboundedSender<Request>,
    pending: Pending,
    next_id: Cell<u32>,
    stopped: Stopped,
    /// Hears the worker's panic (`fabnet_app::crash`); kept for as long as the engine lives.
    _crash: CrashWatch,
}

/// Listen for the panic of the worker at `url`: fail every waiting call with its message, and
/// every later one at once.
fn watch_crash(url: &str, pending: Pending, stopped: Stopped) -> Result<CrashWatch, String> {
    let channel = web_sys::BroadcastChannel::new(url).map_err(|_| "cannot watch the engine worker".to_string())?;
    let on_message = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
        let why = fabnet_app::crash::explain(&event.data().as_string().unwrap_or_default());
        *stopped.borrow_mut() = Some(why.clone());
        for (_, tx) in pending.borrow_mut().drain() {
            let _ = tx.send(Err(why.clone()));
        }
    });
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    Ok((channel, on_message))
}

impl Channel {
    /// Send `call` now, not when the reply is first awaited: a caller can have the worker
    /// busy with one request while it prepares the next.
    fn post(&self, call: Call) -> impl Future<Output = Result<Reply, String>> + 'static {
        let sent = self.send(call);
        async move { sent?.await.map_err(|_| "the engine worker stopped; reload the page".to_string())? }
    }

    fn send(&self, call: Call) -> Result<oneshot::Receiver<Result<Reply, String>>, String> {
        if let Some(why) = self.stopped.borrow().clone() {
            return Err(why);
        }
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, tx);
        self.outbox.unbounded_send(Request { id, call }).map_err(|_| "the engine worker stopped; reload the page".to_string())?;
        Ok(rx)
    }

    async fn call(&self, call: Call) -> Result<Reply, String> {
        self.post(call).await
    }
}

pub struct Engine {
    channel: Channel,
    /// What the loaded model is (updated when weights are loaded or training ends).
    info: RefCell<WeightsInfo>,
    /// Which weights those are (`weights::id` of their file), so that an embedding can say
    /// which weights made it; reactive, so views of embeddings follow a change of weights.
    weights_id: ArcRwSignal<String>,
    /// What the device the worker runs on allows.
    limits: DeviceLimits,
    /// A run is training: the worker answers with the model being trained.
    training: Cell<bool>,
}

/// What embeddings made while a run trains are stamped with: no weights file has this id, so
/// they count as stale once the run has ended, however it ended.
const MADE_WHILE_TRAINING: &str = "made while training";

fn unexpected(reply: Reply) -> String {
    format!("unexpected reply from the engine: {reply:?}").chars().take(200).collect()
}

impl Engine {
    /// Spawn the worker, start WebGPU there and load both networks (the default weights, or
    /// `weights` when given: what the user fine-tuned or loaded last time). `progress` hears
    /// what is happening; `on_training` every training update.
    pub async fn start(weights: Option<Vec<u8>>, progress: impl Fn(&str), on_training: impl Fn(TrainUpdate) + 'static) -> Result<Self, String> {
        progress("starting the engine worker");
        let url = worker_url(WORKER_LOADER)?;
        let bridge = EngineWorker::spawner().as_module(true).with_loader(true).spawn(&url);
        let (sink, mut stream) = bridge.split();
        let (outbox, inbox) = mpsc::unbounded::<Request>();
        wasm_bindgen_futures::spawn_local(async move {
            let _ = inbox.map(Ok).forward(sink).await;
        });
        let pending: Pending = Rc::default();
        let replies = pending.clone();
        wasm_bindgen_futures::spawn_local(async move {
            while let Some(event) = stream.next().await {
                match event {
                    Event::Reply { id, result } => {
                        if let Some(tx) = replies.borrow_mut().remove(&id) {
                            let _ = tx.send(result);
                        }
                    }
                    Event::Training(update) => on_training(update),
                }
            }
            // The worker is gone (it crashed): fail whatever still waits.
            for (_, tx) in replies.borrow_mut().drain() {
                let _ = tx.send(Err("the engine worker stopped; reload the page".into()));
            }
        });
        progress("loading the weights");
        let weights = match weights {
            Some(w) => w,
            None => media::fetch_bytes(DEFAULT_WEIGHTS).await?,
        };
        let id = crate::weights::id(&weights);
        let detector = media::fetch_bytes(DETECTOR_WEIGHTS).await?;
        let stopped = Stopped::default();
        let crash = watch_crash(&url, pending.clone(), stopped.clone())?;
        let channel = Channel { outbox, pending, next_id: Cell::new(0), stopped, _crash: crash };
        progress("starting WebGPU and the networks");
        match channel.call(Call::Start { weights, detector }).await? {
            Reply::Ready { info, limits } => {
                Ok(Self { channel, info: RefCell::new(info), weights_id: ArcRwSignal::new(id), limits, training: Cell::new(false) })
            }
            other => Err(unexpected(other)),
        }
    }

    async fn call(&self, call: Call) -> Result<Reply, String> {
        self.channel.call(call).await
    }

    pub fn info(&self) -> WeightsInfo {
        self.info.borrow().clone()
    }

    /// Id of the weights now loaded (not tracked: for stamping what is made with them).
    pub fn weights_id(&self) -> String {
        self.weights_id.get_untracked()
    }

    /// What to stamp an embedding made now with: the loaded weights' id, or, while a run
    /// trains (the worker then embeds with the model being trained), a mark that is never
    /// fresh.
    pub fn stamp(&self) -> String {
        if self.training.get() { MADE_WHILE_TRAINING.to_string() } else { self.weights_id() }
    }

    /// A run ended (the page heard its last update).
    pub fn training_ended(&self) {
        self.training.set(false);
    }

    /// Id of the weights now loaded, tracked: a view that reads it follows a change of weights.
    pub fn current_weights(&self) -> String {
        self.weights_id.get()
    }

    pub fn limits(&self) -> DeviceLimits {
        self.limits
    }

    pub fn input_size(&self) -> usize {
        self.info.borrow().config.image_size
    }

    /// A webcam's next frame: its faces (followed by the worker from the frames before;
    /// `restart` for a camera started anew) and the largest one's embedding. The frame leaves
    /// at once, so the next one can be on its way while this one's answer is drawn.
    pub fn live(&self, frame: &RgbFrame, restart: bool) -> impl Future<Output = Result<LiveFrame, String>> + 'static {
        let reply = self.channel.post(Call::Live { frame: Frame::from(frame), restart });
        async move {
            match reply.await? {
                Reply::Live(l) => Ok(l),
                other => Err(unexpected(other)),
            }
        }
    }

    /// The faces in a video's next frame under `schedule`: followed from the frame before,
    /// or found by the full cascade when the schedule or a lost face calls for it.
    pub async fn faces_in_video(&self, frame: &RgbFrame, schedule: &mut DetectEvery) -> Result<Vec<Detection>, String> {
        match self.call(Call::FollowOrDetect(Frame::from(frame), schedule.to_follow().to_vec())).await? {
            Reply::FacesInVideo { faces, detected } => {
                schedule.saw(&faces, detected);
                Ok(faces)
            }
            other => Err(unexpected(other)),
        }
    }

    /// Compile the kernels of one detector pass (run on zeros) ahead of use.
    pub async fn warm_up(&self, pass: WarmPass) -> Result<(), String> {
        self.call(Call::WarmUp(pass)).await.map(|_| ())
    }

    /// Embed images given as planar RGB in [0, 1] at the model's input size.
    pub async fn embed(&self, images: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        self.embed_with_head(images).await.map(|(e, _)| e)
    }

    /// Embeddings, and the linear head's outputs when the weights carry a head.
    pub async fn embed_with_head(&self, images: &[Vec<f32>]) -> Result<(Vec<Vec<f32>>, Option<Vec<Vec<f32>>>), String> {
        match self.call(Call::Embed(images.to_vec())).await? {
            Reply::Embedded { embeddings, head } => Ok((embeddings, head)),
            other => Err(unexpected(other)),
        }
    }

    /// `source` (an input image) with the pose and expression of `driver` (an embedding).
    pub async fn resynthesize(&self, source: Vec<f32>, driver: Vec<f32>) -> Result<Vec<f32>, String> {
        match self.call(Call::Resynthesize { source, driver }).await? {
            Reply::Image(i) => Ok(i),
            other => Err(unexpected(other)),
        }
    }

    /// Replace the model by a weights file or a PyTorch checkpoint (`name` is the file's); a
    /// bad file leaves the current one.
    pub async fn load_weights(&self, bytes: Vec<u8>, name: String) -> Result<WeightsInfo, String> {
        let id = crate::weights::id(&bytes);
        match self.call(Call::LoadWeights { bytes, name }).await? {
            Reply::Ready { info, .. } => {
                *self.info.borrow_mut() = info.clone();
                self.weights_id.set(id);
                Ok(info)
            }
            other => Err(unexpected(other)),
        }
    }

    /// The current model as a weights file (what `fabnet embed --weights` reads).
    pub async fn save_weights(&self) -> Result<Vec<u8>, String> {
        match self.call(Call::SaveWeights).await? {
            Reply::Weights(w) => Ok(w),
            other => Err(unexpected(other)),
        }
    }

    /// Fit `attribute` on the tagged faces' embeddings and make it the model's head. The page
    /// then stores the new weights (`weights::head_changed`).
    pub async fn teach(&self, attribute: Attribute, embeddings: Vec<Vec<f32>>, targets: Vec<Vec<f32>>) -> Result<(TeachReport, WeightsInfo), String> {
        match self.call(Call::Teach { attribute, embeddings, targets }).await? {
            Reply::Taught { report, info } => Ok((report, info)),
            other => Err(unexpected(other)),
        }
    }

    /// Tell the page what the model is after training changed it, and the id of its file.
    pub fn set_info(&self, info: WeightsInfo, weights_id: String) {
        *self.info.borrow_mut() = info;
        self.weights_id.set(weights_id);
    }

    pub async fn train(&self, request: TrainRequest) -> Result<(), String> {
        // Set before the call: the worker may answer embeddings with the new run's model as
        // soon as it has the request.
        self.training.set(true);
        let result = self.call(Call::Train(request)).await.map(|_| ());
        if result.is_err() {
            self.training.set(false);
        }
        result
    }

    pub async fn pause(&self) -> Result<(), String> {
        self.call(Call::Pause).await.map(|_| ())
    }

    pub async fn resume(&self) -> Result<(), String> {
        self.call(Call::Resume).await.map(|_| ())
    }

    /// Try a request to `url` from the worker.
    pub async fn try_reach(&self, url: &str) -> Result<Reach, String> {
        match self.call(Call::TryReach(url.to_string())).await? {
            Reply::Reach(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// The model crate's benchmark on the worker's device; the detector rows on `frame`.
    pub async fn bench(&self, spec: BenchSpec, frame: Option<&RgbFrame>) -> Result<BenchReport, String> {
        match self.call(Call::Bench { spec, frame: frame.map(Frame::from) }).await? {
            Reply::Bench(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    pub async fn stop(&self) -> Result<(), String> {
        self.call(Call::Stop).await.map(|_| ())
    }
}
