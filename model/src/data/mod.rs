//! Training data: face-track folders (the VoxCeleb layout `IDENTITY/VIDEO/TRACK/*.jpg`, which
//! `fabnet prepare` writes), deterministic sampling of (target, sources) examples from one
//! track, the paper's crop jitter, and a loader that decodes ahead of the device on worker
//! threads with bounded memory. Native only: the browser feeds frames from memory.

pub mod folders;
pub mod jitter;
pub mod loader;
pub mod sampler;

pub use folders::{FaceTracks, TrackFolder};
pub use jitter::CropJitter;
pub use loader::{BadFrames, HostBatch, LoadPlan, Loader};
pub use sampler::{ExampleSpec, Sampler};
