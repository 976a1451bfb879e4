//! Models of several shapes and depths, written as ONNX here, imported, checked against tract's
//! float run, quantized, proved and verified; tampered proofs are rejected.

mod common;

use std::path::Path;

use common::{int_attr, ints_attr, scratch, OnnxBuilder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tract_onnx::prelude::*;
use zkml_prover::artifact::CompiledModel;
use zkml_prover::circuit::plan_with;
use zkml_prover::compile::{compile_onnx, forward};
use zkml_prover::keys::{generate_keys, load_pk, load_vk, model_srs, save_keys};
use zkml_prover::field::fr_to_hex;
use zkml_prover::proof::{prove, verify};
use zkml_prover::quantize::QuantizeConfig;

/// tract's float outputs for the model at `path` on `input`.
fn tract_run<T: Datum + Clone>(path: &Path, dims: &[usize], input: &[T]) -> Vec<f32> {
    let model = tract_onnx::onnx().model_for_path(path).unwrap().into_optimized().unwrap().into_runnable().unwrap();
    let x = tract_ndarray::ArrayD::from_shape_vec(dims.to_vec(), input.to_vec()).unwrap();
    let out = model.run(tvec!(Tensor::from(x).into())).unwrap();
    out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect()
}

const CONFIG: QuantizeConfig = QuantizeConfig { scale_bits: 7, range_bits: 13 };

/// Imports, checks the float import against tract, then proves, verifies and tampers. Returns the
/// compiled model and the input it was proved on.
fn check_model(name: &str, build: impl FnOnce(&mut OnnxBuilder) -> (String, Vec<usize>), input_dims: &[usize], seed: u64) -> (CompiledModel, Vec<f32>) {
    let dir = scratch(name);
    let path = dir.join("model.onnx");
    let mut b = OnnxBuilder::new(seed);
    let (out, out_dims) = build(&mut b);
    b.finish(&path, input_dims, &out, &out_dims);

    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
    let n: usize = input_dims.iter().product();
    let input: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();

    let model = compile_onnx(&path, CONFIG).unwrap();
    let report = forward(&model, &[input.clone()]).unwrap();
    let reference = tract_run(&path, input_dims, &input);
    let float_outputs = report.float_outputs.as_ref().expect("an ONNX model has a float graph");
    assert_eq!(float_outputs[0].len(), reference.len(), "{name}: output size");
    for (ours, theirs) in float_outputs[0].iter().zip(&reference) {
        assert!((ours - *theirs as f64).abs() < 1e-4, "{name}: float import differs from tract: {ours} vs {theirs}");
    }
    // Quantization at 7 fractional bits: a few steps of 1/128 per layer.
    let error = report.max_abs_error.expect("float outputs exist");
    eprintln!("{name}: largest |quantized - float| = {error:.4}, circuit k = {}", model.layout.k);
    assert!(error < 0.1, "{name}: quantization error {error}");

    model.save(&dir).unwrap();
    let model = CompiledModel::load(&dir).unwrap();
    let srs = model_srs(&model).unwrap();
    let pk = generate_keys(&model, &srs.params).unwrap();
    save_keys(&dir, &model, &srs.params, &pk).unwrap();
    let (pk, vk) = (load_pk(&dir, &model, &srs.params).unwrap(), load_vk(&dir, &model, &srs.params).unwrap());

    let proof = prove(&model, &srs.params, &pk, &[input.clone()]).unwrap();
    assert_eq!(proof.outputs, report.outputs, "{name}: proved outputs differ from the reference forward pass");
    verify(&model, &srs.params, &vk, &proof).unwrap();

    // A flipped byte anywhere in the proof is rejected.
    let bytes = proof.proof_bytes().unwrap();
    for at in [0, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 1;
        let mut tampered = proof.clone();
        tampered.proof = format!("0x{}", hex::encode(&bad));
        assert!(verify(&model, &srs.params, &vk, &tampered).is_err(), "{name}: flipped byte {at} accepted");
    }
    // A changed public output is rejected, even with `outputs` rewritten to match it.
    let mut tampered = proof.clone();
    let mut values = proof.instance_values().unwrap();
    values[0] += zkml_prover::halo2_proofs::halo2curves::bn256::Fr::one();
    tampered.instances = values.iter().map(fr_to_hex).collect();
    tampered.outputs[0][0] += 1.0 / 128.0;
    assert!(verify(&model, &srs.params, &vk, &tampered).is_err(), "{name}: changed output accepted");
    (model, input)
}

#[test]
fn single_gemm() {
    check_model("single_gemm", |b| (b.gemm("x", 6, 3), vec![1, 3]), &[1, 6], 1);
}

#[test]
fn deep_relu_mlp() {
    check_model(
        "deep_relu_mlp",
        |b| {
            let h1 = b.gemm("x", 9, 12);
            let a1 = b.node("Relu", &[&h1], vec![]);
            let h2 = b.matmul_add(&a1, 12, 7);
            let a2 = b.node("Relu", &[&h2], vec![]);
            let h3 = b.gemm(&a2, 7, 5);
            let a3 = b.node("Relu", &[&h3], vec![]);
            (b.gemm(&a3, 5, 4), vec![1, 4])
        },
        &[1, 9],
        2,
    );
}

#[test]
fn batch_flatten_and_residual_add() {
    check_model(
        "batch_flatten_and_residual_add",
        |b| {
            // x: [2, 3, 4] -> Flatten -> [2, 12]; a residual block; Reshape back to [2, 3, 4].
            let f = b.node("Flatten", &["x"], vec![int_attr("axis", 1)]);
            let h = b.gemm(&f, 12, 12);
            let a = b.node("Relu", &[&h], vec![]);
            let s = b.node("Add", &[&a, &f], vec![]);
            (b.reshape(&s, &[2, 3, -1]), vec![2, 3, 4])
        },
        &[2, 3, 4],
        3,
    );
}

#[test]
fn product_of_two_activations() {
    check_model(
        "product_of_two_activations",
        |b| {
            let left = b.reshape("x", &[2, 4]);
            let h = b.gemm("x", 8, 12);
            let right = b.reshape(&h, &[4, -1]);
            let p = b.node("MatMul", &[&left, &right], vec![]);
            let bias = b.weights(&[1, 3], 0.5);
            (b.node("Add", &[&p, &bias], vec![]), vec![2, 3])
        },
        &[1, 8],
        4,
    );
}

#[test]
fn small_cnn_with_padding_strides_depthwise_and_pooling() {
    let (model, input) = check_model(
        "small_cnn",
        |b| {
            // x: [1, 2, 7, 7] -> 3x3 conv, padded, 4 channels -> Relu -> 2x2 average pool (stride 2)
            // -> depthwise 3x3 conv (multiplier 2), stride 2 -> global average pool -> Flatten -> Gemm.
            let c1 = b.conv("x", 2, 4, 3, 1, vec![ints_attr("pads", &[1, 1, 1, 1])]);
            let r1 = b.node("Relu", &[&c1], vec![]);
            let p1 = b.node("AveragePool", &[&r1], vec![ints_attr("kernel_shape", &[2, 2]), ints_attr("strides", &[2, 2])]);
            let c2 = b.conv(&p1, 4, 8, 3, 4, vec![ints_attr("strides", &[2, 2]), ints_attr("pads", &[1, 0, 1, 0])]);
            let g = b.node("GlobalAveragePool", &[&c2], vec![]);
            let f = b.node("Flatten", &[&g], vec![]);
            (b.gemm(&f, 8, 3), vec![1, 3])
        },
        &[1, 2, 7, 7],
        5,
    );
    // The same model with its first (padded, 49-position) convolution checked by Freivalds'
    // randomized check instead of row by row: the cost model picks that only for larger models.
    let mut folded = model.clone();
    folded.layout = plan_with(&model.quantized, 5, true).unwrap();
    assert!(folded.layout.shape.gadgets.freivalds && folded.layout.k == model.layout.k, "{:?}", folded.layout);
    let srs = model_srs(&folded).unwrap();
    let pk = generate_keys(&folded, &srs.params).unwrap();
    let proof = prove(&folded, &srs.params, &pk, &[input.clone()]).unwrap();
    assert_eq!(proof.outputs, forward(&model, &[input]).unwrap().outputs);
    verify(&folded, &srs.params, pk.get_vk(), &proof).unwrap();
    let mut tampered = proof.clone();
    let mut bytes = proof.proof_bytes().unwrap();
    bytes[40] ^= 1;
    tampered.proof = format!("0x{}", hex::encode(&bytes));
    assert!(verify(&folded, &srs.params, pk.get_vk(), &tampered).is_err());
}

#[test]
fn transposes_are_free_permutations() {
    check_model(
        "transposes",
        |b| {
            let t = b.node("Transpose", &["x"], vec![ints_attr("perm", &[0, 2, 1])]);
            let h = b.matmul_add(&t, 3, 4);
            (b.node("Transpose", &[&h], vec![]), vec![4, 5, 1])
        },
        &[1, 3, 5],
        6,
    );
}

#[test]
fn max_pooling_padded_and_global() {
    check_model(
        "max_pooling",
        |b| {
            let c = b.conv("x", 1, 3, 3, 1, vec![]);
            let p = b.node("MaxPool", &[&c], vec![ints_attr("kernel_shape", &[2, 2]), ints_attr("strides", &[2, 2]), ints_attr("pads", &[1, 1, 0, 0])]);
            let g = b.node("GlobalMaxPool", &[&p], vec![]);
            (b.node("Flatten", &[&g], vec![]), vec![1, 3])
        },
        &[1, 1, 6, 6],
        7,
    );
}

#[test]
fn batch_norm_clip_and_arithmetic_with_constants() {
    check_model(
        "batch_norm_clip_arithmetic",
        |b| {
            // Conv -> BatchNormalization (folded into the conv) -> Clip(0, 1.5) -> BatchNormalization
            // (not foldable: after a clip) -> Sub 0.25 -> Mul 1.5 -> Div 2 -> Clip(-0.5, 0.5) -> 1 - x.
            let c = b.conv("x", 2, 3, 3, 1, vec![ints_attr("pads", &[1, 1, 1, 1])]);
            let n1 = b.batch_norm(&c, 3);
            let (lo, hi) = (b.scalar(0.0), b.scalar(1.5));
            let k1 = b.node("Clip", &[&n1, &lo, &hi], vec![]);
            let n2 = b.batch_norm(&k1, 3);
            let quarter = b.scalar(0.25);
            let s = b.node("Sub", &[&n2, &quarter], vec![]);
            let three_halves = b.scalar(1.5);
            let m = b.node("Mul", &[&s, &three_halves], vec![]);
            let two = b.scalar(2.0);
            let d = b.node("Div", &[&m, &two], vec![]);
            let (lo2, hi2) = (b.scalar(-0.5), b.scalar(0.5));
            let k2 = b.node("Clip", &[&d, &lo2, &hi2], vec![]);
            let one = b.scalar(1.0);
            (b.node("Sub", &[&one, &k2], vec![]), vec![1, 3, 4, 4])
        },
        &[1, 2, 4, 4],
        8,
    );
}

#[test]
fn sigmoid_and_tanh_through_lookup_tables() {
    check_model(
        "sigmoid_tanh",
        |b| {
            let h = b.gemm("x", 6, 8);
            let s = b.node("Sigmoid", &[&h], vec![]);
            let h2 = b.gemm(&s, 8, 5);
            let t = b.node("Tanh", &[&h2], vec![]);
            (b.gemm(&t, 5, 3), vec![1, 3])
        },
        &[1, 6],
        9,
    );
}

#[test]
fn slice_split_concat_gather_and_squeeze_move_cells() {
    check_model(
        "selections",
        |b| {
            // x [1, 4, 6] -> Slice [:, :, 1:6:2] -> [1, 4, 3]; Split axis 1 -> [1,1,3] + [1,3,3];
            // Concat back in the other order; Gather axis 2 indices [2, 0, 0]; Unsqueeze, Squeeze;
            // Flatten; Gemm.
            let (st, en, ax, sp) = (b.int64s(&[1]), b.int64s(&[6]), b.int64s(&[2]), b.int64s(&[2]));
            let sl = b.node("Slice", &["x", &st, &en, &ax, &sp], vec![]);
            let sizes = b.int64s(&[1, 3]);
            let parts = b.multi("Split", &[&sl, &sizes], 2, vec![int_attr("axis", 1)]);
            let cat = b.node("Concat", &[&parts[1], &parts[0]], vec![int_attr("axis", 1)]);
            let idx = b.int64s(&[2, 0, 0]);
            let g = b.node("Gather", &[&cat, &idx], vec![int_attr("axis", 2)]);
            let axes = b.int64s(&[0]);
            let u = b.node("Unsqueeze", &[&g, &axes], vec![]);
            let sq = b.node("Squeeze", &[&u, &axes], vec![]);
            let f = b.node("Flatten", &[&sq], vec![]);
            (b.gemm(&f, 12, 2), vec![1, 2])
        },
        &[1, 4, 6],
        10,
    );
}

fn float_attr(name: &str, f: f32) -> tract_onnx::pb::AttributeProto {
    tract_onnx::pb::AttributeProto { name: name.into(), f, r#type: tract_onnx::pb::attribute_proto::AttributeType::Float as i32, ..Default::default() }
}

#[test]
fn transformer_block_layer_norm_softmax_attention_and_gelu() {
    check_model(
        "transformer_block",
        |b| {
            // x [1, 4, 6] -> LayerNormalization -> Q, K, V projections -> softmax(Q·Kᵀ / √d)·V
            // (batched MatMul of two activations) -> exporter-style Gelu
            // (x · 0.5 · (1 + erf(x / √2))) -> residual Add.
            b.opset = 17;
            let (gamma, beta) = (b.weights(&[6], 1.0), b.weights(&[6], 0.3));
            let n = b.node("LayerNormalization", &["x", &gamma, &beta], vec![int_attr("axis", -1), float_attr("epsilon", 1e-5)]);
            let q = b.matmul_add(&n, 6, 6);
            let k = b.matmul_add(&n, 6, 6);
            let v = b.matmul_add(&n, 6, 6);
            let kt = b.node("Transpose", &[&k], vec![ints_attr("perm", &[0, 2, 1])]);
            let scores = b.node("MatMul", &[&q, &kt], vec![]);
            let scale = b.scalar(1.0 / 6f32.sqrt());
            let scaled = b.node("Mul", &[&scores, &scale], vec![]);
            let attention = b.node("Softmax", &[&scaled], vec![int_attr("axis", -1)]);
            let mixed = b.node("MatMul", &[&attention, &v], vec![]);
            let root2 = b.scalar(std::f32::consts::SQRT_2);
            let div = b.node("Div", &[&mixed, &root2], vec![]);
            let erf = b.node("Erf", &[&div], vec![]);
            let one = b.scalar(1.0);
            let plus = b.node("Add", &[&erf, &one], vec![]);
            let times = b.node("Mul", &[&mixed, &plus], vec![]);
            let half = b.scalar(0.5);
            let gelu = b.node("Mul", &[&times, &half], vec![]);
            (b.node("Add", &[&gelu, "x"], vec![]), vec![1, 4, 6])
        },
        &[1, 4, 6],
        21,
    );
}

#[test]
fn layer_norm_pattern_reductions_sqrt_reciprocal_and_division() {
    check_model(
        "reductions",
        |b| {
            // The ReduceMean/Sub/Pow/Sqrt/Div pattern exporters emit for LayerNorm, then
            // ReduceMax, ReduceSum without keepdims, Reciprocal and Div of two activations.
            let mean = b.node("ReduceMean", &["x"], vec![ints_attr("axes", &[-1])]);
            let d = b.node("Sub", &["x", &mean], vec![]);
            let two = b.scalar(2.0);
            let p = b.node("Pow", &[&d, &two], vec![]);
            let var = b.node("ReduceMean", &[&p], vec![ints_attr("axes", &[-1])]);
            let eps = b.scalar(1e-5);
            let ve = b.node("Add", &[&var, &eps], vec![]);
            let sd = b.node("Sqrt", &[&ve], vec![]);
            let y = b.node("Div", &[&d, &sd], vec![]);
            let gamma = b.weights(&[5], 1.0);
            let y = b.node("Mul", &[&y, &gamma], vec![]);
            let mx = b.node("ReduceMax", &[&y], vec![ints_attr("axes", &[1]), int_attr("keepdims", 1)]);
            let r = b.node("Relu", &[&mx], vec![]);
            let one = b.scalar(1.0);
            let shifted = b.node("Add", &[&r, &one], vec![]);
            let inv = b.node("Reciprocal", &[&shifted], vec![]);
            let axes = b.int64s(&[2]);
            let total = b.node("ReduceSum", &[&y, &axes], vec![int_attr("keepdims", 0)]);
            let flat = b.reshape(&inv, &[1, 5]);
            let divisor = shifted_sum(b, &total);
            let ratio = b.node("Div", &[&flat, &divisor], vec![]);
            (b.node("Mul", &[&ratio, &flat], vec![]), vec![1, 5])
        },
        &[1, 3, 5],
        22,
    );
}

/// `1 + |t|`-like positive divisor from a sum: Relu(t) + 1, shaped [1, 3] -> reduced to [1, 1].
fn shifted_sum(b: &mut OnnxBuilder, total: &str) -> String {
    let r = b.node("Relu", &[total], vec![]);
    let m = b.node("ReduceMean", &[&r], vec![ints_attr("axes", &[1])]);
    let one = b.scalar(1.0);
    b.node("Add", &[&m, &one], vec![])
}

#[test]
fn leaky_relu_exp_pad_and_gelu_operator() {
    check_model(
        "leaky_exp_pad_gelu",
        |b| {
            b.opset = 20;
            let h = b.gemm("x", 6, 4);
            let l = b.node("LeakyRelu", &[&h], vec![float_attr("alpha", 0.1)]);
            let e = b.node("Exp", &[&l], vec![]);
            let pads = b.int64s(&[0, 1, 0, 2]);
            let value = b.scalar(0.25);
            let p = b.node("Pad", &[&e, &pads, &value], vec![]);
            let g = b.gemm(&p, 7, 5);
            (b.node("Gelu", &[&g], vec![]), vec![1, 5])
        },
        &[1, 6],
        23,
    );
}

#[test]
fn embedding_lookup_by_computed_indices() {
    use tract_onnx::pb::tensor_proto::DataType;
    let dir = scratch("embedding");
    let path = dir.join("model.onnx");
    let mut b = OnnxBuilder::new(31);
    let table = b.weights(&[10, 6], 1.0);
    let e = b.node("Gather", &[&table, "x"], vec![int_attr("axis", 0)]);
    let f = b.reshape(&e, &[1, 24]);
    let out = b.gemm(&f, 24, 3);
    b.finish_with_input(&path, common::typed_value_info("x", &[1, 4], DataType::Int64), &out, &[1, 3]);

    let tokens = [3i64, 0, 9, 5];
    let model = compile_onnx(&path, CONFIG).unwrap();
    let report = forward(&model, &[tokens.iter().map(|&t| t as f32).collect()]).unwrap();
    let reference = tract_run(&path, &[1, 4], &tokens);
    let float = &report.float_outputs.as_ref().unwrap()[0];
    for (ours, theirs) in float.iter().zip(&reference) {
        assert!((ours - *theirs as f64).abs() < 1e-4, "float import differs from tract: {ours} vs {theirs}");
    }
    assert!(report.max_abs_error.unwrap() < 0.1, "quantization error {:?}", report.max_abs_error);

    let srs = model_srs(&model).unwrap();
    let pk = generate_keys(&model, &srs.params).unwrap();
    let proof = prove(&model, &srs.params, &pk, &[tokens.iter().map(|&t| t as f32).collect()]).unwrap();
    assert_eq!(proof.outputs, report.outputs);
    verify(&model, &srs.params, pk.get_vk(), &proof).unwrap();

    // Indices outside the table, or not integers, are refused naming the layer.
    for bad in [[3.0, 0.0, 10.0, 5.0], [3.0, 0.5, 9.0, 5.0], [-1.0, 0.0, 9.0, 5.0]] {
        let err = forward(&model, &[bad.to_vec()]).unwrap_err().to_string();
        assert!(err.contains("embedding index"), "{err}");
    }
    // The table is fixed in the circuit: hashed parameters are refused.
    let hashed = zkml_prover::visibility::VisibilitySettings { params: zkml_prover::visibility::Visibility::Hashed, ..Default::default() };
    assert!(model.with_visibility(hashed).unwrap_err().to_string().contains("embedding"));
}

#[test]
fn mobilenet_v3_block_hard_swish_squeeze_excitation_grouped_conv_and_clips() {
    check_model(
        "mobilenet_v3_block",
        |b| {
            b.opset = 14;
            // x: [1, 4, 5, 5] -> 1x1 expansion to 8 -> HardSwish -> depthwise 3x3 (padded) ->
            // HardSwish -> squeeze-and-excitation (global average, 1x1 to 4, ReLU, 1x1 to 8,
            // HardSigmoid, per-channel product) -> grouped 1x1 to 4 (2 groups) -> Clip from
            // below only -> Clip from above only.
            let e = b.conv("x", 4, 8, 1, 1, vec![]);
            let e = b.node("HardSwish", &[&e], vec![]);
            let d = b.conv(&e, 8, 8, 3, 8, vec![ints_attr("pads", &[1, 1, 1, 1])]);
            let d = b.node("HardSwish", &[&d], vec![]);
            let s = b.node("GlobalAveragePool", &[&d], vec![]);
            let s = b.conv(&s, 8, 4, 1, 1, vec![]);
            let s = b.node("Relu", &[&s], vec![]);
            let s = b.conv(&s, 4, 8, 1, 1, vec![]);
            let gate = b.node("HardSigmoid", &[&s], vec![]);
            let se = b.node("Mul", &[&d, &gate], vec![]);
            let p = b.conv(&se, 8, 4, 1, 2, vec![]);
            let lo = b.scalar(-0.25);
            let hi = b.scalar(0.5);
            let c = b.node("Clip", &[&p, &lo, ""], vec![]);
            (b.node("Clip", &[&c, "", &hi], vec![]), vec![1, 4, 5, 5])
        },
        &[1, 4, 5, 5],
        16,
    );
}
