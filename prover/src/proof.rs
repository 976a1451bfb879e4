//! Proving and verifying one forward pass, and the proof file format.
//!
//! Proofs use SHPLONK over KZG. By default the Fiat–Shamir transcript is snark-verifier's Poseidon
//! one, so the aggregator can verify the proof inside its circuit; a proof meant for a direct
//! Solidity verifier uses the keccak (EVM) transcript instead ([`TranscriptKind`]). A proof file
//! (`PROOF.json`) holds:
//! - `proof`: the proof bytes, 0x-prefixed hex;
//! - `instances`: the public inputs, each a 0x-prefixed 32-byte big-endian field element, in the
//!   order of [`crate::visibility`] (input section, params commitment, output section, context
//!   word);
//! - `inputs` and `outputs`: the public input and output values dequantized to floats, one list
//!   per model input/output (empty for one that is not public);
//! - `commitments`: the Poseidon commitments among the public inputs, named by what they commit to;
//! - `context`: the context word, for a model compiled with one (absent otherwise);
//! - `model_hash` and `format_version`, so a proof is never checked against another model;
//! - `transcript`: `poseidon` (absent in older files) or `evm`.

use std::path::Path;
use std::sync::Arc;

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, verify_proof, ProvingKey, VerifyingKey};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use halo2_proofs::transcript::{TranscriptReadBuffer, TranscriptWriterBuffer};
use snark_verifier_sdk::halo2::{PoseidonTranscript, POSEIDON_SPEC};
use snark_verifier_sdk::snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use snark_verifier_sdk::NativeLoader;

use crate::artifact::{CompiledModel, FORMAT_VERSION};
use crate::circuit::ModelCircuit;
use crate::error::ProverError;
use crate::commitment::{commit_ints, commit_ints_salted};
use crate::field::{fe, fr_from_hex, fr_from_word_hex, fr_to_hex, fr_to_i128};
use crate::tensor::Tensor;
use crate::visibility::{PublicTensor, Salts, Visibility};

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
    /// The public model inputs as floats, one list per input (empty unless the input is public).
    #[serde(default)]
    pub inputs: Vec<Vec<f64>>,
    /// The model outputs as floats, one list per output (empty unless the output is public).
    pub outputs: Vec<Vec<f64>>,
    /// The commitments among the public inputs.
    #[serde(default)]
    pub commitments: Vec<NamedCommitment>,
    /// The transcript the proof was made with.
    #[serde(default)]
    pub transcript: TranscriptKind,
    /// The context word, as in `instances`, for a model compiled with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// The Fiat–Shamir transcript of a proof: which hash turns the prover's messages into challenges.
/// A verifier must use the same one, so it decides where a proof can be checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptKind {
    /// Poseidon over BN254's scalar field: cheap inside a circuit, so `zkml aggregate` can verify
    /// the proof recursively. Not what a Solidity verifier reads.
    #[default]
    Poseidon,
    /// Keccak-256 (snark-verifier's EVM transcript): what a direct Solidity verifier reads, and what
    /// aggregated proofs use. Cannot be aggregated.
    Evm,
}

impl std::fmt::Display for TranscriptKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TranscriptKind::Poseidon => "poseidon",
            TranscriptKind::Evm => "evm",
        })
    }
}

/// A Poseidon commitment among a proof's public inputs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamedCommitment {
    /// What it commits to: `input N`, `params` or `output N`.
    pub tensor: String,
    /// The commitment, as in `instances`.
    pub value: String,
}

/// What a proof's public inputs say, read with the model's visibility settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PublicValues {
    /// Each model input dequantized (empty unless public).
    pub inputs: Vec<Vec<f64>>,
    /// Each model output dequantized (empty unless public).
    pub outputs: Vec<Vec<f64>>,
    /// The commitments, in order.
    pub commitments: Vec<NamedCommitment>,
    /// The context word (hex, as in a proof file's `instances`), for a model compiled with one.
    pub context: Option<String>,
}

/// Refuses a context word for a model compiled without one, and its absence for a model with one.
pub fn check_context(model: &CompiledModel, given: bool) -> Result<(), ProverError> {
    match (model.quantized.visibility.context, given) {
        (true, false) => Err(ProverError::Input("the model's proofs carry a context word (compiled with --context-word): give one with zkml prove --context 0x…".into())),
        (false, true) => Err(ProverError::Input("the model was compiled without a context word (zkml compile --context-word)".into())),
        _ => Ok(()),
    }
}

/// Reads a context word: 0x-prefixed hex of at most 32 bytes, big-endian (an address is
/// left-padded, as Solidity's `uint256(uint160(addr))`), below the BN254 scalar modulus.
pub fn parse_context_word(s: &str) -> Result<Fr, ProverError> {
    fr_from_word_hex(s).map_err(|why| ProverError::Input(format!("context word {s}: {why} (0x and at most 64 hex digits, below the BN254 scalar modulus)")))
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
        self.instances.iter().map(|s| fr_from_hex(s).map_err(|e| ProverError::Artifact(format!("instance {e}")))).collect()
    }
}

/// Proves one forward pass of `model` on float `inputs` (one flat row-major list per input), with
/// the Poseidon transcript (aggregatable). See [`prove_with`].
pub fn prove(model: &CompiledModel, params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, inputs: &[Vec<f32>]) -> Result<ProofFile, ProverError> {
    prove_with(model, params, pk, inputs, &ProveOptions::default())
}

/// What a proof is made with besides the model and its inputs.
#[derive(Clone, Debug, Default)]
pub struct ProveOptions {
    /// Poseidon for proofs to aggregate, EVM (keccak) for a direct Solidity verifier.
    pub transcript: TranscriptKind,
    /// The context word, required exactly when the model was compiled with one.
    pub context: Option<Fr>,
    /// The salts of the salted commitments, required exactly for those (secret: not written
    /// into the proof file).
    pub salts: Salts,
}

/// Proves one forward pass of `model` on float `inputs` with `options` (transcript, context
/// word, salts): [`prepare`], then [`PreparedProof::prove`].
pub fn prove_with(
    model: &CompiledModel,
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    inputs: &[Vec<f32>],
    options: &ProveOptions,
) -> Result<ProofFile, ProverError> {
    prepare(model, inputs, options)?.prove(params, pk)
}

/// A proof ready to be made: the circuit with its witness (the forward pass, computed once for
/// the whole proof) and its public inputs.
pub struct PreparedProof<'m> {
    model: &'m CompiledModel,
    circuit: ModelCircuit,
    instances: Vec<Fr>,
    transcript: TranscriptKind,
}

/// Checks `inputs` and `options` against `model` and runs the forward pass the proof is made of.
/// Cheap next to proving, so a command line calls it before loading the proving key: an input
/// the circuit cannot prove is refused here, naming the layer.
pub fn prepare<'m>(model: &'m CompiledModel, inputs: &[Vec<f32>], options: &ProveOptions) -> Result<PreparedProof<'m>, ProverError> {
    let q = &model.quantized;
    if inputs.len() != q.inputs.len() {
        return Err(ProverError::Input(format!("the model takes {} input(s), got {}", q.inputs.len(), inputs.len())));
    }
    let ProveOptions { transcript, context, salts } = options;
    check_context(model, context.is_some())?;
    q.check_salts(salts)?;
    let tensors = inputs.iter().enumerate().map(|(i, x)| model.quantize_input(i, x)).collect::<Result<Vec<Tensor<i64>>, _>>()?;
    let (circuit, mut instances) = ModelCircuit::prover(Arc::new(q.clone()), model.layout.clone(), tensors, salts.clone())?;
    instances.extend(*context);
    Ok(PreparedProof { model, circuit, instances, transcript: *transcript })
}

impl PreparedProof<'_> {
    /// Makes the proof with the proving key `pk` of the model over `params`.
    pub fn prove(self, params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>) -> Result<ProofFile, ProverError> {
        let PreparedProof { model, circuit, instances, transcript } = self;
        let proof = match transcript {
            TranscriptKind::Poseidon => {
                let mut t = PoseidonTranscript::<NativeLoader, Vec<u8>>::from_spec(vec![], POSEIDON_SPEC.clone());
                create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(params, pk, &[circuit], &[&[&instances]], OsRng, &mut t)?;
                t.finalize()
            }
            TranscriptKind::Evm => {
                let mut t = <EvmTranscript<G1Affine, NativeLoader, Vec<u8>, Vec<u8>> as TranscriptWriterBuffer<_, _, _>>::init(vec![]);
                create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(params, pk, &[circuit], &[&[&instances]], OsRng, &mut t)?;
                t.finalize()
            }
        };
        let public = decode_public(model, &instances)?;
        Ok(ProofFile {
            format_version: FORMAT_VERSION,
            model_hash: hex::encode(model.hash()),
            proof: format!("0x{}", hex::encode(&proof)),
            instances: instances.iter().map(fr_to_hex).collect(),
            inputs: public.inputs,
            outputs: public.outputs,
            commitments: public.commitments,
            transcript,
            context: public.context,
        })
    }
}

/// Reads `instances` as `model`'s public inputs (see [`crate::visibility`]).
pub fn decode_public(model: &CompiledModel, instances: &[Fr]) -> Result<PublicValues, ProverError> {
    let q = &model.quantized;
    if instances.len() != q.public_input_count() {
        return Err(ProverError::Artifact(format!("the proof has {} public inputs, the model {}", instances.len(), q.public_input_count())));
    }
    let mut decoded = PublicValues { inputs: vec![vec![]; q.inputs.len()], outputs: vec![vec![]; q.outputs.len()], commitments: vec![], context: None };
    let mut rest = instances;
    for section in q.public_sections() {
        let (head, tail) = rest.split_at(section.len);
        rest = tail;
        if section.commitment {
            decoded.commitments.push(NamedCommitment { tensor: section.tensor.to_string(), value: fr_to_hex(&head[0]) });
            continue;
        }
        if section.tensor == PublicTensor::Context {
            decoded.context = Some(fr_to_hex(&head[0]));
            continue;
        }
        let values = head
            .iter()
            .map(|f| fr_to_i128(f).map(|v| v as f64 / (1u64 << q.config.scale_bits) as f64))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ProverError::Artifact(format!("a public value of {} is not a small integer", section.tensor)))?;
        match section.tensor {
            PublicTensor::Input(i) => decoded.inputs[i] = values,
            PublicTensor::Output(i) => decoded.outputs[i] = values,
            PublicTensor::Params | PublicTensor::Context => return Err(ProverError::Artifact(format!("{} is never a run of values", section.tensor))),
        }
    }
    Ok(decoded)
}

/// Checks `proof` against `model`'s verifying key. `Ok(())` only for a valid proof of the public
/// inputs in the file, whose `inputs`, `outputs` and `commitments` must match its instances. With
/// hashed parameters the commitment must be that of this model's parameters (salted ones cannot
/// be recomputed without the salt: compare them with the commitment the model's owner published).
pub fn verify(model: &CompiledModel, params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, proof: &ProofFile) -> Result<(), ProverError> {
    if proof.model_hash != hex::encode(model.hash()) {
        return Err(ProverError::Artifact("the proof is for another model (model_hash differs)".into()));
    }
    let instances = proof.instance_values()?;
    let public = decode_public(model, &instances)?;
    if public.outputs != proof.outputs || public.inputs != proof.inputs || public.commitments != proof.commitments || public.context != proof.context {
        return Err(ProverError::Artifact("the `inputs`, `outputs`, `commitments` or `context` of the proof file do not match its public inputs".into()));
    }
    let params_hashed = model.quantized.visibility.params == Visibility::Hashed;
    if let Some(c) = public.commitments.iter().find(|c| params_hashed && c.tensor == PublicTensor::Params.to_string()) {
        if c.value != fr_to_hex(&commit_ints(&model.quantized.params())) {
            return Err(ProverError::Artifact("the proof commits to other parameters than this model's".into()));
        }
    }
    verify_raw_with(params, vk, &instances, &proof.proof_bytes()?, proof.transcript)
}

/// Checks that `proof` is about the float `inputs`: its public input values, or its input
/// commitments, must be those of `inputs` quantized (with their salts, for salted inputs). Errors
/// when the proof reveals nothing about one of the inputs (private visibility), since it could
/// not confirm that one, or when a salted input's salt is not among `salts`.
pub fn check_inputs(model: &CompiledModel, proof: &ProofFile, inputs: &[Vec<f32>], salts: &Salts) -> Result<(), ProverError> {
    let q = &model.quantized;
    if let Some(i) = (0..q.inputs.len()).find(|&i| q.visibility.input.of(i) == Visibility::Private) {
        let which = if q.inputs.len() == 1 { "the model's input is".to_string() } else { format!("input {i} of the model is") };
        return Err(ProverError::Input(format!("{which} private: a proof says nothing about which input it ran on")));
    }
    if inputs.len() != q.inputs.len() {
        return Err(ProverError::Input(format!("the model takes {} input(s), got {}", q.inputs.len(), inputs.len())));
    }
    let instances = proof.instance_values()?;
    let mut offset = 0;
    for section in q.public_sections() {
        if let PublicTensor::Input(i) = section.tensor {
            let values = model.quantize_input(i, &inputs[i])?.data().to_vec();
            let salt = salts.of(&section.tensor);
            if section.salted && salt.is_none() {
                return Err(ProverError::Input(format!("{} is salted: give its salt (--salt {}=HEX) to check it", section.tensor, Salts::name(&section.tensor))));
            }
            let expected: Vec<Fr> = if section.commitment {
                vec![commit_ints_salted(&values, salt.filter(|_| section.salted))]
            } else {
                values.iter().map(|&v| fe(v as i128)).collect()
            };
            if instances.get(offset..offset + section.len) != Some(expected.as_slice()) {
                return Err(ProverError::Artifact(format!("the proof is about another {} than the one given", section.tensor)));
            }
        }
        offset += section.len;
    }
    Ok(())
}

/// Verifies raw proof bytes against public inputs (Poseidon transcript, SHPLONK).
pub fn verify_raw(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, instances: &[Fr], proof: &[u8]) -> Result<(), ProverError> {
    verify_raw_with(params, vk, instances, proof, TranscriptKind::Poseidon)
}

/// Verifies raw proof bytes against public inputs (SHPLONK) with the given transcript.
pub fn verify_raw_with(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Fr],
    proof: &[u8],
    transcript: TranscriptKind,
) -> Result<(), ProverError> {
    // The transcript reads through `rest`, which is left holding what it did not read.
    let mut rest = proof;
    let result = match transcript {
        TranscriptKind::Poseidon => {
            let mut t = PoseidonTranscript::<NativeLoader, &mut &[u8]>::from_spec(&mut rest, POSEIDON_SPEC.clone());
            verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, _>(params, vk, SingleStrategy::new(params), &[&[instances]], &mut t)
        }
        TranscriptKind::Evm => {
            let mut t = <EvmTranscript<G1Affine, NativeLoader, &mut &[u8], Vec<u8>> as TranscriptReadBuffer<_, _, _>>::init(&mut rest);
            verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, _>(params, vk, SingleStrategy::new(params), &[&[instances]], &mut t)
        }
    };
    result.map_err(|e| ProverError::Plonk(format!("the proof is invalid ({e:?})")))?;
    // halo2 stops reading at the proof's end: bytes after it would make one proof many (a contract
    // keyed on the proof's hash would take each for new).
    if !rest.is_empty() {
        return Err(ProverError::Plonk(format!("the proof is invalid ({} byte(s) after its end)", rest.len())));
    }
    Ok(())
}
