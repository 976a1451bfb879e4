//! ddkang/zkml's MNIST example (read in place from ../shared/anchors when present): imported from
//! its msgpack format, its outputs reproduce zkml's exactly, and the proof verifies.

use std::path::PathBuf;

use zkml_prover::compile::{compile_zkml, forward, load_inputs};
use zkml_prover::keys::{generate_keys, model_srs};
use zkml_prover::proof::{prove, verify};

/// zkml's public outputs for `inp.msgpack`, at scale 512.
const ZKML_OUTPUTS: [i64; 10] = [-5312, -8056, -8186, -1669, -4260, 6614, -5131, -6862, -3047, -805];

fn anchor() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/anchors/zkml/examples/mnist");
    dir.join("model.msgpack").exists().then_some(dir)
}

#[test]
fn zkml_mnist_reproduces_exactly_and_proves() {
    let Some(dir) = anchor() else {
        eprintln!("skipped: ../shared/anchors/zkml/examples/mnist is not present");
        return;
    };
    let model = compile_zkml(&dir.join("model.msgpack")).unwrap();
    let inputs = load_inputs(&model, &dir.join("inp.msgpack")).unwrap();
    let report = forward(&model, &inputs).unwrap();
    assert_eq!(report.outputs_quantized, vec![ZKML_OUTPUTS.to_vec()]);

    let srs = model_srs(&model).unwrap();
    let pk = generate_keys(&model, &srs.params).unwrap();
    let proof = prove(&model, &srs.params, &pk, &inputs).unwrap();
    let expected: Vec<f64> = ZKML_OUTPUTS.iter().map(|&v| v as f64 / 512.0).collect();
    assert_eq!(proof.outputs, vec![expected]);
    verify(&model, &srs.params, pk.get_vk(), &proof).unwrap();
    eprintln!("zkml MNIST: k = {}, layout {:?}", model.layout.k, model.layout);
}

#[test]
fn zkml_format_errors_are_clear() {
    let dir = std::env::temp_dir().join(format!("zkml-msgpack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.msgpack");
    std::fs::write(&bad, b"\x93\x01\x02").unwrap();
    let err = compile_zkml(&bad).unwrap_err().to_string();
    assert!(err.contains("not a zkml msgpack model"), "{err}");
}
