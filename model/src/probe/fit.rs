//! Fitting a probe on features and scoring it, beside the mean: what `fabnet eval` and the
//! browser's "did fine-tuning help" check share (no file or image reading here).

use super::linear::{self, Lambda, Probe};
use super::metrics::{self, Score};
use super::task::{Rect, Task, TaskKind};

/// The side of the grey-level baseline for an `embedding_dim`-d embedding: the smallest with
/// at least as many pixels (64-d: 8x8, 256-d: 16x16).
pub fn pixel_side(embedding_dim: usize) -> usize {
    (1..).find(|s| s * s >= embedding_dim).expect("some side fits")
}

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

/// The five MTCNN landmarks (eyes, nose, mouth corners) as a probe task, errors in % of the
/// distance between the eyes.
pub fn five_landmarks() -> Task {
    Task { name: "five landmarks".into(), kind: TaskKind::Landmarks { points: 5, left_eye: 0, right_eye: 1 } }
}

/// "Did fine-tuning help?": landmark errors of the same probe on embeddings of the same frames
/// made before and after a run and by an untrained network, beside the mean, fitted on frames
/// the run trained on and tested on frames it held out.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FineTuneCheck {
    pub before: f64,
    pub after: f64,
    pub untrained: f64,
    pub mean: f64,
    pub fit_frames: usize,
    pub test_frames: usize,
}

/// Labelled frames of one split: five landmarks (x0, y0, ... in pixels of a `side`-pixel view)
/// per frame, and that frame's features under each network.
pub struct CheckFrames {
    pub side: f32,
    pub landmarks: Vec<Vec<f32>>,
}

impl CheckFrames {
    fn with(&self, features: Vec<Vec<f32>>) -> Labelled {
        let frame = Rect { x: 0.0, y: 0.0, width: self.side, height: self.side };
        Labelled { truth: self.landmarks.clone(), frames: vec![frame; self.landmarks.len()], features }
    }
}

/// Features are given per network as `(fit split, test split)`. `None` when either split has
/// fewer than two frames.
pub fn fine_tune_check(
    fit: &CheckFrames,
    test: &CheckFrames,
    before: (Vec<Vec<f32>>, Vec<Vec<f32>>),
    after: (Vec<Vec<f32>>, Vec<Vec<f32>>),
    untrained: (Vec<Vec<f32>>, Vec<Vec<f32>>),
) -> Option<FineTuneCheck> {
    if fit.landmarks.len() < 2 || test.landmarks.len() < 2 {
        return None;
    }
    let task = five_landmarks();
    let error = |(a, b): (Vec<Vec<f32>>, Vec<Vec<f32>>)| fit_and_score(&task, &fit.with(a), &test.with(b), Lambda::CrossValidated).score.value;
    let mean = mean_score(&task, &fit.with(vec![vec![]; fit.landmarks.len()]), &test.with(vec![vec![]; test.landmarks.len()])).value;
    Some(FineTuneCheck {
        before: error(before),
        after: error(after),
        untrained: error(untrained),
        mean,
        fit_frames: fit.landmarks.len(),
        test_frames: test.landmarks.len(),
    })
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

    #[test]
    fn the_fine_tune_check_scores_each_network_on_the_held_out_frames() {
        // Two "landmarks" moving with a hidden pose t; features that see t and features that do not.
        let frames = |range: std::ops::Range<u64>| CheckFrames {
            side: 100.0,
            landmarks: range
                .map(|i| {
                    let t = uniform(i);
                    vec![30.0 + 10.0 * t, 40.0, 70.0 + 10.0 * t, 40.0, 50.0, 60.0 + 5.0 * t, 35.0, 75.0, 65.0, 75.0]
                })
                .collect(),
        };
        let (fit, test) = (frames(0..80), frames(500..520));
        let seeing = |range: std::ops::Range<u64>| range.map(|i| vec![uniform(i), 0.3 * uniform(i) + 0.1, 1.0]).collect::<Vec<_>>();
        let blind = |range: std::ops::Range<u64>| range.map(|i| vec![uniform(i + 9999), uniform(i + 7777), 0.5]).collect::<Vec<_>>();
        let check = fine_tune_check(&fit, &test, (blind(0..80), blind(500..520)), (seeing(0..80), seeing(500..520)), (blind(0..80), blind(500..520))).unwrap();
        assert!(check.after < 0.05 * check.mean, "{check:?}");
        assert!(check.before > 0.8 * check.mean && check.untrained > 0.8 * check.mean, "{check:?}");
        assert_eq!((check.fit_frames, check.test_frames), (80, 20));
        assert!(fine_tune_check(&frames(0..1), &test, (vec![], vec![]), (vec![], vec![]), (vec![], vec![])).is_none());
    }
}
