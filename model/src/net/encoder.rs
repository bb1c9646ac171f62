use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor};

use crate::config::FabNetConfig;

const LEAKY_SLOPE: f64 = 0.2;

/// One conv 4x4 / stride 2 followed by BatchNorm (the reference's middle encoder layers).
#[derive(Module, Debug)]
pub struct EncoderBlock {
    pub conv: Conv2d,
    pub norm: BatchNorm,
}

/// `conv, [lrelu, conv, bn] x (depth-2), lrelu, conv`: as the reference, the first and last
/// convs have no BatchNorm. A `size`-pixel image ends as a 1x1 map of `embedding_dim` channels.
#[derive(Module, Debug)]
pub struct Encoder {
    pub first: Conv2d,
    pub blocks: Vec<EncoderBlock>,
    pub last: Conv2d,
}

fn down_conv(c_in: usize, c_out: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [4, 4]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device)
}

impl Encoder {
    pub fn new(config: &FabNetConfig, device: &Device) -> Self {
        let depth = config.depth();
        let first = down_conv(3, config.encoder_channels(0), device);
        let blocks = (1..depth - 1)
            .map(|i| EncoderBlock {
                conv: down_conv(config.encoder_channels(i - 1), config.encoder_channels(i), device),
                norm: BatchNormConfig::new(config.encoder_channels(i)).init(device),
            })
            .collect();
        let last = down_conv(config.encoder_channels(depth - 2), config.embedding_dim, device);
        Self { first, blocks, last }
    }

    /// Images `[B, 3, S, S]` in [0, 1] to embeddings `[B, E, 1, 1]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = self.first.forward(images);
        for block in &self.blocks {
            x = super::norm::forward(&block.norm, block.conv.forward(leaky_relu(x, LEAKY_SLOPE)));
        }
        self.last.forward(leaky_relu(x, LEAKY_SLOPE))
    }
}
