//! The first level of a two-level aggregation on tiny inner circuits (about two minutes and 3 GiB;
//! the SRS comes from the shared store): two small inner proofs → a group aggregation, with
//! tampering checks. The final EVM aggregation of a group, its Solidity verifier and revm are
//! checked through the library on the command line's two-level aggregation of two models
//! (`tests/cli.rs`, `two_models_aggregate_in_two_levels_and_verify_on_anvil`), which makes the
//! same kind of proof from real models: one such aggregation serves both.

use halo2_proofs::{
    circuit::{Layouter, SimpleFloorPlanner, Value},
    halo2curves::bn256::Fr,
    plonk::{Advice, Circuit, Column, ConstraintSystem, Error, Fixed, Instance},
    poly::commitment::Params,
    poly::Rotation,
};

use snark_verifier_sdk::{gen_pk, halo2::gen_snark_shplonk, CircuitExt};
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

/// Proofs of [`Tiny`] for each value, at degree `k`.
fn tiny_snarks(params: &halo2_proofs::poly::kzg::commitment::ParamsKZG<halo2_proofs::halo2curves::bn256::Bn256>, k: u32, values: &[Fr]) -> (halo2_proofs::plonk::VerifyingKey<halo2_proofs::halo2curves::bn256::G1Affine>, Vec<Snark>) {
    let mut inner_params = params.clone();
    inner_params.downsize(k);
    let pk = gen_pk(&inner_params, &Tiny(values[0]), None);
    let snarks = values.iter().map(|v| gen_snark_shplonk(&inner_params, &pk, Tiny(*v), None::<&str>)).collect();
    (pk.get_vk().clone(), snarks)
}

/// The first aggregation level once (it takes minutes, so one pass serves every check): two tiny
/// proofs, rebuilt from their parts with the big SRS; bad inputs refused before any expensive
/// work; the two aggregated as one group with the Poseidon transcript, whose public inputs are its
/// 12 accumulator limbs and the two inner values; a group proof with a changed limb or value
/// refused by the next aggregation, and plain proofs and aggregations not mixed.
#[test]
fn tiny_proofs_aggregate_in_a_group_whose_proof_is_checked() {
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
}
