//! The integer forward pass: every node's value from the model's inputs, by the integer
//! semantics of [`crate::ops`], with every range the circuit checks checked here first, so that an
//! input the circuit cannot prove is refused naming the layer.

use crate::error::ProverError;
use crate::model::{check_inputs, Graph, Op};
use crate::ops::conv::conv_output;
use crate::ops::rescale::divide;
use crate::ops::reduce::{self, ReduceKind};
use crate::ops::{arith, elementwise, linear};
use crate::range::RangeKind;
use crate::tensor::{broadcast_indices, gather, transpose_indices, Tensor};

use super::*;

impl QuantizedModel {
    /// The integer forward pass: every node's value. Fails, naming the layer, when a value leaves
    /// a range of `ranges` that the circuit checks (the proof would be impossible).
    pub fn forward(&self, inputs: &[Tensor<i64>], ranges: &Ranges) -> Result<Vec<Tensor<i64>>, ProverError> {
        let graph_like = self.input_graph();
        check_inputs(&graph_like, inputs.iter().map(|t| t.shape()))?;
        let s = self.config.scale_bits;
        let mut values: Vec<Tensor<i64>> = Vec::with_capacity(self.nodes.len());
        let mut next_input = inputs.iter();
        for node in &self.nodes {
            let arg = |i: usize| &values[node.inputs[i]];
            let value = match &node.op {
                QOp::Input => {
                    let t = next_input.next().expect("checked").clone();
                    self.check(node, ranges.activation, t.data().iter().map(|&v| v as i128), "input")?;
                    t
                }
                QOp::Linear { weight_t, bias } => {
                    let out = linear::linear_i(arg(0), weight_t, bias, s);
                    self.rescaled_tensor(node, out, ranges)?
                }
                QOp::MatMul => {
                    let out = linear::matmul_i(arg(0), arg(1), s)?;
                    self.rescaled_tensor(node, out, ranges)?
                }
                QOp::Add => self.checked_add(node, arg(0), arg(1))?,
                QOp::AddConst { constant } => self.checked_add(node, arg(0), constant)?,
                QOp::Relu => {
                    let splits: Vec<_> = arg(0).data().iter().map(|&x| elementwise::relu(x)).collect();
                    let r = ranges.relu;
                    self.check(node, r, splits.iter().flat_map(|p| [p.out as i128, p.neg as i128]), "ReLU input")?;
                    Tensor::new(node.shape.clone(), splits.iter().map(|p| p.out).collect())?
                }
                QOp::Reshape => arg(0).clone().reshape(node.shape.clone())?,
                QOp::MaxPool2d { pool } => {
                    let x = arg(0);
                    let mut out = Vec::with_capacity(node.shape.iter().product());
                    for taps in pool.taps(x.shape())? {
                        let values: Vec<i64> = taps.iter().map(|&i| x.data()[i]).collect();
                        let steps = elementwise::max_chain(&values);
                        self.check(node, ranges.relu, steps.iter().flat_map(|s| [s.da as i128, s.db as i128]), "max pooling")?;
                        out.push(steps.last().map_or(values[0], |s| s.out));
                    }
                    Tensor::new(node.shape.clone(), out)?
                }
                QOp::Lookup { table } => {
                    let outputs = arg(0).data().iter().map(|&x| table.eval(x)).collect::<Option<Vec<_>>>().ok_or_else(|| {
                        ProverError::Range(format!(
                            "layer {}: an input leaves the {} table's domain [{}, {}]",
                            node.name,
                            table.function.name(),
                            table.lo,
                            table.hi
                        ))
                    })?;
                    Tensor::new(node.shape.clone(), outputs)?
                }
                QOp::Select { picks } => Tensor::new(node.shape.clone(), picks.iter().map(|&(o, i)| arg(o).data()[i]).collect())?,
                QOp::Transpose { perm } => gather(arg(0).data(), &transpose_indices(arg(0).shape(), perm)?, node.shape.clone())?,
                QOp::Conv2d { weight, bias, conv } => {
                    let x = arg(0);
                    let taps = conv.taps(x.shape(), weight.shape())?;
                    let out = taps
                        .iter()
                        .enumerate()
                        .filter_map(|(o, t)| conv_output(t, o, |i| Some(x.data()[i]), weight.data(), bias, s))
                        .collect();
                    self.rescaled_tensor(node, out, ranges)?
                }
                QOp::AvgPool2d { pool } => {
                    let x = arg(0);
                    let out: Vec<_> = pool
                        .taps(x.shape())?
                        .iter()
                        .map(|t| divide(t.iter().map(|&i| x.data()[i] as i128).sum(), pool.divisor()))
                        .collect();
                    self.check(node, ranges.activation, out.iter().map(|r| r.quotient), "average")?;
                    Tensor::new(node.shape.clone(), out.iter().map(|r| r.quotient as i64).collect())?
                }
                QOp::MulConst { constant } => {
                    let products = elementwise::zip_broadcast(&arg(0).map(|&v| v as i128), &constant.map(|&v| v as i128), |a, b| a * b)?;
                    let out = products.data().iter().map(|&z| linear::DotRescaled { acc: z, out: crate::ops::rescale::rescale(z, s) }).collect();
                    self.rescaled_tensor(node, out, ranges)?
                }
                QOp::Mul => {
                    let out = elementwise::zip_broadcast(&arg(0).map(|&v| Some(v)), &arg(1).map(|&v| Some(v)), |a, b| Some(arith::product(a?, b?, s).quotient as i64))?;
                    let out = out.map(|v| v.unwrap_or_default());
                    self.check(node, ranges.activation, out.data().iter().map(|&v| v as i128), "product")?;
                    out
                }
                QOp::Sub => {
                    let diff = elementwise::zip_broadcast(&arg(0).map(|&v| v as i128), &arg(1).map(|&v| v as i128), |x, y| x - y)?;
                    self.check(node, RangeKind::Signed(62), diff.data().iter().copied(), "difference")?;
                    diff.map(|&v| v as i64)
                }
                QOp::Div => {
                    let (ia, ib) = (broadcast_indices(arg(0).shape(), &node.shape), broadcast_indices(arg(1).shape(), &node.shape));
                    let quotients = ia
                        .iter()
                        .zip(&ib)
                        .map(|(&i, &j)| arith::div(arg(0).data()[i], arg(1).data()[j], s))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| ProverError::Range(format!("layer {}: a divisor is not positive (Div needs divisors > 0)", node.name)))?;
                    self.checked_quotients(node, &quotients, ranges)?
                }
                QOp::Reciprocal => {
                    let quotients = arg(0)
                        .data()
                        .iter()
                        .map(|&b| arith::reciprocal(b, s))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| ProverError::Range(format!("layer {}: Reciprocal of a value that is not positive", node.name)))?;
                    self.checked_quotients(node, &quotients, ranges)?
                }
                QOp::Sqrt => {
                    let roots = arg(0)
                        .data()
                        .iter()
                        .map(|&x| arith::sqrt(x, s))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| ProverError::Range(format!("layer {}: Sqrt of a negative value", node.name)))?;
                    self.check(node, ranges.relu, roots.iter().flat_map(|r| [r.root, r.rem, r.slack]), "square root")?;
                    Tensor::new(node.shape.clone(), roots.iter().map(|r| r.root as i64).collect())?
                }
                QOp::Reduce { axes, kind } => {
                    let x = arg(0).data();
                    let mut out = Vec::with_capacity(node.shape.iter().product());
                    for group in reduce::reduce_groups(arg(0).shape(), axes)? {
                        let values: Vec<i64> = group.iter().map(|&i| x[i]).collect();
                        out.push(match kind {
                            ReduceKind::Sum => values.iter().map(|&v| v as i128).sum::<i128>(),
                            ReduceKind::Mean => divide(values.iter().map(|&v| v as i128).sum(), values.len() as i64).quotient,
                            ReduceKind::Max => {
                                let steps = elementwise::max_chain(&values);
                                self.check(node, ranges.relu, steps.iter().flat_map(|s| [s.da as i128, s.db as i128]), "maximum")?;
                                steps.last().map_or(values[0], |s| s.out) as i128
                            }
                        });
                    }
                    self.check(node, ranges.activation, out.iter().copied(), kind.name())?;
                    Tensor::new(node.shape.clone(), out.iter().map(|&v| v as i64).collect())?
                }
                QOp::Embedding { table } => {
                    let columns = embedding_columns(table, s);
                    let mut out = Vec::with_capacity(node.shape.iter().product());
                    for &x in arg(0).data() {
                        for column in &columns {
                            out.push(column.eval(x).ok_or_else(|| {
                                ProverError::Range(format!(
                                    "layer {}: embedding index {} is not an integer in [0, {})",
                                    node.name,
                                    self.dequantize(x),
                                    table.shape()[0]
                                ))
                            })?);
                        }
                    }
                    Tensor::new(node.shape.clone(), out)?
                }
                QOp::Pad { pads, value } => {
                    let data = reduce::pad_sources(arg(0).shape(), pads)?.iter().map(|src| src.map_or(*value, |i| arg(0).data()[i])).collect();
                    Tensor::new(node.shape.clone(), data)?
                }
                QOp::Clamp { max } => {
                    let splits: Vec<_> = arg(0).data().iter().map(|&x| elementwise::clamp(x, *max)).collect();
                    self.check(node, ranges.relu, splits.iter().flat_map(|p| [p.below as i128, p.above as i128]), "clamp input")?;
                    Tensor::new(node.shape.clone(), splits.iter().map(|p| p.out).collect())?
                }
            };
            values.push(value);
        }
        Ok(values)
    }

    /// The model outputs from a full forward trace.
    pub fn outputs_of<'a>(&self, trace: &'a [Tensor<i64>]) -> Vec<&'a Tensor<i64>> {
        self.outputs.iter().map(|&o| &trace[o]).collect()
    }

    fn input_graph(&self) -> Graph {
        // Only shapes and Input markers matter to `check_inputs`.
        Graph {
            nodes: self
                .nodes
                .iter()
                .map(|n| crate::model::Node { name: n.name.clone(), op: Op::Reshape, inputs: vec![], shape: n.shape.clone() })
                .collect(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
        }
    }

    fn check(&self, node: &QNode, range: RangeKind, values: impl Iterator<Item = i128>, what: &str) -> Result<(), ProverError> {
        for (i, v) in values.enumerate() {
            if !range.contains(v) {
                let limit = self.dequantize(range.highest() as i64);
                return Err(ProverError::Range(format!(
                    "layer {} ({what}, element {i}): value {v} ({:.4}) leaves the compiled range {} (±{limit} in floats); recompile with more --range-bits or a smaller --scale",
                    node.name,
                    v as f64 / (1u64 << self.config.scale_bits) as f64,
                    range.describe()
                )));
            }
        }
        Ok(())
    }

    fn rescaled_tensor(&self, node: &QNode, out: Vec<linear::DotRescaled>, ranges: &Ranges) -> Result<Tensor<i64>, ProverError> {
        self.check(node, ranges.activation, out.iter().map(|d| d.out.quotient), "rescaled product")?;
        Tensor::new(node.shape.clone(), out.iter().map(|d| d.out.quotient as i64).collect())
    }

    fn checked_quotients(&self, node: &QNode, quotients: &[arith::Quotient], ranges: &Ranges) -> Result<Tensor<i64>, ProverError> {
        self.check(node, ranges.activation, quotients.iter().map(|q| q.quotient), "quotient")?;
        self.check(node, ranges.relu, quotients.iter().flat_map(|q| [q.remainder, q.slack]), "division remainder (the divisor is too large)")?;
        Tensor::new(node.shape.clone(), quotients.iter().map(|q| q.quotient as i64).collect())
    }

    fn checked_add(&self, node: &QNode, a: &Tensor<i64>, b: &Tensor<i64>) -> Result<Tensor<i64>, ProverError> {
        let sum = elementwise::zip_broadcast(&a.map(|&v| v as i128), &b.map(|&v| v as i128), |x, y| x + y)?;
        // The sum itself is exact in the field; it only needs to stay a sane integer.
        self.check(node, RangeKind::Signed(62), sum.data().iter().copied(), "sum")?;
        Ok(sum.map(|&v| v as i64))
    }
}
