//! The project's weights file: one burnpack holding every tensor of a [`FabNet`] (BatchNorm
//! running statistics and the optional linear head included) plus, as metadata, the config
//! that shapes it. The native CLI and the browser app both read and write it, from bytes.

use burn::module::Module;
use burn::store::{BurnpackStore, ModuleStore};
use burn::tensor::{Bytes, Device};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::FabNetConfig;
use crate::footprint::DeviceLimits;
use crate::net::{FabNet, LinearHead};

/// Stored under [`META_KEY`]; `format` is checked on load.
pub const FORMAT: &str = "fabnet-weights/1";
pub const META_KEY: &str = "fabnet";

/// What a weights file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsInfo {
    pub format: String,
    pub config: FabNetConfig,
    /// Outputs of the linear head, when there is one.
    pub head_outputs: Option<usize>,
    /// What the head predicts, in words ("68 landmarks (x, y)", "roll, pitch, yaw", ...).
    #[serde(default)]
    pub head_task: Option<String>,
    /// Where the weights come from: command, data, source file.
    #[serde(default)]
    pub provenance: String,
    /// The seed the network was initialised with before training, when known: the untrained
    /// baseline of `fabnet eval --baselines` starts from the same weights.
    #[serde(default)]
    pub init_seed: Option<u64>,
}

impl WeightsInfo {
    pub fn for_model(model: &FabNet, provenance: impl Into<String>) -> Self {
        Self {
            format: FORMAT.into(),
            config: model.config,
            head_outputs: model.head.as_ref().map(|h| h.outputs()),
            head_task: None,
            provenance: provenance.into(),
            init_seed: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WeightsError(pub String);

/// A module's tensors as a burnpack, with `meta` (JSON) stored under `key`. Shared by every
/// weights file of the project (FAb-Net, the face detector). Each tensor is read back
/// synchronously as it is written; see [`to_bytes_async`] for the browser.
pub(crate) fn pack(module: &impl Module, key: &str, meta: &impl Serialize) -> Result<Vec<u8>, WeightsError> {
    use burn::store::ModuleSnapshot;
    write_burnpack(module.collect(None, None, false), key, meta)
}

/// Tensors as a burnpack with Burn's default metadata plus `meta` (JSON) under `key`, as
/// `BurnpackStore` writes it.
fn write_burnpack(tensors: Vec<burn::store::burn_pack::Tensor>, key: &str, meta: &impl Serialize) -> Result<Vec<u8>, WeightsError> {
    let meta = serde_json::to_string(meta).map_err(|e| WeightsError(e.to_string()))?;
    let mut writer = burn_pack::Writer::new(tensors);
    for (k, value) in BurnpackStore::default_metadata().iter().chain([(&key.to_string(), &meta)]) {
        writer = writer.with_metadata(k, value);
    }
    let bytes = writer.into_bytes().map_err(|e| WeightsError(format!("cannot write weights: {e}")))?;
    Ok(bytes.to_vec())
}

/// The metadata stored under `key` (`what` names it in errors), parsed; the error says why
/// the file is not one of ours.
pub(crate) fn unpack_metadata<T: DeserializeOwned>(bytes: &[u8], key: &str, what: &str) -> Result<T, String> {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| e.to_string())?;
    let meta = reader.metadata().get(key).ok_or_else(|| format!("a burnpack without {what} metadata"))?;
    serde_json::from_str(meta).map_err(|e| format!("bad metadata: {e}"))
}

/// Load a burnpack's tensors into `module`; every tensor of the module must be there.
pub(crate) fn unpack_tensors(bytes: &[u8], module: &mut impl Module) -> Result<(), String> {
    let mut store = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(bytes.to_vec())));
    let result = store.apply_to(module).map_err(|e| e.to_string())?;
    if !result.errors.is_empty() || !result.missing.is_empty() {
        let mut problems: Vec<String> = result.errors.iter().map(|e| format!("{e}")).collect();
        problems.extend(result.missing.iter().map(|(p, _)| format!("missing tensor {p}")));
        return Err(problems.join("; "));
    }
    Ok(())
}

/// Serialise a model to the weights format.
pub fn to_bytes(model: &FabNet, info: &WeightsInfo) -> Result<Vec<u8>, WeightsError> {
    model.sync_running_stats();
    pack(model, META_KEY, info)
}

/// As [`to_bytes`], with every tensor read back asynchronously first: on WebGPU a synchronous
/// read panics, so this is how the browser saves. Gives the same bytes as [`to_bytes`].
pub async fn to_bytes_async(model: &FabNet, info: &WeightsInfo) -> Result<Vec<u8>, WeightsError> {
    use burn::store::ModuleSnapshot;
    model.sync_running_stats();
    let mut reads = PendingReads::default();
    model.visit(&mut reads);
    let mut data = std::collections::HashMap::new();
    for (id, read) in reads.0 {
        let values = read.await.map_err(|e| WeightsError(format!("cannot read weights back: {e}")))?;
        data.insert(id, values);
    }
    // Same names, ids and order as in `pack`, with the data already in hand.
    let mut tensors = Vec::new();
    for tensor in model.collect(None, None, false) {
        let values = tensor.param_id.and_then(|id| data.remove(&id)).ok_or_else(|| WeightsError(format!("tensor {} was not read back", tensor.name)))?;
        tensors.push(burn::store::bridge::from_data(values, tensor.name, tensor.param_id));
    }
    write_burnpack(tensors, META_KEY, info)
}

type Read = std::pin::Pin<Box<dyn std::future::Future<Output = Result<burn::tensor::TensorData, String>>>>;

/// Every float tensor of a module (parameters and running statistics), as reads not yet begun.
#[derive(Default)]
struct PendingReads(Vec<(u64, Read)>);

impl burn::module::ModuleVisitor for PendingReads {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<burn::tensor::Tensor<D>>) {
        let tensor = param.val();
        self.0.push((param.id.val(), Box::pin(async move { tensor.into_data_async().await.map_err(|e| format!("{e:?}")) })));
    }
}

/// Read only the header of a weights file.
pub fn read_info(bytes: &[u8]) -> Result<WeightsInfo, WeightsError> {
    let not_ours = |why: String| WeightsError(format!("not a FAb-Net weights file ({why})"));
    let info: WeightsInfo = unpack_metadata(bytes, META_KEY, "FAb-Net").map_err(not_ours)?;
    if info.format != FORMAT {
        return Err(not_ours(format!("format '{}', expected '{FORMAT}'", info.format)));
    }
    info.config.validate().map_err(|e| not_ours(e.to_string()))?;
    // Checked before the network is built, so that a small file cannot make it allocate a
    // huge one.
    let parameters = info.config.parameter_count();
    if (bytes.len() as u64) < parameters * 4 {
        return Err(WeightsError(format!(
            "a damaged weights file: its config describes {parameters} parameters ({} bytes), and the file holds {} bytes",
            parameters * 4,
            bytes.len()
        )));
    }
    Ok(info)
}

/// Build the model a weights file describes and load its tensors.
pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<(FabNet, WeightsInfo), WeightsError> {
    from_bytes_within(bytes, device, &DeviceLimits::NONE)
}

/// As [`from_bytes`], refused before the network is built when a device of these `limits`
/// could not hold it.
pub fn from_bytes_within(bytes: &[u8], device: &Device, limits: &DeviceLimits) -> Result<(FabNet, WeightsInfo), WeightsError> {
    let info = read_info(bytes)?;
    limits.check_model(&info.config).map_err(WeightsError)?;
    let head = info.head_outputs.map(|k| LinearHead::new(info.config.embedding_dim, k, device));
    let mut model = FabNet::new(info.config, device).map_err(|e| WeightsError(e.to_string()))?.with_head(head);
    unpack_tensors(bytes, &mut model).map_err(|e| WeightsError(format!("weights do not fit their config: {e}")))?;
    Ok((model.valid(), info))
}

/// Native convenience: write atomically (a crash never leaves half a file behind).
#[cfg(feature = "native")]
pub fn save_file(path: &std::path::Path, model: &FabNet, info: &WeightsInfo) -> Result<(), WeightsError> {
    let bytes = to_bytes(model, info)?;
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| WeightsError(format!("cannot write {}: {e}", path.display())))
}

#[cfg(feature = "native")]
pub fn load_file(path: &std::path::Path, device: &Device) -> Result<(FabNet, WeightsInfo), WeightsError> {
    let bytes = std::fs::read(path).map_err(|e| WeightsError(format!("cannot read {}: {e}", path.display())))?;
    from_bytes(&bytes, device).map_err(|e| WeightsError(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FabNetConfig;

    #[test]
    fn async_save_writes_the_same_bytes_as_the_sync_one() {
        let device = Device::flex();
        let config = FabNetConfig::preset("tiny").unwrap();
        let head = Some(LinearHead::new(config.embedding_dim, 3, &device));
        let model = FabNet::new(config, &device).unwrap().with_head(head);
        let info = WeightsInfo::for_model(&model, "test");
        let sync = to_bytes(&model, &info).unwrap();
        let not_sync = pollster::block_on(to_bytes_async(&model, &info)).unwrap();
        assert!(sync == not_sync, "the two saves differ");
        let (back, _) = from_bytes(&not_sync, &device).unwrap();
        assert_eq!(to_bytes(&back, &info).unwrap().len(), sync.len());
    }

    #[test]
    fn a_small_file_claiming_a_huge_network_is_refused_before_it_is_built() {
        let device = Device::flex();
        let model = FabNet::new(FabNetConfig::preset("tiny").unwrap(), &device).unwrap();
        let mut info = WeightsInfo::for_model(&model, "test");
        // A 1024-px network of width 256 and a 4096-d embedding: gigabytes if it were built.
        info.config = FabNetConfig::new(1024, 256, 4096, 3);
        let bytes = pack(&model, META_KEY, &info).unwrap();
        let err = from_bytes(&bytes, &device).unwrap_err().to_string();
        assert!(err.contains("damaged weights file") && err.contains(&format!("holds {} bytes", bytes.len())), "{err}");
    }

    #[test]
    fn pack_writes_what_burnpack_store_writes() {
        let device = Device::flex();
        let model = FabNet::new(FabNetConfig::preset("tiny").unwrap(), &device).unwrap();
        let info = WeightsInfo::for_model(&model, "test");
        let mut store = BurnpackStore::from_bytes(None).metadata(META_KEY, serde_json::to_string(&info).unwrap());
        store.collect_from(&model).unwrap();
        let reference = store.get_bytes().unwrap().to_vec();
        assert!(pack(&model, META_KEY, &info).unwrap() == reference, "the burnpack differs from BurnpackStore's");
    }
}
