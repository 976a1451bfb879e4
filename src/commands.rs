//! One function per subcommand: call the library, print the result.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use zkml_aggregator::workflow::{self, Tools};
use zkml_prover::artifact::CompiledModel;
use zkml_prover::calibrate::Calibration;
use zkml_prover::compile::{compile_model, compile_onnx_calibrated, forward, load_inputs};
use zkml_prover::circuit::plan;
use zkml_prover::estimate::{available_memory_bytes, default_memory_budget, estimate, estimate_layout, format_bytes, Estimate};
use zkml_prover::split;
use zkml_prover::input::InputFile;
use zkml_prover::keys;
use zkml_prover::proof::{self, ProofFile, TranscriptKind};
use zkml_prover::quantize::QuantizeConfig;
use zkml_prover::srs::{Srs, SrsStore};
use zkml_prover::visibility::{Salts, VisibilitySettings};
use zkml_prover::ProverError;

use crate::progress::{step, step_reporting};
use crate::{Command, SrsCommand};

/// Runs a subcommand. `Ok(ExitCode::FAILURE)` means a proof was rejected.
pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Compile { model, output, scale, range_bits, calibration_data, visibility, max_memory, force } => {
            compile(&model, &output, scale, range_bits, calibration_data.as_deref(), visibility.settings(), max_memory, force)
        }
        Command::Estimate { dir, json, segments } => {
            let model = CompiledModel::load(&dir)?;
            let e = estimate(&model);
            let parts = if segments > 1 { estimate_segments(&model, segments as usize)? } else { vec![] };
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "model": e, "segments": parts }))?);
            } else {
                print_estimate(&e);
                print_segments(&parts);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Forward { dir, input } => {
            let model = CompiledModel::load(&dir)?;
            let report = forward(&model, &load_inputs(&model, &input)?)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Setup { dir, force, max_memory } => setup(&dir, force, max_memory.unwrap_or_else(default_memory_budget)).map(|_| ExitCode::SUCCESS),
        Command::Prove { dir, input, output, force, max_memory, evm, context, salts } => {
            refuse_overwrite(&output, force)?;
            let transcript = if evm { TranscriptKind::Evm } else { TranscriptKind::Poseidon };
            let context = context.as_deref().map(proof::parse_context_word).transpose()?;
            let options = proof::ProveOptions { transcript, context, salts: parse_salts(&salts)? };
            let proof = prove(&dir, &input, &options, max_memory.unwrap_or_else(default_memory_budget))?;
            proof.save(&output)?;
            eprintln!("proof written to {} ({} bytes)", output.display(), proof.proof_bytes()?.len());
            println!("{}", serde_json::to_string(&proof.outputs)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Salt => {
            println!("{}", zkml_prover::field::fr_to_hex(&Salts::random_salt()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { dir, proof, input, salts } => verify(&dir, &proof, input.as_deref(), &parse_salts(&salts)?),
        Command::Aggregate { proofs, models, output, k, min_gas, group_size, force } => {
            if !force && workflow::aggregation_exists(&output) {
                bail!("{} already holds an aggregation; pass --force to replace it", output.display());
            }
            if proofs.len() > MAX_AGGREGATED {
                bail!("{} proofs given; aggregate at most {MAX_AGGREGATED} at once", proofs.len());
            }
            let degree = match (k, min_gas) {
                (Some(k), _) => workflow::Degree::Exactly(k),
                (None, true) => workflow::Degree::CheapestVerifier,
                (None, false) => workflow::Degree::Fits,
            };
            let grouping = group_size.map_or(workflow::Grouping::Auto, |n| workflow::Grouping::GroupsOf(n as usize));
            aggregate(&models, &proofs, &output, degree, grouping).map(|_| ExitCode::SUCCESS)
        }
        Command::EvmVerifier { dir, sol_out, force, input, models } => {
            let summary = evm_verifier(&dir, input.as_deref(), &models)?;
            if let Some(file) = sol_out {
                let verifier_dir = summary.solidity.parent().unwrap_or(&dir);
                let name = workflow::export_solidity(verifier_dir, &file, force)?;
                eprintln!("wrote {} (contract {name})", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::EvmVerify { dir, proof, rpc, private_key, deployed } => {
            evm_verify(&dir, proof.as_deref(), rpc.as_deref(), private_key.as_deref(), deployed)
        }
        Command::Demo { dir, rpc } => demo(dir, rpc.as_deref()),
        Command::Deploy { dir, rpc, private_key, force, insecure_dev_srs } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let record = step(&format!("deploying the verifier to {rpc}"), || {
                runtime.block_on(workflow::deploy_verifier(&dir, &rpc, private_key.as_deref(), force, insecure_dev_srs))
            })?;
            println!("deployed at {} (chain {}, transaction {})", record.address, record.chain_id, record.tx_hash);
            eprintln!("recorded in {}", dir.join(workflow::DEPLOYMENT_FILE).display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Srs { action: SrsCommand::Import { ptau, k, force } } => {
            let store = SrsStore::default_location();
            let path = step(&format!("importing {} at k = {k}", ptau.display()), || store.import_ptau(&ptau, k, force))?;
            let srs = zkml_prover::srs::read_srs(&path)?;
            eprintln!("wrote {}: {}; sizes below 2^{k} are derived from it", path.display(), srs.source);
            Ok(ExitCode::SUCCESS)
        }
        Command::Srs { action: SrsCommand::List } => {
            let store = SrsStore::default_location();
            let files = store.files();
            if files.is_empty() {
                println!("{} holds no SRS file (a development SRS is made on first use)", store.dir().display());
            }
            for (k, path) in files {
                let srs = zkml_prover::srs::read_srs(&path)?;
                println!("k = {k:>2}  {}  {}", path.display(), srs.source);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { single: Some(args), .. } => {
            let result = zkml_prover::bench::bench_model(&args[0], &args[1], args.get(2).map(PathBuf::as_path), QuantizeConfig::default())?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::GasReport { output, proofs } => crate::gas_report::run(&output, &proofs).map(|_| ExitCode::SUCCESS),
        Command::Bench { output, single: None } => crate::bench::run(&output).map(|_| ExitCode::SUCCESS),
    }
}

fn refuse_overwrite(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!("{} exists; pass --force to overwrite it", path.display());
    }
    Ok(())
}

fn warn_if_insecure(srs: &Srs) {
    if srs.source.is_insecure() {
        eprintln!("warning: {}", srs.source);
    }
}

fn compile(
    model_path: &Path,
    output: &Path,
    scale: u32,
    range_bits: Option<u32>,
    calibration: Option<&Path>,
    visibility: VisibilitySettings,
    max_memory: Option<u64>,
    force: bool,
) -> Result<ExitCode> {
    refuse_overwrite(&CompiledModel::path_in(output), force)?;
    let model = match calibration {
        Some(data) => {
            let samples = InputFile::load(data)?.input_data;
            let (model, report) = step("importing, calibrating and quantizing", || compile_onnx_calibrated(model_path, scale, range_bits, &samples))
                .with_context(|| format!("compiling {}", model_path.display()))?;
            print_calibration(&report);
            model
        }
        None => {
            let config = QuantizeConfig { scale_bits: scale, range_bits: range_bits.unwrap_or(QuantizeConfig::default().range_bits) };
            step("importing and quantizing", || compile_model(model_path, config)).with_context(|| format!("compiling {}", model_path.display()))?
        }
    };
    let model = if visibility == VisibilitySettings::default() { model } else { model.with_visibility(visibility)? };
    let cost = estimate(&model);
    match max_memory {
        // Refused before anything is written.
        Some(budget) => cost.check_memory("setting up and proving this model", budget)?,
        None => {
            if let Err(over) = cost.check_memory("setting up and proving this model", default_memory_budget()) {
                eprintln!("warning: on this machine now, {over}");
            }
        }
    }
    model.save(output)?;
    // Keys of an earlier compile belong to another model: remove them so nothing stale is used.
    for stale in [keys::pk_path(output), keys::vk_path(output)] {
        if stale.exists() {
            std::fs::remove_file(&stale).with_context(|| format!("removing stale {}", stale.display()))?;
        }
    }
    let l = &model.layout;
    eprintln!(
        "compiled {} ({} nodes) into {}: scale 2^{}, activations within ±{}",
        model.source,
        model.quantized.nodes.len(),
        output.display(),
        model.quantized.config.scale_bits,
        model.quantized.dequantize(model.ranges().activation.highest() as i64),
    );
    eprintln!(
        "circuit: k = {} ({} rows), {} advice{} + {} lookup columns, {} rows used, {} range checks, {} public inputs",
        l.k,
        1u64 << l.k,
        l.shape.width,
        if l.shape.gadgets.freivalds { " (+1 for the convolutions' randomized checks)" } else { "" },
        l.shape.lookup_columns,
        l.main_rows,
        l.range_checks,
        l.public_inputs
    );
    let v = &model.quantized.visibility;
    eprintln!("visibility: input {}, params {}, output {}; public inputs: {}", v.input, v.params, v.output, describe_public(&model));
    eprintln!(
        "estimate: keygen about {:.0} s, proving about {:.0} s, peak memory about {}, proving key {}, SRS {} (`zkml estimate {}`)",
        cost.keygen_seconds,
        cost.prove_seconds,
        format_bytes(cost.peak_memory_bytes),
        format_bytes(cost.proving_key_bytes),
        format_bytes(cost.srs_bytes),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One segment of `zkml estimate --segments`.
#[derive(serde::Serialize)]
struct SegmentEstimate {
    /// The model's nodes it computes (`start..end`).
    nodes: String,
    /// Values it receives (model inputs and boundary values).
    input_values: usize,
    /// Values it hands on (boundary values and model outputs).
    output_values: usize,
    estimate: Estimate,
}

fn estimate_segments(model: &CompiledModel, count: usize) -> Result<Vec<SegmentEstimate>> {
    let q = &model.quantized;
    let cuts = split::balanced_cuts(q, count, model.layout.shape.width)?;
    split::segments_at(q, &cuts)?
        .iter()
        .map(|segment| {
            let layout = plan(&split::segment_model(q, segment))
                .with_context(|| format!("planning segment of nodes {}..{}", segment.nodes.start, segment.nodes.end))?;
            Ok(SegmentEstimate {
                nodes: format!("{}..{}", segment.nodes.start, segment.nodes.end),
                input_values: segment.input_values(q),
                output_values: segment.output_values(q),
                estimate: estimate_layout(&layout),
            })
        })
        .collect()
}

fn print_segments(parts: &[SegmentEstimate]) {
    if parts.is_empty() {
        return;
    }
    println!("\nin {} segments (each its own circuit; values in and out include boundary tensors):", parts.len());
    println!("{:<4} {:>11} {:>10} {:>10} {:>3} {:>10} {:>12} {:>10}", "#", "nodes", "values in", "out", "k", "rows used", "peak memory", "proving");
    for (i, p) in parts.iter().enumerate() {
        let e = &p.estimate;
        println!(
            "{:<4} {:>11} {:>10} {:>10} {:>3} {:>10} {:>12} {:>8.1} s",
            i, p.nodes, p.input_values, p.output_values, e.k, e.rows_used, format_bytes(e.peak_memory_bytes), e.prove_seconds
        );
    }
    let peak = parts.iter().map(|p| p.estimate.peak_memory_bytes).max().unwrap_or(0);
    let time: f64 = parts.iter().map(|p| p.estimate.prove_seconds).sum();
    println!("one after another: peak memory {} (the largest segment), proving {time:.1} s in all", format_bytes(peak));
}

fn print_estimate(e: &Estimate) {
    println!("rows            2^{} ({} used by the layout)", e.k, e.rows_used);
    println!(
        "columns         {} advice, {} fixed + {} selectors, {} instance, {} lookups, {} under copy constraints",
        e.advice_columns, e.fixed_columns, e.selectors, e.instance_columns, e.lookups, e.permutation_columns
    );
    println!("cells           {:.3e} (rows x committed polynomials)", e.cells);
    println!("SRS             {}", format_bytes(e.srs_bytes));
    println!("proving key     {} (at most)", format_bytes(e.proving_key_bytes));
    println!("peak memory     {} (predicted)", format_bytes(e.peak_memory_bytes));
    println!("keygen          {:.1} s (predicted)", e.keygen_seconds);
    println!("proving         {:.1} s (predicted)", e.prove_seconds);
    println!("memory now      {} available", available_memory_bytes().map_or_else(|| "unknown".into(), format_bytes));
    println!("(predicted by a cost model fitted to `zkml bench` on a 2-core, 24 GiB machine; BENCHMARKS.md states its error)");
}

/// The public inputs in order, e.g. `output 0 (10 values)`.
fn describe_public(model: &CompiledModel) -> String {
    let sections = model.quantized.public_sections();
    if sections.is_empty() {
        return "none".into();
    }
    sections.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn print_calibration(report: &Calibration) {
    eprintln!(
        "calibration on {} sample(s): largest integer {} -> activation range of {} bits (headroom x2)",
        report.samples, report.max_abs_quantized, report.range_bits
    );
    eprintln!("{:<28} {:<9} {:>14} {:>12}", "layer", "op", "max |float|", "max error");
    for layer in &report.layers {
        eprintln!("{:<28} {:<9} {:>14.4} {:>12.5}", layer.node, layer.op, layer.max_abs_value, layer.max_abs_error);
    }
}

fn load_srs(model: &CompiledModel) -> Result<Srs> {
    let srs = step(&format!("loading SRS (k = {})", model.layout.k), || keys::model_srs(model))?;
    warn_if_insecure(&srs);
    Ok(srs)
}

fn setup(dir: &Path, force: bool, memory_budget: u64) -> Result<()> {
    let model = CompiledModel::load(dir)?;
    let srs = load_srs(&model)?;
    if !force && keys::load_vk(dir, &model, &srs.params).is_ok() && keys::pk_path(dir).exists() {
        eprintln!("keys in {} are up to date (use --force to make them again)", dir.display());
        return Ok(());
    }
    estimate(&model).check_memory("making the keys", memory_budget)?;
    let pk = step("generating keys", || keys::generate_keys(&model, &srs.params))?;
    step("writing keys", || keys::save_keys(dir, &model, &srs.params, &pk))?;
    eprintln!("wrote {} and {}", keys::pk_path(dir).display(), keys::vk_path(dir).display());
    Ok(())
}

/// The `--salt TENSOR=HEX` arguments.
fn parse_salts(specs: &[String]) -> Result<Salts> {
    let mut salts = Salts::none();
    for spec in specs {
        salts.insert_spec(spec)?;
    }
    Ok(salts)
}

fn prove(dir: &Path, input: &Path, options: &proof::ProveOptions, memory_budget: u64) -> Result<ProofFile> {
    let model = CompiledModel::load(dir)?;
    estimate(&model).check_memory("proving", memory_budget)?;
    // Before any expensive step.
    proof::check_context(&model, options.context.is_some()).with_context(|| format!("proving with {}", dir.display()))?;
    model.quantized.check_salts(&options.salts).with_context(|| format!("proving with {}", dir.display()))?;
    let inputs = load_inputs(&model, input)?;
    // The forward pass the proof is made of, before any expensive step: an unprovable input is
    // refused here, naming the layer.
    let prepared = proof::prepare(&model, &inputs, options)?;
    let srs = load_srs(&model)?;
    let pk = step("loading proving key", || keys::load_pk(dir, &model, &srs.params))?;
    Ok(step("proving", || prepared.prove(&srs.params, &pk))?)
}

fn verify(dir: &Path, proof_path: &Path, input: Option<&Path>, salts: &Salts) -> Result<ExitCode> {
    let model = CompiledModel::load(dir)?;
    let srs = keys::model_srs(&model)?;
    warn_if_insecure(&srs);
    let vk = keys::load_vk(dir, &model, &srs.params)?;
    let proof = ProofFile::load(proof_path)?;
    let inputs = input.map(|path| load_inputs(&model, path)).transpose()?;
    let checked = match (proof::verify(&model, &srs.params, &vk, &proof), &inputs) {
        (Ok(()), Some(inputs)) => match proof::check_inputs(&model, &proof, inputs, salts) {
            // Not a verdict on the proof: the given input cannot be compared with it (a private
            // input, the wrong number of inputs, a value out of range).
            Err(e @ (ProverError::Input(_) | ProverError::Range(_) | ProverError::Shape(_))) => return Err(e.into()),
            other => other,
        },
        (verdict, _) => verdict,
    };
    match checked {
        Ok(()) => {
            println!("valid: outputs {}", serde_json::to_string(&proof.outputs)?);
            for c in &proof.commitments {
                println!("  commitment to {}: {}", c.tensor, c.value);
            }
            if let Some(word) = &proof.context {
                println!("  context word: {word}");
            }
            if let Some(path) = input {
                println!("  the proof is about the input in {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("INVALID: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Most proofs one aggregation takes (the circuit grows with each).
const MAX_AGGREGATED: usize = 8;

fn aggregate(models: &[PathBuf], proofs: &[PathBuf], output: &Path, degree: workflow::Degree, grouping: workflow::Grouping) -> Result<workflow::AggregationSummary> {
    let planned = match degree {
        workflow::Degree::Exactly(k) => k.to_string(),
        workflow::Degree::Fits => "planned to fit EIP-170".into(),
        workflow::Degree::CheapestVerifier => "planned for the cheapest verifier".into(),
    };
    let summary = step_reporting(&format!("aggregating {} proof(s) (k {planned}; takes minutes)", proofs.len()), |report| {
        workflow::aggregate_proofs(models, proofs, output, degree, grouping, &|s| report(s.to_string()))
    })?;
    eprintln!("aggregation circuit: k = {}", summary.degree);
    if summary.srs_insecure {
        eprintln!("warning: the aggregation uses the INSECURE development SRS");
    }
    eprintln!(
        "aggregated proof written to {} ({} bytes, {} public inputs)",
        output.join("proof.json").display(),
        summary.proof_bytes,
        summary.public_inputs
    );
    Ok(summary)
}

fn tools() -> Tools {
    Tools::find(Path::new(env!("CARGO_MANIFEST_DIR")))
}

fn evm_verifier(dir: &Path, sample_input: Option<&Path>, model_dirs: &[PathBuf]) -> Result<workflow::VerifierSummary> {
    let tools = tools();
    let summary = match step("generating and compiling the Solidity verifier", || workflow::write_evm_verifier(dir, &tools, model_dirs)) {
        Err(zkml_aggregator::AggregatorError::VerifierTooLarge { runtime_size }) => {
            eprintln!(
                "a direct verifier of this model would be {runtime_size} bytes of runtime bytecode, over EIP-170's 24,576: \
                 making an aggregated verifier instead (its circuit is sized so that its verifier fits)"
            );
            let sample = match sample_input {
                Some(path) => Some(load_inputs(&CompiledModel::load(dir)?, path)?),
                None => None,
            };
            let what = if sample.is_some() { "the given input" } else { "an all-zero input" };
            let (agg_dir, aggregation, verifier) = step(&format!("aggregating a proof of {what} to lay out the aggregation (takes minutes)"), || {
                workflow::write_aggregated_verifier_for_model(dir, sample.as_deref(), &tools)
            })?;
            eprintln!(
                "aggregation circuit: k = {}; to verify a proof on chain: zkml prove {} ... -o P.json && zkml aggregate P.json -m {} -o AGG \
                 && zkml evm-verify AGG (same verifying key as {})",
                aggregation.degree,
                dir.display(),
                dir.display(),
                agg_dir.display()
            );
            verifier
        }
        other => other?,
    };
    eprintln!(
        "wrote {} and {}: {} verifier, runtime bytecode {} bytes (EIP-170 limit 24,576)",
        summary.solidity.display(),
        summary.bytecode.display(),
        summary.kind,
        summary.runtime_size
    );
    if summary.kind == workflow::VerifierKind::Direct {
        eprintln!("it checks proofs made with `zkml prove {} --input ... -o P.json --evm`", dir.display());
    }
    if summary.runtime_size > zkml_aggregator::EIP170_LIMIT {
        bail!("the verifier ({} bytes) exceeds EIP-170: aggregate with a larger --k", summary.runtime_size);
    }
    Ok(summary)
}

fn evm_verify(dir: &Path, proof: Option<&Path>, rpc: Option<&str>, private_key: Option<&str>, deployed: bool) -> Result<ExitCode> {
    let accepted = match rpc {
        None => {
            let outcome = workflow::evm_verify_local(dir, proof)?;
            println!(
                "{} in revm: gas used {}, verifier runtime bytecode {} bytes",
                if outcome.accepted { "accepted" } else { "REJECTED" },
                outcome.gas_used,
                outcome.runtime_size
            );
            outcome.accepted
        }
        Some(url) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let outcome = if deployed {
                step(&format!("verifying with the deployed verifier on {url}"), || {
                    runtime.block_on(workflow::evm_verify_deployed(dir, proof, url, private_key))
                })?
            } else {
                step(&format!("deploying and verifying on {url}"), || runtime.block_on(workflow::evm_verify_rpc(dir, proof, url, private_key)))?
            };
            match outcome.gas_used {
                Some(gas) if outcome.accepted => println!("accepted on {url}: verifier at {:?}, gas used {gas}", outcome.address),
                _ => println!("REJECTED on {url}: verifier at {:?}", outcome.address),
            }
            outcome.accepted
        }
    };
    Ok(if accepted { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Tolerance the demo promises between proved outputs and the float model (README says so too).
const DEMO_TOLERANCE: f64 = 0.1;

fn demo(dir: Option<PathBuf>, rpc: Option<&str>) -> Result<ExitCode> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = root.join("examples").join("mlp");
    let work = match dir {
        Some(d) => {
            if d.exists() && std::fs::read_dir(&d)?.next().is_some() {
                bail!("{} is not empty; give an empty or new directory", d.display());
            }
            d
        }
        None => std::env::temp_dir().join(format!("zkml-demo-{}", std::process::id())),
    };
    let (model_dir, agg_dir, proof_path) = (work.join("model"), work.join("agg"), work.join("proof.json"));
    let input = example.join("input.json");
    let started = Instant::now();
    eprintln!("zkml demo: working in {}", work.display());

    compile(&example.join("model.onnx"), &model_dir, 8, None, Some(&example.join("calibration.json")), VisibilitySettings::default(), None, false)?;
    let model = CompiledModel::load(&model_dir)?;
    let report = forward(&model, &InputFile::load(&input)?.input_data)?;
    let float_outputs = report.float_outputs.clone().context("the example model has a float graph")?;
    setup(&model_dir, false, default_memory_budget())?;
    let t = Instant::now();
    let proof = prove(&model_dir, &input, &proof::ProveOptions::default(), default_memory_budget())?;
    let prove_secs = t.elapsed().as_secs_f64();
    proof.save(&proof_path)?;
    if verify(&model_dir, &proof_path, None, &Salts::none())? != ExitCode::SUCCESS {
        bail!("the proof did not verify");
    }
    let proved = &proof.outputs;
    let max_err = proved
        .iter()
        .flatten()
        .zip(float_outputs.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let argmax = |v: &[f64]| v.iter().enumerate().fold(0, |best, (i, x)| if *x > v[best] { i } else { best });
    println!("model outputs read from the proof's public inputs: {}", fmt_list(&proved[0]));
    println!("float model outputs:                               {}", fmt_list(&float_outputs[0]));
    println!(
        "max |proved - float| = {max_err:.4} (tolerance {DEMO_TOLERANCE}); predicted class {} (float model: {})",
        argmax(&proved[0]),
        argmax(&float_outputs[0])
    );
    println!("proof: {} bytes, proved in {prove_secs:.2} s, verified natively", proof.proof_bytes()?.len());
    if max_err > DEMO_TOLERANCE {
        bail!("quantization error {max_err} exceeds the demo's tolerance {DEMO_TOLERANCE}");
    }

    // A model this small also gets a direct verifier: no aggregation, seconds instead of minutes.
    let direct = evm_verifier(&model_dir, None, &[])?;
    let evm_proof_path = work.join("proof-evm.json");
    prove(&model_dir, &input, &proof::ProveOptions { transcript: TranscriptKind::Evm, ..Default::default() }, default_memory_budget())?.save(&evm_proof_path)?;
    report_revm("direct EVM verifier", &direct, &workflow::evm_verify_local(&model_dir, Some(&evm_proof_path))?)?;

    let summary = aggregate(&[model_dir.clone()], &[proof_path], &agg_dir, workflow::Degree::Fits, workflow::Grouping::Auto)?;
    println!("aggregated proof: {} bytes, {} public inputs (12 accumulator limbs + outputs)", summary.proof_bytes, summary.public_inputs);
    let verifier = evm_verifier(&agg_dir, None, &[model_dir.clone()])?;
    report_revm("aggregated EVM verifier", &verifier, &workflow::evm_verify_local(&agg_dir, None)?)?;
    if let Some(url) = rpc {
        if evm_verify(&agg_dir, None, Some(url), None, false)? != ExitCode::SUCCESS {
            bail!("the verifier on {url} rejected the proof");
        }
    }
    println!("demo finished in {:.1} s; artifacts in {}", started.elapsed().as_secs_f64(), work.display());
    Ok(ExitCode::SUCCESS)
}

/// Prints a verifier's size and its verdict and gas in revm; an error if it rejected the proof.
fn report_revm(label: &str, verifier: &workflow::VerifierSummary, outcome: &zkml_aggregator::EvmOutcome) -> Result<()> {
    println!(
        "{label}: {} bytes runtime bytecode (limit 24,576); revm: {}, gas used {}",
        verifier.runtime_size,
        if outcome.accepted { "accepted" } else { "REJECTED" },
        outcome.gas_used
    );
    if !outcome.accepted {
        bail!("the {label} rejected the proof");
    }
    Ok(())
}

fn fmt_list(v: &[f64]) -> String {
    format!("[{}]", v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(", "))
}
