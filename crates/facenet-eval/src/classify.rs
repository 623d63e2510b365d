//! A face classifier over embeddings: the role of the original `classifier.py`, which trains a
//! scikit-learn linear SVM with probabilities on the embeddings of a `<class>/<image>` dataset.
//!
//! Here the model is a multinomial logistic regression (`linfa-logistic`), which gives class
//! probabilities directly instead of through the SVM's Platt scaling. It is stored as plain JSON
//! ([`ClassifierModel`]): class names, one coefficient row and one intercept per class, the
//! embedding model it was trained on, and the training counts, so that a model file can be read
//! and checked by anything, and loading one validates every shape.
//!
//! [`split_dataset`] is `classifier.py`'s `split_dataset`, except that it takes the first images
//! in the order given (callers sort by name) instead of shuffling.

use std::path::Path;

use linfa::traits::Fit;
use linfa::Dataset;
use linfa_logistic::MultiLogisticRegression;
use ndarray016::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Version of the model file layout.
pub const MODEL_FORMAT: u32 = 1;
/// The only kind of model written so far.
pub const MODEL_KIND: &str = "multinomial_logistic_regression";

/// The embedding model whose embeddings a classifier was trained on; embeddings of another
/// model live in another space, so predicting with them would be meaningless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingModel {
    pub name: String,
    pub version: String,
    pub embedding_size: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub images: usize,
    /// Parallel to the model's `classes`.
    pub images_per_class: Vec<usize>,
    /// L2 regularisation weight (on the summed, not averaged, log-loss).
    pub alpha: f64,
    pub max_iterations: u64,
}

/// A trained classifier, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierModel {
    pub format: u32,
    pub kind: String,
    pub embedding_model: EmbeddingModel,
    pub classes: Vec<String>,
    /// One row of `embedding_size` weights per class.
    pub coefficients: Vec<Vec<f64>>,
    /// One per class.
    pub intercepts: Vec<f64>,
    pub training: TrainingInfo,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    pub alpha: f64,
    pub max_iterations: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        // alpha 1 on the summed loss would be scikit-learn's default C = 1. Unit-length
        // embeddings have components around 0.04, so separating them takes large weights, which
        // a strong prior shrinks, flattening the probabilities; 0.01 leaves them informative
        // (LFW, 62 people, 10 training images each: median top probability 0.97, accuracy
        // 0.999 on the other 2,403 images).
        TrainOptions {
            alpha: 0.01,
            max_iterations: 300,
        }
    }
}

/// One image's prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub class: usize,
    pub probability: f64,
}

/// Trains on `embeddings[i]` of class `labels[i]` (an index into `classes`).
pub fn train(
    embeddings: &[Vec<f32>],
    labels: &[usize],
    classes: Vec<String>,
    embedding_model: EmbeddingModel,
    options: &TrainOptions,
) -> Result<ClassifierModel> {
    if embeddings.len() != labels.len() {
        return Err(Error::Input(format!(
            "{} embeddings for {} labels",
            embeddings.len(),
            labels.len()
        )));
    }
    let dim = embedding_model.embedding_size;
    let mut counts = vec![0usize; classes.len()];
    for (i, (e, &l)) in embeddings.iter().zip(labels).enumerate() {
        if e.len() != dim {
            return Err(Error::Input(format!(
                "training embedding {i} has {} values, the model's are {dim}",
                e.len()
            )));
        }
        let Some(c) = counts.get_mut(l) else {
            return Err(Error::Input(format!(
                "training label {l} is not one of the {} classes",
                classes.len()
            )));
        };
        *c += 1;
    }
    if let Some(k) = counts.iter().position(|&c| c == 0) {
        return Err(Error::Input(format!(
            "class {:?} has no training embedding",
            classes[k]
        )));
    }
    if classes.len() < 2 {
        return Err(Error::Input(format!(
            "a classifier needs at least 2 classes, got {}",
            classes.len()
        )));
    }
    let x = Array2::from_shape_fn((embeddings.len(), dim), |(i, j)| {
        f64::from(embeddings[i][j])
    });
    let y = Array1::from_vec(labels.to_vec());
    let fitted = MultiLogisticRegression::default()
        .alpha(options.alpha)
        .max_iterations(options.max_iterations)
        .fit(&Dataset::new(x, y))
        .map_err(|e| Error::Numeric(format!("logistic regression: {e}")))?;
    // linfa keeps the classes sorted, which for indices 0.. is the order of `classes`; checked
    // rather than assumed, since the columns are only meaningful under that mapping.
    if fitted.classes() != (0..classes.len()).collect::<Vec<_>>().as_slice() {
        return Err(Error::Numeric(
            "logistic regression returned an unexpected class order".into(),
        ));
    }
    let params = fitted.params();
    let coefficients = (0..classes.len())
        .map(|k| params.column(k).to_vec())
        .collect();
    let model = ClassifierModel {
        format: MODEL_FORMAT,
        kind: MODEL_KIND.into(),
        embedding_model,
        classes,
        coefficients,
        intercepts: fitted.intercept().to_vec(),
        training: TrainingInfo {
            images: embeddings.len(),
            images_per_class: counts,
            alpha: options.alpha,
            max_iterations: options.max_iterations,
        },
    };
    model.validate()?;
    Ok(model)
}

impl ClassifierModel {
    /// Checks the invariants a model file must hold.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Input(format!("classifier model: {m}")));
        if self.format != MODEL_FORMAT {
            return bad(format!(
                "format {} (this version reads {MODEL_FORMAT})",
                self.format
            ));
        }
        if self.kind != MODEL_KIND {
            return bad(format!("kind {:?} (expected {MODEL_KIND:?})", self.kind));
        }
        let (k, dim) = (self.classes.len(), self.embedding_model.embedding_size);
        if k < 2 {
            return bad(format!("{k} classes (at least 2 needed)"));
        }
        if dim == 0 {
            return bad("embedding_size is 0".into());
        }
        let mut sorted: Vec<&String> = self.classes.iter().collect();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return bad(format!("class {:?} appears twice", w[0]));
        }
        if self.coefficients.len() != k {
            return bad(format!(
                "{} coefficient rows for {k} classes",
                self.coefficients.len()
            ));
        }
        if let Some((i, r)) = self
            .coefficients
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != dim)
        {
            return bad(format!(
                "coefficient row {i} has {} values, embedding_size is {dim}",
                r.len()
            ));
        }
        if self.intercepts.len() != k {
            return bad(format!(
                "{} intercepts for {k} classes",
                self.intercepts.len()
            ));
        }
        if self.training.images_per_class.len() != k {
            return bad(format!(
                "{} training counts for {k} classes",
                self.training.images_per_class.len()
            ));
        }
        let finite = self.coefficients.iter().flatten().chain(&self.intercepts);
        if finite.into_iter().any(|v| !v.is_finite()) {
            return bad("a coefficient or intercept is not finite".into());
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Input(e.to_string()))?;
        std::fs::write(path, json + "\n").map_err(io)
    }

    /// Reads and validates a model file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let model: ClassifierModel = serde_json::from_str(&text).map_err(|e| {
            Error::Input(format!(
                "{} is not a classifier model file: {e}",
                path.display()
            ))
        })?;
        model
            .validate()
            .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        Ok(model)
    }

    /// Class probabilities of one embedding (softmax of the linear scores).
    pub fn probabilities(&self, embedding: &[f32]) -> Result<Vec<f64>> {
        let dim = self.embedding_model.embedding_size;
        if embedding.len() != dim {
            return Err(Error::Input(format!(
                "embedding has {} values, the classifier expects {dim}",
                embedding.len()
            )));
        }
        let scores: Vec<f64> = self
            .coefficients
            .iter()
            .zip(&self.intercepts)
            .map(|(w, b)| {
                b + w
                    .iter()
                    .zip(embedding)
                    .map(|(w, x)| w * f64::from(*x))
                    .sum::<f64>()
            })
            .collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        Ok(exp.into_iter().map(|e| e / sum).collect())
    }

    /// The most probable class (the first on ties, as `np.argmax`).
    pub fn predict(&self, embedding: &[f32]) -> Result<Prediction> {
        let p = self.probabilities(embedding)?;
        let mut best = Prediction {
            class: 0,
            probability: p[0],
        };
        for (k, &q) in p.iter().enumerate().skip(1) {
            if q > best.probability {
                best = Prediction {
                    class: k,
                    probability: q,
                };
            }
        }
        Ok(best)
    }
}

/// The train and test parts of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Split<T> {
    pub train: Vec<(String, Vec<T>)>,
    pub test: Vec<(String, Vec<T>)>,
}

/// `classifier.py`'s `split_dataset`: classes with fewer than `min_per_class` items are dropped;
/// of each other class the first `train_per_class` items train and the rest test.
pub fn split_dataset<T: Clone>(
    classes: &[(String, Vec<T>)],
    min_per_class: usize,
    train_per_class: usize,
) -> Split<T> {
    let mut split = Split {
        train: Vec::new(),
        test: Vec::new(),
    };
    for (name, items) in classes.iter().filter(|(_, v)| v.len() >= min_per_class) {
        let k = train_per_class.min(items.len());
        split.train.push((name.clone(), items[..k].to_vec()));
        split.test.push((name.clone(), items[k..].to_vec()));
    }
    split
}
