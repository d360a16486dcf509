//! What users need to test their own secure tools (feature `testing`): policies that fail
//! in every way a policy can, a dependency that fails on command, a fake clock, an
//! in-process client, and [`check_fail_closed`], which proves in one line of a test suite that none of
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
//! let report = secure_tool::testing::check_fail_closed(&SecureServer::new(Notes)).await;
//! report.assert_fail_closed();
//! assert_eq!(report.calls(), 18); // nine ways for its policy to fail, two argument shapes
//! assert_eq!(report.handler_runs(), 0);
//! # }
//! ```

use std::fmt;
use std::future::Future as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::CallToolResult;
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServerHandler, ServiceExt};

use crate::authz::{AccessRequest, Authorize, Decision, Policy, PolicyError, PolicyFuture};
use crate::server::SecureServer;

mod outputs;

pub use outputs::{OutputReport, check_outputs};

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
    /// The policy holds its thread (a synchronous LDAP or HTTP client) for longer than the
    /// authorization deadline, then answers `Allow`: the deadline's timer never got a
    /// chance to fire, and only the clock can tell that the answer is late (see
    /// [`block_thread`]).
    BlockingAllow,
    /// The policy requires an empty list of scopes or roles, or a blank name (a list read
    /// from configuration that came back empty): a requirement nobody meets must not mean
    /// "anyone".
    EmptyRequirement,
    /// A tool's Cedar part decided by a policy set in which no policy applies to it.
    #[cfg(feature = "cedar")]
    CedarNoPermit,
    /// A tool's Cedar part decided by a set where a `forbid` applies beside a `permit`.
    #[cfg(feature = "cedar")]
    CedarForbid,
    /// A tool's Cedar part decided by a set whose only `permit` errs when evaluated (an
    /// arithmetic overflow).
    #[cfg(feature = "cedar")]
    CedarError,
    /// A tool whose Cedar part names its resource by an argument, called without it (no
    /// entity), by a set that permits everything.
    #[cfg(feature = "cedar")]
    CedarMissingEntity,
}

impl PolicyFault {
    /// Every fault, in a fixed order.
    pub const ALL: [PolicyFault; 9] = [
        PolicyFault::Error,
        PolicyFault::Panic,
        PolicyFault::PanicOnCall,
        PolicyFault::Hang,
        PolicyFault::LateAllow,
        PolicyFault::Deny,
        PolicyFault::Odd,
        PolicyFault::BlockingAllow,
        PolicyFault::EmptyRequirement,
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
            PolicyFault::BlockingAllow => "blocking_allow",
            PolicyFault::EmptyRequirement => "empty_requirement",
            #[cfg(feature = "cedar")]
            PolicyFault::CedarNoPermit => "cedar_no_permit",
            #[cfg(feature = "cedar")]
            PolicyFault::CedarForbid => "cedar_forbid",
            #[cfg(feature = "cedar")]
            PolicyFault::CedarError => "cedar_error",
            #[cfg(feature = "cedar")]
            PolicyFault::CedarMissingEntity => "cedar_missing_entity",
        }
    }
}

impl fmt::Display for PolicyFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy that fails in the given way; `late` is how long [`PolicyFault::LateAllow`]
/// waits and [`PolicyFault::BlockingAllow`] holds its thread before they allow (make it
/// longer than the authorization deadline). Every fault but
/// [`PolicyFault::EmptyRequirement`] is a [`custom`](crate::authz::custom) policy; that one
/// is made of built-in parts whose requirement is empty (`scopes(Vec::new())`,
/// `roles(Vec::new())`, `scopes("")`, `roles(" ")`), any one of which would let a caller in
/// if an empty requirement meant "anyone".
///
/// ```
/// use std::time::Duration;
/// use secure_tool::authz::{AccessRequest, DenialCause, Mode, Principal};
/// use secure_tool::testing::{failing_policy, PolicyFault};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let ada = Principal::new("ada");
/// let request = AccessRequest::new("t", Mode::Read, &ada);
/// let deadline = Duration::from_secs(2);
/// let policy = failing_policy(PolicyFault::LateAllow, Duration::from_secs(5));
/// let verdict = policy.evaluate(request, deadline).await;
/// assert_eq!(verdict, Err(DenialCause::DeadlineExceeded(deadline)));
///
/// // Held its thread for 5 s, then allowed: the answer came too late.
/// let policy = failing_policy(PolicyFault::BlockingAllow, Duration::from_secs(5));
/// let verdict = policy.evaluate(request, deadline).await;
/// assert!(matches!(verdict, Err(DenialCause::LateAnswer { .. })), "{verdict:?}");
///
/// let policy = failing_policy(PolicyFault::EmptyRequirement, Duration::ZERO);
/// let verdict = policy.evaluate(request, deadline).await;
/// assert_eq!(verdict, Err(DenialCause::EmptyRequirement));
/// # }
/// ```
pub fn failing_policy(fault: PolicyFault, late: Duration) -> Policy {
    use crate::authz::{any_of, custom, roles, scopes};
    match fault {
        PolicyFault::EmptyRequirement => any_of([
            scopes(Vec::<String>::new()),
            roles(Vec::<String>::new()),
            scopes(""),
            roles(" "),
        ]),
        // Outside a server, a Cedar part has no policy set: it denies.
        #[cfg(feature = "cedar")]
        PolicyFault::CedarNoPermit
        | PolicyFault::CedarForbid
        | PolicyFault::CedarError
        | PolicyFault::CedarMissingEntity => crate::cedar::cedar().into(),
        _ => custom(FailingPolicy { fault, late }),
    }
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
            PolicyFault::BlockingAllow => Box::pin(async move {
                block_thread(late);
                Ok(Decision::Allow)
            }),
            // Made of built-in or Cedar parts by `failing_policy`: never asked here.
            _ => Box::pin(async { Ok(Decision::Deny) }),
        }
    }

    fn describe(&self) -> String {
        format!("failing policy ({})", self.fault)
    }
}

/// Holds the current thread for `duration` without yielding to the runtime, as a
/// synchronous client (an LDAP bind, a blocking HTTP request) called inside an async policy
/// or handler does: nothing else runs on that worker meanwhile, and no timer fires.
///
/// In real time it sleeps the thread. Under tokio's paused time
/// (`#[tokio::test(start_paused = true)]`), where a sleeping thread would not move the
/// clock, it moves tokio's clock forward by `duration` instead, still without yielding:
/// the test takes no real time, and code that reads the clock afterwards sees the time
/// gone by, as it would in production.
///
/// # Panics
///
/// Under paused time, if tokio's clock did not move (a tokio that changed how
/// `tokio::time::advance` works): better loud than a test that proves nothing.
///
/// ```
/// use std::time::Duration;
/// use secure_tool::testing::block_thread;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let start = tokio::time::Instant::now();
/// let timer = tokio::time::sleep(Duration::from_millis(50));
/// block_thread(Duration::from_secs(3));
/// assert!(start.elapsed() >= Duration::from_secs(3));
/// timer.await; // the timer is long due, but it could not fire while the thread was held
/// # }
/// ```
pub fn block_thread(duration: Duration) {
    if !clock_is_paused() {
        std::thread::sleep(duration);
        return;
    }
    let before = tokio::time::Instant::now();
    // `advance` moves the clock when first polled, then yields: poll it once and leave the
    // yield undone, as a blocked thread does not yield.
    let mut advance = std::pin::pin!(tokio::time::advance(duration));
    let _ = advance
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
    assert!(
        before.elapsed() >= duration,
        "tokio's paused clock did not move: `block_thread` cannot simulate a blocked thread"
    );
}

/// Whether tokio's clock is paused: it does not move while real time does. (Only a
/// current-thread runtime can be paused, so nothing else can move it meanwhile.)
fn clock_is_paused() -> bool {
    let clock = tokio::time::Instant::now();
    let real = std::time::Instant::now();
    while real.elapsed() < Duration::from_micros(10) {
        std::hint::spin_loop();
    }
    tokio::time::Instant::now() == clock
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
    /// The tool; for a resource `resource:<name>`, for a prompt `prompt:<name>`.
    pub tool: String,
    /// How its policy failed.
    pub fault: PolicyFault,
    /// Whether the handler ran (fail-open).
    pub reached_handler: bool,
    /// What the caller got instead of the generic denial; for an empty requirement found in
    /// the tool's own policy, what is wrong with it.
    pub answer: String,
}

/// What [`check_fail_closed`] found.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct FailClosedReport {
    calls: usize,
    findings: Vec<Finding>,
    unguarded: Vec<String>,
}

impl FailClosedReport {
    /// How many calls the audit made (tools × faults × argument shapes).
    pub fn calls(&self) -> usize {
        self.calls
    }

    /// The calls that reached a handler or were not answered with the generic denial, and
    /// the tools whose own policy has an empty requirement.
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

impl fmt::Display for FailClosedReport {
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
/// `#[tokio::test(start_paused = true)]` the whole audit takes no real time (the policy
/// that holds its thread moves the paused clock instead, see [`block_thread`]; in real
/// time it holds the thread for twice the deadline).
///
/// It also reads each tool's own policy, and reports a part whose requirement is empty
/// ([`Policy::empty_requirements`]: no scope or role, a blank name, an empty `all_of` or
/// `any_of`) as a finding of the fault [`PolicyFault::EmptyRequirement`]: such a tool
/// denies every caller, so nobody can use it, and the list behind it was most likely read
/// from a configuration that came back empty.
///
/// One line in a test suite: `secure_tool::testing::check_fail_closed(&server).await.assert_fail_closed()`.
pub async fn check_fail_closed<S: Send + Sync + 'static>(
    server: &SecureServer<S>,
) -> FailClosedReport {
    let late = AUDIT_AUTHZ_TIMEOUT * 2;
    let mut report = FailClosedReport {
        unguarded: server.tools().unguarded_tool_names(),
        ..FailClosedReport::default()
    };
    for route in server.tools().routes() {
        let policy = route.spec().policy();
        let empty = policy.empty_requirements();
        if !empty.is_empty() {
            report.findings.push(Finding {
                tool: route.spec().name().to_owned(),
                fault: PolicyFault::EmptyRequirement,
                reached_handler: false,
                answer: format!(
                    "its own policy ({policy}) has an empty requirement ({}): it denies \
                     every caller; was its list read from a configuration that came back empty?",
                    empty.join(", ")
                ),
            });
        }
        let caller = crate::authz::Principal::new("audit")
            .with_scopes(policy.scopes())
            .with_roles(policy.roles());
        for fault in PolicyFault::ALL {
            let failing = failing_policy(fault, late);
            probe_tool(server, route, &caller, (&failing, fault), &mut report).await;
        }
    }
    #[cfg(feature = "cedar")]
    probe_cedar(server, &mut report).await;
    probe_resources_and_prompts(server, &mut report, late).await;
    probe_completions(server, &mut report, late).await;
    report
}

/// Calls `route` as `caller` with `probe.0` in place of its policy (failing as `probe.1`
/// says), with no arguments and with an empty object; records each call that reached the
/// handler or was answered anything but the generic denial.
async fn probe_tool<S: Send + Sync + 'static>(
    server: &SecureServer<S>,
    route: &crate::route::SecureRoute<S>,
    caller: &crate::authz::Principal,
    probe: (&Policy, PolicyFault),
    report: &mut FailClosedReport,
) {
    let (policy, fault) = probe;
    for arguments in [None, Some(serde_json::Map::new())] {
        let reached = AtomicUsize::new(0);
        let result = server
            .call_probed(
                route,
                arguments,
                caller.clone(),
                (policy, AUDIT_AUTHZ_TIMEOUT, &reached),
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

/// The fail-closed check of every tool decided by Cedar: its Cedar part decided by sets
/// that must deny ([`PolicyFault::CedarNoPermit`], [`PolicyFault::CedarForbid`],
/// [`PolicyFault::CedarError`], and [`PolicyFault::CedarMissingEntity`] for a tool that
/// names its resource), validated against the server's own schema, for a caller who holds
/// every scope and role its policy names.
#[cfg(feature = "cedar")]
async fn probe_cedar<S: Send + Sync + 'static>(
    server: &SecureServer<S>,
    report: &mut FailClosedReport,
) {
    const SETS: [(PolicyFault, &str); 4] = [
        (
            PolicyFault::CedarNoPermit,
            "permit(principal, action, resource) when { false };",
        ),
        (
            PolicyFault::CedarForbid,
            "permit(principal, action, resource);\nforbid(principal, action, resource);",
        ),
        (
            PolicyFault::CedarError,
            "permit(principal, action, resource) when { 9223372036854775807 + 1 > 0 };",
        ),
        (
            PolicyFault::CedarMissingEntity,
            "permit(principal, action, resource);",
        ),
    ];
    for route in server.tools().routes() {
        let policy = route.spec().policy();
        let Some(rule) = policy.cedar_rules().into_iter().next() else {
            continue;
        };
        let caller = crate::authz::Principal::new("audit")
            .with_scopes(policy.scopes())
            .with_roles(policy.roles());
        for (fault, text) in SETS {
            if fault == PolicyFault::CedarMissingEntity && !rule.names_its_resource() {
                continue;
            }
            let Some(probe) = crate::cedar::probe(rule, text) else {
                continue;
            };
            probe_tool(server, route, &caller, (&probe, fault), report).await;
        }
    }
}

/// The fail-closed check of every resource and prompt: each read or get with a failing
/// policy must be answered as one of a resource or prompt that does not exist, and each
/// completion of one of their parameters with no suggestions, without reaching the
/// handler or the completer. Findings name them `resource:<name>`, `prompt:<name>` and
/// `completion:<name>.<parameter>`.
async fn probe_resources_and_prompts<S: Send + Sync + 'static>(
    server: &SecureServer<S>,
    report: &mut FailClosedReport,
    late: std::time::Duration,
) {
    let tools = server.tools();
    for route in tools.resources() {
        let spec = route.spec();
        // Any value will do: authorization comes before the variables are looked at.
        let uri = spec
            .uri()
            .variables()
            .fold(spec.uri().as_str().to_owned(), |uri, variable| {
                uri.replace(&format!("{{{variable}}}"), "1")
            });
        let caller = crate::authz::Principal::new("audit")
            .with_scopes(spec.policy().scopes())
            .with_roles(spec.policy().roles());
        for fault in PolicyFault::ALL {
            let failing = failing_policy(fault, late);
            let reached = AtomicUsize::new(0);
            let answer = server
                .read_probed(route, &uri, caller.clone(), probe(&failing, &reached))
                .await;
            report.calls += 1;
            let expected = crate::resource::read::resource_not_found();
            record(
                report,
                format!("resource:{}", spec.name()),
                fault,
                &reached,
                answer,
                &expected,
            );
        }
    }
    for route in tools.prompts() {
        let spec = route.spec();
        let caller = crate::authz::Principal::new("audit")
            .with_scopes(spec.policy().scopes())
            .with_roles(spec.policy().roles());
        for fault in PolicyFault::ALL {
            let failing = failing_policy(fault, late);
            let reached = AtomicUsize::new(0);
            let answer = server
                .get_probed(route, caller.clone(), probe(&failing, &reached))
                .await;
            report.calls += 1;
            let expected = crate::prompt::prompt_not_found();
            record(
                report,
                format!("prompt:{}", spec.name()),
                fault,
                &reached,
                answer,
                &expected,
            );
        }
    }
}

/// Each completer of each resource template and prompt, with each fault in place of the
/// policy of what it completes: no suggestions, and the completer does not run.
async fn probe_completions<S: Send + Sync + 'static>(
    server: &SecureServer<S>,
    report: &mut FailClosedReport,
    late: std::time::Duration,
) {
    use rmcp::model::Reference;
    let tools = server.tools();
    let mut targets = Vec::new();
    for route in tools.resources() {
        let spec = route.spec();
        for (parameter, _) in &route.guard.completions {
            let reference = Reference::for_resource(spec.uri().as_str());
            targets.push((
                reference,
                spec.name().to_owned(),
                parameter.clone(),
                spec.policy(),
            ));
        }
    }
    for route in tools.prompts() {
        let spec = route.spec();
        for (parameter, _) in &route.guard.completions {
            let reference = Reference::for_prompt(spec.name());
            targets.push((
                reference,
                spec.name().to_owned(),
                parameter.clone(),
                spec.policy(),
            ));
        }
    }
    for (reference, name, parameter, policy) in targets {
        let caller = crate::authz::Principal::new("audit")
            .with_scopes(policy.scopes())
            .with_roles(policy.roles());
        for fault in PolicyFault::ALL {
            let failing = failing_policy(fault, late);
            let reached = AtomicUsize::new(0);
            let request = crate::completion::CompletionRequest::new(parameter.clone(), "");
            let answer = server
                .complete_probed(
                    &reference,
                    request,
                    caller.clone(),
                    probe(&failing, &reached),
                )
                .await;
            report.calls += 1;
            let reached_handler = reached.load(Ordering::SeqCst) > 0;
            let empty = answer
                .as_ref()
                .is_ok_and(|info| *info == crate::completion::no_suggestions());
            if reached_handler || !empty {
                report.findings.push(Finding {
                    tool: format!("completion:{name}.{parameter}"),
                    fault,
                    reached_handler,
                    answer: match &answer {
                        Ok(info) => serde_json::to_string(info),
                        Err(error) => serde_json::to_string(error),
                    }
                    .unwrap_or_else(|_| "an unprintable answer".to_owned()),
                });
            }
        }
    }
}

fn probe<'a>(policy: &'a Policy, reached: &'a AtomicUsize) -> crate::guard::Probe<'a> {
    crate::guard::Probe {
        policy: Some(policy),
        authz_timeout: AUDIT_AUTHZ_TIMEOUT,
        reached: Some(reached),
    }
}

/// A finding unless `answer` is `expected` and the handler did not run.
fn record<T: serde::Serialize>(
    report: &mut FailClosedReport,
    name: String,
    fault: PolicyFault,
    reached: &AtomicUsize,
    answer: Result<T, rmcp::ErrorData>,
    expected: &rmcp::ErrorData,
) {
    let reached_handler = reached.load(Ordering::SeqCst) > 0;
    let denied = answer.as_ref().err() == Some(expected);
    if reached_handler || !denied {
        let answer = match &answer {
            Ok(value) => serde_json::to_string(value),
            Err(error) => serde_json::to_string(error),
        };
        report.findings.push(Finding {
            tool: name,
            fault,
            reached_handler,
            answer: answer.unwrap_or_else(|_| "an unprintable answer".to_owned()),
        });
    }
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
