//! The clips screen: videos and stills the user adds are decoded here, frame by frame, their
//! faces found and followed into tracks on the GPU as the frames arrive, and cut into the crops
//! the network sees; only crops are kept, so a clip's length costs crops, not frames. Each
//! track is shown as a strip of those crops. A bad file is reported on its own card; the
//! others carry on. Any clip's crop can be set by hand by drawing the face box on its first
//! frame.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use fabnet::face::{BoundingBox, RgbFrame};
use leptos::prelude::*;
use leptos::task::spawn_local;
use web_sys::{File, HtmlCanvasElement};

use crate::client::Engine;
use crate::faces::{self, FaceTrack, TrackCutter};
use crate::media::{self, VideoReader};
use crate::storage::{self, ClipToStore, FrameRef, StoredClip, TrackToStore};

/// Video frames sampled per second unless the user picks another rate: enough for tracks,
/// light enough for a laptop GPU.
const DEFAULT_FPS: f64 = 10.0;
const FPS_CHOICES: [f64; 6] = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0];
/// Sampled frames per run of the full detector; O-Net alone follows the faces in between (a
/// lost face is searched for at once), which is what makes a clip take seconds, not minutes.
const DEFAULT_DETECT_EVERY: usize = 5;
const DETECT_EVERY_CHOICES: [usize; 4] = [1, 2, 5, 10];
const THUMBS_PER_TRACK: usize = 8;
/// Images per embedding call: bounds the worker's memory whatever a track's length.
const EMBED_CHUNK: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub enum ClipState {
    /// Added before the model was ready; starts when it is.
    Waiting,
    /// Decoding and cutting tracks: `done` frames of `total` (when the length is known).
    Working {
        done: usize,
        total: Option<usize>,
        elapsed_ms: f64,
    },
    Ready {
        tracks: Vec<TrackView>,
    },
    Failed(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrackView {
    pub frames: usize,
    /// Index in the clip of each frame of the track.
    pub frame_index: Vec<usize>,
    /// The face in each frame, framed as `fabnet prepare` frames it (training samples these).
    pub crops: Arc<Vec<RgbFrame>>,
    /// One picture per frame of exactly what the network embedded (PNG data URLs), shared:
    /// the clip list and the explorer's points hold them without copying.
    pub thumbs: Vec<Arc<str>>,
    pub embeddings: Vec<Vec<f32>>,
    /// Id of the weights that made `embeddings` (`weights::id`): the explorer shows only the
    /// current weights' embeddings, and others are embedded again.
    pub weights: String,
    pub manual: bool,
}

impl TrackView {
    /// Thumbnails and embeddings of `crops` with the engine's current model.
    pub async fn new(engine: &Engine, frame_index: Vec<usize>, crops: Vec<RgbFrame>, manual: bool) -> Result<Self, String> {
        let mut track = Self::unembedded(engine.input_size(), frame_index, crops, Vec::new(), String::new(), manual)?;
        track.embed(engine, |_| ()).await?;
        Ok(track)
    }

    /// A track with the `embeddings` that the weights `weights` gave (possibly none, or stale):
    /// its thumbnails are what the network sees at `size`.
    fn unembedded(
        size: usize,
        frame_index: Vec<usize>,
        crops: Vec<RgbFrame>,
        embeddings: Vec<Vec<f32>>,
        weights: String,
        manual: bool,
    ) -> Result<Self, String> {
        let thumbs = crops.iter().map(|c| media::planar_to_data_url(&faces::network_input(c, size), size).map(Arc::from)).collect::<Result<_, _>>()?;
        Ok(Self { frames: crops.len(), frame_index, crops: Arc::new(crops), thumbs, embeddings, weights, manual })
    }

    /// Embed the crops with the engine's current weights, in chunks (`progress` hears the
    /// crops done). The stamp is read before and after: if the weights changed or a run
    /// started meanwhile, the track stays stale.
    async fn embed(&mut self, engine: &Engine, mut progress: impl FnMut(usize)) -> Result<(), String> {
        let weights = engine.stamp();
        let size = engine.input_size();
        let mut embeddings = Vec::with_capacity(self.crops.len());
        for chunk in self.crops.chunks(EMBED_CHUNK) {
            let inputs: Vec<Vec<f32>> = chunk.iter().map(|c| faces::network_input(c, size)).collect();
            embeddings.extend(engine.embed(&inputs).await?);
            progress(embeddings.len());
        }
        self.embeddings = embeddings;
        self.weights = if engine.stamp() == weights { weights } else { String::new() };
        Ok(())
    }

    /// Whether the current weights made the embeddings.
    fn fresh(&self, engine: &Engine) -> bool {
        self.weights == engine.weights_id() && self.embeddings.len() == self.frames
    }
}

/// Embed again every track that other weights embedded (the model changed, or a stored clip
/// came from other weights), showing progress on its clip's card, and store the new
/// embeddings. A failure is shown on that clip's card.
pub async fn refresh(engine: &Engine, clips: RwSignal<Vec<ClipView>>) {
    let stale: Vec<(usize, Vec<TrackView>)> = clips.with_untracked(|all| {
        all.iter()
            .filter_map(|c| match &c.state {
                ClipState::Ready { tracks } if tracks.iter().any(|t| !t.fresh(engine)) => Some((c.id, tracks.clone())),
                _ => None,
            })
            .collect()
    });
    for (id, mut tracks) in stale {
        let total: usize = tracks.iter().filter(|t| !t.fresh(engine)).map(|t| t.frames).sum();
        let mut done = 0;
        update(clips, id, |c| c.reembedding = Some((0, total)));
        let mut result = Ok(());
        for t in tracks.iter_mut().filter(|t| !t.fresh(engine)) {
            let before = done;
            result = t.embed(engine, |n| update(clips, id, |c| c.reembedding = Some((before + n, total)))).await;
            if result.is_err() {
                break;
            }
            done += t.frames;
        }
        // The clip was cut again or removed meanwhile: what was embedded here is not its.
        let unchanged = clips.with_untracked(|all| {
            all.iter().any(|c| {
                c.id == id
                    && matches!(&c.state, ClipState::Ready { tracks: now }
                        if now.len() == tracks.len() && now.iter().zip(&tracks).all(|(a, b)| Arc::ptr_eq(&a.crops, &b.crops)))
            })
        });
        if !unchanged {
            continue;
        }
        update(clips, id, |c| {
            c.reembedding = None;
            c.state = ClipState::Ready { tracks };
            if let Err(e) = &result {
                c.problem = Some(format!("could not embed again with the current weights: {e}"));
            }
        });
        if result.is_ok() {
            persist(clips, id, None).await;
        }
    }
}

/// Mark the embeddings that the weights `from` made as made by `to`, and store their clips:
/// for a change of weights that leaves the encoder as it was (a new head).
pub async fn restamp(clips: RwSignal<Vec<ClipView>>, from: &str, to: &str) {
    let made_by = |c: &ClipView| matches!(&c.state, ClipState::Ready { tracks } if tracks.iter().any(|t| t.weights == from));
    let ids: Vec<usize> = clips.with_untracked(|all| all.iter().filter(|c| made_by(c)).map(|c| c.id).collect());
    for id in ids {
        update(clips, id, |c| {
            if let ClipState::Ready { tracks } = &mut c.state {
                tracks.iter_mut().filter(|t| t.weights == from).for_each(|t| t.weights = to.to_string());
            }
        });
        persist(clips, id, None).await;
    }
}

/// Store a ready clip (its crops, embeddings and, when given, its first frame); a failure is
/// shown on its card, and a success clears an earlier one.
async fn persist(clips: RwSignal<Vec<ClipView>>, id: usize, first_frame: Option<&RgbFrame>) {
    let ready = |c: &ClipView| c.id == id && matches!(c.state, ClipState::Ready { .. });
    if !clips.with_untracked(|all| all.iter().any(ready)) {
        return;
    }
    let saved = async {
        let stored_first = match first_frame {
            Some(_) => None,
            None => storage::load_first_frame(id).await?,
        };
        let first_frame = first_frame.or(stored_first.as_ref());
        // Encoded from the page's own crops, not from a copy of them.
        let encoded = clips.with_untracked(|all| {
            let clip = all.iter().find(|c| ready(c))?;
            let ClipState::Ready { tracks } = &clip.state else { return None };
            let tracks = tracks
                .iter()
                .map(|t| TrackToStore { frame_index: &t.frame_index, crops: &t.crops, embeddings: &t.embeddings, manual: t.manual, weights: Some(&t.weights) })
                .collect();
            let stored = ClipToStore { id, name: &clip.name, frames: clip.frames, first_frame: first_frame.map(FrameRef::from), tracks, fps: clip.fps };
            Some(storage::encode_for_storage(&stored))
        });
        match encoded {
            Some(bytes) => storage::save_clip(id, &bytes?).await,
            // Removed or cut again meanwhile: nothing of this clip to store.
            None => Ok(()),
        }
    }
    .await;
    update(clips, id, |c| {
        c.problem = saved.err().map(|e| format!("not saved in this browser ({e}): it stays on this page until the page is reloaded"));
    });
}

/// A stored clip as the page shows it (its embeddings as they were: `refresh` redoes stale
/// ones), and what it was read from (its first frame).
fn stored_view(c: &StoredClip, size: usize, note: Option<String>) -> Result<(ClipView, ClipSource), String> {
    let mut tracks = Vec::new();
    for t in &c.tracks {
        let weights = t.weights.clone().unwrap_or_default();
        tracks.push(TrackView::unembedded(size, t.frame_index.clone(), t.crops()?, t.embeddings.clone(), weights, t.manual)?);
    }
    let first = c.first_frame.as_ref().and_then(|f| f.to_rgb().ok());
    let view = ClipView {
        id: c.id,
        version: 0,
        name: c.name.clone(),
        frames: c.frames,
        fps: c.fps,
        detect_every: DEFAULT_DETECT_EVERY,
        searched: None,
        duration: None,
        note,
        problem: None,
        reembedding: None,
        decoder: None,
        state: ClipState::Ready { tracks },
    };
    Ok((view, ClipSource { file: None, first, cancel: Rc::default() }))
}

/// The clips stored by an earlier visit, as they were; embeddings that other weights made are
/// to be embedded again (`refresh`), and the explorer leaves them out until then. Entries that
/// cannot be read are reported and left in storage as they are (their ids are not reused).
async fn restore(engine: &Engine, clips: RwSignal<Vec<ClipView>>, sources: Sources, next_id: StoredValue<usize>) -> Result<(), String> {
    let stored = storage::load_clips().await?;
    let size = engine.input_size();
    for (id, _) in &stored.unreadable {
        next_id.set_value(next_id.get_value().max(id + 1));
    }
    for c in stored.clips {
        let note =
            stored.upgraded.contains(&c.id).then(|| "stored by an earlier version of this app: embedded again and stored in the current format".to_string());
        let (view, source) = stored_view(&c, size, note)?;
        sources.update_value(|s| {
            s.insert(c.id, source);
        });
        next_id.set_value(next_id.get_value().max(c.id + 1));
        clips.update(|all| all.push(view));
    }
    let unreadable = (!stored.unreadable.is_empty()).then(|| {
        let reasons: Vec<&str> = stored.unreadable.iter().map(|(_, why)| why.as_str()).collect();
        format!(
            "{} stored clip(s) could not be read and are left in this browser's storage as they are (\"Clear all stored data\" removes them): {}",
            reasons.len(),
            reasons.join("; ")
        )
    });
    unreadable.map_or(Ok(()), Err)
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClipView {
    pub id: usize,
    /// Bumped on every change, so that the list re-renders just the changed card.
    pub version: u64,
    pub name: String,
    /// Frames decoded (1 for a still).
    pub frames: usize,
    /// Frames sampled per second of video.
    pub fps: f64,
    /// Sampled frames per run of the full detector (followed in between).
    pub detect_every: usize,
    /// Frames the full detector looked at, once the clip is cut (not kept across reloads).
    pub searched: Option<usize>,
    /// The video's length in seconds, when known (not kept across reloads).
    pub duration: Option<f64>,
    /// What decoded the video ("WebCodecs (avc1.64001e)", "the video element"), while this
    /// page holds it.
    pub decoder: Option<String>,
    /// Something the user should know about how the clip was read (it was stopped early).
    pub note: Option<String>,
    /// What went wrong with the clip after it was cut (storing it, removing it, embedding it
    /// again), shown on its card.
    pub problem: Option<String>,
    /// Crops embedded again with new weights, of how many, while that runs.
    pub reembedding: Option<(usize, usize)>,
    pub state: ClipState,
}

impl ClipView {
    /// Seconds of video the clip's tracks cover, from the first frame of any track to the
    /// end of the last; `None` for a still or before the tracks are cut.
    pub fn span(&self) -> Option<f64> {
        let ClipState::Ready { tracks } = &self.state else { return None };
        let first = tracks.iter().filter_map(|t| t.frame_index.first()).min()?;
        let last = tracks.iter().filter_map(|t| t.frame_index.last()).max()?;
        (self.frames > 1).then(|| (last + 1 - first) as f64 / self.fps)
    }
}

/// What each clip was read from: the file while this page holds it (setting the crop by hand
/// decodes it again), its first frame, and a switch that stops its decoding.
struct ClipSource {
    file: Option<File>,
    first: Option<RgbFrame>,
    cancel: Rc<Cell<bool>>,
}

type Sources = StoredValue<HashMap<usize, ClipSource>, LocalStorage>;

fn update(clips: RwSignal<Vec<ClipView>>, id: usize, change: impl FnOnce(&mut ClipView)) {
    clips.update(|all| {
        if let Some(c) = all.iter_mut().find(|c| c.id == id) {
            change(c);
            c.version += 1;
        }
    });
}

fn set_state(clips: RwSignal<Vec<ClipView>>, id: usize, state: ClipState) {
    update(clips, id, |c| c.state = state);
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// What cutting a clip gave.
struct Cut {
    tracks: Vec<FaceTrack>,
    frames: usize,
    first: Option<RgbFrame>,
    duration: Option<f64>,
    /// Seconds of video read when the user stopped it.
    stopped_at: Option<f64>,
    /// Why decoding ended before the video's end (a damaged file): the tracks cover what was read.
    broken: Option<String>,
    /// Frames the full detector looked at (the rest were followed), when it ran.
    searched: Option<usize>,
    /// What decoded the video.
    decoder: Option<String>,
    /// The file ended before its own index did (a cut-off download).
    truncated: bool,
}

/// What a clip is cut from: its file, or (a still restored from storage) its one stored frame.
enum Input {
    File(File),
    Still(RgbFrame),
}

/// Cut the face tracks of `input` (a video sampled at `fps`, or a still) as frames arrive,
/// showing progress on the clip's card. When `cancel` is set, stops and keeps the tracks cut
/// so far.
async fn cut(
    engine: &Engine,
    input: Input,
    fps: f64,
    cutter: impl FnOnce(bool) -> TrackCutter,
    id: usize,
    clips: RwSignal<Vec<ClipView>>,
    cancel: &Cell<bool>,
) -> Result<Cut, String> {
    let started = now_ms();
    let file = match input {
        Input::File(file) if media::is_video(&file) => file,
        still => {
            let frame = match still {
                Input::File(file) => media::decode_image(&file).await?,
                Input::Still(frame) => frame,
            };
            let mut cutter = cutter(true);
            cutter.push(engine, 0, frame.clone()).await?;
            let searched = Some(cutter.searched()).filter(|&n| n > 0);
            return Ok(Cut {
                tracks: cutter.finish(),
                frames: 1,
                first: Some(frame),
                duration: None,
                stopped_at: None,
                broken: None,
                searched,
                decoder: None,
                truncated: false,
            });
        }
    };
    let mut reader = VideoReader::open(&file, fps).await?;
    let total = reader.frames();
    update(clips, id, |c| {
        c.duration = reader.duration();
        c.decoder = Some(reader.decoder());
    });
    let mut cutter = cutter(total == Some(1));
    let (mut done, mut first, mut stopped_at, mut broken) = (0, None, None, None);
    set_state(clips, id, ClipState::Working { done, total, elapsed_ms: 0.0 });
    // Where the time goes, for the console: decoding and reading frames, or their faces.
    let mut decoding_ms = now_ms() - started;
    loop {
        let asked = now_ms();
        let next = reader.next_frame(&file, fps).await;
        decoding_ms += now_ms() - asked;
        let frame = match next {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            // What was read before the damage is kept.
            Err(e) if done > 0 => {
                broken = Some(e);
                break;
            }
            Err(e) => return Err(e),
        };
        if cancel.get() {
            stopped_at = Some(done as f64 / fps);
            break;
        }
        if first.is_none() {
            first = Some(frame.clone());
        }
        cutter.push(engine, done, frame).await?;
        done += 1;
        set_state(clips, id, ClipState::Working { done, total, elapsed_ms: now_ms() - started });
    }
    let searched = Some(cutter.searched()).filter(|&n| n > 0);
    let (decoder, truncated) = (Some(reader.decoder()), reader.truncated());
    let total_ms = now_ms() - started;
    web_sys::console::info_1(
        &format!(
            "{}: {done} frames in {:.1} s: decoding with {} {:.1} s, faces {:.1} s",
            file.name(),
            total_ms / 1e3,
            reader.decoder(),
            decoding_ms / 1e3,
            (total_ms - decoding_ms) / 1e3
        )
        .into(),
    );
    Ok(Cut { tracks: cutter.finish(), frames: done, first, duration: reader.duration(), stopped_at, broken, searched, decoder, truncated })
}

/// Tracks to show: thumbnails and embeddings of each.
async fn describe(engine: &Engine, tracks: Vec<FaceTrack>, manual: bool) -> Result<Vec<TrackView>, String> {
    let mut views = Vec::new();
    for track in tracks {
        views.push(TrackView::new(engine, track.frames, track.crops, manual).await?);
    }
    Ok(views)
}

/// Cut a clip's tracks (found by the detector, or the box the user drew) and show and store
/// them; a failure is shown on the clip's card.
async fn process(engine: Rc<Engine>, id: usize, clips: RwSignal<Vec<ClipView>>, sources: Sources, manual: Option<BoundingBox>) {
    let Some((name, fps, frames, detect_every)) =
        clips.with_untracked(|all| all.iter().find(|c| c.id == id).map(|c| (c.name.clone(), c.fps, c.frames, c.detect_every)))
    else {
        return;
    };
    let source = sources.with_value(|s| {
        let c = s.get(&id)?;
        let input = match (&c.file, &c.first) {
            (Some(file), _) => Input::File(file.clone()),
            // Restored from storage: only a still can be cut again, from its stored frame.
            (None, Some(frame)) if frames == 1 => Input::Still(frame.clone()),
            _ => return None,
        };
        Some((input, c.cancel.clone()))
    });
    let Some((source, cancel)) = source else { return };
    cancel.set(false);
    let input = engine.input_size();
    let new_cutter = |one_frame: bool| match manual {
        Some(face) => TrackCutter::fixed(face, input),
        None => TrackCutter::found(if one_frame { 1 } else { 2 }, input, detect_every),
    };
    let result = async {
        let cut = cut(&engine, source, fps, new_cutter, id, clips, &cancel).await?;
        update(clips, id, |c| {
            c.frames = cut.frames;
            c.searched = cut.searched;
            c.duration = cut.duration;
            c.decoder = cut.decoder;
            let of = cut.duration.map(|d| format!(" of {d:.1} s")).unwrap_or_default();
            c.note = match (&cut.broken, cut.stopped_at, cut.truncated) {
                (Some(e), _, _) => Some(format!("{e}: the tracks cover the first {:.1} s{of}", cut.frames as f64 / fps)),
                (None, Some(t), _) => Some(format!("stopped at {t:.1} s{of}")),
                (None, None, true) => {
                    Some(format!("the file ends before its own index does (cut off?): the tracks cover the {:.1} s it holds", cut.frames as f64 / fps))
                }
                (None, None, false) => None,
            };
        });
        if let Some(first) = &cut.first {
            sources.update_value(|s| {
                if let Some(c) = s.get_mut(&id) {
                    c.first = Some(first.clone());
                }
            });
        }
        if cut.tracks.is_empty() {
            return Err(format!("{name}: no face found (draw the face box by hand with \"Set crop\")"));
        }
        Ok((describe(&engine, cut.tracks, manual.is_some()).await?, cut.first))
    }
    .await;
    if clips.with_untracked(|all| all.iter().all(|c| c.id != id)) {
        return; // removed meanwhile
    }
    match result {
        Ok((tracks, first)) => {
            set_state(clips, id, ClipState::Ready { tracks });
            persist(clips, id, first.as_ref()).await;
        }
        Err(e) => set_state(clips, id, ClipState::Failed(e)),
    }
}

#[component]
pub fn Clips(engine: Signal<Option<Rc<Engine>>, LocalStorage>, clips: RwSignal<Vec<ClipView>>, opened: RwSignal<Option<Vec<StoredClip>>>) -> impl IntoView {
    let sources: Sources = StoredValue::new_local(HashMap::new());
    let next_id = StoredValue::new(0usize);
    let problem = RwSignal::new(None::<String>);
    // A project was opened (and is stored): its clips replace these.
    Effect::new(move |_| {
        let Some(opened_clips) = opened.get() else { return };
        opened.set(None);
        let Some(engine) = engine.get_untracked() else { return };
        sources.update_value(|s| {
            s.values().for_each(|source| source.cancel.set(true));
            s.clear();
        });
        let mut views = Vec::new();
        for c in &opened_clips {
            match stored_view(c, engine.input_size(), None) {
                Ok((view, source)) => {
                    sources.update_value(|s| {
                        s.insert(c.id, source);
                    });
                    next_id.set_value(next_id.get_value().max(c.id + 1));
                    views.push(view);
                }
                Err(e) => problem.set(Some(format!("{}: {e}", c.name))),
            }
        }
        clips.set(views);
        spawn_local(async move { refresh(&engine, clips).await });
    });
    let fps = RwSignal::new(DEFAULT_FPS);
    let detect_every = RwSignal::new(DEFAULT_DETECT_EVERY);
    // Once the model is there: bring back what an earlier visit stored, then start the clips
    // added while it loaded.
    Effect::new(move |done: Option<bool>| {
        if done == Some(true) {
            return true;
        }
        let Some(engine) = engine.get() else { return false };
        spawn_local(async move {
            if let Err(e) = restore(&engine, clips, sources, next_id).await {
                problem.set(Some(e));
            }
            let waiting: Vec<usize> = clips.with_untracked(|all| all.iter().filter(|c| c.state == ClipState::Waiting).map(|c| c.id).collect());
            for id in waiting {
                set_state(clips, id, ClipState::Working { done: 0, total: None, elapsed_ms: 0.0 });
                spawn_local(process(engine.clone(), id, clips, sources, None));
            }
            refresh(&engine, clips).await;
        });
        true
    });

    let add_files = move |files: Vec<File>| {
        for file in files {
            let id = next_id.get_value();
            next_id.set_value(id + 1);
            let ready = engine.get_untracked();
            let state = if ready.is_some() { ClipState::Working { done: 0, total: None, elapsed_ms: 0.0 } } else { ClipState::Waiting };
            let (fps, detect_every) = (fps.get_untracked(), detect_every.get_untracked());
            clips.update(|all| {
                all.push(ClipView {
                    id,
                    version: 0,
                    name: file.name(),
                    frames: 0,
                    fps,
                    detect_every,
                    searched: None,
                    duration: None,
                    note: None,
                    problem: None,
                    reembedding: None,
                    decoder: None,
                    state,
                })
            });
            sources.update_value(|s| {
                s.insert(id, ClipSource { file: Some(file), first: None, cancel: Rc::default() });
            });
            if let Some(engine) = ready {
                spawn_local(process(engine, id, clips, sources, None));
            }
        }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        add_files(media::picked_files(&ev));
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        let Some(list) = ev.data_transfer().and_then(|d| d.files()) else { return };
        add_files((0..list.length()).filter_map(|i| list.get(i)).collect());
    };
    let on_fps = move |ev: leptos::ev::Event| {
        if let Ok(v) = event_target_value(&ev).parse() {
            fps.set(v);
        }
    };
    let on_detect_every = move |ev: leptos::ev::Event| {
        if let Ok(v) = event_target_value(&ev).parse() {
            detect_every.set(v);
        }
    };

    view! {
        <section class="panel clips" on:dragover=|ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=on_drop>
            <h2>"Clips"</h2>
            <p class="hint">"Drop videos (mp4, webm, mov) or face photos here, or pick them. Frames are decoded in this browser, the whole video; faces are found and followed on your GPU, and only the face crops are kept."</p>
            <div class="clip-add">
                <input type="file" multiple accept="video/*,image/*" data-testid="upload-input" on:change=on_pick />
                <label>"frames per second of video "
                    <select data-testid="clip-fps" on:change=on_fps>
                        {FPS_CHOICES.iter().map(|&f| view! { <option value=f.to_string() selected={f == DEFAULT_FPS}>{f.to_string()}</option> }).collect_view()}
                    </select>
                </label>
                <label title="The full face detector scans the whole frame; in between, the faces it found are followed, which is several times faster. A face that is lost is searched for at once.">
                    "full face search every "
                    <select data-testid="clip-detect-every" on:change=on_detect_every>
                        {DETECT_EVERY_CHOICES.iter().map(|&n| view! { <option value=n.to_string() selected={n == DEFAULT_DETECT_EVERY}>{n.to_string()}</option> }).collect_view()}
                    </select>
                    " frames"
                </label>
                {move || engine.get().is_none().then(|| view! { <span class="muted">"the model is loading: clips added now start when it is ready"</span> })}
            </div>
            {move || problem.get().map(|e| view! { <p class="problem" data-testid="error">{e}</p> })}
            <ul class="clip-list" data-testid="clip-list">
                <For each=move || clips.get() key=|c| (c.id, c.version) let:clip>
                    <ClipCard clip=clip engine=engine clips=clips sources=sources />
                </For>
            </ul>
        </section>
    }
}

/// "1 min 20 s", "45 s".
fn duration_text(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 60 { format!("{} min {} s", s / 60, s % 60) } else { format!("{s} s") }
}

#[component]
fn ClipCard(clip: ClipView, engine: Signal<Option<Rc<Engine>>, LocalStorage>, clips: RwSignal<Vec<ClipView>>, sources: Sources) -> impl IntoView {
    let editing = RwSignal::new(false);
    let id = clip.id;
    let cancel = move |_| sources.with_value(|s| s.get(&id).map(|c| c.cancel.set(true))).unwrap_or_default();
    let body = match clip.state.clone() {
        ClipState::Waiting => view! { <p class="busy" data-testid="clip-waiting">"waiting for the model to load…"</p> }.into_any(),
        ClipState::Working { done, total, elapsed_ms } => {
            let eta = total.filter(|_| done > 0).map(|t| elapsed_ms / 1000.0 / done as f64 * t.saturating_sub(done) as f64);
            let text = match (total, eta) {
                (Some(t), Some(eta)) => format!("finding and following faces: frame {done} of {t}, about {} left", duration_text(eta)),
                (Some(t), None) => format!("finding and following faces: frame {done} of {t}"),
                (None, _) => format!("finding and following faces: frame {done}"),
            };
            view! {
                <div class="busy clip-progress" data-testid="clip-progress" data-done=done.to_string() data-total=total.map(|t| t.to_string()).unwrap_or_default()>
                    {match total {
                        Some(t) => view! { <progress max=t.to_string() value=done.to_string()></progress> }.into_any(),
                        None => view! { <progress></progress> }.into_any(),
                    }}
                    <span>{text}</span>
                    <button class="quiet" data-testid="clip-cancel" on:click=cancel>"Stop"</button>
                </div>
            }
            .into_any()
        }
        ClipState::Failed(e) => view! { <p class="problem" data-testid="error">{e}</p> }.into_any(),
        ClipState::Ready { tracks } => {
            let frames: usize = tracks.iter().map(|t| t.frames).sum();
            let summary = format!(
                "{} face track{}, {frames} face crop{} kept",
                tracks.len(),
                if tracks.len() == 1 { "" } else { "s" },
                if frames == 1 { "" } else { "s" }
            );
            let span = clip.span().map(|s| {
                let of = clip.duration.map(|d| format!(" of {d:.1} s")).unwrap_or_default();
                let decoder = clip.decoder.as_ref().map(|d| format!(", decoded by {d}")).unwrap_or_default();
                view! {
                    <p class="muted">
                        "tracks cover " <span data-testid="clip-span">{format!("{s:.1}")}</span>
                        {format!(" s{of} of video, sampled at {} frames/s", clip.fps)}
                        <span data-testid="clip-decoder">{decoder}</span>
                    </p>
                }
            });
            let searched = clip.searched.filter(|_| clip.frames > 1).map(|n| {
                view! {
                    <p class="muted" data-testid="clip-searched" data-searched=n.to_string()>
                        {format!("the full face detector ran on {n} of {} frames; faces were followed in the others", clip.frames)}
                    </p>
                }
            });
            view! {
                <p data-testid="clip-summary">{summary}</p>
                {span}
                {searched}
                {tracks.into_iter().enumerate().map(|(k, t)| view! {
                    <div class="track" data-testid="face-track" data-frames=t.frames.to_string()>
                        <span class="track-label">{format!("track {} · {} frames{}", k + 1, t.frames, if t.manual { " · crop set by hand" } else { "" })}</span>
                        <div class="thumbs">{t.thumbs.iter().zip(&t.embeddings).step_by(t.thumbs.len().div_ceil(THUMBS_PER_TRACK).max(1)).map(|(src, e)| view! {
                            <img src=src.clone() width="48" height="48" alt="face crop" data-embedding=serde_json::to_string(e).unwrap_or_default() />
                        }).collect_view()}</div>
                    </div>
                }).collect_view()}
            }
            .into_any()
        }
    };
    // Setting the crop by hand decodes the file again: not possible for a clip restored from
    // storage, unless it is a still (its one frame is stored).
    let editable = sources.with_value(|s| s.get(&id).is_some_and(|c| c.first.is_some() && (c.file.is_some() || clip.frames == 1)));
    let can_edit = editable && matches!(clip.state, ClipState::Ready { .. } | ClipState::Failed(_));
    // Gone from storage first, then from the page: a clip that could not be deleted stays,
    // saying so, rather than coming back unannounced after a reload.
    let remove = move |_| {
        sources.with_value(|s| s.get(&id).map(|c| c.cancel.set(true)));
        spawn_local(async move {
            match storage::delete_clip(id).await {
                Ok(()) => {
                    clips.update(|all| all.retain(|c| c.id != id));
                    sources.update_value(|s| {
                        s.remove(&id);
                    });
                }
                Err(e) => update(clips, id, |c| c.problem = Some(format!("not removed: {e}; it is still in this browser's storage"))),
            }
        });
    };
    let frames_text = match clip.frames {
        0 => String::new(),
        1 => "still".to_string(),
        n => format!("{n} frames"),
    };
    view! {
        <li class="clip">
            <div class="clip-head">
                <strong>{clip.name.clone()}</strong>
                <span class="muted">{frames_text}</span>
                {can_edit.then(|| view! { <button data-testid="crop-edit" on:click=move |_| editing.update(|e| *e = !*e)>"Set crop"</button> })}
                <button class="quiet" data-testid="clip-remove" on:click=remove>"Remove"</button>
            </div>
            {clip.note.clone().map(|n| view! { <p class="muted" data-testid="clip-note">{n}</p> })}
            {clip.problem.clone().map(|p| view! { <p class="problem" data-testid="clip-problem">{p}</p> })}
            {clip.reembedding.map(|(done, total)| view! {
                <div class="busy clip-progress" data-testid="clip-reembed" data-done=done.to_string() data-total=total.to_string()>
                    <progress max=total.to_string() value=done.to_string()></progress>
                    <span>{format!("embedding again with the current weights: {done} of {total} faces")}</span>
                </div>
            })}
            {body}
            {move || editing.get().then(|| view! { <CropEditor id=id engine=engine clips=clips sources=sources editing=editing /> })}
        </li>
    }
}

/// Draw the face box on the first frame; the clip's crops then follow it in every frame.
#[component]
fn CropEditor(
    id: usize,
    engine: Signal<Option<Rc<Engine>>, LocalStorage>,
    clips: RwSignal<Vec<ClipView>>,
    sources: Sources,
    editing: RwSignal<bool>,
) -> impl IntoView {
    let canvas_ref = NodeRef::<leptos::html::Canvas>::new();
    let drag = RwSignal::new(None::<(f64, f64, f64, f64)>);
    let first = sources.with_value(|s| s.get(&id).and_then(|c| c.first.clone()));
    let redraw = move || {
        let (Some(canvas), Some(frame)) = (canvas_ref.get(), first.as_ref()) else { return };
        let canvas: HtmlCanvasElement = canvas;
        let square = drag.get_untracked().map(|(x0, y0, x1, y1)| {
            let side = (x1 - x0).abs().max((y1 - y0).abs());
            (x0.min(x1), y0.min(y1), side, side)
        });
        let _ = media::draw_frame(&canvas, frame, square);
    };
    Effect::new(move |_| {
        drag.track();
        redraw();
    });
    // Mouse position in frame pixels, whatever size the canvas is shown at.
    let at = move |ev: &leptos::ev::MouseEvent| {
        let canvas: HtmlCanvasElement = canvas_ref.get().expect("mounted");
        let scale = canvas.width() as f64 / canvas.client_width().max(1) as f64;
        (ev.offset_x() as f64 * scale, ev.offset_y() as f64 * scale)
    };
    let pressed = RwSignal::new(false);
    let apply = move |_| {
        let (Some((x0, y0, x1, y1)), Some(engine)) = (drag.get_untracked(), engine.get_untracked()) else { return };
        let side = (x1 - x0).abs().max((y1 - y0).abs()) as f32;
        if side < 8.0 {
            return;
        }
        let (x, y) = (x0.min(x1) as f32, y0.min(y1) as f32);
        let face = BoundingBox { x1: x, y1: y, x2: x + side, y2: y + side, score: 1.0 };
        editing.set(false);
        set_state(clips, id, ClipState::Working { done: 0, total: None, elapsed_ms: 0.0 });
        spawn_local(process(engine, id, clips, sources, Some(face)));
    };
    view! {
        <div class="crop-editor">
            <p class="hint">"Drag a square around the face (brows to chin); the crop around it is framed as in training."</p>
            <canvas node_ref=canvas_ref data-testid="crop-canvas"
                on:mousedown=move |ev| { let (x, y) = at(&ev); pressed.set(true); drag.set(Some((x, y, x, y))); }
                on:mousemove=move |ev| if pressed.get_untracked() { let (x, y) = at(&ev); drag.update(|d| if let Some(d) = d { d.2 = x; d.3 = y; }); }
                on:mouseup=move |_| pressed.set(false)
            ></canvas>
            <div>
                <button data-testid="crop-apply" on:click=apply prop:disabled=move || drag.get().is_none()>"Use this box"</button>
                <button on:click=move |_| editing.set(false)>"Cancel"</button>
            </div>
        </div>
    }
}
