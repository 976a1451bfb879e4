//! Pooling over NHWC: average pooling (the window sum divided by the window size, rounded half
//! up; only without padding) and max pooling (padded positions ignored, exact).
//!
//! Layout: an average is a fixed-weight dot product of ones ([`crate::gadgets::dot_weights`])
//! then the node's rescale by the window size; a maximum is a chain of pairwise maxima
//! ([`super::LayoutCx::max_chains`]).

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::conv::Window;
use super::relu::unary_shape;
use super::{EvalCx, Evaluation, FloatOp, IntOp, LayoutCx, QOp, QuantizeCx, Shaped, Witness};
use crate::arith::{max_chain, sum_divided};
use crate::error::ProverError;
use crate::gadgets::dot_weights::DotWeightsChip;
use crate::gadgets::Num;
use crate::range::RangeKind;
use crate::tensor::Tensor;

/// A pooling window over NHWC. Average pooling divides the window sum by the window size (so it
/// is only used without padding); max pooling ignores padded positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Window geometry.
    pub window: Window,
}

impl Pool {
    /// Output shape `[N, OH, OW, C]`.
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ProverError> {
        let &[n, h, w, c] = input else {
            return Err(ProverError::Shape(format!("pooling of {input:?}: expected an NHWC input")));
        };
        let [oh, ow] = self.window.output_hw(h, w)?;
        Ok(vec![n, oh, ow, c])
    }

    /// The divisor: the window's size.
    pub fn divisor(&self) -> i64 {
        (self.window.kernel[0] * self.window.kernel[1]) as i64
    }

    /// The input indices summed by every output element, row-major NHWC.
    pub fn taps(&self, input: &[usize]) -> Result<Vec<Vec<usize>>, ProverError> {
        let out = self.output_shape(input)?;
        let (h, w, c) = (input[1], input[2], input[3]);
        let mut all = Vec::with_capacity(out.iter().product());
        for n in 0..out[0] {
            for oh in 0..out[1] {
                for ow in 0..out[2] {
                    for ch in 0..c {
                        all.push(self.window.covered(oh, ow, h, w).map(|(ih, iw, _, _)| ((n * h + ih) * w + iw) * c + ch).collect());
                    }
                }
            }
        }
        Ok(all)
    }
}

/// Average pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvgPool {
    /// Geometry.
    pub pool: Pool,
}

/// Max pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxPool {
    /// Geometry.
    pub pool: Pool,
}

/// The maximum of each group of `x`'s values as the chain the circuit proves, every difference
/// claimed non-negative in the ReLU range.
pub(crate) fn eval_max_chains(x: &Tensor<i64>, groups: &[Vec<usize>], cx: &EvalCx<'_>, what: &str) -> Result<Evaluation, ProverError> {
    let mut out = Vec::with_capacity(groups.len());
    let mut chains = Vec::with_capacity(groups.len());
    for group in groups {
        let values: Vec<i64> = group.iter().map(|&i| x.data()[i]).collect();
        let first = *values.first().ok_or_else(|| cx.refuse(format!("{what} over an empty window")))?;
        let steps = max_chain(&values);
        cx.claim(cx.ranges.relu, steps.iter().flat_map(|s| [s.da as i128, s.db as i128]), what)?;
        out.push(steps.last().map_or(first, |s| s.out));
        chains.push(steps);
    }
    Ok(Evaluation { output: cx.output(out)?, witness: Witness::MaxChains(chains) })
}

impl Shaped for AvgPool {
    fn name(&self) -> &'static str {
        "AvgPool"
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        unary_shape("AvgPool", inputs)?;
        self.pool.output_shape(inputs[0])
    }
}

impl FloatOp for AvgPool {
    fn eval(&self, args: &[&Tensor<f32>], shape: &[usize]) -> Result<Tensor<f32>, ProverError> {
        let x = args[0].data();
        let d = self.pool.divisor() as f64;
        let data = self.pool.taps(args[0].shape())?.iter().map(|taps| (taps.iter().map(|&i| x[i] as f64).sum::<f64>() / d) as f32).collect();
        Tensor::new(shape.to_vec(), data)
    }

    fn quantize(&self, _: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        Ok(QOp::AvgPool(*self))
    }
}

impl IntOp for AvgPool {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        let x = args[0];
        let sums = self.pool.taps(x.shape())?.iter().map(|t| sum_divided(t.iter().map(|&i| x.data()[i]), self.pool.divisor())).collect();
        cx.rescaled(sums, "average")
    }

    /// The rescale's remainder lies below the window size.
    fn fixed_ranges(&self, _: &[&[usize]]) -> Vec<RangeKind> {
        vec![RangeKind::Below(self.pool.divisor() as u64)]
    }

    fn ends_in_rescale(&self) -> bool {
        true
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let taps = self.pool.taps(cx.input_shape(0)).map_err(|_| Error::Synthesis)?;
        let witness = cx.dots(taps.len())?;
        let chip = DotWeightsChip::new(crate::need!(cx.config, dot_weights)?);
        let mut sums = Vec::with_capacity(taps.len());
        for (t, w) in taps.iter().zip(witness) {
            let cells: Vec<Num> = t.iter().map(|&i| args[0][i]).collect();
            sums.push((chip.assign(cx.ctx, &cells, &vec![1; cells.len()], 0, w.map(|w| w.acc))?, w.map(|w| w.out)));
        }
        cx.rescale(&sums, self.pool.divisor())
    }
}

impl Shaped for MaxPool {
    fn name(&self) -> &'static str {
        "MaxPool"
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        unary_shape("MaxPool", inputs)?;
        self.pool.output_shape(inputs[0])
    }
}

impl FloatOp for MaxPool {
    fn eval(&self, args: &[&Tensor<f32>], shape: &[usize]) -> Result<Tensor<f32>, ProverError> {
        let x = args[0].data();
        let data = self.pool.taps(args[0].shape())?.iter().map(|taps| taps.iter().map(|&i| x[i]).fold(f32::NEG_INFINITY, f32::max)).collect();
        Tensor::new(shape.to_vec(), data)
    }

    fn quantize(&self, _: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        Ok(QOp::MaxPool(*self))
    }
}

impl IntOp for MaxPool {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        eval_max_chains(args[0], &self.pool.taps(args[0].shape())?, cx, "max pooling")
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let groups = self.pool.taps(cx.input_shape(0)).map_err(|_| Error::Synthesis)?;
        cx.max_chains(args[0], &groups)
    }
}
