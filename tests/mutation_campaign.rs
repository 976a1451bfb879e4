//! The mutation campaign: mutated proofs and public-input vectors of a real direct-verifier proof
//! (the digits MLP with a context word) against the native verifier, the generated Solidity
//! verifier in revm, and the same verifier deployed on anvil. None may be accepted.
//!
//! Mutations: a flipped bit, a replaced or duplicated 32-byte word, two words swapped, truncation,
//! extension, a public input changed by a random amount, two inputs swapped, the inputs reversed,
//! one input dropped or added, a public input plus the field modulus (`v + p`), a proof word plus
//! it, another context word, the proof of another input, and a proof of another model. The suite runs a few hundred (`ZKML_MUTATIONS`, default 300; anvil gets the first
//! [`ANVIL_SHARE`], `ZKML_MUTATIONS_ANVIL`); the slow tier runs 10,000, 1,000 of them on anvil too
//! (`scripts/test.sh --full`), with its count in BENCHMARKS.md.
//!
//! `v + p`, a proof scalar plus p and bytes appended to the proof are the encodings snark-verifier's
//! code as generated would accept (it reduces scalars and stops reading at the proof's end); zkml
//! pins the calldata (`aggregator::solidity`), so they go to every verifier like the rest.

mod anvil;
mod fixtures;

use std::path::{Path, PathBuf};

use zkml_aggregator::workflow::{load_verifier, write_evm_verifier, Tools};
use zkml_aggregator::{deploy, verify_at, verify_in_revm};
use zkml_prover::artifact::CompiledModel;
use zkml_prover::halo2_proofs::halo2curves::bn256::Fr;
use zkml_prover::keys::{load_vk, model_srs};
use zkml_prover::field::{fr_from_hex, fr_to_hex};
use zkml_prover::proof::{verify_raw_with, ProofFile, TranscriptKind};

/// How many mutations of the campaign also go to anvil by default (each is an RPC round trip;
/// `ZKML_MUTATIONS_ANVIL` sets it).
const ANVIL_SHARE: usize = 40;

/// The BN254 scalar modulus, big-endian.
fn modulus() -> [u8; 32] {
    hex::decode("30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001").unwrap().try_into().unwrap()
}

/// A small deterministic generator (xorshift64*): the campaign is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn word(&mut self) -> [u8; 32] {
        let mut w = [0u8; 32];
        for chunk in w.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        w
    }
}

/// A candidate for a verifier: public inputs as raw 32-byte big-endian words (possibly not field
/// elements) and proof bytes.
#[derive(Clone, PartialEq)]
struct Candidate {
    words: Vec<[u8; 32]>,
    proof: Vec<u8>,
}

impl Candidate {
    fn of(file: &ProofFile) -> Candidate {
        let words = file
            .instances
            .iter()
            .map(|h| hex::decode(h.trim_start_matches("0x")).unwrap().try_into().expect("32-byte instances"))
            .collect();
        Candidate { words, proof: file.proof_bytes().unwrap() }
    }

    fn calldata(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.words.concat();
        out.extend(&self.proof);
        out
    }

    /// The words as field elements, or `None` if one is at or above the modulus (the proof-file
    /// parser refuses such a file).
    fn field_elements(&self) -> Option<Vec<Fr>> {
        self.words.iter().map(|w| fr_from_hex(&format!("0x{}", hex::encode(w))).ok()).collect()
    }
}

/// `word + p`, big-endian (no overflow: both are below 2^254).
fn plus_modulus(word: &[u8; 32]) -> [u8; 32] {
    let (p, mut out, mut carry) = (modulus(), [0u8; 32], 0u16);
    for i in (0..32).rev() {
        let sum = word[i] as u16 + p[i] as u16 + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    out
}

/// Mutation `kind` of `honest`, drawing from `rng`; `others` are valid proofs of other
/// statements (another input, another context word, another model).
fn mutate(kind: usize, honest: &Candidate, others: &[Candidate], rng: &mut Rng) -> Candidate {
    let mut c = honest.clone();
    let words_in_proof = c.proof.len() / 32;
    match kind {
        0 => {
            let bit = rng.below(c.proof.len() * 8);
            c.proof[bit / 8] ^= 1 << (bit % 8);
        }
        1 => {
            let at = rng.below(words_in_proof) * 32;
            c.proof[at..at + 32].copy_from_slice(&rng.word());
        }
        2 => {
            let (a, b) = (rng.below(words_in_proof), rng.below(words_in_proof));
            let wa: Vec<u8> = c.proof[a * 32..a * 32 + 32].to_vec();
            let wb: Vec<u8> = c.proof[b * 32..b * 32 + 32].to_vec();
            c.proof[a * 32..a * 32 + 32].copy_from_slice(&wb);
            c.proof[b * 32..b * 32 + 32].copy_from_slice(&wa);
        }
        3 => c.proof.truncate(rng.below(c.proof.len())),
        4 => c.proof.extend(rng.word()),
        5 => {
            let (from, to) = (rng.below(words_in_proof) * 32, rng.below(words_in_proof) * 32);
            let word: Vec<u8> = c.proof[from..from + 32].to_vec();
            c.proof[to..to + 32].copy_from_slice(&word);
        }
        6 => {
            // A public input plus a random amount below 2^64 (mod p: the words stay field elements).
            let i = rng.below(c.words.len());
            let mut fe = c.field_elements().unwrap();
            fe[i] += Fr::from(rng.next() | 1);
            c.words[i] = be_bytes(&fe[i]);
        }
        7 => {
            let (a, b) = (rng.below(c.words.len()), rng.below(c.words.len()));
            c.words.swap(a, b);
        }
        8 => c.words.reverse(),
        9 => {
            c.words.remove(rng.below(c.words.len()));
        }
        10 => {
            let at = rng.below(c.words.len() + 1);
            c.words.insert(at, be_bytes(&Fr::from(rng.next())));
        }
        11 => {
            let i = rng.below(c.words.len());
            c.words[i] = plus_modulus(&c.words[i]);
        }
        12 => {
            // A proof word plus p where that fits in 256 bits: a reduced evaluation would be the
            // same scalar, a coordinate another (off-curve or out-of-field) point.
            let fits: Vec<usize> = (0..words_in_proof).filter(|&w| c.proof[w * 32] < 0xcf).collect();
            let at = fits[rng.below(fits.len())] * 32;
            let word: [u8; 32] = c.proof[at..at + 32].try_into().unwrap();
            c.proof[at..at + 32].copy_from_slice(&plus_modulus(&word));
        }
        // Another statement's proof with these inputs, or its inputs with this proof.
        _ => {
            let other = &others[rng.below(others.len())];
            if rng.next() % 2 == 0 {
                c.proof = other.proof.clone();
            } else {
                c.words = other.words.clone();
            }
        }
    }
    c
}

const KINDS: usize = 14;

fn be_bytes(x: &Fr) -> [u8; 32] {
    let hex = fr_to_hex(x);
    hex::decode(hex.trim_start_matches("0x")).unwrap().try_into().unwrap()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write_input(dir: &Path, example: &str, index: usize) -> PathBuf {
    let heldout: serde_json::Value = serde_json::from_slice(&std::fs::read(repo().join("examples").join(example).join("heldout.json")).unwrap()).unwrap();
    let path = dir.join(format!("{example}-{index}.json"));
    std::fs::write(&path, serde_json::json!({ "input_data": [heldout["inputs"][index].clone()] }).to_string()).unwrap();
    path
}

#[test]
fn mutated_proofs_and_public_inputs_are_all_rejected() {
    let setting = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (count, anvil_share) = (setting("ZKML_MUTATIONS", 300), setting("ZKML_MUTATIONS_ANVIL", ANVIL_SHARE));
    let dir = std::env::temp_dir().join(format!("zkml-campaign-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // The model with its direct verifier (written into a copy: fixtures are shared).
    let flags = ["--context-word"];
    let model_dir = fixtures::copy_of(&fixtures::model("mlp", &flags).dir, &dir.join("mlp"));
    write_evm_verifier(&model_dir, &Tools::find(&repo()), &[]).expect("direct verifier");
    let (bytecode, _) = load_verifier(&model_dir).unwrap();
    let model = CompiledModel::load(&model_dir).unwrap();
    let srs = model_srs(&model).unwrap();
    let vk = load_vk(&model_dir, &model, &srs.params).unwrap();

    let caller = "0x7FA9385bE102ac3EAc297483Dd6233D62b3e1496";
    let evm = |model: &Path, input: &Path, context: &str| {
        Candidate::of(&ProofFile::load(&fixtures::proof(model, input, &["--evm", "--context", context])).unwrap())
    };
    let input = repo().join("examples/mlp/input.json");
    let honest = evm(&model_dir, &input, caller);
    let other_model = fixtures::model("cnn", &flags).dir;
    let others = [
        evm(&model_dir, &write_input(&dir, "mlp", 4), caller),
        evm(&model_dir, &input, "0x1234"),
        evm(&other_model, &repo().join("examples/cnn/input.json"), caller),
    ];

    let native_accepts = |c: &Candidate| match c.field_elements() {
        Some(instances) => verify_raw_with(&srs.params, &vk, &instances, &c.proof, TranscriptKind::Evm).is_ok(),
        None => false,
    };
    let revm_accepts = |c: &Candidate| verify_in_revm(&bytecode, &c.calldata()).expect("revm").accepted;
    assert!(native_accepts(&honest) && revm_accepts(&honest), "the honest proof is rejected");

    let node = anvil::Anvil::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let address = runtime.block_on(deploy(&node.url, None, &bytecode)).expect("deploy").address;
    let anvil_accepts = |c: &Candidate| runtime.block_on(verify_at(&node.url, None, address, &c.calldata())).expect("rpc").accepted;
    assert!(anvil_accepts(&honest), "the honest proof is rejected on anvil");

    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let (mut tried, mut on_anvil, mut n) = (0, 0, 0);
    let mut accepted = vec![];
    while tried < count {
        assert!(n < 2 * count, "most draws must be real mutations ({tried} of {n})");
        let kind = n % KINDS;
        n += 1;
        let candidate = mutate(kind, &honest, &others, &mut rng);
        if candidate == honest {
            continue; // a swap of two equal words, say: no mutation at all
        }
        tried += 1;
        if native_accepts(&candidate) || revm_accepts(&candidate) {
            accepted.push((n - 1, kind));
        }
        if on_anvil < anvil_share {
            on_anvil += 1;
            if anvil_accepts(&candidate) {
                accepted.push((n - 1, kind));
            }
        }
    }
    eprintln!("mutation campaign: {tried} mutations (native and revm), {on_anvil} on anvil, {} accepted", accepted.len());
    assert!(accepted.is_empty(), "accepted mutations (index, kind): {accepted:?}");
}
