//! Each node's layout: the operator's own ([`crate::ops::IntOp::layout`]), given what the circuit
//! knows of the node: its witness, its parameter cells, how it ends (fused or not) and whether
//! the plan checks it with Freivalds' algorithm.

use halo2_proofs::plonk::Error;

use crate::gadgets::freivalds::PendingCheck;
use crate::gadgets::set::ModelConfig;
use crate::gadgets::{Num, RegionCtx};
use crate::ops::layout::Ending;
use crate::ops::{Fusable, LayoutCx};

use super::*;

impl ModelCircuit {
    /// Lays out node `id` after the nodes before it (whose cells are `values`).
    pub(super) fn layout_node(
        &self,
        config: &ModelConfig,
        ctx: &mut RegionCtx<'_, '_>,
        id: usize,
        role: NodeRole,
        values: &[Vec<Num>],
        params: Option<(&[Num], Num)>,
        deferred: &mut Vec<PendingCheck>,
    ) -> Result<Vec<Num>, Error> {
        let model = &*self.model;
        let node = &model.nodes[id];
        let evaluation_of = |i: usize| self.trace.as_ref().map(|t| &t[i]);
        let ending = match role {
            // The node before computed this one's value already.
            NodeRole::Absorbed => return Ok(values[node.inputs[0]].clone()),
            NodeRole::Plain => Ending::Plain,
            NodeRole::FusedWith(reader) => match model.nodes[reader].op.int().fusable() {
                Some(Fusable::Activation(activation)) => Ending::Activation(activation, evaluation_of(reader)),
                Some(Fusable::AddConstant(constant)) => Ending::AddConstant(constant, &model.nodes[reader].shape),
                None => return Err(Error::Synthesis),
            },
        };
        let args: Vec<&[Num]> = node.inputs.iter().map(|&i| values[i].as_slice()).collect();
        let mut cx = LayoutCx {
            config,
            ctx,
            ranges: self.ranges,
            scale_bits: model.config.scale_bits,
            shape: &node.shape,
            input_shapes: node.inputs.iter().map(|&i| model.nodes[i].shape.as_slice()).collect(),
            evaluation: evaluation_of(id),
            params,
            ending,
            freivalds: self.layout.freivalds_nodes.contains(&id),
            deferred,
        };
        let out = node.op.int().layout(&mut cx, &args)?;
        if out.len() != cx.count() {
            return Err(Error::Synthesis);
        }
        Ok(out)
    }
}
