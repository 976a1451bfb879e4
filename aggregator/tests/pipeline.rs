//! The whole aggregation pipeline on tiny inner circuits (slow: each aggregation takes minutes and
//! ~4 GiB; the SRS comes from the shared store): two small inner proofs → a group aggregation →
//! the final EVM aggregation → Solidity → solc → revm, with tampering checks at every step.

use halo2_proofs::{
    circuit::{Layouter, SimpleFloorPlanner, Value},
    halo2curves::bn256::Fr,
    plonk::{Advice, Circuit, Column, ConstraintSystem, Error, Fixed, Instance},
    poly::commitment::Params,
    poly::Rotation,
};

use snark_verifier_sdk::{gen_pk, halo2::gen_snark_shplonk, CircuitExt};
use std::path::PathBuf;
use std::time::Instant;
use zkml_aggregator::*;

/// Standard PLONK with one public input: row 0 proves `a == instance`, plus a few dummy rows.
#[derive(Clone, Copy)]
struct PlonkConfig {
    a: Column<Advice>,
    b: Column<Advice>,
    c: Column<Advice>,
    fixed: [Column<Fixed>; 5], // q_a, q_b, q_c, q_ab, constant
}

#[derive(Clone, Default)]
struct Tiny(Fr);

impl CircuitExt<Fr> for Tiny {
    fn num_instance(&self) -> Vec<usize> {
        vec![1]
    }
    fn instances(&self) -> Vec<Vec<Fr>> {
        vec![vec![self.0]]
    }
}

impl Circuit<Fr> for Tiny {
    type Config = PlonkConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        Self::default()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> PlonkConfig {
        meta.set_minimum_degree(4);
        let [a, b, c] = [(); 3].map(|_| meta.advice_column());
        let fixed = [(); 5].map(|_| meta.fixed_column());
        let instance: Column<Instance> = meta.instance_column();
        for col in [a, b, c] {
            meta.enable_equality(col);
        }
        meta.create_gate("q_a·a + q_b·b + q_c·c + q_ab·a·b + constant + instance = 0", |meta| {
            let [a, b, c] = [a, b, c].map(|col| meta.query_advice(col, Rotation::cur()));
            let [qa, qb, qc, qab, k] = fixed.map(|col| meta.query_fixed(col, Rotation::cur()));
            let inst = meta.query_instance(instance, Rotation::cur());
            Some(qa * a.clone() + qb * b.clone() + qc * c + qab * a * b + k + inst)
        });
        PlonkConfig { a, b, c, fixed }
    }

    fn synthesize(&self, cfg: PlonkConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        layouter.assign_region(
            || "tiny",
            |mut region| {
                region.assign_advice(cfg.a, 0, Value::known(self.0));
                region.assign_fixed(cfg.fixed[0], 0, -Fr::one());
                region.assign_advice(cfg.a, 1, Value::known(-Fr::from(5u64)));
                for (i, col) in cfg.fixed.iter().enumerate() {
                    region.assign_fixed(*col, 1, Fr::from(i as u64 + 1));
                }
                let one = region.assign_advice(cfg.a, 2, Value::known(Fr::one()));
                one.copy_advice(&mut region, cfg.b, 3);
                one.copy_advice(&mut region, cfg.c, 4);
                Ok(())
            },
        )
    }
}

fn solc() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let solc = zkml_aggregator::workflow::Tools::find(&repo).solc;
    assert!(solc.exists(), "no solc at {} (run scripts/setup.sh or set ZKML_SOLC)", solc.display());
    solc
}

/// Proofs of [`Tiny`] for each value, at degree `k`.
fn tiny_snarks(params: &halo2_proofs::poly::kzg::commitment::ParamsKZG<halo2_proofs::halo2curves::bn256::Bn256>, k: u32, values: &[Fr]) -> (halo2_proofs::plonk::VerifyingKey<halo2_proofs::halo2curves::bn256::G1Affine>, Vec<Snark>) {
    let mut inner_params = params.clone();
    inner_params.downsize(k);
    let pk = gen_pk(&inner_params, &Tiny(values[0]), None);
    let snarks = values.iter().map(|v| gen_snark_shplonk(&inner_params, &pk, Tiny(*v), None::<&str>)).collect();
    (pk.get_vk().clone(), snarks)
}

/// Asserts that the verifier `creation` accepts `agg` and rejects it with a flipped proof byte or
/// with any one public input changed (accumulator limbs and inner public inputs alike).
fn assert_revm_accepts_only(creation: &[u8], agg: &AggregatedProof) {
    let ok = verify_in_revm(creation, &agg.calldata()).expect("revm");
    assert!(ok.accepted, "the valid aggregated proof was rejected");
    let mut proof = agg.proof.clone();
    proof[agg.proof.len() / 3] ^= 1;
    assert!(!verify_in_revm(creation, &encode_calldata(&agg.instances, &proof)).unwrap().accepted, "flipped proof byte accepted");
    for index in 0..agg.instances.len() {
        let mut instances = agg.instances.clone();
        instances[index] += Fr::one();
        let r = verify_in_revm(creation, &encode_calldata(&instances, &agg.proof)).unwrap();
        assert!(!r.accepted, "changed public input {index} accepted");
    }
}

/// The whole aggregation path once (each aggregation takes minutes, so one pass serves every
/// check): two tiny proofs, rebuilt from their parts with the big SRS; bad inputs refused before
/// any expensive work; the two aggregated as one group with the Poseidon transcript, whose public
/// inputs are its 12 accumulator limbs and the two inner values; a group proof with a changed
/// limb or value refused, and plain proofs and aggregations not mixed; the group's proof
/// aggregated for the EVM, whose public inputs are the two inner values after the 12 accumulator
/// limbs (the group's accumulator is folded, not exposed); a serde round trip and the verifying key
/// rebuilt from bytes; the Solidity verifier compiled, under EIP-170, accepting in revm and
/// rejecting a flipped proof byte and every changed public input. (Model proofs in one level: the
/// CLI demo test; several models in two levels of two groups: the CLI four-proof test.)
#[test]
fn tiny_proofs_aggregate_in_two_levels_and_verify_in_revm() {
    const INNER_K: u32 = 8;
    const GROUP_K: u32 = 19;
    let store = zkml_prover::srs::SrsStore::default_location();
    let t = Instant::now();
    let params = store.params(DEFAULT_AGG_K).expect("SRS").params;
    let group_params = store.params(GROUP_K).expect("SRS").params;
    eprintln!("SRS k = {DEFAULT_AGG_K} and {GROUP_K}: {:.1?}", t.elapsed());

    let values = [Fr::from(1234u64), Fr::from(98765u64)];
    let (vk, snarks) = tiny_snarks(&params, INNER_K, &values);
    let snarks: Vec<Snark> = snarks
        .into_iter()
        .map(|s| {
            let rebuilt = snark_from_parts(&params, &vk, s.instances.clone(), s.proof.clone()).expect("snark_from_parts");
            assert_eq!(serde_json::to_string(&rebuilt.protocol).unwrap(), serde_json::to_string(&s.protocol).unwrap());
            rebuilt
        })
        .collect();

    // Bad inputs are errors, found before any expensive work.
    let mut inner_params = params.clone();
    inner_params.downsize(INNER_K);
    assert!(snark_from_parts(&params, &vk, vec![], snarks[0].proof.clone()).is_err());
    assert!(matches!(aggregate(&params, vec![]), Err(AggregatorError::InvalidInput(_))));
    assert!(matches!(aggregate(&inner_params, snarks.clone()), Err(AggregatorError::InvalidInput(_))));
    let mut bad = snarks.clone();
    bad[1].proof[40] ^= 1;
    let r = aggregate(&params, bad);
    assert!(matches!(r, Err(AggregatorError::InnerProofInvalid { index: 1, .. })), "{r:?}");
    let mut bad = snarks.clone();
    bad[0].instances[0][0] += Fr::one();
    let r = aggregate(&params, bad);
    assert!(matches!(r, Err(AggregatorError::InnerProofInvalid { index: 0, .. })), "{r:?}");

    let t = Instant::now();
    let group = aggregate_to_snark(&group_params, snarks.clone(), None).expect("group");
    eprintln!("group aggregation at k = {GROUP_K}: {:.1?}", t.elapsed());
    assert_eq!(group.snark.instances, vec![[&group.snark.instances[0][..ACCUMULATOR_LIMBS], &values[..]].concat()]);
    assert_eq!(group.snark.protocol.accumulator_indices.len(), 1);
    for index in [0, ACCUMULATOR_LIMBS - 1, ACCUMULATOR_LIMBS + 1] {
        let mut bad = group.snark.clone();
        bad.instances[0][index] += Fr::one();
        let r = aggregate(&params, vec![bad]);
        assert!(matches!(r, Err(AggregatorError::InnerProofInvalid { index: 0, .. })), "changed group input {index}: {r:?}");
    }
    let r = aggregate(&params, vec![group.snark.clone(), snarks[0].clone()]);
    assert!(matches!(r, Err(AggregatorError::InvalidInput(_))), "{r:?}");

    let t = Instant::now();
    let agg = aggregate(&params, vec![group.snark]).expect("final aggregation");
    eprintln!("final aggregation at k = {DEFAULT_AGG_K}: {:.1?}, config {:?}, proof {} B", t.elapsed(), agg.config, agg.proof.len());
    assert_eq!(agg.instances.len(), ACCUMULATOR_LIMBS + values.len());
    assert_eq!(agg.instances[ACCUMULATOR_LIMBS..], values);
    assert_eq!(agg.accumulator_limbs().len(), ACCUMULATOR_LIMBS);
    assert_eq!(agg.inner_instance_counts, vec![2]);
    assert_eq!(agg.inner_instances(0), Some(&values[..]));
    assert_eq!(agg.inner_instances(1), None);

    // Serde round trip, then rebuild the vk from bytes + config (what a later command does).
    let json = serde_json::to_string(&agg).unwrap();
    let agg: AggregatedProof = serde_json::from_str(&json).unwrap();
    let agg_vk = agg.verifying_key().expect("read vk back");
    assert!(read_aggregation_vk(&agg.vk[..agg.vk.len() - 1], agg.config).is_err());

    let t = Instant::now();
    let sol = verifier_solidity(&params, &agg_vk, agg.instances.len()).expect("solidity");
    assert!(sol.contains(VERIFIER_PRAGMA));
    assert!(verifier_solidity(&inner_params, &agg_vk, agg.instances.len()).is_err());
    assert!(verifier_solidity(&params, &agg_vk, 3).is_err());
    let creation = compile_solidity(&solc(), &sol).expect("compile");
    eprintln!("solidity {} chars, creation {} B, generate + compile {:.1?}", sol.len(), creation.len(), t.elapsed());

    let calldata = agg.calldata();
    assert_eq!(calldata, encode_calldata(&agg.instances, &agg.proof));
    let ok = verify_in_revm(&creation, &calldata).expect("revm");
    eprintln!("revm: accepted {}, gas {}, runtime {} B", ok.accepted, ok.gas_used, ok.runtime_size);
    assert!(ok.gas_used > 21_000);
    assert!(ok.runtime_size <= EIP170_LIMIT, "runtime {} B over EIP-170", ok.runtime_size);
    assert_eq!(deployed_size(&creation).unwrap(), ok.runtime_size);
    if let Some(dir) = std::env::var_os("ZKML_AGG_DUMP") {
        // For manual checks against a node (examples/rpc_check.rs).
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Verifier.sol"), &sol).unwrap();
        std::fs::write(dir.join("creation.hex"), hex::encode(&creation)).unwrap();
        std::fs::write(dir.join("calldata.hex"), hex::encode(&calldata)).unwrap();
        std::fs::write(dir.join("aggregated.json"), &json).unwrap();
    }
    assert_revm_accepts_only(&creation, &agg);
}
