//! From frames to face tracks and network inputs, with the model crate's detector, tracker
//! and crop geometry: faces are cropped as `fabnet prepare` crops them (what training jitters),
//! and the network sees the paper's centre crop of that.

use fabnet::data::CropJitter;
use fabnet::face::{BoundingBox, CropGeometry, RgbFrame, Tracker, TrackerParams};

use crate::client::Engine;

/// Side of the stored face crops: room for the training jitter at the browser presets' 64 px
/// input, at a quarter of `fabnet prepare`'s 224 px memory.
const CROP_SIZE: usize = 128;

/// The face as `fabnet prepare` frames it (what training samples from).
pub fn face_crop(frame: &RgbFrame, face: &BoundingBox) -> RgbFrame {
    let geometry = CropGeometry { size: CROP_SIZE, ..CropGeometry::default() };
    geometry.crop(frame, &geometry.window(face))
}

/// The network's input for a face crop: the centre crop, planar RGB in [0, 1], `size` x
/// `size`, rounded to 8 bits so that its PNG thumbnail is exactly what was embedded (and
/// `fabnet embed` on that PNG gives the same embedding).
pub fn network_input(crop: &RgbFrame, size: usize) -> Vec<f32> {
    CropJitter::CENTRE.apply(crop, size).into_iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0).collect()
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
    Ok(tracker.finish().into_iter().map(|t| FaceTrack { frames: t.frames().collect(), boxes: t.smoothed(2) }).collect())
}

/// A fixed box the user drew, for every frame of the clip.
pub fn manual_track(frames: usize, face: BoundingBox) -> FaceTrack {
    FaceTrack { frames: (0..frames).collect(), boxes: vec![face; frames] }
}
