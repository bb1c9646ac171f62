//! What the page and its workers share: the messages between them, and the workers themselves
//! (`src/bin/worker.rs` registers the engine, `src/bin/layout.rs` the layouts; the page spawns both).

pub mod crash;
#[cfg(feature = "engine")]
pub mod engine;
pub mod layout_worker;
pub mod protocol;
pub mod reach;
pub mod startup;

#[cfg(feature = "engine")]
pub use engine::EngineWorker;

/// The page's view of the engine worker: to talk to it, the page needs only its message types,
/// so its build declares the reactor with the same types and no body, and links no GPU code.
/// The body that runs is `engine::EngineWorker`, in the worker's build.
#[cfg(not(feature = "engine"))]
#[gloo_worker::reactor::reactor]
pub async fn EngineWorker(_scope: gloo_worker::reactor::ReactorScope<protocol::Request, protocol::Event>) {}
