//! Splitting a quantized model into segments: contiguous runs of nodes (in topological order),
//! each its own circuit. A segment reads the model's inputs it needs and the *boundary* values
//! earlier segments computed (residual connections that cross a cut included), and hands on what
//! later segments or the model's outputs need.
//!
//! [`balanced_cuts`] chooses where to cut from the rows each node's real layout takes (the
//! counting layout of [`crate::circuit::measure`]), so that the segments' rows are as even as the
//! nodes allow, preferring, among cuts as even, the one that hands on fewer values.

use std::ops::Range;
use std::sync::Arc;

use crate::circuit::measure;
use crate::error::ProverError;
use crate::ops::prelude::Input;
use crate::quantize::{QNode, QOp, QuantizedModel};

/// One segment of a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The model's nodes the segment computes.
    pub nodes: Range<usize>,
    /// Model nodes before the segment whose values it reads (model inputs and boundary values),
    /// in node order: the segment's inputs.
    pub inputs: Vec<usize>,
    /// Nodes of the segment whose values later segments read or the model outputs, in node
    /// order: the segment's outputs.
    pub outputs: Vec<usize>,
}

impl Segment {
    /// Values the segment receives from earlier segments or as model inputs.
    pub fn input_values(&self, model: &QuantizedModel) -> usize {
        self.inputs.iter().map(|&i| model.nodes[i].shape.iter().product::<usize>()).sum()
    }

    /// Values the segment hands on.
    pub fn output_values(&self, model: &QuantizedModel) -> usize {
        self.outputs.iter().map(|&i| model.nodes[i].shape.iter().product::<usize>()).sum()
    }
}

/// The nodes before `cut` whose values a node from `cut` on reads or that are model outputs:
/// what a cut there hands on.
fn handed_on(model: &QuantizedModel, cut: usize) -> Vec<usize> {
    (0..cut).filter(|&id| model.outputs.contains(&id) || model.nodes[cut..].iter().any(|node| node.inputs.contains(&id))).collect()
}

/// The segments `model` splits into at `cuts` (node indices where a segment starts, strictly
/// increasing, within `1..nodes`).
pub fn segments_at(model: &QuantizedModel, cuts: &[usize]) -> Result<Vec<Segment>, ProverError> {
    let n = model.nodes.len();
    if cuts.windows(2).any(|w| w[0] >= w[1]) || cuts.iter().any(|&c| c == 0 || c >= n) {
        return Err(ProverError::Model(format!("cuts {cuts:?} are not increasing node indices within 1..{n}")));
    }
    let bounds: Vec<usize> = std::iter::once(0).chain(cuts.iter().copied()).chain(std::iter::once(n)).collect();
    Ok(bounds
        .windows(2)
        .map(|w| {
            let nodes = w[0]..w[1];
            let mut inputs: Vec<usize> = model.nodes[nodes.clone()].iter().flat_map(|node| node.inputs.iter().copied()).filter(|&i| i < nodes.start).collect();
            inputs.sort_unstable();
            inputs.dedup();
            let outputs = handed_on(model, nodes.end).into_iter().filter(|&id| id >= nodes.start).collect();
            Segment { nodes, inputs, outputs }
        })
        .collect())
}

/// The model of one segment: an `Input` node per segment input (in order), then the segment's
/// nodes reading them; its outputs are the segment's outputs.
pub fn segment_model(model: &QuantizedModel, segment: &Segment) -> QuantizedModel {
    let mut index = std::collections::HashMap::new();
    let mut nodes = Vec::with_capacity(segment.inputs.len() + segment.nodes.len());
    for &i in &segment.inputs {
        index.insert(i, nodes.len());
        nodes.push(QNode { name: model.nodes[i].name.clone(), op: QOp::Input(Input), inputs: vec![], shape: model.nodes[i].shape.clone() });
    }
    for id in segment.nodes.clone() {
        let node = &model.nodes[id];
        let op = if matches!(node.op, QOp::Input(_)) { QOp::Input(Input) } else { node.op.clone() };
        index.insert(id, nodes.len());
        nodes.push(QNode { name: node.name.clone(), op, inputs: node.inputs.iter().map(|i| index[i]).collect(), shape: node.shape.clone() });
    }
    let inputs = nodes.iter().enumerate().filter(|(_, n)| matches!(n.op, QOp::Input(_))).map(|(i, _)| i).collect();
    QuantizedModel { config: model.config, nodes, inputs, outputs: segment.outputs.iter().map(|o| index[o]).collect(), visibility: model.visibility.clone() }
}

/// Where to cut `model` into `count` segments so that their rows are as even as possible: each
/// cut is placed where the rows before it come closest to its share of the total, preferring
/// among the positions within one node's rows of it the one that hands on the fewest values.
/// Measured at `width` main columns, the width of the model's own layout.
pub fn balanced_cuts(model: &QuantizedModel, count: usize, width: usize) -> Result<Vec<usize>, ProverError> {
    let n = model.nodes.len();
    let first_compute = model.nodes.iter().position(|node| !matches!(node.op, QOp::Input(_))).unwrap_or(n);
    if count == 0 || count > n - first_compute {
        return Err(ProverError::Model(format!(
            "cannot split a model of {} computing nodes into {count} segments",
            n - first_compute
        )));
    }
    let rows = measure(&Arc::new(model.clone()), width, &[]).map_err(|e| ProverError::Plonk(format!("measuring the layout: {e:?}")))?.node_rows;
    let total: usize = rows.iter().sum();
    // Rows before node i.
    let before: Vec<usize> = std::iter::once(0).chain(rows.iter().scan(0, |acc, &r| { *acc += r; Some(*acc) })).collect();
    let values_handed_on = |cut: usize| -> usize { handed_on(model, cut).iter().map(|&id| model.nodes[id].shape.iter().product::<usize>()).sum() };
    let mut cuts: Vec<usize> = Vec::with_capacity(count - 1);
    for s in 1..count {
        let target = total * s / count;
        let lowest = cuts.last().map_or(first_compute + 1, |&c| c + 1);
        let highest = n - (count - s);
        let best = (lowest..=highest).min_by_key(|&c| before[c].abs_diff(target)).unwrap_or(lowest);
        let slack = rows[best.saturating_sub(1)].max(rows[best.min(n - 1)]) / 2;
        let cut = (lowest..=highest)
            .filter(|&c| before[c].abs_diff(target) <= before[best].abs_diff(target) + slack)
            .min_by_key(|&c| (values_handed_on(c), before[c].abs_diff(target)))
            .unwrap_or(best);
        cuts.push(cut);
    }
    Ok(cuts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Graph, Node};
    use crate::ops::prelude::*;
    use crate::quantize::QuantizeConfig;
    use crate::tensor::Tensor;

    /// x → r1 = relu(x) → r2 = relu(r1 + 1) → s = r2 + x: a residual from the input to the end.
    fn residual_model() -> QuantizedModel {
        let shape = vec![1, 4];
        let node = |name: &str, op: Op, inputs: Vec<usize>| Node { name: name.into(), op, inputs, shape: shape.clone() };
        let one = Tensor::new(vec![], vec![1.0f32]).unwrap();
        let graph = Graph {
            nodes: vec![
                node("x", Op::Input(Input), vec![]),
                node("r1", Op::Relu(Relu), vec![0]),
                node("shifted", Op::AddConst(AddConst { constant: one }), vec![1]),
                node("r2", Op::Relu(Relu), vec![2]),
                node("s", Op::Add(Add), vec![3, 0]),
            ],
            inputs: vec![0],
            outputs: vec![4],
        };
        QuantizedModel::from_graph(&graph, QuantizeConfig { scale_bits: 4, range_bits: 12 }).unwrap()
    }

    #[test]
    fn a_residual_crossing_a_cut_is_a_boundary_value() {
        let model = residual_model();
        let segments = segments_at(&model, &[2, 4]).unwrap();
        assert_eq!(segments[0], Segment { nodes: 0..2, inputs: vec![], outputs: vec![0, 1] });
        assert_eq!(segments[1], Segment { nodes: 2..4, inputs: vec![1], outputs: vec![3] });
        assert_eq!(segments[2], Segment { nodes: 4..5, inputs: vec![0, 3], outputs: vec![4] });
        assert_eq!((segments[2].input_values(&model), segments[2].output_values(&model)), (8, 4));
        for bad in [vec![0], vec![5], vec![3, 2], vec![2, 2]] {
            assert!(segments_at(&model, &bad).is_err(), "cuts {bad:?}");
        }
    }

    /// Running the segments one after the other, each on the boundary values the earlier ones
    /// computed, gives the whole model's output.
    #[test]
    fn segments_chained_compute_the_model() {
        let model = residual_model();
        let ranges = model.ranges_for(None);
        let x = Tensor::new(vec![1, 4], vec![-20i64, -3, 5, 40]).unwrap();
        let whole = model.forward(&[x.clone()], &ranges).unwrap();
        let mut values: std::collections::HashMap<usize, Tensor<i64>> = [(0usize, x)].into();
        for segment in segments_at(&model, &[2, 4]).unwrap() {
            let sub = segment_model(&model, &segment);
            sub.validate().unwrap();
            let inputs: Vec<Tensor<i64>> = if segment.nodes.start == 0 { vec![values[&0].clone()] } else { segment.inputs.iter().map(|i| values[i].clone()).collect() };
            let trace = sub.forward(&inputs, &ranges).unwrap();
            for (&id, out) in segment.outputs.iter().zip(sub.outputs_of(&trace)) {
                assert_eq!(out, &whole[id], "node {id}");
                values.insert(id, out.clone());
            }
        }
        assert_eq!(values[&4], whole[4]);
    }

    /// The cuts balance the segments' rows: on the example CNN, each of two segments holds at
    /// most three quarters of the rows, and each segment is a circuit that plans.
    #[test]
    fn balanced_cuts_split_the_rows() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/cnn/model.onnx");
        let compiled = crate::compile::compile_onnx(&path, QuantizeConfig::default()).unwrap();
        let model = &compiled.quantized;
        let width = compiled.layout.shape.width;
        let rows = measure(&Arc::new(model.clone()), width, &[]).unwrap().node_rows;
        let total: usize = rows.iter().sum();
        for count in [2, 3] {
            let cuts = balanced_cuts(model, count, width).unwrap();
            assert_eq!(cuts.len(), count - 1);
            for segment in segments_at(model, &cuts).unwrap() {
                let own: usize = rows[segment.nodes.clone()].iter().sum();
                assert!(own * 4 <= total * 3, "{count} segments: {:?} holds {own} of {total} rows", segment.nodes);
                crate::circuit::plan(&segment_model(model, &segment)).unwrap();
            }
        }
        assert!(balanced_cuts(model, model.nodes.len() + 1, width).is_err());
    }
}
