//! From frames to face tracks and network inputs, with the model crate's detector, tracker
//! and crop geometry: the same framing as `fabnet prepare` followed by the paper's centre
//! crop, cut from the frame in one resampling.

use fabnet::data::CropJitter;
use fabnet::face::{BoundingBox, CropGeometry, RgbFrame, Tracker, TrackerParams};

use crate::gpu::Engine;

/// The network's input for a face box: planar RGB in [0, 1], `size` x `size`.
pub fn network_input(frame: &RgbFrame, face: &BoundingBox, size: usize) -> Vec<f32> {
    let w = CropGeometry::default().window(face);
    CropJitter::CENTRE.apply_within(frame, w.cx - w.side / 2.0, w.cy - w.side / 2.0, w.side, w.side, size)
}

/// One face followed through a clip.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceTrack {
    /// Index of each frame in the clip.
    pub frames: Vec<usize>,
    pub boxes: Vec<BoundingBox>,
}

/// Detect faces in every frame and link them into tracks (at least `min_length` frames).
pub async fn find_tracks(engine: &Engine, frames: &[RgbFrame], min_length: usize, progress: impl Fn(usize)) -> Result<Vec<FaceTrack>, String> {
    let mut tracker = Tracker::new(TrackerParams { min_length, ..TrackerParams::default() });
    for (i, frame) in frames.iter().enumerate() {
        let faces = engine.detect(frame).await?;
        tracker.push_frame(frame, &faces);
        progress(i + 1);
    }
    Ok(tracker
        .finish()
        .into_iter()
        .map(|t| FaceTrack { frames: t.frames().collect(), boxes: t.smoothed(2) })
        .collect())
}

/// A fixed box the user drew, for every frame of the clip.
pub fn manual_track(frames: usize, face: BoundingBox) -> FaceTrack {
    FaceTrack { frames: (0..frames).collect(), boxes: vec![face; frames] }
}
