//! Bilinear resampling that differentiates on every backend.
//!
//! Burn's bilinear `interpolate` has no backward on wgpu/cuda, so there the x2 upsampling is
//! written as two separable gathers (`select`, whose backward is a scatter-add everywhere)
//! blended with fixed weights. It is exact for either `align_corners` and costs O(1) per output
//! pixel. On flex, which differentiates `interpolate`, its fused kernel is used instead: the
//! decoders' upsampling dominates a CPU train step, and the kernel is about 3x faster there.

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};

/// Source indices and weights for resizing one axis from `n_in` to `n_out` samples, following
/// PyTorch's bilinear convention for the given `align_corners`.
fn axis_taps(n_in: usize, n_out: usize, align_corners: bool) -> (Vec<i64>, Vec<i64>, Vec<f32>) {
    let mut lo = Vec::with_capacity(n_out);
    let mut hi = Vec::with_capacity(n_out);
    let mut frac = Vec::with_capacity(n_out);
    for o in 0..n_out {
        let src = if align_corners {
            if n_out > 1 { o as f64 * (n_in as f64 - 1.0) / (n_out as f64 - 1.0) } else { 0.0 }
        } else {
            ((o as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5).max(0.0)
        };
        let i0 = (src.floor() as usize).min(n_in - 1);
        let i1 = (i0 + 1).min(n_in - 1);
        lo.push(i0 as i64);
        hi.push(i1 as i64);
        frac.push((src - i0 as f64) as f32);
    }
    (lo, hi, frac)
}

fn resize_axis(x: Tensor<4>, dim: usize, n_out: usize, align_corners: bool) -> Tensor<4> {
    let device = x.device();
    let n_in = x.dims()[dim];
    let (lo, hi, frac) = axis_taps(n_in, n_out, align_corners);
    let lo = Tensor::<1, Int>::from_data(TensorData::new(lo, [n_out]), &device);
    let hi = Tensor::<1, Int>::from_data(TensorData::new(hi, [n_out]), &device);
    let mut shape = [1usize; 4];
    shape[dim] = n_out;
    let w1 = weights(frac.clone(), shape, &device);
    let w0 = weights(frac.iter().map(|f| 1.0 - f).collect(), shape, &device);
    x.clone().select(dim, lo) * w0 + x.select(dim, hi) * w1
}

fn weights(values: Vec<f32>, shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Bilinear x2 upsampling of an NCHW tensor, as `nn.Upsample(scale_factor=2, mode='bilinear')`.
pub fn upsample2x(x: Tensor<4>, align_corners: bool) -> Tensor<4> {
    if interpolate_differentiates(&x.device()) {
        let [_, _, h, w] = x.dims();
        let options = InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([2 * h, 2 * w]).with_align_corners(align_corners);
        return interpolate(x, options);
    }
    upsample2x_gathered(x, align_corners)
}

/// The gather formulation, which every backend differentiates.
pub fn upsample2x_gathered(x: Tensor<4>, align_corners: bool) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let x = resize_axis(x, 2, 2 * h, align_corners);
    resize_axis(x, 3, 2 * w, align_corners)
}

/// Whether Burn's bilinear `interpolate` has a backward on this device (autodiff or not).
fn interpolate_differentiates(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    if device.clone().inner() == Device::flex() {
        return true;
    }
    let _ = device;
    false
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// Flex's `interpolate` and the gathers (what WebGPU and CUDA run) agree in value and in
    /// gradient, so the parity tests, which run on flex, vouch for both.
    #[test]
    fn interpolate_and_gathers_agree_in_value_and_gradient() {
        let device = Device::flex().autodiff();
        for align_corners in [true, false] {
            let x = Tensor::<4>::random([2, 3, 5, 7], Distribution::Normal(0.0, 1.0), &device).require_grad();
            let upstream = Tensor::<4>::random([2, 3, 10, 14], Distribution::Normal(0.0, 1.0), &device);
            assert!(interpolate_differentiates(&device));
            let fused = upsample2x(x.clone(), align_corners);
            let gathered = upsample2x_gathered(x.clone(), align_corners);
            let max_diff = |a: Tensor<4>, b: Tensor<4>| (a - b).abs().max().into_data().try_to_vec::<f32>().unwrap()[0];
            assert!(max_diff(fused.clone().inner(), gathered.clone().inner()) < 1e-5, "align_corners {align_corners}: values differ");
            let grad = |y: Tensor<4>| x.grad(&(y * upstream.clone()).sum().backward()).unwrap();
            assert!(max_diff(grad(fused), grad(gathered)) < 1e-5, "align_corners {align_corners}: gradients differ");
        }
    }
}
