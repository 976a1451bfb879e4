//! Compiling Solidity with foundry-compilers over an external `solc` (standard JSON).

use crate::error::{AggregatorError, Result};
use foundry_compilers::artifacts::{
    output_selection::OutputSelection, CompilerOutput, EvmVersion, Settings, SolcInput, SolcLanguage, Source, Sources,
};
use foundry_compilers::error::SolcError;
use foundry_compilers::solc::Solc;
use std::path::{Path, PathBuf};

/// EVM version requested from solc: `paris`, the newest 0.8.19 knows (it rejects `shanghai` and
/// `cancun`) and its default. Paris bytecode has no PUSH0 and runs under every later fork,
/// including revm 27's default Prague and anvil's Prague/Osaka.
pub const EVM_VERSION: &str = "paris";

/// Compiles `source` with foundry-compilers' [`Solc`] driving the executable at `solc` (`solc
/// --version`, then `solc --standard-json`; optimizer off, EVM version [`EVM_VERSION`]) and
/// returns the creation bytecode of the one contract in the source that has bytecode.
///
/// Errors: [`AggregatorError::SolcSpawn`] if `solc` cannot be run, [`AggregatorError::SolcFailed`]
/// if it does not answer as solc does, [`AggregatorError::Compile`] with the compiler's formatted
/// messages if the source has errors, and [`AggregatorError::InvalidInput`] if the source defines
/// no deployable contract or several. Warnings are ignored. The optimizer stays off: solc-js runs
/// out of wasm memory on large verifiers, and unoptimized verifiers fit EIP-170.
pub fn compile_solidity(solc: &Path, source: &str) -> Result<Vec<u8>> {
    let compiler = Solc::new(solc).map_err(|e| solc_error(solc, e))?;
    let mut sources = Sources::new();
    sources.insert(PathBuf::from("Verifier.sol"), Source::new(source));
    let mut settings = Settings::default();
    settings.optimizer.enabled = Some(false);
    settings.optimizer.runs = None;
    settings.evm_version = Some(EVM_VERSION.parse::<EvmVersion>().map_err(|e| AggregatorError::SolcFailed(format!("EVM version {EVM_VERSION}: {e}")))?);
    settings.output_selection = OutputSelection::common_output_selection(["evm.bytecode.object".to_string()]);
    let mut input = SolcInput::new(SolcLanguage::Solidity, sources, settings);
    // Drops settings this solc version does not know (foundry-compilers' defaults are newer).
    input.sanitize(&compiler.version);
    let output = compiler.compile_exact(&input).map_err(|e| solc_error(solc, e))?;
    parse_output(output)
}

fn solc_error(solc: &Path, e: SolcError) -> AggregatorError {
    match e {
        SolcError::Io(io) => AggregatorError::SolcSpawn { path: solc.to_path_buf(), source: std::io::Error::other(io.to_string()) },
        other => AggregatorError::SolcFailed(format!(
            "{}: {other} (is this a solc that answers --version and --standard-json?)",
            solc.display()
        )),
    }
}

fn parse_output(output: CompilerOutput) -> Result<Vec<u8>> {
    let errors: Vec<String> = output
        .errors
        .iter()
        .filter(|e| e.severity.is_error())
        .map(|e| e.formatted_message.as_deref().unwrap_or(&e.message).trim_end().to_string())
        .collect();
    if !errors.is_empty() {
        return Err(AggregatorError::Compile(errors.join("\n")));
    }
    let mut found = Vec::new();
    for (name, contract) in output.contracts_into_iter() {
        let Some(object) = contract.evm.and_then(|evm| evm.bytecode).map(|b| b.object) else { continue };
        if object.is_unlinked() {
            return Err(AggregatorError::InvalidInput(format!("{name} needs linked libraries; not supported")));
        }
        match object.into_bytes() {
            Some(bytes) if !bytes.is_empty() => found.push((name, bytes.to_vec())),
            _ => {}
        }
    }
    match found.len() {
        0 => Err(AggregatorError::InvalidInput("the Solidity source defines no deployable contract".into())),
        1 => Ok(found.remove(0).1),
        _ => Err(AggregatorError::InvalidInput(format!(
            "the Solidity source defines several deployable contracts ({}); expected one",
            found.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// External programs the aggregator runs.
#[derive(Clone, Debug)]
pub struct Tools {
    /// A `solc` answering `--standard-json` (the repository's shim over solc-js, or a native one).
    pub solc: PathBuf,
}

impl Tools {
    /// `ZKML_SOLC` if set, else `<repo>/.tools/bin/solc` (installed by `scripts/setup.sh`) if it
    /// exists, else `solc` from `PATH`.
    pub fn find(repo: &Path) -> Tools {
        if let Some(solc) = std::env::var_os("ZKML_SOLC") {
            return Tools { solc: solc.into() };
        }
        let local = repo.join(".tools").join("bin").join("solc");
        Tools { solc: if local.exists() { local } else { PathBuf::from("solc") } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn output(value: serde_json::Value) -> CompilerOutput {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn compile_errors_are_reported() {
        let out = output(json!({"errors": [
            {"type": "Warning", "component": "general", "severity": "warning", "message": "x", "formattedMessage": "Warning: x"},
            {"type": "ParserError", "component": "general", "severity": "error", "message": "Expected ';'", "formattedMessage": "ParserError: Expected ';'\n"}
        ]}));
        match parse_output(out) {
            Err(AggregatorError::Compile(m)) => assert_eq!(m, "ParserError: Expected ';'"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn one_contract_is_picked() {
        let out = output(json!({"contracts": {"Verifier.sol": {
            "I": {"evm": {"bytecode": {"object": ""}}},
            "V": {"evm": {"bytecode": {"object": "6001"}}}
        }}}));
        assert_eq!(parse_output(out).unwrap(), vec![0x60, 0x01]);
    }

    #[test]
    fn missing_solc_is_spawn_error() {
        let r = compile_solidity(Path::new("/nonexistent/solc"), "contract A {}");
        assert!(matches!(r, Err(AggregatorError::SolcSpawn { .. })), "{r:?}");
    }
}
