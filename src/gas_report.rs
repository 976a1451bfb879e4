//! `zkml gas-report`: the gas and bytecode size of aggregated verification for N = 1, 2, 4, 8
//! proofs (digits MLP and CNN alternating, outputs hashed), appended to BENCHMARKS.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use zkml_aggregator::workflow::{self, Tools};
use zkml_prover::compile::compile_onnx_calibrated;
use zkml_prover::input::InputFile;
use zkml_prover::keys;
use zkml_prover::proof;
use zkml_prover::visibility::{Visibility, VisibilitySettings};


/// Proof counts measured, up to the `--max-proofs` asked for.
const COUNTS: [usize; 4] = [1, 2, 4, 8];

/// Compiles, sets up and proves `count` samples of `example` into `work`; returns the model
/// directory and the proof files.
fn prove_samples(root: &Path, example: &str, count: usize, work: &Path) -> Result<(PathBuf, Vec<PathBuf>)> {
    let dir = root.join("examples").join(example);
    let samples = InputFile::load(&dir.join("calibration.json"))?.input_data;
    let (model, _) = compile_onnx_calibrated(&dir.join("model.onnx"), 8, None, &samples)?;
    let model = model.with_visibility(VisibilitySettings { output: Visibility::Hashed, ..Default::default() })?;
    let model_dir = work.join(example);
    model.save(&model_dir)?;
    let srs = keys::model_srs(&model)?;
    let pk = keys::generate_keys(&model, &srs.params)?;
    keys::save_keys(&model_dir, &model, &srs.params, &pk)?;
    let heldout: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("heldout.json"))?)?;
    let mut proofs = vec![];
    for i in 0..count {
        let sample: Vec<f32> = serde_json::from_value(heldout["inputs"][i].clone()).context("reading a held-out sample")?;
        let file = proof::prove(&model, &srs.params, &pk, &[sample])?;
        let path = work.join(format!("{example}-{i}.json"));
        file.save(&path)?;
        proofs.push(path);
    }
    Ok((model_dir, proofs))
}

/// Measures every count up to `max_proofs` and appends a dated section to `output`.
pub fn run(output: &Path, max_proofs: usize) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = std::env::temp_dir().join(format!("zkml-gas-report-{}", std::process::id()));
    let counts: Vec<usize> = COUNTS.into_iter().filter(|&n| n <= max_proofs).collect();
    let most = counts.last().copied().unwrap_or(0);
    eprintln!("proving {most} sample(s) of the digits MLP and CNN in {}", work.display());
    let (mlp, mlp_proofs) = prove_samples(root, "mlp", most.div_ceil(2), &work)?;
    let (cnn, cnn_proofs) = prove_samples(root, "cnn", most / 2, &work)?;
    let interleaved: Vec<PathBuf> = (0..most).map(|i| if i % 2 == 0 { mlp_proofs[i / 2].clone() } else { cnn_proofs[i / 2].clone() }).collect();
    let tools = Tools::find(root);
    let mut rows = String::new();
    for n in counts {
        eprintln!("aggregating {n} proof(s) ...");
        let agg = work.join(format!("agg-{n}"));
        let started = Instant::now();
        let summary = workflow::aggregate_proofs(&[mlp.clone(), cnn.clone()], &interleaved[..n], &agg, None)?;
        let seconds = started.elapsed().as_secs_f64();
        let verifier = workflow::write_evm_verifier(&agg, &tools)?;
        let outcome = workflow::evm_verify_local(&agg)?;
        anyhow::ensure!(outcome.accepted, "the verifier of {n} proof(s) rejected its proof");
        let row = format!(
            "| {n} | {} | {} | {} | {} | {} | {:.0} |",
            if n == 1 { "MLP" } else { "MLP + CNN" },
            summary.degree,
            summary.public_inputs,
            verifier.runtime_size,
            outcome.gas_used,
            seconds
        );
        println!("{row}");
        writeln!(rows, "{row}")?;
    }
    let body = format!(
        "Aggregated proofs of digits-MLP and digits-CNN proofs (outputs hashed), `zkml gas-report`; gas of the verify call in revm (Prague rules).\n\n\
         | proofs | models | k | public inputs | verifier runtime bytes | verify gas | aggregate s |\n|---|---|---|---|---|---|---|\n{rows}"
    );
    crate::bench::append_section(output, "Gas report, ", &body)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
