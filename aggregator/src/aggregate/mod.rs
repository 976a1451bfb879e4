//! Recursive aggregation: many inner SHPLONK proofs (Poseidon transcript) → one SHPLONK proof of
//! the snark-verifier `AggregationCircuit` with a keccak transcript, ready for the EVM.
//!
//! [`snark`] wraps inner proofs and checks them before aggregation; this module proves one level;
//! [`grouping`] plans and runs one or two levels; [`records`] are the files an aggregation
//! writes; [`derive`] recomputes an aggregation's keys from the compiled models, so a verifier
//! need not trust the prover's; [`calldata`] encodes a proof for the EVM.

pub mod calldata;
pub mod derive;
pub mod grouping;
pub mod records;
pub mod snark;

use crate::error::{catch_panic, AggregatorError, Result};
use crate::aggregate::snark::{carries_accumulators, check_inner, deciding_key, exposed_instance_counts, group_protocol, ACCUMULATOR_LIMBS};
use halo2_proofs::{
    halo2curves::bn256::{Bn256, Fr, G1Affine},
    plonk::{create_proof, keygen_pk2, keygen_vk_custom, verify_proof, ProvingKey, VerifyingKey},
    poly::{
        commitment::{Params, ParamsProver},
        kzg::{
            commitment::{KZGCommitmentScheme, ParamsKZG},
            multiopen::{ProverSHPLONK, VerifierSHPLONK},
            strategy::AccumulatorStrategy,
        },
        VerificationStrategy,
    },
    transcript::{EncodedChallenge, TranscriptReadBuffer, TranscriptWrite, TranscriptWriterBuffer},
    SerdeFormat,
};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use snark_verifier_sdk::{
    halo2::{
        aggregation::{AggregationCircuit, VerifierUniversality}, PoseidonTranscript, POSEIDON_SPEC,
    },
    snark_verifier::{
        halo2_base::gates::circuit::CircuitBuilderStage,
        pcs::{
            kzg::LimbsEncoding,
            AccumulationDecider, AccumulatorEncoding,
        },
        system::halo2::transcript::evm::EvmTranscript,
    },
    CircuitExt, NativeLoader, BITS, LIMBS, SHPLONK,
};

pub use snark_verifier_sdk::halo2::aggregation::AggregationConfigParams;
pub use snark_verifier_sdk::snark_verifier::halo2_base::gates::flex_gate::MultiPhaseThreadBreakPoints;
pub use snark_verifier_sdk::Snark;

/// Default degree of the aggregation circuit (2^20 rows, 6 advice columns for two small proofs).
pub const DEFAULT_AGG_K: u32 = 20;

/// An estimate of the runtime bytecode of the Solidity verifier of an aggregation circuit with
/// `advice` advice columns and `instances` public inputs. Fitted to measured verifiers: 6 columns
/// and 22 inputs give 20.0 KB, 6 and 52 give 27.5 KB, 11 and 52 give 35.9 KB, 3 and 14 give 17.3 KB:
/// about 250 bytes per public input (its Lagrange evaluation is unrolled) and 1.5 KB per column.
pub fn estimated_verifier_size(advice: usize, instances: usize) -> usize {
    (11_500 + 1_500 * advice + 250 * instances).saturating_sub(1_500 * 3)
}

/// The size [`plan_aggregation_k`] aims below: EIP-170's 24,576 bytes less a margin for the
/// estimate's error.
pub const PLANNED_VERIFIER_SIZE: usize = 22_000;

/// The smallest aggregation degree from `DEFAULT_AGG_K` up to `max_k` at which the Solidity
/// verifier of the circuit aggregating `snarks` is estimated ([`estimated_verifier_size`]) to fit
/// on chain with [`PLANNED_VERIFIER_SIZE`]; with `cheapest`, the smallest at which the circuit needs
/// a single advice column (the smallest verifier and the least verification gas, for the longest
/// aggregation), or `max_k` if that comes first. Lays the circuit out once (no keys, no proof) at
/// `DEFAULT_AGG_K`; each degree more halves the columns the same cells need. `params` may be any
/// SRS sharing the inner proofs' secret (only its generators are read).
pub fn plan_aggregation_k(params: &ParamsKZG<Bn256>, snarks: &[Snark], max_k: u32, cheapest: bool) -> Result<u32> {
    let k0 = DEFAULT_AGG_K;
    let config = catch_panic("planning the aggregation", || {
        let initial = AggregationConfigParams { degree: k0, lookup_bits: k0 as usize - 1, ..Default::default() };
        let mut circuit = AggregationCircuit::new::<SHPLONK>(CircuitBuilderStage::Keygen, initial, params, snarks.to_vec(), VerifierUniversality::None);
        circuit.expose_previous_instances(carries_accumulators(snarks)?);
        Ok(circuit.calculate_params(Some(MINIMUM_ROWS)))
    })?;
    let instances = ACCUMULATOR_LIMBS + exposed_instance_counts(snarks)?.iter().sum::<usize>();
    let max_k = max_k.min(MAX_AGG_K);
    let (mut k, mut columns) = (k0, config.num_advice);
    while estimated_verifier_size(columns, instances) > PLANNED_VERIFIER_SIZE {
        if k >= max_k {
            return Err(AggregatorError::AggregationTooLarge(format!(
                "aggregating these proofs at once needs more than 2^{k} rows for a verifier that fits EIP-170 (about {columns} advice columns at k = {k} and {instances} public inputs); aggregate them in groups, or hash their outputs (--output-visibility hashed)"
            )));
        }
        k += 1;
        columns = columns.div_ceil(2);
    }
    while cheapest && columns > 1 && k < max_k && estimated_memory_gib(k + 1, columns.div_ceil(2)) <= machine_memory_gib() {
        k += 1;
        columns = columns.div_ceil(2);
    }
    let (needed, available) = (estimated_memory_gib(k, columns), machine_memory_gib());
    if needed > available {
        return Err(AggregatorError::AggregationTooLarge(format!(
            "aggregating these proofs at once needs k = {k} ({columns} advice columns) for a verifier that fits EIP-170, about {needed:.0} GiB of memory; this machine has {available:.0} GiB: aggregate them in groups"
        )));
    }
    Ok(k)
}

/// Peak memory, in GiB, of aggregating at degree `k` with `columns` advice columns, fitted to
/// measurements on the digits models (k = 22 with 2 and 6 columns: 10.4 and 13 GiB; k = 23 with
/// 1 column: 16.6 GiB; k = 22 with 12 columns: killed past 24.3 GiB): the larger of two linear
/// fits, both doubling with each degree.
pub fn estimated_memory_gib(k: u32, columns: usize) -> f64 {
    let c = columns as f64;
    2f64.powi(k as i32 - 22) * (9.1 + 0.65 * c).max(1.6 + 1.9 * c)
}

/// This machine's memory in GiB (`MemTotal` of /proc/meminfo); unbounded where it cannot be read.
fn machine_memory_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(f64::INFINITY, |kib| kib / (1024.0 * 1024.0))
}

/// Smallest and largest aggregation degree accepted (the circuit needs ~2^18 rows of cells even for
/// one proof; above 2^26 rows proving does not fit on a 24 GiB machine).
pub const MIN_AGG_K: u32 = 16;
/// See [`MIN_AGG_K`].
pub const MAX_AGG_K: u32 = 26;

/// Rows reserved at the bottom of the aggregation circuit for halo2's blinding factors.
const MINIMUM_ROWS: usize = 20;

/// An aggregated proof and everything needed to verify it or rebuild its verifier.
///
/// Guarantee: when returned by [`aggregate`], `proof` verified natively against `instances` and the
/// verifying key in `vk`, and the accumulator in the first 12 instances passed the final pairing
/// check; i.e. the generated Solidity verifier accepts it.
///
/// Serialized (serde) with bytes as `0x` hex strings and field elements as `0x` + 64 hex digits,
/// big-endian: the same `uint256` a contract sees.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AggregatedProof {
    /// The SHPLONK proof, keccak transcript (what the EVM verifier reads after the instances).
    #[serde(with = "hex_bytes")]
    pub proof: Vec<u8>,
    /// Public inputs: the 12 accumulator limbs, then every inner proof's public inputs in order.
    #[serde(with = "hex_frs")]
    pub instances: Vec<Fr>,
    /// Number of public inputs contributed by each inner proof, in order (sums to
    /// `instances.len() - 12`).
    pub inner_instance_counts: Vec<usize>,
    /// The aggregation circuit's verifying key, `SerdeFormat::RawBytes`; read it back with
    /// [`read_aggregation_vk`] and `config`.
    #[serde(with = "hex_bytes")]
    pub vk: Vec<u8>,
    /// The circuit configuration computed at keygen (degree, columns, lookup bits).
    pub config: AggregationConfigParams,
    /// The keygen break points: with `config` they rebuild the prover-stage circuit.
    pub break_points: MultiPhaseThreadBreakPoints,
}

impl AggregatedProof {
    /// The 12 accumulator limbs (always exactly 12 for a proof made by [`aggregate`]).
    pub fn accumulator_limbs(&self) -> &[Fr] {
        &self.instances[..ACCUMULATOR_LIMBS.min(self.instances.len())]
    }

    /// The public inputs of inner proof `index`, or `None` if there is no such proof.
    pub fn inner_instances(&self, index: usize) -> Option<&[Fr]> {
        let count = *self.inner_instance_counts.get(index)?;
        let start = ACCUMULATOR_LIMBS + self.inner_instance_counts[..index].iter().sum::<usize>();
        self.instances.get(start..start + count)
    }

    /// EVM calldata for the Solidity verifier: the instances as 32-byte big-endian words, then the
    /// proof.
    pub fn calldata(&self) -> Vec<u8> {
        crate::aggregate::calldata::encode_calldata(&self.instances, &self.proof)
    }

    /// The aggregation verifying key, parsed (see [`read_aggregation_vk`]).
    pub fn verifying_key(&self) -> Result<VerifyingKey<G1Affine>> {
        read_aggregation_vk(&self.vk, self.config)
    }
}

/// Derives the shape of the aggregation of `snarks` (real proofs or placeholders: keygen reads
/// only their protocols) laid out with `config`, at the degree of `params`: the same circuit
/// [`aggregate`] makes keys for, so the same verifying key when `config` is the one it used. This
/// is how a verifier re-derives a key it was handed instead of trusting it.
pub fn derive_shape(params: &ParamsKZG<Bn256>, snarks: &[Snark], config: AggregationConfigParams) -> Result<AggregationShape> {
    if config.degree != params.k() {
        return Err(AggregatorError::InvalidInput(format!("the aggregation config is for degree {}, the SRS has {}", config.degree, params.k())));
    }
    check_aggregation_config(config)?;
    let inner_accumulators = carries_accumulators(snarks)?;
    catch_panic("deriving an aggregation key", || {
        let mut circuit = AggregationCircuit::new::<SHPLONK>(CircuitBuilderStage::Keygen, config, params, snarks.to_vec(), VerifierUniversality::None);
        circuit.expose_previous_instances(inner_accumulators);
        // Uncompressed selectors, as `aggregation_keys` makes them.
        let vk = keygen_vk_custom(params, &circuit, false).map_err(halo2_error("keygen"))?;
        Ok(AggregationShape { config, break_points: circuit.break_points(), vk: vk.to_bytes(SerdeFormat::RawBytes) })
    })
}

/// Aggregates `snarks` (in order) into one EVM-verifiable proof with snark-verifier-sdk's
/// `AggregationCircuit` (SHPLONK). The aggregation degree is `params.k()`, with lookup bits k − 1;
/// `params` must share its secret with the SRS the inner proofs were made with.
///
/// The circuit is specific to the inner verifying keys (they are constants of the circuit), so the
/// returned vk and Solidity verifier accept only proofs of those inner circuits. The inner public
/// inputs are re-exposed after the 12 accumulator limbs (see the crate docs).
///
/// The inner proofs are plain model proofs, or all of them aggregations made by
/// [`aggregate_to_snark`]: then each one's accumulator (its first 12 public inputs) is checked in
/// the circuit and folded into the new accumulator, and only its other public inputs are
/// re-exposed. Mixing the two kinds is an error.
///
/// Every inner proof is first verified natively; a failing one gives
/// [`AggregatorError::InnerProofInvalid`] instead of a useless aggregate. Keygen then proving takes
/// about 1 + 2 minutes and 4 GiB at k = 20 on 2 cores.
pub fn aggregate(params: &ParamsKZG<Bn256>, snarks: Vec<Snark>) -> Result<AggregatedProof> {
    aggregate_with_shape(params, snarks, None)
}

/// What aggregation keygen decides for a set of inner circuits: the circuit configuration, the
/// break points and the resulting verifying key. Reusing it for later proofs of the same inner
/// circuits gives the same verifying key, so a deployed verifier keeps accepting them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AggregationShape {
    /// The circuit configuration.
    pub config: AggregationConfigParams,
    /// The keygen break points.
    pub break_points: MultiPhaseThreadBreakPoints,
    /// The verifying key, `SerdeFormat::RawBytes`.
    #[serde(with = "hex_bytes")]
    pub vk: Vec<u8>,
}

impl AggregatedProof {
    /// The keygen decisions of this aggregation, to reuse for the next one.
    pub fn shape(&self) -> AggregationShape {
        AggregationShape { config: self.config, break_points: self.break_points.clone(), vk: self.vk.clone() }
    }
}

/// [`aggregate`], laying the circuit out as `shape` says when given (a shape from an earlier
/// aggregation of the same inner circuits at the same degree). Errors if the keys made from it
/// differ from the shape's verifying key: the verifier generated for the shape would then reject.
pub fn aggregate_with_shape(params: &ParamsKZG<Bn256>, snarks: Vec<Snark>, shape: Option<&AggregationShape>) -> Result<AggregatedProof> {
    check_aggregation_input(params, &snarks, shape)?;
    catch_panic("aggregation", || aggregate_checked(params, snarks, shape))
}

/// Reads the aggregation circuit's verifying key from `SerdeFormat::RawBytes` bytes (as stored in
/// [`AggregatedProof::vk`]) and the circuit configuration it was generated with.
///
/// Errors (never panics) if the bytes are malformed, contain points off the curve, have trailing
/// data, or were made for another degree than `config.degree`.
pub fn read_aggregation_vk(
    bytes: &[u8],
    config: AggregationConfigParams,
) -> Result<VerifyingKey<G1Affine>> {
    let bad = |m: String| AggregatorError::InvalidVerifyingKey(m);
    check_aggregation_config(config)?;
    if bytes.len() < 10 || bytes[0] != 0x02 {
        return Err(bad("not a halo2-axiom verifying key (bad version byte or too short)".into()));
    }
    let k = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    if k != config.degree {
        return Err(bad(format!("key is for degree {k} but the config says {}", config.degree)));
    }
    catch_panic("reading the aggregation verifying key", || {
        let mut reader = bytes;
        let vk = VerifyingKey::<G1Affine>::read::<_, AggregationCircuit>(
            &mut reader,
            SerdeFormat::RawBytes,
            config,
        )
        .map_err(|e| bad(e.to_string()))?;
        if !reader.is_empty() {
            return Err(bad(format!("{} trailing byte(s)", reader.len())));
        }
        Ok(vk)
    })
}

/// Refuses an aggregation config no aggregation of ours could have: a degree outside the
/// supported range, no lookup bits or as many as the degree, no advice column.
fn check_aggregation_config(config: AggregationConfigParams) -> Result<()> {
    if !(MIN_AGG_K..=MAX_AGG_K).contains(&config.degree)
        || config.lookup_bits == 0
        || config.lookup_bits >= config.degree as usize
        || config.num_advice == 0
    {
        return Err(AggregatorError::InvalidVerifyingKey(format!("implausible aggregation config {config:?}")));
    }
    Ok(())
}

/// An aggregation proved with snark-verifier's Poseidon transcript: a proof that another
/// aggregation can verify in-circuit (the first level of a two-level aggregation).
#[derive(Clone, Debug)]
pub struct InnerAggregation {
    /// The proof with its protocol; its first 12 public inputs are the accumulator, the rest the
    /// aggregated proofs' public inputs in order.
    pub snark: Snark,
    /// The keygen decisions, to cache: the same inner circuits then give the same verifying key.
    pub shape: AggregationShape,
}

/// [`aggregate_with_shape`], proved with the Poseidon transcript instead of keccak: the result is
/// not for the EVM but an inner proof of a further aggregation (its accumulator is folded into the
/// next one's). The proof is verified natively, accumulator included, before it is returned.
pub fn aggregate_to_snark(params: &ParamsKZG<Bn256>, snarks: Vec<Snark>, shape: Option<&AggregationShape>) -> Result<InnerAggregation> {
    check_aggregation_input(params, &snarks, shape)?;
    catch_panic("aggregation", || {
        let keys = aggregation_keys(params, &snarks, shape)?;
        let (circuit, instances) = prover_circuit(params, snarks, &keys)?;
        let proof = prove_poseidon(params, &keys.pk, circuit, &instances).map_err(halo2_error("prove"))?;
        let protocol = group_protocol(params, keys.pk.get_vk(), instances.len());
        let snark = Snark::new(protocol, vec![instances], proof);
        check_inner(0, &snark, &deciding_key(params)).map_err(|e| AggregatorError::SelfCheckFailed(e.to_string()))?;
        Ok(InnerAggregation { snark, shape: keys.shape() })
    })
}

/// The checks every aggregation makes before any expensive work: a supported degree, at least one
/// proof, every proof valid, a shape for this degree.
fn check_aggregation_input(params: &ParamsKZG<Bn256>, snarks: &[Snark], shape: Option<&AggregationShape>) -> Result<()> {
    let k = params.k();
    if !(MIN_AGG_K..=MAX_AGG_K).contains(&k) {
        return Err(AggregatorError::InvalidInput(format!(
            "aggregation degree {k} outside the supported range {MIN_AGG_K}..={MAX_AGG_K}"
        )));
    }
    if snarks.is_empty() {
        return Err(AggregatorError::InvalidInput("no proofs to aggregate".into()));
    }
    carries_accumulators(snarks)?;
    let dk = deciding_key(params);
    for (index, snark) in snarks.iter().enumerate() {
        check_inner(index, snark, &dk)?;
    }
    match shape {
        Some(shape) if shape.config.degree != k => {
            Err(AggregatorError::InvalidInput(format!("the aggregation shape is for degree {}, not {k}", shape.config.degree)))
        }
        _ => Ok(()),
    }
}

/// The proving key of an aggregation circuit and the layout decisions it was made with.
struct AggregationKeys {
    pk: ProvingKey<G1Affine>,
    config: AggregationConfigParams,
    break_points: MultiPhaseThreadBreakPoints,
    /// Whether the inner proofs carry accumulators (then only their other public inputs are
    /// re-exposed).
    inner_accumulators: bool,
}

impl AggregationKeys {
    fn shape(&self) -> AggregationShape {
        AggregationShape {
            config: self.config,
            break_points: self.break_points.clone(),
            vk: self.pk.get_vk().to_bytes(SerdeFormat::RawBytes),
        }
    }
}

fn halo2_error(stage: &'static str) -> impl Fn(halo2_proofs::plonk::Error) -> AggregatorError {
    move |e| AggregatorError::Halo2 { stage, message: format!("{e:?}") }
}

/// Keygen stage: lays out the circuit, sizes its columns (or takes the given shape's), keeps the
/// break points. Errors if a given shape does not reproduce its verifying key.
fn aggregation_keys(params: &ParamsKZG<Bn256>, snarks: &[Snark], shape: Option<&AggregationShape>) -> Result<AggregationKeys> {
    let k = params.k();
    let inner_accumulators = carries_accumulators(snarks)?;
    let initial = AggregationConfigParams { degree: k, lookup_bits: k as usize - 1, ..Default::default() };
    let mut circuit = AggregationCircuit::new::<SHPLONK>(
        CircuitBuilderStage::Keygen,
        shape.map_or(initial, |s| s.config),
        params,
        snarks.to_vec(),
        VerifierUniversality::None,
    );
    circuit.expose_previous_instances(inner_accumulators);
    let config = match shape {
        Some(s) => s.config,
        None => circuit.calculate_params(Some(MINIMUM_ROWS)),
    };
    // One synthesis for both keys (keygen_vk then keygen_pk would lay the circuit out twice);
    // selectors uncompressed, as `keygen_vk` leaves them, so cached shapes keep their keys.
    let pk = keygen_pk2(params, &circuit, false).map_err(halo2_error("keygen"))?;
    let keys = AggregationKeys { pk, config, break_points: circuit.break_points(), inner_accumulators };
    if let Some(shape) = shape {
        if keys.pk.get_vk().to_bytes(SerdeFormat::RawBytes) != shape.vk || keys.break_points != shape.break_points {
            return Err(AggregatorError::Internal {
                context: "aggregation keygen",
                message: "the keys made from the cached aggregation shape differ from it; remove the cached shape to start afresh".into(),
            });
        }
    }
    Ok(keys)
}

/// Prover stage: the circuit with the keygen config, break points and exposed instances, and its
/// one column of public inputs (accumulator limbs, then the inner proofs' exposed inputs).
fn prover_circuit(params: &ParamsKZG<Bn256>, snarks: Vec<Snark>, keys: &AggregationKeys) -> Result<(AggregationCircuit, Vec<Fr>)> {
    let expected = ACCUMULATOR_LIMBS + exposed_instance_counts(&snarks)?.iter().sum::<usize>();
    let mut circuit = AggregationCircuit::new::<SHPLONK>(
        CircuitBuilderStage::Prover,
        keys.config,
        params,
        snarks,
        VerifierUniversality::None,
    )
    .use_break_points(keys.break_points.clone());
    circuit.expose_previous_instances(keys.inner_accumulators);
    let mut columns = circuit.instances();
    if columns.len() != 1 {
        return Err(AggregatorError::Internal {
            context: "aggregation",
            message: format!("expected 1 instance column, got {}", columns.len()),
        });
    }
    let instances = columns.pop().unwrap_or_default();
    if instances.len() != expected {
        return Err(AggregatorError::Internal {
            context: "aggregation",
            message: format!("expected {expected} public inputs, got {}", instances.len()),
        });
    }
    Ok((circuit, instances))
}

fn aggregate_checked(params: &ParamsKZG<Bn256>, snarks: Vec<Snark>, shape: Option<&AggregationShape>) -> Result<AggregatedProof> {
    let inner_instance_counts = exposed_instance_counts(&snarks)?;
    let keys = aggregation_keys(params, &snarks, shape)?;
    let (circuit, instances) = prover_circuit(params, snarks, &keys)?;
    let proof = prove_evm(params, &keys.pk, circuit, &instances).map_err(halo2_error("prove"))?;
    verify_evm_native(params, keys.pk.get_vk(), &instances, &proof)?;
    let AggregationShape { config, break_points, vk } = keys.shape();
    Ok(AggregatedProof { proof, instances, inner_instance_counts, vk, config, break_points })
}

fn prove_evm(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, circuit: AggregationCircuit, instances: &[Fr]) -> std::result::Result<Vec<u8>, halo2_proofs::plonk::Error> {
    let mut transcript = <EvmTranscript<G1Affine, NativeLoader, Vec<u8>, Vec<u8>> as TranscriptWriterBuffer<_, G1Affine, _>>::init(Vec::new());
    prove_into(params, pk, circuit, instances, &mut transcript)?;
    Ok(transcript.finalize())
}

fn prove_poseidon(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, circuit: AggregationCircuit, instances: &[Fr]) -> std::result::Result<Vec<u8>, halo2_proofs::plonk::Error> {
    let mut transcript = PoseidonTranscript::<NativeLoader, Vec<u8>>::from_spec(Vec::new(), POSEIDON_SPEC.clone());
    prove_into(params, pk, circuit, instances, &mut transcript)?;
    Ok(transcript.finalize())
}

/// Proves `circuit` (one instance column) with SHPLONK into `transcript`.
fn prove_into<E: EncodedChallenge<G1Affine>, T: TranscriptWrite<G1Affine, E>>(
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: AggregationCircuit,
    instances: &[Fr],
    transcript: &mut T,
) -> std::result::Result<(), halo2_proofs::plonk::Error> {
    let columns: &[&[Fr]] = &[instances];
    create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<_>, _, _, _, _>(params, pk, &[circuit], &[columns], OsRng, transcript)
}

/// Verifies an EVM (keccak) aggregation proof natively: the halo2 check and the pairing check of
/// the accumulator carried in the first 12 instances, i.e. exactly what the Solidity verifier does.
pub(crate) fn verify_evm_native(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Fr],
    proof: &[u8],
) -> Result<()> {
    let columns: &[&[Fr]] = &[instances];
    let mut transcript = TranscriptReadBuffer::<_, G1Affine, _>::init(proof);
    let strategy = verify_proof::<_, VerifierSHPLONK<_>, _, EvmTranscript<_, _, _, _>, _>(
        params.verifier_params(),
        vk,
        AccumulatorStrategy::new(params.verifier_params()),
        &[columns],
        &mut transcript,
    )
    .map_err(|e| AggregatorError::SelfCheckFailed(format!("{e:?}")))?;
    if !VerificationStrategy::<_, VerifierSHPLONK<_>>::finalize(strategy) {
        return Err(AggregatorError::SelfCheckFailed("outer pairing check failed".into()));
    }
    if instances.len() < ACCUMULATOR_LIMBS {
        return Err(AggregatorError::SelfCheckFailed("fewer than 12 instances".into()));
    }
    let limbs = instances[..ACCUMULATOR_LIMBS].iter().collect::<Vec<_>>();
    let accumulator =
        <LimbsEncoding<LIMBS, BITS> as AccumulatorEncoding<G1Affine, NativeLoader>>::from_repr(&limbs)
            .map_err(|e| AggregatorError::SelfCheckFailed(format!("bad accumulator limbs: {e:?}")))?;
    <SHPLONK as AccumulationDecider<G1Affine, NativeLoader>>::decide(&deciding_key(params), accumulator)
        .map_err(|e| AggregatorError::SelfCheckFailed(format!("accumulator pairing: {e:?}")))
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(bytes)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s.strip_prefix("0x").unwrap_or(&s)).map_err(serde::de::Error::custom)
    }
}

mod hex_frs {
    use super::Fr;
    use zkml_prover::field::{fr_from_hex, fr_to_hex};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(xs: &[Fr], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(xs.iter().map(fr_to_hex))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Fr>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| fr_from_hex(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_vk_bytes_are_errors() {
        let config = AggregationConfigParams {
            degree: 20,
            num_advice: 6,
            num_lookup_advice: 1,
            num_fixed: 1,
            lookup_bits: 19,
        };
        assert!(read_aggregation_vk(&[], config).is_err());
        let mut bytes = vec![0x02];
        bytes.extend_from_slice(&20u32.to_le_bytes());
        bytes.extend_from_slice(&[0u8; 40]);
        assert!(read_aggregation_vk(&bytes, config).is_err());
        bytes[1] = 21;
        assert!(read_aggregation_vk(&bytes, config).is_err());
    }
}
