//! Fast tests of the EVM side: solc's error path, revm's accept / reject / deploy-failure paths.

use std::path::PathBuf;
use zkml_aggregator::{compile_solidity, deployed_size, verify_in_revm, AggregatorError};

/// The project's solc (a solc-js 0.8.19 shim installed by the setup script), or `$ZKML_SOLC`.
fn solc() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let solc = zkml_aggregator::workflow::Tools::find(&repo).solc;
    assert!(solc.exists(), "no solc at {} (run scripts/setup.sh or set ZKML_SOLC)", solc.display());
    solc
}

/// Creation code that deploys `runtime` (at most 255 bytes): CODECOPY it to memory and RETURN it.
fn creation_for(runtime: &[u8]) -> Vec<u8> {
    let n = runtime.len() as u8;
    // PUSH1 n PUSH1 12 PUSH1 0 CODECOPY PUSH1 n PUSH1 0 RETURN  (12 bytes), then the runtime.
    let mut code = vec![0x60, n, 0x60, 12, 0x60, 0, 0x39, 0x60, n, 0x60, 0, 0xf3];
    code.extend_from_slice(runtime);
    code
}

#[test]
fn reverting_contract_is_rejected_not_an_error() {
    // PUSH1 0 PUSH1 0 REVERT
    let out = verify_in_revm(&creation_for(&[0x60, 0, 0x60, 0, 0xfd]), &[1, 2, 3]).unwrap();
    assert!(!out.accepted);
    assert_eq!(out.runtime_size, 5);
    assert!(out.gas_used > 21_000);
}

#[test]
fn stopping_contract_is_accepted_with_transaction_gas() {
    // STOP: the call costs exactly the intrinsic 21,000 gas with empty calldata.
    let out = verify_in_revm(&creation_for(&[0x00]), &[]).unwrap();
    assert!(out.accepted);
    assert_eq!(out.gas_used, 21_000);
    assert_eq!(out.runtime_size, 1);
    assert!(out.fits_eip170());
}

#[test]
fn infinite_loop_is_rejected() {
    // JUMPDEST PUSH1 0 JUMP: runs out of gas.
    let out = verify_in_revm(&creation_for(&[0x5b, 0x60, 0, 0x56]), &[]).unwrap();
    assert!(!out.accepted);
}

#[test]
fn failed_deployment_is_an_error() {
    // Creation code that reverts.
    let r = verify_in_revm(&[0x60, 0, 0x60, 0, 0xfd], &[]);
    assert!(matches!(r, Err(AggregatorError::Evm(_))), "{r:?}");
    // Creation code that deploys nothing: calls would "succeed" vacuously, so it is refused.
    let r = verify_in_revm(&[0x00], &[]);
    assert!(matches!(r, Err(AggregatorError::Evm(_))), "{r:?}");
    assert!(deployed_size(&[0xfe]).is_err());
}

#[test]
fn invalid_solidity_gives_the_compilers_message() {
    let r = compile_solidity(&solc(), "pragma solidity 0.8.19;\ncontract Broken { uint x = }\n");
    match r {
        Err(e @ AggregatorError::Compile(_)) => {
            let msg = e.to_string();
            assert!(msg.contains("ParserError"), "{msg}");
            assert!(msg.contains("Broken"), "message should quote the source: {msg}");
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
}

#[test]
fn compiled_contract_runs_in_revm() {
    // Accepts calldata whose first word is 42, like a verifier accepting a good proof.
    let src = r#"pragma solidity 0.8.19;
contract Check {
    fallback() external {
        uint256 x;
        assembly { x := calldataload(0) }
        require(x == 42);
    }
}
"#;
    let creation = compile_solidity(&solc(), src).unwrap();
    let mut word = [0u8; 32];
    word[31] = 42;
    let yes = verify_in_revm(&creation, &word).unwrap();
    assert!(yes.accepted);
    word[31] = 41;
    let no = verify_in_revm(&creation, &word).unwrap();
    assert!(!no.accepted);
    assert_eq!(deployed_size(&creation).unwrap(), yes.runtime_size);
}
