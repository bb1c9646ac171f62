//! Choosing a device by name (native front-ends).

use burn::tensor::Device;

/// Backends compiled into this build, for help texts and errors.
pub fn available() -> Vec<&'static str> {
    let mut names = vec![];
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "wgpu") || cfg!(feature = "vulkan") {
        names.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    names
}

/// `flex` (CPU), `wgpu` (Vulkan/Metal/DX12) or `cuda`, when compiled in; `wgpu:K` and `cuda:K`
/// name the K-th GPU (for data-parallel training), and `wgpu:cpu` a software adapter such as
/// Mesa's lavapipe (a second wgpu device on a machine without GPUs).
pub fn device(name: &str) -> Result<Device, String> {
    let (kind, index) = match name.split_once(':') {
        Some(("wgpu", "cpu")) => ("wgpu-cpu", None),
        Some((kind, k)) => (kind, Some(k.parse::<usize>().map_err(|_| format!("'{name}': the part after ':' must be a GPU number"))?)),
        None => (name, None),
    };
    match (kind, index) {
        #[cfg(feature = "flex")]
        ("flex" | "cpu", None) => Ok(Device::flex()),
        #[cfg(any(feature = "wgpu", feature = "vulkan"))]
        ("wgpu", None) => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(any(feature = "wgpu", feature = "vulkan"))]
        ("wgpu", Some(k)) => Ok(Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(k))),
        #[cfg(any(feature = "wgpu", feature = "vulkan"))]
        ("wgpu-cpu", None) => Ok(Device::wgpu(burn::tensor::DeviceKind::Cpu)),
        #[cfg(feature = "cuda")]
        ("cuda", k) => Ok(Device::cuda(k.unwrap_or(0))),
        _ => Err(format!("backend '{name}' is not available in this build (available: {}; rebuild with --features wgpu or cuda)", available().join(", "))),
    }
}
