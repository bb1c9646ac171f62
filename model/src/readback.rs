//! Tensors back to the host, always asynchronously: WebGPU has no synchronous read, and native
//! callers block on the future. The one read the session, the detector and the browser's
//! worker share.

use burn::tensor::Tensor;

/// The values of `t`, as `f32`, in row-major order.
pub async fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    let data = t.into_data_async().await.map_err(|e| format!("reading from the device failed: {e:?}"))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|e| format!("{e:?}"))
}
