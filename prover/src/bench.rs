//! Timing one model through keygen, proving and verification (what `zkml bench` reports).

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::compile::{compile_model, compile_onnx_calibrated, load_inputs};
use crate::input::InputFile;
use crate::error::ProverError;
use crate::keys::{generate_keys, model_srs};
use crate::proof::{prove, verify};
use crate::quantize::QuantizeConfig;
use crate::estimate::{estimate, Estimate};

/// Measurements of one model, all in the current process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchResult {
    /// The model file.
    pub model: String,
    /// Circuit size `2^k`.
    pub k: u32,
    /// Advice columns of the main area, plus the second-phase column of the randomized checks.
    pub advice_columns: usize,
    /// Lookup columns.
    pub lookup_columns: usize,
    /// Seconds to compile (import, quantize, plan).
    pub compile_s: f64,
    /// Seconds to load (or make) the SRS.
    pub srs_s: f64,
    /// Seconds to make the proving and verifying keys.
    pub keygen_s: f64,
    /// Seconds to prove.
    pub prove_s: f64,
    /// Seconds to verify.
    pub verify_s: f64,
    /// Proof size in bytes.
    pub proof_bytes: usize,
    /// Peak resident memory of the process, in MiB (Linux; 0 elsewhere).
    pub peak_rss_mib: f64,
    /// Size of the proving key as written (`pk.bin` without its header), bytes.
    pub proving_key_bytes: u64,
    /// What [`crate::estimate`] predicted before keygen.
    pub estimate: Estimate,
}

/// Peak resident set size of this process in MiB, from `/proc/self/status`.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Compiles (calibrating on `calibration` when given), sets up, proves and verifies `model` on
/// `input`, timing each step. The SRS comes from the default store (made on first use, timed
/// separately).
pub fn bench_model(model: &Path, input: &Path, calibration: Option<&Path>, config: QuantizeConfig) -> Result<BenchResult, ProverError> {
    let t = Instant::now();
    let compiled = match calibration {
        Some(data) => compile_onnx_calibrated(model, config.scale_bits, None, &InputFile::load(data)?.input_data)?.0,
        None => compile_model(model, config)?,
    };
    let compile_s = t.elapsed().as_secs_f64();
    let inputs = load_inputs(&compiled, input)?;
    let t = Instant::now();
    let srs = model_srs(&compiled)?;
    let srs_s = t.elapsed().as_secs_f64();
    let predicted = estimate(&compiled);
    let t = Instant::now();
    let pk = generate_keys(&compiled, &srs.params)?;
    let keygen_s = t.elapsed().as_secs_f64();
    let mut written = CountingWriter(0);
    pk.write(&mut written, halo2_proofs::SerdeFormat::RawBytes).map_err(|e| ProverError::io(model, e))?;
    let t = Instant::now();
    let proof = prove(&compiled, &srs.params, &pk, &inputs)?;
    let prove_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    verify(&compiled, &srs.params, pk.get_vk(), &proof)?;
    let verify_s = t.elapsed().as_secs_f64();
    Ok(BenchResult {
        model: model.display().to_string(),
        k: compiled.layout.k,
        advice_columns: compiled.layout.shape.width + usize::from(compiled.layout.shape.gadgets.freivalds),
        lookup_columns: compiled.layout.shape.lookup_columns,
        compile_s,
        srs_s,
        keygen_s,
        prove_s,
        verify_s,
        proof_bytes: proof.proof_bytes()?.len(),
        peak_rss_mib: peak_rss_mib(),
        proving_key_bytes: written.0,
        estimate: predicted,
    })
}

/// Counts the bytes written to it.
struct CountingWriter(u64);

impl std::io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
