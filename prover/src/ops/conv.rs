//! 2-D convolution and average pooling over NHWC tensors, as lists of taps: for every output
//! element, the (input index, weight index) pairs of its dot product. The integer forward pass and
//! the circuit both walk these taps, so they multiply exactly the same operands.

use serde::{Deserialize, Serialize};

use super::linear::{dot_rescale, DotRescaled};
use crate::error::ProverError;

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
    fn covered(&self, oh: usize, ow: usize, h: usize, w: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
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
