//! The device's limits as WebGPU states them, read in the worker where the work runs.

use fabnet::footprint::DeviceLimits;
use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// What the WebGPU spec guarantees every adapter: the limits when the adapter says nothing.
const SPEC_MIN_BINDING: u64 = 128 << 20;

fn number(object: &JsValue, name: &str) -> Option<f64> {
    Reflect::get(object, &name.into()).ok().and_then(|v| v.as_f64()).filter(|v| v.is_finite() && *v > 0.0)
}

/// The adapter's largest buffer a kernel may bind (Burn requests the adapter's own limits, so
/// these are the device's), and the memory the browser says the machine has.
pub(crate) async fn device_limits() -> DeviceLimits {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    let adapter = async {
        let gpu = Reflect::get(&navigator, &"gpu".into()).ok()?;
        let request: js_sys::Function = Reflect::get(&gpu, &"requestAdapter".into()).ok()?.dyn_into().ok()?;
        let promise: js_sys::Promise = request.call0(&gpu).ok()?.dyn_into().ok()?;
        JsFuture::from(promise).await.ok().filter(|a| !a.is_null() && !a.is_undefined())
    }
    .await;
    let limits = adapter.and_then(|a| Reflect::get(&a, &"limits".into()).ok());
    let binding = limits.as_ref().and_then(|l| number(l, "maxStorageBufferBindingSize")).map_or(SPEC_MIN_BINDING, |v| v as u64);
    let buffer = limits.as_ref().and_then(|l| number(l, "maxBufferSize")).map_or(u64::MAX, |v| v as u64);
    // `navigator.deviceMemory` is in GiB, rounded and capped by the browser (8 in Chromium).
    let memory = number(&navigator, "deviceMemory").map(|gib| (gib * (1u64 << 30) as f64) as u64);
    DeviceLimits { max_buffer: binding.min(buffer), memory }
}
