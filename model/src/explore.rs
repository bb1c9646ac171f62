//! The embedding explorer's maths, shared by the app and any native tool: a 2-D PCA
//! projection that later embeddings (the webcam's) can be placed in, and nearest neighbours
//! by cosine similarity, as TensorBoard's Embedding Projector does.

use nalgebra::{DMatrix, SymmetricEigen};

/// The plane of the two largest principal components of a set of embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    mean: Vec<f64>,
    /// Two unit vectors of the embedding's dimension.
    axes: [Vec<f64>; 2],
    /// The share of the points' variance along each axis (0 to 1).
    explained: [f64; 2],
}

impl Projection {
    /// Fit on `points` (all of one dimension). `None` for fewer than two points.
    pub fn fit(points: &[Vec<f32>]) -> Option<Self> {
        let n = points.len();
        let e = points.first()?.len();
        if n < 2 || e < 2 {
            return None;
        }
        let mut mean = vec![0.0f64; e];
        for p in points {
            mean.iter_mut().zip(p).for_each(|(m, &v)| *m += v as f64 / n as f64);
        }
        let centred = DMatrix::from_fn(n, e, |i, j| points[i][j] as f64 - mean[j]);
        let covariance = centred.transpose() * &centred / (n - 1) as f64;
        let eigen = SymmetricEigen::new(covariance);
        let mut order: Vec<usize> = (0..e).collect();
        order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
        let axis = |k: usize| -> Vec<f64> {
            let v: Vec<f64> = eigen.eigenvectors.column(order[k]).iter().copied().collect();
            // A fixed sign, so the picture does not flip when a point is added.
            let sign = if v.iter().fold(0.0, |s, x| s + x) < 0.0 { -1.0 } else { 1.0 };
            v.into_iter().map(|x| x * sign).collect()
        };
        let total: f64 = eigen.eigenvalues.iter().map(|v| v.max(0.0)).sum();
        let share = |k: usize| if total > 0.0 { eigen.eigenvalues[order[k]].max(0.0) / total } else { 0.0 };
        Some(Self { mean, axes: [axis(0), axis(1)], explained: [share(0), share(1)] })
    }

    /// The share of the fitted points' variance that each axis explains (0 to 1), as the
    /// explorer labels its axes.
    pub fn explained(&self) -> [f64; 2] {
        self.explained
    }

    /// Coordinates of an embedding in the plane.
    pub fn project(&self, point: &[f32]) -> [f32; 2] {
        let along = |axis: &[f64]| point.iter().zip(&self.mean).zip(axis).map(|((&v, m), a)| (v as f64 - m) * a).sum::<f64>() as f32;
        [along(&self.axes[0]), along(&self.axes[1])]
    }
}

/// Cosine similarity of two embeddings (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na > 0.0 && nb > 0.0 { dot / (na * nb) } else { 0.0 }
}

/// The `k` points most similar to `points[query]` (itself excluded), most similar first.
pub fn nearest(points: &[Vec<f32>], query: usize, k: usize) -> Vec<(usize, f32)> {
    let mut scored: Vec<(usize, f32)> = points.iter().enumerate().filter(|(i, _)| *i != query).map(|(i, p)| (i, cosine(&points[query], p))).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.truncate(k);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_keeps_the_main_spread_and_places_new_points() {
        // Points along (1, 1, 0) with a little spread along (0, 0, 1): the first axis is the line.
        let points: Vec<Vec<f32>> = (0..10).map(|i| vec![i as f32, i as f32, (i % 2) as f32 * 0.1]).collect();
        let projection = Projection::fit(&points).unwrap();
        let xs: Vec<f32> = points.iter().map(|p| projection.project(p)[0]).collect();
        assert!(xs.windows(2).all(|w| w[1] > w[0]), "the first axis orders the points along the line: {xs:?}");
        let spread = xs[9] - xs[0];
        assert!((spread - 9.0 * 2f32.sqrt()).abs() < 1e-3, "distances are kept: {spread}");
        assert!(Projection::fit(&points[..1]).is_none());
        // Variance: 2 * var(i) = 18.33 along the line, 0.0026 across: the line explains nearly all.
        let [first, second] = projection.explained();
        assert!(first > 0.999 && second > 0.0 && first + second <= 1.0 + 1e-9, "{first} {second}");
    }

    #[test]
    fn nearest_neighbours_by_cosine() {
        let points = vec![vec![1.0, 0.0], vec![0.9, 0.1], vec![0.0, 1.0], vec![-1.0, 0.0], vec![10.0, 0.5]];
        let found = nearest(&points, 0, 2);
        assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), vec![4, 1], "scale does not matter, direction does");
        assert!((cosine(&points[0], &points[3]) + 1.0).abs() < 1e-6);
    }
}
