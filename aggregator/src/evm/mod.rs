//! From an aggregated proof to the EVM: the Solidity verifier ([`solidity`]), compiled by an
//! external `solc` ([`solc`]), run in an in-process EVM ([`revm`]) or deployed to a JSON-RPC node
//! ([`rpc`]), and the verifier files an aggregation directory holds ([`verifier_files`]). Reads
//! [`crate::aggregate`]'s proofs and records; nothing there reads this module.

pub mod revm;
pub mod rpc;
pub mod solc;
pub mod solidity;
pub mod verifier_files;
