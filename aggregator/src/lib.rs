//! # zkml-aggregator
//!
//! Turns inner zkml proofs into one proof a smart contract can check:
//!
//! 1. [`snark_from_parts`] wraps an inner proof (SHPLONK, Poseidon transcript, as made by
//!    snark-verifier-sdk's `gen_proof_shplonk` / `gen_snark_shplonk`) with its verifying key;
//! 2. [`aggregate()`] verifies any number of them inside snark-verifier's `AggregationCircuit` and
//!    proves that circuit with a keccak transcript ([`AggregatedProof`]);
//! 3. [`verifier_solidity`] emits the Solidity verifier, [`compile_solidity`] compiles it with an
//!    external `solc` (standard JSON), [`encode_calldata`] builds its calldata;
//! 4. [`verify_in_revm`] runs it in an in-process EVM (gas, EIP-170 size), and
//!    [`deploy_and_verify`] deploys and checks it on any JSON-RPC node (anvil, a testnet).
//!
//! ## Public inputs of an aggregated proof
//!
//! The verifier takes one flat list of field elements (each a 32-byte big-endian word in
//! calldata, below the BN254 scalar field modulus), in this order:
//!
//! * **Indices 0..12: the KZG accumulator.** Verifying the inner proofs in-circuit ends in a
//!   pairing check that a circuit cannot do cheaply; it is deferred as a pair of BN254 G1 points
//!   `(lhs, rhs)` that must satisfy `e(lhs, g2) · e(rhs, −[s]g2) = 1` for the SRS secret `s`.
//!   Their four base-field coordinates `lhs.x, lhs.y, rhs.x, rhs.y` are each split into 3 limbs of
//!   88 bits, least significant limb first, giving 12 values, each < 2^88. The Solidity verifier
//!   folds this pair into its own final pairing check, so a contract never interprets them: they
//!   are random-looking and differ between two proofs of the same statement.
//! * **Indices 12..: the inner proofs' public inputs**, proof by proof in the order given to
//!   [`aggregate()`], and within a proof column by column. For a zkml model proof these are the
//!   values the model circuit exposes (its outputs, commitments, any binding value);
//!   [`AggregatedProof::inner_instance_counts`] says how many each proof contributes and
//!   [`AggregatedProof::inner_instances`] slices them out.
//!
//! A two-level aggregation ([`aggregate::grouping`]) has the same public inputs: its first-level group
//! proofs ([`aggregate_to_snark`]) carry accumulators of their own, which the final circuit checks
//! and folds into the one it exposes.
//!
//! The aggregation circuit has the inner verifying keys as constants, so its verifier accepts
//! proofs of exactly those inner circuits, and every inner public input is bound to the proof.
//!
//! ## Errors
//!
//! Every fallible function returns [`AggregatorError`]; none panics on bad input. A verifier
//! rejecting a proof is a result (`accepted: false`), not an error.

#![warn(missing_docs)]

pub mod aggregate;
pub mod error;
pub mod evm;
pub mod workflow;

pub use crate::aggregate::{
    aggregate, aggregate_to_snark, read_aggregation_vk, InnerAggregation, AggregatedProof, AggregationConfigParams, MultiPhaseThreadBreakPoints, Snark,
    DEFAULT_AGG_K, MAX_AGG_K, MIN_AGG_K, PLANNED_VERIFIER_SIZE, estimated_verifier_size, plan_aggregation_k,
};
pub use crate::aggregate::snark::{snark_from_parts, ACCUMULATOR_LIMBS};
pub use crate::aggregate::calldata::encode_calldata;
pub use crate::error::{AggregatorError, Result};
pub use crate::evm::revm::{deployed_size, verify_in_revm, EvmOutcome, EIP170_LIMIT};
pub use crate::evm::rpc::{deploy, deploy_and_verify, verify_at, Deployment, RpcOutcome};
pub use crate::evm::solc::{compile_solidity, EVM_VERSION};
pub use crate::evm::solidity::{calldata_shape, direct_verifier_solidity, verifier_solidity, CalldataShape, CALLDATA_SHAPE_TAG, VERIFIER_PRAGMA};
