//! ONNX import: the protobuf is parsed by tract-onnx; each ONNX operator is then mapped onto the
//! prover's own [`Graph`] with ONNX's semantics (default attributes included), folding constants
//! into the operators that use them. An operator we cannot prove is an error that names it.

use std::collections::HashMap;
use std::path::Path;

use tract_onnx::pb;
use tract_onnx::prelude::Framework;

mod composite;

use super::{Graph, Node, Op};
use crate::ops::reduce::ReduceKind;
use crate::ops::conv::{Conv, Pool, Window};
use crate::ops::nonlinear::Function;
use crate::error::ProverError;
use crate::tensor::Tensor;

/// Reads the ONNX model at `path` into a validated [`Graph`].
///
/// Symbolic dimensions (such as a batch size `N`) are fixed to 1: a circuit has static shapes.
/// The ONNX operators the importer maps (error messages list them).
pub const SUPPORTED: &str = "Gemm, MatMul, Conv, BatchNormalization, Relu, LeakyRelu, Clip, Sigmoid, Tanh, Exp, Erf, Gelu, \
Softmax, LayerNormalization, Add, Sub, Mul, Div, Pow (2, 0.5, 1, -1), Sqrt, Reciprocal, ReduceSum, ReduceMean, ReduceMax, \
AveragePool, GlobalAveragePool, MaxPool, GlobalMaxPool, Pad, Concat, Slice, Split, Gather (constant indices, or an \
embedding table by computed indices), Squeeze, Unsqueeze, Flatten, \
Reshape, Transpose, Constant, Identity, Dropout";

pub fn load_onnx(path: &Path) -> Result<Graph, ProverError> {
    if !path.exists() {
        return Err(ProverError::io(path, std::io::ErrorKind::NotFound.into()));
    }
    let proto = tract_onnx::onnx()
        .proto_model_for_path(path)
        .map_err(|e| ProverError::Model(format!("{} is not a valid ONNX file: {e}", path.display())))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| ProverError::Model(format!("{} holds no graph", path.display())))?;
    // The default-domain opset decides a few operators' defaults (Softmax's axis semantics).
    let opset = proto.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(1, |o| o.version);
    Importer { opset, ..Importer::default() }.import(graph)
}

/// A constant tensor of any numeric ONNX type, widened to f64.
#[derive(Clone, Debug)]
struct Const {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Const {
    fn to_f32(&self) -> Result<Tensor<f32>, ProverError> {
        Tensor::new(self.shape.clone(), self.data.iter().map(|&x| x as f32).collect())
    }
}

/// What an ONNX value name refers to.
#[derive(Clone, Debug)]
enum Value {
    Const(Const),
    Node(usize),
}

#[derive(Default)]
struct Importer {
    nodes: Vec<Node>,
    values: HashMap<String, Value>,
    /// How many node inputs read each value name (to know when a constant Add may fold into a bias).
    uses: HashMap<String, usize>,
    opset: i64,
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_int(node: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn attr_ints(node: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

fn attr_float(node: &pb::NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).map_or(default, |a| a.f)
}

fn node_label(node: &pb::NodeProto) -> String {
    if node.name.is_empty() {
        format!("{} -> {}", node.op_type, node.output.first().map(String::as_str).unwrap_or("?"))
    } else {
        format!("{} ({})", node.name, node.op_type)
    }
}

impl Importer {
    fn opset_before(&self, version: i64) -> bool {
        self.opset < version
    }

    fn import(mut self, graph: &pb::GraphProto) -> Result<Graph, ProverError> {
        for init in &graph.initializer {
            self.values.insert(init.name.clone(), Value::Const(decode_tensor(init)?));
        }
        for n in &graph.node {
            for i in n.input.iter().filter(|i| !i.is_empty()) {
                *self.uses.entry(i.clone()).or_default() += 1;
            }
        }
        for o in &graph.output {
            *self.uses.entry(o.name.clone()).or_default() += 1;
        }
        let mut inputs = vec![];
        for input in &graph.input {
            if self.values.contains_key(&input.name) {
                continue; // an initializer listed as input (older exporters)
            }
            let shape = value_info_shape(input)?;
            inputs.push(self.push(input.name.clone(), Op::Input, vec![], shape));
            self.values.insert(input.name.clone(), Value::Node(inputs.len() - 1));
            let id = self.nodes.len() - 1;
            self.values.insert(input.name.clone(), Value::Node(id));
        }
        if inputs.is_empty() {
            return Err(ProverError::Model("the model has no input".into()));
        }
        for node in &graph.node {
            self.node(node).map_err(|e| match e {
                ProverError::Unsupported(m) => ProverError::Unsupported(format!("node {}: {m}", node_label(node))),
                ProverError::Shape(m) => ProverError::Shape(format!("node {}: {m}", node_label(node))),
                other => other,
            })?;
        }
        let outputs = graph
            .output
            .iter()
            .map(|o| match self.values.get(&o.name) {
                Some(Value::Node(id)) => Ok(*id),
                Some(Value::Const(_)) => Err(ProverError::Unsupported(format!("output {} is a constant", o.name))),
                None => Err(ProverError::Model(format!("output {} is never computed", o.name))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let graph = Graph { nodes: self.nodes, inputs, outputs };
        graph.validate()?;
        Ok(graph)
    }

    fn push(&mut self, name: String, op: Op, inputs: Vec<usize>, shape: Vec<usize>) -> usize {
        self.nodes.push(Node { name, op, inputs, shape });
        self.nodes.len() - 1
    }

    fn value(&self, name: &str) -> Result<&Value, ProverError> {
        self.values.get(name).ok_or_else(|| ProverError::Model(format!("value {name} is used before it is defined")))
    }

    fn activation(&self, name: &str) -> Result<usize, ProverError> {
        match self.value(name)? {
            Value::Node(id) => Ok(*id),
            Value::Const(_) => Err(ProverError::Unsupported(format!("operand {name} is a constant where an activation is expected"))),
        }
    }

    fn input<'a>(&self, node: &'a pb::NodeProto, i: usize) -> Result<&'a str, ProverError> {
        node.input
            .get(i)
            .filter(|s| !s.is_empty())
            .map(String::as_str)
            .ok_or_else(|| ProverError::Model(format!("missing input {i}")))
    }

    fn define(&mut self, node: &pb::NodeProto, op: Op, inputs: Vec<usize>) -> Result<(), ProverError> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|&i| self.nodes[i].shape.as_slice()).collect();
        let shape = crate::ops::output_shape(&op, &shapes, &[])?;
        self.define_shaped(node, op, inputs, shape)
    }

    fn define_shaped(&mut self, node: &pb::NodeProto, op: Op, inputs: Vec<usize>, shape: Vec<usize>) -> Result<(), ProverError> {
        let out = node.output.first().ok_or_else(|| ProverError::Model("a node without output".into()))?;
        let id = self.push(out.clone(), op, inputs, shape);
        self.values.insert(out.clone(), Value::Node(id));
        Ok(())
    }

    fn alias(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let v = self.value(self.input(node, 0)?)?.clone();
        let out = node.output.first().ok_or_else(|| ProverError::Model("a node without output".into()))?;
        self.values.insert(out.clone(), v);
        Ok(())
    }

    fn node(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(ProverError::Unsupported(format!("operator domain {}", node.domain)));
        }
        match node.op_type.as_str() {
            "Constant" => {
                let t = attr(node, "value")
                    .and_then(|a| a.t.as_ref())
                    .ok_or_else(|| ProverError::Unsupported("Constant without a tensor `value`".into()))?;
                let c = decode_tensor(t)?;
                let out = node.output.first().ok_or_else(|| ProverError::Model("a node without output".into()))?;
                self.values.insert(out.clone(), Value::Const(c));
                Ok(())
            }
            "Identity" | "Dropout" => self.alias(node),
            "Gemm" => self.gemm(node),
            "MatMul" => self.matmul(node),
            "Add" => self.add(node),
            "Relu" => {
                let x = self.activation(self.input(node, 0)?)?;
                self.define(node, Op::Relu, vec![x])
            }
            "Flatten" => {
                let x = self.activation(self.input(node, 0)?)?;
                let shape = &self.nodes[x].shape;
                let rank = shape.len() as i64;
                let mut axis = attr_int(node, "axis", 1);
                if axis < 0 {
                    axis += rank;
                }
                if !(0..=rank).contains(&axis) {
                    return Err(ProverError::Shape(format!("Flatten axis {axis} for rank {rank}")));
                }
                let (outer, inner) = shape.split_at(axis as usize);
                let target = vec![outer.iter().product(), inner.iter().product()];
                self.define_shaped(node, Op::Reshape, vec![x], target)
            }
            "Reshape" => {
                let x = self.activation(self.input(node, 0)?)?;
                let spec = match self.value(self.input(node, 1)?)? {
                    Value::Const(c) => c.data.iter().map(|&d| d as i64).collect::<Vec<_>>(),
                    Value::Node(_) => return Err(ProverError::Unsupported("Reshape to a shape computed at run time".into())),
                };
                let target = reshape_target(&self.nodes[x].shape, &spec, attr_int(node, "allowzero", 0) != 0)?;
                self.define_shaped(node, Op::Reshape, vec![x], target)
            }
            "Sub" | "Mul" | "Div" => self.arithmetic(node),
            "Concat" => self.concat(node),
            "Slice" => self.slice(node),
            "Split" => self.split(node),
            "Gather" => self.gather(node),
            "Squeeze" | "Unsqueeze" => self.squeeze(node),
            "Sigmoid" => self.tabulated(node, Function::Sigmoid),
            "Tanh" => self.tabulated(node, Function::Tanh),
            "Exp" => self.tabulated(node, Function::Exp),
            "Erf" => self.tabulated(node, Function::Erf),
            "Gelu" => self.gelu(node),
            "LeakyRelu" => self.leaky_relu(node),
            "Sqrt" => self.unary(node, Op::Sqrt),
            "Reciprocal" => self.unary(node, Op::Reciprocal),
            "Pow" => self.pow(node),
            "ReduceSum" => self.reduce(node, ReduceKind::Sum),
            "ReduceMean" => self.reduce(node, ReduceKind::Mean),
            "ReduceMax" => self.reduce(node, ReduceKind::Max),
            "Softmax" => self.softmax(node),
            "LayerNormalization" => self.layer_norm(node),
            "Pad" => self.pad(node),
            "BatchNormalization" => self.batch_norm(node),
            "Clip" => self.clip(node),
            "Transpose" => {
                let x = self.activation(self.input(node, 0)?)?;
                let rank = self.nodes[x].shape.len();
                let perm = match attr_ints(node, "perm") {
                    Some(p) => p.iter().map(|&a| usize::try_from(a).map_err(|_| ProverError::Shape(format!("perm {p:?}")))).collect::<Result<Vec<_>, _>>()?,
                    None => (0..rank).rev().collect(),
                };
                self.define(node, Op::Transpose { perm }, vec![x])
            }
            "Conv" => self.conv(node),
            "AveragePool" | "GlobalAveragePool" | "MaxPool" | "GlobalMaxPool" => self.pool(node),
            other => Err(ProverError::Unsupported(format!(
                "operator {other} is not supported yet (supported: {SUPPORTED})"
            ))),
        }
    }

    fn gemm(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
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
                    extra_add = Some(Op::AddConst { constant: scaled.to_f32()? });
                }
                Value::Node(_) => return Err(ProverError::Unsupported("Gemm with a computed C operand".into())),
            }
        }
        let op = Op::Linear { weight: weight.to_f32()?, bias };
        match extra_add {
            None => self.define(node, op, vec![a]),
            Some(add) => {
                let shapes = [self.nodes[a].shape.as_slice()];
                let shape = crate::ops::output_shape(&op, &shapes, &[])?;
                let linear = self.push(format!("{}/linear", node.output[0]), op, vec![a], shape);
                self.define(node, add, vec![linear])
            }
        }
    }

    /// Wraps an NHWC operator between NCHW→NHWC and NHWC→NCHW transposes (free in the circuit:
    /// they only reorder cells).
    fn nhwc(&mut self, node: &pb::NodeProto, x: usize, op: Op) -> Result<(), ProverError> {
        let label = node.output.first().cloned().unwrap_or_default();
        let to_nhwc = Op::Transpose { perm: vec![0, 2, 3, 1] };
        let shape = crate::ops::output_shape(&to_nhwc, &[&self.nodes[x].shape], &[])?;
        let inner = self.push(format!("{label}/nhwc"), to_nhwc, vec![x], shape);
        let shape = crate::ops::output_shape(&op, &[&self.nodes[inner].shape], &[])?;
        let computed = self.push(format!("{label}/{}", op.kind()), op, vec![inner], shape);
        self.define(node, Op::Transpose { perm: vec![0, 3, 1, 2] }, vec![computed])
    }

    /// The window of a Conv or pooling node over an `[N, C, H, W]` input.
    fn window(&self, node: &pb::NodeProto, input: &[usize], kernel: [usize; 2]) -> Result<Window, ProverError> {
        let two = |name: &str, default: usize| -> Result<[usize; 2], ProverError> {
            match attr_ints(node, name) {
                None => Ok([default; 2]),
                Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 1) => Ok([v[0] as usize, v[1] as usize]),
                Some(v) => Err(ProverError::Unsupported(format!("{name} = {v:?} (2-D only)"))),
            }
        };
        if two("dilations", 1)? != [1, 1] {
            return Err(ProverError::Unsupported("dilated windows".into()));
        }
        let stride = two("strides", 1)?;
        let auto_pad = attr(node, "auto_pad").map(|a| String::from_utf8_lossy(&a.s).into_owned()).unwrap_or_default();
        let padding = match auto_pad.as_str() {
            "" | "NOTSET" => match attr_ints(node, "pads") {
                None => [0; 4],
                Some(p) if p.len() == 4 && p.iter().all(|&x| x >= 0) => [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize],
                Some(p) => return Err(ProverError::Unsupported(format!("pads = {p:?}"))),
            },
            "VALID" => [0; 4],
            "SAME_UPPER" | "SAME_LOWER" => {
                let total = |i: usize| ((input[2 + i].div_ceil(stride[i]) - 1) * stride[i] + kernel[i]).saturating_sub(input[2 + i]);
                let (th, tw) = (total(0), total(1));
                if auto_pad == "SAME_UPPER" {
                    [th / 2, tw / 2, th - th / 2, tw - tw / 2]
                } else {
                    [th - th / 2, tw - tw / 2, th / 2, tw / 2]
                }
            }
            other => return Err(ProverError::Unsupported(format!("auto_pad = {other}"))),
        };
        Ok(Window { kernel, stride, padding })
    }

    fn conv(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let input = self.nodes[x].shape.clone();
        let w = match self.value(self.input(node, 1)?)? {
            Value::Const(c) => c.clone(),
            Value::Node(_) => return Err(ProverError::Unsupported("Conv with computed weights".into())),
        };
        if input.len() != 4 || w.shape.len() != 4 {
            return Err(ProverError::Unsupported(format!("Conv of {input:?} by {:?} (2-D convolutions only)", w.shape)));
        }
        let (o, ci, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
        let channels = input[1];
        let group = attr_int(node, "group", 1).max(1) as usize;
        // ONNX weights are [O, C/group, KH, KW]; ours are [O, KH, KW, C] or, depthwise, [1, KH, KW, O].
        let (weight, depthwise) = if group == 1 && ci == channels {
            let mut data = vec![0.0; w.data.len()];
            for (oo, (i, (y, z))) in grid4(o, ci, kh, kw) {
                data[((oo * kh + y) * kw + z) * ci + i] = w.data[((oo * ci + i) * kh + y) * kw + z];
            }
            (Tensor::new(vec![o, kh, kw, ci], data.iter().map(|&v| v as f32).collect())?, false)
        } else if group == channels && ci == 1 && o % channels == 0 {
            let mut data = vec![0.0; w.data.len()];
            for (oo, (_, (y, z))) in grid4(o, 1, kh, kw) {
                data[(y * kw + z) * o + oo] = w.data[(oo * kh + y) * kw + z];
            }
            (Tensor::new(vec![1, kh, kw, o], data.iter().map(|&v| v as f32).collect())?, true)
        } else {
            return Err(ProverError::Unsupported(format!("Conv with group = {group} (only 1 or depthwise)")));
        };
        let bias = match node.input.get(2).filter(|s| !s.is_empty()) {
            Some(b) => match self.value(b)? {
                Value::Const(c) if c.data.len() == o => Some(c.data.iter().map(|&v| v as f32).collect()),
                _ => return Err(ProverError::Unsupported("Conv bias that is not a constant of length C_out".into())),
            },
            None => None,
        };
        let window = self.window(node, &input, [kh, kw])?;
        self.nhwc(node, x, Op::Conv { weight, bias, conv: Conv { window, depthwise } })
    }

    /// Sub, Mul and Div with one constant operand, as sums and products with constants.
    fn arithmetic(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
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
            ("Mul", _) => self.define(node, Op::MulConst { constant: c.to_f32()? }, vec![x]),
            ("Sub", false) => self.define(node, Op::AddConst { constant: map(&|v| -v).to_f32()? }, vec![x]),
            ("Div", false) if c.data.iter().all(|&v| v != 0.0) => {
                self.define(node, Op::MulConst { constant: map(&|v| 1.0 / v).to_f32()? }, vec![x])
            }
            ("Sub", true) => {
                // c − x = (−1)·x + c
                let negated = self.push_op(node, "neg", Op::MulConst { constant: Tensor::new(vec![], vec![-1.0])? }, x)?;
                self.define(node, Op::AddConst { constant: c.to_f32()? }, vec![negated])
            }
            _ => Err(ProverError::Unsupported(format!("{} with this constant operand", node.op_type))),
        }
    }

    /// An intermediate node named after `node`'s output.
    fn push_op(&mut self, node: &pb::NodeProto, suffix: &str, op: Op, x: usize) -> Result<usize, ProverError> {
        let shape = crate::ops::output_shape(&op, &[&self.nodes[x].shape], &[])?;
        let name = format!("{}/{suffix}", node.output.first().cloned().unwrap_or_default());
        Ok(self.push(name, op, vec![x], shape))
    }

    /// BatchNormalization (inference): `y = scale·x + shift` per channel, folded into the
    /// preceding convolution when nothing else reads it, else a product and a sum with constants.
    fn batch_norm(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let params: Vec<Const> = (1..5)
            .map(|i| match self.value(self.input(node, i)?)? {
                Value::Const(c) => Ok(c.clone()),
                Value::Node(_) => Err(ProverError::Unsupported("BatchNormalization with computed parameters".into())),
            })
            .collect::<Result<_, _>>()?;
        let eps = attr_float(node, "epsilon", 1e-5) as f64;
        let channels = *self.nodes[x].shape.get(1).ok_or_else(|| ProverError::Shape("BatchNormalization of a rank-1 tensor".into()))?;
        if params.iter().any(|p| p.data.len() != channels) {
            return Err(ProverError::Shape(format!("BatchNormalization parameters for {channels} channels")));
        }
        let (gamma, beta, mean, var) = (&params[0].data, &params[1].data, &params[2].data, &params[3].data);
        let scale: Vec<f64> = (0..channels).map(|c| gamma[c] / (var[c] + eps).sqrt()).collect();
        let shift: Vec<f64> = (0..channels).map(|c| beta[c] - mean[c] * scale[c]).collect();
        // Fold into Transpose(Conv(..)) written by `conv`, when the convolution has no other reader.
        let input_name = self.input(node, 0)?.to_string();
        if self.uses.get(&input_name).copied() == Some(1) {
            if let Op::Transpose { perm } = &self.nodes[x].op {
                let conv_id = self.nodes[x].inputs[0];
                if perm == &vec![0, 3, 1, 2] && conv_id + 1 == x {
                    if let Op::Conv { weight, bias, conv } = &mut self.nodes[conv_id].op {
                        let out_c = *weight.shape().last().unwrap_or(&0);
                        let per_out = |i: usize| if conv.depthwise { i % out_c } else { i / (weight.len() / out_c.max(1)) };
                        if out_c == channels {
                            let w: Vec<f32> = weight.data().iter().enumerate().map(|(i, &v)| (v as f64 * scale[per_out(i)]) as f32).collect();
                            *weight = Tensor::new(weight.shape().to_vec(), w)?;
                            let b: Vec<f32> = (0..channels).map(|c| (bias.as_ref().map_or(0.0, |b| b[c] as f64) * scale[c] + shift[c]) as f32).collect();
                            *bias = Some(b);
                            let out = node.output.first().ok_or_else(|| ProverError::Model("a node without output".into()))?;
                            self.values.insert(out.clone(), Value::Node(x));
                            return Ok(());
                        }
                    }
                }
            }
        }
        let rank = self.nodes[x].shape.len();
        let per_channel = |v: &[f64]| Tensor::new([channels].into_iter().chain(std::iter::repeat_n(1, rank - 2)).collect(), v.iter().map(|&f| f as f32).collect());
        let scaled = self.push_op(node, "scale", Op::MulConst { constant: per_channel(&scale)? }, x)?;
        self.define(node, Op::AddConst { constant: per_channel(&shift)? }, vec![scaled])
    }

    /// Integer values of a constant input or attribute (axes, starts, split sizes...).
    fn ints_of(&self, node: &pb::NodeProto, input: usize, attr_name: &str) -> Result<Option<Vec<i64>>, ProverError> {
        if let Some(name) = node.input.get(input).filter(|s| !s.is_empty()) {
            return match self.value(name)? {
                Value::Const(c) => Ok(Some(c.data.iter().map(|&v| v as i64).collect())),
                Value::Node(_) => Err(ProverError::Unsupported(format!("{} with computed {attr_name}", node.op_type))),
            };
        }
        Ok(attr_ints(node, attr_name))
    }

    /// Defines output `out` of `node` as values picked from `operands` by `pick`, which maps an
    /// output coordinate to `(operand, input coordinate)`.
    fn select(&mut self, node: &pb::NodeProto, out: usize, operands: Vec<usize>, shape: Vec<usize>, pick: impl Fn(&[usize]) -> (usize, Vec<usize>)) -> Result<(), ProverError> {
        let total: usize = shape.iter().product();
        let out_strides = crate::tensor::strides(&shape);
        let mut picks = Vec::with_capacity(total);
        let mut coords = vec![0; shape.len()];
        for flat in 0..total {
            for (axis, c) in coords.iter_mut().enumerate() {
                *c = flat / out_strides[axis] % shape[axis];
            }
            let (operand, at) = pick(&coords);
            let in_strides = crate::tensor::strides(&self.nodes[operands[operand]].shape);
            picks.push((operand, at.iter().zip(&in_strides).map(|(c, s)| c * s).sum()));
        }
        let name = node.output.get(out).ok_or_else(|| ProverError::Model("missing output".into()))?.clone();
        let id = self.push(name.clone(), Op::Select { picks }, operands, shape);
        self.values.insert(name, Value::Node(id));
        Ok(())
    }

    fn axis(axis: i64, rank: usize) -> Result<usize, ProverError> {
        let a = if axis < 0 { axis + rank as i64 } else { axis };
        usize::try_from(a).ok().filter(|&a| a < rank).ok_or_else(|| ProverError::Shape(format!("axis {axis} for rank {rank}")))
    }

    fn concat(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let operands = node.input.iter().map(|n| self.activation(n)).collect::<Result<Vec<_>, _>>()?;
        let first = self.nodes[*operands.first().ok_or_else(|| ProverError::Model("Concat without inputs".into()))?].shape.clone();
        let axis = Self::axis(attr_int(node, "axis", 0), first.len())?;
        let sizes: Vec<usize> = operands.iter().map(|&o| self.nodes[o].shape.get(axis).copied().unwrap_or(0)).collect();
        for &o in &operands {
            let s = &self.nodes[o].shape;
            if s.len() != first.len() || s.iter().zip(&first).enumerate().any(|(i, (a, b))| i != axis && a != b) {
                return Err(ProverError::Shape(format!("Concat of {first:?} and {s:?} along axis {axis}")));
            }
        }
        let mut shape = first;
        shape[axis] = sizes.iter().sum();
        self.select(node, 0, operands, shape, |c| {
            let (mut operand, mut at) = (0, c[axis]);
            while at >= sizes[operand] {
                at -= sizes[operand];
                operand += 1;
            }
            let mut coords = c.to_vec();
            coords[axis] = at;
            (operand, coords)
        })
    }

    fn slice(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let input = self.nodes[x].shape.clone();
        let rank = input.len();
        let starts = self.ints_of(node, 1, "starts")?.ok_or_else(|| ProverError::Model("Slice without starts".into()))?;
        let ends = self.ints_of(node, 2, "ends")?.ok_or_else(|| ProverError::Model("Slice without ends".into()))?;
        let axes = self.ints_of(node, 3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = self.ints_of(node, 4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
        let (mut begin, mut step, mut shape) = (vec![0usize; rank], vec![1usize; rank], input.clone());
        for (((&st, &en), &ax), &sp) in starts.iter().zip(&ends).zip(&axes).zip(&steps) {
            let a = Self::axis(ax, rank)?;
            if sp < 1 {
                return Err(ProverError::Unsupported("Slice with a step below 1".into()));
            }
            let dim = input[a] as i64;
            let clampi = |v: i64| (if v < 0 { v + dim } else { v }).clamp(0, dim);
            let (b, e) = (clampi(st), clampi(en));
            begin[a] = b as usize;
            step[a] = sp as usize;
            shape[a] = if e > b { ((e - b) as usize).div_ceil(sp as usize) } else { 0 };
        }
        self.select(node, 0, vec![x], shape, |c| (0, c.iter().enumerate().map(|(a, &v)| begin[a] + v * step[a]).collect()))
    }

    fn split(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let input = self.nodes[x].shape.clone();
        let axis = Self::axis(attr_int(node, "axis", 0), input.len())?;
        let parts = node.output.len();
        let sizes: Vec<usize> = match self.ints_of(node, 1, "split")? {
            Some(s) => s.iter().map(|&v| v as usize).collect(),
            None if parts > 0 && input[axis] % parts == 0 => vec![input[axis] / parts; parts],
            None => return Err(ProverError::Shape(format!("cannot split {} into {parts} equal parts", input[axis]))),
        };
        if sizes.len() != parts || sizes.iter().sum::<usize>() != input[axis] {
            return Err(ProverError::Shape(format!("split sizes {sizes:?} for dimension {}", input[axis])));
        }
        let mut start = 0;
        for (out, &size) in sizes.iter().enumerate() {
            let mut shape = input.clone();
            shape[axis] = size;
            let offset = start;
            self.select(node, out, vec![x], shape, |c| {
                let mut coords = c.to_vec();
                coords[axis] += offset;
                (0, coords)
            })?;
            start += size;
        }
        Ok(())
    }

    fn gather(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        if let (Value::Const(table), Value::Node(indices)) = (self.value(self.input(node, 0)?)?.clone(), self.value(self.input(node, 1)?)?.clone()) {
            if attr_int(node, "axis", 0) != 0 {
                return Err(ProverError::Unsupported("Gather of a constant by computed indices along an axis other than 0".into()));
            }
            return self.define(node, Op::Embedding { table: table.to_f32()? }, vec![indices]);
        }
        let x = self.activation(self.input(node, 0)?)?;
        let input = self.nodes[x].shape.clone();
        let axis = Self::axis(attr_int(node, "axis", 0), input.len())?;
        let indices = match self.value(self.input(node, 1)?)? {
            Value::Const(c) => c.clone(),
            Value::Node(_) => return Err(ProverError::Unsupported("Gather with computed indices".into())),
        };
        let dim = input[axis] as i64;
        let idx: Vec<usize> = indices
            .data
            .iter()
            .map(|&v| {
                let i = if v < 0.0 { v as i64 + dim } else { v as i64 };
                usize::try_from(i).ok().filter(|&i| (i as i64) < dim).ok_or_else(|| ProverError::Shape(format!("Gather index {v} for dimension {dim}")))
            })
            .collect::<Result<_, _>>()?;
        let k = indices.shape.len();
        let shape: Vec<usize> = input[..axis].iter().chain(&indices.shape).chain(&input[axis + 1..]).copied().collect();
        let index_strides = crate::tensor::strides(&indices.shape);
        self.select(node, 0, vec![x], shape, |c| {
            let flat: usize = c[axis..axis + k].iter().zip(&index_strides).map(|(a, b)| a * b).sum();
            let coords: Vec<usize> = c[..axis].iter().copied().chain([idx[flat]]).chain(c[axis + k..].iter().copied()).collect();
            (0, coords)
        })
    }

    fn squeeze(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let input = self.nodes[x].shape.clone();
        let axes = self.ints_of(node, 1, "axes")?;
        let target: Vec<usize> = if node.op_type == "Squeeze" {
            let drop: Vec<usize> = match axes {
                Some(a) => a.iter().map(|&v| Self::axis(v, input.len())).collect::<Result<_, _>>()?,
                None => (0..input.len()).filter(|&i| input[i] == 1).collect(),
            };
            if drop.iter().any(|&a| input[a] != 1) {
                return Err(ProverError::Shape(format!("Squeeze of a non-unit axis of {input:?}")));
            }
            input.iter().enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, &d)| d).collect()
        } else {
            let axes = axes.ok_or_else(|| ProverError::Model("Unsqueeze without axes".into()))?;
            let rank = input.len() + axes.len();
            let add: Vec<usize> = axes.iter().map(|&v| Self::axis(v, rank)).collect::<Result<_, _>>()?;
            let mut rest = input.iter();
            (0..rank).map(|i| if add.contains(&i) { 1 } else { *rest.next().unwrap_or(&1) }).collect()
        };
        self.define_shaped(node, Op::Reshape, vec![x], target)
    }

    /// A function through a lookup table, its input first clamped to where the function
    /// saturates, which changes no rounded output: to `[lo, hi]` by shift, clamp to `[0, hi − lo]`,
    /// shift back; to `[lo, ∞)` by shift, ReLU, shift back.
    fn tabulated(&mut self, node: &pb::NodeProto, function: Function) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let clamped = self.clamp_to_saturation(node, x, function)?;
        self.define(node, Op::Function { function }, vec![clamped])
    }

    fn clamp_to_saturation(&mut self, node: &pb::NodeProto, x: usize, function: Function) -> Result<usize, ProverError> {
        let scalar = |v: f64| Tensor::new(vec![], vec![v as f32]);
        Ok(match function.saturation() {
            (Some(lo), hi) => {
                let shifted = self.push_op(node, "shift", Op::AddConst { constant: scalar(-lo)? }, x)?;
                let clamped = match hi {
                    Some(hi) => self.push_op(node, "clamp", Op::Clamp { max: (hi - lo) as f32 }, shifted)?,
                    None => self.push_op(node, "clamp", Op::Relu, shifted)?,
                };
                self.push_op(node, "unshift", Op::AddConst { constant: scalar(lo)? }, clamped)?
            }
            (None, _) => x,
        })
    }

    /// Clip with a lower bound of 0 (Relu6 and the like) as a clamp; other lower bounds shift
    /// the input to 0 first.
    fn clip(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let bound = |i: usize, attr_name: &str, default: f64| -> Result<f64, ProverError> {
            match node.input.get(i).filter(|s| !s.is_empty()) {
                Some(name) => match self.value(name)? {
                    Value::Const(c) if c.data.len() == 1 => Ok(c.data[0]),
                    _ => Err(ProverError::Unsupported("Clip bounds that are not scalar constants".into())),
                },
                None => Ok(attr(node, attr_name).map_or(default, |a| a.f as f64)),
            }
        };
        let (lo, hi) = (bound(1, "min", f64::NEG_INFINITY)?, bound(2, "max", f64::INFINITY)?);
        if !lo.is_finite() || !hi.is_finite() || hi < lo {
            return Err(ProverError::Unsupported(format!("Clip to [{lo}, {hi}] (both bounds must be finite)")));
        }
        if lo == 0.0 {
            return self.define(node, Op::Clamp { max: hi as f32 }, vec![x]);
        }
        let shifted = self.push_op(node, "shift", Op::AddConst { constant: Tensor::new(vec![], vec![-lo as f32])? }, x)?;
        let clamped = self.push_op(node, "clamp", Op::Clamp { max: (hi - lo) as f32 }, shifted)?;
        self.define(node, Op::AddConst { constant: Tensor::new(vec![], vec![lo as f32])? }, vec![clamped])
    }

    /// AveragePool, GlobalAveragePool, MaxPool and GlobalMaxPool over an NCHW input.
    fn pool(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let input = self.nodes[x].shape.clone();
        if input.len() != 4 || node.output.len() > 1 {
            return Err(ProverError::Unsupported(format!("pooling of {input:?} (2-D, one output)")));
        }
        let window = if node.op_type.starts_with("Global") {
            Window { kernel: [input[2], input[3]], stride: [1, 1], padding: [0; 4] }
        } else {
            let kernel = match attr_ints(node, "kernel_shape") {
                Some(k) if k.len() == 2 && k.iter().all(|&v| v >= 1) => [k[0] as usize, k[1] as usize],
                other => return Err(ProverError::Unsupported(format!("kernel_shape = {other:?}"))),
            };
            if attr_int(node, "ceil_mode", 0) != 0 || attr_int(node, "storage_order", 0) != 0 {
                return Err(ProverError::Unsupported("ceil_mode or storage_order = 1".into()));
            }
            self.window(node, &input, kernel)?
        };
        let pool = Pool { window };
        if node.op_type.ends_with("MaxPool") {
            // Padded positions are ignored by a maximum.
            return self.nhwc(node, x, Op::MaxPool { pool });
        }
        if window.padding != [0; 4] && attr_int(node, "count_include_pad", 0) == 0 {
            return Err(ProverError::Unsupported("padded average pooling that excludes the padding from the count".into()));
        }
        self.nhwc(node, x, Op::AvgPool { pool })
    }

    fn matmul(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let a = self.activation(self.input(node, 0)?)?;
        match self.value(self.input(node, 1)?)?.clone() {
            Value::Const(w) if w.shape.len() == 2 => self.define(node, Op::Linear { weight: w.to_f32()?, bias: None }, vec![a]),
            Value::Const(w) => Err(ProverError::Unsupported(format!("MatMul by a constant of shape {:?} (2-D only)", w.shape))),
            Value::Node(b) => self.define(node, Op::MatMul, vec![a, b]),
        }
    }

    fn add(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let (l, r) = (self.input(node, 0)?, self.input(node, 1)?);
        let (x_name, c) = match (self.value(l)?.clone(), self.value(r)?.clone()) {
            (Value::Node(a), Value::Node(b)) => return self.define(node, Op::Add, vec![a, b]),
            (Value::Node(_), Value::Const(c)) => (l, c),
            (Value::Const(c), Value::Node(_)) => (r, c),
            (Value::Const(_), Value::Const(_)) => return Err(ProverError::Unsupported("Add of two constants".into())),
        };
        let x = self.activation(x_name)?;
        // MatMul + Add(constant row) is how exporters often write a linear layer: fold the constant
        // into the bias when nothing else reads the product.
        let single_use = self.uses.get(x_name).copied() == Some(1);
        if let Op::Linear { weight, bias: None } = &self.nodes[x].op {
            let n = weight.shape()[1];
            let row_like = c.data.len() == n && c.shape.last() == Some(&n);
            let keeps_shape = c.shape.len() <= self.nodes[x].shape.len();
            if single_use && row_like && keeps_shape {
                let (weight, bias) = (weight.clone(), Some(c.data.iter().map(|&v| v as f32).collect()));
                let input = self.nodes[x].inputs.clone();
                let op = Op::Linear { weight, bias };
                // Re-point the product node itself: it has no other reader.
                self.nodes[x].op = op;
                let out = node.output.first().ok_or_else(|| ProverError::Model("a node without output".into()))?;
                self.nodes[x].name = out.clone();
                debug_assert_eq!(self.nodes[x].inputs, input);
                self.values.insert(out.clone(), Value::Node(x));
                return Ok(());
            }
        }
        self.define(node, Op::AddConst { constant: c.to_f32()? }, vec![x])
    }
}

/// All `(a, (b, (c, d)))` below `(n0, n1, n2, n3)`, outermost first.
fn grid4(n0: usize, n1: usize, n2: usize, n3: usize) -> impl Iterator<Item = (usize, (usize, (usize, usize)))> {
    (0..n0).flat_map(move |a| (0..n1).flat_map(move |b| (0..n2).flat_map(move |c| (0..n3).map(move |d| (a, (b, (c, d)))))))
}

fn transpose(c: &Const) -> Const {
    let (r, k) = (c.shape[0], c.shape[1]);
    let mut data = vec![0.0; c.data.len()];
    for i in 0..r {
        for j in 0..k {
            data[j * r + i] = c.data[i * k + j];
        }
    }
    Const { shape: vec![k, r], data }
}

/// ONNX Reshape: `0` copies the input dimension (unless `allowzero`), `-1` is inferred.
fn reshape_target(input: &[usize], spec: &[i64], allow_zero: bool) -> Result<Vec<usize>, ProverError> {
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allow_zero => out.push(*input.get(i).ok_or_else(|| ProverError::Shape(format!("Reshape copies axis {i} of {input:?}")))?),
            d if d >= 0 => out.push(d as usize),
            _ => return Err(ProverError::Shape(format!("invalid Reshape target {spec:?}"))),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return Err(ProverError::Shape(format!("cannot reshape {input:?} to {spec:?}")));
        }
        out[i] = total / known;
    }
    if out.iter().product::<usize>() != total {
        return Err(ProverError::Shape(format!("cannot reshape {input:?} to {spec:?}")));
    }
    Ok(out)
}

fn value_info_shape(info: &pb::ValueInfoProto) -> Result<Vec<usize>, ProverError> {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    let tensor = match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => t,
        _ => return Err(ProverError::Unsupported(format!("input {} is not a tensor", info.name))),
    };
    // Integer inputs (token ids for an embedding) are given as numbers in INPUT.json like floats.
    use pb::tensor_proto::DataType;
    if ![DataType::Float, DataType::Int64, DataType::Int32].iter().any(|&t| tensor.elem_type == t as i32) {
        return Err(ProverError::Unsupported(format!("input {} is not float32, int32 or int64", info.name)));
    }
    let shape = tensor.shape.as_ref().ok_or_else(|| ProverError::Unsupported(format!("input {} has no shape", info.name)))?;
    shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(Dim::DimValue(v)) if *v > 0 => Ok(*v as usize),
            Some(Dim::DimParam(_)) | None => Ok(1),
            Some(Dim::DimValue(v)) => Err(ProverError::Shape(format!("input {} has dimension {v}", info.name))),
        })
        .collect()
}

/// Decodes a numeric ONNX tensor (float, double, int32, int64; inline or raw little-endian data).
fn decode_tensor(t: &pb::TensorProto) -> Result<Const, ProverError> {
    use pb::tensor_proto::DataType;
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| ProverError::Model(format!("tensor {} has dimension {d}", t.name))))
        .collect::<Result<Vec<_>, _>>()?;
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) {
        return Err(ProverError::Unsupported(format!("tensor {} keeps its data in an external file", t.name)));
    }
    let raw = &t.raw_data;
    let from_raw = |width: usize, f: &dyn Fn(&[u8]) -> f64| -> Vec<f64> { raw.chunks_exact(width).map(f).collect() };
    let data: Vec<f64> = match DataType::try_from(t.data_type) {
        Ok(DataType::Float) if !raw.is_empty() => from_raw(4, &|b| f32::from_le_bytes(b.try_into().unwrap()) as f64),
        Ok(DataType::Float) => t.float_data.iter().map(|&x| x as f64).collect(),
        Ok(DataType::Double) if !raw.is_empty() => from_raw(8, &|b| f64::from_le_bytes(b.try_into().unwrap())),
        Ok(DataType::Double) => t.double_data.clone(),
        Ok(DataType::Int64) if !raw.is_empty() => from_raw(8, &|b| i64::from_le_bytes(b.try_into().unwrap()) as f64),
        Ok(DataType::Int64) => t.int64_data.iter().map(|&x| x as f64).collect(),
        Ok(DataType::Int32) if !raw.is_empty() => from_raw(4, &|b| i32::from_le_bytes(b.try_into().unwrap()) as f64),
        Ok(DataType::Int32) => t.int32_data.iter().map(|&x| x as f64).collect(),
        _ => return Err(ProverError::Unsupported(format!("tensor {} has data type {}", t.name, t.data_type))),
    };
    let expected: usize = shape.iter().product();
    if data.len() != expected {
        return Err(ProverError::Model(format!("tensor {} has {} values for shape {shape:?}", t.name, data.len())));
    }
    if data.iter().any(|x| !x.is_finite()) {
        return Err(ProverError::Model(format!("tensor {} holds NaN or infinity", t.name)));
    }
    Ok(Const { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_follows_onnx() {
        assert_eq!(reshape_target(&[2, 3, 4], &[0, -1], false).unwrap(), vec![2, 12]);
        assert_eq!(reshape_target(&[2, 3, 4], &[-1], false).unwrap(), vec![24]);
        assert!(reshape_target(&[2, 3, 4], &[5, -1], false).is_err());
        assert!(reshape_target(&[2, 3], &[-1, -1], false).is_err());
    }
}
