//! One training session, driven the same way by the native CLI and the browser's worker (as
//! Brush's training process): it owns the sampler and batch assembly, the shared train step,
//! validation on held-out data, the curriculum and learning-rate schedule, the paper's two
//! stages, the NaN guard, the provenance text and the state a checkpoint needs; it reports
//! what happens as [`SessionEvent`]s. It reads tensors back only through `into_data_async`, so
//! the same code runs in a worker on WebGPU; natively the CLI blocks on it.
//!
//! A front-end feeds it host batches ([`Session::batch_maker`] builds them on any thread, so the
//! CLI decodes ahead on worker threads; the browser calls [`Session::next_batch`]) and calls
//! [`Session::step`] until [`Session::is_finished`].

mod event;
mod recipe;

use std::ops::Range;
use std::sync::Arc;

use burn::module::Module;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

pub use event::{SampleImages, SessionEvent};
pub use recipe::{EpochLength, Recipe, SessionSettings, Stages, ValidationPlan};

use crate::curriculum::{Curriculum, CurriculumEvent};
use crate::data::{FrameSource, HostBatch, MakeBatch, Sampler, assemble};
use crate::loss::{PercentileWindow, per_sample_l1};
use crate::net::FabNet;
use crate::readback::values as read;
use crate::train::{Batch, Stage, TrainConfig, Trainer};

/// Where a run stands: with the settings, all a checkpoint needs besides the weights and the
/// optimizer state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    pub epoch: u64,
    /// Batches of `epoch` already trained.
    pub batch: u64,
    pub step: u64,
    pub curriculum: Curriculum,
    pub best_val: Option<f64>,
    pub stage: Stage,
}

/// Settings that cannot train.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SessionError(pub String);

/// Validation seeds and epoch key: the same examples (and the same jitter) every time.
const VALIDATION_SEED: u64 = 0x5eed;
const VALIDATION_EPOCH: u64 = u64::MAX;

pub struct Session {
    settings: SessionSettings,
    state: SessionState,
    trainer: Trainer,
    /// Where each shard of a batch trains (autodiff devices; the first holds the model).
    shard_devices: Vec<Device>,
    /// Where validation runs.
    device: Device,
    train: Arc<dyn FrameSource>,
    val: Arc<dyn FrameSource>,
    /// The problem that ended the run, if one did.
    failed: bool,
}

fn check(settings: &SessionSettings, train: &dyn FrameSource, val: &dyn FrameSource) -> Result<(), SessionError> {
    let s = settings;
    if s.batch == 0 || s.stages.first_views == 0 || s.stages.second_views == 0 || s.epoch_length == EpochLength::Batches(0) {
        return Err(SessionError("the batch, the source views and the batches per epoch must be at least 1".into()));
    }
    if !(s.learning_rate.is_finite() && s.learning_rate >= 0.0) {
        return Err(SessionError(format!("the learning rate must be a number of 0 or more, not {}", s.learning_rate)));
    }
    if train.index().tracks() == 0 || val.index().tracks() == 0 {
        return Err(SessionError("training and validation each need at least one face track".into()));
    }
    Ok(())
}

impl Session {
    /// A fresh run of `model` (on an autodiff device). `shard_devices` (plain devices) split
    /// every batch for data-parallel training; empty: the model's device alone. Validation runs
    /// on `device`.
    pub fn new(
        model: FabNet,
        settings: SessionSettings,
        train: Arc<dyn FrameSource>,
        val: Arc<dyn FrameSource>,
        device: Device,
        shard_devices: Vec<Device>,
    ) -> Result<Self, SessionError> {
        let state = SessionState {
            epoch: 0,
            batch: 0,
            step: 0,
            curriculum: Curriculum::new(settings.curriculum.clone()),
            best_val: None,
            stage: settings.stages.at(0).0,
        };
        Self::resume(model, None, settings, state, train, val, device, shard_devices)
    }

    /// A run continued from a checkpoint: its weights, optimizer state, settings and state.
    #[allow(clippy::too_many_arguments)]
    pub fn resume(
        model: FabNet,
        optimizer: Option<Bytes>,
        settings: SessionSettings,
        state: SessionState,
        train: Arc<dyn FrameSource>,
        val: Arc<dyn FrameSource>,
        device: Device,
        shard_devices: Vec<Device>,
    ) -> Result<Self, SessionError> {
        check(&settings, train.as_ref(), val.as_ref())?;
        let mut trainer = Trainer::new(model, TrainConfig { optimizer: settings.optimizer, learning_rate: settings.learning_rate, stage: state.stage });
        if let Some(bytes) = optimizer {
            let restored =
                trainer.optimizer().clone().from_bytes(bytes).map_err(|e| SessionError(format!("the checkpoint's optimizer state is damaged: {e:?}")))?;
            trainer.load_optimizer(restored);
        }
        let mut shard_devices: Vec<Device> = shard_devices.into_iter().map(|d| d.autodiff()).collect();
        if shard_devices.is_empty() {
            shard_devices.push(device.clone().autodiff());
        }
        Ok(Self { settings, state, trainer, shard_devices, device, train, val, failed: false })
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// The model being trained (on the autodiff device); `.valid()` for inference.
    pub fn model(&self) -> &FabNet {
        self.trainer.model()
    }

    pub fn into_model(self) -> FabNet {
        self.trainer.into_model()
    }

    pub fn optimizer_bytes(&self) -> Result<Bytes, SessionError> {
        self.trainer.optimizer().into_bytes().map_err(|e| SessionError(format!("cannot save the optimizer: {e:?}")))
    }

    /// The run in words, for the weights' provenance: what trained, how, and how far.
    pub fn describe(&self) -> String {
        let s = &self.settings;
        let optimizer = match s.optimizer {
            crate::train::OptimizerKind::Sgd { momentum } => format!("SGD (momentum {momentum})"),
            crate::train::OptimizerKind::Adam => "Adam".to_string(),
        };
        let epoch = match s.epoch_length {
            EpochLength::EachIdentityOnce => "each identity once".to_string(),
            EpochLength::Batches(n) => format!("{n} batches"),
        };
        let stages = if s.stages.second_from >= s.epochs {
            format!("{} source view(s)", s.stages.first_views)
        } else {
            format!(
                "{} source view(s), then {} with the flow decoder frozen from epoch {}",
                s.stages.first_views,
                s.stages.second_views,
                s.stages.second_from + 1
            )
        };
        let curriculum = if s.curriculum.max_percentile <= 0.0 && s.curriculum.start == PercentileWindow::FULL {
            "no curriculum".to_string()
        } else {
            format!("curriculum patience {}", s.curriculum.patience)
        };
        format!(
            "{} steps of {} examples ({} of {} epochs, an epoch being {epoch}), {optimizer} at lr {}, {stages}, {curriculum}, {}crop jitter, seed {}; best validation L1 {:.4}.",
            self.state.step,
            s.batch,
            self.state.epoch.min(s.epochs),
            s.epochs,
            s.learning_rate,
            if s.jitter { "" } else { "no " },
            s.seed,
            self.state.best_val.unwrap_or(f64::NAN)
        )
    }

    pub fn learning_rate(&self) -> f64 {
        self.settings.learning_rate * self.state.curriculum.lr_scale
    }

    pub fn window(&self) -> PercentileWindow {
        self.state.curriculum.window
    }

    /// The source views of the current epoch.
    pub fn views(&self) -> usize {
        self.settings.stages.at(self.state.epoch).1
    }

    pub fn steps_per_epoch(&self) -> u64 {
        match self.settings.epoch_length {
            EpochLength::EachIdentityOnce => (self.train.index().identities() as u64).div_ceil(self.settings.batch as u64),
            EpochLength::Batches(n) => n,
        }
    }

    /// Every step the run will take in all.
    pub fn total_steps(&self) -> u64 {
        let all = self.settings.epochs.saturating_mul(self.steps_per_epoch());
        self.settings.total_steps.map_or(all, |t| t.min(all))
    }

    pub fn is_finished(&self) -> bool {
        self.failed || self.state.epoch >= self.settings.epochs || self.settings.total_steps.is_some_and(|t| self.state.step >= t)
    }

    /// The batches of the current epoch still to train.
    pub fn remaining_batches(&self) -> Range<u64> {
        let end = self.steps_per_epoch();
        let end = match self.settings.total_steps {
            Some(t) => end.min(self.state.batch + t.saturating_sub(self.state.step)),
            None => end,
        };
        self.state.batch..end.max(self.state.batch)
    }

    fn sampler(&self, epoch: u64) -> Sampler {
        let s = &self.settings;
        Sampler { seed: s.seed, views: s.stages.at(epoch).1, jitter: s.jitter, order: s.epoch_length.order() }
    }

    /// Builds batch `b` of the current epoch on any thread (the CLI decodes ahead with it).
    pub fn batch_maker(&self) -> MakeBatch {
        let (source, sampler, epoch) = (self.train.clone(), self.sampler(self.state.epoch), self.state.epoch);
        let (batch, size) = (self.settings.batch as u64, self.model().config.image_size);
        let examples = sampler.epoch_examples(source.index());
        Arc::new(move |b: u64| {
            let start = b * batch;
            let end = examples.map_or(start + batch, |n| (start + batch).min(n));
            assemble(source.as_ref(), &sampler, epoch, start..end, size)
        })
    }

    /// The next batch to train, assembled here (the browser, whose frames are in memory).
    pub fn next_batch(&self) -> Option<HostBatch> {
        (self.batch_maker())(self.state.batch)
    }

    /// Assembles the next batch and trains on it.
    pub async fn step_next(&mut self) -> Vec<SessionEvent> {
        match self.next_batch() {
            Some(host) => self.step(host).await,
            None => self.fail("the training data ran out: every track drawn was unreadable".into()),
        }
    }

    fn fail(&mut self, problem: String) -> Vec<SessionEvent> {
        self.failed = true;
        vec![SessionEvent::Problem(problem)]
    }

    /// One train step on `host` (the next batch of the current epoch); at the end of an epoch
    /// also validation, the curriculum, the stage and, when the run is done, `Finished`.
    pub async fn step(&mut self, host: HostBatch) -> Vec<SessionEvent> {
        if self.is_finished() {
            return vec![];
        }
        match self.try_step(host).await {
            Ok(events) => events,
            Err(problem) => self.fail(problem),
        }
    }

    async fn try_step(&mut self, host: HostBatch) -> Result<Vec<SessionEvent>, String> {
        let mut events = Vec::new();
        let every = self.settings.sample_every;
        let keep = every > 0 && (self.state.step + 1).is_multiple_of(every);
        let (window, learning_rate, examples, size) = (self.window(), self.learning_rate(), host.size, host.image_size);
        let samples_of = keep.then(|| first_rows(&host, 4));
        let shards = to_shards(host, &self.shard_devices);
        let output = self.trainer.step_parallel(shards, window, learning_rate, keep).map_err(|e| e.to_string())?;
        let loss = read(output.loss).await?[0] as f64;
        if !loss.is_finite() {
            return Err(format!("the loss became {loss} at step {}", self.state.step + 1));
        }
        self.state.step += 1;
        self.state.batch += 1;
        events.push(SessionEvent::Step { epoch: self.state.epoch, step: self.state.step, loss, window, learning_rate, examples });
        if let (Some(generation), Some((rows, target, sources))) = (output.generation, samples_of) {
            let fused = read(generation.fused.narrow(0, 0, rows).flatten::<1>(0, 3)).await?;
            let mut masks = Vec::new();
            for w in generation.weights {
                masks.push(read(w.narrow(0, 0, rows).flatten::<1>(0, 3)).await?);
            }
            events.push(SessionEvent::Samples(SampleImages { step: self.state.step, size, rows, target, sources, fused, masks }));
        }
        let epoch_done = self.state.batch >= self.steps_per_epoch();
        let run_done = self.settings.total_steps.is_some_and(|t| self.state.step >= t);
        if epoch_done || run_done {
            self.end_epoch(&mut events).await?;
        }
        if self.is_finished() {
            events.push(SessionEvent::Finished { steps: self.state.step });
        }
        Ok(events)
    }

    /// Validation, the curriculum, then the next epoch (and its stage).
    async fn end_epoch(&mut self, events: &mut Vec<SessionEvent>) -> Result<(), String> {
        let loss = self.validate().await?;
        let epoch = self.state.epoch;
        let best = self.state.best_val.is_none_or(|b| loss < b);
        if best {
            self.state.best_val = Some(loss);
        }
        events.push(SessionEvent::Validation { epoch, step: self.state.step, loss, best });
        match self.state.curriculum.observe(epoch as u32, loss) {
            CurriculumEvent::WindowMoved(window) => events.push(SessionEvent::CurriculumMoved { window }),
            CurriculumEvent::LearningRateReduced(_) => events.push(SessionEvent::LearningRateDropped { learning_rate: self.learning_rate() }),
            CurriculumEvent::Unchanged => {}
        }
        self.state.epoch += 1;
        self.state.batch = 0;
        let (stage, views) = self.settings.stages.at(self.state.epoch);
        if stage != self.state.stage && self.state.epoch < self.settings.epochs {
            self.trainer.set_stage(stage);
            self.state.stage = stage;
            events.push(SessionEvent::StageChanged { epoch: self.state.epoch, stage, views });
        }
        Ok(())
    }

    /// The mean L1 of the fixed validation examples, in evaluation mode, with the current
    /// stage's number of source views.
    pub async fn validate(&self) -> Result<f64, String> {
        let model = self.trainer.model().valid();
        let s = &self.settings;
        let order = if s.validation.examples.is_some() { crate::data::EpochOrder::Uniform } else { crate::data::EpochOrder::EachIdentityOnce };
        let sampler = Sampler { seed: s.seed ^ VALIDATION_SEED, views: self.views(), jitter: s.validation.jitter, order };
        let count = s.validation.examples.or(sampler.epoch_examples(self.val.index())).unwrap_or(1).max(1);
        let (mut total, mut n) = (0.0f64, 0usize);
        let mut start = 0;
        while start < count {
            let end = (start + s.batch as u64).min(count);
            let host =
                assemble(self.val.as_ref(), &sampler, VALIDATION_EPOCH, start..end, model.config.image_size).ok_or("no validation example could be read")?;
            let batch = to_batch(host, &self.device);
            let generation = model.generate(batch.target.clone(), &batch.sources);
            let losses = read(per_sample_l1(generation.fused, batch.target)).await?;
            total += losses.iter().map(|&l| l as f64).sum::<f64>();
            n += losses.len();
            start = end;
        }
        Ok(total / n as f64)
    }
}

/// The first `rows` examples of a batch, for sample pictures: (rows, targets, each source).
fn first_rows(host: &HostBatch, rows: usize) -> (usize, Vec<f32>, Vec<Vec<f32>>) {
    let rows = rows.min(host.size);
    let n = rows * 3 * host.image_size * host.image_size;
    (rows, host.target[..n].to_vec(), host.sources.iter().map(|s| s[..n].to_vec()).collect())
}

fn to_batch(host: HostBatch, device: &Device) -> Batch {
    let shape = [host.size, 3, host.image_size, host.image_size];
    let tensor = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, shape), device);
    Batch { target: tensor(host.target), sources: host.sources.into_iter().map(tensor).collect() }
}

/// The batch split as evenly as it goes over `devices` (the first ones take the remainder);
/// one device gets it whole.
fn to_shards(host: HostBatch, devices: &[Device]) -> Vec<Batch> {
    if devices.len() <= 1 {
        return vec![to_batch(host, &devices[0])];
    }
    let per_image = 3 * host.image_size * host.image_size;
    let (n, d) = (host.size, devices.len().min(host.size).max(1));
    let mut shards = Vec::with_capacity(d);
    let mut start = 0;
    for (i, device) in devices.iter().take(d).enumerate() {
        let count = n / d + usize::from(i < n % d);
        let cut = |v: &[f32]| v[start * per_image..(start + count) * per_image].to_vec();
        let part = HostBatch { size: count, image_size: host.image_size, target: cut(&host.target), sources: host.sources.iter().map(|s| cut(s)).collect() };
        shards.push(to_batch(part, device));
        start += count;
    }
    shards
}
