//! `fabnet train`: FAb-Net from face-track folders with the shared train step, the curriculum,
//! the paper's two stages, validation every epoch, atomic checkpoints, exact resume, CSV/JSONL
//! and TensorBoard metrics, and image grids.
//!
//! A hand-written loop rather than burn-train's `Learner`: the curriculum moves the loss
//! window on validation plateaus between epochs and the second stage freezes the flow decoder,
//! neither of which the learner's step/scheduler interfaces express, and the checkpoint must
//! carry the curriculum and the data position for an exact resume. The step itself is the one
//! the browser runs (`fabnet::train::Trainer::step`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use fabnet::curriculum::{Curriculum, CurriculumConfig, CurriculumEvent};
use fabnet::data::loader::LoadPlan;
use fabnet::data::{BadFrames, FaceTracks, HostBatch, Loader, Sampler};
use fabnet::image_io::from_chw;
use fabnet::loss::per_sample_l1;
use fabnet::tensorboard::EventWriter;
use fabnet::train::{Batch, OptimizerKind, Stage, TrainConfig, Trainer};
use fabnet::weights::{self, WeightsInfo};
use fabnet::{FabNet, FabNetConfig, Generation};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

#[derive(clap::Args, Clone, Debug, Serialize, Deserialize)]
pub struct TrainArgs {
    /// Face tracks: IDENTITY/VIDEO/TRACK/*.jpg (what `fabnet prepare` writes).
    #[arg(long)]
    pub data: PathBuf,
    /// Validation tracks; without it, identities are split off the training data.
    #[arg(long)]
    pub val: Option<PathBuf>,
    /// Share of identities held out for validation when there is no --val.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Run folder: checkpoint, config, metrics, images, final weights.
    #[arg(short, long)]
    pub out: PathBuf,
    #[arg(long, default_value = "paper", conflicts_with = "init")]
    pub preset: String,
    /// Start from these weights (a `.fabnet`, or an authors' `*.pth`) instead of a fresh
    /// network: fine-tuning. Their config is the run's; a linear head they carry is dropped,
    /// since it was fitted to the embedding before fine-tuning.
    #[arg(long)]
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// Source views in the second stage (the first uses one).
    #[arg(long, default_value_t = 3)]
    pub views: usize,
    /// Epochs in all.
    #[arg(long, default_value_t = 20)]
    pub epochs: u64,
    /// Epochs of the first stage (one source view, everything trained); the rest use --views
    /// sources with the flow decoder frozen. Default: half.
    #[arg(long)]
    pub stage1_epochs: Option<u64>,
    #[arg(long, default_value_t = 1000)]
    pub steps_per_epoch: u64,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// sgd (momentum 0.9, as the paper) or adam.
    #[arg(long, default_value = "sgd")]
    pub optimizer: String,
    /// Epochs without improvement before the curriculum window moves.
    #[arg(long, default_value_t = 5)]
    pub patience: u32,
    /// Train on every sample of each batch (no percentile window).
    #[arg(long)]
    pub no_curriculum: bool,
    /// Crop without the paper's random jitter.
    #[arg(long)]
    pub no_jitter: bool,
    /// Validation batches per epoch (the same examples every epoch).
    #[arg(long, default_value_t = 8)]
    pub val_batches: u64,
    /// Write an image grid every this many steps (0: never).
    #[arg(long, default_value_t = 500)]
    pub image_every: u64,
    /// JPEG-decoding threads.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "flex")]
    pub backend: String,
    /// Data-parallel training on several devices, e.g. `cuda:0,cuda:1` or `wgpu:0,wgpu:1`: each
    /// step splits the batch evenly, and the gradients are summed on the first device, which
    /// also validates. Default: the --backend device alone.
    #[arg(long, value_delimiter = ',')]
    #[serde(default)]
    pub devices: Vec<String>,
    /// What the data is, in words, recorded in the weights' provenance (e.g. "VoxCeleb2 dev").
    #[arg(long)]
    pub describe_data: Option<String>,
    /// Continue the run in --out from its checkpoint (its saved settings win).
    #[arg(long)]
    pub resume: bool,
    /// Also write a checkpoint every this many steps (0: only at the end of each epoch), for
    /// epochs that take hours.
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub checkpoint_every: u64,
    /// Stop after this many steps in this invocation, with a checkpoint (for tests and budgets).
    #[arg(long, hide = true)]
    pub max_steps: Option<u64>,
}

/// Everything needed to continue exactly: written with every checkpoint.
#[derive(Serialize, Deserialize)]
struct RunState {
    args: TrainArgs,
    config: FabNetConfig,
    epoch: u64,
    /// Batches of `epoch` already trained.
    batch: u64,
    step: u64,
    curriculum: Curriculum,
    best_val: Option<f64>,
    stage: Stage,
    /// The first epoch of stage 2, resolved when the run began: a resume with a new
    /// `--epochs` lengthens the run without moving it. (Absent in older checkpoints.)
    #[serde(default)]
    stage2_from: Option<u64>,
}

fn optimizer_kind(name: &str) -> Result<OptimizerKind> {
    match name {
        "sgd" => Ok(OptimizerKind::Sgd { momentum: 0.9 }),
        "adam" => Ok(OptimizerKind::Adam),
        other => bail!("unknown optimizer '{other}' (sgd or adam)"),
    }
}

/// Where stage 2 begins when the arguments alone decide it (a fresh run).
fn stage2_from(args: &TrainArgs) -> u64 {
    args.stage1_epochs.unwrap_or(args.epochs / 2)
}

fn stage_of(args: &TrainArgs, stage2_from: u64, epoch: u64) -> (Stage, usize) {
    if epoch < stage2_from || args.views <= 1 { (Stage::Full, 1) } else { (Stage::FrozenFlow, args.views) }
}

fn to_batch(host: HostBatch, device: &Device) -> Batch {
    let shape = [host.size, 3, host.image_size, host.image_size];
    let tensor = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, shape), device);
    Batch { target: tensor(host.target), sources: host.sources.into_iter().map(tensor).collect() }
}

/// The batch split as evenly as it goes over `devices` (the first ones take the remainder);
/// one device gets it whole.
fn to_shards(host: HostBatch, devices: &[Device]) -> Vec<Batch> {
    let per_image = 3 * host.image_size * host.image_size;
    let (n, d) = (host.size, devices.len().min(host.size).max(1));
    let mut shards = Vec::with_capacity(d);
    let mut start = 0;
    for (i, device) in devices.iter().take(d).enumerate() {
        let count = n / d + usize::from(i < n % d);
        let cut = |v: &[f32]| v[start * per_image..(start + count) * per_image].to_vec();
        let part = HostBatch { size: count, image_size: host.image_size, target: cut(&host.target), sources: host.sources.iter().map(|s| cut(s)).collect() };
        shards.push(to_batch(part, device));
        start += count;
    }
    shards
}

fn read(t: Tensor<1>) -> Vec<f32> {
    crate::values(t.into_data())
}

/// A file written and flushed to the disk before it is renamed into place.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all().with_context(|| format!("cannot flush {}", path.display()))
}

/// Flushes a folder's entries (the renames in it) to the disk; a no-op where folders cannot
/// be opened as files.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `RUN/checkpoint` so that a complete checkpoint is on disk at every instant: the new
/// one is built and flushed aside (`checkpoint.tmp`), the current one steps aside
/// (`checkpoint.old`), the new one moves in, and only then the old one goes. A kill between
/// the two renames leaves `checkpoint.old`, which [`load_checkpoint`] falls back to.
fn save_checkpoint(out: &Path, trainer: &Trainer, state: &RunState) -> Result<()> {
    let tmp = out.join("checkpoint.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let model = trainer.model();
    let info = WeightsInfo::for_model(model, format!("checkpoint of `fabnet train` at step {}", state.step));
    write_synced(&tmp.join("model.fabnet"), &weights::to_bytes(model, &info)?)?;
    let optimizer = trainer.optimizer().into_bytes().map_err(|e| anyhow::anyhow!("cannot save the optimizer: {e:?}"))?;
    write_synced(&tmp.join("optimizer.bpk"), &optimizer[..])?;
    // state.json last: a checkpoint folder with it is complete.
    write_synced(&tmp.join("state.json"), serde_json::to_string_pretty(state)?.as_bytes())?;
    sync_dir(&tmp);
    let current = out.join("checkpoint");
    let old = out.join("checkpoint.old");
    if current.join("state.json").exists() {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(&current, &old)?;
    } else {
        // Half a checkpoint (a crash while the old one was being removed): the old one stays.
        let _ = std::fs::remove_dir_all(&current);
    }
    sync_dir(out);
    if let Some(pause) = std::env::var_os("FABNET_TEST_CHECKPOINT_SWAP_PAUSE_MS") {
        // Tests kill the process here, between the two renames.
        std::thread::sleep(std::time::Duration::from_millis(pause.to_string_lossy().parse().unwrap_or(0)));
    }
    std::fs::rename(&tmp, &current)?;
    sync_dir(out);
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Whether `out` holds a checkpoint, complete or left aside by a swap that was cut short.
fn has_checkpoint(out: &Path) -> bool {
    ["checkpoint", "checkpoint.old"].iter().any(|c| out.join(c).join("state.json").exists())
}

fn load_checkpoint(out: &Path, device: &Device) -> Result<(RunState, FabNet, Bytes)> {
    let read = |dir: &Path| -> Result<(RunState, FabNet, Bytes)> {
        let state: RunState = serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).context("no state.json")?)
            .context("the checkpoint's state.json is damaged")?;
        let (model, _) = weights::from_bytes(&std::fs::read(dir.join("model.fabnet"))?, device)?;
        let optimizer = Bytes::from_bytes_vec(std::fs::read(dir.join("optimizer.bpk"))?);
        Ok((state, model, optimizer))
    };
    match read(&out.join("checkpoint")) {
        Ok(loaded) => Ok(loaded),
        Err(newest) => match read(&out.join("checkpoint.old")) {
            Ok(loaded) => {
                eprintln!("warning: the newest checkpoint is incomplete ({newest:#}); resuming from the one before it");
                Ok(loaded)
            }
            Err(_) if !has_checkpoint(out) => bail!("no checkpoint to resume in {}", out.display()),
            Err(_) => Err(newest.context(format!("the checkpoint in {} cannot be read", out.display()))),
        },
    }
}

/// Metrics as CSV and JSONL (pandas, spreadsheets, jq, W&B/MLflow importers all read them) and
/// as TensorBoard events (`tensorboard --logdir` on the run's parent folder).
struct Metrics {
    csv: BufWriter<File>,
    jsonl: BufWriter<File>,
    events: EventWriter,
}

#[derive(Serialize)]
struct Row {
    kind: &'static str,
    epoch: u64,
    step: u64,
    loss: f64,
    window_min: f64,
    window_max: f64,
    lr: f64,
    samples_per_s: f64,
    bad_frames: usize,
}

impl Metrics {
    /// Opens the run's logs for appending. A resumed run first drops what a killed run logged
    /// after its last checkpoint (`resumed_at`), so that every row appears once.
    fn open(out: &Path, resumed_at: Option<Position>) -> Result<Self> {
        if let Some(at) = resumed_at {
            let csv_row = |l: &str| {
                let f: Vec<&str> = l.split(',').collect();
                Some((f.first()?.to_string(), f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?))
            };
            let json_row = |l: &str| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                Some((v["kind"].as_str()?.to_string(), v["epoch"].as_u64()?, v["step"].as_u64()?))
            };
            trim_rows(&out.join("metrics.csv"), true, at, csv_row)?;
            trim_rows(&out.join("metrics.jsonl"), false, at, json_row)?;
        }
        let open = |name: &str| -> Result<(BufWriter<File>, bool)> {
            let path = out.join(name);
            let fresh = !path.exists();
            let file = File::options().create(true).append(true).open(&path).with_context(|| format!("cannot write {}", path.display()))?;
            Ok((BufWriter::new(file), fresh))
        };
        let (mut csv, fresh) = open("metrics.csv")?;
        if fresh {
            writeln!(csv, "kind,epoch,step,loss,window_min,window_max,lr,samples_per_s,bad_frames")?;
        }
        let (jsonl, _) = open("metrics.jsonl")?;
        let mut events = EventWriter::create(out).with_context(|| format!("cannot write a TensorBoard event file in {}", out.display()))?;
        if let Some(at) = resumed_at {
            // TensorBoard drops every tag from the marker's step on, so it goes just after the
            // checkpoint's last step. (A validation logged at that step after the checkpoint, by
            // a kill between the two, is then shown twice there, with the same value.)
            events.restart(at.step + 1)?;
        }
        Ok(Self { csv, jsonl, events })
    }

    fn write(&mut self, row: &Row) -> Result<()> {
        writeln!(
            self.csv,
            "{},{},{},{},{},{},{},{:.2},{}",
            row.kind, row.epoch, row.step, row.loss, row.window_min, row.window_max, row.lr, row.samples_per_s, row.bad_frames
        )?;
        writeln!(self.jsonl, "{}", serde_json::to_string(row)?)?;
        let scalars: &[(&str, f64)] = match row.kind {
            "val" => &[("val/loss", row.loss), ("curriculum/window_min", row.window_min), ("curriculum/window_max", row.window_max)],
            _ => &[("train/loss", row.loss), ("train/lr", row.lr), ("train/samples_per_s", row.samples_per_s), ("data/bad_frames", row.bad_frames as f64)],
        };
        self.events.scalars(row.step, scalars)?;
        self.csv.flush()?;
        self.jsonl.flush()?;
        self.events.flush()?;
        Ok(())
    }

    /// A PNG grid as a file and as TensorBoard's image at `step`.
    fn image(&mut self, path: &Path, step: u64, grid: &image::RgbImage) -> Result<()> {
        let mut png = Vec::new();
        grid.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
        std::fs::write(path, &png).with_context(|| format!("cannot write {}", path.display()))?;
        self.events.png(step, "samples (target, sources, fused, masks)", &png, grid.width(), grid.height())?;
        Ok(self.events.flush()?)
    }
}

/// A point of a run: the epoch under way and the steps done.
#[derive(Clone, Copy)]
struct Position {
    epoch: u64,
    step: u64,
}

/// Keeps the header (if any) and the rows logged before `at`: training rows up to its step and
/// validation rows of the epochs before its own (a checkpoint made at the end of an epoch's
/// steps validates that epoch again). A row cut short by a kill does not parse and goes too.
/// Rewritten atomically.
fn trim_rows(path: &Path, header: bool, at: Position, row: impl Fn(&str) -> Option<(String, u64, u64)>) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let before = |(kind, epoch, step): (String, u64, u64)| if kind == "val" { epoch < at.epoch } else { step <= at.step };
    let mut kept = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        if (header && i == 0) || row(line).is_some_and(before) {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    if kept != text {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, kept)?;
        std::fs::rename(&tmp, path)?;
    }
    Ok(())
}

/// Rows of (target, sources..., fused, masks...) for the first examples of a batch.
fn grid(target: &Tensor<4>, sources: &[Tensor<4>], generation: &Generation) -> image::RgbImage {
    let rows = target.dims()[0].min(4);
    let s = target.dims()[2];
    let mut columns: Vec<Tensor<4>> = vec![target.clone()];
    columns.extend(sources.iter().cloned());
    columns.push(generation.fused.clone());
    columns.extend(generation.weights.iter().cloned());
    let mut grid = image::RgbImage::new((s * columns.len()) as u32, (s * rows) as u32);
    for (c, column) in columns.iter().enumerate() {
        let channels = column.dims()[1];
        let values = crate::values(column.clone().narrow(0, 0, rows).into_data());
        for r in 0..rows {
            let plane = &values[r * channels * s * s..(r + 1) * channels * s * s];
            image::imageops::replace(&mut grid, &from_chw(plane, channels, s, s), (c * s) as i64, (r * s) as i64);
        }
    }
    grid
}

fn validate(model: &FabNet, tracks: &Arc<FaceTracks>, args: &TrainArgs, views: usize, device: &Device, bad: &Arc<BadFrames>) -> Result<f64> {
    // The same examples every epoch: a fixed "epoch" key and no jitter.
    let sampler = Arc::new(Sampler { seed: args.seed ^ 0x5eed, views, jitter: false });
    let plan =
        LoadPlan { epoch: u64::MAX, first: 0, batches: args.val_batches, batch_size: args.batch, image_size: model.config.image_size, workers: args.workers };
    let (mut total, mut count) = (0.0f64, 0usize);
    for host in Loader::start(tracks.clone(), sampler, plan, bad.clone()) {
        let batch = to_batch(host, device);
        let generation = model.generate(batch.target.clone(), &batch.sources);
        let losses = read(per_sample_l1(generation.fused, batch.target));
        total += losses.iter().map(|&l| l as f64).sum::<f64>();
        count += losses.len();
    }
    if count == 0 {
        bail!("no validation example could be read");
    }
    Ok(total / count as f64)
}

pub fn run(args: &TrainArgs) -> Result<()> {
    let device = crate::device(args.devices.first().unwrap_or(&args.backend))?;
    let train_device = device.clone().autodiff();
    // Data parallel: the first device holds the model, the others get a fork each step.
    let shard_devices = match args.devices.len() {
        0 => vec![train_device.clone()],
        _ => args.devices.iter().map(|name| crate::device(name).map(|d| d.autodiff())).collect::<Result<Vec<_>>>()?,
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;

    // A fresh run starts from the arguments; a resumed one from its checkpoint.
    let (mut state, model, optimizer) = if args.resume {
        let (mut state, model, optimizer) = load_checkpoint(&args.out, &train_device)?;
        // Only the length of the run may change on resume; everything else continues as saved,
        // the stage boundary included.
        state.stage2_from = Some(state.stage2_from.unwrap_or_else(|| stage2_from(&state.args)));
        state.args.epochs = args.epochs;
        state.args.checkpoint_every = args.checkpoint_every;
        state.args.max_steps = args.max_steps;
        (state, model, Some(optimizer))
    } else {
        if has_checkpoint(&args.out) {
            bail!("{} already holds a run; pass --resume to continue it, or choose another --out", args.out.display());
        }
        if ["metrics.csv", "metrics.jsonl"].iter().any(|f| args.out.join(f).exists()) {
            bail!("{} holds the logs of a run but no checkpoint to continue it from; choose another --out (or remove the old logs)", args.out.display());
        }
        if args.batch == 0 || args.steps_per_epoch == 0 || args.views == 0 {
            bail!("--batch, --steps-per-epoch and --views must be at least 1");
        }
        let init = match &args.init {
            Some(path) => {
                let model = crate::load_any_weights(path, &train_device)?;
                if model.head.is_some() {
                    eprintln!("note: the linear head of {} is dropped (it was fitted to the embedding before fine-tuning)", path.display());
                }
                Some(model.with_head(None))
            }
            None => None,
        };
        let config = match &init {
            Some(model) => model.config.with_source_views(args.views),
            None => FabNetConfig::preset(&args.preset)?.with_source_views(args.views),
        };
        let curriculum = Curriculum::new(if args.no_curriculum {
            CurriculumConfig::off()
        } else {
            CurriculumConfig { patience: args.patience, ..CurriculumConfig::default() }
        });
        let state = RunState {
            args: args.clone(),
            config,
            epoch: 0,
            batch: 0,
            step: 0,
            curriculum,
            best_val: None,
            stage: stage_of(args, stage2_from(args), 0).0,
            stage2_from: Some(stage2_from(args)),
        };
        // Seeded initial weights: the same arguments give the same run.
        train_device.seed(args.seed);
        let model = match init {
            Some(model) => FabNet { config, ..model },
            None => FabNet::new(config, &train_device)?,
        };
        (state, model, None)
    };
    // Where the checkpoint stands: (epoch, step) of the next validation and the last step done.
    let resumed_at = args.resume.then_some(Position { epoch: state.epoch, step: state.step });
    let args = state.args.clone();
    std::fs::write(args.out.join("config.json"), serde_json::to_string_pretty(&serde_json::json!({ "args": args, "model": state.config }))?)?;

    let data = FaceTracks::scan(&args.data, 2)?;
    let (train, val) = match &args.val {
        Some(v) => (data, FaceTracks::scan(v, 2)?),
        None => {
            let split = data.split(args.val_fraction, args.seed);
            if !split.by_identity {
                eprintln!("warning: one identity only; validating on held-out tracks/frames of it");
            }
            (split.train, split.val)
        }
    };
    eprintln!(
        "data: {} train tracks ({} identities, {} frames), {} validation tracks ({} identities)",
        train.tracks.len(),
        train.identities().len(),
        train.frame_count(),
        val.tracks.len(),
        val.identities().len()
    );
    let (train, val) = (Arc::new(train), Arc::new(val));

    let kind = optimizer_kind(&args.optimizer)?;
    let mut trainer = Trainer::new(model, TrainConfig { optimizer: kind, learning_rate: args.lr, stage: state.stage });
    if let Some(bytes) = optimizer {
        let restored = trainer.optimizer().clone().from_bytes(bytes).map_err(|e| anyhow::anyhow!("the checkpoint's optimizer state is damaged: {e:?}"))?;
        trainer.load_optimizer(restored);
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C finishes the current step, then checkpoints and exits.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let mut metrics = Metrics::open(&args.out, resumed_at)?;
    let bad = Arc::new(BadFrames::default());
    std::fs::create_dir_all(args.out.join("images"))?;
    let mut steps_this_run = 0u64;

    while state.epoch < args.epochs {
        let (stage, views) = stage_of(&args, state.stage2_from.unwrap_or_else(|| stage2_from(&args)), state.epoch);
        if stage != trainer.config.stage {
            eprintln!("epoch {}: stage 2, {views} source views, flow decoder frozen", state.epoch);
            trainer.set_stage(stage);
        }
        state.stage = stage;
        let sampler = Arc::new(Sampler { seed: args.seed, views, jitter: !args.no_jitter });
        let plan = LoadPlan {
            epoch: state.epoch,
            first: state.batch,
            batches: args.steps_per_epoch - state.batch,
            batch_size: args.batch,
            image_size: state.config.image_size,
            workers: args.workers,
        };
        let bar = ProgressBar::new(args.steps_per_epoch).with_position(state.batch);
        bar.set_style(ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}").expect("valid template").progress_chars("=> "));
        bar.set_prefix(format!("{}/{}", state.epoch + 1, args.epochs));
        let mut last = Instant::now();
        for host in Loader::start(train.clone(), sampler, plan, bad.clone()) {
            let lr = args.lr * state.curriculum.lr_scale;
            let keep = args.image_every > 0 && (state.step + 1) % args.image_every == 0;
            let shards = to_shards(host, &shard_devices);
            let (target, sources) = (shards[0].target.clone(), shards[0].sources.clone());
            let output = trainer.step_parallel(shards, state.curriculum.window, lr, keep)?;
            let loss = read(output.loss)[0] as f64;
            if !loss.is_finite() {
                bail!("the loss became {loss} at step {}; the last checkpoint is intact (lower --lr and --resume)", state.step);
            }
            if let Some(generation) = output.generation {
                let inner = |t: &Tensor<4>| t.clone().inner();
                let sources: Vec<Tensor<4>> = sources.iter().map(inner).collect();
                let path = args.out.join(format!("images/step{:07}.png", state.step + 1));
                metrics.image(&path, state.step + 1, &grid(&inner(&target), &sources, &generation))?;
            }
            state.step += 1;
            state.batch += 1;
            steps_this_run += 1;
            let samples_per_s = args.batch as f64 / last.elapsed().as_secs_f64();
            last = Instant::now();
            metrics.write(&Row {
                kind: "train",
                epoch: state.epoch,
                step: state.step,
                loss,
                window_min: state.curriculum.window.min,
                window_max: state.curriculum.window.max,
                lr,
                samples_per_s,
                bad_frames: bad.count(),
            })?;
            bar.set_message(format!("loss {loss:.4}  {samples_per_s:.1} samples/s"));
            bar.inc(1);
            if args.checkpoint_every > 0 && state.step % args.checkpoint_every == 0 && state.batch < args.steps_per_epoch {
                save_checkpoint(&args.out, &trainer, &state)?;
            }
            let interrupted = stop.load(Ordering::SeqCst);
            if interrupted || args.max_steps.is_some_and(|m| steps_this_run >= m) {
                bar.finish_and_clear();
                save_checkpoint(&args.out, &trainer, &state)?;
                eprintln!(
                    "{} at step {}; checkpoint written. Continue with: fabnet train --out {} --data {} --resume",
                    if interrupted { "stopped" } else { "paused" },
                    state.step,
                    args.out.display(),
                    args.data.display()
                );
                return Ok(());
            }
        }
        bar.finish_and_clear();
        if state.batch < args.steps_per_epoch {
            bail!("the training data ran out: every track drawn was unreadable ({} bad frames)", bad.count());
        }

        let eval_model = trainer.model().valid();
        let val_loss = validate(&eval_model, &val, &args, views, &device, &bad)?;
        let event = state.curriculum.observe(state.epoch as u32, val_loss);
        metrics.write(&Row {
            kind: "val",
            epoch: state.epoch,
            step: state.step,
            loss: val_loss,
            window_min: state.curriculum.window.min,
            window_max: state.curriculum.window.max,
            lr: args.lr * state.curriculum.lr_scale,
            samples_per_s: 0.0,
            bad_frames: bad.count(),
        })?;
        let moved = match event {
            CurriculumEvent::WindowMoved(w) => format!("; window moved to [{:.0}%, {:.0}%]", w.min * 100.0, w.max * 100.0),
            CurriculumEvent::LearningRateReduced(lr) => format!("; learning rate scaled to {lr}"),
            CurriculumEvent::Unchanged => String::new(),
        };
        eprintln!("epoch {}/{}: validation L1 {val_loss:.4}{moved}", state.epoch + 1, args.epochs);
        if state.best_val.is_none_or(|b| val_loss < b) {
            state.best_val = Some(val_loss);
            let info = run_weights_info(&eval_model, &args, &state, "best");
            weights::save_file(&args.out.join("best.fabnet"), &eval_model, &info)?;
        }
        state.epoch += 1;
        state.batch = 0;
        save_checkpoint(&args.out, &trainer, &state)?;
    }
    let model = trainer.into_model().valid();
    let info = run_weights_info(&model, &args, &state, "final");
    weights::save_file(&args.out.join("final.fabnet"), &model, &info)?;
    eprintln!(
        "done: {} steps; final weights {}, best (validation L1 {:.4}) {}; {} unreadable frames skipped",
        state.step,
        args.out.join("final.fabnet").display(),
        state.best_val.unwrap_or(f64::NAN),
        args.out.join("best.fabnet").display(),
        bad.count()
    );
    Ok(())
}

/// What the run's weights say of themselves: provenance, and the seed of their initialisation
/// (the untrained baseline of `fabnet eval --baselines`).
fn run_weights_info(model: &FabNet, args: &TrainArgs, state: &RunState, which: &str) -> WeightsInfo {
    let mut info = WeightsInfo::for_model(model, provenance(args, state, which));
    info.init_seed = args.init.is_none().then_some(args.seed);
    info
}

fn provenance(args: &TrainArgs, state: &RunState, which: &str) -> String {
    let data = args.describe_data.as_ref().map(|d| format!("Data: {d}. ")).unwrap_or_default();
    let start = args.init.as_ref().map(|p| format!("Fine-tuned from {}. ", p.display())).unwrap_or_default();
    let data = format!("{data}{start}");
    format!(
        "{data}The {which} weights of `fabnet train --data {} {} --views {} --epochs {} --stage1-epochs {} --steps-per-epoch {} --batch {} --lr {} --optimizer {} --patience {} --seed {}`, after {} steps; validation L1 {:.4}.",
        args.data.display(),
        args.init.as_ref().map_or_else(|| format!("--preset {}", args.preset), |p| format!("--init {}", p.display())),
        args.views,
        args.epochs,
        state.stage2_from.unwrap_or_else(|| stage2_from(args)),
        args.steps_per_epoch,
        args.batch,
        args.lr,
        args.optimizer,
        args.patience,
        args.seed,
        state.step,
        state.best_val.unwrap_or(f64::NAN)
    )
}
