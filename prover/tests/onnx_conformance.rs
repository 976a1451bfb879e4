//! ONNX conformance: the ONNX project's own operator test cases (`onnx.backend.test.case.node`,
//! a model, its inputs and the expected outputs per case, unpacked by `scripts/setup.sh` into
//! `.tools/onnx-cases`), for every case whose operators the importer lists as supported.
//!
//! Each case is compiled (calibrated on the case's own input) and run forward. It must either
//! match, or be refused with an error; a case whose output is wrong fails the test, and so does a
//! panic. "Match" means both:
//! - the imported float graph computes ONNX's result: |ours − expected| ≤ 1e-4 + 1e-3·|expected|
//!   per element (the importer's semantics: attributes, defaults, broadcasting);
//! - the quantized model is within the quantization tolerance: per element,
//!   |quantized − expected| ≤ [`TOLERANCE`] · max(1, max |expected|) (the arithmetic's rounding
//!   at [`SCALE_BITS`] fractional bits).
//!
//! The outcome of every case is written as `docs/onnx-conformance.md`; the test fails when the
//! file in the repository differs (a change in what passes is a visible change in the docs).
//! `ZKML_BLESS=1` rewrites the file. `ZKML_ONNX_CASES` points at another cases directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::Framework;
use zkml_prover::compile::{compile_onnx_calibrated, forward};
use zkml_prover::import::onnx::{load_tensor_proto, SUPPORTED_OPS};

/// Fractional bits of the fixed-point encoding the cases are quantized at.
const SCALE_BITS: u32 = 8;
/// Largest quantization error accepted, relative to the output's magnitude (at least 1).
const TOLERANCE: f64 = 0.03;

/// What one case came to.
enum Outcome {
    /// Matched, with the largest quantization error relative to the output's magnitude, after
    /// fixing these integer inputs (see [`fix_integer_inputs`]).
    Pass { error: f64, fixed: Vec<String> },
    /// Refused with this error.
    Refused(String),
    /// A wrong output, or a panic: a bug.
    Wrong(String),
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn cases_dir() -> PathBuf {
    std::env::var_os("ZKML_ONNX_CASES").map_or_else(|| repo_root().join(".tools/onnx-cases"), PathBuf::from)
}

/// The graph of `dir/model.onnx`.
fn case_graph(dir: &Path) -> pb::GraphProto {
    let proto = tract_onnx::onnx().proto_model_for_path(dir.join("model.onnx")).expect("an ONNX test model parses");
    proto.graph.expect("an ONNX test model has a graph")
}

/// The operator a case is listed under: the one its nodes share, or for a composite case (an
/// `_expanded` function body) the supported operator its name starts with.
fn case_operator(name: &str, graph: &pb::GraphProto) -> String {
    let first = &graph.node[0].op_type;
    if graph.node.iter().all(|n| &n.op_type == first) {
        return first.clone();
    }
    let squashed = name.trim_start_matches("test_").replace('_', "");
    SUPPORTED_OPS
        .iter()
        .filter(|op| squashed.starts_with(&op.to_lowercase()))
        .max_by_key(|op| op.len())
        .map_or_else(|| "(composite)".to_string(), |op| op.to_string())
}

/// The values of `dir/{prefix}_0.pb`, `dir/{prefix}_1.pb`, ...
fn read_tensors(dir: &Path, prefix: &str) -> Result<Vec<Vec<f64>>, String> {
    (0..)
        .map(|i| dir.join(format!("{prefix}_{i}.pb")))
        .take_while(|p| p.exists())
        .map(|p| load_tensor_proto(&p).map(|t| t.data().to_vec()).map_err(|e| e.to_string()))
        .collect()
}

/// The case's model with its integer inputs but the first (the data) made initializers holding
/// the case's values, the
/// names of those inputs, and the values of the remaining inputs. ONNX's tests give shapes, axes,
/// pads, split sizes and gather indices as inputs; a circuit has static shapes and wiring, so
/// those are fixed when the model is compiled, as a user would fix them before export.
fn fix_integer_inputs(dir: &Path, scratch: &Path) -> Result<(PathBuf, Vec<String>, Vec<Vec<f64>>), String> {
    use pb::tensor_proto::DataType;
    let data = dir.join("test_data_set_0");
    let mut model = pb::ModelProto::decode(std::fs::read(dir.join("model.onnx")).unwrap().as_slice()).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let inputs = std::mem::take(&mut graph.input);
    let (mut fixed, mut free) = (vec![], vec![]);
    for (j, input) in inputs.into_iter().enumerate() {
        let file = data.join(format!("input_{j}.pb"));
        let elem = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(pb::type_proto::Value::TensorType(t)) => t.elem_type,
            _ => 0,
        };
        if j > 0 && (elem == DataType::Int64 as i32 || elem == DataType::Int32 as i32) {
            let mut tensor = pb::TensorProto::decode(std::fs::read(&file).unwrap().as_slice()).map_err(|e| e.to_string())?;
            tensor.name = input.name.clone();
            graph.initializer.push(tensor);
            fixed.push(input.name);
        } else {
            free.push(load_tensor_proto(&file).map(|t| t.data().to_vec()).map_err(|e| e.to_string())?);
            graph.input.push(input);
        }
    }
    if fixed.is_empty() {
        return Ok((dir.join("model.onnx"), fixed, free));
    }
    let path = scratch.join(format!("{}.onnx", dir.file_name().unwrap().to_string_lossy()));
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    Ok((path, fixed, free))
}

/// Compiles and runs one case.
fn run_case(dir: &Path, scratch: &Path) -> Outcome {
    // A value type the reader refuses is a refusal too: the model's input could not be given.
    let ((model_path, fixed, inputs), expected) = match (fix_integer_inputs(dir, scratch), read_tensors(&dir.join("test_data_set_0"), "output")) {
        (Ok(model), Ok(expected)) => (model, expected),
        (Err(e), _) | (_, Err(e)) => return Outcome::Refused(e),
    };
    let inputs: Vec<Vec<f32>> = inputs.iter().map(|v| v.iter().map(|&x| x as f32).collect()).collect();
    let (model, _) = match compile_onnx_calibrated(&model_path, SCALE_BITS, None, &inputs) {
        Ok(compiled) => compiled,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let report = match forward(&model, &inputs) {
        Ok(report) => report,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let float = report.float_outputs.as_ref().expect("an ONNX model has a float graph");
    if report.outputs.len() != expected.len() {
        return Outcome::Wrong(format!("{} outputs, ONNX expects {}", report.outputs.len(), expected.len()));
    }
    let mut worst: f64 = 0.0;
    for (i, want) in expected.iter().enumerate() {
        if float[i].len() != want.len() || report.outputs[i].len() != want.len() {
            return Outcome::Wrong(format!("output {i} has {} values, ONNX expects {}", float[i].len(), want.len()));
        }
        for (j, (&f, &w)) in float[i].iter().zip(want).enumerate() {
            if (f - w).abs() > 1e-4 + 1e-3 * w.abs() {
                return Outcome::Wrong(format!("float output {i}[{j}] is {f}, ONNX expects {w}"));
            }
        }
        let magnitude = want.iter().fold(1.0f64, |m, w| m.max(w.abs()));
        for (j, (&q, &w)) in report.outputs[i].iter().zip(want).enumerate() {
            let relative = (q - w).abs() / magnitude;
            if relative > TOLERANCE {
                return Outcome::Wrong(format!("quantized output {i}[{j}] is {q}, ONNX expects {w} (error {relative:.3} of the output's magnitude)"));
            }
            worst = worst.max(relative);
        }
    }
    Outcome::Pass { error: worst, fixed }
}

/// Runs a case, turning a panic into a wrong outcome.
fn run_case_caught(dir: &Path, scratch: &Path) -> Outcome {
    std::panic::catch_unwind(|| run_case(dir, scratch)).unwrap_or_else(|panic| {
        let message = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
        Outcome::Wrong(format!("panicked: {}", message.unwrap_or_default()))
    })
}

/// One line of an error message, without the machine's paths.
fn tidy(message: &str, root: &Path) -> String {
    let one_line = message.lines().next().unwrap_or_default().replace(&format!("{}/", root.display()), "");
    let short: String = one_line.chars().take(160).collect();
    short.replace('|', "\\|")
}

#[test]
fn onnx_node_cases_match_or_are_refused() {
    let root = cases_dir();
    assert!(
        root.join(".installed").exists() || std::env::var_os("ZKML_ONNX_CASES").is_some(),
        "the ONNX test cases are not at {}: run scripts/setup.sh",
        root.display()
    );
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("model.onnx").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() > 1000, "only {} cases under {}", names.len(), root.display());

    let scratch = std::env::temp_dir().join(format!("zkml-onnx-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    // A panic is an outcome here (a bug the table reports), not a backtrace per case.
    std::panic::set_hook(Box::new(|_| {}));
    // operator -> (case, outcome), for the cases made only of supported operators.
    let mut by_operator: BTreeMap<String, Vec<(String, Outcome)>> = BTreeMap::new();
    for name in &names {
        let dir = root.join(name);
        let graph = case_graph(&dir);
        if graph.node.is_empty() || !graph.node.iter().all(|n| SUPPORTED_OPS.contains(&n.op_type.as_str()) && n.domain.is_empty()) {
            continue;
        }
        let outcome = run_case_caught(&dir, &scratch);
        by_operator.entry(case_operator(name, &graph)).or_default().push((name.clone(), outcome));
    }

    drop(std::panic::take_hook());
    std::fs::remove_dir_all(&scratch).ok();

    let table = conformance_table(&by_operator, &root);
    let wrong: Vec<String> = by_operator
        .values()
        .flatten()
        .filter_map(|(name, o)| match o {
            Outcome::Wrong(why) => Some(format!("{name}: {why}")),
            _ => None,
        })
        .collect();
    assert!(wrong.is_empty(), "{} case(s) computed a wrong output or panicked:\n{}", wrong.len(), wrong.join("\n"));

    let doc = repo_root().join("docs/onnx-conformance.md");
    if std::env::var_os("ZKML_BLESS").is_some() {
        std::fs::write(&doc, &table).unwrap();
    }
    let committed = std::fs::read_to_string(&doc).unwrap_or_default();
    assert!(
        committed == table,
        "docs/onnx-conformance.md is not the outcome of this run; run with ZKML_BLESS=1 to rewrite it and review the change. This run:\n{table}"
    );
}

/// The markdown written to `docs/onnx-conformance.md`.
fn conformance_table(by_operator: &BTreeMap<String, Vec<(String, Outcome)>>, root: &Path) -> String {
    let all: Vec<&(String, Outcome)> = by_operator.values().flatten().collect();
    let count = |f: fn(&Outcome) -> bool| all.iter().filter(|(_, o)| f(o)).count();
    let (pass, refused, wrong) =
        (count(|o| matches!(o, Outcome::Pass { .. })), count(|o| matches!(o, Outcome::Refused(_))), count(|o| matches!(o, Outcome::Wrong(_))));
    let mut md = String::new();
    writeln!(md, "# ONNX conformance\n").unwrap();
    writeln!(
        md,
        "Written by `prover/tests/onnx_conformance.rs` (run in CI; `ZKML_BLESS=1` rewrites this file). The cases are \
the ONNX project's own operator tests (`onnx.backend.test.case.node`, onnx 1.17.0: a model, its inputs and the \
expected outputs), every case whose nodes are all operators the importer lists as supported. Each is compiled at \
{SCALE_BITS} fractional bits, calibrated on its own input, and run forward. Integer inputs after the first (the shapes, axes, pads, \
split sizes and indices ONNX's tests give as inputs) are fixed to the case's values first, as initializers: a \
circuit's shapes and wiring are static; such a case says which inputs were fixed. It passes when the imported float graph \
computes ONNX's result (|ours − expected| ≤ 1e-4 + 1e-3·|expected|) and the quantized model is within \
{TOLERANCE} of the output's magnitude (at least 1) of it; otherwise it must be refused with an error. A wrong output \
or a panic fails the test.\n"
    )
    .unwrap();
    writeln!(md, "**{} cases: {pass} pass, {refused} refused, {wrong} wrong.**\n", all.len()).unwrap();
    writeln!(md, "| Operator | Cases | Pass | Refused |\n|---|---:|---:|---:|").unwrap();
    for (op, cases) in by_operator {
        let passed = cases.iter().filter(|(_, o)| matches!(o, Outcome::Pass { .. })).count();
        writeln!(md, "| {op} | {} | {passed} | {} |", cases.len(), cases.len() - passed).unwrap();
    }
    writeln!(md, "\n## Every case\n\nFor a passing case, the largest quantization error relative to the output's magnitude.\n").unwrap();
    writeln!(md, "| Case | Operator | Outcome |\n|---|---|---|").unwrap();
    for (op, cases) in by_operator {
        for (name, outcome) in cases {
            let text = match outcome {
                Outcome::Pass { error, fixed } if fixed.is_empty() => format!("pass ({error:.4})"),
                Outcome::Pass { error, fixed } => format!("pass ({error:.4}), {} fixed", fixed.join(", ")),
                Outcome::Refused(why) => format!("refused: {}", tidy(why, root)),
                Outcome::Wrong(why) => format!("**wrong**: {}", tidy(why, root)),
            };
            writeln!(md, "| {name} | {op} | {text} |").unwrap();
        }
    }
    md
}

/// The importer's compositions for operands ONNX allows to be computed (Conv and Gemm weights,
/// LayerNormalization's scale and bias, Clip's bounds) and Pad's copying modes are proved, not
/// only evaluated: a real proof of one case of each verifies, and the same proof with a changed
/// public output does not.
#[test]
fn composed_cases_prove_and_verify() {
    use zkml_prover::keys::{generate_keys, model_srs};
    use zkml_prover::proof::{prove, verify};
    let root = cases_dir();
    let scratch = std::env::temp_dir().join(format!("zkml-onnx-conformance-proofs-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    for case in ["test_conv_with_strides_padding", "test_gemm_default_matrix_bias", "test_layer_normalization_2d_axis0", "test_clip_example", "test_reflect_pad"] {
        let (path, _, inputs) = fix_integer_inputs(&root.join(case), &scratch).unwrap();
        let inputs: Vec<Vec<f32>> = inputs.iter().map(|v| v.iter().map(|&x| x as f32).collect()).collect();
        // 4 fractional bits keep the circuits small (the convolution case's values reach 200:
        // at 8 bits its range table alone needs 2^19 rows); what is checked is the proof.
        let (model, _) = compile_onnx_calibrated(&path, 4, None, &inputs).unwrap();
        let srs = model_srs(&model).unwrap();
        let pk = generate_keys(&model, &srs.params).unwrap();
        let proof = prove(&model, &srs.params, &pk, &inputs).unwrap();
        assert_eq!(proof.outputs, forward(&model, &inputs).unwrap().outputs, "{case}: proved outputs differ from the forward pass");
        verify(&model, &srs.params, pk.get_vk(), &proof).unwrap_or_else(|e| panic!("{case}: {e}"));
        let mut tampered = proof.clone();
        let last = tampered.instances.len() - 1;
        tampered.instances[last] = zkml_prover::field::fr_to_hex(&(proof.instance_values().unwrap()[last] + zkml_prover::halo2_proofs::halo2curves::bn256::Fr::one()));
        assert!(verify(&model, &srs.params, pk.get_vk(), &tampered).is_err(), "{case}: a changed public output verified");
    }
    std::fs::remove_dir_all(&scratch).ok();
}
