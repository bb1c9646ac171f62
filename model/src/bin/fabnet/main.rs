//! `fabnet`: the native command line of FAb-Net.

mod eval;
mod faces;
mod heap;
mod label;
mod prepare;
mod project;
mod projection;
mod train;
mod video;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use clap::{Parser, Subcommand};
use fabnet::bench::BenchSpec;
use fabnet::image_io::{from_chw, load_rgb, to_tensor};
use fabnet::weights::{self, WeightsInfo};
use fabnet::{FabNet, backend};

#[derive(Parser)]
#[command(name = "fabnet", version, about = "FAb-Net: self-supervised facial attribute embeddings (Wiles et al., BMVC 2018)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert an authors' checkpoint (`*_4views.pth`) to the project's weights format.
    Import {
        /// The official PyTorch checkpoint.
        checkpoint: PathBuf,
        /// Where to write the weights.
        #[arg(short, long)]
        output: PathBuf,
        /// What the linear head predicts, recorded with the weights (e.g. "roll, pitch, yaw").
        #[arg(long)]
        head_task: Option<String>,
    },
    /// Print one JSON line per image: its embedding, and the head's output when there is a head.
    Embed {
        /// Project weights, or an official `.pth` directly.
        #[arg(long)]
        weights: PathBuf,
        #[arg(long, default_value = "flex")]
        backend: String,
        /// Also write the embeddings for TensorBoard's Embedding Projector into this folder:
        /// tensors.tsv, metadata.tsv (image, clip, track, frame: the face-track layout's
        /// folders), sprite.png of the faces as the network saw them, and the configs
        /// (projector_config.pbtxt for `tensorboard --logdir`, projector_config.json).
        #[arg(long)]
        projector: Option<PathBuf>,
        #[command(flatten)]
        projection: projection::ProjectionArgs,
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Lay out embeddings already made (the Embedding Projector's tensors.tsv, from `embed
    /// --projector` or the app's export) as `embed --projection` does.
    Layout {
        /// One embedding per line, values separated by tabs.
        tensors: PathBuf,
        /// The projector's metadata.tsv (a header line, then one row per embedding): its clip,
        /// track and frame columns name the points; the figure colours them by clip.
        #[arg(long)]
        metadata: Option<PathBuf>,
        #[command(flatten)]
        projection: projection::ProjectionArgs,
    },
    /// Re-synthesise a target face from source faces; writes the fused image and the masks.
    Generate {
        #[arg(long)]
        weights: PathBuf,
        #[arg(long)]
        target: PathBuf,
        /// Output PNG; masks go next to it as `<name>_mask<i>.png`.
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, default_value = "flex")]
        backend: String,
        #[arg(required = true)]
        sources: Vec<PathBuf>,
    },
    /// Convert facenet-pytorch's MTCNN weights (`pnet.pt`, `rnet.pt`, `onet.pt`) to the
    /// detector weights file that `prepare`, `detect` and the app read.
    ImportDetector {
        /// The folder holding the three `.pt` files (`facenet_pytorch/data` in the wheel).
        dir: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Print one JSON line per image: the faces found (box, score, five landmarks).
    Detect {
        /// Detector weights (default: the ones built into this binary).
        #[arg(long)]
        detector: Option<PathBuf>,
        #[arg(long, default_value = "flex")]
        backend: String,
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Find faces in videos, link them into tracks and write VoxCeleb-style face-track folders
    /// `IDENTITY/VIDEO/TRACK/frame%05d.jpg` (needs `ffmpeg` and `ffprobe` on the PATH).
    Prepare(prepare::PrepareArgs),
    /// Train FAb-Net on face-track folders (VoxCeleb layout), with checkpoints and exact resume.
    Train(Box<train::TrainArgs>),
    /// Fit linear probes on frozen embeddings (MAFL / 300-W landmarks, AFLW head pose,
    /// AffectNet expression, or a CSV of targets) and print the test metric next to the
    /// mean-prediction baseline; `--save-head` keeps the probe as the weights' linear head.
    Eval(Box<eval::EvalArgs>),
    /// Probe labels for face tracks from the built-in detector (five landmarks, head pose), on
    /// the network's view of each frame, split by time within tracks and across videos.
    Label(label::LabelArgs),
    /// What a project file from the app holds (clips, weights, attributes and their tags); writes
    /// its face tracks as `train` reads them, its weights, and its tags as CSV.
    Project(project::ProjectArgs),
    /// Measure encoder throughput, the train step and, given a frame with a face, the detector
    /// and a webcam frame (follow + embed): the same benchmark as the app's "Speed" panel.
    Bench {
        #[arg(long, default_value = "paper")]
        preset: String,
        #[arg(long, default_value = "flex")]
        backend: String,
        /// Batch size of the encoder measurement.
        #[arg(long, default_value_t = 1)]
        encoder_batch: usize,
        /// Batch size of the train step.
        #[arg(long, default_value_t = 8)]
        train_batch: usize,
        /// Source views per target in the train step.
        #[arg(long, default_value_t = 3)]
        views: usize,
        /// Timed repetitions (after one warm-up).
        #[arg(long, default_value_t = 3)]
        steps: usize,
        /// A picture with a face: adds the detector and webcam-frame rows.
        #[arg(long)]
        frame: Option<PathBuf>,
        /// MTCNN weights (default: the built-in ones).
        #[arg(long)]
        detector: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    heap::keep_freed_memory();
    // Whatever goes wrong, the user gets one line, not a trace.
    std::panic::set_hook(Box::new(|info| {
        let msg =
            info.payload().downcast_ref::<String>().map(String::as_str).or_else(|| info.payload().downcast_ref::<&str>().copied()).unwrap_or("unknown failure");
        eprintln!("error: internal failure: {}", msg.lines().next().unwrap_or(msg));
    }));
    let cli = Cli::parse();
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::FAILURE,
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Import { checkpoint, output, head_task } => import(&checkpoint, &output, head_task),
        Command::Layout { tensors, metadata, projection } => projection::from_files(&tensors, metadata.as_deref(), &projection),
        Command::Embed { weights, backend, projector, projection, images } => embed(&weights, &backend, &images, projector.as_deref(), &projection),
        Command::Generate { weights, target, output, backend, sources } => generate(&weights, &backend, &target, &sources, &output),
        Command::ImportDetector { dir, output } => faces::import_detector(&dir, &output),
        Command::Detect { detector, backend, images } => faces::detect(detector.as_deref(), &backend, &images),
        Command::Prepare(args) => prepare::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Label(args) => label::run(&args),
        Command::Project(args) => project::run(&args),
        Command::Bench { preset, backend, encoder_batch, train_batch, views, steps, frame, detector } => {
            bench(BenchSpec { preset, encoder_batch, train_batch, source_views: views, repeats: steps }, &backend, frame.as_deref(), detector.as_deref())
        }
    }
}

pub(crate) fn device(name: &str) -> Result<Device> {
    backend::device(name).map_err(|e| anyhow!(e))
}

/// Project weights, or an official checkpoint recognised by its content.
fn load_weights(path: &Path, device: &Device) -> Result<FabNet> {
    load_any_weights(path, device).map(|m| m.valid())
}

/// As [`load_weights`], on `device` as it is (an autodiff device gives a trainable model).
pub(crate) fn load_any_weights(path: &Path, device: &Device) -> Result<FabNet> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    match weights::from_bytes(&bytes, device) {
        Ok((model, _)) => Ok(model),
        Err(ours) if !fabnet::import::looks_like_checkpoint(&bytes) => Err(anyhow!("{}: {ours}", path.display())),
        Err(_) => fabnet::import::import_checkpoint(&bytes, device, &fabnet::footprint::DeviceLimits::NONE).map_err(|e| anyhow!("{}: {e}", path.display())),
    }
}

fn import(checkpoint: &Path, output: &Path, head_task: Option<String>) -> Result<()> {
    let device = Device::flex();
    let model = fabnet::import::import_official(checkpoint, &device)?;
    let mut info = WeightsInfo::for_model(&model, format!("imported from {}", checkpoint.display()));
    info.head_task = head_task;
    weights::save_file(output, &model, &info)?;
    let head = info.head_outputs.map(|k| format!(", linear head with {k} outputs")).unwrap_or_default();
    eprintln!("wrote {} ({} px, width {}, {}-d embedding{head})", output.display(), info.config.image_size, info.config.base_width, info.config.embedding_dim);
    Ok(())
}

fn embed(weights: &Path, backend: &str, images: &[PathBuf], projector: Option<&Path>, projection: &projection::ProjectionArgs) -> Result<()> {
    let device = device(backend)?;
    let model = load_weights(weights, &device)?;
    let size = model.config.image_size;
    // Decode everything first: a bad file fails the command before anything is printed.
    let decoded = images.iter().map(|p| load_rgb(p, size)).collect::<Result<Vec<_>, _>>()?;
    let mut embeddings = Vec::new();
    let mut sprite = projector.map(|_| fabnet::projector::Sprite::new(images.len(), size)).transpose().map_err(anyhow::Error::msg)?;
    for (k, (path, image)) in images.iter().zip(decoded).enumerate() {
        let input = to_tensor(&[image], &device);
        if let Some(sprite) = &mut sprite {
            sprite.place(k, &values(input.clone().into_data())).map_err(anyhow::Error::msg)?;
        }
        let embedding = model.embed(input);
        let head = model.head_outputs(embedding.clone()).map(|h| values(h.into_data()));
        let embedding = values(embedding.into_data());
        let mut line = serde_json::json!({
            "image": path.display().to_string(),
            "embedding": embedding,
        });
        if let Some(head) = head {
            line["head"] = serde_json::json!(head);
        }
        println!("{line}");
        embeddings.push(embedding);
    }
    if let (Some(dir), Some(sprite)) = (projector, sprite) {
        write_projector(dir, weights, images, &embeddings, sprite)?;
    }
    if let Some(kind) = projection.projection {
        projection::write(projection, kind, &embeddings, &track_rows(images))?;
    }
    Ok(())
}

/// Each image's path, clip, track and frame. The face-track layout is CLIP/TRACK/frameNNNNN.jpg:
/// the folders name the clip and track.
fn track_rows(images: &[PathBuf]) -> Vec<Vec<String>> {
    let folder = |p: &Path, up: usize| p.ancestors().nth(up).and_then(|a| a.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = |p: &Path| p.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    images.iter().map(|p| vec![p.display().to_string(), folder(p, 2), folder(p, 1), stem(p)]).collect()
}

/// The Embedding Projector's files for `embeddings` of `images` (`sprite`: the network's inputs).
fn write_projector(dir: &Path, weights: &Path, images: &[PathBuf], embeddings: &[Vec<f32>], sprite: fabnet::projector::Sprite) -> Result<()> {
    use fabnet::projector;
    let rows = track_rows(images);
    let name = weights.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "fabnet".into());
    let export = projector::export(&name, embeddings, &["image", "clip", "track", "frame"], &rows, Some(&sprite)).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |file: &str, bytes: &[u8]| std::fs::write(dir.join(file), bytes).with_context(|| format!("cannot write {}", dir.join(file).display()));
    write(projector::TENSORS, export.tensors.as_bytes())?;
    write(projector::METADATA, export.metadata.as_bytes())?;
    write(projector::CONFIG_JSON, export.config_json.as_bytes())?;
    write(projector::CONFIG_PBTXT, export.config_pbtxt.as_bytes())?;
    let image = image::RgbImage::from_raw(sprite.width as u32, sprite.height as u32, sprite.rgb).context("sprite buffer")?;
    image.save(dir.join(projector::SPRITE)).with_context(|| format!("cannot write {}", dir.join(projector::SPRITE).display()))?;
    eprintln!("wrote the Embedding Projector's files for {} faces to {}", embeddings.len(), dir.display());
    Ok(())
}

pub(crate) fn values(data: burn::tensor::TensorData) -> Vec<f32> {
    data.convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
}

fn generate(weights: &Path, backend: &str, target: &Path, sources: &[PathBuf], output: &Path) -> Result<()> {
    let device = device(backend)?;
    let model = load_weights(weights, &device)?;
    let size = model.config.image_size;
    let target = to_tensor(&[load_rgb(target, size)?], &device);
    let sources = sources.iter().map(|p| Ok(to_tensor(&[load_rgb(p, size)?], &device))).collect::<Result<Vec<_>>>()?;
    let generation = model.generate(target, &sources);
    save_png(generation.fused, output)?;
    let stem = output.file_stem().and_then(|s| s.to_str()).unwrap_or("generated");
    for (i, weight) in generation.weights.into_iter().enumerate() {
        save_png(weight, &output.with_file_name(format!("{stem}_mask{i}.png")))?;
    }
    Ok(())
}

fn save_png(image: Tensor<4>, path: &Path) -> Result<()> {
    let [_, c, h, w] = image.dims();
    let values = values(image.into_data());
    from_chw(&values, c, h, w).save(path).with_context(|| format!("cannot write {}", path.display()))
}

fn bench(spec: BenchSpec, backend: &str, frame: Option<&Path>, detector: Option<&Path>) -> Result<()> {
    spec.check().map_err(|e| anyhow!(e))?;
    let device = device(backend)?;
    let frame = frame.map(faces::load_frame).transpose()?;
    let detector = frame.as_ref().map(|_| faces::detector(detector, &device)).transpose()?;
    let start = Instant::now();
    let clock = move || start.elapsed().as_secs_f64() * 1e3;
    let report = pollster::block_on(fabnet::bench::run(&spec, &device, detector.as_ref().zip(frame.as_ref()), &clock)).map_err(|e| anyhow!(e))?;
    // One flat line, as bench/torch_bench.py prints its side.
    let mut line = serde_json::to_value(&report)?;
    line["backend"] = backend.into();
    println!("{line}");
    Ok(())
}
