//! Loss values and gradients against hand-computed cases, and the triplet selection on a
//! constructed batch.

use burn::tensor::{Tensor, TensorData};
use facenet_train::losses::{self, Centers, Triplet};
use facenet_train::CpuAutodiff as B;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn t2(rows: &[[f32; 2]]) -> Tensor<B, 2> {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), 2]), &Default::default()).require_grad()
}

fn values<const D: usize>(t: Tensor<burn_ndarray::NdArray<f32>, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn triplet_loss_value_and_gradient() {
    // Triplet 1: a=(0,0) p=(1,0) n=(0,0.5): |a-p|²=1, |a-n|²=0.25 → 1 - 0.25 + 0.2 = 0.95.
    // Triplet 2: a=(0,0) p=(0.1,0) n=(2,0): 0.01 - 4 + 0.2 < 0 → 0.  Mean 0.475.
    let e = t2(&[
        [0.0, 0.0],
        [1.0, 0.0],
        [0.0, 0.5],
        [0.0, 0.0],
        [0.1, 0.0],
        [2.0, 0.0],
    ]);
    let trips = [
        Triplet {
            anchor: 0,
            positive: 1,
            negative: 2,
        },
        Triplet {
            anchor: 3,
            positive: 4,
            negative: 5,
        },
    ];
    let loss = losses::triplet_loss(&e, &trips, 0.2).unwrap();
    close(&values(loss.clone().inner()), &[0.475]);
    let grads = loss.backward();
    let g = values(e.grad(&grads).unwrap());
    // d/da (|a-p|² - |a-n|²) / 2 = ((a-p) - (a-n)) = (n - p) = (-1, 0.5);
    // d/dp = -(a-p) = (1, 0); d/dn = (a-n) = (0, -0.5); the inactive triplet gets nothing.
    close(
        &g,
        &[-1.0, 0.5, 1.0, 0.0, 0.0, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    );
    assert!(losses::triplet_loss(&e, &[], 0.2).is_none());
}

#[test]
fn center_loss_value_gradient_and_update() {
    let f = t2(&[[1.0, 2.0], [3.0, 4.0]]);
    let mut c = Centers::new(2, 2);
    c.data = vec![0.0, 0.0, 1.0, 1.0];
    let labels = [0, 1];
    // (1² + 2² + 2² + 3²) / 4 = 4.5; gradient 2 (f - c) / 4.
    let loss = losses::center_loss(&f, &c, &labels);
    close(&values(loss.clone().inner()), &[4.5]);
    let g = values(f.grad(&loss.backward()).unwrap());
    close(&g, &[0.5, 1.0, 1.0, 1.5]);
    // centers -= (1 - alfa) (centers[label] - features), alfa 0.5.
    c.update(&labels, &[1.0, 2.0, 3.0, 4.0], 0.5);
    close(&c.data, &[0.5, 1.0, 2.0, 2.5]);
    // A class seen twice takes both subtractions (scatter_sub), both from the old center.
    let mut c = Centers::new(1, 2);
    c.update(&[0, 0], &[1.0, 1.0, 3.0, 3.0], 0.5);
    close(&c.data, &[2.0, 2.0]);
}

#[test]
fn cross_entropy_and_prelogits_norm() {
    let logits = t2(&[[0.0, 0.0], [2.0, 0.0]]);
    let loss = losses::cross_entropy(&logits, &[0, 1]);
    // (ln 2 + ln(1 + e²)) / 2 ... second row: -log(e^0 / (e^2 + e^0)).
    let want = ((2f32).ln() + (1.0 + 2f32.exp()).ln()) / 2.0;
    close(&values(loss.clone().inner()), &[want]);
    let g = values(logits.grad(&loss.backward()).unwrap());
    let s = 1.0 / (1.0 + (-2f32).exp());
    // (softmax - onehot) / batch.
    close(&g, &[-0.25, 0.25, s / 2.0, -s / 2.0]);
    let p = t2(&[[1.0, -2.0], [0.0, 3.0]]);
    let n = losses::prelogits_norm(&p, 1.0);
    close(&values(n.inner()), &[(3.0002 + 3.0002) / 2.0]);
}

#[test]
fn mining_picks_the_expected_triplets() {
    // Person A: a0 (0,0), a1 (1,0): positive distance 1.
    // Person B: b0 (0,0.9), b1 (0,1.2): positive distance 0.09.
    // Person C: c0 (5,5), c1 (5,5.1).
    // a0-a1: negatives with d - 1 < 0.2: b0 (0.81), b1 (1.44 - 1 = 0.44 no) → only b0.
    // b0-b1: a0 0.81 - 0.09 = 0.72 no, a1 1.81 no, C far → none.
    // c0-c1: 0.01; everything else is far → none.
    let emb = [0.0, 0.0, 1.0, 0.0, 0.0, 0.9, 0.0, 1.2, 5.0, 5.0, 5.0, 5.1];
    for seed in 0..5 {
        let t = losses::select_triplets(&emb, 2, &[2, 2, 2], 0.2, &mut StdRng::seed_from_u64(seed));
        assert_eq!(
            t,
            vec![Triplet {
                anchor: 0,
                positive: 1,
                negative: 2
            }]
        );
    }
    // Three images of one person give the pairs (0,1), (0,2), (1,2); with two candidates the
    // pick is one of them, and both get picked over seeds.
    let emb = [0.0, 0.0, 1.0, 0.0, 0.5, 0.0, 0.0, 0.8, 0.0, -0.8];
    let mut seen = std::collections::HashSet::new();
    for seed in 0..40 {
        let t = losses::select_triplets(&emb, 2, &[3, 2], 0.2, &mut StdRng::seed_from_u64(seed));
        let mut pairs: Vec<(usize, usize)> = t.iter().map(|t| (t.anchor, t.positive)).collect();
        pairs.sort();
        // (0,1): pos 1, negatives 0.64 each → both. (0,2): pos 0.25, 0.64 - 0.25 = 0.39 no.
        // (1,2): pos 0.25, negatives 1.64 no. The second person's (3,4): pos 2.56, and every
        // negative is closer (a hard negative, which the original's rule keeps too).
        assert_eq!(pairs, vec![(0, 1), (3, 4)]);
        let first = t.iter().find(|t| t.anchor == 0).unwrap();
        assert!(first.negative == 3 || first.negative == 4);
        seen.insert(first.negative);
    }
    assert_eq!(seen.len(), 2);
}
