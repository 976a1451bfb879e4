//! The files of an aggregation directory (`AGG_DIR`) and the records kept beside its proof:
//! `manifest.json` (what was aggregated, in which order, over which SRS, in which groups),
//! `aggregation.json`, and the one way they are written (atomically, pretty JSON).

use std::path::Path;

use serde::{Deserialize, Serialize};
use zkml_prover::artifact::FORMAT_VERSION;
use zkml_prover::ProverError;

use crate::aggregate::{AggregatedProof, AggregationConfigParams};
use crate::error::{AggregatorError, Result};

/// Where each inner proof's public inputs sit among the aggregated proof's, and what made them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InnerProofEntry {
    /// The proof file aggregated.
    pub file: String,
    /// [`CompiledModel::hash`] of its model, hex.
    pub model_hash: String,
    /// The model file it was compiled from.
    pub model_source: String,
    /// The compiled model directory it was aggregated with (absolute): where
    /// `zkml evm-verifier` looks for the model to derive the keys again, unless told otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model_dir: String,
    /// Index of its first public input in the aggregated proof's `instances` (after the 12
    /// accumulator limbs and the earlier proofs').
    pub first_instance: usize,
    /// Number of its public inputs.
    pub instances: usize,
    /// What they are, in order (see `zkml_prover::visibility`): e.g. `output 0 (10 values)`.
    pub layout: Vec<String>,
}

/// `AGG_DIR/manifest.json`: the versions and hashes an aggregation was made from, and the order
/// of its public inputs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AggregationManifest {
    /// Artifact format version.
    pub format_version: u32,
    /// Degree of the aggregation circuit.
    pub degree: u32,
    /// SHA-256 of the aggregation verifying key, hex: the verifier generated for it checks this.
    pub aggregation_vk_hash: String,
    /// Fingerprint of the SRS (inner and aggregation share it), hex.
    pub srs_fingerprint: String,
    /// Whether that SRS is the insecure development one.
    pub srs_insecure: bool,
    /// The inner proofs, in order.
    pub proofs: Vec<InnerProofEntry>,
    /// For a two-level aggregation, its first-level groups (consecutive runs of `proofs`); empty
    /// for one level. The public inputs are laid out the same either way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupRecord>,
}

/// File names inside `AGG_DIR`.
pub const PROOF_FILE: &str = "proof.json";
/// The aggregation's key material.
pub const AGGREGATION_FILE: &str = "aggregation.json";
/// The generated verifier source.
pub const SOLIDITY_FILE: &str = "Verifier.sol";
/// Its creation bytecode, hex.
pub const BYTECODE_FILE: &str = "Verifier.bin";

/// File name of the record binding `Verifier.bin` to its aggregation.
pub const VERIFIER_RECORD_FILE: &str = "verifier.json";
/// File name of the manifest in `AGG_DIR`.
pub const MANIFEST_FILE: &str = "manifest.json";

/// One first-level group of a two-level aggregation, as recorded in the manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupRecord {
    /// Index (in the order given) of the group's first proof.
    pub first_proof: usize,
    /// Number of proofs in the group.
    pub proofs: usize,
    /// Degree of the group's aggregation circuit.
    pub degree: u32,
    /// SHA-256 of the group circuit's verifying key, hex (a constant of the final circuit).
    pub vk_hash: String,
    /// The group circuit's configuration, from which its key is derived again
    /// ([`crate::aggregate::derive`]); absent in manifests of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<AggregationConfigParams>,
}

impl PartialEq for GroupRecord {
    fn eq(&self, other: &Self) -> bool {
        let configs_equal = match (&self.config, &other.config) {
            (Some(a), Some(b)) => same_config(a, b),
            (None, None) => true,
            _ => false,
        };
        (self.first_proof, self.proofs, self.degree, &self.vk_hash) == (other.first_proof, other.proofs, other.degree, &other.vk_hash) && configs_equal
    }
}

pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| AggregatorError::from(ProverError::io(dir, e)))?;
    }
    let json = serde_json::to_vec_pretty(value).map_err(|e| AggregatorError::Internal { context: "serializing", message: e.to_string() })?;
    Ok(zkml_prover::atomic_file::write_atomically(path, |w| std::io::Write::write_all(w, &json))?)
}

/// Reads `AGG_DIR/manifest.json`.
pub fn load_manifest(agg_dir: &Path) -> Result<AggregationManifest> {
    let path = agg_dir.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|e| AggregatorError::from(ProverError::io(&path, e)))?;
    let manifest: AggregationManifest =
        serde_json::from_slice(&bytes).map_err(|e| AggregatorError::InvalidInput(format!("{} is corrupt: {e}", path.display())))?;
    if manifest.format_version != FORMAT_VERSION {
        return Err(AggregatorError::InvalidInput(format!(
            "{} has format version {}, this zkml reads {FORMAT_VERSION}: aggregate again",
            path.display(),
            manifest.format_version
        )));
    }
    Ok(manifest)
}

/// Whether two aggregation configs lay the circuit out alike (the type has no `PartialEq`).
pub(crate) fn same_config(a: &AggregationConfigParams, b: &AggregationConfigParams) -> bool {
    (a.degree, a.num_advice, a.num_lookup_advice, a.num_fixed, a.lookup_bits) == (b.degree, b.num_advice, b.num_lookup_advice, b.num_fixed, b.lookup_bits)
}

/// Reads `AGG_DIR/aggregation.json`.
pub(crate) fn load_aggregation(agg_dir: &Path) -> Result<AggregatedProof> {
    let path = agg_dir.join(AGGREGATION_FILE);
    if !path.exists() {
        return Err(AggregatorError::InvalidInput(format!("{} not found: run `zkml aggregate` first", path.display())));
    }
    let bytes = std::fs::read(&path).map_err(|e| AggregatorError::from(ProverError::io(&path, e)))?;
    serde_json::from_slice(&bytes).map_err(|e| AggregatorError::InvalidInput(format!("{} is corrupt: {e}", path.display())))
}
