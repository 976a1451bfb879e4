//! The aggregation directory (`AGG_DIR`) and the steps the command line runs on it.
//!
//! `AGG_DIR` holds:
//! - `proof.json`: the aggregated proof in the same format as a model proof
//!   ([`zkml_prover::proof::ProofFile`]): `instances` are the 12 accumulator limbs followed by the
//!   inner proofs' public inputs, `outputs` the inner model outputs as floats;
//! - `aggregation.json`: the [`AggregatedProof`] with its verifying key and circuit configuration,
//!   from which the Solidity verifier is generated;
//! - `Verifier.sol` and `Verifier.bin` (hex creation bytecode), written by [`write_evm_verifier`].

use std::path::{Path, PathBuf};

use halo2_proofs::poly::commitment::Params;
use sha2::{Digest, Sha256};
use zkml_prover::artifact::{srs_fingerprint, CompiledModel, FORMAT_VERSION};
use zkml_prover::proof::{fr_to_hex, verify as verify_model_proof, NamedCommitment, ProofFile};
use zkml_prover::srs::SrsStore;
use zkml_prover::{keys, ProverError};

use crate::error::{AggregatorError, Result};
use crate::revm::{deployed_size, verify_in_revm, EvmOutcome};
use crate::rpc::{deploy_and_verify, RpcOutcome};
use crate::{aggregate, compile_solidity, snark_from_parts, verifier_solidity, AggregatedProof};

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

/// What [`aggregate_proofs`] produced.
#[derive(Clone, Debug)]
pub struct AggregationSummary {
    /// Size of the aggregated proof.
    pub proof_bytes: usize,
    /// Number of its public inputs (12 limbs + inner public inputs).
    pub public_inputs: usize,
    /// Whether the SRS used is the insecure development one.
    pub srs_insecure: bool,
}

/// Whether `dir` already holds an aggregation.
pub fn aggregation_exists(dir: &Path) -> bool {
    dir.join(PROOF_FILE).exists() || dir.join(AGGREGATION_FILE).exists()
}

fn io(path: &Path, e: std::io::Error) -> AggregatorError {
    AggregatorError::from(ProverError::io(path, e))
}

/// Aggregates the proofs in `proofs` (all of the model compiled in `model_dir`) with an
/// aggregation circuit of `2^k` rows, and writes `out_dir/proof.json` and
/// `out_dir/aggregation.json`. Each inner proof is verified natively first, so an invalid one is
/// named instead of failing deep inside the aggregation.
pub fn aggregate_proofs(model_dir: &Path, proofs: &[PathBuf], out_dir: &Path, k: u32) -> Result<AggregationSummary> {
    let model = CompiledModel::load(model_dir)?;
    let store = SrsStore::default_location();
    let inner_srs = store.params(model.layout.k)?;
    let agg_srs = store.params(k)?;
    if srs_fingerprint(&inner_srs.params) != srs_fingerprint(&agg_srs.params) {
        return Err(AggregatorError::InvalidInput(format!(
            "the SRS files for k = {} and k = {k} in {} come from different setups; keep one source per store",
            model.layout.k,
            store.dir().display()
        )));
    }
    let vk = keys::load_vk(model_dir, &model, &inner_srs.params)?;
    let mut snarks = Vec::with_capacity(proofs.len());
    let (mut inputs, mut outputs, mut commitments) = (Vec::new(), Vec::new(), Vec::new());
    for (index, path) in proofs.iter().enumerate() {
        let file = ProofFile::load(path)?;
        verify_model_proof(&model, &inner_srs.params, &vk, &file)
            .map_err(|e| AggregatorError::InnerProofInvalid { index, reason: format!("{}: {e}", path.display()) })?;
        inputs.extend(file.inputs.iter().cloned());
        outputs.extend(file.outputs.iter().cloned());
        commitments.extend(file.commitments.iter().map(|c| NamedCommitment { tensor: format!("proof {index} {}", c.tensor), value: c.value.clone() }));
        snarks.push(snark_from_parts(&inner_srs.params, &vk, vec![file.instance_values()?], file.proof_bytes()?)?);
    }
    let aggregated = aggregate(&agg_srs.params, snarks)?;

    std::fs::create_dir_all(out_dir).map_err(|e| io(out_dir, e))?;
    let proof_file = ProofFile {
        format_version: FORMAT_VERSION,
        model_hash: hex::encode(Sha256::digest(&aggregated.vk)),
        proof: format!("0x{}", hex::encode(&aggregated.proof)),
        instances: aggregated.instances.iter().map(fr_to_hex).collect(),
        inputs,
        outputs,
        commitments,
    };
    proof_file.save(&out_dir.join(PROOF_FILE))?;
    let json = serde_json::to_vec(&aggregated).map_err(|e| AggregatorError::Internal { context: "serializing", message: e.to_string() })?;
    let path = out_dir.join(AGGREGATION_FILE);
    std::fs::write(&path, json).map_err(|e| io(&path, e))?;
    Ok(AggregationSummary {
        proof_bytes: aggregated.proof.len(),
        public_inputs: aggregated.instances.len(),
        srs_insecure: agg_srs.source.is_insecure(),
    })
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
    /// The Solidity source.
    pub solidity: PathBuf,
    /// The hex creation bytecode.
    pub bytecode: PathBuf,
    /// Size of the deployed (runtime) bytecode.
    pub runtime_size: usize,
}

/// Generates the Solidity verifier of the aggregation in `agg_dir`, compiles it with
/// `tools.solc`, and writes `Verifier.sol` and `Verifier.bin`.
pub fn write_evm_verifier(agg_dir: &Path, tools: &Tools) -> Result<VerifierSummary> {
    let aggregated = load_aggregation(agg_dir)?;
    let srs = SrsStore::default_location().params(aggregated.config.degree)?;
    if srs.params.k() != aggregated.config.degree {
        return Err(AggregatorError::InvalidInput("SRS size does not match the aggregation".into()));
    }
    let vk = aggregated.verifying_key()?;
    let source = verifier_solidity(&srs.params, &vk, aggregated.instances.len())?;
    let bytecode = compile_solidity(&tools.solc, &source)?;
    let runtime_size = deployed_size(&bytecode)?;
    let (sol, bin) = (agg_dir.join(SOLIDITY_FILE), agg_dir.join(BYTECODE_FILE));
    std::fs::write(&sol, &source).map_err(|e| io(&sol, e))?;
    std::fs::write(&bin, hex::encode(&bytecode)).map_err(|e| io(&bin, e))?;
    Ok(VerifierSummary { solidity: sol, bytecode: bin, runtime_size })
}

/// The verifier bytecode and the calldata of `agg_dir/proof.json`.
fn bytecode_and_calldata(agg_dir: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let bin = agg_dir.join(BYTECODE_FILE);
    if !bin.exists() {
        return Err(AggregatorError::InvalidInput(format!("{} not found: run `zkml evm-verifier` first", bin.display())));
    }
    let text = std::fs::read_to_string(&bin).map_err(|e| io(&bin, e))?;
    let bytecode = hex::decode(text.trim().trim_start_matches("0x"))
        .map_err(|e| AggregatorError::InvalidInput(format!("{} is not hex: {e}", bin.display())))?;
    let proof = ProofFile::load(&agg_dir.join(PROOF_FILE))?;
    let calldata = crate::encode_calldata(&proof.instance_values()?, &proof.proof_bytes()?);
    Ok((bytecode, calldata))
}

/// Runs the verifier on `agg_dir/proof.json` in the embedded EVM.
pub fn evm_verify_local(agg_dir: &Path) -> Result<EvmOutcome> {
    let (bytecode, calldata) = bytecode_and_calldata(agg_dir)?;
    verify_in_revm(&bytecode, &calldata)
}

/// Deploys the verifier to the node at `rpc_url` and verifies `agg_dir/proof.json` there.
pub async fn evm_verify_rpc(agg_dir: &Path, rpc_url: &str, private_key: Option<&str>) -> Result<RpcOutcome> {
    let (bytecode, calldata) = bytecode_and_calldata(agg_dir)?;
    deploy_and_verify(rpc_url, private_key, &bytecode, &calldata).await
}
