//! The MTCNN cascade's three networks (Zhang et al. 2016) as facenet-pytorch 2.6.0 defines
//! them, and their weights file. Field names follow the PyTorch modules so that the released
//! state dicts map one to one (PReLU's `weight` is Burn's `alpha`).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PRelu, PReluConfig};
use burn::tensor::activation::softmax;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::weights::{self, WeightsError};

fn conv(c_in: usize, c_out: usize, k: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [k, k]).init(device)
}
fn prelu(n: usize, device: &Device) -> PRelu {
    PReluConfig::new().with_num_parameters(n).init(device)
}
/// PReLU in one pass on a GPU (`crate::activation`), with the layer's slopes.
fn act<const D: usize>(layer: &PRelu, x: Tensor<D>) -> Tensor<D> {
    crate::activation::prelu(x, layer.alpha.val())
}
fn pool(k: usize, s: usize) -> MaxPool2d {
    MaxPool2dConfig::new([k, k]).with_strides([s, s]).with_ceil_mode(true).init()
}
/// The second channel of a two-way softmax over dim 1: the probability of "face".
fn face_probability<const D: usize, const D2: usize>(logits: Tensor<D>) -> Tensor<D2> {
    softmax(logits, 1).narrow(1, 1, 1).squeeze_dim(1)
}

/// `linear` on each sample of `x` `[B, C, H, W]` flattened as the reference flattens before
/// its dense layers (`[B, W, H, C]`), run as one convolution whose kernel covers the whole map:
/// the same sums, but on WebGPU the direct convolution runs them 10-40x faster than the matrix
/// product does for a few crops (SwiftShader: O-Net's 1152 -> 256 layer on 6 crops, 78 ms as
/// a product, 4 ms so). Gives `[B, out, 1, 1]`, the next dense layer's input as it is.
fn dense(linear: &Linear, x: Tensor<4>) -> Tensor<4> {
    let [_, c, h, w] = x.dims();
    let weight = linear.weight.val();
    let out = weight.dims()[1];
    // Row (w * H + h) * C + c of the `[in, out]` weight is the kernel's tap (c, h, w).
    let kernel = weight.reshape([w, h, c, out]).permute([3, 2, 1, 0]);
    conv2d(x, kernel, linear.bias.as_ref().map(|b| b.val()), ConvOptions::new([1, 1], [0, 0], [1, 1], 1))
}

/// A dense layer's `[B, out, 1, 1]` as rows `[B, out]`.
fn rows(x: Tensor<4>) -> Tensor<2> {
    x.flatten(1, 3)
}

/// Proposal network: fully convolutional, one 12x12 window per output cell (stride 2).
#[derive(Module, Debug)]
pub struct PNet {
    conv1: Conv2d,
    prelu1: PRelu,
    pool1: MaxPool2d,
    conv2: Conv2d,
    prelu2: PRelu,
    conv3: Conv2d,
    prelu3: PRelu,
    conv4_1: Conv2d,
    conv4_2: Conv2d,
}

impl PNet {
    pub fn new(device: &Device) -> Self {
        Self {
            conv1: conv(3, 10, 3, device),
            prelu1: prelu(10, device),
            pool1: pool(2, 2),
            conv2: conv(10, 16, 3, device),
            prelu2: prelu(16, device),
            conv3: conv(16, 32, 3, device),
            prelu3: prelu(32, device),
            conv4_1: conv(32, 2, 1, device),
            conv4_2: conv(32, 4, 1, device),
        }
    }

    /// Normalised image `[B, 3, H, W]` to (box regression `[B, 4, h, w]`, face probability `[B, h, w]`).
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<3>) {
        let x = self.pool1.forward(act(&self.prelu1, self.conv1.forward(x)));
        let x = act(&self.prelu2, self.conv2.forward(x));
        let x = act(&self.prelu3, self.conv3.forward(x));
        let probs = face_probability(self.conv4_1.forward(x.clone()));
        (self.conv4_2.forward(x), probs)
    }
}

/// Refinement network on 24x24 crops.
#[derive(Module, Debug)]
pub struct RNet {
    conv1: Conv2d,
    prelu1: PRelu,
    pool1: MaxPool2d,
    conv2: Conv2d,
    prelu2: PRelu,
    pool2: MaxPool2d,
    conv3: Conv2d,
    prelu3: PRelu,
    dense4: Linear,
    prelu4: PRelu,
    dense5_1: Linear,
    dense5_2: Linear,
}

impl RNet {
    pub fn new(device: &Device) -> Self {
        Self {
            conv1: conv(3, 28, 3, device),
            prelu1: prelu(28, device),
            pool1: pool(3, 2),
            conv2: conv(28, 48, 3, device),
            prelu2: prelu(48, device),
            pool2: pool(3, 2),
            conv3: conv(48, 64, 2, device),
            prelu3: prelu(64, device),
            dense4: LinearConfig::new(576, 128).init(device),
            prelu4: prelu(128, device),
            dense5_1: LinearConfig::new(128, 2).init(device),
            dense5_2: LinearConfig::new(128, 4).init(device),
        }
    }

    /// Crops `[B, 3, 24, 24]` to (box regression `[B, 4]`, face probability `[B]`).
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<1>) {
        let x = self.pool1.forward(act(&self.prelu1, self.conv1.forward(x)));
        let x = self.pool2.forward(act(&self.prelu2, self.conv2.forward(x)));
        let x = act(&self.prelu3, self.conv3.forward(x));
        let x = act(&self.prelu4, dense(&self.dense4, x));
        let probs = face_probability(rows(dense(&self.dense5_1, x.clone())));
        (rows(dense(&self.dense5_2, x)), probs)
    }
}

/// Output network on 48x48 crops: final boxes and five landmarks.
#[derive(Module, Debug)]
pub struct ONet {
    conv1: Conv2d,
    prelu1: PRelu,
    pool1: MaxPool2d,
    conv2: Conv2d,
    prelu2: PRelu,
    pool2: MaxPool2d,
    conv3: Conv2d,
    prelu3: PRelu,
    pool3: MaxPool2d,
    conv4: Conv2d,
    prelu4: PRelu,
    dense5: Linear,
    prelu5: PRelu,
    dense6_1: Linear,
    dense6_2: Linear,
    dense6_3: Linear,
}

impl ONet {
    pub fn new(device: &Device) -> Self {
        Self {
            conv1: conv(3, 32, 3, device),
            prelu1: prelu(32, device),
            pool1: pool(3, 2),
            conv2: conv(32, 64, 3, device),
            prelu2: prelu(64, device),
            pool2: pool(3, 2),
            conv3: conv(64, 64, 3, device),
            prelu3: prelu(64, device),
            pool3: pool(2, 2),
            conv4: conv(64, 128, 2, device),
            prelu4: prelu(128, device),
            dense5: LinearConfig::new(1152, 256).init(device),
            prelu5: prelu(256, device),
            dense6_1: LinearConfig::new(256, 2).init(device),
            dense6_2: LinearConfig::new(256, 4).init(device),
            dense6_3: LinearConfig::new(256, 10).init(device),
        }
    }

    /// Crops `[B, 3, 48, 48]` to (box regression `[B, 4]`, landmarks `[B, 10]` as five x
    /// then five y in box units, face probability `[B]`).
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<2>, Tensor<1>) {
        let x = self.pool1.forward(act(&self.prelu1, self.conv1.forward(x)));
        let x = self.pool2.forward(act(&self.prelu2, self.conv2.forward(x)));
        let x = self.pool3.forward(act(&self.prelu3, self.conv3.forward(x)));
        let x = act(&self.prelu4, self.conv4.forward(x));
        let x = act(&self.prelu5, dense(&self.dense5, x));
        let probs = face_probability(rows(dense(&self.dense6_1, x.clone())));
        (rows(dense(&self.dense6_2, x.clone())), rows(dense(&self.dense6_3, x)), probs)
    }
}

/// The three networks together; one weights file holds them all.
#[derive(Module, Debug)]
pub struct Mtcnn {
    pub pnet: PNet,
    pub rnet: RNet,
    pub onet: ONet,
}

/// Metadata key and format of the detector's weights file (a burnpack).
pub const META_KEY: &str = "fabnet-detector";
pub const FORMAT: &str = "fabnet-mtcnn/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorInfo {
    pub format: String,
    /// Where the weights come from.
    pub provenance: String,
}

impl Mtcnn {
    /// Untrained networks (weights come from [`Mtcnn::from_bytes`]).
    pub fn new(device: &Device) -> Self {
        Self { pnet: PNet::new(device), rnet: RNet::new(device), onet: ONet::new(device) }
    }

    pub fn to_bytes(&self, provenance: &str) -> Result<Vec<u8>, WeightsError> {
        weights::pack(self, META_KEY, &DetectorInfo { format: FORMAT.into(), provenance: provenance.into() })
    }

    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<(Self, DetectorInfo), WeightsError> {
        let not_ours = |why: String| WeightsError(format!("not a face-detector weights file ({why})"));
        let info: DetectorInfo = weights::unpack_metadata(bytes, META_KEY, "detector").map_err(not_ours)?;
        if info.format != FORMAT {
            return Err(not_ours(format!("format '{}', expected '{FORMAT}'", info.format)));
        }
        let mut model = Self::new(device);
        weights::unpack_tensors(bytes, &mut model).map_err(not_ours)?;
        Ok((model, info))
    }

    /// Import facenet-pytorch's `pnet.pt`, `rnet.pt` and `onet.pt` from one folder (native).
    #[cfg(feature = "native")]
    pub fn import_facenet(dir: &std::path::Path, device: &Device) -> Result<Self, WeightsError> {
        use burn::store::{KeyRemapper, ModuleStore, PytorchStore};
        let mut model = Self::new(device);
        for name in ["pnet", "rnet", "onet"] {
            let path = dir.join(format!("{name}.pt"));
            if !path.is_file() {
                return Err(WeightsError(format!("{}: missing (expected facenet-pytorch's {name}.pt)", path.display())));
            }
            let remap = KeyRemapper::from_patterns(vec![
                // Applied in order: PReLU's weight is Burn's alpha, then the network's prefix.
                (r"^(prelu\d+)\.weight$".to_string(), "$1.alpha".to_string()),
                (r"^(.+)$".to_string(), format!("{name}.$1")),
            ])
            .expect("valid regexes");
            let mut store = PytorchStore::from_file(&path).remap(remap).allow_partial(true).validate(false);
            let result = store.apply_to(&mut model).map_err(|e| WeightsError(format!("{}: not a PyTorch state dict ({e})", path.display())))?;
            let missing: Vec<_> = result.missing.iter().filter(|(p, _)| p.starts_with(name)).map(|(p, _)| p.clone()).collect();
            if !result.errors.is_empty() || !missing.is_empty() || !result.unused.is_empty() {
                let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
                problems.extend(missing.iter().map(|p| format!("missing {p}")));
                problems.extend(result.unused.iter().map(|k| format!("unexpected tensor {k}")));
                return Err(WeightsError(format!("{}: not MTCNN's {name}: {}", path.display(), problems.join("; "))));
            }
        }
        Ok(model)
    }
}
