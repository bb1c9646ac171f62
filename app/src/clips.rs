//! The clips screen: videos and stills the user adds are decoded here, their faces found and
//! grouped into tracks on the GPU, each track shown as a strip of the crops the network sees.
//! A bad file is reported on its own card; the others carry on. Any clip's crop can be set by
//! hand by drawing the face box on its first frame.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use fabnet::face::{BoundingBox, RgbFrame};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::{File, HtmlCanvasElement, HtmlInputElement};

use fabnet_app::protocol::Frame;

use crate::client::Engine;
use crate::faces::{self, FaceTrack};
use crate::media;
use crate::storage::{self, StoredClip, StoredTrack};

/// Video frames are sampled at this rate, up to `MAX_FRAMES` (a few seconds): enough for
/// tracks, light enough for a laptop GPU.
const FPS: f64 = 10.0;
const MAX_FRAMES: usize = 48;
const THUMBS_PER_TRACK: usize = 8;

#[derive(Clone, Debug, PartialEq)]
pub enum ClipState {
    Decoding,
    Detecting { done: usize, total: usize },
    Ready { tracks: Vec<TrackView> },
    Failed(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrackView {
    pub frames: usize,
    /// Index in the clip of each frame of the track.
    pub frame_index: Vec<usize>,
    /// The face in each frame, framed as `fabnet prepare` frames it (training samples these).
    pub crops: Arc<Vec<RgbFrame>>,
    /// One picture per frame of exactly what the network embedded (PNG data URLs).
    pub thumbs: Vec<String>,
    pub embeddings: Vec<Vec<f32>>,
    pub manual: bool,
}

impl TrackView {
    /// Thumbnails and embeddings of `crops` with the engine's current model.
    pub async fn new(engine: &Engine, frame_index: Vec<usize>, crops: Vec<RgbFrame>, manual: bool) -> Result<Self, String> {
        let size = engine.input_size();
        let inputs: Vec<Vec<f32>> = crops.iter().map(|c| faces::network_input(c, size)).collect();
        let embeddings = engine.embed(&inputs).await?;
        Self::embedded(&inputs, size, frame_index, crops, embeddings, manual)
    }

    /// A track whose `embeddings` of the network `inputs` (at `size`) are known.
    fn embedded(
        inputs: &[Vec<f32>],
        size: usize,
        frame_index: Vec<usize>,
        crops: Vec<RgbFrame>,
        embeddings: Vec<Vec<f32>>,
        manual: bool,
    ) -> Result<Self, String> {
        let thumbs = inputs.iter().map(|i| media::planar_to_data_url(i, size)).collect::<Result<_, _>>()?;
        Ok(Self { frames: crops.len(), frame_index, crops: Arc::new(crops), thumbs, embeddings, manual })
    }
}

/// Embed every track again (the model changed), clip by clip, and store the new embeddings.
pub async fn refresh(engine: &Engine, clips: RwSignal<Vec<ClipView>>) -> Result<(), String> {
    let ready: Vec<(usize, Vec<TrackView>)> = clips.with_untracked(|all| {
        all.iter()
            .filter_map(|c| match &c.state {
                ClipState::Ready { tracks } => Some((c.id, tracks.clone())),
                _ => None,
            })
            .collect()
    });
    for (id, tracks) in ready {
        let mut fresh = Vec::new();
        for t in tracks {
            fresh.push(TrackView::new(engine, t.frame_index, t.crops.as_ref().clone(), t.manual).await?);
        }
        set_state(clips, id, ClipState::Ready { tracks: fresh });
        persist(clips, id, None).await?;
    }
    Ok(())
}

/// Store a ready clip (its crops, embeddings and, when given, its first frame).
async fn persist(clips: RwSignal<Vec<ClipView>>, id: usize, first_frame: Option<&RgbFrame>) -> Result<(), String> {
    let Some(clip) = clips.with_untracked(|all| all.iter().find(|c| c.id == id).cloned()) else { return Ok(()) };
    let ClipState::Ready { tracks } = &clip.state else { return Ok(()) };
    let tracks = tracks
        .iter()
        .map(|t| StoredTrack {
            frame_index: t.frame_index.clone(),
            crops: t.crops.iter().map(Frame::from).collect(),
            embeddings: t.embeddings.clone(),
            manual: t.manual,
        })
        .collect();
    let first_frame = match first_frame {
        Some(f) => Some(Frame::from(f)),
        None => storage::load_clip(id).await?.and_then(|c| c.first_frame),
    };
    storage::save_clip(&StoredClip { id, name: clip.name, frames: clip.frames, first_frame, tracks }).await
}

/// The clips stored by an earlier visit, as they were (embeddings included; tracks whose
/// embeddings do not fit the current model are embedded again).
async fn restore(engine: &Engine, clips: RwSignal<Vec<ClipView>>, store: Frames, next_id: StoredValue<usize>) -> Result<(), String> {
    let (stored, problems) = storage::load_clips().await?;
    let size = engine.input_size();
    let dim = engine.info().config.embedding_dim;
    for c in stored {
        let mut tracks = Vec::new();
        for t in &c.tracks {
            let crops = t.crops()?;
            if t.embeddings.len() != crops.len() || t.embeddings.iter().any(|e| e.len() != dim) {
                tracks.push(TrackView::new(engine, t.frame_index.clone(), crops, t.manual).await?);
                continue;
            }
            let inputs: Vec<Vec<f32>> = crops.iter().map(|c| faces::network_input(c, size)).collect();
            tracks.push(TrackView::embedded(&inputs, size, t.frame_index.clone(), crops, t.embeddings.clone(), t.manual)?);
        }
        if let Some(first) = c.first_frame.as_ref().and_then(|f| f.to_rgb().ok()) {
            store.update_value(|s| {
                s.insert(c.id, Rc::new(vec![first]));
            });
        }
        next_id.set_value(next_id.get_value().max(c.id + 1));
        clips.update(|all| all.push(ClipView { id: c.id, version: 0, name: c.name.clone(), frames: c.frames, state: ClipState::Ready { tracks } }));
    }
    if !problems.is_empty() {
        return Err(format!("{} stored clip(s) could not be read: {}", problems.len(), problems.join("; ")));
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClipView {
    pub id: usize,
    /// Bumped on every change, so that the list re-renders just the changed card.
    pub version: u64,
    pub name: String,
    pub frames: usize,
    pub state: ClipState,
}

type Frames = StoredValue<HashMap<usize, Rc<Vec<RgbFrame>>>, LocalStorage>;

fn set_state(clips: RwSignal<Vec<ClipView>>, id: usize, state: ClipState) {
    clips.update(|all| {
        if let Some(c) = all.iter_mut().find(|c| c.id == id) {
            c.state = state;
            c.version += 1;
        }
    });
}

/// Crops, thumbnails and embeddings of each track.
async fn describe(engine: &Engine, frames: &[RgbFrame], tracks: Vec<FaceTrack>, manual: bool) -> Result<Vec<TrackView>, String> {
    let mut views = Vec::new();
    for track in tracks {
        let crops = track.frames.iter().zip(&track.boxes).map(|(&f, b)| faces::face_crop(&frames[f], b)).collect();
        views.push(TrackView::new(engine, track.frames, crops, manual).await?);
    }
    Ok(views)
}

async fn add_clip(engine: Rc<Engine>, file: File, id: usize, clips: RwSignal<Vec<ClipView>>, store: Frames) {
    let decoded = if media::is_video(&file) { media::decode_video(&file, FPS, MAX_FRAMES).await } else { media::decode_image(&file).await.map(|f| vec![f]) };
    let frames = match decoded {
        Ok(f) => Rc::new(f),
        Err(e) => return set_state(clips, id, ClipState::Failed(e)),
    };
    clips.update(|all| {
        all.iter_mut().filter(|c| c.id == id).for_each(|c| {
            c.frames = frames.len();
            c.version += 1;
        })
    });
    store.update_value(|s| {
        s.insert(id, frames.clone());
    });
    let total = frames.len();
    set_state(clips, id, ClipState::Detecting { done: 0, total });
    let min_length = if total > 1 { 2 } else { 1 };
    let result = async {
        let tracks = faces::find_tracks(&engine, &frames, min_length, |done| set_state(clips, id, ClipState::Detecting { done, total })).await?;
        if tracks.is_empty() {
            return Err(format!("{}: no face found (draw the face box by hand with \"Set crop\")", file.name()));
        }
        describe(&engine, &frames, tracks, false).await
    }
    .await;
    let ready = result.is_ok();
    set_state(
        clips,
        id,
        match result {
            Ok(tracks) => ClipState::Ready { tracks },
            Err(e) => ClipState::Failed(e),
        },
    );
    if ready && let Err(e) = persist(clips, id, frames.first()).await {
        // The clip stays usable; only the reload would miss it.
        leptos::logging::warn!("{e}");
    }
}

#[component]
pub fn Clips(engine: Signal<Option<Rc<Engine>>, LocalStorage>, clips: RwSignal<Vec<ClipView>>) -> impl IntoView {
    let store: Frames = StoredValue::new_local(HashMap::new());
    let next_id = StoredValue::new(0usize);
    let problem = RwSignal::new(None::<String>);
    // Bring back what an earlier visit stored, once the model is there to draw it.
    Effect::new(move |done: Option<bool>| {
        if done == Some(true) {
            return true;
        }
        let Some(engine) = engine.get() else { return false };
        spawn_local(async move {
            if let Err(e) = restore(&engine, clips, store, next_id).await {
                problem.set(Some(e));
            }
        });
        true
    });

    let add_files = move |files: Vec<File>| {
        let Some(engine) = engine.get_untracked() else { return };
        for file in files {
            let id = next_id.get_value();
            next_id.set_value(id + 1);
            clips.update(|all| all.push(ClipView { id, version: 0, name: file.name(), frames: 0, state: ClipState::Decoding }));
            spawn_local(add_clip(engine.clone(), file, id, clips, store));
        }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let Some(input) = ev.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()) else { return };
        let Some(list) = input.files() else { return };
        add_files((0..list.length()).filter_map(|i| list.get(i)).collect());
        input.set_value("");
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        let Some(list) = ev.data_transfer().and_then(|d| d.files()) else { return };
        add_files((0..list.length()).filter_map(|i| list.get(i)).collect());
    };

    view! {
        <section class="panel clips" on:dragover=|ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=on_drop>
            <h2>"Clips"</h2>
            <p class="hint">"Drop videos (mp4, webm, mov) or face photos here, or pick them. Frames are decoded in this browser; faces are found and followed on your GPU."</p>
            <input type="file" multiple accept="video/*,image/*" data-testid="upload-input" on:change=on_pick
                prop:disabled=move || engine.get().is_none() />
            {move || problem.get().map(|e| view! { <p class="problem" data-testid="error">{e}</p> })}
            <ul class="clip-list" data-testid="clip-list">
                <For each=move || clips.get() key=|c| (c.id, c.version) let:clip>
                    <ClipCard clip=clip engine=engine clips=clips store=store />
                </For>
            </ul>
        </section>
    }
}

#[component]
fn ClipCard(clip: ClipView, engine: Signal<Option<Rc<Engine>>, LocalStorage>, clips: RwSignal<Vec<ClipView>>, store: Frames) -> impl IntoView {
    let editing = RwSignal::new(false);
    let id = clip.id;
    let body = match clip.state.clone() {
        ClipState::Decoding => view! { <p class="busy">"decoding…"</p> }.into_any(),
        ClipState::Detecting { done, total } => view! { <p class="busy">{format!("finding faces: frame {done} of {total}")}</p> }.into_any(),
        ClipState::Failed(e) => view! { <p class="problem" data-testid="error">{e}</p> }.into_any(),
        ClipState::Ready { tracks } => {
            let frames: usize = tracks.iter().map(|t| t.frames).sum();
            let summary =
                format!("{} face track{}, {frames} face crop{}", tracks.len(), if tracks.len() == 1 { "" } else { "s" }, if frames == 1 { "" } else { "s" });
            view! {
                <p data-testid="clip-summary">{summary}</p>
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
    // A clip restored from storage keeps only its first frame: the crop can be set on a still.
    let in_memory = store.with_value(|s| s.get(&id).map_or(0, |f| f.len())) == clip.frames;
    let can_edit = clip.frames > 0 && in_memory && !matches!(clip.state, ClipState::Decoding | ClipState::Detecting { .. });
    let remove = move |_| {
        clips.update(|all| all.retain(|c| c.id != id));
        store.update_value(|s| {
            s.remove(&id);
        });
        spawn_local(async move {
            let _ = storage::delete_clip(id).await;
        });
    };
    view! {
        <li class="clip">
            <div class="clip-head">
                <strong>{clip.name.clone()}</strong>
                <span class="muted">{if clip.frames > 1 { format!("{} frames", clip.frames) } else if clip.frames == 1 { "still".to_string() } else { String::new() }}</span>
                {can_edit.then(|| view! { <button data-testid="crop-edit" on:click=move |_| editing.update(|e| *e = !*e)>"Set crop"</button> })}
                <button class="quiet" data-testid="clip-remove" on:click=remove>"Remove"</button>
            </div>
            {body}
            {move || editing.get().then(|| view! { <CropEditor id=id engine=engine clips=clips store=store editing=editing /> })}
        </li>
    }
}

/// Draw the face box on the first frame; the clip's crops then follow it in every frame.
#[component]
fn CropEditor(
    id: usize,
    engine: Signal<Option<Rc<Engine>>, LocalStorage>,
    clips: RwSignal<Vec<ClipView>>,
    store: Frames,
    editing: RwSignal<bool>,
) -> impl IntoView {
    let canvas_ref = NodeRef::<leptos::html::Canvas>::new();
    let drag = RwSignal::new(None::<(f64, f64, f64, f64)>);
    let first = store.with_value(|s| s.get(&id).and_then(|f| f.first().cloned()));
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
        let Some(frames) = store.with_value(|s| s.get(&id).cloned()) else { return };
        let side = (x1 - x0).abs().max((y1 - y0).abs()) as f32;
        if side < 8.0 {
            return;
        }
        let (x, y) = (x0.min(x1) as f32, y0.min(y1) as f32);
        let face = BoundingBox { x1: x, y1: y, x2: x + side, y2: y + side, score: 1.0 };
        editing.set(false);
        spawn_local(async move {
            let track = faces::manual_track(frames.len(), face);
            let state = match describe(&engine, &frames, vec![track], true).await {
                Ok(tracks) => ClipState::Ready { tracks },
                Err(e) => ClipState::Failed(e),
            };
            set_state(clips, id, state);
            if let Err(e) = persist(clips, id, frames.first()).await {
                // The clip stays usable; only the reload would miss it.
                leptos::logging::warn!("{e}");
            }
        });
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
