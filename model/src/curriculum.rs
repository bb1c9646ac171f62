//! The curriculum schedule: a plateau tracker that moves the loss window up the batch.
//!
//! As the reference (`TrackLoss` + `run()` of `train_attention_curriculum.py`): training starts
//! on the easiest half of each batch, `[0, 50%]`. After every epoch the validation loss is
//! observed; when it has not improved for more than `patience` epochs (counted from the best
//! epoch and from the last move), both ends of the window move up by `step`, and the tracker
//! starts afresh. Once the upper end has reached `max_percentile`, plateaus instead reduce the
//! learning rate, as PyTorch's `ReduceLROnPlateau` (factor, patience, relative threshold).
//! The reference only consults its LR scheduler on the tracker's (rare) firings
//! ([`LrDrop::OnTrackerFiring`], the paper's recipe); [`LrDrop::EveryValidation`] lets it see
//! every validation, which is what "reduce the learning rate on plateau" promises.
//! The whole state is plain data (serde), so a resumed run continues exactly.

use serde::{Deserialize, Serialize};

use crate::loss::PercentileWindow;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurriculumConfig {
    pub start: PercentileWindow,
    /// How far both ends move at each plateau (0.1).
    pub step: f64,
    /// The window stops moving once its upper end reaches this (0.85, so it ends at 0.9).
    pub max_percentile: f64,
    /// Epochs without improvement before the window moves (15 in the reference).
    pub patience: u32,
    /// Learning-rate plateau rule once the window is done: multiply by `lr_factor` after more
    /// than `lr_patience` epochs without a relative improvement of `lr_threshold`.
    pub lr_factor: f64,
    pub lr_patience: u32,
    pub lr_threshold: f64,
    /// Which validations the learning-rate rule sees. (Checkpoints from before this field
    /// behaved as `EveryValidation`.)
    #[serde(default = "LrDrop::every_validation")]
    pub lr_drop: LrDrop,
}

/// When the learning-rate plateau rule looks at the validation loss, once the window is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LrDrop {
    /// As the reference: only when the window's plateau tracker fires (after more than
    /// `patience` epochs without a new best), so drops are rare.
    OnTrackerFiring,
    /// At every validation.
    EveryValidation,
}

impl LrDrop {
    fn every_validation() -> Self {
        Self::EveryValidation
    }
}

impl Default for CurriculumConfig {
    fn default() -> Self {
        Self {
            start: PercentileWindow { min: 0.0, max: 0.5 },
            step: 0.1,
            max_percentile: 0.85,
            patience: 15,
            lr_factor: 0.1,
            lr_patience: 10,
            lr_threshold: 1e-4,
            lr_drop: LrDrop::OnTrackerFiring,
        }
    }
}

impl CurriculumConfig {
    /// No curriculum: every sample of every batch counts.
    pub fn off() -> Self {
        Self { start: PercentileWindow::FULL, max_percentile: 0.0, ..Self::default() }
    }
}

/// What an observation changed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum CurriculumEvent {
    Unchanged,
    WindowMoved(PercentileWindow),
    LearningRateReduced(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curriculum {
    pub config: CurriculumConfig,
    pub window: PercentileWindow,
    /// Multiplier on the base learning rate (1, then 0.1, 0.01, ...).
    pub lr_scale: f64,
    /// `None` until a finite loss was seen (JSON has no infinity).
    best_loss: Option<f64>,
    best_epoch: i64,
    last_move: i64,
    lr_best: Option<f64>,
    lr_bad_epochs: u32,
}

impl Curriculum {
    pub fn new(config: CurriculumConfig) -> Self {
        Self { window: config.start, config, lr_scale: 1.0, best_loss: None, best_epoch: -1, last_move: -1, lr_best: None, lr_bad_epochs: 0 }
    }

    /// Whether the window has reached its last position.
    pub fn window_done(&self) -> bool {
        self.window.max >= self.config.max_percentile - 1e-9
    }

    /// Feed the validation loss of `epoch`; returns what moved.
    pub fn observe(&mut self, epoch: u32, val_loss: f64) -> CurriculumEvent {
        let epoch = epoch as i64;
        if !val_loss.is_finite() {
            // A NaN validation is a broken run, not a plateau: leave the schedule alone.
            return CurriculumEvent::Unchanged;
        }
        if self.window_done() && self.config.lr_drop == LrDrop::EveryValidation {
            return self.observe_lr(val_loss);
        }
        if self.best_loss.is_none_or(|best| val_loss < best) {
            self.best_loss = Some(val_loss);
            self.best_epoch = epoch;
            self.last_move = epoch;
        }
        let patience = self.config.patience as i64;
        let fired = epoch - self.best_epoch > patience && epoch - self.last_move > patience;
        if self.window_done() {
            // The reference keeps its tracker and hands this loss to the LR scheduler.
            if fired {
                self.last_move = epoch;
                return self.observe_lr(val_loss);
            }
            return CurriculumEvent::Unchanged;
        }
        if fired {
            self.window.min = (self.window.min + self.config.step).min(1.0);
            self.window.max = (self.window.max + self.config.step).min(1.0);
            // A fresh tracker, as the reference's `scheduler = TrackLoss()`.
            self.best_loss = None;
            self.best_epoch = -1;
            self.last_move = epoch;
            return CurriculumEvent::WindowMoved(self.window);
        }
        CurriculumEvent::Unchanged
    }

    fn observe_lr(&mut self, val_loss: f64) -> CurriculumEvent {
        if self.lr_best.is_none_or(|best| val_loss < best * (1.0 - self.config.lr_threshold)) {
            self.lr_best = Some(val_loss);
            self.lr_bad_epochs = 0;
        } else {
            self.lr_bad_epochs += 1;
        }
        if self.lr_bad_epochs > self.config.lr_patience {
            self.lr_scale *= self.config.lr_factor;
            self.lr_bad_epochs = 0;
            return CurriculumEvent::LearningRateReduced(self.lr_scale);
        }
        CurriculumEvent::Unchanged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plateau_run(curriculum: &mut Curriculum, epochs: std::ops::Range<u32>) -> Vec<(u32, CurriculumEvent)> {
        epochs.map(|e| (e, curriculum.observe(e, 1.0))).filter(|(_, ev)| *ev != CurriculumEvent::Unchanged).collect()
    }

    #[test]
    fn window_moves_after_patience_then_lr_drops() {
        let config = CurriculumConfig { patience: 2, lr_patience: 1, lr_drop: LrDrop::EveryValidation, ..Default::default() };
        let mut c = Curriculum::new(config);
        let events = plateau_run(&mut c, 0..30);
        // Best at epoch 0; fires when epoch - 0 > 2, i.e. at epoch 3; then every 3 epochs.
        let moves: Vec<u32> = events.iter().filter(|(_, e)| matches!(e, CurriculumEvent::WindowMoved(_))).map(|(e, _)| *e).collect();
        assert_eq!(moves, vec![3, 7, 11, 15]);
        assert!((c.window.min - 0.4).abs() < 1e-9 && (c.window.max - 0.9).abs() < 1e-9);
        assert!(events.iter().any(|(_, e)| matches!(e, CurriculumEvent::LearningRateReduced(_))));
        assert!(c.lr_scale < 1.0);
    }

    #[test]
    fn improvement_postpones_the_move() {
        let mut c = Curriculum::new(CurriculumConfig { patience: 2, ..Default::default() });
        for (e, loss) in [1.0, 0.9, 0.8, 0.7, 0.6].into_iter().enumerate() {
            assert_eq!(c.observe(e as u32, loss), CurriculumEvent::Unchanged);
        }
    }

    #[test]
    fn state_round_trips_and_continues_identically() {
        let mut a = Curriculum::new(CurriculumConfig { patience: 3, ..Default::default() });
        for e in 0..6 {
            a.observe(e, 1.0 / (1 + e % 3) as f64);
        }
        let mut b: Curriculum = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        for e in 6..40 {
            let loss = 0.5 + (e % 5) as f64 * 0.01;
            assert_eq!(a.observe(e, loss), b.observe(e, loss));
        }
        assert_eq!(a, b);
    }

    #[test]
    fn as_the_reference_the_lr_rule_sees_only_the_trackers_firings() {
        // Window done from the start; tracker patience 2 fires at epochs 3, 6, 9, ...; the LR
        // rule (patience 1) drops on its second bad firing after its first: the third firing.
        let config = CurriculumConfig { start: PercentileWindow { min: 0.4, max: 0.9 }, patience: 2, lr_patience: 1, ..Default::default() };
        let mut c = Curriculum::new(config);
        let events = plateau_run(&mut c, 0..12);
        assert_eq!(events, vec![(9, CurriculumEvent::LearningRateReduced(0.1))]);
        let mut every = Curriculum::new(CurriculumConfig { lr_drop: LrDrop::EveryValidation, ..c.config.clone() });
        assert_eq!(plateau_run(&mut every, 0..12)[0], (2, CurriculumEvent::LearningRateReduced(0.1)));
    }

    #[test]
    fn nan_is_ignored() {
        let mut c = Curriculum::new(CurriculumConfig::default());
        assert_eq!(c.observe(0, f64::NAN), CurriculumEvent::Unchanged);
        assert_eq!(c.best_epoch, -1);
    }
}
