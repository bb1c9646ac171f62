//! What a network of a given shape asks of a device, from its config alone: so that a batch
//! size, a number of views or a weights file that would not fit is refused with a reason
//! before anything is allocated. A buffer over a WebGPU device's `maxStorageBufferBindingSize`
//! is not an error Burn can return: the worker would die.

use serde::{Deserialize, Serialize};

use crate::config::FabNetConfig;

const F32: u64 = 4;

/// What a device allows, as far as it says: WebGPU states the largest buffer a kernel may bind,
/// and the browser an approximate memory size (`navigator.deviceMemory`), not the GPU's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLimits {
    /// Bytes: the smaller of `maxStorageBufferBindingSize` and `maxBufferSize`.
    pub max_buffer: u64,
    /// Bytes of memory the work may use, when known.
    pub memory: Option<u64>,
}

/// Bytes one piece of work needs: its largest single buffer, and all it holds at its peak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub largest_buffer: u64,
    pub peak: u64,
}

/// The share of the stated memory a run may plan to use (the rest is the browser's, the
/// page's and the allocator's slack).
const MEMORY_SHARE: f64 = 0.5;

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl FabNetConfig {
    /// Floats the network stores, as Burn's `num_params` counts them (BatchNorm's running
    /// statistics included), without a linear head.
    pub fn parameter_count(&self) -> u64 {
        let conv = |c_in: usize, c_out: usize, k: usize| (c_in * c_out * k * k + c_out) as u64;
        let norm = |c: usize| 4 * c as u64;
        let depth = self.depth();
        let mut n = conv(3, self.encoder_channels(0), 4) + conv(self.encoder_channels(depth - 2), self.embedding_dim, 4);
        for i in 1..depth - 1 {
            n += conv(self.encoder_channels(i - 1), self.encoder_channels(i), 4) + norm(self.encoder_channels(i));
        }
        for out in [2, 1] {
            let mut c_in = 2 * self.embedding_dim;
            for k in 0..depth - 1 {
                let c = self.decoder_channels(k);
                n += conv(c_in, c, 3) + norm(c);
                c_in = c;
            }
            n += conv(c_in, out, 3);
        }
        n
    }

    /// Floats one image's encoding holds (its input, and each layer's outputs: conv,
    /// BatchNorm, LeakyReLU).
    fn encoder_activations(&self) -> u64 {
        let s = self.image_size as u64;
        let depth = self.depth();
        let mut n = 3 * s * s;
        for i in 0..depth {
            let side = s >> (i + 1);
            let kept = if i == 0 {
                2
            } else if i + 1 == depth {
                1
            } else {
                3
            };
            n += kept * self.encoder_channels(i) as u64 * side * side;
        }
        n
    }

    /// Floats one decoder (of `out` channels) holds for one pair: each block's ReLU, the two
    /// passes of the bilinear x2 (two gathers, two products and a sum each), conv and BatchNorm.
    fn decoder_activations(&self, out: usize) -> u64 {
        let depth = self.depth();
        let mut c_in = 2 * self.embedding_dim as u64;
        let mut n = 0;
        for k in 0..depth {
            let side = 2u64 << k;
            let half = side / 2;
            let c = if k + 1 == depth { out as u64 } else { self.decoder_channels(k) as u64 };
            n += c_in * half * half + 5 * c_in * side * half + 5 * c_in * side * side + 2 * c * side * side;
            c_in = c;
        }
        n
    }

    /// Floats one warp and blend holds per source view: the grid, and per corner of the
    /// bilinear sample a gather, its indices and its weight (Burn's generic `grid_sample`).
    fn warp_activations(&self) -> u64 {
        let pixels = (self.image_size * self.image_size) as u64;
        2 * pixels + 4 * (3 + 3 + 1) * pixels + 8 * pixels
    }

    /// The largest buffer one example of a train step asks for: the column matrix Burn's
    /// col2im builds for the gradient of the decoders' last conv (3x3 over `base_width`
    /// channels at full size), which autotune may try; nothing else of the step is larger.
    fn train_largest_per_example(&self) -> u64 {
        let pixels = (self.image_size * self.image_size) as u64;
        9 * self.base_width.max(3) as u64 * pixels * F32
    }

    /// A train step of `batch` examples, each a target and `views` source views: the
    /// forward's activations (the backward keeps some and frees the rest as it goes: measured
    /// natively on lavapipe, the small preset with 2 views grows by 4.5 MB an example where
    /// this counts 10.5 MB), and the parameters with their gradients and the optimiser's two
    /// moments.
    pub fn train_footprint(&self, batch: usize, views: usize) -> Footprint {
        let (b, v) = (batch as u64, views as u64);
        let forward = (v + 1) * self.encoder_activations() + v * (self.decoder_activations(2) + self.decoder_activations(1) + self.warp_activations());
        let largest_buffer = b * self.train_largest_per_example();
        Footprint { largest_buffer, peak: b * forward * F32 + 4 * self.parameter_count() * F32 + largest_buffer }
    }

    /// Embedding `batch` images, or re-synthesising one image per batch entry: no gradients.
    pub fn inference_footprint(&self, batch: usize) -> Footprint {
        let b = batch as u64;
        let pixels = (self.image_size * self.image_size) as u64;
        let forward = 2 * self.encoder_activations() + self.decoder_activations(2) + self.decoder_activations(1) + self.warp_activations();
        let largest_buffer = b * self.base_width.max(3) as u64 * pixels * F32;
        Footprint { largest_buffer, peak: b * forward * F32 + self.parameter_count() * F32 }
    }
}

impl DeviceLimits {
    /// No limits: the native CLI, where an allocation that fails says so itself.
    pub const NONE: Self = Self { max_buffer: u64::MAX, memory: None };

    fn fits(&self, need: Footprint) -> Result<(), String> {
        if need.largest_buffer > self.max_buffer {
            return Err(format!("it needs a buffer of {} and this device allows {}", mib(need.largest_buffer), mib(self.max_buffer)));
        }
        if let Some(memory) = self.memory {
            let budget = (memory as f64 * MEMORY_SHARE) as u64;
            if need.peak > budget {
                return Err(format!("it needs about {} of memory and this device has {} (half of it is the budget)", mib(need.peak), mib(memory)));
            }
        }
        Ok(())
    }

    /// Whether a network of this shape can be held and run on one image here.
    pub fn check_model(&self, config: &FabNetConfig) -> Result<(), String> {
        self.fits(config.inference_footprint(1)).map_err(|why| {
            format!(
                "a {0}-px network of width {1} and a {2}-d embedding is too large for this device: {why}",
                config.image_size, config.base_width, config.embedding_dim
            )
        })
    }

    /// Whether a train step of this shape fits here.
    pub fn check_train(&self, config: &FabNetConfig, batch: usize, views: usize) -> Result<(), String> {
        self.fits(config.train_footprint(batch, views)).map_err(|why| {
            let most = self.max_train_batch(config, views);
            let advice = if most == 0 { "use fewer source views or a smaller network".to_string() } else { format!("use a batch of at most {most}") };
            format!("a batch of {batch} with {views} source view(s) does not fit: {why}; {advice}")
        })
    }

    /// The largest batch a train step of this shape fits in here (0: not even one).
    pub fn max_train_batch(&self, config: &FabNetConfig, views: usize) -> usize {
        largest_fitting(|b| self.fits(config.train_footprint(b, views)).is_ok())
    }

    /// The largest number of images embedded at once here (at least 1).
    pub fn max_inference_batch(&self, config: &FabNetConfig) -> usize {
        largest_fitting(|b| self.fits(config.inference_footprint(b)).is_ok()).max(1)
    }
}

/// The largest `b` in 1..=65536 for which `fits(b)` holds (`fits` grows with `b`), or 0.
fn largest_fitting(fits: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0usize, 65_536usize);
    if fits(hi) {
        return hi;
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if fits(mid) { lo = mid } else { hi = mid }
    }
    lo
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::FabNet;
    use burn::module::Module;
    use burn::tensor::Device;

    #[test]
    fn parameter_count_is_the_networks() {
        for name in ["tiny", "small", "browser", "paper"] {
            let config = FabNetConfig::preset(name).unwrap();
            let model = FabNet::new(config, &Device::flex()).unwrap();
            assert_eq!(config.parameter_count(), model.num_params() as u64, "preset {name}");
        }
    }

    #[test]
    fn bounds_follow_the_device() {
        let paper = FabNetConfig::paper();
        // WebGPU compatibility mode's 128 MiB binding: a paper-sized train step of one example
        // needs 9 x 32 x 256 x 256 floats (72 MiB) in its largest buffer, so one fits, two do not.
        let compat = DeviceLimits { max_buffer: 128 << 20, memory: None };
        assert_eq!(compat.max_train_batch(&paper, 3), 1);
        assert!(compat.check_train(&paper, 1, 3).is_ok());
        let refused = compat.check_train(&paper, 8, 3).unwrap_err();
        assert!(refused.contains("at most 1") && refused.contains("128 MiB"), "{refused}");
        // Memory bounds the batch too, and more views need more of it.
        let small = FabNetConfig::preset("small").unwrap();
        let laptop = DeviceLimits { max_buffer: 1 << 30, memory: Some(8 << 30) };
        let (two, three) = (laptop.max_train_batch(&small, 2), laptop.max_train_batch(&small, 3));
        assert!(two > three && three >= 64, "{two} {three}");
        assert_eq!(DeviceLimits::NONE.max_train_batch(&paper, 3), 65_536);
        // A network too large to hold at all.
        let huge = FabNetConfig::new(1024, 256, 4096, 3);
        let why = DeviceLimits { max_buffer: 1 << 30, memory: Some(2 << 30) }.check_model(&huge).unwrap_err();
        assert!(why.contains("too large for this device"), "{why}");
        assert!(DeviceLimits { max_buffer: 1 << 30, memory: Some(2 << 30) }.check_model(&paper).is_ok());
    }
}
