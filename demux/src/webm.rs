//! WebM and Matroska through `matroska-demuxer`: the first video track's frames, read to the
//! file's end (a MediaRecorder recording declares no duration, and needs none here).

use crate::codec;
use crate::{Chunk, Unreadable, Video};
use matroska_demuxer::{Frame, MatroskaFile, TrackType};
use std::io::Cursor;

fn damaged(e: impl std::fmt::Display) -> Unreadable {
    Unreadable::Damaged(e.to_string())
}

/// A VP8 or VP9 frame's own keyframe bit, for blocks that do not carry the flag (BlockGroups).
fn bitstream_key(codec: &str, data: &[u8]) -> Option<bool> {
    let first = *data.first()?;
    if codec == "vp8" {
        return Some(first & 1 == 0);
    }
    if codec.starts_with("vp09") {
        // frame_marker(2) profile_low(1) profile_high(1) [reserved(1) at profile 3]
        // show_existing_frame(1) frame_type(1): 0 is a keyframe.
        let profile = ((first >> 5) & 1) | (((first >> 4) & 1) << 1);
        let at = if profile == 3 { 2 } else { 3 };
        let show_existing = (first >> at) & 1 == 1;
        return Some(!show_existing && (first >> (at - 1)) & 1 == 0);
    }
    None
}

pub fn demux(data: Vec<u8>) -> Result<Video, Unreadable> {
    let renamed;
    let mut file = match MatroskaFile::open(Cursor::new(data.as_slice())) {
        Ok(file) => file,
        // A cut-off file's SeekHead points past its end (at the Cues, written last); without
        // it the demuxer finds the top-level elements by walking them.
        Err(e) => {
            renamed = without_seek_head(&data).ok_or_else(|| damaged(format!("{e:?}")))?;
            MatroskaFile::open(Cursor::new(renamed.as_slice())).map_err(|e| damaged(format!("{e:?}")))?
        }
    };
    let track = file.tracks().iter().find(|t| t.track_type() == TrackType::Video).ok_or_else(|| Unreadable::Unsupported("no video track".into()))?;
    let number = track.track_number().get();
    let private = track.codec_private();
    let (codec, description) = match track.codec_id() {
        "V_VP8" => ("vp8".to_string(), None),
        "V_VP9" => (codec::VP9_DEFAULT.to_string(), None),
        "V_AV1" => (private.and_then(codec::av1).unwrap_or_else(|| "av01.0.08M.08".into()), None),
        "V_MPEG4/ISO/AVC" => {
            let avcc = private.ok_or_else(|| damaged("H.264 without its configuration"))?;
            (codec::avc("avc1", avcc).ok_or_else(|| damaged("short avcC"))?, Some(avcc.to_vec()))
        }
        "V_MPEGH/ISO/HEVC" => {
            let hvcc = private.ok_or_else(|| damaged("HEVC without its configuration"))?;
            (codec::hevc("hev1", hvcc).ok_or_else(|| damaged("short hvcC"))?, Some(hvcc.to_vec()))
        }
        other => return Err(Unreadable::Unsupported(format!("codec {other}"))),
    };
    if track.content_encodings().is_some() {
        return Err(Unreadable::Unsupported("a compressed or encrypted track".into()));
    }
    let (width, height) = track.video().map(|v| (v.pixel_width().get() as u32, v.pixel_height().get() as u32)).unwrap_or((0, 0));
    let default_duration_ns = track.default_duration().map(|d| d.get() as i64);
    let scale_ns = file.info().timestamp_scale().get() as i64;

    // Frames in file order (decode order), their bytes gathered into one buffer.
    let mut bytes = Vec::new();
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut frame = Frame::default();
    let mut truncated = false;
    loop {
        match file.next_frame(&mut frame) {
            Ok(true) => {}
            Ok(false) => break,
            // What came before a cut or damaged cluster is kept.
            Err(_) => {
                truncated = true;
                break;
            }
        }
        if frame.track != number {
            continue;
        }
        let start = bytes.len();
        bytes.extend_from_slice(&frame.data);
        let key = frame.is_keyframe.or_else(|| bitstream_key(&codec, &frame.data)).unwrap_or(chunks.is_empty());
        chunks.push(Chunk {
            bytes: start..bytes.len(),
            timestamp_us: (frame.timestamp as i128 * scale_ns as i128 / 1000).min(i64::MAX as i128 / 2) as i64,
            duration_us: (frame.duration.map(|d| d as i128 * scale_ns as i128).or(default_duration_ns.map(i128::from)).unwrap_or(0) / 1000)
                .min(i64::MAX as i128 / 2) as i64,
            key,
            hidden: frame.is_invisible,
        });
    }
    fill_durations(&mut chunks);
    Ok(Video { codec, description, width, height, rotation: 0, chunks, truncated, data: bytes })
}

/// `data` with its SeekHead's ID changed to one no reader knows (so it is skipped whole).
fn without_seek_head(data: &[u8]) -> Option<Vec<u8>> {
    const SEEK_HEAD: [u8; 4] = [0x11, 0x4d, 0x9b, 0x74];
    let at = data.get(..4096.min(data.len()))?.windows(4).position(|w| w == SEEK_HEAD)?;
    let mut renamed = data.to_vec();
    renamed[at..at + 4].copy_from_slice(&[0x10, 0x7a, 0xb1, 0xe5]);
    Some(renamed)
}

/// Frames without a stated duration last until the next one shows; the last lasts as long as
/// the one before it.
fn fill_durations(chunks: &mut [Chunk]) {
    let mut shown: Vec<(i64, usize)> = chunks.iter().enumerate().filter(|(_, c)| !c.hidden).map(|(i, c)| (c.timestamp_us, i)).collect();
    shown.sort_unstable();
    let mut last_gap = 0;
    for w in 0..shown.len() {
        let (t, i) = shown[w];
        if chunks[i].duration_us > 0 {
            continue;
        }
        let gap = shown.get(w + 1).map(|&(next, _)| next - t).unwrap_or(last_gap);
        chunks[i].duration_us = gap;
        last_gap = gap;
    }
}
