//! The photometric loss and the curriculum's percentile window over a batch.

use burn::tensor::{Tensor, TensorData};
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
    let keep = window_mask(losses.clone().detach(), window);
    (losses * keep).sum() / (hi - lo) as f32
}

/// 1 for the samples whose rank lies in `window`, 0 for the others (`[B]`, no gradient).
///
/// Ranks are counted on the device (how many samples lose less; ties go to the lower index)
/// rather than sorted: burn's `argsort` reads the tensor back to the host on wgpu, which a
/// browser cannot do synchronously. The batch is small, so the `[B, B]` comparison is cheap.
pub fn window_mask(losses: Tensor<1>, window: PercentileWindow) -> Tensor<1> {
    let [b] = losses.dims();
    let (lo, hi) = window.range(b);
    let device = losses.device();
    let l = losses.detach();
    let others = l.clone().reshape([1, b]).expand([b, b]); // [i, j] = loss j
    let own = l.reshape([b, 1]).expand([b, b]); // [i, j] = loss i
    let earlier: Vec<f32> = (0..b * b).map(|k| if k % b < k / b { 1.0 } else { 0.0 }).collect();
    let earlier = Tensor::<2>::from_data(TensorData::new(earlier, [b, b]), &device);
    let below = others.clone().lower(own.clone()).float() + others.equal(own).float() * earlier;
    let rank = below.sum_dim(1).reshape([b]);
    rank.clone().greater_equal_elem(lo as f32 - 0.5).float() * rank.lower_elem(hi as f32 - 0.5).float()
}

/// Host-side twin of [`windowed_mean`], for losses already read back.
pub fn windowed_mean_host(losses: &[f32], window: PercentileWindow) -> f32 {
    let mut sorted = losses.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let (lo, hi) = window.range(sorted.len());
    let kept = &sorted[lo..hi];
    kept.iter().sum::<f32>() / kept.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn device_ranks_give_the_host_window_mean_ties_included() {
        let device = Device::flex();
        let cases: [&[f32]; 4] = [&[0.3, 0.1, 0.4, 0.2], &[0.5, 0.5, 0.1, 0.5, 0.2, 0.9, 0.1, 0.3], &[0.7], &[0.2, 0.2]];
        let windows = [PercentileWindow::FULL, PercentileWindow { min: 0.0, max: 0.5 }, PercentileWindow { min: 0.3, max: 0.8 }];
        for values in cases {
            for window in windows {
                let t = Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), &device);
                let device_mean = windowed_mean(t, window).into_data().try_to_vec::<f32>().unwrap()[0];
                let host_mean = windowed_mean_host(values, window);
                assert!((device_mean - host_mean).abs() < 1e-6, "{values:?} {window:?}: {device_mean} vs {host_mean}");
            }
        }
    }
}
