//! What the page and the engine worker share: the messages between them, and the worker
//! itself (`src/bin/worker.rs` registers it; the page spawns it).

pub mod engine;
pub mod protocol;
