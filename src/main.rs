//! `zkml`: prove that a machine-learning model ran correctly, and verify it on-chain.
//!
//! The command line only parses, calls the libraries and prints; every step is a function of
//! `zkml-prover` or `zkml-aggregator`.

mod bench;
mod commands;
mod gas_report;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zkml_prover::visibility::{PerTensor, Visibility, VisibilitySettings};

/// Zero-knowledge proofs of ML inference (halo2, KZG over BN254), aggregated and verified on-chain.
#[derive(Parser)]
#[command(name = "zkml", version, about, long_about = None, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const AFTER_HELP: &str = "\
Typical flow:
  zkml compile model.onnx -o out/          quantize and plan the circuit
  zkml forward out/ --input input.json     run the integer model (no proof)
  zkml setup out/                          proving and verifying keys
  zkml prove out/ --input input.json -o proof.json
  zkml verify out/ proof.json
  zkml aggregate proof.json -m out/ -o agg/   one EVM-friendly proof
  zkml evm-verifier agg/                   Solidity verifier + bytecode
  zkml evm-verify agg/ [--rpc URL]         run it in revm (default) or on a node
Or, for a model small enough for a direct verifier (no aggregation):
  zkml evm-verifier out/                   direct verifier if it fits EIP-170, else aggregated
  zkml prove out/ --input input.json -o p.json --evm
  zkml evm-verify out/ --proof p.json
Or all of it on the example model: zkml demo

SRS files live in ~/.zkml/srs (override with ZKML_SRS_DIR). Until a ceremony SRS is imported,
a development SRS with a public seed is used: fine for testing, insecure for production.";

#[derive(Subcommand)]
enum Command {
    /// Import a model, quantize it to fixed point and plan its circuit into DIR.
    Compile {
        /// The model: ONNX (.onnx), or ddkang/zkml's msgpack format (.msgpack, already quantized:
        /// --scale and --range-bits come from the file).
        model: PathBuf,
        /// Output directory (created; an existing compiled model is kept unless --force).
        #[arg(short, long)]
        output: PathBuf,
        /// Fractional bits of the fixed-point format (x is stored as round(x * 2^scale)).
        #[arg(long, default_value_t = 8)]
        scale: u32,
        /// Bits of every range-checked activation (signed): values must stay within
        /// ±2^(bits-1-scale). Default: chosen by --calibration-data, else 16.
        #[arg(long)]
        range_bits: Option<u32>,
        /// Samples to calibrate on ({"input_data": [[sample 1], [sample 2], ...]}: each sample is
        /// one flat list per model input, so for a model of two inputs every two lists are one
        /// sample): chooses the activation range (hence the lookup table and circuit size) and
        /// prints each layer's float-versus-quantized error.
        #[arg(long, value_name = "DATA.json")]
        calibration_data: Option<PathBuf>,
        #[command(flatten)]
        visibility: VisibilityArgs,
        /// Refuse the model if setting it up or proving it would need more memory than this
        /// (e.g. 20GiB, 512MiB); without it, a model over the available memory is only warned of.
        #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
        max_memory: Option<u64>,
        /// Overwrite an existing compiled model in DIR.
        #[arg(long)]
        force: bool,
    },
    /// Print what a compiled model costs before any key is made: rows, columns, SRS and
    /// proving-key sizes, and the peak memory and times predicted for keygen and proving.
    Estimate {
        /// A directory written by `zkml compile`.
        dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also estimate the model cut into N segments (contiguous runs of nodes, rows
        /// balanced), each its own circuit: per segment, the values it receives and hands on,
        /// and its circuit's figures.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
        segments: u32,
    },
    /// Run the quantized model on an input and print its outputs as JSON (no proof).
    Forward {
        /// A directory written by `zkml compile`.
        dir: PathBuf,
        /// INPUT.json: {"input_data": [[...]]}, one flat row-major list per model input; or a
        /// zkml inp.msgpack for a zkml model.
        #[arg(short, long)]
        input: PathBuf,
    },
    /// Make the proving and verifying keys of a compiled model (finds or makes the SRS).
    Setup {
        /// A directory written by `zkml compile`.
        dir: PathBuf,
        /// Make the keys again even if valid ones exist.
        #[arg(long)]
        force: bool,
        /// Memory keygen may use (e.g. 20GiB); refused before it starts when the estimate is
        /// over. Default: nine tenths of the memory available now.
        #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
        max_memory: Option<u64>,
    },
    /// Prove one forward pass of the model on an input.
    Prove {
        /// A directory written by `zkml compile` and `zkml setup`.
        dir: PathBuf,
        /// INPUT.json: {"input_data": [[...]]}, or a zkml inp.msgpack.
        #[arg(short, long)]
        input: PathBuf,
        /// Where to write PROOF.json (not overwritten unless --force).
        #[arg(short, long)]
        output: PathBuf,
        /// Overwrite an existing proof file.
        #[arg(long)]
        force: bool,
        /// Memory proving may use (e.g. 20GiB); refused before the proving key is loaded when
        /// the estimate is over. Default: nine tenths of the memory available now.
        #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
        max_memory: Option<u64>,
        /// Use the keccak (EVM) transcript: the proof is for the model's direct Solidity verifier
        /// (`zkml evm-verifier DIR`) and cannot be aggregated.
        #[arg(long)]
        evm: bool,
        /// The context word this proof is bound to, for a model compiled with --context-word:
        /// 0x and at most 64 hex digits (an address is left-padded, as `uint256(uint160(a))`).
        #[arg(long, value_name = "WORD")]
        context: Option<String>,
        /// The secret salt of a salted tensor (compiled with `salted` visibility), as
        /// TENSOR=0xHEX with TENSOR input0, input1, …, params or output0, …; repeat for each.
        /// Make one with `zkml salt`; keep it as long as its commitment is in use (the same
        /// values and salt give the same commitment). It is not written into the proof.
        #[arg(long = "salt", value_name = "TENSOR=HEX")]
        salts: Vec<String>,
    },
    /// Print a fresh random salt (a field element from the OS's randomness) for `--salt`.
    ///
    /// A salted commitment hides values that could be guessed (a face template, a prompt, small
    /// weights): without the salt, a guess cannot be checked against it.
    Salt,
    /// Verify a proof natively; exit status 0 only for a valid proof.
    Verify {
        /// The compiled model directory the proof is for.
        dir: PathBuf,
        /// PROOF.json written by `zkml prove`.
        proof: PathBuf,
        /// Also check that the proof is about this input (INPUT.json or inp.msgpack): its public
        /// values or its commitment must be this input's. Needs a public, hashed or salted input
        /// (with its --salt).
        #[arg(short, long)]
        input: Option<PathBuf>,
        /// The salt of a salted input, to check it with --input (as for `zkml prove`).
        #[arg(long = "salt", value_name = "TENSOR=HEX", requires = "input")]
        salts: Vec<String>,
    },
    /// Aggregate proofs (1 to 8, of one model or of several) into one proof verifiable on the EVM.
    ///
    /// Its public inputs are the 12 accumulator limbs, then each proof's public inputs in the
    /// order the proofs are given; AGG_DIR/manifest.json says where each proof's start. Proofs
    /// too many for one aggregation circuit on this machine are aggregated in two levels (groups,
    /// then the groups' aggregations), with the same public inputs.
    Aggregate {
        /// PROOF.json files written by `zkml prove`, in the order their public inputs should appear.
        #[arg(required = true)]
        proofs: Vec<PathBuf>,
        /// A compiled model directory the proofs are of (repeat for several models; each proof
        /// is matched to its model by the model hash it records).
        #[arg(short, long = "model", value_name = "DIR", required = true)]
        models: Vec<PathBuf>,
        /// Output directory (gets proof.json, aggregation.json and manifest.json; kept unless
        /// --force).
        #[arg(short, long)]
        output: PathBuf,
        /// Size of the aggregation circuit (2^k rows): larger k gives a smaller, cheaper verifier
        /// at more proving time. Default: the smallest k (from 20) whose verifier fits EIP-170.
        #[arg(long)]
        k: Option<u32>,
        /// Plan k for the cheapest verifier instead: the smallest k (up to 23) at which the
        /// aggregation circuit needs one advice column. For one digits-MLP proof: k = 23, about
        /// 325,000 gas to verify (against 440,000-490,000 at k = 20), 13 minutes and 17 GiB.
        #[arg(long, conflicts_with = "k")]
        min_gas: bool,
        /// Aggregate in two levels: consecutive groups of at most N proofs, each into an
        /// intermediate proof, then those into the final one (--k and --min-gas apply to the
        /// final circuit). Default: two halves, only when the proofs do not aggregate at once
        /// (the planner's verifier-size and memory estimates).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=8))]
        group_size: Option<u32>,
        /// Overwrite an existing aggregation in the output directory.
        #[arg(long)]
        force: bool,
    },
    /// Write a Solidity verifier, its bytecode and verifier.json into DIR.
    ///
    /// For an aggregation (AGG_DIR from `zkml aggregate`): the aggregation's verifier. For a
    /// compiled model with keys: its direct verifier (for proofs made with `zkml prove --evm`) if
    /// that fits EIP-170's 24,576 bytes; otherwise an aggregated verifier, made by aggregating a
    /// proof of an all-zero input into DIR/aggregated (minutes), which accepts `zkml aggregate` of
    /// any later proof of the model.
    ///
    /// An aggregation's verifying key is derived again from the compiled models it aggregated
    /// (found where `zkml aggregate` read them, or with --model), never taken from
    /// aggregation.json: a key that differs is refused. That is a keygen per level (a minute or
    /// more) unless this machine made the aggregation itself.
    EvmVerifier {
        /// A directory written by `zkml aggregate`, or by `zkml compile` and `zkml setup`.
        dir: PathBuf,
        /// Also write the Solidity source into a Foundry project, e.g.
        /// contracts/src/generated/MnistVerifier.sol: the contract is renamed to the file's stem.
        /// Put it behind contracts/src/ZkmlVerifier.sol's stable `IZkmlVerifier` interface.
        #[arg(long, value_name = "FILE.sol")]
        sol_out: Option<PathBuf>,
        /// Replace an existing --sol-out file.
        #[arg(long)]
        force: bool,
        /// When the model's verifier must be aggregated: the input to prove once to lay the
        /// aggregation out (INPUT.json or inp.msgpack; default: all zeros, which some models
        /// refuse, e.g. a LayerNorm of a constant).
        #[arg(short, long)]
        input: Option<PathBuf>,
        /// For an aggregation: a compiled model directory of its inner proofs, to derive its key
        /// from (repeat for each model; by default the directories `zkml aggregate` was given).
        #[arg(short = 'm', long = "model", value_name = "MODEL_DIR")]
        models: Vec<PathBuf>,
    },
    /// Verify a proof with the EVM verifier of DIR: in an embedded EVM (revm) by default, or
    /// deployed to the node at --rpc. Exit status 0 only if the verifier accepts.
    EvmVerify {
        /// A directory with a verifier (`zkml evm-verifier`): an aggregation or a compiled model.
        dir: PathBuf,
        /// The proof to check (default: DIR/proof.json, an aggregation's own proof). For a direct
        /// verifier, a proof made with `zkml prove --evm`.
        #[arg(long)]
        proof: Option<PathBuf>,
        /// JSON-RPC URL of a node (e.g. anvil at http://127.0.0.1:8545) to deploy and verify on.
        #[arg(long)]
        rpc: Option<String>,
        /// Private key (hex) to sign with on --rpc; without it the node's first unlocked account
        /// sends (anvil). Also read from ZKML_PRIVATE_KEY.
        #[arg(long, env = "ZKML_PRIVATE_KEY", hide_env_values = true)]
        private_key: Option<String>,
        /// With --rpc: use the verifier recorded in DIR/deployment.json (`zkml deploy`)
        /// instead of deploying a new one.
        #[arg(long, requires = "rpc")]
        deployed: bool,
    },
    /// Manage the SRS store (~/.zkml/srs, or ZKML_SRS_DIR): import a ceremony's powers of tau.
    Srs {
        #[command(subcommand)]
        action: SrsCommand,
    },
    /// Deploy the verifier in DIR (DIR/Verifier.bin, from `zkml evm-verifier`) to a node and record
    /// its address and transaction in DIR/deployment.json.
    Deploy {
        /// A directory with a verifier: an aggregation or a compiled model.
        dir: PathBuf,
        /// JSON-RPC URL of the node (e.g. anvil at http://127.0.0.1:8545).
        #[arg(long)]
        rpc: String,
        /// Private key (hex) to sign with; without it the node's first unlocked account sends
        /// (anvil). Also read from ZKML_PRIVATE_KEY.
        #[arg(long, env = "ZKML_PRIVATE_KEY", hide_env_values = true)]
        private_key: Option<String>,
        /// Deploy again even if DIR/deployment.json records a deployment (it is replaced).
        #[arg(long)]
        force: bool,
        /// Deploy a verifier generated over the insecure development SRS (anybody can forge
        /// proofs it accepts): for tests and local nodes only. Without it such a verifier is
        /// refused.
        #[arg(long)]
        insecure_dev_srs: bool,
    },
    /// Measure the gas and bytecode size of aggregated verification for 1, 2, 4 and 8 proofs of the
    /// example models (outputs hashed), and of their direct verifiers; append them to BENCHMARKS.md. Takes long: aggregating
    /// 4 proofs needs k = 22 (about 10 minutes and 13 GiB); 8 are aggregated in two levels (about
    /// 55 minutes and 18 GiB).
    GasReport {
        /// The file the results are appended to.
        #[arg(long, default_value = "BENCHMARKS.md")]
        output: PathBuf,
        /// The numbers of proofs to aggregate, each from 1 to 8 (with 1, also the `--min-gas`
        /// degree).
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
        proofs: Vec<usize>,
    },
    /// Time keygen, proving and verification (and peak memory) on zkml's MNIST example (when
    /// ../shared/anchors is present) and the examples; append the results to BENCHMARKS.md.
    Bench {
        /// The file the results are appended to.
        #[arg(long, default_value = "BENCHMARKS.md")]
        output: PathBuf,
        /// Measure one model on one input (calibrating on DATA.json when given) and print JSON;
        /// each model runs in its own process so that its peak memory is its own.
        #[arg(long, num_args = 2..=3, value_names = ["MODEL", "INPUT", "DATA.json"])]
        single: Option<Vec<PathBuf>>,
    },
    /// Run the whole pipeline on the example model and print outputs, sizes, times and gas.
    Demo {
        /// Work directory (default: a new temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Also deploy and verify on this node.
        #[arg(long)]
        rpc: Option<String>,
    },
}

/// `zkml srs` subcommands.
#[derive(Subcommand)]
enum SrsCommand {
    /// Import a Powers of Tau file (.ptau, from snarkjs or the Perpetual Powers of Tau ceremony)
    /// as the SRS: every size up to 2^k is derived from it, and the store's other SRS files
    /// (e.g. the development one) are removed.
    Import {
        /// The .ptau file (BN254 / bn128).
        ptau: PathBuf,
        /// Largest circuit size to support, 2^k rows (at most the file's power).
        #[arg(long, default_value_t = 22)]
        k: u32,
        /// Replace the SRS files already in the store (keys made over them stop matching).
        #[arg(long)]
        force: bool,
    },
    /// List the SRS files in the store and where each came from.
    List,
}

/// What the proof reveals. Public inputs come in this order: input values or commitments, the
/// params commitment, output values or commitments.
#[derive(clap::Args, Clone)]
struct VisibilityArgs {
    /// The model input: public (values are public inputs), private (hidden), hashed (hidden; a
    /// Poseidon commitment to it is a public input) or salted (as hashed, with a secret salt given
    /// at `zkml prove --salt`: a guess of the values cannot be checked against the commitment).
    /// For a model of several inputs, one for all or a list, one per input in order (e.g.
    /// `private,salted`).
    #[arg(long, default_value = "private", value_parser = parse_per_tensor)]
    input_visibility: PerTensor,
    /// The weights, biases and constants: public (fixed in the verifying key: the proof is bound
    /// to these values), private (hidden and unbound: the proof holds for *some* weights) or hashed
    /// (hidden; a Poseidon commitment to them is a public input, checked by `zkml verify`) or
    /// salted (as hashed, with a secret salt).
    #[arg(long, default_value = "public", value_parser = parse_visibility)]
    param_visibility: Visibility,
    /// The model output: public, private, hashed or salted, as for the input (a list for several outputs).
    #[arg(long, default_value = "public", value_parser = parse_per_tensor)]
    output_visibility: PerTensor,
    /// Give every proof a context word, its last public input: not read by the model, chosen at
    /// `zkml prove --context`, and bound to the proof (a contract can require it to be its caller,
    /// so a proof copied from another transaction is useless).
    #[arg(long)]
    context_word: bool,
}

impl VisibilityArgs {
    fn settings(self) -> VisibilitySettings {
        VisibilitySettings {
            input: self.input_visibility,
            params: self.param_visibility,
            output: self.output_visibility,
            context: self.context_word,
        }
    }
}

fn parse_visibility(s: &str) -> Result<Visibility, String> {
    s.parse().map_err(|e: zkml_prover::ProverError| e.to_string())
}

fn parse_per_tensor(s: &str) -> Result<PerTensor, String> {
    s.parse().map_err(|e: zkml_prover::ProverError| e.to_string())
}

/// A memory size: a number of bytes, or with a unit KiB, MiB, GiB, TiB (K, M, G, T and KB, MB,
/// GB, TB are read as the same powers of 1024).
fn parse_memory(s: &str) -> Result<u64, String> {
    let text = s.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("'{s}' is not a memory size (e.g. 20GiB, 512MiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown unit '{other}' in '{s}' (use KiB, MiB, GiB or TiB)")),
    };
    let bytes = value * (1u64 << shift) as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("'{s}' is not a usable memory size"));
    }
    Ok(bytes as u64)
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so a write to a closed pipe (`zkml forward … | head`) would panic in
    // println!; a command-line tool ends quietly there instead.
    // SAFETY: called first thing, before any thread starts; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match commands::run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
