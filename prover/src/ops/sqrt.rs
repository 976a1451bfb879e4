//! `√x` at scale `s`, floored: `⌊√(x · 2^s)⌋` for `x ≥ 0` (the forward pass refuses a negative).
//!
//! Layout: the square-root gadget ([`crate::gadgets::sqrt`]): `x·2^s = root² + rem` with `rem`
//! and `2·root − rem` range-checked non-negative.

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::relu::unary_activation;
use super::{EvalCx, Evaluation, IntOp, LayoutCx, Witness};
use crate::arith::sqrt;
use crate::error::ProverError;
use crate::gadgets::sqrt::SqrtChip;
use crate::gadgets::Num;
use crate::tensor::Tensor;

/// `√x` elementwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sqrt;

unary_activation!(Sqrt, "Sqrt", |x| x.sqrt());

impl IntOp for Sqrt {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        let roots = args[0]
            .data()
            .iter()
            .map(|&x| sqrt(x, cx.scale_bits))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| cx.refuse("Sqrt of a negative value"))?;
        cx.claim(cx.ranges.relu, roots.iter().flat_map(|r| [r.root, r.rem, r.slack]), "square root")?;
        let output = cx.output(roots.iter().map(|r| r.root as i64).collect())?;
        Ok(Evaluation { output, witness: Witness::Roots(roots) })
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let roots = cx.witness(cx.count(), |w| match w {
            Witness::Roots(r) => Some(r),
            _ => None,
        })?;
        let items: Vec<_> = args[0].iter().zip(roots).map(|(x, r)| (*x, r)).collect();
        SqrtChip::new(crate::need!(cx.config, sqrt)?).assign(cx.ctx, &items, 1 << cx.scale_bits, cx.ranges.relu)
    }
}
