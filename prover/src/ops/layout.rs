//! What an operator's layout sees: the configured gadgets, the region, the node's shapes, its
//! witness (when proving) and how the node ends (on its own, or fused with the operator after
//! it). The helpers here are the endings several operators share: the rescale that closes a
//! product and the chains of pairwise maxima.

use halo2_proofs::plonk::Error;

use crate::arith::{Activation, ActivationSplit, Rescaled};
use crate::gadgets::freivalds::PendingCheck;
use crate::gadgets::max::{MaxChip, MaxSlot};
use crate::gadgets::rescale::RescaleChip;
use crate::gadgets::rescale_activation::RescaleActivationChip;
use crate::gadgets::set::ModelConfig;
use crate::gadgets::{Num, RegionCtx};
use crate::tensor::{broadcast_indices, Tensor};

use super::{Evaluation, Ranges, Witness};

/// How a node's closing rescale ends.
#[derive(Clone, Copy, Debug)]
pub enum Ending<'a> {
    /// Range-checked as an activation.
    Plain,
    /// With the activation of the node after it, in one gadget; `evaluation` is that node's
    /// (its activation splits), when proving.
    Activation(Activation, Option<&'a Evaluation>),
    /// Plus the constant of the sum after it (`constant`, broadcast to `shape`).
    AddConstant(&'a Tensor<i64>, &'a [usize]),
}

/// One node's view of the circuit while it is laid out.
pub struct LayoutCx<'c, 'r, 'b> {
    /// Every configured gadget.
    pub config: &'c ModelConfig,
    /// The region and its next free row.
    pub ctx: &'c mut RegionCtx<'r, 'b>,
    /// The ranges values are checked against.
    pub ranges: Ranges,
    /// Fractional bits `s`.
    pub scale_bits: u32,
    /// The node's output shape.
    pub shape: &'c [usize],
    /// Its inputs' shapes.
    pub input_shapes: Vec<&'c [usize]>,
    /// The node's evaluation when proving; `None` at key generation and in counting runs.
    pub evaluation: Option<&'c Evaluation>,
    /// With witnessed parameters: the node's parameter cells and a cell constrained to 1.
    pub params: Option<(&'c [Num], Num)>,
    /// How the node's closing rescale ends.
    pub ending: Ending<'c>,
    /// Whether the plan checks this node with Freivalds' algorithm.
    pub freivalds: bool,
    /// Freivalds checks to complete once the challenges are drawn.
    pub deferred: &'c mut Vec<PendingCheck>,
}

impl LayoutCx<'_, '_, '_> {
    /// Number of output values.
    pub fn count(&self) -> usize {
        self.shape.iter().product()
    }

    /// Input `i`'s shape.
    pub fn input_shape(&self, i: usize) -> &[usize] {
        self.input_shapes[i]
    }

    /// The output values, when proving (`None` per value otherwise).
    pub fn outputs(&self) -> Vec<Option<i128>> {
        match self.evaluation {
            Some(e) => e.output.data().iter().map(|&v| Some(v as i128)).collect(),
            None => vec![None; self.count()],
        }
    }

    /// The witness `pick` takes out of the evaluation, one per item (`len` items), when proving;
    /// `None` per item otherwise. A witness of another kind or length is a bug: refused.
    pub fn witness<T: Clone>(&self, len: usize, pick: impl Fn(&Witness) -> Option<&Vec<T>>) -> Result<Vec<Option<T>>, Error> {
        match self.evaluation {
            None => Ok(vec![None; len]),
            Some(e) => match pick(&e.witness) {
                Some(w) if w.len() == len => Ok(w.iter().cloned().map(Some).collect()),
                _ => Err(Error::Synthesis),
            },
        }
    }

    /// The dot products' accumulators and rescales (see [`Witness::Dots`]).
    pub fn dots(&self, len: usize) -> Result<Vec<Option<crate::arith::DotRescaled>>, Error> {
        self.witness(len, |w| match w {
            Witness::Dots(d) => Some(d),
            _ => None,
        })
    }

    /// Rescales every `z` by `divisor`: the node's last step (see [`LayoutCx::rescale_scaled`]).
    pub fn rescale(&mut self, items: &[(Num, Option<Rescaled>)], divisor: i64) -> Result<Vec<Num>, Error> {
        let scaled: Vec<_> = items.iter().map(|(z, w)| (*z, 1, *w)).collect();
        self.rescale_scaled(&scaled, divisor)
    }

    /// The rescale that ends a node: `round(c·z / divisor)`, range-checked as an activation; or,
    /// by [`LayoutCx::ending`], that with the activation of the node after it, or plus the
    /// constant of the sum after it.
    pub fn rescale_scaled(&mut self, items: &[(Num, i64, Option<Rescaled>)], divisor: i64) -> Result<Vec<Num>, Error> {
        match self.ending {
            Ending::Activation(activation, evaluation) => {
                let splits: Vec<Option<ActivationSplit>> = match evaluation {
                    None => vec![None; items.len()],
                    Some(Evaluation { witness: Witness::Activations(s), .. }) if s.len() == items.len() => s.iter().copied().map(Some).collect(),
                    Some(_) => return Err(Error::Synthesis),
                };
                let items: Vec<_> = items.iter().zip(splits).map(|((z, c, w), s)| (*z, *c, w.zip(s))).collect();
                let chip = RescaleActivationChip::new(crate::need!(self.config, rescale_activation)?);
                chip.assign(self.ctx, &items, divisor, activation, self.ranges.relu)
            }
            Ending::AddConstant(constant, shape) => {
                let shifts = broadcast_indices(constant.shape(), shape);
                if shifts.len() != items.len() {
                    return Err(Error::Synthesis);
                }
                let items: Vec<_> = items.iter().zip(&shifts).map(|((z, c, w), &k)| (*z, *c, constant.data()[k], *w)).collect();
                RescaleChip::new(crate::need!(self.config, rescale)?).assign_shifted(self.ctx, &items, divisor, self.ranges.activation)
            }
            Ending::Plain => RescaleChip::new(crate::need!(self.config, rescale)?).assign_scaled(self.ctx, items, divisor, self.ranges.activation),
        }
    }

    /// The maximum of each group of `x`'s cells, as a chain of pairwise maxima (the witness is
    /// [`Witness::MaxChains`]).
    pub fn max_chains(&mut self, x: &[Num], groups: &[Vec<usize>]) -> Result<Vec<Num>, Error> {
        let chains = self.witness(groups.len(), |w| match w {
            Witness::MaxChains(c) => Some(c),
            _ => None,
        })?;
        let chip = MaxChip::new(crate::need!(self.config, max)?);
        let mut slot = MaxSlot::default();
        let mut outs = Vec::with_capacity(groups.len());
        for (group, chain) in groups.iter().zip(chains) {
            let mut running = x[*group.first().ok_or(Error::Synthesis)?];
            for (n, &i) in group.iter().enumerate().skip(1) {
                let split = chain.as_ref().and_then(|c| c.get(n - 1).copied());
                running = chip.assign(self.ctx, &mut slot, &running, &x[i], split, self.ranges.relu)?;
            }
            outs.push(running);
        }
        chip.finish(self.ctx, &slot);
        Ok(outs)
    }

    /// The operand pairs of a broadcasting binary operator, output element by output element.
    pub fn broadcast_pairs(&self, a: &[Num], b: &[Num]) -> Vec<(Num, Num)> {
        let ia = broadcast_indices(self.input_shapes[0], self.shape);
        let ib = broadcast_indices(self.input_shapes[1], self.shape);
        ia.iter().zip(ib).map(|(&i, j)| (a[i], b[j])).collect()
    }
}
