//! ddkang/zkml's msgpack model format (`model.msgpack`, `inp.msgpack`), imported with zkml's
//! integer semantics so its models prove with exactly zkml's outputs.
//!
//! A zkml model is already quantized: every tensor holds integers at scale `global_sf` (weights,
//! biases, batch-norm constants and inputs alike). Layers map onto [`QOp`]s:
//! - `Conv2D` (params `[type, padding, activation, stride_h, stride_w]`, TFLite enums: type 0
//!   regular / 1 depthwise, padding 0 SAME / 1 VALID, activation 0 none / 1 ReLU / 3 ReLU6):
//!   `rdiv(Σ x·w, sf) + bias`, then the activation (ReLU6 clamps at `6·sf`);
//! - `FullyConnected` (params `[activation]`): the same with `x · wᵀ`;
//! - `AveragePool2D` (params `[fh, fw, sh, sw]`, VALID): `rdiv(window sum, fh·fw)`;
//! - `Mul` by a constant: `rdiv(x·c, sf)`; `Add` (params `[activation]`): exact sum;
//! - `Reshape`, `Squeeze`: shape only.
//!
//! `rdiv(a, d) = ⌊(2a + d) / 2d⌋` is [`crate::arith::divide`]. Adding the bias after the
//! division equals dividing `acc + bias·sf`, which is how the bias is stored here.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::ops::prelude::*;
use crate::error::ProverError;
use crate::quantize::{QNode, QuantizeConfig, QuantizedModel};
use crate::tensor::Tensor;

#[derive(Deserialize)]
struct ModelFile {
    global_sf: i64,
    k: i64,
    inp_idxes: Vec<i64>,
    out_idxes: Vec<i64>,
    tensors: Vec<TensorEntry>,
    layers: Vec<LayerEntry>,
}

/// One tensor of a zkml msgpack file: integers at the model's scale.
#[derive(Clone, Debug, Deserialize)]
pub struct TensorEntry {
    /// The TFLite tensor id.
    pub idx: i64,
    /// Dimensions.
    pub shape: Vec<i64>,
    /// Row-major values.
    pub data: Vec<i64>,
}

#[derive(Deserialize)]
struct LayerEntry {
    layer_type: String,
    params: Vec<i64>,
    inp_idxes: Vec<i64>,
    inp_shapes: Vec<Vec<i64>>,
    out_idxes: Vec<i64>,
    out_shapes: Vec<Vec<i64>>,
}

fn dims(shape: &[i64], what: &str) -> Result<Vec<usize>, ProverError> {
    shape.iter().map(|&d| usize::try_from(d).map_err(|_| ProverError::Model(format!("{what} has dimension {d}")))).collect()
}

fn tensor(entry: &TensorEntry) -> Result<Tensor<i64>, ProverError> {
    Tensor::new(dims(&entry.shape, &format!("tensor {}", entry.idx))?, entry.data.clone())
        .map_err(|e| ProverError::Model(format!("tensor {}: {e}", entry.idx)))
}

/// Reads a zkml `model.msgpack` into a quantized model. Activations are guaranteed provable
/// within `[-2^(k-2), 2^(k-2))` for zkml's own `k` (zkml allows about twice that); the planner
/// widens the bound to what the chosen circuit's lookup table holds.
pub fn load_zkml_model(path: &Path) -> Result<QuantizedModel, ProverError> {
    let bytes = std::fs::read(path).map_err(|e| ProverError::io(path, e))?;
    let file: ModelFile = rmp_serde::from_slice(&bytes)
        .map_err(|e| ProverError::Model(format!("{} is not a zkml msgpack model: {e}", path.display())))?;
    Importer::new(file)?.import()
}

/// Reads a zkml `inp.msgpack` (a list of tensors) as the model's inputs, in `model`'s input
/// order, converted to floats (`value / sf`) so they quantize back to exactly the same integers.
pub fn load_zkml_input(path: &Path, scale_bits: u32, input_count: usize) -> Result<Vec<Vec<f32>>, ProverError> {
    let bytes = std::fs::read(path).map_err(|e| ProverError::io(path, e))?;
    let entries: Vec<TensorEntry> = rmp_serde::from_slice(&bytes)
        .map_err(|e| ProverError::Input(format!("{} is not a zkml msgpack input: {e}", path.display())))?;
    if entries.len() != input_count {
        return Err(ProverError::Input(format!("{} holds {} tensors, the model takes {input_count}", path.display(), entries.len())));
    }
    let sf = (1u64 << scale_bits) as f32;
    Ok(entries.iter().map(|t| t.data.iter().map(|&v| v as f32 / sf).collect()).collect())
}

struct Importer {
    file: ModelFile,
    scale_bits: u32,
    consts: HashMap<i64, Tensor<i64>>,
    nodes: Vec<QNode>,
    values: HashMap<i64, usize>,
}

impl Importer {
    fn new(file: ModelFile) -> Result<Self, ProverError> {
        let sf = file.global_sf;
        if sf < 2 || sf.count_ones() != 1 {
            return Err(ProverError::Unsupported(format!("global_sf {sf} is not a power of two")));
        }
        if !(8..=24).contains(&file.k) {
            return Err(ProverError::Unsupported(format!("k = {} (supported: 8..=24)", file.k)));
        }
        let consts = file.tensors.iter().map(|t| Ok((t.idx, tensor(t)?))).collect::<Result<_, ProverError>>()?;
        Ok(Importer { scale_bits: sf.trailing_zeros(), file, consts, nodes: vec![], values: HashMap::new() })
    }

    fn push(&mut self, name: String, op: QOp, inputs: Vec<usize>, shape: Vec<usize>) -> usize {
        self.nodes.push(QNode { name, op, inputs, shape });
        self.nodes.len() - 1
    }

    fn import(mut self) -> Result<QuantizedModel, ProverError> {
        let mut inputs = vec![];
        for &idx in &self.file.inp_idxes.clone() {
            let shape = self
                .file
                .layers
                .iter()
                .find_map(|l| l.inp_idxes.iter().position(|&i| i == idx).map(|p| l.inp_shapes.get(p).cloned()))
                .flatten()
                .ok_or_else(|| ProverError::Model(format!("no layer reads input tensor {idx}")))?;
            let id = self.push(format!("input {idx}"), QOp::Input(Input), vec![], dims(&shape, "input")?);
            self.values.insert(idx, id);
            inputs.push(id);
        }
        let layers = std::mem::take(&mut self.file.layers);
        for (n, layer) in layers.iter().enumerate() {
            self.layer(n, layer).map_err(|e| match e {
                ProverError::Unsupported(m) => ProverError::Unsupported(format!("layer {n} ({}): {m}", layer.layer_type)),
                ProverError::Shape(m) => ProverError::Shape(format!("layer {n} ({}): {m}", layer.layer_type)),
                ProverError::Model(m) => ProverError::Model(format!("layer {n} ({}): {m}", layer.layer_type)),
                other => other,
            })?;
        }
        let outputs = self
            .file
            .out_idxes
            .iter()
            .map(|idx| self.values.get(idx).copied().ok_or_else(|| ProverError::Model(format!("output tensor {idx} is never computed"))))
            .collect::<Result<Vec<_>, _>>()?;
        // zkml's tables hold about 2^k values; guarantee half of its range, and let the planner
        // widen the bound to whatever the lookup table of the chosen circuit size holds.
        let config = QuantizeConfig { scale_bits: self.scale_bits, range_bits: self.file.k as u32 - 1,  };
        let model = QuantizedModel { config, nodes: self.nodes, inputs, outputs, visibility: Default::default() };
        model.validate()?;
        Ok(model)
    }

    fn activation(&self, idx: i64) -> Result<usize, ProverError> {
        self.values.get(&idx).copied().ok_or_else(|| {
            if self.consts.contains_key(&idx) {
                ProverError::Unsupported(format!("tensor {idx} is a constant where an activation is expected"))
            } else {
                ProverError::Model(format!("tensor {idx} is used before it is computed"))
            }
        })
    }

    fn constant(&self, idx: i64) -> Result<&Tensor<i64>, ProverError> {
        self.consts.get(&idx).ok_or_else(|| ProverError::Unsupported(format!("tensor {idx} is computed where a constant is expected")))
    }

    /// Adds `op` reading `inputs`, then the activation `code` (TFLite: 0 none, 1 ReLU, 3 ReLU6),
    /// and binds the layer's output tensor to the last node.
    fn emit(&mut self, n: usize, layer: &LayerEntry, op: QOp, inputs: Vec<usize>, activation: i64) -> Result<(), ProverError> {
        let out_idx = *layer.out_idxes.first().ok_or_else(|| ProverError::Model("no output".into()))?;
        let shape = dims(layer.out_shapes.first().ok_or_else(|| ProverError::Model("no output shape".into()))?, "output")?;
        let name = format!("{n}:{}", layer.layer_type);
        let mut id = self.push(name.clone(), op, inputs, shape.clone());
        let sf = 1i64 << self.scale_bits;
        match activation {
            0 => {}
            1 => id = self.push(format!("{name}/relu"), QOp::Relu(Relu), vec![id], shape),
            3 => id = self.push(format!("{name}/relu6"), QOp::Clamp(Clamp { max: 6 * sf }), vec![id], shape),
            other => return Err(ProverError::Unsupported(format!("activation {other}"))),
        }
        self.values.insert(out_idx, id);
        Ok(())
    }

    fn layer(&mut self, n: usize, layer: &LayerEntry) -> Result<(), ProverError> {
        let p = &layer.params;
        let input = |i: usize| layer.inp_idxes.get(i).copied().ok_or_else(|| ProverError::Model(format!("missing input {i}")));
        let param = |i: usize| p.get(i).copied().ok_or_else(|| ProverError::Model(format!("missing parameter {i}")));
        let sf = 1i64 << self.scale_bits;
        match layer.layer_type.as_str() {
            "Conv2D" => {
                let x = self.activation(input(0)?)?;
                let weight = self.constant(input(1)?)?.clone();
                let bias = self.constant(input(2)?)?.data().iter().map(|&b| b * sf).collect();
                let in_shape = self.nodes[x].shape.clone();
                if in_shape.len() != 4 || weight.shape().len() != 4 {
                    return Err(ProverError::Shape(format!("input {in_shape:?}, weights {:?}", weight.shape())));
                }
                let kernel = [weight.shape()[1], weight.shape()[2]];
                let stride = [usize::try_from(param(3)?).unwrap_or(0), usize::try_from(param(4)?).unwrap_or(0)];
                let padding = match param(1)? {
                    1 => [0; 4],
                    0 => same_padding([in_shape[1], in_shape[2]], kernel, stride)?,
                    other => return Err(ProverError::Unsupported(format!("padding {other}"))),
                };
                let depthwise = match param(0)? {
                    0 => false,
                    1 => true,
                    other => return Err(ProverError::Unsupported(format!("convolution type {other}"))),
                };
                let conv = Conv { window: Window { kernel, stride, padding }, depthwise };
                self.emit(n, layer, QOp::Conv(QConvolution { weight, bias, conv }), vec![x], param(2)?)
            }
            "FullyConnected" => {
                let mut x = self.activation(input(0)?)?;
                let weight_t = self.constant(input(1)?)?.clone();
                let bias = match layer.inp_idxes.get(2) {
                    Some(&b) => self.constant(b)?.data().iter().map(|&b| b * sf).collect(),
                    None => vec![0; weight_t.shape().first().copied().unwrap_or(0)],
                };
                // zkml multiplies the input as a matrix of rows of length I.
                let (in_shape, k) = (self.nodes[x].shape.clone(), weight_t.shape().get(1).copied().unwrap_or(1).max(1));
                if in_shape.len() != 2 {
                    let rows = in_shape.iter().product::<usize>() / k;
                    x = self.push(format!("{n}:FullyConnected/flatten"), QOp::Reshape(Reshape), vec![x], vec![rows, k]);
                }
                self.emit(n, layer, QOp::Linear(QLinear { weight_t, bias }), vec![x], param(0)?)
            }
            "AveragePool2D" => {
                let x = self.activation(input(0)?)?;
                let to_usize = |v: i64| usize::try_from(v).map_err(|_| ProverError::Model(format!("parameter {v}")));
                let window = Window { kernel: [to_usize(param(0)?)?, to_usize(param(1)?)?], stride: [to_usize(param(2)?)?, to_usize(param(3)?)?], padding: [0; 4] };
                self.emit(n, layer, QOp::AvgPool(AvgPool { pool: Pool { window } }), vec![x], 0)
            }
            "Mul" => {
                let (a, b) = (input(0)?, input(1)?);
                let (x, c) = if self.consts.contains_key(&b) { (a, b) } else { (b, a) };
                let x = self.activation(x)?;
                let constant = self.constant(c)?.clone();
                self.emit(n, layer, QOp::MulConst(MulConst { constant }), vec![x], 0)
            }
            "Add" => {
                let (a, b) = (input(0)?, input(1)?);
                let act = p.first().copied().unwrap_or(0);
                match (self.consts.contains_key(&a), self.consts.contains_key(&b)) {
                    (false, false) => {
                        let inputs = vec![self.activation(a)?, self.activation(b)?];
                        self.emit(n, layer, QOp::Add(Add), inputs, act)
                    }
                    (false, true) | (true, false) => {
                        let (x, c) = if self.consts.contains_key(&b) { (a, b) } else { (b, a) };
                        let x = self.activation(x)?;
                        let constant = self.constant(c)?.clone();
                        self.emit(n, layer, QOp::AddConst(AddConst { constant }), vec![x], act)
                    }
                    (true, true) => Err(ProverError::Unsupported("Add of two constants".into())),
                }
            }
            "Reshape" | "Squeeze" => {
                let x = self.activation(input(0)?)?;
                self.emit(n, layer, QOp::Reshape(Reshape), vec![x], 0)
            }
            other => Err(ProverError::Unsupported(format!(
                "layer type {other} (supported: Conv2D, FullyConnected, AveragePool2D, Mul, Add, Reshape, Squeeze)"
            ))),
        }
    }
}

/// TFLite SAME padding: output `⌈in / stride⌉`, the total padding split with the extra row or
/// column at the bottom / right.
fn same_padding(input: [usize; 2], kernel: [usize; 2], stride: [usize; 2]) -> Result<[usize; 4], ProverError> {
    if stride.contains(&0) {
        return Err(ProverError::Model("stride 0".into()));
    }
    let total = |i: usize| ((input[i].div_ceil(stride[i]) - 1) * stride[i] + kernel[i]).saturating_sub(input[i]);
    let (th, tw) = (total(0), total(1));
    Ok([th / 2, tw / 2, th - th / 2, tw - tw / 2])
}
