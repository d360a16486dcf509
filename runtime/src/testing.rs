//! What users need to test their own secure tools (feature `testing`): policies that fail
//! in every way a policy can, a dependency that fails on command, a fake clock, an
//! in-process client, and [`audit`], which proves in one line of a test suite that none of
//! a server's tools is fail-open.
//!
//! ```
//! use secure_tool::prelude::*;
//!
//! #[derive(Clone)]
//! struct Notes;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct NoteId { id: u64 }
//!
//! #[derive(serde::Serialize, schemars::JsonSchema)]
//! struct Note { id: u64 }
//!
//! #[secure_tool_router]
//! impl Notes {
//!     /// Reads a note.
//!     #[secure_tool(authz = scopes("notes:read"), mode = read)]
//!     async fn get_note(&self, args: NoteId) -> Result<Note, ToolError> {
//!         Ok(Note { id: args.id })
//!     }
//! }
//! impl secure_tool::rmcp::ServerHandler for Notes {}
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let report = secure_tool::testing::audit(&SecureServer::new(Notes)).await;
//! report.assert_fail_closed();
//! assert_eq!(report.calls(), 14); // seven ways for its policy to fail, two argument shapes
//! assert_eq!(report.handler_runs(), 0);
//! # }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::CallToolResult;
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServerHandler, ServiceExt};

use crate::authz::{AccessRequest, Authorize, Decision, Policy, PolicyError, PolicyFuture};
use crate::server::SecureServer;

pub use crate::breaker::ManualClock;

// ---------------------------------------------------------------------------------------
// Policies that fail

/// A way for a policy to fail. None of them may ever let a call through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyFault {
    /// The policy answers an error (its service said 500).
    Error,
    /// The policy panics while deciding.
    Panic,
    /// The policy panics before it even returns a future.
    PanicOnCall,
    /// The policy never answers.
    Hang,
    /// The policy answers `Allow`, but only after the authorization deadline: a timeout
    /// must not turn into a late allow.
    LateAllow,
    /// The policy answers `Deny`.
    Deny,
    /// The policy answers something that is not an explicit allow (`Abstain`: a remote
    /// service that did not know the tool, or whose answer did not parse).
    Odd,
}

impl PolicyFault {
    /// Every fault, in a fixed order.
    pub const ALL: [PolicyFault; 7] = [
        PolicyFault::Error,
        PolicyFault::Panic,
        PolicyFault::PanicOnCall,
        PolicyFault::Hang,
        PolicyFault::LateAllow,
        PolicyFault::Deny,
        PolicyFault::Odd,
    ];

    /// The fault's name, as the audit report prints it.
    ///
    /// ```
    /// assert_eq!(secure_tool::testing::PolicyFault::LateAllow.as_str(), "late_allow");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            PolicyFault::Error => "error",
            PolicyFault::Panic => "panic",
            PolicyFault::PanicOnCall => "panic_on_call",
            PolicyFault::Hang => "hang",
            PolicyFault::LateAllow => "late_allow",
            PolicyFault::Deny => "deny",
            PolicyFault::Odd => "odd_answer",
        }
    }
}

impl fmt::Display for PolicyFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A custom policy that fails in the given way; `late` is how long [`PolicyFault::LateAllow`]
/// waits before it allows (make it longer than the authorization deadline).
///
/// ```
/// use std::time::Duration;
/// use secure_tool::authz::{AccessRequest, DenialCause, Mode, Principal};
/// use secure_tool::testing::{failing_policy, PolicyFault};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let policy = failing_policy(PolicyFault::LateAllow, Duration::from_secs(5));
/// let ada = Principal::new("ada");
/// let verdict = policy
///     .evaluate(AccessRequest::new("t", Mode::Read, &ada), Duration::from_secs(2))
///     .await;
/// assert_eq!(verdict, Err(DenialCause::DeadlineExceeded(Duration::from_secs(2))));
/// # }
/// ```
pub fn failing_policy(fault: PolicyFault, late: Duration) -> Policy {
    crate::authz::custom(FailingPolicy { fault, late })
}

struct FailingPolicy {
    fault: PolicyFault,
    late: Duration,
}

/// The error a [`PolicyFault::Error`] policy answers.
#[derive(Debug)]
struct PolicyServiceError;

impl fmt::Display for PolicyServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("policy service answered 500")
    }
}

impl std::error::Error for PolicyServiceError {}

impl Authorize for FailingPolicy {
    fn authorize<'a>(&'a self, _request: AccessRequest<'a>) -> PolicyFuture<'a> {
        let late = self.late;
        match self.fault {
            PolicyFault::PanicOnCall => panic!("the policy panicked before deciding"),
            PolicyFault::Error => {
                Box::pin(async { Err::<Decision, PolicyError>(Box::new(PolicyServiceError)) })
            }
            PolicyFault::Panic => Box::pin(async { panic!("the policy panicked while deciding") }),
            PolicyFault::Hang => Box::pin(std::future::pending()),
            PolicyFault::LateAllow => Box::pin(async move {
                tokio::time::sleep(late).await;
                Ok(Decision::Allow)
            }),
            PolicyFault::Deny => Box::pin(async { Ok(Decision::Deny) }),
            PolicyFault::Odd => Box::pin(async { Ok(Decision::Abstain) }),
        }
    }

    fn describe(&self) -> String {
        format!("failing policy ({})", self.fault)
    }
}

// ---------------------------------------------------------------------------------------
// A dependency that fails on command

/// What a [`FaultyDependency`] does on its next calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DependencyFault {
    /// Answers at once.
    #[default]
    Healthy,
    /// Fails at once, like a refused connection.
    Fail,
    /// Answers after this long.
    Slow(Duration),
    /// Never answers.
    Hang,
    /// Panics.
    Panic,
}

/// A stand-in for a dependency (a database, an HTTP API) that fails, slows down, hangs or
/// panics on command: put one in a fake store, call [`inject`](Self::inject) where the real
/// one would do I/O, and flip it from the test. Clones share the switch.
///
/// ```
/// use secure_tool::testing::{DependencyFault, FaultyDependency};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let db = FaultyDependency::new("db");
/// assert!(db.inject().await.is_ok());
/// db.set(DependencyFault::Fail);
/// let error = db.inject().await.unwrap_err();
/// assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
/// assert_eq!(db.calls(), 2);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct FaultyDependency {
    inner: Arc<FaultyInner>,
}

#[derive(Debug)]
struct FaultyInner {
    name: String,
    fault: Mutex<DependencyFault>,
    calls: AtomicUsize,
}

impl FaultyDependency {
    /// A healthy dependency named `name` (the name is in its errors, for the log).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(FaultyInner {
                name: name.into(),
                fault: Mutex::new(DependencyFault::Healthy),
                calls: AtomicUsize::new(0),
            }),
        }
    }

    /// What the next calls do.
    pub fn set(&self, fault: DependencyFault) {
        *self
            .inner
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = fault;
    }

    /// How many times [`inject`](Self::inject) was called.
    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::SeqCst)
    }

    /// One call of the dependency: `Ok` when healthy (or, when slow, after the delay); a
    /// `ConnectionRefused` I/O error when failing; never when hanging; a panic when told.
    ///
    /// # Errors
    ///
    /// A `ConnectionRefused` [`std::io::Error`] while set to [`DependencyFault::Fail`].
    ///
    /// # Panics
    ///
    /// While set to [`DependencyFault::Panic`].
    pub async fn inject(&self) -> std::io::Result<()> {
        self.inner.calls.fetch_add(1, Ordering::SeqCst);
        let fault = *self
            .inner
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match fault {
            DependencyFault::Healthy => Ok(()),
            DependencyFault::Fail => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                format!("{} refused the connection", self.inner.name),
            )),
            DependencyFault::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            DependencyFault::Hang => std::future::pending().await,
            DependencyFault::Panic => panic!("{} panicked", self.inner.name),
        }
    }
}

// ---------------------------------------------------------------------------------------
// An in-process client

/// Serves `server` on one end of an in-memory pipe and connects an rmcp client to the
/// other: the whole MCP protocol, without a process or a socket. The server's calls are
/// made as its local principal.
///
/// # Panics
///
/// If the MCP handshake fails (it does not, between these two ends).
///
/// ```
/// use secure_tool::prelude::*;
///
/// #[derive(Clone)]
/// struct Hello;
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Greeting { text: String }
/// #[secure_tool_router]
/// impl Hello {
///     /// Says hello.
///     #[secure_tool(authz = public, mode = read)]
///     async fn hello(&self) -> Result<Greeting, ToolError> {
///         Ok(Greeting { text: "hello".into() })
///     }
/// }
/// impl secure_tool::rmcp::ServerHandler for Hello {}
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let client = secure_tool::testing::client(SecureServer::new(Hello)).await;
/// let tools = client.list_all_tools().await.unwrap();
/// assert_eq!(tools[0].name, "hello");
/// let result = client
///     .call_tool(secure_tool::rmcp::model::CallToolRequestParams::new("hello"))
///     .await
///     .unwrap();
/// assert_eq!(result.structured_content.unwrap()["text"], "hello");
/// # }
/// ```
pub async fn client<S: ServerHandler>(server: SecureServer<S>) -> RunningService<RoleClient, ()> {
    let (server_io, client_io) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve_trusted(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(client_io)
        .await
        .expect("the in-process MCP handshake succeeds")
}

// ---------------------------------------------------------------------------------------
// The fail-closed audit

/// The authorization deadline the audit gives each call: short, so that the hanging and
/// late policies are decided quickly even in real time.
pub const AUDIT_AUTHZ_TIMEOUT: Duration = Duration::from_millis(100);

/// One call of the audit that was not a clean denial.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// The tool.
    pub tool: String,
    /// How its policy failed.
    pub fault: PolicyFault,
    /// Whether the handler ran (fail-open).
    pub reached_handler: bool,
    /// What the caller got instead of the generic denial.
    pub answer: String,
}

/// What [`audit`] found.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct AuditReport {
    calls: usize,
    findings: Vec<Finding>,
    unguarded: Vec<String>,
}

impl AuditReport {
    /// How many calls the audit made (tools × faults × argument shapes).
    pub fn calls(&self) -> usize {
        self.calls
    }

    /// The calls that reached a handler or were not answered with the generic denial.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Plain rmcp tools served without a guard: the audit cannot vouch for them.
    pub fn unguarded_tools(&self) -> &[String] {
        &self.unguarded
    }

    /// How many calls reached a handler (must be 0).
    pub fn handler_runs(&self) -> usize {
        self.findings.iter().filter(|f| f.reached_handler).count()
    }

    /// Panics, listing every finding, unless every call was denied without running its
    /// handler. Unguarded tools are listed but do not fail the assertion: they are an
    /// explicit, logged decision (see `SecureToolRouter::with_unguarded_tools`).
    ///
    /// # Panics
    ///
    /// On any finding.
    pub fn assert_fail_closed(&self) {
        assert!(
            self.calls > 0,
            "the audit made no call: the server has no tool"
        );
        assert!(self.findings.is_empty(), "fail-open tools:\n{self}");
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} calls, {} reached a handler, {} were not a clean denial",
            self.calls,
            self.handler_runs(),
            self.findings.len()
        )?;
        for finding in &self.findings {
            writeln!(
                f,
                "  {} with a policy that fails ({}): {}{}",
                finding.tool,
                finding.fault,
                if finding.reached_handler {
                    "the handler RAN; "
                } else {
                    ""
                },
                finding.answer
            )?;
        }
        if !self.unguarded.is_empty() {
            writeln!(
                f,
                "  not audited (unguarded): {}",
                self.unguarded.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Calls every secure tool of `server` with every [`PolicyFault`] in place of its policy,
/// as a caller who holds every scope and role the real policy names, with no arguments and
/// with an empty object; and reports every call that reached its handler or was answered
/// anything but the generic denial. Each policy gets [`AUDIT_AUTHZ_TIMEOUT`]; under
/// `#[tokio::test(start_paused = true)]` the whole audit takes no real time.
///
/// One line in a test suite: `secure_tool::testing::audit(&server).await.assert_fail_closed()`.
pub async fn audit<S: Send + Sync + 'static>(server: &SecureServer<S>) -> AuditReport {
    let late = AUDIT_AUTHZ_TIMEOUT * 10;
    let mut report = AuditReport {
        unguarded: server.tools().unguarded_tool_names(),
        ..AuditReport::default()
    };
    for route in server.tools().routes() {
        let policy = route.spec().policy();
        let caller = crate::authz::Principal::new("audit")
            .with_scopes(policy.scopes())
            .with_roles(policy.roles());
        for fault in PolicyFault::ALL {
            let failing = failing_policy(fault, late);
            for arguments in [None, Some(serde_json::Map::new())] {
                let reached = AtomicUsize::new(0);
                let result = server
                    .call_probed(
                        route,
                        arguments,
                        caller.clone(),
                        (&failing, AUDIT_AUTHZ_TIMEOUT, &reached),
                    )
                    .await;
                report.calls += 1;
                let reached_handler = reached.load(Ordering::SeqCst) > 0;
                if reached_handler || !is_generic_denial(&result) {
                    report.findings.push(Finding {
                        tool: route.spec().name().to_owned(),
                        fault,
                        reached_handler,
                        answer: describe(&result),
                    });
                }
            }
        }
    }
    report
}

/// Whether `result` is the one answer a denied caller gets.
fn is_generic_denial(result: &CallToolResult) -> bool {
    // The denial carries no `structuredContent`: a client that listed the tools would
    // validate it against the tool's output schema, and reject the whole answer.
    result.structured_content.is_none()
        && crate::sanitize::error_facts(result).and_then(|facts| facts["category"].as_str())
            == Some(crate::ErrorCategory::Denied.as_str())
}

fn describe(result: &CallToolResult) -> String {
    serde_json::to_string(result).unwrap_or_else(|_| "an unprintable result".to_owned())
}

#[cfg(test)]
mod tests;
