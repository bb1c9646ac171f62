//! Linear probes on frozen FAb-Net embeddings, as the paper evaluates them: landmarks (MAFL,
//! 300-W), head pose (AFLW), expression (AffectNet) or any CSV of targets. Embed the images,
//! fit a ridge probe on the training set, report the metric on the test set next to the
//! "predict the training mean" (or majority class) baseline, and optionally turn the probe
//! into the model's linear head.

pub mod datasets;
pub mod embed;
pub mod head;
pub mod linear;
pub mod metrics;

use std::path::PathBuf;

use anyhow::{Result, bail};
use burn::tensor::Device;
use serde::Serialize;

use crate::FabNet;
pub use datasets::{Dataset, Rect, Sample, Task, TaskKind};
pub use embed::{Embedded, embed_samples};
pub use head::to_head;
pub use linear::{Lambda, Probe};
pub use metrics::Score;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalOptions {
    /// Images per forward pass.
    pub batch: usize,
    pub lambda: Lambda,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self { batch: 32, lambda: Lambda::CrossValidated }
    }
}

/// Counts per split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Counts {
    pub train: usize,
    pub test: usize,
}

/// What `fabnet eval` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub task: String,
    /// Images used (readable).
    pub images: Counts,
    /// Images skipped because they could not be read.
    pub skipped: Counts,
    /// Annotations deliberately left out (AffectNet's labels 8-10).
    pub excluded: Counts,
    pub embedding_dim: usize,
    pub outputs: usize,
    pub lambda: f64,
    pub lambda_from: String,
    /// Whether one embedding feature was given up to carry the bias in the exported head.
    pub bias_channel: bool,
    pub probe: Score,
    pub baseline: Score,
}

pub struct Evaluation {
    pub probe: Probe,
    pub report: Report,
    /// Unreadable images of both splits, and why.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Which split is being embedded, and how far along.
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// Embed both splits with the frozen `model`, fit the probe on `train`, score it on `test`.
pub fn evaluate(model: &FabNet, train: &Dataset, test: &Dataset, device: &Device, options: &EvalOptions, progress: Progress) -> Result<Evaluation> {
    let task = &train.task;
    if test.task.kind != task.kind {
        bail!("training and test sets describe different targets");
    }
    let embed = |set: &Dataset, name: &str, progress: Progress| {
        embed_samples(model, &set.samples, device, options.batch, |done| progress(name, done, set.samples.len()))
    };
    let train_emb = embed(train, "train", &mut *progress)?;
    let test_emb = embed(test, "test", &mut *progress)?;
    if train_emb.kept.len() < 2 {
        bail!("fewer than two readable training images ({} of {})", train_emb.kept.len(), train.samples.len());
    }
    if test_emb.kept.is_empty() {
        bail!("no readable test image (of {})", test.samples.len());
    }

    let truth = |set: &Dataset, emb: &Embedded| -> Vec<Vec<f32>> { emb.kept.iter().map(|&i| set.samples[i].targets.clone()).collect() };
    let (train_truth, test_truth) = (truth(train, &train_emb), truth(test, &test_emb));
    let y: Vec<Vec<f64>> = train_truth.iter().zip(&train_emb.frames).map(|(t, &f)| task.encode(t, f)).collect();
    let score_rows = |truth: &[Vec<f32>], frames: &[Rect], rows: &[usize], outputs: &[Vec<f64>]| {
        let t: Vec<&[f32]> = rows.iter().map(|&i| truth[i].as_slice()).collect();
        let p: Vec<Vec<f64>> = rows.iter().zip(outputs).map(|(&i, o)| task.decode(o, frames[i])).collect();
        metrics::score(task, &t, &p)
    };
    let cv_loss = |rows: &[usize], outputs: &[Vec<f64>]| score_rows(&train_truth, &train_emb.frames, rows, outputs).loss();

    let e = model.config.embedding_dim;
    let classes = matches!(task.kind, TaskKind::Classes { .. });
    // Outputs whose bias a bias-free head can carry through its E features (class scores
    // need one fewer: their constant is free).
    let needs_bias_channel = task.outputs() - usize::from(classes) > e;
    let fit = linear::fit(&train_emb.features, &y, options.lambda, needs_bias_channel, &cv_loss);
    let mut probe = fit.probe;
    if classes {
        probe.centre_bias();
    }

    let rows: Vec<usize> = (0..test_emb.kept.len()).collect();
    let predictions: Vec<Vec<f64>> = test_emb.features.iter().map(|x| probe.predict(x)).collect();
    let mean: Vec<f64> = (0..task.outputs()).map(|o| y.iter().map(|r| r[o]).sum::<f64>() / y.len() as f64).collect();
    let report = Report {
        task: task.name.clone(),
        images: Counts { train: train_emb.kept.len(), test: test_emb.kept.len() },
        skipped: Counts { train: train_emb.skipped.len(), test: test_emb.skipped.len() },
        excluded: Counts { train: train.excluded, test: test.excluded },
        embedding_dim: e,
        outputs: task.outputs(),
        lambda: probe.lambda,
        lambda_from: fit.lambda_from,
        bias_channel: probe.bias_channel.is_some(),
        probe: score_rows(&test_truth, &test_emb.frames, &rows, &predictions),
        baseline: score_rows(&test_truth, &test_emb.frames, &rows, &vec![mean; rows.len()]),
    };
    let skipped = train_emb.skipped.into_iter().chain(test_emb.skipped).collect();
    Ok(Evaluation { probe, report, skipped })
}
