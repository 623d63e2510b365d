//! The in-memory 1:N index: every enrolled template, decrypted once at start and kept in step
//! with the store, searched exactly (every template scored) with SIMD dot products.
//!
//! Templates are L2-normalised, so cosine similarity is a dot product and the Euclidean
//! distance is `sqrt(2 - 2·cos)`. Rows live in one contiguous buffer: a search streams through
//! memory once, which is what makes an exact scan of 10⁵ templates take milliseconds.

use std::collections::HashMap;

/// One match: the subject's best-scoring face.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub subject_id: String,
    pub face_id: String,
    pub similarity: f32,
    pub distance: f32,
}

/// The templates of one model version, `dim` floats each.
#[derive(Debug)]
pub struct Index {
    dim: usize,
    /// Row-major, `dim` floats per face, normalised.
    data: Vec<f32>,
    faces: Vec<(String, String)>,
    /// Face id → row, for O(1) deletion.
    rows: HashMap<String, usize>,
}

impl Index {
    pub fn new(dim: usize) -> Self {
        Index {
            dim,
            data: Vec::new(),
            faces: Vec::new(),
            rows: HashMap::new(),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.faces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.faces.is_empty()
    }

    pub fn contains(&self, face_id: &str) -> bool {
        self.rows.contains_key(face_id)
    }

    /// Adds or replaces a face. A template of the wrong length or with a non-finite or zero
    /// norm is refused: it could never be compared meaningfully.
    pub fn insert(&mut self, face_id: &str, subject_id: &str, embedding: &[f32]) -> bool {
        if embedding.len() != self.dim {
            return false;
        }
        let norm = dot(embedding, embedding).sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return false;
        }
        self.remove(face_id);
        self.data.extend(embedding.iter().map(|x| x / norm));
        self.rows.insert(face_id.to_owned(), self.faces.len());
        self.faces.push((face_id.to_owned(), subject_id.to_owned()));
        true
    }

    /// Removes a face by moving the last row into its place.
    pub fn remove(&mut self, face_id: &str) -> bool {
        let Some(row) = self.rows.remove(face_id) else {
            return false;
        };
        let last = self.faces.len() - 1;
        if row != last {
            let (head, tail) = self.data.split_at_mut(last * self.dim);
            head[row * self.dim..(row + 1) * self.dim].copy_from_slice(&tail[..self.dim]);
            self.faces.swap(row, last);
            self.rows.insert(self.faces[row].0.clone(), row);
        }
        self.faces.pop();
        self.data.truncate(last * self.dim);
        true
    }

    /// Removes every face of a subject; returns how many.
    pub fn remove_subject(&mut self, subject_id: &str) -> usize {
        let ids: Vec<String> = self
            .faces
            .iter()
            .filter(|(_, s)| s == subject_id)
            .map(|(f, _)| f.clone())
            .collect();
        ids.iter().filter(|f| self.remove(f)).count()
    }

    /// Face ids with their subjects, in no particular order (for consistency checks).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.faces.iter().map(|(f, s)| (f.as_str(), s.as_str()))
    }

    /// The best face of each subject whose distance is at most `max_distance`, best first, at
    /// most `limit` subjects. Scores every template; nothing is approximated. Ties keep the
    /// lower subject id first so that results are reproducible.
    pub fn search(&self, query: &[f32], limit: usize, max_distance: f32) -> Vec<Hit> {
        if query.len() != self.dim || limit == 0 {
            return Vec::new();
        }
        let norm = dot(query, query).sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Vec::new();
        }
        let q: Vec<f32> = query.iter().map(|x| x / norm).collect();
        // distance ≤ t  ⇔  cos ≥ 1 − t²/2, so the scan compares similarities only.
        let min_similarity = 1.0 - max_distance * max_distance / 2.0;
        let mut best: HashMap<&str, (f32, usize)> = HashMap::new();
        for (row, chunk) in self.data.chunks_exact(self.dim).enumerate() {
            let s = dot(&q, chunk);
            if s < min_similarity {
                continue;
            }
            let subject = self.faces[row].1.as_str();
            let e = best.entry(subject).or_insert((s, row));
            if s > e.0 {
                *e = (s, row);
            }
        }
        let mut hits: Vec<Hit> = best
            .into_iter()
            .map(|(subject, (s, row))| Hit {
                subject_id: subject.to_owned(),
                face_id: self.faces[row].0.clone(),
                similarity: s.min(1.0),
                distance: (2.0 - 2.0 * s).max(0.0).sqrt(),
            })
            .filter(|h| h.distance <= max_distance)
            .collect();
        hits.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then_with(|| a.subject_id.cmp(&b.subject_id))
        });
        hits.truncate(limit);
        hits
    }
}

/// Dot product, vectorised: AVX2+FMA when the CPU has them (checked once at run time), else the
/// same eight-lane loop compiled for the baseline (SSE2 on x86-64), which LLVM also vectorises.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2_available() {
            // SAFETY: the CPU supports AVX2 and FMA, checked above; the function body is safe
            // code compiled with those features enabled.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
fn avx2_available() -> bool {
    use std::sync::OnceLock;
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b)
}

/// Eight independent accumulators let the compiler keep one SIMD register of partial sums.
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn dot_matches_scalar_for_every_tail_length() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let scalar: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (*x as f64) * (*y as f64))
                .sum();
            assert!((dot(&a, &b) as f64 - scalar).abs() < 1e-5, "n={n}");
        }
    }

    #[test]
    fn best_face_per_subject_best_first_under_threshold() {
        let mut ix = Index::new(3);
        assert!(ix.insert("f1", "alice", &[1.0, 0.0, 0.0]));
        assert!(ix.insert("f2", "alice", &[0.8, 0.6, 0.0]));
        assert!(ix.insert("f3", "bob", &[0.0, 1.0, 0.0]));
        assert!(ix.insert("f4", "carol", &[0.0, 0.0, 1.0]));
        let q = unit(&[0.9, 0.5, 0.0]);
        // Distance to bob is sqrt(2 - 2*0.486) = 1.014; to carol sqrt(2).
        let hits = ix.search(&q, 10, 1.1);
        let names: Vec<_> = hits.iter().map(|h| h.subject_id.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert_eq!(hits[0].face_id, "f2");
        let cos = (0.9 * 0.8 + 0.5 * 0.6) / (0.81f32 + 0.25).sqrt();
        assert!((hits[0].similarity - cos).abs() < 1e-6);
        assert!((hits[0].distance - (2.0 - 2.0 * cos).sqrt()).abs() < 1e-5);
        assert_eq!(ix.search(&q, 1, 1.1).len(), 1);
        assert!(ix.search(&q, 10, 0.1).is_empty());
    }

    #[test]
    fn removal_keeps_the_other_rows_findable() {
        let mut ix = Index::new(2);
        ix.insert("a", "s1", &[1.0, 0.0]);
        ix.insert("b", "s2", &[0.0, 1.0]);
        ix.insert("c", "s3", &[-1.0, 0.0]);
        assert!(ix.remove("a"));
        assert!(!ix.remove("a"));
        assert_eq!(ix.len(), 2);
        assert_eq!(ix.search(&[-1.0, 0.0], 5, 0.01)[0].face_id, "c");
        assert_eq!(ix.search(&[0.0, 1.0], 5, 0.01)[0].face_id, "b");
        assert_eq!(ix.remove_subject("s2"), 1);
        assert_eq!(ix.len(), 1);
    }

    /// Exactness: on a random gallery (with deletions) every search equals an f64 brute force.
    #[test]
    fn search_equals_brute_force() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let dim = 37;
        let mut ix = Index::new(dim);
        let mut all = Vec::new();
        for i in 0..3000 {
            // Vectors near one of a few centres, so that subjects share neighbourhoods.
            let centre = (i % 7) as f32;
            let v: Vec<f32> = (0..dim)
                .map(|d| rand() + if d == 0 { centre } else { 0.0 })
                .collect();
            let (face, subject) = (format!("f{i}"), format!("s{}", i % 400));
            assert!(ix.insert(&face, &subject, &v));
            all.push((face, subject, unit(&v)));
        }
        for i in (0..3000).step_by(5) {
            assert!(ix.remove(&format!("f{i}")));
        }
        all.retain(|(f, _, _)| f[1..].parse::<usize>().unwrap() % 5 != 0);
        assert_eq!(ix.len(), all.len());
        for q in 0..20 {
            let query: Vec<f32> = (0..dim)
                .map(|d| rand() + if d == 0 { (q % 7) as f32 } else { 0.0 })
                .collect();
            let qn = unit(&query);
            let mut best: HashMap<&str, (f64, &str)> = HashMap::new();
            for (f, s, v) in &all {
                let d = v
                    .iter()
                    .zip(&qn)
                    .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
                    .sum::<f64>()
                    .sqrt();
                let e = best.entry(s).or_insert((f64::MAX, f));
                if d < e.0 {
                    *e = (d, f);
                }
            }
            let mut want: Vec<(&str, f64, &str)> = best
                .into_iter()
                .filter(|(_, (d, _))| *d <= 0.3)
                .map(|(s, (d, f))| (s, d, f))
                .collect();
            want.sort_by(|a, b| a.1.total_cmp(&b.1));
            let got = ix.search(&query, 1000, 0.3);
            assert_eq!(got.len(), want.len(), "query {q}");
            for (g, w) in got.iter().zip(&want) {
                assert!((g.distance as f64 - w.1).abs() < 1e-4, "{g:?} vs {w:?}");
                // Equal distances may order differently; a different subject must tie.
                if g.subject_id != w.0 {
                    assert!((g.distance as f64 - w.1).abs() < 1e-5);
                } else {
                    assert_eq!(g.face_id, w.2);
                }
            }
        }
    }

    #[test]
    fn refuses_wrong_length_and_zero_vectors() {
        let mut ix = Index::new(2);
        assert!(!ix.insert("a", "s", &[1.0]));
        assert!(!ix.insert("a", "s", &[0.0, 0.0]));
        assert!(!ix.insert("a", "s", &[f32::NAN, 1.0]));
        assert!(ix.is_empty());
        assert!(ix.search(&[1.0], 5, 2.0).is_empty());
    }
}
