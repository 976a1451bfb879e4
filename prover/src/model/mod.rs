//! The model graph the prover owns: importers turn ONNX (and later other formats) into a
//! [`Graph`] of float operators over shaped tensors; `quantize` turns it into integers.

use serde::{Deserialize, Serialize};

use crate::error::ProverError;
use crate::tensor::Tensor;

pub use crate::ops::Op;

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
            let expected = node.op.float().output_shape(&shapes, &node.shape)
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
            if !matches!(self.nodes.get(i).map(|n| &n.op), Some(Op::Input(_))) {
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
                Op::Input(_) => next_input.next().expect("checked").clone(),
                op => op.float().eval(&args, &node.shape)?,
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
