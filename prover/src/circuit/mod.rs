//! The model circuit: every node of a [`QuantizedModel`] laid out with the gadgets, in one region,
//! with the public inputs its [`crate::visibility`] settings ask for.
//!
//! Public inputs (one instance column), in the order of [`QuantizedModel::public_sections`]: the
//! input values or commitments, the params commitment, the output values or commitments. Each
//! value is copy-constrained to the cell the model computed it in, and each commitment is computed
//! in the circuit over those exact cells; the context word, last, has no cell (the transcript binds
//! it). Intermediate values are always private witnesses.
//! Parameters are fixed columns (committed in the verifying key) when public, and witness cells
//! ([`crate::gadgets::params`]) otherwise.

mod layout;
mod measure;
mod plan;
mod roles;
mod synth;

pub use crate::gadgets::set::{GadgetSet, ModelConfig, ShapeParams};
pub use plan::{check_layout, plan, plan_with, CircuitLayout};
pub use roles::{node_roles, NodeRole};
pub use measure::{measure, Measurement};
pub use synth::ModelCircuit;

use plan::RESERVED_ROWS;
