//! The one place where the page hears that the weights changed (a run ended, a file was
//! loaded): what they are, in words; kept in this browser's storage; every clip embedded again.

use fabnet::weights::WeightsInfo;
use leptos::prelude::*;

use crate::client::Engine;
use crate::clips::{self, ClipView};
use crate::storage;

/// A short id of a weights file (FNV-1a of its bytes, `fabnet::project::weights_id`, which a
/// project file records too): what an embedding records of the weights that made it. Not a
/// security hash: it tells versions of the user's own weights apart.
pub fn id(bytes: &[u8]) -> String {
    fabnet::project::weights_id(bytes)
}

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
    let bytes = match bytes {
        // A loaded file: `Engine::load_weights` already holds its description and id.
        Some(bytes) => bytes,
        // A finished run or an imported checkpoint: the engine learns what its model now is
        // from the file it writes.
        None => {
            let bytes = engine.save_weights().await?;
            engine.set_info(info, id(&bytes));
            bytes
        }
    };
    // The clips are embedded again even when the weights could not be stored.
    let stored = storage::save_weights(&bytes).await;
    clips::refresh(engine, clips).await;
    stored.map_err(|e| format!("the new weights are in use, but {e}: after a reload the previous ones would be back"))
}

/// The engine's model has a new linear head, its encoder as it was: say so and store the
/// weights. The clips' embeddings are kept, marked as the new file's: the unchanged encoder
/// would make the very same values again.
/// `before` is the id of the weights the head was fitted for: if others were loaded meanwhile
/// (a project opened during the fit), nothing is stamped or stored.
pub async fn head_changed(engine: &Engine, before: String, info: WeightsInfo, about: RwSignal<String>, clips: RwSignal<Vec<ClipView>>) -> Result<(), String> {
    let bytes = engine.save_weights().await?;
    if engine.weights_id() != before {
        return Err("other weights were loaded while fitting: fit again".into());
    }
    let now = id(&bytes);
    // The engine's description first: what `about` wakes reads it.
    engine.set_info(info.clone(), now.clone());
    about.set(describe(&info));
    clips::restamp(clips, &before, &now).await;
    storage::save_weights(&bytes).await.map_err(|e| format!("the head is in use, but {e}: after a reload the previous weights would be back"))
}
