//! Deploying a verifier to a real node over JSON-RPC and verifying a proof there (ethers 2).

use crate::error::{AggregatorError, Result};
use ethers::{
    middleware::SignerMiddleware,
    providers::{Http, Middleware, MiddlewareError, Provider},
    signers::{LocalWallet, Signer},
    types::{transaction::eip2718::TypedTransaction, Address, Bytes, TransactionRequest, H256},
};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

/// Time allowed for each JSON-RPC request (including the first one that checks the node is there).
pub const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for a transaction to be mined and its receipt to appear.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// Interval at which receipts are polled.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// What happened on the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcOutcome {
    /// The verifier accepted the proof: the `eth_call` succeeded and so did the verify transaction.
    pub accepted: bool,
    /// Gas used by the mined verify transaction (from its receipt, intrinsic cost included); `None`
    /// when the `eth_call` rejected the proof, since no transaction is sent then.
    pub gas_used: Option<u64>,
    /// Address of the deployed verifier.
    pub address: Address,
    /// Hash of the deployment transaction.
    pub deploy_tx_hash: H256,
}

/// Deploys `creation_bytecode` to the node at `rpc_url` (HTTP), waits for the receipt, then checks
/// `calldata` against it with `eth_call`; if that succeeds, also sends the verify call as a
/// transaction and reports its receipt's `gas_used`.
///
/// Sender: with `private_key` (hex, optional `0x`), transactions are signed locally with the node's
/// chain id; without it they are sent from the node's first unlocked account (`eth_accounts[0]`, as
/// on anvil). A verifier rejecting the proof (revert, or the `OutOfGas` anvil reports for a failed
/// pairing) is `accepted: false`, not an error: any error *answer* from the node to the `eth_call`
/// counts as a rejection. Errors: an unreachable node or a request that times out
/// ([`AggregatorError::RpcUnreachable`]), a bad private key, no unlocked account, a failed
/// deployment (e.g. over EIP-170) or a receipt that does not arrive within [`RECEIPT_TIMEOUT`]
/// ([`AggregatorError::Rpc`]). Every request is bounded by [`RPC_TIMEOUT`], so nothing hangs.
pub async fn deploy_and_verify(
    rpc_url: &str,
    private_key: Option<&str>,
    creation_bytecode: &[u8],
    calldata: &[u8],
) -> Result<RpcOutcome> {
    deploy_then(rpc_url, private_key, creation_bytecode, Some(calldata)).await
}

/// A contract deployed by [`deploy`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Its address.
    pub address: Address,
    /// Hash of the deployment transaction.
    pub tx_hash: H256,
    /// The node's chain id.
    pub chain_id: u64,
}

/// Deploys `creation_bytecode` to the node at `rpc_url` and waits for the receipt; sender and
/// errors as for [`deploy_and_verify`].
pub async fn deploy(rpc_url: &str, private_key: Option<&str>, creation_bytecode: &[u8]) -> Result<Deployment> {
    let outcome = deploy_then(rpc_url, private_key, creation_bytecode, None).await?;
    let provider = Provider::<Http>::try_from(rpc_url).map_err(|e| AggregatorError::InvalidInput(format!("bad RPC URL {rpc_url:?}: {e}")))?;
    let node = Node { url: rpc_url.to_string() };
    let chain_id = node.request("eth_chainId", provider.get_chainid()).await?.low_u64();
    Ok(Deployment { address: outcome.address, tx_hash: outcome.deploy_tx_hash, chain_id })
}

/// Checks `calldata` against the verifier already deployed at `address`: an `eth_call`, then (if it
/// accepts) the verify transaction for its gas. Sender and errors as for [`deploy_and_verify`];
/// `deploy_tx_hash` is zero in the outcome.
pub async fn verify_at(rpc_url: &str, private_key: Option<&str>, address: Address, calldata: &[u8]) -> Result<RpcOutcome> {
    run_job(rpc_url, private_key, Job::VerifyAt(address, calldata)).await
}

async fn deploy_then(rpc_url: &str, private_key: Option<&str>, creation_bytecode: &[u8], calldata: Option<&[u8]>) -> Result<RpcOutcome> {
    run_job(rpc_url, private_key, Job::Deploy(creation_bytecode, calldata)).await
}

/// What to do on the node.
#[derive(Clone, Copy)]
enum Job<'a> {
    /// Deploy, then verify the calldata if given.
    Deploy(&'a [u8], Option<&'a [u8]>),
    /// Verify the calldata at an existing contract.
    VerifyAt(Address, &'a [u8]),
}

async fn run_job(rpc_url: &str, private_key: Option<&str>, job: Job<'_>) -> Result<RpcOutcome> {
    let provider = Provider::<Http>::try_from(rpc_url)
        .map_err(|e| AggregatorError::InvalidInput(format!("bad RPC URL {rpc_url:?}: {e}")))?
        .interval(POLL_INTERVAL);
    let node = Node { url: rpc_url.to_string() };
    let chain_id = node.request("eth_chainId", provider.get_chainid()).await?;

    match private_key {
        Some(key) => {
            let key = key.trim();
            let key = key.strip_prefix("0x").or_else(|| key.strip_prefix("0X")).unwrap_or(key);
            let wallet: LocalWallet = key
                .parse()
                .map_err(|e| AggregatorError::InvalidInput(format!("bad private key: {e}")))?;
            let wallet = wallet.with_chain_id(chain_id.low_u64());
            let from = wallet.address();
            let client = SignerMiddleware::new(provider, wallet);
            node.run(&client, from, job).await
        }
        None => {
            let accounts = node.request("eth_accounts", provider.get_accounts()).await?;
            let from = *accounts.first().ok_or_else(|| {
                AggregatorError::Rpc(
                    "the node has no unlocked account (eth_accounts is empty): pass a private key"
                        .into(),
                )
            })?;
            node.run(&provider, from, job).await
        }
    }
}

struct Node {
    url: String,
}

impl Node {
    fn unreachable(&self, reason: String) -> AggregatorError {
        AggregatorError::RpcUnreachable { url: self.url.clone(), reason }
    }

    /// Awaits one request with [`RPC_TIMEOUT`]; a transport failure or timeout is "unreachable",
    /// an error answer from the node is [`AggregatorError::Rpc`].
    async fn request<T, E: MiddlewareError>(
        &self,
        what: &str,
        fut: impl Future<Output = std::result::Result<T, E>>,
    ) -> Result<T> {
        match tokio::time::timeout(RPC_TIMEOUT, fut).await {
            Err(_) => Err(self.unreachable(format!("{what}: no answer within {RPC_TIMEOUT:?}"))),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) if e.as_error_response().is_some() => {
                Err(AggregatorError::Rpc(format!("{what}: {e}")))
            }
            Ok(Err(e)) => Err(self.unreachable(format!("{what}: {e}"))),
        }
    }

    /// Sends a transaction and waits for its receipt; returns (hash, receipt).
    async fn send<M: Middleware>(
        &self,
        client: &M,
        what: &str,
        tx: TransactionRequest,
    ) -> Result<(H256, ethers::types::TransactionReceipt)> {
        let pending = self.request(what, client.send_transaction(tx, None)).await?;
        let hash = pending.tx_hash();
        let receipt = match tokio::time::timeout(RECEIPT_TIMEOUT, pending).await {
            Err(_) => {
                return Err(AggregatorError::Rpc(format!(
                    "{what}: no receipt for {hash:?} within {RECEIPT_TIMEOUT:?}"
                )))
            }
            Ok(Err(e)) => return Err(self.unreachable(format!("{what}: waiting for receipt: {e}"))),
            Ok(Ok(None)) => {
                return Err(AggregatorError::Rpc(format!("{what}: transaction {hash:?} was dropped")))
            }
            Ok(Ok(Some(receipt))) => receipt,
        };
        Ok((hash, receipt))
    }

    async fn run<M: Middleware>(
        &self,
        client: &M,
        from: Address,
        job: Job<'_>,
    ) -> Result<RpcOutcome> {
        let (creation_bytecode, calldata) = match job {
            Job::Deploy(bytecode, calldata) => (bytecode, calldata),
            Job::VerifyAt(address, calldata) => return self.verify(client, from, address, H256::zero(), calldata).await,
        };
        let deploy = TransactionRequest::new().from(from).data(Bytes::from(creation_bytecode.to_vec()));
        let (deploy_tx_hash, receipt) = self.send(client, "deploying the verifier", deploy).await?;
        if receipt.status.map(|s| s.as_u64()) != Some(1) {
            return Err(AggregatorError::Rpc(format!(
                "deployment transaction {deploy_tx_hash:?} failed (status {:?}, gas used {:?})",
                receipt.status, receipt.gas_used
            )));
        }
        let address = receipt.contract_address.ok_or_else(|| {
            AggregatorError::Rpc(format!("deployment receipt {deploy_tx_hash:?} has no contract address"))
        })?;
        match calldata {
            None => Ok(RpcOutcome { accepted: false, gas_used: None, address, deploy_tx_hash }),
            Some(calldata) => self.verify(client, from, address, deploy_tx_hash, calldata).await,
        }
    }

    async fn verify<M: Middleware>(&self, client: &M, from: Address, address: Address, deploy_tx_hash: H256, calldata: &[u8]) -> Result<RpcOutcome> {

        let verify = TransactionRequest::new()
            .from(from)
            .to(address)
            .data(Bytes::from(calldata.to_vec()));
        let call: TypedTransaction = verify.clone().into();
        let accepted = match tokio::time::timeout(RPC_TIMEOUT, client.call(&call, None)).await {
            Err(_) => return Err(self.unreachable(format!("eth_call: no answer within {RPC_TIMEOUT:?}"))),
            Ok(Ok(_)) => true,
            // The node answered with an error: the verifier rejected the proof.
            Ok(Err(e)) if e.as_error_response().is_some() => false,
            Ok(Err(e)) => return Err(self.unreachable(format!("eth_call: {e}"))),
        };
        if !accepted {
            return Ok(RpcOutcome { accepted, gas_used: None, address, deploy_tx_hash });
        }

        let (_, receipt) = self.send(client, "sending the verify transaction", verify).await?;
        let ok = receipt.status.map(|s| s.as_u64()) == Some(1);
        Ok(RpcOutcome {
            accepted: ok,
            gas_used: receipt.gas_used.map(|g| g.low_u64()),
            address,
            deploy_tx_hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dead_url_is_a_clear_error() {
        // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        let r = deploy_and_verify("http://127.0.0.1:9", None, &[0x00], &[]).await;
        match r {
            Err(e @ AggregatorError::RpcUnreachable { .. }) => {
                assert!(e.to_string().starts_with("cannot reach RPC node at http://127.0.0.1:9"), "{e}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn bad_url_is_invalid_input() {
        let r = deploy_and_verify("not a url", None, &[0x00], &[]).await;
        assert!(matches!(r, Err(AggregatorError::InvalidInput(_))), "{r:?}");
    }
}
