//! The one place where the page hears that the weights changed (a run ended, a file was
//! loaded): what they are, in words; kept in this browser's storage; every clip embedded again.

use fabnet::weights::WeightsInfo;
use leptos::prelude::*;

use crate::client::Engine;
use crate::clips::{self, ClipView};
use crate::storage;

/// The "about these weights" text.
pub fn describe(info: &WeightsInfo) -> String {
    let c = info.config;
    let head = match (&info.head_task, info.head_outputs) {
        (Some(task), _) => format!(" Linear head: {task}."),
        (None, Some(k)) => format!(" Linear head with {k} outputs."),
        _ => String::new(),
    };
    format!("{} px faces, {}-d embedding.{head} {}", c.image_size, c.embedding_dim, info.provenance)
}

/// The engine now holds weights described by `info` (their file is `bytes`, or is asked of the
/// engine): say so, store them and embed every clip with them.
pub async fn changed(
    engine: &Engine,
    info: WeightsInfo,
    bytes: Option<Vec<u8>>,
    about: RwSignal<String>,
    clips: RwSignal<Vec<ClipView>>,
) -> Result<(), String> {
    about.set(describe(&info));
    engine.set_info(info);
    let bytes = match bytes {
        Some(bytes) => bytes,
        None => engine.save_weights().await?,
    };
    storage::save_weights(&bytes).await?;
    clips::refresh(engine, clips).await
}
