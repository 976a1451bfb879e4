//! The integer forward pass: every node's value from the model's inputs, by each operator's
//! integer semantics ([`crate::ops::IntOp::eval`]), with every range the circuit checks claimed
//! first, so that an input the circuit cannot prove is refused naming the layer.

use crate::error::ProverError;
use crate::model::{check_inputs, Graph, Node, Op};
use crate::ops::{shape::Reshape, EvalCx};
use crate::tensor::Tensor;

use super::*;

impl QuantizedModel {
    /// Every node's evaluation: its value and the witness the circuit assigns for it (computed
    /// once per proof). Fails, naming the layer, when a value leaves a range of `ranges` that the
    /// circuit checks (the proof would be impossible).
    pub fn evaluate(&self, inputs: &[Tensor<i64>], ranges: &Ranges) -> Result<Vec<Evaluation>, ProverError> {
        check_inputs(&self.input_graph(), inputs.iter().map(|t| t.shape()))?;
        let mut evaluations: Vec<Evaluation> = Vec::with_capacity(self.nodes.len());
        let mut next_input = inputs.iter();
        for node in &self.nodes {
            let args: Vec<&Tensor<i64>> = node.inputs.iter().map(|&i| &evaluations[i].output).collect();
            let input = matches!(node.op, QOp::Input(_)).then(|| next_input.next()).flatten();
            let cx = EvalCx { name: &node.name, shape: &node.shape, scale_bits: self.config.scale_bits, ranges: *ranges, input };
            let evaluation = node.op.int().eval(&args, &cx)?;
            if evaluation.output.shape() != node.shape.as_slice() {
                return Err(ProverError::Shape(format!("layer {}: computes {:?}, declared {:?}", node.name, evaluation.output.shape(), node.shape)));
            }
            evaluations.push(evaluation);
        }
        Ok(evaluations)
    }

    /// The integer forward pass: every node's value (see [`QuantizedModel::evaluate`]).
    pub fn forward(&self, inputs: &[Tensor<i64>], ranges: &Ranges) -> Result<Vec<Tensor<i64>>, ProverError> {
        Ok(self.evaluate(inputs, ranges)?.into_iter().map(|e| e.output).collect())
    }

    /// The model outputs from a full forward trace.
    pub fn outputs_of<'a>(&self, trace: &'a [Tensor<i64>]) -> Vec<&'a Tensor<i64>> {
        self.outputs.iter().map(|&o| &trace[o]).collect()
    }

    fn input_graph(&self) -> Graph {
        // Only shapes and Input markers matter to `check_inputs`.
        Graph {
            nodes: self.nodes.iter().map(|n| Node { name: n.name.clone(), op: Op::Reshape(Reshape), inputs: vec![], shape: n.shape.clone() }).collect(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
        }
    }
}
