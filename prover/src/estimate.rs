//! What a compiled model will cost before any key is made: the circuit's columns (read from the
//! real constraint system), the SRS and proving-key sizes (from their layouts), and the peak memory
//! and times of keygen and proving, predicted by a cost model fitted to `zkml bench` measurements
//! on this project's reference machine (2 cores, 24 GiB; BENCHMARKS.md records the fit).
//!
//! The cost model is linear in the circuit's *cells*, `2^k` times the polynomials a proof commits
//! to or a key holds (advice, fixed, selectors, instance, permutation, and three per lookup
//! argument: its two permuted columns and its product), which is what halo2's FFTs and
//! multi-scalar multiplications scale with.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem};
use serde::{Deserialize, Serialize};

use crate::artifact::CompiledModel;
use crate::circuit::{CircuitLayout, ModelCircuit};
use crate::error::ProverError;

/// One field element, as keys and the SRS store it.
const FIELD_BYTES: u64 = 32;
/// The SRS holds two G1 points per row (monomial and Lagrange bases), 64 bytes each.
const SRS_BYTES_PER_ROW: u64 = 128;

/// The fitted cost model: `value = fixed + per_cell · cells`. See [`MEASUREMENTS`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LinearCost {
    /// The value at zero cells.
    pub fixed: f64,
    /// The increase per cell.
    pub per_cell: f64,
}

impl LinearCost {
    /// The value predicted for `cells`.
    pub fn at(&self, cells: f64) -> f64 {
        self.fixed + self.per_cell * cells
    }

    /// The least-squares line through `points` (`(cells, value)`).
    pub fn fit(points: &[(f64, f64)]) -> LinearCost {
        let n = points.len() as f64;
        let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), &(x, y)| (a + x, b + y));
        let (mx, my) = (sx / n, sy / n);
        let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(a, b), &(x, y)| (a + (x - mx) * (y - my), b + (x - mx) * (x - mx)));
        let per_cell = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        LinearCost { fixed: my - per_cell * mx, per_cell }
    }
}

/// One `zkml bench` run the cost model is fitted to: the model's cells and what was measured.
/// The fit is in-sample on models of 2^14 to 2^17 rows; larger circuits are extrapolated along
/// the line, which halo2's costs follow (FFTs and MSMs near-linear in rows × polynomials).
#[derive(Clone, Copy, Debug)]
pub struct Measurement {
    /// The model.
    pub model: &'static str,
    /// Its circuit's cells ([`Estimate::cells`]).
    pub cells: f64,
    /// Peak resident memory of the whole run (compile, keygen, prove, verify), MiB.
    pub peak_mib: f64,
    /// Seconds to make both keys.
    pub keygen_s: f64,
    /// Seconds to prove.
    pub prove_s: f64,
}

/// The measurements the cost model is fitted to (`zkml bench`, this project's reference
/// machine: Intel Xeon, 2 cores, 24 GiB; 2026-12-08, BENCHMARKS.md). Each model ran in its own
/// process, so its peak memory is its own. Refit when the prover's costs change: run
/// `zkml bench`, copy its figures here; the section it appends states the fit's error.
pub const MEASUREMENTS: &[Measurement] = &[
    Measurement { model: "zkml MNIST CNN (msgpack), k = 15", cells: 1.671e6, peak_mib: 199.0, keygen_s: 1.68, prove_s: 4.28 },
    Measurement { model: "ONNX model zoo mnist-8, k = 17", cells: 6.554e6, peak_mib: 638.0, keygen_s: 5.99, prove_s: 16.12 },
    Measurement { model: "examples/mlp, k = 14", cells: 6.390e5, peak_mib: 113.0, keygen_s: 0.88, prove_s: 1.77 },
    Measurement { model: "examples/cnn, k = 14", cells: 6.554e5, peak_mib: 109.0, keygen_s: 0.78, prove_s: 2.29 },
];

/// What a compiled model costs to set up and prove.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Estimate {
    /// The circuit has `2^k` rows.
    pub k: u32,
    /// Rows the layout uses in the main area.
    pub rows_used: usize,
    /// Advice columns.
    pub advice_columns: usize,
    /// Fixed columns, selectors not included.
    pub fixed_columns: usize,
    /// Selectors (keygen compresses them into fewer fixed columns).
    pub selectors: usize,
    /// Instance (public input) columns.
    pub instance_columns: usize,
    /// Lookup arguments.
    pub lookups: usize,
    /// Columns under the copy constraint.
    pub permutation_columns: usize,
    /// `2^k` times every polynomial the circuit commits to or its keys hold (module docs).
    pub cells: f64,
    /// Size of the SRS file for `2^k` rows.
    pub srs_bytes: u64,
    /// Size of the proving key: three Lagrange-basis helpers, the fixed columns and the selectors
    /// (at most; compression merges selectors) and the permutation, each twice (values and
    /// coefficients). An upper bound, within the selectors' share.
    pub proving_key_bytes: u64,
    /// Predicted peak resident memory of keygen and proving, bytes.
    pub peak_memory_bytes: u64,
    /// Predicted seconds to make the keys.
    pub keygen_seconds: f64,
    /// Predicted seconds to prove.
    pub prove_seconds: f64,
}

/// Peak memory, keygen and proving time as functions of cells, fitted to [`MEASUREMENTS`].
pub fn cost_model() -> (LinearCost, LinearCost, LinearCost) {
    let fit = |f: fn(&Measurement) -> f64| LinearCost::fit(&MEASUREMENTS.iter().map(|m| (m.cells, f(m))).collect::<Vec<_>>());
    (fit(|m| m.peak_mib), fit(|m| m.keygen_s), fit(|m| m.prove_s))
}

/// Estimates `model`'s costs from its layout and its constraint system, without keygen.
pub fn estimate(model: &CompiledModel) -> Estimate {
    estimate_layout(&model.layout)
}

/// Estimates the costs of a circuit laid out as `layout` (a model's, or a segment's).
pub fn estimate_layout(layout: &CircuitLayout) -> Estimate {
    let mut cs = ConstraintSystem::<Fr>::default();
    ModelCircuit::configure_with_params(&mut cs, layout.shape);
    let k = layout.k;
    let rows = (1u64 << k) as f64;
    let (advice, fixed, selectors, instance) = (cs.num_advice_columns(), cs.num_fixed_columns(), cs.num_selectors(), cs.num_instance_columns());
    let (lookups, permutation) = (cs.lookups().len(), cs.permutation().get_columns().len());
    let polynomials = advice + fixed + selectors + instance + permutation + 3 * lookups;
    let cells = rows * polynomials as f64;
    let (memory, keygen, prove) = cost_model();
    let key_polynomials = 3 + 2 * (fixed + selectors) + 2 * permutation;
    Estimate {
        k,
        rows_used: layout.main_rows,
        advice_columns: advice,
        fixed_columns: fixed,
        selectors,
        instance_columns: instance,
        lookups,
        permutation_columns: permutation,
        cells,
        srs_bytes: SRS_BYTES_PER_ROW << k,
        proving_key_bytes: FIELD_BYTES * (key_polynomials as u64) << k,
        peak_memory_bytes: (memory.at(cells).max(0.0) * 1024.0 * 1024.0) as u64,
        keygen_seconds: keygen.at(cells).max(0.0),
        prove_seconds: prove.at(cells).max(0.0),
    }
}

/// Memory the system can give a new process without swapping (`MemAvailable` of
/// `/proc/meminfo`), bytes; `None` where it cannot be read.
pub fn available_memory_bytes() -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// The default budget: nine tenths of the available memory (the rest for the system and the
/// estimate's error); unbounded where it cannot be read.
pub fn default_memory_budget() -> u64 {
    available_memory_bytes().map_or(u64::MAX, |bytes| bytes / 10 * 9)
}

/// Bytes in the largest binary unit that keeps the number at least 1 (e.g. `1.50 GiB`).
pub fn format_bytes(bytes: u64) -> String {
    let units = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    match units.iter().find(|&&(_, shift)| bytes >= 1u64 << shift) {
        Some(&(unit, shift)) => format!("{:.2} {unit}", bytes as f64 / (1u64 << shift) as f64),
        None => format!("{bytes} B"),
    }
}

impl Estimate {
    /// Refuses, before `step` starts, an estimate whose peak memory exceeds `budget` bytes,
    /// saying what would bring it within.
    pub fn check_memory(&self, step: &str, budget: u64) -> Result<(), ProverError> {
        if self.peak_memory_bytes <= budget {
            return Ok(());
        }
        Err(ProverError::Memory(format!(
            "{step} needs about {} (2^{} rows, {:.2e} cells), over the budget of {}: compile with fewer --range-bits or a \
             smaller --scale (a smaller lookup table and fewer rows), or raise --max-memory if the machine has more free",
            format_bytes(self.peak_memory_bytes),
            self.k,
            self.cells,
            format_bytes(budget)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_their_unit() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(3 << 29), "1.50 GiB");
        assert_eq!(format_bytes(20 << 20), "20.00 MiB");
    }

    #[test]
    fn the_fit_is_the_least_squares_line() {
        let line = LinearCost::fit(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]);
        assert!((line.fixed - 1.0).abs() < 1e-12 && (line.per_cell - 2.0).abs() < 1e-12, "{line:?}");
        assert_eq!(line.at(10.0), 21.0);
    }

    /// The fitted model reproduces its own measurements within a stated error, and grows with
    /// the circuit (a model fitted with a negative slope would wave any circuit through).
    #[test]
    fn the_cost_model_fits_its_measurements() {
        let (memory, keygen, prove) = cost_model();
        assert!(memory.per_cell > 0.0 && keygen.per_cell > 0.0 && prove.per_cell > 0.0, "{memory:?} {keygen:?} {prove:?}");
        for m in MEASUREMENTS {
            let close = |predicted: f64, measured: f64| (predicted - measured).abs() <= 0.3 * measured;
            assert!(close(memory.at(m.cells), m.peak_mib), "{}: memory {} vs {}", m.model, memory.at(m.cells), m.peak_mib);
            assert!(close(prove.at(m.cells), m.prove_s), "{}: prove {} vs {}", m.model, prove.at(m.cells), m.prove_s);
        }
    }

    fn example_mlp() -> CompiledModel {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/mlp/model.onnx");
        crate::compile::compile_onnx(&path, crate::quantize::QuantizeConfig::default()).unwrap()
    }

    /// The columns are those keygen makes, and the proving-key size is an upper bound of the
    /// written key's, close to it.
    #[test]
    fn columns_and_key_size_match_keygen() {
        let model = example_mlp();
        let e = estimate(&model);
        let srs = crate::keys::model_srs(&model).unwrap();
        let pk = crate::keys::generate_keys(&model, &srs.params).unwrap();
        let cs = pk.get_vk().cs();
        assert_eq!((e.advice_columns, e.instance_columns, e.lookups), (cs.num_advice_columns(), cs.num_instance_columns(), cs.lookups().len()));
        assert_eq!(e.permutation_columns, cs.permutation().get_columns().len());
        assert!(cs.num_fixed_columns() <= e.fixed_columns + e.selectors, "compressed selectors are fixed columns");
        let mut written = vec![];
        pk.write(&mut written, halo2_proofs::SerdeFormat::RawBytes).unwrap();
        let actual = written.len() as u64;
        assert!(e.proving_key_bytes >= actual && e.proving_key_bytes <= actual * 3 / 2, "{} vs {actual}", e.proving_key_bytes);
        assert_eq!(e.srs_bytes, 128 << model.layout.k);
    }

    #[test]
    fn a_budget_below_the_estimate_is_refused_with_advice() {
        let e = estimate(&example_mlp());
        assert!(e.check_memory("proving", e.peak_memory_bytes).is_ok());
        let err = e.check_memory("proving", e.peak_memory_bytes - 1).unwrap_err().to_string();
        assert!(err.contains("over the memory budget") && err.contains("--range-bits") && err.contains("--max-memory"), "{err}");
    }
}
