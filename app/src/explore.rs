//! The explorer: every embedded face of every clip as a point in the plane of the two
//! principal components, coloured by clip, with its crop on hover; clicking a point lists its
//! nearest neighbours by cosine similarity across all clips. The webcam's face moves live in
//! the same plane. A face picked as source can be driven by any other frame's embedding
//! through the decoders (re-synthesis).

use std::rc::Rc;
use std::sync::Arc;

use fabnet::explore::{Projection, nearest};
use fabnet::face::RgbFrame;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client::Engine;
use crate::clips::{ClipState, ClipView};
use crate::{faces, media};

const WIDTH: f32 = 520.0;
const HEIGHT: f32 = 320.0;
const MARGIN: f32 = 14.0;
const NEIGHBOURS: usize = 6;

/// One embedded face crop.
#[derive(Clone, Debug, PartialEq)]
struct Point {
    clip: usize,
    /// Track number across all clips.
    track: usize,
    /// Place of the frame in its clip, 0 (first) to 1 (last).
    time: f32,
    label: String,
    thumb: String,
    embedding: Vec<f32>,
    /// The track's crops and this frame's place in them.
    crops: Arc<Vec<RgbFrame>>,
    index: usize,
}

fn points(clips: &[ClipView]) -> Vec<Point> {
    let mut out = Vec::new();
    let mut track_number = 0;
    for (c, clip) in clips.iter().enumerate() {
        let ClipState::Ready { tracks } = &clip.state else { continue };
        for (k, track) in tracks.iter().enumerate() {
            track_number += 1;
            for (index, ((frame, thumb), embedding)) in track.frame_index.iter().zip(&track.thumbs).zip(&track.embeddings).enumerate() {
                out.push(Point {
                    clip: c,
                    track: track_number - 1,
                    time: *frame as f32 / clip.frames.saturating_sub(1).max(1) as f32,
                    label: format!("{} · track {} · frame {}", clip.name, k + 1, frame + 1),
                    thumb: thumb.clone(),
                    embedding: embedding.clone(),
                    crops: track.crops.clone(),
                    index,
                });
            }
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum ColourBy {
    Clip,
    Track,
    Time,
}

fn colour(p: &Point, by: ColourBy) -> String {
    // Golden-angle hues from blue, clear of the webcam ring's red; time runs light to dark.
    match by {
        ColourBy::Clip => format!("hsl({}, 65%, 45%)", (210 + p.clip * 137) % 360),
        ColourBy::Track => format!("hsl({}, 65%, 45%)", (210 + p.track * 137) % 360),
        ColourBy::Time => format!("hsl(200, 70%, {:.0}%)", 80.0 - 55.0 * p.time),
    }
}

/// Maps plane coordinates to the SVG, fitted to the points.
#[derive(Clone, Copy, PartialEq)]
struct Frame {
    min: [f32; 2],
    scale: f32,
}

impl Frame {
    fn fit(xy: &[[f32; 2]]) -> Self {
        let lo = |d: usize| xy.iter().map(|p| p[d]).fold(f32::INFINITY, f32::min);
        let hi = |d: usize| xy.iter().map(|p| p[d]).fold(f32::NEG_INFINITY, f32::max);
        let span = ((hi(0) - lo(0)) / (WIDTH - 2.0 * MARGIN)).max((hi(1) - lo(1)) / (HEIGHT - 2.0 * MARGIN)).max(1e-6);
        Self { min: [lo(0), lo(1)], scale: 1.0 / span }
    }
    fn place(&self, p: [f32; 2]) -> (f32, f32) {
        (MARGIN + (p[0] - self.min[0]) * self.scale, HEIGHT - MARGIN - (p[1] - self.min[1]) * self.scale)
    }
}

#[component]
pub fn Explorer(clips: RwSignal<Vec<ClipView>>, live: RwSignal<Option<Vec<f32>>>, engine: Signal<Option<Rc<Engine>>, LocalStorage>) -> impl IntoView {
    let all = Memo::new(move |_| points(&clips.get()));
    let layout = Memo::new(move |_| {
        let pts = all.get();
        let embeddings: Vec<Vec<f32>> = pts.iter().map(|p| p.embedding.clone()).collect();
        let projection = Projection::fit(&embeddings)?;
        let xy: Vec<[f32; 2]> = embeddings.iter().map(|e| projection.project(e)).collect();
        let frame = Frame::fit(&xy);
        Some((projection, xy, frame))
    });
    let selected = RwSignal::new(None::<usize>);
    let hovered = RwSignal::new(None::<usize>);
    let colour_by = RwSignal::new(ColourBy::Clip);
    // Re-synthesis: the source face (a point), and the result of driving it with the selected
    // point's embedding.
    let source = RwSignal::new(None::<usize>);
    let driven = RwSignal::new(None::<Result<(String, String), String>>);
    Effect::new(move |_| {
        let (Some(s), Some(d)) = (source.get(), selected.get()) else { return };
        let Some(engine) = engine.get_untracked() else { return };
        let pts = all.get_untracked();
        let (Some(src), Some(drv)) = (pts.get(s).cloned(), pts.get(d).cloned()) else { return };
        spawn_local(async move {
            let size = engine.input_size();
            let input = faces::network_input(&src.crops[src.index], size);
            let result = engine
                .resynthesize(input, drv.embedding.clone())
                .await
                .and_then(|image| media::planar_to_data_url(&image, size))
                .map(|url| (url, format!("{} driven by {}", src.label, drv.label)));
            driven.set(Some(result));
        });
    });

    let dots = move || {
        let Some((_, xy, frame)) = layout.get() else { return vec![] };
        let pts = all.get();
        xy.iter()
            .enumerate()
            .map(|(i, p)| {
                let (x, y) = frame.place(*p);
                let fill = colour(&pts[i], colour_by.get());
                view! {
                    <circle data-testid="explore-point" cx=x cy=y r=move || if selected.get() == Some(i) { 6.0 } else { 4.0 }
                        fill=fill stroke=move || if selected.get() == Some(i) { "#111" } else { "none" }
                        on:click=move |_| selected.set(Some(i))
                        on:mouseenter=move |_| hovered.set(Some(i))
                        on:mouseleave=move |_| hovered.set(None)>
                        <title>{pts[i].label.clone()}</title>
                    </circle>
                }
            })
            .collect_view()
            .into_iter()
            .collect::<Vec<_>>()
    };
    // The webcam's face, placed with the same projection (it does not move the axes).
    let live_dot = move || {
        let (projection, _, frame) = layout.get()?;
        let (x, y) = frame.place(projection.project(&live.get()?));
        Some(
            view! { <g data-testid="explore-live"><circle cx=x cy=y r="7" fill="none" stroke="#e11d48" stroke-width="2.5"></circle><title>"webcam, live"</title></g> },
        )
    };
    let neighbours = move || {
        let i = selected.get()?;
        let pts = all.get();
        let query = pts.get(i)?.clone();
        let embeddings: Vec<Vec<f32>> = pts.iter().map(|p| p.embedding.clone()).collect();
        let rows = nearest(&embeddings, i, NEIGHBOURS)
            .into_iter()
            .map(|(j, similarity)| {
                let p = &pts[j];
                view! {
                    <li data-testid="neighbour"><img src=p.thumb.clone() width="48" height="48" alt="" />
                        <span>{p.label.clone()}</span><span class="muted">{format!("cosine {similarity:.3}")}</span></li>
                }
            })
            .collect_view();
        Some(view! {
            <div class="neighbours" data-testid="neighbours">
                <p><img src=query.thumb.clone() width="64" height="64" alt="" />" " {query.label.clone()} ": nearest faces "
                    <button data-testid="resynth-source" on:click=move |_| source.set(Some(i))>"Use as source face"</button></p>
                <ol>{rows}</ol>
            </div>
        })
    };

    view! {
        <section class="panel explore">
            <h2>"Explore"</h2>
            <p class="hint">"Every embedded face, in the plane of the two main directions of variation (PCA). Hover for the face, click for its nearest neighbours. The webcam's face is the red ring."</p>
            <label>"Colour by "
                <select data-testid="explore-colour" on:change=move |ev| colour_by.set(match event_target_value(&ev).as_str() {
                    "track" => ColourBy::Track,
                    "time" => ColourBy::Time,
                    _ => ColourBy::Clip,
                })>
                    <option value="clip" selected>"clip"</option>
                    <option value="track">"track"</option>
                    <option value="time">"time in the clip (light: early, dark: late)"</option>
                </select>
            </label>
            {move || if all.get().len() < 2 {
                view! { <p class="muted">"Add a clip to see its faces here."</p> }.into_any()
            } else {
                view! {
                    <div class="explore-body">
                        <svg data-testid="explore-plot" width=WIDTH height=HEIGHT viewBox=format!("0 0 {WIDTH} {HEIGHT}")>
                            <rect width=WIDTH height=HEIGHT fill="#f8fafc"></rect>
                            {dots}
                            {live_dot}
                        </svg>
                        <div class="hover">{move || hovered.get().and_then(|i| all.with(|p| p.get(i).map(|p| view! { <img src=p.thumb.clone() width="96" height="96" alt="" /><p class="muted">{p.label.clone()}</p> })))}</div>
                    </div>
                }.into_any()
            }}
            {neighbours}
            <Resynthesis source=source driven=driven all=all />
        </section>
    }
}

#[component]
fn Resynthesis(source: RwSignal<Option<usize>>, driven: RwSignal<Option<Result<(String, String), String>>>, all: Memo<Vec<Point>>) -> impl IntoView {
    move || {
        let s = source.get()?;
        let src = all.with(|p| p.get(s).cloned())?;
        Some(view! {
            <div class="resynthesis" data-testid="resynthesis">
                <h3>"Re-synthesis"</h3>
                <p class="hint">"The source face is warped by the decoders to take the pose and expression of the face you click in the plot."</p>
                <figure><img src=src.thumb.clone() width="96" height="96" alt="source" /><figcaption>"source"</figcaption></figure>
                {move || match driven.get() {
                    Some(Ok((url, label))) => view! { <figure><img data-testid="resynth-image" src=url width="96" height="96" alt=label.clone() /><figcaption>{label}</figcaption></figure> }.into_any(),
                    Some(Err(e)) => view! { <p class="problem" data-testid="error">{e}</p> }.into_any(),
                    None => view! { <p class="muted">"Click another face to drive the source with it."</p> }.into_any(),
                }}
                <button class="quiet" on:click=move |_| { source.set(None); driven.set(None); }>"Clear source"</button>
            </div>
        })
    }
}
