//! The engine worker: WebGPU, FAb-Net, the face detector and fine-tuning, off the page's
//! thread so that the page never freezes. One request is served at a time; while training
//! runs, requests are served between steps (the webcam keeps working during a fine-tune).

mod check;
mod fine_tune;
mod limits;

use fabnet::FabNet;
use fabnet::burn::module::Module;
use fabnet::burn::tensor::{Device, Tensor, TensorData};
use fabnet::face::input::{face_crop, network_input};
use fabnet::face::{DetectParams, Detection, Detector, LiveFaces, Mtcnn, RgbFrame};
use fabnet::footprint::DeviceLimits;
use fabnet::readback::values as read;
use fabnet::weights::{self, WeightsInfo};
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_worker::reactor::{ReactorScope, reactor};

use crate::protocol::{Call, Event, LiveFrame, Reply, Request, TrainState};
use check::CheckSet;
use fine_tune::Training;

#[reactor]
pub async fn EngineWorker(mut scope: ReactorScope<Request, Event>) {
    let mut engine: Option<Engine> = None;
    let mut training: Option<Training> = None;
    loop {
        let running = training.as_ref().is_some_and(|t| t.state == TrainState::Running);
        // While training runs, only look at what has already arrived; otherwise wait.
        let request = if running {
            match scope.next().now_or_never() {
                Some(Some(r)) => Some(r),
                Some(None) => break,
                None => None,
            }
        } else {
            match scope.next().await {
                Some(r) => Some(r),
                None => break,
            }
        };
        let event = match request {
            Some(Request { id, call }) => {
                let result = serve(&mut engine, &mut training, call).await;
                let update = training.as_ref().and_then(|t| t.announce.then(|| t.update(None)));
                if let Some(t) = training.as_mut() {
                    t.announce = false;
                }
                if scope.send(Event::Reply { id, result }).await.is_err() {
                    break;
                }
                update.map(Event::Training)
            }
            None => {
                let Some(t) = training.as_mut() else { continue };
                Some(Event::Training(t.step().await))
            }
        };
        if let Some(mut event) = event {
            if let Event::Training(u) = &mut event
                && u.state == TrainState::Finished
                && let (Some(t), Some(e)) = (training.take(), engine.as_mut())
                && u.problem.is_none()
            {
                // What was learned becomes the model; a failed run leaves the old one.
                e.info = t.info();
                let check = t.check;
                e.model = t.session.into_model().valid();
                u.model = Some(e.info.clone());
                if let Some(check) = check {
                    match check.after(&e.model, &e.device).await {
                        Ok(result) => u.check = result,
                        Err(problem) => u.problem = Some(format!("the model was updated, but the fine-tune check failed: {problem}")),
                    }
                }
            }
            if scope.send(event).await.is_err() {
                break;
            }
        }
    }
}

pub(crate) struct Engine {
    pub(crate) device: Device,
    pub(crate) model: FabNet,
    pub(crate) info: WeightsInfo,
    pub(crate) detector: Detector,
    /// What the device allows: requests that would exceed it are refused, not attempted.
    pub(crate) limits: DeviceLimits,
    /// The webcam's faces, followed from frame to frame.
    live: LiveFaces,
}

fn not_started() -> String {
    "the engine has not started".to_string()
}

async fn serve(engine: &mut Option<Engine>, training: &mut Option<Training>, call: Call) -> Result<Reply, String> {
    if let Call::Start { weights, detector } = call {
        let e = Engine::start(&weights, &detector).await?;
        let (info, limits) = (e.info.clone(), e.limits);
        *engine = Some(e);
        return Ok(Reply::Ready { info, limits });
    }
    if let Call::TryReach(url) = call {
        return Ok(Reply::Reach(crate::reach::try_reach(&url).await));
    }
    let e = engine.as_mut().ok_or_else(not_started)?;
    // While training, the model being trained is the one that answers.
    let model = |e: &Engine| match training.as_ref() {
        Some(t) => t.session.model().valid(),
        None => e.model.clone(),
    };
    match call {
        Call::Start { .. } | Call::TryReach(_) => unreachable!("handled above"),
        Call::Live { frame, restart } => {
            if restart {
                e.live = LiveFaces::default();
            }
            let model = model(e);
            live_frame(&model, e, &frame.to_rgb()?).await.map(Reply::Live)
        }
        Call::FollowOrDetect(frame, previous) => e
            .detector
            .follow_or_detect(&frame.to_rgb()?, &previous)
            .await
            .map(|(faces, detected)| Reply::FacesInVideo { faces, detected })
            .map_err(|e| e.to_string()),
        Call::WarmUp(pass) => e.detector.warm_up(pass).await.map(|()| Reply::Done).map_err(|e| e.to_string()),
        Call::Embed(images) => embed_within(&model(e), e, &images).await.map(|(embeddings, head)| Reply::Embedded { embeddings, head }),
        Call::Resynthesize { source, driver } => resynthesize(&model(e), &e.device, source, driver).await.map(Reply::Image),
        Call::LoadWeights { bytes, name } => {
            if training.is_some() {
                return Err("stop training before loading other weights".into());
            }
            let (model, info) = if fabnet::import::looks_like_checkpoint(&bytes) {
                let model = fabnet::import::import_checkpoint(&bytes, &e.device, &e.limits).map_err(|e| e.to_string())?.valid();
                let info = WeightsInfo::for_model(&model, format!("Imported in the browser from {name}, a PyTorch checkpoint in the authors' layout."));
                (model, info)
            } else {
                load(&bytes, &e.device, &e.limits)?
            };
            e.model = model;
            e.info = info.clone();
            Ok(Reply::Ready { info, limits: e.limits })
        }
        Call::SaveWeights => {
            let info = match training.as_ref() {
                Some(t) => t.info(),
                None => e.info.clone(),
            };
            weights::to_bytes_async(&model(e), &info).await.map(Reply::Weights).map_err(|e| e.to_string())
        }
        Call::Teach { attribute, embeddings, targets } => {
            // A run ends by replacing the model, which would drop the head.
            if training.is_some() {
                return Err("stop training before teaching an attribute".into());
            }
            let task = attribute.task();
            let taught = fabnet::probe::teach(&task, &embeddings, &targets)?;
            let head = fabnet::probe::to_head(&taught.probe, &e.device)?;
            e.model = e.model.clone().with_head(Some(head));
            e.info.head_outputs = Some(taught.probe.outputs());
            e.info.head_task = Some(task.describe_outputs());
            Ok(Reply::Taught { report: taught.report(), info: e.info.clone() })
        }
        Call::Train(request) => {
            if training.is_some() {
                return Err("training is already running".into());
            }
            let mut t = Training::new(e, request)?;
            t.check = CheckSet::measure(e, &t).await?;
            *training = Some(t);
            Ok(Reply::Done)
        }
        Call::Bench { spec, frame } => {
            // Timings beside a running fine-tune would measure both, and its memory is taken.
            if training.is_some() {
                return Err("stop training before measuring the device".into());
            }
            let frame = frame.map(|f| f.to_rgb()).transpose()?;
            let clock = precise_now_ms;
            fabnet::bench::run(&spec, &e.device, frame.as_ref().map(|f| (&e.detector, f)), &clock).await.map(Reply::Bench)
        }
        Call::Pause | Call::Resume | Call::Stop => {
            let t = training.as_mut().ok_or("no training is running")?;
            t.state = match call {
                Call::Pause => TrainState::Paused,
                Call::Resume => TrainState::Running,
                _ => TrainState::Finished,
            };
            t.resumed_at = now_ms();
            t.steps_since_resume = 0;
            t.announce = true;
            Ok(Reply::Done)
        }
    }
}

impl Engine {
    async fn start(weights: &[u8], detector: &[u8]) -> Result<Self, String> {
        let device = Device::wgpu_options().init_async().await.map_err(|e| format!("WebGPU device could not start: {e}"))?;
        let limits = limits::device_limits().await;
        let (model, info) = load(weights, &device, &limits).map_err(|e| format!("FAb-Net weights: {e}"))?;
        let (nets, _) = Mtcnn::from_bytes(detector, &device).map_err(|e| format!("face detector weights: {e}"))?;
        let detector = Detector::new(nets, DetectParams::default(), device.clone());
        Ok(Self { device, model, info, detector, limits, live: LiveFaces::default() })
    }
}

/// A weights file, refused before its network is built when the device could not hold it.
fn load(bytes: &[u8], device: &Device, limits: &DeviceLimits) -> Result<(FabNet, WeightsInfo), String> {
    weights::from_bytes_within(bytes, device, limits).map_err(|e| e.to_string())
}

/// As [`embed`], in batches the device can take.
async fn embed_within(model: &FabNet, e: &Engine, images: &[Vec<f32>]) -> Result<(Rows, Option<Rows>), String> {
    let batch = e.limits.max_inference_batch(&model.config);
    let (mut embeddings, mut heads) = (Vec::with_capacity(images.len()), None::<Rows>);
    for chunk in images.chunks(batch) {
        let (rows, head) = embed(model, &e.device, chunk).await?;
        embeddings.extend(rows);
        if let Some(head) = head {
            heads.get_or_insert_with(Vec::new).extend(head);
        }
    }
    Ok((embeddings, heads))
}

pub(crate) fn images_tensor(images: &[Vec<f32>], size: usize, device: &Device) -> Result<Tensor<4>, String> {
    if images.iter().any(|i| i.len() != 3 * size * size) {
        return Err(format!("images must be 3 x {size} x {size}"));
    }
    let values: Vec<f32> = images.iter().flatten().copied().collect();
    Ok(Tensor::<4>::from_data(TensorData::new(values, [images.len(), 3, size, size]), device))
}

pub(crate) type Rows = Vec<Vec<f32>>;

pub(crate) async fn rows(t: Tensor<2>) -> Result<Rows, String> {
    let width = t.dims()[1].max(1);
    Ok(read(t.flatten::<1>(0, 1)).await?.chunks(width).map(<[f32]>::to_vec).collect())
}

/// Embeddings of `images`, and the head's outputs when there is a head.
pub(crate) async fn embed(model: &FabNet, device: &Device, images: &[Vec<f32>]) -> Result<(Rows, Option<Rows>), String> {
    if images.is_empty() {
        return Ok((vec![], None));
    }
    let embedding = model.embed(images_tensor(images, model.config.image_size, device)?);
    let dim = embedding.dims()[1];
    match model.head_outputs(embedding.clone()) {
        // One read for both (each read is a round trip to the device).
        Some(h) => {
            let (mut embeddings, mut heads) = (Vec::new(), Vec::new());
            for mut row in rows(Tensor::cat(vec![embedding, h], 1)).await? {
                heads.push(row.split_off(dim));
                embeddings.push(row);
            }
            Ok((embeddings, Some(heads)))
        }
        None => Ok((rows(embedding).await?, None)),
    }
}

/// A webcam frame: its faces, the largest cropped as in training and embedded.
async fn live_frame(model: &FabNet, e: &mut Engine, frame: &RgbFrame) -> Result<LiveFrame, String> {
    let start = precise_now_ms();
    let (faces, _) = e.live.next(&e.detector, frame).await.map_err(|e| e.to_string())?;
    let found = precise_now_ms();
    let Some(face) = Detection::largest(&faces).map(|d| d.bbox) else {
        return Ok(LiveFrame { faces, embedding: None, head: None, face_ms: found - start, embed_ms: 0.0 });
    };
    let size = model.config.image_size;
    let input = network_input(&face_crop(frame, &face, size), size);
    let (mut embeddings, heads) = embed(model, &e.device, std::slice::from_ref(&input)).await?;
    let head = heads.and_then(|mut h| h.pop()).map(|outputs| (input, outputs));
    Ok(LiveFrame { faces, embedding: embeddings.pop(), head, face_ms: found - start, embed_ms: precise_now_ms() - found })
}

pub(crate) async fn resynthesize(model: &FabNet, device: &Device, source: Vec<f32>, driver: Vec<f32>) -> Result<Vec<f32>, String> {
    let dim = model.config.embedding_dim;
    if driver.len() != dim {
        return Err(format!("the driving embedding has {} values, the model {dim}", driver.len()));
    }
    let source = images_tensor(&[source], model.config.image_size, device)?;
    let driver = Tensor::<2>::from_data(TensorData::new(driver, [1, dim]), device);
    let source_embedding = model.embed(source.clone());
    let generation = model.generate_from_embeddings(driver, &[source], vec![source_embedding]);
    read(generation.fused.flatten::<1>(0, 3)).await
}

pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The worker's high-resolution clock (`Date` counts whole milliseconds).
fn precise_now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    js_sys::global().dyn_into::<web_sys::WorkerGlobalScope>().ok().and_then(|g| g.performance()).map(|p| p.now()).unwrap_or_else(now_ms)
}
