//! `zkml bench`: each model measured in a child process, results printed and appended to
//! BENCHMARKS.md with the machine and the date.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use zkml_prover::bench::BenchResult;

/// The models `zkml bench` measures: zkml's MNIST example when present, then the examples.
fn cases(root: &Path) -> Vec<(&'static str, Vec<PathBuf>)> {
    let mut cases = vec![];
    let mnist = root.join("../shared/anchors/zkml/examples/mnist");
    if mnist.join("model.msgpack").exists() {
        cases.push(("zkml MNIST CNN (zkml's msgpack)", vec![mnist.join("model.msgpack"), mnist.join("inp.msgpack")]));
    } else {
        eprintln!("note: ../shared/anchors/zkml/examples/mnist not found; zkml's MNIST is skipped");
    }
    let zoo = root.join("../shared/anchors/zkml/python/onnx_converter/mnist-8.onnx");
    if zoo.exists() {
        // The model zoo's MNIST CNN (Conv, MaxPool, MatMul), on a fixed synthetic 28×28 image.
        let input = std::env::temp_dir().join(format!("zkml-bench-mnist8-{}.json", std::process::id()));
        let pixels: Vec<f32> = (0..784).map(|i| ((i * 37 % 101) as f32) / 100.0).collect();
        let json = serde_json::json!({ "input_data": [pixels] });
        if std::fs::write(&input, json.to_string()).is_ok() {
            cases.push(("ONNX model zoo mnist-8 (Conv, MaxPool)", vec![zoo, input]));
        }
    }
    let mlp = root.join("examples/mlp");
    cases.push(("examples/mlp (digits MLP, ONNX, calibrated)", vec![mlp.join("model.onnx"), mlp.join("input.json"), mlp.join("calibration.json")]));
    let cnn = root.join("examples/cnn");
    cases.push(("examples/cnn (digits CNN, ONNX, calibrated)", vec![cnn.join("model.onnx"), cnn.join("input.json"), cnn.join("calibration.json")]));
    cases
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("{cpu}, {cores} cores, {mem:.0} GiB")
}

fn commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| format!(", commit {}", String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_default()
}

fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown date".into())
}

/// Measures every case and appends a dated section to `output`.
pub fn run(output: &Path) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().context("locating the zkml binary")?;
    let (mut rows, mut estimates) = (String::new(), String::new());
    for (name, args) in cases(root) {
        eprintln!("measuring {name} ...");
        let out = Command::new(&exe).arg("bench").arg("--single").args(&args).output()?;
        if !out.status.success() {
            bail!("benchmark of {name} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let r: BenchResult = serde_json::from_slice(&out.stdout).context("reading the benchmark result")?;
        let row = format!(
            "| {name} | {} | {} + {} | {:.2} | {:.2} | {:.3} | {:.2} | {:.0} | {} |",
            r.k, r.advice_columns, r.lookup_columns, r.keygen_s, r.prove_s, r.verify_s, r.keygen_s + r.prove_s + r.verify_s, r.peak_rss_mib, r.proof_bytes
        );
        println!("{row}");
        writeln!(rows, "{row}")?;
        let e = &r.estimate;
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        writeln!(
            estimates,
            "| {name} | {:.3e} | {:.2} / {:.2} | {:.2} / {:.2} | {:.0} / {:.0} | {:.1} / {:.1} |",
            e.cells, e.keygen_seconds, r.keygen_s, e.prove_seconds, r.prove_s, mib(e.peak_memory_bytes), r.peak_rss_mib,
            mib(e.proving_key_bytes), mib(r.proving_key_bytes)
        )?;
    }
    let header = "| model | k | advice + lookup columns | keygen s | prove s | verify s | total s | peak MiB | proof bytes |\n|---|---|---|---|---|---|---|---|---|\n";
    let estimate_header = "\nPredicted before keygen (`zkml estimate`, cost model of `prover/src/estimate.rs`) / measured:\n\n\
        | model | cells | keygen s | prove s | peak MiB | proving key MiB |\n|---|---|---|---|---|---|\n";
    append_section(output, "", &format!("{header}{rows}{estimate_header}{estimates}"))
}

/// Appends `\n## {title}{date} on {machine}{commit}\n\n{body}` to `output` (created with the
/// file's introduction if missing).
pub(crate) fn append_section(output: &Path, title: &str, body: &str) -> Result<()> {
    let mut text = if output.exists() {
        std::fs::read_to_string(output)?
    } else {
        "# Benchmarks\n\nWritten by `zkml bench` (release build; SRS cached, not counted). Each model runs in its own process; \
         memory is that process's peak resident set. keygen = verifying + proving key.\n"
            .to_string()
    };
    write!(text, "\n## {title}{} on {}{}\n\n{body}", today(), machine(), commit())?;
    std::fs::write(output, text)?;
    eprintln!("appended to {}", output.display());
    Ok(())
}
