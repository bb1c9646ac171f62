//! A line chart with axes a person can read: ticks at round numbers on both axes, a legend that
//! tells the lines apart by dash and marker as well as colour, and vertical marks for events
//! (the curriculum window moving). SVG, so it scales with the page.

use leptos::prelude::*;

const LEFT: f64 = 52.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 34.0;

/// One line of the chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub colour: &'static str,
    pub dashed: bool,
    /// A circle on every point (for sparse series such as validation).
    pub markers: bool,
}

/// A vertical mark at `x`, with a short label.
pub struct Mark {
    pub x: f64,
    pub label: String,
}

/// About `n` round numbers (1, 2 or 5 times a power of ten apart) covering `lo..hi`.
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// A tick's label: as many decimals as the tick spacing needs.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
    format!("{v:.decimals$}")
}

#[component]
pub fn LineChart(series: Vec<Series>, marks: Vec<Mark>, x_label: &'static str, y_label: &'static str, width: f64, height: f64) -> impl IntoView {
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.iter().copied()).filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    let (x_lo, x_hi) = (0.0f64, all.iter().map(|p| p.0).fold(1.0, f64::max));
    let (mut y_lo, mut y_hi) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    if !y_lo.is_finite() {
        (y_lo, y_hi) = (0.0, 1.0);
    }
    // A little room above and below the lines.
    let pad = ((y_hi - y_lo) * 0.08).max(y_hi.abs() * 1e-3).max(1e-9);
    let (y_lo, y_hi) = (y_lo - pad, y_hi + pad);
    let (plot_w, plot_h) = (width - LEFT - RIGHT, height - TOP - BOTTOM);
    let x_at = move |x: f64| LEFT + (x - x_lo) / (x_hi - x_lo).max(1e-9) * plot_w;
    let y_at = move |y: f64| TOP + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h;

    let x_ticks = ticks(x_lo, x_hi, 6).into_iter().filter(|t| t.fract() == 0.0).collect::<Vec<_>>();
    let y_ticks = ticks(y_lo, y_hi, 5);
    let y_step = y_ticks.windows(2).map(|w| w[1] - w[0]).next().unwrap_or(1.0);
    let grid = y_ticks
        .iter()
        .map(|&t| {
            let y = y_at(t);
            view! {
                <line x1=LEFT x2=width - RIGHT y1=y y2=y stroke="#e2e8f0"></line>
                <text x=LEFT - 6.0 y=y + 4.0 text-anchor="end" class="tick">{tick_label(t, y_step)}</text>
            }
        })
        .collect_view();
    let x_axis = x_ticks
        .iter()
        .map(|&t| {
            let x = x_at(t);
            view! {
                <line x1=x x2=x y1=TOP + plot_h y2=TOP + plot_h + 4.0 stroke="#64748b"></line>
                <text x=x y=TOP + plot_h + 16.0 text-anchor="middle" class="tick">{tick_label(t, 1.0)}</text>
            }
        })
        .collect_view();
    let mark_lines = marks
        .into_iter()
        .map(|m| {
            let x = x_at(m.x);
            view! {
                <g data-testid="chart-mark">
                    <line x1=x x2=x y1=TOP y2=TOP + plot_h stroke="#94a3b8" stroke-dasharray="1 3"></line>
                    <text x=x + 3.0 y=TOP + 10.0 class="tick mark">{m.label.clone()}</text>
                    <title>{m.label}</title>
                </g>
            }
        })
        .collect_view();
    let dash = |s: &Series| if s.dashed { "5 3" } else { "none" };
    let legend = series
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let x = LEFT + k as f64 * 170.0;
            view! {
                <g class="legend">
                    <line x1=x x2=x + 22.0 y1=10.0 y2=10.0 stroke=s.colour stroke-width="2" stroke-dasharray=dash(s)></line>
                    {s.markers.then(|| view! { <circle cx=x + 11.0 cy=10.0 r="3" fill="white" stroke=s.colour stroke-width="1.5"></circle> })}
                    <text x=x + 28.0 y=14.0 class="tick">{s.name.clone()}</text>
                </g>
            }
        })
        .collect_view();
    let lines = series
        .iter()
        .map(|s| {
            let points = s.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", x_at(x), y_at(y))).collect::<Vec<_>>().join(" ");
            let dots = s.markers.then(|| {
                s.points
                    .iter()
                    .map(|&(x, y)| view! { <circle cx=x_at(x) cy=y_at(y) r="3" fill="white" stroke=s.colour stroke-width="1.5"></circle> })
                    .collect_view()
            });
            view! {
                <polyline points=points fill="none" stroke=s.colour stroke-width="1.8" stroke-dasharray=dash(s)></polyline>
                {dots}
            }
        })
        .collect_view();
    view! {
        <svg class="chart" width=width height=height viewBox=format!("0 0 {width} {height}")>
            <rect x=LEFT y=TOP width=plot_w height=plot_h fill="#f8fafc"></rect>
            {grid}
            <line x1=LEFT x2=width - RIGHT y1=TOP + plot_h y2=TOP + plot_h stroke="#64748b"></line>
            <line x1=LEFT x2=LEFT y1=TOP y2=TOP + plot_h stroke="#64748b"></line>
            {x_axis}
            {mark_lines}
            {lines}
            {legend}
            <text x=LEFT + plot_w / 2.0 y=height - 4.0 text-anchor="middle" class="axis-label">{x_label}</text>
            <text x=12.0 y=TOP + plot_h / 2.0 text-anchor="middle" class="axis-label" transform=format!("rotate(-90 12 {})", TOP + plot_h / 2.0)>{y_label}</text>
        </svg>
    }
}
