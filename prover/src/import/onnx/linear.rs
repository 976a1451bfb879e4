//! Fully connected layers: Gemm, MatMul, and the Add that folds a bias into the Linear before it.

use super::*;

impl Importer {
    pub(super) fn gemm(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        if attr_int(node, "transA", 0) != 0 {
            return Err(ProverError::Unsupported("Gemm with transA = 1".into()));
        }
        let a = self.activation(self.input(node, 0)?)?;
        let (alpha, beta) = (attr_float(node, "alpha", 1.0), attr_float(node, "beta", 1.0));
        let b = match self.value(self.input(node, 1)?)? {
            Value::Const(c) => c.clone(),
            Value::Node(_) => return Err(ProverError::Unsupported("Gemm with a computed B operand".into())),
        };
        if b.shape.len() != 2 {
            return Err(ProverError::Shape(format!("Gemm B has shape {:?}", b.shape)));
        }
        let mut weight = if attr_int(node, "transB", 0) != 0 { transpose(&b) } else { b };
        weight.data.iter_mut().for_each(|w| *w *= alpha as f64);
        let n = weight.shape[1];
        let mut bias = None;
        let mut extra_add = None;
        if let Some(c_name) = node.input.get(2).filter(|s| !s.is_empty()) {
            match self.value(c_name)? {
                Value::Const(c) if c.data.len() == n && c.shape.iter().rev().skip(1).all(|&d| d == 1) => {
                    bias = Some(c.data.iter().map(|&x| (x * beta as f64) as f32).collect());
                }
                Value::Const(c) => {
                    let scaled = Const { shape: c.shape.clone(), data: c.data.iter().map(|&x| x * beta as f64).collect() };
                    extra_add = Some(Op::AddConst(AddConst { constant: scaled.to_f32()? }));
                }
                Value::Node(_) => return Err(ProverError::Unsupported("Gemm with a computed C operand".into())),
            }
        }
        let op = Op::Linear(Linear { weight: weight.to_f32()?, bias });
        match extra_add {
            None => self.define(node, op, vec![a]),
            Some(add) => {
                let shapes = [self.nodes[a].shape.as_slice()];
                let shape = op.float().output_shape(&shapes, &[])?;
                let linear = self.push(format!("{}/linear", node.output[0]), op, vec![a], shape);
                self.define(node, add, vec![linear])
            }
        }
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
                let out = node.output.first().ok_or_else(|| ProverError::Model("a node without output".into()))?;
                self.nodes[x].name = out.clone();
                debug_assert_eq!(self.nodes[x].inputs, input);
                self.values.insert(out.clone(), Value::Node(x));
                return Ok(());
            }
        }
        self.define(node, Op::AddConst(AddConst { constant: c.to_f32()? }), vec![x])
    }
}
