//! A test circuit that runs one chip on chosen (possibly tampered) witnesses under MockProver.

use std::rc::Rc;

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem, Error};

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
