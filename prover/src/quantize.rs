//! Fixed-point quantization of a float [`Graph`] and the integer forward pass that defines what
//! the circuit proves.
//!
//! Every activation is an integer `round(x · 2^s)` at the model's scale `s`. Weights are quantized
//! at the same scale, biases at `2s` (the scale of a product), and each product is rescaled back to
//! `s` with [`crate::ops::rescale`]. Values the circuit range-checks must lie in the ranges of
//! [`QuantizedModel::activation_range`] and [`QuantizedModel::relu_range`]; the forward pass checks
//! the same ranges and names the layer that leaves them.

use serde::{Deserialize, Serialize};

use crate::error::ProverError;
use crate::model::{check_inputs, Graph, Op};
use crate::ops::conv::{conv_output, Conv, Pool};
use crate::ops::nonlinear::{FunctionTable, LookupTable};
use crate::ops::rescale::divide;
use crate::ops::reduce::{self, ReduceKind};
use crate::ops::{arith, elementwise, linear};
use crate::range::RangeKind;
use crate::visibility::VisibilitySettings;
use crate::tensor::{broadcast_indices, broadcast_shape, gather, transpose_indices, transpose_shape, Tensor};

/// Quantization settings chosen at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantizeConfig {
    /// Fractional bits `s`: a float `x` is stored as `round(x · 2^s)`.
    pub scale_bits: u32,
    /// Activations are guaranteed provable within `[-2^(b-1), 2^(b-1))` for `b = range_bits`.
    pub range_bits: u32,
    /// The activation bound `B` the circuit enforces, `[-B, B)`, set once the circuit is planned
    /// (at least `2^(b-1)`: the planner widens it to fill the lookup table).
    #[serde(default)]
    pub activation_bound: Option<i64>,
}

impl Default for QuantizeConfig {
    fn default() -> Self {
        QuantizeConfig { scale_bits: 8, range_bits: 16, activation_bound: None }
    }
}

impl QuantizeConfig {
    /// Refuses settings the circuit cannot represent.
    pub fn validate(&self) -> Result<(), ProverError> {
        if !(1..=20).contains(&self.scale_bits) {
            return Err(ProverError::Input(format!("scale of {} bits: choose 1 to 20", self.scale_bits)));
        }
        if let Some(bound) = self.activation_bound {
            if bound < 1 << (self.range_bits - 1) {
                return Err(ProverError::Artifact(format!("activation bound {bound} below 2^{}", self.range_bits - 1)));
            }
        }
        if !(self.scale_bits + 1..=24).contains(&self.range_bits) {
            return Err(ProverError::Input(format!(
                "range of {} bits: choose {} to 24 (more than the scale)",
                self.range_bits,
                self.scale_bits + 1
            )));
        }
        Ok(())
    }
}

/// An operator with integer weights. Products are rescaled by `2^scale_bits` inside the op.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum QOp {
    /// A model input.
    Input,
    /// Linear layer; `weight_t` is `[N, K]` (transposed), `bias` has length `N` at scale `2s`.
    Linear { weight_t: Tensor<i64>, bias: Vec<i64> },
    /// Product of two activations.
    MatMul,
    /// Sum of two activations (broadcasting).
    Add,
    /// Sum with a constant at scale `s` (broadcasting).
    AddConst { constant: Tensor<i64> },
    /// `max(x, 0)`.
    Relu,
    /// Shape change only.
    Reshape,
    /// Convolution over NHWC: `weight` is `[C_out, KH, KW, C_in]` (depthwise: `[1, KH, KW,
    /// C_out]`), `bias` has length `C_out` at scale `2s`; each output is rescaled by `2^s`.
    Conv2d { weight: Tensor<i64>, bias: Vec<i64>, conv: Conv },
    /// Average pooling over NHWC: the window sum divided (rounding half up) by the window size.
    AvgPool2d { pool: Pool },
    /// Product with a constant (broadcasting), rescaled by `2^s`.
    MulConst { constant: Tensor<i64> },
    /// `min(max(x, 0), max)`; ReLU6 is `max = 6·2^s`.
    Clamp { max: i64 },
    /// Axes permuted (no arithmetic).
    Transpose { perm: Vec<usize> },
    /// Max pooling over NHWC: the window's maximum (exact, no rescale).
    MaxPool2d { pool: Pool },
    /// A tabulated function; the input must lie in the table's domain.
    Lookup { table: FunctionTable },
    /// Values copied from the operands (no arithmetic); see [`crate::model::Op::Select`].
    Select { picks: Vec<(usize, usize)> },
    /// Product of two activations (broadcasting), rescaled by `2^s` ([`arith::product`]).
    Mul,
    /// Difference of two activations (broadcasting), exact.
    Sub,
    /// Quotient of two activations (broadcasting) at scale `s` ([`arith::div`]).
    Div,
    /// `1 / x` at scale `s` ([`arith::reciprocal`]).
    Reciprocal,
    /// `√x` at scale `s`, floored ([`arith::sqrt`]).
    Sqrt,
    /// Sum (exact), mean (rounded half up) or maximum over `axes`, kept with size 1.
    Reduce { axes: Vec<usize>, kind: ReduceKind },
    /// Constant padding with `value` at scale `s`.
    Pad { pads: Vec<(usize, usize)>, value: i64 },
    /// Embedding lookup: index `v` (the integer `v·2^s`) selects row `v` of `table` (`[V, ..]`,
    /// at scale `s`), one table lookup per output value.
    Embedding { table: Tensor<i64> },
}

/// A node of the quantized model; same topology as the float graph.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QNode {
    /// The name in the source model.
    pub name: String,
    /// The integer operator.
    pub op: QOp,
    /// Indices of the nodes it reads.
    pub inputs: Vec<usize>,
    /// Output shape.
    pub shape: Vec<usize>,
}

/// A model in integers: what the circuit proves, node for node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuantizedModel {
    /// Scale and range settings.
    pub config: QuantizeConfig,
    /// Nodes in topological order.
    pub nodes: Vec<QNode>,
    /// The `Input` nodes, in order.
    pub inputs: Vec<usize>,
    /// The output nodes, in order.
    pub outputs: Vec<usize>,
    /// What the proof publishes of the input, parameters and output.
    #[serde(default)]
    pub visibility: VisibilitySettings,
}

/// The shape `op` produces from inputs of `inputs` shapes (`declared` for Input and Reshape).
fn qop_output_shape(op: &QOp, inputs: &[&[usize]], declared: &[usize]) -> Result<Vec<usize>, ProverError> {
    let arity = |n: usize| {
        if inputs.len() == n {
            Ok(())
        } else {
            Err(ProverError::Shape(format!("takes {n} input(s), got {}", inputs.len())))
        }
    };
    let same_as_input = |extra: &[usize]| -> Result<Vec<usize>, ProverError> {
        let out = broadcast_shape(inputs[0], extra)?;
        if out.as_slice() != inputs[0] {
            return Err(ProverError::Shape(format!("a constant of shape {extra:?} would grow {:?}", inputs[0])));
        }
        Ok(out)
    };
    match op {
        QOp::Input => arity(0).map(|_| declared.to_vec()),
        QOp::Linear { weight_t, bias } => {
            arity(1)?;
            let &[n, k] = weight_t.shape() else {
                return Err(ProverError::Shape(format!("linear weights of shape {:?} (expected [N, K])", weight_t.shape())));
            };
            linear::linear_shape(inputs[0], &[k, n], Some(bias.len()))
        }
        QOp::MatMul => arity(2).and_then(|_| linear::matmul_shape(inputs[0], inputs[1])),
        QOp::Add | QOp::Mul | QOp::Sub | QOp::Div => arity(2).and_then(|_| broadcast_shape(inputs[0], inputs[1])),
        QOp::Reciprocal | QOp::Sqrt => arity(1).map(|_| inputs[0].to_vec()),
        QOp::Reduce { axes, .. } => arity(1).and_then(|_| reduce::reduced_shape(inputs[0], axes)),
        QOp::Pad { pads, .. } => arity(1).and_then(|_| reduce::padded_shape(inputs[0], pads)),
        QOp::Embedding { table } => arity(1).and_then(|_| crate::ops::embedding_shape(inputs[0], table.shape())),
        QOp::AddConst { constant } | QOp::MulConst { constant } => arity(1).and_then(|_| same_as_input(constant.shape())),
        QOp::Relu | QOp::Clamp { .. } | QOp::Lookup { .. } => arity(1).map(|_| inputs[0].to_vec()),
        QOp::Transpose { perm } => arity(1).and_then(|_| transpose_shape(inputs[0], perm)),
        QOp::Select { picks } => crate::ops::check_picks(picks, inputs, declared).map(|_| declared.to_vec()),
        QOp::Reshape => {
            arity(1)?;
            if inputs[0].iter().product::<usize>() != declared.iter().product::<usize>() {
                return Err(ProverError::Shape(format!("cannot reshape {:?} to {declared:?}", inputs[0])));
            }
            Ok(declared.to_vec())
        }
        QOp::Conv2d { weight, bias, conv } => {
            arity(1)?;
            let out = conv.output_shape(inputs[0], weight.shape())?;
            if bias.len() != out[3] {
                return Err(ProverError::Shape(format!("{} biases for {} channels", bias.len(), out[3])));
            }
            Ok(out)
        }
        QOp::AvgPool2d { pool } | QOp::MaxPool2d { pool } => arity(1).and_then(|_| pool.output_shape(inputs[0])),
    }
}

/// The lookup tables of an embedding, one per table column: index `v·2^s` → `table[v][j]`.
pub fn embedding_columns(table: &Tensor<i64>, scale_bits: u32) -> Vec<LookupTable> {
    let rows = table.shape()[0].max(1);
    let width = table.len() / rows;
    (0..width)
        .map(|j| LookupTable::Pairs((0..rows).map(|v| ((v as i64) << scale_bits, table.data()[v * width + j])).collect()))
        .collect()
}

fn quantize_value(x: f64, scale_bits: u32, what: &str) -> Result<i64, ProverError> {
    let q = (x * (1u64 << scale_bits) as f64).round();
    if !q.is_finite() || q.abs() > (1i64 << 52) as f64 {
        return Err(ProverError::Range(format!("{what}: {x} does not fit at scale 2^{scale_bits}")));
    }
    Ok(q as i64)
}

fn quantize_tensor(t: &Tensor<f32>, scale_bits: u32, what: &str) -> Result<Tensor<i64>, ProverError> {
    let data = t.data().iter().map(|&x| quantize_value(x as f64, scale_bits, what)).collect::<Result<Vec<_>, _>>()?;
    Tensor::new(t.shape().to_vec(), data)
}

impl QuantizedModel {
    /// Quantizes `graph` (validated first) with `config`.
    pub fn from_graph(graph: &Graph, config: QuantizeConfig) -> Result<Self, ProverError> {
        config.validate()?;
        graph.validate()?;
        let s = config.scale_bits;
        let nodes = graph
            .nodes
            .iter()
            .map(|node| {
                let what = format!("node {}", node.name);
                let op = match &node.op {
                    Op::Input => QOp::Input,
                    Op::Linear { weight, bias } => {
                        let (k, n) = (weight.shape()[0], weight.shape()[1]);
                        let mut t = Vec::with_capacity(k * n);
                        for j in 0..n {
                            for i in 0..k {
                                t.push(quantize_value(weight.data()[i * n + j] as f64, s, &what)?);
                            }
                        }
                        let bias = match bias {
                            Some(b) => b.iter().map(|&x| quantize_value(x as f64, 2 * s, &what)).collect::<Result<_, _>>()?,
                            None => vec![0; n],
                        };
                        QOp::Linear { weight_t: Tensor::new(vec![n, k], t)?, bias }
                    }
                    Op::MatMul => QOp::MatMul,
                    Op::Add => QOp::Add,
                    Op::AddConst { constant } => QOp::AddConst { constant: quantize_tensor(constant, s, &what)? },
                    Op::Relu => QOp::Relu,
                    Op::MulConst { constant } => QOp::MulConst { constant: quantize_tensor(constant, s, &what)? },
                    Op::Clamp { max } => QOp::Clamp { max: quantize_value(*max as f64, s, &what)? },
                    Op::Reshape => QOp::Reshape,
                    Op::Transpose { perm } => QOp::Transpose { perm: perm.clone() },
                    Op::Select { picks } => QOp::Select { picks: picks.clone() },
                    Op::Conv { weight, bias, conv } => QOp::Conv2d {
                        weight: quantize_tensor(weight, s, &what)?,
                        bias: match bias {
                            Some(b) => b.iter().map(|&x| quantize_value(x as f64, 2 * s, &what)).collect::<Result<_, _>>()?,
                            None => vec![0; node.shape[3]],
                        },
                        conv: *conv,
                    },
                    Op::AvgPool { pool } => QOp::AvgPool2d { pool: *pool },
                    Op::MaxPool { pool } => QOp::MaxPool2d { pool: *pool },
                    Op::Function { function } => {
                        let (lo, hi) = function.domain(s, config.range_bits);
                        let (lo, hi) = (quantize_value(lo, s, &what)?, quantize_value(hi, s, &what)?);
                        if hi < lo {
                            return Err(ProverError::Input(format!("{what}: {} has no domain at {} range bits", function.name(), config.range_bits)));
                        }
                        QOp::Lookup { table: FunctionTable { function: *function, lo, hi, scale_bits: s } }
                    }
                    Op::Mul => QOp::Mul,
                    Op::Sub => QOp::Sub,
                    Op::Div => QOp::Div,
                    Op::Reciprocal => QOp::Reciprocal,
                    Op::Sqrt => QOp::Sqrt,
                    Op::Reduce { axes, kind } => QOp::Reduce { axes: axes.clone(), kind: *kind },
                    Op::Pad { pads, value } => QOp::Pad { pads: pads.clone(), value: quantize_value(*value as f64, s, &what)? },
                    Op::Embedding { table } => QOp::Embedding { table: quantize_tensor(table, s, &what)? },
                };
                Ok(QNode { name: node.name.clone(), op, inputs: node.inputs.clone(), shape: node.shape.clone() })
            })
            .collect::<Result<Vec<_>, ProverError>>()?;
        Ok(QuantizedModel { config, nodes, inputs: graph.inputs.clone(), outputs: graph.outputs.clone(), visibility: VisibilitySettings::default() })
    }

    /// Checks topological order, arity, weight sizes and that every node's shape is what its
    /// operator makes of its inputs' shapes: what the forward pass and the circuit rely on.
    pub fn validate(&self) -> Result<(), ProverError> {
        self.config.validate()?;
        for (id, node) in self.nodes.iter().enumerate() {
            if node.inputs.iter().any(|&i| i >= id) {
                return Err(ProverError::Model(format!("node {} reads a node that does not come before it", node.name)));
            }
            let shapes: Vec<&[usize]> = node.inputs.iter().map(|&i| self.nodes[i].shape.as_slice()).collect();
            let expected = qop_output_shape(&node.op, &shapes, &node.shape).map_err(|e| ProverError::Shape(format!("node {}: {e}", node.name)))?;
            if expected != node.shape {
                return Err(ProverError::Shape(format!("node {}: computes {expected:?}, declared {:?}", node.name, node.shape)));
            }
        }
        if self.inputs.iter().any(|&i| !matches!(self.nodes.get(i).map(|n| &n.op), Some(QOp::Input))) {
            return Err(ProverError::Model("a model input is not an Input node".into()));
        }
        if self.outputs.is_empty() || self.outputs.iter().any(|&o| o >= self.nodes.len()) {
            return Err(ProverError::Model("the model has no valid output".into()));
        }
        Ok(())
    }

    /// Range of inputs and rescaled products: `[-B, B)` for the planned bound `B`, else
    /// `[-2^(b-1), 2^(b-1))`.
    pub fn activation_range(&self) -> RangeKind {
        match self.config.activation_bound {
            Some(bound) => RangeKind::Interval(-bound, bound - 1),
            None => RangeKind::Signed(self.config.range_bits),
        }
    }

    /// Range of both halves of a ReLU or clamp split: `[0, 2B)`, the size of the activation range
    /// (so both share one table segment). Soundness only needs them non-negative and small.
    pub fn relu_range(&self) -> RangeKind {
        RangeKind::Interval(0, self.activation_range().size() as i64 - 1)
    }

    /// Range of rescale remainders: `[0, 2^scale_bits)`.
    pub fn remainder_range(&self) -> RangeKind {
        RangeKind::Below(1 << self.config.scale_bits)
    }

    /// Every range the circuit checks, for building its lookup table.
    pub fn ranges(&self) -> Vec<RangeKind> {
        let mut r = self.fixed_ranges();
        r.push(self.activation_range());
        r.push(self.relu_range());
        r
    }

    /// The lookup tables the circuit needs, in first-use order: each tabulated function, and each
    /// column of each embedding.
    pub fn function_tables(&self) -> Vec<LookupTable> {
        let mut tables: Vec<LookupTable> = vec![];
        for node in &self.nodes {
            let new: Vec<LookupTable> = match &node.op {
                QOp::Lookup { table } => vec![LookupTable::Function(*table)],
                QOp::Embedding { table } => embedding_columns(table, self.config.scale_bits),
                _ => vec![],
            };
            for t in new {
                if !tables.contains(&t) {
                    tables.push(t);
                }
            }
        }
        tables
    }

    /// The ranges that do not depend on the activation bound: remainders and clamp bounds.
    pub fn fixed_ranges(&self) -> Vec<RangeKind> {
        let mut r = vec![self.remainder_range()];
        for node in &self.nodes {
            match &node.op {
                QOp::AvgPool2d { pool } => r.push(RangeKind::Below(pool.divisor() as u64)),
                QOp::Reduce { axes, kind: ReduceKind::Mean } => {
                    let n: usize = axes.iter().map(|&a| self.nodes[node.inputs[0]].shape[a]).product();
                    r.push(RangeKind::Below(n as u64));
                }
                QOp::Clamp { max } => r.push(RangeKind::Below(*max as u64 + 1)),
                _ => {}
            }
        }
        r.sort();
        r.dedup();
        r
    }

    /// Float value of an integer at the model's scale.
    pub fn dequantize(&self, v: i64) -> f64 {
        v as f64 / (1u64 << self.config.scale_bits) as f64
    }

    /// Quantizes one model input given as a flat row-major list, checking size and range.
    pub fn quantize_input(&self, index: usize, values: &[f32]) -> Result<Tensor<i64>, ProverError> {
        let node = self.inputs.get(index).map(|&i| &self.nodes[i]).ok_or_else(|| {
            ProverError::Input(format!("the model takes {} input(s), got more", self.inputs.len()))
        })?;
        let expected: usize = node.shape.iter().product();
        if values.len() != expected {
            return Err(ProverError::Input(format!(
                "input {} needs {expected} values (shape {:?}), got {}",
                node.name,
                node.shape,
                values.len()
            )));
        }
        let range = self.activation_range();
        let data = values
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let q = quantize_value(x as f64, self.config.scale_bits, &format!("input {}", node.name))?;
                if !range.contains(q as i128) {
                    return Err(ProverError::Range(format!(
                        "input {} value {i} = {x} is outside ±{} (the range this model was compiled for); recompile with more --range-bits or a smaller --scale",
                        node.name,
                        self.dequantize(range.highest() as i64)
                    )));
                }
                Ok(q)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Tensor::new(node.shape.clone(), data)
    }

    /// The integer forward pass: every node's value. Fails, naming the layer, when a value leaves
    /// a range the circuit checks (the proof would be impossible).
    pub fn forward(&self, inputs: &[Tensor<i64>]) -> Result<Vec<Tensor<i64>>, ProverError> {
        let graph_like = self.input_graph();
        check_inputs(&graph_like, inputs.iter().map(|t| t.shape()))?;
        let s = self.config.scale_bits;
        let mut values: Vec<Tensor<i64>> = Vec::with_capacity(self.nodes.len());
        let mut next_input = inputs.iter();
        for node in &self.nodes {
            let arg = |i: usize| &values[node.inputs[i]];
            let value = match &node.op {
                QOp::Input => {
                    let t = next_input.next().expect("checked").clone();
                    self.check(node, self.activation_range(), t.data().iter().map(|&v| v as i128), "input")?;
                    t
                }
                QOp::Linear { weight_t, bias } => {
                    let out = linear::linear_i(arg(0), weight_t, bias, s);
                    self.rescaled_tensor(node, out)?
                }
                QOp::MatMul => {
                    let out = linear::matmul_i(arg(0), arg(1), s)?;
                    self.rescaled_tensor(node, out)?
                }
                QOp::Add => self.checked_add(node, arg(0), arg(1))?,
                QOp::AddConst { constant } => self.checked_add(node, arg(0), constant)?,
                QOp::Relu => {
                    let splits: Vec<_> = arg(0).data().iter().map(|&x| elementwise::relu(x)).collect();
                    let r = self.relu_range();
                    self.check(node, r, splits.iter().flat_map(|p| [p.out as i128, p.neg as i128]), "ReLU input")?;
                    Tensor::new(node.shape.clone(), splits.iter().map(|p| p.out).collect())?
                }
                QOp::Reshape => arg(0).clone().reshape(node.shape.clone())?,
                QOp::MaxPool2d { pool } => {
                    let x = arg(0);
                    let mut out = Vec::with_capacity(node.shape.iter().product());
                    for taps in pool.taps(x.shape())? {
                        let values: Vec<i64> = taps.iter().map(|&i| x.data()[i]).collect();
                        let steps = elementwise::max_chain(&values);
                        self.check(node, self.relu_range(), steps.iter().flat_map(|s| [s.da as i128, s.db as i128]), "max pooling")?;
                        out.push(steps.last().map_or(values[0], |s| s.out));
                    }
                    Tensor::new(node.shape.clone(), out)?
                }
                QOp::Lookup { table } => {
                    let outputs = arg(0).data().iter().map(|&x| table.eval(x)).collect::<Option<Vec<_>>>().ok_or_else(|| {
                        ProverError::Range(format!(
                            "layer {}: an input leaves the {} table's domain [{}, {}]",
                            node.name,
                            table.function.name(),
                            table.lo,
                            table.hi
                        ))
                    })?;
                    Tensor::new(node.shape.clone(), outputs)?
                }
                QOp::Select { picks } => Tensor::new(node.shape.clone(), picks.iter().map(|&(o, i)| arg(o).data()[i]).collect())?,
                QOp::Transpose { perm } => gather(arg(0).data(), &transpose_indices(arg(0).shape(), perm)?, node.shape.clone())?,
                QOp::Conv2d { weight, bias, conv } => {
                    let x = arg(0);
                    let taps = conv.taps(x.shape(), weight.shape())?;
                    let out = taps
                        .iter()
                        .enumerate()
                        .filter_map(|(o, t)| conv_output(t, o, |i| Some(x.data()[i]), weight.data(), bias, s))
                        .collect();
                    self.rescaled_tensor(node, out)?
                }
                QOp::AvgPool2d { pool } => {
                    let x = arg(0);
                    let out: Vec<_> = pool
                        .taps(x.shape())?
                        .iter()
                        .map(|t| divide(t.iter().map(|&i| x.data()[i] as i128).sum(), pool.divisor()))
                        .collect();
                    self.check(node, self.activation_range(), out.iter().map(|r| r.quotient), "average")?;
                    Tensor::new(node.shape.clone(), out.iter().map(|r| r.quotient as i64).collect())?
                }
                QOp::MulConst { constant } => {
                    let products = elementwise::zip_broadcast(&arg(0).map(|&v| v as i128), &constant.map(|&v| v as i128), |a, b| a * b)?;
                    let out = products.data().iter().map(|&z| linear::DotRescaled { acc: z, out: crate::ops::rescale::rescale(z, s) }).collect();
                    self.rescaled_tensor(node, out)?
                }
                QOp::Mul => {
                    let out = elementwise::zip_broadcast(&arg(0).map(|&v| Some(v)), &arg(1).map(|&v| Some(v)), |a, b| Some(arith::product(a?, b?, s).quotient as i64))?;
                    let out = out.map(|v| v.unwrap_or_default());
                    self.check(node, self.activation_range(), out.data().iter().map(|&v| v as i128), "product")?;
                    out
                }
                QOp::Sub => {
                    let diff = elementwise::zip_broadcast(&arg(0).map(|&v| v as i128), &arg(1).map(|&v| v as i128), |x, y| x - y)?;
                    self.check(node, RangeKind::Signed(62), diff.data().iter().copied(), "difference")?;
                    diff.map(|&v| v as i64)
                }
                QOp::Div => {
                    let (ia, ib) = (broadcast_indices(arg(0).shape(), &node.shape), broadcast_indices(arg(1).shape(), &node.shape));
                    let quotients = ia
                        .iter()
                        .zip(&ib)
                        .map(|(&i, &j)| arith::div(arg(0).data()[i], arg(1).data()[j], s))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| ProverError::Range(format!("layer {}: a divisor is not positive (Div needs divisors > 0)", node.name)))?;
                    self.checked_quotients(node, &quotients)?
                }
                QOp::Reciprocal => {
                    let quotients = arg(0)
                        .data()
                        .iter()
                        .map(|&b| arith::reciprocal(b, s))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| ProverError::Range(format!("layer {}: Reciprocal of a value that is not positive", node.name)))?;
                    self.checked_quotients(node, &quotients)?
                }
                QOp::Sqrt => {
                    let roots = arg(0)
                        .data()
                        .iter()
                        .map(|&x| arith::sqrt(x, s))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| ProverError::Range(format!("layer {}: Sqrt of a negative value", node.name)))?;
                    self.check(node, self.relu_range(), roots.iter().flat_map(|r| [r.root, r.rem, r.slack]), "square root")?;
                    Tensor::new(node.shape.clone(), roots.iter().map(|r| r.root as i64).collect())?
                }
                QOp::Reduce { axes, kind } => {
                    let x = arg(0).data();
                    let mut out = Vec::with_capacity(node.shape.iter().product());
                    for group in reduce::reduce_groups(arg(0).shape(), axes)? {
                        let values: Vec<i64> = group.iter().map(|&i| x[i]).collect();
                        out.push(match kind {
                            ReduceKind::Sum => values.iter().map(|&v| v as i128).sum::<i128>(),
                            ReduceKind::Mean => divide(values.iter().map(|&v| v as i128).sum(), values.len() as i64).quotient,
                            ReduceKind::Max => {
                                let steps = elementwise::max_chain(&values);
                                self.check(node, self.relu_range(), steps.iter().flat_map(|s| [s.da as i128, s.db as i128]), "maximum")?;
                                steps.last().map_or(values[0], |s| s.out) as i128
                            }
                        });
                    }
                    self.check(node, self.activation_range(), out.iter().copied(), kind.name())?;
                    Tensor::new(node.shape.clone(), out.iter().map(|&v| v as i64).collect())?
                }
                QOp::Embedding { table } => {
                    let columns = embedding_columns(table, s);
                    let mut out = Vec::with_capacity(node.shape.iter().product());
                    for &x in arg(0).data() {
                        for column in &columns {
                            out.push(column.eval(x).ok_or_else(|| {
                                ProverError::Range(format!(
                                    "layer {}: embedding index {} is not an integer in [0, {})",
                                    node.name,
                                    self.dequantize(x),
                                    table.shape()[0]
                                ))
                            })?);
                        }
                    }
                    Tensor::new(node.shape.clone(), out)?
                }
                QOp::Pad { pads, value } => {
                    let data = reduce::pad_sources(arg(0).shape(), pads)?.iter().map(|src| src.map_or(*value, |i| arg(0).data()[i])).collect();
                    Tensor::new(node.shape.clone(), data)?
                }
                QOp::Clamp { max } => {
                    let splits: Vec<_> = arg(0).data().iter().map(|&x| elementwise::clamp(x, *max)).collect();
                    self.check(node, self.relu_range(), splits.iter().flat_map(|p| [p.below as i128, p.above as i128]), "clamp input")?;
                    Tensor::new(node.shape.clone(), splits.iter().map(|p| p.out).collect())?
                }
            };
            values.push(value);
        }
        Ok(values)
    }

    /// The model outputs from a full forward trace.
    pub fn outputs_of<'a>(&self, trace: &'a [Tensor<i64>]) -> Vec<&'a Tensor<i64>> {
        self.outputs.iter().map(|&o| &trace[o]).collect()
    }

    fn input_graph(&self) -> Graph {
        // Only shapes and Input markers matter to `check_inputs`.
        Graph {
            nodes: self
                .nodes
                .iter()
                .map(|n| crate::model::Node { name: n.name.clone(), op: Op::Reshape, inputs: vec![], shape: n.shape.clone() })
                .collect(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
        }
    }

    fn check(&self, node: &QNode, range: RangeKind, values: impl Iterator<Item = i128>, what: &str) -> Result<(), ProverError> {
        for (i, v) in values.enumerate() {
            if !range.contains(v) {
                let limit = self.dequantize(range.highest() as i64);
                return Err(ProverError::Range(format!(
                    "layer {} ({what}, element {i}): value {v} ({:.4}) leaves the compiled range {} (±{limit} in floats); recompile with more --range-bits or a smaller --scale",
                    node.name,
                    v as f64 / (1u64 << self.config.scale_bits) as f64,
                    range.describe()
                )));
            }
        }
        Ok(())
    }

    fn rescaled_tensor(&self, node: &QNode, out: Vec<linear::DotRescaled>) -> Result<Tensor<i64>, ProverError> {
        self.check(node, self.activation_range(), out.iter().map(|d| d.out.quotient), "rescaled product")?;
        Tensor::new(node.shape.clone(), out.iter().map(|d| d.out.quotient as i64).collect())
    }

    fn checked_quotients(&self, node: &QNode, quotients: &[arith::Quotient]) -> Result<Tensor<i64>, ProverError> {
        self.check(node, self.activation_range(), quotients.iter().map(|q| q.quotient), "quotient")?;
        self.check(node, self.relu_range(), quotients.iter().flat_map(|q| [q.remainder, q.slack]), "division remainder (the divisor is too large)")?;
        Tensor::new(node.shape.clone(), quotients.iter().map(|q| q.quotient as i64).collect())
    }

    fn checked_add(&self, node: &QNode, a: &Tensor<i64>, b: &Tensor<i64>) -> Result<Tensor<i64>, ProverError> {
        let sum = elementwise::zip_broadcast(&a.map(|&v| v as i128), &b.map(|&v| v as i128), |x, y| x + y)?;
        // The sum itself is exact in the field; it only needs to stay a sane integer.
        self.check(node, RangeKind::Signed(62), sum.data().iter().copied(), "sum")?;
        Ok(sum.map(|&v| v as i64))
    }
}
