//! `fabnet eval`'s probe run: embed a labelled data set's images with the frozen network (and,
//! for the baselines, with an untrained one and as raw pixels), fit, score, report.

use std::path::PathBuf;

use anyhow::{Result, bail};
use burn::tensor::Device;
use serde::Serialize;

use super::datasets::Dataset;
use super::embed::{Embedded, Features, extract_features};
use super::fit::{Labelled, fit_and_score, mean_score, pixel_side};
use super::linear::{Lambda, Probe};
use super::metrics::Score;
use crate::FabNet;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalOptions {
    /// Images per forward pass.
    pub batch: usize,
    pub lambda: Lambda,
    /// Scale every embedding (trained and untrained; not the pixels) to unit length before the
    /// probe, as the explorer's cosine similarity sees them.
    pub normalise: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self { batch: 32, lambda: Lambda::CrossValidated, normalise: false }
    }
}

/// Every row scaled to unit length (a zero row stays zero).
fn unit_rows(rows: &mut [Vec<f32>]) {
    for row in rows {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
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
    /// Predicting the training mean (or the majority class).
    pub baseline: Score,
    /// The same probe on features that had no training: what the weights must beat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baselines: Option<Baselines>,
}

/// The same probe, same images and same split, on other features.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Baselines {
    /// The untrained network of the same config, initialised with `untrained_seed`.
    pub untrained: Score,
    pub untrained_seed: u64,
    /// The face's grey levels at `pixel_side` x `pixel_side` (at least as many features as
    /// the embedding has).
    pub pixels: Score,
    pub pixel_side: usize,
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
/// With an `untrained` network (same config, fresh weights), the same probe is also run on
/// its embedding and on the faces' grey levels, so the score can be read against both.
pub fn evaluate(
    model: &FabNet,
    untrained: Option<(&FabNet, u64)>,
    train: &Dataset,
    test: &Dataset,
    device: &Device,
    options: &EvalOptions,
    progress: Progress,
) -> Result<Evaluation> {
    let task = &train.task;
    if test.task.kind != task.kind {
        bail!("training and test sets describe different targets");
    }
    let mut extract = |features: Features, label: &str| -> Result<(Embedded, Embedded)> {
        let mut one = |set: &Dataset, split: &str| {
            let (name, total) = (format!("{label}{split}"), set.samples.len());
            let mut embedded = extract_features(features, &set.samples, device, options.batch, |done| progress(&name, done, total))?;
            if options.normalise && matches!(features, Features::Embedding(_)) {
                unit_rows(&mut embedded.features);
            }
            Ok::<_, anyhow::Error>(embedded)
        };
        let train = one(train, "train")?;
        Ok((train, one(test, "test")?))
    };
    let (train_emb, test_emb) = extract(Features::Embedding(model), "")?;
    if train_emb.kept.len() < 2 {
        bail!("fewer than two readable training images ({} of {})", train_emb.kept.len(), train.samples.len());
    }
    if test_emb.kept.is_empty() {
        bail!("no readable test image (of {})", test.samples.len());
    }
    let skipped: Vec<(PathBuf, String)> = train_emb.skipped.iter().chain(&test_emb.skipped).cloned().collect();
    let (skipped_counts, images) =
        (Counts { train: train_emb.skipped.len(), test: test_emb.skipped.len() }, Counts { train: train_emb.kept.len(), test: test_emb.kept.len() });
    let (train_set, test_set) = (labelled(train, train_emb), labelled(test, test_emb));
    let fitted = fit_and_score(task, &train_set, &test_set, options.lambda);

    let baselines = match untrained {
        None => None,
        Some((untrained, seed)) => {
            // Same images, same split, same probe: only the features differ.
            let mut on = |features: Features, label: &str| -> Result<Score> {
                let (a, b) = extract(features, label)?;
                Ok(fit_and_score(task, &labelled(train, a), &labelled(test, b), options.lambda).score)
            };
            let untrained_score = on(Features::Embedding(untrained), "untrained network: ")?;
            let side = pixel_side(model.config.embedding_dim);
            let pixels = on(Features::Pixels { side }, "pixels: ")?;
            Some(Baselines { untrained: untrained_score, untrained_seed: seed, pixels, pixel_side: side })
        }
    };
    let report = Report {
        task: task.name.clone(),
        images,
        skipped: skipped_counts,
        excluded: Counts { train: train.excluded, test: test.excluded },
        embedding_dim: model.config.embedding_dim,
        outputs: task.outputs(),
        lambda: fitted.probe.lambda,
        lambda_from: fitted.lambda_from,
        bias_channel: fitted.probe.bias_channel.is_some(),
        baseline: mean_score(task, &train_set, &test_set),
        probe: fitted.score,
        baselines,
    };
    Ok(Evaluation { probe: fitted.probe, report, skipped })
}

fn labelled(set: &Dataset, embedded: Embedded) -> Labelled {
    let truth = embedded.kept.iter().map(|&i| set.samples[i].targets.clone()).collect();
    Labelled { truth, frames: embedded.frames, features: embedded.features }
}

#[cfg(test)]
mod tests {
    use super::unit_rows;

    #[test]
    fn rows_become_unit_length_and_zero_stays_zero() {
        let mut rows = vec![vec![3.0, 4.0], vec![0.0, 0.0], vec![-2.0, 0.0]];
        unit_rows(&mut rows);
        assert_eq!(rows, vec![vec![0.6, 0.8], vec![0.0, 0.0], vec![-1.0, 0.0]]);
    }
}
