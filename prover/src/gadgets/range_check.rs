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
    offsets: Vec<Column<Fixed>>,
    table_tag: TableColumn,
    table_value: TableColumn,
}

impl RangeCheckConfig {
    /// Creates `lookup_columns` lookup columns and the table.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, lookup_columns: usize) -> Self {
        let table_tag = meta.lookup_table_column();
        let table_value = meta.lookup_table_column();
        let (mut values, mut tags, mut offsets) = (vec![], vec![], vec![]);
        for _ in 0..lookup_columns {
            let value = meta.advice_column();
            meta.enable_equality(value);
            let (tag, offset) = (meta.fixed_column(), meta.fixed_column());
            meta.lookup("range check", |m| {
                vec![
                    (m.query_fixed(tag, Rotation::cur()), table_tag),
                    (m.query_advice(value, Rotation::cur()) + m.query_fixed(offset, Rotation::cur()), table_value),
                ]
            });
            values.push(value);
            tags.push(tag);
            offsets.push(offset);
        }
        RangeCheckConfig { values, tags, offsets, table_tag, table_value }
    }

    /// The table segments for checking `kinds`: the first range of each distinct size.
    pub fn segments(kinds: &[RangeKind]) -> Vec<RangeKind> {
        let mut segments: Vec<RangeKind> = vec![];
        for kind in kinds {
            if !segments.iter().any(|s| s.size() == kind.size()) {
                segments.push(*kind);
            }
        }
        segments
    }

    /// Rows the table needs to check `kinds` (padding row included).
    pub fn table_rows(kinds: &[RangeKind]) -> usize {
        1 + Self::segments(kinds).iter().map(RangeKind::size).sum::<usize>()
    }
}

/// Assigns range checks into the next free slots, filling the lookup columns row by row.
#[derive(Clone, Debug)]
pub struct RangeCheckChip {
    config: RangeCheckConfig,
    segments: Vec<RangeKind>,
    next_slot: usize,
}

impl RangeCheckChip {
    /// A chip able to check the ranges `kinds`, whose first slot is row 0 of the first lookup
    /// column.
    pub fn new(config: RangeCheckConfig, kinds: &[RangeKind]) -> Self {
        RangeCheckChip { config, segments: RangeCheckConfig::segments(kinds), next_slot: 0 }
    }

    /// The tag and offset that check `kind`; an error if no segment has its size (a layout bug,
    /// which must fail rather than skip the check).
    fn tag_and_offset(&self, kind: RangeKind) -> Result<(Fr, Fr), Error> {
        let index = self.segments.iter().position(|s| s.size() == kind.size()).ok_or(Error::Synthesis)?;
        Ok((Fr::from(index as u64 + 1), fe(self.segments[index].lowest() - kind.lowest())))
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
        let (tag, offset) = self.tag_and_offset(kind)?;
        let lanes = self.config.values.len();
        let (col, row) = (self.next_slot % lanes, self.next_slot / lanes);
        self.next_slot += 1;
        let slot = region.assign_advice(self.config.values[col], row, value).cell();
        region.assign_fixed(self.config.tags[col], row, tag);
        region.assign_fixed(self.config.offsets[col], row, offset);
        region.constrain_equal(cell, slot);
        Ok(())
    }

    /// Fills the table with the padding row and the rows of every declared range.
    pub fn load_table(&self, layouter: &mut impl Layouter<Fr>) -> Result<(), Error> {
        let kinds = &self.segments;
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

#[cfg(test)]
mod tests {
    use crate::gadgets::test_util::{assert_rejected, assert_satisfied, load, GadgetTest};
    use crate::range::RangeKind;

    /// `[-50, 50]` has the size of the test table's `Below(101)` segment: it is checked against it
    /// with an offset of 50.
    fn check(value: i128) -> GadgetTest {
        GadgetTest::new(4, move |config, ctx| {
            let x = load(config, ctx, &[value]);
            ctx.check_range(&x[0], RangeKind::Interval(-50, 50))?;
            Ok(vec![])
        })
    }

    #[test]
    fn shifted_ranges_use_a_segment_of_their_size() {
        for v in [-50, -1, 0, 50] {
            assert_satisfied(&check(v), &[]);
        }
        for v in [-51, 51, 1000, -1000] {
            assert_rejected(&check(v), &[]);
        }
    }

    #[test]
    fn a_range_without_a_segment_is_an_error() {
        let circuit = GadgetTest::new(4, |config, ctx| {
            let x = load(config, ctx, &[3]);
            ctx.check_range(&x[0], RangeKind::Below(77))?;
            Ok(vec![])
        });
        let result = halo2_proofs::dev::MockProver::run(10, &circuit, vec![vec![]]);
        assert!(result.is_err(), "a check with no table segment must not be skipped");
    }
}
