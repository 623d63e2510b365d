//! The model server's lowest layer: ONNX Runtime sessions over verified model files.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use crate::error::{Error, Result};

/// One or more sessions of the same model, each behind a lock because `ort` needs `&mut` to run.
/// Several copies let several threads run a small model at once; a large model that already
/// uses every core needs only one.
pub struct Net {
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    name: String,
}

/// A float tensor copied out of a run, with its shape.
pub struct Output {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Net {
    pub fn open(path: &Path, intra_threads: usize, copies: usize) -> Result<Self> {
        let env = crate::runtime::environment()?;
        let mut sessions = Vec::new();
        for _ in 0..copies.max(1) {
            let session = Session::builder(env)?
                .with_optimization_level(GraphOptimizationLevel::Level3)
                .map_err(|e| Error::Runtime(e.to_string()))?
                .with_intra_threads(intra_threads.max(1))
                .map_err(|e| Error::Runtime(e.to_string()))?
                // Spinning pool threads steal the cores that other workers' sessions need.
                .with_intra_op_spinning(false)
                .map_err(|e| Error::Runtime(e.to_string()))?
                .commit_from_file(path)
                .map_err(|e| Error::Runtime(format!("{}: {e}", path.display())))?;
            sessions.push(Mutex::new(session));
        }
        Ok(Net {
            sessions,
            next: AtomicUsize::new(0),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
    }

    /// A free session if there is one, else the next in turn (waiting for it).
    fn session(&self) -> Result<MutexGuard<'_, Session>> {
        for s in &self.sessions {
            if let Ok(guard) = s.try_lock() {
                return Ok(guard);
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sessions.len();
        self.sessions[i]
            .lock()
            .map_err(|_| Error::Runtime(format!("{}: session lock poisoned", self.name)))
    }

    /// Runs one float input and returns the named outputs, in the order asked.
    pub fn run(
        &self,
        input: &str,
        shape: &[usize],
        data: &[f32],
        outputs: &[&str],
    ) -> Result<Vec<Output>> {
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let tensor = TensorRef::from_array_view((dims, data))?;
        let mut session = self.session()?;
        let result = session.run(ort::inputs![input => tensor])?;
        outputs
            .iter()
            .map(|name| {
                let value = result.get(name).ok_or_else(|| {
                    Error::Runtime(format!("{}: model has no output {name:?}", self.name))
                })?;
                let (shape, data) = value.try_extract_tensor::<f32>()?;
                Ok(Output {
                    shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                    data: data.to_vec(),
                })
            })
            .collect()
    }
}
