//! What survives a reload, in this browser's IndexedDB: the current weights (after a
//! fine-tune or a load), every clip's face crops and embeddings, and the attributes taught
//! (their tags, beside the weights). A clip is a postcard blob
//! (crops are bytes; JSON would triple them) behind a header that names its schema version,
//! so an old or damaged entry is reported and left as it is, never read as something else.
//! Every write is checked: a full quota or an aborted transaction is an error the page shows.
//! Nothing is stored anywhere else.

mod legacy;

use fabnet::face::RgbFrame;
use fabnet_app::protocol::Frame;
use rexie::{ObjectStore, Rexie, TransactionMode, TransactionResult};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

const DATABASE: &str = "fabnet";
const WEIGHTS: &str = "weights";
const CLIPS: &str = "clips";
const CURRENT: &str = "current";
/// The attributes and tags, as JSON (small), in the weights' store.
const TEACHING: &str = "teaching";
const TEACHING_SCHEMA: u16 = 1;
/// Every stored clip starts with these bytes, then its schema version (u16, little-endian).
const MAGIC: &[u8; 8] = b"fabnetdb";
const SCHEMA: u16 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredTrack {
    pub frame_index: Vec<usize>,
    pub crops: Vec<Frame>,
    pub embeddings: Vec<Vec<f32>>,
    pub manual: bool,
    /// Id of the weights that made the embeddings (`None`: not recorded, so they are redone).
    pub weights: Option<String>,
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

/// A clip as the page writes it: [`StoredClip`]'s layout, field for field, borrowing the
/// page's crops instead of copying them (a two-minute clip's crops are about 60 MB, and a wasm
/// memory never gives back what it once grew to).
#[derive(Serialize)]
pub struct ClipToStore<'a> {
    pub id: usize,
    pub name: &'a str,
    pub frames: usize,
    pub first_frame: Option<FrameRef<'a>>,
    pub tracks: Vec<TrackToStore<'a>>,
    pub fps: f64,
}

/// [`StoredTrack`]'s layout, borrowed.
#[derive(Serialize)]
pub struct TrackToStore<'a> {
    pub frame_index: &'a [usize],
    #[serde(serialize_with = "frames_as_stored")]
    pub crops: &'a [RgbFrame],
    pub embeddings: &'a [Vec<f32>],
    pub manual: bool,
    pub weights: Option<&'a str>,
}

/// [`Frame`]'s layout, borrowed.
#[derive(Serialize)]
pub struct FrameRef<'a> {
    width: u32,
    height: u32,
    #[serde(with = "serde_bytes")]
    pixels: &'a [u8],
}

impl<'a> From<&'a RgbFrame> for FrameRef<'a> {
    fn from(f: &'a RgbFrame) -> Self {
        Self { width: f.width as u32, height: f.height as u32, pixels: &f.pixels }
    }
}

fn frames_as_stored<S: serde::Serializer>(frames: &&[RgbFrame], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(frames.iter().map(FrameRef::from))
}

impl StoredTrack {
    pub fn crops(&self) -> Result<Vec<RgbFrame>, String> {
        self.crops.iter().map(Frame::to_rgb).collect()
    }
}

/// Why a stored clip was not read. It stays in storage as it is.
enum Unreadable {
    /// Written by a later version of the app.
    Newer(u16),
    Damaged(String),
}

/// A stored clip, and whether it was in a layout from before schema versions.
fn decode_clip(bytes: &[u8]) -> Result<(StoredClip, bool), Unreadable> {
    let Some(rest) = bytes.strip_prefix(MAGIC) else {
        return legacy::clip(bytes).map(|c| (c, true)).map_err(|e| Unreadable::Damaged(format!("no schema version, and not an earlier layout either ({e})")));
    };
    let (version, payload) = match rest {
        [a, b, payload @ ..] => (u16::from_le_bytes([*a, *b]), payload),
        _ => return Err(Unreadable::Damaged("it ends in its header".into())),
    };
    if version != SCHEMA {
        return Err(Unreadable::Newer(version));
    }
    postcard::from_bytes(payload).map(|c| (c, false)).map_err(|e| Unreadable::Damaged(e.to_string()))
}

/// Rexie's errors in words (its own Display hides the browser's reason).
fn problem(what: &str) -> impl Fn(rexie::Error) -> String + '_ {
    move |e| {
        let reason = match &e {
            rexie::Error::IdbError(inner) => inner.to_string(),
            other => other.to_string(),
        };
        if reason.contains("QuotaExceeded") {
            format!("browser storage: cannot {what}: this browser's storage for the page is full")
        } else {
            format!("browser storage: cannot {what} ({reason})")
        }
    }
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

/// The transaction's end: an abort (a full disk, a quota) is an error, not a silent loss.
async fn committed(tx: rexie::Transaction, what: &str) -> Result<(), String> {
    match tx.done().await.map_err(problem(what))? {
        TransactionResult::Committed => Ok(()),
        TransactionResult::Aborted => Err(format!("browser storage: cannot {what} (the browser aborted the write; is its storage full?)")),
    }
}

fn megabytes(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

/// This origin's storage use and quota in bytes, when the browser tells.
pub async fn estimate() -> Option<(f64, f64)> {
    let manager = web_sys::window()?.navigator().storage();
    let estimate: web_sys::StorageEstimate = JsFuture::from(manager.estimate().ok()?).await.ok()?.unchecked_into();
    Some((estimate.get_usage()?, estimate.get_quota()?))
}

/// Ask the browser to keep this page's storage under pressure; whether it agreed.
pub async fn ask_to_persist() -> Option<bool> {
    let manager = web_sys::window()?.navigator().storage();
    JsFuture::from(manager.persist().ok()?).await.ok()?.as_bool()
}

/// Refuse a write of `bytes` that the quota cannot hold, with the figures.
async fn room_for(bytes: usize) -> Result<(), String> {
    let Some((usage, quota)) = estimate().await else { return Ok(()) };
    if usage + bytes as f64 > quota {
        return Err(format!("browser storage is full: {} of {} used, and this needs {} more", megabytes(usage), megabytes(quota), megabytes(bytes as f64)));
    }
    Ok(())
}

async fn put(store: &str, key: JsValue, bytes: &[u8]) -> Result<(), String> {
    put_array(store, key, &js_sys::Uint8Array::from(bytes)).await
}

async fn put_array(store: &str, key: JsValue, bytes: &js_sys::Uint8Array) -> Result<(), String> {
    room_for(bytes.length() as usize).await?;
    let value: JsValue = bytes.into();
    let db = open().await?;
    let tx = db.transaction(&[store], TransactionMode::ReadWrite).map_err(problem("write"))?;
    tx.store(store).map_err(problem("write"))?.put(&value, Some(&key)).await.map_err(problem("write"))?;
    committed(tx, "write").await
}

async fn get(store: &str, key: JsValue) -> Result<Option<Vec<u8>>, String> {
    Ok(get_js(store, key).await?.map(|v| v.to_vec()))
}

/// An entry's bytes where the browser holds them, not yet copied into wasm.
async fn get_js(store: &str, key: JsValue) -> Result<Option<js_sys::Uint8Array>, String> {
    let db = open().await?;
    let tx = db.transaction(&[store], TransactionMode::ReadOnly).map_err(problem("read"))?;
    let value = tx.store(store).map_err(problem("read"))?.get(key).await.map_err(problem("read"))?;
    Ok(value.map(|v| js_sys::Uint8Array::new(&v)))
}

pub async fn save_weights(bytes: &[u8]) -> Result<(), String> {
    put(WEIGHTS, CURRENT.into(), bytes).await
}

pub async fn load_weights() -> Result<Option<Vec<u8>>, String> {
    get(WEIGHTS, CURRENT.into()).await
}

#[derive(Serialize, Deserialize)]
struct StoredTeaching {
    schema: u16,
    attributes: Vec<fabnet::project::TaughtAttribute>,
    active: Option<usize>,
}

/// Store the attributes and tags (nothing, once there are none: "clear all" leaves nothing).
pub async fn save_teaching(teaching: &crate::teach::Teaching) -> Result<(), String> {
    if teaching.attributes.is_empty() {
        return delete(WEIGHTS, TEACHING.into()).await;
    }
    let stored = StoredTeaching { schema: TEACHING_SCHEMA, attributes: teaching.attributes.clone(), active: teaching.active };
    let json = serde_json::to_vec(&stored).map_err(|e| format!("cannot encode the tags: {e}"))?;
    put(WEIGHTS, TEACHING.into(), &json).await
}

/// The attributes an earlier visit taught; an entry that cannot be read is an error in words.
pub async fn load_teaching() -> Result<Option<crate::teach::Teaching>, String> {
    let Some(bytes) = get(WEIGHTS, TEACHING.into()).await? else { return Ok(None) };
    let stored: StoredTeaching = serde_json::from_slice(&bytes).map_err(|e| format!("the stored tags are damaged ({e})"))?;
    if stored.schema != TEACHING_SCHEMA {
        return Err(format!("the stored tags are from another version of this app (schema {})", stored.schema));
    }
    let active = stored.active.filter(|&k| k < stored.attributes.len());
    Ok(Some(crate::teach::Teaching { attributes: stored.attributes, active }))
}

/// Encode a clip ([`ClipToStore`], or a [`StoredClip`] an opened project holds): the header,
/// then the clip, straight into a browser array of exactly its size. Only a small buffer of it
/// is ever in wasm's memory, which never gives back what it grew to (a two-minute clip's entry
/// is about 60 MB). Kept apart from the write so that the page can encode from what it
/// borrows, then let go of it.
pub fn encode_for_storage(clip: &impl Serialize) -> Result<js_sys::Uint8Array, String> {
    let problem = |e: postcard::Error| format!("cannot encode the clip for storage: {e}");
    let size = MAGIC.len() + 2 + postcard::experimental::serialized_size(clip).map_err(problem)?;
    let size = u32::try_from(size).map_err(|_| "cannot store a clip of more than 4 GB".to_string())?;
    let mut out = ToBrowser { out: js_sys::Uint8Array::new_with_length(size), written: 0, buffer: Vec::with_capacity(ToBrowser::BUFFER) };
    postcard::ser_flavors::Flavor::try_extend(&mut out, MAGIC).map_err(problem)?;
    postcard::ser_flavors::Flavor::try_extend(&mut out, &SCHEMA.to_le_bytes()).map_err(problem)?;
    postcard::serialize_with_flavor(clip, out).map_err(problem)
}

/// A postcard output that fills a browser array of the exact size, through a small buffer.
struct ToBrowser {
    out: js_sys::Uint8Array,
    written: u32,
    buffer: Vec<u8>,
}

impl ToBrowser {
    const BUFFER: usize = 1 << 16;

    fn flush(&mut self) -> postcard::Result<()> {
        let mut buffer = std::mem::take(&mut self.buffer);
        let copied = self.copy(&buffer);
        buffer.clear();
        self.buffer = buffer;
        copied
    }

    fn copy(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        let end = self.written + bytes.len() as u32;
        if end > self.out.length() {
            return Err(postcard::Error::SerializeBufferFull);
        }
        self.out.subarray(self.written, end).copy_from(bytes);
        self.written = end;
        Ok(())
    }
}

impl postcard::ser_flavors::Flavor for ToBrowser {
    type Output = js_sys::Uint8Array;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        if self.buffer.len() == Self::BUFFER {
            self.flush()?;
        }
        self.buffer.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        if self.buffer.len() + bytes.len() > Self::BUFFER {
            self.flush()?;
        }
        if bytes.len() > Self::BUFFER {
            return self.copy(bytes);
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(mut self) -> postcard::Result<Self::Output> {
        self.flush()?;
        if self.written != self.out.length() {
            return Err(postcard::Error::SerializeBufferFull);
        }
        Ok(self.out)
    }
}

/// Store clip `id`, encoded by [`encode_for_storage`].
pub async fn save_clip(id: usize, encoded: &js_sys::Uint8Array) -> Result<(), String> {
    put_array(CLIPS, (id as f64).into(), encoded).await
}

/// The fields before a clip's tracks: what [`load_first_frame`] needs of it.
#[derive(Deserialize)]
struct ClipHead {
    _id: usize,
    _name: String,
    _frames: usize,
    first_frame: Option<Frame>,
}

/// The stored first frame of a clip, if there is one. Only the start of the entry is copied
/// out of storage and decoded (the rest is the crops: tens of MB for a long clip); all of it
/// only when the start does not hold the first frame.
pub async fn load_first_frame(id: usize) -> Result<Option<RgbFrame>, String> {
    const START: u32 = 1 << 20;
    let Some(stored) = get_js(CLIPS, (id as f64).into()).await? else { return Ok(None) };
    let head = |bytes: &[u8]| match bytes.strip_prefix(MAGIC.as_slice()).and_then(|rest| rest.get(2..)) {
        Some(payload) if bytes[MAGIC.len()..MAGIC.len() + 2] == SCHEMA.to_le_bytes() => {
            postcard::take_from_bytes::<ClipHead>(payload).map(|(h, _)| h.first_frame).ok()
        }
        _ => None,
    };
    let first = match head(&stored.subarray(0, START.min(stored.length())).to_vec()) {
        Some(first) => first,
        // A long name, or an earlier layout: the whole entry.
        None => decode_clip(&stored.to_vec()).ok().and_then(|(c, _)| c.first_frame),
    };
    Ok(first.and_then(|f| f.to_rgb().ok()))
}

pub async fn delete_clip(id: usize) -> Result<(), String> {
    delete(CLIPS, (id as f64).into()).await
}

async fn delete(store: &str, key: JsValue) -> Result<(), String> {
    let db = open().await?;
    let tx = db.transaction(&[store], TransactionMode::ReadWrite).map_err(problem("delete"))?;
    tx.store(store).map_err(problem("delete"))?.delete(key).await.map_err(problem("delete"))?;
    committed(tx, "delete").await
}

/// What an earlier visit stored.
pub struct Stored {
    /// Readable clips, oldest first.
    pub clips: Vec<StoredClip>,
    /// Ids of the clips read from the layout before schema versions (rewritten on their next save).
    pub upgraded: Vec<usize>,
    /// Entries that could not be read, left in storage untouched: their ids (kept out of use)
    /// and why, in words.
    pub unreadable: Vec<(usize, String)>,
}

/// Every stored clip; an entry that cannot be read is reported, not dropped.
pub async fn load_clips() -> Result<Stored, String> {
    let db = open().await?;
    let tx = db.transaction(&[CLIPS], TransactionMode::ReadOnly).map_err(problem("read"))?;
    let entries = tx.store(CLIPS).map_err(problem("read"))?.scan(None, None, None, None).await.map_err(problem("read"))?;
    let mut stored = Stored { clips: Vec::new(), upgraded: Vec::new(), unreadable: Vec::new() };
    for (key, value) in entries {
        let key = key.as_f64().unwrap_or(-1.0);
        let id = if key >= 0.0 { key as usize } else { 0 };
        let bytes = if value.is_instance_of::<js_sys::Uint8Array>() { Some(js_sys::Uint8Array::new(&value).to_vec()) } else { None };
        let Some(bytes) = bytes else {
            stored.unreadable.push((id, format!("entry {key} is not a stored clip")));
            continue;
        };
        match decode_clip(&bytes) {
            Ok((clip, old)) => {
                if old {
                    stored.upgraded.push(clip.id);
                }
                stored.clips.push(clip);
            }
            Err(Unreadable::Newer(v)) => {
                stored.unreadable.push((id, format!("entry {id} was stored by a later version of this app (schema {v}; this one reads {SCHEMA})")))
            }
            Err(Unreadable::Damaged(e)) => stored.unreadable.push((id, format!("entry {id} is damaged ({e})"))),
        }
    }
    stored.clips.sort_by_key(|c| c.id);
    Ok(stored)
}

/// Replace everything stored by an opened project, in one transaction: either all of it is
/// stored, or nothing changes.
pub async fn replace_all(weights: &[u8], clips: &[StoredClip], teaching: &crate::teach::Teaching) -> Result<(), String> {
    let encoded: Vec<(usize, js_sys::Uint8Array)> = clips.iter().map(|c| encode_for_storage(c).map(|b| (c.id, b))).collect::<Result<_, _>>()?;
    let stored = StoredTeaching { schema: TEACHING_SCHEMA, attributes: teaching.attributes.clone(), active: teaching.active };
    let teaching = serde_json::to_vec(&stored).map_err(|e| format!("cannot encode the tags: {e}"))?;
    room_for(weights.len() + teaching.len() + encoded.iter().map(|(_, b)| b.length() as usize).sum::<usize>()).await?;
    let db = open().await?;
    let tx = db.transaction(&[WEIGHTS, CLIPS], TransactionMode::ReadWrite).map_err(problem("write"))?;
    let bytes = |b: &[u8]| -> JsValue { js_sys::Uint8Array::from(b).into() };
    let written = async {
        let clip_store = tx.store(CLIPS)?;
        clip_store.clear().await?;
        for (id, b) in &encoded {
            clip_store.put(b, Some(&(*id as f64).into())).await?;
        }
        let weight_store = tx.store(WEIGHTS)?;
        weight_store.put(&bytes(weights), Some(&CURRENT.into())).await?;
        weight_store.put(&bytes(&teaching), Some(&TEACHING.into())).await
    }
    .await;
    // A transaction commits what it did once nothing is pending: a failure part-way aborts it.
    if let Err(e) = written {
        let _ = tx.abort().await;
        return Err(problem("write")(e));
    }
    committed(tx, "write").await
}

/// Remove everything this app stored.
pub async fn clear() -> Result<(), String> {
    let db = open().await?;
    let tx = db.transaction(&[WEIGHTS, CLIPS], TransactionMode::ReadWrite).map_err(problem("clear"))?;
    tx.store(WEIGHTS).map_err(problem("clear"))?.clear().await.map_err(problem("clear"))?;
    tx.store(CLIPS).map_err(problem("clear"))?.clear().await.map_err(problem("clear"))?;
    committed(tx, "clear").await
}
