//! What a model's circuit costs, measured by laying it out: the planner's only source of rows,
//! range checks, function lookups and gadgets.
//!
//! A counting run is the real synthesis ([`ModelCircuit`]'s `synthesize`, every gadget's own
//! assignment code) driven by halo2's floor planner into an [`Assignment`] that keeps nothing,
//! with no witness (as at key generation) and a range checker that accepts any range without a
//! table. So the rows counted are, by construction, the rows a proof lays out; synthesis checks
//! that it used exactly the planned totals.

use std::sync::{Arc, Mutex};

use halo2_proofs::circuit::{SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{
    Advice, Any, Assigned, Assignment, Challenge, Column, ConstraintSystem, Error, Fixed, FloorPlanner, Instance, Selector,
};

use crate::gadgets::set::{GadgetSet, ModelConfig, ShapeParams};
use crate::quantize::QuantizedModel;

use super::plan::CircuitLayout;
use super::synth::ModelCircuit;

/// What laying a model out with some width and some Freivalds-checked convolutions used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Measurement {
    /// Rows of the main columns (parameter area, nodes, commitments, Freivalds checks).
    pub main_rows: usize,
    /// Range checks (slots of the lookup columns).
    pub range_checks: usize,
    /// Function lookups (slots of the function columns).
    pub function_lookups: usize,
    /// Main rows of each node, its Freivalds check included.
    pub node_rows: Vec<usize>,
    /// The gadgets the layout asked for.
    pub gadgets: GadgetSet,
}

/// Lays `model` out with `width` main columns, checking the convolutions `freivalds_nodes` (node
/// ids) with Freivalds' check, and returns what it used. `Err` when a gadget the model needs does
/// not fit `width` columns.
pub fn measure(model: &Arc<QuantizedModel>, width: usize, freivalds_nodes: &[usize]) -> Result<Measurement, Error> {
    let gadgets = GadgetSet::fitting(width);
    let shape = ShapeParams { width, lookup_columns: 1, function_columns: 1, gadgets };
    let mut cs = ConstraintSystem::<Fr>::default();
    let mut config = ModelConfig::configure(&mut cs, shape);
    let used = config.record_usage();
    let layout = CircuitLayout::counting(shape, freivalds_nodes.to_vec());
    let recorder = Arc::new(Mutex::new(Measurement { node_rows: vec![0; model.nodes.len()], ..Default::default() }));
    let circuit = ModelCircuit::counting(model.clone(), layout, recorder.clone());
    SimpleFloorPlanner::synthesize(&mut Discard, &circuit, config, cs.constants().clone())?;
    let mut measured = recorder.lock().map_err(|_| Error::Synthesis)?.clone();
    measured.gadgets = *used.lock().map_err(|_| Error::Synthesis)?;
    measured.gadgets.freivalds = !freivalds_nodes.is_empty();
    Ok(measured)
}

/// An [`Assignment`] that keeps nothing: the layouter runs, cells get their positions, and every
/// value, selector and copy is dropped.
struct Discard;

impl Assignment<Fr> for Discard {
    fn enter_region<NR, N>(&mut self, _: N)
    where
        NR: Into<String>,
        N: FnOnce() -> NR,
    {
    }

    fn annotate_column<A, AR>(&mut self, _: A, _: Column<Any>)
    where
        A: FnOnce() -> AR,
        AR: Into<String>,
    {
    }

    fn exit_region(&mut self) {}

    fn enable_selector<A, AR>(&mut self, _: A, _: &Selector, _: usize) -> Result<(), Error>
    where
        A: FnOnce() -> AR,
        AR: Into<String>,
    {
        Ok(())
    }

    fn query_instance(&self, _: Column<Instance>, _: usize) -> Result<Value<Fr>, Error> {
        Ok(Value::unknown())
    }

    fn assign_advice<'v>(&mut self, _: Column<Advice>, _: usize, _: Value<Assigned<Fr>>) -> Value<&'v Assigned<Fr>> {
        Value::unknown()
    }

    fn assign_fixed(&mut self, _: Column<Fixed>, _: usize, _: Assigned<Fr>) {}

    fn copy(&mut self, _: Column<Any>, _: usize, _: Column<Any>, _: usize) {}

    fn fill_from_row(&mut self, _: Column<Fixed>, _: usize, _: Value<Assigned<Fr>>) -> Result<(), Error> {
        Ok(())
    }

    fn get_challenge(&self, _: Challenge) -> Value<Fr> {
        Value::unknown()
    }

    fn push_namespace<NR, N>(&mut self, _: N)
    where
        NR: Into<String>,
        N: FnOnce() -> NR,
    {
    }

    fn pop_namespace(&mut self, _: Option<String>) {}
}
