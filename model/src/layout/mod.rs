//! Non-linear 2-D layouts of embeddings for the explorer and `fabnet embed --projection`:
//! t-SNE (Barnes-Hut, the `bhtsne` crate) and UMAP (here), both on the same exact nearest
//! neighbours by cosine similarity that the explorer lists. Both report the layout as it
//! converges, so a front-end can draw it moving.
//!
//! PCA stays in [`crate::explore`]: it is linear, so later points (the webcam's) can be placed
//! in it; these layouts place only the points they were fitted on.

mod knn;
mod tsne;
mod umap;

pub use knn::{Neighbour, nearest_by_cosine};

use serde::{Deserialize, Serialize};

/// A layout and its main parameter.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Method {
    /// t-SNE: `perplexity` is about the number of neighbours each point keeps close.
    Tsne { perplexity: f32 },
    /// UMAP: `neighbours` sets how local the structure kept is.
    Umap { neighbours: usize },
}

impl Method {
    /// The usual settings: perplexity 30 (scikit-learn's and openTSNE's), 15 neighbours (umap-learn's).
    pub const TSNE: Self = Self::Tsne { perplexity: 30.0 };
    pub const UMAP: Self = Self::Umap { neighbours: 15 };

    /// Parameter bounds a front-end offers (beyond them neither method gives a useful picture).
    pub const PERPLEXITY: (f32, f32) = (2.0, 100.0);
    pub const NEIGHBOURS: (usize, usize) = (2, 100);

    pub fn name(&self) -> &'static str {
        match self {
            Self::Tsne { .. } => "t-SNE",
            Self::Umap { .. } => "UMAP",
        }
    }

    /// Passes over the data: t-SNE's iterations, UMAP's epochs (umap-learn's counts).
    pub fn epochs(&self, points: usize) -> usize {
        match self {
            Self::Tsne { .. } => 1000,
            Self::Umap { .. } => {
                if points > 10_000 {
                    200
                } else {
                    500
                }
            }
        }
    }

    /// The parameter as used on `points` points: held inside its bounds, and small enough for the
    /// points there are (a perplexity needs three times as many neighbours).
    fn fitted_to(&self, points: usize) -> Self {
        match *self {
            Self::Tsne { perplexity } => {
                let p = if perplexity.is_finite() { perplexity } else { 30.0 };
                Self::Tsne { perplexity: p.clamp(Self::PERPLEXITY.0, Self::PERPLEXITY.1).min(points.saturating_sub(1) as f32 / 3.0) }
            }
            Self::Umap { neighbours } => Self::Umap { neighbours: neighbours.clamp(Self::NEIGHBOURS.0, Self::NEIGHBOURS.1).min(points) },
        }
    }
}

/// Hears a layout as it converges: epochs done, epochs in all, the points so far.
pub type Progress<'a> = dyn FnMut(usize, usize, &[[f32; 2]]) + 'a;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LayoutError {
    #[error("a {method} layout needs at least {needed} points, there are {points}")]
    TooFewPoints { method: &'static str, needed: usize, points: usize },
    #[error("the embeddings differ in length or hold a value that is not a number")]
    BadEmbeddings,
}

/// The fewest points each method is run on (t-SNE needs a perplexity of at least 2, so 7).
fn fewest(method: &Method) -> usize {
    match method {
        Method::Tsne { .. } => 7,
        Method::Umap { .. } => 4,
    }
}

/// A 2-D layout of `embeddings` by `method`. `progress` sees the layout every few epochs
/// (epoch done, epochs in all, the points so far). The same inputs give the same layout, except
/// for t-SNE on several threads (natively), whose sums are added in an order that varies.
pub fn layout(embeddings: &[Vec<f32>], method: Method, progress: &mut Progress) -> Result<Vec<[f32; 2]>, LayoutError> {
    let n = embeddings.len();
    let needed = fewest(&method);
    if n < needed {
        return Err(LayoutError::TooFewPoints { method: method.name(), needed, points: n });
    }
    let dim = embeddings[0].len();
    if dim == 0 || embeddings.iter().any(|e| e.len() != dim || e.iter().any(|v| !v.is_finite())) {
        return Err(LayoutError::BadEmbeddings);
    }
    let method = method.fitted_to(n);
    let start = pca_start(embeddings);
    Ok(match method {
        Method::Tsne { perplexity } => {
            let neighbours = nearest_by_cosine(embeddings, ((3.0 * perplexity) as usize).min(n - 1));
            tsne::fit(&neighbours, perplexity, method.epochs(n), &start, progress)
        }
        Method::Umap { neighbours } => {
            // umap-learn counts the point itself among its neighbours.
            let graph = nearest_by_cosine(embeddings, neighbours - 1);
            umap::fit(&graph, neighbours, method.epochs(n), &start, progress)
        }
    })
}

/// The points on the first two principal components, the start both methods refine
/// (deterministic, and it keeps the coarse structure: Kobak and Linderman 2021).
fn pca_start(embeddings: &[Vec<f32>]) -> Vec<[f32; 2]> {
    match crate::explore::Projection::fit(embeddings) {
        Some(projection) => embeddings.iter().map(|e| projection.project(e)).collect(),
        None => vec![[0.0; 2]; embeddings.len()],
    }
}

/// The colour of the `k`-th group (clip or track) in a figure: golden-angle hues from blue, so
/// neighbouring numbers differ, and clear of the red the explorer keeps for the webcam.
pub fn group_colour(k: usize) -> String {
    format!("hsl({}, 65%, 45%)", (210 + k * 137) % 360)
}

/// How well a layout keeps groups apart: the share of each point's `k` nearest points in the
/// plane that carry its label, averaged over the points. Chance is [`chance_agreement`].
pub fn neighbour_agreement(xy: &[[f32; 2]], labels: &[usize], k: usize) -> f64 {
    let n = xy.len().min(labels.len());
    if n < 2 {
        return 0.0;
    }
    let k = k.clamp(1, n - 1);
    let mut total = 0.0;
    for i in 0..n {
        let mut by_distance: Vec<(f32, usize)> =
            (0..n).filter(|&j| j != i).map(|j| ((xy[i][0] - xy[j][0]).powi(2) + (xy[i][1] - xy[j][1]).powi(2), j)).collect();
        by_distance.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
        total += by_distance[..k].iter().filter(|(_, j)| labels[*j] == labels[i]).count() as f64 / k as f64;
    }
    total / n as f64
}

/// The agreement of a layout that places points at random: the chance that another point,
/// drawn without replacement, shares a point's label.
pub fn chance_agreement(labels: &[usize]) -> f64 {
    let n = labels.len();
    if n < 2 {
        return 0.0;
    }
    let mut counts = std::collections::HashMap::new();
    labels.iter().for_each(|l| *counts.entry(*l).or_insert(0usize) += 1);
    counts.values().map(|&c| (c * (c - 1)) as f64).sum::<f64>() / (n * (n - 1)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three groups of points around three directions in 32-D, with noise: each method should
    /// keep the groups apart far better than chance.
    fn groups(per_group: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut state = 12345u64;
        let mut noise = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 10_000) as f32 / 10_000.0 - 0.5
        };
        let (mut points, mut labels) = (Vec::new(), Vec::new());
        for g in 0..3 {
            for _ in 0..per_group {
                points.push((0..32).map(|d| if d % 3 == g { 1.0 } else { 0.0 } + 0.6 * noise()).collect());
                labels.push(g);
            }
        }
        (points, labels)
    }

    #[test]
    fn both_methods_keep_groups_apart_and_report_progress() {
        let (points, labels) = groups(40);
        let chance = chance_agreement(&labels);
        for method in [Method::TSNE, Method::UMAP] {
            let mut reports = Vec::new();
            let xy = layout(&points, method, &mut |epoch, epochs, xy| reports.push((epoch, epochs, xy.len()))).unwrap();
            assert_eq!(xy.len(), points.len());
            assert!(xy.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
            let agreement = neighbour_agreement(&xy, &labels, 10);
            assert!(agreement > 0.9 && chance < 0.34, "{}: agreement {agreement:.3}, chance {chance:.3}", method.name());
            assert!(reports.len() >= 5, "{}: {} progress reports", method.name(), reports.len());
            assert!(reports.windows(2).all(|w| w[1].0 > w[0].0) && reports.iter().all(|r| r.2 == points.len()));
            assert_eq!(reports.last().unwrap().0, reports.last().unwrap().1, "the last report is the finished layout");
            let again = layout(&points, method, &mut |_, _, _| {}).unwrap();
            match method {
                Method::Umap { .. } => assert_eq!(xy, again, "UMAP: the same inputs give the same layout"),
                // Natively t-SNE's sums run on several threads in an order that varies.
                Method::Tsne { .. } => assert!(neighbour_agreement(&again, &labels, 10) > 0.9),
            }
        }
    }

    #[test]
    fn few_or_bad_points_are_refused_and_parameters_fit_the_points() {
        let (points, _) = groups(3);
        assert!(matches!(layout(&points[..5], Method::TSNE, &mut |_, _, _| {}), Err(LayoutError::TooFewPoints { needed: 7, .. })));
        assert!(matches!(layout(&points[..3], Method::UMAP, &mut |_, _, _| {}), Err(LayoutError::TooFewPoints { .. })));
        let mut bad = points.clone();
        bad[2][4] = f32::NAN;
        assert_eq!(layout(&bad, Method::UMAP, &mut |_, _, _| {}), Err(LayoutError::BadEmbeddings));
        // Nine points: a perplexity of 30 cannot be had, and is brought down rather than panicking.
        let xy = layout(&points, Method::Tsne { perplexity: 30.0 }, &mut |_, _, _| {}).unwrap();
        assert_eq!(xy.len(), 9);
        let xy = layout(&points, Method::Umap { neighbours: 500 }, &mut |_, _, _| {}).unwrap();
        assert_eq!(xy.len(), 9);
        assert_eq!(Method::Tsne { perplexity: f32::NAN }.fitted_to(1000), Method::Tsne { perplexity: 30.0 });
    }

    #[test]
    fn agreement_measures_groups() {
        let xy = [[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]];
        assert_eq!(neighbour_agreement(&xy, &[0, 0, 1, 1], 1), 1.0);
        assert_eq!(neighbour_agreement(&xy, &[0, 1, 0, 1], 1), 0.0);
        assert!((chance_agreement(&[0, 0, 1, 1]) - 1.0 / 3.0).abs() < 1e-12);
    }
}
