//! What a training run does, as plain data: the paper's recipe, a recipe for small data, and
//! everything a front-end may change. Saved with every checkpoint, so a resumed run continues
//! with the settings it began with.

use serde::{Deserialize, Serialize};

use crate::curriculum::{CurriculumConfig, LrDrop};
use crate::data::EpochOrder;
use crate::train::OptimizerKind;

/// How long an epoch is: one validation (and one chance for the curriculum to move) per epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EpochLength {
    /// The reference's: every identity once, in a fresh order (`ceil(identities / batch)`
    /// batches, the last one short).
    EachIdentityOnce,
    /// A fixed number of batches, identities drawn with replacement: for data with few
    /// identities, where the reference's epoch would be a batch or less.
    Batches(u64),
}

impl EpochLength {
    pub fn order(self) -> EpochOrder {
        match self {
            Self::EachIdentityOnce => EpochOrder::EachIdentityOnce,
            Self::Batches(_) => EpochOrder::Uniform,
        }
    }
}

/// The paper's two stages: first one source view with everything trained, then several views
/// with the flow decoder frozen (the reference gives it a learning rate of 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stages {
    /// Source views before `second_from`.
    pub first_views: usize,
    /// The first epoch of the second stage (`u64::MAX`: never).
    pub second_from: u64,
    pub second_views: usize,
}

impl Stages {
    /// One stage: `views` source views, everything trained.
    pub fn single(views: usize) -> Self {
        Self { first_views: views, second_from: u64::MAX, second_views: views }
    }

    /// One view until `second_from`, then `views` with the flow frozen (one stage when `views`
    /// is 1).
    pub fn paper(views: usize, second_from: u64) -> Self {
        if views <= 1 { Self::single(1) } else { Self { first_views: 1, second_from, second_views: views } }
    }

    /// The stage of `epoch` and its number of source views.
    pub fn at(&self, epoch: u64) -> (crate::train::Stage, usize) {
        if epoch >= self.second_from { (crate::train::Stage::FrozenFlow, self.second_views) } else { (crate::train::Stage::Full, self.first_views) }
    }
}

/// Which examples validate: the same ones every time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValidationPlan {
    /// `None`: one example per validation identity (the reference's validation epoch);
    /// otherwise this many, identities drawn with replacement.
    pub examples: Option<u64>,
    /// The paper's crop jitter, drawn from a fixed seed (as the reference's validation set,
    /// built with seed 0 and jitter on), or centre crops.
    pub jitter: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSettings {
    pub optimizer: OptimizerKind,
    pub learning_rate: f64,
    pub batch: usize,
    pub epochs: u64,
    pub epoch_length: EpochLength,
    pub stages: Stages,
    pub curriculum: CurriculumConfig,
    /// The paper's crop jitter on training examples.
    pub jitter: bool,
    pub seed: u64,
    pub validation: ValidationPlan,
    /// Sample re-syntheses every this many steps (0: never).
    pub sample_every: u64,
    /// End the run after this many steps even mid-epoch, with a last validation (the browser's
    /// "steps" setting).
    pub total_steps: Option<u64>,
}

/// A named recipe: the numbers a run uses unless the user says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Recipe {
    /// The authors' `train_attention_curriculum.py`: SGD lr 1e-4 with momentum 0.9, batch 128,
    /// an epoch is every identity once, curriculum patience 15, the learning rate reduced only
    /// when the tracker fires once the window is done, validation on fixed jittered examples
    /// (one per validation identity).
    #[default]
    Paper,
    /// For a few clips of few people (what the browser and the default weights train on): lr
    /// 1e-3, batch 32, 1000-batch epochs, patience 5, the learning-rate rule at every
    /// validation, 256 validation examples. The paper's epoch would be one batch of one example
    /// per identity, and its patience of 15 such epochs would never move the window.
    SmallData,
}

impl Recipe {
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "paper" => Ok(Self::Paper),
            "small-data" => Ok(Self::SmallData),
            other => Err(format!("unknown recipe '{other}' (paper or small-data)")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::SmallData => "small-data",
        }
    }

    /// The recipe's settings, for a run of `epochs` epochs whose second stage (`views` source
    /// views) starts at `stage2_from`.
    pub fn settings(self, views: usize, epochs: u64, stage2_from: u64, seed: u64) -> SessionSettings {
        let paper = CurriculumConfig::default();
        let (learning_rate, batch, epoch_length, curriculum, validation) = match self {
            Self::Paper => (1e-4, 128, EpochLength::EachIdentityOnce, paper, ValidationPlan { examples: None, jitter: true }),
            Self::SmallData => (
                1e-3,
                32,
                EpochLength::Batches(1000),
                CurriculumConfig { patience: 5, lr_drop: LrDrop::EveryValidation, ..paper },
                ValidationPlan { examples: Some(256), jitter: true },
            ),
        };
        SessionSettings {
            optimizer: OptimizerKind::Sgd { momentum: 0.9 },
            learning_rate,
            batch,
            epochs,
            epoch_length,
            stages: Stages::paper(views, stage2_from),
            curriculum,
            jitter: true,
            seed,
            validation,
            sample_every: 0,
            total_steps: None,
        }
    }
}
