//! The one train step that every front-end (native CLI, browser worker) drives.
//!
//! It never reads a tensor back: the losses come out as tensors, so the caller decides when to
//! pay for a read (`into_data_async` in the browser, a sync read natively).

use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::loss::{PercentileWindow, per_sample_l1, window_mask};
use crate::net::{FabNet, Generation};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// SGD with momentum, as the paper (lr 1e-4, momentum 0.9).
    Sgd {
        momentum: f64,
    },
    Adam,
}

/// Which parts of the network learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// First stage: one source view, everything trains.
    Full,
    /// Second stage: several views; the flow decoder is frozen (the reference gives it lr 0),
    /// the encoder and the mask decoder train.
    FrozenFlow,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub optimizer: OptimizerKind,
    pub learning_rate: f64,
    pub stage: Stage,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { optimizer: OptimizerKind::Sgd { momentum: 0.9 }, learning_rate: 1e-4, stage: Stage::Full }
    }
}

/// One training example batch: targets and, per source view, a batch of frames of the same
/// tracks. All `[B, 3, S, S]` in [0, 1], on the trainer's (autodiff) device.
#[derive(Debug, Clone)]
pub struct Batch {
    pub target: Tensor<4>,
    pub sources: Vec<Tensor<4>>,
}

/// What one step returns. Tensors are detached and still on the device.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// Loss of every sample, `[B]`.
    pub losses: Tensor<1>,
    /// The windowed loss that was minimised, `[1]`.
    pub loss: Tensor<1>,
    /// Fused image, masks and flows, when asked for.
    pub generation: Option<Generation>,
}

/// A batch that cannot go through the network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BatchError(pub String);

impl Batch {
    /// Every view must be `[B, 3, S, S]` with the model's `S` and the same `B`, with at least
    /// one source view.
    pub fn check(&self, image_size: usize) -> Result<(), BatchError> {
        let [b, c, h, w] = self.target.dims();
        if b == 0 || c != 3 || h != image_size || w != image_size {
            return Err(BatchError(format!("targets are [{b}, {c}, {h}, {w}], expected [B >= 1, 3, {image_size}, {image_size}]")));
        }
        if self.sources.is_empty() {
            return Err(BatchError("a batch needs at least one source view".into()));
        }
        for (v, source) in self.sources.iter().enumerate() {
            if source.dims() != [b, c, h, w] {
                return Err(BatchError(format!("source view {v} is {:?}, targets are {:?}", source.dims(), [b, c, h, w])));
            }
        }
        Ok(())
    }
}

/// The model and its optimizer state.
pub struct Trainer {
    model: Option<FabNet>,
    optimizer: ModuleOptimizer,
    pub config: TrainConfig,
}

fn build_optimizer(kind: OptimizerKind) -> ModuleOptimizer {
    match kind {
        OptimizerKind::Sgd { momentum } => SgdConfig::new().with_momentum(Some(MomentumConfig::new().with_momentum(momentum).with_dampening(0.0))).init(),
        OptimizerKind::Adam => AdamConfig::new().init(),
    }
}

impl Trainer {
    /// `model` must live on an autodiff device.
    pub fn new(model: FabNet, config: TrainConfig) -> Self {
        let model = Self::apply_stage(model.train(), config.stage);
        Self { model: Some(model), optimizer: build_optimizer(config.optimizer), config }
    }

    fn apply_stage(mut model: FabNet, stage: Stage) -> FabNet {
        if stage == Stage::FrozenFlow {
            // No gradients for the flow decoder, but its BatchNorm keeps training behaviour,
            // exactly as an lr of 0 in the reference.
            model.flow = model.flow.no_grad();
        }
        model
    }

    pub fn model(&self) -> &FabNet {
        self.model.as_ref().expect("trainer holds a model between steps")
    }

    pub fn into_model(self) -> FabNet {
        self.model.expect("trainer holds a model between steps")
    }

    /// Switch stage (for example to the multi-view stage), keeping the optimizer state.
    pub fn set_stage(&mut self, stage: Stage) {
        let model = self.model.take().expect("model").set_require_grad(true);
        self.model = Some(Self::apply_stage(model, stage));
        self.config.stage = stage;
    }

    pub fn optimizer(&self) -> &ModuleOptimizer {
        &self.optimizer
    }

    pub fn load_optimizer(&mut self, optimizer: ModuleOptimizer) {
        self.optimizer = optimizer;
    }

    /// Forward, windowed loss, backward, optimizer step at `learning_rate`. A malformed batch
    /// is refused before anything changes.
    pub fn step(&mut self, batch: Batch, window: PercentileWindow, learning_rate: f64, keep_generation: bool) -> Result<StepOutput, BatchError> {
        self.step_parallel(vec![batch], window, learning_rate, keep_generation)
    }

    /// One data-parallel step: `shards[i]` lives on its own device (the first on the model's).
    /// The model is forked to every device; each shard goes forward there; the curriculum
    /// window is taken over the whole batch (the per-sample losses meet on the first device,
    /// so the result is the window a single device would take); each device back-propagates
    /// its part, the gradients are summed on the first device and the optimizer steps once.
    /// As in PyTorch's DDP without SyncBatchNorm, BatchNorm sees per-shard statistics and the
    /// running statistics follow the first shard.
    pub fn step_parallel(&mut self, shards: Vec<Batch>, window: PercentileWindow, learning_rate: f64, keep_generation: bool) -> Result<StepOutput, BatchError> {
        if shards.is_empty() {
            return Err(BatchError("no shard to train on".into()));
        }
        let size = self.model().config.image_size;
        for shard in &shards {
            shard.check(size)?;
        }
        let model = self.model.take().expect("trainer holds a model between steps");
        let main = shards[0].target.device();
        let mut replicas = Vec::with_capacity(shards.len());
        let mut parts = Vec::with_capacity(shards.len());
        for (i, shard) in shards.into_iter().enumerate() {
            // A clone shares its BatchNorm running statistics with the model (and `fork` moves
            // them in place), so the other shards get a copy made through `valid().train()`:
            // same parameters and ids, statistics of their own, which are dropped after the step.
            let replica = if i == 0 { model.clone() } else { model.valid().train().fork(&shard.target.device()) };
            let generation = replica.generate(shard.target.clone(), &shard.sources);
            let losses = per_sample_l1(generation.fused.clone(), shard.target);
            parts.push((losses, generation));
            replicas.push(replica);
        }
        // The window over the whole batch, decided on the first device.
        let all: Vec<Tensor<1>> = parts.iter().map(|(l, _)| l.clone().detach().to_device(&main)).collect();
        let all = Tensor::cat(all, 0);
        let [b] = all.dims();
        let (lo, hi) = window.range(b);
        let keep = window_mask(all.clone(), window);
        let mut accumulator = GradientsAccumulator::new();
        let mut total = Tensor::<1>::zeros([1], &main);
        let mut start = 0;
        let mut first_generation = None;
        for (i, ((losses, generation), replica)) in parts.into_iter().zip(&replicas).enumerate() {
            let [n] = losses.dims();
            let device = losses.device();
            let kept = keep.clone().narrow(0, start, n).to_device(&device);
            start += n;
            let loss = (losses * kept).sum() / (hi - lo) as f32;
            total = total + loss.clone().detach().to_device(&main);
            let grads = GradientsParams::from_grads(loss.backward(), replica).to_device(&main, &model);
            accumulator.accumulate(&model, grads);
            if i == 0 && keep_generation {
                first_generation = Some(detach(generation));
            }
        }
        let model = self.optimizer.step(learning_rate, model, accumulator.grads());
        model.sync_running_stats();
        self.model = Some(model);
        Ok(StepOutput { losses: all, loss: total, generation: first_generation })
    }
}

fn detach(g: Generation) -> Generation {
    let d = |v: Vec<Tensor<4>>| v.into_iter().map(|t| t.detach()).collect();
    Generation { fused: g.fused.detach(), flows: d(g.flows), masks: d(g.masks), weights: d(g.weights), warped: d(g.warped) }
}
