//! Import of the authors' PyTorch checkpoints (`oawiles/FAb-Net`).
//!
//! The released files (`*_4views.pth`) are `torch.save` dicts: `state_dict_model` holds
//! `FrontaliseModelMasks_wider` (keys `encoder.N.*`, `decoder.N.*`, `mask.N.*`, indices of
//! `nn.Sequential`), and `state_dict` the head `Sequential(BatchNorm1d(E), Linear(E, K))`.
//! A bare model state dict (`torch.save(model.state_dict())`) is accepted too. The network's
//! shape is read off the tensors, so narrower or smaller variants import as well.

use std::path::Path;

use burn::store::{KeyRemapper, ModuleStore, PytorchStore};
use burn::tensor::Device;
use burn_store::pytorch::PytorchReader;

use crate::config::FabNetConfig;
use crate::net::{FabNet, LinearHead};
use crate::weights::WeightsError;

const MODEL_KEY: &str = "state_dict_model";
const HEAD_KEY: &str = "state_dict";

fn err(path: &Path, why: impl std::fmt::Display) -> WeightsError {
    WeightsError(format!("{}: {why}", path.display()))
}

/// Where the model's tensors live in the file: under `state_dict_model`, or at the top.
fn model_reader(path: &Path) -> Result<(PytorchReader, Option<&'static str>), WeightsError> {
    if let Ok(reader) = PytorchReader::with_top_level_key(path, MODEL_KEY)
        && reader.get("encoder.0.weight").is_some()
    {
        return Ok((reader, Some(MODEL_KEY)));
    }
    let reader = PytorchReader::new(path).map_err(|e| err(path, format!("not a PyTorch checkpoint ({e})")))?;
    if reader.get("encoder.0.weight").is_some() {
        return Ok((reader, None));
    }
    Err(err(path, "a PyTorch checkpoint, but not of FAb-Net (no 'encoder.0.weight' under 'state_dict_model' or at the top)"))
}

fn shape(reader: &PytorchReader, path: &Path, key: &str) -> Result<Vec<usize>, WeightsError> {
    reader.get(key).map(|t| t.shape().to_vec()).ok_or_else(|| err(path, format!("missing tensor '{key}'")))
}

/// Read the network's shape off the checkpoint's tensors.
fn infer_config(reader: &PytorchReader, path: &Path) -> Result<FabNetConfig, WeightsError> {
    let first = shape(reader, path, "encoder.0.weight")?;
    if first.len() != 4 || first[1] != 3 || first[2] != 4 {
        return Err(err(path, format!("encoder.0.weight has shape {first:?}, expected [W, 3, 4, 4]")));
    }
    // Encoder convs sit at Sequential indices 0, 2, 5, 8, ..., 3i-4: count them.
    let mut depth = 1;
    while reader.get(&format!("encoder.{}.weight", 3 * (depth + 1) - 4)).is_some() {
        depth += 1;
    }
    if !(5..=16).contains(&depth) {
        return Err(err(path, format!("found {depth} encoder convs; FAb-Net has at least 5")));
    }
    let last = shape(reader, path, &format!("encoder.{}.weight", 3 * depth - 4))?;
    let config = FabNetConfig::new(1 << depth, first[0], last[0], 3);
    config.validate().map_err(|e| err(path, e))?;
    Ok(config)
}

/// PyTorch `nn.Sequential` indices to this crate's field names.
pub fn model_key_remapper(config: &FabNetConfig) -> KeyRemapper {
    let depth = config.depth();
    let mut patterns: Vec<(String, String)> =
        vec![(r"^encoder\.0\.(.+)$".into(), "encoder.first.$1".into()), (format!(r"^encoder\.{}\.(.+)$", 3 * depth - 4), "encoder.last.$1".into())];
    for i in 2..depth {
        let block = i - 2;
        patterns.push((format!(r"^encoder\.{}\.(.+)$", 3 * i - 4), format!("encoder.blocks.{block}.conv.$1")));
        patterns.push((format!(r"^encoder\.{}\.(.+)$", 3 * i - 3), format!("encoder.blocks.{block}.norm.$1")));
    }
    for (torch, ours) in [("decoder", "flow"), ("mask", "mask")] {
        for k in 1..depth {
            patterns.push((format!(r"^{torch}\.{}\.(.+)$", 4 * k - 2), format!("{ours}.blocks.{}.conv.$1", k - 1)));
            patterns.push((format!(r"^{torch}\.{}\.(.+)$", 4 * k - 1), format!("{ours}.blocks.{}.norm.$1", k - 1)));
        }
        patterns.push((format!(r"^{torch}\.{}\.(.+)$", 4 * depth - 2), format!("{ours}.last.$1")));
    }
    KeyRemapper::from_patterns(patterns).expect("generated patterns are valid regexes")
}

fn check(path: &Path, what: &str, result: burn::store::ApplyResult, allow_missing: bool) -> Result<(), WeightsError> {
    let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
    if !allow_missing {
        problems.extend(result.missing.iter().map(|(p, _)| format!("missing {p}")));
    }
    problems.extend(result.unused.iter().filter(|k| !k.ends_with("num_batches_tracked")).map(|k| format!("unexpected tensor {k}")));
    if problems.is_empty() { Ok(()) } else { Err(err(path, format!("{what} does not match FAb-Net: {}", problems.join("; ")))) }
}

/// Load an official checkpoint (or a bare model state dict) into a [`FabNet`], with its
/// linear head when the file has one.
pub fn import_official(path: &Path, device: &Device) -> Result<FabNet, WeightsError> {
    let (reader, top_key) = model_reader(path)?;
    let config = infer_config(&reader, path)?;
    let mut model = FabNet::new(config, device).map_err(|e| err(path, e))?;

    let mut store = PytorchStore::from_file(path).remap(model_key_remapper(&config)).allow_partial(true).validate(false);
    if let Some(key) = top_key {
        store = store.with_top_level_key(key);
    }
    let result = store.apply_to(&mut model).map_err(|e| err(path, e))?;
    let missing_outside_head = result.missing.iter().any(|(p, _)| !p.starts_with("head."));
    check(path, "model state", result, true)?;
    if missing_outside_head {
        return Err(err(path, "model state is incomplete"));
    }

    if top_key.is_some()
        && let Some(outputs) = head_outputs(path, config.embedding_dim)?
    {
        model.head = Some(LinearHead::new(config.embedding_dim, outputs, device));
        let remap = KeyRemapper::from_patterns(vec![(r"^0\.(.+)$", "head.norm.$1"), (r"^1\.(.+)$", "head.linear.$1")]).expect("valid regexes");
        let mut store = PytorchStore::from_file(path).with_top_level_key(HEAD_KEY).remap(remap).allow_partial(true).validate(false);
        let result = store.apply_to(&mut model).map_err(|e| err(path, e))?;
        let head_missing = result.missing.iter().any(|(p, _)| p.starts_with("head."));
        check(path, "linear head", result, true)?;
        if head_missing {
            return Err(err(path, "linear head is incomplete"));
        }
    }
    Ok(model)
}

/// `Some(K)` when the file's `state_dict` is the paper's `BatchNorm1d(E), Linear(E, K)` head.
fn head_outputs(path: &Path, embedding_dim: usize) -> Result<Option<usize>, WeightsError> {
    let Ok(reader) = PytorchReader::with_top_level_key(path, HEAD_KEY) else { return Ok(None) };
    let Some(linear) = reader.get("1.weight") else { return Ok(None) };
    let shape = linear.shape().to_vec();
    if shape.len() != 2 || shape[1] != embedding_dim {
        return Err(err(path, format!("head weight '1.weight' has shape {shape:?}, expected [K, {embedding_dim}]")));
    }
    Ok(Some(shape[0]))
}
