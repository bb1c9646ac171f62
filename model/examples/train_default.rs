//! Trains the app's default weights on the frames of one face clip, with the shared train step
//! and the curriculum. A stand-in for the full `fabnet train` (VoxCeleb scale) that produces
//! honest, small weights from the real clip this machine can have:
//!
//! ```sh
//! tests/data/fetch.sh
//! cargo run --release -p fabnet --example train_default -- \
//!     ~/.cache/fabnet-data/carphone public/weights/default.fabnet
//! ```

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::Device;
use fabnet::curriculum::{Curriculum, CurriculumConfig};
use fabnet::image_io::{fit, to_tensor};
use fabnet::loss::windowed_mean_host;
use fabnet::train::{Batch, OptimizerKind, Stage, TrainConfig, Trainer};
use fabnet::weights::{self, WeightsInfo};
use fabnet::{FabNet, FabNetConfig};

const PRESET: &str = "small";
const EPOCHS: u32 = 40;
const STEPS_PER_EPOCH: usize = 25;
const BATCH: usize = 8;
const MAX_GAP: usize = 12;
const SEED: u64 = 7;
const LEARNING_RATE: f64 = 2e-4;

/// A tiny deterministic generator (xorshift), so the run is reproducible without extra crates.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [frames_dir, output] = args.as_slice() else {
        return Err("usage: train_default FRAMES_DIR OUTPUT.fabnet".into());
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(frames_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png" || x == "jpg"))
        .collect();
    paths.sort();
    if paths.len() < 2 * MAX_GAP {
        return Err(format!("{}: need at least {} frames", frames_dir.display(), 2 * MAX_GAP).into());
    }
    let config = FabNetConfig::preset(PRESET)?.with_source_views(1);
    let size = config.image_size;
    // The carphone face sits in a loose square of 96 px at (40, 8); jitter it by up to 8 px,
    // as the paper's loader jitters its crops.
    let frames: Vec<image::DynamicImage> = paths.iter().map(image::open).collect::<Result<_, _>>()?;
    let mut rng = Rng(SEED);
    let crop = |i: usize, rng: &mut Rng| {
        let (dx, dy) = (rng.below(17) as u32, rng.below(17) as u32);
        fit(frames[i].crop_imm(32 + dx, dy, 96, 96), size)
    };
    // Hold out the last fifth of the clip for validation.
    let split = frames.len() * 4 / 5;

    let device = Device::flex().autodiff();
    let model = FabNet::new(config, &device)?;
    let train = TrainConfig { optimizer: OptimizerKind::Adam, learning_rate: LEARNING_RATE, stage: Stage::Full };
    let mut trainer = Trainer::new(model, train);
    let mut curriculum = Curriculum::new(CurriculumConfig { patience: 3, ..Default::default() });

    let sample = |lo: usize, hi: usize, rng: &mut Rng| {
        let (mut targets, mut sources) = (vec![], vec![]);
        for _ in 0..BATCH {
            let t = lo + rng.below(hi - lo);
            let gap = 1 + rng.below(MAX_GAP);
            let s = if t + gap < hi { t + gap } else { t - gap };
            targets.push(crop(t, rng));
            sources.push(crop(s, rng));
        }
        Batch { target: to_tensor(&targets, &device), sources: vec![to_tensor(&sources, &device)] }
    };
    let read = |t: burn::tensor::Tensor<1>| t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();

    for epoch in 0..EPOCHS {
        let lr = LEARNING_RATE * curriculum.lr_scale;
        let mut train_loss = 0.0;
        for _ in 0..STEPS_PER_EPOCH {
            let batch = sample(0, split, &mut rng);
            train_loss += read(trainer.step(batch, curriculum.window, lr, false)?.loss)[0] / STEPS_PER_EPOCH as f32;
        }
        let eval = trainer.model().valid();
        let mut val = vec![];
        for _ in 0..4 {
            let b = sample(split, frames.len(), &mut rng);
            let g = eval.generate(b.target.clone().inner(), &b.sources.iter().map(|s| s.clone().inner()).collect::<Vec<_>>());
            val.extend(read(fabnet::loss::per_sample_l1(g.fused, b.target.inner())));
        }
        let val_loss = windowed_mean_host(&val, fabnet::loss::PercentileWindow::FULL);
        let event = curriculum.observe(epoch, val_loss as f64);
        eprintln!(
            "epoch {epoch:3}  train {train_loss:.4}  val {val_loss:.4}  window [{:.1}, {:.1}]  {event:?}",
            curriculum.window.min, curriculum.window.max
        );
    }

    let model = trainer.into_model().valid();
    let info = WeightsInfo::for_model(&model, format!(
        "Trained from scratch by `cargo run --release -p fabnet --example train_default` on the 120 frames of \
         the carphone test clip (one man talking in a car; frames 1-96 train, 97-120 validation), \
         preset '{PRESET}', {EPOCHS} epochs of {STEPS_PER_EPOCH} steps, batch {BATCH}, Adam lr {LEARNING_RATE:e}, curriculum on, seed {SEED}. \
         One face in one clip: it shows the pipeline working, it is not a general face embedding \
         (import the authors' weights or fine-tune on your own clips for that)."
    ));
    weights::save_file(output, &model, &info)?;
    eprintln!("wrote {}", output.display());
    Ok(())
}
