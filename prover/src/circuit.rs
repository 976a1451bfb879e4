//! The model circuit: every node of a [`QuantizedModel`] laid out with the gadgets, in one region,
//! with the public inputs its [`crate::visibility`] settings ask for.
//!
//! Public inputs (one instance column), in the order of [`QuantizedModel::public_sections`]: the
//! input values or commitments, the params commitment, the output values or commitments. Each
//! value is copy-constrained to the cell the model computed it in, and each commitment is computed
//! in the circuit over those exact cells; the context word, last, has no cell (the transcript binds
//! it). Intermediate values are always private witnesses.
//! Parameters are fixed columns (committed in the verifying key) when public, and witness cells
//! ([`crate::gadgets::params`]) otherwise.

use std::sync::Arc;

use halo2_proofs::circuit::{Cell, Layouter, SimpleFloorPlanner};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, Column, ConstraintSystem, Error, Instance};
use serde::{Deserialize, Serialize};

use crate::error::ProverError;
use crate::gadgets::add::{AddChip, AddConfig};
use crate::gadgets::clamp::{ClampChip, ClampConfig};
use crate::gadgets::dot_activations::{DotActivationsChip, DotActivationsConfig};
use crate::gadgets::dot_weights::{DotWeightsChip, DotWeightsConfig};
use crate::gadgets::matvec::{MatVecChip, MatVecConfig};
use crate::gadgets::max::{MaxChip, MaxConfig, MaxSlot};
use crate::gadgets::constant::{ConstantChip, ConstantConfig};
use crate::gadgets::divide::{DivideChip, DivideConfig, Numerator};
use crate::gadgets::freivalds::{FreivaldsChip, FreivaldsConfig, PendingCheck};
use crate::gadgets::params::{self, ParamCells};
use crate::gadgets::product::{ProductChip, ProductConfig};
use crate::gadgets::sqrt::{SqrtChip, SqrtConfig};
use crate::gadgets::poseidon::{self, CommitmentCell, PoseidonChip, PoseidonConfig};
use crate::gadgets::range_check::{RangeCheckChip, RangeCheckConfig};
use crate::gadgets::relu::{ReluChip, ReluConfig};
use crate::gadgets::rescale::{RescaleChip, RescaleConfig};
use crate::gadgets::rescale_activation::{RescaleActivationChip, RescaleActivationConfig};
use crate::gadgets::{fe, Columns, Num, RegionCtx};
use crate::ops::conv::conv_output;
use crate::ops::rescale::divide;
use crate::ops::reduce::{self, reduce_groups, ReduceKind};
use crate::ops::elementwise::{activate, Activation};
use crate::ops::rescale::Rescaled;
use crate::ops::{arith, elementwise, linear};
use crate::commitment::sponge_rows;
use crate::ops::nonlinear::LookupTable;
use crate::quantize::{embedding_columns, QOp, QNode, QuantizedModel};
use crate::visibility::{PublicTensor, Salts};
use crate::tensor::{broadcast_indices, transpose_indices, Tensor};

/// Rows at the end of the circuit halo2 reserves for blinding (an upper bound).
const RESERVED_ROWS: usize = 16;
/// Smallest and largest circuit sizes the planner considers.
const K_RANGE: std::ops::RangeInclusive<u32> = 6..=24;
/// Widths the planner tries (advice columns of the main area; at least 4, for the clamp).
const WIDTHS: [usize; 12] = [4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 20, 24];

/// The parameters `configure` needs: how many columns of each kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeParams {
    /// Advice (and fixed) columns of the main area.
    pub width: usize,
    /// Lookup columns for range checks.
    pub lookup_columns: usize,
    /// Column pairs for function lookups (0 when the model tabulates no function).
    #[serde(default)]
    pub function_columns: usize,
    /// The gadgets the circuit configures.
    pub gadgets: GadgetSet,
}

/// Which gadgets a circuit configures. Only the ones a model uses are added: every gate is
/// evaluated on every row by the prover, used or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GadgetSet {
    /// [`DotWeightsConfig`].
    pub dot_weights: bool,
    /// [`DotActivationsConfig`].
    pub dot_activations: bool,
    /// [`MatVecConfig`].
    pub matvec: bool,
    /// [`RescaleConfig`].
    pub rescale: bool,
    /// [`ReluConfig`].
    pub relu: bool,
    /// [`AddConfig`].
    pub add: bool,
    /// [`ClampConfig`].
    pub clamp: bool,
    /// [`MaxConfig`].
    pub max: bool,
    /// [`ProductConfig`].
    pub product: bool,
    /// [`DivideConfig`].
    pub divide: bool,
    /// [`SqrtConfig`].
    pub sqrt: bool,
    /// [`RescaleActivationConfig`].
    pub rescale_activation: bool,
    /// [`ConstantConfig`].
    pub constant: bool,
    /// [`PoseidonConfig`].
    pub poseidon: bool,
    /// [`FreivaldsConfig`] (a second-phase column and two challenges).
    #[serde(default)]
    pub freivalds: bool,
}

impl GadgetSet {
    /// Every gadget (for gadget tests).
    pub fn all() -> Self {
        GadgetSet {
            dot_weights: true,
            dot_activations: true,
            matvec: true,
            rescale: true,
            relu: true,
            add: true,
            clamp: true,
            max: true,
            product: true,
            divide: true,
            sqrt: true,
            rescale_activation: true,
            constant: true,
            poseidon: true,
            freivalds: true,
        }
    }

    /// Fewest main columns the set needs.
    pub fn min_width(&self) -> usize {
        if self.poseidon {
            poseidon::MIN_WIDTH
        } else if self.divide || self.rescale_activation {
            5
        } else {
            4
        }
    }
}

/// Where everything goes: the plan chosen for a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitLayout {
    /// The circuit has `2^k` rows.
    pub k: u32,
    /// Column counts.
    pub shape: ShapeParams,
    /// Rows used in the main area.
    pub main_rows: usize,
    /// Number of range checks.
    pub range_checks: usize,
    /// Rows of the lookup table.
    pub table_rows: usize,
    /// Activations are checked to lie in `[-activation_bound, activation_bound)`.
    pub activation_bound: i64,
    /// Number of public inputs (output values).
    pub public_inputs: usize,
}

/// Every column and gate of the model circuit; a gadget the [`GadgetSet`] leaves out is `None`.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// The shared main columns.
    pub columns: Columns,
    /// Dot products with constant weights.
    pub dot_weights: Option<DotWeightsConfig>,
    /// Dot products of two activations.
    pub dot_activations: Option<DotActivationsConfig>,
    /// Matrix-vector products (linear layers, convolutions).
    pub matvec: Option<MatVecConfig>,
    /// Rounded rescaling.
    pub rescale: Option<RescaleConfig>,
    /// ReLU.
    pub relu: Option<ReluConfig>,
    /// Sums and differences.
    pub add: Option<AddConfig>,
    /// Clamps (ReLU6).
    pub clamp: Option<ClampConfig>,
    /// Maxima (max pooling, ReduceMax).
    pub max: Option<MaxConfig>,
    /// Products of two activations.
    pub product: Option<ProductConfig>,
    /// Quotients.
    pub divide: Option<DivideConfig>,
    /// Square roots.
    pub sqrt: Option<SqrtConfig>,
    /// Rescales fused with the activation after them.
    pub rescale_activation: Option<RescaleActivationConfig>,
    /// Constant cells.
    pub constant: Option<ConstantConfig>,
    /// Poseidon commitments.
    pub poseidon: Option<PoseidonConfig>,
    /// Randomized checks of convolutions.
    pub freivalds: Option<FreivaldsConfig>,
    /// Range checks and their table.
    pub range: RangeCheckConfig,
    /// The public inputs.
    pub instance: Column<Instance>,
}

/// The configured gadget, or a synthesis error if the plan left it out (a planner bug).
fn need<T>(config: &Option<T>) -> Result<&T, Error> {
    config.as_ref().ok_or(Error::Synthesis)
}

impl ModelConfig {
    /// Creates all columns and gates for `params`.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, params: ShapeParams) -> Self {
        let g = params.gadgets;
        // The lookups already need degree 4, whose quotient uses a 4× extended domain; degree 5
        // uses the same domain and lets the permutation argument take 3 columns per product
        // polynomial instead of 2 (measured: 3-4% faster proofs).
        meta.set_minimum_degree(5);
        assert!(params.width >= g.min_width() && params.lookup_columns >= 1, "invalid circuit shape {params:?}");
        let columns = Columns::configure(meta, params.width);
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        let c = &columns;
        ModelConfig {
            dot_weights: g.dot_weights.then(|| DotWeightsConfig::configure(meta, c)),
            dot_activations: g.dot_activations.then(|| DotActivationsConfig::configure(meta, c)),
            matvec: g.matvec.then(|| MatVecConfig::configure(meta, c)),
            rescale: g.rescale.then(|| RescaleConfig::configure(meta, c)),
            relu: g.relu.then(|| ReluConfig::configure(meta, c)),
            add: g.add.then(|| AddConfig::configure(meta, c)),
            clamp: g.clamp.then(|| ClampConfig::configure(meta, c)),
            max: g.max.then(|| MaxConfig::configure(meta, c)),
            product: g.product.then(|| ProductConfig::configure(meta, c)),
            divide: g.divide.then(|| DivideConfig::configure(meta, c)),
            sqrt: g.sqrt.then(|| SqrtConfig::configure(meta, c)),
            rescale_activation: g.rescale_activation.then(|| RescaleActivationConfig::configure(meta, c)),
            constant: g.constant.then(|| ConstantConfig::configure(meta, c)),
            poseidon: if g.poseidon { PoseidonConfig::configure(meta, c) } else { None },
            freivalds: g.freivalds.then(|| FreivaldsConfig::configure(meta, c)),
            range: RangeCheckConfig::configure(meta, params.lookup_columns, params.function_columns),
            columns,
            instance,
        }
    }
}

/// How a node is laid out: on its own, or fused with the activation after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRole {
    /// Laid out by its own gadgets.
    Plain,
    /// A node ending in a rescale whose only reader is this activation: the rescale and the
    /// activation share one gadget ([`RescaleActivationConfig`]), and the node's cells hold the
    /// activated values.
    RescaleThen(Activation),
    /// A node ending in a rescale whose only reader (node `usize`) adds a constant: the constant
    /// is folded into the rescale ([`RescaleChip::assign_shifted`]).
    RescaleThenAdd(usize),
    /// The activation or constant sum after a fused node: it adds nothing.
    Absorbed,
}

/// The role of every node. A rescaling node (Linear, MatMul, Conv, AvgPool, MulConst,
/// ReduceMean) fuses with a ReLU, a clamp or (with parameters fixed in the circuit) the addition
/// of a constant that is its only reader, unless its own value is a model output.
pub fn node_roles(model: &QuantizedModel) -> Vec<NodeRole> {
    let mut readers = vec![0usize; model.nodes.len()];
    for node in &model.nodes {
        for &i in &node.inputs {
            readers[i] += 1;
        }
    }
    let mut roles = vec![NodeRole::Plain; model.nodes.len()];
    for (id, node) in model.nodes.iter().enumerate() {
        let fused = match node.op {
            QOp::Relu => NodeRole::RescaleThen(Activation::Relu),
            QOp::Clamp { max } => NodeRole::RescaleThen(Activation::Clamp { max }),
            QOp::AddConst { .. } if !model.visibility.witnessed_params() => NodeRole::RescaleThenAdd(id),
            _ => continue,
        };
        let p = node.inputs[0];
        let rescales = matches!(
            model.nodes[p].op,
            QOp::Linear { .. } | QOp::MatMul | QOp::Conv2d { .. } | QOp::AvgPool2d { .. } | QOp::MulConst { .. } | QOp::Reduce { kind: ReduceKind::Mean, .. }
        );
        if rescales && readers[p] == 1 && !model.outputs.contains(&p) && roles[p] == NodeRole::Plain {
            roles[p] = fused;
            roles[id] = NodeRole::Absorbed;
        }
    }
    roles
}

/// `(positions, inputs, outputs)` of a convolution that a circuit of `width` columns with the
/// Freivalds check enabled checks that way ([`FreivaldsConfig`]): one with weights fixed in the
/// circuit, not depthwise, whose check takes fewer rows than its row-by-row product.
fn freivalds_shape(model: &QuantizedModel, node: &QNode, width: usize, enabled: bool) -> Option<(usize, usize, usize)> {
    if !enabled || model.visibility.witnessed_params() {
        return None;
    }
    let QOp::Conv2d { weight, conv, .. } = &node.op else { return None };
    if conv.depthwise {
        return None;
    }
    let outputs = (*node.shape.last()?).max(1);
    let (inputs, positions) = (weight.data().len() / outputs, node.shape.iter().product::<usize>() / outputs);
    let taps = conv.taps(&model.nodes[node.inputs[0]].shape, weight.shape()).ok()?;
    let product_rows: usize = taps.iter().step_by(outputs).map(|t| MatVecConfig::rows(t.len(), outputs, width)).sum();
    let check_rows = FreivaldsConfig::rows(positions, inputs, outputs, width) + 2 * ConstantConfig::rows(1);
    (check_rows < product_rows).then_some((positions, inputs, outputs))
}

/// Main-area rows and range checks one node takes with `width` columns. The planner sizes the
/// circuit with this; synthesis checks it used exactly this much.
fn node_cost(model: &QuantizedModel, node: &QNode, role: NodeRole, width: usize, freivalds: bool) -> (usize, usize) {
    let count: usize = node.shape.iter().product();
    let (rescale_rows, rescale_checks) = match role {
        NodeRole::Absorbed => return (0, 0),
        NodeRole::RescaleThen(_) => (RescaleActivationConfig::rows(count, width), RescaleActivationConfig::CHECKS * count),
        NodeRole::Plain | NodeRole::RescaleThenAdd(_) => (RescaleConfig::rows(count, width), 2 * count),
    };
    let last_dim = |i: usize| *model.nodes[node.inputs[i]].shape.last().unwrap_or(&1);
    let in_shape = || model.nodes[node.inputs[0]].shape.as_slice();
    let dots = |lengths: &mut dyn Iterator<Item = usize>| lengths.map(|len| DotWeightsConfig::rows(len, width)).sum::<usize>();
    // Products with witnessed parameters: one activation dot per output, the bias as `bias · 1`.
    let witness_dots = |lengths: &mut dyn Iterator<Item = usize>| lengths.map(|len| DotActivationsConfig::rows(len + 1, width)).sum::<usize>();
    if model.visibility.witnessed_params() {
        match &node.op {
            QOp::Conv2d { weight, conv, .. } => {
                let taps = conv.taps(in_shape(), weight.shape()).unwrap_or_default();
                return (witness_dots(&mut taps.iter().map(Vec::len)) + rescale_rows, rescale_checks);
            }
            QOp::Linear { .. } => {
                return (count * DotActivationsConfig::rows(last_dim(0) + 1, width) + rescale_rows, rescale_checks);
            }
            QOp::MulConst { .. } => return (count * DotActivationsConfig::rows(1, width) + rescale_rows, rescale_checks),
            QOp::AddConst { .. } => return (AddConfig::rows_add(count, width), 0),
            _ => {}
        }
    }
    if let Some((positions, inputs, outputs)) = freivalds_shape(model, node, width, freivalds) {
        // Plus the zero and one cells the folds copy.
        return (FreivaldsConfig::rows(positions, inputs, outputs, width) + 2 * ConstantConfig::rows(1) + rescale_rows, rescale_checks);
    }
    match &node.op {
        // Shapes were validated when the model was built, so the taps exist.
        QOp::Conv2d { weight, conv, .. } if conv.depthwise => {
            let taps = conv.taps(in_shape(), weight.shape()).unwrap_or_default();
            (dots(&mut taps.iter().map(Vec::len)) + rescale_rows, rescale_checks)
        }
        QOp::Conv2d { weight, conv, .. } => {
            let taps = conv.taps(in_shape(), weight.shape()).unwrap_or_default();
            let channels = node.shape[3];
            let products: usize = taps.iter().step_by(channels.max(1)).map(|t| MatVecConfig::rows(t.len(), channels, width)).sum();
            (products + rescale_rows, rescale_checks)
        }
        QOp::AvgPool2d { pool } => {
            let taps = pool.taps(in_shape()).unwrap_or_default();
            (dots(&mut taps.iter().map(Vec::len)) + rescale_rows, rescale_checks)
        }
        QOp::MulConst { .. } => (rescale_rows, rescale_checks),
        QOp::Clamp { .. } => (ClampConfig::rows(count, width), 3 * count),
        QOp::Input => (count.div_ceil(width), count),
        QOp::Linear { weight_t, .. } => {
            let n = weight_t.shape()[0].max(1);
            ((count / n) * MatVecConfig::rows(last_dim(0), n, width) + rescale_rows, rescale_checks)
        }
        QOp::MatMul => (count * DotActivationsConfig::rows(last_dim(0), width) + rescale_rows, rescale_checks),
        QOp::Add => (AddConfig::rows_add(count, width), 0),
        QOp::AddConst { .. } => (AddConfig::rows_const(count, width), 0),
        QOp::Relu => (ReluConfig::rows(count, width), 2 * count),
        QOp::Reshape | QOp::Transpose { .. } | QOp::Lookup { .. } | QOp::Select { .. } | QOp::Embedding { .. } => (0, 0),
        QOp::MaxPool2d { pool } => {
            let steps: usize = pool.taps(in_shape()).unwrap_or_default().iter().map(|t| t.len().saturating_sub(1)).sum();
            (MaxConfig::rows(steps, width), 2 * steps)
        }
        QOp::Mul => (ProductConfig::rows(count, width), 2 * count),
        QOp::Sub => (AddConfig::rows_add(count, width), 0),
        QOp::Div | QOp::Reciprocal => (DivideConfig::rows(count, width), 3 * count),
        QOp::Sqrt => (SqrtConfig::rows(count, width), 3 * count),
        QOp::Reduce { axes, kind } => {
            let groups = reduce_groups(in_shape(), axes).unwrap_or_default();
            match kind {
                ReduceKind::Sum => (dots(&mut groups.iter().map(Vec::len)), count),
                ReduceKind::Mean => (dots(&mut groups.iter().map(Vec::len)) + rescale_rows, rescale_checks),
                ReduceKind::Max => {
                    let steps: usize = groups.iter().map(|g| g.len() - 1).sum();
                    (MaxConfig::rows(steps, width), 2 * steps)
                }
            }
        }
        QOp::Pad { .. } => (ConstantConfig::rows(1), 0),
    }
}

/// The gadgets `model`'s circuit needs.
fn gadgets_used(model: &QuantizedModel, roles: &[NodeRole], width: usize, freivalds: bool) -> GadgetSet {
    let mut g = GadgetSet::default();
    let witnessed = model.visibility.witnessed_params();
    for (node, role) in model.nodes.iter().zip(roles) {
        match role {
            NodeRole::Absorbed => continue,
            NodeRole::RescaleThen(_) => g.rescale_activation = true,
            NodeRole::Plain | NodeRole::RescaleThenAdd(_) => {}
        }
        // A node fused with its activation rescales in the fused gadget.
        let rescales = !matches!(role, NodeRole::RescaleThen(_));
        match &node.op {
            QOp::Linear { .. } | QOp::Conv2d { .. } | QOp::MulConst { .. } if witnessed => {
                g.dot_activations = true;
                g.rescale |= rescales;
            }
            QOp::Linear { .. } => (g.matvec, g.rescale) = (true, g.rescale || rescales),
            QOp::Conv2d { conv, .. } => {
                g.rescale |= rescales;
                if conv.depthwise {
                    g.dot_weights = true;
                } else if freivalds_shape(model, node, width, freivalds).is_some() {
                    (g.freivalds, g.constant) = (true, true);
                } else {
                    g.matvec = true;
                }
            }
            QOp::MulConst { .. } => g.rescale |= rescales,
            QOp::MatMul => (g.dot_activations, g.rescale) = (true, g.rescale || rescales),
            QOp::Add | QOp::Sub | QOp::AddConst { .. } => g.add = true,
            QOp::Relu => g.relu = true,
            QOp::Clamp { .. } => g.clamp = true,
            QOp::MaxPool2d { .. } | QOp::Reduce { kind: ReduceKind::Max, .. } => g.max = true,
            QOp::AvgPool2d { .. } | QOp::Reduce { kind: ReduceKind::Mean, .. } => (g.dot_weights, g.rescale) = (true, g.rescale || rescales),
            QOp::Reduce { kind: ReduceKind::Sum, .. } => g.dot_weights = true,
            QOp::Mul => g.product = true,
            QOp::Div | QOp::Reciprocal => g.divide = true,
            QOp::Sqrt => g.sqrt = true,
            QOp::Pad { .. } => g.constant = true,
            QOp::Input | QOp::Reshape | QOp::Transpose { .. } | QOp::Lookup { .. } | QOp::Select { .. } | QOp::Embedding { .. } => {}
        }
    }
    g.constant |= witnessed;
    g.poseidon = model.visibility.hashes();
    g
}

/// Function lookups of a node (one per output value of a tabulated function or embedding).
fn node_function_lookups(node: &QNode) -> usize {
    match node.op {
        QOp::Lookup { .. } | QOp::Embedding { .. } => node.shape.iter().product(),
        _ => 0,
    }
}

/// Main-area rows outside the nodes: the parameter area and the Poseidon commitments.
fn visibility_rows(model: &QuantizedModel, width: usize) -> usize {
    let params = if model.visibility.witnessed_params() { params::rows(model.params().len(), width) } else { 0 };
    let hashing: usize = model
        .public_sections()
        .iter()
        .filter(|s| s.commitment)
        .map(|s| PoseidonConfig::rows(committed_len(model, &s.tensor) + usize::from(s.salted)))
        .sum();
    params + hashing
}

/// Number of values a commitment to `tensor` covers (a salt comes on top).
fn committed_len(model: &QuantizedModel, tensor: &PublicTensor) -> usize {
    let size = |id: usize| model.nodes[id].shape.iter().product::<usize>();
    match *tensor {
        PublicTensor::Input(i) => size(model.inputs[i]),
        PublicTensor::Params => model.params().len(),
        PublicTensor::Output(i) => size(model.outputs[i]),
        PublicTensor::Context => 0,
    }
}

fn function_lookups(model: &QuantizedModel) -> usize {
    model.nodes.iter().map(node_function_lookups).sum()
}

/// Chooses `k`, the width and the number of lookup columns for `model`: the cheapest shape (by
/// columns × rows) in which the main rows, the range checks and the lookup table all fit.
///
/// The activation bound `B` fills what the table leaves free: the table holds the fixed ranges
/// (remainders, clamp bounds) and one segment of `2B` rows for activations, and `B` must be at
/// least `2^(range_bits - 1)`.
pub fn plan(model: &QuantizedModel) -> Result<CircuitLayout, ProverError> {
    let shapes: Vec<(usize, bool)> = WIDTHS.into_iter().flat_map(|w| [(w, false), (w, true)]).collect();
    plan_among(model, &shapes)
}

/// [`plan`] restricted to `width` main columns, with the Freivalds check of convolutions on or off
/// (tests use it to exercise a shape the cost model would not pick for a small model).
pub fn plan_with(model: &QuantizedModel, width: usize, freivalds: bool) -> Result<CircuitLayout, ProverError> {
    plan_among(model, &[(width, freivalds)])
}

fn plan_among(model: &QuantizedModel, shapes: &[(usize, bool)]) -> Result<CircuitLayout, ProverError> {
    let fixed_rows = RangeCheckConfig::table_rows(&model.fixed_ranges(), &model.function_tables());
    let min_bound = 1i64 << (model.config.range_bits - 1);
    model.check_visibility()?;
    let public_inputs = model.public_input_count();
    let roles = node_roles(model);
    let mut best: Option<(u128, CircuitLayout)> = None;
    for k in K_RANGE {
        let usable = (1usize << k) - RESERVED_ROWS;
        let activation_bound = (usable.saturating_sub(fixed_rows) / 2) as i64;
        if activation_bound < min_bound || public_inputs > usable {
            continue;
        }
        let table_rows = fixed_rows + 2 * activation_bound as usize;
        for &(width, freivalds) in shapes {
            let gadgets = gadgets_used(model, &roles, width, freivalds);
            if width < gadgets.min_width() || freivalds != gadgets.freivalds {
                continue;
            }
            let function_columns = function_lookups(model).div_ceil(usable);
            let (main_rows, range_checks) = model
                .nodes
                .iter()
                .zip(&roles)
                .map(|(n, &role)| node_cost(model, n, role, width, freivalds))
                .fold((visibility_rows(model, width), 0usize), |(r, c), (dr, dc)| (r.saturating_add(dr), c.saturating_add(dc)));
            if main_rows > usable {
                continue;
            }
            let lookup_columns = range_checks.div_ceil(usable).max(1);
            // Each lookup column costs itself plus about three more (permuted pair, product); the
            // Freivalds check adds its second-phase column.
            let cost = ((width + usize::from(freivalds) + 4 * lookup_columns + 5 * function_columns) as u128) << k;
            let layout = CircuitLayout {
                k,
                shape: ShapeParams { width, lookup_columns, function_columns, gadgets },
                main_rows,
                range_checks,
                table_rows,
                activation_bound,
                public_inputs,
            };
            if best.map_or(true, |(c, _)| cost < c) {
                best = Some((cost, layout));
            }
        }
        if best.is_some() {
            // A larger k only doubles the cost of every shape that fits at this one.
            break;
        }
    }
    best.map(|(_, l)| l).ok_or_else(|| {
        ProverError::Unsupported(format!(
            "the model needs more than 2^{} rows; use a smaller model or fewer --range-bits",
            K_RANGE.end()
        ))
    })
}

/// The circuit proving one forward pass of `model`. Without inputs it is the keygen circuit.
#[derive(Clone)]
pub struct ModelCircuit {
    model: Arc<QuantizedModel>,
    layout: CircuitLayout,
    inputs: Option<Vec<Tensor<i64>>>,
    salts: Salts,
}

impl ModelCircuit {
    /// The keygen circuit (no witness).
    pub fn keygen(model: Arc<QuantizedModel>, layout: CircuitLayout) -> Self {
        ModelCircuit { model, layout, inputs: None, salts: Salts::none() }
    }

    /// The circuit for proving on quantized `inputs`, with `salts` for the salted commitments
    /// (exactly those). Runs the reference forward pass first, so an input the circuit cannot
    /// prove is refused here with the name of the layer. Returns the circuit and its public inputs.
    pub fn prover(model: Arc<QuantizedModel>, layout: CircuitLayout, inputs: Vec<Tensor<i64>>, salts: Salts) -> Result<(Self, Vec<Fr>), ProverError> {
        let trace = model.forward(&inputs)?;
        let instances = model.public_inputs(&inputs, &trace, &salts)?;
        Ok((ModelCircuit { model, layout, inputs: Some(inputs), salts }, instances))
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
        ModelCircuit { model: self.model.clone(), layout: self.layout, inputs: None, salts: Salts::none() }
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
        let mut range = RangeCheckChip::new(config.range.clone(), &model.ranges(), &model.function_tables());
        range.load_table(&mut layouter)?;
        let usable = (1usize << self.layout.k) - RESERVED_ROWS;
        let public = layouter.assign_region(
            || "model",
            |mut region| {
                #[cfg(test)]
                crate::gadgets::test_util::start_recording();
                let mut ctx = RegionCtx { region: &mut region, row: 0, range: &mut range };
                let params = if model.visibility.witnessed_params() {
                    let values: Vec<Vec<i64>> = model.nodes.iter().map(|n| n.op.params()).collect();
                    Some(params::assign(&mut ctx, &config.columns, need(&config.constant)?, &values)?)
                } else {
                    None
                };
                let mut values: Vec<Vec<Num>> = Vec::with_capacity(model.nodes.len());
                let mut next_input = 0;
                let mut deferred = Vec::new();
                let roles = node_roles(model);
                let freivalds = self.layout.shape.gadgets.freivalds;
                for (id, node) in model.nodes.iter().enumerate() {
                    let (row_before, checks_before, fns_before) = (ctx.row, ctx.range.slots_used(), ctx.range.function_slots_used());
                    let node_params = params.as_ref().map(|p| (p.per_node[id].as_slice(), p.one));
                    let out = self.layout_node(&config, &mut ctx, node, roles[id], &values, &mut next_input, node_params, &mut deferred)?;
                    let (rows, checks) = node_cost(model, node, roles[id], config.columns.width(), freivalds);
                    let expected = (rows, checks, node_function_lookups(node));
                    let used = (ctx.row - row_before, ctx.range.slots_used() - checks_before, ctx.range.function_slots_used() - fns_before);
                    if used != expected {
                        // A planner/layout mismatch is a bug; say where before failing.
                        eprintln!("internal error: node {} used {used:?} rows/checks, planned {expected:?}", node.name);
                        return Err(Error::Synthesis);
                    }
                    values.push(out);
                }
                let public = self.public_cells(&config, &mut ctx, &values, params.as_ref())?;
                // Every first-phase cell is assigned: commit them, draw the challenges, and
                // complete the randomized checks with them.
                if let Some(freivalds) = &config.freivalds {
                    ctx.region.next_phase();
                    let chip = FreivaldsChip::new(freivalds);
                    let challenges = chip.challenges(&ctx);
                    for pending in &deferred {
                        chip.assign_check(&mut ctx, pending, challenges)?;
                    }
                }
                if ctx.row != self.layout.main_rows {
                    eprintln!("internal error: the circuit used {} main rows, planned {}", ctx.row, self.layout.main_rows);
                    return Err(Error::Synthesis);
                }
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
                let chip = PoseidonChip::new(need(&config.poseidon)?);
                let mut message: Option<Vec<Fr>> = cells.iter().map(|c| c.value.map(fe)).collect();
                if section.salted {
                    // Known when proving (checked by `prover`), unknown at keygen.
                    let salt = self.salts.of(&section.tensor);
                    message = message.zip(salt).map(|(mut m, salt)| {
                        m.push(salt);
                        m
                    });
                }
                let rows = self.inputs.as_ref().and(message).map(|m| sponge_rows(&m));
                let CommitmentCell { cell, .. } = chip.commit(ctx, &cells, section.salted, rows.as_deref())?;
                public.push(cell);
            } else {
                public.extend(cells.iter().map(|c| c.cell));
            }
        }
        Ok(public)
    }
}

/// The integers behind `nums` as a tensor, when known (when proving).
fn known(nums: &[Num], shape: &[usize]) -> Option<Tensor<i64>> {
    let data = nums.iter().map(|n| n.value.map(|v| v as i64)).collect::<Option<Vec<_>>>()?;
    Tensor::new(shape.to_vec(), data).ok()
}

/// The witness values of an elementwise result: known when proving, unknown at keygen.
fn claimed_values(values: Option<Result<Tensor<i64>, ProverError>>, count: usize) -> Result<Vec<Option<i128>>, Error> {
    match values.transpose().map_err(|_| Error::Synthesis)? {
        Some(t) => Ok(t.data().iter().map(|&v| Some(v as i128)).collect()),
        None => Ok(vec![None; count]),
    }
}

/// The operand pairs of a broadcasting binary operator, output element by output element.
fn broadcast_pairs(a: &[Num], a_shape: &[usize], b: &[Num], b_shape: &[usize], out: &[usize]) -> Vec<(Num, Num)> {
    broadcast_indices(a_shape, out).iter().zip(broadcast_indices(b_shape, out)).map(|(&i, j)| (a[i], b[j])).collect()
}

impl ModelCircuit {
    /// Rescales every `z` by `divisor` (see [`ModelCircuit::rescale_scaled`]).
    fn rescale(&self, config: &ModelConfig, ctx: &mut RegionCtx<'_, '_>, role: NodeRole, items: &[(Num, Option<Rescaled>)], divisor: i64) -> Result<Vec<Num>, Error> {
        let scaled: Vec<_> = items.iter().map(|(z, w)| (*z, 1, *w)).collect();
        self.rescale_scaled(config, ctx, role, &scaled, divisor)
    }

    /// The rescale that ends a node: `round(c·z / divisor)`, range-checked as an activation; for a
    /// fused node, that activation of it, or it plus the constant of the sum after it.
    fn rescale_scaled(
        &self,
        config: &ModelConfig,
        ctx: &mut RegionCtx<'_, '_>,
        role: NodeRole,
        items: &[(Num, i64, Option<Rescaled>)],
        divisor: i64,
    ) -> Result<Vec<Num>, Error> {
        match role {
            NodeRole::RescaleThen(activation) => {
                let items: Vec<_> = items.iter().map(|(z, c, w)| (*z, *c, w.map(|w| (w, activate(w.quotient as i64, activation))))).collect();
                RescaleActivationChip::new(need(&config.rescale_activation)?).assign(ctx, &items, divisor, activation, self.model.relu_range())
            }
            NodeRole::RescaleThenAdd(sum) => {
                let QOp::AddConst { constant } = &self.model.nodes[sum].op else {
                    return Err(Error::Synthesis);
                };
                let shifts = broadcast_indices(constant.shape(), &self.model.nodes[sum].shape);
                if shifts.len() != items.len() {
                    return Err(Error::Synthesis);
                }
                let items: Vec<_> = items.iter().zip(&shifts).map(|((z, c, w), &k)| (*z, *c, constant.data()[k], *w)).collect();
                RescaleChip::new(need(&config.rescale)?).assign_shifted(ctx, &items, divisor, self.model.activation_range())
            }
            NodeRole::Plain | NodeRole::Absorbed => RescaleChip::new(need(&config.rescale)?).assign_scaled(ctx, items, divisor, self.model.activation_range()),
        }
    }

    /// The maximum of each group of `x`'s cells, as a chain of pairwise maxima.
    fn max_chains(&self, config: &ModelConfig, ctx: &mut RegionCtx<'_, '_>, x: &[Num], groups: &[Vec<usize>]) -> Result<Vec<Num>, Error> {
        let chip = MaxChip::new(need(&config.max)?);
        let mut slot = MaxSlot::default();
        let mut outs = Vec::with_capacity(groups.len());
        for group in groups {
            let cells: Vec<Num> = group.iter().map(|&i| x[i]).collect();
            let values: Option<Vec<i64>> = cells.iter().map(|c| c.value.map(|v| v as i64)).collect();
            let steps = values.map(|v| elementwise::max_chain(&v));
            let mut running = *cells.first().ok_or(Error::Synthesis)?;
            for (n, cell) in cells.iter().enumerate().skip(1) {
                let split = steps.as_ref().map(|s| s[n - 1]);
                running = chip.assign(ctx, &mut slot, &running, cell, split, self.model.relu_range())?;
            }
            outs.push(running);
        }
        chip.finish(ctx, &slot);
        Ok(outs)
    }

    fn layout_node(
        &self,
        config: &ModelConfig,
        ctx: &mut RegionCtx<'_, '_>,
        node: &QNode,
        role: NodeRole,
        values: &[Vec<Num>],
        next_input: &mut usize,
        params: Option<(&[Num], Num)>,
        deferred: &mut Vec<PendingCheck>,
    ) -> Result<Vec<Num>, Error> {
        if role == NodeRole::Absorbed {
            // The node before computed the activation already.
            return Ok(values[node.inputs[0]].clone());
        }
        let model = &*self.model;
        let shift = model.config.scale_bits;
        let arg = |i: usize| &values[node.inputs[i]];
        let arg_shape = |i: usize| model.nodes[node.inputs[i]].shape.as_slice();
        let count: usize = node.shape.iter().product();
        Ok(match &node.op {
            QOp::Input => {
                let data = self.inputs.as_ref().map(|inputs| inputs[*next_input].data().to_vec());
                *next_input += 1;
                let cols = &config.columns.advice;
                let start = ctx.take_rows(count.div_ceil(cols.len()));
                let mut nums = Vec::with_capacity(count);
                for i in 0..count {
                    let v = data.as_ref().map(|d| d[i] as i128);
                    let num = ctx.assign(cols[i % cols.len()], start + i / cols.len(), v);
                    ctx.check_range(&num, model.activation_range())?;
                    nums.push(num);
                }
                nums
            }
            QOp::Linear { weight_t, bias } => {
                let (n, k) = (weight_t.shape()[0], weight_t.shape()[1]);
                let x = arg(0);
                let witness = known(x, arg_shape(0)).map(|x| linear::linear_i(&x, weight_t, bias, shift));
                if let Some((p, one)) = params {
                    let (weights, biases) = p.split_at(n * k);
                    let chip = DotActivationsChip::new(need(&config.dot_activations)?);
                    let mut accs = Vec::with_capacity(count);
                    for (m, row) in x.chunks(k.max(1)).enumerate().take(count / n.max(1)) {
                        let a: Vec<Num> = row.iter().copied().chain([one]).collect();
                        for j in 0..n {
                            let b: Vec<Num> = weights[j * k..(j + 1) * k].iter().copied().chain([biases[j]]).collect();
                            let w = witness.as_ref().map(|w| w[m * n + j]);
                            accs.push((chip.assign(ctx, &a, &b, w.map(|w| w.acc))?, w.map(|w| w.out)));
                        }
                    }
                    return self.rescale(config, ctx, role, &accs, 1 << shift);
                }
                let chip = MatVecChip::new(need(&config.matvec)?);
                let weight_rows: Vec<&[i64]> = weight_t.data().chunks(k.max(1)).take(n).collect();
                let mut accs = Vec::with_capacity(count);
                for (m, row) in x.chunks(k.max(1)).enumerate().take(count / n.max(1)) {
                    let w: Vec<_> = (0..n).map(|j| witness.as_ref().map(|w| w[m * n + j])).collect();
                    let claimed: Vec<_> = w.iter().map(|w| w.map(|w| w.acc)).collect();
                    let cells = chip.assign(ctx, row, &weight_rows, bias, &claimed)?;
                    accs.extend(cells.into_iter().zip(w.iter().map(|w| w.map(|w| w.out))));
                }
                self.rescale(config, ctx, role, &accs, 1 << shift)?
            }
            QOp::MatMul => {
                let (a, b) = (arg(0), arg(1));
                let dims = linear::MatMulDims::new(arg_shape(0), arg_shape(1)).map_err(|_| Error::Synthesis)?;
                let witness = match known(a, arg_shape(0)).zip(known(b, arg_shape(1))) {
                    Some((a, b)) => Some(linear::matmul_i(&a, &b, shift).map_err(|_| Error::Synthesis)?),
                    None => None,
                };
                let chip = DotActivationsChip::new(need(&config.dot_activations)?);
                let mut accs = Vec::with_capacity(count);
                for (o, (row, col)) in dims.operands().enumerate() {
                    let w = witness.as_ref().map(|w| w[o]);
                    let (row, col): (Vec<Num>, Vec<Num>) = (row.iter().map(|&i| a[i]).collect(), col.iter().map(|&j| b[j]).collect());
                    accs.push((chip.assign(ctx, &row, &col, w.map(|w| w.acc))?, w.map(|w| w.out)));
                }
                self.rescale(config, ctx, role, &accs, 1 << shift)?
            }
            QOp::Add => {
                let (ia, ib) = (broadcast_indices(arg_shape(0), &node.shape), broadcast_indices(arg_shape(1), &node.shape));
                let pairs: Vec<(Num, Num)> = ia.iter().zip(&ib).map(|(&i, &j)| (arg(0)[i], arg(1)[j])).collect();
                let sums = known(arg(0), arg_shape(0)).zip(known(arg(1), arg_shape(1))).map(|(a, b)| elementwise::zip_broadcast(&a, &b, |x, y| x + y));
                let sums = claimed_values(sums, count)?;
                AddChip::new(need(&config.add)?).add(ctx, &pairs, &sums)?
            }
            QOp::AddConst { constant } => {
                let (ia, ic) = (broadcast_indices(arg_shape(0), &node.shape), broadcast_indices(constant.shape(), &node.shape));
                let items: Vec<(Num, i64)> = ia.iter().zip(&ic).map(|(&i, &j)| (arg(0)[i], constant.data()[j])).collect();
                let sums = known(arg(0), arg_shape(0)).map(|a| elementwise::zip_broadcast(&a, constant, |x, y| x + y));
                let sums = claimed_values(sums, count)?;
                match params {
                    Some((p, _)) => {
                        let pairs: Vec<(Num, Num)> = ia.iter().zip(&ic).map(|(&i, &j)| (arg(0)[i], p[j])).collect();
                        AddChip::new(need(&config.add)?).add(ctx, &pairs, &sums)?
                    }
                    None => AddChip::new(need(&config.add)?).add_const(ctx, &items, &sums)?,
                }
            }
            QOp::Relu => {
                let items: Vec<_> = arg(0).iter().map(|x| (*x, x.value.map(|v| elementwise::relu(v as i64)))).collect();
                ReluChip::new(need(&config.relu)?).assign(ctx, &items, model.relu_range())?
            }
            QOp::Reshape => arg(0).clone(),
            QOp::MaxPool2d { pool } => self.max_chains(config, ctx, arg(0), &pool.taps(arg_shape(0)).map_err(|_| Error::Synthesis)?)?,
            QOp::Lookup { table } => {
                let table = LookupTable::Function(*table);
                let mut outs = Vec::with_capacity(count);
                for x in arg(0) {
                    let y = x.value.and_then(|v| table.eval(v as i64)).map(|y| y as i128);
                    outs.push(ctx.range.lookup_function(ctx.region, x, &table, y)?);
                }
                outs
            }
            QOp::Embedding { table } => {
                // One lookup per output value: (index cell, value) against the column's table.
                let columns = embedding_columns(table, shift);
                let mut outs = Vec::with_capacity(count);
                for x in arg(0) {
                    for column in &columns {
                        let y = x.value.and_then(|v| column.eval(v as i64)).map(|y| y as i128);
                        outs.push(ctx.range.lookup_function(ctx.region, x, column, y)?);
                    }
                }
                outs
            }
            // Like a transpose: the selected cells themselves, no constraint.
            QOp::Select { picks } => picks.iter().map(|&(o, i)| arg(o)[i]).collect(),
            // A permutation of cells: no constraint, the next gadget copies from the right cells.
            QOp::Transpose { perm } => transpose_indices(arg_shape(0), perm).map_err(|_| Error::Synthesis)?.iter().map(|&i| arg(0)[i]).collect(),
            QOp::Conv2d { weight, bias, conv } => {
                let x = arg(0);
                let taps = conv.taps(arg_shape(0), weight.shape()).map_err(|_| Error::Synthesis)?;
                let channels = *node.shape.last().unwrap_or(&1);
                let witness = |t: &[(usize, usize)], o: usize| conv_output(t, o, |i| x[i].value.map(|v| v as i64), weight.data(), bias, shift);
                let mut accs = Vec::with_capacity(count);
                if let Some((positions, inputs, outputs)) = freivalds_shape(model, node, config.columns.width(), config.freivalds.is_some()) {
                    let constant = ConstantChip::new(need(&config.constant)?);
                    let (zero, one) = (constant.assign(ctx, 0)?, constant.assign(ctx, 1)?);
                    // Input slot `s` of every position is tap `s` of its first output channel.
                    let mut patches = vec![vec![None; inputs]; positions];
                    for (patch, group) in patches.iter_mut().zip(taps.chunks(outputs)) {
                        for &(i, slot) in &group[0] {
                            patch[slot] = Some(x[i]);
                        }
                    }
                    let weights: Vec<Vec<i64>> = (0..inputs).map(|s| (0..outputs).map(|o| weight.data()[o * inputs + s]).collect()).collect();
                    let ws: Vec<_> = taps.iter().enumerate().map(|(o, t)| witness(t, o)).collect();
                    let claimed: Vec<_> = ws.iter().map(|w| w.map(|w| w.acc)).collect();
                    let chip = FreivaldsChip::new(need(&config.freivalds)?);
                    let (products, pending) = chip.assign_products(ctx, &patches, &weights, bias, &claimed, &zero, &one)?;
                    deferred.push(pending);
                    accs.extend(products.into_iter().zip(ws.iter().map(|w| w.map(|w| w.out))));
                } else if let Some((p, one)) = params {
                    let (weights, biases) = p.split_at(weight.data().len());
                    let chip = DotActivationsChip::new(need(&config.dot_activations)?);
                    for (o, t) in taps.iter().enumerate() {
                        let a: Vec<Num> = t.iter().map(|&(i, _)| x[i]).chain([one]).collect();
                        let b: Vec<Num> = t.iter().map(|&(_, j)| weights[j]).chain([biases[o % channels]]).collect();
                        let w = witness(t, o);
                        accs.push((chip.assign(ctx, &a, &b, w.map(|w| w.acc))?, w.map(|w| w.out)));
                    }
                } else if conv.depthwise {
                    let chip = DotWeightsChip::new(need(&config.dot_weights)?);
                    for (o, t) in taps.iter().enumerate() {
                        let cells: Vec<Num> = t.iter().map(|&(i, _)| x[i]).collect();
                        let ws: Vec<i64> = t.iter().map(|&(_, j)| weight.data()[j]).collect();
                        let w = witness(t, o);
                        let acc = chip.assign(ctx, &cells, &ws, bias[o % channels], w.map(|w| w.acc))?;
                        accs.push((acc, w.map(|w| w.out)));
                    }
                } else {
                    // Every output channel at one position reads the same input patch.
                    let chip = MatVecChip::new(need(&config.matvec)?);
                    for (p, group) in taps.chunks(channels).enumerate() {
                        let cells: Vec<Num> = group[0].iter().map(|&(i, _)| x[i]).collect();
                        let rows: Vec<Vec<i64>> = group.iter().map(|t| t.iter().map(|&(_, j)| weight.data()[j]).collect()).collect();
                        let rows: Vec<&[i64]> = rows.iter().map(Vec::as_slice).collect();
                        let ws: Vec<_> = group.iter().enumerate().map(|(c, t)| witness(t, p * channels + c)).collect();
                        let claimed: Vec<_> = ws.iter().map(|w| w.map(|w| w.acc)).collect();
                        let out = chip.assign(ctx, &cells, &rows, bias, &claimed)?;
                        accs.extend(out.into_iter().zip(ws.iter().map(|w| w.map(|w| w.out))));
                    }
                }
                self.rescale(config, ctx, role, &accs, 1 << shift)?
            }
            QOp::AvgPool2d { pool } => {
                let x = arg(0);
                let taps = pool.taps(arg_shape(0)).map_err(|_| Error::Synthesis)?;
                let chip = DotWeightsChip::new(need(&config.dot_weights)?);
                let mut sums = Vec::with_capacity(count);
                for t in &taps {
                    let cells: Vec<Num> = t.iter().map(|&i| x[i]).collect();
                    let total = cells.iter().map(|c| c.value).sum::<Option<i128>>();
                    let acc = chip.assign(ctx, &cells, &vec![1; cells.len()], 0, total)?;
                    sums.push((acc, total.map(|z| divide(z, pool.divisor()))));
                }
                self.rescale(config, ctx, role, &sums, pool.divisor())?
            }
            QOp::MulConst { constant } => {
                // The product and its rescale share one row of the rescale gadget.
                let (ix, ic) = (broadcast_indices(arg_shape(0), &node.shape), broadcast_indices(constant.shape(), &node.shape));
                let items: Vec<(Num, i64, Option<_>)> = ix
                    .iter()
                    .zip(&ic)
                    .map(|(&i, &j)| {
                        let (cell, c) = (arg(0)[i], constant.data()[j]);
                        (cell, c, cell.value.map(|v| linear::dot_rescale([v as i64], [c], 0, shift).out))
                    })
                    .collect();
                match params {
                    Some((p, _)) => {
                        let chip = DotActivationsChip::new(need(&config.dot_activations)?);
                        let mut accs = Vec::with_capacity(count);
                        for ((cell, c, out), &j) in items.iter().zip(&ic) {
                            let product = cell.value.map(|v| v * *c as i128);
                            accs.push((chip.assign(ctx, &[*cell], &[p[j]], product)?, *out));
                        }
                        self.rescale(config, ctx, role, &accs, 1 << shift)?
                    }
                    None => self.rescale_scaled(config, ctx, role, &items, 1 << shift)?,
                }
            }
            QOp::Mul => {
                let pairs = broadcast_pairs(arg(0), arg_shape(0), arg(1), arg_shape(1), &node.shape);
                let items: Vec<_> = pairs.iter().map(|(a, b)| (*a, *b, a.value.zip(b.value).map(|(x, y)| arith::product(x as i64, y as i64, shift)))).collect();
                ProductChip::new(need(&config.product)?).assign(ctx, &items, 1 << shift, model.activation_range())?
            }
            QOp::Sub => {
                let pairs = broadcast_pairs(arg(0), arg_shape(0), arg(1), arg_shape(1), &node.shape);
                let diffs: Vec<_> = pairs.iter().map(|(a, b)| a.value.zip(b.value).map(|(x, y)| x - y)).collect();
                AddChip::new(need(&config.add)?).sub(ctx, &pairs, &diffs)?
            }
            QOp::Div => {
                let pairs = broadcast_pairs(arg(0), arg_shape(0), arg(1), arg_shape(1), &node.shape);
                let items: Vec<_> = pairs
                    .iter()
                    .map(|(a, b)| (Numerator::Scaled(*a, 1 << shift), *b, a.value.zip(b.value).and_then(|(x, y)| arith::div(x as i64, y as i64, shift))))
                    .collect();
                DivideChip::new(need(&config.divide)?).assign(ctx, &items, model.activation_range(), model.relu_range())?
            }
            QOp::Reciprocal => {
                let items: Vec<_> = arg(0)
                    .iter()
                    .map(|b| (Numerator::Constant(1i128 << (2 * shift)), *b, b.value.and_then(|y| arith::reciprocal(y as i64, shift))))
                    .collect();
                DivideChip::new(need(&config.divide)?).assign(ctx, &items, model.activation_range(), model.relu_range())?
            }
            QOp::Sqrt => {
                let items: Vec<_> = arg(0).iter().map(|x| (*x, x.value.and_then(|v| arith::sqrt(v as i64, shift)))).collect();
                SqrtChip::new(need(&config.sqrt)?).assign(ctx, &items, 1 << shift, model.relu_range())?
            }
            QOp::Reduce { axes, kind } => {
                let x = arg(0);
                let groups = reduce_groups(arg_shape(0), axes).map_err(|_| Error::Synthesis)?;
                match kind {
                    ReduceKind::Max => self.max_chains(config, ctx, x, &groups)?,
                    ReduceKind::Sum | ReduceKind::Mean => {
                        let chip = DotWeightsChip::new(need(&config.dot_weights)?);
                        let mut sums = Vec::with_capacity(count);
                        for g in &groups {
                            let cells: Vec<Num> = g.iter().map(|&i| x[i]).collect();
                            let total = cells.iter().map(|c| c.value).sum::<Option<i128>>();
                            sums.push((chip.assign(ctx, &cells, &vec![1; cells.len()], 0, total)?, total, g.len()));
                        }
                        if *kind == ReduceKind::Sum {
                            for (sum, _, _) in &sums {
                                ctx.check_range(sum, model.activation_range())?;
                            }
                            sums.into_iter().map(|(sum, _, _)| sum).collect()
                        } else {
                            let n = groups.first().map_or(1, Vec::len) as i64;
                            let items: Vec<_> = sums.iter().map(|(sum, total, _)| (*sum, total.map(|z| divide(z, n)))).collect();
                            self.rescale(config, ctx, role, &items, n)?
                        }
                    }
                }
            }
            QOp::Pad { pads, value } => {
                let fill = ConstantChip::new(need(&config.constant)?).assign(ctx, *value as i128)?;
                reduce::pad_sources(arg_shape(0), pads).map_err(|_| Error::Synthesis)?.iter().map(|src| src.map_or(fill, |i| arg(0)[i])).collect()
            }
            QOp::Clamp { max } => {
                let items: Vec<_> = arg(0).iter().map(|x| (*x, x.value.map(|v| elementwise::clamp(v as i64, *max)))).collect();
                ClampChip::new(need(&config.clamp)?).assign(ctx, &items, *max, model.relu_range())?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantize::QuantizeConfig;
    use crate::tensor::Tensor;

    fn node(name: &str, op: QOp, inputs: Vec<usize>, shape: Vec<usize>) -> QNode {
        QNode { name: name.into(), op, inputs, shape }
    }

    /// input -> linear -> relu (-> output), with `extra` readers of the linear node.
    fn model(linear_is_output: bool, relu_reads_twice: bool) -> QuantizedModel {
        let linear = QOp::Linear { weight_t: Tensor::new(vec![2, 3], vec![1, 2, 3, 4, 5, 6]).unwrap(), bias: vec![0, 0] };
        let mut nodes = vec![node("x", QOp::Input, vec![], vec![1, 3]), node("fc", linear, vec![0], vec![1, 2]), node("act", QOp::Relu, vec![1], vec![1, 2])];
        if relu_reads_twice {
            nodes.push(node("sum", QOp::Add, vec![1, 2], vec![1, 2]));
        }
        let outputs = if linear_is_output { vec![1, 2] } else { vec![nodes.len() - 1] };
        QuantizedModel { config: QuantizeConfig::default(), nodes, inputs: vec![0], outputs, visibility: Default::default() }
    }

    #[test]
    fn a_rescale_fuses_with_its_only_reader() {
        let roles = node_roles(&model(false, false));
        assert_eq!(roles, vec![NodeRole::Plain, NodeRole::RescaleThen(Activation::Relu), NodeRole::Absorbed]);
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
        let mut q = m.clone();
        q.config.activation_bound = Some(layout.activation_bound);
        let input = Tensor::new(vec![1, 3], vec![10, -20, 30]).unwrap();
        let (circuit, instances) = ModelCircuit::prover(Arc::new(q), layout, vec![input], Salts::none()).unwrap();
        let prover = halo2_proofs::dev::MockProver::run(layout.k, &circuit, vec![instances]).unwrap();
        assert_eq!(prover.verify(), Ok(()));
    }

    /// The cell-mutation search over a whole model circuit (the gadgets and the glue between them:
    /// the parameter area, copies between nodes, commitments, public inputs): with `visibility`,
    /// every advice cell but the documented free ones, changed alone, makes MockProver reject.
    fn assert_model_has_no_free_cells(mut m: QuantizedModel, visibility: crate::visibility::VisibilitySettings) {
        m.config = QuantizeConfig { scale_bits: 4, range_bits: 8, activation_bound: None };
        m.visibility = visibility.clone();
        let mut salts = Salts::none();
        for section in m.public_sections().into_iter().filter(|s| s.salted) {
            salts.insert(section.tensor, Fr::from(0x5a17)).unwrap();
        }
        let layout = plan(&m).unwrap();
        m.config.activation_bound = Some(layout.activation_bound);
        let len = m.nodes[0].shape[1];
        let input = Tensor::new(vec![1, len], (0..len as i64).map(|i| 13 * i - 40).collect()).unwrap();
        let (circuit, instances) = ModelCircuit::prover(Arc::new(m), layout, vec![input], salts).unwrap();
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
            wide.nodes[1].op = QOp::Linear { weight_t: Tensor::new(vec![2, 6], (0..12).map(|i| i % 5 - 2).collect()).unwrap(), bias: vec![3, -1] };
            assert_model_has_no_free_cells(wide, visibility);
        }
    }
}
