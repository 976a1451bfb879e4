//! Which nodes are fused with the activation after them (one gadget for both).

use crate::ops::reduce::ReduceKind;
use crate::ops::elementwise::Activation;
use crate::quantize::{QOp, QuantizedModel};

/// How a node is laid out: on its own, or fused with the activation after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRole {
    /// Laid out by its own gadgets.
    Plain,
    /// A node ending in a rescale whose only reader is this activation: the rescale and the
    /// activation share one gadget ([`RescaleActivationConfig`]), and the node's cells hold the
    /// activated values.
    RescaleThen(Activation),
    /// A node ending in a rescale whose only reader (node `usize`) adds a constant: the constant
    /// is folded into the rescale ([`RescaleChip::assign_shifted`]).
    RescaleThenAdd(usize),
    /// The activation or constant sum after a fused node: it adds nothing.
    Absorbed,
}

/// The role of every node. A rescaling node (Linear, MatMul, Conv, AvgPool, MulConst,
/// ReduceMean) fuses with a ReLU, a clamp or (with parameters fixed in the circuit) the addition
/// of a constant that is its only reader, unless its own value is a model output.
pub fn node_roles(model: &QuantizedModel) -> Vec<NodeRole> {
    let mut readers = vec![0usize; model.nodes.len()];
    for node in &model.nodes {
        for &i in &node.inputs {
            readers[i] += 1;
        }
    }
    let mut roles = vec![NodeRole::Plain; model.nodes.len()];
    for (id, node) in model.nodes.iter().enumerate() {
        let fused = match node.op {
            QOp::Relu => NodeRole::RescaleThen(Activation::Relu),
            QOp::Clamp { max } => NodeRole::RescaleThen(Activation::Clamp { max }),
            QOp::AddConst { .. } if !model.visibility.witnessed_params() => NodeRole::RescaleThenAdd(id),
            _ => continue,
        };
        let p = node.inputs[0];
        let rescales = matches!(
            model.nodes[p].op,
            QOp::Linear { .. } | QOp::MatMul | QOp::Conv2d { .. } | QOp::AvgPool2d { .. } | QOp::MulConst { .. } | QOp::Reduce { kind: ReduceKind::Mean, .. }
        );
        if rescales && readers[p] == 1 && !model.outputs.contains(&p) && roles[p] == NodeRole::Plain {
            roles[p] = fused;
            roles[id] = NodeRole::Absorbed;
        }
    }
    roles
}
