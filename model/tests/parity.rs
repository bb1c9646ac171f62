//! Parity with the PyTorch reference: fixtures from `tests/parity/make_fixtures.py` (random
//! weights with real BatchNorm statistics, in the released checkpoint layout).

use std::collections::HashMap;
use std::path::PathBuf;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use fabnet::import::{burn_path, import_official};
use fabnet::loss::{PercentileWindow, per_sample_l1, windowed_mean};
use fabnet::train::{Batch, OptimizerKind, Stage, TrainConfig, Trainer};
use fabnet::{FabNet, Resampling};
use safetensors::SafeTensors;

const TOLERANCE: f32 = 1e-4;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/parity")
}

struct Fixture {
    bytes: Vec<u8>,
    checkpoint: PathBuf,
}

impl Fixture {
    fn open(name: &str) -> Self {
        let dir = fixture_dir();
        let bytes = std::fs::read(dir.join(format!("{name}.safetensors"))).expect("fixture present");
        Self { bytes, checkpoint: dir.join(format!("{name}.pth")) }
    }

    fn data(&self, key: &str) -> TensorData {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let view = st.tensor(key).unwrap_or_else(|_| panic!("fixture has {key}"));
        let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        TensorData::new(values, view.shape().to_vec())
    }

    fn tensor<const D: usize>(&self, key: &str, device: &Device) -> Tensor<D> {
        Tensor::from_data(self.data(key), device)
    }

    fn metadata(&self, key: &str) -> String {
        let (_, meta) = SafeTensors::read_metadata(&self.bytes).unwrap();
        meta.metadata().as_ref().and_then(|m| m.get(key).cloned()).unwrap_or_default()
    }
}

fn max_abs_diff(actual: TensorData, expected: TensorData) -> f32 {
    assert_eq!(actual.shape(), expected.shape(), "shapes differ");
    let a = actual.convert::<f32>().try_into_vec::<f32>().unwrap();
    let e = expected.try_into_vec::<f32>().unwrap();
    a.iter().zip(&e).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn assert_close<const D: usize>(what: &str, actual: Tensor<D>, expected: TensorData) {
    let diff = max_abs_diff(actual.into_data(), expected);
    assert!(diff <= TOLERANCE, "{what}: max abs difference {diff:e} > {TOLERANCE:e}");
}

fn forward_parity(name: &str) {
    let fx = Fixture::open(name);
    let device = Device::flex();
    let align = fx.metadata("align_corners") == "True";
    let views: usize = fx.metadata("views").parse().unwrap();
    let model =
        import_official(&fx.checkpoint, &device).unwrap().with_resampling(Resampling { upsample_align_corners: align, sample_align_corners: align }).valid();
    assert!(model.head.is_some(), "the checkpoint's linear head is imported");

    let target = fx.tensor::<4>("target", &device);
    let sources: Vec<Tensor<4>> = (0..views).map(|v| fx.tensor(&format!("source{v}"), &device)).collect();

    let embedding = model.embed(target.clone());
    assert_close("embedding", embedding.clone(), fx.data("embedding"));
    assert_close("head", model.head_outputs(embedding).unwrap(), fx.data("head"));
    for (v, source) in sources.iter().enumerate() {
        assert_close("source embedding", model.embed(source.clone()), fx.data(&format!("source_embedding{v}")));
    }
    let generation = model.generate(target, &sources);
    for v in 0..views {
        assert_close(&format!("flow {v}"), generation.flows[v].clone(), fx.data(&format!("flow{v}")));
        assert_close(&format!("mask {v}"), generation.masks[v].clone(), fx.data(&format!("mask{v}")));
        assert_close(&format!("weight {v}"), generation.weights[v].clone(), fx.data(&format!("weight{v}")));
    }
    assert_close("fused", generation.fused, fx.data("fused"));
}

#[test]
fn paper_depth_matches_pytorch_from_legacy_checkpoint() {
    forward_parity("paper_depth");
}

#[test]
fn small_network_matches_pytorch_with_align_corners() {
    forward_parity("small_aligned");
}

#[test]
fn small_network_matches_pytorch_without_align_corners() {
    forward_parity("small_unaligned");
}

/// Collects, by module path, every float parameter's gradient (given `grads`) or value.
struct ParamsByPath<'a> {
    grads: Option<&'a GradientsParams>,
    path: Vec<String>,
    out: HashMap<String, TensorData>,
}

impl<'a> ParamsByPath<'a> {
    fn collect(model: &FabNet, grads: Option<&'a GradientsParams>) -> HashMap<String, TensorData> {
        let mut visitor = Self { grads, path: vec![], out: HashMap::new() };
        model.visit(&mut visitor);
        visitor.out
    }
}

impl ModuleVisitor for ParamsByPath<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let data = match self.grads {
            Some(grads) => grads.get::<D>(param.id).map(Tensor::into_data),
            None => Some(param.val().into_data()),
        };
        if let Some(data) = data {
            self.out.insert(self.path.join("."), data);
        }
    }
}

/// Maps PyTorch parameter names to their paths in [`FabNet`].
struct TorchNames(fabnet::FabNetConfig);

impl TorchNames {
    fn new(model: &FabNet) -> Self {
        Self(model.config)
    }

    fn path(&self, torch_name: &str) -> String {
        burn_path(&self.0, torch_name).expect("every torch key maps").replace("norm.weight", "norm.gamma").replace("norm.bias", "norm.beta")
    }
}

#[test]
fn gradients_match_pytorch_in_train_mode() {
    let fx = Fixture::open("tiny_gradients");
    let device = Device::flex().autodiff();
    let model: FabNet = import_official(&fx.checkpoint, &device).unwrap().train();
    let target = fx.tensor::<4>("target", &device);
    let sources: Vec<Tensor<4>> = (0..2).map(|v| fx.tensor(&format!("source{v}"), &device)).collect();

    let generation = model.generate(target.clone(), &sources);
    let losses = per_sample_l1(generation.fused, target);
    let loss = windowed_mean(losses.clone(), PercentileWindow { min: 0.0, max: 0.5 });
    assert_close("per-sample losses", losses, fx.data("losses"));
    assert_close("windowed loss", loss.clone(), fx.data("loss"));

    // Running statistics after one train-mode forward (PyTorch folds in the unbiased variance).
    let norms = model
        .encoder
        .blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("encoder.{}", 3 * i + 3), &b.norm))
        .chain(model.flow.blocks.iter().enumerate().map(|(k, b)| (format!("decoder.{}", 4 * k + 3), &b.norm)))
        .chain(model.mask.blocks.iter().enumerate().map(|(k, b)| (format!("mask.{}", 4 * k + 3), &b.norm)));
    for (torch, norm) in norms {
        assert_close(&format!("{torch} running mean"), norm.running_mean.value_sync(), fx.data(&format!("running.{torch}.running_mean")));
        assert_close(&format!("{torch} running var"), norm.running_var.value_sync(), fx.data(&format!("running.{torch}.running_var")));
    }

    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut ours_by_path = ParamsByPath::collect(&model, Some(&grads));
    let names = TorchNames::new(&model);

    let st = SafeTensors::deserialize(&fx.bytes).unwrap();
    let mut compared = 0;
    for torch_name in st.names().into_iter().filter_map(|n| n.strip_prefix("grad.")) {
        let ours = names.path(torch_name);
        let actual = ours_by_path.remove(&ours).unwrap_or_else(|| panic!("no gradient for {ours} ({torch_name})"));
        let expected = fx.data(&format!("grad.{torch_name}"));
        let scale = expected.iter::<f32>().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(actual, expected);
        // Absolute for the (mathematically zero) conv biases before BatchNorm, relative otherwise.
        let allowed = 1e-6 + 1e-4 * scale;
        assert!(diff <= allowed, "gradient of {torch_name}: max abs difference {diff:e} > {allowed:e}");
        compared += 1;
    }
    assert!(compared > 40, "compared {compared} gradients");
    assert!(ours_by_path.is_empty(), "gradients with no PyTorch counterpart: {:?}", ours_by_path.keys());
}

#[test]
fn two_sgd_momentum_steps_match_pytorch() {
    let fx = Fixture::open("tiny_gradients");
    let device = Device::flex().autodiff();
    let model: FabNet = import_official(&fx.checkpoint, &device).unwrap();
    let config = TrainConfig { optimizer: OptimizerKind::Sgd { momentum: 0.9 }, learning_rate: 0.1, stage: Stage::Full };
    let mut trainer = Trainer::new(model, config);
    let batch = Batch { target: fx.tensor::<4>("target", &device), sources: (0..2).map(|v| fx.tensor(&format!("source{v}"), &device)).collect() };
    for _ in 0..2 {
        trainer.step(batch.clone(), PercentileWindow { min: 0.0, max: 0.5 }, 0.1, false).unwrap();
    }
    let model = trainer.into_model();
    let mut values = ParamsByPath::collect(&model, None);
    let names = TorchNames::new(&model);
    let st = SafeTensors::deserialize(&fx.bytes).unwrap();
    let mut compared = 0;
    for torch_name in st.names().into_iter().filter_map(|n| n.strip_prefix("after_sgd.")) {
        let ours = values.remove(&names.path(torch_name)).expect("parameter exists");
        let diff = max_abs_diff(ours, fx.data(&format!("after_sgd.{torch_name}")));
        assert!(diff <= 1e-5, "{torch_name} after two SGD steps: max abs difference {diff:e}");
        compared += 1;
    }
    assert!(compared > 40);
}
