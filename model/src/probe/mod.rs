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
pub use embed::{Embedded, Features, embed_samples, extract_features};
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

/// The side of the grey-level baseline for an `embedding_dim`-d embedding: the smallest with
/// at least as many pixels (64-d: 8x8, 256-d: 16x16).
pub fn pixel_side(embedding_dim: usize) -> usize {
    (1..).find(|s| s * s >= embedding_dim).expect("some side fits")
}

pub struct Evaluation {
    pub probe: Probe,
    pub report: Report,
    /// Unreadable images of both splits, and why.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Which split is being embedded, and how far along.
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// A probe fitted on one kind of features and scored on the test split.
pub struct Fitted {
    pub probe: Probe,
    pub lambda_from: String,
    pub score: Score,
}

/// Fit the probe from `train` features to the targets and score it on `test`. The features
/// of each split are given per kept sample, with the targets and the region the network saw.
pub fn fit_and_score(task: &Task, train: &Labelled, test: &Labelled, lambda: Lambda) -> Fitted {
    let y: Vec<Vec<f64>> = train.truth.iter().zip(&train.frames).map(|(t, &f)| task.encode(t, f)).collect();
    let score_rows = |set: &Labelled, rows: &[usize], outputs: &[Vec<f64>]| {
        let t: Vec<&[f32]> = rows.iter().map(|&i| set.truth[i].as_slice()).collect();
        let p: Vec<Vec<f64>> = rows.iter().zip(outputs).map(|(&i, o)| task.decode(o, set.frames[i])).collect();
        metrics::score(task, &t, &p)
    };
    let cv_loss = |rows: &[usize], outputs: &[Vec<f64>]| score_rows(train, rows, outputs).loss();
    let dim = train.features.first().map_or(0, Vec::len);
    let classes = matches!(task.kind, TaskKind::Classes { .. });
    // Outputs whose bias a bias-free head can carry through its features (class scores need
    // one fewer: their constant is free).
    let needs_bias_channel = task.outputs() - usize::from(classes) > dim;
    let fit = linear::fit(&train.features, &y, lambda, needs_bias_channel, &cv_loss);
    let mut probe = fit.probe;
    if classes {
        probe.centre_bias();
    }
    let rows: Vec<usize> = (0..test.truth.len()).collect();
    let predictions: Vec<Vec<f64>> = test.features.iter().map(|x| probe.predict(x)).collect();
    let score = score_rows(test, &rows, &predictions);
    Fitted { probe, lambda_from: fit.lambda_from, score }
}

/// The score of predicting the training mean of the encoded targets for every test sample.
pub fn mean_score(task: &Task, train: &Labelled, test: &Labelled) -> Score {
    let y: Vec<Vec<f64>> = train.truth.iter().zip(&train.frames).map(|(t, &f)| task.encode(t, f)).collect();
    let mean: Vec<f64> = (0..task.outputs()).map(|o| y.iter().map(|r| r[o]).sum::<f64>() / y.len().max(1) as f64).collect();
    let t: Vec<&[f32]> = test.truth.iter().map(Vec::as_slice).collect();
    let p: Vec<Vec<f64>> = test.frames.iter().map(|&f| task.decode(&mean, f)).collect();
    metrics::score(task, &t, &p)
}

/// One split's features with their targets and the face regions, sample by sample.
pub struct Labelled {
    pub truth: Vec<Vec<f32>>,
    pub frames: Vec<Rect>,
    pub features: Vec<Vec<f32>>,
}

impl Labelled {
    fn of(set: &Dataset, embedded: Embedded) -> Self {
        let truth = embedded.kept.iter().map(|&i| set.samples[i].targets.clone()).collect();
        Self { truth, frames: embedded.frames, features: embedded.features }
    }
}

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
            extract_features(features, &set.samples, device, options.batch, |done| progress(&name, done, total))
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
    let (train_set, test_set) = (Labelled::of(train, train_emb), Labelled::of(test, test_emb));
    let fitted = fit_and_score(task, &train_set, &test_set, options.lambda);

    let baselines = match untrained {
        None => None,
        Some((untrained, seed)) => {
            // Same images, same split, same probe: only the features differ.
            let mut on = |features: Features, label: &str| -> Result<Score> {
                let (a, b) = extract(features, label)?;
                Ok(fit_and_score(task, &Labelled::of(train, a), &Labelled::of(test, b), options.lambda).score)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::hash::hash;

    fn uniform(h: u64) -> f32 {
        (hash(&[h]) >> 40) as f32 / (1u64 << 24) as f32
    }

    /// `n` samples of two targets in [0, 1], with features made by `features(targets, i)`.
    fn split(n: usize, offset: u64, features: impl Fn(&[f32], u64) -> Vec<f32>) -> Labelled {
        let truth: Vec<Vec<f32>> = (0..n as u64).map(|i| vec![uniform(offset + 2 * i), uniform(offset + 2 * i + 1)]).collect();
        let features = truth.iter().enumerate().map(|(i, t)| features(t, offset + 1000 + i as u64)).collect();
        Labelled { frames: vec![Rect { x: 0.0, y: 0.0, width: 1.0, height: 1.0 }; n], truth, features }
    }

    fn task() -> Task {
        Task { name: "synthetic".into(), kind: TaskKind::Regression { names: vec!["a".into(), "b".into()] } }
    }

    #[test]
    fn features_linear_in_the_targets_give_near_zero_error_and_random_ones_the_means() {
        // 16 features, a fixed linear mix of the two targets.
        let linear = |t: &[f32], _| (0..16).map(|j| (j as f32 * 0.3).sin() * t[0] + (j as f32 * 0.7).cos() * t[1]).collect();
        let (train, test) = (split(200, 0, linear), split(60, 10_000, linear));
        let mean = mean_score(&task(), &train, &test).value;
        let fitted = fit_and_score(&task(), &train, &test, Lambda::CrossValidated).score.value;
        assert!(mean > 0.2 && fitted < 0.01 * mean, "linear features: probe {fitted}, mean {mean}");

        // Features that know nothing of the targets: no better than the mean, and not much worse.
        let noise = |_: &[f32], h: u64| (0..16).map(|j| uniform(h * 64 + j)).collect();
        let (train, test) = (split(200, 0, noise), split(60, 10_000, noise));
        let mean = mean_score(&task(), &train, &test).value;
        let fitted = fit_and_score(&task(), &train, &test, Lambda::CrossValidated).score.value;
        assert!(fitted > 0.9 * mean && fitted < 1.2 * mean, "random features: probe {fitted}, mean {mean}");
    }

    #[test]
    fn the_pixel_baseline_has_at_least_as_many_features_as_the_embedding() {
        assert_eq!([pixel_side(64), pixel_side(256), pixel_side(128), pixel_side(32)], [8, 16, 12, 6]);
    }
}
