//! `fabnet train`'s arguments, and the session settings they resolve to: a named recipe
//! (`--recipe paper`, the default, or `small-data`) gives every number the user leaves out.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use fabnet::curriculum::CurriculumConfig;
use fabnet::loss::PercentileWindow;
use fabnet::session::{EpochLength, Recipe, SessionSettings};
use fabnet::train::OptimizerKind;
use serde::{Deserialize, Serialize};

#[derive(clap::Args, Clone, Debug, Serialize, Deserialize)]
pub struct TrainArgs {
    /// Face tracks: IDENTITY/VIDEO/TRACK/*.jpg (what `fabnet prepare` writes).
    #[arg(long)]
    pub data: PathBuf,
    /// Validation tracks; without it, identities are split off the training data.
    #[arg(long)]
    pub val: Option<PathBuf>,
    /// Share of identities held out for validation when there is no --val.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Run folder: checkpoint, config, metrics, images, final weights.
    #[arg(short, long)]
    pub out: PathBuf,
    #[arg(long, default_value = "paper", conflicts_with = "init")]
    pub preset: String,
    /// Start from these weights (a `.fabnet`, or an authors' `*.pth`) instead of a fresh
    /// network: fine-tuning. Their config is the run's; a linear head they carry is dropped,
    /// since it was fitted to the embedding before fine-tuning.
    #[arg(long)]
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// The numbers every option below leaves to it. `paper`: the authors' training script (SGD
    /// lr 1e-4, momentum 0.9, batch 128, an epoch is each identity once, curriculum patience 15,
    /// the learning rate reduced only where the reference steps it, validation on fixed jittered
    /// examples, one per identity). `small-data`: for a few clips of few people (lr 1e-3, batch
    /// 32, 1000-batch epochs, patience 5, the learning-rate rule at every validation, 256
    /// validation examples), where the paper's epoch would be a single short batch.
    #[arg(long, default_value = "paper")]
    #[serde(default = "paper")]
    pub recipe: String,
    /// Source views in the second stage (the first uses one).
    #[arg(long, default_value_t = 3)]
    pub views: usize,
    /// Epochs in all [default 20; not the paper's: the authors' script loops until it is
    /// stopped]. On --resume: the run's own unless given (a longer run keeps its stage boundary).
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Epochs of the first stage (one source view, everything trained); the rest use --views
    /// sources with the flow decoder frozen. Default: half. (The authors ran the two stages as
    /// two runs.)
    #[arg(long)]
    pub stage1_epochs: Option<u64>,
    /// Batches per epoch, identities drawn with replacement [recipe: paper, each identity once;
    /// small-data, 1000].
    #[arg(long)]
    pub steps_per_epoch: Option<u64>,
    /// Examples per batch [recipe: paper 128, small-data 32].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Learning rate [recipe: paper 1e-4, small-data 1e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// sgd (momentum 0.9, as the paper) or adam.
    #[arg(long, default_value = "sgd")]
    pub optimizer: String,
    /// Epochs without improvement before the curriculum window moves [recipe: paper 15,
    /// small-data 5].
    #[arg(long)]
    pub patience: Option<u32>,
    /// Train on every sample of each batch (no percentile window).
    #[arg(long)]
    pub no_curriculum: bool,
    /// Crop without the paper's random jitter (training and validation).
    #[arg(long)]
    pub no_jitter: bool,
    /// Validation batches (of --batch examples; the same examples every epoch) [recipe: paper,
    /// one example per validation identity; small-data, 256 examples].
    #[arg(long)]
    pub val_batches: Option<u64>,
    /// Write an image grid every this many steps (0: never).
    #[arg(long, default_value_t = 500)]
    pub image_every: u64,
    /// JPEG-decoding threads.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "flex")]
    pub backend: String,
    /// Data-parallel training on several devices, e.g. `cuda:0,cuda:1` or `wgpu:0,wgpu:1`: each
    /// step splits the batch evenly, and the gradients are summed on the first device, which
    /// also validates. Default: the --backend device alone.
    #[arg(long, value_delimiter = ',')]
    #[serde(default)]
    pub devices: Vec<String>,
    /// What the data is, in words, recorded in the weights' provenance (e.g. "VoxCeleb2 dev").
    #[arg(long)]
    pub describe_data: Option<String>,
    /// Continue the run in --out from its checkpoint (its saved settings win).
    #[arg(long)]
    pub resume: bool,
    /// Also write a checkpoint every this many steps (0: only at the end of each epoch), for
    /// epochs that take hours.
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub checkpoint_every: u64,
    /// Stop after this many steps in this invocation, with a checkpoint (for tests and budgets).
    #[arg(long, hide = true)]
    pub max_steps: Option<u64>,
}

fn paper() -> String {
    "paper".into()
}

fn optimizer_kind(name: &str) -> Result<OptimizerKind> {
    match name {
        "sgd" => Ok(OptimizerKind::Sgd { momentum: 0.9 }),
        "adam" => Ok(OptimizerKind::Adam),
        other => bail!("unknown optimizer '{other}' (sgd or adam)"),
    }
}

/// Epochs when --epochs is not given.
const DEFAULT_EPOCHS: u64 = 20;

impl TrainArgs {
    pub fn epochs(&self) -> u64 {
        self.epochs.unwrap_or(DEFAULT_EPOCHS)
    }

    /// Where stage 2 begins when the arguments alone decide it (a fresh run).
    pub fn stage2_from(&self) -> u64 {
        self.stage1_epochs.unwrap_or(self.epochs() / 2)
    }

    /// The session's settings: the recipe's numbers, overridden by what the user gave.
    pub fn settings(&self, stage2_from: u64) -> Result<SessionSettings> {
        if self.views == 0 || self.batch == Some(0) || self.steps_per_epoch == Some(0) || self.val_batches == Some(0) {
            bail!("--batch, --steps-per-epoch, --val-batches and --views must be at least 1");
        }
        let recipe = Recipe::parse(&self.recipe).map_err(|e| anyhow!(e))?;
        let mut s = recipe.settings(self.views, self.epochs(), stage2_from, self.seed);
        s.optimizer = optimizer_kind(&self.optimizer)?;
        if let Some(lr) = self.lr {
            s.learning_rate = lr;
        }
        if let Some(batch) = self.batch {
            s.batch = batch;
        }
        if let Some(n) = self.steps_per_epoch {
            s.epoch_length = EpochLength::Batches(n);
        }
        if let Some(patience) = self.patience {
            s.curriculum.patience = patience;
        }
        if self.no_curriculum {
            s.curriculum = CurriculumConfig { start: PercentileWindow::FULL, max_percentile: 0.0, ..s.curriculum };
        }
        if self.no_jitter {
            s.jitter = false;
            s.validation.jitter = false;
        }
        if let Some(batches) = self.val_batches {
            s.validation.examples = Some(batches * s.batch as u64);
        }
        s.sample_every = self.image_every;
        Ok(s)
    }
}
