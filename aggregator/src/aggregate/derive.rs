//! Deriving an aggregation's verifying key again instead of trusting `aggregation.json`.
//!
//! The Solidity verifier of an aggregation is generated from its verifying key. A key shipped in
//! `aggregation.json` by whoever made the aggregation is only a claim: a key of another circuit
//! (one with its gates switched off, say) would give a verifier that accepts forgeries. The
//! aggregation circuit is determined by the inner verifying keys, their public-input counts, the
//! degree and column configuration of each level, and the SRS; the inner keys are themselves
//! derived from the compiled models ([`keys::derive_vk`]). So the key is derived here from the
//! compiled models and the recorded configurations, and [`check_aggregation_key`] refuses an
//! `aggregation.json` whose key differs.
//!
//! Keygen takes a minute or more per level; a shape this machine made itself (its own
//! aggregation, or an earlier derivation) is found in the [`ShapeCache`] instead.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use zkml_prover::artifact::{srs_fingerprint, CompiledModel};
use zkml_prover::srs::SrsStore;
use zkml_prover::keys;

use crate::aggregate::{read_aggregation_vk, AggregationConfigParams};
use crate::aggregate::snark::{placeholder_group_snark, placeholder_model_snark};
use crate::error::{AggregatorError, Result};
use crate::aggregate::grouping::ShapeCache;
use crate::aggregate::records::{AggregationManifest, InnerProofEntry};
use crate::{Snark, ACCUMULATOR_LIMBS};

/// Checks that `vk` (as stored in `aggregation.json`, with its `config`) is the verifying key of
/// the aggregation `manifest` describes: derived from the compiled models it lists, found in
/// `model_dirs` first and then where the manifest recorded them. Errors name what is missing or
/// what differs.
pub fn check_aggregation_key(manifest: &AggregationManifest, config: AggregationConfigParams, vk: &[u8], model_dirs: &[PathBuf]) -> Result<()> {
    let derived = derive_aggregation_vk(manifest, config, model_dirs)?;
    if derived != vk {
        return Err(AggregatorError::InvalidVerifyingKey(format!(
            "the key in aggregation.json (SHA-256 {}) is not the key of an aggregation of the models its manifest lists (derived: {}); it is not trusted: aggregate the proofs again yourself",
            hex::encode(Sha256::digest(vk)),
            hex::encode(Sha256::digest(&derived))
        )));
    }
    Ok(())
}

/// The verifying key (`SerdeFormat::RawBytes`) of the aggregation `manifest` describes, laid out
/// with `config` at its last level, derived from the compiled models (see [`check_aggregation_key`]).
pub fn derive_aggregation_vk(manifest: &AggregationManifest, config: AggregationConfigParams, model_dirs: &[PathBuf]) -> Result<Vec<u8>> {
    let store = SrsStore::default_location();
    let fingerprint: [u8; 32] = hex::decode(&manifest.srs_fingerprint)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AggregatorError::InvalidInput("the manifest's srs_fingerprint is not 32 bytes of hex".into()))?;
    let params_for = |k: u32| -> Result<_> {
        let srs = store.params(k)?;
        if srs_fingerprint(&srs.params) != fingerprint {
            return Err(AggregatorError::InvalidInput(format!(
                "the SRS for k = {k} in {} is not the one the aggregation was made over",
                store.dir().display()
            )));
        }
        Ok(srs.params)
    };
    let cache = ShapeCache::new(fingerprint);

    let mut placeholders: Vec<Snark> = Vec::with_capacity(manifest.proofs.len());
    let mut derived_models: Vec<(String, Snark)> = vec![];
    for (index, entry) in manifest.proofs.iter().enumerate() {
        if let Some((_, snark)) = derived_models.iter().find(|(hash, snark)| *hash == entry.model_hash && snark.instances[0].len() == entry.instances) {
            placeholders.push(snark.clone());
            continue;
        }
        let (dir, model) = find_model(index, entry, model_dirs)?;
        let expected = model.quantized.public_input_count();
        if entry.instances != expected {
            return Err(AggregatorError::InvalidInput(format!(
                "the manifest gives inner proof #{index} {} public inputs; its model ({}) has {expected}",
                entry.instances,
                dir.display()
            )));
        }
        let params = params_for(model.layout.k)?;
        let vk = keys::derive_vk(&model, &params)?;
        let snark = placeholder_model_snark(&params, &vk, entry.instances)?;
        derived_models.push((entry.model_hash.clone(), snark.clone()));
        placeholders.push(snark);
    }

    let last_level = if manifest.groups.is_empty() {
        placeholders
    } else {
        let mut next = 0;
        let mut group_snarks = Vec::with_capacity(manifest.groups.len());
        for (g, group) in manifest.groups.iter().enumerate() {
            if group.first_proof != next || group.proofs == 0 || next + group.proofs > placeholders.len() {
                return Err(AggregatorError::InvalidInput(format!("the manifest's group {g} does not continue where the previous one ended")));
            }
            let group_config = group.config.ok_or_else(|| {
                AggregatorError::InvalidInput("the manifest does not record its groups' configurations (an older zkml made it): aggregate again".into())
            })?;
            let params = params_for(group.degree)?;
            let members = &placeholders[next..next + group.proofs];
            let shape = cache.derived(&params, members, group_config)?;
            if hex::encode(Sha256::digest(&shape.vk)) != group.vk_hash {
                return Err(AggregatorError::InvalidVerifyingKey(format!(
                    "the key derived for group {g} is not the one the manifest records: the aggregation is not of these models"
                )));
            }
            let vk = read_aggregation_vk(&shape.vk, group_config)?;
            let instances = ACCUMULATOR_LIMBS + manifest.proofs[next..next + group.proofs].iter().map(|e| e.instances).sum::<usize>();
            group_snarks.push(placeholder_group_snark(&params, &vk, instances)?);
            next += group.proofs;
        }
        if next != placeholders.len() {
            return Err(AggregatorError::InvalidInput("the manifest's groups do not cover every inner proof".into()));
        }
        group_snarks
    };
    let params = params_for(config.degree)?;
    Ok(cache.derived(&params, &last_level, config)?.vk)
}

/// The compiled model of inner proof `index`: the first of `model_dirs`, then of the directory
/// the manifest recorded, whose hash is the entry's.
fn find_model(index: usize, entry: &InnerProofEntry, model_dirs: &[PathBuf]) -> Result<(PathBuf, CompiledModel)> {
    let recorded = (!entry.model_dir.is_empty()).then(|| PathBuf::from(&entry.model_dir));
    for dir in model_dirs.iter().cloned().chain(recorded) {
        if !CompiledModel::path_in(&dir).exists() {
            continue;
        }
        let model = CompiledModel::load(&dir)?;
        if hex::encode(model.hash()) == entry.model_hash {
            return Ok((dir, model));
        }
    }
    Err(AggregatorError::InvalidInput(format!(
        "the compiled model of inner proof #{index} ({}, model hash {}) is not found{}: pass its directory with --model, to derive the aggregation's key from it",
        entry.model_source,
        entry.model_hash,
        match entry.model_dir.as_str() {
            "" => String::new(),
            dir => format!(" (it was in {dir})"),
        }
    )))
}

