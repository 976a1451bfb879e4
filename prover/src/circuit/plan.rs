//! The planner: the circuit's degree, width, lookup columns and activation bound for a model,
//! from what laying it out actually uses ([`super::measure`]); no model of the gadgets' costs.

use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ProverError;
use crate::gadgets::range_check::RangeCheckConfig;
use crate::gadgets::set::ShapeParams;
use crate::quantize::QuantizedModel;

use super::measure::{measure, Measurement};

/// Rows at the end of the circuit halo2 reserves for blinding (an upper bound).
pub(super) const RESERVED_ROWS: usize = 16;
/// Smallest and largest circuit sizes the planner considers.
const K_RANGE: std::ops::RangeInclusive<u32> = 6..=24;
/// Widths the planner tries (advice columns of the main area; at least 4, for the clamp).
const WIDTHS: [usize; 12] = [4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 20, 24];
/// Most main columns a loaded layout may have (tests plan narrower or wider shapes by hand).
const MAX_WIDTH: usize = 64;

/// Where everything goes: the plan chosen for a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitLayout {
    /// The circuit has `2^k` rows.
    pub k: u32,
    /// Column counts.
    pub shape: ShapeParams,
    /// Rows used in the main area.
    pub main_rows: usize,
    /// Number of range checks.
    pub range_checks: usize,
    /// Rows of the lookup table.
    pub table_rows: usize,
    /// Activations are checked to lie in `[-activation_bound, activation_bound)`.
    pub activation_bound: i64,
    /// Number of public inputs (output values).
    pub public_inputs: usize,
    /// The convolutions (node ids) checked by Freivalds' randomized check instead of row by row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freivalds_nodes: Vec<usize>,
}

impl CircuitLayout {
    /// The layout of a counting run ([`super::measure`]): only the shape and the Freivalds
    /// convolutions matter; nothing is checked against the totals.
    pub(super) fn counting(shape: ShapeParams, freivalds_nodes: Vec<usize>) -> Self {
        CircuitLayout { k: 0, shape, main_rows: 0, range_checks: 0, table_rows: 0, activation_bound: 0, public_inputs: 0, freivalds_nodes }
    }
}

/// Chooses `k`, the width and the number of lookup columns for `model`: the cheapest shape (by
/// columns × rows) in which the main rows, the range checks and the lookup table all fit. Each
/// convolution Freivalds' check can prove is checked that way at a width where that lays out
/// fewer rows than its row-by-row product.
///
/// The activation bound `B` fills what the table leaves free: the table holds the fixed ranges
/// (remainders, clamp bounds) and one segment of `2B` rows for activations, and `B` must be at
/// least `2^(range_bits - 1)`.
pub fn plan(model: &QuantizedModel) -> Result<CircuitLayout, ProverError> {
    plan_among(model, &WIDTHS, None)
}

/// [`plan`] restricted to `width` main columns, with the Freivalds check of convolutions on or off
/// (tests use it to exercise a shape the planner would not pick for a small model). With it on,
/// some convolution must use it.
pub fn plan_with(model: &QuantizedModel, width: usize, freivalds: bool) -> Result<CircuitLayout, ProverError> {
    plan_among(model, &[width], Some(freivalds)).map_err(|e| match e {
        ProverError::Unsupported(_) if freivalds => {
            ProverError::Unsupported(format!("no convolution of the model is cheaper to check by Freivalds' check at width {width}"))
        }
        e => e,
    })
}

/// The convolutions Freivalds' check can prove: weights fixed in the circuit (public
/// parameters), not depthwise.
pub(super) fn freivalds_candidates(model: &QuantizedModel) -> Vec<usize> {
    if model.visibility.witnessed_params() {
        return vec![];
    }
    (0..model.nodes.len()).filter(|&id| model.nodes[id].op.int().freivalds_eligible()).collect()
}

/// The layouts worth comparing at `width`: row by row, and (when `freivalds`) with Freivalds'
/// check on each convolution where it lays out fewer rows. Measured by laying the model out;
/// none when a gadget the model needs does not fit `width`.
fn candidates(model: &Arc<QuantizedModel>, width: usize, freivalds: bool) -> Vec<(Vec<usize>, Measurement)> {
    let Ok(plain) = measure(model, width, &[]) else { return vec![] };
    let eligible = if freivalds { freivalds_candidates(model) } else { vec![] };
    let mut out = vec![(vec![], plain)];
    if eligible.is_empty() {
        return out;
    }
    let Ok(all) = measure(model, width, &eligible) else { return out };
    let cheaper: Vec<usize> = eligible.into_iter().filter(|&id| all.node_rows[id] < out[0].1.node_rows[id]).collect();
    if cheaper.is_empty() {
        return out;
    }
    if let Ok(mixed) = measure(model, width, &cheaper) {
        out.push((cheaper, mixed));
    }
    out
}

/// The cheapest layout among `widths`, with Freivalds' check as `freivalds` says: on, off, or
/// whichever is cheaper (`None`).
fn plan_among(model: &QuantizedModel, widths: &[usize], freivalds: Option<bool>) -> Result<CircuitLayout, ProverError> {
    model.check_visibility()?;
    let fixed_rows = RangeCheckConfig::table_rows(&model.fixed_ranges(), &model.function_tables());
    let min_bound = 1i64 << (model.config.range_bits - 1);
    let public_inputs = model.public_input_count();
    let shared = Arc::new(model.clone());
    // Each width is laid out on its own (a counting synthesis or three): one per core.
    let measured: Vec<(usize, Vec<usize>, Measurement)> = widths
        .par_iter()
        .flat_map_iter(|&width| candidates(&shared, width, freivalds != Some(false)).into_iter().map(move |(nodes, m)| (width, nodes, m)))
        .filter(|(_, nodes, _)| freivalds.is_none_or(|on| on != nodes.is_empty()))
        .collect();
    let mut best: Option<(u128, CircuitLayout)> = None;
    for k in K_RANGE {
        let usable = (1usize << k) - RESERVED_ROWS;
        let activation_bound = (usable.saturating_sub(fixed_rows) / 2) as i64;
        if activation_bound < min_bound || public_inputs > usable {
            continue;
        }
        let table_rows = fixed_rows + 2 * activation_bound as usize;
        for (width, freivalds_nodes, m) in &measured {
            if m.main_rows > usable {
                continue;
            }
            let function_columns = m.function_lookups.div_ceil(usable);
            let lookup_columns = m.range_checks.div_ceil(usable).max(1);
            // Each lookup column costs itself plus about three more (permuted pair, product); the
            // Freivalds check adds its second-phase column.
            let cost = ((width + usize::from(m.gadgets.freivalds) + 4 * lookup_columns + 5 * function_columns) as u128) << k;
            if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                let layout = CircuitLayout {
                    k,
                    shape: ShapeParams { width: *width, lookup_columns, function_columns, gadgets: m.gadgets },
                    main_rows: m.main_rows,
                    range_checks: m.range_checks,
                    table_rows,
                    activation_bound,
                    public_inputs,
                    freivalds_nodes: freivalds_nodes.clone(),
                };
                best = Some((cost, layout));
            }
        }
        if best.is_some() {
            // A larger k only doubles the cost of every shape that fits at this one.
            break;
        }
    }
    best.map(|(_, l)| l).ok_or_else(|| {
        ProverError::Unsupported(format!(
            "the model needs more than 2^{} rows; use a smaller model or fewer --range-bits",
            K_RANGE.end()
        ))
    })
}

/// Checks that `layout` lays `model` out: one counting run at its width, with its Freivalds
/// convolutions, uses its rows, range checks and gadgets, and everything fits `2^k` rows, the
/// lookup table included. A layout the planner would not have chosen is fine (the keys are made
/// for the layout); one the model does not fit is refused, before any key is made.
pub fn check_layout(model: &QuantizedModel, layout: &CircuitLayout) -> Result<(), ProverError> {
    let bad = |why: String| Err(ProverError::Artifact(format!("the circuit layout does not fit the model: {why}")));
    if !K_RANGE.contains(&layout.k) {
        return bad(format!("k = {} is outside {K_RANGE:?}", layout.k));
    }
    let shape = layout.shape;
    // Before anything is configured or allocated at the layout's sizes.
    if !(WIDTHS[0]..=MAX_WIDTH).contains(&shape.width) || shape.width < shape.gadgets.min_width() {
        return bad(format!("{} main columns (the circuit has {} to {MAX_WIDTH})", shape.width, WIDTHS[0]));
    }
    let candidates = freivalds_candidates(model);
    if let Some(id) = layout.freivalds_nodes.iter().find(|id| !candidates.contains(id)) {
        return bad(format!("node {id} cannot be checked by Freivalds' check"));
    }
    let m = measure(&Arc::new(model.clone()), shape.width, &layout.freivalds_nodes).map_err(|e| ProverError::Artifact(format!("laying the model out at width {}: {e:?}", shape.width)))?;
    if (m.main_rows, m.range_checks, m.gadgets) != (layout.main_rows, layout.range_checks, shape.gadgets) {
        return bad(format!(
            "it lays out {} main rows, {} range checks and gadgets {:?}; the layout says {}, {} and {:?}",
            m.main_rows, m.range_checks, m.gadgets, layout.main_rows, layout.range_checks, shape.gadgets
        ));
    }
    let usable = (1usize << layout.k) - RESERVED_ROWS;
    let fixed_rows = RangeCheckConfig::table_rows(&model.fixed_ranges(), &model.function_tables());
    let bound = layout.activation_bound;
    let table_rows = usize::try_from(bound).ok().and_then(|b| b.checked_mul(2)).and_then(|rows| rows.checked_add(fixed_rows));
    let fits = m.main_rows <= usable
        && shape.lookup_columns == m.range_checks.div_ceil(usable).max(1)
        && shape.function_columns == m.function_lookups.div_ceil(usable)
        && bound >= 1i64 << (model.config.range_bits - 1)
        && table_rows == Some(layout.table_rows)
        && layout.table_rows <= usable
        && layout.public_inputs == model.public_input_count()
        && layout.public_inputs <= usable;
    if !fits {
        return bad(format!("it does not fit 2^{} rows with {} lookup column(s) and an activation bound of {bound}", layout.k, shape.lookup_columns));
    }
    Ok(())
}
