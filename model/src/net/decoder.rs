use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, tanh};
use burn::tensor::{Device, Tensor};

use crate::config::FabNetConfig;
use crate::resample::upsample2x;

/// ReLU, bilinear x2, conv 3x3, BatchNorm.
#[derive(Module, Debug)]
pub struct DecoderBlock {
    pub conv: Conv2d,
    pub norm: BatchNorm,
}

/// The reference's `generate_decoder_layers`: `[relu, up, conv, bn] x (depth-1), relu, up,
/// conv, tanh`. The flow and mask decoders are this one module with 2 or 1 output channels.
#[derive(Module, Debug)]
pub struct Decoder {
    pub blocks: Vec<DecoderBlock>,
    pub last: Conv2d,
    #[module(skip)]
    pub upsample_align_corners: bool,
}

fn conv3x3(c_in: usize, c_out: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device)
}

impl Decoder {
    /// A decoder reading a (source, target) pair of embeddings and writing `out_channels`.
    pub fn new(config: &FabNetConfig, out_channels: usize, device: &Device) -> Self {
        let depth = config.depth();
        let mut c_in = 2 * config.embedding_dim;
        let blocks = (0..depth - 1)
            .map(|k| {
                let c_out = config.decoder_channels(k);
                let block = DecoderBlock { conv: conv3x3(c_in, c_out, device), norm: BatchNormConfig::new(c_out).init(device) };
                c_in = c_out;
                block
            })
            .collect();
        let last = conv3x3(c_in, out_channels, device);
        Self { blocks, last, upsample_align_corners: config.resampling.upsample_align_corners }
    }

    /// `[B, 2E, 1, 1]` to `[B, out_channels, S, S]` in [-1, 1].
    pub fn forward(&self, pair: Tensor<4>) -> Tensor<4> {
        let mut x = pair;
        for block in &self.blocks {
            let up = upsample2x(relu(x), self.upsample_align_corners);
            x = super::norm::forward(&block.norm, block.conv.forward(up));
        }
        tanh(self.last.forward(upsample2x(relu(x), self.upsample_align_corners)))
    }
}
