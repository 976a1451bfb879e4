//! Proving and verifying one forward pass, and the proof file format.
//!
//! Proofs use SHPLONK over KZG with snark-verifier's Poseidon transcript, so the aggregator can
//! verify them inside its circuit. A proof file (`PROOF.json`) holds:
//! - `proof`: the proof bytes, 0x-prefixed hex;
//! - `instances`: the public inputs, each a 0x-prefixed 32-byte big-endian field element (the
//!   model outputs, see [`crate::circuit`]);
//! - `outputs`: the same outputs dequantized to floats, one list per model output;
//! - `model_hash` and `format_version`, so a proof is never checked against another model.

use std::path::Path;
use std::sync::Arc;

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{create_proof, verify_proof, ProvingKey, VerifyingKey};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use snark_verifier_sdk::halo2::{PoseidonTranscript, POSEIDON_SPEC};
use snark_verifier_sdk::NativeLoader;

use crate::artifact::{CompiledModel, FORMAT_VERSION};
use crate::circuit::ModelCircuit;
use crate::error::ProverError;
use crate::tensor::Tensor;

/// A proof of one forward pass, as stored in `PROOF.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProofFile {
    /// Format of this file.
    pub format_version: u32,
    /// Hex of [`CompiledModel::hash`] of the model proved.
    pub model_hash: String,
    /// The proof bytes, 0x-prefixed hex.
    pub proof: String,
    /// The public inputs, 0x-prefixed big-endian field elements.
    pub instances: Vec<String>,
    /// The model outputs as floats (dequantized public inputs), one list per output.
    pub outputs: Vec<Vec<f64>>,
}

/// Hex of a field element, big-endian (as Solidity reads a `uint256`).
pub fn fr_to_hex(f: &Fr) -> String {
    let mut bytes = f.to_repr();
    bytes.as_mut().reverse();
    format!("0x{}", hex::encode(bytes.as_ref()))
}

/// Parses [`fr_to_hex`]'s format, refusing values not below the field modulus.
pub fn fr_from_hex(s: &str) -> Result<Fr, ProverError> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    let mut bytes = hex::decode(digits).map_err(|e| ProverError::Artifact(format!("instance {s}: {e}")))?;
    if bytes.len() != 32 {
        return Err(ProverError::Artifact(format!("instance {s}: expected 32 bytes")));
    }
    bytes.reverse();
    let mut repr = <Fr as PrimeField>::Repr::default();
    repr.as_mut().copy_from_slice(&bytes);
    Option::from(Fr::from_repr(repr)).ok_or_else(|| ProverError::Artifact(format!("instance {s} is not a field element")))
}

/// The integer a field element stands for, if it is a small signed value.
pub fn fr_to_i128(f: &Fr) -> Option<i128> {
    let small = |x: &Fr| {
        let repr = x.to_repr();
        let b = repr.as_ref();
        if b[16..].iter().any(|&x| x != 0) {
            return None;
        }
        Some(u128::from_le_bytes(b[..16].try_into().unwrap()))
    };
    match small(f) {
        Some(v) if v < (1u128 << 126) => Some(v as i128),
        _ => small(&-*f).filter(|&v| v < (1u128 << 126)).map(|v| -(v as i128)),
    }
}

impl ProofFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ProverError> {
        let bytes = std::fs::read(path).map_err(|e| ProverError::io(path, e))?;
        let file: ProofFile = serde_json::from_slice(&bytes)
            .map_err(|e| ProverError::Artifact(format!("{} is not a proof file: {e}", path.display())))?;
        if file.format_version != FORMAT_VERSION {
            return Err(ProverError::Artifact(format!("{}: format version {}, expected {FORMAT_VERSION}", path.display(), file.format_version)));
        }
        Ok(file)
    }

    /// Writes the file as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<(), ProverError> {
        let json = serde_json::to_string_pretty(self).map_err(|e| ProverError::Artifact(e.to_string()))?;
        std::fs::write(path, json + "\n").map_err(|e| ProverError::io(path, e))
    }

    /// The proof bytes.
    pub fn proof_bytes(&self) -> Result<Vec<u8>, ProverError> {
        hex::decode(self.proof.strip_prefix("0x").unwrap_or(&self.proof)).map_err(|e| ProverError::Artifact(format!("proof is not hex: {e}")))
    }

    /// The public inputs as field elements.
    pub fn instance_values(&self) -> Result<Vec<Fr>, ProverError> {
        self.instances.iter().map(|s| fr_from_hex(s)).collect()
    }
}

/// Proves one forward pass of `model` on float `inputs` (one flat row-major list per input).
pub fn prove(model: &CompiledModel, params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, inputs: &[Vec<f32>]) -> Result<ProofFile, ProverError> {
    let q = &model.quantized;
    if inputs.len() != q.inputs.len() {
        return Err(ProverError::Input(format!("the model takes {} input(s), got {}", q.inputs.len(), inputs.len())));
    }
    let tensors = inputs.iter().enumerate().map(|(i, x)| q.quantize_input(i, x)).collect::<Result<Vec<Tensor<i64>>, _>>()?;
    let (circuit, instances) = ModelCircuit::prover(Arc::new(q.clone()), model.layout, tensors)?;
    let mut transcript = PoseidonTranscript::<NativeLoader, Vec<u8>>::from_spec(vec![], POSEIDON_SPEC.clone());
    create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
        params,
        pk,
        &[circuit],
        &[&[&instances]],
        OsRng,
        &mut transcript,
    )?;
    let proof = transcript.finalize();
    Ok(ProofFile {
        format_version: FORMAT_VERSION,
        model_hash: hex::encode(model.hash()),
        proof: format!("0x{}", hex::encode(&proof)),
        instances: instances.iter().map(fr_to_hex).collect(),
        outputs: outputs_from_instances(model, &instances)?,
    })
}

/// The model outputs (floats) encoded in a proof's public inputs.
pub fn outputs_from_instances(model: &CompiledModel, instances: &[Fr]) -> Result<Vec<Vec<f64>>, ProverError> {
    let q = &model.quantized;
    let mut rest = instances;
    let mut outputs = vec![];
    for &o in &q.outputs {
        let n: usize = q.nodes[o].shape.iter().product();
        if rest.len() < n {
            return Err(ProverError::Artifact("fewer public inputs than model outputs".into()));
        }
        let (head, tail) = rest.split_at(n);
        outputs.push(
            head.iter()
                .map(|f| fr_to_i128(f).map(|v| v as f64 / (1u64 << q.config.scale_bits) as f64))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ProverError::Artifact("a public input is not a small integer".into()))?,
        );
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(ProverError::Artifact("more public inputs than model outputs".into()));
    }
    Ok(outputs)
}

/// Checks `proof` against `model`'s verifying key. `Ok(())` only for a valid proof of the public
/// inputs in the file; the file's `outputs` must also match its instances.
pub fn verify(model: &CompiledModel, params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, proof: &ProofFile) -> Result<(), ProverError> {
    if proof.model_hash != hex::encode(model.hash()) {
        return Err(ProverError::Artifact("the proof is for another model (model_hash differs)".into()));
    }
    let instances = proof.instance_values()?;
    if instances.len() != model.layout.public_inputs {
        return Err(ProverError::Artifact(format!(
            "the proof has {} public inputs, the model {}",
            instances.len(),
            model.layout.public_inputs
        )));
    }
    if outputs_from_instances(model, &instances)? != proof.outputs {
        return Err(ProverError::Artifact("the `outputs` of the proof file do not match its public inputs".into()));
    }
    verify_raw(params, vk, &instances, &proof.proof_bytes()?)
}

/// Verifies raw proof bytes against public inputs (Poseidon transcript, SHPLONK).
pub fn verify_raw(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, instances: &[Fr], proof: &[u8]) -> Result<(), ProverError> {
    let mut transcript = PoseidonTranscript::<NativeLoader, &[u8]>::from_spec(proof, POSEIDON_SPEC.clone());
    verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, _>(
        params,
        vk,
        SingleStrategy::new(params),
        &[&[instances]],
        &mut transcript,
    )
    .map_err(|e| ProverError::Plonk(format!("the proof is invalid ({e:?})")))
}
