//! "Save project" and "Open project": everything the page holds (every clip's crops and
//! tracks, their embeddings, the attributes taught and their tags, the weights, the training
//! settings) in one file of `fabnet::project`'s format, which the CLI reads too (`fabnet
//! project FILE --tracks DIR` gives `fabnet train` the tracks). Opening checks the whole file
//! and the weights before anything on the page changes, and stores it in one transaction.

use std::rc::Rc;

use fabnet::project::{Crop, Project, ProjectClip, ProjectTrack, TaughtAttribute};
use fabnet_app::protocol::{Frame, TrainSettings};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client::Engine;
use crate::clips::{ClipState, ClipView};
use crate::media;
use crate::storage::{self, StoredClip, StoredTrack};
use crate::teach::Teaching;
use crate::weights;

const FILE_NAME: &str = "fabnet-project.fabnetproj";

fn crop(f: &Frame) -> Crop {
    Crop { width: f.width, height: f.height, pixels: f.pixels.clone() }
}

fn frame(c: &Crop) -> Frame {
    Frame { width: c.width, height: c.height, pixels: c.pixels.clone() }
}

/// The tags of faces the project holds (a removed clip's, or a track cut again, are dropped).
fn kept_tags(attributes: &[TaughtAttribute], clips: &[ProjectClip]) -> Vec<TaughtAttribute> {
    let exists =
        |clip: usize, track: usize, frame: usize| clips.iter().any(|c| c.id == clip && c.tracks.get(track).is_some_and(|t| t.frame_index.contains(&frame)));
    attributes.iter().map(|a| TaughtAttribute { tags: a.tags.iter().filter(|t| exists(t.clip, t.track, t.frame)).cloned().collect(), ..a.clone() }).collect()
}

/// The page as a project, and how many clips were left out (still being read).
async fn gather(engine: &Engine, clips: &[ClipView], teaching: &Teaching, settings: &TrainSettings) -> Result<(Project, usize), String> {
    let weights = engine.save_weights().await?;
    let mut kept = Vec::new();
    for c in clips {
        let ClipState::Ready { tracks } = &c.state else { continue };
        let first_frame = storage::load_first_frame(c.id).await.ok().flatten().map(|f| crop(&Frame::from(&f)));
        let tracks = tracks
            .iter()
            .map(|t| ProjectTrack {
                frame_index: t.frame_index.clone(),
                crops: t.crops.iter().map(|c| crop(&Frame::from(c))).collect(),
                embeddings: t.embeddings.clone(),
                weights: Some(t.weights.clone()),
                manual: t.manual,
            })
            .collect();
        kept.push(ProjectClip { id: c.id, name: c.name.clone(), frames: c.frames, fps: c.fps, first_frame, tracks });
    }
    let attributes = kept_tags(&teaching.attributes, &kept);
    let train_settings = serde_json::to_string(settings).map_err(|e| e.to_string())?;
    let left_out = clips.len() - kept.len();
    Ok((Project { weights, clips: kept, attributes, active_attribute: teaching.active, train_settings }, left_out))
}

fn stored(c: &ProjectClip) -> StoredClip {
    StoredClip {
        id: c.id,
        name: c.name.clone(),
        frames: c.frames,
        first_frame: c.first_frame.as_ref().map(frame),
        fps: c.fps,
        tracks: c
            .tracks
            .iter()
            .map(|t| StoredTrack {
                frame_index: t.frame_index.clone(),
                crops: t.crops.iter().map(frame).collect(),
                embeddings: t.embeddings.clone(),
                manual: t.manual,
                weights: t.weights.clone(),
            })
            .collect(),
    }
}

/// Everything the page shows, for opening a project into.
#[derive(Clone, Copy)]
pub struct PageState {
    pub clips: RwSignal<Vec<ClipView>>,
    pub opened: RwSignal<Option<Vec<StoredClip>>>,
    pub teaching: RwSignal<Teaching>,
    pub settings: RwSignal<TrainSettings>,
    pub about: RwSignal<String>,
}

/// Open `bytes` (the file `name`) in place of what the page holds. The file and its weights are
/// checked first, and stored in one transaction: on any failure the page is as it was.
async fn open(engine: &Engine, bytes: &[u8], name: &str, page: PageState) -> Result<String, String> {
    let project = Project::from_bytes(bytes).map_err(|e| format!("{name}: {e}"))?;
    // Settings this version cannot read leave the page's own.
    let settings: TrainSettings = serde_json::from_str(&project.train_settings).unwrap_or_else(|_| page.settings.get_untracked());
    let busy = page.clips.with_untracked(|c| c.iter().filter(|c| !matches!(c.state, ClipState::Ready { .. } | ClipState::Failed(_))).count());
    if busy > 0 {
        return Err(format!("{busy} clip(s) are still being read: wait for them, or stop them, before opening a project"));
    }
    let question = format!("Open {name}? Its clips, tags and weights replace those on this page (save a project first to keep them).");
    if !web_sys::window().and_then(|w| w.confirm_with_message(&question).ok()).unwrap_or(false) {
        return Ok(String::new());
    }
    let previous = engine.save_weights().await?;
    // The clips are stamped with the id of the file first loaded, which a re-saved copy of the
    // same weights need not equal: a rollback restores the id as well as the weights.
    let (previous_info, previous_id) = (engine.info(), engine.weights_id());
    let info = engine.load_weights(project.weights.clone(), name.to_string()).await.map_err(|e| format!("{name}: its weights: {e}"))?;
    let clips: Vec<StoredClip> = project.clips.iter().map(stored).collect();
    let active = project.active_attribute.filter(|&k| k < project.attributes.len());
    let teaching = Teaching { attributes: project.attributes, active };
    if let Err(e) = storage::replace_all(&project.weights, &clips, &teaching).await {
        // Nothing was stored: the page keeps what it had, its weights included.
        let back = engine.load_weights(previous, "the weights before".into()).await;
        return Err(match back {
            Ok(_) => {
                engine.set_info(previous_info, previous_id);
                format!("{name} was not opened: {e}")
            }
            Err(b) => format!("{name} was not opened: {e}; and the previous weights could not be put back ({b})"),
        });
    }
    page.about.set(weights::describe(&info));
    page.teaching.set(teaching.clone());
    page.settings.set(settings);
    let faces: usize = clips.iter().flat_map(|c| &c.tracks).map(|t| t.crops.len()).sum();
    let tags: usize = teaching.attributes.iter().map(|a| a.tags.len()).sum();
    let summary =
        format!("Opened {name}: {} clip(s), {faces} face(s), {} attribute(s) with {tags} tag(s), and its weights.", clips.len(), teaching.attributes.len());
    page.opened.set(Some(clips));
    Ok(summary)
}

#[component]
pub fn ProjectPanel(engine: Signal<Option<Rc<Engine>>, LocalStorage>, page: PageState) -> impl IntoView {
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let download = RwSignal::new(None::<String>);
    let save = move |_| {
        let Some(engine) = engine.get_untracked() else { return };
        busy.set(true);
        spawn_local(async move {
            let clips = page.clips.get_untracked();
            let result = async {
                let (project, left_out) = gather(&engine, &clips, &page.teaching.get_untracked(), &page.settings.get_untracked()).await?;
                let bytes = project.to_bytes().map_err(|e| e.to_string())?;
                let url = media::download_link(&bytes)?;
                if let Some(old) = download.get_untracked() {
                    media::revoke(&old);
                }
                media::click_download(&url, FILE_NAME);
                download.set(Some(url));
                let skipped = if left_out > 0 { format!(" {left_out} clip(s) still being read, or failed, are not in it.") } else { String::new() };
                Ok(format!("Saved {FILE_NAME} ({:.1} MB): {} clip(s), the tags and the weights.{skipped}", bytes.len() as f64 / 1e6, project.clips.len()))
            }
            .await;
            message.set(Some(result));
            busy.set(false);
        });
    };
    let pick = move |ev: leptos::ev::Event| {
        let Some(engine) = engine.get_untracked() else { return };
        let Some(file) = media::picked_files(&ev).into_iter().next() else { return };
        busy.set(true);
        spawn_local(async move {
            let result = match media::read_file(&file).await {
                Ok(bytes) => open(&engine, &bytes, &file.name(), page).await,
                Err(e) => Err(format!("{}: {e}", file.name())),
            };
            // An empty summary: the user said no.
            message.set(match result {
                Ok(s) if s.is_empty() => None,
                other => Some(other),
            });
            busy.set(false);
        });
    };
    view! {
        <div class="project" data-testid="project">
            <button data-testid="project-save" on:click=save prop:disabled=move || busy.get() || engine.get().is_none()>"Save project"</button>
            " " <label class="file">"Open project "
                <input type="file" accept=".fabnetproj" data-testid="project-open" on:change=pick prop:disabled=move || busy.get() || engine.get().is_none() /></label>
            {move || download.get().map(|url| view! { " " <a data-testid="project-file" href=url download=FILE_NAME>{FILE_NAME}</a> })}
            {move || match message.get() {
                Some(Ok(m)) => Some(view! { <p class="muted" data-testid="project-message">{m}</p> }.into_any()),
                Some(Err(e)) => Some(view! { <p class="problem" data-testid="error">{e}</p> }.into_any()),
                None => None,
            }}
            <p class="muted">"A project file holds every clip's faces and embeddings, the tags and attributes taught, the weights and the training settings: open it in another browser, or read it with fabnet project FILE (--tracks DIR gives fabnet train the face tracks)."</p>
        </div>
    }
}
