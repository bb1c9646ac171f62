//! BatchNorm as PyTorch runs it in training: batch statistics for the output, and the
//! *unbiased* batch variance (n / (n - 1)) folded into the running variance. Burn's own
//! `BatchNorm` folds in the biased one, which at FAb-Net's 2x2 bottleneck (n = 4 per image)
//! would drift the running statistics, and so every embedding, away from the reference's.

use burn::nn::BatchNorm;
use burn::tensor::Tensor;
use burn::tensor::module::batch_norm_train;

pub fn forward<const D: usize>(norm: &BatchNorm, input: Tensor<D>) -> Tensor<D> {
    if !(input.device().is_autodiff() && norm.training.is_enabled()) {
        return norm.forward(input);
    }
    let dims = input.dims();
    let samples = dims.iter().product::<usize>() / dims[1];
    let result = batch_norm_train(input, norm.gamma.val(), norm.beta.val(), norm.epsilon);
    let correction = if samples > 1 { samples as f64 / (samples - 1) as f64 } else { 1.0 };
    let device = result.output.device();
    let m = norm.momentum;
    let mean = norm.running_mean.value_sync().to_device(&device).mul_scalar(1.0 - m) + result.mean.detach().mul_scalar(m);
    let var = norm.running_var.value_sync().to_device(&device).mul_scalar(1.0 - m) + result.variance.detach().mul_scalar(m * correction);
    norm.running_mean.update(mean.detach());
    norm.running_var.update(var.detach());
    result.output
}
