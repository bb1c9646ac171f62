//! A fine-tune in the worker: the Train panel's settings as a session of the model crate, and
//! its events as the panel's updates.

use std::sync::Arc;

use fabnet::FabNet;
use fabnet::burn::module::Module;
use fabnet::curriculum::CurriculumConfig;
use fabnet::data::{HoldOut, MemoryTracks};
use fabnet::face::RgbFrame;
use fabnet::session::{EpochLength, Recipe, Session, SessionEvent, SessionSettings, Stages, ValidationPlan};
use fabnet::train::{OptimizerKind, Stage};
use fabnet::weights::WeightsInfo;

use super::check::CheckSet;
use super::{Engine, now_ms};
use crate::protocol::{Samples, TrainRequest, TrainSettings, TrainState, TrainUpdate};

/// Send pictures of the first example every this many steps.
const SAMPLES_EVERY: u64 = 5;
/// Fixed validation examples (of the held-out frames, the same every time).
const VALIDATION_EXAMPLES: u64 = 16;
/// A run's length and step size beyond any use (the log keeps one loss per step).
const MAX_STEPS: u32 = 1_000_000;
const MAX_LEARNING_RATE: f64 = 10.0;

/// The session settings of the Train panel's: the small-data recipe, with the panel's numbers;
/// an epoch is one validation interval, so the curriculum reacts (and the crop size changes)
/// once per interval.
fn session_settings(s: &TrainSettings) -> SessionSettings {
    let every = s.validate_every.max(1) as u64;
    let epochs = (s.steps as u64).div_ceil(every);
    let mut out = Recipe::SmallData.settings(s.source_views, epochs, epochs / 2, s.seed);
    out.optimizer = if s.adam { OptimizerKind::Adam } else { OptimizerKind::Sgd { momentum: 0.9 } };
    out.learning_rate = s.learning_rate;
    out.batch = s.batch_size;
    out.epoch_length = EpochLength::Batches(every);
    if !s.two_stages {
        out.stages = Stages::single(s.source_views);
    }
    out.curriculum = if s.curriculum { CurriculumConfig { patience: s.patience, ..out.curriculum } } else { CurriculumConfig::off() };
    out.jitter = s.jitter;
    out.validation = ValidationPlan { examples: Some(VALIDATION_EXAMPLES), jitter: s.jitter };
    out.sample_every = SAMPLES_EVERY;
    out.total_steps = Some(s.steps as u64);
    out
}

/// A fine-tune in progress: the model crate's training session, and the worker's scheduling.
pub(crate) struct Training {
    pub(crate) session: Session,
    /// The frames that train and the held-out ones that validate, per track.
    pub(crate) train_tracks: Arc<MemoryTracks>,
    pub(crate) val_tracks: Arc<MemoryTracks>,
    /// What is held out, in words.
    pub(crate) held_out: String,
    /// The frames and embeddings of the "did fine-tuning help" check; `None` when too few
    /// frames had a face the detector could label.
    pub(crate) check: Option<CheckSet>,
    pub(crate) state: TrainState,
    pub(crate) resumed_at: f64,
    pub(crate) steps_since_resume: u32,
    pub(crate) steps_per_s: f64,
    /// Send an update after the next reply (the state changed).
    pub(crate) announce: bool,
    pub(crate) started_from: String,
}

impl Training {
    pub(crate) fn new(engine: &Engine, request: TrainRequest) -> Result<Self, String> {
        let s = request.settings;
        if s.steps == 0 || s.batch_size == 0 || s.source_views == 0 {
            return Err("steps, batch size and source views must be at least 1".into());
        }
        if !(s.learning_rate.is_finite() && s.learning_rate > 0.0 && s.learning_rate <= MAX_LEARNING_RATE) {
            return Err(format!("the learning rate must be a number above 0 and at most {MAX_LEARNING_RATE}, not {}", s.learning_rate));
        }
        if s.steps > MAX_STEPS {
            return Err(format!("at most {MAX_STEPS} steps in one run, not {}", s.steps));
        }
        if s.source_views > fabnet::FabNetConfig::MAX_SOURCE_VIEWS {
            return Err(format!("at most {} source views, not {}", fabnet::FabNetConfig::MAX_SOURCE_VIEWS, s.source_views));
        }
        // Before any frame is copied or any network built: a step that would not fit the
        // device is refused here rather than failing inside a kernel.
        let config = match &s.preset {
            None => engine.model.config,
            Some(name) => fabnet::FabNetConfig::preset(name).map_err(|e| e.to_string())?,
        };
        engine.limits.check_train(&config, s.batch_size, s.source_views)?;
        let tracks: Vec<Vec<RgbFrame>> =
            request.tracks.iter().map(|t| t.iter().map(|f| f.to_rgb()).collect::<Result<Vec<_>, _>>()).collect::<Result<_, _>>()?;
        let lengths: Vec<usize> = tracks.iter().map(Vec::len).collect();
        let hold_out = HoldOut::of(&lengths).ok_or("every face track is too short to hold out frames for validation (4 frames at least): add a longer clip")?;
        let part = |ranges: &[std::ops::Range<usize>]| -> Vec<Vec<RgbFrame>> {
            tracks.iter().zip(ranges).map(|(t, r)| t[r.clone()].to_vec()).filter(|t| !t.is_empty()).collect()
        };
        let val_tracks = part(&hold_out.val);
        let train_tracks: Vec<Vec<RgbFrame>> = part(&hold_out.train).into_iter().filter(|t| t.len() > s.source_views).collect();
        if train_tracks.is_empty() {
            return Err(format!(
                "no face track keeps more than {} frames to train on once its validation frames are held out: add a clip with a longer track, or use fewer source views",
                s.source_views
            ));
        }
        let train_device = engine.device.clone().autodiff();
        let (model, started_from) = match &s.preset {
            // A head fitted to the embedding before fine-tuning would no longer fit: dropped.
            None => (engine.model.clone().with_head(None).train(), format!("fine-tuned in the browser from: {}", engine.info.provenance)),
            Some(name) => {
                let config = config.with_source_views(s.source_views);
                train_device.seed(s.seed);
                (FabNet::new(config, &train_device).map_err(|e| e.to_string())?, format!("trained in the browser from scratch (preset {name})"))
            }
        };
        let (train_tracks, val_tracks) = (Arc::new(MemoryTracks::new(train_tracks)), Arc::new(MemoryTracks::new(val_tracks)));
        let session =
            Session::new(model, session_settings(&s), train_tracks.clone(), val_tracks.clone(), engine.device.clone(), vec![]).map_err(|e| e.to_string())?;
        Ok(Self {
            session,
            train_tracks,
            val_tracks,
            held_out: hold_out.description,
            check: None,
            state: TrainState::Running,
            resumed_at: now_ms(),
            steps_since_resume: 0,
            steps_per_s: 0.0,
            announce: true,
            started_from,
        })
    }

    /// What the weights being trained say about themselves (without a head: see `new`).
    pub(crate) fn info(&self) -> WeightsInfo {
        let model = self.session.model();
        let provenance =
            format!("{}; then in this browser on {} face track(s): {}", self.started_from, self.train_tracks.tracks().len(), self.session.describe());
        WeightsInfo::for_model(model, provenance)
    }

    pub(crate) fn update(&self, loss: Option<f64>) -> TrainUpdate {
        let state = self.session.state();
        let (stage, views) = self.session.settings().stages.at(state.epoch.min(self.session.settings().epochs.saturating_sub(1)));
        TrainUpdate {
            state: self.state,
            step: state.step as u32,
            steps: self.session.total_steps() as u32,
            loss,
            val_loss: None,
            window: (self.session.window().min, self.session.window().max),
            learning_rate: self.session.learning_rate(),
            steps_per_s: self.steps_per_s,
            samples: None,
            problem: None,
            model: None,
            held_out: self.held_out.clone(),
            check: None,
            views,
            frozen_flow: stage == Stage::FrozenFlow,
        }
    }

    /// One train step (and validation when due), through the session.
    pub(crate) async fn step(&mut self) -> TrainUpdate {
        let events = self.session.step_next().await;
        let mut update = self.update(None);
        for event in events {
            match event {
                SessionEvent::Step { epoch, loss, window, learning_rate, step, .. } => {
                    // What the step trained with (the validation after it may move the window,
                    // the learning rate and the stage).
                    let (stage, views) = self.session.settings().stages.at(epoch);
                    update = TrainUpdate {
                        loss: Some(loss),
                        step: step as u32,
                        window: (window.min, window.max),
                        learning_rate,
                        views,
                        frozen_flow: stage == Stage::FrozenFlow,
                        ..update
                    };
                }
                SessionEvent::Samples(s) => {
                    let one = 3 * s.size * s.size;
                    update.samples = Some(Samples {
                        size: s.size,
                        target: s.target[..one].to_vec(),
                        sources: s.sources.iter().map(|v| v[..one].to_vec()).collect(),
                        fused: s.fused[..one].to_vec(),
                        masks: s.masks.iter().map(|m| m[..s.size * s.size].to_vec()).collect(),
                    });
                }
                SessionEvent::Validation { loss, .. } => update.val_loss = Some(loss),
                SessionEvent::Finished { .. } => self.state = TrainState::Finished,
                SessionEvent::Problem(problem) => {
                    self.state = TrainState::Finished;
                    update.problem = Some(format!("{problem}: lower the learning rate and start again (the weights before this run are kept)"));
                }
                SessionEvent::CurriculumMoved { .. } | SessionEvent::LearningRateDropped { .. } | SessionEvent::StageChanged { .. } => {}
            }
        }
        self.steps_since_resume += 1;
        let elapsed = (now_ms() - self.resumed_at) / 1000.0;
        if elapsed > 0.0 {
            self.steps_per_s = self.steps_since_resume as f64 / elapsed;
        }
        TrainUpdate { state: self.state, steps_per_s: self.steps_per_s, ..update }
    }
}
