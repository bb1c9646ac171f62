//! t-SNE through the `bhtsne` crate (Barnes-Hut, van der Maaten 2014), on neighbours found
//! here, from a scaled PCA start rather than a random one.

use super::{Neighbour, Progress};

/// Barnes-Hut's accuracy: cells seen from further than 1/θ of their size count as one point
/// (0.5, as in van der Maaten's code and scikit-learn).
const THETA: f32 = 0.5;

/// Reports per fit (the layout drawn as it converges).
const REPORTS: usize = 40;

pub(super) fn fit(neighbours: &[Vec<Neighbour>], perplexity: f32, epochs: usize, start: &[[f32; 2]], progress: &mut Progress) -> Vec<[f32; 2]> {
    let rows: Vec<Vec<bhtsne::Neighbor<f32>>> =
        neighbours.iter().map(|row| row.iter().map(|nb| bhtsne::Neighbor { index: nb.index, distance: nb.distance }).collect()).collect();
    let every = (epochs / REPORTS).max(1);
    let mut tsne: bhtsne::tSNE<f32, Vec<Neighbour>> = bhtsne::tSNE::new(neighbours);
    // bhtsne's gradient leaves out the factor 4 that scikit-learn's has, and takes scikit-learn's
    // automatic rate (n / 48, at least 50): four times that is the step scikit-learn and openTSNE take.
    let rate = (neighbours.len() as f32 / 12.0).max(200.0);
    tsne.perplexity(perplexity).epochs(epochs).learning_rate(rate).initial_embedding(scaled_start(start)).epoch_callback(move |epoch, flat: &[f32]| {
        let done = epoch + 1;
        if done % every == 0 || done == epochs {
            progress(done, epochs, &pairs(flat));
        }
    });
    tsne.barnes_hut_with_neighbors(THETA, &rows);
    pairs(&tsne.embedding())
}

/// The PCA start scaled so that its first coordinate's standard deviation is 1e-4, as openTSNE
/// does: small enough that the early exaggeration can rearrange it.
fn scaled_start(start: &[[f32; 2]]) -> Vec<f32> {
    let n = start.len().max(1) as f64;
    let mean = start.iter().map(|p| p[0] as f64).sum::<f64>() / n;
    let sd = (start.iter().map(|p| (p[0] as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
    if sd == 0.0 {
        // Every point alike along PCA (or one point repeated): a small spiral, so that the
        // forces between them are not all zero.
        return (0..start.len()).flat_map(|i| [(1e-4 * (i as f64).cos()) as f32, (1e-4 * (i as f64).sin()) as f32]).collect();
    }
    let scale = 1e-4 / sd;
    start.iter().flat_map(|p| [(p[0] as f64 * scale) as f32, (p[1] as f64 * scale) as f32]).collect()
}

fn pairs(flat: &[f32]) -> Vec<[f32; 2]> {
    flat.chunks_exact(2).map(|c| [c[0], c[1]]).collect()
}
