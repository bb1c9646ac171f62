//! The photometric loss and the curriculum's percentile window over a batch.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Mean absolute error per sample: `[B, ...]` pairs to `[B]`.
pub fn per_sample_l1(output: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let [b, ..] = output.dims();
    (output - target).abs().reshape([b as i64, -1]).mean_dim(1).reshape([b])
}

/// A window of the batch's sorted per-sample losses, as fractions in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PercentileWindow {
    pub min: f64,
    pub max: f64,
}

impl PercentileWindow {
    pub const FULL: Self = Self { min: 0.0, max: 1.0 };

    /// The sorted positions `[lo, hi)` the window keeps for a batch of `batch` samples:
    /// `int(min * B) : int(max * B)` as the reference, but never empty, so that a batch of
    /// one still trains.
    pub fn range(&self, batch: usize) -> (usize, usize) {
        // The epsilon keeps 0.1 + 0.1 + ... from flooring one sample short.
        let at = |p: f64| (((p.clamp(0.0, 1.0)) * batch as f64 + 1e-9).floor() as usize).min(batch);
        let lo = at(self.min).min(batch.saturating_sub(1));
        let hi = at(self.max).max(lo + 1).min(batch);
        (lo, hi)
    }
}

/// Mean of the per-sample losses whose rank lies in `window`: the easiest `min..max` share.
pub fn windowed_mean(losses: Tensor<1>, window: PercentileWindow) -> Tensor<1> {
    let [b] = losses.dims();
    let (lo, hi) = window.range(b);
    let order = losses.clone().detach().argsort(0);
    let kept = order.slice([lo..hi]);
    losses.select(0, kept).mean()
}

/// Host-side twin of [`windowed_mean`], for losses already read back.
pub fn windowed_mean_host(losses: &[f32], window: PercentileWindow) -> f32 {
    let mut sorted = losses.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let (lo, hi) = window.range(sorted.len());
    let kept = &sorted[lo..hi];
    kept.iter().sum::<f32>() / kept.len() as f32
}
