//! End-to-end tests of the `zkml` command line: the demo pipeline once (compile, setup, prove,
//! verify, aggregate, Solidity verifier, revm and a real anvil node), tampering at every verifier,
//! and clear errors for bad inputs.
//!
//! Long: the scenarios share one demo run and its fixtures (keys, proofs, a live anvil node), so
//! they live in one test binary; the helpers they share are in `anvil.rs` and `fixtures.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod anvil;
mod fixtures;

use anvil::Anvil;

/// Memory for aggregations. The tests of the suite aggregate at k = 20 or 21 (about 5 GiB each):
/// two of them may run at once, sharing this lock. The slow tier's four-proof aggregation at
/// k = 22 needs 13 GiB and takes it alone.
static AGGREGATION_MEMORY: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A share of [`AGGREGATION_MEMORY`], for an aggregation at k ≤ 21.
fn aggregation_lock() -> std::sync::RwLockReadGuard<'static, ()> {
    AGGREGATION_MEMORY.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// All of [`AGGREGATION_MEMORY`], for an aggregation at k = 22 or more.
fn exclusive_aggregation_lock() -> std::sync::RwLockWriteGuard<'static, ()> {
    AGGREGATION_MEMORY.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn zkml(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkml")).args(args).output().expect("run zkml")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkml-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies `dir/file` to a new directory with `edit` applied to its JSON, keeping the other files.
fn tampered_copy(dir: &Path, file: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let out = dir.with_file_name(format!("{}-tampered-{}", dir.file_name().unwrap().to_string_lossy(), rand_suffix()));
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), out.join(entry.file_name())).unwrap();
        }
    }
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join(file)).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(out.join(file), serde_json::to_vec(&json).unwrap()).unwrap();
    out
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

/// Flips the lowest bit of the byte at `index` of a 0x-hex string.
fn flip_hex_byte(s: &str, index: usize) -> String {
    let mut bytes = hex::decode(s.trim_start_matches("0x")).unwrap();
    let i = index.min(bytes.len() - 1);
    bytes[i] ^= 1;
    format!("0x{}", hex::encode(bytes))
}

/// Adds one to a 0x-hex big-endian field element (small values, no carry into the modulus).
fn bump_instance(s: &str) -> String {
    let mut bytes = hex::decode(s.trim_start_matches("0x")).unwrap();
    for b in bytes.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    format!("0x{}", hex::encode(bytes))
}

#[test]
fn demo_pipeline_and_every_verifier_rejects_tampering() {
    let _heavy = aggregation_lock();
    let work = scratch("demo");
    let anvil = Anvil::start();
    let out = zkml(&["demo", "--dir", work.to_str().unwrap(), "--rpc", &anvil.url]);
    let log = text(&out);
    assert!(out.status.success(), "demo failed:\n{log}");
    assert!(log.contains("INSECURE development SRS"), "the dev SRS must be announced:\n{log}");
    assert!(log.contains("revm: accepted"), "{log}");
    assert!(log.contains(&format!("accepted on {}", anvil.url)), "{log}");

    let model = work.join("model");
    let proof = work.join("proof.json");
    let agg = work.join("agg");

    // Native verifier.
    let ok = zkml(&["verify", model.to_str().unwrap(), proof.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", text(&ok));
    let proof_dir = scratch("proofs");
    std::fs::copy(&proof, proof_dir.join("proof.json")).unwrap();
    let flipped = tampered_copy(&proof_dir, "proof.json", |j| {
        let p = j["proof"].as_str().unwrap().to_string();
        j["proof"] = flip_hex_byte(&p, 100).into();
    });
    let bad = zkml(&["verify", model.to_str().unwrap(), flipped.join("proof.json").to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1), "flipped proof byte: {}", text(&bad));
    let changed = tampered_copy(&proof_dir, "proof.json", |j| {
        let i = j["instances"][0].as_str().unwrap().to_string();
        j["instances"][0] = bump_instance(&i).into();
        let o = j["outputs"][0][0].as_f64().unwrap();
        j["outputs"][0][0] = (o + 1.0 / 256.0).into();
    });
    let bad = zkml(&["verify", model.to_str().unwrap(), changed.join("proof.json").to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1), "changed public input: {}", text(&bad));

    // EVM verifier in revm and on anvil: flipped proof byte, changed model output, changed
    // accumulator limb.
    let agg_flipped = tampered_copy(&agg, "proof.json", |j| {
        let p = j["proof"].as_str().unwrap().to_string();
        j["proof"] = flip_hex_byte(&p, 200).into();
    });
    let agg_output = tampered_copy(&agg, "proof.json", |j| {
        let n = j["instances"].as_array().unwrap().len();
        let i = j["instances"][n - 1].as_str().unwrap().to_string();
        j["instances"][n - 1] = bump_instance(&i).into();
    });
    let agg_limb = tampered_copy(&agg, "proof.json", |j| {
        let i = j["instances"][0].as_str().unwrap().to_string();
        j["instances"][0] = bump_instance(&i).into();
    });
    let ok = zkml(&["evm-verify", agg.to_str().unwrap()]);
    assert!(ok.status.success() && text(&ok).contains("gas used"), "{}", text(&ok));
    for bad_dir in [&agg_flipped, &agg_output, &agg_limb] {
        let local = zkml(&["evm-verify", bad_dir.to_str().unwrap()]);
        assert_eq!(local.status.code(), Some(1), "revm accepted {}: {}", bad_dir.display(), text(&local));
        let remote = zkml(&["evm-verify", bad_dir.to_str().unwrap(), "--rpc", &anvil.url]);
        assert_eq!(remote.status.code(), Some(1), "anvil accepted {}: {}", bad_dir.display(), text(&remote));
    }

    // A verifier over the development SRS is marked so, and deployed only when asked.
    let source = std::fs::read_to_string(agg.join("Verifier.sol")).unwrap();
    assert!(source.starts_with("// WARNING: generated over the INSECURE development SRS"), "{}", &source[..200]);
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(agg.join("verifier.json")).unwrap()).unwrap();
    assert_eq!(record["srs_insecure"], true, "{record}");
    let refused = zkml(&["deploy", agg.to_str().unwrap(), "--rpc", &anvil.url]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("--insecure-dev-srs") && !agg.join("deployment.json").exists(), "{}", text(&refused));

    // Deploy once; the record refuses to be overwritten silently.
    let deployed = run_ok(&["deploy", agg.to_str().unwrap(), "--rpc", &anvil.url, "--insecure-dev-srs"]);
    assert!(text(&deployed).contains("deployed at 0x"), "{}", text(&deployed));
    let again = zkml(&["deploy", agg.to_str().unwrap(), "--rpc", &anvil.url, "--insecure-dev-srs"]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&run_ok(&["evm-verify", agg.to_str().unwrap(), "--rpc", &anvil.url, "--deployed"])).contains("accepted on"));

    // A later proof of the same model aggregates with the same keys: the verifier deployed for
    // the first aggregation accepts it.
    let example = repo().join("examples/mlp");
    let later = work.join("later.json");
    let sample = heldout_sample(&example, 3, &work);
    run_ok(&["prove", model.to_str().unwrap(), "--input", sample.to_str().unwrap(), "-o", later.to_str().unwrap()]);
    let agg2 = work.join("agg2");
    run_ok(&["aggregate", later.to_str().unwrap(), "-m", model.to_str().unwrap(), "-o", agg2.to_str().unwrap()]);
    let hash = |d: &Path| -> serde_json::Value { serde_json::from_slice::<serde_json::Value>(&std::fs::read(d.join("manifest.json")).unwrap()).unwrap()["aggregation_vk_hash"].clone() };
    assert_eq!(hash(&agg), hash(&agg2), "the aggregation keys were made again differently");
    for f in ["Verifier.sol", "Verifier.bin", "verifier.json", "deployment.json"] {
        std::fs::copy(agg.join(f), agg2.join(f)).unwrap();
    }
    assert!(text(&run_ok(&["evm-verify", agg2.to_str().unwrap(), "--rpc", &anvil.url, "--deployed"])).contains("accepted on"));
    // And still rejects a tampered one.
    let agg2_bad = tampered_copy(&agg2, "proof.json", |j| {
        let n = j["instances"].as_array().unwrap().len();
        let i = j["instances"][n - 1].as_str().unwrap().to_string();
        j["instances"][n - 1] = bump_instance(&i).into();
    });
    let out = zkml(&["evm-verify", agg2_bad.to_str().unwrap(), "--rpc", &anvil.url, "--deployed"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = scratch("errors");
    let d = dir.to_str().unwrap();
    let example = repo().join("examples/mlp");
    let model = example.join("model.onnx");

    let missing = zkml(&["compile", "no-such-model.onnx", "-o", d]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("no-such-model.onnx"), "{}", text(&missing));

    std::fs::write(dir.join("garbage.onnx"), b"this is not protobuf").unwrap();
    let garbage = zkml(&["compile", dir.join("garbage.onnx").to_str().unwrap(), "-o", d]);
    assert_eq!(garbage.status.code(), Some(2));
    assert!(text(&garbage).contains("not a valid ONNX file"), "{}", text(&garbage));

    let compiled = dir.join("compiled");
    let c = compiled.to_str().unwrap();
    let ok = zkml(&["compile", model.to_str().unwrap(), "-o", c]);
    assert!(ok.status.success(), "{}", text(&ok));
    let again = zkml(&["compile", model.to_str().unwrap(), "-o", c]);
    assert_eq!(again.status.code(), Some(2), "an existing compile must not be overwritten silently");
    assert!(text(&again).contains("--force"));

    // Wrong input size, malformed input file, out-of-range input (named layer).
    std::fs::write(dir.join("short.json"), br#"{"input_data": [[1.0, 2.0]]}"#).unwrap();
    let short = zkml(&["forward", c, "--input", dir.join("short.json").to_str().unwrap()]);
    assert_eq!(short.status.code(), Some(2));
    assert!(text(&short).contains("needs 64 values"), "{}", text(&short));
    std::fs::write(dir.join("bad.json"), b"{\"input\": 3}").unwrap();
    let bad = zkml(&["forward", c, "--input", dir.join("bad.json").to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("input_data"), "{}", text(&bad));
    let huge = format!("{{\"input_data\": [[{}]]}}", vec!["1000.0"; 64].join(","));
    std::fs::write(dir.join("huge.json"), huge).unwrap();
    let out_of_range = zkml(&["forward", c, "--input", dir.join("huge.json").to_str().unwrap()]);
    assert_eq!(out_of_range.status.code(), Some(2));
    assert!(text(&out_of_range).contains("range"), "{}", text(&out_of_range));
    let big = format!("{{\"input_data\": [[{}]]}}", vec!["90.0"; 64].join(","));
    std::fs::write(dir.join("big.json"), big).unwrap();
    let layer = zkml(&["forward", c, "--input", dir.join("big.json").to_str().unwrap()]);
    assert_eq!(layer.status.code(), Some(2));
    assert!(text(&layer).contains("layer "), "an overflow inside the model names the layer: {}", text(&layer));

    // A reader that stops early (`| head`) ends the command quietly: no panic on a closed pipe.
    let input = example.join("input.json");
    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!("\"$0\" forward {c} --input {} | true", input.display()))
        .arg(env!("CARGO_BIN_EXE_zkml"))
        .output()
        .unwrap();
    assert!(!text(&piped).contains("panicked") && !text(&piped).contains("Broken pipe"), "{}", text(&piped));

    // Proving before setup says what to do.
    let no_keys = zkml(&["prove", c, "--input", input.to_str().unwrap(), "-o", dir.join("p.json").to_str().unwrap()]);
    assert_eq!(no_keys.status.code(), Some(2));
    assert!(text(&no_keys).contains("zkml setup"), "{}", text(&no_keys));

    // A corrupted key file is refused, not trusted.
    std::fs::write(compiled.join("vk.bin"), b"ZKMLKYvk garbage").unwrap();
    std::fs::write(dir.join("p.json"), b"{}").unwrap();
    let corrupt = zkml(&["verify", c, dir.join("p.json").to_str().unwrap()]);
    assert_eq!(corrupt.status.code(), Some(2), "{}", text(&corrupt));
    assert!(text(&corrupt).contains("vk.bin"), "{}", text(&corrupt));

    // A group of no proofs is refused before any proof is read.
    let no_group = zkml(&["aggregate", "p.json", "-m", c, "-o", d, "--group-size", "0"]);
    assert_eq!(no_group.status.code(), Some(2), "{}", text(&no_group));
    assert!(text(&no_group).contains("--group-size"), "{}", text(&no_group));

    // Help for every command.
    for cmd in ["compile", "forward", "setup", "prove", "verify", "aggregate", "evm-verifier", "evm-verify", "deploy", "srs", "demo", "bench", "gas-report"] {
        let help = zkml(&[cmd, "--help"]);
        assert!(help.status.success() && text(&help).contains("Usage"), "{cmd} --help");
    }
}

#[test]
fn visibility_flags_decide_what_the_proof_reveals() {
    let dir = scratch("visibility");
    let example = repo().join("examples/mlp");
    let (model, input) = (example.join("model.onnx"), example.join("input.json"));
    let compiled = dir.join("compiled");
    let c = compiled.to_str().unwrap();

    let bogus = zkml(&["compile", model.to_str().unwrap(), "-o", c, "--input-visibility", "secret"]);
    assert_eq!(bogus.status.code(), Some(2));
    assert!(text(&bogus).contains("public, private, hashed or salted"), "{}", text(&bogus));
    // One visibility per input: the digits MLP has one input, so a list of two is refused.
    let two = zkml(&["compile", model.to_str().unwrap(), "-o", c, "--input-visibility", "private,hashed"]);
    assert_eq!(two.status.code(), Some(2));
    assert!(text(&two).contains("2 visibilities for 1 tensor(s)"), "{}", text(&two));
    assert!(!compiled.join("model.json").exists(), "a refused compile writes nothing");

    // Input public, output hashed: the proof shows the input and hides the output.
    let compiled = fixtures::model("mlp", &["--input-visibility", "public", "--output-visibility", "hashed"]);
    assert!(compiled.compile_log.contains("input 0 (64 values), output 0 (Poseidon commitment)"), "{}", compiled.compile_log);
    let c = compiled.dir.to_str().unwrap();
    let proof = fixtures::proof(&compiled.dir, &input, &[]);
    let p = proof.to_str().unwrap();
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    assert_eq!(file["instances"].as_array().unwrap().len(), 65);
    assert_eq!(file["inputs"][0].as_array().unwrap().len(), 64);
    assert!(file["outputs"][0].as_array().unwrap().is_empty(), "a hashed output is not in the proof file");
    assert_eq!(file["commitments"][0]["tensor"], "output 0");

    let checked = zkml(&["verify", c, p, "--input", input.to_str().unwrap()]);
    assert!(checked.status.success(), "{}", text(&checked));
    assert!(text(&checked).contains("commitment to output 0"), "{}", text(&checked));
    // The same proof is not about another input.
    let other = heldout_sample(&example, 1, &dir);
    let wrong = zkml(&["verify", c, p, "--input", other.to_str().unwrap()]);
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(text(&wrong).contains("another input 0"), "{}", text(&wrong));

    // A salted input: its commitment takes a secret salt, which `zkml salt` makes.
    let salt = String::from_utf8(run_ok(&["salt"]).stdout).unwrap().trim().to_string();
    assert!(salt.starts_with("0x") && salt.len() == 66, "{salt}");
    assert_ne!(String::from_utf8(run_ok(&["salt"]).stdout).unwrap().trim(), salt, "two salts alike");
    let compiled = fixtures::model("mlp", &["--input-visibility", "salted"]);
    assert!(compiled.compile_log.contains("input 0 (salted Poseidon commitment)"), "{}", compiled.compile_log);
    let c = compiled.dir.to_str().unwrap();
    let unsalted = zkml(&["prove", c, "--input", input.to_str().unwrap(), "-o", dir.join("unsalted.json").to_str().unwrap()]);
    assert_eq!(unsalted.status.code(), Some(2), "{}", text(&unsalted));
    assert!(text(&unsalted).contains("input 0 is salted") && text(&unsalted).contains("zkml salt"), "{}", text(&unsalted));
    assert!(!dir.join("unsalted.json").exists());
    let malformed = zkml(&["prove", c, "--input", input.to_str().unwrap(), "-o", dir.join("m.json").to_str().unwrap(), "--salt", "input0=oops"]);
    assert_eq!(malformed.status.code(), Some(2), "{}", text(&malformed));
    assert!(text(&malformed).contains("TENSOR=0xHEX"), "{}", text(&malformed));
    let spec = format!("input0={salt}");
    let proof = fixtures::proof(&compiled.dir, &input, &["--salt", &spec]);
    let p = proof.to_str().unwrap();
    let file = std::fs::read_to_string(&proof).unwrap();
    assert!(!file.contains(&salt[2..]), "the salt is in the proof file");
    run_ok(&["verify", c, p]);
    let without = zkml(&["verify", c, p, "--input", input.to_str().unwrap()]);
    assert_eq!(without.status.code(), Some(2), "{}", text(&without));
    assert!(text(&without).contains("input 0 is salted"), "{}", text(&without));
    run_ok(&["verify", c, p, "--input", input.to_str().unwrap(), "--salt", &spec]);
    let other_salt = String::from_utf8(run_ok(&["salt"]).stdout).unwrap().trim().to_string();
    let wrong = zkml(&["verify", c, p, "--input", input.to_str().unwrap(), "--salt", &format!("input0={other_salt}")]);
    assert_eq!(wrong.status.code(), Some(1), "another salt confirmed the input: {}", text(&wrong));
}

/// A small model gets a direct Solidity verifier (no aggregation): proofs made with `--evm` pass
/// natively, in revm and on anvil; a flipped proof byte or a changed public input is rejected by
/// each; proofs with the wrong transcript are refused with a clear error both ways. The proofs
/// carry a context word (an address), and a proof rebound to another word is rejected by each.
#[test]
fn a_small_model_gets_a_direct_evm_verifier() {
    let dir = scratch("direct");
    let example = repo().join("examples/mlp");
    let compiled = dir.join("compiled");
    let c = compiled.to_str().unwrap();
    let calibration = example.join("calibration.json");
    run_ok(&["compile", example.join("model.onnx").to_str().unwrap(), "-o", c, "--calibration-data", calibration.to_str().unwrap(), "--context-word"]);
    run_ok(&["setup", c]);
    let made = run_ok(&["evm-verifier", c]);
    assert!(text(&made).contains("direct verifier"), "{}", text(&made));

    let input = example.join("input.json");
    let proofs = dir.join("proofs");
    std::fs::create_dir_all(&proofs).unwrap();
    let evm_proof = proofs.join("proof.json");
    let caller = "0x7FA9385bE102ac3EAc297483Dd6233D62b3e1496";
    run_ok(&["prove", c, "--input", input.to_str().unwrap(), "-o", evm_proof.to_str().unwrap(), "--evm", "--context", caller]);
    run_ok(&["verify", c, evm_proof.to_str().unwrap()]);
    let ok = run_ok(&["evm-verify", c, "--proof", evm_proof.to_str().unwrap()]);
    assert!(text(&ok).contains("accepted in revm"), "{}", text(&ok));

    let flipped = tampered_copy(&proofs, "proof.json", |j| {
        let p = j["proof"].as_str().unwrap().to_string();
        j["proof"] = flip_hex_byte(&p, 150).into();
    });
    let changed = tampered_copy(&proofs, "proof.json", |j| {
        let i = j["instances"][3].as_str().unwrap().to_string();
        j["instances"][3] = bump_instance(&i).into();
        let o = j["outputs"][0][3].as_f64().unwrap();
        j["outputs"][0][3] = (o + 1.0 / 256.0).into();
    });
    let rebound = tampered_copy(&proofs, "proof.json", |j| {
        let word = bump_instance(j["instances"][10].as_str().unwrap());
        assert_eq!(j["context"].as_str(), j["instances"][10].as_str(), "the context word is the last public input");
        (j["instances"][10], j["context"]) = (word.clone().into(), word.into());
    });
    let anvil = Anvil::start();
    let on_chain = run_ok(&["evm-verify", c, "--proof", evm_proof.to_str().unwrap(), "--rpc", &anvil.url]);
    assert!(text(&on_chain).contains("accepted on"), "{}", text(&on_chain));
    for bad in [&flipped, &changed, &rebound] {
        let bad = bad.join("proof.json");
        let b = bad.to_str().unwrap();
        assert_eq!(zkml(&["verify", c, b]).status.code(), Some(1), "native verifier accepted {b}");
        let local = zkml(&["evm-verify", c, "--proof", b]);
        assert_eq!(local.status.code(), Some(1), "revm accepted {b}: {}", text(&local));
        let remote = zkml(&["evm-verify", c, "--proof", b, "--rpc", &anvil.url]);
        assert_eq!(remote.status.code(), Some(1), "anvil accepted {b}: {}", text(&remote));
    }

    // Transcripts do not mix: a Poseidon proof is not for the EVM, an EVM proof not for aggregation.
    let poseidon_proof = dir.join("poseidon.json");
    run_ok(&["prove", c, "--input", input.to_str().unwrap(), "-o", poseidon_proof.to_str().unwrap(), "--context", caller]);
    let refused = zkml(&["evm-verify", c, "--proof", poseidon_proof.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("--evm"), "{}", text(&refused));
    let refused = zkml(&["aggregate", evm_proof.to_str().unwrap(), "-m", c, "-o", dir.join("agg").to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("without --evm"), "{}", text(&refused));
    let no_proof = zkml(&["evm-verify", c]);
    assert_eq!(no_proof.status.code(), Some(2), "{}", text(&no_proof));
    assert!(text(&no_proof).contains("name the proof"), "{}", text(&no_proof));
}

/// Writes held-out sample `index` of `example` as an INPUT.json in `dir` and returns its path.
fn heldout_sample(example: &Path, index: usize, dir: &Path) -> PathBuf {
    let heldout: serde_json::Value = serde_json::from_slice(&std::fs::read(example.join("heldout.json")).unwrap()).unwrap();
    let path = dir.join(format!("{}-sample-{index}.json", example.file_name().unwrap().to_string_lossy()));
    std::fs::write(&path, serde_json::json!({ "input_data": [heldout["inputs"][index].clone()] }).to_string()).unwrap();
    path
}

/// Runs zkml, failing the test (with its output) unless it succeeds.
fn run_ok(args: &[&str]) -> Output {
    let out = zkml(args);
    assert!(out.status.success(), "zkml {args:?} failed: {}", text(&out));
    out
}

/// A copy of the shared fixture model `examples/NAME` compiled with `flags` (and set up), in
/// `dir/NAME`, for a test that writes into the model directory.
fn own_copy_of(name: &str, flags: &[&str], dir: &Path) -> PathBuf {
    fixtures::copy_of(&fixtures::model(name, flags).dir, &dir.join(name))
}

/// A model whose direct verifier does not fit EIP-170 (the digits CNN with its input hashed: the
/// Poseidon gates and the ten public outputs make it about 25.7 KB) gets an aggregated verifier
/// from `zkml evm-verifier`, which fits and accepts its proof.
#[test]
fn a_wide_model_gets_an_aggregated_verifier() {
    let _memory = aggregation_lock();
    let dir = scratch("wide");
    let model = own_copy_of("cnn", &["--input-visibility", "hashed"], &dir);
    let m = model.to_str().unwrap();
    let made = run_ok(&["evm-verifier", m]);
    assert!(text(&made).contains("over EIP-170") && text(&made).contains("aggregated verifier"), "{}", text(&made));
    let planned = model.join("aggregated");
    assert!(text(&run_ok(&["evm-verify", planned.to_str().unwrap()])).contains("accepted in revm"));
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(planned.join("verifier.json")).unwrap()).unwrap();
    assert_eq!(record["kind"], "aggregated", "{record}");
    assert!(record["runtime_size"].as_u64().unwrap() <= 24_576, "{record}");
}

/// Outputs hashed: one public input per proof keeps an aggregation small.
const HASHED_OUTPUT: [&str; 2] = ["--output-visibility", "hashed"];

/// Runs `zkml aggregate PROOFS... -m MODEL... -o OUT` with `extra` flags. First checks that
/// without the first model the command refuses, naming `unmatched` (a proof of that model).
fn aggregate_named(proofs: &[&Path], models: &[&Path], unmatched: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&str> = vec!["aggregate"];
    args.extend(proofs.iter().map(|p| p.to_str().unwrap()));
    let mut missing = args.clone();
    for model in &models[1..] {
        missing.extend(["-m", model.to_str().unwrap()]);
    }
    missing.extend(["-o", out.to_str().unwrap()]);
    let refused = zkml(&missing);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains(unmatched.to_str().unwrap()) && text(&refused).contains("--model"), "{}", text(&refused));
    for model in models {
        args.extend(["-m", model.to_str().unwrap()]);
    }
    args.extend(["-o", out.to_str().unwrap()]);
    args.extend(extra);
    run_ok(&args)
}

/// Checks `AGG_DIR/manifest.json` and `proof.json` against the inner proofs, given in order:
/// each entry names its proof's model, and the public inputs are the 12 accumulator limbs, then
/// each proof's in that order. Returns the manifest.
fn assert_manifest_matches(agg: &Path, order: &[&Path]) -> serde_json::Value {
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(agg.join("manifest.json")).unwrap()).unwrap();
    let entries = manifest["proofs"].as_array().unwrap();
    assert_eq!(entries.len(), order.len());
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(agg.join("proof.json")).unwrap()).unwrap();
    let instances = file["instances"].as_array().unwrap();
    let mut next = 12;
    for (entry, proof) in entries.iter().zip(order) {
        let inner: serde_json::Value = serde_json::from_slice(&std::fs::read(proof).unwrap()).unwrap();
        assert_eq!(entry["model_hash"], inner["model_hash"]);
        assert_eq!(entry["first_instance"], next);
        let count = entry["instances"].as_u64().unwrap() as usize;
        assert_eq!(instances[next..next + count], inner["instances"].as_array().unwrap()[..], "the inner public inputs follow the 12 accumulator limbs, proof by proof");
        next += count;
    }
    assert_eq!(instances.len(), next);
    manifest
}

/// Deploys the verifier of `agg` (made by `zkml evm-verifier`) on a new anvil node; checks that it
/// accepts there and in revm, and that both reject a proof whose public input `instance` changed or
/// whose byte `byte` flipped, and that an edited bytecode is refused, not trusted.
fn assert_deployed_verifier_accepts_only(agg: &Path, instance: usize, byte: usize) {
    let a = agg.to_str().unwrap();
    run_ok(&["evm-verifier", a]);
    assert!(text(&run_ok(&["evm-verify", a])).contains("accepted in revm"));
    let anvil = Anvil::start();
    assert!(text(&run_ok(&["deploy", a, "--rpc", &anvil.url, "--insecure-dev-srs"])).contains("deployed at 0x"));
    assert!(text(&run_ok(&["evm-verify", a, "--rpc", &anvil.url, "--deployed"])).contains("accepted on"));
    assert_tampered_aggregations_rejected(agg, instance, byte, Some(&anvil.url));
    let edited = agg.with_file_name(format!("{}-edited-verifier", agg.file_name().unwrap().to_string_lossy()));
    std::fs::create_dir_all(&edited).unwrap();
    for f in ["proof.json", "aggregation.json", "manifest.json", "verifier.json", "Verifier.sol"] {
        std::fs::copy(agg.join(f), edited.join(f)).unwrap();
    }
    let bin = std::fs::read_to_string(agg.join("Verifier.bin")).unwrap();
    std::fs::write(edited.join("Verifier.bin"), flip_hex_byte(bin.trim(), 1000)).unwrap();
    let out = zkml(&["evm-verify", edited.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("evm-verifier"), "{}", text(&out));
}

/// Two proofs of two models (the CNN's and the MLP's, outputs hashed) aggregated in two levels on
/// the smallest layout that has them: one group of both (`--group-size 2`, Poseidon transcript),
/// whose proof the final aggregation verifies for the EVM. A proof whose model is not given is
/// named; the manifest matches each proof to its model and lists the group; the public inputs are
/// the 12 accumulator limbs, then each proof's in the order given. The verifier is deployed on
/// anvil and accepts there and in revm, and rejects a changed public input, a flipped proof byte
/// and an edited bytecode.
///
/// Then the library's view of the same aggregation (`aggregation.json`): the accessors, a serde
/// round trip, the verifying key rebuilt from its bytes (truncated bytes refused), the Solidity
/// verifier generated again (refused for an SRS of another degree or a wrong public-input count),
/// under EIP-170, accepting in revm and rejecting a flipped byte and each public input changed,
/// the accumulator limbs included.
#[test]
fn two_models_aggregate_in_two_levels_and_verify_on_anvil() {
    let _memory = aggregation_lock();
    let dir = scratch("two-level");
    let (cnn, mlp) = (fixtures::model("cnn", &HASHED_OUTPUT).dir, fixtures::model("mlp", &HASHED_OUTPUT).dir);
    let cnn_proof = fixtures::proof(&cnn, &repo().join("examples/cnn/input.json"), &[]);
    let mlp_proof = fixtures::proof(&mlp, &repo().join("examples/mlp/input.json"), &[]);
    let order = [cnn_proof.as_path(), mlp_proof.as_path()];
    let agg = dir.join("agg");
    let out = aggregate_named(&order, &[&mlp, &cnn], &mlp_proof, &agg, &["--group-size", "2"]);
    for step in ["first level: aggregating proofs 1..2", "final aggregation of 1 proof(s)"] {
        assert!(text(&out).contains(step), "no '{step}' in {}", text(&out));
    }
    let manifest = assert_manifest_matches(&agg, &order);
    assert_eq!(manifest["groups"].as_array().map(Vec::len), Some(1), "{manifest}");
    assert_eq!((manifest["groups"][0]["first_proof"].as_u64(), manifest["groups"][0]["proofs"].as_u64()), (Some(0), Some(2)), "{manifest}");
    let entries = manifest["proofs"].as_array().unwrap();
    assert_ne!(entries[0]["model_hash"], entries[1]["model_hash"], "two different models");
    let second = entries[1]["first_instance"].as_u64().unwrap() as usize;
    assert_deployed_verifier_accepts_only(&agg, second, 300);
    library_checks_of_an_aggregation(&agg, &order);
    assert_aggregation_key_is_derived(&agg, &[&mlp, &cnn]);
}

/// Finding 3 of the soundness review: `zkml evm-verifier` derives an aggregation's key from the
/// compiled models instead of trusting `aggregation.json`. On a copy of `agg` that does not say
/// where its models are, it asks for them (`--model`); given them, on a machine that never made
/// this aggregation (an empty shape cache) it derives both levels by keygen and writes the same
/// verifier as the aggregating machine; a key of another circuit (two of its fixed commitments
/// swapped: still a well-formed key) is refused, and no verifier is written for it.
fn assert_aggregation_key_is_derived(agg: &Path, models: &[&Path]) {
    use zkml_prover::halo2_proofs::halo2curves::serde::SerdeObject;
    let copy = |name: &str| {
        let to = agg.with_file_name(format!("{}-{name}", agg.file_name().unwrap().to_string_lossy()));
        std::fs::create_dir_all(&to).unwrap();
        for f in ["proof.json", "aggregation.json", "manifest.json"] {
            std::fs::copy(agg.join(f), to.join(f)).unwrap();
        }
        to
    };
    let elsewhere = copy("elsewhere");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(elsewhere.join("manifest.json")).unwrap()).unwrap();
    for entry in manifest["proofs"].as_array_mut().unwrap() {
        assert!(entry["model_dir"].as_str().is_some_and(|d| Path::new(d).is_absolute()), "{entry}");
        entry.as_object_mut().unwrap().remove("model_dir");
    }
    assert!(manifest["groups"][0]["config"]["num_advice"].as_u64().is_some(), "{manifest}");
    std::fs::write(elsewhere.join("manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
    let e = elsewhere.to_str().unwrap();
    let unknown = zkml(&["evm-verifier", e]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(text(&unknown).contains("--model") && !elsewhere.join("Verifier.bin").exists(), "{}", text(&unknown));

    let fresh_cache = agg.with_file_name("fresh-shape-cache");
    let mut args = vec!["evm-verifier", e];
    for m in models {
        args.extend(["-m", m.to_str().unwrap()]);
    }
    let derived = Command::new(env!("CARGO_BIN_EXE_zkml")).args(&args).env("ZKML_AGG_CACHE", &fresh_cache).output().unwrap();
    assert!(derived.status.success(), "{}", text(&derived));
    assert_eq!(std::fs::read_dir(&fresh_cache).unwrap().count(), 2, "a shape derived for each level");
    assert_eq!(std::fs::read(elsewhere.join("Verifier.bin")).unwrap(), std::fs::read(agg.join("Verifier.bin")).unwrap());

    let forged = copy("forged-key");
    let mut aggregation: serde_json::Value = serde_json::from_slice(&std::fs::read(forged.join("aggregation.json")).unwrap()).unwrap();
    let proof: zkml_aggregator::AggregatedProof = serde_json::from_value(aggregation.clone()).unwrap();
    let vk = proof.verifying_key().unwrap();
    let (a, b) = (vk.fixed_commitments()[0].to_raw_bytes(), vk.fixed_commitments()[1].to_raw_bytes());
    assert_ne!(a, b);
    let mut bytes = proof.vk.clone();
    let find = |bytes: &[u8], point: &[u8]| bytes.windows(point.len()).position(|w| w == point).expect("a fixed commitment in the key bytes");
    let (i, j) = (find(&bytes, &a), find(&bytes, &b));
    bytes[i..i + a.len()].copy_from_slice(&b);
    bytes[j..j + b.len()].copy_from_slice(&a);
    assert!(zkml_aggregator::read_aggregation_vk(&bytes, proof.config).is_ok(), "the forged key is well formed");
    aggregation["vk"] = format!("0x{}", hex::encode(&bytes)).into();
    std::fs::write(forged.join("aggregation.json"), serde_json::to_vec(&aggregation).unwrap()).unwrap();
    let refused = zkml(&["evm-verifier", forged.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("not the key of an aggregation of the models"), "{}", text(&refused));
    assert!(!forged.join("Verifier.bin").exists());
}

/// The checks of [`two_models_aggregate_in_two_levels_and_verify_on_anvil`] made through the
/// aggregator's library on the aggregation in `agg` of the proofs `order`.
fn library_checks_of_an_aggregation(agg: &Path, order: &[&Path]) {
    use zkml_aggregator::*;
    use zkml_prover::halo2_proofs::halo2curves::bn256::Fr;

    let json = std::fs::read_to_string(agg.join("aggregation.json")).unwrap();
    let proof: AggregatedProof = serde_json::from_str(&json).unwrap();
    let inner: Vec<Vec<Fr>> = order
        .iter()
        .map(|p| zkml_prover::proof::ProofFile::load(p).unwrap().instance_values().unwrap())
        .collect();
    assert_eq!(proof.accumulator_limbs().len(), ACCUMULATOR_LIMBS);
    assert_eq!(proof.inner_instance_counts, inner.iter().map(Vec::len).collect::<Vec<_>>());
    for (i, values) in inner.iter().enumerate() {
        assert_eq!(proof.inner_instances(i), Some(&values[..]));
    }
    assert_eq!(proof.inner_instances(inner.len()), None);
    assert_eq!(proof.instances.len(), ACCUMULATOR_LIMBS + inner.iter().map(Vec::len).sum::<usize>());

    // A serde round trip, and the verifying key rebuilt from its bytes and the configuration.
    let proof: AggregatedProof = serde_json::from_str(&serde_json::to_string(&proof).unwrap()).unwrap();
    let vk = proof.verifying_key().expect("read the aggregation vk back");
    assert!(read_aggregation_vk(&proof.vk[..proof.vk.len() - 1], proof.config).is_err());

    let store = zkml_prover::srs::SrsStore::default_location();
    let k = proof.config.degree;
    let params = store.params(k).expect("SRS").params;
    let sol = verifier_solidity(&params, &vk, proof.instances.len()).expect("solidity");
    assert!(sol.contains(VERIFIER_PRAGMA));
    assert!(verifier_solidity(&store.params(k - 1).expect("SRS").params, &vk, proof.instances.len()).is_err(), "an SRS of another degree");
    assert!(verifier_solidity(&params, &vk, 3).is_err(), "a wrong public-input count");
    let solc = zkml_aggregator::workflow::Tools::find(&repo()).solc;
    let creation = compile_solidity(&solc, &sol).expect("compile");
    let ok = verify_in_revm(&creation, &proof.calldata()).expect("revm");
    assert!(ok.accepted && ok.gas_used > 21_000, "{ok:?}");
    assert!(ok.runtime_size <= EIP170_LIMIT, "runtime {} B over EIP-170", ok.runtime_size);
    assert_eq!(deployed_size(&creation).unwrap(), ok.runtime_size);
    assert_eq!(proof.calldata(), encode_calldata(&proof.instances, &proof.proof));

    let mut flipped = proof.proof.clone();
    flipped[proof.proof.len() / 3] ^= 1;
    assert!(!verify_in_revm(&creation, &encode_calldata(&proof.instances, &flipped)).unwrap().accepted, "flipped proof byte accepted");
    for index in 0..proof.instances.len() {
        let mut instances = proof.instances.clone();
        instances[index] += Fr::one();
        assert!(!verify_in_revm(&creation, &encode_calldata(&instances, &proof.proof)).unwrap().accepted, "changed public input {index} accepted");
    }

    // The calldata is pinned: the generated code would reduce `v + p` and ignore a tail.
    let shape = calldata_shape(&sol).expect("the pinned shape");
    assert_eq!((shape.num_instances, shape.proof_length), (proof.instances.len(), proof.proof.len()));
    let honest = proof.calldata();
    let mut tailed = honest.clone();
    tailed.push(0);
    assert!(!verify_in_revm(&creation, &tailed).unwrap().accepted, "a trailing byte accepted");
    let mut plus_p = honest.clone();
    let modulus = hex::decode("30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001").unwrap();
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let sum = plus_p[i] as u16 + modulus[i] as u16 + carry;
        plus_p[i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "an accumulator limb is far below 2^256 - p");
    assert!(!verify_in_revm(&creation, &plus_p).unwrap().accepted, "the first public input plus p accepted");
    assert!(!verify_in_revm(&creation, &[]).unwrap().accepted, "an empty call must revert (with the shape)");
}

/// Slow tier (`scripts/test.sh --full`; last run and figures in BENCHMARKS.md): four proofs of
/// two models (interleaved cnn, mlp, cnn, mlp; outputs hashed) aggregated in two levels of two
/// groups (`--group-size 2`), the second group laid out from the first one's cached shape, their
/// two proofs aggregated for the EVM at k = 22 (13 GiB, half an hour here); checked like
/// [`two_models_aggregate_in_two_levels_and_verify_on_anvil`].
#[test]
#[ignore = "slow tier: scripts/test.sh --full"]
fn four_proofs_of_two_models_aggregate_in_two_levels_and_verify_on_anvil() {
    let _memory = exclusive_aggregation_lock();
    let dir = scratch("four");
    let mut models = vec![];
    let mut proofs = vec![];
    for name in ["cnn", "mlp"] {
        let model = fixtures::model(name, &HASHED_OUTPUT).dir;
        let example = repo().join("examples").join(name);
        for input in [example.join("input.json"), heldout_sample(&example, 2, &dir)] {
            proofs.push(fixtures::proof(&model, &input, &[]));
        }
        models.push(model);
    }
    let order = [proofs[0].as_path(), proofs[2].as_path(), proofs[1].as_path(), proofs[3].as_path()];
    let agg = dir.join("agg");
    let out = aggregate_named(&order, &[&models[0], &models[1]], order[0], &agg, &["--group-size", "2"]);
    for step in ["first level: aggregating proofs 1..2", "first level: aggregating proofs 3..4", "final aggregation of 2 proof(s)"] {
        assert!(text(&out).contains(step), "no '{step}' in {}", text(&out));
    }
    let manifest = assert_manifest_matches(&agg, &order);
    assert_eq!(manifest["groups"].as_array().map(Vec::len), Some(2), "{manifest}");
    let third = manifest["proofs"][2]["first_instance"].as_u64().unwrap() as usize;
    assert_deployed_verifier_accepts_only(&agg, third, 300);
}

/// Copies of the aggregation `agg` (with its verifier) with public input `instance` changed, and
/// with proof byte `byte` flipped, are rejected by the verifier in revm and, given `rpc`, on that
/// node.
fn assert_tampered_aggregations_rejected(agg: &Path, instance: usize, byte: usize, rpc: Option<&str>) {
    let changed = tampered_copy(agg, "proof.json", |j| {
        let i = j["instances"][instance].as_str().unwrap().to_string();
        j["instances"][instance] = bump_instance(&i).into();
    });
    let flipped = tampered_copy(agg, "proof.json", |j| {
        let p = j["proof"].as_str().unwrap().to_string();
        j["proof"] = flip_hex_byte(&p, byte).into();
    });
    for bad in [&changed, &flipped] {
        let local = zkml(&["evm-verify", bad.to_str().unwrap()]);
        assert_eq!(local.status.code(), Some(1), "revm accepted {}: {}", bad.display(), text(&local));
        if let Some(url) = rpc {
            let remote = zkml(&["evm-verify", bad.to_str().unwrap(), "--rpc", url]);
            assert_eq!(remote.status.code(), Some(1), "anvil accepted {}: {}", bad.display(), text(&remote));
        }
    }
}

/// zkml's public outputs for its MNIST example, at scale 512.
const ZKML_OUTPUTS: [i64; 10] = [-5312, -8056, -8186, -1669, -4260, 6614, -5131, -6862, -3047, -805];

/// zkml's MNIST example, read in place from ../shared when present.
fn zkml_mnist() -> Option<PathBuf> {
    let dir = repo().join("../shared/anchors/zkml/examples/mnist");
    dir.join("model.msgpack").exists().then_some(dir)
}

/// zkml's MNIST example through the command line: compiled from its msgpack, proved with zkml's
/// exact outputs as public inputs, and verified. (Its verifier, too large for EIP-170, is made by
/// aggregation like the CNN's in `a_wide_model_gets_an_aggregated_verifier`.)
#[test]
fn zkml_mnist_proves_and_verifies() {
    let Some(mnist) = zkml_mnist() else {
        eprintln!("skipped: ../shared/anchors/zkml/examples/mnist is not present");
        return;
    };
    let dir = scratch("mnist-proof");
    let (model, proof) = (dir.join("model"), dir.join("proof.json"));
    let (m, p) = (model.to_str().unwrap(), proof.to_str().unwrap());
    run_ok(&["compile", mnist.join("model.msgpack").to_str().unwrap(), "-o", m]);
    run_ok(&["setup", m]);
    run_ok(&["prove", m, "--input", mnist.join("inp.msgpack").to_str().unwrap(), "-o", p]);
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    let expected: Vec<f64> = ZKML_OUTPUTS.iter().map(|&v| v as f64 / 512.0).collect();
    assert_eq!(file["outputs"], serde_json::json!([expected]));
    run_ok(&["verify", m, p]);
    let changed = tampered_copy(&dir, "proof.json", |j| {
        let i = j["instances"][0].as_str().unwrap().to_string();
        j["instances"][0] = bump_instance(&i).into();
        let o = j["outputs"][0][0].as_f64().unwrap();
        j["outputs"][0][0] = (o + 1.0 / 512.0).into();
    });
    let bad = zkml(&["verify", m, changed.join("proof.json").to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1), "changed public input: {}", text(&bad));
}

#[test]
fn zkml_msgpack_model_forward_matches_zkml() {
    let Some(mnist) = zkml_mnist() else {
        eprintln!("skipped: ../shared/anchors/zkml/examples/mnist is not present");
        return;
    };
    let dir = scratch("mnist");
    let d = dir.join("compiled");
    let ok = zkml(&["compile", mnist.join("model.msgpack").to_str().unwrap(), "-o", d.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", text(&ok));
    let out = zkml(&["forward", d.to_str().unwrap(), "--input", mnist.join("inp.msgpack").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = serde_json::json!([ZKML_OUTPUTS]);
    assert_eq!(report["outputs_quantized"], expected);
}

/// `zkml srs import` of a Powers of Tau file made here by snarkjs: the imported SRS proves and
/// verifies, says where it came from, and replaces the development SRS only when asked.
#[test]
fn ptau_from_snarkjs_imports_and_proves() {
    let dir = scratch("ptau");
    let snarkjs = repo().join(".tools/bin/snarkjs");
    assert!(snarkjs.exists(), "{} is missing: run scripts/setup.sh", snarkjs.display());
    let power = "12";
    let (pot0, pot1) = (dir.join("pot0.ptau"), dir.join("pot1.ptau"));
    for args in [
        vec!["powersoftau", "new", "bn128", power, pot0.to_str().unwrap()],
        vec!["powersoftau", "contribute", pot0.to_str().unwrap(), pot1.to_str().unwrap(), "--name=zkml test", "-e=zkml test entropy"],
    ] {
        let out = Command::new(&snarkjs).args(&args).output().expect("run snarkjs");
        assert!(out.status.success(), "snarkjs {args:?}: {}", text(&out));
    }
    let store = dir.join("srs");
    let with_store = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_zkml")).args(args).env("ZKML_SRS_DIR", &store).output().unwrap();

    // A store that already holds the development SRS is not replaced without --force.
    let model = dir.join("model");
    let m = model.to_str().unwrap();
    let example = repo().join("examples/mlp");
    let out = with_store(&["compile", example.join("model.onnx").to_str().unwrap(), "-o", m, "--scale", "5", "--range-bits", "11"]);
    assert!(out.status.success(), "{}", text(&out));
    let compiled: serde_json::Value = serde_json::from_slice(&std::fs::read(model.join("model.json")).unwrap()).unwrap();
    let k = compiled["layout"]["k"].as_u64().unwrap();
    assert!(k <= 12, "the test model needs k = {k}, more than the ptau's power");
    assert!(with_store(&["setup", m]).status.success());
    let refused = with_store(&["srs", "import", pot1.to_str().unwrap(), "--k", power]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused).contains("--force"), "{}", text(&refused));

    // A damaged file is refused: a flipped bit in G1 power 100 (section 2's data starts at byte 80,
    // 64 bytes a point), or a G1 power swapped for another point of the curve (the next power).
    let bytes = std::fs::read(&pot1).unwrap();
    let mut flipped = bytes.clone();
    flipped[80 + 64 * 100 + 10] ^= 0x40;
    let mut swapped = bytes.clone();
    let (p100, p101) = (80 + 64 * 100, 80 + 64 * 101);
    let next: Vec<u8> = bytes[p101..p101 + 64].to_vec();
    swapped[p100..p100 + 64].copy_from_slice(&next);
    for (name, damaged) in [("flipped.ptau", flipped), ("swapped.ptau", swapped)] {
        std::fs::write(dir.join(name), &damaged).unwrap();
        let bad = with_store(&["srs", "import", dir.join(name).to_str().unwrap(), "--k", power, "--force"]);
        assert_eq!(bad.status.code(), Some(2), "{name}: {}", text(&bad));
        assert!(text(&bad).contains("not a usable .ptau"), "{name}: {}", text(&bad));
    }

    let imported = with_store(&["srs", "import", pot1.to_str().unwrap(), "--k", power, "--force"]);
    assert!(imported.status.success(), "{}", text(&imported));
    let list = text(&with_store(&["srs", "list"]));
    assert!(list.contains("ceremony SRS imported from pot1.ptau") && !list.contains("INSECURE"), "{list}");

    // Keys made over the development SRS no longer match; new ones prove and verify, and no
    // command warns about a development SRS.
    let proof = dir.join("proof.json");
    let input = example.join("input.json");
    let stale = with_store(&["prove", m, "--input", input.to_str().unwrap(), "-o", proof.to_str().unwrap()]);
    assert_eq!(stale.status.code(), Some(2), "keys of another SRS were used: {}", text(&stale));
    for args in [vec!["setup", m, "--force"], vec!["prove", m, "--input", input.to_str().unwrap(), "-o", proof.to_str().unwrap()], vec!["verify", m, proof.to_str().unwrap()]] {
        let out = with_store(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(!text(&out).contains("INSECURE"), "{args:?} still uses the development SRS: {}", text(&out));
    }
}

/// The fixture cache makes an entry once, however many threads ask for it at the same time, and
/// keys it by its flags: another flag is another entry.
#[test]
fn fixtures_are_made_once_and_keyed_by_their_flags() {
    let small = ["--scale", "5", "--range-bits", "11"];
    let dirs: Vec<PathBuf> = std::thread::scope(|s| {
        let askers: Vec<_> = (0..2).map(|_| s.spawn(|| fixtures::model("mlp", &small).dir)).collect();
        askers.into_iter().map(|a| a.join().unwrap()).collect()
    });
    assert_eq!(dirs[0], dirs[1], "two threads got two entries");
    assert!(dirs[0].join("pk.bin").exists() && dirs[0].join("vk.bin").exists(), "the entry is set up");
    let entries = dirs[0].parent().unwrap().parent().unwrap();
    let partial: Vec<_> = std::fs::read_dir(entries).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains(".partial-")).collect();
    assert!(partial.is_empty(), "a half-made entry is left: {partial:?}");
    let other = fixtures::model("mlp", &["--scale", "5", "--range-bits", "12"]).dir;
    assert_ne!(other, dirs[0], "another flag shares the entry");
    let input = repo().join("examples/mlp/input.json");
    let proof = fixtures::proof(&dirs[0], &input, &[]);
    assert_eq!(proof, fixtures::proof(&dirs[0], &input, &[]));
    assert_ne!(proof, fixtures::proof(&other, &input, &[]), "a proof of another model shares the entry");
    assert!(text(&run_ok(&["verify", dirs[0].to_str().unwrap(), proof.to_str().unwrap()])).contains("valid"));
}

/// `zkml estimate` says what a compiled model costs before keygen, and `--max-memory` refuses,
/// before anything is made or written, a step the estimate puts over the budget.
#[test]
fn estimate_before_keygen_and_memory_budget() {
    let dir = scratch("estimate");
    let model_dir = dir.join("model");
    let (model, data) = (repo().join("examples/mlp/model.onnx"), repo().join("examples/mlp/calibration.json"));
    let (model, data, model_dir_s) = (model.to_str().unwrap(), data.to_str().unwrap(), model_dir.to_str().unwrap());

    // A budget below the estimate: nothing is written.
    let out = zkml(&["compile", model, "-o", model_dir_s, "--calibration-data", data, "--max-memory", "1MiB"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("over the memory budget") && text(&out).contains("--range-bits"), "{}", text(&out));
    assert!(!zkml_prover::artifact::CompiledModel::path_in(&model_dir).exists(), "a refused compile wrote {}", model_dir.display());

    let out = zkml(&["compile", model, "-o", model_dir_s, "--calibration-data", data, "--max-memory", "20GiB"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("estimate: keygen about"), "{}", text(&out));

    let out = zkml(&["estimate", model_dir_s, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let whole = &e["model"];
    assert_eq!(whole["k"], 14, "{e}");
    assert!(whole["peak_memory_bytes"].as_u64().unwrap() > 1 << 20 && whole["proving_key_bytes"].as_u64().unwrap() > 0, "{e}");
    assert_eq!(e["segments"].as_array().map(Vec::len), Some(0), "{e}");
    let out = zkml(&["estimate", model_dir_s]);
    assert!(out.status.success() && text(&out).contains("peak memory") && text(&out).contains("(predicted)"), "{}", text(&out));
    // Cut into segments: each its own circuit, together covering every node.
    let out = zkml(&["estimate", model_dir_s, "--segments", "2", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let parts = e["segments"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{e}");
    let (first, second) = (parts[0]["nodes"].as_str().unwrap(), parts[1]["nodes"].as_str().unwrap());
    assert!(first.starts_with("0..") && second.split("..").next() == first.split("..").nth(1), "{first} then {second}");
    assert!(parts[1]["input_values"].as_u64().unwrap() > 0 && parts[1]["estimate"]["k"].as_u64().unwrap() > 0, "{e}");
    let out = zkml(&["estimate", model_dir_s, "--segments", "2"]);
    assert!(out.status.success() && text(&out).contains("in 2 segments"), "{}", text(&out));
    let out = zkml(&["estimate", model_dir_s, "--segments", "60"]);
    assert_eq!(out.status.code(), Some(2), "more segments than nodes: {}", text(&out));

    // Keygen and proving are refused before they start; no key is written.
    let out = zkml(&["setup", model_dir_s, "--max-memory", "2MiB"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("making the keys needs about"), "{}", text(&out));
    assert!(!model_dir.join("pk.bin").exists(), "a refused setup wrote a key");
    let input = repo().join("examples/mlp/input.json");
    let proof = dir.join("proof.json");
    let out = zkml(&["prove", model_dir_s, "-i", input.to_str().unwrap(), "-o", proof.to_str().unwrap(), "--max-memory", "2MiB"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("proving needs about") && !proof.exists(), "{}", text(&out));

    for bad in ["lots", "1x", "0", "-5GiB"] {
        let out = zkml(&["setup", model_dir_s, &format!("--max-memory={bad}")]);
        assert_eq!(out.status.code(), Some(2), "--max-memory {bad}: {}", text(&out));
        assert!(text(&out).contains("--max-memory"), "{}", text(&out));
    }
}
