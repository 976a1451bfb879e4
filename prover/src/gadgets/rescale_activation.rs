//! A rescale fused with the ReLU or clamp that follows it: `out = act(⌊(c·z + ⌊D/2⌋) / D⌋)` with
//! `act` = ReLU, or clamp to `[0, M]` (ReLU6). Three range checks per value instead of the four or
//! five of a rescale and a separate activation: the rounded quotient is never range-checked on its
//! own, it is `q = out + (2b − 1)·e` with `out` and `e` bounded.
//!
//! Each row packs `⌊W/5⌋` items `(z, out, r, e, b)` in `a_{5j}..a_{5j+4}`, with `D`, `⌊D/2⌋`, `c`,
//! `M` and a ReLU flag `f_relu` in `f_{5j}..f_{5j+4}`:
//!
//! ```text
//!     q · (c·z + ⌊D/2⌋ − (out + (2b − 1)·e)·D − r) = 0
//!     q · b·(1 − b) = 0
//!     q · e·(out − b·M) = 0
//!     q · f_relu · b = 0
//!     r ∈ [0, D),  e ∈ [0, B),  out ∈ [0, M] (clamp) or [0, B) (ReLU)      (range checks)
//! ```
//!
//! With `q = out + (2b − 1)·e` bounded, the first constraint is the rescale of
//! [`super::rescale`] over the integers. If `e > 0` then `out = b·M`: with `b = 0`, `out = 0` and
//! `q = −e < 0`; with `b = 1` (never for ReLU), `out = M` and `q = M + e > M`. If `e = 0`, `q = out`
//! lies in `[0, M]`. So `out` is exactly the activation of `q`, as
//! [`crate::arith::activate`] computes it.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

use crate::field::fe;
use super::{packed, packed_rows, Columns, Num, RegionCtx};
use crate::arith::{Activation, ActivationSplit};
use crate::arith::Rescaled;
use crate::range::RangeKind;

const CELLS: usize = 5;

/// Selector and gates of the fused rescale and activation.
#[derive(Clone, Debug)]
pub struct RescaleActivationConfig {
    cols: Columns,
    q: Selector,
}

impl RescaleActivationConfig {
    /// Adds the gates over `cols` (needs at least 5 columns).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let q = meta.selector();
        meta.create_gate("rescale and activation", |m| {
            let q = m.query_selector(q);
            let (one, two) = (Expression::Constant(Fr::one()), Expression::Constant(Fr::from(2)));
            (0..cols.width() / CELLS)
                .flat_map(|j| {
                    let [z, out, r, e, b] = [0, 1, 2, 3, 4].map(|o| m.query_advice(cols.advice[CELLS * j + o], Rotation::cur()));
                    let [d, half, c, max, relu] = [0, 1, 2, 3, 4].map(|o| m.query_fixed(cols.fixed[CELLS * j + o], Rotation::cur()));
                    let quotient = out.clone() + (two.clone() * b.clone() - one.clone()) * e.clone();
                    [
                        q.clone() * (c * z + half - quotient * d - r),
                        q.clone() * b.clone() * (one.clone() - b.clone()),
                        q.clone() * e * (out - b.clone() * max),
                        q.clone() * relu * b,
                    ]
                })
                .collect::<Vec<Expression<Fr>>>()
        });
        RescaleActivationConfig { cols: cols.clone(), q }
    }

    /// Rows for `count` values.
    pub fn rows(count: usize, width: usize) -> usize {
        packed_rows(count, CELLS, width)
    }

    /// Range checks per value.
    pub const CHECKS: usize = 3;
}

/// The witness of one value: the rescale and the activation split of its quotient.
pub type RescaleActivationWitness = (Rescaled, ActivationSplit);

/// Assigns fused rescales and activations.
pub struct RescaleActivationChip<'c> {
    config: &'c RescaleActivationConfig,
}

impl<'c> RescaleActivationChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c RescaleActivationConfig) -> Self {
        RescaleActivationChip { config }
    }

    /// `out = activation(round(c·z / divisor))` for every `(z, c, witness)`; the excess is
    /// range-checked in `excess_range` (non-negative, like a ReLU output), `out` in `[0, max]` for
    /// a clamp and in `excess_range` for a ReLU. Returns the `out` cells.
    pub fn assign(
        &self,
        ctx: &mut RegionCtx<'_, '_>,
        items: &[(Num, i64, Option<RescaleActivationWitness>)],
        divisor: i64,
        activation: Activation,
        excess_range: RangeKind,
    ) -> Result<Vec<Num>, Error> {
        let cols = &self.config.cols;
        let (max, relu, out_range) = match activation {
            Activation::Relu => (0, 1, excess_range),
            Activation::Clamp { max } => (max, 0, RangeKind::Below(max as u64 + 1)),
        };
        packed(ctx, cols, &self.config.q, items.len(), CELLS, |ctx, row, base, i| {
            let (z, c, w) = &items[i];
            ctx.copy(z, cols.advice[base], row);
            let out = ctx.assign(cols.advice[base + 1], row, w.map(|(_, a)| a.out as i128));
            let r = ctx.assign(cols.advice[base + 2], row, w.map(|(q, _)| q.remainder));
            let e = ctx.assign(cols.advice[base + 3], row, w.map(|(_, a)| a.excess as i128));
            match w {
                // Free, and harmless: with no excess the quotient is `out` whatever the flag is.
                Some((_, a)) if a.excess == 0 && !a.above => ctx.assign_free_zero(cols.advice[base + 4], row),
                _ => ctx.assign(cols.advice[base + 4], row, w.map(|(_, a)| a.above as i128)),
            };
            for (o, v) in [divisor as i128, divisor as i128 / 2, *c as i128, max as i128, relu].into_iter().enumerate() {
                ctx.region.assign_fixed(cols.fixed[base + o], row, fe(v));
            }
            ctx.check_range(&r, RangeKind::Below(divisor as u64))?;
            ctx.check_range(&e, excess_range)?;
            ctx.check_range(&out, out_range)?;
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_rejected, load};
    use crate::arith::activate;
    use crate::arith::rescale;

    const SHIFT: u32 = 4;

    fn run(zs: Vec<i128>, witness: Vec<RescaleActivationWitness>, activation: Activation) -> GadgetTest {
        GadgetTest::new(5, move |config, ctx| {
            let z = load(config, ctx, &zs);
            let items: Vec<_> = z.into_iter().zip(&witness).map(|(z, w)| (z, 1, Some(*w))).collect();
            RescaleActivationChip::new(config.rescale_activation.as_ref().unwrap()).assign(ctx, &items, 1 << SHIFT, activation, RangeKind::Unsigned(7))
        })
    }

    fn honest(z: i128, activation: Activation) -> RescaleActivationWitness {
        let q = rescale(z, SHIFT);
        (q, activate(q.quotient as i64, activation))
    }

    const CLAMP: Activation = Activation::Clamp { max: 100 };

    #[test]
    fn honest_activations_pass() {
        let zs = vec![-900i128, -8, 0, 7, 8, 800, 1600, 1700, 2000];
        for activation in [Activation::Relu, CLAMP] {
            let w: Vec<_> = zs.iter().map(|&z| honest(z, activation)).collect();
            let outs: Vec<i128> = w.iter().map(|(_, a)| a.out as i128).collect();
            assert_no_free_cells(&run(zs.clone(), w, activation), &outs);
        }
    }

    #[test]
    fn wrong_activation_outputs_fail() {
        // z = 800 -> q = 50: passing 0 through needs a negative excess or a wrong b.
        let (q, _) = honest(800, CLAMP);
        let zeroed = ActivationSplit { out: 0, excess: 50, above: true };
        assert_rejected(&run(vec![800], vec![(q, zeroed)], CLAMP), &[0]);
        let negative = ActivationSplit { out: 0, excess: -50, above: false };
        assert_rejected(&run(vec![800], vec![(q, negative)], CLAMP), &[0]);
        // z = 2000 -> q = 125 > 100: an output of 90 with excess 35 breaks e·(out − b·M) = 0.
        let (q, _) = honest(2000, CLAMP);
        let short = ActivationSplit { out: 90, excess: 35, above: true };
        assert_rejected(&run(vec![2000], vec![(q, short)], CLAMP), &[90]);
        // An output above M is out of range even with the gate satisfied.
        let over = ActivationSplit { out: 125, excess: 0, above: false };
        assert_rejected(&run(vec![2000], vec![(q, over)], CLAMP), &[125]);
    }

    #[test]
    fn relu_cannot_clip_at_the_top() {
        // For ReLU b must be 0: q = 50 written as out = 0, e = 50, b = 1 satisfies the other
        // constraints with M = 0.
        let (q, _) = honest(800, Activation::Relu);
        let clipped = ActivationSplit { out: 0, excess: 50, above: true };
        assert_rejected(&run(vec![800], vec![(q, clipped)], Activation::Relu), &[0]);
        // A negative value let through.
        let (q, _) = honest(-900, Activation::Relu);
        let through = ActivationSplit { out: q.quotient as i64, excess: 0, above: false };
        assert_rejected(&run(vec![-900], vec![(q, through)], Activation::Relu), &[q.quotient]);
    }

    #[test]
    fn wrong_rounding_fails() {
        // z = 7 -> q = 0 (7 + 8 = 0·16 + 15); claiming out = 1 needs r = −1.
        let w = (Rescaled { quotient: 1, remainder: -1 }, ActivationSplit { out: 1, excess: 0, above: false });
        assert_rejected(&run(vec![7], vec![w], CLAMP), &[1]);
    }
}
