//! What a training session tells its front-end: typed events, rendered by the CLI as progress
//! bars, logs and image grids, and forwarded by the browser's worker to the page.

use serde::{Deserialize, Serialize};

use crate::loss::PercentileWindow;
use crate::train::Stage;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionEvent {
    /// A train step is done (`step` counts from 1).
    Step { epoch: u64, step: u64, loss: f64, window: PercentileWindow, learning_rate: f64, examples: usize },
    /// Re-syntheses of the first examples of the step's batch.
    Samples(SampleImages),
    /// The held-out validation loss at the end of `epoch`; `best` when it is the lowest yet.
    Validation { epoch: u64, step: u64, loss: f64, best: bool },
    /// The curriculum window moved up (after a validation plateau).
    CurriculumMoved { window: PercentileWindow },
    /// The learning rate was reduced (once the window is done).
    LearningRateDropped { learning_rate: f64 },
    /// From `epoch` on, this stage and number of source views.
    StageChanged { epoch: u64, stage: Stage, views: usize },
    /// The run has done every step it was asked for.
    Finished { steps: u64 },
    /// The run cannot go on (a NaN loss, unreadable data); the model is as after the last good step.
    Problem(String),
}

/// Rows of (target, sources, fused output, blending masks), planar in [0, 1] at `size` px:
/// colour images `[rows, 3, size, size]`, masks `[rows, 1, size, size]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleImages {
    pub step: u64,
    pub size: usize,
    pub rows: usize,
    pub target: Vec<f32>,
    pub sources: Vec<Vec<f32>>,
    pub fused: Vec<f32>,
    pub masks: Vec<Vec<f32>>,
}
