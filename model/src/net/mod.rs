//! The FAb-Net network: an encoder to an embedding, and one generic decoder used twice
//! (flow field and confidence mask).

mod decoder;
mod encoder;
mod fabnet;
mod head;
mod norm;

pub use decoder::Decoder;
pub use encoder::Encoder;
pub use fabnet::{FabNet, Generation};
pub use head::LinearHead;
