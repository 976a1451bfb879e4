//! Exact sums and differences: `a + b`, `a − b` of two activations and `x + c` with a constant,
//! all with numpy broadcasting. No rescale: the sum of two values at scale `s` is at scale `s`.
//!
//! Layout: the add gadget ([`crate::gadgets::add`]), one lane per output. A constant sum that
//! follows a rescale is folded into it instead (see [`super::Fusable::AddConstant`]).

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::{arity, EvalCx, Evaluation, FloatOp, Fusable, IntOp, LayoutCx, QOp, QuantizeCx, Shaped};
use crate::error::ProverError;
use crate::gadgets::add::AddChip;
use crate::gadgets::Num;
use crate::range::RangeKind;
use crate::tensor::{broadcast_indices, broadcast_shape, zip_broadcast, Tensor};

/// The sum of two activations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Add;

/// The difference of two activations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sub;

/// The sum with a constant (at the activation scale once quantized).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddConst<T> {
    /// The constant operand; broadcasting it must not grow the activation.
    pub constant: Tensor<T>,
}

/// The shape of an activation of shape `x` combined elementwise with a constant of shape
/// `constant`: `x` itself (a constant that would grow it is refused).
pub fn same_as_input(x: &[usize], constant: &[usize]) -> Result<Vec<usize>, ProverError> {
    let out = broadcast_shape(x, constant)?;
    if out.as_slice() != x {
        return Err(ProverError::Unsupported(format!("a constant of shape {constant:?} would grow the activation {x:?}")));
    }
    Ok(out)
}

/// An exact integer combination, claimed to stay a sane integer (the field holds it exactly).
fn exact(a: &Tensor<i64>, b: &Tensor<i64>, cx: &EvalCx<'_>, f: impl Fn(i128, i128) -> i128, what: &str) -> Result<Evaluation, ProverError> {
    let out = zip_broadcast(&a.map(|&v| v as i128), &b.map(|&v| v as i128), f)?;
    cx.claim(RangeKind::Signed(62), out.data().iter().copied(), what)?;
    Ok(Evaluation::plain(out.map(|&v| v as i64)))
}

/// Implements [`Shaped`](crate::ops::Shaped) and [`FloatOp`](crate::ops::FloatOp) for an elementwise
/// operator of two activations with numpy broadcasting that computes `$f` on each pair.
macro_rules! binary_activations {
    ($ty:ident, $name:literal, $f:expr) => {
        impl $crate::ops::Shaped for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, $crate::error::ProverError> {
                $crate::ops::arity($name, inputs, 2)?;
                $crate::tensor::broadcast_shape(inputs[0], inputs[1])
            }
        }

        impl $crate::ops::FloatOp for $ty {
            fn eval(&self, args: &[&$crate::tensor::Tensor<f32>], _: &[usize]) -> Result<$crate::tensor::Tensor<f32>, $crate::error::ProverError> {
                $crate::tensor::zip_broadcast(args[0], args[1], $f)
            }

            fn quantize(&self, _: &$crate::ops::QuantizeCx<'_>) -> Result<$crate::ops::QOp, $crate::error::ProverError> {
                Ok($crate::ops::QOp::$ty(*self))
            }
        }
    };
}
pub(crate) use binary_activations;

binary_activations!(Add, "Add", |a, b| a + b);

binary_activations!(Sub, "Sub", |a, b| a - b);

impl IntOp for Add {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        exact(args[0], args[1], cx, |x, y| x + y, "sum")
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let pairs = cx.broadcast_pairs(args[0], args[1]);
        AddChip::new(crate::need!(cx.config, add)?).add(cx.ctx, &pairs, &cx.outputs())
    }
}

impl IntOp for Sub {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        exact(args[0], args[1], cx, |x, y| x - y, "difference")
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let pairs = cx.broadcast_pairs(args[0], args[1]);
        AddChip::new(crate::need!(cx.config, add)?).sub(cx.ctx, &pairs, &cx.outputs())
    }
}

impl<T: Copy> Shaped for AddConst<T> {
    fn name(&self) -> &'static str {
        "AddConst"
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        arity("AddConst", inputs, 1)?;
        same_as_input(inputs[0], self.constant.shape())
    }
}

impl FloatOp for AddConst<f32> {
    fn eval(&self, args: &[&Tensor<f32>], _: &[usize]) -> Result<Tensor<f32>, ProverError> {
        zip_broadcast(args[0], &self.constant, |a, b| a + b)
    }

    fn quantize(&self, cx: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        Ok(QOp::AddConst(AddConst { constant: cx.tensor(&self.constant)? }))
    }
}

impl IntOp for AddConst<i64> {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        exact(args[0], &self.constant, cx, |x, y| x + y, "sum")
    }

    /// The constant, row-major.
    fn params(&self) -> Vec<i64> {
        self.constant.data().to_vec()
    }

    fn fusable(&self) -> Option<Fusable<'_>> {
        Some(Fusable::AddConstant(&self.constant))
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let (ix, ic) = (broadcast_indices(cx.input_shape(0), cx.shape), broadcast_indices(self.constant.shape(), cx.shape));
        let chip = AddChip::new(crate::need!(cx.config, add)?);
        let sums = cx.outputs();
        match cx.params {
            Some((p, _)) => {
                let pairs: Vec<(Num, Num)> = ix.iter().zip(&ic).map(|(&i, &j)| (args[0][i], p[j])).collect();
                chip.add(cx.ctx, &pairs, &sums)
            }
            None => {
                let items: Vec<(Num, i64)> = ix.iter().zip(&ic).map(|(&i, &j)| (args[0][i], self.constant.data()[j])).collect();
                chip.add_const(cx.ctx, &items, &sums)
            }
        }
    }
}
