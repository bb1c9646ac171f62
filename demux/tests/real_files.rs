//! The demuxer on real video files: carphone (`tests/data/fetch.sh`) as it ships and re-encoded
//! by ffmpeg into the layouts people's clips come in, each checked against ffprobe's reading of
//! the same file.

use fabnet_demux::{Sampling, Unreadable, Video, demux};
use std::path::{Path, PathBuf};
use std::process::Command;

fn data_dir() -> PathBuf {
    std::env::var_os("FABNET_DATA").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/fabnet-data"))
}

fn carphone() -> PathBuf {
    let path = data_dir().join("carphone_pristine.mp4");
    assert!(path.exists(), "run tests/data/fetch.sh first ({} is missing)", path.display());
    path
}

/// A scratch folder for this test binary's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fabnet-demux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// carphone re-encoded by ffmpeg with `args` into `name`.
fn encode(name: &str, args: &[&str]) -> PathBuf {
    let out = scratch(name);
    let status = Command::new("ffmpeg").args(["-loglevel", "error", "-y", "-i"]).arg(carphone()).args(args).arg(&out).status().expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made {name}");
    out
}

/// ffprobe's packets of the first video stream, in file order: (pts in s, keyframe).
fn probe_packets(path: &Path) -> Vec<(f64, bool)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (pts, flags) = l.split_once(',').unwrap();
            (pts.parse().unwrap(), flags.starts_with('K'))
        })
        .collect()
}

fn read(path: &Path) -> Result<Video, Unreadable> {
    demux(std::fs::read(path).unwrap())
}

/// The chunks are ffprobe's packets: same count, order, keyframes and timestamps (from the
/// first shown frame).
fn assert_matches_ffprobe(path: &Path, video: &Video) {
    let packets = probe_packets(path);
    assert_eq!(video.chunks.len(), packets.len(), "{}: one chunk per packet", path.display());
    let start = packets.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    for (i, (chunk, (pts, key))) in video.chunks.iter().zip(&packets).enumerate() {
        assert_eq!(chunk.key, *key, "{}: packet {i}'s keyframe flag", path.display());
        let t = chunk.timestamp_us as f64 / 1e6;
        // Matroska stores milliseconds.
        assert!((t - (pts - start)).abs() < 1.5e-3, "{}: packet {i} at {t} s, ffprobe says {} s", path.display(), pts - start);
        assert!(!video.chunk_bytes(chunk).is_empty());
    }
    assert!(video.chunks[0].key, "decoding starts at a keyframe");
}

#[test]
fn the_shipped_h264_mp4_reads_as_ffprobe_reads_it() {
    let path = carphone();
    let video = read(&path).unwrap();
    assert!(video.codec.starts_with("avc1.64"), "High profile: {}", video.codec);
    assert!(video.description.as_ref().is_some_and(|d| d[0] == 1), "the avcC record is the description");
    assert_eq!((video.width, video.height, video.rotation), (176, 144, 0));
    assert!(!video.truncated);
    assert_matches_ffprobe(&path, &video);
    assert_eq!(video.presentation().len(), 120);
    assert!((video.duration() - 4.004).abs() < 0.01, "{} s", video.duration());
    // 10 frames/s over 4.004 s: 40 samples, as the seeking reader takes.
    assert_eq!(Sampling::new(&video.presentation(), video.duration(), 10.0).total(), 40);
}

#[test]
fn b_frames_reorder_presentation_and_the_plan_follows_it() {
    // libx264's default B-frames: decode order differs from presentation order (ctts).
    let path = encode("bframes.mp4", &["-c:v", "libx264", "-preset", "medium", "-bf", "3", "-movflags", "+faststart"]);
    let video = read(&path).unwrap();
    assert_matches_ffprobe(&path, &video);
    let decode_order: Vec<i64> = video.chunks.iter().map(|c| c.timestamp_us).collect();
    assert!(decode_order.windows(2).any(|w| w[1] < w[0]), "B-frames come after the frames they precede");
    let shown = video.presentation();
    assert_eq!(shown.len(), 120);
    assert_eq!(shown[0], 0);
    let mut plan = Sampling::new(&shown, video.duration(), 5.0);
    let kept: usize = shown.iter().map(|&t| plan.take(t)).sum();
    assert_eq!(kept, 20, "4 s at 5 frames/s");
}

#[test]
fn webm_recordings_without_a_duration_read_to_their_end() {
    // A live-muxed webm declares no duration, as MediaRecorder's do not.
    for (name, codec, prefix) in [("live-vp8.webm", "libvpx", "vp8"), ("live-vp9.webm", "libvpx-vp9", "vp09.")] {
        let path = encode(name, &["-c:v", codec, "-b:v", "300k", "-deadline", "realtime", "-f", "webm", "-live", "1"]);
        let video = read(&path).unwrap();
        assert!(video.codec.starts_with(prefix), "{name}: {}", video.codec);
        assert!(video.description.is_none());
        assert_eq!((video.width, video.height), (176, 144));
        assert_matches_ffprobe(&path, &video);
        assert_eq!(video.presentation().len(), 120, "{name}");
        assert!((video.duration() - 4.0).abs() < 0.05, "{name}: {} s", video.duration());
    }
}

#[test]
fn a_phone_clip_turned_for_display_says_so() {
    // ffmpeg's `rotate` tag counts degrees anticlockwise (its matrix for 270 is a phone's
    // portrait one, [0 1 -1 0]); the rotation here is clockwise.
    for (tag, clockwise) in [("270", 90), ("90", 270), ("180", 180)] {
        let path = scratch(&format!("rotated-{tag}.mp4"));
        let status = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-i"])
            .arg(carphone())
            .args(["-c", "copy", "-metadata:s:v", &format!("rotate={tag}")])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let video = read(&path).unwrap();
        assert_eq!((video.width, video.height, video.rotation), (176, 144, clockwise), "rotate={tag}");
    }
}

#[test]
fn a_cut_off_file_gives_the_frames_it_holds() {
    let whole = encode("faststart.mp4", &["-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart"]);
    let bytes = std::fs::read(&whole).unwrap();
    let video = demux(bytes[..bytes.len() / 2].to_vec()).unwrap();
    assert!(video.truncated);
    assert!(video.chunks.len() > 10 && video.chunks.len() < 120, "{} of 120 frames", video.chunks.len());
    assert!(video.chunks.iter().all(|c| c.bytes.end <= video.data.len()));

    // Without faststart the index comes last: a cut file has none.
    let late_index = encode("late-index.mp4", &["-c:v", "libx264", "-preset", "ultrafast"]);
    let bytes = std::fs::read(late_index).unwrap();
    assert!(matches!(demux(bytes[..bytes.len() / 2].to_vec()), Err(Unreadable::Damaged(_))));

    let webm = std::fs::read(encode("cut.webm", &["-c:v", "libvpx", "-b:v", "300k", "-deadline", "realtime"])).unwrap();
    let video = demux(webm[..webm.len() / 3].to_vec()).unwrap();
    assert!(video.chunks.len() > 5 && video.chunks.len() < 120, "{} of 120 frames", video.chunks.len());
    assert!(video.duration() < 3.0, "the span is what the file holds, not its header's: {} s", video.duration());
}

#[test]
fn damaged_indexes_are_errors_never_panics() {
    let bytes = std::fs::read(encode("to-damage.mp4", &["-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart"])).unwrap();
    let moov = bytes.windows(4).position(|w| w == b"moov").unwrap();
    // Garble bytes of the index one region at a time: every result is a Video or an error.
    let mut seed = 12345u64;
    for round in 0..300 {
        let mut damaged = bytes.clone();
        for _ in 0..1 + round % 8 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let at = moov + (seed >> 33) as usize % 1500;
            damaged[at] = (seed >> 20) as u8;
        }
        if let Ok(video) = demux(damaged) {
            assert!(video.chunks.iter().all(|c| c.bytes.end <= video.data.len() && c.bytes.start <= c.bytes.end));
        }
    }
    let webm = std::fs::read(encode("to-damage.webm", &["-c:v", "libvpx", "-b:v", "300k", "-deadline", "realtime"])).unwrap();
    for round in 0..300 {
        let mut damaged = webm.clone();
        for _ in 0..1 + round % 8 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let at = (seed >> 33) as usize % 4000.min(damaged.len());
            damaged[at] = (seed >> 20) as u8;
        }
        let _ = demux(damaged);
    }
    assert!(matches!(demux(b"this is not a video".to_vec()), Err(Unreadable::Unsupported(_))));
}

#[test]
fn hostile_counts_and_sizes_are_bounded() {
    let bytes = std::fs::read(encode("hostile.mp4", &["-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart"])).unwrap();
    let at = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
    let put = |data: &mut Vec<u8>, offset: usize, value: u32| data[offset..offset + 4].copy_from_slice(&value.to_be_bytes());

    // stsz: one byte per sample, 4 billion samples: held to what the file and stts hold.
    let mut huge_count = bytes.clone();
    let stsz = at(b"stsz");
    put(&mut huge_count, stsz + 8, 1);
    put(&mut huge_count, stsz + 12, u32::MAX);
    let video = demux(huge_count).unwrap();
    assert!(video.chunks.len() <= 120);

    // Every frame lasting 2^32 s: the sampling stops at a day.
    let mut eternal = bytes.clone();
    let stts = at(b"stts");
    put(&mut eternal, stts + 16, u32::MAX);
    let mdhd = at(b"mdhd");
    put(&mut eternal, mdhd + 16, 1);
    let video = demux(eternal).unwrap();
    let plan = Sampling::new(&video.presentation(), video.duration(), 10.0);
    assert!(plan.total() <= 24 * 3600 * 10, "{} samples", plan.total());

    // A box inside moov claiming a 64-bit size near the end of u64.
    let mut endless = bytes.clone();
    let mvhd = at(b"mvhd");
    put(&mut endless, mvhd - 4, 1);
    endless[mvhd + 4..mvhd + 12].copy_from_slice(&(u64::MAX - 4).to_be_bytes());
    assert!(matches!(demux(endless), Err(Unreadable::Damaged(_))));

    // A chunk offset past any file.
    let mut far = bytes.clone();
    let stco = at(b"stco");
    put(&mut far, stco + 12, u32::MAX - 8);
    if let Ok(video) = demux(far) {
        assert!(video.chunks.iter().all(|c| c.bytes.end <= video.data.len()));
    }
}
