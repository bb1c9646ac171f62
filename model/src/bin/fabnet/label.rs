//! `fabnet label`: probe labels for face tracks, made by the MTCNN detector built into the
//! binary, so that anyone can measure what an embedding encodes on their own clips. Each frame
//! is written as the network's view of it (the paper's centre crop, as training sees it) with
//! five landmarks and a head pose found in that view, and split two ways:
//!
//! - `temporal/`: the start of every track trains the probe, its end tests it; `temporal/tracks`
//!   holds the frames of the start only, so that a network fine-tuned there (`fabnet train
//!   --data OUT/temporal/tracks`) never sees a test frame;
//! - `cross-clip/` (two or more videos): whole videos held out.
//!
//! Landmarks are in MAFL's format (CelebA's list + split lists), pose in `fabnet eval`'s CSV:
//!
//! ```text
//! fabnet eval --weights W --format mafl --landmarks OUT/landmarks.txt --images OUT/images \
//!     --train OUT/temporal/training.txt --test OUT/temporal/testing.txt --baselines
//! fabnet eval --weights W --format csv --train OUT/temporal/pose_train.csv --test OUT/temporal/pose_test.csv --baselines
//! ```

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use fabnet::data::{CropJitter, FaceTracks};
use fabnet::face::{Detection, HeadPose};

#[derive(clap::Args, Debug)]
pub struct LabelArgs {
    /// Face tracks: IDENTITY/VIDEO/TRACK/*.jpg (what `fabnet prepare` writes).
    pub tracks: PathBuf,
    /// Output folder: new, empty, or one an earlier `fabnet label` wrote (then replaced).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Share of each track, at its end, that tests the probe in the temporal split; also the
    /// share of videos held out in the cross-clip split.
    #[arg(long, default_value_t = 0.3)]
    pub test_fraction: f64,
    /// Side of the written views, in pixels (256: every preset sees real pixels).
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Detector weights (default: the ones built into this binary).
    #[arg(long)]
    pub detector: Option<PathBuf>,
    #[arg(long, default_value = "flex")]
    pub backend: String,
}

/// One labelled frame.
struct Labelled {
    /// Path under `images/`, with `/` separators.
    name: String,
    /// `IDENTITY/VIDEO`: what the cross-clip split holds out.
    video: String,
    /// Whether it is in the end of its track (the temporal split's test part).
    late: bool,
    landmarks: [[f32; 2]; 5],
    pose: HeadPose,
}

pub fn run(args: &LabelArgs) -> Result<()> {
    if !(args.test_fraction > 0.0 && args.test_fraction < 1.0) {
        bail!("--test-fraction must be between 0 and 1, got {}", args.test_fraction);
    }
    if args.size < 32 {
        bail!("--size must be at least 32 pixels, got {}", args.size);
    }
    let tracks = FaceTracks::scan(&args.tracks, 2)?;
    let device = crate::device(&args.backend)?;
    let detector = crate::faces::detector(args.detector.as_deref(), &device)?;
    let images = args.out.join("images");
    // Labels of an earlier run must not mix with these; anything else is not ours to delete.
    let foreign = std::fs::read_dir(&args.out).is_ok_and(|mut d| d.next().is_some()) && !args.out.join("landmarks.txt").exists();
    if foreign {
        bail!("{} holds files that `fabnet label` did not write; choose an empty or new --out", args.out.display());
    }
    for old in ["images", "temporal", "cross-clip"] {
        let _ = std::fs::remove_dir_all(args.out.join(old));
    }
    let (mut labelled, mut faceless) = (Vec::new(), 0usize);
    for track in &tracks.tracks {
        let relative = track.path.strip_prefix(&args.tracks).unwrap_or(&track.path);
        let folder = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/");
        let video = folder.rsplit_once('/').map_or(folder.as_str(), |(v, _)| v).to_string();
        std::fs::create_dir_all(images.join(relative)).with_context(|| format!("cannot create {}", images.join(relative).display()))?;
        let first_late = track.frames.len() - ((track.frames.len() as f64 * args.test_fraction).round() as usize).clamp(1, track.frames.len() - 1);
        for (i, path) in track.frames.iter().enumerate() {
            let Ok(frame) = crate::faces::load_frame(path) else {
                eprintln!("skipped {}: not a readable image", path.display());
                continue;
            };
            let view = CropJitter::CENTRE.apply_rgb(&frame, args.size);
            let faces = pollster::block_on(detector.detect(&view))?;
            if i < first_late {
                let copy = args.out.join("temporal/tracks").join(relative);
                std::fs::create_dir_all(&copy)?;
                std::fs::copy(path, copy.join(path.file_name().expect("a frame file has a name")))
                    .with_context(|| format!("cannot copy {} to {}", path.display(), copy.display()))?;
            }
            let Some(face) = Detection::most_confident(&faces) else {
                faceless += 1;
                continue;
            };
            let Some(pose) = HeadPose::from_landmarks(&face.landmarks) else { continue };
            let stem = path.file_stem().map_or_else(|| format!("frame{i:05}"), |s| s.to_string_lossy().into_owned());
            let name = format!("{folder}/{stem}.png");
            image::RgbImage::from_raw(view.width as u32, view.height as u32, view.pixels)
                .expect("an RGB frame's bytes")
                .save(images.join(&name))
                .with_context(|| format!("cannot write {}", images.join(&name).display()))?;
            labelled.push(Labelled { name, video: video.clone(), late: i >= first_late, landmarks: face.landmarks, pose });
        }
    }
    if labelled.len() < 4 {
        bail!("only {} frames had a face the detector could label; a probe needs more", labelled.len());
    }
    write_landmarks(&args.out.join("landmarks.txt"), &labelled)?;
    let temporal: Vec<bool> = labelled.iter().map(|l| l.late).collect();
    write_split(&args.out.join("temporal"), &labelled, &temporal)?;
    let videos: BTreeSet<&str> = labelled.iter().map(|l| l.video.as_str()).collect();
    let mut splits = vec![format!("temporal ({} train, {} test)", temporal.iter().filter(|t| !**t).count(), temporal.iter().filter(|t| **t).count())];
    if videos.len() >= 2 {
        let videos: Vec<&str> = videos.into_iter().collect();
        let held = ((videos.len() as f64 * args.test_fraction).round() as usize).clamp(1, videos.len() - 1);
        let test_videos = &videos[videos.len() - held..];
        let cross: Vec<bool> = labelled.iter().map(|l| test_videos.contains(&l.video.as_str())).collect();
        write_split(&args.out.join("cross-clip"), &labelled, &cross)?;
        splits.push(format!("cross-clip (test videos: {})", test_videos.join(", ")));
    }
    eprintln!(
        "labelled {} frames of {} tracks ({} without a face skipped); splits: {}; wrote {}",
        labelled.len(),
        tracks.tracks.len(),
        faceless,
        splits.join("; "),
        args.out.display()
    );
    Ok(())
}

/// CelebA's landmark list: the count, the header, then `name x1 y1 ... x5 y5`.
fn write_landmarks(path: &Path, labelled: &[Labelled]) -> Result<()> {
    let mut text = format!("{}\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y\n", labelled.len());
    for l in labelled {
        text.push_str(&l.name);
        for [x, y] in l.landmarks {
            write!(text, " {x:.2} {y:.2}")?;
        }
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// MAFL-style split lists and the pose CSVs of one split (`test[i]`: frame `i` tests).
fn write_split(dir: &Path, labelled: &[Labelled], test: &[bool]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (is_test, list, csv) in [(false, "training.txt", "pose_train.csv"), (true, "testing.txt", "pose_test.csv")] {
        let rows: Vec<&Labelled> = labelled.iter().zip(test).filter(|(_, t)| **t == is_test).map(|(l, _)| l).collect();
        let names: String = rows.iter().map(|l| format!("{}\n", l.name)).collect();
        std::fs::write(dir.join(list), names)?;
        let mut pose = String::from("image,roll,yaw,pitch\n");
        for l in rows {
            writeln!(pose, "../images/{},{:.3},{:.3},{:.3}", l.name, l.pose.roll, l.pose.yaw, l.pose.pitch)?;
        }
        std::fs::write(dir.join(csv), pose)?;
    }
    Ok(())
}
