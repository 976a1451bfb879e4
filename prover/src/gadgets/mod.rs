//! halo2 chips, one gadget a file, in the halo2_gadgets style: a `Config` made once in
//! `configure` (columns, selectors, the gate whose constraint the doc comment writes out) and a
//! `Chip` that assigns witnesses into the model's single region.
//!
//! All chips share one set of advice and fixed columns ([`Columns`]) and lay their rows out one
//! after another through a [`RegionCtx`]; range checks go to the dedicated lookup columns of
//! [`range_check::RangeCheckChip`]. Chips never compute the integers they prove: callers pass the
//! witness computed by [`crate::arith`], so the circuit and the reference forward pass share one
//! semantics, and tests can pass tampered witnesses to show the constraints reject them.

pub mod add;
pub mod clamp;
pub mod constant;
pub mod divide;
pub mod freivalds;
pub mod dot_activations;
pub mod dot_weights;
pub mod matvec;
pub mod max;
pub mod params;
pub mod poseidon;
pub mod product;
pub mod range_check;
pub mod relu;
pub mod rescale;
pub mod rescale_activation;
pub mod set;
pub mod sqrt;

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Fixed};

use crate::field::witness;
use range_check::RangeCheckChip;

/// The advice and fixed columns every chip lays its rows on. Advice columns take part in the
/// permutation (any cell can be copied); fixed columns hold weights and per-row constants.
#[derive(Clone, Debug)]
pub struct Columns {
    /// `width` advice columns.
    pub advice: Vec<Column<Advice>>,
    /// `width` fixed columns.
    pub fixed: Vec<Column<Fixed>>,
}

impl Columns {
    /// Creates `width` advice and `width` fixed columns, advice with equality enabled.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, width: usize) -> Self {
        let advice: Vec<_> = (0..width).map(|_| meta.advice_column()).collect();
        for &a in &advice {
            meta.enable_equality(a);
        }
        let fixed = (0..width).map(|_| meta.fixed_column()).collect();
        Columns { advice, fixed }
    }

    /// Number of advice (and fixed) columns.
    pub fn width(&self) -> usize {
        self.advice.len()
    }
}

/// An integer assigned in the circuit: its cell and, when proving, its value.
#[derive(Clone, Copy, Debug)]
pub struct Num {
    /// Where it lives (for copy constraints).
    pub cell: Cell,
    /// Its integer value; `None` during key generation.
    pub value: Option<i128>,
}

/// The single region the model is laid out in, with the next free main row and the range
/// checker that receives every range-checked value.
pub struct RegionCtx<'a, 'r> {
    /// The region (rows are absolute: the region starts at row 0).
    pub region: &'a mut Region<'r, Fr>,
    /// Next unused row of the main columns.
    pub row: usize,
    /// Where range checks are recorded.
    pub range: &'a mut RangeCheckChip,
}

impl RegionCtx<'_, '_> {
    /// Assigns `value` to `advice[col]` at `row` and returns it as a [`Num`].
    pub fn assign(&mut self, col: Column<Advice>, row: usize, value: Option<i128>) -> Num {
        let cell = assign_advice(self.region, col, row, witness(value));
        Num { cell, value }
    }

    /// Copies `from` into `advice[col]` at `row`, constraining the two cells equal.
    pub fn copy(&mut self, from: &Num, col: Column<Advice>, row: usize) -> Num {
        let copied = self.assign(col, row, from.value);
        self.region.constrain_equal(from.cell, copied.cell);
        copied
    }

    /// Zeroes the unused lanes of the last row of a packed layout: `count` items of
    /// `cells_per_item` consecutive advice cells, `lanes` items a row, starting at row `start`.
    /// Every packed gate holds on all-zero lanes, and no other cell refers to them.
    ///
    /// These cells are free: only a gate of their own lane reads them, and nothing reads that
    /// lane's result (no copy, no sum over lanes). A gate that sums over lanes must not use this:
    /// its unused lanes must be forced to zero (see [`dot_activations`]).
    pub fn pad_packed(&mut self, cols: &[Column<Advice>], start: usize, count: usize, lanes: usize, cells_per_item: usize) {
        let used = count % lanes;
        if used != 0 {
            let row = start + count / lanes;
            for &col in &cols[cells_per_item * used..cells_per_item * lanes] {
                self.assign_free_zero(col, row);
            }
        }
    }

    /// Assigns 0 to a cell that is free by design: no constraint pins it, and no value depends
    /// on it (an unused lane of a per-lane gate whose result nothing reads, a factor of a fixed
    /// zero weight, the clamp flag of a value that was not clamped). Callers state in a comment
    /// why it is harmless; the cell-mutation tests (`test_util::assert_no_free_cells`) accept a
    /// change of such a cell, and of no other.
    pub fn assign_free_zero(&mut self, col: Column<Advice>, row: usize) -> Num {
        #[cfg(test)]
        test_util::next_cell_is_free();
        self.assign(col, row, Some(0))
    }

    /// Claims `rows` main rows, returning the first.
    pub fn take_rows(&mut self, rows: usize) -> usize {
        let start = self.row;
        self.row += rows;
        start
    }
}

/// Assigns `value` to `col` at `row` and returns the cell: every advice cell a chip fills goes
/// through here, so that tests can perturb any one of them ([`test_util::assert_no_free_cells`]).
pub(crate) fn assign_advice(region: &mut Region<'_, Fr>, col: Column<Advice>, row: usize, value: Value<Fr>) -> Cell {
    #[cfg(test)]
    let value = test_util::perturbed(col, row, value);
    region.assign_advice(col, row, value).cell()
}

/// Maps a halo2 synthesis error into a plain one (chips only fail on layout bugs).
pub(crate) fn enable(sel: &halo2_proofs::plonk::Selector, region: &mut Region<'_, Fr>, row: usize) -> Result<(), Error> {
    sel.enable(region, row)
}

#[cfg(test)]
pub(crate) mod test_util;

impl RegionCtx<'_, '_> {
    /// Constrains `num` to lie in `kind` (see [`RangeCheckChip`]).
    pub fn check_range(&mut self, num: &Num, kind: crate::range::RangeKind) -> Result<(), Error> {
        self.range.check(self.region, num, kind)
    }
}

/// Lays out `count` items of `cells` consecutive advice cells each, `⌊W / cells⌋` items to a row
/// starting at a fresh row, with `q` enabled on every row used. `item(ctx, row, base, i)` assigns
/// item `i` into columns `base..base + cells` of `row`. The unused lanes of the last row are
/// zeroed, so every packed gate must hold on all-zero cells (with the fixed cells there unset).
pub fn packed<T>(
    ctx: &mut RegionCtx<'_, '_>,
    cols: &Columns,
    q: &halo2_proofs::plonk::Selector,
    count: usize,
    cells: usize,
    mut item: impl FnMut(&mut RegionCtx<'_, '_>, usize, usize, usize) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    let lanes = cols.width() / cells;
    let start = ctx.take_rows(count.div_ceil(lanes));
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let (row, j) = (start + i / lanes, i % lanes);
        if j == 0 {
            enable(q, ctx.region, row)?;
        }
        out.push(item(ctx, row, cells * j, i)?);
    }
    ctx.pad_packed(&cols.advice, start, count, lanes, cells);
    Ok(out)
}

/// Rows [`packed`] takes for `count` items of `cells` cells in `width` columns.
pub fn packed_rows(count: usize, cells: usize, width: usize) -> usize {
    count.div_ceil(width / cells)
}
