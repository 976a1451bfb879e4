//! The model circuit: configuration, synthesis in one region, public cells and commitments.

use std::sync::Arc;

use halo2_proofs::circuit::{Cell, Layouter, SimpleFloorPlanner};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem, Error};

use crate::error::ProverError;
use crate::gadgets::freivalds::FreivaldsChip;
use crate::gadgets::params::{self, ParamCells};
use crate::gadgets::poseidon::{CommitmentCell, PoseidonChip};
use crate::gadgets::range_check::RangeCheckChip;
use crate::field::fe;
use crate::gadgets::set::{ModelConfig, ShapeParams};
use crate::gadgets::{Num, RegionCtx};
use crate::commitment::sponge_rows;
use crate::quantize::{Evaluation, QuantizedModel, Ranges};
use crate::visibility::{PublicTensor, Salts};
use crate::tensor::Tensor;
use std::sync::Mutex;

use super::measure::Measurement;
use super::*;

/// The circuit proving one forward pass of `model`. Without inputs it is the keygen circuit.
#[derive(Clone)]
pub struct ModelCircuit {
    pub(super) model: Arc<QuantizedModel>,
    pub(super) layout: CircuitLayout,
    /// Every node's evaluation (value and witness), when proving.
    pub(super) trace: Option<Arc<Vec<Evaluation>>>,
    pub(super) salts: Salts,
    /// The ranges values are checked against: the plan's activation bound (the range-bits
    /// default in a counting run, whose checks take slots without a table).
    pub(super) ranges: Ranges,
    /// Set only for the planner's counting run: where synthesis reports what it used, instead of
    /// checking it against the plan.
    counter: Option<Arc<Mutex<Measurement>>>,
}

impl ModelCircuit {
    /// The keygen circuit (no witness).
    pub fn keygen(model: Arc<QuantizedModel>, layout: CircuitLayout) -> Self {
        let ranges = model.ranges_for(Some(layout.activation_bound));
        ModelCircuit { model, layout, trace: None, salts: Salts::none(), ranges, counter: None }
    }

    /// The circuit for proving on quantized `inputs`, with `salts` for the salted commitments
    /// (exactly those). Runs the reference forward pass first, so an input the circuit cannot
    /// prove is refused here with the name of the layer. Returns the circuit and its public inputs.
    pub fn prover(model: Arc<QuantizedModel>, layout: CircuitLayout, inputs: Vec<Tensor<i64>>, salts: Salts) -> Result<(Self, Vec<Fr>), ProverError> {
        let ranges = model.ranges_for(Some(layout.activation_bound));
        let trace = model.evaluate(&inputs, &ranges)?;
        let outputs: Vec<&Tensor<i64>> = model.outputs.iter().map(|&o| &trace[o].output).collect();
        let instances = model.public_inputs(&inputs, &outputs, &salts)?;
        Ok((ModelCircuit { model, layout, trace: Some(Arc::new(trace)), salts, ranges, counter: None }, instances))
    }

    /// The circuit of a counting run ([`super::measure`]): no witness, any range accepted, and
    /// what each node uses reported to `counter`.
    pub(super) fn counting(model: Arc<QuantizedModel>, layout: CircuitLayout, counter: Arc<Mutex<Measurement>>) -> Self {
        let ranges = model.ranges_for(None);
        ModelCircuit { model, layout, trace: None, salts: Salts::none(), ranges, counter: Some(counter) }
    }

    /// The layout the circuit follows.
    pub fn layout(&self) -> &CircuitLayout {
        &self.layout
    }
}

impl Circuit<Fr> for ModelCircuit {
    type Config = ModelConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ShapeParams;

    fn without_witnesses(&self) -> Self {
        ModelCircuit {
            model: self.model.clone(),
            layout: self.layout.clone(),
            trace: None,
            salts: Salts::none(),
            ranges: self.ranges,
            counter: self.counter.clone(),
        }
    }

    fn params(&self) -> ShapeParams {
        self.layout.shape
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, params: ShapeParams) -> ModelConfig {
        ModelConfig::configure(meta, params)
    }

    fn configure(_: &mut ConstraintSystem<Fr>) -> ModelConfig {
        unreachable!("ModelCircuit is always configured with its ShapeParams")
    }

    fn synthesize(&self, config: ModelConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let model = &*self.model;
        let counting = self.counter.is_some();
        let mut range = if counting {
            RangeCheckChip::counting(config.range.clone())
        } else {
            let range = RangeCheckChip::new(config.range.clone(), &model.table_ranges(&self.ranges), &model.function_tables());
            range.load_table(&mut layouter)?;
            range
        };
        let public = layouter.assign_region(
            || "model",
            |mut region| {
                #[cfg(test)]
                crate::gadgets::test_util::start_recording();
                let mut ctx = RegionCtx { region: &mut region, row: 0, range: &mut range };
                let params = if model.visibility.witnessed_params() {
                    let values: Vec<Vec<i64>> = model.nodes.iter().map(|n| n.op.params()).collect();
                    Some(params::assign(&mut ctx, &config.columns, crate::need!(config, constant)?, &values)?)
                } else {
                    None
                };
                let mut values: Vec<Vec<Num>> = Vec::with_capacity(model.nodes.len());
                let mut node_rows = Vec::with_capacity(model.nodes.len());
                let mut deferred = Vec::new();
                let roles = node_roles(model);
                for id in 0..model.nodes.len() {
                    let row_before = ctx.row;
                    let node_params = params.as_ref().map(|p| (p.per_node[id].as_slice(), p.one));
                    let out = self.layout_node(&config, &mut ctx, id, roles[id], &values, node_params, &mut deferred)?;
                    node_rows.push(ctx.row - row_before);
                    values.push(out);
                }
                let public = self.public_cells(&config, &mut ctx, &values, params.as_ref())?;
                // Every first-phase cell is assigned: commit them, draw the challenges, and
                // complete the randomized checks with them.
                if let Some(freivalds) = &config.freivalds {
                    ctx.region.next_phase();
                    let chip = FreivaldsChip::new(freivalds);
                    let challenges = chip.challenges(&ctx);
                    for (pending, &id) in deferred.iter().zip(&self.layout.freivalds_nodes) {
                        let row_before = ctx.row;
                        chip.assign_check(&mut ctx, pending, challenges)?;
                        node_rows[id] += ctx.row - row_before;
                    }
                }
                let used = Measurement {
                    main_rows: ctx.row,
                    range_checks: ctx.range.slots_used(),
                    function_lookups: ctx.range.function_slots_used(),
                    node_rows,
                    gadgets: Default::default(),
                };
                if let Some(counter) = &self.counter {
                    *counter.lock().map_err(|_| Error::Synthesis)? = used;
                    return Ok(public);
                }
                if (used.main_rows, used.range_checks) != (self.layout.main_rows, self.layout.range_checks) {
                    // A plan that does not match its own layout is a bug; say so before failing.
                    eprintln!(
                        "internal error: the circuit used {} main rows and {} range checks, planned {} and {}",
                        used.main_rows, used.range_checks, self.layout.main_rows, self.layout.range_checks
                    );
                    return Err(Error::Synthesis);
                }
                let usable = (1usize << self.layout.k) - RESERVED_ROWS;
                if ctx.row > usable || ctx.range.rows_used() > usable || ctx.range.function_rows_used() > usable {
                    return Err(Error::NotEnoughRowsAvailable { current_k: self.layout.k });
                }
                Ok(public)
            },
        )?;
        for (row, cell) in public.iter().enumerate() {
            layouter.constrain_instance(*cell, config.instance, row);
        }
        Ok(())
    }
}

impl ModelCircuit {
    /// The cells behind each public input, in order: value cells themselves, or the commitment
    /// computed here over them.
    fn public_cells(&self, config: &ModelConfig, ctx: &mut RegionCtx<'_, '_>, values: &[Vec<Num>], params: Option<&ParamCells>) -> Result<Vec<Cell>, Error> {
        let model = &*self.model;
        let mut public = vec![];
        for section in model.public_sections() {
            let cells: Vec<Num> = match section.tensor {
                PublicTensor::Input(i) => values[model.inputs[i]].clone(),
                PublicTensor::Params => params.ok_or(Error::Synthesis)?.all(),
                PublicTensor::Output(i) => values[model.outputs[i]].clone(),
                // The last public input; no cell: the model does not read it, and the transcript,
                // which absorbs every public input before the first challenge, binds the proof to it.
                PublicTensor::Context => continue,
            };
            if section.commitment {
                let chip = PoseidonChip::new(crate::need!(config, poseidon)?);
                let mut message: Option<Vec<Fr>> = cells.iter().map(|c| c.value.map(fe)).collect();
                if section.salted {
                    // Known when proving (checked by `prover`), unknown at keygen.
                    let salt = self.salts.of(&section.tensor);
                    message = message.zip(salt).map(|(mut m, salt)| {
                        m.push(salt);
                        m
                    });
                }
                let rows = self.trace.as_ref().and(message).map(|m| sponge_rows(&m));
                let CommitmentCell { cell, .. } = chip.commit(ctx, &cells, section.salted, rows.as_deref())?;
                public.push(cell);
            } else {
                public.extend(cells.iter().map(|c| c.cell));
            }
        }
        Ok(public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::linear::QLinear;
    use crate::ops::{add::Add, input::Input, relu::Relu};
    use crate::quantize::{QNode, QOp, QuantizeConfig};
    use crate::tensor::Tensor;

    fn node(name: &str, op: QOp, inputs: Vec<usize>, shape: Vec<usize>) -> QNode {
        QNode { name: name.into(), op, inputs, shape }
    }

    /// input -> linear -> relu (-> output), with `extra` readers of the linear node.
    fn model(linear_is_output: bool, relu_reads_twice: bool) -> QuantizedModel {
        let linear = QOp::Linear(QLinear { weight_t: Tensor::new(vec![2, 3], vec![1, 2, 3, 4, 5, 6]).unwrap(), bias: vec![0, 0] });
        let mut nodes = vec![node("x", QOp::Input(Input), vec![], vec![1, 3]), node("fc", linear, vec![0], vec![1, 2]), node("act", QOp::Relu(Relu), vec![1], vec![1, 2])];
        if relu_reads_twice {
            nodes.push(node("sum", QOp::Add(Add), vec![1, 2], vec![1, 2]));
        }
        let outputs = if linear_is_output { vec![1, 2] } else { vec![nodes.len() - 1] };
        QuantizedModel { config: QuantizeConfig::default(), nodes, inputs: vec![0], outputs, visibility: Default::default() }
    }

    #[test]
    fn a_rescale_fuses_with_its_only_reader() {
        let roles = node_roles(&model(false, false));
        assert_eq!(roles, vec![NodeRole::Plain, NodeRole::FusedWith(2), NodeRole::Absorbed]);
    }

    #[test]
    fn a_rescale_read_elsewhere_or_published_stays_apart() {
        // The linear output is read by the sum too: its own value must exist as cells.
        assert!(node_roles(&model(false, true)).iter().all(|r| *r == NodeRole::Plain));
        // The linear output is a model output.
        assert!(node_roles(&model(true, false)).iter().all(|r| *r == NodeRole::Plain));
    }

    #[test]
    fn the_plan_accounts_for_every_row_and_check_it_lays_out() {
        // Synthesis refuses a layout that differs from the plan; a MockProver run exercises it.
        let m = model(false, false);
        let layout = plan(&m).unwrap();
        let input = Tensor::new(vec![1, 3], vec![10, -20, 30]).unwrap();
        let (circuit, instances) = ModelCircuit::prover(Arc::new(m), layout.clone(), vec![input], Salts::none()).unwrap();
        let prover = halo2_proofs::dev::MockProver::run(layout.k, &circuit, vec![instances]).unwrap();
        assert_eq!(prover.verify(), Ok(()));
    }

    /// The cell-mutation search over a whole model circuit (the gadgets and the glue between them:
    /// the parameter area, copies between nodes, commitments, public inputs): with `visibility`,
    /// every advice cell but the documented free ones, changed alone, makes MockProver reject.
    fn assert_model_has_no_free_cells(mut m: QuantizedModel, visibility: crate::visibility::VisibilitySettings) {
        m.config = QuantizeConfig { scale_bits: 4, range_bits: 8 };
        m.visibility = visibility.clone();
        let mut salts = Salts::none();
        for section in m.public_sections().into_iter().filter(|s| s.salted) {
            salts.insert(section.tensor, Fr::from(0x5a17)).unwrap();
        }
        let layout = plan(&m).unwrap();
        let len = m.nodes[0].shape[1];
        let input = Tensor::new(vec![1, len], (0..len as i64).map(|i| 13 * i - 40).collect()).unwrap();
        let (circuit, instances) = ModelCircuit::prover(Arc::new(m), layout.clone(), vec![input], salts).unwrap();
        let accepts = || halo2_proofs::dev::MockProver::run(layout.k, &circuit, vec![instances.clone()]).unwrap().verify().is_ok();
        // The Poseidon rounds are searched by the gadget's own tests (thousands of cells here).
        let (free, _) = crate::gadgets::test_util::free_cells(&accepts, false, true);
        assert!(free.is_empty(), "{visibility:?}: free cells (advice column, row): {:?}", free.iter().map(|c| (c.column, c.row)).collect::<Vec<_>>());
    }

    #[test]
    fn no_cell_of_a_whole_model_is_free_under_any_visibility() {
        use crate::visibility::Visibility::{self, Hashed, Private, Public, Salted};
        let settings = |input: Visibility, params: Visibility, output: Visibility, context: bool| crate::visibility::VisibilitySettings {
            input: input.into(),
            params,
            output: output.into(),
            context,
        };
        for visibility in [
            settings(Public, Public, Public, false),
            // Witnessed weights: the activation dot product with its padding lanes (finding 1).
            settings(Private, Private, Public, false),
            settings(Private, Hashed, Public, false),
            settings(Hashed, Public, Hashed, true),
            settings(Salted, Salted, Salted, false),
        ] {
            assert_model_has_no_free_cells(model(false, true), visibility.clone());
            // Six inputs and the bias: dot products of a prime length, so their last row has
            // unused lanes whatever the width (with witnessed weights: finding 1's lanes).
            let mut wide = model(false, true);
            wide.nodes[0].shape = vec![1, 6];
            wide.nodes[1].op = QOp::Linear(QLinear { weight_t: Tensor::new(vec![2, 6], (0..12).map(|i| i % 5 - 2).collect()).unwrap(), bias: vec![3, -1] });
            assert_model_has_no_free_cells(wide, visibility);
        }
    }
}
