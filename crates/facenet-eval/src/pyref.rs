//! Ports of the few numpy / scipy / scikit-learn routines the protocol uses, written to give the
//! same float64 results as the reference run (numpy 2.4, scipy 1.17, scikit-learn 1.9), including
//! summation order where it is cheap to copy.

/// `np.arange(start, stop, step)` for floats: `ceil((stop - start) / step)` values `start + i*delta`,
/// where `delta = (start + step) - start` (numpy's `DOUBLE_fill`).
pub(crate) fn arange(start: f64, stop: f64, step: f64) -> Vec<f64> {
    let len = ((stop - start) / step).ceil();
    if len.is_nan() || len <= 0.0 {
        return Vec::new();
    }
    let len = len as usize;
    let delta = (start + step) - start;
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        out.push(match i {
            0 => start,
            1 => start + step,
            _ => start + i as f64 * delta,
        });
    }
    out
}

/// numpy's `pairwise_sum` for float64 (what `np.sum` does along a contiguous axis): below 8 elements
/// a plain loop, up to 128 eight accumulators, above that a split at a multiple of 8.
pub(crate) fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &v in a {
            res += v;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for (k, acc) in r.iter_mut().enumerate() {
                *acc += a[i + k];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `np.mean` of a 1-D float64 array.
pub(crate) fn mean(a: &[f64]) -> f64 {
    pairwise_sum(a) / a.len() as f64
}

/// `np.std` of a 1-D float64 array (ddof 0).
pub(crate) fn std(a: &[f64]) -> f64 {
    let m = mean(a);
    let sq: Vec<f64> = a
        .iter()
        .map(|&v| {
            let d = v - m;
            d * d
        })
        .collect();
    (pairwise_sum(&sq) / a.len() as f64).sqrt()
}

/// Indices of `x` sorted by value, stable (`np.argsort(x, kind='mergesort')`). NaN sorts last.
fn stable_argsort(x: &[f64]) -> Vec<usize> {
    let mut ind: Vec<usize> = (0..x.len()).collect();
    ind.sort_by(|&a, &b| {
        x[a].partial_cmp(&x[b])
            .unwrap_or_else(|| x[a].is_nan().cmp(&x[b].is_nan()))
    });
    ind
}

/// The old-scipy `interp1d(x, y, kind='slinear')(v)` as `lfweval._OldScipyInterp` emulates it: sort
/// by x, then linear interpolation from the *last* sorted sample with `x <= v`. The reference sorted
/// with numpy's default (unstable) argsort; this uses a stable one, which the reference README
/// reports gives the same VAL. `None` when `v` is outside `[min x, max x]` (scipy raises).
pub(crate) fn old_scipy_slinear(x: &[f64], y: &[f64], v: f64) -> Option<f64> {
    let ind = stable_argsort(x);
    let xs: Vec<f64> = ind.iter().map(|&i| x[i]).collect();
    let ys: Vec<f64> = ind.iter().map(|&i| y[i]).collect();
    let (first, last) = (*xs.first()?, *xs.last()?);
    if v < first || v > last || v.is_nan() {
        return None;
    }
    // np.searchsorted(xs, v, side='right') - 1
    let j = xs.partition_point(|&e| e <= v) - 1;
    if j >= xs.len() - 1 {
        return Some(ys[ys.len() - 1]);
    }
    Some(ys[j] + (v - xs[j]) * (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j]))
}

/// Modern `scipy.interpolate.interp1d(x, y)` (kind 'linear', bounds_error) on float64 data, which
/// sorts x with a stable argsort and then calls `np.interp`. `np.interp` takes the last sample with
/// `xp[j] <= v`, returns `yp[j]` on an exact hit, and otherwise interpolates towards `j + 1`.
pub(crate) struct Interp1d {
    xs: Vec<f64>,
    ys: Vec<f64>,
}

impl Interp1d {
    pub(crate) fn new(x: &[f64], y: &[f64]) -> Option<Self> {
        if x.len() < 2 || x.len() != y.len() {
            return None;
        }
        let ind = stable_argsort(x);
        Some(Interp1d {
            xs: ind.iter().map(|&i| x[i]).collect(),
            ys: ind.iter().map(|&i| y[i]).collect(),
        })
    }

    pub(crate) fn x_max(&self) -> f64 {
        self.xs[self.xs.len() - 1]
    }

    /// `None` where scipy raises ("A value in x_new is below/above the interpolation range").
    pub(crate) fn eval(&self, v: f64) -> Option<f64> {
        let (xs, ys) = (&self.xs, &self.ys);
        if v.is_nan() {
            return Some(v);
        }
        if v < xs[0] || v > xs[xs.len() - 1] {
            return None;
        }
        let j = xs.partition_point(|&e| e <= v) - 1;
        if j == xs.len() - 1 || xs[j] == v {
            return Some(ys[j]);
        }
        let slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j]);
        let mut res = slope * (v - xs[j]) + ys[j];
        if res.is_nan() {
            res = slope * (v - xs[j + 1]) + ys[j + 1];
            if res.is_nan() && ys[j] == ys[j + 1] {
                res = ys[j];
            }
        }
        Some(res)
    }
}

/// `sklearn.metrics.auc(x, y)`: `np.trapezoid(y, x)`, negated for a decreasing x. `None` when x is
/// neither non-decreasing nor non-increasing, or has fewer than 2 points (sklearn raises).
pub(crate) fn auc(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() < 2 || x.len() != y.len() {
        return None;
    }
    let dx: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let mut direction = 1.0;
    if dx.iter().any(|&d| d < 0.0) {
        if dx.iter().all(|&d| d <= 0.0) {
            direction = -1.0;
        } else {
            return None;
        }
    }
    let terms: Vec<f64> = dx
        .iter()
        .enumerate()
        .map(|(i, &d)| d * (y[i + 1] + y[i]) / 2.0)
        .collect();
    Some(direction * pairwise_sum(&terms))
}

/// `scipy.optimize.brentq(f, xa, xb)` with its defaults (xtol 2e-12, rtol 4·eps, maxiter 100), a
/// line-by-line port of scipy's `brentq.c`. `None` where scipy raises: `f` undefined (out of
/// range) or NaN, f(a) and f(b) of the same sign, or no convergence.
pub(crate) fn brentq(mut f: impl FnMut(f64) -> Option<f64>, xa: f64, xb: f64) -> Option<f64> {
    const XTOL: f64 = 2e-12;
    const RTOL: f64 = 4.0 * f64::EPSILON;
    const ITER: usize = 100;
    let mut call = |x: f64| f(x).filter(|v| !v.is_nan());

    let (mut xpre, mut xcur) = (xa, xb);
    let (mut xblk, mut fblk, mut spre, mut scur) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut fpre = call(xpre)?;
    let mut fcur = call(xcur)?;
    if fpre == 0.0 {
        return Some(xpre);
    }
    if fcur == 0.0 {
        return Some(xcur);
    }
    if fpre.is_sign_negative() == fcur.is_sign_negative() {
        return None;
    }
    for _ in 0..ITER {
        if fpre != 0.0 && fcur != 0.0 && fpre.is_sign_negative() != fcur.is_sign_negative() {
            xblk = xpre;
            fblk = fpre;
            spre = xcur - xpre;
            scur = spre;
        }
        if fblk.abs() < fcur.abs() {
            xpre = xcur;
            xcur = xblk;
            xblk = xpre;

            fpre = fcur;
            fcur = fblk;
            fblk = fpre;
        }

        let delta = (XTOL + RTOL * xcur.abs()) / 2.0;
        let sbis = (xblk - xcur) / 2.0;
        if fcur == 0.0 || sbis.abs() < delta {
            return Some(xcur);
        }

        if spre.abs() > delta && fcur.abs() < fpre.abs() {
            let stry = if xpre == xblk {
                // interpolate
                -fcur * (xcur - xpre) / (fcur - fpre)
            } else {
                // extrapolate
                let dpre = (fpre - fcur) / (xpre - xcur);
                let dblk = (fblk - fcur) / (xblk - xcur);
                -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            };
            let a = spre.abs();
            let b = 3.0 * sbis.abs() - delta;
            let lim = if a < b { a } else { b };
            if 2.0 * stry.abs() < lim {
                // good short step
                spre = scur;
                scur = stry;
            } else {
                spre = sbis;
                scur = sbis;
            }
        } else {
            spre = sbis;
            scur = sbis;
        }

        xpre = xcur;
        fpre = fcur;
        if scur.abs() > delta {
            xcur += scur;
        } else {
            xcur += if sbis > 0.0 { delta } else { -delta };
        }
        fcur = call(xcur)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arange_matches_numpy_lengths_and_values() {
        let a = arange(0.0, 4.0, 0.01);
        assert_eq!(a.len(), 400);
        assert_eq!(a[1], 0.01);
        assert_eq!(a[51], 51.0 * 0.01);
        assert_eq!(arange(0.0, 4.0, 0.001).len(), 4000);
    }

    #[test]
    fn pairwise_sum_order() {
        let a: Vec<f64> = (1..=10).map(|i| 0.1 * i as f64).collect();
        let expected =
            ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + a[8] + a[9];
        assert_eq!(pairwise_sum(&a).to_bits(), expected.to_bits());
        let b: Vec<f64> = (0..20).map(|i| 0.1 * i as f64).collect();
        let r: Vec<f64> = (0..8).map(|k| b[k] + b[k + 8]).collect();
        let expected = ((r[0] + r[1]) + (r[2] + r[3]))
            + ((r[4] + r[5]) + (r[6] + r[7]))
            + b[16]
            + b[17]
            + b[18]
            + b[19];
        assert_eq!(pairwise_sum(&b).to_bits(), expected.to_bits());
        let big: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        assert_eq!(pairwise_sum(&big), 499_500.0);
    }

    #[test]
    fn std_of_known_values() {
        assert!((std(&[1.0, 2.0, 3.0, 4.0]) - 1.118_033_988_749_895).abs() < 1e-15);
    }

    #[test]
    fn np_interp_duplicates_take_last_sample() {
        let f = Interp1d::new(&[0.0, 0.0, 0.0, 0.5, 1.0], &[0.0, 0.2, 0.4, 0.6, 1.0]).unwrap();
        assert_eq!(f.eval(0.0), Some(0.4));
        assert_eq!(f.eval(0.25), Some(0.5));
        assert_eq!(f.eval(1.0), Some(1.0));
        assert_eq!(f.eval(1.5), None);
    }

    #[test]
    fn brentq_linear_and_errors() {
        let r = brentq(|x| Some(1.0 - 2.0 * x), 0.0, 1.0).unwrap();
        assert!((r - 0.5).abs() < 1e-12);
        assert_eq!(brentq(|x| Some(1.0 + x), 0.0, 1.0), None);
        let r = brentq(|x| Some(x * x - 2.0), 0.0, 2.0).unwrap();
        assert!((r - std::f64::consts::SQRT_2).abs() < 1e-11);
    }

    #[test]
    fn auc_trapezoid() {
        assert_eq!(auc(&[0.0, 0.5, 1.0], &[0.0, 1.0, 1.0]), Some(0.75));
        assert_eq!(auc(&[1.0, 0.5, 0.0], &[1.0, 1.0, 0.0]), Some(0.75));
        assert_eq!(auc(&[0.0, 1.0, 0.5], &[0.0, 1.0, 1.0]), None);
    }
}
