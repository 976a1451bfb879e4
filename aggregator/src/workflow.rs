//! The aggregation directory (`AGG_DIR`) and the steps the command line runs on it.
//!
//! `AGG_DIR` holds:
//! - `proof.json`: the aggregated proof in the same format as a model proof
//!   ([`zkml_prover::proof::ProofFile`]): `instances` are the 12 accumulator limbs followed by the
//!   inner proofs' public inputs, `outputs` the inner model outputs as floats;
//! - `aggregation.json`: the [`AggregatedProof`] with its verifying key and circuit configuration,
//!   from which the Solidity verifier is generated;
//! - `Verifier.sol`, `Verifier.bin` (hex creation bytecode) and `verifier.json` (what it verifies),
//!   written by [`write_evm_verifier`]; `deployment.json` after `zkml deploy`.
//!
//! A compiled model directory can hold the same three verifier files for a *direct* verifier
//! (no aggregation; proofs made with `zkml prove --evm`) when it fits EIP-170.

use std::path::{Path, PathBuf};

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::poly::commitment::Params;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zkml_prover::artifact::{srs_fingerprint, CompiledModel, FORMAT_VERSION};
use zkml_prover::proof::{fr_to_hex, verify as verify_model_proof, NamedCommitment, ProofFile, TranscriptKind};
use zkml_prover::srs::SrsStore;
use zkml_prover::{keys, ProverError};

use crate::derive::check_aggregation_key;
use crate::error::{AggregatorError, Result};
use crate::revm::{deployed_size, verify_in_revm, EvmOutcome, EIP170_LIMIT};
use crate::rpc::{deploy_and_verify, RpcOutcome};
use crate::grouping::{aggregate_planned, PlannedAggregation, ShapeCache};
use crate::{calldata_shape, compile_solidity, direct_verifier_solidity, snark_from_parts, verifier_solidity, AggregatedProof, ACCUMULATOR_LIMBS};

/// File names inside `AGG_DIR`.
pub const PROOF_FILE: &str = "proof.json";
/// The aggregation's key material.
pub const AGGREGATION_FILE: &str = "aggregation.json";
/// The generated verifier source.
pub const SOLIDITY_FILE: &str = "Verifier.sol";
/// Its creation bytecode, hex.
pub const BYTECODE_FILE: &str = "Verifier.bin";

/// External programs the workflow runs.
#[derive(Clone, Debug)]
pub struct Tools {
    /// A `solc` answering `--standard-json` (the repository's shim over solc-js, or a native one).
    pub solc: PathBuf,
}

impl Tools {
    /// `ZKML_SOLC` if set, else `<repo>/.tools/bin/solc` (installed by `scripts/setup.sh`) if it
    /// exists, else `solc` from `PATH`.
    pub fn find(repo: &Path) -> Tools {
        if let Some(solc) = std::env::var_os("ZKML_SOLC") {
            return Tools { solc: solc.into() };
        }
        let local = repo.join(".tools").join("bin").join("solc");
        Tools { solc: if local.exists() { local } else { PathBuf::from("solc") } }
    }
}

pub use crate::grouping::{AggregationStep, Degree, GroupRecord, Grouping, MAX_PLANNED_K};

/// What [`aggregate_proofs`] produced.
#[derive(Clone, Debug)]
pub struct AggregationSummary {
    /// Size of the aggregated proof.
    pub proof_bytes: usize,
    /// Number of its public inputs (12 limbs + inner public inputs).
    pub public_inputs: usize,
    /// Whether the SRS used is the insecure development one.
    pub srs_insecure: bool,
    /// The aggregation degree used (of the final circuit, for two levels).
    pub degree: u32,
    /// The first-level groups of a two-level aggregation; empty for one level.
    pub groups: Vec<GroupRecord>,
}

/// Whether `dir` already holds an aggregation.
pub fn aggregation_exists(dir: &Path) -> bool {
    dir.join(PROOF_FILE).exists() || dir.join(AGGREGATION_FILE).exists()
}

fn io(path: &Path, e: std::io::Error) -> AggregatorError {
    AggregatorError::from(ProverError::io(path, e))
}

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

/// File name of the manifest in `AGG_DIR`.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of the record binding `Verifier.bin` to its aggregation.
pub const VERIFIER_RECORD_FILE: &str = "verifier.json";

/// Aggregates `proofs` (each a proof of one of the models compiled in `model_dirs`, matched by
/// its `model_hash`; several proofs may share a model) into one EVM proof, and writes
/// `out_dir/proof.json`, `aggregation.json` and `manifest.json`.
///
/// Each inner proof is verified natively first, so an invalid one is named instead of failing
/// deep inside the aggregation. The degree of the final circuit is chosen by `degree`; `grouping`
/// says whether the proofs are aggregated in one level or in two ([`crate::grouping`]). The
/// keygen decisions are cached per set of inner circuits and degree ([`ShapeCache`]): later
/// aggregations of proofs of the same models, in the same order, get the same verifying key, so
/// a verifier deployed once keeps working.
pub fn aggregate_proofs(
    model_dirs: &[PathBuf],
    proofs: &[PathBuf],
    out_dir: &Path,
    degree: Degree,
    grouping: Grouping,
    report: &dyn Fn(AggregationStep),
) -> Result<AggregationSummary> {
    if proofs.is_empty() {
        return Err(AggregatorError::InvalidInput("no proofs to aggregate".into()));
    }
    let store = SrsStore::default_location();
    // Inner proofs and the planning only read the SRS generators: any size of the store will do.
    let base_k = match degree {
        Degree::Exactly(k) => k,
        Degree::Fits | Degree::CheapestVerifier => crate::DEFAULT_AGG_K,
    };
    let base_srs = store.params(base_k)?;
    let fingerprint = srs_fingerprint(&base_srs.params);
    let mut models = Vec::with_capacity(model_dirs.len());
    for dir in model_dirs {
        let model = CompiledModel::load(dir)?;
        let inner_srs = store.params(model.layout.k)?;
        if srs_fingerprint(&inner_srs.params) != fingerprint {
            return Err(AggregatorError::InvalidInput(format!(
                "the SRS files for k = {} and k = {base_k} in {} come from different setups; keep one source per store",
                model.layout.k,
                store.dir().display()
            )));
        }
        let vk = keys::load_vk(dir, &model, &inner_srs.params)?;
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        models.push((hex::encode(model.hash()), model, vk, inner_srs, dir));
    }
    let mut snarks = Vec::with_capacity(proofs.len());
    let mut entries = Vec::with_capacity(proofs.len());
    let (mut inputs, mut outputs, mut commitments) = (Vec::new(), Vec::new(), Vec::new());
    let mut next_instance = ACCUMULATOR_LIMBS;
    for (index, path) in proofs.iter().enumerate() {
        let file = ProofFile::load(path)?;
        if file.transcript != TranscriptKind::Poseidon {
            return Err(AggregatorError::InvalidInput(format!(
                "{} was made with the {} transcript (for a direct verifier); aggregation needs a proof made without --evm",
                path.display(),
                file.transcript
            )));
        }
        let (hash, model, vk, inner_srs, dir) = models.iter().find(|(h, ..)| *h == file.model_hash).ok_or_else(|| {
            AggregatorError::InvalidInput(format!(
                "{} is a proof of a model that was not given (model hash {}); pass its compiled directory with --model",
                path.display(),
                file.model_hash
            ))
        })?;
        verify_model_proof(model, &inner_srs.params, vk, &file)
            .map_err(|e| AggregatorError::InnerProofInvalid { index, reason: format!("{}: {e}", path.display()) })?;
        inputs.extend(file.inputs.iter().cloned());
        outputs.extend(file.outputs.iter().cloned());
        commitments.extend(file.commitments.iter().map(|c| NamedCommitment { tensor: format!("proof {index} {}", c.tensor), value: c.value.clone() }));
        let instances = file.instance_values()?;
        entries.push(InnerProofEntry {
            file: path.display().to_string(),
            model_hash: hash.clone(),
            model_source: model.source.clone(),
            model_dir: dir.display().to_string(),
            first_instance: next_instance,
            instances: instances.len(),
            layout: model.quantized.public_sections().iter().map(ToString::to_string).collect(),
        });
        next_instance += instances.len();
        // The model's own SRS: from the aggregation SRS, each proof would pay for a downsized copy
        // (an FFT over G1, half a minute at k = 17).
        snarks.push(snark_from_parts(&inner_srs.params, vk, vec![instances], file.proof_bytes()?)?);
    }
    let cache = ShapeCache::new(fingerprint);
    let PlannedAggregation { proof: mut aggregated, degree: k, groups, srs_insecure } =
        aggregate_planned(&store, &base_srs.params, &cache, snarks, degree, grouping, report)?;
    // Two levels expose the same public inputs as one: report them per inner proof, not per group.
    aggregated.inner_instance_counts = entries.iter().map(|e| e.instances).collect();

    std::fs::create_dir_all(out_dir).map_err(|e| io(out_dir, e))?;
    let vk_hash = hex::encode(Sha256::digest(&aggregated.vk));
    let proof_file = ProofFile {
        format_version: FORMAT_VERSION,
        model_hash: vk_hash.clone(),
        proof: format!("0x{}", hex::encode(&aggregated.proof)),
        instances: aggregated.instances.iter().map(fr_to_hex).collect(),
        inputs,
        outputs,
        commitments,
        transcript: TranscriptKind::Evm,
        // Each inner proof's context word is among `instances`, where the manifest's layout says.
        context: None,
    };
    proof_file.save(&out_dir.join(PROOF_FILE))?;
    write_json(&out_dir.join(AGGREGATION_FILE), &aggregated)?;
    let manifest = AggregationManifest {
        format_version: FORMAT_VERSION,
        degree: k,
        aggregation_vk_hash: vk_hash,
        srs_fingerprint: hex::encode(fingerprint),
        srs_insecure,
        proofs: entries,
        groups: groups.clone(),
    };
    write_json(&out_dir.join(MANIFEST_FILE), &manifest)?;
    // A verifier of an earlier aggregation in this directory no longer matches.
    for stale in [SOLIDITY_FILE, BYTECODE_FILE, VERIFIER_RECORD_FILE] {
        let _ = std::fs::remove_file(out_dir.join(stale));
    }
    Ok(AggregationSummary {
        proof_bytes: aggregated.proof.len(),
        public_inputs: aggregated.instances.len(),
        srs_insecure,
        degree: k,
        groups,
    })
}

pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let json = serde_json::to_vec_pretty(value).map_err(|e| AggregatorError::Internal { context: "serializing", message: e.to_string() })?;
    Ok(zkml_prover::atomic_file::write_atomically(path, |w| std::io::Write::write_all(w, &json))?)
}

/// Reads `AGG_DIR/manifest.json`.
pub fn load_manifest(agg_dir: &Path) -> Result<AggregationManifest> {
    let path = agg_dir.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
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

fn load_aggregation(agg_dir: &Path) -> Result<AggregatedProof> {
    let path = agg_dir.join(AGGREGATION_FILE);
    if !path.exists() {
        return Err(AggregatorError::InvalidInput(format!("{} not found: run `zkml aggregate` first", path.display())));
    }
    let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| AggregatorError::InvalidInput(format!("{} is corrupt: {e}", path.display())))
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
/// again from the compiled models ([`crate::derive`]), looked for in `model_dirs` and then where
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

fn write_aggregation_verifier(agg_dir: &Path, tools: &Tools, model_dirs: &[PathBuf]) -> Result<VerifierSummary> {
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

/// Subdirectory of a model directory where [`write_aggregated_verifier_for_model`] puts its
/// aggregation.
pub const MODEL_AGGREGATION_DIR: &str = "aggregated";

/// For a model whose direct verifier does not fit EIP-170: proves the model once on `sample` (or
/// an all-zero input; Poseidon transcript; a zero context word if it has one), aggregates that proof into `MODEL_DIR/aggregated` at
/// the planned degree, and writes the aggregation's verifier there. The aggregation's shape is
/// cached ([`ShapeCache`]), so `zkml aggregate` of any later proof of this model gets the same
/// verifying key, and this verifier accepts it. Returns the aggregation directory and what was
/// written.
pub fn write_aggregated_verifier_for_model(model_dir: &Path, sample: Option<&[Vec<f32>]>, tools: &Tools) -> Result<(PathBuf, AggregationSummary, VerifierSummary)> {
    let model = CompiledModel::load(model_dir)?;
    let srs = keys::model_srs(&model)?;
    let pk = keys::load_pk(model_dir, &model, &srs.params)?;
    let zeros: Vec<Vec<f32>> = model.quantized.inputs.iter().map(|&i| vec![0.0; model.quantized.nodes[i].shape.iter().product()]).collect();
    // Any context word and salts serve: the aggregation's shape does not depend on public values.
    let options = zkml_prover::proof::ProveOptions {
        transcript: TranscriptKind::Poseidon,
        context: model.quantized.visibility.context.then(|| Fr::from(0)),
        salts: model.quantized.placeholder_salts(),
    };
    let sample = zkml_prover::proof::prove_with(&model, &srs.params, &pk, sample.unwrap_or(&zeros), &options)?;
    let agg_dir = model_dir.join(MODEL_AGGREGATION_DIR);
    std::fs::create_dir_all(&agg_dir).map_err(|e| io(&agg_dir, e))?;
    let sample_path = agg_dir.join("sample-proof.json");
    sample.save(&sample_path)?;
    let summary = aggregate_proofs(&[model_dir.to_path_buf()], &[sample_path], &agg_dir, Degree::Fits, Grouping::Auto, &|_| {})?;
    let verifier = write_aggregation_verifier(&agg_dir, tools, &[model_dir.to_path_buf()])?;
    Ok((agg_dir, summary, verifier))
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

/// The proof a verifier in `dir` is to check: `proof` if given, else `dir/proof.json` (an
/// aggregation's own proof). Refuses a proof of other circuits than the verifier's, or one made
/// with a transcript the EVM cannot read.
pub fn load_proof_for(dir: &Path, record: &VerifierRecord, proof: Option<&Path>) -> Result<ProofFile> {
    let path = match (proof, record.kind) {
        (Some(p), _) => p.to_path_buf(),
        (None, VerifierKind::Aggregated) => dir.join(PROOF_FILE),
        (None, VerifierKind::Direct) => {
            return Err(AggregatorError::InvalidInput(format!(
                "{} holds a direct verifier: name the proof to check (a PROOF.json made with `zkml prove --evm`)",
                dir.display()
            )))
        }
    };
    let file = ProofFile::load(&path)?;
    if file.model_hash != record.accepts_model_hash {
        return Err(AggregatorError::InvalidInput(format!(
            "{} is not a proof this verifier checks: it was generated for {} proofs with model hash {}, the proof has {}",
            path.display(),
            record.kind,
            record.accepts_model_hash,
            file.model_hash
        )));
    }
    if file.transcript != TranscriptKind::Evm {
        return Err(AggregatorError::InvalidInput(format!(
            "{} was made with the {} transcript, which the EVM verifier does not read: prove again with `zkml prove --evm`, or aggregate it",
            path.display(),
            file.transcript
        )));
    }
    Ok(file)
}

/// The verifier bytecode of `dir` and the calldata of the proof it is to check.
fn bytecode_and_calldata(dir: &Path, proof: Option<&Path>) -> Result<(Vec<u8>, Vec<u8>)> {
    let (bytecode, record) = load_verifier(dir)?;
    let file = load_proof_for(dir, &record, proof)?;
    let calldata = crate::encode_calldata(&file.instance_values()?, &file.proof_bytes()?);
    Ok((bytecode, calldata))
}

/// `DIR/deployment.json`: where the verifier of `DIR` was deployed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DeploymentRecord {
    /// Artifact format version.
    pub format_version: u32,
    /// The node it was deployed through.
    pub rpc_url: String,
    /// The chain id the node reported.
    pub chain_id: u64,
    /// The verifier's address.
    pub address: String,
    /// The deployment transaction.
    pub tx_hash: String,
    /// The `model_hash` of the proofs the deployed verifier checks (see [`VerifierRecord`]).
    #[serde(alias = "aggregation_vk_hash")]
    pub accepts_model_hash: String,
    /// Number of public inputs the verifier reads.
    pub public_inputs: usize,
}

/// File name of the deployment record in `DIR`.
pub const DEPLOYMENT_FILE: &str = "deployment.json";

/// Deploys `DIR/Verifier.bin` (checked against `DIR/verifier.json`) to the node at `rpc_url` and
/// writes `DIR/deployment.json`. An existing record is kept unless `replace`. A verifier generated
/// over the development SRS (which accepts forged proofs) is refused unless `insecure_srs`.
pub async fn deploy_verifier(dir: &Path, rpc_url: &str, private_key: Option<&str>, replace: bool, insecure_srs: bool) -> Result<DeploymentRecord> {
    let record_path = dir.join(DEPLOYMENT_FILE);
    if record_path.exists() && !replace {
        return Err(AggregatorError::InvalidInput(format!(
            "{} already records a deployment; pass --force to deploy again and replace it",
            record_path.display()
        )));
    }
    let (bytecode, verifier) = load_verifier(dir)?;
    if verifier.on_development_srs() && !insecure_srs {
        return Err(AggregatorError::InvalidInput(format!(
            "the verifier in {} was generated over the INSECURE development SRS{}: anybody can forge proofs it accepts. For production, import a ceremony SRS (zkml srs import FILE.ptau --k K) and make the keys, proofs and verifier again; to deploy it anyway (tests, a local node), pass --insecure-dev-srs",
            dir.display(),
            if verifier.srs_insecure.is_none() { " (or its verifier.json is too old to say)" } else { "" }
        )));
    }
    let deployment = crate::rpc::deploy(rpc_url, private_key, &bytecode).await?;
    let record = DeploymentRecord {
        format_version: FORMAT_VERSION,
        rpc_url: rpc_url.to_string(),
        chain_id: deployment.chain_id,
        address: format!("{:?}", deployment.address),
        tx_hash: format!("{:?}", deployment.tx_hash),
        accepts_model_hash: verifier.accepts_model_hash,
        public_inputs: verifier.public_inputs,
    };
    write_json(&record_path, &record)?;
    Ok(record)
}

/// Verifies a proof (`proof`, or `DIR/proof.json` for an aggregation) with the verifier recorded
/// in `DIR/deployment.json` (no new deployment); refuses a record made for other proofs.
pub async fn evm_verify_deployed(dir: &Path, proof: Option<&Path>, rpc_url: &str, private_key: Option<&str>) -> Result<RpcOutcome> {
    let path = dir.join(DEPLOYMENT_FILE);
    let bytes = std::fs::read(&path).map_err(|_| AggregatorError::InvalidInput(format!("{} not found: run `zkml deploy` first", path.display())))?;
    let record: DeploymentRecord =
        serde_json::from_slice(&bytes).map_err(|e| AggregatorError::InvalidInput(format!("{} is corrupt: {e}", path.display())))?;
    let (_, verifier) = load_verifier(dir)?;
    let file = load_proof_for(dir, &verifier, proof)?;
    if record.accepts_model_hash != file.model_hash {
        return Err(AggregatorError::InvalidInput(format!("{}: the deployed verifier checks other proofs", path.display())));
    }
    let calldata = crate::encode_calldata(&file.instance_values()?, &file.proof_bytes()?);
    let address = record.address.parse().map_err(|e| AggregatorError::InvalidInput(format!("{}: bad address: {e}", path.display())))?;
    crate::rpc::verify_at(rpc_url, private_key, address, &calldata).await
}

/// Runs the verifier of `dir` on a proof (`proof`, or `DIR/proof.json` for an aggregation) in the
/// embedded EVM.
pub fn evm_verify_local(dir: &Path, proof: Option<&Path>) -> Result<EvmOutcome> {
    let (bytecode, calldata) = bytecode_and_calldata(dir, proof)?;
    verify_in_revm(&bytecode, &calldata)
}

/// Deploys the verifier of `dir` to the node at `rpc_url` and verifies a proof there (`proof`, or
/// `DIR/proof.json` for an aggregation).
pub async fn evm_verify_rpc(dir: &Path, proof: Option<&Path>, rpc_url: &str, private_key: Option<&str>) -> Result<RpcOutcome> {
    let (bytecode, calldata) = bytecode_and_calldata(dir, proof)?;
    deploy_and_verify(rpc_url, private_key, &bytecode, &calldata).await
}
