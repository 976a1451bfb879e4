//! Products of two activations: `y[.., m, n] = Σ_k a[.., m, k] · b[.., k, n]`, rescaled by `2^s`.
//!
//! Layout: one activation dot product per output ([`crate::gadgets::dot_activations`]), then the
//! node's rescale.

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::{arity, EvalCx, Evaluation, FloatOp, IntOp, LayoutCx, QOp, QuantizeCx, Shaped};
use crate::arith::{dot_rescale, DotRescaled};
use crate::error::ProverError;
use crate::gadgets::dot_activations::DotActivationsChip;
use crate::gadgets::Num;
use crate::tensor::Tensor;

/// The product of two activations (no parameters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatMul;

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

/// The integer products, row-major over the output.
pub fn matmul_dots(a: &Tensor<i64>, b: &Tensor<i64>, shift: u32) -> Result<Vec<DotRescaled>, ProverError> {
    let dims = MatMulDims::new(a.shape(), b.shape())?;
    Ok(dims
        .operands()
        .map(|(row, col)| dot_rescale(row.iter().map(|&i| a.data()[i]), col.iter().map(|&j| b.data()[j]), 0, shift))
        .collect())
}

impl Shaped for MatMul {
    fn name(&self) -> &'static str {
        "MatMul"
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        arity("MatMul", inputs, 2)?;
        Ok(MatMulDims::new(inputs[0], inputs[1])?.output_shape())
    }
}

impl FloatOp for MatMul {
    fn eval(&self, args: &[&Tensor<f32>], _: &[usize]) -> Result<Tensor<f32>, ProverError> {
        let (a, b) = (args[0], args[1]);
        let dims = MatMulDims::new(a.shape(), b.shape())?;
        let out = dims
            .operands()
            .map(|(row, col)| row.iter().zip(&col).map(|(&i, &j)| a.data()[i] as f64 * b.data()[j] as f64).sum::<f64>() as f32)
            .collect();
        Tensor::new(dims.output_shape(), out)
    }

    fn quantize(&self, _: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        Ok(QOp::MatMul(MatMul))
    }
}

impl IntOp for MatMul {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        cx.rescaled(matmul_dots(args[0], args[1], cx.scale_bits)?, "rescaled product")
    }

    fn ends_in_rescale(&self) -> bool {
        true
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let (a, b) = (args[0], args[1]);
        let dims = MatMulDims::new(cx.input_shape(0), cx.input_shape(1)).map_err(|_| Error::Synthesis)?;
        let witness = cx.dots(cx.count())?;
        let chip = DotActivationsChip::new(crate::need!(cx.config, dot_activations)?);
        let mut accs = Vec::with_capacity(witness.len());
        for ((row, col), w) in dims.operands().zip(witness) {
            let (row, col): (Vec<Num>, Vec<Num>) = (row.iter().map(|&i| a[i]).collect(), col.iter().map(|&j| b[j]).collect());
            accs.push((chip.assign(cx.ctx, &row, &col, w.map(|w| w.acc))?, w.map(|w| w.out)));
        }
        cx.rescale(&accs, 1 << cx.scale_bits)
    }
}
