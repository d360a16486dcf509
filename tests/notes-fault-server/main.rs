//! `notes-fault-server`: `notes-server` with a fault in every authorization, for the
//! fault-matrix tests (`tests/e2e/test_fault_matrix.py` over stdio, `tests/http_clients.rs`
//! over streamable HTTP). The tests build it with `cargo build -p notes-fault-server`.
//!
//! `NOTES_AUTHZ_FAULT=<fault>` (required) makes every call's authorization fail in that
//! way, as a server-wide policy decided before each tool's own
//! (`SecureServerBuilder::server_policy`): `error`, `panic`, `panic_on_call`, `hang`,
//! `late_allow` (allows, but after the deadline), `deny`, `odd_answer`, `blocking_allow`
//! (holds its thread past the deadline, then allows) or `empty_requirement` (requires an
//! empty list of scopes or roles). `NOTES_AUTHZ_TIMEOUT_MS` sets the authorization
//! deadline (default 2 s), so that `hang`, `late_allow` and `blocking_allow` are decided
//! quickly. A fault can only make the server deny more.
//!
//! Everything else (arguments, environment, stdio or HTTP) is `notes-server`'s own:
//! [`notes_server::cli::run`] with the fault added to the server it builds.

use std::process::ExitCode;
use std::time::Duration;

use secure_tool::SecureServerBuilder;
use secure_tool::testing::{PolicyFault, failing_policy};

/// The fault, and the authorization deadline if the environment sets one.
struct Injected {
    fault: PolicyFault,
    timeout: Option<Duration>,
}

impl Injected {
    /// What `NOTES_AUTHZ_FAULT` and `NOTES_AUTHZ_TIMEOUT_MS` ask for, or a message naming
    /// the variable that is missing or wrong.
    fn from_env() -> Result<Self, String> {
        let timeout = match std::env::var("NOTES_AUTHZ_TIMEOUT_MS") {
            Err(_) => None,
            Ok(ms) => {
                let ms: u64 = ms.trim().parse().map_err(|_| {
                    format!("NOTES_AUTHZ_TIMEOUT_MS must be milliseconds, not {ms:?}")
                })?;
                Some(Duration::from_millis(ms.max(1)))
            }
        };
        let names: Vec<&str> = PolicyFault::ALL.iter().map(|f| f.as_str()).collect();
        let name = std::env::var("NOTES_AUTHZ_FAULT").map_err(|_| {
            format!(
                "NOTES_AUTHZ_FAULT must name the fault to inject: one of {}",
                names.join(", ")
            )
        })?;
        let fault = PolicyFault::ALL
            .into_iter()
            .find(|fault| fault.as_str() == name.trim())
            .ok_or_else(|| {
                format!(
                    "NOTES_AUTHZ_FAULT must be one of {}, not {name:?}",
                    names.join(", ")
                )
            })?;
        Ok(Self { fault, timeout })
    }

    /// `builder` with the deadline, and the failing server-wide policy, whose late
    /// answers come well after that deadline.
    fn into_builder<S: Send + Sync + 'static>(
        self,
        mut builder: SecureServerBuilder<S>,
    ) -> SecureServerBuilder<S> {
        let timeout = self
            .timeout
            .unwrap_or(secure_tool::authz::DEFAULT_AUTHZ_TIMEOUT);
        if let Some(timeout) = self.timeout {
            builder = builder.authz_timeout(timeout);
        }
        tracing::warn!(
            fault = self.fault.as_str(),
            "fault injection: every authorization fails"
        );
        builder.server_policy(failing_policy(self.fault, timeout * 3))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let injected = match Injected::from_env() {
        Ok(injected) => injected,
        Err(message) => {
            eprintln!("notes-fault-server: {message}");
            return ExitCode::from(2);
        }
    };
    notes_server::cli::run(|server| injected.into_builder(server)).await
}
