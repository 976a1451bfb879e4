//! Fixed-point quantization of a float [`Graph`] and the integer forward pass that defines what
//! the circuit proves.
//!
//! Every activation is an integer `round(x · 2^s)` at the model's scale `s`. Weights are quantized
//! at the same scale, biases at `2s` (the scale of a product), and each product is rescaled back to
//! `s` with [`crate::ops::rescale`]. Values the circuit range-checks must lie in the ranges of
//! [`QuantizedModel::activation_range`] and [`QuantizedModel::relu_range`]; the forward pass checks
//! the same ranges and names the layer that leaves them.

mod forward;
mod public;

use serde::{Deserialize, Serialize};

use crate::error::ProverError;
use crate::model::{Graph, Op};
use crate::ops::conv::{Conv, Pool};
use crate::ops::nonlinear::{FunctionTable, LookupTable};
use crate::ops::reduce::{self, ReduceKind};
use crate::ops::linear;
use crate::range::RangeKind;
use crate::visibility::VisibilitySettings;
use crate::tensor::{broadcast_shape, transpose_shape, Tensor};

/// Quantization settings chosen at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantizeConfig {
    /// Fractional bits `s`: a float `x` is stored as `round(x · 2^s)`.
    pub scale_bits: u32,
    /// Activations are guaranteed provable within `[-2^(b-1), 2^(b-1))` for `b = range_bits`
    /// (the circuit's plan may widen that to fill its lookup table: [`Ranges`]).
    pub range_bits: u32,
}

/// The ranges the circuit checks values against, for one activation bound `B`: what the forward
/// pass refuses and what the gadgets range-check are the same values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ranges {
    /// Inputs, rescaled products, quotients, sums of a reduction: `[-B, B)`.
    pub activation: RangeKind,
    /// Both halves of a ReLU or clamp split, max-chain differences, remainders of a quotient:
    /// `[0, 2B)`, the size of the activation range (so both share one table segment). Soundness
    /// only needs them non-negative and small.
    pub relu: RangeKind,
}

impl Default for QuantizeConfig {
    fn default() -> Self {
        QuantizeConfig { scale_bits: 8, range_bits: 16 }
    }
}

impl QuantizeConfig {
    /// Refuses settings the circuit cannot represent.
    pub fn validate(&self) -> Result<(), ProverError> {
        if !(1..=20).contains(&self.scale_bits) {
            return Err(ProverError::Input(format!("scale of {} bits: choose 1 to 20", self.scale_bits)));
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

    /// The ranges for the activation bound `bound` of a circuit's plan; with `None` (before
    /// planning) the bound is `2^(b-1)` for `b = range_bits`.
    pub fn ranges_for(&self, bound: Option<i64>) -> Ranges {
        let activation = match bound {
            Some(bound) => RangeKind::Interval(-bound, bound - 1),
            None => RangeKind::Signed(self.config.range_bits),
        };
        Ranges { activation, relu: RangeKind::Interval(0, activation.size() as i64 - 1) }
    }

    /// Range of rescale remainders: `[0, 2^scale_bits)`.
    pub fn remainder_range(&self) -> RangeKind {
        RangeKind::Below(1 << self.config.scale_bits)
    }

    /// Every range the circuit checks with `ranges`, for building its lookup table.
    pub fn table_ranges(&self, ranges: &Ranges) -> Vec<RangeKind> {
        let mut r = self.fixed_ranges();
        r.push(ranges.activation);
        r.push(ranges.relu);
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

    /// Quantizes one model input given as a flat row-major list, checking its size and that it
    /// lies in `ranges`.
    pub fn quantize_input(&self, index: usize, values: &[f32], ranges: &Ranges) -> Result<Tensor<i64>, ProverError> {
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
        let range = ranges.activation;
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
}
