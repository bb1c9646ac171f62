use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// The paper's linear probe, `Sequential(BatchNorm1d(E), Linear(E, K, bias=False))`, kept with
/// the weights so that landmarks, pose or expression can be read off an embedding.
#[derive(Module, Debug)]
pub struct LinearHead {
    pub norm: BatchNorm,
    pub linear: Linear,
}

impl LinearHead {
    pub fn new(embedding_dim: usize, outputs: usize, device: &Device) -> Self {
        Self { norm: BatchNormConfig::new(embedding_dim).init(device), linear: LinearConfig::new(embedding_dim, outputs).with_bias(false).init(device) }
    }

    pub fn outputs(&self) -> usize {
        self.linear.weight.dims()[1]
    }

    /// Embeddings `[B, E]` to outputs `[B, K]`.
    pub fn forward(&self, embeddings: Tensor<2>) -> Tensor<2> {
        self.linear.forward(super::norm::forward(&self.norm, embeddings))
    }
}
