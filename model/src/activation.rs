//! PReLU in one pass on the GPU backends. Burn composes PReLU of three kernels (a comparison
//! into a mask, a product, a masked select), each a full pass over memory; in the face
//! detector that made PReLU a quarter of a detection on a software GPU. Other devices (flex,
//! and any tensor that carries gradients) take Burn's own PReLU.

use burn::tensor::Tensor;

/// PReLU with one slope per channel (dim 1), or one slope for all: `x` where it is not
/// negative, `alpha * x` where it is. The same values as `burn::tensor::activation::prelu`.
pub fn prelu<const D: usize>(x: Tensor<D>, alpha: Tensor<1>) -> Tensor<D> {
    #[cfg(feature = "gpu-kernels")]
    if let (Ok(input), Ok(slopes)) = (x.clone().try_into_primitive::<burn::backend::Cube>(), alpha.clone().try_into_primitive::<burn::backend::Cube>()) {
        return Tensor::from_primitive::<burn::backend::Cube>(cube::prelu(input, slopes));
    }
    burn::tensor::activation::prelu(x, alpha)
}

#[cfg(feature = "gpu-kernels")]
mod cube {
    use burn::backend::TensorMetadata;
    use burn::backend::cubecl::dtype_to_storage_type;
    use burn_cubecl::cubecl::{self, calculate_cube_count_elemwise, prelude::*};
    use burn_cubecl::kernel::into_contiguous;
    use burn_cubecl::tensor::CubeTensor;

    /// One element per unit. The input's memory is read in its own order (a convolution's
    /// output is channels-last memory behind a channels-first view), so the channel of memory
    /// position `i` is `i / channel_stride % channels`.
    #[cube(launch)]
    fn prelu_kernel<F: Float>(input: &[F], alpha: &[F], output: &mut [F], channel_stride: u32, channels: u32, #[define(F)] _dtype: ElemType) {
        if ABSOLUTE_POS < output.len() {
            let x = input[ABSOLUTE_POS];
            let mut y = x;
            if x < F::new(0.0_f32) {
                let channel = (ABSOLUTE_POS as u32 / channel_stride) % channels;
                y = x * alpha[channel as usize];
            }
            output[ABSOLUTE_POS] = y;
        }
    }

    /// Whether the elements fill `0..count` of their buffer, each once, in some order of the
    /// dimensions (a buffer may be longer than its tensor: allocations are rounded up).
    fn dense(shape: &[usize], strides: &[usize]) -> bool {
        let mut dims: Vec<(usize, usize)> = shape.iter().copied().zip(strides.iter().copied()).filter(|&(size, _)| size != 1).collect();
        dims.sort_by_key(|&(_, stride)| stride);
        let mut expected = 1;
        dims.into_iter().all(|(size, stride)| {
            let fits = stride == expected;
            expected *= size;
            fits
        })
    }

    pub(super) fn prelu(x: CubeTensor, alpha: CubeTensor) -> CubeTensor {
        // Dense memory (no gaps, no overlap) lets the kernel walk it as one array; a view that
        // is not dense is copied into one first.
        let x = if dense(x.meta.shape(), x.meta.strides()) { x } else { into_contiguous(x) };
        let alpha = into_contiguous(alpha);
        let shape = x.shape();
        // One slope for all: every position reads slope 0.
        let (channels, channel_stride) = match (shape.num_dims(), alpha.shape().num_elements()) {
            (rank, slopes) if rank >= 2 && slopes > 1 => (shape[1], x.meta.strides()[1]),
            _ => (1, 1),
        };
        let (client, dtype) = (x.client.clone(), x.dtype);
        let count = shape.num_elements();
        let output = CubeTensor::new(client.clone(), client.empty(count * dtype.size()), *x.meta.clone(), x.device.clone(), dtype);
        let cube_dim = CubeDim::new(&client, count);
        let cube_count = calculate_cube_count_elemwise(&client, count, cube_dim);
        prelu_kernel::launch(
            &client,
            cube_count,
            cube_dim,
            x.into_buffer_arg(),
            alpha.into_buffer_arg(),
            output.clone().into_buffer_arg(),
            channel_stride as u32,
            channels as u32,
            dtype_to_storage_type(dtype),
        );
        output
    }
}

/// The kernel against Burn's PReLU on the CPU, on the layouts it meets. Needs a GPU backend
/// and an adapter (a software one will do):
/// `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json cargo test -p fabnet --features wgpu --lib activation`.
#[cfg(all(test, feature = "gpu-kernels", feature = "flex"))]
mod tests {
    use burn::tensor::{Device, DeviceKind, Tensor, TensorData};

    /// Values from -1 to 1, with both signs in every channel.
    fn values(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect()
    }

    /// `view` builds the input from a contiguous tensor of `shape` (a permutation, a slice...);
    /// the kernel on the GPU must give exactly what Burn's PReLU gives on the CPU.
    fn check<const D: usize>(shape: [usize; D], slopes: &[f32], view: impl Fn(Tensor<D>) -> Tensor<D>) {
        let run = |device: &Device, one_pass: bool| {
            let x = view(Tensor::<D>::from_data(TensorData::new(values(shape.iter().product()), shape), device));
            let alpha = Tensor::<1>::from_data(TensorData::new(slopes.to_vec(), [slopes.len()]), device);
            let y = if one_pass { super::prelu(x, alpha) } else { burn::tensor::activation::prelu(x, alpha) };
            (y.dims(), y.into_data().try_to_vec::<f32>().unwrap())
        };
        let gpu = Device::wgpu(DeviceKind::DefaultDevice);
        assert_eq!(run(&gpu, true), run(&Device::flex(), false));
    }

    const SLOPES: [f32; 5] = [0.25, -0.5, 0.0, 1.5, -0.125];

    #[test]
    fn matches_burn_on_channels_first_memory() {
        check([2, 5, 7, 9], &SLOPES, |x| x);
    }

    #[test]
    fn matches_burn_on_channels_last_memory_behind_a_channels_first_view() {
        // What a convolution returns on the GPU backends.
        check([2, 7, 9, 5], &SLOPES, |x| x.permute([0, 3, 1, 2]));
    }

    #[test]
    fn matches_burn_on_a_view_with_gaps() {
        check([2, 5, 7, 9], &SLOPES, |x| x.slice([0..2, 0..5, 1..6, 2..8]));
    }

    #[test]
    fn matches_burn_with_one_slope_for_all_channels_and_on_dense_rows() {
        check([2, 5, 7, 9], &[-0.3], |x| x);
        check([3, 5, 1, 1], &SLOPES, |x| x);
        check([4, 5], &SLOPES, |x| x);
    }
}
