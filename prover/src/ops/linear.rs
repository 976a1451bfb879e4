//! Linear layers (Gemm, MatMul with constant weights): `y[.., n] = Σ_k x[.., k] · w[k, n] + b[n]`,
//! each output rescaled by `2^s`.
//!
//! Layout: with the weights fixed in the circuit, one matrix-vector gadget per input row
//! ([`crate::gadgets::matvec`]); with witnessed weights (hashed or private parameters), one
//! activation dot product per output with the bias as the product `bias · 1`
//! ([`crate::gadgets::dot_activations`]). Either way the accumulator is rescaled by the node's
//! [`super::layout::Ending`].

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::{arity, EvalCx, Evaluation, FloatOp, IntOp, LayoutCx, QOp, QuantizeCx, Shaped};
use crate::arith::{dot_rescale, DotRescaled};
use crate::error::ProverError;
use crate::gadgets::dot_activations::DotActivationsChip;
use crate::gadgets::matvec::MatVecChip;
use crate::gadgets::Num;
use crate::tensor::Tensor;

/// The float layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Linear {
    /// Shape `[K, N]`.
    pub weight: Tensor<f32>,
    /// Length `N`, when present.
    pub bias: Option<Vec<f32>>,
}

/// The integer layer: `weight_t` is `[N, K]` (transposed: each row is one dot product's weights),
/// `bias` has length `N` at scale `2s`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QLinear {
    /// Shape `[N, K]`.
    pub weight_t: Tensor<i64>,
    /// Length `N`, at scale `2s`.
    pub bias: Vec<i64>,
}

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

impl Shaped for Linear {
    fn name(&self) -> &'static str {
        "Linear"
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        arity("Linear", inputs, 1)?;
        linear_shape(inputs[0], self.weight.shape(), self.bias.as_ref().map(Vec::len))
    }
}

impl FloatOp for Linear {
    fn eval(&self, args: &[&Tensor<f32>], shape: &[usize]) -> Result<Tensor<f32>, ProverError> {
        let (k, n) = (self.weight.shape()[0], self.weight.shape()[1]);
        let w = self.weight.data();
        let mut out = Vec::with_capacity(shape.iter().product());
        for row in args[0].data().chunks(k.max(1)) {
            for j in 0..n {
                let mut acc: f64 = self.bias.as_ref().map_or(0.0, |b| b[j] as f64);
                for (i, &xi) in row.iter().enumerate() {
                    acc += xi as f64 * w[i * n + j] as f64;
                }
                out.push(acc as f32);
            }
        }
        Tensor::new(shape.to_vec(), out)
    }

    fn quantize(&self, cx: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        let (k, n) = (self.weight.shape()[0], self.weight.shape()[1]);
        let mut t = Vec::with_capacity(k * n);
        for j in 0..n {
            for i in 0..k {
                t.push(cx.value(self.weight.data()[i * n + j] as f64)?);
            }
        }
        let bias = cx.bias(self.bias.as_deref(), n)?;
        Ok(QOp::Linear(QLinear { weight_t: Tensor::new(vec![n, k], t)?, bias }))
    }
}

impl QLinear {
    /// The dot products, row-major over the output `[.., N]`.
    pub fn dots(&self, x: &Tensor<i64>, shift: u32) -> Vec<DotRescaled> {
        let (n, k) = (self.weight_t.shape()[0], self.weight_t.shape()[1]);
        let mut out = Vec::with_capacity(x.len() / k.max(1) * n);
        for row in x.data().chunks(k.max(1)) {
            for j in 0..n {
                let w = &self.weight_t.data()[j * k..(j + 1) * k];
                out.push(dot_rescale(row.iter().copied(), w.iter().copied(), self.bias[j], shift));
            }
        }
        out
    }
}

impl Shaped for QLinear {
    fn name(&self) -> &'static str {
        "Linear"
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        arity("Linear", inputs, 1)?;
        let &[n, k] = self.weight_t.shape() else {
            return Err(ProverError::Shape(format!("linear weights of shape {:?} (expected [N, K])", self.weight_t.shape())));
        };
        linear_shape(inputs[0], &[k, n], Some(self.bias.len()))
    }
}

impl IntOp for QLinear {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        cx.rescaled(self.dots(args[0], cx.scale_bits), "rescaled product")
    }

    /// The transposed weight `[N, K]` row-major, then the bias.
    fn params(&self) -> Vec<i64> {
        self.weight_t.data().iter().chain(&self.bias).copied().collect()
    }

    fn ends_in_rescale(&self) -> bool {
        true
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let (n, k) = (self.weight_t.shape()[0], self.weight_t.shape()[1]);
        let count = cx.count();
        let x = args[0];
        let witness = cx.dots(count)?;
        let rows = x.chunks(k.max(1)).take(count / n.max(1));
        let mut accs = Vec::with_capacity(count);
        if let Some((p, one)) = cx.params {
            let (weights, biases) = p.split_at(n * k);
            let chip = DotActivationsChip::new(crate::need!(cx.config, dot_activations)?);
            for (m, row) in rows.enumerate() {
                let a: Vec<Num> = row.iter().copied().chain([one]).collect();
                for j in 0..n {
                    let b: Vec<Num> = weights[j * k..(j + 1) * k].iter().copied().chain([biases[j]]).collect();
                    let w = witness[m * n + j];
                    accs.push((chip.assign(cx.ctx, &a, &b, w.map(|w| w.acc))?, w.map(|w| w.out)));
                }
            }
        } else {
            let chip = MatVecChip::new(crate::need!(cx.config, matvec)?);
            let weight_rows: Vec<&[i64]> = self.weight_t.data().chunks(k.max(1)).take(n).collect();
            for (m, row) in rows.enumerate() {
                let w = &witness[m * n..(m + 1) * n];
                let claimed: Vec<_> = w.iter().map(|w| w.map(|w| w.acc)).collect();
                let cells = chip.assign(cx.ctx, row, &weight_rows, &self.bias, &claimed)?;
                accs.extend(cells.into_iter().zip(w.iter().map(|w| w.map(|w| w.out))));
            }
        }
        cx.rescale(&accs, 1 << cx.scale_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_layer_follows_the_float_one() {
        let float = Linear { weight: Tensor::new(vec![2, 3], vec![0.5, -1.0, 0.25, 2.0, 0.0, -0.5]).unwrap(), bias: Some(vec![0.125, 0.0, 1.0]) };
        let cx = QuantizeCx { scale_bits: 4, range_bits: 12, name: "fc", shape: &[1, 3] };
        let QOp::Linear(q) = float.quantize(&cx).unwrap() else { panic!("a linear layer") };
        assert_eq!(q.weight_t.shape(), &[3, 2]);
        let x = [1.5f32, -0.75];
        let fx = float.eval(&[&Tensor::new(vec![1, 2], x.to_vec()).unwrap()], &[1, 3]).unwrap();
        let qx = Tensor::new(vec![1, 2], x.iter().map(|&v| (v * 16.0) as i64).collect()).unwrap();
        for (d, f) in q.dots(&qx, 4).iter().zip(fx.data()) {
            assert_eq!(d.out.quotient as f32 / 16.0, *f);
        }
        assert!(Shaped::output_shape(&q, &[&[1, 3]], &[]).is_err());
    }
}
