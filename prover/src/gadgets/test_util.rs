//! A test circuit that runs one chip on chosen (possibly tampered) witnesses under MockProver.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Error};

use super::range_check::RangeCheckChip;
use crate::field::fe;
use super::{Num, RegionCtx};
use super::set::{GadgetSet, ModelConfig, ShapeParams};
use crate::arith::table::{Function, FunctionTable, LookupTable};
use crate::range::RangeKind;

/// Ranges the test table holds: remainders of /16 and /9, 8-bit signed activations, 7-bit ReLU
/// halves, and [0, 100] for clamps.
pub const TEST_RANGES: [RangeKind; 5] =
    [RangeKind::Below(16), RangeKind::Below(9), RangeKind::Unsigned(7), RangeKind::Signed(8), RangeKind::Below(101)];
/// The function the test table holds: sigmoid at scale 2^4 on [-64, 64].
pub const TEST_FUNCTION: FunctionTable = FunctionTable { function: Function::Sigmoid, lo: -64, hi: 64, scale_bits: 4 };
/// An embedding column the test table holds: index `v·16` → `TEST_PAIRS[v]`.
pub fn test_pairs() -> LookupTable {
    LookupTable::Pairs(vec![(0, 5), (16, -7), (32, 40)])
}
const K: u32 = 10;

type Body = dyn Fn(&ModelConfig, &mut RegionCtx<'_, '_>) -> Result<Vec<Num>, Error>;

/// A circuit with every chip configured, whose region is laid out by `body`; the cells `body`
/// returns are exposed as public inputs.
#[derive(Clone)]
pub struct GadgetTest {
    width: usize,
    body: Rc<Body>,
}

impl GadgetTest {
    /// A test with `width` main columns running `body`.
    pub fn new(width: usize, body: impl Fn(&ModelConfig, &mut RegionCtx<'_, '_>) -> Result<Vec<Num>, Error> + 'static) -> Self {
        GadgetTest { width, body: Rc::new(body) }
    }
}

impl Circuit<Fr> for GadgetTest {
    type Config = ModelConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ShapeParams;

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn params(&self) -> ShapeParams {
        ShapeParams { width: self.width, lookup_columns: 2, function_columns: 1, gadgets: GadgetSet::fitting(self.width) }
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, params: ShapeParams) -> ModelConfig {
        ModelConfig::configure(meta, params)
    }

    fn configure(_: &mut ConstraintSystem<Fr>) -> ModelConfig {
        unreachable!("configure_with_params is used")
    }

    fn synthesize(&self, config: ModelConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let mut range = RangeCheckChip::new(config.range.clone(), &TEST_RANGES, &[LookupTable::Function(TEST_FUNCTION), test_pairs()]);
        range.load_table(&mut layouter)?;
        let outputs = layouter.assign_region(
            || "gadget",
            |mut region| {
                start_recording();
                let mut ctx = RegionCtx { region: &mut region, row: 1, range: &mut range };
                (self.body)(&config, &mut ctx)
            },
        )?;
        for (i, out) in outputs.iter().enumerate() {
            layouter.constrain_instance(out.cell, config.instance, i);
        }
        Ok(())
    }
}

/// Assigns free (unconstrained) input cells holding `values`.
pub fn load(config: &ModelConfig, ctx: &mut RegionCtx<'_, '_>, values: &[i128]) -> Vec<Num> {
    let cols = &config.columns.advice;
    let rows = values.len().div_ceil(cols.len());
    let start = ctx.take_rows(rows);
    values.iter().enumerate().map(|(i, &v)| ctx.assign(cols[i % cols.len()], start + i / cols.len(), Some(v))).collect()
}

fn run(circuit: &GadgetTest, instance: &[Fr]) -> Result<(), Vec<halo2_proofs::dev::VerifyFailure>> {
    MockProver::run(K, circuit, vec![instance.to_vec()]).expect("synthesis").verify()
}

fn ints(public: &[i128]) -> Vec<Fr> {
    public.iter().map(|&v| fe(v)).collect()
}

/// The circuit with these public outputs is satisfied.
pub fn assert_satisfied(circuit: &GadgetTest, public: &[i128]) {
    assert_satisfied_fe(circuit, &ints(public));
}

/// The circuit with these public outputs is NOT satisfied.
pub fn assert_rejected(circuit: &GadgetTest, public: &[i128]) {
    assert_rejected_fe(circuit, &ints(public));
}

/// The circuit with these public field elements is satisfied.
pub fn assert_satisfied_fe(circuit: &GadgetTest, public: &[Fr]) {
    if let Err(failures) = run(circuit, public) {
        panic!("expected a satisfied circuit, got {failures:#?}");
    }
}

/// The circuit with these public field elements is NOT satisfied.
pub fn assert_rejected_fe(circuit: &GadgetTest, public: &[Fr]) {
    assert!(run(circuit, public).is_err(), "a tampered witness was accepted");
}

/// An advice cell the layout assigned, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssignedRecord {
    /// Advice column index.
    pub column: usize,
    /// Row in the region.
    pub row: usize,
    /// Documented free: assigned through
    /// [`RegionCtx::assign_free_zero`](super::RegionCtx::assign_free_zero).
    pub free: bool,
    /// Internal to a gadget whose own search changes it (a Poseidon round): a search over a
    /// whole circuit, about the glue between gadgets, leaves it alone.
    pub internal: bool,
}

thread_local! {
    /// The advice cells of the current layout, in assignment order.
    static ASSIGNED: RefCell<Vec<AssignedRecord>> = const { RefCell::new(Vec::new()) };
    /// The cells (indices in [`ASSIGNED`]) to perturb, each with what to add to it.
    static PERTURBED: RefCell<Vec<(usize, i64)>> = const { RefCell::new(Vec::new()) };
    /// Whether the next assigned cell is documented free.
    static NEXT_FREE: Cell<bool> = const { Cell::new(false) };
    /// How many of the next assigned cells are internal to their gadget.
    static NEXT_INTERNAL: Cell<usize> = const { Cell::new(0) };
}

/// Records an advice assignment and returns its value, plus the perturbation if it is a cell to
/// perturb.
pub(super) fn perturbed(column: Column<Advice>, row: usize, value: Value<Fr>) -> Value<Fr> {
    let free = NEXT_FREE.with(|f| f.replace(false));
    let internal = NEXT_INTERNAL.with(|n| n.replace(n.get().saturating_sub(1)) > 0);
    let index = ASSIGNED.with(|cells| {
        let mut cells = cells.borrow_mut();
        cells.push(AssignedRecord { column: column.index(), row, free, internal });
        cells.len() - 1
    });
    match PERTURBED.with(|p| p.borrow().iter().find(|(i, _)| *i == index).map(|(_, d)| *d)) {
        Some(delta) => value.map(|v| v + fe(delta as i128)),
        None => value,
    }
}

/// Marks the next assigned advice cell as documented free.
pub(super) fn next_cell_is_free() {
    NEXT_FREE.with(|f| f.set(true));
}

/// Marks the next `count` assigned advice cells as internal to their gadget (see
/// [`AssignedRecord::internal`]).
pub(super) fn next_cells_are_internal(count: usize) {
    NEXT_INTERNAL.with(|n| n.set(count));
}

/// Forgets the assignments recorded so far: a circuit whose synthesis lays out more than one
/// region (a whole model) calls it once, before its first.
pub fn start_recording() {
    ASSIGNED.with(|cells| cells.borrow_mut().clear());
}

/// Whether `accepts` still holds with the cells `perturbation` names changed.
fn accepted_with(accepts: &dyn Fn() -> bool, perturbation: Vec<(usize, i64)>) -> bool {
    PERTURBED.with(|p| *p.borrow_mut() = perturbation);
    let accepted = accepts();
    PERTURBED.with(|p| p.borrow_mut().clear());
    accepted
}

/// The cell-mutation search over any circuit: `accepts()` lays it out (recording every advice
/// assignment) and says whether the verifier accepts. It must accept the honest layout; then,
/// for every cell the layout assigns that is not documented free, the same layout with that one
/// cell changed by one (nothing else re-solved) must be rejected. With `pairs`, so must every
/// pair of cells in one row changed together by (+1, −1) and by (+1, +1): the changes a gate
/// summing its row's lanes could absorb. With `skip_internal`, cells internal to a gadget whose
/// own search covers them are not changed. Returns the free cells and pairs found.
pub fn free_cells(accepts: &dyn Fn() -> bool, pairs: bool, skip_internal: bool) -> (Vec<AssignedRecord>, Vec<(AssignedRecord, AssignedRecord)>) {
    PERTURBED.with(|p| p.borrow_mut().clear());
    assert!(accepts(), "the honest layout is rejected");
    let cells = ASSIGNED.with(|cells| cells.borrow().clone());
    assert!(!cells.is_empty(), "the layout assigned no advice cell");
    let searched = |i: usize| !cells[i].free && !(skip_internal && cells[i].internal);
    let single: Vec<AssignedRecord> = (0..cells.len()).filter(|&i| searched(i) && accepted_with(accepts, vec![(i, 1)])).map(|i| cells[i]).collect();
    let mut pair_list = vec![];
    if pairs {
        let mut rows: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (i, cell) in cells.iter().enumerate() {
            rows.entry(cell.row).or_default().push(i);
        }
        for indices in rows.values() {
            for (n, &a) in indices.iter().enumerate() {
                for &b in &indices[n + 1..] {
                    if cells[a].free && cells[b].free {
                        continue;
                    }
                    if [-1, 1].iter().any(|&d| accepted_with(accepts, vec![(a, 1), (b, d)])) {
                        pair_list.push((cells[a], cells[b]));
                    }
                }
            }
        }
    }
    (single, pair_list)
}

/// The cell-mutation search ([`free_cells`]) on a gadget test: lays `circuit` out honestly (it
/// must be satisfied with the public outputs `public`), then every advice cell changed alone must
/// be rejected by MockProver. A cell whose change is accepted is free: a value no constraint pins
/// down, which a dishonest prover may fill as it likes. Only cells documented free (assigned
/// through [`RegionCtx::assign_free_zero`](super::RegionCtx::assign_free_zero), each with the
/// reason it is harmless) may be; any other fails the test, listed by column and row.
pub fn assert_no_free_cells(circuit: &GadgetTest, public: &[i128]) {
    assert_no_free_cells_fe(circuit, &ints(public));
}

/// [`assert_no_free_cells`] with public field elements.
pub fn assert_no_free_cells_fe(circuit: &GadgetTest, instance: &[Fr]) {
    assert_no_free_cells_among(circuit, instance, false);
}

/// [`assert_no_free_cells_fe`], leaving alone the cells marked internal to their gadget (those
/// its own honest-layout search covers): for a variant of a gadget that changes only its glue.
pub fn assert_no_free_glue_cells_fe(circuit: &GadgetTest, instance: &[Fr]) {
    assert_no_free_cells_among(circuit, instance, true);
}

fn assert_no_free_cells_among(circuit: &GadgetTest, instance: &[Fr], skip_internal: bool) {
    assert_satisfied_fe(circuit, instance);
    let (free, _) = free_cells(&|| run(circuit, instance).is_ok(), false, skip_internal);
    assert!(free.is_empty(), "{} cells are free (advice column, row): {:?}", free.len(), free.iter().map(|c| (c.column, c.row)).collect::<Vec<_>>());
}

/// [`assert_no_free_cells`], and no two cells of one row may change together either: for
/// gadgets that sum the lanes of a row.
pub fn assert_no_free_pairs(circuit: &GadgetTest, public: &[i128]) {
    let instance = ints(public);
    assert_satisfied_fe(circuit, &instance);
    let (free, pairs) = free_cells(&|| run(circuit, &instance).is_ok(), true, false);
    assert!(free.is_empty(), "{} cells are free (advice column, row): {:?}", free.len(), free.iter().map(|c| (c.column, c.row)).collect::<Vec<_>>());
    assert!(pairs.is_empty(), "{} pairs of cells change together unnoticed: {:?}", pairs.len(), pairs.iter().map(|(a, b)| ((a.column, a.row), (b.column, b.row))).collect::<Vec<_>>());
}
