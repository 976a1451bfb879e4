//! Fuzzing the parsers (proptest, on stable): every file format zkml reads gets valid files with
//! random damage (bytes changed, cut, inserted) and random bytes. Each parser must answer with a
//! value or an error: never a panic, and no allocation sized by a damaged length (a test that ran
//! out of memory or time would fail). `ZKML_FUZZ_CASES` sets the cases per format (default 64;
//! the slow tier runs more).

mod common;

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use zkml_prover::artifact::KeyHeader;
use zkml_prover::input::InputFile;
use zkml_prover::import::msgpack::load_zkml_model;
use zkml_prover::import::onnx::load_onnx;
use zkml_prover::proof::ProofFile;
use zkml_prover::ptau::read_ptau;
use zkml_prover::srs::{generate_dev_params, read_srs, Srs, SrsSource, SrsStore};

fn cases() -> u32 {
    std::env::var("ZKML_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Damage to a file: edits `(position, byte)` (positions taken modulo the length), then an
/// optional cut, an optional inserted run.
#[derive(Clone, Debug)]
struct Damage {
    edits: Vec<(usize, u8)>,
    cut: Option<usize>,
    insert: Option<(usize, Vec<u8>)>,
}

fn damage() -> impl Strategy<Value = Damage> {
    (
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        prop::option::of(any::<usize>()),
        prop::option::of((any::<usize>(), prop::collection::vec(any::<u8>(), 1..64))),
    )
        .prop_map(|(edits, cut, insert)| Damage { edits, cut, insert })
}

fn apply(seed: &[u8], d: &Damage) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    if !bytes.is_empty() {
        let n = bytes.len();
        for &(at, b) in &d.edits {
            bytes[at % n] = b;
        }
    }
    if let Some(cut) = d.cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    if let Some((at, run)) = &d.insert {
        let at = at % (bytes.len() + 1);
        bytes.splice(at..at, run.iter().copied());
    }
    bytes
}

/// Writes `bytes` to a file of its own (proptest runs cases one after another in a test, and the
/// tests in parallel) and returns its path.
fn file(name: &str, bytes: &[u8]) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = common::scratch("fuzz");
    let path = dir.join(format!("{}-{name}", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn seed(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A small SRS file (k = 4) as the store writes it, made once.
fn srs_seed() -> Vec<u8> {
    static SEED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SEED.get_or_init(|| {
        let store = SrsStore::at(common::scratch("fuzz-srs"));
        let path = store.save(&Srs { params: generate_dev_params(4), source: SrsSource::Development }).unwrap();
        seed(&path)
    })
    .clone()
}

/// The start of a snarkjs `.ptau` file: magic, version, section count, then a header section
/// (type 1) declaring BN254 and power 4, followed by a section with a huge declared size.
fn ptau_seed() -> Vec<u8> {
    let mut b = b"ptau".to_vec();
    b.extend(1u32.to_le_bytes());
    b.extend(11u32.to_le_bytes());
    b.extend(1u32.to_le_bytes());
    let mut header = 32u32.to_le_bytes().to_vec();
    header.extend(hex::decode("47fd7cd8168c203c8dca7168916a81975d588181b64550b829a031e1724e6430").unwrap());
    header.extend(4u32.to_le_bytes());
    header.extend(4u32.to_le_bytes());
    b.extend((header.len() as u64).to_le_bytes());
    b.extend(header);
    b.extend(2u32.to_le_bytes());
    b.extend(u64::MAX.to_le_bytes());
    b
}

fn proof_seed() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "format_version": zkml_prover::artifact::FORMAT_VERSION,
        "model_hash": "00".repeat(32),
        "proof": format!("0x{}", "ab".repeat(64)),
        "instances": [format!("0x{}", "00".repeat(31) + "05"), format!("0x{}", "ff".repeat(32))],
        "inputs": [[0.5, -1.0]],
        "outputs": [[2.0]],
        "commitments": [],
        "transcript": "evm",
    }))
    .unwrap()
}

fn key_seed() -> Vec<u8> {
    let mut b = vec![];
    KeyHeader { kind: *b"vk", model_hash: [3; 32], srs: [4; 32], k: 12 }.write(&mut b).unwrap();
    b.extend([0u8; 64]);
    b
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn onnx_models(d in damage()) {
        let _ = load_onnx(&file("model.onnx", &apply(&seed(&repo().join("examples/mlp/model.onnx")), &d)));
    }

    #[test]
    fn zkml_msgpack_models(d in damage()) {
        let anchor = repo().join("../shared/anchors/zkml/examples/mnist/model.msgpack");
        let base = if anchor.exists() { seed(&anchor) } else { rmp_like_seed() };
        let _ = load_zkml_model(&file("model.msgpack", &apply(&base, &d)));
    }

    #[test]
    fn input_json(d in damage()) {
        let _ = InputFile::load(&file("input.json", &apply(&seed(&repo().join("examples/mlp/input.json")), &d)));
    }

    #[test]
    fn proof_json(d in damage()) {
        if let Ok(p) = ProofFile::load(&file("proof.json", &apply(&proof_seed(), &d))) {
            let _ = (p.instance_values(), p.proof_bytes());
        }
    }

    #[test]
    fn key_headers(d in damage()) {
        let path = file("vk.bin", &apply(&key_seed(), &d));
        let expected = KeyHeader { kind: *b"vk", model_hash: [3; 32], srs: [4; 32], k: 12 };
        let _ = KeyHeader::read_and_check(&mut std::fs::File::open(&path).unwrap(), &path, &expected);
    }

    #[test]
    fn srs_files(d in damage()) {
        let _ = read_srs(&file("kzg_bn254_4.srs", &apply(&srs_seed(), &d)));
    }

    #[test]
    fn ptau_files(d in damage(), k in 1u32..6) {
        let _ = read_ptau(&file("pot.ptau", &apply(&ptau_seed(), &d)), k);
    }

    #[test]
    fn random_bytes_everywhere(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = load_onnx(&file("r.onnx", &bytes));
        let _ = load_zkml_model(&file("r.msgpack", &bytes));
        let _ = InputFile::load(&file("r.json", &bytes));
        let _ = ProofFile::load(&file("r-proof.json", &bytes));
        let _ = read_srs(&file("r.srs", &bytes));
        let _ = read_ptau(&file("r.ptau", &bytes), 4);
    }
}

/// A msgpack map shaped like zkml's model files, for when ../shared/anchors is absent.
fn rmp_like_seed() -> Vec<u8> {
    // fixmap of 2: "global_sf" -> 9, "layers" -> [] (enough structure for damage to matter).
    let mut b = vec![0x82, 0xa9];
    b.extend(b"global_sf");
    b.push(0x09);
    b.push(0xa6);
    b.extend(b"layers");
    b.push(0x90);
    b
}
