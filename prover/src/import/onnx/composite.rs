//! ONNX operators that become several nodes of our graph, or that need the arithmetic of two
//! activations: Mul/Sub/Div of tensors, Pow, Sqrt, Reciprocal, Exp, Erf, Gelu, LeakyRelu,
//! ReduceSum/Mean/Max, Softmax, LayerNormalization and Pad (every mode). Each decomposition is written out in
//! its doc comment; the pieces are the operators of [`crate::model::Op`], so every one is proved by
//! the gadgets of those operators.

use tract_onnx::pb;

use super::{attr, attr_float, attr_int, output_name, Importer, Value};
use crate::ops::prelude::*;
use crate::error::ProverError;
use crate::arith::table::Function;
use crate::tensor::Tensor;

fn scalar(v: f64) -> Result<Tensor<f32>, ProverError> {
    Tensor::new(vec![], vec![v as f32])
}

impl Importer {
    /// An intermediate node of two operands named after `node`'s output.
    pub(super) fn push_binary(&mut self, node: &pb::NodeProto, suffix: &str, op: Op, a: usize, b: usize) -> Result<usize, ProverError> {
        let shape = op.float().output_shape(&[&self.nodes[a].shape, &self.nodes[b].shape], &[])?;
        let name = format!("{}/{suffix}", output_name(node));
        Ok(self.push(name, op, vec![a, b], shape))
    }

    /// Mul, Sub or Div of two activations.
    pub(super) fn binary_activations(&mut self, node: &pb::NodeProto, a: usize, b: usize) -> Result<(), ProverError> {
        let op = match node.op_type.as_str() {
            "Mul" => Op::Mul(Mul),
            "Sub" => Op::Sub(Sub),
            "Div" => Op::Div(Div),
            other => return Err(ProverError::Unsupported(format!("{other} of two activations"))),
        };
        self.define(node, op, vec![a, b])
    }

    /// Sqrt, Reciprocal.
    pub(super) fn unary(&mut self, node: &pb::NodeProto, op: Op) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        self.define(node, op, vec![x])
    }

    /// `Pow(x, 2) = x·x`, `Pow(x, 0.5) = √x`, `Pow(x, 1) = x`, `Pow(x, −1) = 1/x`: the exponent
    /// must be one of these constants.
    pub(super) fn pow(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let exponent = match self.value(self.input(node, 1)?)? {
            Value::Const(c) if c.data.len() == 1 => c.data[0],
            _ => return Err(ProverError::Unsupported("Pow with an exponent that is not a scalar constant".into())),
        };
        match exponent {
            e if e == 2.0 => self.define(node, Op::Mul(Mul), vec![x, x]),
            e if e == 0.5 => self.define(node, Op::Sqrt(Sqrt), vec![x]),
            e if e == 1.0 => self.identity(node, x),
            e if e == -1.0 => self.define(node, Op::Reciprocal(Reciprocal), vec![x]),
            e => Err(ProverError::Unsupported(format!("Pow with exponent {e} (supported: 2, 0.5, 1, -1)"))),
        }
    }

    /// `Gelu(x) = Relu(x) + G(x)` with `G = gelu − relu` tabulated on `[-6, 6]`, where it
    /// saturates (only the exact, erf-based Gelu).
    pub(super) fn gelu(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        if attr(node, "approximate").is_some_and(|a| a.s != b"none") {
            return Err(ProverError::Unsupported("Gelu with approximate = tanh".into()));
        }
        let x = self.activation(self.input(node, 0)?)?;
        let relu = self.push_op(node, "relu", Op::Relu(Relu), x)?;
        let clamped = self.clamp_to_saturation(node, x, Function::GeluResidual)?;
        let residual = self.push_op(node, "residual", Op::Function(Tabulated { function: Function::GeluResidual }), clamped)?;
        self.define(node, Op::Add(Add), vec![relu, residual])
    }

    /// `LeakyRelu(x) = α·x + (1 − α)·Relu(x)`.
    /// `α·x + β` for activation `x`: a product with α and the sum with β (folded into the
    /// product's rescale); HardSigmoid clamps it to `[0, 1]`.
    fn push_affine(&mut self, node: &pb::NodeProto, x: usize, alpha: f64, beta: f64) -> Result<usize, ProverError> {
        let scaled = self.push_op(node, "alpha_x", Op::MulConst(MulConst { constant: scalar(alpha)? }), x)?;
        self.push_op(node, "plus_beta", Op::AddConst(AddConst { constant: scalar(beta)? }), scaled)
    }

    /// HardSigmoid `max(0, min(1, α·x + β))` (α = 0.2 and β = 0.5 unless the node says
    /// otherwise): the affine map, then a clamp to `[0, 1]`.
    pub(super) fn hard_sigmoid(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let (alpha, beta) = (attr_float(node, "alpha", 0.2) as f64, attr_float(node, "beta", 0.5) as f64);
        let affine = self.push_affine(node, x, alpha, beta)?;
        self.define(node, Op::Clamp(Clamp { max: 1.0 }), vec![affine])
    }

    /// HardSwish `x · HardSigmoid(x)` with α = 1/6, β = 0.5: the product of two activations.
    pub(super) fn hard_swish(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let affine = self.push_affine(node, x, 1.0 / 6.0, 0.5)?;
        let gate = self.push_op(node, "hard_sigmoid", Op::Clamp(Clamp { max: 1.0 }), affine)?;
        self.define(node, Op::Mul(Mul), vec![x, gate])
    }

    pub(super) fn leaky_relu(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let alpha = attr_float(node, "alpha", 0.01) as f64;
        let x = self.activation(self.input(node, 0)?)?;
        let relu = self.push_op(node, "relu", Op::Relu(Relu), x)?;
        let scaled = self.push_op(node, "alpha_x", Op::MulConst(MulConst { constant: scalar(alpha)? }), x)?;
        let kept = self.push_op(node, "rest", Op::MulConst(MulConst { constant: scalar(1.0 - alpha)? }), relu)?;
        self.define(node, Op::Add(Add), vec![scaled, kept])
    }

    /// The axes of a Reduce node (attribute before opset 18, input 1 after; ReduceSum from
    /// opset 13), all axes when none are given.
    fn reduce_axes(&self, node: &pb::NodeProto, rank: usize) -> Result<Option<Vec<usize>>, ProverError> {
        let axes = self.ints_of(node, 1, "axes")?;
        match axes {
            Some(a) if !a.is_empty() => Ok(Some(a.iter().map(|&v| Self::axis(v, rank)).collect::<Result<_, _>>()?)),
            _ if attr_int(node, "noop_with_empty_axes", 0) != 0 => Ok(None),
            _ => Ok(Some((0..rank).collect())),
        }
    }

    /// ReduceSum, ReduceMean, ReduceMax; without keepdims a reshape drops the reduced axes.
    pub(super) fn reduce(&mut self, node: &pb::NodeProto, kind: ReduceKind) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let shape = self.nodes[x].shape.clone();
        let Some(mut axes) = self.reduce_axes(node, shape.len())? else {
            return self.identity(node, x);
        };
        axes.sort_unstable();
        axes.dedup();
        if attr_int(node, "keepdims", 1) != 0 {
            return self.define(node, Op::Reduce(Reduce { axes, kind }), vec![x]);
        }
        let reduced = self.push_op(node, "keepdims", Op::Reduce(Reduce { axes: axes.clone(), kind }), x)?;
        let target: Vec<usize> = shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect();
        self.define_shaped(node, Op::Reshape(Reshape), vec![reduced], target)
    }

    /// `Softmax(x) = e / Σ e` with `e = Exp(x − max x)` over `axis` (the last by default):
    /// ReduceMax, Sub, Exp (its input ≤ 0, clamped below at −12), ReduceSum, Div.
    pub(super) fn softmax(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let rank = self.nodes[x].shape.len();
        let axis = Self::axis(attr_int(node, "axis", -1), rank)?;
        if axis + 1 != rank && self.opset_before(13) {
            return Err(ProverError::Unsupported("Softmax over a non-last axis before opset 13 (flattening semantics)".into()));
        }
        let max = self.push_op(node, "max", Op::Reduce(Reduce { axes: vec![axis], kind: ReduceKind::Max }), x)?;
        let shifted = self.push_binary(node, "shifted", Op::Sub(Sub), x, max)?;
        let clamped = self.clamp_to_saturation(node, shifted, Function::Exp)?;
        let exp = self.push_op(node, "exp", Op::Function(Tabulated { function: Function::Exp }), clamped)?;
        let sum = self.push_op(node, "sum", Op::Reduce(Reduce { axes: vec![axis], kind: ReduceKind::Sum }), exp)?;
        self.define(node, Op::Div(Div), vec![exp, sum])
    }

    /// `LayerNormalization(x) = (x − μ) / √(σ² + ε) · scale + bias` over the axes from `axis` on:
    /// ReduceMean, Sub, Mul, ReduceMean, Add ε, Sqrt, Div, then the product with `scale` and the
    /// sum with `bias` (by constants, or of activations when they are computed). The optional
    /// outputs `Mean` and `InvStdDev` are the mean node and the reciprocal of the deviation.
    pub(super) fn layer_norm(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let rank = self.nodes[x].shape.len();
        let axis = Self::axis(attr_int(node, "axis", -1), rank)?;
        let eps = attr_float(node, "epsilon", 1e-5) as f64;
        let axes: Vec<usize> = (axis..rank).collect();
        let operand = |i: usize| node.input.get(i).filter(|s| !s.is_empty()).map(|name| self.value(name).cloned()).transpose();
        let (scale, bias) = (operand(1)?, operand(2)?);
        let mean = self.push_op(node, "mean", Op::Reduce(Reduce { axes: axes.clone(), kind: ReduceKind::Mean }), x)?;
        let centered = self.push_binary(node, "centered", Op::Sub(Sub), x, mean)?;
        let squared = self.push_binary(node, "squared", Op::Mul(Mul), centered, centered)?;
        let var = self.push_op(node, "variance", Op::Reduce(Reduce { axes, kind: ReduceKind::Mean }), squared)?;
        let var_eps = self.push_op(node, "variance_eps", Op::AddConst(AddConst { constant: scalar(eps)? }), var)?;
        let std = self.push_op(node, "std", Op::Sqrt(Sqrt), var_eps)?;
        let mut y = self.push_binary(node, "normalized", Op::Div(Div), centered, std)?;
        y = match scale {
            Some(Value::Const(c)) => self.push_op(node, "scaled", Op::MulConst(MulConst { constant: c.to_f32()? }), y)?,
            Some(Value::Node(s)) => self.push_binary(node, "scaled", Op::Mul(Mul), y, s)?,
            None => y,
        };
        y = match bias {
            Some(Value::Const(c)) => self.push_op(node, "shifted", Op::AddConst(AddConst { constant: c.to_f32()? }), y)?,
            Some(Value::Node(b)) => self.push_binary(node, "shifted", Op::Add(Add), y, b)?,
            None => y,
        };
        // The optional outputs: the mean and 1 / √(σ² + ε), both with the reduced axes kept.
        if node.output.get(1).is_some_and(|o| !o.is_empty()) {
            self.name_output(node, 1, mean)?;
        }
        if node.output.get(2).is_some_and(|o| !o.is_empty()) {
            let inverse = self.push_op(node, "inv_std", Op::Reciprocal(Reciprocal), std)?;
            self.name_output(node, 2, inverse)?;
        }
        self.name_result(node, y)
    }

    /// Pad (pads from input 1, or the attribute before opset 11; from opset 18 an `axes` input
    /// says which axes the pads are for). `constant` mode is the Pad operator; `edge`, `reflect`
    /// and `wrap` only copy input values, so they are a selection: each output coordinate reads the
    /// input coordinate the mode maps it to.
    pub(super) fn pad(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let mode = attr(node, "mode").map_or(b"constant".to_vec(), |a| a.s.clone());
        let input = self.nodes[x].shape.clone();
        let rank = input.len();
        let pads = self.ints_of(node, 1, "pads")?.ok_or_else(|| ProverError::Model("Pad without pads".into()))?;
        let axes = match self.ints_of(node, 3, "axes")? {
            Some(axes) => axes.iter().map(|&a| Self::axis(a, rank)).collect::<Result<Vec<_>, _>>()?,
            None => (0..rank).collect(),
        };
        if pads.len() != 2 * axes.len() || pads.iter().any(|&p| p < 0) {
            return Err(ProverError::Unsupported(format!("Pad with pads {pads:?} (non-negative, two per axis)")));
        }
        let mut per_axis = vec![(0usize, 0usize); rank];
        for (i, &axis) in axes.iter().enumerate() {
            per_axis[axis] = (pads[i] as usize, pads[i + axes.len()] as usize);
        }
        let shape: Vec<usize> = input.iter().zip(&per_axis).map(|(&d, &(before, after))| d + before + after).collect();
        let source = |axis: usize, c: usize| -> usize {
            let (n, before) = (input[axis] as i64, per_axis[axis].0 as i64);
            let i = c as i64 - before;
            let mapped = match mode.as_slice() {
                b"edge" => i.clamp(0, n - 1),
                b"wrap" => i.rem_euclid(n),
                // reflect: mirror without repeating the edge, with period 2(n − 1)
                _ if n == 1 => 0,
                _ => {
                    let m = i.rem_euclid(2 * (n - 1));
                    if m < n { m } else { 2 * (n - 1) - m }
                }
            };
            mapped as usize
        };
        match mode.as_slice() {
            b"constant" => {
                let value = match node.input.get(2).filter(|s| !s.is_empty()) {
                    Some(name) => match self.value(name)? {
                        Value::Const(c) if c.data.len() == 1 => c.data[0] as f32,
                        _ => return Err(ProverError::Unsupported("Pad with a value that is not a scalar constant".into())),
                    },
                    None => attr_float(node, "value", 0.0),
                };
                self.define(node, Op::Pad(Pad { pads: per_axis, value }), vec![x])
            }
            b"edge" | b"reflect" | b"wrap" if input.iter().all(|&d| d > 0) => {
                self.select(node, 0, vec![x], shape, |c| (0, c.iter().enumerate().map(|(axis, &v)| source(axis, v)).collect()))
            }
            other => Err(ProverError::Unsupported(format!("Pad in mode {}", String::from_utf8_lossy(other)))),
        }
    }
}
