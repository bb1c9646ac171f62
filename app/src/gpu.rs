//! The model on the user's WebGPU device: set-up, weights, embedding. All reads are async,
//! since a synchronous read panics in the browser.

use fabnet::FabNet;
use fabnet::burn::tensor::{Device, Tensor, TensorData};
use fabnet::weights::{self, WeightsInfo};
use wasm_bindgen::JsValue;

/// Whether the browser exposes WebGPU at all (`navigator.gpu`).
pub fn webgpu_available() -> bool {
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w.navigator(), &JsValue::from_str("gpu")).ok())
        .is_some_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}

pub async fn init_device() -> Result<Device, String> {
    Device::wgpu_options().init_async().await.map_err(|e| format!("WebGPU device could not start: {e}"))
}

pub struct LoadedModel {
    pub model: FabNet,
    pub info: WeightsInfo,
    pub device: Device,
}

pub fn load(bytes: &[u8], device: &Device) -> Result<LoadedModel, String> {
    let (model, info) = weights::from_bytes(bytes, device).map_err(|e| e.to_string())?;
    Ok(LoadedModel { model, info, device: device.clone() })
}

/// Embed one RGB image given as CHW floats in [0, 1] at the model's input size.
pub async fn embed(loaded: &LoadedModel, chw: Vec<f32>) -> Result<Vec<f32>, String> {
    let size = loaded.model.config.image_size;
    let input = Tensor::<4>::from_data(TensorData::new(chw, [1, 3, size, size]), &loaded.device);
    let embedding = loaded.model.embed(input);
    let data = embedding.into_data_async().await.map_err(|e| format!("reading the embedding failed: {e:?}"))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|e| format!("{e:?}"))
}
