//! The model graph the prover owns: importers turn ONNX (and later other formats) into a
//! [`Graph`] of float operators over shaped tensors; `quantize` turns it into integers.

pub mod float;

use serde::{Deserialize, Serialize};

use crate::error::ProverError;
use crate::tensor::Tensor;

/// One operator of a float [`Graph`]. Weights live in the operator, so every node input is an
/// activation computed at prove time.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Op {
    /// A model input; its shape is the node's shape.
    Input,
    /// `y[.., n] = Σ_k x[.., k] · weight[k, n] + bias[n]`: Gemm, or MatMul with constant weights.
    Linear {
        /// Shape `[K, N]`.
        weight: Tensor<f32>,
        /// Length `N`, when present.
        bias: Option<Vec<f32>>,
    },
    /// `y[m, n] = Σ_k a[m, k] · b[k, n]` with both operands activations (2-D).
    MatMul,
    /// Elementwise sum of two activations with numpy broadcasting.
    Add,
    /// Elementwise sum of an activation and a constant, with numpy broadcasting.
    AddConst {
        /// The constant operand.
        constant: Tensor<f32>,
    },
    /// `max(x, 0)` elementwise.
    Relu,
    /// Elementwise product with a constant, with numpy broadcasting.
    MulConst {
        /// The constant operand.
        constant: Tensor<f32>,
    },
    /// `min(max(x, 0), max)` elementwise (Relu6, Clip with a lower bound of 0).
    Clamp {
        /// The upper bound.
        max: f32,
    },
    /// Same values in row-major order under the node's shape (Reshape, Flatten).
    Reshape,
    /// Each output value copied from one input value (Concat, Slice, Split, Gather with constant
    /// indices): output `i` is element `picks[i].1` (row-major) of operand `picks[i].0`.
    Select {
        /// `(operand, flat index)` for every output value, row-major.
        picks: Vec<(usize, usize)>,
    },
    /// Axes permuted: output axis `i` is input axis `perm[i]`.
    Transpose {
        /// The permutation.
        perm: Vec<usize>,
    },
    /// Convolution over NHWC (ONNX's NCHW convolutions are imported between two transposes).
    Conv {
        /// `[C_out, KH, KW, C_in]`, or `[1, KH, KW, C_out]` when depthwise.
        weight: Tensor<f32>,
        /// Length `C_out`, when present.
        bias: Option<Vec<f32>>,
        /// Geometry.
        conv: crate::ops::conv::Conv,
    },
    /// Average pooling over NHWC without padding.
    AvgPool {
        /// Geometry.
        pool: crate::ops::conv::Pool,
    },
    /// A tabulated non-linear function (the importer clamps its input where it saturates).
    Function {
        /// Which function.
        function: crate::ops::nonlinear::Function,
    },
    /// Elementwise product of two activations, with numpy broadcasting.
    Mul,
    /// Elementwise difference of two activations, with numpy broadcasting.
    Sub,
    /// Elementwise quotient of two activations, with numpy broadcasting (divisors must be > 0).
    Div,
    /// `1 / x` elementwise (`x > 0`).
    Reciprocal,
    /// `√x` elementwise (`x ≥ 0`).
    Sqrt,
    /// A reduction over `axes`, which are kept with size 1.
    Reduce {
        /// The reduced axes.
        axes: Vec<usize>,
        /// Sum, mean or maximum.
        kind: crate::ops::reduce::ReduceKind,
    },
    /// Embedding lookup (Gather of a constant table by computed indices): output `[.., i, ..]`
    /// is row `index[i]` of `table` (`[V, ..]`); indices must be integers in `[0, V)`.
    Embedding {
        /// The table, rows first.
        table: Tensor<f32>,
    },
    /// Constant padding: `(before, after)` elements per axis, filled with `value`.
    Pad {
        /// Per axis.
        pads: Vec<(usize, usize)>,
        /// The fill value.
        value: f32,
    },
    /// Max pooling over NHWC (padded positions ignored).
    MaxPool {
        /// Geometry.
        pool: crate::ops::conv::Pool,
    },
}

impl Op {
    /// A short name for messages and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Input => "Input",
            Op::Linear { .. } => "Linear",
            Op::MatMul => "MatMul",
            Op::Add => "Add",
            Op::AddConst { .. } => "AddConst",
            Op::Relu => "Relu",
            Op::MulConst { .. } => "MulConst",
            Op::Clamp { .. } => "Clamp",
            Op::Reshape => "Reshape",
            Op::Transpose { .. } => "Transpose",
            Op::Select { .. } => "Select",
            Op::Conv { .. } => "Conv",
            Op::AvgPool { .. } => "AvgPool",
            Op::MaxPool { .. } => "MaxPool",
            Op::Function { function } => function.name(),
            Op::Mul => "Mul",
            Op::Sub => "Sub",
            Op::Div => "Div",
            Op::Reciprocal => "Reciprocal",
            Op::Sqrt => "Sqrt",
            Op::Reduce { kind, .. } => kind.name(),
            Op::Pad { .. } => "Pad",
            Op::Embedding { .. } => "Embedding",
        }
    }
}

/// A node: one operator, the nodes it reads, and the shape of what it produces.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Node {
    /// The name in the source model (for error messages and reports).
    pub name: String,
    /// What the node computes.
    pub op: Op,
    /// Indices of the nodes whose outputs it reads, in operator order.
    pub inputs: Vec<usize>,
    /// The shape of its output.
    pub shape: Vec<usize>,
}

/// A model as a list of nodes in topological order (every input index is smaller than the node's).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Graph {
    /// All nodes, inputs included, in topological order.
    pub nodes: Vec<Node>,
    /// The `Input` nodes, in the order inputs are given.
    pub inputs: Vec<usize>,
    /// The nodes whose values are the model outputs, in order.
    pub outputs: Vec<usize>,
}

impl Graph {
    /// Checks the invariants every consumer relies on: topological order, arity, and that each
    /// node's shape is what its operator produces from its inputs' shapes.
    pub fn validate(&self) -> Result<(), ProverError> {
        for (id, node) in self.nodes.iter().enumerate() {
            if let Some(&bad) = node.inputs.iter().find(|&&i| i >= id) {
                return Err(ProverError::Model(format!(
                    "node {} reads node {bad}, which does not come before it",
                    node.name
                )));
            }
            let shapes: Vec<&[usize]> = node.inputs.iter().map(|&i| self.nodes[i].shape.as_slice()).collect();
            let expected = float::output_shape(&node.op, &shapes, &node.shape)
                .map_err(|e| ProverError::Shape(format!("node {}: {e}", node.name)))?;
            if expected != node.shape {
                return Err(ProverError::Shape(format!(
                    "node {}: {} of {:?} gives {expected:?}, but the model says {:?}",
                    node.name,
                    node.op.kind(),
                    shapes,
                    node.shape
                )));
            }
        }
        for &i in self.inputs.iter() {
            if !matches!(self.nodes.get(i).map(|n| &n.op), Some(Op::Input)) {
                return Err(ProverError::Model(format!("graph input {i} is not an Input node")));
            }
        }
        if self.outputs.is_empty() || self.outputs.iter().any(|&o| o >= self.nodes.len()) {
            return Err(ProverError::Model("the graph has no valid output".into()));
        }
        Ok(())
    }

    /// The float forward pass: every node's value, given one tensor per input.
    pub fn forward(&self, inputs: &[Tensor<f32>]) -> Result<Vec<Tensor<f32>>, ProverError> {
        check_inputs(self, inputs.iter().map(|t| t.shape()))?;
        let mut values: Vec<Tensor<f32>> = Vec::with_capacity(self.nodes.len());
        let mut next_input = inputs.iter();
        for node in &self.nodes {
            let args: Vec<&Tensor<f32>> = node.inputs.iter().map(|&i| &values[i]).collect();
            let value = match &node.op {
                Op::Input => next_input.next().expect("checked").clone(),
                op => float::eval_f32(op, &args, &node.shape)?,
            };
            values.push(value);
        }
        Ok(values)
    }
}

/// Fails unless the given input shapes are exactly the graph's, in order.
pub fn check_inputs<'a>(
    graph: &Graph,
    shapes: impl ExactSizeIterator<Item = &'a [usize]>,
) -> Result<(), ProverError> {
    if shapes.len() != graph.inputs.len() {
        return Err(ProverError::Input(format!(
            "the model takes {} input(s), got {}",
            graph.inputs.len(),
            shapes.len()
        )));
    }
    for (shape, &id) in shapes.zip(&graph.inputs) {
        let node = &graph.nodes[id];
        if shape != node.shape.as_slice() {
            return Err(ProverError::Input(format!(
                "input {} has shape {:?}, got {:?}",
                node.name, node.shape, shape
            )));
        }
    }
    Ok(())
}
