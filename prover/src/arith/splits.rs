//! The splits that prove ReLU, clamp and max: each value written as the output plus non-negative
//! parts whose product (or flag) the gadget constrains.

/// The integer semantics of ReLU: `x = out - neg` with `out = max(x, 0)` and `neg = max(-x, 0)`,
/// so `out · neg = 0` and both are non-negative (what the ReLU gadget constrains).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReluSplit {
    /// `max(x, 0)`.
    pub out: i64,
    /// `max(-x, 0)`.
    pub neg: i64,
}

/// Splits `x` for ReLU (see [`ReluSplit`]).
pub fn relu(x: i64) -> ReluSplit {
    ReluSplit { out: x.max(0), neg: (-x).max(0) }
}

/// The integer semantics of clamping to `[0, max]` (ReLU6 is `max = 6·2^scale`):
/// `x = out − below + above` with `below = max(−x, 0)` and `above = max(x − max, 0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClampSplit {
    /// `min(max(x, 0), max)`.
    pub out: i64,
    /// How far `x` is below 0.
    pub below: i64,
    /// How far `x` is above `max`.
    pub above: i64,
}

/// Splits `x` for clamping to `[0, max]` (see [`ClampSplit`]).
pub fn clamp(x: i64, max: i64) -> ClampSplit {
    ClampSplit { out: x.clamp(0, max), below: (-x).max(0), above: (x - max).max(0) }
}

/// The integer semantics of `max(a, b)`: `out = a + da = b + db` with `da, db ≥ 0` and
/// `da · db = 0` (what the max gadget constrains).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxSplit {
    /// `max(a, b)`.
    pub out: i64,
    /// `out − a`.
    pub da: i64,
    /// `out − b`.
    pub db: i64,
}

/// Splits `max(a, b)` (see [`MaxSplit`]).
pub fn max2(a: i64, b: i64) -> MaxSplit {
    let out = a.max(b);
    MaxSplit { out, da: out - a, db: out - b }
}

/// The maximum of a window, as the chain of [`max2`] steps the circuit proves: the running
/// maximum starts at the first value and meets each following value in turn.
pub fn max_chain(values: &[i64]) -> Vec<MaxSplit> {
    let mut steps = Vec::with_capacity(values.len().saturating_sub(1));
    let mut running = values[0];
    for &v in &values[1..] {
        let step = max2(running, v);
        running = step.out;
        steps.push(step);
    }
    steps
}

/// An activation applied to a rescaled value inside the rescale gadget (see
/// [`crate::gadgets::rescale_activation`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), max)`.
    Clamp {
        /// The upper bound.
        max: i64,
    },
}

/// `x` split around an activation: `x = out + (2·above − 1)·excess` with `excess ≥ 0` the
/// distance to the nearest bound when `x` is clipped (0 otherwise) and `above` whether it was
/// clipped at the top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActivationSplit {
    /// The activation's output.
    pub out: i64,
    /// How far `x` lies beyond the bound it was clipped to.
    pub excess: i64,
    /// Clipped at the upper bound (not the lower).
    pub above: bool,
}

/// Splits `x` for `activation` (the same outputs as [`relu`] and [`clamp`]).
pub fn activate(x: i64, activation: Activation) -> ActivationSplit {
    match activation {
        Activation::Clamp { max } if x > max => ActivationSplit { out: max, excess: x - max, above: true },
        _ if x < 0 => ActivationSplit { out: 0, excess: -x, above: false },
        _ => ActivationSplit { out: x, excess: 0, above: false },
    }
}
