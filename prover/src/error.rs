//! The one error type of the prover crate.

use std::path::Path;

/// Everything that can go wrong between reading a model and verifying its proof. Each message is
/// meant to be shown to a user as is: it says what failed and, where it can, what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProverError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// The model file is not a model we can read.
    #[error("cannot read model: {0}")]
    Model(String),
    /// The model uses an operator, attribute or data type that is not supported (yet).
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// Tensor shapes do not fit together (a malformed model or a wrong input).
    #[error("shape error: {0}")]
    Shape(String),
    /// The input file is malformed or does not match the model.
    #[error("bad input: {0}")]
    Input(String),
    /// A value leaves the range the circuit was compiled for.
    #[error("value out of range: {0}")]
    Range(String),
    /// An SRS file is missing, corrupt or of the wrong size.
    /// A step would exceed the memory budget (`--max-memory`), refused before it starts.
    #[error("over the memory budget: {0}")]
    Memory(String),
    #[error("SRS: {0}")]
    Srs(String),
    /// A key, proof or model artifact is corrupt or belongs to another model / SRS.
    #[error("artifact: {0}")]
    Artifact(String),
    /// halo2 refused to synthesize, prove or verify.
    #[error("proof system: {0}")]
    Plonk(String),
}

impl ProverError {
    /// An I/O error about `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        ProverError::Io { path: path.as_ref().display().to_string(), source }
    }
}

impl From<halo2_proofs::plonk::Error> for ProverError {
    fn from(e: halo2_proofs::plonk::Error) -> Self {
        ProverError::Plonk(format!("{e:?}"))
    }
}
