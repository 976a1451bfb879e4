//! `zkml gas-report`: the gas and bytecode size of aggregated verification for N = 1, 2, 4, 8
//! proofs (digits MLP and CNN alternating, outputs hashed), and of the two models' direct
//! verifiers, appended to BENCHMARKS.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use zkml_aggregator::workflow::{self, Degree, Grouping, Tools};
use zkml_prover::compile::compile_onnx_calibrated;
use zkml_prover::input::InputFile;
use zkml_prover::keys;
use zkml_prover::proof;
use zkml_prover::visibility::{Visibility, VisibilitySettings};



/// Compiles, sets up and proves `count` samples of `example` into `work`; returns the model
/// directory and the proof files.
fn prove_samples(root: &Path, example: &str, count: usize, work: &Path) -> Result<(PathBuf, Vec<PathBuf>)> {
    let dir = root.join("examples").join(example);
    let samples = InputFile::load(&dir.join("calibration.json"))?.input_data;
    let (model, _) = compile_onnx_calibrated(&dir.join("model.onnx"), 8, None, &samples)?;
    let model = model.with_visibility(VisibilitySettings { output: Visibility::Hashed.into(), ..Default::default() })?;
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

/// The direct verifier of the model compiled in `dir`: a table row with its size and the gas of
/// verifying one held-out sample's proof, or why it does not fit.
fn direct_row(name: &str, dir: &Path, tools: &Tools, work: &Path) -> Result<String> {
    let model = zkml_prover::artifact::CompiledModel::load(dir)?;
    let public_inputs = model.quantized.public_input_count();
    let verifier = match workflow::write_evm_verifier(dir, tools, &[]) {
        Ok(v) => v,
        Err(zkml_aggregator::AggregatorError::VerifierTooLarge { runtime_size }) => {
            return Ok(format!("| {name} | {} | {public_inputs} | {runtime_size} (over EIP-170) | - |", model.layout.k));
        }
        Err(e) => return Err(e.into()),
    };
    let srs = keys::model_srs(&model)?;
    let pk = keys::load_pk(dir, &model, &srs.params)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let heldout: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("examples").join(name.to_lowercase()).join("heldout.json"))?)?;
    let sample: Vec<f32> = serde_json::from_value(heldout["inputs"][0].clone()).context("reading a held-out sample")?;
    let path = work.join(format!("{name}-direct.json"));
    proof::prove_with(&model, &srs.params, &pk, &[sample], &proof::ProveOptions { transcript: proof::TranscriptKind::Evm, ..Default::default() })?.save(&path)?;
    let outcome = workflow::evm_verify_local(dir, Some(&path))?;
    anyhow::ensure!(outcome.accepted, "the direct verifier of the {name} rejected its proof");
    Ok(format!("| {name} | {} | {public_inputs} | {} | {} |", model.layout.k, verifier.runtime_size, outcome.gas_used))
}

/// Measures aggregations of each count of proofs in `counts` (and, when 1 is among them, one proof
/// at the cheapest verifier's degree) and the direct verifiers; appends a dated section to `output`.
pub fn run(output: &Path, counts: &[usize]) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = std::env::temp_dir().join(format!("zkml-gas-report-{}", std::process::id()));
    anyhow::ensure!(counts.iter().all(|n| (1..=8).contains(n)), "proof counts go from 1 to 8");
    let most = counts.iter().copied().max().unwrap_or(0);
    eprintln!("proving {most} sample(s) of the digits MLP and CNN in {}", work.display());
    let (mlp, mlp_proofs) = prove_samples(root, "mlp", most.div_ceil(2), &work)?;
    let (cnn, cnn_proofs) = prove_samples(root, "cnn", most / 2, &work)?;
    let interleaved: Vec<PathBuf> = (0..most).map(|i| if i % 2 == 0 { mlp_proofs[i / 2].clone() } else { cnn_proofs[i / 2].clone() }).collect();
    let tools = Tools::find(root);
    let mut direct_rows = String::new();
    for (name, dir) in [("MLP", &mlp), ("CNN", &cnn)] {
        let row = direct_row(name, dir, &tools, &work)?;
        println!("{row}");
        writeln!(direct_rows, "{row}")?;
    }
    let mut rows = String::new();
    // Each count at the degree that fits EIP-170, then one proof at the degree of the cheapest
    // verifier (`zkml aggregate --min-gas`).
    let cheapest = counts.contains(&1).then_some((1, Degree::CheapestVerifier));
    let runs = counts.iter().map(|&n| (n, Degree::Fits)).chain(cheapest);
    for (n, degree) in runs {
        eprintln!("aggregating {n} proof(s) ({degree:?}) ...");
        let agg = work.join(format!("agg-{n}-{degree:?}"));
        let started = Instant::now();
        let summary = match workflow::aggregate_proofs(&[mlp.clone(), cnn.clone()], &interleaved[..n], &agg, degree, Grouping::Auto, &|s| {
            eprintln!("{}", crate::progress::since(started, &s.to_string()))
        }) {
            Ok(summary) => summary,
            // A count this machine cannot aggregate (the planner's memory estimate) is a row too.
            Err(zkml_aggregator::AggregatorError::AggregationTooLarge(why)) => {
                let row = format!("| {n} | not measured: {why} | | | | | |");
                println!("{row}");
                writeln!(rows, "{row}")?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let seconds = started.elapsed().as_secs_f64();
        let verifier = workflow::write_evm_verifier(&agg, &tools, &[])?;
        let outcome = workflow::evm_verify_local(&agg, None)?;
        anyhow::ensure!(outcome.accepted, "the verifier of {n} proof(s) rejected its proof");
        let levels = match summary.groups.as_slice() {
            [] => String::new(),
            groups => format!(" (two levels: {} groups, k = {})", groups.len(), groups.iter().map(|g| g.degree.to_string()).collect::<Vec<_>>().join(", ")),
        };
        let row = format!(
            "| {n}{}{}{levels} | {} | {} | {} | {} | {} | {:.0} |",
            if degree == Degree::CheapestVerifier { " (`--min-gas`)" } else { "" },
            if verifier.runtime_size > zkml_aggregator::EIP170_LIMIT { " (over EIP-170)" } else { "" },
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
         | proofs | models | k | public inputs | verifier runtime bytes | verify gas | aggregate s |\n|---|---|---|---|---|---|---|\n{rows}\n\
         Direct verifiers (one proof, keccak transcript, no aggregation) of the same compiled models:\n\n\
         | model | k | public inputs | verifier runtime bytes | verify gas |\n|---|---|---|---|---|\n{direct_rows}"
    );
    crate::bench::append_section(output, "Gas report, ", &body)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
