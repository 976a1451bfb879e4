//! ONNX import: the protobuf is parsed by tract-onnx; each ONNX operator is then mapped onto the
//! prover's own [`Graph`] with ONNX's semantics (default attributes included), folding constants
//! into the operators that use them. An operator we cannot prove is an error that names it.

use std::collections::HashMap;
use std::path::Path;

use tract_onnx::pb;
use tract_onnx::prelude::Framework;

mod composite;
mod conv;
mod elementwise;
mod linear;
mod shape;

use crate::ops::prelude::*;
use crate::model::{Graph, Node};
use crate::arith::table::Function;
use crate::error::ProverError;
use crate::tensor::Tensor;

/// The ONNX operators the importer maps, in the default domain. Each is imported with ONNX's
/// semantics or refused with an error naming the node and what is not supported (an attribute,
/// a constant operand computed at run time, ...); `docs/onnx-conformance.md` says, per operator,
/// how many of the ONNX project's own test cases pass and why the others are refused.
pub const SUPPORTED_OPS: &[&str] = &[
    "Gemm", "MatMul", "Conv", "BatchNormalization", "Relu", "LeakyRelu", "HardSigmoid", "HardSwish", "Clip", "Sigmoid",
    "Tanh", "Exp", "Erf", "Gelu", "Softmax", "LayerNormalization", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt",
    "Reciprocal", "ReduceSum", "ReduceMean", "ReduceMax", "AveragePool", "GlobalAveragePool", "MaxPool",
    "GlobalMaxPool", "Pad", "Concat", "Slice", "Split", "Gather", "Squeeze", "Unsqueeze", "Flatten", "Reshape",
    "Transpose", "Constant", "Identity", "Dropout",
];

/// [`SUPPORTED_OPS`] with the limits an error message should mention.
const SUPPORTED: &str = "Gemm, MatMul, Conv (grouped too), BatchNormalization, Relu, LeakyRelu, HardSigmoid, HardSwish, Clip, Sigmoid, Tanh, Exp, Erf, Gelu, \
Softmax, LayerNormalization, Add, Sub, Mul, Div, Pow (2, 0.5, 1, -1), Sqrt, Reciprocal, ReduceSum, ReduceMean, ReduceMax, \
AveragePool, GlobalAveragePool, MaxPool, GlobalMaxPool, Pad, Concat, Slice, Split, Gather (constant indices, or an \
embedding table by computed indices), Squeeze, Unsqueeze, Flatten, \
Reshape, Transpose, Constant, Identity, Dropout";

/// Reads the ONNX model at `path` into a validated [`Graph`].
///
/// Symbolic dimensions (such as a batch size `N`) are fixed to 1: a circuit has static shapes.
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

/// Reads a serialized ONNX `TensorProto` (the format of the ONNX test data sets,
/// `test_data_set_*/input_*.pb`): float, double, signed and unsigned integers of 8 to 64 bits or
/// bool, widened to f64.
pub fn load_tensor_proto(path: &Path) -> Result<Tensor<f64>, ProverError> {
    use prost::Message;
    let bytes = std::fs::read(path).map_err(|e| ProverError::io(path, e))?;
    let proto = pb::TensorProto::decode(bytes.as_slice())
        .map_err(|e| ProverError::Model(format!("{} is not an ONNX TensorProto: {e}", path.display())))?;
    let c = decode_tensor(&proto)?;
    Tensor::new(c.shape, c.data)
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

/// The name the nodes an import adds for `node` start with: its first output's.
fn output_name(node: &pb::NodeProto) -> String {
    node.output.first().cloned().unwrap_or_default()
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
            inputs.push(self.push(input.name.clone(), Op::Input(Input), vec![], shape));
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
        let shape = op.float().output_shape(&shapes, &[])?;
        self.define_shaped(node, op, inputs, shape)
    }

    fn define_shaped(&mut self, node: &pb::NodeProto, op: Op, inputs: Vec<usize>, shape: Vec<usize>) -> Result<(), ProverError> {
        let out = node.output.first().ok_or_else(|| ProverError::Model("a node without output".into()))?;
        let id = self.push(out.clone(), op, inputs, shape);
        self.values.insert(out.clone(), Value::Node(id));
        Ok(())
    }

    /// `node`'s output is its input `x`, unchanged (a Reshape to the same shape costs nothing).
    fn identity(&mut self, node: &pb::NodeProto, x: usize) -> Result<(), ProverError> {
        let shape = self.nodes[x].shape.clone();
        self.define_shaped(node, Op::Reshape(Reshape), vec![x], shape)
    }

    /// Makes node `id`, the last of the several that `node` was imported as, the value of
    /// `node`'s output, under its name.
    fn name_result(&mut self, node: &pb::NodeProto, id: usize) -> Result<(), ProverError> {
        self.name_output(node, 0, id)
    }

    /// Makes node `id` the value of `node`'s output `index`, under its name.
    fn name_output(&mut self, node: &pb::NodeProto, index: usize, id: usize) -> Result<(), ProverError> {
        let out = node.output.get(index).ok_or_else(|| ProverError::Model(format!("a node without output {index}")))?;
        self.nodes[id].name = out.clone();
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
                self.define(node, Op::Relu(Relu), vec![x])
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
                self.define_shaped(node, Op::Reshape(Reshape), vec![x], target)
            }
            "Reshape" => {
                let x = self.activation(self.input(node, 0)?)?;
                let spec = match self.value(self.input(node, 1)?)? {
                    Value::Const(c) => c.data.iter().map(|&d| d as i64).collect::<Vec<_>>(),
                    Value::Node(_) => return Err(ProverError::Unsupported("Reshape to a shape computed at run time".into())),
                };
                let target = reshape_target(&self.nodes[x].shape, &spec, attr_int(node, "allowzero", 0) != 0)?;
                self.define_shaped(node, Op::Reshape(Reshape), vec![x], target)
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
            "HardSigmoid" => self.hard_sigmoid(node),
            "HardSwish" => self.hard_swish(node),
            "Sqrt" => self.unary(node, Op::Sqrt(Sqrt)),
            "Reciprocal" => self.unary(node, Op::Reciprocal(Reciprocal)),
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
                self.define(node, Op::Transpose(Transpose { perm }), vec![x])
            }
            "Conv" => self.conv(node),
            "AveragePool" | "GlobalAveragePool" | "MaxPool" | "GlobalMaxPool" => self.pool(node),
            other => Err(ProverError::Unsupported(format!(
                "operator {other} is not supported yet (supported: {SUPPORTED})"
            ))),
        }
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

/// Decodes a numeric ONNX tensor (float, double, signed and unsigned integers of 8 to 64 bits,
/// bool; inline or raw little-endian data) into f64 values.
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
        // The narrow integer types and bool keep inline values in `int32_data`; the wide unsigned
        // ones in `uint64_data`.
        Ok(DataType::Int8) if !raw.is_empty() => from_raw(1, &|b| b[0] as i8 as f64),
        Ok(DataType::Uint8 | DataType::Bool) if !raw.is_empty() => from_raw(1, &|b| b[0] as f64),
        Ok(DataType::Int16) if !raw.is_empty() => from_raw(2, &|b| i16::from_le_bytes(b.try_into().unwrap()) as f64),
        Ok(DataType::Uint16) if !raw.is_empty() => from_raw(2, &|b| u16::from_le_bytes(b.try_into().unwrap()) as f64),
        Ok(DataType::Int8 | DataType::Uint8 | DataType::Bool | DataType::Int16 | DataType::Uint16) => {
            t.int32_data.iter().map(|&x| x as f64).collect()
        }
        Ok(DataType::Uint32) if !raw.is_empty() => from_raw(4, &|b| u32::from_le_bytes(b.try_into().unwrap()) as f64),
        Ok(DataType::Uint64) if !raw.is_empty() => from_raw(8, &|b| u64::from_le_bytes(b.try_into().unwrap()) as f64),
        Ok(DataType::Uint32 | DataType::Uint64) => t.uint64_data.iter().map(|&x| x as f64).collect(),
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

    /// Every operator the importer lists is one it dispatches: a node of it may be refused for its
    /// operands, never as an unknown operator; and an unlisted one is refused as unknown.
    #[test]
    fn every_listed_operator_is_dispatched() {
        let unknown = |op: &str| {
            let mut importer = Importer::default();
            importer.push("x".into(), Op::Input(Input), vec![], vec![1, 1, 2, 2]);
            importer.values.insert("x".into(), Value::Node(0));
            let node = pb::NodeProto { op_type: op.into(), input: vec!["x".into()], output: vec!["y".into()], ..Default::default() };
            matches!(importer.node(&node), Err(ProverError::Unsupported(m)) if m.contains("is not supported yet"))
        };
        for op in SUPPORTED_OPS {
            assert!(!unknown(op), "{op} is listed as supported but not dispatched");
            assert!(SUPPORTED.contains(op), "{op} is missing from the error message's list");
        }
        assert!(unknown("Loop"));
    }

    #[test]
    fn reshape_follows_onnx() {
        assert_eq!(reshape_target(&[2, 3, 4], &[0, -1], false).unwrap(), vec![2, 12]);
        assert_eq!(reshape_target(&[2, 3, 4], &[-1], false).unwrap(), vec![24]);
        assert!(reshape_target(&[2, 3, 4], &[5, -1], false).is_err());
        assert!(reshape_target(&[2, 3], &[-1, -1], false).is_err());
    }
}
