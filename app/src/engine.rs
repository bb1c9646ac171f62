//! The engine worker: WebGPU, FAb-Net, the face detector and fine-tuning, off the page's
//! thread so that the page never freezes. One request is served at a time; while training
//! runs, requests are served between steps (the webcam keeps working during a fine-tune).

use fabnet::FabNet;
use fabnet::burn::module::Module;
use fabnet::burn::tensor::{Device, Tensor, TensorData};
use fabnet::curriculum::{Curriculum, CurriculumConfig};
use fabnet::data::{CropJitter, HoldOut, Sampler, TrackIndex};
use fabnet::face::{DetectParams, Detection, Detector, Mtcnn, RgbFrame};
use fabnet::loss::per_sample_l1;
use fabnet::probe::{CheckFrames, FineTuneCheck, fine_tune_check};
use fabnet::train::{Batch, OptimizerKind, Stage, TrainConfig, Trainer};
use fabnet::weights::{self, WeightsInfo};
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_worker::reactor::{ReactorScope, reactor};

use crate::protocol::{Call, Event, Reply, Request, Samples, TrainRequest, TrainSettings, TrainState, TrainUpdate};

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
                let (Some(t), Some(e)) = (training.as_mut(), engine.as_mut()) else { continue };
                Some(Event::Training(t.step(e).await))
            }
        };
        if let Some(mut event) = event {
            if let Event::Training(u) = &mut event
                && u.state == TrainState::Finished
                && let (Some(t), Some(e)) = (training.take(), engine.as_mut())
                && u.problem.is_none()
            {
                // What was learned becomes the model; a failed run leaves the old one.
                e.info = t.info(&e.info);
                let check = t.check;
                e.model = t.trainer.into_model().valid();
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

struct Engine {
    device: Device,
    model: FabNet,
    info: WeightsInfo,
    detector: Detector,
}

fn not_started() -> String {
    "the engine has not started".to_string()
}

async fn serve(engine: &mut Option<Engine>, training: &mut Option<Training>, call: Call) -> Result<Reply, String> {
    if let Call::Start { weights, detector } = call {
        let e = Engine::start(&weights, &detector).await?;
        let info = e.info.clone();
        *engine = Some(e);
        return Ok(Reply::Ready(info));
    }
    let e = engine.as_mut().ok_or_else(not_started)?;
    // While training, the model being trained is the one that answers.
    let model = |e: &Engine| match training.as_ref() {
        Some(t) => t.trainer.model().valid(),
        None => e.model.clone(),
    };
    match call {
        Call::Start { .. } => unreachable!("handled above"),
        Call::Detect(frame) => e.detector.detect(&frame.to_rgb()?).await.map(Reply::Faces).map_err(|e| e.to_string()),
        Call::Follow(frame, previous) => e.detector.follow(&frame.to_rgb()?, &previous).await.map(Reply::Faces).map_err(|e| e.to_string()),
        Call::Embed(images) => embed(&model(e), &e.device, &images).await.map(|(embeddings, head)| Reply::Embedded { embeddings, head }),
        Call::Resynthesize { source, driver } => resynthesize(&model(e), &e.device, source, driver).await.map(Reply::Image),
        Call::LoadWeights(bytes) => {
            if training.is_some() {
                return Err("stop training before loading other weights".into());
            }
            let (model, info) = weights::from_bytes(&bytes, &e.device).map_err(|err| {
                // burn-store reads PyTorch checkpoints from a file path only, which a browser
                // does not have: point to the converter instead.
                if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0x80, 0x02]) {
                    "this looks like a PyTorch checkpoint (.pth); convert it first with `fabnet import FILE.pth -o FILE.fabnet` and load that".to_string()
                } else {
                    err.to_string()
                }
            })?;
            e.model = model;
            e.info = info.clone();
            Ok(Reply::Ready(info))
        }
        Call::SaveWeights => {
            let info = match training.as_ref() {
                Some(t) => t.info(&e.info),
                None => e.info.clone(),
            };
            weights::to_bytes_async(&model(e), &info).await.map(Reply::Weights).map_err(|e| e.to_string())
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
        let (model, info) = weights::from_bytes(weights, &device).map_err(|e| format!("FAb-Net weights: {e}"))?;
        let (nets, _) = Mtcnn::from_bytes(detector, &device).map_err(|e| format!("face detector weights: {e}"))?;
        let detector = Detector::new(nets, DetectParams::default(), device.clone());
        Ok(Self { device, model, info, detector })
    }
}

fn images_tensor(images: &[Vec<f32>], size: usize, device: &Device) -> Result<Tensor<4>, String> {
    if images.iter().any(|i| i.len() != 3 * size * size) {
        return Err(format!("images must be 3 x {size} x {size}"));
    }
    let values: Vec<f32> = images.iter().flatten().copied().collect();
    Ok(Tensor::<4>::from_data(TensorData::new(values, [images.len(), 3, size, size]), device))
}

async fn read(t: Tensor<1>) -> Result<Vec<f32>, String> {
    let data = t.into_data_async().await.map_err(|e| format!("reading from the GPU failed: {e:?}"))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|e| format!("{e:?}"))
}

type Rows = Vec<Vec<f32>>;

async fn rows(t: Tensor<2>) -> Result<Rows, String> {
    let width = t.dims()[1].max(1);
    Ok(read(t.flatten(0, 1)).await?.chunks(width).map(<[f32]>::to_vec).collect())
}

/// Embeddings of `images`, and the head's outputs when there is a head.
async fn embed(model: &FabNet, device: &Device, images: &[Vec<f32>]) -> Result<(Rows, Option<Rows>), String> {
    if images.is_empty() {
        return Ok((vec![], None));
    }
    let embedding = model.embed(images_tensor(images, model.config.image_size, device)?);
    let head = match model.head_outputs(embedding.clone()) {
        Some(h) => Some(rows(h).await?),
        None => None,
    };
    Ok((rows(embedding).await?, head))
}

async fn resynthesize(model: &FabNet, device: &Device, source: Vec<f32>, driver: Vec<f32>) -> Result<Vec<f32>, String> {
    let dim = model.config.embedding_dim;
    if driver.len() != dim {
        return Err(format!("the driving embedding has {} values, the model {dim}", driver.len()));
    }
    let source = images_tensor(&[source], model.config.image_size, device)?;
    let driver = Tensor::<2>::from_data(TensorData::new(driver, [1, dim]), device);
    let source_embedding = model.embed(source.clone());
    let generation = model.generate_from_embeddings(driver, &[source], vec![source_embedding]);
    read(generation.fused.flatten(0, 3)).await
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Send pictures of the first example every this many steps.
const SAMPLES_EVERY: u32 = 5;
/// Fixed validation examples (centre crops of the held-out frames, the same every time).
const VALIDATION_EXAMPLES: u64 = 16;

/// A fine-tune in progress.
struct Training {
    trainer: Trainer,
    settings: TrainSettings,
    /// The frames that train, per track.
    tracks: Vec<Vec<RgbFrame>>,
    /// Each track counts as its own identity: the page does not know who is who.
    track_index: TrackIndex,
    /// The held-out frames that validate, which training never sees.
    val_tracks: Vec<Vec<RgbFrame>>,
    val_index: TrackIndex,
    /// What is held out, in words.
    held_out: String,
    /// The frames and embeddings of the "did fine-tuning help" check; `None` when too few
    /// frames had a face the detector could label.
    check: Option<CheckSet>,
    curriculum: Curriculum,
    step: u32,
    state: TrainState,
    resumed_at: f64,
    steps_since_resume: u32,
    steps_per_s: f64,
    /// Send an update after the next reply (the state changed).
    announce: bool,
    started_from: String,
}

impl Training {
    fn new(engine: &Engine, request: TrainRequest) -> Result<Self, String> {
        let s = request.settings;
        if s.steps == 0 || s.batch_size == 0 || s.source_views == 0 {
            return Err("steps, batch size and source views must be at least 1".into());
        }
        if !(s.learning_rate.is_finite() && s.learning_rate > 0.0) {
            return Err(format!("the learning rate must be a positive number, not {}", s.learning_rate));
        }
        let tracks: Vec<Vec<RgbFrame>> =
            request.tracks.iter().map(|t| t.iter().map(|f| f.to_rgb()).collect::<Result<Vec<_>, _>>()).collect::<Result<_, _>>()?;
        let lengths: Vec<usize> = tracks.iter().map(Vec::len).collect();
        let hold_out = HoldOut::of(&lengths).ok_or("every face track is too short to hold out frames for validation (4 frames at least): add a longer clip")?;
        let part = |ranges: &[std::ops::Range<usize>]| -> Vec<Vec<RgbFrame>> {
            tracks.iter().zip(ranges).map(|(t, r)| t[r.clone()].to_vec()).filter(|t| !t.is_empty()).collect()
        };
        let val_tracks = part(&hold_out.val);
        let tracks: Vec<Vec<RgbFrame>> = part(&hold_out.train).into_iter().filter(|t| t.len() > s.source_views).collect();
        if tracks.is_empty() {
            return Err(format!(
                "no face track keeps more than {} frames to train on once its validation frames are held out: add a clip with a longer track, or use fewer source views",
                s.source_views
            ));
        }
        let train_device = engine.device.clone().autodiff();
        let (model, started_from) = match &s.preset {
            None => (engine.model.clone().train(), format!("fine-tuned in the browser from: {}", engine.info.provenance)),
            Some(name) => {
                let config = fabnet::FabNetConfig::preset(name).map_err(|e| e.to_string())?.with_source_views(s.source_views);
                train_device.seed(s.seed);
                (FabNet::new(config, &train_device).map_err(|e| e.to_string())?, format!("trained in the browser from scratch (preset {name})"))
            }
        };
        let optimizer = if s.adam { OptimizerKind::Adam } else { OptimizerKind::Sgd { momentum: 0.9 } };
        let stage = if s.freeze_flow { Stage::FrozenFlow } else { Stage::Full };
        let trainer = Trainer::new(model, TrainConfig { optimizer, learning_rate: s.learning_rate, stage });
        let curriculum =
            Curriculum::new(if s.curriculum { CurriculumConfig { patience: s.patience, ..CurriculumConfig::default() } } else { CurriculumConfig::off() });
        Ok(Self {
            trainer,
            track_index: index_of(&tracks),
            tracks,
            val_index: index_of(&val_tracks),
            val_tracks,
            held_out: hold_out.description,
            check: None,
            settings: s,
            curriculum,
            step: 0,
            state: TrainState::Running,
            resumed_at: now_ms(),
            steps_since_resume: 0,
            steps_per_s: 0.0,
            announce: true,
            started_from,
        })
    }

    /// What the weights being trained say about themselves.
    fn info(&self, before: &WeightsInfo) -> WeightsInfo {
        let model = self.trainer.model();
        let mut info = WeightsInfo::for_model(model, self.provenance());
        if self.settings.preset.is_none() {
            info.head_task = before.head_task.clone();
        }
        info
    }

    fn provenance(&self) -> String {
        let s = &self.settings;
        format!(
            "{}; then {} steps on {} face track(s) in this browser (batch {}, lr {}, {} source view(s), curriculum {}, {}{})",
            self.started_from,
            self.step,
            self.tracks.len(),
            s.batch_size,
            s.learning_rate,
            s.source_views,
            if s.curriculum { "on" } else { "off" },
            if s.adam { "Adam" } else { "SGD" },
            if s.freeze_flow { ", flow decoder frozen" } else { "" }
        )
    }

    fn sampler(&self, jitter: bool, seed: u64) -> Sampler {
        Sampler { seed, views: self.settings.source_views, jitter }
    }

    /// Host images of examples `indices` of `epoch`, drawn from the training frames or the
    /// held-out ones: targets, then each source view.
    fn host_batch(&self, held_out: bool, sampler: &Sampler, epoch: u64, indices: std::ops::Range<u64>) -> (Vec<Vec<f32>>, Vec<Vec<Vec<f32>>>) {
        let (tracks, index) = if held_out { (&self.val_tracks, &self.val_index) } else { (&self.tracks, &self.track_index) };
        let size = self.trainer.model().config.image_size;
        let views = self.settings.source_views;
        let mut targets = Vec::new();
        let mut sources = vec![Vec::new(); views];
        for i in indices {
            let spec = sampler.example(index, epoch, i);
            let track = &tracks[spec.track];
            let mut images = spec.frames.iter().zip(&spec.crops).map(|(&f, crop)| crop.apply(&track[f], size));
            targets.push(images.next().expect("target"));
            for (v, image) in images.enumerate() {
                sources[v].push(image);
            }
        }
        (targets, sources)
    }

    fn to_batch(&self, host: &(Vec<Vec<f32>>, Vec<Vec<Vec<f32>>>), device: &Device) -> Result<Batch, String> {
        let size = self.trainer.model().config.image_size;
        Ok(Batch { target: images_tensor(&host.0, size, device)?, sources: host.1.iter().map(|v| images_tensor(v, size, device)).collect::<Result<_, _>>()? })
    }

    fn update(&self, loss: Option<f64>) -> TrainUpdate {
        TrainUpdate {
            state: self.state,
            step: self.step,
            steps: self.settings.steps,
            loss,
            val_loss: None,
            window: (self.curriculum.window.min, self.curriculum.window.max),
            learning_rate: self.settings.learning_rate * self.curriculum.lr_scale,
            steps_per_s: self.steps_per_s,
            samples: None,
            problem: None,
            model: None,
            held_out: self.held_out.clone(),
            check: None,
        }
    }

    /// One train step (and validation when due).
    async fn step(&mut self, engine: &Engine) -> TrainUpdate {
        match self.try_step(engine).await {
            Ok(update) => update,
            Err(problem) => {
                self.state = TrainState::Finished;
                TrainUpdate { problem: Some(problem), ..self.update(None) }
            }
        }
    }

    async fn try_step(&mut self, engine: &Engine) -> Result<TrainUpdate, String> {
        let s = self.settings.clone();
        let train_device = engine.device.clone().autodiff();
        let b = s.batch_size as u64;
        let host = self.host_batch(false, &self.sampler(s.jitter, s.seed), 0, self.step as u64 * b..(self.step as u64 + 1) * b);
        let batch = self.to_batch(&host, &train_device)?;
        let keep = self.step % SAMPLES_EVERY == 0;
        let window = self.curriculum.window;
        let lr = s.learning_rate * self.curriculum.lr_scale;
        let out = self.trainer.step(batch, window, lr, keep).map_err(|e| e.to_string())?;
        let loss = read(out.loss).await?[0] as f64;
        if !loss.is_finite() {
            return Err(format!(
                "the loss became {loss} at step {}: lower the learning rate and start again (the weights before this run are kept)",
                self.step + 1
            ));
        }
        self.step += 1;
        self.steps_since_resume += 1;
        let elapsed = (now_ms() - self.resumed_at) / 1000.0;
        if elapsed > 0.0 {
            self.steps_per_s = self.steps_since_resume as f64 / elapsed;
        }
        let samples = match out.generation {
            Some(g) => Some(Samples {
                size: self.trainer.model().config.image_size,
                target: host.0[0].clone(),
                sources: host.1.iter().map(|v| v[0].clone()).collect(),
                fused: read(g.fused.narrow(0, 0, 1).flatten(0, 3)).await?,
                masks: {
                    let mut masks = Vec::new();
                    for w in g.weights {
                        masks.push(read(w.narrow(0, 0, 1).flatten(0, 3)).await?);
                    }
                    masks
                },
            }),
            None => None,
        };
        let mut val_loss = None;
        if self.step % s.validate_every.max(1) == 0 || self.step == s.steps {
            let v = self.validate(engine).await?;
            self.curriculum.observe(self.step / s.validate_every.max(1), v);
            val_loss = Some(v);
        }
        if self.step >= s.steps {
            self.state = TrainState::Finished;
        }
        Ok(TrainUpdate { val_loss, samples, ..self.update(Some(loss)) })
    }

    /// Mean L1 of the fixed validation examples, in evaluation mode.
    async fn validate(&self, engine: &Engine) -> Result<f64, String> {
        let model = self.trainer.model().valid();
        let host = self.host_batch(true, &self.sampler(false, self.settings.seed ^ 0x5eed), u64::MAX, 0..VALIDATION_EXAMPLES);
        let batch = self.to_batch(&host, &engine.device)?;
        let generation = model.generate(batch.target.clone(), &batch.sources);
        let losses = read(per_sample_l1(generation.fused, batch.target)).await?;
        Ok(losses.iter().map(|&l| l as f64).sum::<f64>() / losses.len() as f64)
    }
}

/// Each track its own identity: the page does not know who is who.
fn index_of(tracks: &[Vec<RgbFrame>]) -> TrackIndex {
    TrackIndex::new(&(0..tracks.len()).collect::<Vec<_>>(), tracks.iter().map(Vec::len).collect())
}

/// At most this many frames of each split are labelled for the check (evenly spread), so that
/// a long clip does not hold up the start of training.
const CHECK_FRAMES: usize = 48;

/// The "did fine-tuning help" check: frames the run trains on (the probe fits there) and frames
/// it holds out (the probe is scored there), labelled with the detector's five landmarks, and
/// their embeddings before the run and by an untrained network of the same preset and seed.
struct CheckSet {
    fit: CheckFrames,
    test: CheckFrames,
    views: (Vec<Vec<f32>>, Vec<Vec<f32>>),
    before: (Rows, Rows),
    untrained: (Rows, Rows),
}

impl CheckSet {
    async fn measure(e: &Engine, t: &Training) -> Result<Option<Self>, String> {
        let model = t.trainer.model().valid();
        let size = model.config.image_size;
        let (fit, fit_views) = labelled_views(e, &t.tracks, size).await?;
        let (test, test_views) = labelled_views(e, &t.val_tracks, size).await?;
        if fit.landmarks.len() < 2 || test.landmarks.len() < 2 {
            return Ok(None);
        }
        let embeddings = |m: FabNet, views: (Vec<Vec<f32>>, Vec<Vec<f32>>)| async move {
            Ok::<_, String>((embed(&m, &e.device, &views.0).await?.0, embed(&m, &e.device, &views.1).await?.0))
        };
        let views = (fit_views, test_views);
        let before = embeddings(model.clone(), views.clone()).await?;
        e.device.seed(t.settings.seed);
        let fresh = FabNet::new(model.config, &e.device).map_err(|err| err.to_string())?;
        let untrained = embeddings(fresh, views.clone()).await?;
        Ok(Some(Self { fit, test, views, before, untrained }))
    }

    /// The probe on the same frames with the model the run made.
    async fn after(self, model: &FabNet, device: &Device) -> Result<Option<FineTuneCheck>, String> {
        let after = (embed(model, device, &self.views.0).await?.0, embed(model, device, &self.views.1).await?.0);
        Ok(fine_tune_check(&self.fit, &self.test, self.before, after, self.untrained))
    }
}

/// The network's centre view of each frame (at most [`CHECK_FRAMES`], evenly spread) that the
/// detector finds a face in, with its five landmarks found in a view of at least 128 px.
async fn labelled_views(e: &Engine, tracks: &[Vec<RgbFrame>], size: usize) -> Result<(CheckFrames, Vec<Vec<f32>>), String> {
    let frames: Vec<&RgbFrame> = tracks.iter().flatten().collect();
    let every = frames.len().div_ceil(CHECK_FRAMES).max(1);
    let side = size.max(128);
    let (mut landmarks, mut views) = (Vec::new(), Vec::new());
    for frame in frames.into_iter().step_by(every) {
        let faces = e.detector.detect(&CropJitter::CENTRE.apply_rgb(frame, side)).await.map_err(|err| err.to_string())?;
        if let Some(face) = Detection::most_confident(&faces) {
            landmarks.push(face.landmarks.iter().flatten().copied().collect());
            views.push(CropJitter::CENTRE.apply(frame, size));
        }
    }
    Ok((CheckFrames { side: side as f32, landmarks }, views))
}
