//! The shared train step on real frames (carphone), on the CPU: it learns, and stages freeze
//! what they should.
//! Frames come from `tests/data/fetch.sh` (cached outside the clone).

mod common;

use burn::tensor::{Device, Tensor};
use fabnet::image_io::{fit, to_tensor};
use fabnet::loss::PercentileWindow;
use fabnet::train::{Batch, OptimizerKind, Stage, TrainConfig, Trainer};
use fabnet::{FabNet, FabNetConfig};

use common::data_dir;

/// Carphone frames, cropped loosely and squarely around the face (x 40..136, y 8..104).
fn carphone_faces(frames: &[usize], size: usize) -> Vec<image::RgbImage> {
    frames
        .iter()
        .map(|i| {
            let path = data_dir().join(format!("carphone/frame{i:05}.png"));
            let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}; run tests/data/fetch.sh first", path.display()));
            fit(img.crop_imm(40, 8, 96, 96), size)
        })
        .collect()
}

/// Four targets and, as their one source view, frames a few frames later in the same track.
fn carphone_batch(size: usize, device: &Device) -> Batch {
    let targets = carphone_faces(&[10, 40, 70, 100], size);
    let sources = carphone_faces(&[16, 46, 76, 106], size);
    Batch { target: to_tensor(&targets, device), sources: vec![to_tensor(&sources, device)] }
}

#[test]
fn windowed_loss_halves_when_overfitting_carphone_frames() {
    let config = FabNetConfig::preset("tiny").unwrap();
    let device = Device::flex().autodiff();
    let batch = || carphone_batch(config.image_size, &device);

    let model = FabNet::new(config, &device).unwrap();
    let train = TrainConfig { optimizer: OptimizerKind::Adam, learning_rate: 1e-3, stage: Stage::Full };
    let mut trainer = Trainer::new(model, train);
    let window = PercentileWindow { min: 0.0, max: 0.5 };
    let read = |t: Tensor<1>| t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()[0];

    let first = read(trainer.step(batch(), window, 1e-3, false).unwrap().loss);
    let mut last = first;
    for step in 1..=150 {
        last = read(trainer.step(batch(), window, 1e-3, false).unwrap().loss);
        assert!(last.is_finite(), "loss became {last} at step {step}");
        if last < first / 2.0 {
            eprintln!("loss {first:.4} -> {last:.4} in {step} steps");
            return;
        }
    }
    panic!("loss only went from {first:.4} to {last:.4} in 150 steps");
}

#[test]
fn frozen_flow_stage_trains_encoder_and_mask_only() {
    use burn::module::Module;
    let config = FabNetConfig::preset("tiny").unwrap().with_source_views(2);
    let device = Device::flex().autodiff();
    let faces = carphone_faces(&[20, 24, 28, 32], config.image_size);
    let (targets, sources) = (faces[..2].to_vec(), faces[2..].to_vec());
    let model = FabNet::new(config, &device).unwrap();
    let snapshot = |m: &FabNet| {
        let flat = |t: Tensor<4>| t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        (flat(m.flow.last.weight.val()), flat(m.mask.last.weight.val()), flat(m.encoder.first.weight.val()))
    };
    let before = snapshot(&model);
    let config = TrainConfig { optimizer: OptimizerKind::Sgd { momentum: 0.9 }, learning_rate: 0.1, stage: Stage::FrozenFlow };
    let mut trainer = Trainer::new(model, config);
    let batch = Batch { target: to_tensor(&targets, &device), sources: vec![to_tensor(&sources, &device), to_tensor(&targets, &device)] };
    let out = trainer.step(batch, PercentileWindow::FULL, 0.1, true).unwrap();
    let generation = out.generation.expect("generation was asked for");
    assert_eq!(generation.weights.len(), 2);
    assert_eq!(out.losses.dims(), [2]);
    let after = snapshot(trainer.model());
    assert_eq!(before.0, after.0, "flow decoder must stay frozen");
    assert_ne!(before.1, after.1, "mask decoder trains");
    assert_ne!(before.2, after.2, "encoder trains");
    let _ = trainer.into_model().valid();
}

#[test]
fn malformed_batches_are_refused_before_training() {
    let config = FabNetConfig::preset("tiny").unwrap();
    let device = Device::flex().autodiff();
    let mut trainer = Trainer::new(FabNet::new(config, &device).unwrap(), TrainConfig::default());
    let images = |b: usize, s: usize| Tensor::<4>::zeros([b, 3, s, s], &device);
    let cases = [
        (Batch { target: images(2, 32), sources: vec![] }, "at least one source"),
        (Batch { target: images(2, 64), sources: vec![images(2, 64)] }, "expected"),
        (Batch { target: images(2, 32), sources: vec![images(3, 32)] }, "source view 0"),
    ];
    for (batch, needle) in cases {
        let err = trainer.step(batch, PercentileWindow::FULL, 1e-3, false).unwrap_err();
        assert!(err.0.contains(needle), "{err}");
    }
    // The trainer is intact and still trains.
    let ok = Batch { target: images(2, 32), sources: vec![images(2, 32)] };
    assert!(trainer.step(ok, PercentileWindow::FULL, 1e-3, false).is_ok());
}

/// Every float tensor of a module, flattened, in visiting order.
fn parameters(model: &FabNet) -> Vec<Vec<f32>> {
    use burn::module::{Module, ModuleVisitor, Param};
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().into_data().convert::<f32>().try_into_vec::<f32>().unwrap());
        }
    }
    let mut c = Collect(vec![]);
    model.visit(&mut c);
    c.0
}

#[test]
fn a_data_parallel_step_over_two_shards_equals_one_device_on_the_whole_batch() {
    // Two shards holding the same half-batch: per-shard BatchNorm then sees exactly what one
    // device sees, and the whole-batch window keeps both copies of the same samples, so the
    // step must equal the single-device step on that half-batch.
    let config = FabNetConfig::preset("tiny").unwrap();
    let device = Device::flex().autodiff();
    let batch = || carphone_batch(config.image_size, &device);
    device.seed(3);
    let model = FabNet::new(config, &device).unwrap();
    let train = TrainConfig { optimizer: OptimizerKind::Sgd { momentum: 0.9 }, learning_rate: 0.5, stage: Stage::Full };
    let window = PercentileWindow { min: 0.0, max: 0.5 };
    let read = |t: Tensor<1>| t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();

    let initial = parameters(&model);
    let mut single = Trainer::new(model.clone(), train);
    let mut parallel = Trainer::new(model, train);
    for _ in 0..2 {
        let a = single.step(batch(), window, 0.5, false).unwrap();
        let b = parallel.step_parallel(vec![batch(), batch()], window, 0.5, false).unwrap();
        let (la, lb) = (read(a.loss)[0], read(b.loss)[0]);
        assert!((la - lb).abs() < 1e-5, "windowed loss {la} vs {lb}");
        assert_eq!(read(b.losses).len(), 8, "per-sample losses of both shards");
    }
    let (pa, pb) = (parameters(single.model()), parameters(parallel.model()));
    assert_eq!(pa.len(), pb.len());
    let largest_change = |a: &[Vec<f32>], b: &[Vec<f32>]| a.iter().zip(b).flat_map(|(x, y)| x.iter().zip(y).map(|(u, v)| (u - v).abs())).fold(0f32, f32::max);
    let worst = largest_change(&pa, &pb);
    assert!(worst < 1e-4, "parameters differ by {worst} after two steps");
    let moved = largest_change(&initial, &pa);
    assert!(moved > 1e-3, "the steps changed the weights (by {moved})");
}
