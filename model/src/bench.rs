//! One benchmark for every front-end: `fabnet bench` and the app's worker run this same code on
//! their device, so a browser figure and a native one on the same adapter measure the same
//! work. The caller brings the clock (the browser has no `Instant`) and, for the detector rows,
//! the face detector and a frame with a face.

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use crate::face::{Detection, Detector, RgbFrame, input};
use crate::loss::PercentileWindow;
use crate::readback::values;
use crate::train::{Batch, OptimizerKind, Stage, TrainConfig, Trainer};
use crate::{FabNet, FabNetConfig};

/// What to measure: a preset's network (freshly initialised), its batch sizes, and how many
/// timed repetitions follow the first (untimed in the averages: it compiles the kernels).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchSpec {
    pub preset: String,
    pub encoder_batch: usize,
    pub train_batch: usize,
    pub source_views: usize,
    pub repeats: usize,
}

impl BenchSpec {
    /// Repetitions beyond any use (a benchmark is not a training run).
    pub const MAX_REPEATS: usize = 100;

    pub fn check(&self) -> Result<FabNetConfig, String> {
        if self.encoder_batch == 0 || self.train_batch == 0 || self.source_views == 0 || self.repeats == 0 {
            return Err("batch sizes, views and repetitions must be at least 1".into());
        }
        if self.repeats > Self::MAX_REPEATS {
            return Err(format!("at most {} repetitions", Self::MAX_REPEATS));
        }
        let config = FabNetConfig::preset(&self.preset).map_err(|e| e.to_string())?.with_source_views(self.source_views);
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// The figures, each the mean of the timed repetitions; `*_first_ms` is the first run alone
/// (kernel compilation and autotuning included), what a user waits for once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub preset: String,
    pub image_size: usize,
    pub encoder_batch: usize,
    pub encoder_first_ms: f64,
    pub encoder_images_per_s: f64,
    pub train_batch: usize,
    pub source_views: usize,
    pub train_first_ms: f64,
    pub train_step_s: f64,
    pub train_samples_per_s: f64,
    /// The floor under every read: one tiny kernel and its result read back.
    pub round_trip_ms: f64,
    /// What one more kernel costs: a chain of 2 x [`CHAIN`] tiny element-wise kernels read
    /// back once, less a round trip, per kernel. Where a front-end's figures above are far from
    /// the device's, these two say whether launches or reads take the time.
    pub kernel_us: f64,
    /// Absent when no frame was given.
    pub detector: Option<DetectorReport>,
}

/// The detector on a fixed frame, and a webcam frame: the face followed from the last frame
/// (O-Net), cropped as in training and embedded alone, as the app's live view does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectorReport {
    pub frame_width: usize,
    pub frame_height: usize,
    pub faces: usize,
    pub detect_first_ms: f64,
    pub detect_ms: f64,
    /// The live pyramid ([`Detector::detect_live`]): what the webcam runs when it looks again.
    pub live_detect_ms: f64,
    pub follow_ms: f64,
    pub embed_ms: f64,
    pub webcam_frame_ms: f64,
}

/// Multiply-adds in the chain that [`BenchReport::kernel_us`] times (two kernels each).
pub const CHAIN: usize = 100;

/// A clock in milliseconds; only differences are used.
pub type Clock<'a> = &'a dyn Fn() -> f64;

/// Run the benchmark on `device`; the detector rows when `detector` is given, on its frame.
pub async fn run(spec: &BenchSpec, device: &Device, detector: Option<(&Detector, &RgbFrame)>, clock: Clock<'_>) -> Result<BenchReport, String> {
    let config = spec.check()?;
    let size = config.image_size;
    let images = |b: usize, device: &Device| Tensor::<4>::random([b, 3, size, size], Distribution::Uniform(0.0, 1.0), device);

    let model = FabNet::new(config, device).map_err(|e| e.to_string())?.valid();
    let batch = images(spec.encoder_batch, device);
    let (encoder_first_ms, encode_ms) = timed(spec.repeats, clock, || async { values(model.embed(batch.clone())).await.map(drop) }).await?;

    let train_device = device.clone().autodiff();
    let stage = if spec.source_views > 1 { Stage::FrozenFlow } else { Stage::Full };
    let trainer = FabNet::new(config, &train_device).map_err(|e| e.to_string())?;
    let mut trainer = Trainer::new(trainer, TrainConfig { optimizer: OptimizerKind::Sgd { momentum: 0.9 }, learning_rate: 1e-4, stage });
    let window = PercentileWindow { min: 0.0, max: 0.5 };
    let mut step_ms = Vec::with_capacity(spec.repeats + 1);
    for _ in 0..=spec.repeats {
        // The batch is on the device before the clock starts: a step, not an upload.
        let batch = Batch {
            target: images(spec.train_batch, &train_device),
            sources: (0..spec.source_views).map(|_| images(spec.train_batch, &train_device)).collect(),
        };
        values(batch.target.clone()).await?;
        let start = clock();
        let out = trainer.step(batch, window, 1e-4, false).map_err(|e| e.to_string())?;
        values(out.losses).await?;
        step_ms.push(clock() - start);
    }
    let train_first_ms = step_ms[0];
    let train_step_s = mean(&step_ms[1..]) / 1e3;

    let tiny = Tensor::<1>::ones([16], device);
    let (_, round_trip_ms) = timed(spec.repeats, clock, || async { values(tiny.clone().add_scalar(1.0)).await.map(drop) }).await?;
    let (_, chain_ms) = timed(spec.repeats, clock, || async {
        // Each step depends on the last, so none can be skipped or merged.
        let mut x = tiny.clone();
        for _ in 0..CHAIN {
            x = x.mul_scalar(1.0001).add_scalar(0.0001);
        }
        values(x).await.map(drop)
    })
    .await?;
    // `x * a + b` is two kernels without fusion.
    let kernel_us = (chain_ms - round_trip_ms).max(0.0) * 1e3 / (2 * CHAIN) as f64;

    let detector = match detector {
        Some((detector, frame)) => Some(detector_rows(spec.repeats, &model, device, detector, frame, clock).await?),
        None => None,
    };
    Ok(BenchReport {
        preset: spec.preset.clone(),
        image_size: size,
        encoder_batch: spec.encoder_batch,
        encoder_first_ms,
        encoder_images_per_s: spec.encoder_batch as f64 * 1e3 / encode_ms,
        train_batch: spec.train_batch,
        source_views: spec.source_views,
        train_first_ms,
        train_step_s,
        train_samples_per_s: spec.train_batch as f64 / train_step_s,
        round_trip_ms,
        kernel_us,
        detector,
    })
}

async fn detector_rows(
    repeats: usize,
    model: &FabNet,
    device: &Device,
    detector: &Detector,
    frame: &RgbFrame,
    clock: Clock<'_>,
) -> Result<DetectorReport, String> {
    let detect = || async { detector.detect(frame).await.map_err(|e| e.to_string()) };
    let start = clock();
    let faces = detect().await?;
    let detect_first_ms = clock() - start;
    let (_, detect_ms) = timed(repeats, clock, || async { detect().await.map(drop) }).await?;
    let (_, live_detect_ms) = timed(repeats, clock, || async { detector.detect_live(frame).await.map(drop).map_err(|e| e.to_string()) }).await?;

    // The live view's steady state: follow the face of the last frame, embed its crop.
    let size = model.config.image_size;
    let mut followed = faces.clone();
    let (mut follow_ms, mut embed_ms) = (Vec::new(), Vec::new());
    for _ in 0..=repeats {
        let start = clock();
        let found = if followed.is_empty() { Vec::new() } else { detector.follow(frame, &followed).await.map_err(|e| e.to_string())? };
        let middle = clock();
        // Embedded even when the face was lost (the frame's centre), so the row always counts both.
        let face = Detection::largest(&found).or(Detection::largest(&faces)).map(|d| d.bbox).unwrap_or(crate::face::BoundingBox {
            x1: 0.0,
            y1: 0.0,
            x2: frame.width as f32,
            y2: frame.height as f32,
            score: 0.0,
        });
        let pixels = input::network_input(&input::face_crop(frame, &face, size), size);
        let tensor = Tensor::<1>::from_floats(pixels.as_slice(), device).reshape([1, 3, size, size]);
        values(model.embed(tensor)).await?;
        follow_ms.push(middle - start);
        embed_ms.push(clock() - middle);
        if !found.is_empty() {
            followed = found;
        }
    }
    let (follow_ms, embed_ms) = (mean(&follow_ms[1..]), mean(&embed_ms[1..]));
    Ok(DetectorReport {
        frame_width: frame.width,
        frame_height: frame.height,
        faces: faces.len(),
        detect_first_ms,
        detect_ms,
        live_detect_ms,
        follow_ms,
        embed_ms,
        webcam_frame_ms: follow_ms + embed_ms,
    })
}

/// The first run's time and the mean of `repeats` more, in milliseconds.
async fn timed<F, Fut>(repeats: usize, clock: Clock<'_>, mut work: F) -> Result<(f64, f64), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut times = Vec::with_capacity(repeats + 1);
    for _ in 0..=repeats {
        let start = clock();
        work().await?;
        times.push(clock() - start);
    }
    Ok((times[0], mean(&times[1..])))
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> BenchSpec {
        BenchSpec { preset: "tiny".into(), encoder_batch: 2, train_batch: 2, source_views: 2, repeats: 1 }
    }

    #[test]
    fn bad_specs_are_refused_in_words() {
        for (bad, says) in [
            (BenchSpec { train_batch: 0, ..spec() }, "at least 1"),
            (BenchSpec { repeats: 1000, ..spec() }, "at most 100"),
            (BenchSpec { preset: "huge".into(), ..spec() }, "huge"),
        ] {
            let e = bad.check().unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn every_figure_is_measured_and_finite() {
        let start = std::time::Instant::now();
        let clock = move || start.elapsed().as_secs_f64() * 1e3;
        let device = Device::flex();
        let report = pollster::block_on(run(&spec(), &device, None, &clock)).unwrap();
        assert_eq!((report.image_size, report.train_batch, report.source_views), (FabNetConfig::preset("tiny").unwrap().image_size, 2, 2));
        for v in
            [report.encoder_first_ms, report.encoder_images_per_s, report.train_first_ms, report.train_step_s, report.train_samples_per_s, report.round_trip_ms]
        {
            assert!(v.is_finite() && v > 0.0, "{report:?}");
        }
        assert!(report.detector.is_none());
    }
}
