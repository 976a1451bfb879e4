//! Operator semantics, one file per family. Each operator has a float reference (for import checks
//! and quantization error reports) and, where it computes anything, an integer semantics that is
//! the ONLY definition of what the circuit proves: the quantized forward pass and the circuit's
//! witness generation both call these functions.

pub mod arith;
pub mod conv;
pub mod elementwise;
pub mod linear;
pub mod nonlinear;
pub mod reduce;
pub mod rescale;

use crate::error::ProverError;

/// Output shape of an embedding lookup: the indices' shape, then the table's row shape.
pub fn embedding_shape(indices: &[usize], table: &[usize]) -> Result<Vec<usize>, ProverError> {
    if table.len() < 2 || table[0] == 0 {
        return Err(ProverError::Shape(format!("an embedding table of shape {table:?} (expected [V, ..] with V ≥ 1)")));
    }
    Ok(indices.iter().chain(&table[1..]).copied().collect())
}

/// Checks that `picks` fills `declared` and only names existing operand elements.
pub fn check_picks(picks: &[(usize, usize)], inputs: &[&[usize]], declared: &[usize]) -> Result<(), ProverError> {
    if picks.len() != declared.iter().product::<usize>() {
        return Err(ProverError::Shape(format!("{} picked values for shape {declared:?}", picks.len())));
    }
    if let Some(&(o, i)) = picks.iter().find(|&&(o, i)| inputs.get(o).is_none_or(|s| i >= s.iter().product::<usize>())) {
        return Err(ProverError::Shape(format!("picks element {i} of operand {o}, which does not exist")));
    }
    Ok(())
}

