//! Model configuration: one `FabNetConfig` and its named presets.

use serde::{Deserialize, Serialize};

/// Resampling conventions. They are explicit because the released weights depend on them:
/// the authors trained on a pre-release PyTorch 0.4 (`0.4.0a0+2df578a`), whose `grid_sample`
/// and bilinear `nn.Upsample` both behaved as `align_corners=True` (the flag, and the change of
/// default to `False`, only arrived with PyTorch 0.4.0/1.3). The reference also builds its
/// identity grid with `linspace(-1, 1, W)`, which hits pixel centres exactly only under that
/// convention. So `true` for both is the default that reproduces the released model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resampling {
    /// `align_corners` of the decoders' bilinear x2 upsampling.
    pub upsample_align_corners: bool,
    /// `align_corners` of the warp's bilinear grid sampling.
    pub sample_align_corners: bool,
}

impl Default for Resampling {
    fn default() -> Self {
        Self { upsample_align_corners: true, sample_align_corners: true }
    }
}

/// Everything that fixes the shape of a FAb-Net.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FabNetConfig {
    /// Side of the square input face, in pixels: a power of two, at least 32.
    pub image_size: usize,
    /// Channels of the first encoder conv (`num_additional_ids` in the reference, 32 there).
    pub base_width: usize,
    /// Size of the face embedding (`inner_nc`, 256 in the paper).
    pub embedding_dim: usize,
    /// Number of source views blended into one target (3 in the paper's second stage).
    pub source_views: usize,
    #[serde(default)]
    pub resampling: Resampling,
}

/// A configuration that cannot build a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid FAb-Net config: {0}")]
pub struct ConfigError(pub String);

/// Named presets, from the paper's network down to sizes that train in a browser or a test.
pub const PRESETS: &[(&str, FabNetConfig)] = &[
    ("paper", FabNetConfig::new(256, 32, 256, 3)),
    ("browser", FabNetConfig::new(128, 16, 128, 3)),
    ("small", FabNetConfig::new(64, 8, 64, 3)),
    ("tiny", FabNetConfig::new(32, 4, 32, 2)),
];

impl FabNetConfig {
    pub const fn new(image_size: usize, base_width: usize, embedding_dim: usize, source_views: usize) -> Self {
        Self { image_size, base_width, embedding_dim, source_views, resampling: Resampling { upsample_align_corners: true, sample_align_corners: true } }
    }

    /// The paper's network: `FrontaliseModelMasks_wider(3, inner_nc=256, num_additional_ids=32)`.
    pub fn paper() -> Self {
        Self::preset("paper").expect("paper preset exists")
    }

    pub fn preset(name: &str) -> Result<Self, ConfigError> {
        PRESETS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            ConfigError(format!("unknown preset '{name}' (known: {})", names.join(", ")))
        })
    }

    pub fn with_source_views(mut self, views: usize) -> Self {
        self.source_views = views;
        self
    }

    pub fn with_resampling(mut self, resampling: Resampling) -> Self {
        self.resampling = resampling;
        self
    }

    /// Bounds far above the paper's network (256 px, width 32, 256-d, 3 views), so that a
    /// damaged or hostile weights file is refused before it asks for gigabytes.
    pub const MAX_IMAGE_SIZE: usize = 1024;
    pub const MAX_BASE_WIDTH: usize = 256;
    pub const MAX_EMBEDDING_DIM: usize = 4096;
    pub const MAX_SOURCE_VIEWS: usize = 16;

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.image_size < 32 || !self.image_size.is_power_of_two() || self.image_size > Self::MAX_IMAGE_SIZE {
            return Err(ConfigError(format!("image_size must be a power of two from 32 to {}, got {}", Self::MAX_IMAGE_SIZE, self.image_size)));
        }
        let within = |name: &str, value: usize, max: usize| {
            if (1..=max).contains(&value) { Ok(()) } else { Err(ConfigError(format!("{name} must be from 1 to {max}, got {value}"))) }
        };
        within("base_width", self.base_width, Self::MAX_BASE_WIDTH)?;
        within("embedding_dim", self.embedding_dim, Self::MAX_EMBEDDING_DIM)?;
        within("source_views", self.source_views, Self::MAX_SOURCE_VIEWS)
    }

    /// Number of stride-2 encoder convs, which is also the number of x2 decoder blocks:
    /// the encoder takes the image down to 1x1.
    pub fn depth(&self) -> usize {
        self.image_size.trailing_zeros() as usize
    }

    /// Output channels of encoder conv `i` (0-based): w, 2w, 4w, then 8w, the last one giving
    /// the embedding.
    pub fn encoder_channels(&self, i: usize) -> usize {
        if i + 1 == self.depth() { self.embedding_dim } else { self.base_width << i.min(3) }
    }

    /// Output channels of decoder block `k` (0-based) before the final conv: the encoder's
    /// widths mirrored (8w ... 8w, 4w, 2w, w).
    pub fn decoder_channels(&self, k: usize) -> usize {
        let from_end = self.depth() - 2 - k;
        self.base_width << from_end.min(3)
    }
}
