//! The training session that the CLI and the browser's worker both drive, on real frames
//! (carphone, split into tracks held in memory as the browser holds them), on the CPU: the
//! reference's epoch, the two stages, validation, the end of a run, and an exact resume.

mod common;

use std::sync::Arc;

use burn::module::Module;
use burn::tensor::Device;
use fabnet::data::MemoryTracks;
use fabnet::face::RgbFrame;
use fabnet::session::{EpochLength, Recipe, Session, SessionEvent, SessionSettings, Stages};
use fabnet::train::{OptimizerKind, Stage};
use fabnet::weights::{self, WeightsInfo};
use fabnet::{FabNet, FabNetConfig};

use common::data_dir;

/// `tracks` tracks of 12 consecutive carphone frames each (each its own identity).
fn carphone_tracks(tracks: usize, first: usize) -> Arc<MemoryTracks> {
    let frames = (0..tracks)
        .map(|t| {
            (0..12)
                .map(|i| {
                    let path = data_dir().join(format!("carphone/frame{:05}.png", first + t * 12 + i + 1));
                    let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}; run tests/data/fetch.sh first", path.display())).to_rgb8();
                    RgbFrame::new(img.width() as usize, img.height() as usize, img.into_raw()).unwrap()
                })
                .collect()
        })
        .collect();
    Arc::new(MemoryTracks::new(frames))
}

fn settings(epochs: u64) -> SessionSettings {
    let mut s = Recipe::Paper.settings(2, epochs, 1, 5);
    s.batch = 2;
    s.learning_rate = 1e-3;
    s.optimizer = OptimizerKind::Adam;
    s.validation.examples = Some(3);
    s
}

/// The device's generator is shared by the tests running in parallel: seeding and drawing the
/// initial weights happen under one lock, so every session starts from the same weights. (Burn
/// draws a parameter when it is first used: writing the weights out draws them all.)
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn session(settings: SessionSettings, train: Arc<MemoryTracks>) -> Session {
    let device = Device::flex();
    let model = {
        let _one_at_a_time = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        let train_device = device.clone().autodiff();
        train_device.seed(3);
        let model = FabNet::new(FabNetConfig::preset("tiny").unwrap(), &train_device).unwrap();
        let bytes = weights::to_bytes(&model, &WeightsInfo::for_model(&model, "test")).unwrap();
        weights::from_bytes(&bytes, &train_device).unwrap().0
    };
    Session::new(model, settings, train, carphone_tracks(1, 100), device, vec![]).unwrap()
}

fn run(session: &mut Session) -> Vec<SessionEvent> {
    let mut events = Vec::new();
    while !session.is_finished() {
        events.extend(pollster::block_on(session.step_next()));
    }
    events
}

fn steps(events: &[SessionEvent]) -> Vec<(u64, u64, f64, usize)> {
    events
        .iter()
        .filter_map(|e| if let SessionEvent::Step { epoch, step, loss, examples, .. } = e { Some((*epoch, *step, *loss, *examples)) } else { None })
        .collect()
}

#[test]
fn the_reference_epoch_is_each_identity_once_and_stage_two_freezes_the_flow_with_more_views() {
    // Five identities, batch 2: epochs of three batches (2, 2, 1 examples).
    let mut s = session(settings(2), carphone_tracks(5, 0));
    assert_eq!((s.steps_per_epoch(), s.total_steps()), (3, 6));
    assert_eq!(s.next_batch().unwrap().sources.len(), 1, "stage 1: one source view");
    let events = run(&mut s);
    let examples: Vec<(u64, usize)> = steps(&events).iter().map(|&(epoch, _, _, n)| (epoch, n)).collect();
    assert_eq!(examples, vec![(0, 2), (0, 2), (0, 1), (1, 2), (1, 2), (1, 1)]);
    assert!(steps(&events).iter().all(|s| s.2.is_finite() && s.2 > 0.0));
    let validations: Vec<u64> = events.iter().filter_map(|e| if let SessionEvent::Validation { step, .. } = e { Some(*step) } else { None }).collect();
    assert_eq!(validations, vec![3, 6], "one validation per epoch");
    assert!(events.contains(&SessionEvent::StageChanged { epoch: 1, stage: Stage::FrozenFlow, views: 2 }), "{events:?}");
    assert_eq!(events.last(), Some(&SessionEvent::Finished { steps: 6 }));
    assert!(s.is_finished() && s.step_next_is_noop());
    assert!(s.describe().contains("6 steps") && s.describe().contains("each identity once"), "{}", s.describe());
}

/// Stepping a finished session does nothing.
trait Noop {
    fn step_next_is_noop(&mut self) -> bool;
}

impl Noop for Session {
    fn step_next_is_noop(&mut self) -> bool {
        let before = self.state().clone();
        pollster::block_on(self.step_next()).is_empty() && *self.state() == before
    }
}

#[test]
fn a_run_of_some_steps_ends_mid_epoch_with_a_validation() {
    let mut settings = settings(10);
    settings.epoch_length = EpochLength::Batches(4);
    settings.stages = Stages::single(1);
    settings.total_steps = Some(6);
    let mut s = session(settings, carphone_tracks(2, 0));
    let events = run(&mut s);
    assert_eq!(steps(&events).len(), 6);
    let validations: Vec<u64> = events.iter().filter_map(|e| if let SessionEvent::Validation { step, .. } = e { Some(*step) } else { None }).collect();
    assert_eq!(validations, vec![4, 6]);
    assert_eq!(events.last(), Some(&SessionEvent::Finished { steps: 6 }));
}

#[test]
fn a_resumed_session_continues_exactly() {
    let mut settings = settings(2);
    settings.epoch_length = EpochLength::Batches(2);
    settings.sample_every = 3;
    let train = carphone_tracks(2, 0);
    let mut whole = session(settings.clone(), train.clone());
    let all = run(&mut whole);
    assert!(all.iter().any(|e| matches!(e, SessionEvent::Samples(s) if s.step == 3 && s.rows == 2 && s.masks.len() == 2)), "pictures of step 3");

    let mut first = session(settings.clone(), train.clone());
    let mut events = Vec::new();
    for _ in 0..3 {
        events.extend(pollster::block_on(first.step_next()));
    }
    let (state, optimizer) = (first.state().clone(), first.optimizer_bytes().unwrap());
    let state: fabnet::session::SessionState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    let model = first.into_model().valid().train();
    let mut second = Session::resume(model, Some(optimizer), settings, state, train, carphone_tracks(1, 100), Device::flex(), vec![]).unwrap();
    events.extend(run(&mut second));
    let (a, b) = (steps(&all), steps(&events));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!((x.2 - y.2).abs() < 1e-5, "{a:?}\n{b:?}");
    }
}
