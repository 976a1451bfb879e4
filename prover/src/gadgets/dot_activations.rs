//! Dot product of two activation vectors (a product of two computed tensors).
//!
//! With `W` advice columns, `h = ⌊(W−1)/2⌋` pairs per row in `a_0..a_{h−1}` and `a_h..a_{2h−1}`,
//! and `acc = a_{W−1}`:
//!
//! ```text
//!     q_first · (acc − Σ_{i<h} a_i·a_{h+i})             = 0
//!     q_next  · (acc − acc_prev − Σ_{i<h} a_i·a_{h+i})  = 0
//!     q · pad_i · a_i      = 0        for every i < h and q ∈ {q_first, q_next}
//!     q · pad_i · a_{h+i}  = 0
//! ```
//!
//! Both operands are copied in from the cells that computed them. The last row's unused lanes
//! (when the length is not a multiple of `h`) are no copies: the fixed flag `pad_i` (fixed column
//! `i`, 1 on such a lane, 0 elsewhere) forces both of their cells to zero. Without it a prover could
//! put `(Δ, 1)` there and move the sum, hence the rescaled output, by any `Δ`.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

use super::{enable, Columns, Num, RegionCtx};

/// Selectors and gate of the activation dot product.
#[derive(Clone, Debug)]
pub struct DotActivationsConfig {
    cols: Columns,
    q_first: Selector,
    q_next: Selector,
}

impl DotActivationsConfig {
    /// Adds the gate over `cols` (needs at least 3 columns).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns) -> Self {
        let (q_first, q_next) = (meta.selector(), meta.selector());
        let w = cols.width();
        let h = Self::lanes(w);
        meta.create_gate("dot of activations", |m| {
            let acc = m.query_advice(cols.advice[w - 1], Rotation::cur());
            let acc_prev = m.query_advice(cols.advice[w - 1], Rotation::prev());
            let body = (0..h).fold(Expression::Constant(Fr::zero()), |sum, i| {
                sum + m.query_advice(cols.advice[i], Rotation::cur()) * m.query_advice(cols.advice[h + i], Rotation::cur())
            });
            let (first, next) = (m.query_selector(q_first), m.query_selector(q_next));
            let mut constraints = vec![first.clone() * (acc.clone() - body.clone()), next.clone() * (acc - acc_prev - body)];
            // Simple selectors cannot be added, so each zero check is written once per selector.
            for i in 0..h {
                let pad = m.query_fixed(cols.fixed[i], Rotation::cur());
                for lane in [i, h + i] {
                    let cell = m.query_advice(cols.advice[lane], Rotation::cur());
                    for q in [&first, &next] {
                        constraints.push(q.clone() * pad.clone() * cell.clone());
                    }
                }
            }
            constraints
        });
        DotActivationsConfig { cols: cols.clone(), q_first, q_next }
    }

    /// Pairs per row for `width` columns.
    pub fn lanes(width: usize) -> usize {
        (width - 1) / 2
    }

    /// Rows one dot product of length `len` takes.
    pub fn rows(len: usize, width: usize) -> usize {
        len.div_ceil(Self::lanes(width)).max(1)
    }
}

/// Assigns activation dot products.
pub struct DotActivationsChip<'c> {
    config: &'c DotActivationsConfig,
}

impl<'c> DotActivationsChip<'c> {
    /// A chip over `config`.
    pub fn new(config: &'c DotActivationsConfig) -> Self {
        DotActivationsChip { config }
    }

    /// Lays out `Σ a_i·b_i`; `claimed` is the caller's value of the sum, checked by the gate.
    pub fn assign(&self, ctx: &mut RegionCtx<'_, '_>, a: &[Num], b: &[Num], claimed: Option<i128>) -> Result<Num, Error> {
        #[cfg(test)]
        let padding = tests::FORGED_PADDING.with(std::cell::Cell::get);
        #[cfg(not(test))]
        let padding = (0, 0);
        self.assign_padded(ctx, a, b, claimed, padding)
    }

    /// [`DotActivationsChip::assign`] with `padding` written into every unused lane (always
    /// `(0, 0)`, except in tests that tamper with it).
    fn assign_padded(&self, ctx: &mut RegionCtx<'_, '_>, a: &[Num], b: &[Num], claimed: Option<i128>, padding: (i128, i128)) -> Result<Num, Error> {
        assert_eq!(a.len(), b.len(), "operands of equal length");
        let cols = &self.config.cols;
        let (w, h) = (cols.width(), DotActivationsConfig::lanes(cols.width()));
        let rows = DotActivationsConfig::rows(a.len(), w);
        let start = ctx.take_rows(rows);
        let mut partial = Some(0i128);
        let mut result = None;
        for r in 0..rows {
            let row = start + r;
            enable(if r == 0 { &self.config.q_first } else { &self.config.q_next }, ctx.region, row)?;
            for lane in 0..h {
                let i = r * h + lane;
                if i < a.len() {
                    ctx.copy(&a[i], cols.advice[lane], row);
                    ctx.copy(&b[i], cols.advice[h + lane], row);
                    partial = partial.zip(a[i].value.zip(b[i].value)).map(|(p, (x, y))| p + x * y);
                } else {
                    ctx.region.assign_fixed(cols.fixed[lane], row, Fr::one());
                    ctx.assign(cols.advice[lane], row, Some(padding.0));
                    ctx.assign(cols.advice[h + lane], row, Some(padding.1));
                }
            }
            let value = if r + 1 == rows { claimed } else { partial };
            result = Some(ctx.assign(cols.advice[w - 1], row, value));
        }
        Ok(result.expect("at least one row"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gadgets::test_util::{GadgetTest, assert_no_free_cells, assert_no_free_pairs, assert_rejected, load};

    thread_local! {
        /// What every dot product a whole circuit lays out (through [`DotActivationsChip::assign`])
        /// writes into its unused lanes: `(0, 0)` but in the full-proof forgery test.
        pub(super) static FORGED_PADDING: std::cell::Cell<(i128, i128)> = const { std::cell::Cell::new((0, 0)) };
    }

    /// Finding 1 through a real proof: the digits MLP with hashed parameters (every Linear layer's
    /// weights are witnesses, so its dot products run here) proved with `(Δ, 0)` in every unused
    /// lane. That leaves every sum, hence every output, as it was, so a circuit without the
    /// padding flags accepts the proof (checked by removing them); with them, the verifier
    /// rejects it, while the honest proof verifies.
    #[test]
    fn a_real_proof_with_forged_padding_is_rejected() {
        use crate::visibility::{Visibility, VisibilitySettings};
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/mlp");
        let config = crate::quantize::QuantizeConfig { scale_bits: 8, range_bits: 16 };
        let hashed = VisibilitySettings { params: Visibility::Hashed, ..Default::default() };
        let model = crate::compile::compile_onnx(&examples.join("model.onnx"), config).unwrap().with_visibility(hashed).unwrap();
        let width = model.layout.shape.width;
        let lengths: Vec<usize> = model.quantized.nodes.iter().filter_map(|n| match &n.op {
            crate::quantize::QOp::Linear(linear) => Some(linear.weight_t.shape()[1] + 1),
            _ => None,
        }).collect();
        assert!(
            lengths.iter().any(|len| len % DotActivationsConfig::lanes(width) != 0),
            "no dot product of lengths {lengths:?} leaves an unused lane at width {width}: the test would prove nothing"
        );
        let inputs = crate::compile::load_inputs(&model, &examples.join("input.json")).unwrap();
        let params = crate::srs::generate_dev_params(model.layout.k);
        let pk = crate::keys::generate_keys(&model, &params).unwrap();
        let prove = || crate::proof::prove(&model, &params, &pk, &inputs).unwrap();
        let verify = |proof: &crate::proof::ProofFile| crate::proof::verify(&model, &params, pk.get_vk(), proof);

        let honest = prove();
        verify(&honest).expect("the honest proof verifies");
        FORGED_PADDING.with(|p| p.set((12345, 0)));
        let forged = prove();
        FORGED_PADDING.with(|p| p.set((0, 0)));
        assert_eq!((&forged.outputs, &forged.instances), (&honest.outputs, &honest.instances), "the forgery changes no public value");
        assert!(verify(&forged).is_err(), "a proof with nonzero padding lanes verified");
    }

    fn run(a: Vec<i128>, b: Vec<i128>, claimed: i128, width: usize) -> GadgetTest {
        run_padded(a, b, claimed, width, (0, 0))
    }

    fn run_padded(a: Vec<i128>, b: Vec<i128>, claimed: i128, width: usize, padding: (i128, i128)) -> GadgetTest {
        GadgetTest::new(width, move |config, ctx| {
            let chip = DotActivationsChip::new(config.dot_activations.as_ref().unwrap());
            let (xa, xb) = (load(config, ctx, &a), load(config, ctx, &b));
            Ok(vec![chip.assign_padded(ctx, &xa, &xb, Some(claimed), padding)?])
        })
    }

    /// The forgery the padding flags stop: `(Δ, 1)` in an unused lane of the last row moves the
    /// sum by `Δ`, with every row's accumulator consistent. So does either cell alone being nonzero.
    #[test]
    fn unused_lanes_hold_zeros_only() {
        // Width 5: two pairs a row, so a length of 3 leaves one unused lane in the second row.
        let (a, b) = (vec![2, -3, 4], vec![5, 6, -7]);
        let sum: i128 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_no_free_cells(&run_padded(a.clone(), b.clone(), sum, 5, (0, 0)), &[sum]);
        for delta in [1, 1000, -77] {
            assert_rejected(&run_padded(a.clone(), b.clone(), sum + delta, 5, (delta, 1)), &[sum + delta]);
            assert_rejected(&run_padded(a.clone(), b.clone(), sum + delta, 5, (1, delta)), &[sum + delta]);
        }
        assert_rejected(&run_padded(a.clone(), b.clone(), sum, 5, (9, 0)), &[sum]);
        assert_rejected(&run_padded(a, b, sum, 5, (0, 9)), &[sum]);
    }

    /// The lanes of a row are summed: no two of its cells may change together either.
    #[test]
    fn no_two_cells_of_a_row_change_together() {
        let (a, b) = (vec![2, -3, 4, 1, 5], vec![5, 6, -7, 1, 1]);
        let sum: i128 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_no_free_pairs(&run(a, b, sum, 5), &[sum]);
    }

    #[test]
    fn correct_products_pass_and_wrong_ones_fail() {
        for (len, width) in [(1, 4), (4, 4), (5, 5), (8, 6)] {
            let a: Vec<i128> = (0..len).map(|i| i as i128 - 2).collect();
            let b: Vec<i128> = (0..len).map(|i| 7 - 3 * i as i128).collect();
            let sum: i128 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert_no_free_cells(&run(a.clone(), b.clone(), sum, width), &[sum]);
            assert_rejected(&run(a, b, sum + 1, width), &[sum + 1]);
        }
    }
}
