//! A test circuit that runs one chip on chosen (possibly tampered) witnesses under MockProver.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Error};

use super::range_check::RangeCheckChip;
use super::{fe, Num, RegionCtx};
use crate::circuit::{GadgetSet, ModelConfig, ShapeParams};
use crate::ops::nonlinear::{Function, FunctionTable, LookupTable};
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
        ShapeParams { width: self.width, lookup_columns: 2, function_columns: 1, gadgets: GadgetSet { poseidon: self.width >= super::poseidon::MIN_WIDTH, divide: self.width >= 5, rescale_activation: self.width >= 5, ..GadgetSet::all() } }
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
                ASSIGNED.with(|cells| cells.borrow_mut().clear());
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
#[derive(Clone, Copy, Debug)]
struct AssignedRecord {
    column: usize,
    row: usize,
    /// Documented free: assigned through
    /// [`RegionCtx::assign_free_zero`](super::RegionCtx::assign_free_zero).
    free: bool,
}

thread_local! {
    /// The advice cells of the current layout, in assignment order.
    static ASSIGNED: RefCell<Vec<AssignedRecord>> = const { RefCell::new(Vec::new()) };
    /// The index (in [`ASSIGNED`]) of the cell to perturb, if any.
    static PERTURBED: Cell<Option<usize>> = const { Cell::new(None) };
    /// Whether the next assigned cell is documented free.
    static NEXT_FREE: Cell<bool> = const { Cell::new(false) };
}

/// Records an advice assignment and returns its value, plus one if it is the cell to perturb.
pub(super) fn perturbed(column: Column<Advice>, row: usize, value: Value<Fr>) -> Value<Fr> {
    let free = NEXT_FREE.with(|f| f.replace(false));
    let index = ASSIGNED.with(|cells| {
        let mut cells = cells.borrow_mut();
        cells.push(AssignedRecord { column: column.index(), row, free });
        cells.len() - 1
    });
    if PERTURBED.with(Cell::get) == Some(index) {
        value.map(|v| v + Fr::one())
    } else {
        value
    }
}

/// Marks the next assigned advice cell as documented free.
pub(super) fn next_cell_is_free() {
    NEXT_FREE.with(|f| f.set(true));
}

/// The cell-mutation search: lays `circuit` out honestly (it must be satisfied with the public
/// outputs `public`), then, for every advice cell the layout assigns, the same layout with that
/// one cell changed (by one; nothing else is re-solved) must be rejected by MockProver. A cell
/// whose change is accepted is free: a value no constraint pins down, which a dishonest prover
/// may fill as it likes. Only cells documented free (assigned through
/// [`RegionCtx::assign_free_zero`](super::RegionCtx::assign_free_zero), each with the reason it is
/// harmless) may be; any other fails the test, listed by column and row.
pub fn assert_no_free_cells(circuit: &GadgetTest, public: &[i128]) {
    assert_no_free_cells_fe(circuit, &ints(public));
}

/// [`assert_no_free_cells`] with public field elements.
pub fn assert_no_free_cells_fe(circuit: &GadgetTest, instance: &[Fr]) {
    PERTURBED.with(|p| p.set(None));
    assert_satisfied_fe(circuit, instance);
    let cells = ASSIGNED.with(|cells| cells.borrow().clone());
    assert!(!cells.is_empty(), "the layout assigned no advice cell");
    let free: Vec<AssignedRecord> = cells
        .iter()
        .enumerate()
        .filter(|(_, cell)| !cell.free)
        .filter(|&(index, _)| {
            PERTURBED.with(|p| p.set(Some(index)));
            let accepted = run(circuit, instance).is_ok();
            PERTURBED.with(|p| p.set(None));
            accepted
        })
        .map(|(_, cell)| *cell)
        .collect();
    assert!(free.is_empty(), "{} of {} cells are free (advice column, row): {:?}", free.len(), cells.len(), free.iter().map(|c| (c.column, c.row)).collect::<Vec<_>>());
}
