//! A fitted probe as the model's [`LinearHead`] (`BatchNorm1d(E)` then `Linear(E, K)` without
//! bias), so that the weights file itself answers the task.
//!
//! BatchNorm (evaluation mode) standardises with its running statistics: running_mean = the
//! probe's feature means, running_var = std² - eps (so it divides by exactly std), gamma = 1.
//! The Linear layer has no bias, so the probe's bias is folded into BatchNorm's beta: the
//! outputs gain `Wᵀ beta`, and beta = W (WᵀW)⁺ b is the smallest beta with `Wᵀ beta = b`. That
//! exists when b lies in the span of Wᵀ (K <= E and W of full rank, or class scores with a
//! centred bias). Otherwise the probe must have been fitted with a bias channel: that feature's
//! gamma is 0 and beta 1, a constant 1 whose weight row is b.

use burn::module::{Param, RunningState};
use burn::tensor::{Device, Tensor, TensorData};

use nalgebra::{DMatrix, DVector};

use super::linear::Probe;
use crate::LinearHead;

/// The head's outputs equal [`Probe::predict`] (up to f32 rounding).
pub fn to_head(probe: &Probe, device: &Device) -> Result<LinearHead, String> {
    let (e, k) = (probe.inputs(), probe.outputs());
    let mut head = LinearHead::new(e, k, device);
    let eps = head.norm.epsilon;
    let mut gamma = vec![1.0; e];
    let mut weights = probe.weights.clone();
    let beta = match probe.bias_channel {
        Some(c) => {
            gamma[c] = 0.0;
            weights[c * k..(c + 1) * k].copy_from_slice(&probe.bias);
            (0..e).map(|j| if j == c { 1.0 } else { 0.0 }).collect()
        }
        None => fold_bias(&probe.weights, &probe.bias, e, k)?,
    };
    let vector = |v: Vec<f64>| TensorData::new(v.into_iter().map(|x| x as f32).collect::<Vec<f32>>(), [e]);
    head.norm.gamma = Param::from_data(vector(gamma), device);
    head.norm.beta = Param::from_data(vector(beta), device);
    head.norm.running_mean = RunningState::new(Tensor::from_data(vector(probe.means.clone()), device));
    let var = probe.stds.iter().map(|s| s * s - eps).collect();
    head.norm.running_var = RunningState::new(Tensor::from_data(vector(var), device));
    let weights: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
    head.linear.weight = Param::from_data(TensorData::new(weights, [e, k]), device);
    Ok(head)
}

/// The minimum-norm `beta` `[E]` with `Wᵀ beta = b`, or an error when there is none.
fn fold_bias(w: &[f64], b: &[f64], e: usize, k: usize) -> Result<Vec<f64>, String> {
    // Minimum-norm least squares through the SVD: exact whenever `Wᵀ beta = b` is solvable.
    let wt = DMatrix::from_row_slice(e, k, w).transpose();
    let beta = wt.svd(true, true).solve(&DVector::from_column_slice(b), 1e-12).map_err(|e| format!("cannot fold the bias: {e}"))?;
    let beta: Vec<f64> = beta.iter().copied().collect();
    let residual = (0..k).map(|o| ((0..e).map(|j| w[j * k + o] * beta[j]).sum::<f64>() - b[o]).powi(2)).sum::<f64>().sqrt();
    let size = b.iter().map(|v| v * v).sum::<f64>().sqrt();
    if residual > 1e-6 * (1.0 + size) {
        return Err(format!(
            "the probe's bias cannot be carried by a bias-free head ({k} outputs from {e} features); \
             fit it with a bias channel"
        ));
    }
    Ok(beta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::linear::{Lambda, fit};

    fn noise(seed: u64) -> impl FnMut() -> f32 {
        let mut s = seed;
        move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
    }

    fn no_loss(_: &[usize], _: &[Vec<f64>]) -> f64 {
        unreachable!("no cross-validation with a fixed lambda")
    }

    /// Embeddings on scales like an encoder's (offsets and spreads per feature), with targets.
    fn data(n: usize, e: usize, k: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Vec<f64>>) {
        let mut r = noise(seed);
        let x: Vec<Vec<f32>> = (0..n).map(|_| (0..e).map(|j| 3.0 * r() * (1 + j % 4) as f32 + j as f32 * 0.1).collect()).collect();
        let y = x.iter().map(|row| (0..k).map(|o| 10.0 + o as f64 + row[o % e] as f64 * 2.0 + r() as f64).collect()).collect();
        (x, y)
    }

    /// The head, run as the model runs it, against the probe on the host.
    fn assert_head_matches(probe: &Probe, x: &[Vec<f32>]) {
        let device = Device::flex();
        let head = to_head(probe, &device).unwrap();
        let (n, e) = (x.len(), probe.inputs());
        let input = Tensor::<2>::from_data(TensorData::new(x.concat(), [n, e]), &device);
        let out = head.forward(input).try_into_vec_as::<f32>().unwrap();
        let mut worst = 0.0f64;
        for (row, got) in x.iter().zip(out.chunks_exact(probe.outputs())) {
            for (want, got) in probe.predict(row).iter().zip(got) {
                worst = worst.max((want - *got as f64).abs() / (1.0 + want.abs()));
            }
        }
        assert!(worst < 1e-4, "head differs from the probe by {worst} (relative)");
    }

    #[test]
    fn head_reproduces_a_probe_with_fewer_outputs_than_features() {
        let (x, y) = data(200, 16, 3, 1);
        let probe = fit(&x, &y, Lambda::Fixed(0.1), false, &no_loss).probe;
        assert!(probe.bias.iter().all(|b| b.abs() > 1.0), "a bias worth folding: {:?}", probe.bias);
        assert_head_matches(&probe, &x);
    }

    #[test]
    fn head_reproduces_a_probe_with_more_outputs_than_features_through_its_bias_channel() {
        let (x, y) = data(200, 6, 10, 2);
        assert!(fit(&x, &y, Lambda::Fixed(0.1), false, &no_loss).probe.bias_channel.is_none());
        let err = to_head(&fit(&x, &y, Lambda::Fixed(0.1), false, &no_loss).probe, &Device::flex()).unwrap_err();
        assert!(err.to_string().contains("bias channel"), "{err}");
        let probe = fit(&x, &y, Lambda::Fixed(0.1), true, &no_loss).probe;
        assert!(probe.bias_channel.is_some());
        assert_head_matches(&probe, &x);
    }

    #[test]
    fn head_reproduces_centred_class_scores() {
        // One-hot targets: the weight columns sum to zero, so only a centred bias is foldable.
        let (x, _) = data(300, 12, 1, 3);
        let y: Vec<Vec<f64>> = x
            .iter()
            .map(|r| {
                let class = if r[0] > 1.0 {
                    0
                } else if r[1] > 0.0 {
                    1
                } else {
                    2
                };
                (0..3).map(|c| if c == class { 1.0 } else { 0.0 }).collect()
            })
            .collect();
        let mut probe = fit(&x, &y, Lambda::Fixed(0.01), false, &no_loss).probe;
        assert!(to_head(&probe, &Device::flex()).is_err(), "an uncentred bias is not in the span of Wᵀ");
        probe.centre_bias();
        assert_head_matches(&probe, &x);
    }
}
