//! The models on the user's WebGPU device: FAb-Net and the MTCNN face detector, loaded from
//! the app's own files. All reads are async, since a synchronous read panics in the browser.

use fabnet::FabNet;
use fabnet::burn::tensor::{Device, Tensor, TensorData};
use fabnet::face::{DetectParams, Detection, Detector, Mtcnn, RgbFrame};
use fabnet::weights::{self, WeightsInfo};
use wasm_bindgen::JsValue;

use crate::media;

const DEFAULT_WEIGHTS: &str = "weights/default.fabnet";
const DETECTOR_WEIGHTS: &str = "weights/mtcnn.bpk";

/// Whether the browser exposes WebGPU at all (`navigator.gpu`).
pub fn webgpu_available() -> bool {
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w.navigator(), &JsValue::from_str("gpu")).ok())
        .is_some_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}

pub struct Engine {
    pub model: FabNet,
    pub info: WeightsInfo,
    pub detector: Detector,
    pub device: Device,
}

impl Engine {
    /// Start WebGPU and load both networks; `progress` hears what is happening.
    pub async fn start(progress: impl Fn(&str)) -> Result<Self, String> {
        progress("starting WebGPU");
        let device = Device::wgpu_options().init_async().await.map_err(|e| format!("WebGPU device could not start: {e}"))?;
        progress("loading the FAb-Net weights");
        let bytes = media::fetch_bytes(DEFAULT_WEIGHTS).await?;
        let (model, info) = weights::from_bytes(&bytes, &device).map_err(|e| format!("{DEFAULT_WEIGHTS}: {e}"))?;
        progress("loading the face detector");
        let bytes = media::fetch_bytes(DETECTOR_WEIGHTS).await?;
        let (nets, _) = Mtcnn::from_bytes(&bytes, &device).map_err(|e| format!("{DETECTOR_WEIGHTS}: {e}"))?;
        let detector = Detector::new(nets, DetectParams::default(), device.clone());
        Ok(Self { model, info, detector, device })
    }

    pub fn input_size(&self) -> usize {
        self.model.config.image_size
    }

    pub async fn detect(&self, frame: &RgbFrame) -> Result<Vec<Detection>, String> {
        self.detector.detect(frame).await.map_err(|e| e.to_string())
    }

    /// Follow faces from the previous frame (O-Net only: fast enough for live video).
    pub async fn follow(&self, frame: &RgbFrame, previous: &[Detection]) -> Result<Vec<Detection>, String> {
        self.detector.follow(frame, previous).await.map_err(|e| e.to_string())
    }

    /// Embed images given as planar RGB in [0, 1] at the model's input size, one after another
    /// in one batch.
    pub async fn embed(&self, images: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        if images.is_empty() {
            return Ok(vec![]);
        }
        let size = self.input_size();
        let values: Vec<f32> = images.iter().flatten().copied().collect();
        let input = Tensor::<4>::from_data(TensorData::new(values, [images.len(), 3, size, size]), &self.device);
        let embedding = self.model.embed(input);
        let dim = embedding.dims()[1];
        let data = embedding.into_data_async().await.map_err(|e| format!("reading the embedding failed: {e:?}"))?;
        let flat = data.convert::<f32>().try_into_vec::<f32>().map_err(|e| format!("{e:?}"))?;
        Ok(flat.chunks(dim).map(<[f32]>::to_vec).collect())
    }
}
