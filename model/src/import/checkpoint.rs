//! A `torch.save` file read from bytes, in both of the layouts the authors' checkpoints come in:
//! the zip archive of PyTorch 1.6 and later (`archive/data.pkl` plus one entry per storage),
//! and the legacy stream of PyTorch 0.1.10 to 1.5 (five pickles, then every storage back to
//! back), which is how `*_4views.pth` were written. Bytes, not a path, so that the browser
//! reads the same files the CLI does.

use std::collections::HashMap;

use super::pickle::{self, Value};

/// One tensor of a state dict, as f32 (whatever its stored float type), in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct TorchTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A parsed checkpoint: the top-level object and a way to the bytes of each storage.
pub struct Checkpoint<'a> {
    root: Value,
    /// Storage key to its bytes (a zip entry, or the legacy stream after the element count).
    storages: HashMap<String, &'a [u8]>,
}

const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Whether `bytes` start as a PyTorch checkpoint does (a zip, or a pickle).
pub fn looks_like_checkpoint(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.first() == Some(&0x80)
}

impl<'a> Checkpoint<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, String> {
        if bytes.starts_with(b"PK\x03\x04") {
            Self::zip(bytes)
        } else if bytes.first() == Some(&0x80) {
            Self::legacy(bytes)
        } else {
            Err("not a PyTorch checkpoint (neither a zip archive nor a pickle)".into())
        }
    }

    fn zip(bytes: &'a [u8]) -> Result<Self, String> {
        let entries = zip_entries(bytes)?;
        let (pickle_name, data) = entries
            .iter()
            .find(|(name, _)| name.ends_with("/data.pkl") || name.as_str() == "data.pkl")
            .ok_or("a zip archive, but not a PyTorch checkpoint (no data.pkl)")?;
        let prefix = &pickle_name[..pickle_name.len() - "data.pkl".len()];
        let (root, _) = pickle::read(data).map_err(|e| format!("data.pkl: {e}"))?;
        let storages = entries.iter().filter_map(|(name, data)| Some((name.strip_prefix(prefix)?.strip_prefix("data/")?.to_string(), *data))).collect();
        Ok(Self { root, storages })
    }

    fn legacy(bytes: &'a [u8]) -> Result<Self, String> {
        let mut at = 0;
        let mut next = |what: &str| -> Result<Value, String> {
            let (v, used) = pickle::read(&bytes[at..]).map_err(|e| format!("a damaged checkpoint: {what}: {e}"))?;
            at += used;
            Ok(v)
        };
        match next("the magic number")? {
            Value::Bytes(b) if b == LEGACY_MAGIC => {}
            _ => return Err("a pickle, but not a PyTorch checkpoint (no torch.save magic number)".into()),
        }
        let protocol = next("the protocol version")?;
        if protocol.as_int() != Some(1001) {
            return Err(format!("torch.save protocol {protocol:?}, expected 1001"));
        }
        let system = next("the system info")?;
        if matches!(system.get("little_endian"), Some(Value::Bool(false))) {
            return Err("a big-endian checkpoint".into());
        }
        let root = next("the saved object")?;
        let keys = next("the storage keys")?.items().ok_or("the storage keys are not a list")?;
        // Each storage: an i64 element count, then its bytes; the element size is the one its
        // persistent id names, so the sizes come from the ids the object holds.
        let sizes = element_sizes(&root)?;
        let mut storages = HashMap::new();
        for key in keys {
            let key = key.as_str().ok_or("a storage key that is not a string")?.to_string();
            let count = bytes.get(at..at + 8).ok_or("the file ends inside the storages")?;
            let count = u64::from_le_bytes(count.try_into().expect("8 bytes")) as usize;
            let size = *sizes.get(&key).ok_or_else(|| format!("storage {key} is listed but no tensor uses it"))?;
            let len = count.checked_mul(size).ok_or("a storage too large")?;
            let data = bytes.get(at + 8..at + 8 + len).ok_or_else(|| format!("the file ends inside storage {key} (cut off?)"))?;
            storages.insert(key, data);
            at += 8 + len;
        }
        Ok(Self { root, storages })
    }

    /// The state dict at the top, or under `key` of a top-level dict: every tensor in it by
    /// name. `None` when there is no dict there.
    pub fn state_dict(&self, key: Option<&str>) -> Result<Option<HashMap<String, TorchTensor>>, String> {
        let dict = match key {
            Some(k) => match self.root.get(k) {
                Some(v) => v,
                None => return Ok(None),
            },
            None => self.root.clone(),
        };
        let Value::Dict(entries) = dict else { return Ok(None) };
        let mut out = HashMap::new();
        for (name, value) in entries.borrow().iter() {
            let Some(name) = name.as_str() else { continue };
            if let Some(tensor) = self.tensor(value).map_err(|e| format!("tensor '{name}': {e}"))? {
                out.insert(name.to_string(), tensor);
            }
        }
        Ok(Some(out))
    }

    /// `Some` for a rebuilt tensor, `None` for anything else a dict may hold.
    fn tensor(&self, value: &Value) -> Result<Option<TorchTensor>, String> {
        let Value::Call { func, args, .. } = value else { return Ok(None) };
        let args: &[Value] = match func.global().as_deref() {
            Some("torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor") => args,
            // nn.Parameter(tensor, requires_grad, hooks).
            Some("torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state") => {
                return args.first().map_or(Ok(None), |t| self.tensor(t));
            }
            _ => return Ok(None),
        };
        let [storage, offset, size, stride, ..] = args else { return Err("a tensor rebuilt from too few arguments".into()) };
        let id = match storage {
            Value::Persistent(id) => id.items().ok_or("a storage id that is not a tuple")?,
            _ => return Err("a tensor whose storage is not a persistent id".into()),
        };
        let storage = StorageId::from(&id)?;
        let dims = |v: &Value, what: &str| -> Result<Vec<usize>, String> {
            v.items()
                .ok_or(format!("{what} is not a tuple"))?
                .iter()
                .map(|d| d.as_int().and_then(|d| usize::try_from(d).ok()).ok_or(format!("a bad {what}")))
                .collect()
        };
        let shape = dims(size, "size")?;
        let strides = dims(stride, "stride")?;
        let offset = offset.as_int().and_then(|o| usize::try_from(o).ok()).ok_or("a bad storage offset")? + storage.view_offset;
        if strides.len() != shape.len() {
            return Err("size and stride differ in length".into());
        }
        let bytes = *self.storages.get(&storage.key).ok_or_else(|| format!("its storage {} is missing from the file", storage.key))?;
        let elements = bytes.len() / storage.kind.size();
        let count: usize = shape.iter().product();
        // The last element the view touches must lie in the storage.
        let last = offset + shape.iter().zip(&strides).map(|(&n, &s)| n.saturating_sub(1) * s).sum::<usize>();
        if count > 0 && last >= elements {
            return Err(format!("its view reaches element {last} of a storage of {elements} (a damaged file?)"));
        }
        let row_major: Vec<usize> = (0..shape.len()).map(|d| shape[d + 1..].iter().product()).collect();
        if strides == row_major || count <= 1 {
            let values = (offset..offset + count).map(|i| storage.kind.read(bytes, i)).collect();
            return Ok(Some(TorchTensor { shape, values }));
        }
        let mut values = Vec::with_capacity(count);
        let mut index = vec![0usize; shape.len()];
        for _ in 0..count {
            let at = offset + index.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>();
            values.push(storage.kind.read(bytes, at));
            for d in (0..shape.len()).rev() {
                index[d] += 1;
                if index[d] < shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(Some(TorchTensor { shape, values }))
    }
}

/// The storages' element sizes by key, from the persistent ids the object holds.
fn element_sizes(root: &Value) -> Result<HashMap<String, usize>, String> {
    fn walk(v: &Value, out: &mut HashMap<String, usize>) -> Result<(), String> {
        match v {
            Value::Persistent(id) => {
                let id = StorageId::from(&id.items().ok_or("a storage id that is not a tuple")?)?;
                out.insert(id.key, id.kind.size());
            }
            Value::Tuple(t) => t.iter().try_for_each(|x| walk(x, out))?,
            Value::List(l) => l.borrow().iter().try_for_each(|x| walk(x, out))?,
            Value::Dict(d) => d.borrow().iter().try_for_each(|(_, x)| walk(x, out))?,
            Value::Call { args, .. } => args.iter().try_for_each(|x| walk(x, out))?,
            _ => {}
        }
        Ok(())
    }
    let mut out = HashMap::new();
    walk(root, &mut out)?;
    Ok(out)
}

/// `('storage', torch.FloatStorage, key, location, numel[, view])` (the legacy format adds
/// the view: `None` or `(view key, offset, size)`).
struct StorageId {
    key: String,
    kind: Kind,
    view_offset: usize,
}

impl StorageId {
    fn from(id: &[Value]) -> Result<Self, String> {
        if id.first().and_then(Value::as_str) != Some("storage") || id.len() < 5 {
            return Err("a persistent id that is not a storage".into());
        }
        let kind = id[1].global().ok_or("a storage without a type")?;
        let kind = Kind::from_name(&kind).ok_or_else(|| format!("storage type {kind} is not a number type"))?;
        let key = match &id[2] {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            _ => return Err("a storage key that is not a string".into()),
        };
        let view_offset = match id.get(5) {
            Some(Value::Tuple(view)) => view.get(1).and_then(Value::as_int).and_then(|o| usize::try_from(o).ok()).ok_or("a bad storage view")?,
            _ => 0,
        };
        Ok(Self { key, kind, view_offset })
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    F32,
    F64,
    F16,
    Bf16,
    I64,
    I32,
    I16,
    I8,
    U8,
}

impl Kind {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name.strip_prefix("torch.")? {
            "FloatStorage" => Kind::F32,
            "DoubleStorage" => Kind::F64,
            "HalfStorage" => Kind::F16,
            "BFloat16Storage" => Kind::Bf16,
            "LongStorage" => Kind::I64,
            "IntStorage" => Kind::I32,
            "ShortStorage" => Kind::I16,
            "CharStorage" => Kind::I8,
            "ByteStorage" | "BoolStorage" => Kind::U8,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Kind::F64 | Kind::I64 => 8,
            Kind::F32 | Kind::I32 => 4,
            Kind::F16 | Kind::Bf16 | Kind::I16 => 2,
            Kind::I8 | Kind::U8 => 1,
        }
    }

    /// Element `i` of little-endian storage bytes, as f32.
    fn read(self, bytes: &[u8], i: usize) -> f32 {
        let b = &bytes[i * self.size()..(i + 1) * self.size()];
        match self {
            Kind::F32 => f32::from_le_bytes(b.try_into().expect("4 bytes")),
            Kind::F64 => f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
            Kind::F16 => f16_to_f32(u16::from_le_bytes(b.try_into().expect("2 bytes"))),
            Kind::Bf16 => f32::from_bits((u16::from_le_bytes(b.try_into().expect("2 bytes")) as u32) << 16),
            Kind::I64 => i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
            Kind::I32 => i32::from_le_bytes(b.try_into().expect("4 bytes")) as f32,
            Kind::I16 => i16::from_le_bytes(b.try_into().expect("2 bytes")) as f32,
            Kind::I8 => b[0] as i8 as f32,
            Kind::U8 => b[0] as f32,
        }
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        // Subnormal: value = frac * 2^-24.
        (0, _) => return if sign != 0 { -(frac as f32) } else { frac as f32 } * 2f32.powi(-24),
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// The entries of a zip archive (stored, not compressed, as torch writes them) by name.
fn zip_entries(bytes: &[u8]) -> Result<Vec<(String, &[u8])>, String> {
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as u64);
    let u64_at = |at: usize| bytes.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let damaged = || "a damaged zip archive (cut off?)".to_string();
    // The end-of-central-directory record, within the last 64 KiB (its comment) of the file.
    let search_from = bytes.len().saturating_sub(22 + 65535);
    let eocd = (search_from..bytes.len().saturating_sub(21)).rev().find(|&i| bytes[i..].starts_with(b"PK\x05\x06")).ok_or_else(damaged)?;
    let mut entries = u16_at(eocd + 10).ok_or_else(damaged)? as u64;
    let mut directory = u32_at(eocd + 16).ok_or_else(damaged)?;
    // Zip64: the real counts are in the zip64 record its locator (just before) points to.
    if (entries == 0xffff || directory == 0xffff_ffff) && eocd >= 20 && bytes[eocd - 20..].starts_with(b"PK\x06\x07") {
        let record = u64_at(eocd - 20 + 8).ok_or_else(damaged)? as usize;
        if !bytes.get(record..).is_some_and(|b| b.starts_with(b"PK\x06\x06")) {
            return Err(damaged());
        }
        entries = u64_at(record + 32).ok_or_else(damaged)?;
        directory = u64_at(record + 48).ok_or_else(damaged)?;
    }
    let mut at = directory as usize;
    let mut out = Vec::new();
    for _ in 0..entries {
        if !bytes.get(at..).is_some_and(|b| b.starts_with(b"PK\x01\x02")) {
            return Err(damaged());
        }
        let method = u16_at(at + 10).ok_or_else(damaged)?;
        let mut size = u32_at(at + 20).ok_or_else(damaged)?;
        let name_len = u16_at(at + 28).ok_or_else(damaged)?;
        let extra_len = u16_at(at + 30).ok_or_else(damaged)?;
        let comment_len = u16_at(at + 32).ok_or_else(damaged)?;
        let mut local = u32_at(at + 42).ok_or_else(damaged)?;
        let name = bytes.get(at + 46..at + 46 + name_len).ok_or_else(damaged)?;
        let name = String::from_utf8_lossy(name).into_owned();
        // Zip64 sizes and offset, in the order the fields that overflowed appear.
        let extra = bytes.get(at + 46 + name_len..at + 46 + name_len + extra_len).ok_or_else(damaged)?;
        let mut e = 0;
        while e + 4 <= extra.len() {
            let (id, len) = (u16::from_le_bytes([extra[e], extra[e + 1]]), u16::from_le_bytes([extra[e + 2], extra[e + 3]]) as usize);
            if id == 1 {
                let mut fields = extra[e + 4..(e + 4 + len).min(extra.len())].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")));
                let uncompressed = u32_at(at + 24).ok_or_else(damaged)?;
                if uncompressed == 0xffff_ffff {
                    fields.next();
                }
                if size == 0xffff_ffff {
                    size = fields.next().ok_or_else(damaged)?;
                }
                if local == 0xffff_ffff {
                    local = fields.next().ok_or_else(damaged)?;
                }
            }
            e += 4 + len;
        }
        if method != 0 {
            return Err(format!("zip entry {name} is compressed (method {method}); torch.save stores entries uncompressed"));
        }
        let local = local as usize;
        if !bytes.get(local..).is_some_and(|b| b.starts_with(b"PK\x03\x04")) {
            return Err(damaged());
        }
        let start = local + 30 + u16_at(local + 26).ok_or_else(damaged)? + u16_at(local + 28).ok_or_else(damaged)?;
        let data = bytes.get(start..start + size as usize).ok_or_else(damaged)?;
        out.push((name, data));
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_convert_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn bytes_that_are_no_checkpoint_are_refused() {
        assert!(Checkpoint::parse(b"hello").is_err());
        assert!(Checkpoint::parse(b"PK\x03\x04 but nothing else").is_err());
        assert!(Checkpoint::parse(b"\x80\x02K\x01.").is_err());
    }
}
