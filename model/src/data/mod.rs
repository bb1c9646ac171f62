//! Training data: face-track folders (the VoxCeleb layout `IDENTITY/VIDEO/TRACK/*.jpg`, which
//! `fabnet prepare` writes), deterministic sampling of (target, sources) examples from one
//! track, the paper's crop jitter, and a loader that decodes ahead of the device on worker
//! threads with bounded memory. The crop (`jitter`) and the sampler are shared with the browser,
//! which feeds frames from memory; the folder reading and the loader are native only.

#[cfg(feature = "native")]
pub mod folders;
pub mod hash;
pub mod holdout;
pub mod jitter;
#[cfg(feature = "native")]
pub mod loader;
pub mod sampler;
pub mod source;

#[cfg(feature = "native")]
pub use folders::{FaceTracks, TrackFolder};
pub use holdout::HoldOut;
pub use jitter::CropJitter;
#[cfg(feature = "native")]
pub use loader::{BadFrames, FolderSource, Loader};
pub use sampler::{EpochOrder, ExampleSpec, Sampler, TrackIndex};
pub use source::{FrameSource, HostBatch, MakeBatch, MemoryTracks, assemble};
