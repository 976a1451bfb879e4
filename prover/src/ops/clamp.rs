//! Clamping to `[0, max]`: ReLU6 (`max = 6`) and Clip with a lower bound of 0, exact.
//!
//! Layout: the clamp gadget ([`crate::gadgets::clamp`]): `x = out − below + above` with both
//! excesses non-negative, at most one of them non-zero, and `max − out` in `[0, max]`; after a
//! rescale, in the rescale's own gadget instead ([`crate::gadgets::rescale_activation`]).

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::relu::{activation_splits, eval_activation, unary_shape};
use super::{EvalCx, Evaluation, FloatOp, Fusable, IntOp, LayoutCx, QOp, QuantizeCx, Shaped};
use crate::arith::{Activation, ClampSplit};
use crate::error::ProverError;
use crate::gadgets::clamp::ClampChip;
use crate::gadgets::Num;
use crate::range::RangeKind;
use crate::tensor::Tensor;

/// `min(max(x, 0), max)` elementwise.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clamp<T> {
    /// The upper bound (at the activation scale once quantized).
    pub max: T,
}

impl<T: Copy> Shaped for Clamp<T> {
    fn name(&self) -> &'static str {
        "Clamp"
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        unary_shape("Clamp", inputs)
    }
}

impl FloatOp for Clamp<f32> {
    fn eval(&self, args: &[&Tensor<f32>], _: &[usize]) -> Result<Tensor<f32>, ProverError> {
        Ok(args[0].map(|&x| x.clamp(0.0, self.max)))
    }

    fn quantize(&self, cx: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        Ok(QOp::Clamp(Clamp { max: cx.value(self.max as f64)? }))
    }
}

impl IntOp for Clamp<i64> {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        eval_activation(args[0], Activation::Clamp { max: self.max }, cx, "clamp input")
    }

    /// `max − out` is checked in `[0, max]`.
    fn fixed_ranges(&self, _: &[&[usize]]) -> Vec<RangeKind> {
        vec![RangeKind::Below(self.max as u64 + 1)]
    }

    fn fusable(&self) -> Option<Fusable<'_>> {
        Some(Fusable::Activation(Activation::Clamp { max: self.max }))
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        // The split's excess is below 0 or above `max`, as its flag says.
        let split = |s: crate::arith::ActivationSplit| ClampSplit { out: s.out, below: if s.above { 0 } else { s.excess }, above: if s.above { s.excess } else { 0 } };
        let items: Vec<_> = args[0].iter().zip(activation_splits(cx)?).map(|(x, s)| (*x, s.map(split))).collect();
        ClampChip::new(crate::need!(cx.config, clamp)?).assign(cx.ctx, &items, self.max, cx.ranges.relu)
    }
}
