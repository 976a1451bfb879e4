//! Non-linear functions proved through lookup tables: the table lists `(x, f_q(x))` for every
//! integer `x` of the function's domain, where `f_q(x) = round(f(x / 2^s) · 2^s)` at the model's
//! scale `s`. Inputs outside the domain are clamped to it first by the importer (for saturating
//! functions the clamp changes nothing after rounding).

use serde::{Deserialize, Serialize};

/// A tabulated function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Function {
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
}

impl Function {
    /// The float function.
    pub fn eval(&self, x: f64) -> f64 {
        match self {
            Function::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Function::Tanh => x.tanh(),
        }
    }

    /// The float inputs beyond which the function is flat to within rounding at any scale up to
    /// 2^12: inputs are clamped to `[-r, r]` before the lookup.
    pub fn saturation(&self) -> f64 {
        match self {
            Function::Sigmoid => 10.0,
            Function::Tanh => 6.0,
        }
    }

    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Function::Sigmoid => "Sigmoid",
            Function::Tanh => "Tanh",
        }
    }
}

/// A function tabulated on the integer domain `[lo, hi]` at scale `2^scale_bits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionTable {
    /// Which function.
    pub function: Function,
    /// Smallest input.
    pub lo: i64,
    /// Largest input.
    pub hi: i64,
    /// Fractional bits of inputs and outputs.
    pub scale_bits: u32,
}

impl FunctionTable {
    /// The integer semantics: `round(f(x / 2^s) · 2^s)` (ties away from zero). `None` outside
    /// the domain, where the circuit cannot prove any output.
    pub fn eval(&self, x: i64) -> Option<i64> {
        if !(self.lo..=self.hi).contains(&x) {
            return None;
        }
        let scale = (1u64 << self.scale_bits) as f64;
        Some((self.function.eval(x as f64 / scale) * scale).round() as i64)
    }

    /// Number of table rows.
    pub fn size(&self) -> usize {
        (self.hi - self.lo + 1) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_round_and_saturate() {
        let t = FunctionTable { function: Function::Sigmoid, lo: -2560, hi: 2560, scale_bits: 8 };
        assert_eq!(t.eval(0), Some(128));
        assert_eq!(t.eval(2560), Some(256));
        assert_eq!(t.eval(-2560), Some(0));
        assert_eq!(t.eval(2561), None);
        let tanh = FunctionTable { function: Function::Tanh, lo: -1536, hi: 1536, scale_bits: 8 };
        assert_eq!(tanh.eval(1536), Some(256));
        assert_eq!(tanh.eval(-256), Some(-195)); // tanh(-1) = -0.7616 -> -194.96
    }
}
