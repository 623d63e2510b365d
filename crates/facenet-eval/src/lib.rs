//! The LFW face-verification protocol, exactly as the original FaceNet evaluates it.
//!
//! This crate reproduces `lfw.evaluate` and the functions of `facenet.py` it calls
//! (`distance`, `calculate_roc`, `calculate_accuracy`, `calculate_val`, `calculate_val_far`) from
//! David Sandberg's facenet, plus what `validate_on_lfw.py` derives from them (AUC with
//! `sklearn.metrics.auc`, EER with `brentq`). Given the embeddings of the two images of each pair
//! and the same/different labels, [`evaluate`] returns the 10-fold accuracy, VAL@FAR, AUC, EER and
//! the selected thresholds, to the same float64 results as the Python reference (see
//! `shared/reference/README.md`, "Procedure 5. Evaluation"). [`pairs`] reads LFW's `pairs.txt`;
//! [`roc_plot`] draws the ROC curve as PNG or SVG.
//!
//! It is **not** a face pipeline: it detects, aligns and embeds nothing, reads no image and
//! depends on no model crate. Callers embed the images (with `facenet-core` or anything else) and
//! hand the vectors in. It is also not a general-purpose metrics library: the threshold grids
//! (`arange(0, 4, 0.01)` for ROC and `arange(0, 4, 0.001)` for VAL), the unshuffled K-fold split
//! and the tie-breaking are the original's, quirks included, so that numbers compare with
//! published FaceNet results.
//!
//! Protocol, for each of the `folds` contiguous folds (scikit-learn `KFold`, no shuffle):
//! * distances are squared L2 ([`Distance::SquaredL2`], facenet distance 0) or `arccos(cos)/π`
//!   ([`Distance::Angular`], distance 1), after subtracting the mean embedding of the training
//!   folds if `subtract_mean` is set;
//! * a pair is predicted "same" when `distance < threshold`;
//! * accuracy: the threshold on the ROC grid with the best training accuracy (the *first* one on
//!   ties, as `np.argmax`) is applied to the test fold;
//! * VAL: the threshold where the training FAR reaches `far_target` is found by linear
//!   interpolation of FAR over the VAL grid (old scipy `interp1d(kind='slinear')`, emulated as the
//!   reference does) and applied to the test fold; 0 if the training FAR never reaches the target;
//! * TPR/FPR per grid threshold are averaged over the test folds; AUC and EER come from them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub mod classify;
pub mod cluster;
pub mod pairs;
mod plot;
mod pyref;

pub use plot::roc_plot;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("pairs file line {line}: {message}")]
    Pairs { line: usize, message: String },
    #[error("pairs file line {line}: no file {stem}.jpg or {stem}.png", stem = stem.display())]
    MissingImage { line: usize, stem: PathBuf },
    #[error("invalid input: {0}")]
    Input(String),
    /// A fold without same or without different pairs: the original divides by zero there.
    #[error(
        "fold {fold}: the {set} set has no {class} pairs (the original raises ZeroDivisionError)"
    )]
    EmptyClass {
        fold: usize,
        set: &'static str,
        class: &'static str,
    },
    #[error("numeric failure: {0}")]
    Numeric(String),
    #[error("plot: {0}")]
    Plot(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The distance between two embeddings (`facenet.distance`'s `distance_metric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distance {
    /// Metric 0: squared Euclidean distance, `sum((a - b)²)`; 0..4 for unit vectors.
    #[default]
    SquaredL2,
    /// Metric 1: `arccos(a·b / (|a| |b|)) / π`; 0..1.
    Angular,
}

/// What to evaluate. [`Default`] is `lfw.evaluate`'s defaults with `validate_on_lfw`'s FAR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    pub distance: Distance,
    /// Subtract the mean of the training folds' embeddings (both images of each pair) before
    /// measuring distances. Needs embeddings: [`evaluate_distances`] refuses it.
    pub subtract_mean: bool,
    /// Number of K-fold splits (10).
    pub folds: usize,
    /// Target false accept rate for VAL (1e-3).
    pub far_target: f64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            distance: Distance::SquaredL2,
            subtract_mean: false,
            folds: 10,
            far_target: 1e-3,
        }
    }
}

/// Upper end (exclusive) of both threshold grids.
pub const THRESHOLD_STOP: f64 = 4.0;
/// Step of the ROC / accuracy threshold grid, `np.arange(0, 4, 0.01)`.
pub const ROC_THRESHOLD_STEP: f64 = 0.01;
/// Step of the VAL threshold grid, `np.arange(0, 4, 0.001)`.
pub const VAL_THRESHOLD_STEP: f64 = 0.001;

/// The ROC threshold grid (400 values `i * 0.01`, as numpy computes them).
pub fn roc_thresholds() -> Vec<f64> {
    pyref::arange(0.0, THRESHOLD_STOP, ROC_THRESHOLD_STEP)
}

/// The VAL threshold grid (4000 values `i * 0.001`).
pub fn val_thresholds() -> Vec<f64> {
    pyref::arange(0.0, THRESHOLD_STOP, VAL_THRESHOLD_STEP)
}

/// The result of [`evaluate`]. "std" is the population standard deviation over folds (`np.std`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub pairs: usize,
    pub folds: usize,
    pub distance: Distance,
    pub subtract_mean: bool,
    /// Mean over folds of the test accuracy at the best training threshold (`np.mean(accuracy)`).
    pub accuracy_mean: f64,
    pub accuracy_std: f64,
    pub fold_accuracy: Vec<f64>,
    /// Mean and std of the ROC-grid thresholds selected on the training folds (facenet does not
    /// print these).
    pub threshold_mean: f64,
    pub threshold_std: f64,
    pub fold_threshold: Vec<f64>,
    /// Validation rate (TAR) at the interpolated FAR-target threshold, mean and std over folds.
    pub val_mean: f64,
    pub val_std: f64,
    /// Mean over folds of the test FAR at those thresholds.
    pub far: f64,
    pub far_target: f64,
    pub fold_val: Vec<f64>,
    pub fold_far: Vec<f64>,
    pub fold_val_threshold: Vec<f64>,
    /// `sklearn.metrics.auc(fpr, tpr)`: trapezoid area over the grid points only. If the grid does
    /// not reach FPR 1 (distances above 4), this covers only part of the curve.
    pub auc: f64,
    /// Equal error rate: the root of `1 - x - interp1d(fpr, tpr)(x)` on `[0, 1]` (on
    /// `[0, max fpr]` when the grid does not reach FPR 1, as the reference does; the original
    /// raises there). `None` where scipy's `brentq` would raise.
    pub eer: Option<f64>,
    /// The ROC grid and the fold-averaged true and false positive rates at each threshold.
    pub thresholds: Vec<f64>,
    pub tpr: Vec<f64>,
    pub fpr: Vec<f64>,
}

impl std::fmt::Display for Report {
    /// One line in the reference README's precision.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "accuracy {:.5} ± {:.5}, VAL {:.5} ± {:.5} @ FAR {:.5}, AUC {:.4}, EER ",
            self.accuracy_mean, self.accuracy_std, self.val_mean, self.val_std, self.far, self.auc
        )?;
        match self.eer {
            Some(e) => write!(f, "{e:.4}")?,
            None => write!(f, "n/a")?,
        }
        write!(
            f,
            ", threshold {:.3} ± {:.3} ({} pairs, {} folds)",
            self.threshold_mean, self.threshold_std, self.pairs, self.folds
        )
    }
}

/// `facenet.distance` for every pair, in float64 (the embeddings are widened first, as
/// `validate_on_lfw` keeps them as float64), with numpy's summation order.
pub fn distances<A: AsRef<[f32]>, B: AsRef<[f32]>>(
    emb1: &[A],
    emb2: &[B],
    distance: Distance,
) -> Result<Vec<f64>> {
    check_embeddings(emb1, emb2)?;
    Ok(compute_distances(emb1, emb2, distance, None))
}

/// Evaluates pairs `(emb1[i], emb2[i])` with labels `issame[i]` as `lfw.evaluate` does.
///
/// `emb1`/`emb2` are the embeddings of the first and second image of each pair (what `lfw.py`
/// gets as `embeddings[0::2]` and `embeddings[1::2]`), all of one dimension. A flat row-major
/// matrix can be passed as `flat.chunks(dim).collect::<Vec<_>>()`.
pub fn evaluate<A: AsRef<[f32]>, B: AsRef<[f32]>>(
    emb1: &[A],
    emb2: &[B],
    issame: &[bool],
    opts: &EvalOptions,
) -> Result<Report> {
    check_embeddings(emb1, emb2)?;
    if issame.len() != emb1.len() {
        return Err(Error::Input(format!(
            "{} pairs of embeddings but {} labels",
            emb1.len(),
            issame.len()
        )));
    }
    if opts.subtract_mean {
        let per_fold = |train: &[usize]| {
            let mean = train_mean(emb1, emb2, train);
            compute_distances(emb1, emb2, opts.distance, Some(&mean))
        };
        run(issame, opts, DistSource::PerFold(&per_fold))
    } else {
        let dist = compute_distances(emb1, emb2, opts.distance, None);
        run(issame, opts, DistSource::Fixed(&dist))
    }
}

/// Evaluates precomputed pair distances (smaller = more alike). `opts.distance` is only recorded;
/// `opts.subtract_mean` must be false.
pub fn evaluate_distances(dist: &[f64], issame: &[bool], opts: &EvalOptions) -> Result<Report> {
    if opts.subtract_mean {
        return Err(Error::Input(
            "subtract_mean needs embeddings: use evaluate()".into(),
        ));
    }
    if issame.len() != dist.len() {
        return Err(Error::Input(format!(
            "{} distances but {} labels",
            dist.len(),
            issame.len()
        )));
    }
    run(issame, opts, DistSource::Fixed(dist))
}

fn check_embeddings<A: AsRef<[f32]>, B: AsRef<[f32]>>(emb1: &[A], emb2: &[B]) -> Result<()> {
    if emb1.len() != emb2.len() {
        return Err(Error::Input(format!(
            "{} first embeddings but {} second embeddings",
            emb1.len(),
            emb2.len()
        )));
    }
    let dim = emb1.first().map_or(0, |e| e.as_ref().len());
    if emb1.is_empty() || dim == 0 {
        return Err(Error::Input(
            "no embeddings, or embeddings of dimension 0".into(),
        ));
    }
    for (i, (a, b)) in emb1.iter().zip(emb2).enumerate() {
        let (a, b) = (a.as_ref().len(), b.as_ref().len());
        if a != dim || b != dim {
            return Err(Error::Input(format!(
                "pair {i}: embedding dimensions {a} and {b}, expected {dim}"
            )));
        }
    }
    Ok(())
}

/// `np.mean(np.concatenate([emb1[train], emb2[train]]), axis=0)`: an axis-0 reduction, which
/// numpy sums row after row.
fn train_mean<A: AsRef<[f32]>, B: AsRef<[f32]>>(
    emb1: &[A],
    emb2: &[B],
    train: &[usize],
) -> Vec<f64> {
    let dim = emb1[0].as_ref().len();
    let mut acc = vec![0.0f64; dim];
    let rows = train
        .iter()
        .map(|&i| emb1[i].as_ref())
        .chain(train.iter().map(|&i| emb2[i].as_ref()));
    for row in rows {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += f64::from(v);
        }
    }
    let n = (2 * train.len()) as f64;
    acc.iter_mut().for_each(|a| *a /= n);
    acc
}

fn compute_distances<A: AsRef<[f32]>, B: AsRef<[f32]>>(
    emb1: &[A],
    emb2: &[B],
    distance: Distance,
    mean: Option<&[f64]>,
) -> Vec<f64> {
    let dim = emb1.first().map_or(0, |e| e.as_ref().len());
    let zeros;
    let mean = match mean {
        Some(m) => m,
        None => {
            zeros = vec![0.0f64; dim];
            &zeros
        }
    };
    let (mut x, mut y) = (vec![0.0f64; dim], vec![0.0f64; dim]);
    let mut t = vec![0.0f64; dim];
    emb1.iter()
        .zip(emb2)
        .map(|(a, b)| {
            for k in 0..dim {
                x[k] = f64::from(a.as_ref()[k]) - mean[k];
                y[k] = f64::from(b.as_ref()[k]) - mean[k];
            }
            match distance {
                Distance::SquaredL2 => {
                    // np.sum(np.square(np.subtract(e1, e2)), 1)
                    for k in 0..dim {
                        let d = x[k] - y[k];
                        t[k] = d * d;
                    }
                    pyref::pairwise_sum(&t)
                }
                Distance::Angular => {
                    // dot / (norm(e1) * norm(e2)), norm = sqrt(add.reduce(x*x))
                    for k in 0..dim {
                        t[k] = x[k] * y[k];
                    }
                    let dot = pyref::pairwise_sum(&t);
                    for k in 0..dim {
                        t[k] = x[k] * x[k];
                    }
                    let n1 = pyref::pairwise_sum(&t).sqrt();
                    for k in 0..dim {
                        t[k] = y[k] * y[k];
                    }
                    let n2 = pyref::pairwise_sum(&t).sqrt();
                    let similarity = dot / (n1 * n2);
                    similarity.acos() / std::f64::consts::PI
                }
            }
        })
        .collect()
}

enum DistSource<'a> {
    Fixed(&'a [f64]),
    PerFold(&'a dyn Fn(&[usize]) -> Vec<f64>),
}

/// The distances of one subset of pairs, split by label and sorted, so that the counts of
/// `dist < t` are binary searches. NaN distances (arccos of a rounding-error cosine above 1) are
/// never `< t`: they are counted in the totals only, as numpy does.
struct Subset {
    same: Vec<f64>,
    diff: Vec<f64>,
    n_same: usize,
    n_diff: usize,
}

impl Subset {
    fn new(dist: &[f64], issame: &[bool], idx: impl Iterator<Item = usize>) -> Self {
        let (mut same, mut diff) = (Vec::new(), Vec::new());
        let (mut n_same, mut n_diff) = (0, 0);
        for i in idx {
            let (v, n) = if issame[i] {
                (&mut same, &mut n_same)
            } else {
                (&mut diff, &mut n_diff)
            };
            *n += 1;
            if !dist[i].is_nan() {
                v.push(dist[i]);
            }
        }
        same.sort_by(f64::total_cmp);
        diff.sort_by(f64::total_cmp);
        Subset {
            same,
            diff,
            n_same,
            n_diff,
        }
    }

    fn len(&self) -> usize {
        self.n_same + self.n_diff
    }

    /// True positives: same pairs with `dist < t`.
    fn tp(&self, t: f64) -> usize {
        self.same.partition_point(|&d| d < t)
    }

    /// False positives: different pairs with `dist < t`.
    fn fp(&self, t: f64) -> usize {
        self.diff.partition_point(|&d| d < t)
    }

    /// `tp + tn`.
    fn correct(&self, t: f64) -> usize {
        self.tp(t) + (self.n_diff - self.fp(t))
    }

    /// `calculate_accuracy`'s tpr and fpr (0 when the class is empty).
    fn tpr_fpr(&self, t: f64) -> (f64, f64) {
        let tpr = if self.n_same == 0 {
            0.0
        } else {
            self.tp(t) as f64 / self.n_same as f64
        };
        let fpr = if self.n_diff == 0 {
            0.0
        } else {
            self.fp(t) as f64 / self.n_diff as f64
        };
        (tpr, fpr)
    }

    /// `calculate_val_far`: (val, far); errors where the Python divides by zero.
    fn val_far(&self, t: f64, fold: usize, set: &'static str) -> Result<(f64, f64)> {
        let empty = |class| Error::EmptyClass { fold, set, class };
        if self.n_same == 0 {
            return Err(empty("same"));
        }
        if self.n_diff == 0 {
            return Err(empty("different"));
        }
        Ok((
            self.tp(t) as f64 / self.n_same as f64,
            self.fp(t) as f64 / self.n_diff as f64,
        ))
    }
}

/// sklearn `KFold(n_splits=k, shuffle=False)`: contiguous test folds, the first `n % k` one larger.
fn kfold(n: usize, k: usize) -> Vec<std::ops::Range<usize>> {
    let mut start = 0;
    (0..k)
        .map(|i| {
            let size = n / k + usize::from(i < n % k);
            let r = start..start + size;
            start += size;
            r
        })
        .collect()
}

fn run(issame: &[bool], opts: &EvalOptions, source: DistSource<'_>) -> Result<Report> {
    let n = issame.len();
    let k = opts.folds;
    if k < 2 {
        return Err(Error::Input(format!("folds must be at least 2, got {k}")));
    }
    if n < k {
        return Err(Error::Input(format!(
            "cannot split {n} pairs into {k} folds"
        )));
    }
    if !(opts.far_target.is_finite() && opts.far_target >= 0.0) {
        return Err(Error::Input(format!(
            "far_target must be finite and non-negative, got {}",
            opts.far_target
        )));
    }
    let roc = roc_thresholds();
    let val_grid = val_thresholds();
    let nt = roc.len();

    let mut tpr_sum = vec![0.0f64; nt];
    let mut fpr_sum = vec![0.0f64; nt];
    let mut fold_accuracy = Vec::with_capacity(k);
    let mut fold_threshold = Vec::with_capacity(k);
    let mut fold_val = Vec::with_capacity(k);
    let mut fold_far = Vec::with_capacity(k);
    let mut fold_val_threshold = Vec::with_capacity(k);

    for (fold, test) in kfold(n, k).into_iter().enumerate() {
        let train: Vec<usize> = (0..test.start).chain(test.end..n).collect();
        let owned;
        let dist: &[f64] = match &source {
            DistSource::Fixed(d) => d,
            DistSource::PerFold(f) => {
                owned = f(&train);
                &owned
            }
        };
        let tr = Subset::new(dist, issame, train.iter().copied());
        let te = Subset::new(dist, issame, test.clone());

        // calculate_roc: best training threshold, first one on ties (np.argmax).
        let mut best = 0;
        let mut best_correct = 0;
        for (i, &t) in roc.iter().enumerate() {
            let c = tr.correct(t);
            if i == 0 || c > best_correct {
                best = i;
                best_correct = c;
            }
        }
        for (i, &t) in roc.iter().enumerate() {
            let (tpr, fpr) = te.tpr_fpr(t);
            tpr_sum[i] += tpr;
            fpr_sum[i] += fpr;
        }
        fold_accuracy.push(te.correct(roc[best]) as f64 / te.len() as f64);
        fold_threshold.push(roc[best]);

        // calculate_val: threshold where the training FAR reaches the target.
        let mut far_train = Vec::with_capacity(val_grid.len());
        for &t in &val_grid {
            far_train.push(tr.val_far(t, fold, "training")?.1);
        }
        let far_max = far_train.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let threshold = if far_max >= opts.far_target {
            pyref::old_scipy_slinear(&far_train, &val_grid, opts.far_target).ok_or_else(|| {
                Error::Numeric(format!(
                    "fold {fold}: FAR target {} outside the interpolation range",
                    opts.far_target
                ))
            })?
        } else {
            0.0
        };
        let (val, far) = te.val_far(threshold, fold, "test")?;
        fold_val.push(val);
        fold_far.push(far);
        fold_val_threshold.push(threshold);
    }

    // np.mean(tprs, 0): an axis-0 reduction, summed fold after fold.
    let tpr: Vec<f64> = tpr_sum.iter().map(|s| s / k as f64).collect();
    let fpr: Vec<f64> = fpr_sum.iter().map(|s| s / k as f64).collect();
    let auc = pyref::auc(&fpr, &tpr)
        .ok_or_else(|| Error::Numeric("FPR is not monotonic over the threshold grid".into()))?;
    let eer = pyref::Interp1d::new(&fpr, &tpr).and_then(|f| {
        let upper = if f.x_max() >= 1.0 { 1.0 } else { f.x_max() };
        pyref::brentq(|x| f.eval(x).map(|y| 1.0 - x - y), 0.0, upper)
    });

    Ok(Report {
        pairs: n,
        folds: k,
        distance: opts.distance,
        subtract_mean: opts.subtract_mean,
        accuracy_mean: pyref::mean(&fold_accuracy),
        accuracy_std: pyref::std(&fold_accuracy),
        fold_accuracy,
        threshold_mean: pyref::mean(&fold_threshold),
        threshold_std: pyref::std(&fold_threshold),
        fold_threshold,
        val_mean: pyref::mean(&fold_val),
        val_std: pyref::std(&fold_val),
        far: pyref::mean(&fold_far),
        far_target: opts.far_target,
        fold_val,
        fold_far,
        fold_val_threshold,
        auc,
        eer,
        thresholds: roc,
        tpr,
        fpr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kfold_sizes_match_sklearn() {
        assert_eq!(kfold(23, 10)[0], 0..3);
        assert_eq!(kfold(23, 10)[2], 6..9);
        assert_eq!(kfold(23, 10)[3], 9..11);
        assert_eq!(kfold(23, 10)[9], 21..23);
        assert_eq!(kfold(6000, 10)[9], 5400..6000);
    }

    #[test]
    fn distances_match_closed_forms() {
        let a = vec![vec![1.0f32, 0.0], vec![1.0, 0.0]];
        let b = vec![vec![0.0f32, 1.0], vec![-1.0, 0.0]];
        let d = distances(&a, &b, Distance::SquaredL2).unwrap();
        assert_eq!(d, vec![2.0, 4.0]);
        let d = distances(&a, &b, Distance::Angular).unwrap();
        assert_eq!(d, vec![0.5, 1.0]);
    }

    #[test]
    fn input_errors() {
        let a = vec![vec![1.0f32, 0.0]; 10];
        let b = vec![vec![1.0f32]; 10];
        let l = vec![true; 10];
        let o = EvalOptions::default();
        assert!(matches!(evaluate(&a, &b, &l, &o), Err(Error::Input(_))));
        assert!(matches!(
            evaluate(&a, &a, &l[..9], &o),
            Err(Error::Input(_))
        ));
        assert!(matches!(
            evaluate(&a[..5], &a[..5], &l[..5], &o),
            Err(Error::Input(_))
        ));
        // All pairs "same": the VAL step divides by zero different pairs in Python.
        assert!(matches!(
            evaluate(&a, &a, &l, &o),
            Err(Error::EmptyClass { fold: 0, .. })
        ));
    }
}
