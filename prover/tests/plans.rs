//! The planner's numbers are the layout's: for every example model, under the visibility settings
//! that change its layout most, the rows and range checks the plan promises are those synthesis
//! lays out (key generation refuses a circuit that differs from its plan), and the plans are the
//! ones recorded below, so that a change of layout is a decision, not an accident.

use std::path::PathBuf;

use zkml_prover::artifact::CompiledModel;
use zkml_prover::circuit::{check_layout, measure, CircuitLayout};
use zkml_prover::compile::{compile_onnx, compile_onnx_calibrated, compile_zkml};
use zkml_prover::input::InputFile;
use zkml_prover::keys::{derive_vk, model_srs};
use zkml_prover::quantize::QuantizeConfig;
use zkml_prover::visibility::{Visibility, VisibilitySettings};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name)
}

/// The example `name` compiled as `zkml compile --calibration-data` does (scale 2^8), with `v`.
fn compiled(name: &str, v: Option<VisibilitySettings>) -> CompiledModel {
    let dir = example(name);
    let calibration = dir.join("calibration.json");
    let model = if calibration.exists() {
        let samples = InputFile::load(&calibration).unwrap().input_data;
        compile_onnx_calibrated(&dir.join("model.onnx"), 8, None, &samples).unwrap().0
    } else {
        compile_onnx(&dir.join("model.onnx"), QuantizeConfig::default()).unwrap()
    };
    match v {
        Some(v) => model.with_visibility(v).unwrap(),
        None => model,
    }
}

fn hashed() -> VisibilitySettings {
    VisibilitySettings { input: Visibility::Hashed.into(), params: Visibility::Hashed, output: Visibility::Hashed.into(), context: false }
}

/// `(k, width, main rows, range checks, activation bound)` of the plan.
fn summary(model: &CompiledModel) -> (u32, usize, usize, usize, i64) {
    let l = &model.layout;
    (l.k, l.shape.width, l.main_rows, l.range_checks, l.activation_bound)
}

fn assert_laid_out_as_planned(name: &str, model: &CompiledModel) {
    let layout = &model.layout;
    let measured = measure(&std::sync::Arc::new(model.quantized.clone()), layout.shape.width, &layout.freivalds_nodes).unwrap();
    assert_eq!((measured.main_rows, measured.range_checks), (layout.main_rows, layout.range_checks), "{name}: counting run");
    // Key generation synthesizes the circuit, which refuses to differ from its plan.
    let srs = model_srs(model).unwrap();
    derive_vk(model, &srs.params).unwrap_or_else(|e| panic!("{name}: the circuit is not laid out as planned: {e}"));
}

#[test]
fn every_example_is_laid_out_as_planned() {
    let cases = [
        ("mlp", None, (14, 5, 541, 228, 8055)),
        ("mlp", Some(hashed()), (17, 6, 96065, 228, 65399)),
        ("cnn", None, (14, 5, 2179, 2388, 8055)),
        ("cnn", Some(hashed()), (16, 6, 46636, 2388, 32631)),
        ("matcher", None, (17, 5, 542, 258, 65391)),
    ];
    for (name, visibility, expected) in cases {
        let model = compiled(name, visibility.clone());
        let label = format!("{name} {:?}", visibility.map(|_| "hashed"));
        assert_eq!(summary(&model), expected, "{label}: the plan changed");
        assert_laid_out_as_planned(&label, &model);
    }
}

/// zkml's MNIST (from the shared anchors, when present): the one example with Freivalds-checked
/// convolutions.
#[test]
fn zkml_mnist_is_laid_out_as_planned() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/anchors/zkml/examples/mnist/model.msgpack");
    if !path.exists() {
        eprintln!("skipped: {} is not here", path.display());
        return;
    }
    let model = compile_zkml(&path).unwrap();
    assert_eq!(summary(&model), (15, 5, 20456, 30936, 14581), "the plan changed");
    assert!(model.layout.shape.gadgets.freivalds && !model.layout.freivalds_nodes.is_empty());
    assert_laid_out_as_planned("zkml mnist", &model);
}

/// A compiled model's layout is checked when it is loaded, by one counting run: a layout whose
/// numbers the model does not lay out, or that does not fit its rows, is refused.
#[test]
fn a_layout_the_model_does_not_fit_is_refused() {
    let model = compiled("cnn", None);
    check_layout(&model.quantized, &model.layout).unwrap();
    let wrong: [(&str, fn(&mut CircuitLayout)); 13] = [
        ("rows", |l| l.main_rows += 1),
        ("width below any gadget's", |l| l.shape.width = 2),
        ("width beyond any plan's", |l| l.shape.width = 1 << 20),
        ("bound whose table size overflows", |l| l.activation_bound = i64::MAX),
        ("table size", |l| l.table_rows += 2),
        ("lookup column count", |l| l.shape.lookup_columns = 0),
        ("lookup column count beyond the checks'", |l| l.shape.lookup_columns = 1 << 20),
        ("function column count", |l| l.shape.function_columns = 1 << 20),
        ("checks", |l| l.range_checks -= 1),
        ("width", |l| l.shape.width += 1),
        ("bound", |l| l.activation_bound = 4),
        ("degree", |l| l.k -= 3),
        ("Freivalds node", |l| l.freivalds_nodes = vec![0]),
    ];
    for (what, edit) in wrong {
        let mut layout = model.layout.clone();
        edit(&mut layout);
        // Refused with an error, never a panic or an allocation of the tampered size.
        assert!(check_layout(&model.quantized, &layout).is_err(), "a layout with another {what} accepted");
    }
}
