//! The model server's lowest layer: ONNX Runtime sessions over verified model files.

use std::path::Path;
use std::sync::Mutex;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use crate::error::{Error, Result};

/// A session behind a lock: `ort` needs `&mut` to run, and one run already uses every core.
pub struct Net {
    session: Mutex<Session>,
    name: String,
}

/// A float tensor copied out of a run, with its shape.
pub struct Output {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Net {
    pub fn open(path: &Path, intra_threads: usize) -> Result<Self> {
        let env = crate::runtime::environment()?;
        let session = Session::builder(env)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| Error::Runtime(e.to_string()))?
            .with_intra_threads(intra_threads.max(1))
            .map_err(|e| Error::Runtime(e.to_string()))?
            .commit_from_file(path)
            .map_err(|e| Error::Runtime(format!("{}: {e}", path.display())))?;
        Ok(Net {
            session: Mutex::new(session),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
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
        let mut session = self
            .session
            .lock()
            .map_err(|_| Error::Runtime(format!("{}: session lock poisoned", self.name)))?;
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
