//! zkml prover: import a model, quantize it, lay it out as a halo2 circuit over BN254, and make
//! and check KZG (SHPLONK) proofs of its forward pass.
//!
//! The flow is one direction: [`import`] (ONNX, msgpack) → [`model`] (the float graph) →
//! [`quantize`] (integers, and what a model publishes) → [`circuit`] (plan and layout with
//! [`gadgets`]) → [`keys`] → [`proof`]. The integer semantics of every operator lives in [`ops`]
//! and is shared by the reference forward pass and the circuit's witness; [`field`] holds the
//! conversions between integers, field elements and hex. No module reaches back up this chain
//! (`tests/layering.rs` checks it).

pub mod arith;
pub mod artifact;
pub mod atomic_file;
pub mod bench;
pub mod calibrate;
pub mod circuit;
pub mod commitment;
pub mod compile;
pub mod error;
pub mod estimate;
pub mod field;
pub mod gadgets;
pub mod import;
pub mod input;
pub mod keys;
pub mod model;
pub mod ops;
pub mod proof;
pub mod ptau;
pub mod quantize;
pub mod range;
pub mod split;
pub mod srs;
pub mod tensor;
pub mod visibility;

pub use error::ProverError;
pub use halo2_proofs;
