//! The explorer: every embedded face of every clip as a point in the plane of the two
//! principal components, or laid out by t-SNE or UMAP (in the layout worker, drawn as they
//! converge), coloured by clip, with its crop on hover; clicking a point lists its nearest
//! neighbours by cosine similarity across all clips. The webcam's face moves live in the PCA
//! plane. A face picked as source can be driven by any other frame's embedding through the
//! decoders (re-synthesis), and faces tagged to teach an attribute (`teach`).

use std::rc::Rc;
use std::sync::Arc;

use fabnet::explore::{Projection, nearest};
use fabnet::face::RgbFrame;
use fabnet::layout::{Method, group_colour as hue};
use fabnet_app::layout_worker::Update as LayoutUpdate;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client::Engine;
use crate::clips::{ClipState, ClipView};
use crate::layouts::Layouts;
use crate::projector::ProjectorExport;
use crate::puppet::{self, PuppetSource};
use crate::teach::{TeachPanel, Teaching};

const WIDTH: f32 = 520.0;
const HEIGHT: f32 = 320.0;
const MARGIN: f32 = 14.0;
const NEIGHBOURS: usize = 6;

/// One embedded face crop.
#[derive(Clone, Debug)]
pub(crate) struct Point {
    clip: usize,
    /// The clip's id (`ClipView::id`), which tags refer to.
    pub clip_id: usize,
    pub clip_name: String,
    /// Track number across all clips.
    track: usize,
    /// Track number in its clip, from 1.
    pub track_in_clip: usize,
    /// Frame number in the clip, from 1, and its time in seconds.
    pub frame: usize,
    pub seconds: f64,
    /// Place of the frame in its clip, 0 (first) to 1 (last).
    time: f32,
    pub label: String,
    pub thumb: Arc<str>,
    pub embedding: Vec<f32>,
    /// The track's crops and this frame's place in them.
    pub crops: Arc<Vec<RgbFrame>>,
    pub index: usize,
}

/// Every face embedded by the weights `current`; faces embedded by other weights are left out
/// (they are being embedded again), since their points would not be comparable.
/// Points are equal when they show the same face with the same embedding: the crops are
/// compared by identity, since comparing their pixels would cost more than the plot.
impl PartialEq for Point {
    fn eq(&self, other: &Self) -> bool {
        self.clip == other.clip
            && self.track == other.track
            && self.index == other.index
            && self.label == other.label
            && Arc::ptr_eq(&self.crops, &other.crops)
            && self.embedding == other.embedding
    }
}

impl Point {
    /// Which face this is, as a tag names it: clip id, track in the clip from 0, frame index.
    pub fn face(&self) -> (usize, usize, usize) {
        (self.clip_id, self.track_in_clip - 1, self.frame - 1)
    }
}

fn points(clips: &[ClipView], current: &str) -> Vec<Point> {
    let mut out = Vec::new();
    let mut track_number = 0;
    for (c, clip) in clips.iter().enumerate() {
        let ClipState::Ready { tracks } = &clip.state else { continue };
        for (k, track) in tracks.iter().enumerate() {
            track_number += 1;
            if track.weights != current {
                continue;
            }
            for (index, ((frame, thumb), embedding)) in track.frame_index.iter().zip(&track.thumbs).zip(&track.embeddings).enumerate() {
                out.push(Point {
                    clip: c,
                    clip_id: clip.id,
                    clip_name: clip.name.clone(),
                    track: track_number - 1,
                    track_in_clip: k + 1,
                    frame: frame + 1,
                    seconds: *frame as f64 / clip.fps,
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

/// How the faces are placed in the plane.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Placing {
    Pca,
    Tsne,
    Umap,
}

/// A t-SNE or UMAP layout as far as it has converged, or why it could not be made.
#[derive(Clone, Debug, PartialEq)]
struct Fitted {
    id: u32,
    method: Method,
    epoch: usize,
    epochs: usize,
    xy: Vec<[f32; 2]>,
    seconds: f64,
    error: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum ColourBy {
    Clip,
    Track,
    Time,
}

/// Time in the clip runs light (early) to dark (late).
fn time_colour(t: f32) -> String {
    format!("hsl(200, 70%, {:.0}%)", 80.0 - 55.0 * t)
}

fn colour(p: &Point, by: ColourBy) -> String {
    match by {
        ColourBy::Clip => hue(p.clip),
        ColourBy::Track => hue(p.track),
        ColourBy::Time => time_colour(p.time),
    }
}

/// The legend of the colours: one swatch per clip or track shown, or the time scale.
fn legend(pts: &[Point], by: ColourBy) -> Vec<(String, String)> {
    let mut seen: Vec<(usize, String)> = Vec::new();
    for p in pts {
        let (key, name) = match by {
            ColourBy::Clip => (p.clip, p.label.split(" · ").next().unwrap_or_default().to_string()),
            ColourBy::Track => (p.track, format!("track {}", p.track + 1)),
            ColourBy::Time => {
                return vec![(time_colour(0.0), "start of the clip".into()), (time_colour(0.5), "middle".into()), (time_colour(1.0), "end".into())];
            }
        };
        if !seen.iter().any(|(k, _)| *k == key) {
            seen.push((key, name));
        }
    }
    seen.into_iter().map(|(k, name)| (hue(k), name)).collect()
}

/// The part of the plane on show (SVG user units): the whole plot, or a zoomed part of it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ViewBox {
    x: f32,
    y: f32,
    w: f32,
    h: f32,
}

impl ViewBox {
    const WHOLE: Self = Self { x: 0.0, y: 0.0, w: WIDTH, h: HEIGHT };

    /// Zoomed by `factor` (below 1: closer) about the point `at`, never out past the whole plot.
    fn zoom(self, factor: f32, at: (f32, f32)) -> Self {
        let factor = factor.clamp(0.02 * WIDTH / self.w, WIDTH / self.w);
        let (w, h) = (self.w * factor, self.h * factor);
        Self { x: at.0 - (at.0 - self.x) * factor, y: at.1 - (at.1 - self.y) * factor, w, h }
    }

    fn pan(self, dx: f32, dy: f32) -> Self {
        Self { x: self.x - dx, y: self.y - dy, ..self }
    }

    /// How much closer than the whole plot (1: not zoomed).
    fn scale(&self) -> f32 {
        WIDTH / self.w
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
pub fn Explorer(
    clips: RwSignal<Vec<ClipView>>,
    live: RwSignal<Option<Vec<f32>>>,
    engine: Signal<Option<Rc<Engine>>, LocalStorage>,
    puppet: RwSignal<Option<PuppetSource>>,
    teaching: RwSignal<Teaching>,
    about: RwSignal<String>,
) -> impl IntoView {
    let current = move || engine.get().map(|e| e.current_weights()).unwrap_or_default();
    // What the plot shows changes only when a ready clip does (not on another clip's progress
    // ticks): the points are rebuilt, and the projection refitted, only then.
    let shown = Memo::new(move |_| {
        let ready: Vec<(usize, u64)> = clips.with(|all| all.iter().filter(|c| matches!(c.state, ClipState::Ready { .. })).map(|c| (c.id, c.version)).collect());
        (ready, current())
    });
    let all = Memo::new(move |_| {
        let (_, current) = shown.get();
        clips.with_untracked(|c| points(c, &current))
    });
    // Faces not shown because other weights made their embeddings.
    let hidden = Memo::new(move |_| {
        let current = current();
        clips.with(|all| {
            all.iter()
                .filter_map(|c| match &c.state {
                    ClipState::Ready { tracks } => Some(tracks.iter().filter(|t| t.weights != current).map(|t| t.frames).sum::<usize>()),
                    _ => None,
                })
                .sum::<usize>()
        })
    });
    let pca = Memo::new(move |_| {
        let pts = all.get();
        let embeddings: Vec<Vec<f32>> = pts.iter().map(|p| p.embedding.clone()).collect();
        let projection = Projection::fit(&embeddings)?;
        let xy: Vec<[f32; 2]> = embeddings.iter().map(|e| projection.project(e)).collect();
        Some((projection, xy))
    });
    let placing = RwSignal::new(Placing::Pca);
    let perplexity = RwSignal::new(30.0f32);
    let umap_neighbours = RwSignal::new(15usize);
    // The t-SNE or UMAP layout of the points shown, from the layout worker.
    let fitted = RwSignal::new(None::<Fitted>);
    let asked = StoredValue::new(None::<(u32, Method)>);
    let layouts = StoredValue::new_local(Layouts::new(move |update| {
        let Some((current, method)) = asked.get_value() else { return };
        match update {
            LayoutUpdate::Progress { id, epoch, epochs, xy, seconds } if id == current => {
                fitted.set(Some(Fitted { id, method, epoch, epochs, xy, seconds, error: None }))
            }
            LayoutUpdate::Failed { id, message } if id == current => {
                fitted.set(Some(Fitted { id, method, epoch: 0, epochs: 0, xy: vec![], seconds: 0.0, error: Some(message) }))
            }
            _ => {}
        }
    }));
    // A new layout is asked for when the points or the method change (not on zoom or hover).
    Effect::new(move |_| {
        let method = match placing.get() {
            Placing::Pca => None,
            Placing::Tsne => Some(Method::Tsne { perplexity: perplexity.get() }),
            Placing::Umap => Some(Method::Umap { neighbours: umap_neighbours.get() }),
        };
        let embeddings: Vec<Vec<f32>> = all.with(|pts| pts.iter().map(|p| p.embedding.clone()).collect());
        fitted.set(None);
        match method {
            Some(method) if embeddings.len() >= 2 => {
                // Expected before asking: a worker that cannot start says so at once.
                asked.set_value(Some((layouts.with_value(Layouts::next_id), method)));
                layouts.with_value(|l| l.run(method, &embeddings));
            }
            _ => {
                asked.set_value(None);
                layouts.with_value(Layouts::cancel);
            }
        }
    });
    let layout = Memo::new(move |_| {
        let (projection, pca_xy) = pca.get()?;
        // Until the worker's first layout arrives, the faces stay where PCA puts them.
        let xy = fitted.with(|f| f.as_ref().filter(|f| f.error.is_none() && f.xy.len() == pca_xy.len()).map(|f| f.xy.clone())).unwrap_or(pca_xy);
        let frame = Frame::fit(&xy);
        Some((projection, xy, frame))
    });
    let view_box = RwSignal::new(ViewBox::WHOLE);
    // A new set of points or way of placing them is shown whole (not each step of a layout).
    Effect::new(move |_| {
        all.track();
        placing.track();
        view_box.set(ViewBox::WHOLE);
    });
    let svg_ref = NodeRef::<leptos::svg::Svg>::new();
    // A mouse position in the plot's user units.
    let at = move |x: i32, y: i32| -> (f32, f32) {
        let v = view_box.get_untracked();
        let Some(svg) = svg_ref.get_untracked() else { return (v.x, v.y) };
        let rect = svg.get_bounding_client_rect();
        let (fx, fy) = ((x as f64 - rect.left()) / rect.width().max(1.0), (y as f64 - rect.top()) / rect.height().max(1.0));
        (v.x + fx as f32 * v.w, v.y + fy as f32 * v.h)
    };
    let on_wheel = move |ev: leptos::ev::WheelEvent| {
        ev.prevent_default();
        let point = at(ev.client_x(), ev.client_y());
        let factor = if ev.delta_y() > 0.0 { 1.25 } else { 0.8 };
        view_box.update(|v| *v = v.zoom(factor, point));
    };
    let dragging = RwSignal::new(None::<(f32, f32)>);
    let on_down = move |ev: leptos::ev::MouseEvent| dragging.set(Some(at(ev.client_x(), ev.client_y())));
    let on_move = move |ev: leptos::ev::MouseEvent| {
        let Some(from) = dragging.get_untracked() else { return };
        let to = at(ev.client_x(), ev.client_y());
        view_box.update(|v| *v = v.pan(to.0 - from.0, to.1 - from.1));
    };
    // The axes say what the plot shows: PCA until the worker's first layout has arrived.
    let showing = move || match placing.get() {
        Placing::Pca => Placing::Pca,
        chosen => {
            if fitted.with(|f| f.as_ref().is_some_and(|f| f.error.is_none())) {
                chosen
            } else {
                Placing::Pca
            }
        }
    };
    let axes = move || match showing() {
        Placing::Pca => {
            let [x, y] = pca.with(|l| l.as_ref().map(|(p, _)| p.explained()))?;
            Some((format!("PC1: {:.0}% of the variance", x * 100.0), format!("PC2: {:.0}%", y * 100.0)))
        }
        // t-SNE's and UMAP's axes carry no meaning of their own: only closeness does.
        Placing::Tsne => Some(("t-SNE: near faces are similar; the axes and the distances between groups mean little".into(), "t-SNE".into())),
        Placing::Umap => Some(("UMAP: near faces are similar; the axes mean little".into(), "UMAP".into())),
    };
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
            let result = puppet::resynthesize_crop(&engine, &src.crops[src.index], drv.embedding.clone())
                .await
                .map(|url| (url, format!("{} driven by {}", src.label, drv.label)));
            driven.set(Some(result));
        });
    });

    // The dots are made when the points change; a layout's steps, the colouring and the zoom only
    // move or repaint them, so a converging layout of thousands of faces stays fluid.
    let dots = move || {
        let pts = all.get();
        (0..pts.len())
            .map(|i| {
                let place = move || layout.with(|l| l.as_ref().and_then(|(_, xy, frame)| xy.get(i).map(|p| frame.place(*p)))).unwrap_or((0.0, 0.0));
                let fill = move || all.with(|pts| pts.get(i).map(|p| colour(p, colour_by.get()))).unwrap_or_default();
                // Dots keep their size on screen when zoomed.
                let radius = move |r: f32| r / view_box.with(ViewBox::scale);
                view! {
                    <circle data-testid="explore-point" cx=move || place().0 cy=move || place().1 r=move || radius(if selected.get() == Some(i) { 6.0 } else { 4.0 })
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
        if placing.get() != Placing::Pca {
            return None;
        }
        let (projection, _, frame) = layout.get()?;
        let (x, y) = frame.place(projection.project(&live.get()?));
        Some(
            view! { <g data-testid="explore-live"><circle cx=x cy=y r=move || 7.0 / view_box.with(ViewBox::scale) fill="none" stroke="#e11d48" stroke-width=move || 2.5 / view_box.with(ViewBox::scale)></circle><title>"webcam, live"</title></g> },
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
                    <li data-testid="neighbour"><img src=p.thumb.to_string() width="48" height="48" alt="" />
                        <span>{p.label.clone()}</span><span class="muted">{format!("cosine {similarity:.3}")}</span></li>
                }
            })
            .collect_view();
        Some(view! {
            <div class="neighbours" data-testid="neighbours">
                <p><img src=query.thumb.to_string() width="64" height="64" alt="" />" " {query.label.clone()} ": nearest faces "
                    <button data-testid="resynth-source" on:click=move |_| source.set(Some(i))>"Use as source face"</button></p>
                <ol>{rows}</ol>
            </div>
        })
    };

    view! {
        <section class="panel explore">
            <h2>"Explore"</h2>
            <p class="hint">"Every embedded face, in the plane of the two main directions of variation (PCA), or laid out by t-SNE or UMAP, which keep similar faces together. Hover for the face, click for its nearest neighbours; scroll to zoom, drag to pan. The webcam's face is the red ring (PCA only: t-SNE and UMAP place only the faces they were fitted on)."</p>
            <LayoutChoice placing=placing perplexity=perplexity neighbours=umap_neighbours fitted=fitted />
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
                        <div class="explore-plot">
                            <div class="plot-with-axes">
                                <span class="axis-y" data-testid="explore-axis-y">{move || axes().map(|a| a.1)}</span>
                                <svg data-testid="explore-plot" node_ref=svg_ref width=WIDTH height=HEIGHT
                                    viewBox=move || view_box.with(|v| format!("{} {} {} {}", v.x, v.y, v.w, v.h))
                                    on:wheel=on_wheel on:mousedown=on_down on:mousemove=on_move
                                    on:mouseup=move |_| dragging.set(None) on:mouseleave=move |_| dragging.set(None)>
                                    <rect x=-10.0 * WIDTH y=-10.0 * HEIGHT width=21.0 * WIDTH height=21.0 * HEIGHT fill="#f8fafc"></rect>
                                    {dots}
                                    {live_dot}
                                </svg>
                            </div>
                            <p class="axis-x" data-testid="explore-axis-x">{move || axes().map(|a| a.0)}
                                {move || (view_box.get() != ViewBox::WHOLE).then(|| view! {
                                    " " <button class="quiet" data-testid="explore-reset" on:click=move |_| view_box.set(ViewBox::WHOLE)>
                                        {format!("zoomed {:.1}x: show all", view_box.with(ViewBox::scale))}</button>
                                })}
                            </p>
                            <ul class="legend" data-testid="explore-legend">
                                {move || all.with(|pts| legend(pts, colour_by.get())).into_iter().map(|(c, name)| view! {
                                    <li><span class="swatch" style=format!("background:{c}")></span>{name}</li>
                                }).collect_view()}
                            </ul>
                        </div>
                        <div class="hover">{move || hovered.get().and_then(|i| all.with(|p| p.get(i).map(|p| view! { <img src=p.thumb.to_string() width="96" height="96" alt="" /><p class="muted">{p.label.clone()}</p> })))}</div>
                    </div>
                }.into_any()
            }}
            {move || (hidden.get() > 0).then(|| view! {
                <p class="muted" data-testid="explore-hidden">{format!("{} face(s) embedded by other weights are left out until they are embedded again with these.", hidden.get())}</p>
            })}
            <ProjectorExport all=all engine=engine />
            {neighbours}
            <Resynthesis source=source driven=driven all=all puppet=puppet />
            <TeachPanel all=all selected=selected engine=engine teaching=teaching about=about clips=clips />
        </section>
    }
}

/// The way faces are placed, the parameters of t-SNE and UMAP, and how far a layout has got.
#[component]
fn LayoutChoice(placing: RwSignal<Placing>, perplexity: RwSignal<f32>, neighbours: RwSignal<usize>, fitted: RwSignal<Option<Fitted>>) -> impl IntoView {
    let (p_lo, p_hi) = Method::PERPLEXITY;
    let (n_lo, n_hi) = Method::NEIGHBOURS;
    let on_perplexity = move |ev: leptos::ev::Event| {
        if let Ok(v) = event_target_value(&ev).parse::<f32>()
            && v.is_finite()
        {
            perplexity.set(v.clamp(p_lo, p_hi));
        }
    };
    let on_neighbours = move |ev: leptos::ev::Event| {
        if let Ok(v) = event_target_value(&ev).parse::<usize>() {
            neighbours.set(v.clamp(n_lo, n_hi));
        }
    };
    let status = move || {
        let Some(f) = fitted.get() else {
            let name = match placing.get() {
                Placing::Pca => return None,
                Placing::Tsne => "t-SNE",
                Placing::Umap => "UMAP",
            };
            return Some(
                view! { <p class="muted" data-testid="explore-layout-status" data-done="no">{format!("{name}: starting; the faces stay where PCA puts them until its first step")}</p> }
                    .into_any(),
            );
        };
        let name = f.method.name();
        Some(match &f.error {
            Some(e) => view! { <p class="problem" data-testid="explore-layout-status" data-done="failed">{format!("{name}: {e}")}</p> }.into_any(),
            None => {
                let done = f.epoch >= f.epochs;
                let steps = if matches!(f.method, Method::Tsne { .. }) { "iterations" } else { "epochs" };
                let text = if done {
                    format!("{name} of {} faces: done in {:.1} s", f.xy.len(), f.seconds)
                } else {
                    format!("{name}: {} of {} {steps}, {:.1} s", f.epoch, f.epochs, f.seconds)
                };
                view! { <p class="muted" data-testid="explore-layout-status" data-done=if done { "yes" } else { "no" } data-epoch=f.epoch data-epochs=f.epochs>{text}</p> }
                    .into_any()
            }
        })
    };
    view! {
        <div class="layout-choice">
            <label>"Place faces by "
                <select data-testid="explore-layout" on:change=move |ev| placing.set(match event_target_value(&ev).as_str() {
                    "tsne" => Placing::Tsne,
                    "umap" => Placing::Umap,
                    _ => Placing::Pca,
                })>
                    <option value="pca" selected>"PCA (the webcam's face shows here)"</option>
                    <option value="tsne">"t-SNE"</option>
                    <option value="umap">"UMAP"</option>
                </select>
            </label>
            {move || (placing.get() != Placing::Pca).then(|| view! {
                <details class="layout-settings">
                    <summary>"Settings"</summary>
                    {move || match placing.get() {
                        Placing::Tsne => view! {
                            <label title="About how many neighbours each face keeps close: larger values keep more of the overall shape.">"Perplexity "
                                <input data-testid="explore-perplexity" type="number" min=p_lo max=p_hi step="1" prop:value=move || perplexity.get() on:change=on_perplexity /></label>
                        }.into_any(),
                        _ => view! {
                            <label title="Neighbours of each face (itself included) in the graph UMAP lays out: larger values keep more of the overall shape.">"Neighbours "
                                <input data-testid="explore-neighbours" type="number" min=n_lo max=n_hi step="1" prop:value=move || neighbours.get() on:change=on_neighbours /></label>
                        }.into_any(),
                    }}
                </details>
            })}
            {status}
        </div>
    }
}

#[component]
fn Resynthesis(
    source: RwSignal<Option<usize>>,
    driven: RwSignal<Option<Result<(String, String), String>>>,
    all: Memo<Vec<Point>>,
    puppet: RwSignal<Option<PuppetSource>>,
) -> impl IntoView {
    move || {
        let s = source.get()?;
        let src = all.with(|p| p.get(s).cloned())?;
        Some(view! {
            <div class="resynthesis" data-testid="resynthesis">
                <h3>"Re-synthesis"</h3>
                <p class="hint">"The source face is warped by the decoders to take the pose and expression of the face you click in the plot."</p>
                <figure><img src=src.thumb.to_string() width="96" height="96" alt="source" /><figcaption>"source"</figcaption></figure>
                {move || match driven.get() {
                    Some(Ok((url, label))) => view! { <figure><img data-testid="resynth-image" src=url width="96" height="96" alt=label.clone() /><figcaption>{label}</figcaption></figure> }.into_any(),
                    Some(Err(e)) => view! { <p class="problem" data-testid="error">{e}</p> }.into_any(),
                    None => view! { <p class="muted">"Click another face to drive the source with it."</p> }.into_any(),
                }}
                <button data-testid="puppet-use" on:click={
                    let src = src.clone();
                    move |_| puppet.set(Some(PuppetSource { crops: src.crops.clone(), index: src.index, thumb: src.thumb.to_string(), label: src.label.clone() }))
                }>"Drive it with the webcam"</button>
                <button class="quiet" on:click=move |_| { source.set(None); driven.set(None); }>"Clear source"</button>
            </div>
        })
    }
}
