//! `fabnet eval`: the paper's linear probes on frozen embeddings. Reads a benchmark's published
//! annotations, embeds its faces, fits a ridge probe on the training split and prints one JSON
//! line with the test metric, the mean-prediction baseline and the counts; `--save-head` keeps
//! the probe as the weights' linear head.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use clap::{Args, ValueEnum};
use fabnet::FabNet;
use fabnet::probe::{self, Dataset, EvalOptions, Lambda, datasets};
use fabnet::weights::{self, WeightsInfo};
use serde::Serialize;

/// Share of the training annotations held out when no `--test` is given.
const HOLD_OUT: f64 = 0.2;
/// How often to say how far the embedding has come.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum Format {
    /// MAFL split lists (`training.txt`, `testing.txt`) over CelebA's aligned landmarks.
    Mafl,
    /// Folders of iBUG `.pts` files (68 points) with their images.
    #[value(name = "300w")]
    W300,
    /// AFLW's `aflw.sqlite` (head pose).
    Aflw,
    /// AffectNet's `training.csv` / `validation.csv` (expression).
    Affectnet,
    /// `image,<target names...>`, image paths relative to the CSV.
    Csv,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum BatchNormMode {
    Running,
    Batch,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// FAb-Net weights (the project's format) whose encoder is probed.
    #[arg(long)]
    pub weights: PathBuf,
    #[arg(long, value_enum)]
    pub format: Format,
    /// Training annotations: a MAFL split list, a 300-W folder, aflw.sqlite, an AffectNet or
    /// generic CSV.
    #[arg(long)]
    pub train: PathBuf,
    /// Test annotations, same format; when omitted, the last 20% of --train is held out.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Image folder: mafl img_align_celeba, aflw the folder the database's paths start from
    /// (default: flickr/ beside it), affectnet Manually_Annotated_Images (default: beside the CSV).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// mafl: CelebA's list_landmarks_align_celeba.txt (default: searched beside the split list).
    #[arg(long)]
    pub landmarks: Option<PathBuf>,
    /// csv: the single target column holds class labels (accuracy instead of MAE).
    #[arg(long)]
    pub classes: bool,
    /// Ridge strength on standardised features (default: 5-fold cross-validation on --train).
    #[arg(long)]
    pub lambda: Option<f64>,
    #[arg(long, default_value = "flex")]
    pub backend: String,
    /// Images per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Write the weights again with the probe as their linear head.
    #[arg(long)]
    pub save_head: Option<PathBuf>,
    /// What the saved head predicts, in words (default: from the task).
    #[arg(long)]
    pub head_task: Option<String>,
    /// Also run the same probe on the untrained network of the same config and seed and on
    /// the faces' grey levels, and print the table (a probe score means little without them).
    #[arg(long)]
    pub baselines: bool,
    /// Seed of the untrained network (default: the weights' own initialisation seed when they
    /// record it, else 0).
    #[arg(long, requires = "baselines")]
    pub baseline_seed: Option<u64>,
    /// How the networks' BatchNorm layers normalise while embedding: `running`, with the
    /// statistics they learned (inference, as the reference evaluates), or `batch`, with each
    /// batch's own (as in training; the result then depends on --batch and on which images
    /// share a batch).
    #[arg(long, value_enum, default_value = "running")]
    pub batch_norm: BatchNormMode,
    /// Scale each embedding to unit length before the probe (the explorer's cosine similarity
    /// sees them so); the pixel baseline is left as it is.
    #[arg(long, conflicts_with = "save_head")]
    pub normalise: bool,
}

/// The printed result: the format, then the report's fields.
#[derive(Serialize)]
struct Line<'a> {
    format: &'static str,
    #[serde(flatten)]
    report: &'a probe::Report,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    check(args)?;
    let train = read(args, &args.train)?;
    let (train, mut test) = match &args.test {
        Some(path) => (train, read(args, path)?),
        None => train.split_tail(HOLD_OUT)?,
    };
    train.align(&mut test)?;

    let device = crate::device(&args.backend)?;
    // On an autodiff device the BatchNorm layers use the batch's statistics, as in training.
    let device = if args.batch_norm == BatchNormMode::Batch { device.autodiff() } else { device };
    let (model, info) = weights::load_file(&args.weights, &device)?;
    let model = if args.batch_norm == BatchNormMode::Batch { model.train() } else { model };
    let lambda = args.lambda.map_or(Lambda::CrossValidated, Lambda::Fixed);
    let options = EvalOptions { batch: args.batch, lambda, normalise: args.normalise };
    let mut last = Instant::now();
    let mut progress = |split: &str, done: usize, total: usize| {
        if done == total || last.elapsed() >= PROGRESS_EVERY {
            eprintln!("embedded {done}/{total} {split} images");
            last = Instant::now();
        }
    };
    let untrained = if args.baselines {
        let seed = args.baseline_seed.or(info.init_seed).unwrap_or(0);
        device.seed(seed);
        Some((FabNet::new(model.config, &device)?, seed))
    } else {
        None
    };
    let untrained = untrained.as_ref().map(|(m, seed)| (m, *seed));
    let evaluation = probe::evaluate(&model, untrained, &train, &test, &device, &options, &mut progress)?;
    for (_, why) in &evaluation.skipped {
        eprintln!("skipped: {why}");
    }
    let report = &evaluation.report;
    if let Some(baselines) = &report.baselines {
        eprint!("{}", table(&args.weights, report, baselines));
    }
    println!("{}", serde_json::to_string(&Line { format: format_name(args.format), report })?);

    if let Some(output) = &args.save_head {
        let head = probe::to_head(&evaluation.probe, &device).map_err(anyhow::Error::msg)?;
        let model = model.with_head(Some(head));
        let provenance = format!(
            "{} Linear head: ridge probe (lambda {}, {}) fitted by `fabnet eval --format {}` on {} images of {}; \
             test {} {:.4} (mean baseline {:.4}).",
            info.provenance,
            report.lambda,
            report.lambda_from,
            format_name(args.format),
            report.images.train,
            args.train.display(),
            report.probe.metric,
            report.probe.value,
            report.baseline.value,
        );
        let mut info = WeightsInfo::for_model(&model, provenance.trim_start());
        info.head_task = Some(args.head_task.clone().unwrap_or_else(|| train.task.describe_outputs()));
        weights::save_file(output, &model, &info)?;
        eprintln!("wrote {} (head: {})", output.display(), info.head_task.as_deref().unwrap_or_default());
    }
    Ok(())
}

/// The score beside its baselines, for people: lower is better except for accuracy.
fn table(weights: &Path, report: &probe::Report, baselines: &probe::Baselines) -> String {
    let score = |s: &probe::Score| {
        let per: Vec<String> = s.per_target.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
        if per.is_empty() { format!("{:8.3}", s.value) } else { format!("{:8.3}  ({})", s.value, per.join(", ")) }
    };
    let name = weights.file_name().map_or_else(|| weights.display().to_string(), |n| n.to_string_lossy().into_owned());
    let rows = [
        (format!("{name} ({}-d)", report.embedding_dim), &report.probe),
        (format!("untrained network (seed {})", baselines.untrained_seed), &baselines.untrained),
        (format!("pixels ({0}x{0} grey)", baselines.pixel_side), &baselines.pixels),
        ("training mean".to_string(), &report.baseline),
    ];
    let mut out = format!(
        "{}: {} on {} test images (probe fitted on {}; {})\n",
        report.task,
        report.probe.metric,
        report.images.test,
        report.images.train,
        if report.probe.metric == "accuracy" { "higher is better" } else { "lower is better" }
    );
    for (label, s) in rows {
        out.push_str(&format!("  {label:<34}{}\n", score(s)));
    }
    out
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Mafl => "mafl",
        Format::W300 => "300w",
        Format::Aflw => "aflw",
        Format::Affectnet => "affectnet",
        Format::Csv => "csv",
    }
}

fn check(args: &EvalArgs) -> Result<()> {
    let name = format_name(args.format);
    if args.classes && args.format != Format::Csv {
        bail!("--classes applies to --format csv only ({name} knows its targets)");
    }
    if args.images.is_some() && matches!(args.format, Format::W300 | Format::Csv) {
        bail!("--images does not apply to --format {name} (its image paths are beside or relative to the annotations)");
    }
    if args.landmarks.is_some() && args.format != Format::Mafl {
        bail!("--landmarks applies to --format mafl only");
    }
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if args.save_head.is_some() && args.batch_norm == BatchNormMode::Batch {
        bail!("--save-head needs --batch-norm running: a head is applied to embeddings made with the running statistics");
    }
    if let Some(lambda) = args.lambda
        && !(lambda.is_finite() && lambda > 0.0)
    {
        bail!("--lambda must be a positive number, got {lambda}");
    }
    if let Some(test) = &args.test {
        let same = |a: &Path, b: &Path| a.canonicalize().ok().zip(b.canonicalize().ok()).is_some_and(|(a, b)| a == b);
        if same(&args.train, test) {
            bail!("--train and --test are the same ({}); omit --test to hold out the last 20%", test.display());
        }
    }
    Ok(())
}

fn folder_of(path: &Path) -> PathBuf {
    path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `folder/name` when it exists, else `folder` itself.
fn default_images(annotations: &Path, name: &str) -> PathBuf {
    let folder = folder_of(annotations);
    let inside = folder.join(name);
    if inside.is_dir() { inside } else { folder }
}

fn read(args: &EvalArgs, path: &Path) -> Result<Dataset> {
    match args.format {
        Format::Mafl => {
            let (found_landmarks, found_images) = datasets::locate_celeba(&folder_of(path));
            let hint = || format!("MAFL split {} (or pass --landmarks and --images)", path.display());
            let landmarks = args.landmarks.clone().map_or_else(|| found_landmarks.with_context(hint), Ok)?;
            let images = args.images.clone().map_or_else(|| found_images.with_context(hint), Ok)?;
            datasets::read_mafl(&landmarks, path, &images)
        }
        Format::W300 => datasets::read_300w(path),
        Format::Aflw => {
            let images = args.images.clone().unwrap_or_else(|| default_images(path, "flickr"));
            datasets::read_aflw(path, &images)
        }
        Format::Affectnet => {
            let images = args.images.clone().unwrap_or_else(|| default_images(path, "Manually_Annotated_Images"));
            datasets::read_affectnet(path, &images)
        }
        Format::Csv => datasets::read_csv(path, args.classes),
    }
}
