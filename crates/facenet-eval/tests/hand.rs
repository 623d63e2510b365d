//! Cases small enough to compute by hand, following `facenet.calculate_roc` / `calculate_val`.
//!
//! With 20 pairs and 10 folds, KFold's test fold `f` is pairs `2f` and `2f+1`; the training set is
//! the other 18. All distances are chosen off both threshold grids (multiples of 0.01 and 0.001).

use facenet_eval::{evaluate, evaluate_distances, Distance, EvalOptions};

const EPS: f64 = 1e-12;

/// Even pairs are same-person, odd pairs different.
fn alternating() -> Vec<bool> {
    (0..20).map(|i| i % 2 == 0).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < EPS
}

#[test]
fn perfect_separation() {
    // Unit vectors in 2-D: same pairs 20° apart, different pairs 110° apart.
    let unit = |deg: f32| {
        let r = deg.to_radians();
        vec![r.cos(), r.sin()]
    };
    let issame = alternating();
    let emb1: Vec<Vec<f32>> = (0..20).map(|_| unit(0.0)).collect();
    let emb2: Vec<Vec<f32>> = issame
        .iter()
        .map(|&s| unit(if s { 20.0 } else { 110.0 }))
        .collect();
    for (distance, threshold) in [
        // 2 - 2cos20° = 0.1206, 2 - 2cos110° = 2.6840: best = first grid value above 0.1206.
        (Distance::SquaredL2, 0.13),
        // 20/180 = 0.1111, 110/180 = 0.6111.
        (Distance::Angular, 0.12),
    ] {
        let opts = EvalOptions {
            distance,
            ..EvalOptions::default()
        };
        let r = evaluate(&emb1, &emb2, &issame, &opts).unwrap();
        assert_eq!(r.accuracy_mean, 1.0);
        assert_eq!(r.accuracy_std, 0.0);
        assert_eq!(r.auc, 1.0);
        // interp1d(fpr, tpr)(0) takes the last grid point with FPR 0, where TPR is already 1,
        // so f(0) = 1 - 0 - 1 = 0 and brentq returns 0 at once.
        assert_eq!(r.eer, Some(0.0));
        assert!(r
            .fold_threshold
            .iter()
            .all(|&t| t == r.thresholds[(threshold * 100.0_f64).round() as usize]));
        assert!(close(r.threshold_mean, threshold), "{}", r.threshold_mean);
        assert!(r.threshold_std < EPS);
        // The VAL threshold sits just above the last grid value below the different pairs'
        // distance, so every same pair is accepted and no different one.
        assert_eq!(r.val_mean, 1.0);
        assert_eq!(r.val_std, 0.0);
        assert_eq!(r.far, 0.0);
    }
}

#[test]
fn all_distances_equal() {
    // Every distance 1.0055, labels alternating: each training set has 9 same and 9 different
    // pairs. For t <= 1.0055 all pairs are predicted "different" (9/18 right), above it all
    // "same" (9/18 right): all 400 training accuracies tie at 0.5. np.argmax takes the FIRST
    // maximum, so every fold selects threshold 0.0 (a last-index tie-break would give 3.99),
    // and on the test fold (one same, one different) predicting "different" is right once: 0.5.
    let dist = vec![1.0055; 20];
    let r = evaluate_distances(&dist, &alternating(), &EvalOptions::default()).unwrap();
    assert_eq!(r.fold_accuracy, vec![0.5; 10]);
    assert_eq!(r.accuracy_mean, 0.5);
    assert_eq!(r.accuracy_std, 0.0);
    assert_eq!(r.fold_threshold, vec![0.0; 10]);
    assert_eq!(r.threshold_mean, 0.0);
    // Fold-averaged TPR and FPR both jump from 0 to 1 between 1.00 and 1.01: the ROC is the
    // diagonal's end points, AUC (1 - 0) * (0 + 1) / 2 = 0.5, and between those two grid points
    // interp1d gives TPR = FPR, so 1 - x - x = 0 at x = 0.5.
    assert_eq!(r.auc, 0.5);
    let eer = r.eer.unwrap();
    assert!(close(eer, 0.5), "{eer}");
    // Training FAR is 0 up to 1.005 and 1 from 1.006: the FAR-1e-3 threshold is
    // 1.005 + 1e-3 * 0.001 / 1 = 1.005001 < 1.0055, which accepts nothing.
    assert!(r.fold_val_threshold.iter().all(|&t| close(t, 1.005001)));
    assert_eq!((r.val_mean, r.val_std, r.far), (0.0, 0.0, 0.0));
}

#[test]
fn twenty_pairs_by_hand() {
    // Same pairs at 0.5055 except pair 0 (a hard positive, 1.5055); different pairs at 1.0055
    // except pair 3 (a hard negative, 0.2555).
    let issame = alternating();
    let mut dist: Vec<f64> = issame
        .iter()
        .map(|&s| if s { 0.5055 } else { 1.0055 })
        .collect();
    dist[0] = 1.5055;
    dist[3] = 0.2555;
    let r = evaluate_distances(&dist, &issame, &EvalOptions::default()).unwrap();

    // Training correct counts (out of 18) per threshold range, e.g. fold 0 (pair 3 in training):
    //   t <= 0.2555: 0 same + 9 diff = 9;  0.2555 < t <= 0.5055: 0 + 8 = 8;
    //   0.5055 < t <= 1.0055: 9 + 8 = 17;  t > 1.0055: 9 + 0 = 9.
    // Fold 1 (pair 3 tested): 9, 17 on (0.5055, 1.0055], 8, 9. Folds 2..9: 9, 8, 16, 8, 9.
    // Every fold picks the first grid value above 0.5055: 0.51.
    assert!(r.fold_threshold.iter().all(|&t| close(t, 0.51)));
    assert!(close(r.threshold_mean, 0.51));
    assert!(r.threshold_std < EPS);
    // At 0.51, fold 0 misses its hard positive, fold 1 accepts its hard negative; the other
    // folds are right: mean 0.9, std sqrt((2 * 0.4² + 8 * 0.1²) / 10) = 0.2.
    let mut expected = vec![1.0; 10];
    expected[0] = 0.5;
    expected[1] = 0.5;
    assert_eq!(r.fold_accuracy, expected);
    assert!(close(r.accuracy_mean, 0.9));
    assert!(close(r.accuracy_std, 0.2));

    // VAL: with pair 3 in training (all folds but 1), training FAR is 0 up to 0.255 and 1/9 from
    // 0.256, so the threshold is 0.255 + 1e-3 * 0.001 / (1/9) = 0.255009: no same pair is
    // accepted (VAL 0, FAR 0). In fold 1 all 9 training negatives are at 1.0055: threshold
    // 1.005001, which accepts the tested same pair and the hard negative (VAL 1, FAR 1).
    for (f, &t) in r.fold_val_threshold.iter().enumerate() {
        let want = if f == 1 { 1.005001 } else { 0.255009 };
        assert!(close(t, want), "fold {f}: {t}");
    }
    assert!(close(r.val_mean, 0.1));
    assert!(close(r.val_std, 0.3));
    assert!(close(r.far, 0.1));

    // Each test fold has one same and one different pair, so the fold-averaged rates are the
    // fractions of all 10 same / different pairs below t: FPR 0 -> 0.1 (at 0.26) -> 1 (at
    // 1.01); TPR 0 -> 0.9 (at 0.51) -> 1 (at 1.51). The trapezoids: (1 - 0.1) * 0.9 = 0.81.
    assert!(close(r.auc, 0.81), "{}", r.auc);
    // 1 - x - TPR(x): positive below FPR 0.1 (TPR 0 there), 0 at 0.1 (TPR 0.9), negative above.
    let eer = r.eer.unwrap();
    assert!((eer - 0.1).abs() < 1e-9, "{eer}");
}

#[test]
fn evaluate_matches_evaluate_distances() {
    let issame = alternating();
    let emb1: Vec<Vec<f32>> = (0..20).map(|i| vec![1.0, i as f32 * 0.05, 0.3]).collect();
    let emb2: Vec<Vec<f32>> = (0..20)
        .map(|i| vec![0.9, (i as f32 * 0.37).sin(), -0.2])
        .collect();
    let opts = EvalOptions::default();
    let d = facenet_eval::distances(&emb1, &emb2, Distance::SquaredL2).unwrap();
    assert_eq!(
        evaluate(&emb1, &emb2, &issame, &opts).unwrap(),
        evaluate_distances(&d, &issame, &opts).unwrap()
    );
    // A flat matrix works through chunks.
    let flat: Vec<f32> = emb1.concat();
    let rows: Vec<&[f32]> = flat.chunks(3).collect();
    assert_eq!(
        evaluate(&rows, &emb2, &issame, &opts).unwrap(),
        evaluate_distances(&d, &issame, &opts).unwrap()
    );
}
