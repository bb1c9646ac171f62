//! The explorer's faces for TensorBoard's Embedding Projector: the files the model crate's
//! `projector` writes (as `fabnet embed --projector` does), offered as downloads. Metadata
//! columns: clip, track, frame, seconds; the sprite shows each face as the network saw it.

use std::rc::Rc;

use fabnet::projector::{self, Sprite};
use leptos::prelude::*;

use crate::client::Engine;
use crate::explore::Point;
use crate::{faces, media};

const COLUMNS: [&str; 4] = ["clip", "track", "frame", "seconds"];

/// One file ready to download.
#[derive(Clone, Debug, PartialEq)]
struct File {
    name: &'static str,
    url: String,
    bytes: usize,
}

/// The sprite as PNG bytes, encoded by a canvas.
fn sprite_png(sprite: &Sprite) -> Result<Vec<u8>, String> {
    let (canvas, ctx) = media::canvas(sprite.width as u32, sprite.height as u32)?;
    let rgba: Vec<u8> = sprite.rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    let data = web_sys::ImageData::new_with_u8_clamped_array_and_sh(wasm_bindgen::Clamped(&rgba), sprite.width as u32, sprite.height as u32)
        .map_err(|_| "the sprite is too large for this browser's canvas")?;
    ctx.put_image_data(&data, 0.0, 0.0).map_err(|_| "cannot draw the sprite")?;
    let url = canvas.to_data_url().map_err(|_| "cannot encode the sprite")?;
    // A canvas too large to encode gives "data:," (no picture at all).
    let base64 = url.split_once(',').map(|(_, b)| b).filter(|b| !b.is_empty()).ok_or("this browser cannot encode a sprite this large")?;
    let binary = web_sys::window().ok_or("no window")?.atob(base64).map_err(|_| "cannot encode the sprite")?;
    Ok(binary.chars().map(|c| c as u32 as u8).collect())
}

/// The files for `points`, faces at the network's input `size`.
fn files(points: &[Point], size: usize) -> Result<Vec<File>, String> {
    let embeddings: Vec<Vec<f32>> = points.iter().map(|p| p.embedding.clone()).collect();
    let rows: Vec<Vec<String>> =
        points.iter().map(|p| vec![p.clip_name.clone(), p.track_in_clip.to_string(), p.frame.to_string(), format!("{:.2}", p.seconds)]).collect();
    let mut sprite = Sprite::new(points.len(), size)?;
    for (k, p) in points.iter().enumerate() {
        sprite.place(k, &faces::network_input(&p.crops[p.index], size))?;
    }
    let export = projector::export("fabnet", &embeddings, &COLUMNS, &rows, Some(&sprite))?;
    let contents: [(&'static str, Vec<u8>); 5] = [
        (projector::TENSORS, export.tensors.into_bytes()),
        (projector::METADATA, export.metadata.into_bytes()),
        (projector::SPRITE, sprite_png(&sprite)?),
        (projector::CONFIG_JSON, export.config_json.into_bytes()),
        (projector::CONFIG_PBTXT, export.config_pbtxt.into_bytes()),
    ];
    contents.into_iter().map(|(name, bytes)| Ok(File { name, url: media::download_link(&bytes)?, bytes: bytes.len() })).collect()
}

fn size_text(bytes: usize) -> String {
    if bytes >= 1 << 20 { format!("{:.1} MB", bytes as f64 / (1 << 20) as f64) } else { format!("{:.0} kB", (bytes as f64 / 1024.0).ceil()) }
}

#[component]
pub fn ProjectorExport(all: Memo<Vec<Point>>, engine: Signal<Option<Rc<Engine>>, LocalStorage>) -> impl IntoView {
    let made = RwSignal::new(None::<Result<(usize, Vec<File>), String>>);
    // Whether the faces shown changed since the export (its files then hold the earlier ones).
    let stale = RwSignal::new(false);
    Effect::new(move |_| {
        all.track();
        stale.set(true);
    });
    let export = move |_| {
        stale.set(false);
        let Some(engine) = engine.get_untracked() else { return };
        // Links of an earlier export are released.
        if let Some(Ok((_, old))) = made.get_untracked() {
            old.iter().for_each(|f| media::revoke(&f.url));
        }
        made.set(Some(all.with_untracked(|points| files(points, engine.input_size()).map(|f| (points.len(), f)))));
    };
    view! {
        <div class="projector" data-testid="projector">
            <button data-testid="projector-export" on:click=export disabled=move || all.with(Vec::is_empty)>
                "Export for the Embedding Projector"
            </button>
            {move || made.get().map(|made| match made {
                Ok((count, files)) => view! {
                    <div data-testid="projector-files" data-points=count.to_string()>
                        {move || stale.get().then(|| view! { <p class="problem" data-testid="projector-stale">"The faces shown have changed since this export: export again for these."</p> })}
                        <p class="muted">{format!("{count} faces. At projector.tensorflow.org, Load takes tensors.tsv and metadata.tsv. With the faces' sprite: put all five files in a TensorBoard log folder (projector_config.pbtxt names them), or serve them and open the projector with ?config= the URL of projector_config.json (its paths are relative to it).")}</p>
                        <ul class="downloads">
                            {files.into_iter().map(|f| view! {
                                <li><a data-testid="projector-file" href=f.url.clone() download=f.name>{f.name}</a>{format!(" ({})", size_text(f.bytes))}</li>
                            }).collect_view()}
                        </ul>
                    </div>
                }.into_any(),
                Err(e) => view! { <p class="problem" data-testid="error">{format!("cannot export: {e}")}</p> }.into_any(),
            })}
        </div>
    }
}
