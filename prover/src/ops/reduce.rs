//! Reductions over axes, kept with size 1: ReduceSum (exact), ReduceMean (rounded half up) and
//! ReduceMax, as index lists: for every output element, the input elements it reads. The integer
//! forward pass and the circuit walk the same lists.
//!
//! Layout: a sum is a fixed-weight dot product of ones ([`crate::gadgets::dot_weights`]),
//! range-checked as an activation; a mean is that sum rescaled by the group size; a maximum is a
//! chain of pairwise maxima ([`super::LayoutCx::max_chains`]).

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::pool::eval_max_chains;
use super::{arity, EvalCx, Evaluation, FloatOp, IntOp, LayoutCx, QOp, QuantizeCx, Shaped};
use crate::arith::sum_divided;
use crate::error::ProverError;
use crate::gadgets::dot_weights::DotWeightsChip;
use crate::gadgets::Num;
use crate::range::RangeKind;
use crate::tensor::{strides, Tensor};

/// What a reduction computes over each group of elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReduceKind {
    /// The exact sum.
    Sum,
    /// The sum divided by the group size, rounded half up.
    Mean,
    /// The largest element.
    Max,
}

impl ReduceKind {
    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            ReduceKind::Sum => "ReduceSum",
            ReduceKind::Mean => "ReduceMean",
            ReduceKind::Max => "ReduceMax",
        }
    }
}

/// The shape after reducing `axes` of `shape`, the reduced axes kept as 1 (keepdims).
pub fn reduced_shape(shape: &[usize], axes: &[usize]) -> Result<Vec<usize>, ProverError> {
    if axes.is_empty() || axes.iter().any(|&a| a >= shape.len()) {
        return Err(ProverError::Shape(format!("reduction axes {axes:?} for a tensor of rank {}", shape.len())));
    }
    if axes.iter().any(|&a| shape[a] == 0) {
        return Err(ProverError::Shape(format!("reducing an empty axis of {shape:?}")));
    }
    Ok(shape.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect())
}

/// For every output element (row-major over [`reduced_shape`]), the flat input indices reduced
/// into it, in row-major order.
pub fn reduce_groups(shape: &[usize], axes: &[usize]) -> Result<Vec<Vec<usize>>, ProverError> {
    let out = reduced_shape(shape, axes)?;
    let in_strides = strides(shape);
    let out_count: usize = out.iter().product();
    let reduced: Vec<usize> = axes.iter().copied().filter(|&a| a < shape.len()).collect();
    let group_shape: Vec<usize> = reduced.iter().map(|&a| shape[a]).collect();
    let group_len: usize = group_shape.iter().product();
    let out_strides = strides(&out);
    let mut groups = Vec::with_capacity(out_count);
    for o in 0..out_count {
        let base: usize = (0..shape.len()).map(|d| (o / out_strides[d]) % out[d] * in_strides[d]).sum();
        let mut group = Vec::with_capacity(group_len);
        for g in 0..group_len {
            let mut rest = g;
            let mut index = base;
            for (k, &a) in reduced.iter().enumerate().rev() {
                index += (rest % group_shape[k]) * in_strides[a];
                rest /= group_shape[k];
            }
            group.push(index);
        }
        groups.push(group);
    }
    Ok(groups)
}

/// A reduction over `axes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reduce {
    /// The reduced axes.
    pub axes: Vec<usize>,
    /// Sum, mean or maximum.
    pub kind: ReduceKind,
}

impl Reduce {
    /// The number of values reduced into each output, for an input of shape `input`.
    fn group_len(&self, input: &[usize]) -> usize {
        self.axes.iter().map(|&a| input.get(a).copied().unwrap_or(1)).product()
    }
}

impl Shaped for Reduce {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        arity(self.kind.name(), inputs, 1)?;
        reduced_shape(inputs[0], &self.axes)
    }
}

impl FloatOp for Reduce {
    fn eval(&self, args: &[&Tensor<f32>], shape: &[usize]) -> Result<Tensor<f32>, ProverError> {
        let x = args[0].data();
        let data = reduce_groups(args[0].shape(), &self.axes)?
            .iter()
            .map(|g| match self.kind {
                ReduceKind::Sum => g.iter().map(|&i| x[i] as f64).sum::<f64>() as f32,
                ReduceKind::Mean => (g.iter().map(|&i| x[i] as f64).sum::<f64>() / g.len() as f64) as f32,
                ReduceKind::Max => g.iter().map(|&i| x[i]).fold(f32::NEG_INFINITY, f32::max),
            })
            .collect();
        Tensor::new(shape.to_vec(), data)
    }

    fn quantize(&self, _: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        Ok(QOp::Reduce(self.clone()))
    }
}

impl IntOp for Reduce {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        let x = args[0];
        let groups = reduce_groups(x.shape(), &self.axes)?;
        let divisor = match self.kind {
            ReduceKind::Max => {
                let evaluation = eval_max_chains(x, &groups, cx, "maximum")?;
                cx.claim(cx.ranges.activation, evaluation.output.data().iter().map(|&v| v as i128), self.kind.name())?;
                return Ok(evaluation);
            }
            ReduceKind::Sum => 1,
            ReduceKind::Mean => self.group_len(x.shape()) as i64,
        };
        let sums = groups.iter().map(|g| sum_divided(g.iter().map(|&i| x.data()[i]), divisor)).collect();
        cx.rescaled(sums, self.kind.name())
    }

    /// A mean's remainder lies below the group size.
    fn fixed_ranges(&self, inputs: &[&[usize]]) -> Vec<RangeKind> {
        match self.kind {
            ReduceKind::Mean => vec![RangeKind::Below(self.group_len(inputs[0]) as u64)],
            _ => vec![],
        }
    }

    fn ends_in_rescale(&self) -> bool {
        self.kind == ReduceKind::Mean
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let x = args[0];
        let groups = reduce_groups(cx.input_shape(0), &self.axes).map_err(|_| Error::Synthesis)?;
        if self.kind == ReduceKind::Max {
            return cx.max_chains(x, &groups);
        }
        let witness = cx.dots(groups.len())?;
        let chip = DotWeightsChip::new(crate::need!(cx.config, dot_weights)?);
        let mut sums = Vec::with_capacity(groups.len());
        for (g, w) in groups.iter().zip(witness) {
            let cells: Vec<Num> = g.iter().map(|&i| x[i]).collect();
            sums.push((chip.assign(cx.ctx, &cells, &vec![1; cells.len()], 0, w.map(|w| w.acc))?, w.map(|w| w.out)));
        }
        if self.kind == ReduceKind::Sum {
            for (sum, _) in &sums {
                cx.ctx.check_range(sum, cx.ranges.activation)?;
            }
            return Ok(sums.into_iter().map(|(sum, _)| sum).collect());
        }
        let n = groups.first().map_or(1, Vec::len) as i64;
        cx.rescale(&sums, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_the_reduced_axes() {
        // [2, 3]: reduce axis 1 -> rows; axis 0 -> columns; both -> everything.
        assert_eq!(reduce_groups(&[2, 3], &[1]).unwrap(), vec![vec![0, 1, 2], vec![3, 4, 5]]);
        assert_eq!(reduce_groups(&[2, 3], &[0]).unwrap(), vec![vec![0, 3], vec![1, 4], vec![2, 5]]);
        assert_eq!(reduce_groups(&[2, 3], &[0, 1]).unwrap(), vec![vec![0, 1, 2, 3, 4, 5]]);
        assert_eq!(reduce_groups(&[2, 2, 2], &[0, 2]).unwrap(), vec![vec![0, 1, 4, 5], vec![2, 3, 6, 7]]);
        assert!(reduce_groups(&[2, 3], &[2]).is_err());
    }
}
