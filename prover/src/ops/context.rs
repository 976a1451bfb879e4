//! What an operator's quantization and integer evaluation see of the model, and what the
//! evaluation hands to the layout.

use crate::arith::{ActivationSplit, DotRescaled, MaxSplit, Quotient, Rescaled, SquareRoot};
use crate::error::ProverError;
use crate::range::RangeKind;
use crate::tensor::Tensor;

/// `round(x · 2^scale_bits)`, refused when not finite or beyond 2^52 (`what` names it).
pub fn quantize_value(x: f64, scale_bits: u32, what: &str) -> Result<i64, ProverError> {
    let q = (x * (1u64 << scale_bits) as f64).round();
    if !q.is_finite() || q.abs() > (1i64 << 52) as f64 {
        return Err(ProverError::Range(format!("{what}: {x} does not fit at scale 2^{scale_bits}")));
    }
    Ok(q as i64)
}

/// The ranges the circuit checks values against, for one activation bound `B`: what the forward
/// pass refuses and what the gadgets range-check are the same values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ranges {
    /// Inputs, rescaled products, quotients, sums of a reduction: `[-B, B)`.
    pub activation: RangeKind,
    /// Both halves of a ReLU or clamp split, max-chain differences, remainders of a quotient:
    /// `[0, 2B)`, the size of the activation range (so both share one table segment). Soundness
    /// only needs them non-negative and small.
    pub relu: RangeKind,
}

/// What quantizing one node sees: the model's scale and range, and the node.
#[derive(Clone, Copy, Debug)]
pub struct QuantizeCx<'a> {
    /// Fractional bits `s`.
    pub scale_bits: u32,
    /// Activations are provable within `[-2^(b-1), 2^(b-1))` for `b = range_bits`.
    pub range_bits: u32,
    /// The node's name, for messages.
    pub name: &'a str,
    /// The node's output shape.
    pub shape: &'a [usize],
}

impl QuantizeCx<'_> {
    /// `round(x · 2^s)`.
    pub fn value(&self, x: f64) -> Result<i64, ProverError> {
        quantize_value(x, self.scale_bits, &format!("node {}", self.name))
    }

    /// Every value of `t` at scale `s`.
    pub fn tensor(&self, t: &Tensor<f32>) -> Result<Tensor<i64>, ProverError> {
        let data = t.data().iter().map(|&x| self.value(x as f64)).collect::<Result<Vec<_>, _>>()?;
        Tensor::new(t.shape().to_vec(), data)
    }

    /// A bias at scale `2s` (the scale of a product), zeros of length `len` when absent.
    pub fn bias(&self, bias: Option<&[f32]>, len: usize) -> Result<Vec<i64>, ProverError> {
        match bias {
            Some(b) => b.iter().map(|&x| quantize_value(x as f64, 2 * self.scale_bits, &format!("node {}", self.name))).collect(),
            None => Ok(vec![0; len]),
        }
    }
}

/// What the integer evaluation of one node sees.
#[derive(Clone, Copy, Debug)]
pub struct EvalCx<'a> {
    /// The node's name, for messages.
    pub name: &'a str,
    /// The node's output shape.
    pub shape: &'a [usize],
    /// Fractional bits `s`.
    pub scale_bits: u32,
    /// The ranges the circuit checks.
    pub ranges: Ranges,
    /// For an Input node: the value given for it.
    pub input: Option<&'a Tensor<i64>>,
}

impl EvalCx<'_> {
    /// Claims that every value lies in `range` (the layout range-checks them): refuses the first
    /// that does not, naming the layer and `what` the value is.
    pub fn claim(&self, range: RangeKind, values: impl IntoIterator<Item = i128>, what: &str) -> Result<(), ProverError> {
        for (i, v) in values.into_iter().enumerate() {
            if !range.contains(v) {
                let scale = (1u64 << self.scale_bits) as f64;
                return Err(ProverError::Range(format!(
                    "layer {} ({what}, element {i}): value {v} ({:.4}) leaves the compiled range {} (±{} in floats); recompile with more --range-bits or a smaller --scale",
                    self.name,
                    v as f64 / scale,
                    range.describe(),
                    range.highest() as f64 / scale
                )));
            }
        }
        Ok(())
    }

    /// A refusal of this layer's input: `message` says what is wrong.
    pub fn refuse(&self, message: impl std::fmt::Display) -> ProverError {
        ProverError::Range(format!("layer {}: {message}", self.name))
    }

    /// The output tensor of this node from row-major `data`.
    pub fn output(&self, data: Vec<i64>) -> Result<Tensor<i64>, ProverError> {
        Tensor::new(self.shape.to_vec(), data)
    }

    /// Rescaled results: claims their quotients as activations and makes the output of them.
    pub fn rescaled(&self, dots: Vec<DotRescaled>, what: &str) -> Result<Evaluation, ProverError> {
        self.claim(self.ranges.activation, dots.iter().map(|d| d.out.quotient), what)?;
        let output = self.output(dots.iter().map(|d| d.out.quotient as i64).collect())?;
        Ok(Evaluation { output, witness: Witness::Dots(dots) })
    }

    /// Rounded quotients: claims the quotients as activations, their remainders and slacks as
    /// non-negative, and makes the output of them.
    pub fn quotients(&self, quotients: Vec<Quotient>) -> Result<Evaluation, ProverError> {
        self.claim(self.ranges.activation, quotients.iter().map(|q| q.quotient), "quotient")?;
        self.claim(self.ranges.relu, quotients.iter().flat_map(|q| [q.remainder, q.slack]), "division remainder (the divisor is too large)")?;
        let output = self.output(quotients.iter().map(|q| q.quotient as i64).collect())?;
        Ok(Evaluation { output, witness: Witness::Quotients(quotients) })
    }
}

/// The integer value of a node and the witness its layout assigns (the intermediate values the
/// gadgets constrain), computed once per proof by [`super::IntOp::eval`].
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The node's value.
    pub output: Tensor<i64>,
    /// What the layout needs beyond the output.
    pub witness: Witness,
}

impl Evaluation {
    /// A value whose layout needs nothing beyond it.
    pub fn plain(output: Tensor<i64>) -> Self {
        Evaluation { output, witness: Witness::Output }
    }
}

/// The intermediate values of a node's layout, per output value unless stated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Witness {
    /// Nothing beyond the output.
    Output,
    /// Accumulators and their rescales (dot products, window sums).
    Dots(Vec<DotRescaled>),
    /// Products of two activations, rescaled.
    Products(Vec<Rescaled>),
    /// Rounded quotients.
    Quotients(Vec<Quotient>),
    /// Floored square roots.
    Roots(Vec<SquareRoot>),
    /// Activation splits (ReLU, clamp).
    Activations(Vec<ActivationSplit>),
    /// The chain of pairwise maxima of each group (one chain per output value).
    MaxChains(Vec<Vec<MaxSplit>>),
}
