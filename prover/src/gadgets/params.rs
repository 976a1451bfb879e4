//! The model's parameters as witness cells, for `hashed` and `private` parameter visibility.
//!
//! The area is a constant-one cell (from [`super::constant`]) followed by every parameter, packed
//! `W` to a row over the advice columns. The parameters are not constrained here: each is copied
//! into the products that use it (a bias as the product `bias · 1` with the constant cell), and,
//! when hashed, into the Poseidon commitment, so every use is bound to the one committed cell.

use halo2_proofs::plonk::Error;

use super::constant::{ConstantChip, ConstantConfig};
use super::{Columns, Num, RegionCtx};

/// The assigned parameter cells.
#[derive(Clone, Debug)]
pub struct ParamCells {
    /// A cell constrained to hold 1.
    pub one: Num,
    /// Each node's parameters (empty for nodes without any), in [`crate::quantize::QOp::params`]
    /// order.
    pub per_node: Vec<Vec<Num>>,
}

impl ParamCells {
    /// Every parameter cell, node after node (the order of the params commitment).
    pub fn all(&self) -> Vec<Num> {
        self.per_node.iter().flatten().copied().collect()
    }
}

/// Rows the area takes for `count` parameters in `width` columns.
pub fn rows(count: usize, width: usize) -> usize {
    ConstantConfig::rows(1) + count.div_ceil(width)
}

/// Assigns the constant one and then `per_node`'s values.
pub fn assign(ctx: &mut RegionCtx<'_, '_>, cols: &Columns, constant: &ConstantConfig, per_node: &[Vec<i64>]) -> Result<ParamCells, Error> {
    let one = ConstantChip::new(constant).assign(ctx, 1)?;
    let advice = &cols.advice;
    let count: usize = per_node.iter().map(Vec::len).sum();
    let start = ctx.take_rows(count.div_ceil(advice.len()));
    let mut slot = 0;
    let mut cells = Vec::with_capacity(per_node.len());
    for values in per_node {
        let mut node_cells = Vec::with_capacity(values.len());
        for &v in values {
            node_cells.push(ctx.assign(advice[slot % advice.len()], start + slot / advice.len(), Some(v as i128)));
            slot += 1;
        }
        cells.push(node_cells);
    }
    Ok(ParamCells { one, per_node: cells })
}
