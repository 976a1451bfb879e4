//! Quotients at scale `s`, rounded half up: `a / b` of two activations (`Div`, broadcasting) and
//! `1 / x` (`Reciprocal`). Divisors must be positive; the forward pass refuses any other.
//!
//! Layout: the divide gadget ([`crate::gadgets::divide`]): `2n + b = 2b·q + r` with `r` and
//! `2b − 1 − r` range-checked non-negative.

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::add::binary_activations;
use super::relu::unary_activation;
use super::{EvalCx, Evaluation, IntOp, LayoutCx, Witness};
use crate::arith::{div, reciprocal, Quotient};
use crate::error::ProverError;
use crate::gadgets::divide::{DivideChip, Numerator};
use crate::gadgets::Num;
use crate::tensor::{zip_broadcast, Tensor};

/// The quotient of two activations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Div;

/// `1 / x`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reciprocal;

fn quotients_of(cx: &LayoutCx<'_, '_, '_>) -> Result<Vec<Option<Quotient>>, Error> {
    cx.witness(cx.count(), |w| match w {
        Witness::Quotients(q) => Some(q),
        _ => None,
    })
}

binary_activations!(Div, "Div", |a, b| a / b);

impl IntOp for Div {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        let quotients = zip_broadcast(args[0], args[1], |a, b| div(a, b, cx.scale_bits))?
            .data()
            .iter()
            .copied()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| cx.refuse("a divisor is not positive (Div needs divisors > 0)"))?;
        cx.quotients(quotients)
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let pairs = cx.broadcast_pairs(args[0], args[1]);
        let scale = 1 << cx.scale_bits;
        let items: Vec<_> = pairs.iter().zip(quotients_of(cx)?).map(|((a, b), q)| (Numerator::Scaled(*a, scale), *b, q)).collect();
        DivideChip::new(crate::need!(cx.config, divide)?).assign(cx.ctx, &items, cx.ranges.activation, cx.ranges.relu)
    }
}

unary_activation!(Reciprocal, "Reciprocal", |x| 1.0 / x);

impl IntOp for Reciprocal {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        let quotients = args[0]
            .data()
            .iter()
            .map(|&b| reciprocal(b, cx.scale_bits))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| cx.refuse("Reciprocal of a value that is not positive"))?;
        cx.quotients(quotients)
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let one = Numerator::Constant(1i128 << (2 * cx.scale_bits));
        let items: Vec<_> = args[0].iter().zip(quotients_of(cx)?).map(|(b, q)| (one, *b, q)).collect();
        DivideChip::new(crate::need!(cx.config, divide)?).assign(cx.ctx, &items, cx.ranges.activation, cx.ranges.relu)
    }
}
