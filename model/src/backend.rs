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

/// `flex` (CPU), `wgpu` (Vulkan/Metal/DX12) or `cuda`, when compiled in.
pub fn device(name: &str) -> Result<Device, String> {
    match name {
        #[cfg(feature = "flex")]
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(any(feature = "wgpu", feature = "vulkan"))]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        other => Err(format!(
            "backend '{other}' is not available in this build (available: {}; rebuild with --features wgpu or cuda)",
            available().join(", ")
        )),
    }
}
