//! Planning an aggregation: its degree, whether it runs in one level or two, and the cached
//! keygen decisions that keep its verifying key stable.
//!
//! One aggregation circuit verifies every proof given to it. Past a few proofs it no longer fits:
//! its Solidity verifier would exceed EIP-170 at any degree this machine can prove (eight digits
//! proofs need k = 23 with 6 advice columns, about 26 GiB). Then the proofs are aggregated in two
//! levels:
//!
//! 1. each group of proofs is aggregated on its own, proved with snark-verifier's Poseidon
//!    transcript ([`aggregate_to_snark`]): a proof whose first 12 public inputs are a KZG
//!    accumulator (the deferred pairing check of its inner proofs) and whose other public inputs
//!    are its proofs' public inputs in order;
//! 2. the group proofs are aggregated into the EVM proof ([`aggregate_with_shape`], keccak
//!    transcript). Its circuit verifies each group proof and folds the group's accumulator into
//!    its own, so the one pairing check of the final verifier covers every inner proof; the
//!    groups' accumulators are not re-exposed.
//!
//! The final proof's public inputs are therefore exactly those of a one-level aggregation: the 12
//! accumulator limbs, then every inner proof's public inputs in the order given. A contract cannot
//! tell the two apart, except by their verifying keys.

use std::path::{Path, PathBuf};

use halo2_proofs::halo2curves::bn256::Bn256;
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zkml_prover::artifact::srs_fingerprint;
use zkml_prover::srs::SrsStore;

use crate::aggregate::{aggregate_to_snark, aggregate_with_shape, derive_shape, AggregationConfigParams, AggregationShape};
use crate::error::{AggregatorError, Result};
use crate::aggregate::records::{same_config, write_json, GroupRecord};
use crate::{plan_aggregation_k, AggregatedProof, Snark};

/// How the degree `k` of the (final) aggregation circuit is chosen. A larger `k` spreads the same
/// cells over fewer advice columns: a smaller verifier that costs less gas, for a longer
/// aggregation (and more memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Degree {
    /// The smallest `k` from [`crate::DEFAULT_AGG_K`] whose verifier fits EIP-170: the fastest
    /// aggregation.
    Fits,
    /// The smallest `k` (up to [`MAX_PLANNED_K`]) at which the circuit needs one advice column: the
    /// cheapest verifier (one digits-MLP proof: k = 23, 13,495 bytes, 324,575 gas; 13 minutes and
    /// 17 GiB to aggregate on 2 cores).
    CheapestVerifier,
    /// This `k`.
    Exactly(u32),
}

/// Largest degree the planner picks: 2^23 rows aggregate in about 17 GiB, within a 24 GiB machine.
pub const MAX_PLANNED_K: u32 = 23;

/// How proofs are split into first-level groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Grouping {
    /// One level when one circuit can hold every proof (by the planner's size and memory
    /// estimates, at the degree [`Degree`] asks for); otherwise two levels, in two groups of
    /// (nearly) equal size. With [`Degree::Exactly`], always one level.
    #[default]
    Auto,
    /// Two levels, in consecutive groups of at most this many proofs (the last may be smaller).
    GroupsOf(usize),
}

/// A step of [`aggregate_planned`], reported as it starts: each takes minutes, and a caller
/// showing progress needs to say which one is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregationStep {
    /// First level: one group of consecutive inner proofs.
    Group {
        /// Index (0-based, in the order given) of the group's first proof.
        first_proof: usize,
        /// Number of proofs in the group.
        proofs: usize,
        /// Degree of the group's aggregation circuit.
        degree: u32,
    },
    /// The final (EVM) aggregation.
    Final {
        /// Number of proofs it verifies: the groups' proofs, or the inner proofs themselves.
        inner: usize,
        /// Degree of the final circuit.
        degree: u32,
    },
}

impl std::fmt::Display for AggregationStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AggregationStep::Group { first_proof, proofs, degree } => {
                write!(f, "first level: aggregating proofs {}..{} at k = {degree}", first_proof + 1, first_proof + proofs)
            }
            AggregationStep::Final { inner, degree } => write!(f, "final aggregation of {inner} proof(s) at k = {degree}"),
        }
    }
}

/// What [`aggregate_planned`] made.
pub struct PlannedAggregation {
    /// The final (EVM) aggregation.
    pub proof: AggregatedProof,
    /// Its degree.
    pub degree: u32,
    /// The first-level groups; empty for a one-level aggregation.
    pub groups: Vec<GroupRecord>,
    /// Whether any SRS used is the insecure development one.
    pub srs_insecure: bool,
}

/// What planning one aggregation circuit concluded, as [`ShapeCache`] keeps it.
#[derive(Serialize, Deserialize)]
enum PlannedDegree {
    /// The circuit's degree.
    Degree(u32),
    /// No degree this machine can prove fits: the planner's reason.
    TooLarge(String),
}

/// Aggregation shapes kept between runs, one file per set of inner circuits and degree, so that
/// later aggregations of proofs of the same circuits get the same verifying key (and a verifier
/// deployed once keeps accepting them).
pub struct ShapeCache {
    dir: PathBuf,
    srs_fingerprint: [u8; 32],
}

impl ShapeCache {
    /// The cache in [`ShapeCache::default_dir`], for aggregations over the SRS with this fingerprint.
    pub fn new(srs_fingerprint: [u8; 32]) -> Self {
        ShapeCache { dir: Self::default_dir(), srs_fingerprint }
    }

    /// `ZKML_AGG_CACHE`, else `aggregation/` next to the SRS store.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("ZKML_AGG_CACHE") {
            return dir.into();
        }
        let srs = SrsStore::default_location();
        srs.dir().parent().map_or_else(|| PathBuf::from("aggregation"), |p| p.join("aggregation"))
    }

    /// The SHA-256 state keyed by the SRS and each inner verifying key (its transcript digest)
    /// with its public-input count, in order.
    fn inner_key(&self, snarks: &[Snark]) -> Result<Sha256> {
        let mut key = Sha256::new();
        key.update(self.srs_fingerprint);
        for snark in snarks {
            let digest = snark.protocol.transcript_initial_state.ok_or_else(|| AggregatorError::Internal {
                context: "aggregation cache",
                message: "an inner protocol has no verifying-key digest".into(),
            })?;
            key.update(digest.to_repr());
            key.update((snark.instances.iter().map(Vec::len).sum::<usize>() as u64).to_le_bytes());
        }
        Ok(key)
    }

    /// The file of the shape for aggregating `snarks` (in this order) at degree `k`: keyed by
    /// [`ShapeCache::inner_key`] and `k`. The transcript the aggregation is proved with does not
    /// change its keys, so it is no part of the key.
    fn path(&self, snarks: &[Snark], k: u32) -> Result<PathBuf> {
        let mut key = self.inner_key(snarks)?;
        key.update(k.to_le_bytes());
        Ok(self.dir.join(format!("{}.json", hex::encode(key.finalize()))))
    }

    /// The degree planned for aggregating `snarks` in one circuit (`cheapest`: for the cheapest
    /// verifier, else the fastest that fits EIP-170), from the cache or else by `plan` (which lays
    /// the circuit out: a minute or more), whose conclusion is cached, an
    /// [`AggregatorError::AggregationTooLarge`] included. A later aggregation of proofs of the same
    /// circuits thus skips planning and gets the same degree, so the same verifying key.
    fn planned_degree(&self, snarks: &[Snark], cheapest: bool, plan: impl FnOnce() -> Result<u32>) -> Result<u32> {
        let mut key = self.inner_key(snarks)?;
        key.update(if cheapest { b"plan: cheapest verifier" as &[u8] } else { b"plan: fits EIP-170" });
        let path = self.dir.join(format!("plan-{}.json", hex::encode(key.finalize())));
        let cached: Option<PlannedDegree> = match std::fs::read(&path) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
                AggregatorError::InvalidInput(format!("{} is corrupt ({e}); delete it to plan the aggregation afresh", path.display()))
            })?),
            Err(_) => None,
        };
        let from_cache = cached.is_some();
        let planned = match cached {
            Some(planned) => planned,
            None => {
                let planned = match plan() {
                    Ok(k) => PlannedDegree::Degree(k),
                    Err(AggregatorError::AggregationTooLarge(why)) => PlannedDegree::TooLarge(why),
                    Err(e) => return Err(e),
                };
                write_json(&path, &planned)?;
                planned
            }
        };
        match planned {
            PlannedDegree::Degree(k) => Ok(k),
            // The conclusion depends on this machine's memory: say where it is kept, so that it can
            // be revisited where there is more.
            PlannedDegree::TooLarge(why) if from_cache => Err(AggregatorError::AggregationTooLarge(format!(
                "{why} (concluded earlier and kept in {}; delete it to plan again, for example on a machine with more memory)",
                path.display()
            ))),
            PlannedDegree::TooLarge(why) => Err(AggregatorError::AggregationTooLarge(why)),
        }
    }

    /// The shape cached in `path`, if any; a corrupt file is an error naming it.
    fn load_from(path: &Path) -> Result<Option<AggregationShape>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                AggregatorError::InvalidInput(format!("{} is corrupt ({e}); delete it to make the aggregation keys afresh", path.display()))
            }),
            Err(_) => Ok(None),
        }
    }

    /// The shape of the aggregation of `snarks` at the degree of `params` laid out with `config`:
    /// the cached one when it has that config (made by this machine's own keygen), else derived
    /// by keygen ([`derive_shape`], a minute or more) and cached if nothing was.
    pub(crate) fn derived(&self, params: &ParamsKZG<Bn256>, snarks: &[Snark], config: AggregationConfigParams) -> Result<AggregationShape> {
        let path = self.path(snarks, halo2_proofs::poly::commitment::Params::k(params))?;
        let cached = Self::load_from(&path)?;
        if let Some(shape) = cached.as_ref().filter(|s| same_config(&s.config, &config)) {
            return Ok(shape.clone());
        }
        let shape = derive_shape(params, snarks, config)?;
        if cached.is_none() {
            write_json(&path, &shape)?;
        }
        Ok(shape)
    }

    /// Aggregates `snarks` at the degree of `params` with `aggregate` (one of the two transcripts),
    /// laid out as the cached shape says, and caches the shape of a first aggregation.
    fn aggregate_cached<T>(
        &self,
        params: &ParamsKZG<Bn256>,
        snarks: Vec<Snark>,
        aggregate: impl FnOnce(&ParamsKZG<Bn256>, Vec<Snark>, Option<&AggregationShape>) -> Result<T>,
        shape_of: impl Fn(&T) -> AggregationShape,
    ) -> Result<T> {
        let path = self.path(&snarks, halo2_proofs::poly::commitment::Params::k(params))?;
        let cached = Self::load_from(&path)?;
        let made = aggregate(params, snarks, cached.as_ref())?;
        if cached.is_none() {
            write_json(&path, &shape_of(&made))?;
        }
        Ok(made)
    }
}

/// The degree `degree` asks for when aggregating `snarks` in one circuit, planned once per set of
/// inner circuits (`cache`); `planning` is any SRS sharing the inner proofs' secret.
fn final_degree(planning: &ParamsKZG<Bn256>, cache: &ShapeCache, snarks: &[Snark], degree: Degree) -> Result<u32> {
    let cheapest = match degree {
        Degree::Exactly(k) => return Ok(k),
        Degree::Fits => false,
        Degree::CheapestVerifier => true,
    };
    cache.planned_degree(snarks, cheapest, || plan_aggregation_k(planning, snarks, MAX_PLANNED_K, cheapest))
}

/// How many levels `grouping` asks for: `Err(size)` for two levels in groups of at most `size`
/// proofs, `Ok(k)` for one level at degree `k` (planned here, to decide between the two).
fn levels(planning: &ParamsKZG<Bn256>, cache: &ShapeCache, snarks: &[Snark], degree: Degree, grouping: Grouping) -> Result<std::result::Result<u32, usize>> {
    match (grouping, degree) {
        (Grouping::GroupsOf(0), _) => Err(AggregatorError::InvalidInput("a group holds at least one proof".into())),
        (Grouping::GroupsOf(size), _) => Ok(Err(size)),
        (Grouping::Auto, Degree::Exactly(k)) => Ok(Ok(k)),
        (Grouping::Auto, _) => match final_degree(planning, cache, snarks, degree) {
            Ok(k) => Ok(Ok(k)),
            Err(AggregatorError::AggregationTooLarge(_)) if snarks.len() > 1 => Ok(Err(snarks.len().div_ceil(2))),
            Err(e) => Err(e),
        },
    }
}

/// Aggregates `snarks` (inner model proofs, in order) into one EVM proof, in one level or two
/// ([`Grouping`]); the final circuit's degree as `degree` says. Each first-level group is laid out
/// like a one-level aggregation whose verifier would fit EIP-170 ([`Degree::Fits`]), which keeps
/// its proof cheap to verify in the final circuit. Every aggregation's shape is cached in `cache`.
///
/// `planning` is any SRS of the store's setup (only its generators are read); the aggregation
/// SRS of each degree comes from `store`.
pub fn aggregate_planned(
    store: &SrsStore,
    planning: &ParamsKZG<Bn256>,
    cache: &ShapeCache,
    snarks: Vec<Snark>,
    degree: Degree,
    grouping: Grouping,
    report: &dyn Fn(AggregationStep),
) -> Result<PlannedAggregation> {
    if snarks.is_empty() {
        return Err(AggregatorError::InvalidInput("no proofs to aggregate".into()));
    }
    let mut srs_insecure = false;
    // Every aggregation SRS must share the inner proofs' secret: the final pairing covers them all.
    let mut params_for = |k: u32| -> Result<ParamsKZG<Bn256>> {
        let srs = store.params(k)?;
        if srs_fingerprint(&srs.params) != cache.srs_fingerprint {
            return Err(AggregatorError::InvalidInput(format!(
                "the SRS file for k = {k} in {} comes from another setup than the inner proofs'; keep one source per store",
                store.dir().display()
            )));
        }
        srs_insecure |= srs.source.is_insecure();
        Ok(srs.params)
    };
    let (inner, groups, planned) = match levels(planning, cache, &snarks, degree, grouping)? {
        Ok(k) => (snarks, vec![], Some(k)),
        Err(size) => {
            let (mut inner, mut groups) = (vec![], vec![]);
            for (index, group) in snarks.chunks(size).enumerate() {
                let k = final_degree(planning, cache, group, Degree::Fits).map_err(|e| match e {
                    AggregatorError::AggregationTooLarge(why) => {
                        AggregatorError::AggregationTooLarge(format!("a group of {} proofs: {why}", group.len()))
                    }
                    other => other,
                })?;
                let params = params_for(k)?;
                report(AggregationStep::Group { first_proof: index * size, proofs: group.len(), degree: k });
                let made = cache.aggregate_cached(&params, group.to_vec(), aggregate_to_snark, |g| g.shape.clone())?;
                groups.push(GroupRecord {
                    first_proof: index * size,
                    proofs: group.len(),
                    degree: k,
                    vk_hash: hex::encode(Sha256::digest(&made.shape.vk)),
                    config: Some(made.shape.config),
                });
                inner.push(made.snark);
            }
            (inner, groups, None)
        }
    };
    let k = match planned {
        Some(k) => k,
        None => final_degree(planning, cache, &inner, degree)?,
    };
    let params = params_for(k)?;
    report(AggregationStep::Final { inner: inner.len(), degree: k });
    let proof = cache.aggregate_cached(&params, inner, aggregate_with_shape, AggregatedProof::shape)?;
    Ok(PlannedAggregation { proof, degree: k, groups, srs_insecure })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn cache(name: &str) -> ShapeCache {
        let dir = std::env::temp_dir().join(format!("zkml-plan-cache-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        ShapeCache { dir, srs_fingerprint: [7; 32] }
    }

    #[test]
    fn a_planned_degree_is_cached_per_goal() {
        let cache = cache("degree");
        let calls = Cell::new(0);
        let plan = |k: u32| -> Result<u32> {
            calls.set(calls.get() + 1);
            Ok(k)
        };
        assert_eq!(cache.planned_degree(&[], false, || plan(21)).unwrap(), 21);
        assert_eq!(cache.planned_degree(&[], false, || plan(22)).unwrap(), 21, "the cached plan is used");
        assert_eq!(calls.get(), 1);
        assert_eq!(cache.planned_degree(&[], true, || plan(23)).unwrap(), 23, "the cheapest verifier is planned on its own");
        assert_eq!(calls.get(), 2);
        let other = ShapeCache { dir: cache.dir.clone(), srs_fingerprint: [8; 32] };
        assert_eq!(other.planned_degree(&[], false, || plan(20)).unwrap(), 20, "another SRS is planned afresh");
    }

    #[test]
    fn too_large_is_cached_and_a_corrupt_plan_is_an_error() {
        let cache = cache("too-large");
        let r = cache.planned_degree(&[], false, || Err(AggregatorError::AggregationTooLarge("needs 26 GiB".into())));
        assert!(matches!(r, Err(AggregatorError::AggregationTooLarge(ref why)) if why == "needs 26 GiB"), "{r:?}");
        let r = cache.planned_degree(&[], false, || Ok(20));
        let Err(AggregatorError::AggregationTooLarge(why)) = r else { panic!("the cached conclusion stands: {r:?}") };
        assert!(why.starts_with("needs 26 GiB") && why.contains(&*cache.dir.to_string_lossy()), "it names the plan file: {why}");
        // Other errors are not conclusions about the circuits: not cached.
        let fresh = self::cache("other-error");
        assert!(fresh.planned_degree(&[], true, || Err(AggregatorError::InvalidInput("x".into()))).is_err());
        assert_eq!(fresh.planned_degree(&[], true, || Ok(22)).unwrap(), 22);

        for entry in std::fs::read_dir(&cache.dir).unwrap() {
            std::fs::write(entry.unwrap().path(), b"{not json").unwrap();
        }
        let r = cache.planned_degree(&[], false, || Ok(20));
        assert!(matches!(r, Err(AggregatorError::InvalidInput(ref why)) if why.contains("corrupt")), "{r:?}");
    }
}
