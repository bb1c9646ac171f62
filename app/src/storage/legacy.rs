//! Clips stored before values carried a schema version: bincode 1 blobs (little-endian, u64
//! lengths), read by hand so that bincode 1, unmaintained, is no longer linked. Two layouts:
//! with the sampling rate as the last field, and before it (always 10 frames/s).

use fabnet_app::protocol::Frame;

use super::{StoredClip, StoredTrack};

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.bytes.len() {
            return Err("it ends early".into());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn usize(&mut self) -> Result<usize, String> {
        usize::try_from(self.u64()?).map_err(|_| "a number out of range".to_string())
    }

    /// A length, refused when the bytes left cannot hold that many items of `item` bytes
    /// (a damaged length must not ask for gigabytes).
    fn len(&mut self, item: usize) -> Result<usize, String> {
        let n = self.usize()?;
        if n.saturating_mul(item.max(1)) > self.bytes.len() {
            return Err("a length longer than the data".into());
        }
        Ok(n)
    }

    fn bool(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("a flag that is neither 0 nor 1".into()),
        }
    }

    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = self.len(1)?;
        Ok(self.take(n)?.to_vec())
    }

    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?).map_err(|_| "a name that is not UTF-8".to_string())
    }

    fn frame(&mut self) -> Result<Frame, String> {
        Ok(Frame { width: self.u32()?, height: self.u32()?, pixels: self.bytes()? })
    }

    fn list<T>(&mut self, item: usize, mut read: impl FnMut(&mut Self) -> Result<T, String>) -> Result<Vec<T>, String> {
        let n = self.len(item)?;
        (0..n).map(|_| read(self)).collect()
    }

    fn track(&mut self) -> Result<StoredTrack, String> {
        Ok(StoredTrack {
            frame_index: self.list(8, Self::usize)?,
            crops: self.list(16, Self::frame)?,
            embeddings: self.list(8, |r| r.list(4, |r| Ok(f32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes")))))?,
            manual: self.bool()?,
            // Made by weights nobody recorded: embedded again on restore.
            weights: None,
        })
    }
}

/// A clip in either bincode layout, or why not.
pub fn clip(bytes: &[u8]) -> Result<StoredClip, String> {
    let mut r = Reader { bytes };
    let id = r.usize()?;
    let name = r.string()?;
    let frames = r.usize()?;
    let first_frame = match r.u8()? {
        0 => None,
        1 => Some(r.frame()?),
        _ => return Err("a flag that is neither 0 nor 1".into()),
    };
    let tracks = r.list(25, Reader::track)?;
    let fps = match r.bytes.len() {
        0 => 10.0,
        8 => f64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes")),
        n => return Err(format!("{n} bytes left over")),
    };
    Ok(StoredClip { id, name, frames, first_frame, tracks, fps })
}
