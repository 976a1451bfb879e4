//! The crate's error type and the guard that turns a panic inside snark-verifier into an error.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Every failure this crate reports. No public function of the crate panics on bad input: it
/// returns one of these instead.
///
/// A proof that a verifier *rejects* is not an error: [`crate::EvmOutcome`] and
/// [`crate::RpcOutcome`] report it as `accepted: false`. Errors are reserved for bad input and for
/// infrastructure failures (no compiler, unreachable node, a contract that cannot be deployed).
#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    /// The caller passed something unusable (empty proof list, mismatched degrees, wrong
    /// instance counts, malformed bytes). The message says which.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A direct verifier of a model's circuit would be `runtime_size` bytes of runtime bytecode,
    /// more than EIP-170 allows on chain; nothing was written. Aggregation makes one that fits.
    #[error("the direct verifier would be {runtime_size} bytes of runtime bytecode, over EIP-170's 24,576")]
    VerifierTooLarge {
        /// Its runtime bytecode size.
        runtime_size: usize,
    },

    /// Inner proof number `index` (0-based, in the order given) does not verify natively against
    /// the aggregation SRS, so aggregating it could only produce a proof that every verifier rejects.
    #[error("inner proof #{index} does not verify: {reason}")]
    InnerProofInvalid {
        /// Position of the offending proof in the input list.
        index: usize,
        /// What failed (a transcript read error or the final pairing check).
        reason: String,
    },

    /// The proofs do not aggregate in one circuit: at every degree the planner may choose, its
    /// Solidity verifier would exceed EIP-170 or its proving would need more memory than this
    /// machine has. Aggregating them in groups (two levels) keeps each circuit small.
    #[error("{0}")]
    AggregationTooLarge(String),

    /// halo2 refused to generate keys or a proof (e.g. the circuit does not fit in 2^k rows).
    #[error("halo2 {stage} failed: {message}")]
    Halo2 {
        /// `keygen` or `prove`.
        stage: &'static str,
        /// halo2's error, rendered.
        message: String,
    },

    /// The aggregated proof was produced but does not verify natively (should not happen; it
    /// indicates a bug or an inconsistent SRS).
    #[error("the aggregated proof does not verify natively: {0}")]
    SelfCheckFailed(String),

    /// A verifying key could not be read back from its bytes.
    #[error("invalid verifying key: {0}")]
    InvalidVerifyingKey(String),

    /// snark-verifier or halo2 panicked internally; the panic was caught and is reported here.
    #[error("internal failure during {context}: {message}")]
    Internal {
        /// Which step was running.
        context: &'static str,
        /// The panic message.
        message: String,
    },

    /// The solc executable could not be started or talked to.
    #[error("cannot run solc at {path}: {source}")]
    SolcSpawn {
        /// The executable that was tried.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// solc ran but did not produce usable standard-JSON output.
    #[error("solc failed: {0}")]
    SolcFailed(String),

    /// solc reported compilation errors; the message holds the compiler's formatted errors.
    #[error("Solidity compilation failed:\n{0}")]
    Compile(String),

    /// The in-process EVM could not run a transaction (invalid transaction, database error) or the
    /// contract could not be deployed.
    #[error("EVM: {0}")]
    Evm(String),

    /// The RPC node could not be reached (connection refused, DNS failure, timeout).
    #[error("cannot reach RPC node at {url}: {reason}")]
    RpcUnreachable {
        /// The URL that was tried.
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// The RPC node answered but a step failed (deployment reverted, transaction dropped, timeout
    /// waiting for a receipt, node has no unlocked account).
    #[error("RPC: {0}")]
    Rpc(String),

    /// Reading a model, its keys, its proofs or the SRS failed.
    #[error(transparent)]
    Prover(#[from] zkml_prover::ProverError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = AggregatorError> = std::result::Result<T, E>;

/// Runs `f`, turning a panic into [`AggregatorError::Internal`] with `context`.
pub(crate) fn catch_panic<T>(context: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(AggregatorError::Internal { context, message: panic_message(&payload) }),
    }
}

fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_becomes_error() {
        let r: Result<()> = catch_panic("test", || panic!("boom {}", 1));
        match r {
            Err(AggregatorError::Internal { context: "test", message }) => assert_eq!(message, "boom 1"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
