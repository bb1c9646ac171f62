//! From frames to face tracks and network inputs, with the model crate's detector, tracker
//! and crop geometry: faces are cropped as `fabnet prepare` crops them (what training jitters),
//! and the network sees the paper's centre crop of that.

use fabnet::face::input::geometry;
use fabnet::face::{BoundingBox, CropStream, CutTrack, DetectEvery, RgbFrame, TrackerParams};

use crate::client::Engine;

/// Frames each side of the moving average that smooths a track's boxes (as `fabnet prepare`).
const SMOOTHING: usize = 2;

pub use fabnet::face::input::{face_crop, network_input};

/// One face followed through a clip: the frame each crop came from.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceTrack {
    pub frames: Vec<usize>,
    pub crops: Vec<RgbFrame>,
}

impl From<CutTrack> for FaceTrack {
    fn from(t: CutTrack) -> Self {
        Self { frames: t.frames().collect(), crops: t.crops }
    }
}

/// Frames in, face tracks out, holding only the few frames the crops still need: faces found
/// (under `schedule`: the full detector every few frames, followed in between) are linked into
/// tracks (at least `min_length` frames) and cut as they go; or, when the user drew the box,
/// that box is cut from every frame.
pub enum TrackCutter {
    Found { stream: Box<CropStream>, schedule: DetectEvery },
    Fixed { face: BoundingBox, input: usize, track: FaceTrack },
}

impl TrackCutter {
    pub fn found(min_length: usize, input: usize, detect_every: usize) -> Self {
        let stream = Box::new(CropStream::new(TrackerParams { min_length, ..TrackerParams::default() }, geometry(input), SMOOTHING));
        Self::Found { stream, schedule: DetectEvery::new(detect_every) }
    }

    pub fn fixed(face: BoundingBox, input: usize) -> Self {
        Self::Fixed { face, input, track: FaceTrack { frames: Vec::new(), crops: Vec::new() } }
    }

    /// The next frame (its index in the clip): its faces are found on the engine, unless the
    /// box is the user's.
    pub async fn push(&mut self, engine: &Engine, index: usize, frame: RgbFrame) -> Result<(), String> {
        match self {
            Self::Found { stream, schedule } => {
                let faces = engine.faces_in_video(&frame, schedule).await?;
                stream.push(frame, &faces);
            }
            Self::Fixed { face, input, track } => {
                track.crops.push(face_crop(&frame, face, *input));
                track.frames.push(index);
            }
        }
        Ok(())
    }

    /// Frames the full detector looked at (none when the box is the user's).
    pub fn searched(&self) -> usize {
        match self {
            Self::Found { schedule, .. } => schedule.counts().1,
            Self::Fixed { .. } => 0,
        }
    }

    /// The tracks, ordered by first frame. Track frame numbers count pushed frames.
    pub fn finish(self) -> Vec<FaceTrack> {
        match self {
            Self::Found { stream, .. } => stream.finish().into_iter().map(FaceTrack::from).collect(),
            Self::Fixed { track, .. } => vec![track],
        }
    }
}
