//! Elementwise operators: arithmetic with a constant or between activations, tabulated functions, Clip.

use super::*;

impl Importer {
    /// Sub, Mul and Div with one constant operand, as sums and products with constants.
    pub(super) fn arithmetic(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let (l, r) = (self.input(node, 0)?, self.input(node, 1)?);
        let (lv, rv) = (self.value(l)?.clone(), self.value(r)?.clone());
        let (x, c, const_first) = match (lv, rv) {
            (Value::Node(x), Value::Const(c)) => (x, c, false),
            (Value::Const(c), Value::Node(x)) => (x, c, true),
            (Value::Node(a), Value::Node(b)) => return self.binary_activations(node, a, b),
            (Value::Const(_), Value::Const(_)) => return Err(ProverError::Unsupported(format!("{} of two constants", node.op_type))),
        };
        let map = |f: &dyn Fn(f64) -> f64| Const { shape: c.shape.clone(), data: c.data.iter().map(|&v| f(v)).collect() };
        match (node.op_type.as_str(), const_first) {
            ("Mul", _) => self.define(node, Op::MulConst(MulConst { constant: c.to_f32()? }), vec![x]),
            ("Sub", false) => self.define(node, Op::AddConst(AddConst { constant: map(&|v| -v).to_f32()? }), vec![x]),
            ("Div", false) if c.data.iter().all(|&v| v != 0.0) => {
                self.define(node, Op::MulConst(MulConst { constant: map(&|v| 1.0 / v).to_f32()? }), vec![x])
            }
            ("Sub", true) => {
                // c − x = (−1)·x + c
                let negated = self.push_op(node, "neg", Op::MulConst(MulConst { constant: Tensor::new(vec![], vec![-1.0])? }), x)?;
                self.define(node, Op::AddConst(AddConst { constant: c.to_f32()? }), vec![negated])
            }
            _ => Err(ProverError::Unsupported(format!("{} with this constant operand", node.op_type))),
        }
    }

    /// An intermediate node named after `node`'s output.
    pub(super) fn push_op(&mut self, node: &pb::NodeProto, suffix: &str, op: Op, x: usize) -> Result<usize, ProverError> {
        let shape = op.float().output_shape(&[&self.nodes[x].shape], &[])?;
        let name = format!("{}/{suffix}", output_name(node));
        Ok(self.push(name, op, vec![x], shape))
    }

    /// A function through a lookup table, its input first clamped to where the function
    /// saturates, which changes no rounded output: to `[lo, hi]` by shift, clamp to `[0, hi − lo]`,
    /// shift back; to `[lo, ∞)` by shift, ReLU, shift back.
    pub(super) fn tabulated(&mut self, node: &pb::NodeProto, function: Function) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let clamped = self.clamp_to_saturation(node, x, function)?;
        self.define(node, Op::Function(Tabulated { function }), vec![clamped])
    }

    pub(super) fn clamp_to_saturation(&mut self, node: &pb::NodeProto, x: usize, function: Function) -> Result<usize, ProverError> {
        let scalar = |v: f64| Tensor::new(vec![], vec![v as f32]);
        Ok(match function.saturation() {
            (Some(lo), hi) => {
                let shifted = self.push_op(node, "shift", Op::AddConst(AddConst { constant: scalar(-lo)? }), x)?;
                let clamped = match hi {
                    Some(hi) => self.push_op(node, "clamp", Op::Clamp(Clamp { max: (hi - lo) as f32 }), shifted)?,
                    None => self.push_op(node, "clamp", Op::Relu(Relu), shifted)?,
                };
                self.push_op(node, "unshift", Op::AddConst(AddConst { constant: scalar(lo)? }), clamped)?
            }
            (None, _) => x,
        })
    }

    /// Clip to `[lo, hi]`: with a lower bound of 0 (Relu6 and the like) a clamp; with other
    /// bounds, shifted to 0 first and back after. One bound: `max(x, lo)` as a shifted ReLU,
    /// `min(x, hi)` as `x − relu(x − hi)`. No bound: the input itself. Computed bounds go
    /// through [`Self::clip_by_activations`].
    pub(super) fn clip(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let bound = |i: usize, attr_name: &str, default: f64| -> Result<Bound, ProverError> {
            match node.input.get(i).filter(|s| !s.is_empty()) {
                Some(name) => match self.value(name)? {
                    Value::Const(c) if c.data.len() == 1 => Ok(Bound::Constant(c.data[0])),
                    Value::Const(_) => Err(ProverError::Unsupported("Clip bounds that are not scalars".into())),
                    Value::Node(id) => Ok(Bound::Computed(*id)),
                },
                None => Ok(Bound::Constant(attr(node, attr_name).map_or(default, |a| a.f as f64))),
            }
        };
        let (lo, hi) = match (bound(1, "min", f64::NEG_INFINITY)?, bound(2, "max", f64::INFINITY)?) {
            (Bound::Constant(lo), Bound::Constant(hi)) => (lo, hi),
            (lo, hi) => return self.clip_by_activations(node, x, lo, hi),
        };
        if lo.is_nan() || hi.is_nan() || hi < lo {
            return Err(ProverError::Unsupported(format!("Clip to [{lo}, {hi}] (the lower bound must not exceed the upper)")));
        }
        let scalar = |v: f64| Tensor::new(vec![], vec![v as f32]);
        match (lo.is_finite(), hi.is_finite()) {
            (true, true) if lo == 0.0 => self.define(node, Op::Clamp(Clamp { max: hi as f32 }), vec![x]),
            (true, true) => {
                let shifted = self.push_op(node, "shift", Op::AddConst(AddConst { constant: scalar(-lo)? }), x)?;
                let clamped = self.push_op(node, "clamp", Op::Clamp(Clamp { max: (hi - lo) as f32 }), shifted)?;
                self.define(node, Op::AddConst(AddConst { constant: scalar(lo)? }), vec![clamped])
            }
            (true, false) if lo == 0.0 => self.define(node, Op::Relu(Relu), vec![x]),
            (true, false) => {
                let shifted = self.push_op(node, "shift", Op::AddConst(AddConst { constant: scalar(-lo)? }), x)?;
                let kept = self.push_op(node, "relu", Op::Relu(Relu), shifted)?;
                self.define(node, Op::AddConst(AddConst { constant: scalar(lo)? }), vec![kept])
            }
            (false, true) => {
                let over = self.push_op(node, "shift", Op::AddConst(AddConst { constant: scalar(-hi)? }), x)?;
                let excess = self.push_op(node, "excess", Op::Relu(Relu), over)?;
                self.define(node, Op::Sub(Sub), vec![x, excess])
            }
            (false, false) => self.identity(node, x),
        }
    }

    /// Clip with a bound computed at run time (a scalar activation): `max(x, lo) = lo + relu(x −
    /// lo)`, then `min(y, hi) = y − relu(y − hi)`, each by activations. ONNX leaves a lower bound
    /// above the upper undefined; this gives `hi` then, as ONNX's reference does.
    fn clip_by_activations(&mut self, node: &pb::NodeProto, x: usize, lo: Bound, hi: Bound) -> Result<(), ProverError> {
        let mut y = x;
        if lo.is_finite() {
            let below = self.offset_by(node, "minus_min", y, &lo, -1.0)?;
            let kept = self.push_op(node, "above_min", Op::Relu(Relu), below)?;
            y = self.offset_by(node, "at_least_min", kept, &lo, 1.0)?;
        }
        if hi.is_finite() {
            let over = self.offset_by(node, "minus_max", y, &hi, -1.0)?;
            let excess = self.push_op(node, "excess", Op::Relu(Relu), over)?;
            y = self.push_binary(node, "at_most_max", Op::Sub(Sub), y, excess)?;
        }
        self.name_result(node, y)
    }

    /// `y + sign·bound` (sign ±1): a sum with a constant, or of activations.
    fn offset_by(&mut self, node: &pb::NodeProto, suffix: &str, y: usize, bound: &Bound, sign: f64) -> Result<usize, ProverError> {
        match *bound {
            Bound::Constant(c) => self.push_op(node, suffix, Op::AddConst(AddConst { constant: Tensor::new(vec![], vec![(sign * c) as f32])? }), y),
            Bound::Computed(b) if sign > 0.0 => self.push_binary(node, suffix, Op::Add(Add), y, b),
            Bound::Computed(b) => self.push_binary(node, suffix, Op::Sub(Sub), y, b),
        }
    }
}

/// A bound of Clip: a constant, or a node's (scalar) value.
enum Bound {
    Constant(f64),
    Computed(usize),
}

impl Bound {
    /// False for a missing bound (±∞).
    fn is_finite(&self) -> bool {
        match self {
            Bound::Constant(c) => c.is_finite(),
            Bound::Computed(_) => true,
        }
    }
}
