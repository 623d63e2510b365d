use std::path::PathBuf;

/// Everything the pipeline can refuse, each with a stable machine code (see [`Error::code`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot read file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a readable image: {reason}")]
    Decode { path: PathBuf, reason: String },
    #[error(
        "{path}: image is {width}x{height} = {pixels} pixels, over the limit of {limit} pixels"
    )]
    TooLarge {
        path: PathBuf,
        width: u64,
        height: u64,
        pixels: u64,
        limit: u64,
    },
    #[error("{path}: image is {width}x{height}, too small to hold a face")]
    TooSmall {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    #[error("model package {dir}: {reason}")]
    Package { dir: PathBuf, reason: String },
    #[error("{path}: SHA-256 is {actual}, the manifest expects {expected}; the file was changed or corrupted, run `facenet models fetch` again")]
    Integrity {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("the inference queue is full; retry shortly")]
    Busy,
}

impl Error {
    /// Stable code for JSON error objects and HTTP error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "unreadable_file",
            Error::Decode { .. } => "invalid_image",
            Error::TooLarge { .. } => "image_too_large",
            Error::TooSmall { .. } => "image_too_small",
            Error::Package { .. } => "model_package",
            Error::Integrity { .. } => "model_integrity",
            Error::Runtime(_) => "runtime",
            Error::Invalid(_) => "invalid_argument",
            Error::Busy => "queue_full",
        }
    }

    /// True when the caller's input, not the installation, is at fault.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Error::Io { .. }
                | Error::Decode { .. }
                | Error::TooLarge { .. }
                | Error::TooSmall { .. }
        )
    }
}

impl From<ort::Error> for Error {
    fn from(e: ort::Error) -> Self {
        Error::Runtime(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
