//! Fully connected layers: Gemm, MatMul, and the Add that folds a bias into the Linear before it.

use super::*;

impl Importer {
    /// Gemm `Y = α·A'·B' + β·C`, where `A'` is `Aᵀ` when `transA` is set and `B'` likewise. A
    /// constant `B` becomes a Linear (α folded into its weight, a row-shaped constant `C` into
    /// its bias); a computed `B` a MatMul of two activations, then a product with α unless α = 1.
    /// Any other `C` is added after it, scaled by β: a constant by AddConst, an activation by Add.
    pub(super) fn gemm(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let mut a = self.activation(self.input(node, 0)?)?;
        if attr_int(node, "transA", 0) != 0 {
            a = self.push_op(node, "a_transposed", Op::Transpose(Transpose { perm: vec![1, 0] }), a)?;
        }
        let (alpha, beta) = (attr_float(node, "alpha", 1.0) as f64, attr_float(node, "beta", 1.0) as f64);
        let trans_b = attr_int(node, "transB", 0) != 0;
        let mut c = match node.input.get(2).filter(|s| !s.is_empty()) {
            Some(name) => Some(self.value(name)?.clone()),
            None => None,
        };
        let product = match self.value(self.input(node, 1)?)?.clone() {
            Value::Const(b) => {
                if b.shape.len() != 2 {
                    return Err(ProverError::Shape(format!("Gemm B has shape {:?}", b.shape)));
                }
                let mut weight = if trans_b { transpose(&b) } else { b };
                weight.data.iter_mut().for_each(|w| *w *= alpha);
                let n = weight.shape[1];
                let bias = match &c {
                    Some(Value::Const(row)) if row.data.len() == n && row.shape.iter().rev().skip(1).all(|&d| d == 1) => {
                        let bias = row.data.iter().map(|&x| (x * beta) as f32).collect();
                        c = None;
                        Some(bias)
                    }
                    _ => None,
                };
                self.push_op(node, "linear", Op::Linear(Linear { weight: weight.to_f32()?, bias }), a)?
            }
            Value::Node(b) => {
                let b = if trans_b { self.push_op(node, "b_transposed", Op::Transpose(Transpose { perm: vec![1, 0] }), b)? } else { b };
                let product = self.push_binary(node, "matmul", Op::MatMul(MatMul), a, b)?;
                if alpha == 1.0 {
                    product
                } else {
                    self.push_op(node, "alpha", Op::MulConst(MulConst { constant: Tensor::new(vec![], vec![alpha as f32])? }), product)?
                }
            }
        };
        let result = match c {
            None => product,
            Some(Value::Const(c)) => {
                let scaled = Const { shape: c.shape.clone(), data: c.data.iter().map(|&x| x * beta).collect() };
                self.push_op(node, "plus_c", Op::AddConst(AddConst { constant: scaled.to_f32()? }), product)?
            }
            Some(Value::Node(c)) => {
                let c = if beta == 1.0 {
                    c
                } else {
                    self.push_op(node, "beta_c", Op::MulConst(MulConst { constant: Tensor::new(vec![], vec![beta as f32])? }), c)?
                };
                self.push_binary(node, "plus_c", Op::Add(Add), product, c)?
            }
        };
        self.name_result(node, result)
    }

    pub(super) fn matmul(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let a = self.activation(self.input(node, 0)?)?;
        match self.value(self.input(node, 1)?)?.clone() {
            Value::Const(w) if w.shape.len() == 2 => self.define(node, Op::Linear(Linear { weight: w.to_f32()?, bias: None }), vec![a]),
            Value::Const(w) => Err(ProverError::Unsupported(format!("MatMul by a constant of shape {:?} (2-D only)", w.shape))),
            Value::Node(b) => self.define(node, Op::MatMul(MatMul), vec![a, b]),
        }
    }

    pub(super) fn add(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let (l, r) = (self.input(node, 0)?, self.input(node, 1)?);
        let (x_name, c) = match (self.value(l)?.clone(), self.value(r)?.clone()) {
            (Value::Node(a), Value::Node(b)) => return self.define(node, Op::Add(Add), vec![a, b]),
            (Value::Node(_), Value::Const(c)) => (l, c),
            (Value::Const(c), Value::Node(_)) => (r, c),
            (Value::Const(_), Value::Const(_)) => return Err(ProverError::Unsupported("Add of two constants".into())),
        };
        let x = self.activation(x_name)?;
        // MatMul + Add(constant row) is how exporters often write a linear layer: fold the constant
        // into the bias when nothing else reads the product.
        let single_use = self.uses.get(x_name).copied() == Some(1);
        if let Op::Linear(Linear { weight, bias: None }) = &self.nodes[x].op {
            let n = weight.shape()[1];
            let row_like = c.data.len() == n && c.shape.last() == Some(&n);
            let keeps_shape = c.shape.len() <= self.nodes[x].shape.len();
            if single_use && row_like && keeps_shape {
                let (weight, bias) = (weight.clone(), Some(c.data.iter().map(|&v| v as f32).collect()));
                let input = self.nodes[x].inputs.clone();
                let op = Op::Linear(Linear { weight, bias });
                // Re-point the product node itself: it has no other reader.
                self.nodes[x].op = op;
                debug_assert_eq!(self.nodes[x].inputs, input);
                return self.name_result(node, x);
            }
        }
        self.define(node, Op::AddConst(AddConst { constant: c.to_f32()? }), vec![x])
    }
}
