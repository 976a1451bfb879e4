//! Reductions over axes (ReduceSum, ReduceMean, ReduceMax) and constant padding, as index lists:
//! for every output element, the input elements it reads. The integer forward pass and the
//! circuit walk the same lists.

use serde::{Deserialize, Serialize};

use crate::error::ProverError;
use crate::tensor::strides;

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

/// The shape of `shape` padded by `pads` (`(before, after)` per axis).
pub fn padded_shape(shape: &[usize], pads: &[(usize, usize)]) -> Result<Vec<usize>, ProverError> {
    if pads.len() != shape.len() {
        return Err(ProverError::Shape(format!("{} pads for a tensor of rank {}", pads.len(), shape.len())));
    }
    Ok(shape.iter().zip(pads).map(|(&d, &(b, a))| d + b + a).collect())
}

/// For every element of the padded tensor, the input element it copies, or `None` for padding.
pub fn pad_sources(shape: &[usize], pads: &[(usize, usize)]) -> Result<Vec<Option<usize>>, ProverError> {
    let out = padded_shape(shape, pads)?;
    let (in_strides, out_strides) = (strides(shape), strides(&out));
    let count: usize = out.iter().product();
    Ok((0..count)
        .map(|o| {
            let mut index = 0;
            for d in 0..out.len() {
                let c = (o / out_strides[d]) % out[d];
                if c < pads[d].0 || c >= pads[d].0 + shape[d] {
                    return None;
                }
                index += (c - pads[d].0) * in_strides[d];
            }
            Some(index)
        })
        .collect())
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

    #[test]
    fn padding_copies_the_interior() {
        assert_eq!(pad_sources(&[2], &[(1, 2)]).unwrap(), vec![None, Some(0), Some(1), None, None]);
        let s = pad_sources(&[1, 2], &[(0, 0), (1, 0)]).unwrap();
        assert_eq!(s, vec![None, Some(0), Some(1)]);
    }
}
