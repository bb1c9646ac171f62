//! Import of the authors' PyTorch checkpoints (`oawiles/FAb-Net`), from bytes: the CLI
//! (`fabnet import`, `--weights FILE.pth`) and the browser read them through the same code.
//!
//! The released files (`*_4views.pth`) are `torch.save` dicts: `state_dict_model` holds
//! `FrontaliseModelMasks_wider` (keys `encoder.N.*`, `decoder.N.*`, `mask.N.*`, indices of
//! `nn.Sequential`), and `state_dict` the head `Sequential(BatchNorm1d(E), Linear(E, K))`.
//! A bare model state dict (`torch.save(model.state_dict())`) is accepted too. The network's
//! shape is read off the tensors, so narrower or smaller variants import as well.

mod checkpoint;
mod pickle;

use std::collections::HashMap;

use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, bridge};
use burn::tensor::{Device, TensorData};

pub use checkpoint::looks_like_checkpoint;
use checkpoint::{Checkpoint, TorchTensor};

use crate::config::FabNetConfig;
use crate::footprint::DeviceLimits;
use crate::net::{FabNet, LinearHead};
use crate::weights::WeightsError;

const MODEL_KEY: &str = "state_dict_model";
const HEAD_KEY: &str = "state_dict";

type StateDict = HashMap<String, TorchTensor>;

fn err(why: impl std::fmt::Display) -> WeightsError {
    WeightsError(why.to_string())
}

/// Load an official checkpoint (or a bare model state dict) from its file into a [`FabNet`],
/// with its linear head when the file has one.
#[cfg(feature = "native")]
pub fn import_official(path: &std::path::Path, device: &Device) -> Result<FabNet, WeightsError> {
    let bytes = std::fs::read(path).map_err(|e| err(format!("{}: cannot read it: {e}", path.display())))?;
    import_checkpoint(&bytes, device, &DeviceLimits::NONE).map_err(|e| err(format!("{}: {e}", path.display())))
}

/// As [`import_official`], from the file's bytes; refused before the network is built when a
/// device of these `limits` could not hold it.
pub fn import_checkpoint(bytes: &[u8], device: &Device, limits: &DeviceLimits) -> Result<FabNet, WeightsError> {
    let file = Checkpoint::parse(bytes).map_err(err)?;
    let model_state = match file.state_dict(Some(MODEL_KEY)).map_err(err)? {
        Some(state) if state.contains_key("encoder.0.weight") => state,
        _ => match file.state_dict(None).map_err(err)? {
            Some(state) if state.contains_key("encoder.0.weight") => state,
            _ => return Err(err("a PyTorch checkpoint, but not of FAb-Net (no 'encoder.0.weight' under 'state_dict_model' or at the top)")),
        },
    };
    let config = infer_config(&model_state)?;
    limits.check_model(&config).map_err(err)?;
    let head = match file.state_dict(Some(HEAD_KEY)).map_err(err)? {
        Some(state) if state.contains_key("1.weight") => Some(state),
        _ => None,
    };
    let outputs = head.as_ref().map(|h| head_outputs(h, config.embedding_dim)).transpose()?;
    let mut model = FabNet::new(config, device).map_err(err)?.with_head(outputs.map(|k| LinearHead::new(config.embedding_dim, k, device)));

    let mut tensors = Vec::new();
    let mut unexpected = Vec::new();
    // BatchNorm's step counter has no counterpart here (momentum is fixed).
    let counter = |key: &String| key.ends_with("num_batches_tracked");
    for (key, tensor) in model_state.into_iter().filter(|(k, _)| !counter(k)) {
        match burn_path(&config, &key) {
            Some(path) => tensors.push(pack(path, tensor)),
            None => unexpected.push(format!("unexpected tensor {key}")),
        }
    }
    for (key, tensor) in head.into_iter().flatten().filter(|(k, _)| !counter(k)) {
        match key.split_once('.') {
            Some(("0", rest)) => tensors.push(pack(format!("head.norm.{rest}"), tensor)),
            Some(("1", rest)) => tensors.push(pack(format!("head.linear.{rest}"), tensor)),
            _ => unexpected.push(format!("unexpected head tensor {key}")),
        }
    }
    // Linear weights are transposed and BatchNorm's weight/bias are gamma/beta, as burn-store
    // does for PyTorch files.
    let result = model.apply(tensors, None, Some(Box::new(PyTorchToBurnAdapter)), false);
    let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
    // The head's Linear has no bias in the paper (nor here): a bias in the file is reported.
    problems.extend(result.missing.iter().map(|(p, _)| format!("missing {p}")));
    problems.extend(result.unused.iter().map(|k| format!("unexpected tensor {k}")));
    problems.extend(unexpected);
    if !problems.is_empty() {
        problems.sort();
        return Err(err(format!("the checkpoint does not match FAb-Net: {}", problems.join("; "))));
    }
    Ok(model)
}

fn pack(path: String, tensor: TorchTensor) -> burn::store::burn_pack::Tensor {
    let shape = tensor.shape;
    bridge::from_data(TensorData::new(tensor.values, shape), path, None)
}

fn shape<'a>(state: &'a StateDict, key: &str) -> Result<&'a [usize], WeightsError> {
    state.get(key).map(|t| t.shape.as_slice()).ok_or_else(|| err(format!("missing tensor '{key}'")))
}

/// Read the network's shape off the checkpoint's tensors.
fn infer_config(state: &StateDict) -> Result<FabNetConfig, WeightsError> {
    let first = shape(state, "encoder.0.weight")?;
    if first.len() != 4 || first[1] != 3 || first[2] != 4 {
        return Err(err(format!("encoder.0.weight has shape {first:?}, expected [W, 3, 4, 4]")));
    }
    // Encoder convs sit at Sequential indices 0, 2, 5, 8, ..., 3i-4: count them.
    let mut depth = 1;
    while state.contains_key(&format!("encoder.{}.weight", 3 * (depth + 1) - 4)) {
        depth += 1;
    }
    if !(5..=16).contains(&depth) {
        return Err(err(format!("found {depth} encoder convs; FAb-Net has at least 5")));
    }
    let last = shape(state, &format!("encoder.{}.weight", 3 * depth - 4))?;
    let config = FabNetConfig::new(1 << depth, first[0], last[0], 3);
    config.validate().map_err(err)?;
    Ok(config)
}

/// The module path in [`FabNet`] of a tensor of the authors' model (PyTorch `nn.Sequential`
/// indices to this crate's field names; BatchNorm keeps PyTorch's `weight`/`bias`), or `None`
/// for a key the model does not have.
pub fn burn_path(config: &FabNetConfig, torch_key: &str) -> Option<String> {
    let depth = config.depth();
    let mut parts = torch_key.splitn(3, '.');
    let (module, index, rest) = (parts.next()?, parts.next()?.parse::<usize>().ok()?, parts.next()?);
    match module {
        // Encoder: conv 0, then (lrelu, conv, bn) per block at 3i-4, 3i-3, and the last conv.
        "encoder" if index == 0 => Some(format!("encoder.first.{rest}")),
        "encoder" if index == 3 * depth - 4 => Some(format!("encoder.last.{rest}")),
        "encoder" if index >= 2 && (index + 4) % 3 == 0 && (index + 4) / 3 < depth => Some(format!("encoder.blocks.{}.conv.{rest}", (index + 4) / 3 - 2)),
        "encoder" if index >= 3 && (index + 3) % 3 == 0 && (index + 3) / 3 < depth => Some(format!("encoder.blocks.{}.norm.{rest}", (index + 3) / 3 - 2)),
        // Decoders: (relu, up, conv, bn) per block at 4k-2, 4k-1, then the last conv at 4d-2.
        "decoder" | "mask" => {
            let ours = if module == "decoder" { "flow" } else { "mask" };
            if index == 4 * depth - 2 {
                Some(format!("{ours}.last.{rest}"))
            } else if index % 4 == 2 && index / 4 + 1 < depth {
                Some(format!("{ours}.blocks.{}.conv.{rest}", index / 4))
            } else if index % 4 == 3 && index / 4 + 1 < depth {
                Some(format!("{ours}.blocks.{}.norm.{rest}", index / 4))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// K, when the file's `state_dict` is the paper's `BatchNorm1d(E), Linear(E, K)` head.
fn head_outputs(head: &StateDict, embedding_dim: usize) -> Result<usize, WeightsError> {
    let shape = shape(head, "1.weight")?;
    if shape.len() != 2 || shape[1] != embedding_dim {
        return Err(err(format!("head weight '1.weight' has shape {shape:?}, expected [K, {embedding_dim}]")));
    }
    Ok(shape[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tensor_of_the_authors_layout_has_a_place_and_no_two_share_one() {
        let config = FabNetConfig::preset("paper").unwrap();
        let depth = config.depth();
        let mut keys = vec!["encoder.0".to_string()];
        keys.extend((2..depth).flat_map(|i| [format!("encoder.{}", 3 * i - 4), format!("encoder.{}", 3 * i - 3)]));
        keys.push(format!("encoder.{}", 3 * depth - 4));
        for m in ["decoder", "mask"] {
            keys.extend((1..depth).flat_map(|k| [format!("{m}.{}", 4 * k - 2), format!("{m}.{}", 4 * k - 1)]));
            keys.push(format!("{m}.{}", 4 * depth - 2));
        }
        let paths: Vec<String> = keys.iter().map(|k| burn_path(&config, &format!("{k}.weight")).unwrap_or_else(|| panic!("{k}"))).collect();
        let distinct: std::collections::HashSet<_> = paths.iter().collect();
        assert_eq!(distinct.len(), paths.len(), "{paths:?}");
        assert_eq!(paths[1], "encoder.blocks.0.conv.weight");
        assert_eq!(paths[2], "encoder.blocks.0.norm.weight");
        // The activations and upsamplings between have no parameters, nor a place.
        for k in ["encoder.1", "encoder.4", "decoder.0", "decoder.1", "mask.4", &format!("encoder.{}", 3 * depth - 1), &format!("decoder.{}", 4 * depth - 1)] {
            assert_eq!(burn_path(&config, &format!("{k}.weight")), None, "{k}");
        }
        assert_eq!(burn_path(&config, "head.0.weight"), None);
    }
}
