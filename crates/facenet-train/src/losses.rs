//! The losses of `train_tripletloss.py` and `train_softmax.py` (with `facenet.center_loss`), and
//! the triplet selection of `select_triplets`.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;

/// `--alpha`: the triplet margin.
pub const DEFAULT_ALPHA: f32 = 0.2;

/// Indices (into the batch) of one anchor, positive and negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triplet {
    pub anchor: usize,
    pub positive: usize,
    pub negative: usize,
}

fn squared_l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// `select_triplets` of `train_tripletloss.py`: the batch holds `class_sizes[0]` images of the
/// first person, then `class_sizes[1]` of the second, and so on; `embeddings` is row-major,
/// `dim` wide.
///
/// For every anchor-positive pair of a person, the candidate negatives are the other people's
/// images with `neg_dist - pos_dist < alpha` (squared L2), and one of them is picked at random.
/// As in the original this includes hard negatives (closer than the positive), not only the
/// semi-hard band. Pairs without a candidate give no triplet. The result is shuffled.
pub fn select_triplets<R: Rng + ?Sized>(
    embeddings: &[f32],
    dim: usize,
    class_sizes: &[usize],
    alpha: f32,
    rng: &mut R,
) -> Vec<Triplet> {
    let n = embeddings.len().checked_div(dim).unwrap_or(0);
    let row = |i: usize| &embeddings[i * dim..(i + 1) * dim];
    let mut triplets = Vec::new();
    let mut start = 0usize;
    for &size in class_sizes {
        let end = (start + size).min(n);
        for a in start..end {
            let neg_dists: Vec<f32> = (0..n).map(|k| squared_l2(row(a), row(k))).collect();
            for p in a + 1..end {
                let pos_dist = squared_l2(row(a), row(p));
                let candidates: Vec<usize> = (0..n)
                    .filter(|&k| !(start..end).contains(&k))
                    .filter(|&k| neg_dists[k] - pos_dist < alpha)
                    .collect();
                if !candidates.is_empty() {
                    let negative = candidates[rng.random_range(0..candidates.len())];
                    triplets.push(Triplet {
                        anchor: a,
                        positive: p,
                        negative,
                    });
                }
            }
        }
        start = end;
    }
    // np.random.shuffle(triplets)
    for i in (1..triplets.len()).rev() {
        let j = rng.random_range(0..=i);
        triplets.swap(i, j);
    }
    triplets
}

fn gather<B: Backend>(x: &Tensor<B, 2>, idx: &[usize]) -> Tensor<B, 2> {
    let device = x.device();
    let idx: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    let len = idx.len();
    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [len]), &device);
    x.clone().select(0, idx)
}

/// `facenet.triplet_loss`: `mean(max(|a-p|² - |a-n|² + alpha, 0))` over the triplets, which index
/// rows of `embeddings`. `None` when there are no triplets.
pub fn triplet_loss<B: Backend>(
    embeddings: &Tensor<B, 2>,
    triplets: &[Triplet],
    alpha: f32,
) -> Option<Tensor<B, 1>> {
    if triplets.is_empty() {
        return None;
    }
    let a = gather(
        embeddings,
        &triplets.iter().map(|t| t.anchor).collect::<Vec<_>>(),
    );
    let p = gather(
        embeddings,
        &triplets.iter().map(|t| t.positive).collect::<Vec<_>>(),
    );
    let n = gather(
        embeddings,
        &triplets.iter().map(|t| t.negative).collect::<Vec<_>>(),
    );
    let pos_dist = (a.clone() - p).powi_scalar(2).sum_dim(1);
    let neg_dist = (a - n).powi_scalar(2).sum_dim(1);
    let basic = (pos_dist - neg_dist).add_scalar(alpha);
    Some(basic.clamp_min(0.0).mean())
}

/// The centers of `facenet.center_loss`: one row per class, zero at the start, not trained by
/// gradient but moved toward the features they see.
#[derive(Debug, Clone, PartialEq)]
pub struct Centers {
    pub dim: usize,
    /// Row-major `[classes, dim]`.
    pub data: Vec<f32>,
}

impl Centers {
    pub fn new(classes: usize, dim: usize) -> Self {
        Centers {
            dim,
            data: vec![0.0; classes * dim],
        }
    }

    pub fn classes(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// `centers_batch = tf.gather(centers, label)`.
    pub fn gather(&self, labels: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(labels.len() * self.dim);
        for &l in labels {
            out.extend_from_slice(&self.data[l * self.dim..(l + 1) * self.dim]);
        }
        out
    }

    /// `centers = tf.scatter_sub(centers, label, (1 - alfa) * (centers_batch - features))`.
    /// `centers_batch` is gathered before the update, and a class seen twice in the batch takes
    /// both subtractions, as scatter_sub does.
    pub fn update(&mut self, labels: &[usize], features: &[f32], alfa: f32) {
        let before = self.gather(labels);
        let d = self.dim;
        for (i, &l) in labels.iter().enumerate() {
            for k in 0..d {
                let diff = (1.0 - alfa) * (before[i * d + k] - features[i * d + k]);
                self.data[l * d + k] -= diff;
            }
        }
    }
}

/// `facenet.center_loss`'s value: `mean((features - centers_batch)²)` over all elements.
/// The centers are constants here; call [`Centers::update`] with the same batch afterwards.
pub fn center_loss<B: Backend>(
    features: &Tensor<B, 2>,
    centers: &Centers,
    labels: &[usize],
) -> Tensor<B, 1> {
    let [n, d] = features.dims();
    let c = Tensor::<B, 2>::from_data(
        TensorData::new(centers.gather(labels), [n, d]),
        &features.device(),
    );
    (features.clone() - c).powi_scalar(2).mean()
}

/// `tf.reduce_mean(tf.norm(tf.abs(prelogits) + eps, ord=p, axis=1))` of `train_softmax.py`
/// (`--prelogits_norm_p`, eps 1e-4).
pub fn prelogits_norm<B: Backend>(prelogits: &Tensor<B, 2>, p: f32) -> Tensor<B, 1> {
    let x = prelogits.clone().abs().add_scalar(1e-4);
    let norm = if (p - 1.0).abs() < f32::EPSILON {
        x.sum_dim(1)
    } else {
        x.powf_scalar(p).sum_dim(1).powf_scalar(1.0 / p)
    };
    norm.mean()
}

/// `tf.nn.sparse_softmax_cross_entropy_with_logits`, averaged over the batch.
pub fn cross_entropy<B: Backend>(logits: &Tensor<B, 2>, labels: &[usize]) -> Tensor<B, 1> {
    let [n, c] = logits.dims();
    let mut onehot = vec![0f32; n * c];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * c + l] = 1.0;
    }
    let onehot = Tensor::<B, 2>::from_data(TensorData::new(onehot, [n, c]), &logits.device());
    (log_softmax(logits.clone(), 1) * onehot)
        .sum_dim(1)
        .mean()
        .neg()
}
