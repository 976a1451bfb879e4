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
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zkml_prover::artifact::{srs_fingerprint, CompiledModel, FORMAT_VERSION};
use zkml_prover::field::fr_to_hex;
use zkml_prover::proof::{verify as verify_model_proof, NamedCommitment, ProofFile, TranscriptKind};
use zkml_prover::srs::SrsStore;
use zkml_prover::{keys, ProverError};

use crate::error::{AggregatorError, Result};
use crate::evm::revm::{verify_in_revm, EvmOutcome};
use crate::evm::rpc::{deploy_and_verify, RpcOutcome};
use crate::aggregate::grouping::{aggregate_planned, PlannedAggregation, ShapeCache};
use crate::{snark_from_parts, ACCUMULATOR_LIMBS};

pub use crate::aggregate::grouping::{AggregationStep, Degree, Grouping, MAX_PLANNED_K};
pub use crate::aggregate::records::{
    load_manifest, AggregationManifest, GroupRecord, InnerProofEntry, AGGREGATION_FILE, BYTECODE_FILE, MANIFEST_FILE, PROOF_FILE, SOLIDITY_FILE,
    VERIFIER_RECORD_FILE,
};
use crate::aggregate::records::write_json;
pub use crate::evm::solc::Tools;
pub use crate::evm::verifier_files::{export_solidity, load_verifier, write_evm_verifier, VerifierKind, VerifierRecord, VerifierSummary, INSECURE_SRS_HEADER};
use crate::evm::verifier_files::write_aggregation_verifier;

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

/// Aggregates `proofs` (each a proof of one of the models compiled in `model_dirs`, matched by
/// its `model_hash`; several proofs may share a model) into one EVM proof, and writes
/// `out_dir/proof.json`, `aggregation.json` and `manifest.json`.
///
/// Each inner proof is verified natively first, so an invalid one is named instead of failing
/// deep inside the aggregation. The degree of the final circuit is chosen by `degree`; `grouping`
/// says whether the proofs are aggregated in one level or in two ([`crate::aggregate::grouping`]). The
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
    let deployment = crate::evm::rpc::deploy(rpc_url, private_key, &bytecode).await?;
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
    crate::evm::rpc::verify_at(rpc_url, private_key, address, &calldata).await
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
