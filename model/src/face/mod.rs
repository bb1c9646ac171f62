//! Faces in raw video: detection (MTCNN), linking detections into face tracks, and the crop
//! geometry that turns a track into VoxCeleb-like training frames. Shared by `fabnet prepare`
//! and the browser app; nothing here decodes video or touches the file system.

pub mod boxes;
pub mod crop;
pub mod detect;
pub mod frame;
pub mod input;
pub mod mtcnn;
pub mod pose;
pub mod schedule;
pub mod stream;
pub mod track;
pub mod warm;

pub use boxes::BoundingBox;
pub use crop::CropGeometry;
pub use detect::{DetectParams, Detection, Detector};
pub use frame::RgbFrame;
pub use mtcnn::Mtcnn;
pub use pose::HeadPose;
pub use schedule::{DetectEvery, LiveFaces, LiveStep};
pub use stream::{CropStream, CutTrack};
pub use track::{Track, Tracker, TrackerParams};
pub use warm::WarmPass;
