//! Helpers shared by the integration tests: an ONNX graph builder with random weights.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tract_onnx::pb;

/// Builds ONNX graphs with random weights.
pub struct OnnxBuilder {
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    /// Draws the random weights.
    pub rng: ChaCha8Rng,
    counter: usize,
    /// The default-domain opset the model declares (13 unless a test needs a newer operator).
    pub opset: i64,
}

pub fn float_tensor(name: &str, dims: &[usize], data: Vec<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: data,
        ..Default::default()
    }
}

pub fn value_info(name: &str, dims: &[usize]) -> pb::ValueInfoProto {
    typed_value_info(name, dims, pb::tensor_proto::DataType::Float)
}

/// A graph input or output of element type `elem`.
pub fn typed_value_info(name: &str, dims: &[usize], elem: pb::tensor_proto::DataType) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims.iter().map(|&d| Dimension { value: Some(Value::DimValue(d as i64)), ..Default::default() }).collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn int_attr(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), i, r#type: pb::attribute_proto::AttributeType::Int as i32, ..Default::default() }
}

pub fn ints_attr(name: &str, ints: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), ints: ints.to_vec(), r#type: pb::attribute_proto::AttributeType::Ints as i32, ..Default::default() }
}

impl OnnxBuilder {
    pub fn new(seed: u64) -> Self {
        OnnxBuilder { nodes: vec![], inits: vec![], rng: ChaCha8Rng::seed_from_u64(seed), counter: 0, opset: 13 }
    }

    pub fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }

    pub fn weights(&mut self, dims: &[usize], scale: f32) -> String {
        let name = self.fresh("w");
        let n: usize = dims.iter().product();
        let data = (0..n).map(|_| self.rng.gen_range(-scale..scale)).collect();
        self.inits.push(float_tensor(&name, dims, data));
        name
    }

    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> String {
        let out = self.fresh("t");
        self.nodes.push(pb::NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: out.clone(),
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    /// Gemm with PyTorch's layout (weight [out, in], transB = 1) and a bias.
    pub fn gemm(&mut self, x: &str, inp: usize, out: usize) -> String {
        let w = self.weights(&[out, inp], 0.6);
        let b = self.weights(&[out], 0.3);
        self.node("Gemm", &[x, &w, &b], vec![int_attr("transB", 1)])
    }

    /// MatMul by a [in, out] constant followed by Add of a bias row (the other exporter style).
    pub fn matmul_add(&mut self, x: &str, inp: usize, out: usize) -> String {
        let w = self.weights(&[inp, out], 0.6);
        let b = self.weights(&[out], 0.3);
        let y = self.node("MatMul", &[x, &w], vec![]);
        self.node("Add", &[&y, &b], vec![])
    }

    /// Conv with ONNX's [O, C/group, KH, KW] weights and a bias.
    pub fn conv(&mut self, x: &str, c_in: usize, c_out: usize, k: usize, group: usize, attrs: Vec<pb::AttributeProto>) -> String {
        let w = self.weights(&[c_out, c_in / group, k, k], 0.5);
        let b = self.weights(&[c_out], 0.2);
        let mut attrs = attrs;
        if group != 1 {
            attrs.push(int_attr("group", group as i64));
        }
        self.node("Conv", &[x, &w, &b], attrs)
    }

    /// BatchNormalization with random parameters (positive variance).
    pub fn batch_norm(&mut self, x: &str, channels: usize) -> String {
        let gamma = self.weights(&[channels], 1.0);
        let beta = self.weights(&[channels], 0.3);
        let mean = self.weights(&[channels], 0.3);
        let name = self.fresh("var");
        let var = (0..channels).map(|_| self.rng.gen_range(0.5..1.5)).collect();
        self.inits.push(float_tensor(&name, &[channels], var));
        self.node("BatchNormalization", &[x, &gamma, &beta, &mean, &name], vec![])
    }

    pub fn int64s(&mut self, values: &[i64]) -> String {
        let name = self.fresh("i");
        self.inits.push(pb::TensorProto {
            name: name.clone(),
            dims: vec![values.len() as i64],
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            int64_data: values.to_vec(),
            ..Default::default()
        });
        name
    }

    /// A node with several outputs.
    pub fn multi(&mut self, op: &str, inputs: &[&str], outputs: usize, attrs: Vec<pb::AttributeProto>) -> Vec<String> {
        let outs: Vec<String> = (0..outputs).map(|_| self.fresh("t")).collect();
        self.nodes.push(pb::NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outs.clone(),
            name: outs[0].clone(),
            attribute: attrs,
            ..Default::default()
        });
        outs
    }

    /// A float constant of any shape.
    pub fn constant(&mut self, dims: &[usize], data: Vec<f32>) -> String {
        let name = self.fresh("c");
        self.inits.push(float_tensor(&name, dims, data));
        name
    }

    pub fn scalar(&mut self, v: f32) -> String {
        let name = self.fresh("c");
        self.inits.push(float_tensor(&name, &[], vec![v]));
        name
    }

    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let name = self.fresh("shape");
        self.inits.push(pb::TensorProto {
            name: name.clone(),
            dims: vec![shape.len() as i64],
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            int64_data: shape.to_vec(),
            ..Default::default()
        });
        self.node("Reshape", &[x, &name], vec![])
    }

    pub fn finish(self, path: &Path, input_dims: &[usize], output: &str, output_dims: &[usize]) {
        self.finish_with_input(path, value_info("x", input_dims), output, output_dims)
    }

    /// Writes the model with a graph input `input` of any type.
    pub fn finish_with_input(self, path: &Path, input: pb::ValueInfoProto, output: &str, output_dims: &[usize]) {
        self.finish_with_inputs(path, vec![input], output, output_dims)
    }

    /// Writes the model with the graph inputs `inputs`, in order.
    pub fn finish_with_inputs(self, path: &Path, inputs: Vec<pb::ValueInfoProto>, output: &str, output_dims: &[usize]) {
        let graph = pb::GraphProto {
            node: self.nodes,
            initializer: self.inits,
            input: inputs,
            output: vec![value_info(output, output_dims)],
            name: "test".into(),
            ..Default::default()
        };
        let model = pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: self.opset }],
            graph: Some(graph),
            ..Default::default()
        };
        std::fs::write(path, model.encode_to_vec()).unwrap();
    }
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkml-onnx-tests-{}", std::process::id())).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

