//! Exact nearest neighbours by cosine similarity, for many points at once: the Gram matrix of
//! the normalised embeddings, a block of rows at a time (a few thousand points fit easily; an
//! approximate index would only pay off far beyond what a browser holds).

use nalgebra::DMatrix;

/// One of a point's nearest neighbours, and its distance: the Euclidean distance between the
/// normalised embeddings, `sqrt(2 - 2 cos)`, a metric that orders neighbours as cosine does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbour {
    pub index: usize,
    pub distance: f32,
}

/// Rows of the Gram matrix computed at once: bounds the memory at `ROWS * n` similarities.
const ROWS: usize = 256;

/// Each point's `k` nearest other points, nearest first (`k` below the number of points).
pub fn nearest_by_cosine(embeddings: &[Vec<f32>], k: usize) -> Vec<Vec<Neighbour>> {
    let n = embeddings.len();
    let k = k.min(n.saturating_sub(1));
    let dim = embeddings.first().map_or(0, Vec::len);
    let unit = DMatrix::from_fn(dim, n, |d, i| {
        let norm = embeddings[i].iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 { embeddings[i][d] / norm } else { 0.0 }
    });
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(ROWS) {
        let rows = ROWS.min(n - start);
        let block = unit.columns(start, rows).transpose() * &unit;
        for r in 0..rows {
            let i = start + r;
            let mut row: Vec<(f32, usize)> = (0..n).filter(|&j| j != i).map(|j| (block[(r, j)], j)).collect();
            if k < row.len() {
                row.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                row.truncate(k);
            }
            row.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            out.push(row.into_iter().map(|(cos, index)| Neighbour { index, distance: (2.0 - 2.0 * cos).max(0.0).sqrt() }).collect());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_match_a_plain_search() {
        let points: Vec<Vec<f32>> = (0..600).map(|i| (0..5).map(|d| (((i * 7 + d * 13) % 17) as f32 - 8.0) * (1.0 + d as f32)).collect()).collect();
        let found = nearest_by_cosine(&points, 4);
        assert_eq!(found.len(), 600);
        for i in [0, 255, 256, 599] {
            let mut plain: Vec<(f32, usize)> = (0..600).filter(|&j| j != i).map(|j| (crate::explore::cosine(&points[i], &points[j]), j)).collect();
            plain.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let want: Vec<f32> = plain[..4].iter().map(|p| p.0).collect();
            let got: Vec<f32> = found[i].iter().map(|nb| 1.0 - nb.distance * nb.distance / 2.0).collect();
            for (w, g) in want.iter().zip(&got) {
                assert!((w - g).abs() < 1e-4, "point {i}: {want:?} vs {got:?}");
            }
            assert!(found[i].iter().all(|nb| nb.index != i));
        }
    }
}
