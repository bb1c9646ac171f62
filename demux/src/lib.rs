//! A video file's bytes to what a WebCodecs `VideoDecoder` takes: a codec string, its
//! configuration record and the encoded frames in decode order with their timestamps; and which
//! of the decoded frames to keep when a clip is sampled at some frames per second.
//!
//! Pure Rust and browser-free, so the app decodes each frame once, in order (seeking a
//! `<video>` decodes from the previous keyframe at every seek), and this part is tested natively.

mod codec;
mod mp4;
mod plan;
mod webm;

pub use plan::Sampling;

use std::ops::Range;

/// One encoded frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// Where its bytes are in [`Video::data`].
    pub bytes: Range<usize>,
    /// Presentation time in microseconds, counted from the video's first frame.
    pub timestamp_us: i64,
    pub duration_us: i64,
    /// A keyframe: decoding can start here.
    pub key: bool,
    /// Decoded but never shown (Matroska's invisible frames): no frame comes out for it.
    pub hidden: bool,
}

/// A video track, ready for a decoder.
#[derive(Clone, Debug)]
pub struct Video {
    /// WebCodecs' codec string ("avc1.64001e", "vp8", "vp09.00.10.08", ...).
    pub codec: String,
    /// The codec's configuration record (avcC, hvcC), which WebCodecs calls `description`.
    pub description: Option<Vec<u8>>,
    /// Coded size, before `rotation`.
    pub width: u32,
    pub height: u32,
    /// Clockwise degrees (0, 90, 180, 270) the picture is turned for display (a phone's
    /// portrait clip is stored landscape with 90).
    pub rotation: u32,
    /// The encoded frames in decode order, starting at a keyframe.
    pub chunks: Vec<Chunk>,
    /// The file ends before all the frames its index lists (a cut-off download): the chunks
    /// are those whose bytes are there.
    pub truncated: bool,
    /// The bytes the chunks point into.
    pub data: Vec<u8>,
}

impl Video {
    pub fn chunk_bytes(&self, chunk: &Chunk) -> &[u8] {
        &self.data[chunk.bytes.clone()]
    }

    /// Seconds from the first frame's start to the last one's end.
    pub fn duration(&self) -> f64 {
        let end = self.chunks.iter().filter(|c| !c.hidden).map(|c| c.timestamp_us + c.duration_us.max(0)).max().unwrap_or(0);
        end.max(0) as f64 / 1e6
    }

    /// Shown frames' timestamps, ascending: the order a decoder gives them out.
    pub fn presentation(&self) -> Vec<i64> {
        let mut shown: Vec<i64> = self.chunks.iter().filter(|c| !c.hidden).map(|c| c.timestamp_us).collect();
        shown.sort_unstable();
        shown.dedup();
        shown
    }
}

/// Why a file is not read here (the app then lets the browser's `<video>` try it).
#[derive(Clone, Debug, PartialEq)]
pub enum Unreadable {
    /// Neither MP4/MOV nor WebM/Matroska, or a layout this reader does not take (fragmented
    /// MP4, an encrypted track).
    Unsupported(String),
    /// The file says it is one of them but its structure is broken.
    Damaged(String),
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreadable::Unsupported(why) => write!(f, "not read here: {why}"),
            Unreadable::Damaged(why) => write!(f, "damaged: {why}"),
        }
    }
}

/// The first video track of an MP4/MOV or WebM/Matroska file.
pub fn demux(data: Vec<u8>) -> Result<Video, Unreadable> {
    let mut video = if data.get(4..8) == Some(b"ftyp") || [b"moov", b"mdat", b"free", b"wide"].iter().any(|t| data.get(4..8) == Some(&t[..])) {
        mp4::demux(data)?
    } else if data.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        webm::demux(data)?
    } else {
        return Err(Unreadable::Unsupported("neither MP4 nor WebM".into()));
    };
    start_at_first_keyframe(&mut video)?;
    Ok(video)
}

/// Drops what precedes the first keyframe (undecodable) and counts time from the first shown
/// frame, as a `<video>` element's `currentTime` does.
fn start_at_first_keyframe(video: &mut Video) -> Result<(), Unreadable> {
    let first_key = video.chunks.iter().position(|c| c.key).ok_or_else(|| Unreadable::Damaged("no keyframe".into()))?;
    video.chunks.drain(..first_key);
    let start = video.chunks.iter().filter(|c| !c.hidden).map(|c| c.timestamp_us).min().ok_or_else(|| Unreadable::Damaged("no frames".into()))?;
    for chunk in &mut video.chunks {
        chunk.timestamp_us -= start;
    }
    Ok(())
}
