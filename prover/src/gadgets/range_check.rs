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

use crate::field::{fe, witness};
use super::Num;
use crate::arith::table::LookupTable;
use crate::range::RangeKind;

/// Columns of the range checker.
#[derive(Clone, Debug)]
pub struct RangeCheckConfig {
    values: Vec<Column<Advice>>,
    tags: Vec<Column<Fixed>>,
    offsets: Vec<Column<Fixed>>,
    fn_x: Vec<Column<Advice>>,
    fn_y: Vec<Column<Advice>>,
    fn_tags: Vec<Column<Fixed>>,
    table_tag: TableColumn,
    table_value: TableColumn,
    table_out: TableColumn,
}

impl RangeCheckConfig {
    /// Creates `lookup_columns` range-check columns, `function_columns` function-lookup column
    /// pairs, and the table.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, lookup_columns: usize, function_columns: usize) -> Self {
        let table_tag = meta.lookup_table_column();
        let table_value = meta.lookup_table_column();
        let table_out = meta.lookup_table_column();
        let (mut fn_x, mut fn_y, mut fn_tags) = (vec![], vec![], vec![]);
        for _ in 0..function_columns {
            let (x, y, tag) = (meta.advice_column(), meta.advice_column(), meta.fixed_column());
            meta.enable_equality(x);
            meta.enable_equality(y);
            meta.lookup("function", |m| {
                vec![
                    (m.query_fixed(tag, Rotation::cur()), table_tag),
                    (m.query_advice(x, Rotation::cur()), table_value),
                    (m.query_advice(y, Rotation::cur()), table_out),
                ]
            });
            fn_x.push(x);
            fn_y.push(y);
            fn_tags.push(tag);
        }
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
        RangeCheckConfig { values, tags, offsets, fn_x, fn_y, fn_tags, table_tag, table_value, table_out }
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

    /// Rows the table needs to check `kinds` and look up `functions` (padding row included).
    pub fn table_rows(kinds: &[RangeKind], functions: &[LookupTable]) -> usize {
        1 + Self::segments(kinds).iter().map(RangeKind::size).sum::<usize>() + functions.iter().map(LookupTable::size).sum::<usize>()
    }
}

/// Assigns range checks into the next free slots, filling the lookup columns row by row.
#[derive(Clone, Debug)]
pub struct RangeCheckChip {
    config: RangeCheckConfig,
    segments: Vec<RangeKind>,
    functions: Vec<LookupTable>,
    next_slot: usize,
    next_fn_slot: usize,
    /// A counting run's chip: takes slots for any range and any function, with no table behind
    /// them (the planner's dry run, which learns what the table must hold).
    counting: bool,
}

impl RangeCheckChip {
    /// A chip able to check the ranges `kinds`, whose first slot is row 0 of the first lookup
    /// column.
    pub fn new(config: RangeCheckConfig, kinds: &[RangeKind], functions: &[LookupTable]) -> Self {
        RangeCheckChip { config, segments: RangeCheckConfig::segments(kinds), functions: functions.to_vec(), next_slot: 0, next_fn_slot: 0, counting: false }
    }

    /// A chip for a counting run: slots are taken exactly as by [`RangeCheckChip::new`], but
    /// every range and function is accepted and no table is loaded. Never for a real circuit.
    pub fn counting(config: RangeCheckConfig) -> Self {
        RangeCheckChip { counting: true, ..Self::new(config, &[], &[]) }
    }

    /// Function lookups assigned so far.
    pub fn function_slots_used(&self) -> usize {
        self.next_fn_slot
    }

    /// Rows of the function columns used so far.
    pub fn function_rows_used(&self) -> usize {
        match self.config.fn_x.len() {
            0 => 0,
            lanes => self.next_fn_slot.div_ceil(lanes),
        }
    }

    /// `y = f_q(x)` for the tabulated `function` through the next function slot, with the
    /// caller's `y` (from [`LookupTable::eval`]); returns the `y` cell.
    pub fn lookup_function(&mut self, region: &mut Region<'_, Fr>, x: &Num, function: &LookupTable, y: Option<i128>) -> Result<Num, Error> {
        let index = match self.functions.iter().position(|f| f == function) {
            Some(index) => index,
            None if self.counting => {
                self.functions.push(function.clone());
                self.functions.len() - 1
            }
            None => return Err(Error::Synthesis),
        };
        let lanes = self.config.fn_x.len();
        if lanes == 0 {
            return Err(Error::Synthesis);
        }
        let (col, row) = (self.next_fn_slot % lanes, self.next_fn_slot / lanes);
        self.next_fn_slot += 1;
        let x_cell = super::assign_advice(region, self.config.fn_x[col], row, witness(x.value));
        region.constrain_equal(x.cell, x_cell);
        let y_cell = super::assign_advice(region, self.config.fn_y[col], row, witness(y));
        region.assign_fixed(self.config.fn_tags[col], row, Fr::from((self.segments.len() + 1 + index) as u64));
        Ok(Num { cell: y_cell, value: y })
    }

    /// The tag and offset that check `kind`; an error if no segment has its size (a layout bug,
    /// which must fail rather than skip the check).
    fn tag_and_offset(&self, kind: RangeKind) -> Result<(Fr, Fr), Error> {
        if self.counting {
            return Ok((Fr::one(), Fr::zero()));
        }
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
        let slot = super::assign_advice(region, self.config.values[col], row, value);
        region.assign_fixed(self.config.tags[col], row, tag);
        region.assign_fixed(self.config.offsets[col], row, offset);
        region.constrain_equal(cell, slot);
        Ok(())
    }

    /// Fills the table with the padding row and the rows of every declared range.
    pub fn load_table(&self, layouter: &mut impl Layouter<Fr>) -> Result<(), Error> {
        let kinds = &self.segments;
        let (tag_col, value_col, out_col) = (self.config.table_tag, self.config.table_value, self.config.table_out);
        layouter.assign_table(
            || "lookup table",
            |mut table| {
                let mut row = 0;
                let mut put = |table: &mut halo2_proofs::circuit::Table<'_, Fr>, tag: Fr, value: Fr, out: Fr| -> Result<(), Error> {
                    table.assign_cell(|| "tag", tag_col, row, || Value::known(tag))?;
                    table.assign_cell(|| "value", value_col, row, || Value::known(value))?;
                    table.assign_cell(|| "out", out_col, row, || Value::known(out))?;
                    row += 1;
                    Ok(())
                };
                put(&mut table, Fr::zero(), Fr::zero(), Fr::zero())?;
                for (index, kind) in kinds.iter().enumerate() {
                    let tag = Fr::from(index as u64 + 1);
                    for v in kind.lowest()..=kind.highest() {
                        put(&mut table, tag, fe(v), Fr::zero())?;
                    }
                }
                for (index, function) in self.functions.iter().enumerate() {
                    let tag = Fr::from((kinds.len() + 1 + index) as u64);
                    for (x, y) in function.entries() {
                        put(&mut table, tag, fe(x as i128), fe(y as i128))?;
                    }
                }
                Ok(())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_rejected, load};
    use crate::arith::table::LookupTable;
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
            assert_no_free_cells(&check(v), &[]);
        }
        for v in [-51, 51, 1000, -1000] {
            assert_rejected(&check(v), &[]);
        }
    }

    fn sigmoid(x: i128, y: i128) -> GadgetTest {
        GadgetTest::new(4, move |config, ctx| {
            let cells = load(config, ctx, &[x]);
            let out = ctx.range.lookup_function(ctx.region, &cells[0], &LookupTable::Function(crate::gadgets::test_util::TEST_FUNCTION), Some(y))?;
            Ok(vec![out])
        })
    }

    #[test]
    fn function_lookups_accept_only_the_tabulated_value() {
        let table = crate::gadgets::test_util::TEST_FUNCTION;
        for x in [-64, -5, 0, 7, 64] {
            let y = table.eval(x as i64).unwrap() as i128;
            assert_no_free_cells(&sigmoid(x, y), &[y]);
            assert_rejected(&sigmoid(x, y + 1), &[y + 1]);
        }
        // Outside the domain there is no row to match, whatever the claimed output.
        assert_rejected(&sigmoid(65, 16), &[16]);
    }

    #[test]
    fn embedding_lookups_accept_only_the_stored_row() {
        let pairs = crate::gadgets::test_util::test_pairs();
        let lookup = |x: i128, y: i128| {
            let pairs = pairs.clone();
            GadgetTest::new(4, move |config, ctx| {
                let cells = load(config, ctx, &[x]);
                Ok(vec![ctx.range.lookup_function(ctx.region, &cells[0], &pairs, Some(y))?])
            })
        };
        assert_no_free_cells(&lookup(16, -7), &[-7]);
        assert_no_free_cells(&lookup(32, 40), &[40]);
        // Another row's value, an index between rows, and an index past the table.
        assert_rejected(&lookup(16, 5), &[5]);
        assert_rejected(&lookup(8, 5), &[5]);
        assert_rejected(&lookup(48, 40), &[40]);
        // The Sigmoid table's rows do not answer for the embedding's tag: sigmoid(0) = 8 at 2^4.
        assert_rejected(&lookup(0, 8), &[8]);
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
