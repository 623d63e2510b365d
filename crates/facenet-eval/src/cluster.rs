//! Grouping face embeddings by person, and scoring a grouping against known identities.
//!
//! Both algorithms work on a sparse neighbour graph: an edge joins two faces whose L2 distance is
//! at most the threshold. [`NeighbourGraph::build`] finds the edges by streaming over all pairs
//! with a dot product of unit vectors (for those, `|a - b|² = 2 - 2 a·b`), keeping only the edges
//! and never an n×n matrix, so 10,000 photos need the embeddings plus the edges, not 400 MB of
//! distances.
//!
//! * [`chinese_whispers`] is dlib's `chinese_whispers` as its face-clustering example uses it:
//!   unit edge weights, each face its own neighbour, `100 × n` updates of randomly drawn faces to
//!   the label with the largest summed weight among its neighbours (the smallest label on ties).
//!   A fixed seed makes it deterministic.
//! * [`dbscan`] is scikit-learn's DBSCAN with `metric='precomputed'` over the same radius: a face
//!   is a core point when it has at least `min_samples` neighbours counting itself.
//!
//! [`bcubed`] scores a clustering against the true identities (Bagga & Baldwin's BCubed
//! precision and recall, averaged over items).

use std::collections::HashMap;

use crate::{Error, Result};

/// Embeddings whose every pair within a distance is an edge; compressed sparse rows.
#[derive(Debug, Clone, PartialEq)]
pub struct NeighbourGraph {
    /// `offsets[i]..offsets[i + 1]` indexes node `i`'s neighbours in `neighbours`.
    offsets: Vec<usize>,
    /// Neighbours of each node, ascending, without the node itself.
    neighbours: Vec<u32>,
}

impl NeighbourGraph {
    /// Joins every pair of embeddings at L2 distance `<= threshold` after normalising each to
    /// unit length. Uses up to `threads` threads (0: one per core).
    pub fn build(embeddings: &[Vec<f32>], threshold: f32, threads: usize) -> Result<Self> {
        if !(threshold.is_finite() && threshold >= 0.0) {
            return Err(Error::Input(format!(
                "the clustering threshold must be a finite distance >= 0, got {threshold}"
            )));
        }
        let n = embeddings.len();
        if u32::try_from(n).is_err() {
            return Err(Error::Input(format!(
                "{n} embeddings are too many to cluster"
            )));
        }
        let dim = embeddings.first().map_or(0, Vec::len);
        let mut unit = Vec::with_capacity(n * dim);
        for (i, e) in embeddings.iter().enumerate() {
            if e.len() != dim {
                return Err(Error::Input(format!(
                    "embedding {i} has {} values, embedding 0 has {dim}",
                    e.len()
                )));
            }
            let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt();
            if !norm.is_finite() || norm == 0.0 {
                return Err(Error::Input(format!("embedding {i} is zero or not finite")));
            }
            unit.extend(e.iter().map(|x| x / norm));
        }
        // d <= t  <=>  2 - 2 a.b <= t²  <=>  a.b >= 1 - t²/2; comparing the dot product spares a
        // square root per pair.
        let min_dot = 1.0 - threshold * threshold / 2.0;
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            threads
        }
        .min(n.max(1));
        // Rows are dealt round-robin so that every thread gets short and long rows of the upper
        // triangle alike.
        let upper: Vec<Vec<(u32, Vec<u32>)>> = std::thread::scope(|s| {
            let unit = &unit;
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        let mut rows = Vec::new();
                        for i in (t..n).step_by(threads) {
                            let a = &unit[i * dim..(i + 1) * dim];
                            let near: Vec<u32> = (i + 1..n)
                                .filter(|&j| dot(a, &unit[j * dim..(j + 1) * dim]) >= min_dot)
                                .map(|j| j as u32)
                                .collect();
                            if !near.is_empty() {
                                rows.push((i as u32, near));
                            }
                        }
                        rows
                    })
                })
                .collect();
            // A lost worker would silently drop edges, so its panic fails the build.
            handles
                .into_iter()
                .map(|h| h.join())
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .map_err(|_| Error::Numeric("a neighbour-graph worker panicked".into()))?;
        let mut degree = vec![0usize; n];
        for (i, near) in upper.iter().flatten() {
            degree[*i as usize] += near.len();
            for &j in near {
                degree[j as usize] += 1;
            }
        }
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        for d in &degree {
            offsets.push(offsets[offsets.len() - 1] + d);
        }
        let mut fill = offsets[..n].to_vec();
        let mut neighbours = vec![0u32; offsets[n]];
        for (i, near) in upper.iter().flatten() {
            for &j in near {
                neighbours[fill[*i as usize]] = j;
                fill[*i as usize] += 1;
                neighbours[fill[j as usize]] = *i;
                fill[j as usize] += 1;
            }
        }
        for i in 0..n {
            neighbours[offsets[i]..offsets[i + 1]].sort_unstable();
        }
        Ok(NeighbourGraph {
            offsets,
            neighbours,
        })
    }

    /// A graph from explicit undirected edges (for tests and callers with their own distances).
    pub fn from_edges(n: usize, edges: &[(usize, usize)]) -> Result<Self> {
        let mut adj: Vec<Vec<u32>> = vec![Vec::new(); n];
        for &(a, b) in edges {
            if a >= n || b >= n {
                return Err(Error::Input(format!("edge ({a}, {b}) outside {n} nodes")));
            }
            if a != b {
                adj[a].push(b as u32);
                adj[b].push(a as u32);
            }
        }
        let mut offsets = vec![0];
        let mut neighbours = Vec::new();
        for mut a in adj {
            a.sort_unstable();
            a.dedup();
            neighbours.extend(a);
            offsets.push(neighbours.len());
        }
        Ok(NeighbourGraph {
            offsets,
            neighbours,
        })
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Undirected edges, each counted once.
    pub fn edges(&self) -> usize {
        self.neighbours.len() / 2
    }

    /// Node `i`'s neighbours, ascending, without `i`.
    pub fn neighbours(&self, i: usize) -> &[u32] {
        &self.neighbours[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Bytes held by the graph.
    pub fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * std::mem::size_of::<usize>()
            + self.neighbours.capacity() * std::mem::size_of::<u32>()
    }
}

/// Eight independent partial sums let the compiler vectorise the loop.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// dlib's default: `100 × n` node updates.
pub const CHINESE_WHISPERS_ITERATIONS: usize = 100;

/// Cluster label of each node, numbered 0.. by first appearance.
pub fn chinese_whispers(graph: &NeighbourGraph, iterations: usize, seed: u64) -> Vec<usize> {
    let n = graph.len();
    let mut labels: Vec<usize> = (0..n).collect();
    if n == 0 {
        return labels;
    }
    let mut rng = SplitMix64(seed);
    let mut score: HashMap<usize, f64> = HashMap::new();
    for _ in 0..n.saturating_mul(iterations) {
        let i = rng.below(n);
        let nb = graph.neighbours(i);
        if nb.is_empty() {
            continue;
        }
        score.clear();
        // The node is its own neighbour, as the self-edges in dlib's face example make it.
        *score.entry(labels[i]).or_default() += 1.0;
        for &j in nb {
            *score.entry(labels[j as usize]).or_default() += 1.0;
        }
        let mut best = (labels[i], f64::NEG_INFINITY);
        for (&l, &s) in &score {
            if s > best.1 || (s == best.1 && l < best.0) {
                best = (l, s);
            }
        }
        labels[i] = best.0;
    }
    renumber(labels.into_iter().map(Some).collect())
        .into_iter()
        .flatten()
        .collect()
}

/// DBSCAN over the graph's radius: `Some(cluster)` per node, `None` for noise. A node is a core
/// point when it has at least `min_samples` neighbours counting itself (scikit-learn's rule), so
/// `min_samples <= 1` gives the connected components.
pub fn dbscan(graph: &NeighbourGraph, min_samples: usize) -> Vec<Option<usize>> {
    let n = graph.len();
    let core: Vec<bool> = (0..n)
        .map(|i| graph.neighbours(i).len() + 1 >= min_samples)
        .collect();
    let mut labels: Vec<Option<usize>> = vec![None; n];
    let mut next = 0;
    let mut stack = Vec::new();
    for start in 0..n {
        if labels[start].is_some() || !core[start] {
            continue;
        }
        labels[start] = Some(next);
        stack.push(start);
        while let Some(i) = stack.pop() {
            for &j in graph.neighbours(i) {
                let j = j as usize;
                if labels[j].is_none() {
                    labels[j] = Some(next);
                    // Border points join but do not spread the cluster.
                    if core[j] {
                        stack.push(j);
                    }
                }
            }
        }
        next += 1;
    }
    labels
}

/// Renumbers labels 0.. in order of first appearance, so equal clusterings compare equal.
fn renumber(labels: Vec<Option<usize>>) -> Vec<Option<usize>> {
    let mut map = HashMap::new();
    labels
        .into_iter()
        .map(|l| {
            l.map(|l| {
                let k = map.len();
                *map.entry(l).or_insert(k)
            })
        })
        .collect()
}

/// Members of each cluster, largest first (ties: by first member); nodes labelled `None` are
/// left out.
pub fn groups(labels: &[Option<usize>]) -> Vec<Vec<usize>> {
    let mut by: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, l) in labels.iter().enumerate() {
        if let Some(l) = l {
            by.entry(*l).or_default().push(i);
        }
    }
    let mut g: Vec<Vec<usize>> = by.into_values().collect();
    g.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    g
}

/// A small deterministic generator, so that results do not depend on a crate's RNG stream.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by Lemire's multiply-shift; the bias is below 2⁻³².
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// BCubed scores of a clustering.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BCubed {
    pub precision: f64,
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f: f64,
}

/// BCubed precision and recall: for each item, the share of its cluster that has its identity
/// (precision) and the share of its identity that is in its cluster (recall), averaged over items.
/// `predicted[i]` is item i's cluster, `None` for an item left alone (it counts as a singleton).
pub fn bcubed<T: Eq + std::hash::Hash>(predicted: &[Option<usize>], truth: &[T]) -> Result<BCubed> {
    if predicted.len() != truth.len() {
        return Err(Error::Input(format!(
            "{} cluster labels for {} true labels",
            predicted.len(),
            truth.len()
        )));
    }
    let n = predicted.len();
    if n == 0 {
        return Err(Error::Input("no items to score".into()));
    }
    // Noise items get distinct clusters beyond the real ones.
    let offset = predicted.iter().flatten().max().map_or(0, |m| m + 1);
    let cluster: Vec<usize> = predicted
        .iter()
        .enumerate()
        .map(|(i, p)| p.unwrap_or(offset + i))
        .collect();
    let mut ids: HashMap<&T, usize> = HashMap::new();
    let class: Vec<usize> = truth
        .iter()
        .map(|t| {
            let k = ids.len();
            *ids.entry(t).or_insert(k)
        })
        .collect();
    let mut cluster_size: HashMap<usize, usize> = HashMap::new();
    let mut class_size: HashMap<usize, usize> = HashMap::new();
    let mut both: HashMap<(usize, usize), usize> = HashMap::new();
    for (&c, &k) in cluster.iter().zip(&class) {
        *cluster_size.entry(c).or_default() += 1;
        *class_size.entry(k).or_default() += 1;
        *both.entry((c, k)).or_default() += 1;
    }
    let (mut p, mut r) = (0.0, 0.0);
    for (&c, &k) in cluster.iter().zip(&class) {
        let same = both[&(c, k)] as f64;
        p += same / cluster_size[&c] as f64;
        r += same / class_size[&k] as f64;
    }
    let (precision, recall) = (p / n as f64, r / n as f64);
    Ok(BCubed {
        precision,
        recall,
        f: 2.0 * precision * recall / (precision + recall),
    })
}
