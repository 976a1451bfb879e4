//! Compiling Solidity with an external `solc` through its standard-JSON interface.

use crate::error::{AggregatorError, Result};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// EVM version requested from solc: `paris`, the newest 0.8.19 knows (it rejects `shanghai` and
/// `cancun`) and its default. Paris bytecode has no PUSH0 and runs under every later fork,
/// including revm 27's default Prague and anvil's Prague/Osaka.
pub const EVM_VERSION: &str = "paris";

/// Compiles `source` with the solc executable at `solc` (`solc --standard-json`, JSON on stdin,
/// optimizer off, EVM version [`EVM_VERSION`]) and returns the creation bytecode of the one
/// contract in the source that has bytecode.
///
/// Errors: [`AggregatorError::SolcSpawn`] if `solc` cannot be run, [`AggregatorError::SolcFailed`]
/// if its output is not standard JSON, [`AggregatorError::Compile`] with the compiler's formatted
/// messages if the source has errors, and [`AggregatorError::InvalidInput`] if the source defines
/// no deployable contract or several. Warnings are ignored. The optimizer stays off: solc-js runs
/// out of wasm memory on large verifiers, and unoptimized verifiers fit EIP-170.
pub fn compile_solidity(solc: &Path, source: &str) -> Result<Vec<u8>> {
    let input = json!({
        "language": "Solidity",
        "sources": { "Verifier.sol": { "content": source } },
        "settings": {
            "optimizer": { "enabled": false },
            "evmVersion": EVM_VERSION,
            "outputSelection": { "*": { "*": ["evm.bytecode.object"] } }
        }
    });
    let output = run_standard_json(solc, input.to_string().as_bytes())?;
    parse_output(&output)
}

fn run_standard_json(solc: &Path, input: &[u8]) -> Result<Value> {
    let spawn_err = |source| AggregatorError::SolcSpawn { path: solc.to_path_buf(), source };
    let mut child = Command::new(solc)
        .arg("--standard-json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    // Write stdin from another thread so a large output cannot deadlock against a large input.
    let mut stdin = child.stdin.take().ok_or_else(|| {
        AggregatorError::SolcFailed("could not open solc's standard input".into())
    })?;
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().map_err(spawn_err)?;
    // A write error (broken pipe) is only interesting if solc also failed; its output says why.
    let write_result = writer.join();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    match serde_json::from_str::<Value>(stdout.trim()) {
        Ok(v) if v.is_object() => Ok(v),
        _ => {
            let mut msg = format!("{} exited with {}", solc.display(), out.status);
            if let Ok(Err(e)) = write_result {
                msg.push_str(&format!("; writing its input failed: {e}"));
            }
            for (name, text) in [("stderr", stderr.trim()), ("stdout", stdout.trim())] {
                if !text.is_empty() {
                    let text: String = text.chars().take(2000).collect();
                    msg.push_str(&format!("\n{name}: {text}"));
                }
            }
            msg.push_str("\n(no standard-JSON output: is this a solc that supports --standard-json?)");
            Err(AggregatorError::SolcFailed(msg))
        }
    }
}

fn parse_output(output: &Value) -> Result<Vec<u8>> {
    let errors: Vec<String> = output
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("severity").and_then(Value::as_str) == Some("error"))
        .map(|e| {
            e.get("formattedMessage")
                .or_else(|| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .trim_end()
                .to_string()
        })
        .collect();
    if !errors.is_empty() {
        return Err(AggregatorError::Compile(errors.join("\n")));
    }
    let mut found = Vec::new();
    if let Some(files) = output.get("contracts").and_then(Value::as_object) {
        for (file, contracts) in files {
            for (name, contract) in contracts.as_object().into_iter().flatten() {
                let object = contract
                    .pointer("/evm/bytecode/object")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !object.is_empty() {
                    found.push((format!("{file}:{name}"), object.to_string()));
                }
            }
        }
    }
    match found.len() {
        0 => Err(AggregatorError::InvalidInput(
            "the Solidity source defines no deployable contract".into(),
        )),
        1 => {
            let (name, object) = &found[0];
            if object.contains("__$") {
                return Err(AggregatorError::InvalidInput(format!(
                    "{name} needs linked libraries; not supported"
                )));
            }
            hex::decode(object.trim_start_matches("0x")).map_err(|e| {
                AggregatorError::SolcFailed(format!("bytecode of {name} is not hex: {e}"))
            })
        }
        _ => Err(AggregatorError::InvalidInput(format!(
            "the Solidity source defines several deployable contracts ({}); expected one",
            found.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_errors_are_reported() {
        let out = json!({"errors": [
            {"severity": "warning", "formattedMessage": "Warning: x"},
            {"severity": "error", "formattedMessage": "ParserError: Expected ';'\n"}
        ]});
        match parse_output(&out) {
            Err(AggregatorError::Compile(m)) => assert_eq!(m, "ParserError: Expected ';'"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn one_contract_is_picked() {
        let out = json!({"contracts": {"Verifier.sol": {
            "I": {"evm": {"bytecode": {"object": ""}}},
            "V": {"evm": {"bytecode": {"object": "6001"}}}
        }}});
        assert_eq!(parse_output(&out).unwrap(), vec![0x60, 0x01]);
    }

    #[test]
    fn missing_solc_is_spawn_error() {
        let r = compile_solidity(Path::new("/nonexistent/solc"), "contract A {}");
        assert!(matches!(r, Err(AggregatorError::SolcSpawn { .. })), "{r:?}");
    }
}
