//! The `fabnet` binary end to end: import, embed (both weight formats), generate, and its
//! one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use safetensors::SafeTensors;

mod common;

fn parity(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/parity").join(name)
}

fn fabnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fabnet")).args(args).output().expect("fabnet runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fabnet-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The fixture's first target image, written as the 8-bit PNG it was quantised from.
fn fixture_png(fixture: &str, key: &str, path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(parity(&format!("{fixture}.safetensors"))).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let view = st.tensor(key).unwrap();
    let shape = view.shape().to_vec();
    let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let (h, w) = (shape[2], shape[3]);
    fabnet::image_io::from_chw(&values[..3 * h * w], 3, h, w).save(path).unwrap();
    let emb = st.tensor("embedding").unwrap();
    let dim = emb.shape()[1];
    emb.data().chunks_exact(4).take(dim).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

fn parse_line(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn assert_one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success(), "expected failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(needle), "expected '{needle}' in: {stderr}");
}

#[test]
fn import_then_embed_matches_pytorch_and_the_pth_directly() {
    let image = tmp("target.png");
    let expected = fixture_png("small_aligned", "target", &image);
    let weights = tmp("small.fabnet");
    let out = fabnet(&["import", parity("small_aligned.pth").to_str().unwrap(), "-o", weights.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut embeddings = vec![];
    for w in [weights.to_str().unwrap(), parity("small_aligned.pth").to_str().unwrap()] {
        let out = fabnet(&["embed", "--weights", w, image.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let line = parse_line(stdout.lines().next().unwrap());
        assert_eq!(line["image"], image.to_str().unwrap());
        assert_eq!(line["head"].as_array().unwrap().len(), 136, "the 68-landmark head is kept");
        let emb: Vec<f32> = line["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let diff = emb.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(diff < 1e-4, "embedding differs from PyTorch by {diff}");
        embeddings.push(emb);
    }
    assert_eq!(embeddings[0], embeddings[1]);
}

#[test]
fn embed_resizes_other_sizes_and_prints_a_line_per_image() {
    let small = tmp("small.png");
    image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 5, y as u8 * 7, 90])).save(&small).unwrap();
    let out = fabnet(&["embed", "--weights", parity("paper_depth.pth").to_str().unwrap(), small.to_str().unwrap(), small.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2);
    for line in stdout.lines() {
        assert_eq!(parse_line(line)["embedding"].as_array().unwrap().len(), 16);
    }
}

#[test]
fn generate_writes_fused_image_and_masks() {
    let target = tmp("gen_target.png");
    let source = tmp("gen_source.png");
    fixture_png("small_aligned", "target", &target);
    fixture_png("small_aligned", "source0", &source);
    let output = tmp("fused.png");
    let weights = parity("small_aligned.pth");
    let out = fabnet(&[
        "generate",
        "--weights",
        weights.to_str().unwrap(),
        "--target",
        target.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        source.to_str().unwrap(),
        source.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let fused = image::open(&output).unwrap();
    assert_eq!((fused.width(), fused.height()), (64, 64));
    for i in 0..2 {
        let mask = image::open(output.with_file_name(format!("fused_mask{i}.png"))).unwrap();
        assert_eq!(mask.width(), 64);
    }
}

#[test]
fn bad_inputs_give_one_clear_line() {
    let weights = parity("small_aligned.pth");
    let not_image = parity("make_fixtures.py");
    let out = fabnet(&["embed", "--weights", weights.to_str().unwrap(), not_image.to_str().unwrap()]);
    assert_one_line_error(&out, "not a readable image");

    let out = fabnet(&["embed", "--weights", "/nonexistent/w.fabnet", not_image.to_str().unwrap()]);
    assert_one_line_error(&out, "cannot read");

    let out = fabnet(&["embed", "--weights", not_image.to_str().unwrap(), not_image.to_str().unwrap()]);
    assert_one_line_error(&out, "not a FAb-Net weights file");

    let out = fabnet(&["import", parity("bad_wrong_shapes.pth").to_str().unwrap(), "-o", tmp("x.fabnet").to_str().unwrap()]);
    assert_one_line_error(&out, "does not match");

    let out = fabnet(&["import", parity("bad_not_fabnet.pth").to_str().unwrap(), "-o", tmp("y.fabnet").to_str().unwrap()]);
    assert_one_line_error(&out, "not of FAb-Net");

    let out = fabnet(&["bench", "--preset", "huge"]);
    assert_one_line_error(&out, "unknown preset");

    let out = fabnet(&["embed", "--backend", "tpu", "--weights", weights.to_str().unwrap(), not_image.to_str().unwrap()]);
    assert_one_line_error(&out, "not available");
}

#[test]
fn bench_measures_every_row_on_a_real_face() {
    // The benchmark the app's Speed panel runs, on a carphone frame: one line of JSON.
    let frame = common::data_dir().join("carphone/frame00030.png");
    assert!(frame.exists(), "{} missing: run tests/data/fetch.sh", frame.display());
    let out = fabnet(&[
        "bench",
        "--preset",
        "tiny",
        "--encoder-batch",
        "2",
        "--train-batch",
        "2",
        "--views",
        "2",
        "--steps",
        "1",
        "--frame",
        frame.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = parse_line(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(report["backend"], "flex");
    assert_eq!((report["train_batch"].as_u64(), report["source_views"].as_u64()), (Some(2), Some(2)));
    let detector = &report["detector"];
    assert_eq!(detector["faces"].as_u64(), Some(1), "the man in carphone: {report}");
    for key in ["detect_ms", "live_detect_ms", "follow_ms", "embed_ms", "webcam_frame_ms"] {
        assert!(detector[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {report}");
    }
    for key in ["encoder_images_per_s", "train_step_s", "train_first_ms"] {
        assert!(report[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {report}");
    }

    let out = fabnet(&["bench", "--preset", "tiny", "--steps", "1000"]);
    assert_one_line_error(&out, "at most 100 repetitions");
}

#[test]
fn embed_writes_the_embedding_projectors_files() {
    // Six real carphone frames with the app's default weights (64 px, 64-d).
    let frames: Vec<PathBuf> = (1..=6).map(|i| common::data_dir().join(format!("carphone/frame{:05}.png", i * 10))).collect();
    let weights = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../public/weights/default.fabnet");
    let dir = tmp("projector");
    let mut args = vec!["embed", "--weights", weights.to_str().unwrap(), "--projector", dir.to_str().unwrap()];
    args.extend(frames.iter().map(|p| p.to_str().unwrap()));
    let out = fabnet(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Vec<Vec<f64>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| parse_line(l)["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
        .collect();

    // The TSV holds what `embed` printed, a row per face.
    let tensors = std::fs::read_to_string(dir.join("tensors.tsv")).unwrap();
    let rows: Vec<Vec<f64>> = tensors.lines().map(|l| l.split('\t').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 6);
    for (row, line) in rows.iter().zip(&printed) {
        assert_eq!(row.len(), 64);
        assert!(row.iter().zip(line).all(|(a, b)| (a - b).abs() < 1e-6));
    }
    let metadata = std::fs::read_to_string(dir.join("metadata.tsv")).unwrap();
    let meta: Vec<&str> = metadata.lines().collect();
    assert_eq!(meta[0], "image\tclip\ttrack\tframe");
    assert_eq!(meta.len(), 7);
    assert!(meta[1].ends_with("\tcarphone\tframe00010"), "the folders name the track and the file the frame: {}", meta[1]);

    // Six faces: a 3 x 3 grid of 64 px tiles, the first six filled with a face, the rest black.
    let sprite = image::open(dir.join("sprite.png")).unwrap().to_rgb8();
    assert_eq!(sprite.dimensions(), (192, 192));
    let tile_mean = |k: u32| {
        let (x0, y0) = ((k % 3) * 64, (k / 3) * 64);
        let sum: u64 =
            (0..64).flat_map(|y| (0..64).map(move |x| (x, y))).map(|(x, y)| sprite.get_pixel(x0 + x, y0 + y).0.iter().map(|&v| v as u64).sum::<u64>()).sum();
        sum as f64 / (64.0 * 64.0 * 3.0)
    };
    assert!((0..6).all(|k| tile_mean(k) > 20.0), "every face is drawn");
    assert!((6..9).all(|k| tile_mean(k) == 0.0), "empty cells stay black");

    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("projector_config.json")).unwrap()).unwrap();
    let embedding = &config["embeddings"][0];
    assert_eq!(embedding["tensorShape"], serde_json::json!([6, 64]));
    assert_eq!(embedding["sprite"]["singleImageDim"], serde_json::json!([64, 64]));
    let pbtxt = std::fs::read_to_string(dir.join("projector_config.pbtxt")).unwrap();
    assert!(pbtxt.contains("tensor_path: \"tensors.tsv\"") && pbtxt.contains("image_path: \"sprite.png\""), "{pbtxt}");
}

#[test]
fn embed_lays_out_two_clips_apart_with_tsne_and_umap() {
    // Twelve frames each of two real clips, in the face-track layout CLIP/TRACK/frame.png.
    let root = tmp("projection");
    let mut images = Vec::new();
    for (clip, step) in [("carphone", 10), ("bigbuckbunny", 1)] {
        let track = root.join(clip).join("00001");
        std::fs::create_dir_all(&track).unwrap();
        for i in 1..=12 {
            let name = format!("frame{:05}.png", i * step);
            let link = track.join(&name);
            if !link.exists() {
                std::os::unix::fs::symlink(common::data_dir().join(clip).join(&name), &link).unwrap();
            }
            images.push(link);
        }
    }
    let weights = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../public/weights/default.fabnet");
    for method in ["tsne", "umap", "pca"] {
        let prefix = root.join(format!("layout-{method}"));
        let mut args = vec!["embed", "--weights", weights.to_str().unwrap(), "--projection", method, "--projection-out", prefix.to_str().unwrap()];
        args.extend(images.iter().map(|p| p.to_str().unwrap()));
        let out = fabnet(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let csv = std::fs::read_to_string(prefix.with_extension("csv")).unwrap();
        let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
        assert_eq!(csv.lines().next(), Some("image,clip,track,frame,x,y"));
        assert_eq!(rows.len(), 24, "{method}: a row per face");
        assert!(rows[..12].iter().all(|r| r[1] == "carphone") && rows[12..].iter().all(|r| r[1] == "bigbuckbunny"));
        let xy: Vec<[f32; 2]> = rows.iter().map(|r| [r[4].parse().unwrap(), r[5].parse().unwrap()]).collect();
        assert!(xy.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
        // The measure the command prints, checked here on the table: each face's 5 nearest in the
        // plane, the share of its own clip, against the 11/23 of a layout at random.
        let labels: Vec<usize> = (0..24).map(|i| i / 12).collect();
        let agreement = fabnet::layout::neighbour_agreement(&xy, &labels, 5);
        assert!(agreement > 0.9, "{method}: {agreement:.3} of the nearest faces share the clip (chance 0.478)");
        assert!(stderr.contains("nearest in the plane") && stderr.contains("(chance 48%)"), "{stderr}");
        let svg = std::fs::read_to_string(prefix.with_extension("svg")).unwrap();
        assert_eq!(svg.matches("<circle").count(), 24 + 2, "{method}: a dot per face and a legend entry per clip");
        assert!(svg.contains(">carphone</text>") && svg.contains(">bigbuckbunny</text>"));
    }
    // `fabnet layout` on the projector's files of the same faces gives the same UMAP table.
    let dir = root.join("projector");
    let mut args = vec!["embed", "--weights", weights.to_str().unwrap(), "--projector", dir.to_str().unwrap()];
    args.extend(images.iter().map(|p| p.to_str().unwrap()));
    assert!(fabnet(&args).status.success());
    let again = root.join("again-umap");
    let out = fabnet(&[
        "layout",
        dir.join("tensors.tsv").to_str().unwrap(),
        "--metadata",
        dir.join("metadata.tsv").to_str().unwrap(),
        "--projection",
        "umap",
        "--projection-out",
        again.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = |p: &Path| std::fs::read_to_string(p.with_extension("csv")).unwrap();
    assert_eq!(table(&again), table(&root.join("layout-umap")), "the same faces, the same layout");
    let bad = root.join("bad.tsv");
    std::fs::write(&bad, "0.5\t0.25\nnot\ta number\n").unwrap();
    let out = fabnet(&["layout", bad.to_str().unwrap(), "--projection", "pca"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("bad.tsv line 2: not numbers"), "{}", String::from_utf8_lossy(&out.stderr));

    // One face cannot be laid out: refused with the reason.
    let one = fabnet(&[
        "embed",
        "--weights",
        weights.to_str().unwrap(),
        "--projection",
        "umap",
        "--projection-out",
        root.join("one").to_str().unwrap(),
        images[0].to_str().unwrap(),
    ]);
    assert!(!one.status.success());
    assert!(String::from_utf8_lossy(&one.stderr).contains("a UMAP layout needs at least 4 points, there are 1"), "{}", String::from_utf8_lossy(&one.stderr));
}

#[test]
fn project_prints_what_it_holds_and_exports_tracks_weights_and_tags() {
    use fabnet::probe::{Attribute, TeachReport};
    use fabnet::project::{Crop, Project, ProjectClip, ProjectTrack, Tag, TaughtAttribute};

    let model = fabnet::FabNet::new(fabnet::FabNetConfig::preset("tiny").unwrap(), &fabnet::burn::tensor::Device::flex()).unwrap();
    let weights = fabnet::weights::to_bytes(&model, &fabnet::weights::WeightsInfo::for_model(&model, "cli test")).unwrap();
    let crop = |seed: usize| Crop { width: 7, height: 5, pixels: (0..7 * 5 * 3).map(|i| (i * 11 + seed * 37) as u8).collect() };
    let track = |frames: std::ops::Range<usize>| {
        let frame_index: Vec<usize> = frames.collect();
        ProjectTrack { crops: frame_index.iter().map(|&f| crop(f)).collect(), frame_index, embeddings: vec![], weights: None, manual: false }
    };
    // Two clips of the same name, told apart by their ids; one name with characters a folder
    // name should not have.
    let clips = vec![
        ProjectClip { id: 4, name: "Ann Lee".into(), frames: 30, fps: 10.0, first_frame: None, tracks: vec![track(0..5), track(12..15)] },
        ProjectClip { id: 9, name: "Ann Lee".into(), frames: 30, fps: 10.0, first_frame: None, tracks: vec![track(3..7)] },
        ProjectClip { id: 2, name: "bob/at home".into(), frames: 1, fps: 10.0, first_frame: None, tracks: vec![track(0..1)] },
    ];
    let mood = TaughtAttribute {
        attribute: Attribute { name: "mood".into(), classes: vec!["smiling".into(), "neutral".into()] },
        tags: vec![
            Tag { clip: 4, track: 1, frame: 13, target: vec![0.0] },
            Tag { clip: 9, track: 0, frame: 3, target: vec![1.0] },
            Tag { clip: 2, track: 0, frame: 0, target: vec![1.0] },
        ],
        report: Some(TeachReport { metric: "accuracy".into(), score: 0.9, baseline: 0.6, folds: 3, examples: 3 }),
    };
    let age = TaughtAttribute {
        attribute: Attribute { name: "age".into(), classes: vec![] },
        tags: vec![Tag { clip: 4, track: 0, frame: 2, target: vec![41.5] }],
        report: None,
    };
    let project = Project { weights: weights.clone(), clips, attributes: vec![mood, age], active_attribute: Some(0), train_settings: "{}".into() };
    let bytes = project.to_bytes().unwrap();

    let root = tmp("project");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let file = root.join("faces.fabnetproj");
    std::fs::write(&file, &bytes).unwrap();
    let (tracks, weights_out, labels) = (root.join("tracks"), root.join("out.fabnet"), root.join("tags.csv"));
    let args = [
        "project",
        file.to_str().unwrap(),
        "--tracks",
        tracks.to_str().unwrap(),
        "--weights",
        weights_out.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
    ];
    let out = fabnet(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "3 clips, 4 tracks, 13 faces",
        "'Ann Lee' (id 4)",
        "'bob/at home' (id 2)",
        "32 px faces, 32-d embedding",
        "cli test",
        "'mood' (active): classes smiling, neutral; 3 tags (smiling 1, neutral 2)",
        "accuracy 90%",
        "'age': a number; 1 tag\n",
        "'bob/at home' (id 2): 1 frame, 1 track, 1 face; not embedded",
    ] {
        assert!(summary.contains(needle), "expected '{needle}' in:\n{summary}");
    }

    // The face-track layout `fabnet train` reads: a track per track, a frame per crop.
    let scanned = fabnet::data::FaceTracks::scan(&tracks, 1).unwrap();
    let found: Vec<(String, usize)> = scanned.tracks.iter().map(|t| (t.path.strip_prefix(&tracks).unwrap().display().to_string(), t.frames.len())).collect();
    let expected = [("Ann_Lee-4/clip4/track00", 5), ("Ann_Lee-4/clip4/track01", 3), ("Ann_Lee-9/clip9/track00", 4), ("bob_at_home/clip2/track00", 1)];
    assert_eq!(found, expected.map(|(p, n)| (p.to_string(), n)));
    let png = image::open(tracks.join("Ann_Lee-4/clip4/track01/000013.png")).unwrap().to_rgb8();
    assert_eq!((png.width(), png.height()), (7, 5));
    assert_eq!(png.into_raw(), crop(13).pixels, "the crop's pixels, unchanged");
    assert_eq!(std::fs::read(&weights_out).unwrap(), weights);

    let csv = std::fs::read_to_string(&labels).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "attribute,clip_id,clip,track,frame,label,path");
    assert_eq!(rows.len(), 1 + 4, "a row per tag:\n{csv}");
    assert_eq!(rows[1], "mood,4,Ann Lee,1,13,smiling,Ann_Lee-4/clip4/track01/000013.png");
    assert_eq!(rows[4], "age,4,Ann Lee,0,2,41.5,Ann_Lee-4/clip4/track00/000002.png");
    assert!(tracks.join(rows[3].rsplit(',').next().unwrap()).exists(), "the path names the exported frame: {}", rows[3]);

    // Nothing is overwritten: the same command again is refused before it writes anything.
    let again = fabnet(&args);
    assert_one_line_error(&again, "already exists: give a new file name");
    let out = fabnet(&["project", file.to_str().unwrap(), "--tracks", tracks.to_str().unwrap()]);
    assert_one_line_error(&out, "is not empty");
    // Outputs that would clash are refused before anything is written.
    let (fresh, same) = (root.join("fresh-tracks"), root.join("same.out"));
    let both = fabnet(&["project", file.to_str().unwrap(), "--weights", same.to_str().unwrap(), "--labels", same.to_str().unwrap()]);
    assert_one_line_error(&both, "both name");
    let inside = fresh.join("labels.csv");
    let out = fabnet(&["project", file.to_str().unwrap(), "--tracks", fresh.to_str().unwrap(), "--labels", inside.to_str().unwrap()]);
    assert_one_line_error(&out, "is inside the tracks folder");
    assert!(!same.exists() && !fresh.exists(), "a refused command wrote nothing");

    // One changed byte, and the file is refused as damaged.
    let mut damaged = bytes;
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x01;
    let bad = root.join("damaged.fabnetproj");
    std::fs::write(&bad, &damaged).unwrap();
    assert_one_line_error(&fabnet(&["project", bad.to_str().unwrap()]), "the project file is damaged");
    assert_one_line_error(&fabnet(&["project", weights_out.to_str().unwrap()]), "this is a weights file, not a project");
}
