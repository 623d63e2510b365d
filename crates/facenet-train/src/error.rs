use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an ONNX model: {source}")]
    Decode {
        path: PathBuf,
        source: prost::DecodeError,
    },
    /// The ONNX graph lacks something the network needs, or has it in another shape.
    #[error("the pretrained ONNX graph does not fit Inception-ResNet-v1: {0}")]
    Graph(String),
    #[error("{path}: {reason}")]
    Data { path: PathBuf, reason: String },
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("learning-rate schedule {path}, line {line}: {reason}")]
    Schedule {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Core(#[from] facenet_core::Error),
    #[error("plot: {0}")]
    Plot(String),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
