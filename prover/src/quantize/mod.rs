//! Fixed-point quantization of a float [`Graph`] and the integer forward pass that defines what
//! the circuit proves.
//!
//! Every activation is an integer `round(x · 2^s)` at the model's scale `s`. Weights are quantized
//! at the same scale, biases at `2s` (the scale of a product), and each product is rescaled back to
//! `s` with [`crate::arith::rescale`]. Each operator's own file says how it quantizes
//! ([`crate::ops::FloatOp::quantize`]). Values the circuit range-checks must lie in the
//! [`Ranges`] of the circuit's plan; the forward pass checks the same ranges and names the layer
//! that leaves them.

mod forward;
mod public;

use serde::{Deserialize, Serialize};

use crate::arith::table::LookupTable;
use crate::error::ProverError;
use crate::model::Graph;
use crate::ops::{quantize_value, QuantizeCx};
use crate::range::RangeKind;
use crate::visibility::VisibilitySettings;
use crate::tensor::Tensor;

pub use crate::ops::{Evaluation, QOp, Ranges};

/// Quantization settings chosen at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantizeConfig {
    /// Fractional bits `s`: a float `x` is stored as `round(x · 2^s)`.
    pub scale_bits: u32,
    /// Activations are guaranteed provable within `[-2^(b-1), 2^(b-1))` for `b = range_bits`
    /// (the circuit's plan may widen that to fill its lookup table: [`Ranges`]).
    pub range_bits: u32,
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

impl QuantizedModel {
    /// Quantizes `graph` (validated first) with `config`.
    pub fn from_graph(graph: &Graph, config: QuantizeConfig) -> Result<Self, ProverError> {
        config.validate()?;
        graph.validate()?;
        let nodes = graph
            .nodes
            .iter()
            .map(|node| {
                let cx = QuantizeCx { scale_bits: config.scale_bits, range_bits: config.range_bits, name: &node.name, shape: &node.shape };
                let op = node.op.float().quantize(&cx)?;
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
            let expected = node.op.int().output_shape(&shapes, &node.shape).map_err(|e| ProverError::Shape(format!("node {}: {e}", node.name)))?;
            if expected != node.shape {
                return Err(ProverError::Shape(format!("node {}: computes {expected:?}, declared {:?}", node.name, node.shape)));
            }
        }
        if self.inputs.iter().any(|&i| !matches!(self.nodes.get(i).map(|n| &n.op), Some(QOp::Input(_)))) {
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
            for t in node.op.int().tables(self.config.scale_bits) {
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
            let shapes: Vec<&[usize]> = node.inputs.iter().map(|&i| self.nodes[i].shape.as_slice()).collect();
            r.extend(node.op.int().fixed_ranges(&shapes));
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
