//! Deploying and calling a verifier in an in-process EVM (revm 27, Prague rules).

use crate::error::{AggregatorError, Result};
use ::revm::{
    context::{
        result::{ExecutionResult, Output},
        TxEnv,
    },
    database::InMemoryDB,
    primitives::{Address, Bytes, TxKind, U256},
    state::AccountInfo,
    Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext,
};
use serde::{Deserialize, Serialize};

/// EIP-170's limit on deployed (runtime) bytecode: 24,576 bytes. Mainnet rejects larger contracts.
pub const EIP170_LIMIT: usize = 24_576;

/// Gas limit of the deployment transaction (generous: a verifier costs ~5M to deploy).
pub const DEPLOY_GAS_LIMIT: u64 = 100_000_000;
/// Gas limit of the verify call (a block's worth; a verification costs ~0.5M).
pub const CALL_GAS_LIMIT: u64 = 30_000_000;

/// The result of running a verifier on calldata in revm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvmOutcome {
    /// The call succeeded (the verifier accepted the proof). A revert, halt or out-of-gas is `false`.
    pub accepted: bool,
    /// Gas used by the call as a transaction's receipt would report it: intrinsic cost (21,000 +
    /// calldata) plus execution, after refunds. Also set when the call was rejected.
    pub gas_used: u64,
    /// Size in bytes of the deployed runtime bytecode (compare with [`EIP170_LIMIT`]).
    pub runtime_size: usize,
}

impl EvmOutcome {
    /// Whether the runtime bytecode fits EIP-170 (deployable on mainnet and default anvil).
    pub fn fits_eip170(&self) -> bool {
        self.runtime_size <= EIP170_LIMIT
    }
}

/// Deploys `creation_bytecode` with CREATE from a funded account, then calls the new contract with
/// `calldata` as a plain transaction (revm 27, Prague rules, gas price 1 gwei, base fee 0).
///
/// A reverting, halting or out-of-gas call (gas limit [`CALL_GAS_LIMIT`]) gives `accepted: false`;
/// it is not an error. EIP-170 is not enforced here, so an oversized verifier can still be measured:
/// check [`EvmOutcome::fits_eip170`]. Errors only if the deployment fails (reverts, halts, or leaves
/// no code) or revm rejects a transaction.
pub fn verify_in_revm(creation_bytecode: &[u8], calldata: &[u8]) -> Result<EvmOutcome> {
    let mut evm = Context::mainnet()
        .with_db(funded_db())
        .modify_cfg_chained(|cfg| {
            // Measure oversized contracts instead of failing; EIP-170 is reported separately.
            cfg.limit_contract_code_size = Some(4 * EIP170_LIMIT);
        })
        .build_mainnet();

    let deploy = evm
        .transact(tx(0, TxKind::Create, creation_bytecode, DEPLOY_GAS_LIMIT))
        .map_err(|e| AggregatorError::Evm(format!("deployment transaction invalid: {e:?}")))?;
    let (address, runtime_size) = match &deploy.result {
        ExecutionResult::Success { output: Output::Create(_, Some(address)), .. } => {
            let size = deploy
                .state
                .get(address)
                .and_then(|account| account.info.code.as_ref())
                .map(|code| code.original_byte_slice().len())
                .unwrap_or(0);
            (*address, size)
        }
        other => return Err(AggregatorError::Evm(format!("deployment failed: {}", describe(other)))),
    };
    if runtime_size == 0 {
        return Err(AggregatorError::Evm(
            "deployment left no code: every call would succeed, so nothing would be verified".into(),
        ));
    }
    evm.commit(deploy.state);

    let result = evm
        .transact_commit(tx(1, TxKind::Call(address), calldata, CALL_GAS_LIMIT))
        .map_err(|e| AggregatorError::Evm(format!("verify transaction invalid: {e:?}")))?;
    let (accepted, gas_used) = match result {
        ExecutionResult::Success { gas_used, .. } => (true, gas_used),
        ExecutionResult::Revert { gas_used, .. } | ExecutionResult::Halt { gas_used, .. } => {
            (false, gas_used)
        }
    };
    Ok(EvmOutcome { accepted, gas_used, runtime_size })
}

/// Size in bytes of the runtime bytecode that `creation_bytecode` deploys (EIP-170 compares this
/// with [`EIP170_LIMIT`]); measured by deploying it in revm with the size limit lifted. Errors if the
/// deployment fails.
pub fn deployed_size(creation_bytecode: &[u8]) -> Result<usize> {
    // An empty call is enough: only the deployment matters here.
    verify_in_revm(creation_bytecode, &[]).map(|o| o.runtime_size)
}

const CALLER: Address = Address::new([0x11; 20]);
const GAS_PRICE: u128 = 1_000_000_000;

fn funded_db() -> InMemoryDB {
    let mut db = InMemoryDB::default();
    db.insert_account_info(
        CALLER,
        AccountInfo { balance: U256::from(10u128.pow(24)), ..Default::default() },
    );
    db
}

fn tx(nonce: u64, kind: TxKind, data: &[u8], gas_limit: u64) -> TxEnv {
    TxEnv {
        caller: CALLER,
        nonce,
        kind,
        data: Bytes::copy_from_slice(data),
        gas_limit,
        gas_price: GAS_PRICE,
        ..Default::default()
    }
}

fn describe(result: &ExecutionResult) -> String {
    match result {
        ExecutionResult::Success { .. } => "succeeded without creating a contract".into(),
        ExecutionResult::Revert { gas_used, output } => {
            format!("reverted (gas used {gas_used}, output 0x{})", hex::encode(output))
        }
        ExecutionResult::Halt { reason, gas_used } => {
            format!("halted: {reason:?} (gas used {gas_used})")
        }
    }
}
