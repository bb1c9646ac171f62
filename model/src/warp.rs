//! Warping a source face by a flow field, and blending several warped views.

use burn::tensor::activation::softmax;
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use burn::tensor::{Device, Tensor, TensorData};

/// The sampling grid that leaves an image unchanged, `[1, S, S, 2]` holding (x, y).
/// With `align_corners` this is the reference's `meshgrid(linspace(-1, 1, S))`; without, it is
/// the pixel centres of that convention, so a zero flow is still the identity.
pub fn identity_grid(size: usize, align_corners: bool, device: &Device) -> Tensor<4> {
    let coord = |i: usize| -> f32 {
        if align_corners { if size > 1 { -1.0 + 2.0 * i as f32 / (size - 1) as f32 } else { 0.0 } } else { (2 * i + 1) as f32 / size as f32 - 1.0 }
    };
    let mut values = Vec::with_capacity(size * size * 2);
    for y in 0..size {
        for x in 0..size {
            values.push(coord(x));
            values.push(coord(y));
        }
    }
    Tensor::from_data(TensorData::new(values, [1, size, size, 2]), device)
}

/// Sample `source` `[B, 3, S, S]` at `identity + flow`, clamped to [-1, 1]. The source is
/// detached: as in the reference, gradients reach the network only through the flow.
pub fn warp(source: Tensor<4>, flow: Tensor<4>, identity: Tensor<4>, align_corners: bool) -> Tensor<4> {
    let [b, ..] = flow.dims();
    let grid = (flow.permute([0, 2, 3, 1]) + identity.repeat_dim(0, b)).clamp(-1.0, 1.0);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear).with_padding_mode(GridSamplePaddingMode::Zeros).with_align_corners(align_corners);
    source.detach().grid_sample_2d(grid, options)
}

/// Blend warped views by a softmax over their masks. Returns the fused image and the per-view
/// weights.
pub fn fuse(warped: &[Tensor<4>], masks: &[Tensor<4>]) -> (Tensor<4>, Vec<Tensor<4>>) {
    let views = warped.len();
    let weights = softmax(Tensor::stack::<5>(masks.to_vec(), 4), 4);
    let fused = (Tensor::stack::<5>(warped.to_vec(), 4) * weights.clone()).sum_dim(4).squeeze_dim::<4>(4);
    let weights = (0..views).map(|v| weights.clone().narrow(4, v, 1).squeeze_dim::<4>(4)).collect();
    (fused, weights)
}
