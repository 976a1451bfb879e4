//! Which nodes are fused with the operator after them (one gadget for both).

use crate::ops::Fusable;
use crate::quantize::QuantizedModel;

/// How a node is laid out: on its own, or fused with the node after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRole {
    /// Laid out by its own gadgets.
    Plain,
    /// A node ending in a rescale whose only reader (node `usize`) is an activation or the sum
    /// with a constant ([`Fusable`]): the rescale does the reader's work too
    /// ([`crate::ops::layout::Ending`]), and the node's cells hold the reader's values.
    FusedWith(usize),
    /// The activation or constant sum after a fused node: it adds nothing.
    Absorbed,
}

/// The role of every node. A node that ends in a rescale fuses with an activation, or (with
/// parameters fixed in the circuit) with the sum with a constant, that is its only reader,
/// unless its own value is a model output.
pub fn node_roles(model: &QuantizedModel) -> Vec<NodeRole> {
    let mut readers = vec![0usize; model.nodes.len()];
    for node in &model.nodes {
        for &i in &node.inputs {
            readers[i] += 1;
        }
    }
    let mut roles = vec![NodeRole::Plain; model.nodes.len()];
    for (id, node) in model.nodes.iter().enumerate() {
        match node.op.int().fusable() {
            Some(Fusable::Activation(_)) => {}
            Some(Fusable::AddConstant(_)) if !model.visibility.witnessed_params() => {}
            _ => continue,
        }
        let p = node.inputs[0];
        if model.nodes[p].op.int().ends_in_rescale() && readers[p] == 1 && !model.outputs.contains(&p) && roles[p] == NodeRole::Plain {
            roles[p] = NodeRole::FusedWith(id);
            roles[id] = NodeRole::Absorbed;
        }
    }
    roles
}
