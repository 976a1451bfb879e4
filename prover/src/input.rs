//! The input file format: `{"input_data": [[...], ...]}`, one flat row-major list of floats per
//! model input.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ProverError;

/// Parsed `INPUT.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InputFile {
    /// One flat row-major list per model input.
    pub input_data: Vec<Vec<f32>>,
}

impl InputFile {
    /// Reads `path`, refusing malformed JSON and non-finite numbers.
    pub fn load(path: &Path) -> Result<Self, ProverError> {
        let bytes = std::fs::read(path).map_err(|e| ProverError::io(path, e))?;
        let file: InputFile = serde_json::from_slice(&bytes).map_err(|e| {
            ProverError::Input(format!(
                "{} is not an input file ({e}); expected {{\"input_data\": [[x0, x1, ...]]}}",
                path.display()
            ))
        })?;
        if file.input_data.iter().flatten().any(|x| !x.is_finite()) {
            return Err(ProverError::Input(format!("{} holds a non-finite number", path.display())));
        }
        Ok(file)
    }
}
