//! `fabnet train` end to end on a face-track dataset that `fabnet prepare` makes from the real
//! carphone clip (needs ffmpeg and tests/data/fetch.sh's media).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn fabnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fabnet")).args(args).output().expect("fabnet runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fabnet-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The carphone clip prepared once: carphone/carphone/00001/frame00001..120.jpg.
fn dataset() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let home = common::data_dir();
        let out = scratch("dataset");
        let run =
            fabnet(&["prepare", home.join("carphone_pristine.mp4").to_str().unwrap(), "--identity", "carphone", "--size", "96", "-o", out.to_str().unwrap()]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        out
    })
}

/// A copy of the dataset that a test may damage.
fn dataset_copy(name: &str) -> PathBuf {
    let dst = scratch(name).join("data");
    let copy = Command::new("cp").args(["-r", dataset().to_str().unwrap(), dst.to_str().unwrap()]).status().unwrap();
    assert!(copy.success());
    dst
}

struct MetricRow {
    kind: String,
    step: u64,
    loss: f64,
    window_min: f64,
    bad_frames: usize,
}

fn metrics(run: &Path) -> Vec<MetricRow> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            MetricRow {
                kind: f[0].into(),
                step: f[2].parse().unwrap(),
                loss: f[3].parse().unwrap(),
                window_min: f[4].parse().unwrap(),
                bad_frames: f[8].parse().unwrap(),
            }
        })
        .collect()
}

/// Small, quick settings unless the test says otherwise.
fn train_args(data: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let defaults = [("--preset", "tiny"), ("--batch", "6"), ("--views", "2"), ("--val-batches", "2"), ("--workers", "2"), ("--image-every", "0")];
    let mut args: Vec<String> = vec!["train".into(), "--data".into(), data.display().to_string(), "-o".into(), out.display().to_string()];
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn train(data: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fabnet")).args(train_args(data, out, extra)).output().expect("fabnet runs")
}

fn assert_ok(run: &Output) {
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
}

#[test]
fn the_loss_falls_over_a_few_epochs_and_the_run_leaves_its_files() {
    let out = scratch("falls").join("run");
    let run = train(
        dataset(),
        &out,
        &[
            "--preset",
            "small",
            "--batch",
            "8",
            "--val-batches",
            "4",
            "--epochs",
            "8",
            "--stage1-epochs",
            "8",
            "--steps-per-epoch",
            "10",
            "--optimizer",
            "adam",
            // With the paper's crop side drawn once per epoch, 80 steps at 2e-4 do not yet bring
            // the validation L1 below its first value on this clip (the per-view jitter this
            // test once had did); at 1e-3 they do.
            "--lr",
            "0.001",
            "--image-every",
            "30",
        ],
    );
    assert_ok(&run);
    let rows = metrics(&out);
    let epoch_mean = |e: usize| {
        let l: Vec<f64> = rows.iter().filter(|r| r.kind == "train").skip(e * 10).take(10).map(|r| r.loss).collect();
        l.iter().sum::<f64>() / l.len() as f64
    };
    let (first, last) = (epoch_mean(0), epoch_mean(7));
    assert!(last < first * 0.8, "training L1 did not fall: {first} -> {last}");
    let val: Vec<f64> = rows.iter().filter(|r| r.kind == "val").map(|r| r.loss).collect();
    assert_eq!(val.len(), 8);
    assert!(val[7] < val[0], "validation L1 did not fall: {val:?}");
    for file in ["final.fabnet", "best.fabnet", "config.json", "metrics.jsonl", "checkpoint/state.json", "checkpoint/optimizer.bpk", "images/step0000030.png"] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    assert_tensorboard_matches_csv(&out, &rows);
    // The trained weights are the project's format: `fabnet embed` reads them.
    let frame = dataset().join("carphone/carphone_pristine/00001/frame00001.jpg");
    let embed = fabnet(&["embed", "--weights", out.join("final.fabnet").to_str().unwrap(), frame.to_str().unwrap()]);
    assert_ok(&embed);
}

/// The training losses TensorBoard shows for a run: every event file in name order, where a
/// restart marker at step N drops what was read for steps N and later (as TensorBoard does).
fn tensorboard_losses(run: &Path) -> Vec<(i64, f32)> {
    use fabnet::tensorboard::{Data, SESSION_START, What, read_events};
    let mut files: Vec<_> = std::fs::read_dir(run).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_str().unwrap().contains("tfevents")).collect();
    files.sort();
    let mut losses: Vec<(i64, f32)> = Vec::new();
    for file in files {
        for event in read_events(&std::fs::read(&file).unwrap()).unwrap() {
            match event.what {
                Some(What::SessionLog(log)) if log.status == SESSION_START => losses.retain(|(step, _)| *step < event.step),
                Some(What::Summary(summary)) => losses.extend(summary.value.iter().filter(|v| v.tag == "train/loss").filter_map(|v| match v.data {
                    Some(Data::SimpleValue(x)) => Some((event.step, x)),
                    _ => None,
                })),
                _ => {}
            }
        }
    }
    losses
}

/// The run's TensorBoard event file holds the CSV's losses at the same steps, and the image grid.
fn assert_tensorboard_matches_csv(out: &Path, rows: &[MetricRow]) {
    use fabnet::tensorboard::{Data, What, read_events};
    let files: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("events.out.tfevents."))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let events = read_events(&std::fs::read(&files[0]).unwrap()).unwrap();
    let (mut losses, mut images) = (Vec::new(), Vec::new());
    for event in &events[1..] {
        let Some(What::Summary(summary)) = &event.what else { panic!("not a summary: {:?}", event.what) };
        for value in &summary.value {
            match (&value.data, value.tag.as_str()) {
                (Some(Data::SimpleValue(v)), "train/loss") => losses.push(("train", event.step as u64, *v)),
                (Some(Data::SimpleValue(v)), "val/loss") => losses.push(("val", event.step as u64, *v)),
                (Some(Data::Image(image)), _) => images.push((event.step, image.encoded_image_string.clone())),
                _ => {}
            }
        }
    }
    assert_eq!(losses.len(), rows.len());
    for ((kind, step, loss), row) in losses.iter().zip(rows) {
        assert_eq!((*kind, *step), (row.kind.as_str(), row.step));
        assert!((*loss as f64 - row.loss).abs() <= 1e-6 * row.loss.abs(), "step {step}: {loss} in TensorBoard, {} in the CSV", row.loss);
    }
    assert_eq!(images.len(), 2, "one grid every 30 steps of 80");
    assert_eq!(images[0], (30, std::fs::read(out.join("images/step0000030.png")).unwrap()));
}

#[test]
fn the_window_moves_when_validation_plateaus() {
    // With a zero learning rate the weights stay put and validation barely moves (only the
    // BatchNorm statistics drift), so with patience 1 plateaus come quickly. The logged
    // windows must be exactly what the plateau rule makes of the logged validation losses.
    use fabnet::curriculum::{Curriculum, CurriculumConfig};
    let out = scratch("plateau").join("run");
    assert_ok(&train(dataset(), &out, &["--epochs", "8", "--steps-per-epoch", "2", "--lr", "0", "--patience", "1"]));
    let val: Vec<MetricRow> = metrics(&out).into_iter().filter(|r| r.kind == "val").collect();
    let mut rule = Curriculum::new(CurriculumConfig { patience: 1, ..CurriculumConfig::default() });
    for (epoch, row) in val.iter().enumerate() {
        rule.observe(epoch as u32, row.loss);
        assert!((row.window_min - rule.window.min).abs() < 1e-12, "epoch {epoch}: window starts at {}, the rule says {}", row.window_min, rule.window.min);
    }
    assert!(val.last().unwrap().window_min >= 0.1, "the window never moved: {:?}", val.iter().map(|r| r.loss).collect::<Vec<_>>());
}

#[test]
fn stopped_or_killed_runs_resume_exactly() {
    let data = dataset();
    let base = scratch("resume");
    let common = ["--epochs", "3", "--steps-per-epoch", "4", "--patience", "0"];

    // Reference: one uninterrupted run.
    let whole = base.join("whole");
    assert_ok(&train(data, &whole, &common));

    // Interrupted with SIGINT once training is under way, then resumed.
    let parted = base.join("parted");
    let args = train_args(data, &parted, &common);
    let child = Command::new(env!("CARGO_BIN_EXE_fabnet")).args(&args).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while !parted.join("metrics.csv").exists() || metrics(&parted).len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(120), "training never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.contains("stopped at step"), "{stderr}");
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(parted.join("checkpoint/state.json")).unwrap()).unwrap();
    let stopped_at = state["step"].as_u64().unwrap();
    assert!(stopped_at < 12, "stopped before the end (step {stopped_at})");
    assert_eq!(metrics(&parted).iter().filter(|r| r.kind == "train").count() as u64, stopped_at);

    let resume = |run: &Path, extra: &[&str]| {
        let mut args = vec!["train", "--data", data.to_str().unwrap(), "-o", run.to_str().unwrap(), "--resume", "--epochs", "3"];
        args.extend(extra);
        assert_ok(&fabnet(&args));
    };
    resume(&parted, &[]);

    // A hard kill between checkpoints leaves logs that ran ahead of the checkpoint. Made exactly:
    // pause at step 4, keep that checkpoint aside, train two more steps, put it back.
    let killed = base.join("killed");
    assert_ok(&train(data, &killed, &[&common[..], &["--max-steps", "4"]].concat()));
    let saved = base.join("saved-checkpoint");
    assert!(Command::new("cp").args(["-r", killed.join("checkpoint").to_str().unwrap(), saved.to_str().unwrap()]).status().unwrap().success());
    resume(&killed, &["--max-steps", "2"]);
    assert_eq!(metrics(&killed).last().map(|r| r.step), Some(6));
    std::fs::remove_dir_all(killed.join("checkpoint")).unwrap();
    std::fs::rename(&saved, killed.join("checkpoint")).unwrap();
    resume(&killed, &[]);

    // The same steps (each once) with the same losses, the same curriculum, the same final weights.
    let state = |run: &Path| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(run.join("checkpoint/state.json")).unwrap()).unwrap() };
    for run in [&parted, &killed] {
        let (a, b) = (metrics(&whole), metrics(run));
        assert_eq!(a.len(), b.len(), "{}", run.display());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((&x.kind, x.step, x.window_min), (&y.kind, y.step, y.window_min));
            assert!((x.loss - y.loss).abs() <= 1e-6 * x.loss.abs().max(1.0), "step {}: {} vs {}", x.step, x.loss, y.loss);
        }
        assert_eq!(state(&whole)["curriculum"], state(run)["curriculum"]);
    }
    // TensorBoard, reading the killed run's three event files in name order and honouring the
    // restart markers, shows each training loss once.
    let losses = |run: &Path| tensorboard_losses(run);
    let (a, b) = (losses(&whole), losses(&killed));
    assert_eq!(a.iter().map(|p| p.0).collect::<Vec<_>>(), b.iter().map(|p| p.0).collect::<Vec<_>>());
    assert!(a.iter().zip(&b).all(|(x, y)| (x.1 - y.1).abs() <= 1e-6 * x.1.abs()), "{a:?} vs {b:?}");
    let embed = |run: &Path| {
        let frame = data.join("carphone/carphone_pristine/00001/frame00010.jpg");
        let out = fabnet(&["embed", "--weights", run.join("final.fabnet").to_str().unwrap(), frame.to_str().unwrap()]);
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        line["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>()
    };
    let (ea, eb) = (embed(&whole), embed(&parted));
    let diff = ea.iter().zip(&eb).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(diff <= 1e-5, "final embeddings differ by {diff}");
}

#[test]
fn a_longer_resume_keeps_the_stage_boundary_where_the_run_began() {
    let out = scratch("stage-boundary");
    let state = || -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(out.join("checkpoint/state.json")).unwrap()).unwrap() };
    // Four epochs of two steps: stage 2 from epoch 2; pause in it after five steps.
    assert_ok(&train(dataset(), &out, &["--epochs", "4", "--steps-per-epoch", "2", "--max-steps", "5"]));
    assert_eq!((state()["epoch"].as_u64(), state()["stage"].as_str()), (Some(2), Some("FrozenFlow")));
    // Ten epochs now: half of ten would put the boundary at 5, back in stage 1. It stays at 2.
    let run = fabnet(&["train", "--data", dataset().to_str().unwrap(), "-o", out.to_str().unwrap(), "--resume", "--epochs", "10", "--max-steps", "2"]);
    assert_ok(&run);
    assert!(!String::from_utf8_lossy(&run.stderr).contains("stage 2"), "no stage change on resume");
    let boundary = state()["settings"]["stages"]["second_from"].as_u64();
    assert_eq!((state()["epoch"].as_u64(), state()["stage"].as_str(), boundary), (Some(3), Some("FrozenFlow"), Some(2)));
}

#[test]
fn a_kill_in_the_middle_of_a_checkpoint_swap_resumes_from_the_complete_one() {
    let out = scratch("swap-kill");
    let args = train_args(dataset(), &out, &["--epochs", "3", "--steps-per-epoch", "2", "--checkpoint-every", "1"]);
    // Every swap pauses between its two renames; the kill lands in the second one, when the
    // first checkpoint has stepped aside and the second is not yet in place.
    let child =
        Command::new(env!("CARGO_BIN_EXE_fabnet")).args(&args).env("FABNET_TEST_CHECKPOINT_SWAP_PAUSE_MS", "3000").stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while !out.join("checkpoint.old/state.json").exists() {
        assert!(start.elapsed() < Duration::from_secs(300), "no checkpoint swap seen");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap().success());
    let _ = child.wait_with_output();
    assert!(!out.join("checkpoint").exists(), "killed between the renames");

    // A fresh run there is refused; a resume continues from the complete checkpoint.
    assert!(!train(dataset(), &out, &["--epochs", "3"]).status.success());
    let run = fabnet(&["train", "--data", dataset().to_str().unwrap(), "-o", out.to_str().unwrap(), "--resume", "--epochs", "3"]);
    assert_ok(&run);
    assert!(String::from_utf8_lossy(&run.stderr).contains("resuming from the one before it"), "{}", String::from_utf8_lossy(&run.stderr));
    let rows = metrics(&out);
    let steps: Vec<u64> = rows.iter().filter(|r| r.kind == "train").map(|r| r.step).collect();
    assert_eq!(steps, (1..=6).collect::<Vec<_>>(), "every step logged once");
    assert_eq!(rows.iter().filter(|r| r.kind == "val").count(), 3, "one validation per epoch");
    assert!(out.join("checkpoint/state.json").exists() && !out.join("checkpoint.old").exists());
}

#[test]
fn a_folder_with_logs_but_no_checkpoint_is_refused() {
    let out = scratch("orphan-logs");
    std::fs::write(out.join("metrics.csv"), "kind,epoch,step,loss,window_min,window_max,lr,samples_per_s,bad_frames\ntrain,0,1,0.1,0,0.5,0.001,1,0\n").unwrap();
    let run = train(dataset(), &out, &["--epochs", "1", "--steps-per-epoch", "1"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("no checkpoint"), "{stderr}");
    assert_eq!(std::fs::read_to_string(out.join("metrics.csv")).unwrap().lines().count(), 2, "the old logs are untouched");
}

#[test]
fn init_fine_tunes_an_authors_checkpoint_and_drops_its_head() {
    let out = scratch("init");
    // The parity fixture in the released layout (64 px, width 8, 64-d, with a linear head).
    let pth = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/parity/small_aligned.pth");
    let run = fabnet(&[
        "train",
        "--data",
        dataset().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--init",
        pth.to_str().unwrap(),
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--batch",
        "4",
        "--views",
        "2",
        "--val-batches",
        "1",
        "--image-every",
        "0",
    ]);
    assert_ok(&run);
    assert!(String::from_utf8_lossy(&run.stderr).contains("linear head"), "{}", String::from_utf8_lossy(&run.stderr));
    let info = fabnet::weights::read_info(&std::fs::read(out.join("final.fabnet")).unwrap()).unwrap();
    assert_eq!((info.config.image_size, info.config.base_width, info.config.embedding_dim), (64, 8, 32));
    assert_eq!(info.head_outputs, None, "the head fitted to the old embedding is gone");
    assert!(info.provenance.contains("Fine-tuned from") && info.init_seed.is_none(), "{}", info.provenance);
    let frame = dataset().join("carphone/carphone_pristine/00001/frame00010.jpg");
    let embed = |weights: &Path| -> Vec<f64> {
        let out = fabnet(&["embed", "--weights", weights.to_str().unwrap(), frame.to_str().unwrap()]);
        assert_ok(&out);
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        line["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
    };
    let (before, after) = (embed(&pth), embed(&out.join("final.fabnet")));
    assert_eq!(after.len(), 32);
    assert!(before.iter().zip(&after).any(|(a, b)| (a - b).abs() > 1e-6), "training moved the embedding");
    // --preset and --init together are refused: the weights decide the shape.
    let both = train(dataset(), &scratch("init-both"), &["--init", pth.to_str().unwrap(), "--preset", "small"]);
    assert!(!both.status.success());
}

#[test]
fn corrupt_jpegs_are_skipped_and_counted() {
    let data = dataset_copy("corrupt");
    let track = data.join("carphone/carphone_pristine/00001");
    for i in (1..=120).step_by(4) {
        std::fs::write(track.join(format!("frame{i:05}.jpg")), b"\xff\xd8 not really a jpeg").unwrap();
    }
    let out = data.parent().unwrap().join("run");
    let run = train(&data, &out, &["--epochs", "1", "--steps-per-epoch", "4"]);
    assert_ok(&run);
    let bad = metrics(&out).last().unwrap().bad_frames;
    assert!(bad >= 1, "no corrupt frame was counted");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains(&format!("{bad} unreadable frames skipped")), "{stderr}");
}

#[test]
fn a_folder_without_tracks_and_a_taken_run_folder_are_refused() {
    let empty = scratch("empty");
    let run = train(&empty, &empty.join("run"), &[]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("no face tracks"), "{stderr}");

    let out = scratch("taken").join("run");
    assert_ok(&train(dataset(), &out, &["--epochs", "1", "--steps-per-epoch", "1"]));
    let again = train(dataset(), &out, &["--epochs", "1", "--steps-per-epoch", "1"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && stderr.contains("--resume"), "{stderr}");
}

#[test]
fn data_parallel_training_over_two_devices_runs_and_checkpoints() {
    // Two CPU devices stand in for two GPUs: the batch of 6 is split 3 + 3, each step sums the
    // shards' gradients on the first, and the run resumes like any other.
    let out = scratch("parallel").join("run");
    assert_ok(&train(dataset(), &out, &["--devices", "flex,flex", "--epochs", "2", "--steps-per-epoch", "3"]));
    let rows = metrics(&out);
    assert_eq!(rows.iter().filter(|r| r.kind == "train").count(), 6);
    assert!(rows.iter().all(|r| r.loss.is_finite()), "finite losses");
    let config = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(config.contains("\"devices\""), "the devices are recorded with the run");
    let bad = train(dataset(), &scratch("parallel-bad").join("run"), &["--devices", "flex,cuda:x"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cuda:x"), "{}", String::from_utf8_lossy(&bad.stderr));
}

#[test]
fn the_paper_recipe_is_the_default_and_options_override_it() {
    let out = scratch("recipe-paper").join("run");
    // No --steps-per-epoch: the reference's epoch, each identity once (carphone is one person).
    assert_ok(&train(dataset(), &out, &["--epochs", "2", "--batch", "4"]));
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    let s = &config["settings"];
    assert_eq!(s["learning_rate"], 1e-4, "{s}");
    assert_eq!(s["epoch_length"], "EachIdentityOnce", "{s}");
    assert_eq!(s["curriculum"]["patience"], 15, "{s}");
    assert_eq!(s["curriculum"]["lr_drop"], "OnTrackerFiring", "{s}");
    assert_eq!(s["validation"]["jitter"], true, "{s}");
    assert_eq!(s["batch"], 4, "{s}");
    assert_eq!(metrics(&out).iter().filter(|r| r.kind == "train").count(), 2, "one batch per epoch: one identity");

    let small = scratch("recipe-small").join("run");
    assert_ok(&train(dataset(), &small, &["--epochs", "1", "--recipe", "small-data", "--steps-per-epoch", "2", "--lr", "0.0005"]));
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(small.join("config.json")).unwrap()).unwrap();
    let s = &config["settings"];
    assert_eq!((s["learning_rate"].as_f64(), s["curriculum"]["patience"].as_u64()), (Some(5e-4), Some(5)), "{s}");
    assert_eq!(s["curriculum"]["lr_drop"], "EveryValidation", "{s}");

    let bad = train(dataset(), &scratch("recipe-bad").join("run"), &["--recipe", "fast"]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && stderr.contains("unknown recipe 'fast'"), "{stderr}");
}

#[test]
fn a_resume_without_epochs_keeps_the_runs_own_length() {
    let out = scratch("resume-keeps-epochs").join("run");
    assert_ok(&train(dataset(), &out, &["--epochs", "3", "--steps-per-epoch", "1", "--max-steps", "1"]));
    // What the paused run tells the user to type: no --epochs.
    let run = fabnet(&["train", "--data", dataset().to_str().unwrap(), "-o", out.to_str().unwrap(), "--resume", "--workers", "2"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let vals = metrics(&out).iter().filter(|r| r.kind == "val").count();
    assert_eq!(vals, 3, "the run's 3 epochs, not the default 20");
}
