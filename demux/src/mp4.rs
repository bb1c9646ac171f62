//! ISO base media files (MP4, MOV, M4V): the first video track's sample table read from `moov`.
//! Every read is bounds-checked: a damaged index is an error, never a panic.

use crate::codec;
use crate::{Chunk, Unreadable, Video};

fn damaged(why: impl Into<String>) -> Unreadable {
    Unreadable::Damaged(why.into())
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, Unreadable> {
    b.get(at..at + 2).map(|s| u16::from_be_bytes([s[0], s[1]])).ok_or_else(|| damaged("a box ends early"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, Unreadable> {
    b.get(at..at + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]])).ok_or_else(|| damaged("a box ends early"))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, Unreadable> {
    Ok(((u32_at(b, at)? as u64) << 32) | u32_at(b, at + 4)? as u64)
}

/// The child boxes of `data`, as (type, payload); a box that runs past its parent is an error.
fn boxes(data: &[u8]) -> impl Iterator<Item = Result<([u8; 4], &[u8]), Unreadable>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at + 8 > data.len() {
            return None;
        }
        let step = || -> Result<([u8; 4], &[u8], usize), Unreadable> {
            let size32 = u32_at(data, at)? as u64;
            let kind: [u8; 4] = data[at + 4..at + 8].try_into().expect("4 bytes");
            let (header, size) = match size32 {
                0 => (8, (data.len() - at) as u64),
                1 => (16, u64_at(data, at + 8)?),
                n => (8, n),
            };
            let end = (at as u64).checked_add(size).filter(|&end| size >= header && end <= data.len() as u64);
            let Some(end) = end.map(|e| e as usize) else {
                return Err(damaged(format!("box '{}' runs past its end", String::from_utf8_lossy(&kind))));
            };
            Ok((kind, &data[at + header as usize..end], end))
        };
        Some(step().map(|(kind, payload, end)| {
            at = end;
            (kind, payload)
        }))
    })
}

/// Top-level boxes may run past the end of a cut-off file; the index (`moov`) must not.
fn top_level(data: &[u8]) -> Result<(Option<&[u8]>, bool), Unreadable> {
    let (mut at, mut moov, mut fragmented) = (0usize, None, false);
    while at + 8 <= data.len() {
        let size32 = u32_at(data, at)? as u64;
        let kind = &data[at + 4..at + 8];
        let (header, size) = match size32 {
            0 => (8, (data.len() - at) as u64),
            1 => (16, u64_at(data, at + 8)?),
            n => (8, n),
        };
        if size < header {
            return Err(damaged("a top-level box has a size below its header's"));
        }
        let end = (at as u64).saturating_add(size).min(data.len() as u64) as usize;
        match kind {
            b"moov" if (at as u64).checked_add(size).is_some_and(|e| e <= data.len() as u64) => moov = Some(&data[at + header as usize..end]),
            b"moov" => return Err(damaged("the index (moov) is cut off")),
            b"moof" => fragmented = true,
            _ => {}
        }
        at = end;
    }
    Ok((moov, fragmented))
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, Unreadable> {
    for item in boxes(data) {
        let (k, payload) = item?;
        if &k == kind {
            return Ok(Some(payload));
        }
    }
    Ok(None)
}

fn need<'a>(data: &'a [u8], kind: &[u8; 4]) -> Result<&'a [u8], Unreadable> {
    child(data, kind)?.ok_or_else(|| damaged(format!("no '{}' box", String::from_utf8_lossy(kind))))
}

pub fn demux(data: Vec<u8>) -> Result<Video, Unreadable> {
    let video = first_video_track(&data)?;
    Ok(Video { data, ..video })
}

/// The first video track's description and sample table (its `data` left empty).
fn first_video_track(data: &[u8]) -> Result<Video, Unreadable> {
    let (moov, fragmented) = top_level(data)?;
    let moov =
        moov.ok_or_else(|| if fragmented { Unreadable::Unsupported("fragmented MP4".into()) } else { damaged("no index (moov): the file may be cut off") })?;
    if fragmented && child(moov, b"mvex")?.is_some() {
        return Err(Unreadable::Unsupported("fragmented MP4".into()));
    }
    for item in boxes(moov) {
        let (kind, trak) = item?;
        if &kind != b"trak" {
            continue;
        }
        let mdia = need(trak, b"mdia")?;
        if need(mdia, b"hdlr")?.get(8..12) == Some(b"vide") {
            return track(data, trak, mdia);
        }
    }
    Err(Unreadable::Unsupported("no video track".into()))
}

/// `units` of `1 / timescale` s in microseconds, without overflow (hostile tables reach i64's end).
fn microseconds(units: i128, timescale: i64) -> i64 {
    (units * 1_000_000 / timescale as i128).clamp(i64::MIN as i128 / 2, i64::MAX as i128 / 2) as i64
}

/// Degrees clockwise from `tkhd`'s display matrix.
fn rotation(tkhd: &[u8]) -> Result<u32, Unreadable> {
    let matrix_at = if tkhd.first() == Some(&1) { 52 } else { 40 };
    let (a, b) = (u32_at(tkhd, matrix_at)? as i32, u32_at(tkhd, matrix_at + 4)? as i32);
    Ok(match (a.signum(), b.signum()) {
        (0, 1) => 90,
        (-1, 0) => 180,
        (0, -1) => 270,
        _ => 0,
    })
}

/// Entries of a full box's table after its 8-byte header (version/flags, count).
fn table(b: &[u8], row: usize) -> Result<(usize, &[u8]), Unreadable> {
    let count = u32_at(b, 4)? as usize;
    let rows = b.get(8..).filter(|r| r.len() / row >= count).ok_or_else(|| damaged("a sample table is shorter than its count"))?;
    Ok((count, rows))
}

fn track(file: &[u8], trak: &[u8], mdia: &[u8]) -> Result<Video, Unreadable> {
    let rotation = rotation(need(trak, b"tkhd")?)?;
    let mdhd = need(mdia, b"mdhd")?;
    let timescale = if mdhd.first() == Some(&1) { u32_at(mdhd, 20)? } else { u32_at(mdhd, 12)? } as i64;
    if timescale == 0 {
        return Err(damaged("a time scale of 0"));
    }
    let stbl = need(need(mdia, b"minf")?, b"stbl")?;

    // The sample description: codec and its configuration record.
    let stsd = need(stbl, b"stsd")?;
    let (kind, entry) = boxes(stsd.get(8..).ok_or_else(|| damaged("empty stsd"))?).next().ok_or_else(|| damaged("no sample description"))??;
    let (width, height) = (u16_at(entry, 24)? as u32, u16_at(entry, 26)? as u32);
    let config = |k: &[u8; 4]| -> Result<Option<&[u8]>, Unreadable> { child(entry.get(78..).unwrap_or(&[]), k) };
    let (codec, description) = match &kind {
        b"avc1" | b"avc3" => {
            let avcc = config(b"avcC")?.ok_or_else(|| damaged("H.264 without avcC"))?;
            let name = if &kind == b"avc1" { "avc1" } else { "avc3" };
            (codec::avc(name, avcc).ok_or_else(|| damaged("short avcC"))?, Some(avcc.to_vec()))
        }
        b"hvc1" | b"hev1" => {
            let hvcc = config(b"hvcC")?.ok_or_else(|| damaged("HEVC without hvcC"))?;
            let name = if &kind == b"hvc1" { "hvc1" } else { "hev1" };
            (codec::hevc(name, hvcc).ok_or_else(|| damaged("short hvcC"))?, Some(hvcc.to_vec()))
        }
        b"vp09" => (config(b"vpcC")?.and_then(codec::vp9_from_vpcc).unwrap_or_else(|| codec::VP9_DEFAULT.into()), None),
        b"av01" => (config(b"av1C")?.and_then(codec::av1).ok_or_else(|| damaged("AV1 without av1C"))?, None),
        b"encv" => return Err(Unreadable::Unsupported("an encrypted video track".into())),
        other => return Err(Unreadable::Unsupported(format!("codec '{}'", String::from_utf8_lossy(other)))),
    };

    // Decode times (stts), presentation offsets (ctts), sizes (stsz), keyframes (stss),
    // and where each sample lies: chunks (stco/co64) holding runs of samples (stsc).
    // The sample count is stsz's; it is held to what the file's bytes could hold, so a hostile
    // count cannot make the tables below allocate more than the file.
    let stsz = need(stbl, b"stsz")?;
    let (fixed, count) = (u32_at(stsz, 4)? as usize, u32_at(stsz, 8)? as usize);
    let count = if let Some(most) = file.len().checked_div(fixed) {
        count.min(most + 1)
    } else if stsz.len().saturating_sub(12) / 4 < count {
        return Err(damaged("the sample size table is shorter than its count"));
    } else {
        count
    };
    let size_of = |i: usize| -> Result<usize, Unreadable> { if fixed != 0 { Ok(fixed) } else { u32_at(stsz, 12 + i * 4).map(|s| s as usize) } };
    let (n, rows) = table(need(stbl, b"stts")?, 8)?;
    let mut decode_times = Vec::new();
    let mut durations = Vec::new();
    let mut t: i64 = 0;
    'stts: for i in 0..n {
        let (runs, delta) = (u32_at(rows, i * 8)?, u32_at(rows, i * 8 + 4)? as i64);
        for _ in 0..runs {
            if decode_times.len() >= count {
                break 'stts;
            }
            decode_times.push(t);
            durations.push(delta);
            t = t.saturating_add(delta);
        }
    }
    let samples = decode_times.len();
    let mut offsets = vec![0i64; samples];
    if let Some(ctts) = child(stbl, b"ctts")? {
        let (n, rows) = table(ctts, 8)?;
        let mut s = 0usize;
        for i in 0..n {
            // Version 0 declares the offsets unsigned; writers put negative ones there too.
            let (runs, offset) = (u32_at(rows, i * 8)? as usize, u32_at(rows, i * 8 + 4)? as i32 as i64);
            for o in offsets.iter_mut().skip(s).take(runs) {
                *o = offset;
            }
            s = s.saturating_add(runs);
        }
    }
    let keys: Option<Vec<bool>> = match child(stbl, b"stss")? {
        None => None,
        Some(stss) => {
            let (n, rows) = table(stss, 4)?;
            let mut keys = vec![false; samples];
            for i in 0..n {
                if let Some(k) = (u32_at(rows, i * 4)? as usize).checked_sub(1).and_then(|s| keys.get_mut(s)) {
                    *k = true;
                }
            }
            Some(keys)
        }
    };
    let chunk_offsets: Vec<u64> = if let Some(stco) = child(stbl, b"stco")? {
        let (n, rows) = table(stco, 4)?;
        (0..n).map(|i| u32_at(rows, i * 4).map(u64::from)).collect::<Result<_, _>>()?
    } else {
        let (n, rows) = table(need(stbl, b"co64")?, 8)?;
        (0..n).map(|i| u64_at(rows, i * 8)).collect::<Result<_, _>>()?
    };
    let (runs, rows) = table(need(stbl, b"stsc")?, 12)?;
    let run = |i: usize| -> Result<(usize, usize), Unreadable> { Ok((u32_at(rows, i * 12)? as usize, u32_at(rows, i * 12 + 4)? as usize)) };

    let mut chunks = Vec::with_capacity(samples);
    let mut truncated = false;
    let mut sample = 0;
    'runs: for r in 0..runs {
        let (first_chunk, per_chunk) = run(r)?;
        let last_chunk = if r + 1 < runs { run(r + 1)?.0 } else { chunk_offsets.len() + 1 };
        for chunk_number in first_chunk.max(1)..last_chunk {
            let Some(&start) = chunk_offsets.get(chunk_number - 1) else { break 'runs };
            let mut at = start;
            for _ in 0..per_chunk {
                let Some(&dts) = decode_times.get(sample) else { break 'runs };
                let size = size_of(sample)?;
                let Some(end) = at.checked_add(size as u64) else { return Err(damaged("a sample lies past any file")) };
                if end > file.len() as u64 {
                    truncated = true;
                    break 'runs;
                }
                chunks.push(Chunk {
                    bytes: at as usize..end as usize,
                    timestamp_us: microseconds(dts as i128 + offsets[sample] as i128, timescale),
                    duration_us: microseconds(durations[sample] as i128, timescale),
                    key: keys.as_ref().is_none_or(|k| k[sample]),
                    hidden: false,
                });
                at = end;
                sample += 1;
            }
        }
    }
    Ok(Video { codec, description, width, height, rotation, chunks, truncated, data: Vec::new() })
}
