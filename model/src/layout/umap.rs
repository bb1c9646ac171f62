//! UMAP (McInnes, Healy, Melville 2018), following umap-learn's defaults: a fuzzy graph of each
//! point's nearest neighbours, laid out by stochastic gradient descent with negative sampling.
//! Written here rather than taken from `umap-rs` because that crate times itself with
//! `std::time::Instant`, which panics in the browser.

use super::{Neighbour, Progress};

/// `a` and `b` of the low-dimensional similarity `1 / (1 + a d^2b)` that umap-learn fits for
/// its defaults `min_dist = 0.1`, `spread = 1`.
const A: f32 = 1.576_943_5;
const B: f32 = 0.895_060_9;
/// Negative samples per positive one, and their weight (umap-learn's defaults).
const NEGATIVE_RATE: f32 = 5.0;
const REPULSION: f32 = 1.0;
/// Gradients are clipped to this, as umap-learn does, so that no single step throws a point away.
const CLIP: f32 = 4.0;
const REPORTS: usize = 40;

/// `graph[i]`: point `i`'s nearest other points, nearest first; `neighbours` counts the point
/// itself, as umap-learn's `n_neighbors` does.
pub(super) fn fit(graph: &[Vec<Neighbour>], neighbours: usize, epochs: usize, start: &[[f32; 2]], progress: &mut Progress) -> Vec<[f32; 2]> {
    let n = graph.len();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let edges = fuzzy_edges(graph, neighbours, epochs);
    let mut xy = scaled_start(start, &mut rng);
    let max_weight = edges.iter().map(|e| e.2).fold(0.0f32, f32::max);
    let per_sample: Vec<f32> = edges.iter().map(|e| max_weight / e.2).collect();
    let per_negative: Vec<f32> = per_sample.iter().map(|s| s / NEGATIVE_RATE).collect();
    let mut next_sample = per_sample.clone();
    let mut next_negative = per_negative.clone();
    let every = (epochs / REPORTS).max(1);
    for epoch in 0..epochs {
        let alpha = 1.0 - epoch as f32 / epochs as f32;
        let now = epoch as f32;
        for (e, &(head, tail, _)) in edges.iter().enumerate() {
            if next_sample[e] > now {
                continue;
            }
            let (h, t) = (head as usize, tail as usize);
            let d = [xy[h][0] - xy[t][0], xy[h][1] - xy[t][1]];
            let d2 = d[0] * d[0] + d[1] * d[1];
            if d2 > 0.0 {
                let coefficient = -2.0 * A * B * d2.powf(B - 1.0) / (A * d2.powf(B) + 1.0);
                for k in 0..2 {
                    let step = (coefficient * d[k]).clamp(-CLIP, CLIP) * alpha;
                    xy[h][k] += step;
                    xy[t][k] -= step;
                }
            }
            next_sample[e] += per_sample[e];
            let negatives = ((now - next_negative[e]) / per_negative[e]).max(0.0) as usize;
            for _ in 0..negatives {
                let other = rng.below(n);
                if other == h {
                    continue;
                }
                let d = [xy[h][0] - xy[other][0], xy[h][1] - xy[other][1]];
                let d2 = d[0] * d[0] + d[1] * d[1];
                if d2 > 0.0 {
                    let coefficient = 2.0 * REPULSION * B / ((0.001 + d2) * (A * d2.powf(B) + 1.0));
                    for k in 0..2 {
                        xy[h][k] += (coefficient * d[k]).clamp(-CLIP, CLIP) * alpha;
                    }
                }
            }
            next_negative[e] += negatives as f32 * per_negative[e];
        }
        let done = epoch + 1;
        if done % every == 0 || done == epochs {
            progress(done, epochs, &xy);
        }
    }
    xy
}

/// The symmetric fuzzy graph's edges, both directions of each, as (head, tail, weight): each
/// point's neighbour weights `exp(-(d - rho) / sigma)`, with `rho` its nearest distance and
/// `sigma` set so that the weights sum to `log2(neighbours)`, then joined by fuzzy union
/// `a + b - ab`. Edges too weak to be sampled once in `epochs` are dropped, as umap-learn does.
fn fuzzy_edges(graph: &[Vec<Neighbour>], neighbours: usize, epochs: usize) -> Vec<(u32, u32, f32)> {
    let target = (neighbours.max(2) as f32).log2();
    let mean_distance = {
        let all: Vec<f32> = graph.iter().flatten().map(|nb| nb.distance).collect();
        all.iter().sum::<f32>() / all.len().max(1) as f32
    };
    // Directed weights keyed by the unordered pair, the lower index first: (low, high, low→high?, w).
    let mut directed: Vec<(u32, u32, bool, f32)> = Vec::new();
    for (i, row) in graph.iter().enumerate() {
        let (rho, sigma) = smooth_distances(row, target, mean_distance);
        for nb in row {
            let w = if nb.distance - rho <= 0.0 || sigma == 0.0 { 1.0 } else { (-(nb.distance - rho) / sigma).exp() };
            let (low, high) = (i.min(nb.index) as u32, i.max(nb.index) as u32);
            directed.push((low, high, i < nb.index, w));
        }
    }
    directed.sort_by_key(|a| (a.0, a.1, a.2));
    let mut pairs: Vec<(u32, u32, f32)> = Vec::new();
    let mut k = 0;
    while k < directed.len() {
        let (low, high, _, w) = directed[k];
        let mut joined = w;
        if k + 1 < directed.len() && directed[k + 1].0 == low && directed[k + 1].1 == high {
            let other = directed[k + 1].3;
            joined = w + other - w * other;
            k += 1;
        }
        pairs.push((low, high, joined));
        k += 1;
    }
    let strongest = pairs.iter().map(|p| p.2).fold(0.0f32, f32::max);
    let mut edges: Vec<(u32, u32, f32)> =
        pairs.into_iter().filter(|p| p.2 >= strongest / epochs as f32 && p.0 != p.1).flat_map(|(a, b, w)| [(a, b, w), (b, a, w)]).collect();
    edges.sort_by_key(|x| (x.0, x.1));
    edges
}

/// A point's `rho` (distance to its nearest neighbour) and `sigma`, by bisection as
/// umap-learn's `smooth_knn_dist` does (64 steps, to 1e-5).
fn smooth_distances(row: &[Neighbour], target: f32, mean_distance: f32) -> (f32, f32) {
    let rho = row.iter().map(|nb| nb.distance).find(|&d| d > 0.0).unwrap_or(0.0);
    let (mut lo, mut hi, mut mid) = (0.0f32, f32::INFINITY, 1.0f32);
    for _ in 0..64 {
        let sum: f32 = row.iter().map(|nb| if nb.distance - rho > 0.0 { (-(nb.distance - rho) / mid).exp() } else { 1.0 }).sum();
        if (sum - target).abs() < 1e-5 {
            break;
        }
        if sum > target {
            hi = mid;
            mid = (lo + hi) / 2.0;
        } else {
            lo = mid;
            mid = if hi.is_infinite() { mid * 2.0 } else { (lo + hi) / 2.0 };
        }
    }
    let floor = if rho > 0.0 { row.iter().map(|nb| nb.distance).sum::<f32>() / row.len().max(1) as f32 } else { mean_distance };
    (rho, mid.max(1e-3 * floor))
}

/// The PCA start, each coordinate scaled to 0..10 as umap-learn scales every start; a
/// coordinate with no spread is spread at random.
fn scaled_start(start: &[[f32; 2]], rng: &mut Rng) -> Vec<[f32; 2]> {
    let mut xy = start.to_vec();
    for k in 0..2 {
        let lo = xy.iter().map(|p| p[k]).fold(f32::INFINITY, f32::min);
        let hi = xy.iter().map(|p| p[k]).fold(f32::NEG_INFINITY, f32::max);
        for p in xy.iter_mut() {
            p[k] = if hi > lo { 10.0 * (p[k] - lo) / (hi - lo) } else { 10.0 * rng.unit() };
        }
    }
    xy
}

/// xorshift64*: a fixed seed, so the same points give the same layout.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}
