//! FAb-Net (Wiles, Koepke, Zisserman, BMVC 2018) in Burn: the network, its loss and
//! curriculum, the shared train step and the weights format. Nothing here knows where it runs:
//! the same crate serves the native CLI and the browser worker.

pub mod activation;
pub mod backend;
pub mod bench;
pub mod config;
pub mod curriculum;
pub mod explore;
pub mod face;
pub mod footprint;
pub mod layout;
pub mod loss;
pub mod net;
pub mod projector;
pub mod readback;
pub mod resample;
pub mod session;
pub mod train;
pub mod warp;
pub mod weights;

pub mod data;
#[cfg(feature = "native")]
pub mod image_io;
pub mod import;
pub mod probe;
pub mod project;
#[cfg(feature = "native")]
pub mod tensorboard;

pub use burn;
pub use config::{ConfigError, FabNetConfig, Resampling};
pub use net::{FabNet, Generation, LinearHead};
