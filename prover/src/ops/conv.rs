//! 2-D convolution over NHWC tensors (ONNX's NCHW convolutions are imported between two
//! transposes), plain or depthwise, as lists of taps: for every output element, the (input index,
//! weight index) pairs of its dot product. The integer forward pass and the circuit both walk
//! these taps, so they multiply exactly the same operands. Each output is rescaled by `2^s`.
//!
//! Layout, by the plan and the parameters' visibility: Freivalds' check of the whole layer
//! ([`crate::gadgets::freivalds`], plain convolutions the planner picks); with witnessed weights,
//! one activation dot product per output with the bias as `bias · 1`; depthwise, one fixed-weight
//! dot product per output ([`crate::gadgets::dot_weights`]); otherwise one matrix-vector gadget
//! per position, every output channel reading the same patch ([`crate::gadgets::matvec`]).

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::{arity, EvalCx, Evaluation, FloatOp, IntOp, LayoutCx, QOp, QuantizeCx, Shaped};
use crate::arith::{dot_rescale, DotRescaled};
use crate::error::ProverError;
use crate::gadgets::constant::ConstantChip;
use crate::gadgets::dot_activations::DotActivationsChip;
use crate::gadgets::dot_weights::DotWeightsChip;
use crate::gadgets::freivalds::FreivaldsChip;
use crate::gadgets::matvec::MatVecChip;
use crate::gadgets::Num;
use crate::tensor::Tensor;

/// Geometry of a convolution or pooling window over an NHWC input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride along height and width.
    pub stride: [usize; 2],
    /// Zero padding: top, left, bottom, right.
    pub padding: [usize; 4],
}

impl Window {
    /// Output height and width for an input of `h × w`.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<[usize; 2], ProverError> {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let (ph, pw) = (h + self.padding[0] + self.padding[2], w + self.padding[1] + self.padding[3]);
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || ph < kh || pw < kw {
            return Err(ProverError::Shape(format!("window {self:?} does not fit an input of {h}×{w}")));
        }
        Ok([(ph - kh) / sh + 1, (pw - kw) / sw + 1])
    }

    /// For output position `(oh, ow)`, the input positions `(ih, iw, kh, kw)` the window covers,
    /// padding positions left out (they multiply zero).
    pub(crate) fn covered(&self, oh: usize, ow: usize, h: usize, w: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        let [kh, kw] = self.kernel;
        let (top, left) = (self.padding[0] as isize, self.padding[1] as isize);
        let (base_h, base_w) = ((oh * self.stride[0]) as isize - top, (ow * self.stride[1]) as isize - left);
        (0..kh).flat_map(move |i| (0..kw).map(move |j| (i, j))).filter_map(move |(i, j)| {
            let (ih, iw) = (base_h + i as isize, base_w + j as isize);
            (ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w).then_some((ih as usize, iw as usize, i, j))
        })
    }
}

/// A convolution: weights `[C_out, KH, KW, C_in]`, or for a depthwise convolution `[1, KH, KW,
/// C_out]` with `C_out = C_in · multiplier`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv {
    /// Window geometry.
    pub window: Window,
    /// Each output channel reads one input channel (`C_out / C_in` per input channel).
    pub depthwise: bool,
}

/// The taps of one output element.
pub type Taps = Vec<(usize, usize)>;

/// The integer semantics of output `o` of a convolution (NHWC order, so channel `o % bias.len()`)
/// whose taps are `taps`: the taps' input values times their weights, plus the channel's bias,
/// rescaled by `2^shift` ([`dot_rescale`]). The reference forward pass and the circuit's witness
/// both compute it here. `None` where an input value is unknown (`input` gives `None`, as during
/// key generation).
pub fn conv_output(taps: &[(usize, usize)], o: usize, input: impl Fn(usize) -> Option<i64>, weight: &[i64], bias: &[i64], shift: u32) -> Option<DotRescaled> {
    let xs = taps.iter().map(|&(i, _)| input(i)).collect::<Option<Vec<_>>>()?;
    Some(dot_rescale(xs, taps.iter().map(|&(_, j)| weight[j]), bias[o % bias.len()], shift))
}

impl Conv {
    /// Output shape `[N, OH, OW, C_out]` for `input [N, H, W, C_in]` and `weight`.
    pub fn output_shape(&self, input: &[usize], weight: &[usize]) -> Result<Vec<usize>, ProverError> {
        let (&[n, h, w, c], &[wo, kh, kw, wi]) = (input, weight) else {
            return Err(ProverError::Shape(format!("convolution of {input:?} by {weight:?}: expected NHWC input and [O, KH, KW, I] weights")));
        };
        if [kh, kw] != self.window.kernel {
            return Err(ProverError::Shape(format!("kernel {:?} but weights {weight:?}", self.window.kernel)));
        }
        let out_c = if self.depthwise {
            if wo != 1 || wi % c != 0 {
                return Err(ProverError::Shape(format!("depthwise weights {weight:?} for {c} channels")));
            }
            wi
        } else {
            if wi != c {
                return Err(ProverError::Shape(format!("weights {weight:?} for {c} input channels")));
            }
            wo
        };
        let [oh, ow] = self.window.output_hw(h, w)?;
        Ok(vec![n, oh, ow, out_c])
    }

    /// Taps of every output element, in row-major NHWC output order.
    pub fn taps(&self, input: &[usize], weight: &[usize]) -> Result<Vec<Taps>, ProverError> {
        let out = self.output_shape(input, weight)?;
        let (h, w, c) = (input[1], input[2], input[3]);
        let (kh, kw) = (weight[1], weight[2]);
        let mut all = Vec::with_capacity(out.iter().product());
        for n in 0..out[0] {
            for oh in 0..out[1] {
                for ow in 0..out[2] {
                    for o in 0..out[3] {
                        let mut taps = Vec::new();
                        for (ih, iw, i, j) in self.window.covered(oh, ow, h, w) {
                            let at = ((n * h + ih) * w + iw) * c;
                            if self.depthwise {
                                let ci = o / (out[3] / c);
                                taps.push((at + ci, (i * kw + j) * out[3] + o));
                            } else {
                                for ci in 0..c {
                                    taps.push((at + ci, ((o * kh + i) * kw + j) * c + ci));
                                }
                            }
                        }
                        all.push(taps);
                    }
                }
            }
        }
        Ok(all)
    }
}

/// The float convolution.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Convolution {
    /// `[C_out, KH, KW, C_in]`, or `[1, KH, KW, C_out]` when depthwise.
    pub weight: Tensor<f32>,
    /// Length `C_out`, when present.
    pub bias: Option<Vec<f32>>,
    /// Geometry.
    pub conv: Conv,
}

/// The integer convolution: weights at scale `s`, biases at `2s`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QConvolution {
    /// As [`Convolution::weight`].
    pub weight: Tensor<i64>,
    /// Length `C_out`, at scale `2s`.
    pub bias: Vec<i64>,
    /// Geometry.
    pub conv: Conv,
}

impl Shaped for Convolution {
    fn name(&self) -> &'static str {
        "Conv"
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        arity("Conv", inputs, 1)?;
        let out = self.conv.output_shape(inputs[0], self.weight.shape())?;
        if self.bias.as_ref().is_some_and(|b| b.len() != out[3]) {
            return Err(ProverError::Shape(format!("bias length differs from the {} output channels", out[3])));
        }
        Ok(out)
    }
}

impl FloatOp for Convolution {
    fn eval(&self, args: &[&Tensor<f32>], shape: &[usize]) -> Result<Tensor<f32>, ProverError> {
        let channels = shape[3];
        let (x, w) = (args[0].data(), self.weight.data());
        let data = self
            .conv
            .taps(args[0].shape(), self.weight.shape())?
            .iter()
            .enumerate()
            .map(|(o, taps)| {
                let b = self.bias.as_ref().map_or(0.0, |b| b[o % channels] as f64);
                (taps.iter().map(|&(i, j)| x[i] as f64 * w[j] as f64).sum::<f64>() + b) as f32
            })
            .collect();
        Tensor::new(shape.to_vec(), data)
    }

    fn quantize(&self, cx: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        let bias = cx.bias(self.bias.as_deref(), cx.shape[3])?;
        Ok(QOp::Conv(QConvolution { weight: cx.tensor(&self.weight)?, bias, conv: self.conv }))
    }
}

impl Shaped for QConvolution {
    fn name(&self) -> &'static str {
        "Conv"
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        arity("Conv", inputs, 1)?;
        let out = self.conv.output_shape(inputs[0], self.weight.shape())?;
        if self.bias.len() != out[3] {
            return Err(ProverError::Shape(format!("{} biases for {} channels", self.bias.len(), out[3])));
        }
        Ok(out)
    }
}

impl IntOp for QConvolution {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        let x = args[0];
        let taps = self.conv.taps(x.shape(), self.weight.shape())?;
        let dots = taps.iter().enumerate().filter_map(|(o, t)| conv_output(t, o, |i| Some(x.data()[i]), self.weight.data(), &self.bias, cx.scale_bits)).collect();
        cx.rescaled(dots, "rescaled product")
    }

    /// The weight as stored, then the bias.
    fn params(&self) -> Vec<i64> {
        self.weight.data().iter().chain(&self.bias).copied().collect()
    }

    fn ends_in_rescale(&self) -> bool {
        true
    }

    fn freivalds_eligible(&self) -> bool {
        !self.conv.depthwise
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let x = args[0];
        let (weight, bias) = (self.weight.data(), &self.bias);
        let taps = self.conv.taps(cx.input_shape(0), self.weight.shape()).map_err(|_| Error::Synthesis)?;
        let count = taps.len();
        let channels = *cx.shape.last().unwrap_or(&1);
        let witness = cx.dots(count)?;
        let mut accs = Vec::with_capacity(count);
        if cx.freivalds {
            let outputs = channels.max(1);
            let (inputs, positions) = (weight.len() / outputs, count / outputs);
            let constant = ConstantChip::new(crate::need!(cx.config, constant)?);
            let (zero, one) = (constant.assign(cx.ctx, 0)?, constant.assign(cx.ctx, 1)?);
            // Input slot `s` of every position is tap `s` of its first output channel.
            let mut patches = vec![vec![None; inputs]; positions];
            for (patch, group) in patches.iter_mut().zip(taps.chunks(outputs)) {
                for &(i, slot) in &group[0] {
                    patch[slot] = Some(x[i]);
                }
            }
            let weights: Vec<Vec<i64>> = (0..inputs).map(|s| (0..outputs).map(|o| weight[o * inputs + s]).collect()).collect();
            let claimed: Vec<_> = witness.iter().map(|w| w.map(|w| w.acc)).collect();
            let chip = FreivaldsChip::new(crate::need!(cx.config, freivalds)?);
            let (products, pending) = chip.assign_products(cx.ctx, &patches, &weights, bias, &claimed, &zero, &one)?;
            cx.deferred.push(pending);
            accs.extend(products.into_iter().zip(witness.iter().map(|w| w.map(|w| w.out))));
        } else if let Some((p, one)) = cx.params {
            let (weights, biases) = p.split_at(weight.len());
            let chip = DotActivationsChip::new(crate::need!(cx.config, dot_activations)?);
            for (o, (t, w)) in taps.iter().zip(&witness).enumerate() {
                let a: Vec<Num> = t.iter().map(|&(i, _)| x[i]).chain([one]).collect();
                let b: Vec<Num> = t.iter().map(|&(_, j)| weights[j]).chain([biases[o % channels]]).collect();
                accs.push((chip.assign(cx.ctx, &a, &b, w.map(|w| w.acc))?, w.map(|w| w.out)));
            }
        } else if self.conv.depthwise {
            let chip = DotWeightsChip::new(crate::need!(cx.config, dot_weights)?);
            for (o, (t, w)) in taps.iter().zip(&witness).enumerate() {
                let cells: Vec<Num> = t.iter().map(|&(i, _)| x[i]).collect();
                let ws: Vec<i64> = t.iter().map(|&(_, j)| weight[j]).collect();
                accs.push((chip.assign(cx.ctx, &cells, &ws, bias[o % channels], w.map(|w| w.acc))?, w.map(|w| w.out)));
            }
        } else {
            // Every output channel at one position reads the same input patch.
            let chip = MatVecChip::new(crate::need!(cx.config, matvec)?);
            for (group, ws) in taps.chunks(channels).zip(witness.chunks(channels)) {
                let cells: Vec<Num> = group[0].iter().map(|&(i, _)| x[i]).collect();
                let rows: Vec<Vec<i64>> = group.iter().map(|t| t.iter().map(|&(_, j)| weight[j]).collect()).collect();
                let rows: Vec<&[i64]> = rows.iter().map(Vec::as_slice).collect();
                let claimed: Vec<_> = ws.iter().map(|w| w.map(|w| w.acc)).collect();
                let out = chip.assign(cx.ctx, &cells, &rows, bias, &claimed)?;
                accs.extend(out.into_iter().zip(ws.iter().map(|w| w.map(|w| w.out))));
            }
        }
        cx.rescale(&accs, 1 << cx.scale_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_padded_shapes() {
        let valid = Window { kernel: [3, 3], stride: [1, 1], padding: [0; 4] };
        assert_eq!(valid.output_hw(28, 28).unwrap(), [26, 26]);
        let strided = Window { kernel: [2, 2], stride: [2, 2], padding: [0; 4] };
        assert_eq!(strided.output_hw(11, 11).unwrap(), [5, 5]);
        let same = Window { kernel: [3, 3], stride: [1, 1], padding: [1; 4] };
        assert_eq!(same.output_hw(5, 5).unwrap(), [5, 5]);
        // A corner output of a padded window reads only the 2×2 real inputs.
        let conv = Conv { window: same, depthwise: false };
        let taps = conv.taps(&[1, 5, 5, 1], &[1, 3, 3, 1]).unwrap();
        assert_eq!(taps[0], vec![(0, 4), (1, 5), (5, 7), (6, 8)]);
    }

    #[test]
    fn depthwise_reads_its_own_channel() {
        let conv = Conv { window: Window { kernel: [1, 1], stride: [1, 1], padding: [0; 4] }, depthwise: true };
        let taps = conv.taps(&[1, 1, 1, 2], &[1, 1, 1, 4]).unwrap();
        // Multiplier 2: outputs 0, 1 read channel 0; outputs 2, 3 read channel 1.
        assert_eq!(taps, vec![vec![(0, 0)], vec![(0, 1)], vec![(1, 2)], vec![(1, 3)]]);
    }
}
