//! The papers' metrics: landmark error in % of the inter-ocular distance, pose MAE in degrees,
//! classification accuracy, regression MAE.

use std::collections::BTreeMap;

use serde::Serialize;

use super::task::{POSE_NAMES, Task, TaskKind};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// `interocular_error_percent`, `mae_degrees`, `accuracy` or `mae`.
    pub metric: &'static str,
    /// Over all targets (for pose and regression, the mean of `per_target`).
    pub value: f64,
    /// Per pose angle or regression target; empty otherwise.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub per_target: BTreeMap<String, f64>,
}

impl Score {
    /// Lower is better.
    pub fn loss(&self) -> f64 {
        if self.metric == "accuracy" { 1.0 - self.value } else { self.value }
    }
}

/// Score `predicted` (in target units, see [`Task::decode`]) against the `truth` targets.
pub fn score(task: &Task, truth: &[&[f32]], predicted: &[Vec<f64>]) -> Score {
    assert_eq!(truth.len(), predicted.len(), "one prediction per sample");
    let n = truth.len().max(1) as f64;
    match &task.kind {
        TaskKind::Landmarks { left_eye, right_eye, .. } => {
            let point = |v: &[f32], i: usize| (v[2 * i] as f64, v[2 * i + 1] as f64);
            let total: f64 = truth
                .iter()
                .zip(predicted)
                .map(|(t, p)| {
                    let ((lx, ly), (rx, ry)) = (point(t, *left_eye), point(t, *right_eye));
                    let inter_ocular = (lx - rx).hypot(ly - ry);
                    let errors: Vec<f64> = t.chunks_exact(2).zip(p.chunks_exact(2)).map(|(t, p)| (t[0] as f64 - p[0]).hypot(t[1] as f64 - p[1])).collect();
                    errors.iter().sum::<f64>() / errors.len() as f64 / inter_ocular
                })
                .sum();
            Score { metric: "interocular_error_percent", value: 100.0 * total / n, per_target: BTreeMap::new() }
        }
        TaskKind::Classes { .. } => {
            let correct = truth.iter().zip(predicted).filter(|(t, p)| argmax(p) == t[0] as usize).count();
            Score { metric: "accuracy", value: correct as f64 / n, per_target: BTreeMap::new() }
        }
        TaskKind::Pose => mae("mae_degrees", &POSE_NAMES.map(String::from), truth, predicted),
        TaskKind::Regression { names } => mae("mae", names, truth, predicted),
    }
}

fn mae(metric: &'static str, names: &[String], truth: &[&[f32]], predicted: &[Vec<f64>]) -> Score {
    let n = truth.len().max(1) as f64;
    let per_target: BTreeMap<String, f64> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), truth.iter().zip(predicted).map(|(t, p)| (t[i] as f64 - p[i]).abs()).sum::<f64>() / n))
        .collect();
    let value = per_target.values().sum::<f64>() / names.len() as f64;
    Score { metric, value, per_target }
}

pub fn argmax(scores: &[f64]) -> usize {
    (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landmark_error_is_relative_to_the_eye_distance() {
        let task = Task { name: "t".into(), kind: TaskKind::Landmarks { points: 2, left_eye: 0, right_eye: 1 } };
        // Eyes 10 px apart; each prediction 1 px off: 10%.
        let truth = [0.0, 0.0, 10.0, 0.0];
        let s = score(&task, &[&truth], &[vec![1.0, 0.0, 10.0, 1.0]]);
        assert!((s.value - 10.0).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn pose_mae_per_angle_and_accuracy() {
        let pose = Task { name: "p".into(), kind: TaskKind::Pose };
        let s = score(&pose, &[&[1.0, 2.0, 3.0], &[0.0, 0.0, 0.0]], &[vec![2.0, 2.0, 3.0], vec![0.0, -4.0, 0.0]]);
        assert_eq!(s.per_target["roll"], 0.5);
        assert_eq!(s.per_target["pitch"], 2.0);
        assert_eq!(s.per_target["yaw"], 0.0);
        assert!((s.value - 2.5 / 3.0).abs() < 1e-12);
        let classes = Task { name: "c".into(), kind: TaskKind::Classes { names: vec!["a".into(), "b".into()] } };
        let s = score(&classes, &[&[1.0], &[0.0]], &[vec![0.2, 0.8], vec![0.1, 0.9]]);
        assert_eq!((s.value, s.loss()), (0.5, 0.5));
    }
}
