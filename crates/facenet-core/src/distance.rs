//! Distances between embeddings, as `compare.py` and `facenet.distance` define them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Euclidean distance, `compare.py`'s measure.
    L2,
    /// `1 - cos(a, b)`.
    Cosine,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
        }
    }

    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::L2 => l2(a, b),
            Metric::Cosine => 1.0 - cosine_similarity(a, b),
        }
    }
}

pub fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// Cosine similarity; 0 when either vector is zero.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_distances() {
        let a = [1.0, 0.0];
        let b = [0.0, 1.0];
        assert!((l2(&a, &b) - 2f32.sqrt()).abs() < 1e-7);
        assert!((Metric::Cosine.distance(&a, &b) - 1.0).abs() < 1e-7);
        assert_eq!(Metric::Cosine.distance(&a, &a), 0.0);
        assert_eq!(cosine_similarity(&a, &[0.0, 0.0]), 0.0);
        // For unit vectors, l2^2 = 2 * cosine distance.
        let c = [0.6, 0.8];
        assert!((l2(&a, &c).powi(2) - 2.0 * Metric::Cosine.distance(&a, &c)).abs() < 1e-6);
    }
}
