//! The core crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in `seedstream-core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input (job file, sources, seed examples) is invalid; exit code 2.
    #[error("{file}: {field}: {problem}")]
    BadInput {
        /// The file at fault.
        file: PathBuf,
        /// The field, line or key within it.
        field: String,
        /// What was expected and what was found.
        problem: String,
    },
    /// An I/O failure outside the user's input.
    #[error("{path}: {source}")]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The embedded state store failed.
    #[error("state store: {0}")]
    State(String),
    /// A model endpoint failed after every retry.
    #[error("endpoint: {0}")]
    Endpoint(String),
    /// The bus was closed or failed.
    #[error("bus: {0}")]
    Bus(String),
    /// A message names a job this deployment does not have (another deployment's, or
    /// one whose state expired): skipped, not fatal.
    #[error("unknown job {0}")]
    UnknownJob(String),
    /// Work was cancelled (shutdown).
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// Shorthand for [`Error::BadInput`].
    pub fn bad_input(
        file: impl Into<PathBuf>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Error::BadInput {
            file: file.into(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with the core error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
