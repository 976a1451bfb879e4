//! The example models (made by scripts/make_examples.sh from scikit-learn's digits): their
//! quantized predictions on the held-out split match the float model's accuracy within 1
//! percentage point, and a sample of them is proved and verified; the face-ID matcher tells its
//! genuine pair from its impostor pair.

use std::path::PathBuf;

use serde::Deserialize;
use zkml_prover::compile::{compile_onnx_calibrated, forward};
use zkml_prover::input::InputFile;
use zkml_prover::keys::{generate_keys, model_srs};
use zkml_prover::proof::{prove, verify};

#[derive(Deserialize)]
struct HeldOut {
    inputs: Vec<Vec<f32>>,
    labels: Vec<usize>,
    float_predictions: Vec<usize>,
}

fn argmax(v: &[f64]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, x)| if *x > v[best] { i } else { best })
}

fn check_example(name: &str, samples_to_prove: usize) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
    let calibration = InputFile::load(&dir.join("calibration.json")).unwrap().input_data;
    let (model, _) = compile_onnx_calibrated(&dir.join("model.onnx"), 8, None, &calibration).unwrap();
    let held: HeldOut = serde_json::from_slice(&std::fs::read(dir.join("heldout.json")).unwrap()).unwrap();
    let (mut correct_q, mut correct_f) = (0usize, 0usize);
    for ((x, &label), &float_prediction) in held.inputs.iter().zip(&held.labels).zip(&held.float_predictions) {
        let report = forward(&model, &[x.clone()]).unwrap();
        correct_q += usize::from(argmax(&report.outputs[0]) == label);
        correct_f += usize::from(float_prediction == label);
        // Our own float forward pass agrees with the exporter's.
        assert_eq!(argmax(&report.float_outputs.as_ref().unwrap()[0]), float_prediction, "{name}: float import disagrees");
    }
    let n = held.labels.len() as f64;
    let (acc_q, acc_f) = (100.0 * correct_q as f64 / n, 100.0 * correct_f as f64 / n);
    eprintln!("{name}: quantized accuracy {acc_q:.2}%, float {acc_f:.2}% on {} held-out images", held.labels.len());
    assert!((acc_q - acc_f).abs() <= 1.0, "{name}: quantized {acc_q:.2}% vs float {acc_f:.2}%");

    let srs = model_srs(&model).unwrap();
    let pk = generate_keys(&model, &srs.params).unwrap();
    for x in held.inputs.iter().take(samples_to_prove) {
        let proof = prove(&model, &srs.params, &pk, &[x.clone()]).unwrap();
        verify(&model, &srs.params, pk.get_vk(), &proof).unwrap();
        assert_eq!(proof.outputs, forward(&model, &[x.clone()]).unwrap().outputs);
    }
}

#[test]
fn mlp_example_keeps_its_accuracy_and_proves() {
    check_example("mlp", 2);
}

#[test]
fn cnn_example_keeps_its_accuracy_and_proves() {
    check_example("cnn", 2);
}

#[derive(Deserialize)]
struct MatcherExpected {
    distance: f64,
    impostor_distance: f64,
    threshold: f64,
}

/// examples/matcher, compiled as the face-ID gate takes it (image private, template hashed): the
/// quantized distances are the float ones within two steps, the genuine pair is within the
/// threshold and the impostor pair is not. (The gate's forge test proves the genuine pair.)
#[test]
fn matcher_example_tells_the_genuine_pair_from_the_impostor() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/matcher");
    let visibility = zkml_prover::visibility::VisibilitySettings { input: "private,hashed".parse().unwrap(), context: true, ..Default::default() };
    let model = zkml_prover::compile::compile_model(&dir.join("model.onnx"), zkml_prover::quantize::QuantizeConfig::default())
        .unwrap()
        .with_visibility(visibility)
        .unwrap();
    let expected: MatcherExpected = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let step = 1.0 / f64::from(1u32 << model.quantized.config.scale_bits);
    let distance = |file: &str| {
        let report = forward(&model, &InputFile::load(&dir.join(file)).unwrap().input_data).unwrap();
        report.outputs[0][0]
    };
    let (genuine, impostor) = (distance("input.json"), distance("impostor.json"));
    assert!((genuine - expected.distance).abs() <= 2.0 * step, "genuine {genuine} vs float {}", expected.distance);
    assert!((impostor - expected.impostor_distance).abs() <= 2.0 * step, "impostor {impostor} vs float {}", expected.impostor_distance);
    assert!(genuine <= expected.threshold && impostor > expected.threshold, "{genuine} / {impostor} against {}", expected.threshold);

    // Calibration of a two-input model: every two lists are one sample (image, template).
    let mut lists = InputFile::load(&dir.join("input.json")).unwrap().input_data;
    lists.extend(InputFile::load(&dir.join("impostor.json")).unwrap().input_data);
    let (_, report) = compile_onnx_calibrated(&dir.join("model.onnx"), 8, None, &lists).unwrap();
    assert_eq!(report.samples, 2);
    assert!(report.layers.iter().all(|l| l.max_abs_error < 0.1), "{:?}", report.layers);
    let err = compile_onnx_calibrated(&dir.join("model.onnx"), 8, None, &lists[..3]).unwrap_err();
    assert!(err.to_string().contains("3 lists for a model of 2 inputs"), "{err}");
}
