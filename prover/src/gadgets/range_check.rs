//! Range checks through one shared lookup table.
//!
//! The table has two columns `(tag, value)` holding the padding row `(0, 0)` and, for the `t`-th
//! [`RangeKind`] `R` the circuit uses (counting from 1), the rows `(t, v)` for each `v` in `R`. Each of the
//! `L` lookup columns `value_j` has a fixed companion `tag_j`, and every row satisfies
//!
//! ```text
//!     (tag_j, value_j) ∈ table            for j in 0..L (no selector: unused rows are (0, 0))
//! ```
//!
//! Checking that a cell `x` lies in `R` takes one slot: `value_j = x` (a copy constraint to `x`'s
//! cell) and `tag_j = t` (fixed, so the prover cannot choose the range). Tags are never 0, so a
//! slot with a non-zero tag cannot match the padding row.

use halo2_proofs::circuit::{Cell, Layouter, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Fixed, TableColumn};
use halo2_proofs::poly::Rotation;

use super::{fe, witness, Num};
use crate::range::RangeKind;

/// Columns of the range checker.
#[derive(Clone, Debug)]
pub struct RangeCheckConfig {
    values: Vec<Column<Advice>>,
    tags: Vec<Column<Fixed>>,
    table_tag: TableColumn,
    table_value: TableColumn,
}

impl RangeCheckConfig {
    /// Creates `lookup_columns` lookup columns and the table.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, lookup_columns: usize) -> Self {
        let table_tag = meta.lookup_table_column();
        let table_value = meta.lookup_table_column();
        let mut values = vec![];
        let mut tags = vec![];
        for _ in 0..lookup_columns {
            let value = meta.advice_column();
            meta.enable_equality(value);
            let tag = meta.fixed_column();
            meta.lookup("range check", |m| {
                vec![
                    (m.query_fixed(tag, Rotation::cur()), table_tag),
                    (m.query_advice(value, Rotation::cur()), table_value),
                ]
            });
            values.push(value);
            tags.push(tag);
        }
        RangeCheckConfig { values, tags, table_tag, table_value }
    }

    /// Rows the table needs for `kinds` (padding row included).
    pub fn table_rows(kinds: &[RangeKind]) -> usize {
        1 + kinds.iter().map(RangeKind::size).sum::<usize>()
    }
}

/// Assigns range checks into the next free slots, filling the lookup columns row by row.
#[derive(Clone, Debug)]
pub struct RangeCheckChip {
    config: RangeCheckConfig,
    kinds: Vec<RangeKind>,
    next_slot: usize,
}

impl RangeCheckChip {
    /// A chip checking the ranges `kinds` (the table's segments, in order), whose first slot is
    /// row 0 of the first lookup column.
    pub fn new(config: RangeCheckConfig, kinds: Vec<RangeKind>) -> Self {
        RangeCheckChip { config, kinds, next_slot: 0 }
    }

    /// The table tag of `kind`; an error if the table does not hold it (a layout bug, which must
    /// fail rather than skip the check).
    fn tag(&self, kind: RangeKind) -> Result<Fr, Error> {
        let index = self.kinds.iter().position(|k| *k == kind).ok_or(Error::Synthesis)?;
        Ok(Fr::from(index as u64 + 1))
    }

    /// Rows of the lookup columns used so far.
    pub fn rows_used(&self) -> usize {
        self.next_slot.div_ceil(self.config.values.len())
    }

    /// Range checks assigned so far.
    pub fn slots_used(&self) -> usize {
        self.next_slot
    }

    /// Rows needed for `checks` range checks with `lookup_columns` columns.
    pub fn rows_for(checks: usize, lookup_columns: usize) -> usize {
        checks.div_ceil(lookup_columns)
    }

    /// Constrains `num` to lie in `kind`.
    pub fn check(&mut self, region: &mut Region<'_, Fr>, num: &Num, kind: RangeKind) -> Result<(), Error> {
        self.check_cell(region, num.cell, witness(num.value), kind)
    }

    /// Puts `value` in the next slot with `kind`'s tag and copy-constrains it to `cell`. Only
    /// tests pass a value other than the cell's own, to show the copy constraint catches it.
    pub(crate) fn check_cell(&mut self, region: &mut Region<'_, Fr>, cell: Cell, value: Value<Fr>, kind: RangeKind) -> Result<(), Error> {
        let tag = self.tag(kind)?;
        let lanes = self.config.values.len();
        let (col, row) = (self.next_slot % lanes, self.next_slot / lanes);
        self.next_slot += 1;
        let slot = region.assign_advice(self.config.values[col], row, value).cell();
        region.assign_fixed(self.config.tags[col], row, tag);
        region.constrain_equal(cell, slot);
        Ok(())
    }

    /// Fills the table with the padding row and the rows of every declared range.
    pub fn load_table(&self, layouter: &mut impl Layouter<Fr>) -> Result<(), Error> {
        let kinds = &self.kinds;
        let (tag_col, value_col) = (self.config.table_tag, self.config.table_value);
        layouter.assign_table(
            || "range table",
            |mut table| {
                table.assign_cell(|| "pad tag", tag_col, 0, || Value::known(Fr::zero()))?;
                table.assign_cell(|| "pad value", value_col, 0, || Value::known(Fr::zero()))?;
                let mut row = 1;
                for (index, kind) in kinds.iter().enumerate() {
                    let tag = Fr::from(index as u64 + 1);
                    for v in kind.lowest()..=kind.highest() {
                        table.assign_cell(|| "tag", tag_col, row, || Value::known(tag))?;
                        table.assign_cell(|| "value", value_col, row, || Value::known(fe(v)))?;
                        row += 1;
                    }
                }
                Ok(())
            },
        )
    }
}
