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

/// Output shape of `a[M, K] · b[K, N]`: `[M, N]`.
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ProverError> {
    match (a, b) {
        ([m, k], [k2, n]) if k == k2 => Ok(vec![*m, *n]),
        _ => Err(ProverError::Shape(format!("cannot multiply {a:?} by {b:?} (2-D operands [M, K]·[K, N] only)"))),
    }
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
    let shape = matmul_shape(a.shape(), b.shape())?;
    let (m, k, n) = (shape[0], a.shape()[1], shape[1]);
    let mut out = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let acc: f64 = (0..k).map(|t| a.data()[i * k + t] as f64 * b.data()[t * n + j] as f64).sum();
            out[i * n + j] = acc as f32;
        }
    }
    Tensor::new(shape, out)
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

/// The quantized product of two activations `[M, K]·[K, N]`, row-major `[M, N]`.
pub fn matmul_i(a: &Tensor<i64>, b: &Tensor<i64>, shift: u32) -> Vec<DotRescaled> {
    let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let row = a.data()[i * k..(i + 1) * k].iter().copied();
            let col = (0..k).map(|t| b.data()[t * n + j]);
            out.push(dot_rescale(row, col, 0, shift));
        }
    }
    out
}
