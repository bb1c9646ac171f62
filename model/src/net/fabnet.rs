use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::{Decoder, Encoder, LinearHead};
use crate::config::{ConfigError, FabNetConfig};
use crate::warp;

/// FAb-Net: `FrontaliseModelMasks_wider` of the reference (encoder, flow decoder `decoder`,
/// mask decoder `mask`), plus the optional linear head that the released checkpoints carry.
#[derive(Module, Debug)]
pub struct FabNet {
    pub encoder: Encoder,
    pub flow: Decoder,
    pub mask: Decoder,
    pub head: Option<LinearHead>,
    #[module(skip)]
    pub config: FabNetConfig,
}

/// What the network makes of one target and its source views.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The re-synthesised target `[B, 3, S, S]`.
    pub fused: Tensor<4>,
    /// Per source view: the decoder's flow `[B, 2, S, S]` (offsets in [-1, 1] units).
    pub flows: Vec<Tensor<4>>,
    /// Per source view: the raw confidence mask `[B, 1, S, S]` (tanh output).
    pub masks: Vec<Tensor<4>>,
    /// Per source view: the softmax blending weight `[B, 1, S, S]`; they sum to one.
    pub weights: Vec<Tensor<4>>,
    /// Per source view: the warped source `[B, 3, S, S]`.
    pub warped: Vec<Tensor<4>>,
}

impl FabNet {
    pub fn new(config: FabNetConfig, device: &Device) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self { encoder: Encoder::new(&config, device), flow: Decoder::new(&config, 2, device), mask: Decoder::new(&config, 1, device), head: None, config })
    }

    pub fn with_head(mut self, head: Option<LinearHead>) -> Self {
        self.head = head;
        self
    }

    /// Fold pending BatchNorm running-statistic updates into their stored values. Burn keeps
    /// a train step's update aside until the next read on that thread, so without this an
    /// evaluation or a save right after a step would see the statistics one step old.
    pub fn sync_running_stats(&self) {
        let norms = self
            .encoder
            .blocks
            .iter()
            .map(|b| &b.norm)
            .chain(self.flow.blocks.iter().map(|b| &b.norm))
            .chain(self.mask.blocks.iter().map(|b| &b.norm))
            .chain(self.head.iter().map(|h| &h.norm));
        for norm in norms {
            let _ = norm.running_mean.value_sync();
            let _ = norm.running_var.value_sync();
        }
    }

    /// Change the resampling conventions (they hold no weights, so this is free).
    pub fn with_resampling(mut self, resampling: crate::config::Resampling) -> Self {
        self.config.resampling = resampling;
        self.flow.upsample_align_corners = resampling.upsample_align_corners;
        self.mask.upsample_align_corners = resampling.upsample_align_corners;
        self
    }

    /// Images `[B, 3, S, S]` (RGB in [0, 1]) to embeddings `[B, E]`.
    pub fn embed(&self, images: Tensor<4>) -> Tensor<2> {
        let [b, ..] = images.dims();
        self.encoder.forward(images).reshape([b, self.config.embedding_dim])
    }

    /// The linear head's outputs for embeddings `[B, E]`, when the weights carry one.
    pub fn head_outputs(&self, embeddings: Tensor<2>) -> Option<Tensor<2>> {
        self.head.as_ref().map(|head| head.forward(embeddings))
    }

    /// Flow `[B, 2, S, S]` and raw mask `[B, 1, S, S]` that move `source` onto `target`.
    pub fn decode(&self, source: Tensor<2>, target: Tensor<2>) -> (Tensor<4>, Tensor<4>) {
        let [b, e] = source.dims();
        // The reference concatenates (source, target) in that order.
        let pair = Tensor::cat(vec![source, target], 1).reshape([b, 2 * e, 1, 1]);
        (self.flow.forward(pair.clone()), self.mask.forward(pair))
    }

    /// Re-synthesise `target` from its `sources`, as the reference's `multiview_maskfaceloss`:
    /// each view is encoded on its own (so BatchNorm sees the same batches as in PyTorch).
    pub fn generate(&self, target: Tensor<4>, sources: &[Tensor<4>]) -> Generation {
        let target_embedding = self.embed(target);
        let source_embeddings = sources.iter().map(|s| self.embed(s.clone())).collect();
        self.generate_from_embeddings(target_embedding, sources, source_embeddings)
    }

    /// As [`generate`](Self::generate), with the embeddings already computed (for driving a
    /// source face with another frame's embedding).
    pub fn generate_from_embeddings(&self, target_embedding: Tensor<2>, sources: &[Tensor<4>], source_embeddings: Vec<Tensor<2>>) -> Generation {
        let size = self.config.image_size;
        let align = self.config.resampling.sample_align_corners;
        let identity = warp::identity_grid(size, align, &target_embedding.device());
        let mut flows = Vec::with_capacity(sources.len());
        let mut masks = Vec::with_capacity(sources.len());
        let mut warped = Vec::with_capacity(sources.len());
        for (source, embedding) in sources.iter().zip(source_embeddings) {
            let (flow, mask) = self.decode(embedding, target_embedding.clone());
            warped.push(warp::warp(source.clone(), flow.clone(), identity.clone(), align));
            flows.push(flow);
            masks.push(mask);
        }
        let (fused, weights) = warp::fuse(&warped, &masks);
        Generation { fused, flows, masks, weights, warped }
    }
}
