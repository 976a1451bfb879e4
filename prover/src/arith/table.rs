//! Non-linear functions proved through lookup tables: the table lists `(x, f_q(x))` for every
//! integer `x` of the function's domain, where `f_q(x) = round(f(x / 2^s) · 2^s)` at the model's
//! scale `s`. Where a function saturates (is flat to within rounding), the importer clamps its
//! input to the domain first, which changes no output; where it does not (Exp above), an input
//! beyond the domain is refused by the forward pass, naming the layer.

use serde::{Deserialize, Serialize};

/// A tabulated function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Function {
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `e^x`.
    Exp,
    /// The error function.
    Erf,
    /// `gelu(x) − relu(x)` with `gelu(x) = x·Φ(x)`: zero to within rounding beyond ±6, so Gelu is
    /// a ReLU plus a small table.
    GeluResidual,
}

impl Function {
    /// The float function.
    pub fn eval(&self, x: f64) -> f64 {
        match self {
            Function::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Function::Tanh => x.tanh(),
            Function::Exp => x.exp(),
            Function::Erf => libm::erf(x),
            Function::GeluResidual => gelu(x) - x.max(0.0),
        }
    }

    /// The float bounds below and above which the function is flat to within rounding at any
    /// scale up to 2^12 (`None`: it is not): the importer clamps inputs to them.
    pub fn saturation(&self) -> (Option<f64>, Option<f64>) {
        match self {
            Function::Sigmoid => (Some(-10.0), Some(10.0)),
            Function::Tanh => (Some(-6.0), Some(6.0)),
            // e^-12 · 2^12 < 0.5.
            Function::Exp => (Some(-12.0), None),
            Function::Erf => (Some(-4.0), Some(4.0)),
            Function::GeluResidual => (Some(-6.0), Some(6.0)),
        }
    }

    /// The float domain tabulated at scale `2^scale_bits` when activations have `range_bits`
    /// bits: the saturation bounds, and for Exp, above, the input whose output is the largest
    /// activation.
    pub fn domain(&self, scale_bits: u32, range_bits: u32) -> (f64, f64) {
        let (lo, hi) = self.saturation();
        let top = (range_bits as f64 - 1.0 - scale_bits as f64) * std::f64::consts::LN_2;
        (lo.unwrap_or(-top), hi.unwrap_or(top))
    }

    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Function::Sigmoid => "Sigmoid",
            Function::Tanh => "Tanh",
            Function::Exp => "Exp",
            Function::Erf => "Erf",
            Function::GeluResidual => "Gelu",
        }
    }
}

/// `x·Φ(x)`, the exact (erf) Gelu.
pub fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
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

/// A table a lookup proves `y = t(x)` against: a tabulated function, or explicit pairs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LookupTable {
    /// `y = f_q(x)` on the function's domain.
    Function(FunctionTable),
    /// Explicit `(x, y)` pairs with distinct `x`: one column of an embedding, from the index at
    /// the model's scale to the value.
    Pairs(Vec<(i64, i64)>),
}

impl LookupTable {
    /// `y` for `x`, or `None` where the table has no row (the circuit proves nothing there).
    pub fn eval(&self, x: i64) -> Option<i64> {
        match self {
            LookupTable::Function(f) => f.eval(x),
            LookupTable::Pairs(pairs) => pairs.iter().find(|(k, _)| *k == x).map(|&(_, y)| y),
        }
    }

    /// Number of table rows.
    pub fn size(&self) -> usize {
        match self {
            LookupTable::Function(f) => f.size(),
            LookupTable::Pairs(pairs) => pairs.len(),
        }
    }

    /// Every row `(x, y)`.
    pub fn entries(&self) -> Vec<(i64, i64)> {
        match self {
            LookupTable::Function(f) => (f.lo..=f.hi).filter_map(|x| f.eval(x).map(|y| (x, y))).collect(),
            LookupTable::Pairs(pairs) => pairs.clone(),
        }
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

    #[test]
    fn saturation_bounds_hold_at_fine_scales() {
        // Beyond the bounds the rounded output no longer changes at scale 2^12.
        let scale = (1u64 << 12) as f64;
        for f in [Function::Sigmoid, Function::Tanh, Function::Exp, Function::Erf, Function::GeluResidual] {
            let (lo, hi) = f.saturation();
            for (bound, step) in [(lo, -1.0), (hi, 1.0)] {
                if let Some(b) = bound {
                    let at = (f.eval(b) * scale).round();
                    assert_eq!((f.eval(b + step * 50.0) * scale).round(), at, "{} beyond {b}", f.name());
                }
            }
        }
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6);
    }
}
