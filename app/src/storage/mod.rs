//! What survives a reload, in this browser's IndexedDB: the current weights (after a
//! fine-tune or a load) and every clip's face crops and embeddings. Values are bincode blobs
//! (crops are bytes; JSON would triple them). Nothing is stored anywhere else.

use fabnet::face::RgbFrame;
use fabnet_app::protocol::Frame;
use rexie::{ObjectStore, Rexie, TransactionMode};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

const DATABASE: &str = "fabnet";
const WEIGHTS: &str = "weights";
const CLIPS: &str = "clips";
const CURRENT: &str = "current";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredTrack {
    pub frame_index: Vec<usize>,
    pub crops: Vec<Frame>,
    pub embeddings: Vec<Vec<f32>>,
    pub manual: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredClip {
    pub id: usize,
    pub name: String,
    pub frames: usize,
    /// The first frame, for setting the crop by hand after a reload.
    pub first_frame: Option<Frame>,
    pub tracks: Vec<StoredTrack>,
    /// Frames sampled per second of video (a track's frame `i` is at `i / fps` s).
    pub fps: f64,
}

/// A clip as stored before the sampling rate was chosen per clip (always 10 frames/s).
#[derive(Deserialize)]
struct StoredClipV0 {
    id: usize,
    name: String,
    frames: usize,
    first_frame: Option<Frame>,
    tracks: Vec<StoredTrack>,
}

impl From<StoredClipV0> for StoredClip {
    fn from(c: StoredClipV0) -> Self {
        Self { id: c.id, name: c.name, frames: c.frames, first_frame: c.first_frame, tracks: c.tracks, fps: 10.0 }
    }
}

/// A stored clip in today's layout or the one before (bincode ignores trailing bytes, so
/// today's is tried first).
fn unblob_clip(value: &JsValue) -> Result<StoredClip, String> {
    unblob::<StoredClip>(value).or_else(|_| unblob::<StoredClipV0>(value).map(StoredClip::from))
}

impl StoredTrack {
    pub fn crops(&self) -> Result<Vec<RgbFrame>, String> {
        self.crops.iter().map(Frame::to_rgb).collect()
    }
}

fn problem(what: &str) -> impl Fn(rexie::Error) -> String + '_ {
    move |e| format!("browser storage: cannot {what} ({e})")
}

async fn open() -> Result<Rexie, String> {
    Rexie::builder(DATABASE)
        .version(1)
        .add_object_store(ObjectStore::new(WEIGHTS))
        .add_object_store(ObjectStore::new(CLIPS))
        .build()
        .await
        .map_err(problem("open the database"))
}

fn blob<T: Serialize>(value: &T) -> Result<JsValue, String> {
    let bytes = bincode::serialize(value).map_err(|e| format!("cannot encode for storage: {e}"))?;
    Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
}

fn unblob<T: for<'de> Deserialize<'de>>(value: &JsValue) -> Result<T, String> {
    let bytes = js_sys::Uint8Array::new(value).to_vec();
    bincode::deserialize(&bytes).map_err(|e| format!("stored data is unreadable: {e}"))
}

async fn put(store: &str, key: JsValue, value: JsValue) -> Result<(), String> {
    let db = open().await?;
    let tx = db.transaction(&[store], TransactionMode::ReadWrite).map_err(problem("write"))?;
    tx.store(store).map_err(problem("write"))?.put(&value, Some(&key)).await.map_err(problem("write"))?;
    tx.done().await.map_err(problem("write"))?;
    Ok(())
}

async fn get(store: &str, key: JsValue) -> Result<Option<JsValue>, String> {
    let db = open().await?;
    let tx = db.transaction(&[store], TransactionMode::ReadOnly).map_err(problem("read"))?;
    tx.store(store).map_err(problem("read"))?.get(key).await.map_err(problem("read"))
}

pub async fn save_weights(bytes: &[u8]) -> Result<(), String> {
    put(WEIGHTS, CURRENT.into(), js_sys::Uint8Array::from(bytes).into()).await
}

pub async fn load_weights() -> Result<Option<Vec<u8>>, String> {
    Ok(get(WEIGHTS, CURRENT.into()).await?.map(|v| js_sys::Uint8Array::new(&v).to_vec()))
}

pub async fn save_clip(clip: &StoredClip) -> Result<(), String> {
    put(CLIPS, (clip.id as f64).into(), blob(clip)?).await
}

/// One stored clip, if there is one under `id`.
pub async fn load_clip(id: usize) -> Result<Option<StoredClip>, String> {
    get(CLIPS, (id as f64).into()).await?.map(|v| unblob_clip(&v)).transpose()
}

pub async fn delete_clip(id: usize) -> Result<(), String> {
    let db = open().await?;
    let tx = db.transaction(&[CLIPS], TransactionMode::ReadWrite).map_err(problem("delete"))?;
    tx.store(CLIPS).map_err(problem("delete"))?.delete((id as f64).into()).await.map_err(problem("delete"))?;
    tx.done().await.map_err(problem("delete"))?;
    Ok(())
}

/// Every stored clip, oldest first; unreadable entries are skipped with a note.
pub async fn load_clips() -> Result<(Vec<StoredClip>, Vec<String>), String> {
    let db = open().await?;
    let tx = db.transaction(&[CLIPS], TransactionMode::ReadOnly).map_err(problem("read"))?;
    let values = tx.store(CLIPS).map_err(problem("read"))?.get_all(None, None).await.map_err(problem("read"))?;
    let mut clips = Vec::new();
    let mut problems = Vec::new();
    for v in values {
        match unblob_clip(&v) {
            Ok(c) => clips.push(c),
            Err(e) => problems.push(e),
        }
    }
    clips.sort_by_key(|c| c.id);
    Ok((clips, problems))
}

/// Remove everything this app stored.
pub async fn clear() -> Result<(), String> {
    let db = open().await?;
    let tx = db.transaction(&[WEIGHTS, CLIPS], TransactionMode::ReadWrite).map_err(problem("clear"))?;
    tx.store(WEIGHTS).map_err(problem("clear"))?.clear().await.map_err(problem("clear"))?;
    tx.store(CLIPS).map_err(problem("clear"))?.clear().await.map_err(problem("clear"))?;
    tx.done().await.map_err(problem("clear"))?;
    Ok(())
}
