//! Linear layers (Gemm, MatMul with constant weights) and products of two activations.

use super::rescale::{rescale, Rescaled};
use crate::error::ProverError;
use crate::tensor::Tensor;

/// Output shape of `x[.., K] · weight[K, N] (+ bias[N])`: `[.., N]`.
pub fn linear_shape(x: &[usize], weight: &[usize], bias_len: Option<usize>) -> Result<Vec<usize>, ProverError> {
    let (&k, rest) = x.split_last().ok_or_else(|| ProverError::Shape("a linear layer needs an input of rank ≥ 1".into()))?;
    if weight.len() != 2 || weight[0] != k {
        return Err(ProverError::Shape(format!("input {x:?} does not fit weight {weight:?} (expected [{k}, N])")));
    }
    if let Some(len) = bias_len {
        if len != weight[1] {
            return Err(ProverError::Shape(format!("bias of length {len} for {} outputs", weight[1])));
        }
    }
    Ok(rest.iter().copied().chain([weight[1]]).collect())
}

/// Dimensions of a (batched) product `a[.., M, K] · b[.., K, N]`: `b`'s batch axes are either
/// none (one matrix shared by every batch) or exactly `a`'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatMulDims {
    /// The batch axes of `a` (and of the output).
    pub batch: Vec<usize>,
    /// Rows of each `a` matrix.
    pub m: usize,
    /// The contracted length.
    pub k: usize,
    /// Columns of each `b` matrix.
    pub n: usize,
    /// Whether `b` has one matrix per batch.
    pub b_batched: bool,
}

impl MatMulDims {
    /// Checks and reads the operand shapes.
    pub fn new(a: &[usize], b: &[usize]) -> Result<Self, ProverError> {
        let bad = || ProverError::Shape(format!("cannot multiply {a:?} by {b:?} ([.., M, K]·[K, N] or equal batch axes)"));
        if a.len() < 2 || b.len() < 2 {
            return Err(bad());
        }
        let (a_batch, a_mat) = a.split_at(a.len() - 2);
        let (b_batch, b_mat) = b.split_at(b.len() - 2);
        if a_mat[1] != b_mat[0] || !(b_batch.is_empty() || b_batch == a_batch) {
            return Err(bad());
        }
        Ok(MatMulDims { batch: a_batch.to_vec(), m: a_mat[0], k: a_mat[1], n: b_mat[1], b_batched: !b_batch.is_empty() })
    }

    /// The output shape `[.., M, N]`.
    pub fn output_shape(&self) -> Vec<usize> {
        self.batch.iter().copied().chain([self.m, self.n]).collect()
    }

    /// For output element `(batch, i, j)` in row-major order: the flat indices of the `a` row and
    /// of the `b` column it multiplies.
    pub fn operands(&self) -> impl Iterator<Item = (Vec<usize>, Vec<usize>)> + '_ {
        let batches: usize = self.batch.iter().product();
        let (m, k, n) = (self.m, self.k, self.n);
        (0..batches).flat_map(move |t| {
            let (a0, b0) = (t * m * k, if self.b_batched { t * k * n } else { 0 });
            (0..m).flat_map(move |i| (0..n).map(move |j| ((0..k).map(|p| a0 + i * k + p).collect(), (0..k).map(|p| b0 + p * n + j).collect())))
        })
    }
}

/// Output shape of a (batched) product, see [`MatMulDims`].
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ProverError> {
    Ok(MatMulDims::new(a, b)?.output_shape())
}

/// Float reference of the linear layer.
pub fn linear_f32(x: &Tensor<f32>, weight: &Tensor<f32>, bias: Option<&[f32]>) -> Result<Tensor<f32>, ProverError> {
    let shape = linear_shape(x.shape(), weight.shape(), bias.map(|b| b.len()))?;
    let (k, n) = (weight.shape()[0], weight.shape()[1]);
    let w = weight.data();
    let mut out = Vec::with_capacity(x.len() / k.max(1) * n);
    for row in x.data().chunks(k.max(1)) {
        for j in 0..n {
            let mut acc: f64 = bias.map_or(0.0, |b| b[j] as f64);
            for (i, &xi) in row.iter().enumerate() {
                acc += xi as f64 * w[i * n + j] as f64;
            }
            out.push(acc as f32);
        }
    }
    Tensor::new(shape, out)
}

/// Float reference of the product of two activations.
pub fn matmul_f32(a: &Tensor<f32>, b: &Tensor<f32>) -> Result<Tensor<f32>, ProverError> {
    let dims = MatMulDims::new(a.shape(), b.shape())?;
    let out = dims
        .operands()
        .map(|(row, col)| row.iter().zip(&col).map(|(&i, &j)| a.data()[i] as f64 * b.data()[j] as f64).sum::<f64>() as f32)
        .collect();
    Tensor::new(dims.output_shape(), out)
}

/// One integer output of a linear layer or product: the exact accumulator and its rescale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DotRescaled {
    /// `Σ_i a_i · b_i + bias`, at twice the activation scale.
    pub acc: i128,
    /// `acc` rescaled by `2^shift` back to the activation scale.
    pub out: Rescaled,
}

/// The integer semantics of every dot product the circuit proves: `acc = Σ a_i·b_i + bias`,
/// then [`rescale`] by `2^shift`.
pub fn dot_rescale(a: impl IntoIterator<Item = i64>, b: impl IntoIterator<Item = i64>, bias: i64, shift: u32) -> DotRescaled {
    let acc = a.into_iter().zip(b).map(|(x, y)| x as i128 * y as i128).sum::<i128>() + bias as i128;
    DotRescaled { acc, out: rescale(acc, shift) }
}

/// The quantized linear layer: `weight_t` is the weight transposed to `[N, K]` (rows are the
/// dot-product operands), `bias` has length `N` at scale `2·shift`. Row-major outputs `[.., N]`.
pub fn linear_i(x: &Tensor<i64>, weight_t: &Tensor<i64>, bias: &[i64], shift: u32) -> Vec<DotRescaled> {
    let (n, k) = (weight_t.shape()[0], weight_t.shape()[1]);
    let mut out = Vec::with_capacity(x.len() / k.max(1) * n);
    for row in x.data().chunks(k.max(1)) {
        for j in 0..n {
            let w = &weight_t.data()[j * k..(j + 1) * k];
            out.push(dot_rescale(row.iter().copied(), w.iter().copied(), bias[j], shift));
        }
    }
    out
}

/// The quantized (batched) product of two activations, row-major over the output.
pub fn matmul_i(a: &Tensor<i64>, b: &Tensor<i64>, shift: u32) -> Result<Vec<DotRescaled>, ProverError> {
    let dims = MatMulDims::new(a.shape(), b.shape())?;
    Ok(dims
        .operands()
        .map(|(row, col)| dot_rescale(row.iter().map(|&i| a.data()[i]), col.iter().map(|&j| b.data()[j]), 0, shift))
        .collect())
}
