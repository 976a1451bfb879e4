//! Elementwise products, rescaled by `2^s`: of two activations (`Mul`), and of an activation and
//! a constant (`MulConst`), with numpy broadcasting.
//!
//! Layout: `Mul` on the product gadget ([`crate::gadgets::product`]: product and rescale in one
//! row); `MulConst` as the rescale of `c · x` ([`super::LayoutCx::rescale_scaled`], the constant
//! folded into the rescale's row), or with witnessed parameters a one-lane activation dot
//! product with the constant's parameter cell, then the rescale.

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::add::{binary_activations, same_as_input};
use super::{arity, EvalCx, Evaluation, FloatOp, IntOp, LayoutCx, QOp, QuantizeCx, Shaped, Witness};
use crate::arith::{product, rescale, DotRescaled};
use crate::error::ProverError;
use crate::gadgets::dot_activations::DotActivationsChip;
use crate::gadgets::product::ProductChip;
use crate::gadgets::Num;
use crate::tensor::{broadcast_indices, zip_broadcast, Tensor};

/// The product of two activations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mul;

/// The product with a constant (at the activation scale once quantized).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MulConst<T> {
    /// The constant operand; broadcasting it must not grow the activation.
    pub constant: Tensor<T>,
}

binary_activations!(Mul, "Mul", |a, b| a * b);

impl IntOp for Mul {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        let products = zip_broadcast(args[0], args[1], |a, b| product(a, b, cx.scale_bits))?.data().to_vec();
        cx.claim(cx.ranges.activation, products.iter().map(|p| p.quotient), "product")?;
        let output = cx.output(products.iter().map(|p| p.quotient as i64).collect())?;
        Ok(Evaluation { output, witness: Witness::Products(products) })
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let pairs = cx.broadcast_pairs(args[0], args[1]);
        let products = cx.witness(pairs.len(), |w| match w {
            Witness::Products(p) => Some(p),
            _ => None,
        })?;
        let items: Vec<_> = pairs.iter().zip(products).map(|((a, b), p)| (*a, *b, p)).collect();
        ProductChip::new(crate::need!(cx.config, product)?).assign(cx.ctx, &items, 1 << cx.scale_bits, cx.ranges.activation)
    }
}

impl<T: Copy> Shaped for MulConst<T> {
    fn name(&self) -> &'static str {
        "MulConst"
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        arity("MulConst", inputs, 1)?;
        same_as_input(inputs[0], self.constant.shape())
    }
}

impl FloatOp for MulConst<f32> {
    fn eval(&self, args: &[&Tensor<f32>], _: &[usize]) -> Result<Tensor<f32>, ProverError> {
        zip_broadcast(args[0], &self.constant, |a, b| a * b)
    }

    fn quantize(&self, cx: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        Ok(QOp::MulConst(MulConst { constant: cx.tensor(&self.constant)? }))
    }
}

impl IntOp for MulConst<i64> {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        let products = zip_broadcast(&args[0].map(|&v| v as i128), &self.constant.map(|&v| v as i128), |a, b| a * b)?;
        let dots = products.data().iter().map(|&z| DotRescaled { acc: z, out: rescale(z, cx.scale_bits) }).collect();
        cx.rescaled(dots, "rescaled product")
    }

    /// The constant, row-major.
    fn params(&self) -> Vec<i64> {
        self.constant.data().to_vec()
    }

    fn ends_in_rescale(&self) -> bool {
        true
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let (ix, ic) = (broadcast_indices(cx.input_shape(0), cx.shape), broadcast_indices(self.constant.shape(), cx.shape));
        let witness = cx.dots(ix.len())?;
        match cx.params {
            Some((p, _)) => {
                let chip = DotActivationsChip::new(crate::need!(cx.config, dot_activations)?);
                let mut accs = Vec::with_capacity(ix.len());
                for ((&i, &j), w) in ix.iter().zip(&ic).zip(witness) {
                    accs.push((chip.assign(cx.ctx, &[args[0][i]], &[p[j]], w.map(|w| w.acc))?, w.map(|w| w.out)));
                }
                cx.rescale(&accs, 1 << cx.scale_bits)
            }
            None => {
                // The product and its rescale share one row of the rescale gadget.
                let items: Vec<_> = ix.iter().zip(&ic).zip(witness).map(|((&i, &j), w)| (args[0][i], self.constant.data()[j], w.map(|w| w.out))).collect();
                cx.rescale_scaled(&items, 1 << cx.scale_bits)
            }
        }
    }
}
