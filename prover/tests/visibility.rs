//! Visibility settings end to end: every setting of input, params and output proves and
//! verifies with the public inputs it promises, and proofs about other inputs or other weights than
//! the committed ones are rejected.

mod common;

use std::path::Path;

use common::{ints_attr, scratch, value_info, OnnxBuilder};
use zkml_prover::artifact::CompiledModel;
use zkml_prover::commitment::{commit_ints, commit_ints_salted};
use zkml_prover::compile::{compile_onnx, forward};
use zkml_prover::halo2_proofs::halo2curves::bn256::Fr;
use zkml_prover::keys::{generate_keys, load_vk, model_srs, save_keys, vk_path};
use zkml_prover::field::fr_to_hex;
use zkml_prover::proof::{self, check_inputs, parse_context_word, prove, verify, ProofFile, ProveOptions};
use zkml_prover::quantize::QuantizeConfig;
use zkml_prover::visibility::{PublicTensor, Salts, Visibility, VisibilitySettings};

use Visibility::{Hashed, Private, Public, Salted};

const CONFIG: QuantizeConfig = QuantizeConfig { scale_bits: 7, range_bits: 12 };

/// Conv → Mul by a constant → Sub a constant → Relu → Flatten → Gemm: every kind of parameter
/// (weights, biases, constant tensors). Weights drawn from `seed`.
fn write_model(path: &Path, seed: u64) {
    let mut b = OnnxBuilder::new(seed);
    let c = b.conv("x", 1, 2, 3, 1, vec![ints_attr("pads", &[1, 1, 1, 1])]);
    let half = b.scalar(0.5);
    let m = b.node("Mul", &[&c, &half], vec![]);
    let tenth = b.scalar(0.1);
    let s = b.node("Sub", &[&m, &tenth], vec![]);
    let r = b.node("Relu", &[&s], vec![]);
    let f = b.reshape(&r, &[1, 32]);
    let out = b.gemm(&f, 32, 3);
    b.finish(path, &[1, 1, 4, 4], &out, &[1, 3]);
}

fn input(shift: f32) -> Vec<f32> {
    (0..16).map(|i| (i as f32 * 0.37 + shift).sin() * 0.9).collect()
}

/// A proved model: its compiled form, keys, SRS and one proof on `input(0.0)`.
struct Proved {
    model: CompiledModel,
    srs: zkml_prover::srs::Srs,
    vk: zkml_prover::halo2_proofs::plonk::VerifyingKey<zkml_prover::halo2_proofs::halo2curves::bn256::G1Affine>,
    proof: ProofFile,
}

fn prove_with(name: &str, seed: u64, visibility: VisibilitySettings) -> Proved {
    let dir = scratch(name);
    let path = dir.join("model.onnx");
    write_model(&path, seed);
    let model = compile_onnx(&path, CONFIG).unwrap().with_visibility(visibility).unwrap();
    let srs = model_srs(&model).unwrap();
    let pk = generate_keys(&model, &srs.params).unwrap();
    let proof = prove(&model, &srs.params, &pk, &[input(0.0)]).unwrap();
    let vk = pk.get_vk().clone();
    Proved { model, srs, vk, proof }
}

fn settings(input: Visibility, params: Visibility, output: Visibility) -> VisibilitySettings {
    VisibilitySettings { input: input.into(), params, output: output.into(), context: false }
}

fn with_instance(proof: &ProofFile, index: usize, value: Fr) -> ProofFile {
    let mut tampered = proof.clone();
    tampered.instances[index] = fr_to_hex(&value);
    tampered
}

#[test]
fn each_setting_proves_with_the_public_inputs_it_promises() {
    // Every value appears in every position at least once.
    for (i, (input_vis, params_vis, output_vis)) in
        [(Public, Hashed, Private), (Hashed, Private, Public), (Private, Public, Hashed), (Hashed, Hashed, Hashed)].into_iter().enumerate()
    {
        let v = settings(input_vis, params_vis, output_vis);
        let p = prove_with(&format!("visibility-{i}"), 11, v.clone());
        verify(&p.model, &p.srs.params, &p.vk, &p.proof).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        let q = &p.model.quantized;
        let report = forward(&p.model, &[input(0.0)]).unwrap();
        let x = p.model.quantize_input(0, &input(0.0)).unwrap().data().to_vec();
        let y = report.outputs_quantized[0].clone();

        // The public inputs are exactly the promised values and commitments, in order.
        let mut expected: Vec<Fr> = vec![];
        let mut section = |vis: Visibility, values: &[i64]| match vis {
            Public => expected.extend(values.iter().map(|&v| zkml_prover::field::fe(v as i128))),
            Hashed => expected.push(commit_ints(values)),
            Private => {}
            Salted => unreachable!("salted settings have their own test"),
        };
        section(input_vis, &x);
        if params_vis == Hashed {
            section(Hashed, &q.params());
        }
        section(output_vis, &y);
        assert_eq!(p.proof.instance_values().unwrap(), expected, "{v:?}");
        assert_eq!(p.model.layout.public_inputs, expected.len(), "{v:?}");

        // What is public is readable from the proof file, what is not is absent.
        assert_eq!(p.proof.outputs[0].is_empty(), output_vis != Public, "{v:?}");
        assert_eq!(p.proof.inputs[0].is_empty(), input_vis != Public, "{v:?}");
        if output_vis == Public {
            assert_eq!(p.proof.outputs, report.outputs, "{v:?}");
        }
        let hashed = [input_vis, params_vis, output_vis].iter().filter(|&&x| x == Hashed).count();
        assert_eq!(p.proof.commitments.len(), hashed, "{v:?}");

        // Any changed public input is rejected.
        for at in 0..expected.len().min(3) {
            let mut bad = with_instance(&p.proof, at, expected[at] + Fr::one());
            // Keep the file self-consistent, so only the proof itself can refuse it.
            let public = zkml_prover::proof::decode_public(&p.model, &bad.instance_values().unwrap()).unwrap();
            (bad.inputs, bad.outputs, bad.commitments) = (public.inputs, public.outputs, public.commitments);
            assert!(verify(&p.model, &p.srs.params, &p.vk, &bad).is_err(), "{v:?}: changed public input {at} accepted");
        }
    }
}

#[test]
fn proofs_about_another_input_or_other_weights_are_rejected() {
    let v = settings(Hashed, Hashed, Public);
    let honest = prove_with("committed-a", 21, v.clone());
    let (model, params, vk) = (&honest.model, &honest.srs.params, &honest.vk);
    verify(model, params, vk, &honest.proof).unwrap();

    // The verifier checks the input commitment against the input it was promised.
    check_inputs(model, &honest.proof, &[input(0.0)], &Salts::none()).unwrap();
    let err = check_inputs(model, &honest.proof, &[input(0.5)], &Salts::none()).unwrap_err();
    assert!(err.to_string().contains("another input 0"), "{err}");

    // The same architecture with other weights: its verifying key is the same (parameters are
    // witnesses), so only the params commitment tells the proofs apart.
    let other = prove_with("committed-b", 22, v);
    assert_eq!(other.vk.transcript_repr(), vk.transcript_repr(), "hashed parameters are not in the verifying key");
    let mut forged = other.proof.clone();
    forged.model_hash = honest.proof.model_hash.clone();
    let err = verify(model, params, vk, &forged).unwrap_err();
    assert!(err.to_string().contains("other parameters"), "{err}");

    // Claiming the committed parameters' commitment for a proof made with other weights fails in
    // the proof itself.
    let sections = model.quantized.public_sections();
    let at = sections.iter().take_while(|s| s.tensor != PublicTensor::Params).map(|s| s.len).sum::<usize>();
    let mut forged = with_instance(&forged, at, commit_ints(&model.quantized.params()));
    forged.commitments[1].value = forged.instances[at].clone();
    let err = verify(model, params, vk, &forged).unwrap_err();
    assert!(err.to_string().contains("invalid"), "{err}");

    // A private input cannot be checked against anything.
    let private = prove_with("private-input", 21, settings(Private, Public, Public));
    assert!(check_inputs(&private.model, &private.proof, &[input(0.0)], &Salts::none()).is_err());
}

#[test]
fn hashing_a_model_without_parameters_is_refused() {
    let dir = scratch("no-params");
    let path = dir.join("model.onnx");
    let mut b = OnnxBuilder::new(1);
    let r = b.node("Relu", &["x"], vec![]);
    b.finish(&path, &[1, 4], &r, &[1, 4]);
    let err = compile_onnx(&path, CONFIG).unwrap().with_visibility(settings(Private, Hashed, Public)).unwrap_err();
    assert!(err.to_string().contains("no parameters"), "{err}");
}

/// The shape of a face match: an embedding of the input `x` compared with a template `t`,
/// `score = Gemm((Gemm(x) − t)²)`.
fn write_matcher(path: &Path) {
    let mut b = OnnxBuilder::new(5);
    let e = b.gemm("x", 4, 4);
    let d = b.node("Sub", &[&e, "t"], vec![]);
    let squared = b.node("Mul", &[&d, &d], vec![]);
    let score = b.gemm(&squared, 4, 1);
    b.finish_with_inputs(path, vec![value_info("x", &[1, 4]), value_info("t", &[1, 4])], &score, &[1, 1]);
}

#[test]
fn each_input_takes_its_own_visibility() {
    let dir = scratch("per-input");
    let path = dir.join("model.onnx");
    write_matcher(&path);
    let compiled = compile_onnx(&path, CONFIG).unwrap();
    let three = VisibilitySettings { input: "private,hashed,public".parse().unwrap(), ..Default::default() };
    let err = compiled.clone().with_visibility(three).unwrap_err();
    assert!(err.to_string().contains("3 visibilities for 2 tensor(s)"), "{err}");

    // The image stays private; the template is committed to.
    let v = VisibilitySettings { input: "private,hashed".parse().unwrap(), ..Default::default() };
    let model = compiled.with_visibility(v).unwrap();
    let (image, template) = (vec![0.3, -0.2, 0.5, 0.1], vec![0.2, 0.1, -0.4, 0.3]);
    let srs = model_srs(&model).unwrap();
    let pk = generate_keys(&model, &srs.params).unwrap();
    let proof = prove(&model, &srs.params, &pk, &[image.clone(), template.clone()]).unwrap();
    verify(&model, &srs.params, pk.get_vk(), &proof).unwrap();

    // The public inputs: the template's commitment, then the score; nothing of the image.
    let t = model.quantize_input(1, &template).unwrap();
    let report = forward(&model, &[image.clone(), template.clone()]).unwrap();
    let mut expected = vec![commit_ints(t.data())];
    expected.extend(report.outputs_quantized[0].iter().map(|&v| zkml_prover::field::fe(v as i128)));
    assert_eq!(proof.instance_values().unwrap(), expected);
    assert!(proof.inputs.iter().all(Vec::is_empty), "no input values are public");
    assert_eq!(proof.commitments.len(), 1);
    assert_eq!(proof.commitments[0].tensor, "input 1");

    // Claiming the proof was made against another template fails in the proof itself.
    let mut other = with_instance(&proof, 0, commit_ints(model.quantize_input(1, &image).unwrap().data()));
    other.commitments[0].value = other.instances[0].clone();
    assert!(verify(&model, &srs.params, pk.get_vk(), &other).is_err(), "another template's commitment accepted");

    // Which inputs it ran on cannot be confirmed while one of them is private.
    let err = check_inputs(&model, &proof, &[image, template], &Salts::none()).unwrap_err();
    assert!(err.to_string().contains("input 0 of the model is private"), "{err}");
}

/// Finding 6: a salted commitment is to the values and a secret salt, so a guess of the values
/// cannot be checked against it; the salt is required, pinned, kept out of the proof file, and
/// changes the commitment; the same salt gives the same commitment again.
#[test]
fn a_salted_template_is_hidden_even_when_guessed() {
    let dir = scratch("salted");
    let path = dir.join("model.onnx");
    write_matcher(&path);
    let v = VisibilitySettings { input: "hashed,salted".parse().unwrap(), params: Salted, ..Default::default() };
    let model = compile_onnx(&path, CONFIG).unwrap().with_visibility(v).unwrap();
    let sections: Vec<String> = model.quantized.public_sections().iter().map(ToString::to_string).collect();
    assert_eq!(sections, ["input 0 (Poseidon commitment)", "input 1 (salted Poseidon commitment)", "params (salted Poseidon commitment)", "output 0 (1 values)"]);
    let (image, template) = (vec![0.3, -0.2, 0.5, 0.1], vec![0.2, 0.1, -0.4, 0.3]);
    let inputs = [image.clone(), template.clone()];
    let srs = model_srs(&model).unwrap();
    let pk = generate_keys(&model, &srs.params).unwrap();

    // Every salted tensor needs its salt, and only those take one.
    let err = proof::prove_with(&model, &srs.params, &pk, &inputs, &ProveOptions::default()).unwrap_err();
    assert!(err.to_string().contains("input 1 is salted") && err.to_string().contains("--salt input1="), "{err}");
    let mut salts = Salts::none();
    salts.insert_spec("input1=0x5eed").unwrap();
    let err = proof::prove_with(&model, &srs.params, &pk, &inputs, &ProveOptions { salts: salts.clone(), ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("params is salted"), "{err}");
    salts.insert_spec("params=0x0123456789abcdef").unwrap();
    let mut extra = salts.clone();
    extra.insert_spec("input0=0x1").unwrap();
    let err = proof::prove_with(&model, &srs.params, &pk, &inputs, &ProveOptions { salts: extra, ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("does not salt"), "{err}");
    for bad in ["input1", "inputx=0x1", "input1=12", "input1=0xzz", "output0=0x1=2"] {
        assert!(Salts::none().insert_spec(bad).is_err(), "{bad}");
    }
    assert!(salts.clone().insert_spec("input1=0x1").is_err(), "two salts for one tensor");

    let options = ProveOptions { salts: salts.clone(), ..Default::default() };
    let proof = proof::prove_with(&model, &srs.params, &pk, &inputs, &options).unwrap();
    verify(&model, &srs.params, pk.get_vk(), &proof).unwrap();
    let (x, t) = (model.quantize_input(0, &image).unwrap(), model.quantize_input(1, &template).unwrap());
    let (salt_t, salt_p) = (salts.of(&PublicTensor::Input(1)).unwrap(), salts.of(&PublicTensor::Params).unwrap());
    let values = proof.instance_values().unwrap();
    assert_eq!(values[0], commit_ints(x.data()), "an unsalted input is committed as before");
    assert_eq!(values[1], commit_ints_salted(t.data(), Some(salt_t)));
    assert_eq!(values[2], commit_ints_salted(&model.quantized.params(), Some(salt_p)));
    // A guess of the template, even the right one, does not give its commitment without the salt.
    assert_ne!(values[1], commit_ints(t.data()), "the salted commitment is the unsalted one");
    assert!(!std::fs::read_to_string({
        let file = dir.join("proof.json");
        proof.save(&file).unwrap();
        file
    })
    .unwrap()
    .contains(&fr_to_hex(&salt_t)[2..]), "the salt leaked into the proof file");

    // The same salt gives the same commitment; another salt another one.
    let again = proof::prove_with(&model, &srs.params, &pk, &inputs, &options).unwrap();
    assert_eq!(again.instance_values().unwrap()[1], values[1]);
    let mut other_salts = Salts::none();
    other_salts.insert_spec("input1=0x5eee").unwrap();
    other_salts.insert_spec("params=0x0123456789abcdef").unwrap();
    let other = proof::prove_with(&model, &srs.params, &pk, &inputs, &ProveOptions { salts: other_salts, ..Default::default() }).unwrap();
    verify(&model, &srs.params, pk.get_vk(), &other).unwrap();
    assert_ne!(other.instance_values().unwrap()[1], values[1]);

    // Claiming another salted commitment fails in the proof itself.
    let mut moved = with_instance(&proof, 1, other.instance_values().unwrap()[1]);
    moved.commitments[1].value = moved.instances[1].clone();
    assert!(verify(&model, &srs.params, pk.get_vk(), &moved).is_err(), "another salt's commitment accepted");

    // Checking which input a proof is about needs the salt of a salted input.
    let public = VisibilitySettings { input: "hashed,salted".parse().unwrap(), ..Default::default() };
    let model = compile_onnx(&path, CONFIG).unwrap().with_visibility(public).unwrap();
    let pk = generate_keys(&model, &model_srs(&model).unwrap().params).unwrap();
    let mut only_input = Salts::none();
    only_input.insert(PublicTensor::Input(1), salt_t).unwrap();
    let proof = proof::prove_with(&model, &srs.params, &pk, &inputs, &ProveOptions { salts: only_input.clone(), ..Default::default() }).unwrap();
    let err = check_inputs(&model, &proof, &inputs, &Salts::none()).unwrap_err();
    assert!(err.to_string().contains("input 1 is salted"), "{err}");
    check_inputs(&model, &proof, &inputs, &only_input).unwrap();
    let mut wrong = Salts::none();
    wrong.insert(PublicTensor::Input(1), salt_t + Fr::one()).unwrap();
    assert!(check_inputs(&model, &proof, &inputs, &wrong).is_err(), "a wrong salt confirmed the input");
}

#[test]
fn a_context_word_is_the_last_public_input_and_binds_the_proof() {
    let v = VisibilitySettings { context: true, ..Default::default() };
    let dir = scratch("context-word");
    let path = dir.join("model.onnx");
    write_model(&path, 31);
    let model = compile_onnx(&path, CONFIG).unwrap().with_visibility(v).unwrap();
    let sections = model.quantized.public_sections();
    assert_eq!(sections.last().map(|s| (&s.tensor, s.len)), Some((&PublicTensor::Context, 1)));
    assert_eq!(model.layout.public_inputs, 3 + 1, "three outputs, then the word");
    let srs = model_srs(&model).unwrap();
    let pk = generate_keys(&model, &srs.params).unwrap();
    let vk = pk.get_vk();

    let word = parse_context_word("0x7FA9385bE102ac3EAc297483Dd6233D62b3e1496").unwrap();
    let proof = proof::prove_with(&model, &srs.params, &pk, &[input(0.0)], &ProveOptions { context: Some(word), ..Default::default() }).unwrap();
    verify(&model, &srs.params, vk, &proof).unwrap();
    assert_eq!(proof.instance_values().unwrap().last(), Some(&word));
    assert_eq!(proof.context.as_deref(), Some("0x0000000000000000000000007fa9385be102ac3eac297483dd6233d62b3e1496"));

    // Another word, the file kept self-consistent: the proof itself refuses it.
    let mut rebound = with_instance(&proof, 3, word + Fr::one());
    rebound.context = Some(rebound.instances[3].clone());
    let err = verify(&model, &srs.params, vk, &rebound).unwrap_err();
    assert!(err.to_string().contains("invalid"), "{err}");
    // A file whose `context` disagrees with its public inputs is refused before the proof is read.
    let mut inconsistent = proof.clone();
    inconsistent.context = rebound.context.clone();
    assert!(verify(&model, &srs.params, vk, &inconsistent).unwrap_err().to_string().contains("context"));

    // The word is required exactly when the model has one.
    let err = prove(&model, &srs.params, &pk, &[input(0.0)]).unwrap_err();
    assert!(err.to_string().contains("context word"), "{err}");
    let plain = compile_onnx(&path, CONFIG).unwrap();
    let plain_pk = generate_keys(&plain, &srs.params).unwrap();
    let err = proof::prove_with(&plain, &srs.params, &plain_pk, &[input(0.0)], &ProveOptions { context: Some(word), ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("without a context word"), "{err}");

    // Words are 32-byte hex below the field modulus.
    for bad in ["7fa9", "0x", "0xzz", &format!("0x{}", "f".repeat(64)), &format!("0x1{}", "0".repeat(64))] {
        assert!(parse_context_word(bad).is_err(), "{bad} accepted");
    }
}

/// A verifying-key file with the right header but another model's key (the same circuit shape
/// with other weights in its fixed columns, which would verify that model's proofs) is refused:
/// the key is compared with the one the compiled model defines.
#[test]
fn a_verifying_key_file_of_other_weights_is_refused() {
    let public = settings(Public, Public, Public);
    let (ours, theirs) = (prove_with("vk-ours", 1, public.clone()), prove_with("vk-theirs", 2, public));
    assert_eq!(ours.model.layout.shape, theirs.model.layout.shape, "the test needs one circuit shape");
    let dir = scratch("vk-file");
    let pk = generate_keys(&ours.model, &ours.srs.params).unwrap();
    save_keys(&dir, &ours.model, &ours.srs.params, &pk).unwrap();
    assert!(load_vk(&dir, &ours.model, &ours.srs.params).is_ok(), "the key setup wrote is refused");
    // Our header, their key.
    let file = std::fs::read(vk_path(&dir)).unwrap();
    let body = ours.vk.to_bytes(zkml_prover::halo2_proofs::SerdeFormat::RawBytes);
    let mut forged = file[..file.len() - body.len()].to_vec();
    forged.extend(theirs.vk.to_bytes(zkml_prover::halo2_proofs::SerdeFormat::RawBytes));
    std::fs::write(vk_path(&dir), forged).unwrap();
    let refused = load_vk(&dir, &ours.model, &ours.srs.params);
    assert!(matches!(&refused, Err(e) if e.to_string().contains("not the verifying key")), "{:?}", refused.err());
}
