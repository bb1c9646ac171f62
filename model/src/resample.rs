//! Bilinear resampling that differentiates on every backend.
//!
//! Burn's bilinear `interpolate` has no backward on wgpu/cuda, so the x2 upsampling is written
//! as two separable gathers (`select`, whose backward is a scatter-add everywhere) blended with
//! fixed weights. It is exact for either `align_corners` and costs O(1) per output pixel.

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
    let [_, _, h, w] = x.dims();
    let x = resize_axis(x, 2, 2 * h, align_corners);
    resize_axis(x, 3, 2 * w, align_corners)
}
