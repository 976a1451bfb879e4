//! The model's parameters as witness cells, for `hashed` and `private` parameter visibility.
//!
//! The area starts with a cell holding the constant 1, then every parameter, packed `W` to a row
//! over the advice columns `a_0..a_{W−1}`:
//!
//! ```text
//!     q_one · (a_0 − 1) = 0        on the first row
//! ```
//!
//! The parameters themselves are not constrained here: each is copied into the products that use
//! it (biases as the product `bias · 1` with the constant cell), and, when hashed, into the
//! Poseidon commitment, so every use is bound to the one committed cell.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Selector};
use halo2_proofs::poly::Rotation;

use super::{enable, Columns, Num, RegionCtx};

/// The gate fixing the constant-one cell.
#[derive(Clone, Debug)]
pub struct ParamsConfig {
    cols: Columns,
    q_one: Selector,
}

impl ParamsConfig {
    /// Adds the gate over `cols`.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let q_one = meta.selector();
        meta.create_gate("constant one", |m| {
            let one = halo2_proofs::plonk::Expression::Constant(Fr::one());
            vec![m.query_selector(q_one) * (m.query_advice(cols.advice[0], Rotation::cur()) - one)]
        });
        ParamsConfig { cols: cols.clone(), q_one }
    }

    /// Rows the area takes for `count` parameters.
    pub fn rows(count: usize, width: usize) -> usize {
        (1 + count).div_ceil(width)
    }
}

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

/// Assigns the parameter area.
pub struct ParamsChip<'c> {
    config: &'c ParamsConfig,
}

impl<'c> ParamsChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c ParamsConfig) -> Self {
        ParamsChip { config }
    }

    /// Assigns the constant one and `per_node`'s values (`None` values at key generation when the
    /// parameters are not to be known).
    pub fn assign(&self, ctx: &mut RegionCtx<'_, '_>, per_node: &[Vec<Option<i64>>]) -> Result<ParamCells, Error> {
        let cols = &self.config.cols.advice;
        let count: usize = per_node.iter().map(Vec::len).sum();
        let start = ctx.take_rows(ParamsConfig::rows(count, cols.len()));
        enable(&self.config.q_one, ctx.region, start)?;
        let one = ctx.assign(cols[0], start, Some(1));
        let mut slot = 1;
        let mut cells = Vec::with_capacity(per_node.len());
        for values in per_node {
            let mut node_cells = Vec::with_capacity(values.len());
            for v in values {
                node_cells.push(ctx.assign(cols[slot % cols.len()], start + slot / cols.len(), v.map(i128::from)));
                slot += 1;
            }
            cells.push(node_cells);
        }
        Ok(ParamCells { one, per_node: cells })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::dot_activations::DotActivationsChip;
    use crate::gadgets::test_util::{assert_rejected, assert_satisfied, GadgetTest};

    /// A circuit that assigns the parameter area with `one` in place of the constant and uses it
    /// to add a bias of 5 to 0: the output is `5 · one`.
    fn biased(one_value: i128) -> GadgetTest {
        GadgetTest::new(4, move |config, ctx| {
            let cells = ParamsChip::new(config.params.as_ref().expect("params area configured")).assign(ctx, &[vec![Some(5)]])?;
            // Tamper with the constant after the fact: overwrite the cell's value.
            let one = if one_value == 1 { cells.one } else { ctx.assign(config.columns.advice[0], cells.one.cell.row_offset, Some(one_value)) };
            let acc = DotActivationsChip::new(&config.dot_activations).assign(ctx, &[cells.per_node[0][0]], &[one], Some(5 * one_value))?;
            Ok(vec![acc])
        })
    }

    #[test]
    fn constant_one_holds() {
        assert_satisfied(&biased(1), &[5]);
    }

    #[test]
    fn another_constant_fails() {
        assert_rejected(&biased(2), &[10]);
    }
}
