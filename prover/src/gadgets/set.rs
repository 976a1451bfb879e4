//! The gadget set of a circuit: which gadgets it configures ([`GadgetSet`]), its column counts
//! ([`ShapeParams`], halo2's `Circuit::Params`) and every configured column and gate
//! ([`ModelConfig`]). The model circuit and the gadget tests configure through it.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Column, ConstraintSystem, Error, Instance};
use serde::{Deserialize, Serialize};

use super::add::AddConfig;
use super::clamp::ClampConfig;
use super::constant::ConstantConfig;
use super::divide::DivideConfig;
use super::dot_activations::DotActivationsConfig;
use super::dot_weights::DotWeightsConfig;
use super::freivalds::FreivaldsConfig;
use super::matvec::MatVecConfig;
use super::max::MaxConfig;
use super::poseidon::{self, PoseidonConfig};
use super::product::ProductConfig;
use super::range_check::RangeCheckConfig;
use super::relu::ReluConfig;
use super::rescale::RescaleConfig;
use super::rescale_activation::RescaleActivationConfig;
use super::sqrt::SqrtConfig;
use super::Columns;

/// The parameters `configure` needs: how many columns of each kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeParams {
    /// Advice (and fixed) columns of the main area.
    pub width: usize,
    /// Lookup columns for range checks.
    pub lookup_columns: usize,
    /// Column pairs for function lookups (0 when the model tabulates no function).
    #[serde(default)]
    pub function_columns: usize,
    /// The gadgets the circuit configures.
    pub gadgets: GadgetSet,
}

/// Which gadgets a circuit configures. Only the ones a model uses are added: every gate is
/// evaluated on every row by the prover, used or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GadgetSet {
    /// [`DotWeightsConfig`].
    pub dot_weights: bool,
    /// [`DotActivationsConfig`].
    pub dot_activations: bool,
    /// [`MatVecConfig`].
    pub matvec: bool,
    /// [`RescaleConfig`].
    pub rescale: bool,
    /// [`ReluConfig`].
    pub relu: bool,
    /// [`AddConfig`].
    pub add: bool,
    /// [`ClampConfig`].
    pub clamp: bool,
    /// [`MaxConfig`].
    pub max: bool,
    /// [`ProductConfig`].
    pub product: bool,
    /// [`DivideConfig`].
    pub divide: bool,
    /// [`SqrtConfig`].
    pub sqrt: bool,
    /// [`RescaleActivationConfig`].
    pub rescale_activation: bool,
    /// [`ConstantConfig`].
    pub constant: bool,
    /// [`PoseidonConfig`].
    pub poseidon: bool,
    /// [`FreivaldsConfig`] (a second-phase column and two challenges).
    #[serde(default)]
    pub freivalds: bool,
}

impl GadgetSet {
    /// Every gadget (for gadget tests).
    pub fn all() -> Self {
        GadgetSet {
            dot_weights: true,
            dot_activations: true,
            matvec: true,
            rescale: true,
            relu: true,
            add: true,
            clamp: true,
            max: true,
            product: true,
            divide: true,
            sqrt: true,
            rescale_activation: true,
            constant: true,
            poseidon: true,
            freivalds: true,
        }
    }

    /// Every gadget that fits `width` main columns: what a counting run configures, and the
    /// gadget tests.
    pub fn fitting(width: usize) -> Self {
        GadgetSet { poseidon: width >= poseidon::MIN_WIDTH, divide: width >= 5, rescale_activation: width >= 5, ..GadgetSet::all() }
    }

    /// Fewest main columns the set needs.
    pub fn min_width(&self) -> usize {
        if self.poseidon {
            poseidon::MIN_WIDTH
        } else if self.divide || self.rescale_activation {
            5
        } else {
            4
        }
    }
}

/// Every column and gate of the model circuit; a gadget the [`GadgetSet`] leaves out is `None`.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// The shared main columns.
    pub columns: Columns,
    /// Dot products with constant weights.
    pub dot_weights: Option<DotWeightsConfig>,
    /// Dot products of two activations.
    pub dot_activations: Option<DotActivationsConfig>,
    /// Matrix-vector products (linear layers, convolutions).
    pub matvec: Option<MatVecConfig>,
    /// Rounded rescaling.
    pub rescale: Option<RescaleConfig>,
    /// ReLU.
    pub relu: Option<ReluConfig>,
    /// Sums and differences.
    pub add: Option<AddConfig>,
    /// Clamps (ReLU6).
    pub clamp: Option<ClampConfig>,
    /// Maxima (max pooling, ReduceMax).
    pub max: Option<MaxConfig>,
    /// Products of two activations.
    pub product: Option<ProductConfig>,
    /// Quotients.
    pub divide: Option<DivideConfig>,
    /// Square roots.
    pub sqrt: Option<SqrtConfig>,
    /// Rescales fused with the activation after them.
    pub rescale_activation: Option<RescaleActivationConfig>,
    /// Constant cells.
    pub constant: Option<ConstantConfig>,
    /// Poseidon commitments.
    pub poseidon: Option<PoseidonConfig>,
    /// Randomized checks of convolutions.
    pub freivalds: Option<FreivaldsConfig>,
    /// Range checks and their table.
    pub range: RangeCheckConfig,
    /// The public inputs.
    pub instance: Column<Instance>,
    /// Where a counting run records the gadgets used (see [`ModelConfig::record_usage`]).
    pub used: Option<std::sync::Arc<std::sync::Mutex<GadgetSet>>>,
}

impl ModelConfig {
    /// Creates all columns and gates for `params`.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, params: ShapeParams) -> Self {
        let g = params.gadgets;
        // The lookups already need degree 4, whose quotient uses a 4× extended domain; degree 5
        // uses the same domain and lets the permutation argument take 3 columns per product
        // polynomial instead of 2 (measured: 3-4% faster proofs).
        meta.set_minimum_degree(5);
        assert!(params.width >= g.min_width() && params.lookup_columns >= 1, "invalid circuit shape {params:?}");
        let columns = Columns::configure(meta, params.width);
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        let c = &columns;
        ModelConfig {
            dot_weights: g.dot_weights.then(|| DotWeightsConfig::configure(meta, c)),
            dot_activations: g.dot_activations.then(|| DotActivationsConfig::configure(meta, c)),
            matvec: g.matvec.then(|| MatVecConfig::configure(meta, c)),
            rescale: g.rescale.then(|| RescaleConfig::configure(meta, c)),
            relu: g.relu.then(|| ReluConfig::configure(meta, c)),
            add: g.add.then(|| AddConfig::configure(meta, c)),
            clamp: g.clamp.then(|| ClampConfig::configure(meta, c)),
            max: g.max.then(|| MaxConfig::configure(meta, c)),
            product: g.product.then(|| ProductConfig::configure(meta, c)),
            divide: g.divide.then(|| DivideConfig::configure(meta, c)),
            sqrt: g.sqrt.then(|| SqrtConfig::configure(meta, c)),
            rescale_activation: g.rescale_activation.then(|| RescaleActivationConfig::configure(meta, c)),
            constant: g.constant.then(|| ConstantConfig::configure(meta, c)),
            poseidon: if g.poseidon { PoseidonConfig::configure(meta, c) } else { None },
            freivalds: g.freivalds.then(|| FreivaldsConfig::configure(meta, c)),
            range: RangeCheckConfig::configure(meta, params.lookup_columns, params.function_columns),
            columns,
            instance,
            used: None,
        }
    }
}

/// The configured gadget `config.$gadget` (a field of [`ModelConfig`], named as in
/// [`GadgetSet`]), or a synthesis error if the plan left it out (a planner bug); a counting run
/// ([`ModelConfig::record_usage`]) notes that the gadget is used.
#[macro_export]
macro_rules! need {
    ($config:expr, $gadget:ident) => {
        $config.need(|set| set.$gadget = true, &$config.$gadget)
    };
}

impl ModelConfig {
    /// `config`, marked used by `mark` when usage is recorded; see [`need!`](crate::need).
    pub fn need<'c, T>(&self, mark: impl FnOnce(&mut GadgetSet), config: &'c Option<T>) -> Result<&'c T, Error> {
        if let Some(used) = &self.used {
            mark(&mut *used.lock().map_err(|_| Error::Synthesis)?);
        }
        config.as_ref().ok_or(Error::Synthesis)
    }

    /// From now on, records in the returned set every gadget the layout asks for: how the
    /// planner learns which gadgets a model needs, by laying it out.
    pub fn record_usage(&mut self) -> std::sync::Arc<std::sync::Mutex<GadgetSet>> {
        let used = std::sync::Arc::new(std::sync::Mutex::new(GadgetSet::default()));
        self.used = Some(used.clone());
        used
    }
}
