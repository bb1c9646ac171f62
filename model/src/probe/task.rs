//! What a probe predicts and how its targets are encoded: shared by `fabnet eval` and the
//! browser's "did fine-tuning help" check, so it holds no file reading.

/// A rectangle in image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    /// `points` (x, y) pairs; errors are normalised by the distance between the two eye points.
    Landmarks { points: usize, left_eye: usize, right_eye: usize },
    /// Roll, pitch, yaw in degrees.
    Pose,
    /// One class index per sample.
    Classes { names: Vec<String> },
    /// Named real values.
    Regression { names: Vec<String> },
}

/// What a data set's targets are, and how the probe predicts them.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The benchmark, in words ("MAFL", "300-W", ...).
    pub name: String,
    pub kind: TaskKind,
}

pub const POSE_NAMES: [&str; 3] = ["roll", "pitch", "yaw"];

impl Task {
    /// Probe outputs per sample: 2 per landmark, one per pose angle, class or value.
    pub fn outputs(&self) -> usize {
        match &self.kind {
            TaskKind::Landmarks { points, .. } => 2 * points,
            TaskKind::Pose => 3,
            TaskKind::Classes { names } | TaskKind::Regression { names } => names.len(),
        }
    }

    /// Targets per sample as a data set stores them.
    pub fn target_len(&self) -> usize {
        match &self.kind {
            TaskKind::Classes { .. } => 1,
            _ => self.outputs(),
        }
    }

    /// What a linear head for this task outputs, in words (stored with saved weights).
    pub fn describe_outputs(&self) -> String {
        match &self.kind {
            TaskKind::Landmarks { points, .. } => {
                format!("{} {points} landmarks (x0, y0, x1, y1, ...) in [0, 1] of the input image", self.name)
            }
            TaskKind::Pose => format!("{} head pose: roll, pitch, yaw in degrees", self.name),
            TaskKind::Classes { names } => format!("{} {}{}", self.name, super::teach::CLASS_SCORES, names.join(", ")),
            TaskKind::Regression { names } => format!("{}: {}", self.name, names.join(", ")),
        }
    }

    /// Targets to what the probe regresses: landmarks relative to `frame` (the crop the network
    /// sees, so that they are comparable across image sizes), a class as a one-hot row.
    pub fn encode(&self, targets: &[f32], frame: Rect) -> Vec<f64> {
        match &self.kind {
            TaskKind::Landmarks { .. } => {
                targets.chunks_exact(2).flat_map(|p| [((p[0] - frame.x) / frame.width) as f64, ((p[1] - frame.y) / frame.height) as f64]).collect()
            }
            TaskKind::Classes { names } => {
                let mut row = vec![0.0; names.len()];
                row[targets[0] as usize] = 1.0;
                row
            }
            _ => targets.iter().map(|&t| t as f64).collect(),
        }
    }

    /// Probe outputs back to target units (landmarks to pixels; class scores unchanged).
    pub fn decode(&self, outputs: &[f64], frame: Rect) -> Vec<f64> {
        match &self.kind {
            TaskKind::Landmarks { .. } => {
                outputs.chunks_exact(2).flat_map(|p| [frame.x as f64 + p[0] * frame.width as f64, frame.y as f64 + p[1] * frame.height as f64]).collect()
            }
            _ => outputs.to_vec(),
        }
    }
}
