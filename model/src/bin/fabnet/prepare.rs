//! `fabnet prepare`: videos in, VoxCeleb-style face-track folders out.
//!
//! Each video is decoded twice: once to detect and track (nothing kept but boxes), once to
//! cut the smoothed crops, so memory stays bounded by one frame whatever the video's length.
//! A video's folder is written under a temporary name and renamed when complete, so a failure
//! never leaves half a video behind and never touches other videos' folders.
//!
//! Where the tracks go: `DIR/PERSON/clip.mp4` gives `PERSON/clip/00001...`; VoxCeleb2's own
//! layout, `DIR/id00012/YouTubeID/00001.mp4` (an utterance of a YouTube video, and every
//! speaker has many `00001.mp4`), keeps its video level: `id00012/YouTubeID/00001` (a second
//! track of the same utterance is `00001-2`). A folder that holds another video's tracks, or
//! that `prepare` did not write, is never replaced: the new tracks take the next free name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use fabnet::face::{CropGeometry, DetectEvery, Detector, RgbFrame, Track, Tracker, TrackerParams};
use indicatif::{ProgressBar, ProgressStyle};

use crate::video;

const VIDEO_EXTENSIONS: &[&str] = &["mp4", "m4v", "mov", "webm", "mkv", "avi", "mpg", "mpeg", "y4m"];

#[derive(clap::Args)]
pub struct PrepareArgs {
    /// Videos, or folders searched recursively for videos (mp4, mov, webm, mkv, avi, mpg, y4m).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The dataset folder; other videos already in it are left as they are.
    #[arg(short, long)]
    output: PathBuf,
    /// Identity folder for every input. Default: for videos under a folder input, the first
    /// folder below it (DIR/PERSON/clip.mp4 -> PERSON); otherwise the video's own name.
    #[arg(long)]
    identity: Option<String>,
    /// Side of the written crops in pixels (VoxCeleb1's are 224).
    #[arg(long, default_value_t = 224)]
    size: usize,
    /// Tracks shorter than this many frames are dropped.
    #[arg(long, default_value_t = 8)]
    min_track: usize,
    /// Frames frames each side of the moving average that smooths the boxes.
    #[arg(long, default_value_t = 2)]
    smooth: usize,
    /// Run the full detector every N frames and follow its faces with O-Net alone in between
    /// (a frame whose face is lost is searched again at once). 1 = every frame, as the
    /// reference; 5 is about four times faster.
    #[arg(long, default_value_t = 1)]
    detect_every: usize,
    /// Detector weights (default: the ones built into this binary).
    #[arg(long)]
    detector: Option<PathBuf>,
    #[arg(long, default_value = "flex")]
    backend: String,
}

/// A video to prepare and where its tracks go.
struct Job {
    video: PathBuf,
    identity: String,
    /// The VIDEO folder under the identity.
    name: String,
    /// For `IDENTITY/VIDEO/UTTERANCE.mp4` inputs: the utterance, whose tracks are written into
    /// the shared VIDEO folder as `UTTERANCE`, `UTTERANCE-2`, ...; otherwise the video has the
    /// folder to itself and its tracks are `00001`, `00002`, ...
    utterance: Option<String>,
}

/// The record beside a video's tracks; its `video` says whose tracks they are.
fn record_path(folder: &Path, utterance: Option<&str>) -> PathBuf {
    folder.join(utterance.map_or_else(|| "tracks.json".to_string(), |u| format!("{u}.tracks.json")))
}

/// Whether `record` was written by `prepare` for this same video file.
fn owned_by(record: &Path, video: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(record) else { return false };
    let owner = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["video"].as_str().map(PathBuf::from));
    owner.is_some_and(|o| o.canonicalize().ok() == video.canonicalize().ok())
}

/// `base`, or `base~2`, `base~3`, ...: the first name nothing else holds.
fn free_name(base: &str, taken: impl Fn(&str) -> bool) -> String {
    std::iter::once(base.to_string()).chain((2..).map(|k| format!("{base}~{k}"))).find(|n| !taken(n)).expect("some name is free")
}

/// Folder names from file names: no separators, nothing hidden.
fn folder_name(s: &str) -> String {
    let clean: String = s.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    clean.trim_start_matches('.').to_string()
}

fn stem(path: &Path) -> String {
    folder_name(&path.file_stem().unwrap_or_default().to_string_lossy())
}

fn find_videos(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            find_videos(&path, found)?;
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())) {
            found.push(path);
        }
    }
    Ok(())
}

fn jobs(args: &PrepareArgs) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            let mut videos = Vec::new();
            find_videos(input, &mut videos)?;
            if videos.is_empty() {
                eprintln!("warning: no videos in {}", input.display());
            }
            for video in videos {
                let below = video.strip_prefix(input).expect("found under the input");
                let parts: Vec<String> = below.components().map(|c| folder_name(&c.as_os_str().to_string_lossy())).collect();
                // Below the identity level (the first folder, unless --identity names it), the
                // folders are the video and the file an utterance of it; a file straight under
                // the identity is a video of its own.
                let (identity, rest) = match &args.identity {
                    Some(id) => (id.clone(), &parts[..]),
                    None if parts.len() == 1 => (stem(&video), &parts[..]),
                    None => (parts[0].clone(), &parts[1..]),
                };
                let (name, utterance) = match rest.len() {
                    0 | 1 => (stem(&video), None),
                    n => (rest[..n - 1].join("_"), Some(stem(&video))),
                };
                jobs.push(Job { name, identity, video, utterance });
            }
        } else {
            let identity = args.identity.clone().unwrap_or_else(|| stem(input));
            jobs.push(Job { name: stem(input), identity, video: input.clone(), utterance: None });
        }
    }
    Ok(jobs)
}

pub fn run(args: &PrepareArgs) -> Result<()> {
    if args.size < 16 {
        bail!("--size must be at least 16 pixels");
    }
    if args.detect_every == 0 {
        bail!("--detect-every must be at least 1 (1 = the full detector on every frame)");
    }
    video::check_tools()?;
    let device = crate::device(&args.backend)?;
    let detector = crate::faces::detector(args.detector.as_deref(), &device)?;
    let jobs = jobs(args)?;
    std::fs::create_dir_all(&args.output).with_context(|| format!("cannot create {}", args.output.display()))?;

    let (mut prepared, mut tracks, mut frames, mut skipped) = (0, 0, 0, Vec::new());
    for job in &jobs {
        match prepare_video(job, args, &detector) {
            Ok(done) => {
                prepared += 1;
                tracks += done.tracks;
                frames += done.crops;
                eprintln!(
                    "{}: {} tracks, {} frames -> {} (detect: {:.2} s for {} frames, write: {:.2} s)",
                    job.video.display(),
                    done.tracks,
                    done.crops,
                    done.place,
                    done.detect_seconds,
                    done.frames_read,
                    done.write_seconds
                );
            }
            Err(e) => {
                eprintln!("warning: skipped {}: {}", job.video.display(), format!("{e:#}").replace('\n', " "));
                skipped.push(job.video.clone());
            }
        }
    }
    eprintln!("prepared {prepared} of {} videos: {tracks} tracks, {frames} frames in {}", jobs.len(), args.output.display());
    if prepared == 0 {
        bail!("nothing prepared ({} skipped)", skipped.len());
    }
    Ok(())
}

fn progress(len: Option<u64>, label: String) -> ProgressBar {
    let bar = ProgressBar::new(len.unwrap_or(0));
    let style = ProgressStyle::with_template("{msg:30} [{bar:30}] {pos}/{len} frames  {per_sec}  ETA {eta}").expect("valid template").progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(label);
    bar
}

/// What preparing one video gave, and where its time went.
struct Prepared {
    tracks: usize,
    crops: usize,
    /// Where the tracks went, relative to the dataset.
    place: String,
    frames_read: usize,
    detect_seconds: f64,
    write_seconds: f64,
}

/// Detect, track and write one video.
fn prepare_video(job: &Job, args: &PrepareArgs, detector: &Detector) -> Result<Prepared> {
    let info = video::probe(&job.video)?;
    let params = TrackerParams { min_length: args.min_track, ..TrackerParams::default() };

    // Pass 1: find faces and link them into tracks.
    let started = std::time::Instant::now();
    let bar = progress(info.frames, format!("{} (detect)", job.name));
    let mut tracker = Tracker::new(params);
    let mut schedule = DetectEvery::new(args.detect_every);
    let mut count = 0;
    for frame in video::frames(&job.video, &info)? {
        let frame = frame?;
        let faces = pollster::block_on(detector.faces_in_video(&frame, &mut schedule))?;
        tracker.push_frame(&frame, &faces);
        count += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if count == 0 {
        bail!("the video has no frames");
    }
    let tracks = tracker.finish();
    if tracks.is_empty() {
        bail!("no face seen for {} frames in a row in {count} frames", args.min_track);
    }

    let detect_seconds = started.elapsed().as_secs_f64();

    // Pass 2: cut the crops into a staging folder, then move them into place.
    let started = std::time::Instant::now();
    let identity_dir = args.output.join(&job.identity);
    let (video_dir, staging, names) = match &job.utterance {
        None => {
            let name = free_name(&job.name, |n| {
                let dir = identity_dir.join(n);
                dir.exists() && !owned_by(&record_path(&dir, None), &job.video)
            });
            let names = (1..=tracks.len()).map(|k| format!("{k:05}")).collect::<Vec<_>>();
            (identity_dir.join(&name), identity_dir.join(format!(".{name}.partial")), names)
        }
        Some(utterance) => {
            let video_dir = identity_dir.join(&job.name);
            let base = free_name(utterance, |n| {
                let record = record_path(&video_dir, Some(n));
                (video_dir.join(n).exists() || record.exists()) && !owned_by(&record, &job.video)
            });
            let names = (1..=tracks.len()).map(|k| if k == 1 { base.clone() } else { format!("{base}-{k}") }).collect::<Vec<_>>();
            let staging = identity_dir.join(format!(".{}.{base}.partial", job.name));
            (video_dir, staging, names)
        }
    };
    let _ = std::fs::remove_dir_all(&staging);
    let written = match write_tracks(job, &info, &tracks, &names, args, &staging, count) {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let replace = |target: &Path| -> Result<()> {
        if target.exists() {
            std::fs::remove_dir_all(target).with_context(|| format!("cannot replace {}", target.display()))?;
        }
        Ok(())
    };
    match &job.utterance {
        None => {
            // Only this video's own earlier tracks are in the way (free_name saw to that).
            replace(&video_dir)?;
            std::fs::rename(&staging, &video_dir).with_context(|| format!("cannot move {} into place", video_dir.display()))?;
        }
        Some(_) => {
            std::fs::create_dir_all(&video_dir).with_context(|| format!("cannot create {}", video_dir.display()))?;
            let record = record_path(&video_dir, Some(&names[0]));
            // An earlier run on this file: its tracks go, whatever their number was.
            if let Ok(old) = std::fs::read_to_string(&record).map(|t| serde_json::from_str::<serde_json::Value>(&t).unwrap_or_default()) {
                for folder in old["tracks"].as_array().into_iter().flatten().filter_map(|t| t["folder"].as_str()) {
                    replace(&video_dir.join(folder_name(folder)))?;
                }
            }
            for name in &names {
                replace(&video_dir.join(name))?;
                std::fs::rename(staging.join(name), video_dir.join(name)).with_context(|| format!("cannot move {name} into {}", video_dir.display()))?;
            }
            std::fs::rename(staging.join("tracks.json"), &record).with_context(|| format!("cannot write {}", record.display()))?;
            let _ = std::fs::remove_dir_all(&staging);
        }
    }
    let place = video_dir.strip_prefix(&args.output).unwrap_or(&video_dir).display().to_string();
    let place = match &job.utterance {
        None => place,
        Some(_) => format!("{place}/{}", names.join(", ")),
    };
    Ok(Prepared { tracks: tracks.len(), crops: written, place, frames_read: count, detect_seconds, write_seconds: started.elapsed().as_secs_f64() })
}

fn write_jpeg(path: &Path, crop: &RgbFrame) -> Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 95)
        .encode(&crop.pixels, crop.width as u32, crop.height as u32, image::ExtendedColorType::Rgb8)
        .and_then(|()| std::io::Write::flush(&mut file).map_err(Into::into))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes track `k` into `dir/names[k]`, with `tracks.json` beside them.
fn write_tracks(job: &Job, info: &video::VideoInfo, tracks: &[Track], names: &[String], args: &PrepareArgs, dir: &Path, count: usize) -> Result<usize> {
    let geometry = CropGeometry { size: args.size, ..CropGeometry::default() };
    let smoothed: Vec<Vec<_>> = tracks.iter().map(|t| t.smoothed(args.smooth)).collect();
    for name in names {
        std::fs::create_dir_all(dir.join(name)).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let bar = progress(Some(count as u64), format!("{} (write)", job.name));
    // This thread decodes and crops; JPEG encoding, most of the pass, runs on every core beside it.
    let encoders = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (send, receive) = std::sync::mpsc::sync_channel::<(PathBuf, RgbFrame)>(4 * encoders);
    let receive = std::sync::Mutex::new(receive);
    let written = std::thread::scope(|scope| -> Result<usize> {
        let workers: Vec<_> = (0..encoders)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    // The lock is held only to take the next crop.
                    while let Ok((path, crop)) = { receive.lock().expect("no encoder panics").recv() } {
                        write_jpeg(&path, &crop)?;
                    }
                    Ok(())
                })
            })
            .collect();
        let mut written = 0;
        let cut = (|| -> Result<()> {
            for (i, frame) in video::frames(&job.video, info)?.enumerate() {
                let frame = frame?;
                for (k, track) in tracks.iter().enumerate() {
                    if !track.frames().contains(&i) {
                        continue;
                    }
                    let window = geometry.window(&smoothed[k][i - track.start]);
                    let path = dir.join(&names[k]).join(format!("frame{:05}.jpg", i + 1));
                    // The channel closes only when every encoder stopped on an error: theirs is reported.
                    if send.send((path, geometry.crop(&frame, &window))).is_err() {
                        return Ok(());
                    }
                    written += 1;
                }
                bar.inc(1);
            }
            Ok(())
        })();
        drop(send);
        for worker in workers {
            worker.join().expect("no encoder panics")?;
        }
        cut.map(|()| written)
    })?;
    bar.finish_and_clear();
    // Boxes and geometry beside the crops: what was cut from where, for anyone checking.
    let record = serde_json::json!({
        // Absolute, so that a later run can tell this video's tracks from another's.
        "video": job.video.canonicalize().unwrap_or_else(|_| job.video.clone()).display().to_string(),
        "geometry": geometry,
        "tracks": tracks.iter().zip(&smoothed).enumerate().map(|(k, (t, s))| serde_json::json!({
            "folder": names[k], "first_frame": t.start + 1, "frames": t.len(),
            "detected": t.detected.iter().filter(|d| **d).count(), "boxes": s,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(dir.join("tracks.json"), serde_json::to_string_pretty(&record)?).context("cannot write tracks.json")?;
    Ok(written)
}
