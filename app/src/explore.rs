//! The explorer: every embedded face of every clip as a point in the plane of the two
//! principal components, coloured by clip, with its crop on hover; clicking a point lists its
//! nearest neighbours by cosine similarity across all clips. The webcam's face moves live in
//! the same plane.

use fabnet::explore::{Projection, nearest};
use leptos::prelude::*;

use crate::clips::{ClipState, ClipView};

const WIDTH: f32 = 520.0;
const HEIGHT: f32 = 320.0;
const MARGIN: f32 = 14.0;
const NEIGHBOURS: usize = 6;

/// One embedded face crop.
#[derive(Clone, Debug, PartialEq)]
struct Point {
    clip: usize,
    label: String,
    thumb: String,
    embedding: Vec<f32>,
}

fn points(clips: &[ClipView]) -> Vec<Point> {
    let mut out = Vec::new();
    for (c, clip) in clips.iter().enumerate() {
        let ClipState::Ready { tracks } = &clip.state else { continue };
        for (k, track) in tracks.iter().enumerate() {
            for ((frame, thumb), embedding) in track.frame_index.iter().zip(&track.thumbs).zip(&track.embeddings) {
                out.push(Point { clip: c, label: format!("{} · track {} · frame {}", clip.name, k + 1, frame + 1), thumb: thumb.clone(), embedding: embedding.clone() });
            }
        }
    }
    out
}

fn colour(clip: usize) -> String {
    // Golden-angle hues from blue, clear of the webcam ring's red.
    format!("hsl({}, 65%, 45%)", (210 + clip * 137) % 360)
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
pub fn Explorer(clips: RwSignal<Vec<ClipView>>, live: RwSignal<Option<Vec<f32>>>) -> impl IntoView {
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

    let dots = move || {
        let Some((_, xy, frame)) = layout.get() else { return vec![] };
        let pts = all.get();
        xy.iter()
            .enumerate()
            .map(|(i, p)| {
                let (x, y) = frame.place(*p);
                let fill = colour(pts[i].clip);
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
        Some(view! { <g data-testid="explore-live"><circle cx=x cy=y r="7" fill="none" stroke="#e11d48" stroke-width="2.5"></circle><title>"webcam, live"</title></g> })
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
                <p><img src=query.thumb.clone() width="64" height="64" alt="" />" " {query.label.clone()} ": nearest faces"</p>
                <ol>{rows}</ol>
            </div>
        })
    };

    view! {
        <section class="panel explore">
            <h2>"Explore"</h2>
            <p class="hint">"Every embedded face, in the plane of the two main directions of variation (PCA), coloured by clip. Hover for the face, click for its nearest neighbours. The webcam's face is the red ring."</p>
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
        </section>
    }
}
