//! The probe: multi-output ridge regression on standardised embeddings, in closed form on the
//! host (f64). Classification uses the same fit on one-hot targets (a least-squares
//! classifier: closed form, no learning rate or epoch count to tune, deterministic, and its
//! scores export exactly to the bias-free linear head). The ridge strength is chosen by
//! cross-validation on contiguous folds of the training set (contiguous so that neighbouring
//! video frames do not leak between folds), or fixed when asked or when there are too few
//! samples to cross-validate.

use nalgebra::DMatrix;

/// Features whose spread is smaller are divided by this instead, so that the head's BatchNorm
/// (which divides by `sqrt(var + 1e-5)`) can reproduce the division exactly.
pub const STD_FLOOR: f64 = 1e-2;
/// Candidate ridge strengths, in units of the standardised features' covariance.
pub const LAMBDA_GRID: [f64; 8] = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0];
/// Used when the training set is too small to cross-validate (fewer than two samples a fold).
pub const DEFAULT_LAMBDA: f64 = 1.0;
pub const CV_FOLDS: usize = 5;

/// `outputs = bias + ((x - means) / stds) · weights`, for embeddings `x` of `E` features.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub means: Vec<f64>,
    pub stds: Vec<f64>,
    /// `[E, K]`, row-major.
    pub weights: Vec<f64>,
    pub bias: Vec<f64>,
    /// A feature left out of the fit, so that a bias-free head can carry the bias on it
    /// (needed when there are more outputs than features).
    pub bias_channel: Option<usize>,
    pub lambda: f64,
}

/// How the ridge strength is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lambda {
    Fixed(f64),
    CrossValidated,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub probe: Probe,
    /// "fixed", "default (too few samples to cross-validate)" or "5-fold cross-validation".
    pub lambda_from: String,
    /// The cross-validation loss of each candidate `(lambda, loss)`; empty when not run.
    pub cv_losses: Vec<(f64, f64)>,
}

impl Probe {
    pub fn inputs(&self) -> usize {
        self.means.len()
    }

    pub fn outputs(&self) -> usize {
        self.bias.len()
    }

    pub fn predict(&self, x: &[f32]) -> Vec<f64> {
        let k = self.outputs();
        let mut out = self.bias.clone();
        for (j, &v) in x.iter().enumerate() {
            let z = (v as f64 - self.means[j]) / self.stds[j];
            for (o, w) in out.iter_mut().zip(&self.weights[j * k..(j + 1) * k]) {
                *o += z * w;
            }
        }
        out
    }

    /// Shift all outputs by the same amount so that the bias sums to zero. For class scores,
    /// read by their largest, this changes nothing, and makes the bias representable by the
    /// head (a least-squares classifier's weight columns sum to zero).
    pub fn centre_bias(&mut self) {
        let mean = self.bias.iter().sum::<f64>() / self.bias.len() as f64;
        self.bias.iter_mut().for_each(|b| *b -= mean);
    }
}

/// Sums over a set of rows: enough to fit ridge on any union of sets.
#[derive(Debug, Clone)]
struct Moments {
    n: f64,
    /// Σ z `[E]`, Σ y `[K]`, Σ y² `[K]`, Σ z zᵀ `[E, E]`, Σ z yᵀ `[E, K]`.
    sz: Vec<f64>,
    sy: Vec<f64>,
    syy: Vec<f64>,
    g: Vec<f64>,
    c: Vec<f64>,
}

impl Moments {
    fn zeros(e: usize, k: usize) -> Self {
        Self { n: 0.0, sz: vec![0.0; e], sy: vec![0.0; k], syy: vec![0.0; k], g: vec![0.0; e * e], c: vec![0.0; e * k] }
    }

    fn add_row(&mut self, z: &[f64], y: &[f64]) {
        let (e, k) = (z.len(), y.len());
        self.n += 1.0;
        for i in 0..e {
            self.sz[i] += z[i];
            let row = &mut self.g[i * e..(i + 1) * e];
            for j in i..e {
                row[j] += z[i] * z[j];
            }
            for (c, y) in self.c[i * k..(i + 1) * k].iter_mut().zip(y) {
                *c += z[i] * y;
            }
        }
        for (i, &v) in y.iter().enumerate() {
            self.sy[i] += v;
            self.syy[i] += v * v;
        }
    }

    fn combine(&self, other: &Self, sign: f64) -> Self {
        let f = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a + sign * b).collect();
        Self {
            n: self.n + sign * other.n,
            sz: f(&self.sz, &other.sz),
            sy: f(&self.sy, &other.sy),
            syy: f(&self.syy, &other.syy),
            g: f(&self.g, &other.g),
            c: f(&self.c, &other.c),
        }
    }

    /// Centred covariances: `(A [E, E] upper triangle, B [E, K])`, plus the means of z and y.
    fn centred(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let (e, k) = (self.sz.len(), self.sy.len());
        let zbar: Vec<f64> = self.sz.iter().map(|s| s / self.n).collect();
        let ybar: Vec<f64> = self.sy.iter().map(|s| s / self.n).collect();
        let mut a = vec![0.0; e * e];
        let mut b = vec![0.0; e * k];
        for i in 0..e {
            for j in i..e {
                let v = self.g[i * e + j] / self.n - zbar[i] * zbar[j];
                a[i * e + j] = v;
                a[j * e + i] = v;
            }
            for o in 0..k {
                b[i * k + o] = self.c[i * k + o] / self.n - zbar[i] * ybar[o];
            }
        }
        (a, b, zbar, ybar)
    }

    /// The feature least correlated with the targets (summed squared correlations).
    fn least_informative(&self) -> usize {
        let (a, b, _, ybar) = self.centred();
        let (e, k) = (self.sz.len(), self.sy.len());
        let var_y: Vec<f64> = (0..k).map(|o| (self.syy[o] / self.n - ybar[o] * ybar[o]).max(1e-12)).collect();
        let score = |j: usize| (0..k).map(|o| b[j * k + o].powi(2) / var_y[o]).sum::<f64>() / a[j * e + j].max(1e-12);
        (0..e).min_by(|&i, &j| score(i).total_cmp(&score(j))).unwrap_or(0)
    }

    /// Ridge weights `[E, K]` and bias `[K]` with an unpenalised intercept; the `excluded`
    /// feature gets zero weight.
    fn solve(&self, lambda: f64, excluded: Option<usize>) -> (Vec<f64>, Vec<f64>) {
        let (e, k) = (self.sz.len(), self.sy.len());
        let (mut a, mut b, zbar, ybar) = self.centred();
        for i in 0..e {
            a[i * e + i] += lambda;
        }
        if let Some(j) = excluded {
            for i in 0..e {
                a[i * e + j] = 0.0;
                a[j * e + i] = 0.0;
            }
            a[j * e + j] = 1.0;
            b[j * k..(j + 1) * k].iter_mut().for_each(|v| *v = 0.0);
        }
        let w =
            DMatrix::from_row_slice(e, e, &a).cholesky().expect("ridge system is positive definite for lambda > 0").solve(&DMatrix::from_row_slice(e, k, &b));
        // Back to row-major [E, K].
        let w: Vec<f64> = w.transpose().as_slice().to_vec();
        let bias = (0..k).map(|o| ybar[o] - (0..e).map(|i| zbar[i] * w[i * k + o]).sum::<f64>()).collect();
        (w, bias)
    }
}

/// Scores out-of-fold predictions for the given training rows (lower is better).
pub type FoldLoss<'a> = &'a dyn Fn(&[usize], &[Vec<f64>]) -> f64;

/// Fit a probe on embeddings `x` (`N` rows of `E`) and targets `y` (`N` rows of `K`).
/// `loss(rows, predictions)` scores out-of-fold predictions for the given training rows
/// (lower is better); it picks the ridge strength. With `reserve_bias_channel` one feature is
/// left out (see [`Probe::bias_channel`]).
pub fn fit(x: &[Vec<f32>], y: &[Vec<f64>], lambda: Lambda, reserve_bias_channel: bool, loss: FoldLoss) -> Fit {
    assert!(!x.is_empty() && x.len() == y.len(), "one target row per embedding");
    let (n, e, k) = (x.len(), x[0].len(), y[0].len());
    let (means, stds) = standardisation(x);
    let standardise = |row: &[f32]| -> Vec<f64> { row.iter().enumerate().map(|(j, &v)| (v as f64 - means[j]) / stds[j]).collect() };

    let folds = if n >= 2 * CV_FOLDS { CV_FOLDS } else { 1 };
    let bounds: Vec<usize> = (0..=folds).map(|f| f * n / folds).collect();
    let fold_moments: Vec<Moments> = (0..folds)
        .map(|f| {
            let mut m = Moments::zeros(e, k);
            for i in bounds[f]..bounds[f + 1] {
                m.add_row(&standardise(&x[i]), &y[i]);
            }
            m
        })
        .collect();
    let total = fold_moments[1..].iter().fold(fold_moments[0].clone(), |acc, m| acc.combine(m, 1.0));
    let excluded = reserve_bias_channel.then(|| total.least_informative());

    let (lambda, lambda_from, cv_losses) = match lambda {
        Lambda::Fixed(l) => (l, "fixed".to_string(), vec![]),
        Lambda::CrossValidated if folds == 1 => (DEFAULT_LAMBDA, "default (too few samples to cross-validate)".to_string(), vec![]),
        Lambda::CrossValidated => {
            let rows: Vec<usize> = (0..n).collect();
            let losses: Vec<(f64, f64)> = LAMBDA_GRID
                .iter()
                .map(|&l| {
                    let mut predictions = Vec::with_capacity(n);
                    for (f, held_out) in fold_moments.iter().enumerate() {
                        let (w, bias) = total.combine(held_out, -1.0).solve(l, excluded);
                        let probe = Probe { means: means.clone(), stds: stds.clone(), weights: w, bias, bias_channel: excluded, lambda: l };
                        predictions.extend((bounds[f]..bounds[f + 1]).map(|i| probe.predict(&x[i])));
                    }
                    (l, loss(&rows, &predictions))
                })
                .collect();
            // Ties go to the stronger ridge (the simpler probe).
            let best = losses.iter().rev().min_by(|a, b| a.1.total_cmp(&b.1)).map_or(DEFAULT_LAMBDA, |b| b.0);
            (best, format!("{folds}-fold cross-validation"), losses)
        }
    };
    let (weights, bias) = total.solve(lambda, excluded);
    Fit { probe: Probe { means, stds, weights, bias, bias_channel: excluded, lambda }, lambda_from, cv_losses }
}

/// Per-feature mean and (population) standard deviation, floored at [`STD_FLOOR`].
fn standardisation(x: &[Vec<f32>]) -> (Vec<f64>, Vec<f64>) {
    let (n, e) = (x.len() as f64, x[0].len());
    let mut means = vec![0.0; e];
    for row in x {
        means.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64 / n);
    }
    let mut vars = vec![0.0; e];
    for row in x {
        vars.iter_mut().zip(row).zip(&means).for_each(|((s, &v), m)| *s += (v as f64 - m).powi(2) / n);
    }
    (means, vars.into_iter().map(|v| v.sqrt().max(STD_FLOOR)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random stream in [-1, 1].
    fn noise(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        }
    }

    /// A fixed ridge strength never consults the loss.
    fn no_loss(_: &[usize], _: &[Vec<f64>]) -> f64 {
        unreachable!("no cross-validation with a fixed lambda")
    }

    #[test]
    fn probe_recovers_a_linear_map_from_noisy_data() {
        let (n, e) = (400, 6);
        let mut r = noise(1);
        let truth = [0.5, -2.0, 0.0, 1.0, 3.0, -0.25];
        let x: Vec<Vec<f32>> = (0..n).map(|_| (0..e).map(|j| (r() * (j + 1) as f64 + 4.0) as f32).collect()).collect();
        let y: Vec<Vec<f64>> = x.iter().map(|row| vec![7.0 + row.iter().zip(truth).map(|(&v, t)| v as f64 * t).sum::<f64>() + 0.01 * r()]).collect();
        let fit = fit(&x, &y, Lambda::Fixed(1e-6), false, &no_loss);
        for (row, target) in x.iter().zip(&y).take(20) {
            assert!((fit.probe.predict(row)[0] - target[0]).abs() < 0.05);
        }
    }

    #[test]
    fn cross_validation_prefers_a_strong_ridge_on_pure_noise() {
        let mut r = noise(2);
        let x: Vec<Vec<f32>> = (0..60).map(|_| (0..20).map(|_| r() as f32).collect()).collect();
        let y: Vec<Vec<f64>> = (0..60).map(|_| vec![r()]).collect();
        let truth = y.clone();
        let loss = |rows: &[usize], p: &[Vec<f64>]| rows.iter().zip(p).map(|(&i, p)| (p[0] - truth[i][0]).powi(2)).sum::<f64>();
        let fit = fit(&x, &y, Lambda::CrossValidated, false, &loss);
        assert_eq!(fit.cv_losses.len(), LAMBDA_GRID.len());
        assert!(fit.probe.lambda >= 10.0, "chose {} on noise: {:?}", fit.probe.lambda, fit.cv_losses);
    }
}
