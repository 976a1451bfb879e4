//! The Solidity verifier files of a directory: `Verifier.sol`, `Verifier.bin` and the record
//! `verifier.json` binding them to what they verify, for an aggregation (`AGG_DIR`) or for one
//! compiled model (a direct verifier), and their export into a Foundry project.

use std::path::{Path, PathBuf};

use halo2_proofs::poly::commitment::Params;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zkml_prover::artifact::{srs_fingerprint, CompiledModel, FORMAT_VERSION};
use zkml_prover::srs::SrsStore;
use zkml_prover::{keys, ProverError};

use crate::aggregate::derive::check_aggregation_key;
use crate::error::{AggregatorError, Result};
use crate::aggregate::records::{load_aggregation, load_manifest, write_json, AGGREGATION_FILE, BYTECODE_FILE, SOLIDITY_FILE, VERIFIER_RECORD_FILE};
use crate::evm::revm::{deployed_size, EIP170_LIMIT};
use crate::evm::solc::Tools;
use crate::{calldata_shape, compile_solidity, direct_verifier_solidity, verifier_solidity};

fn io(path: &Path, e: std::io::Error) -> AggregatorError {
    AggregatorError::from(ProverError::io(path, e))
}

/// What [`write_evm_verifier`] wrote.
#[derive(Clone, Debug)]
pub struct VerifierSummary {
    /// Aggregated or direct.
    pub kind: VerifierKind,
    /// The Solidity source.
    pub solidity: PathBuf,
    /// The hex creation bytecode.
    pub bytecode: PathBuf,
    /// Size of the deployed (runtime) bytecode.
    pub runtime_size: usize,
}

/// What a verifier checks: an aggregated proof, or one model proof directly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifierKind {
    /// The verifier of an aggregation circuit (`AGG_DIR`): reads the 12 accumulator limbs and the
    /// inner public inputs.
    #[default]
    Aggregated,
    /// The verifier of one model's circuit (`MODEL_DIR`): reads the model's public inputs and a
    /// proof made with `zkml prove --evm`.
    Direct,
}

impl std::fmt::Display for VerifierKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VerifierKind::Aggregated => "aggregated",
            VerifierKind::Direct => "direct",
        })
    }
}

/// Generates the Solidity verifier of `dir`, compiles it with `tools.solc`, and writes
/// `Verifier.sol`, `Verifier.bin` and `verifier.json` there.
///
/// `dir` is either an aggregation (`zkml aggregate`'s output: the aggregation verifier, always
/// made to fit EIP-170 by the aggregation's planned degree) or a compiled model with keys: then a
/// *direct* verifier of the model's own proofs (`zkml prove --evm`), written only if its runtime
/// bytecode fits EIP-170; otherwise [`AggregatorError::VerifierTooLarge`] and nothing is written
/// (see [`write_aggregated_verifier_for_model`]).
///
/// An aggregation's verifying key is not taken on trust from `aggregation.json`: it is derived
/// again from the compiled models ([`crate::aggregate::derive`]), looked for in `model_dirs` and then where
/// the manifest recorded them, and a key that differs is refused.
pub fn write_evm_verifier(dir: &Path, tools: &Tools, model_dirs: &[PathBuf]) -> Result<VerifierSummary> {
    if dir.join(AGGREGATION_FILE).exists() {
        return write_aggregation_verifier(dir, tools, model_dirs);
    }
    if CompiledModel::path_in(dir).exists() {
        return write_direct_verifier(dir, tools);
    }
    Err(AggregatorError::InvalidInput(format!(
        "{} holds neither an aggregation (run `zkml aggregate`) nor a compiled model (run `zkml compile` and `zkml setup`)",
        dir.display()
    )))
}

pub(crate) fn write_aggregation_verifier(agg_dir: &Path, tools: &Tools, model_dirs: &[PathBuf]) -> Result<VerifierSummary> {
    let aggregated = load_aggregation(agg_dir)?;
    let manifest = load_manifest(agg_dir)?;
    let srs = SrsStore::default_location().params(aggregated.config.degree)?;
    if srs.params.k() != aggregated.config.degree {
        return Err(AggregatorError::InvalidInput("SRS size does not match the aggregation".into()));
    }
    // The verifier's pairing check uses this SRS's [τ]G2: it must be the SRS the aggregation was
    // made over, or the verifier would check proofs against another setup than the manifest says.
    let fingerprint = hex::encode(srs_fingerprint(&srs.params));
    if fingerprint != manifest.srs_fingerprint {
        return Err(AggregatorError::InvalidInput(format!(
            "the SRS for k = {} in {} (fingerprint {fingerprint}) is not the one {} was made over ({}): aggregate again with this store, or use the store it was made with",
            aggregated.config.degree,
            SrsStore::default_location().dir().display(),
            agg_dir.display(),
            manifest.srs_fingerprint
        )));
    }
    let vk = aggregated.verifying_key()?;
    check_aggregation_key(&manifest, aggregated.config, &aggregated.vk, model_dirs)?;
    let source = verifier_solidity(&srs.params, &vk, aggregated.instances.len())?;
    let bytecode = compile_solidity(&tools.solc, &source)?;
    let record = VerifierRecord {
        format_version: FORMAT_VERSION,
        kind: VerifierKind::Aggregated,
        accepts_model_hash: hex::encode(Sha256::digest(&aggregated.vk)),
        bytecode_sha256: hex::encode(Sha256::digest(&bytecode)),
        runtime_size: deployed_size(&bytecode)?,
        public_inputs: aggregated.instances.len(),
        srs: srs.source.to_string(),
        srs_insecure: Some(srs.source.is_insecure()),
        srs_fingerprint: fingerprint,
        proof_length: calldata_shape(&source).map(|shape| shape.proof_length),
    };
    save_verifier(agg_dir, &source, &bytecode, &record)
}

fn write_direct_verifier(model_dir: &Path, tools: &Tools) -> Result<VerifierSummary> {
    let model = CompiledModel::load(model_dir)?;
    let srs = SrsStore::default_location().params(model.layout.k)?;
    let vk = keys::load_vk(model_dir, &model, &srs.params)?;
    let public_inputs = model.quantized.public_input_count();
    let source = direct_verifier_solidity(&srs.params, &vk, public_inputs)?;
    let bytecode = compile_solidity(&tools.solc, &source)?;
    let runtime_size = deployed_size(&bytecode)?;
    if runtime_size > EIP170_LIMIT {
        return Err(AggregatorError::VerifierTooLarge { runtime_size });
    }
    let record = VerifierRecord {
        format_version: FORMAT_VERSION,
        kind: VerifierKind::Direct,
        accepts_model_hash: hex::encode(model.hash()),
        bytecode_sha256: hex::encode(Sha256::digest(&bytecode)),
        runtime_size,
        public_inputs,
        srs: srs.source.to_string(),
        srs_insecure: Some(srs.source.is_insecure()),
        srs_fingerprint: hex::encode(srs_fingerprint(&srs.params)),
        proof_length: calldata_shape(&source).map(|shape| shape.proof_length),
    };
    save_verifier(model_dir, &source, &bytecode, &record)
}

/// First line of a `Verifier.sol` generated over the development SRS.
pub const INSECURE_SRS_HEADER: &str =
    "// WARNING: generated over the INSECURE development SRS (public seed): anybody can forge proofs this verifier accepts. Test material only; for production import a ceremony SRS (zkml srs import) and generate it again.";

fn save_verifier(dir: &Path, source: &str, bytecode: &[u8], record: &VerifierRecord) -> Result<VerifierSummary> {
    let (sol, bin) = (dir.join(SOLIDITY_FILE), dir.join(BYTECODE_FILE));
    // The header is a comment: the bytecode, compiled from `source`, is the same with or without it.
    let source = if record.on_development_srs() { format!("{INSECURE_SRS_HEADER}\n{source}") } else { source.to_string() };
    std::fs::write(&sol, source).map_err(|e| io(&sol, e))?;
    std::fs::write(&bin, hex::encode(bytecode)).map_err(|e| io(&bin, e))?;
    write_json(&dir.join(VERIFIER_RECORD_FILE), record)?;
    Ok(VerifierSummary { kind: record.kind, solidity: sol, bytecode: bin, runtime_size: record.runtime_size })
}

/// Copies the verifier generated in `dir` (checked against its `verifier.json`) to `file`, a
/// Solidity source in a Foundry project (e.g. `contracts/src/generated/MnistVerifier.sol`), with its
/// contract renamed to the file's stem so that several generated verifiers coexist in one project.
/// The stem must be a Solidity identifier; an existing `file` is replaced only with `replace`.
pub fn export_solidity(dir: &Path, file: &Path, replace: bool) -> Result<String> {
    load_verifier(dir)?;
    let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    let identifier = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !identifier || file.extension().and_then(|e| e.to_str()) != Some("sol") {
        return Err(AggregatorError::InvalidInput(format!(
            "{}: name the file CONTRACT_NAME.sol, with a Solidity identifier as CONTRACT_NAME",
            file.display()
        )));
    }
    if file.exists() && !replace {
        return Err(AggregatorError::InvalidInput(format!("{} exists; pass --force to replace it", file.display())));
    }
    let sol = dir.join(SOLIDITY_FILE);
    let source = std::fs::read_to_string(&sol).map_err(|e| io(&sol, e))?;
    const GENERATED: &str = "contract Halo2Verifier {";
    if source.matches(GENERATED).count() != 1 {
        return Err(AggregatorError::InvalidInput(format!("{} does not hold one generated verifier contract", sol.display())));
    }
    let renamed = source.replacen(GENERATED, &format!("contract {name} {{"), 1);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    std::fs::write(file, renamed).map_err(|e| io(file, e))?;
    Ok(name)
}

/// `DIR/verifier.json`: which proofs `Verifier.bin` was generated for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VerifierRecord {
    /// Artifact format version.
    pub format_version: u32,
    /// Aggregated or direct.
    #[serde(default)]
    pub kind: VerifierKind,
    /// The `model_hash` of the proof files it verifies: SHA-256 of the aggregation verifying key
    /// (aggregated), or the model hash (direct), hex.
    #[serde(alias = "aggregation_vk_hash")]
    pub accepts_model_hash: String,
    /// SHA-256 of the creation bytecode in `Verifier.bin`, hex.
    pub bytecode_sha256: String,
    /// Its runtime bytecode size.
    pub runtime_size: usize,
    /// Number of public inputs it reads.
    pub public_inputs: usize,
    /// The SRS it was generated over, as `zkml srs list` names it.
    #[serde(default)]
    pub srs: String,
    /// Whether that SRS is the insecure development one (anybody can forge proofs against it);
    /// absent in records written before this field, which are taken as insecure.
    #[serde(default)]
    pub srs_insecure: Option<bool>,
    /// Fingerprint of that SRS, hex (empty in older records).
    #[serde(default)]
    pub srs_fingerprint: String,
    /// Byte length of every proof it accepts (after the public inputs); calldata of any other
    /// length is refused. Absent in records of verifiers generated before that check.
    #[serde(default)]
    pub proof_length: Option<usize>,
}

impl VerifierRecord {
    /// Whether the verifier may accept forged proofs because its SRS is the development one (or
    /// the record is too old to say).
    pub fn on_development_srs(&self) -> bool {
        self.srs_insecure != Some(false)
    }
}

/// `DIR/Verifier.bin`, checked against `DIR/verifier.json`: refuses a verifier that was edited
/// since it was generated or comes from another format version.
pub fn load_verifier(dir: &Path) -> Result<(Vec<u8>, VerifierRecord)> {
    let bin = dir.join(BYTECODE_FILE);
    if !bin.exists() {
        return Err(AggregatorError::InvalidInput(format!("{} not found: run `zkml evm-verifier {}` first", bin.display(), dir.display())));
    }
    let text = std::fs::read_to_string(&bin).map_err(|e| io(&bin, e))?;
    let bytecode = hex::decode(text.trim().trim_start_matches("0x"))
        .map_err(|e| AggregatorError::InvalidInput(format!("{} is not hex: {e}", bin.display())))?;
    let stale = |why: &str| AggregatorError::InvalidInput(format!("{}: {why}; run `zkml evm-verifier {}` again", bin.display(), dir.display()));
    let bytes = std::fs::read(dir.join(VERIFIER_RECORD_FILE)).map_err(|_| stale("no verifier.json records what it was made for"))?;
    let record: VerifierRecord = serde_json::from_slice(&bytes).map_err(|_| stale("verifier.json is corrupt"))?;
    if record.format_version != FORMAT_VERSION {
        return Err(stale("it was generated by another zkml format version"));
    }
    if record.bytecode_sha256 != hex::encode(Sha256::digest(&bytecode)) {
        return Err(stale("the bytecode changed since it was generated"));
    }
    Ok((bytecode, record))
}
