//! From frames to face tracks and network inputs, with the model crate's detector, tracker
//! and crop geometry: faces are cropped as `fabnet prepare` crops them (what training jitters),
//! and the network sees the paper's centre crop of that.

use fabnet::data::CropJitter;
use fabnet::face::{BoundingBox, CropGeometry, CropStream, CutTrack, RgbFrame, TrackerParams};

use crate::client::Engine;

/// Frames each side of the moving average that smooths a track's boxes (as `fabnet prepare`).
const SMOOTHING: usize = 2;

/// Side of the stored face crops for a network of input side `input`: the network sees the
/// centre 170/256 of a crop, so this keeps real pixels under it (128 px at the 64 px presets,
/// a quarter of `fabnet prepare`'s 224 px memory; more for bigger networks).
pub fn crop_size(input: usize) -> usize {
    (input * 256).div_ceil(170).next_multiple_of(8).max(128)
}

fn geometry(input: usize) -> CropGeometry {
    CropGeometry { size: crop_size(input), ..CropGeometry::default() }
}

/// The face as `fabnet prepare` frames it (what training samples from), for a network of
/// input side `input`.
pub fn face_crop(frame: &RgbFrame, face: &BoundingBox, input: usize) -> RgbFrame {
    let geometry = geometry(input);
    geometry.crop(frame, &geometry.window(face))
}

/// The network's input for a face crop: the centre crop, planar RGB in [0, 1], `size` x
/// `size`, rounded to 8 bits so that its PNG thumbnail is exactly what was embedded (and
/// `fabnet embed` on that PNG gives the same embedding).
pub fn network_input(crop: &RgbFrame, size: usize) -> Vec<f32> {
    CropJitter::CENTRE.apply(crop, size).into_iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0).collect()
}

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

/// Frames in, face tracks out, holding only the few frames the crops still need: detected
/// faces are linked into tracks (at least `min_length` frames) and cut as they go; or, when
/// the user drew the box, that box is cut from every frame.
pub enum TrackCutter {
    Found(Box<CropStream>),
    Fixed { face: BoundingBox, input: usize, track: FaceTrack },
}

impl TrackCutter {
    pub fn found(min_length: usize, input: usize) -> Self {
        Self::Found(Box::new(CropStream::new(TrackerParams { min_length, ..TrackerParams::default() }, geometry(input), SMOOTHING)))
    }

    pub fn fixed(face: BoundingBox, input: usize) -> Self {
        Self::Fixed { face, input, track: FaceTrack { frames: Vec::new(), crops: Vec::new() } }
    }

    /// The next frame (its index in the clip): its faces are found on the engine, unless the
    /// box is the user's.
    pub async fn push(&mut self, engine: &Engine, index: usize, frame: RgbFrame) -> Result<(), String> {
        match self {
            Self::Found(stream) => {
                let faces = engine.detect(&frame).await?;
                stream.push(frame, &faces);
            }
            Self::Fixed { face, input, track } => {
                track.crops.push(face_crop(&frame, face, *input));
                track.frames.push(index);
            }
        }
        Ok(())
    }

    /// The tracks, ordered by first frame. Track frame numbers count pushed frames.
    pub fn finish(self) -> Vec<FaceTrack> {
        match self {
            Self::Found(stream) => stream.finish().into_iter().map(FaceTrack::from).collect(),
            Self::Fixed { track, .. } => vec![track],
        }
    }
}
