//! ReLU: `max(x, 0)`, exact.
//!
//! Layout: the ReLU gadget ([`crate::gadgets::relu`]), which splits `x = out − neg` with
//! `out · neg = 0` and both halves range-checked non-negative; after a rescale, in the rescale's
//! own gadget instead ([`crate::gadgets::rescale_activation`]).

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::{arity, EvalCx, Evaluation, Fusable, IntOp, LayoutCx, Witness};
use crate::arith::{activate, Activation, ActivationSplit, ReluSplit};
use crate::error::ProverError;
use crate::gadgets::relu::ReluChip;
use crate::gadgets::Num;
use crate::tensor::Tensor;

/// `max(x, 0)` elementwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relu;

/// An elementwise operator of one activation whose output has its input's shape.
pub(crate) fn unary_shape(name: &str, inputs: &[&[usize]]) -> Result<Vec<usize>, ProverError> {
    arity(name, inputs, 1).map(|_| inputs[0].to_vec())
}

/// Implements [`Shaped`] and [`FloatOp`] for an elementwise operator of one activation (no
/// parameters) whose float value is `$f` of each input value.
macro_rules! unary_activation {
    ($ty:ident, $name:literal, $f:expr) => {
        impl $crate::ops::Shaped for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, $crate::error::ProverError> {
                $crate::ops::relu::unary_shape($name, inputs)
            }
        }

        impl $crate::ops::FloatOp for $ty {
            fn eval(&self, args: &[&$crate::tensor::Tensor<f32>], _: &[usize]) -> Result<$crate::tensor::Tensor<f32>, $crate::error::ProverError> {
                let f: fn(f32) -> f32 = $f;
                Ok(args[0].map(|&x| f(x)))
            }

            fn quantize(&self, _: &$crate::ops::QuantizeCx<'_>) -> Result<$crate::ops::QOp, $crate::error::ProverError> {
                Ok($crate::ops::QOp::$ty(*self))
            }
        }
    };
}
pub(crate) use unary_activation;

/// Evaluates an activation: its splits, with the parts its gadget range-checks claimed in the
/// ReLU range (both halves of a ReLU; the excesses of a clamp, whose output is checked against
/// its bound instead).
pub(crate) fn eval_activation(x: &Tensor<i64>, activation: Activation, cx: &EvalCx<'_>, what: &str) -> Result<Evaluation, ProverError> {
    let splits: Vec<ActivationSplit> = x.data().iter().map(|&v| activate(v, activation)).collect();
    match activation {
        Activation::Relu => cx.claim(cx.ranges.relu, splits.iter().flat_map(|s| [s.out as i128, s.excess as i128]), what)?,
        Activation::Clamp { .. } => cx.claim(cx.ranges.relu, splits.iter().map(|s| s.excess as i128), what)?,
    }
    let output = cx.output(splits.iter().map(|s| s.out).collect())?;
    Ok(Evaluation { output, witness: Witness::Activations(splits) })
}

/// The activation splits of the node's witness, one per output.
pub(crate) fn activation_splits(cx: &LayoutCx<'_, '_, '_>) -> Result<Vec<Option<ActivationSplit>>, Error> {
    cx.witness(cx.count(), |w| match w {
        Witness::Activations(s) => Some(s),
        _ => None,
    })
}

unary_activation!(Relu, "Relu", |x| x.max(0.0));

impl IntOp for Relu {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        eval_activation(args[0], Activation::Relu, cx, "ReLU input")
    }

    fn fusable(&self) -> Option<Fusable<'_>> {
        Some(Fusable::Activation(Activation::Relu))
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        // For ReLU the split's excess is the negative part: x = out − neg.
        let items: Vec<_> = args[0].iter().zip(activation_splits(cx)?).map(|(x, s)| (*x, s.map(|s| ReluSplit { out: s.out, neg: s.excess }))).collect();
        ReluChip::new(crate::need!(cx.config, relu)?).assign(cx.ctx, &items, cx.ranges.relu)
    }
}
