//! A minimal dense tensor: a shape and its row-major data. Enough for model weights, activations
//! and the index arithmetic of broadcasting; no ndarray in the prover's own types.

use serde::{Deserialize, Serialize};

use crate::error::ProverError;

/// A dense row-major tensor. Invariant: `data.len()` is the product of `shape`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tensor<T> {
    shape: Vec<usize>,
    data: Vec<T>,
}

impl<T> Tensor<T> {
    /// A tensor of `shape` holding `data`; fails if the sizes differ.
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Result<Self, ProverError> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(ProverError::Shape(format!(
                "shape {shape:?} holds {expected} values, got {}",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    /// The dimensions, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values in row-major order.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// Consumes the tensor, returning its row-major values.
    pub fn into_data(self) -> Vec<T> {
        self.data
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no value.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The same values under another shape of equal size.
    pub fn reshape(self, shape: Vec<usize>) -> Result<Self, ProverError> {
        Tensor::new(shape, self.data)
    }

    /// Applies `f` to every value.
    pub fn map<U>(&self, f: impl FnMut(&T) -> U) -> Tensor<U> {
        Tensor { shape: self.shape.clone(), data: self.data.iter().map(f).collect() }
    }
}

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// The shape of a tensor of `shape` with its axes permuted by `perm` (output axis `i` is input
/// axis `perm[i]`), checking `perm` is a permutation.
pub fn transpose_shape(shape: &[usize], perm: &[usize]) -> Result<Vec<usize>, ProverError> {
    let mut seen = vec![false; shape.len()];
    if perm.len() != shape.len() || perm.iter().any(|&p| p >= shape.len() || std::mem::replace(&mut seen[p], true)) {
        return Err(ProverError::Shape(format!("{perm:?} is not a permutation of the axes of {shape:?}")));
    }
    Ok(perm.iter().map(|&p| shape[p]).collect())
}

/// For every row-major position of the transposed tensor, the flat index it reads in the input.
pub fn transpose_indices(shape: &[usize], perm: &[usize]) -> Result<Vec<usize>, ProverError> {
    let out = transpose_shape(shape, perm)?;
    let (in_strides, out_strides) = (strides(shape), strides(&out));
    let total: usize = shape.iter().product();
    Ok((0..total)
        .map(|flat| perm.iter().enumerate().map(|(axis, &p)| (flat / out_strides[axis]) % out[axis] * in_strides[p]).sum())
        .collect())
}

/// Gathers `data[indices[i]]` into a tensor of `shape`.
pub fn gather<T: Clone>(data: &[T], indices: &[usize], shape: Vec<usize>) -> Result<Tensor<T>, ProverError> {
    Tensor::new(shape, indices.iter().map(|&i| data[i].clone()).collect())
}

/// The shape two operands broadcast to under numpy / ONNX multidirectional broadcasting.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ProverError> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| if i + s.len() < rank { 1 } else { s[i + s.len() - rank] };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            (x, y) => Err(ProverError::Shape(format!(
                "cannot broadcast {a:?} with {b:?} (axis {i}: {x} vs {y})"
            ))),
        })
        .collect()
}

/// For every position of the broadcast `out` shape, the flat index into an operand of `shape`.
pub fn broadcast_indices(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let total: usize = out.iter().product();
    let offset = out.len() - shape.len();
    let in_strides = strides(shape);
    let out_strides = strides(out);
    (0..total)
        .map(|flat| {
            let mut idx = 0;
            for (axis, &dim) in shape.iter().enumerate() {
                let coord = (flat / out_strides[axis + offset]) % out[axis + offset];
                if dim != 1 {
                    idx += coord * in_strides[axis];
                }
            }
            idx
        })
        .collect()
}

/// `f(a, b)` elementwise over the broadcast of `a` and `b` (numpy rules): sums, products, and
/// the integer results with their remainders.
pub fn zip_broadcast<T: Copy, R>(a: &Tensor<T>, b: &Tensor<T>, f: impl Fn(T, T) -> R) -> Result<Tensor<R>, ProverError> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let (ia, ib) = (broadcast_indices(a.shape(), &shape), broadcast_indices(b.shape(), &shape));
    let data = ia.iter().zip(&ib).map(|(&i, &j)| f(a.data()[i], b.data()[j])).collect();
    Tensor::new(shape, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shape(&[2, 3], &[3]).unwrap(), vec![2, 3]);
        assert_eq!(broadcast_shape(&[2, 1], &[1, 3]).unwrap(), vec![2, 3]);
        assert!(broadcast_shape(&[2, 3], &[2]).is_err());
        assert_eq!(broadcast_indices(&[3], &[2, 3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_indices(&[2, 1], &[2, 3]), vec![0, 0, 0, 1, 1, 1]);
    }

    #[test]
    fn transpose_moves_axes() {
        // [[0, 1, 2], [3, 4, 5]] transposed is [[0, 3], [1, 4], [2, 5]].
        assert_eq!(transpose_indices(&[2, 3], &[1, 0]).unwrap(), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(transpose_shape(&[1, 2, 3, 4], &[0, 2, 3, 1]).unwrap(), vec![1, 3, 4, 2]);
        assert!(transpose_shape(&[2, 3], &[0, 0]).is_err());
    }

    #[test]
    fn new_checks_size() {
        assert!(Tensor::new(vec![2, 2], vec![1, 2, 3]).is_err());
    }
}
