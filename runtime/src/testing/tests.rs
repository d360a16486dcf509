//! The audit must pass a server whose tools are all guarded, and must catch one that is not.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::{CallToolResult, ContentBlock};

use super::*;
use crate::authz::{Decision, Mode, scopes};
use crate::health::{HealthMonitor, ServicePath, Status};
use crate::prelude::*;
use crate::route::{
    ArgumentsType, ErrorType, NoArguments, OutputType, SecureRoute, ToolSpec, ToolTypes,
};

#[derive(Clone, Default)]
struct Notes {
    runs: Arc<AtomicUsize>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Id {
    id: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Note {
    id: u64,
}

#[secure_tool_router]
impl Notes {
    /// Public.
    #[secure_tool(authz = public, mode = read)]
    async fn ping(&self) -> Result<Note, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Note { id: 0 })
    }

    /// Reads.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn get_note(&self, args: Id) -> Result<Note, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Note { id: args.id })
    }

    /// Writes.
    #[secure_tool(authz = any_of([roles("admin"), scopes("notes:write")]), mode = write)]
    async fn delete_note(&self, args: Id, _access: WriteAccess<'_>) -> Result<Note, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Note { id: args.id })
    }
}

impl rmcp::ServerHandler for Notes {}

#[tokio::test(start_paused = true)]
async fn every_fault_of_every_policy_denies_without_running_a_handler() {
    let notes = Notes::default();
    let report = check_fail_closed(&SecureServer::new(notes.clone())).await;
    report.assert_fail_closed();
    assert_eq!(report.calls(), 3 * PolicyFault::ALL.len() * 2);
    assert_eq!(report.handler_runs(), 0);
    assert_eq!(notes.runs.load(Ordering::SeqCst), 0);
    assert!(report.unguarded_tools().is_empty());
    // Without the faults, the same callers would have been let in: the denials are the
    // faults' doing, not the caller's.
    let server = SecureServer::new(notes.clone());
    let caller = Principal::new("audit").with_scopes(["notes:read"]);
    let args = serde_json::json!({"id": 1}).as_object().cloned();
    let ok = server.call("get_note", args, caller).await.unwrap();
    assert_eq!(ok.is_error, Some(false));
}

#[tokio::test(start_paused = true)]
async fn faults_deny_write_tools_too_while_writes_are_degraded() {
    let monitor = HealthMonitor::builder().build();
    monitor.force(ServicePath::Writes, Some(Status::Degraded));
    let notes = Notes::default();
    let server = SecureServer::builder(notes.clone()).health(monitor).build();
    let report = check_fail_closed(&server).await;
    // A denied caller learns nothing, not even that writes are degraded.
    report.assert_fail_closed();
    assert_eq!(notes.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn the_audit_catches_a_route_that_ignores_its_policy() {
    // A route that answers without asking its policy: what a bypass would look like from
    // outside. Only the crate itself can build one (`SecureRoute::read` and `write` always
    // wrap the guarded call).
    let spec = ToolSpec::new("leaky", Mode::Read, scopes("secrets:read"))
        .with_description("Answers whoever asks.");
    let types = ToolTypes::new(
        ArgumentsType::<NoArguments>::new(),
        OutputType::<Note>::new(),
        ErrorType::<ToolError>::new(),
    );
    let leaky = crate::route::route_fn(|_invocation| -> crate::route::BoxFuture<'_, _> {
        Box::pin(async {
            CallToolResult::success(vec![ContentBlock::text("the launch codes")]).into()
        })
    });
    let route = SecureRoute::build(spec, types, leaky);
    let router = crate::SecureToolRouter::<Notes>::new().with_route(route);
    let server = crate::SecureServerBuilder::with_router(Notes::default(), router).build();
    let report = check_fail_closed(&server).await;
    assert_eq!(report.findings().len(), PolicyFault::ALL.len() * 2);
    let finding = &report.findings()[0];
    assert_eq!(finding.tool, "leaky");
    assert!(finding.answer.contains("the launch codes"));
    let printed = report.to_string();
    assert!(
        printed.contains("leaky with a policy that fails (error)"),
        "{printed}"
    );
    let caught = std::panic::catch_unwind(|| report.assert_fail_closed());
    assert!(caught.is_err());
}

#[tokio::test(start_paused = true)]
async fn failing_policies_fail_as_told() {
    use crate::authz::{AccessRequest, DenialCause};
    let ada = Principal::new("ada");
    let deadline = Duration::from_secs(1);
    let mut causes = Vec::new();
    for fault in PolicyFault::ALL {
        let policy = failing_policy(fault, Duration::from_secs(5));
        let verdict = policy
            .evaluate(AccessRequest::new("t", Mode::Read, &ada), deadline)
            .await;
        causes.push(verdict.unwrap_err());
    }
    assert!(matches!(causes[0], DenialCause::PolicyError(_)));
    assert!(matches!(causes[1], DenialCause::PolicyPanicked(_)));
    assert!(matches!(causes[2], DenialCause::PolicyPanicked(_)));
    assert_eq!(causes[3], DenialCause::DeadlineExceeded(deadline));
    assert_eq!(causes[4], DenialCause::DeadlineExceeded(deadline));
    assert_eq!(causes[5], DenialCause::Denied);
    assert_eq!(causes[6], DenialCause::Abstained);
    assert_eq!(
        causes[7],
        DenialCause::LateAnswer {
            deadline,
            elapsed: Duration::from_secs(5)
        }
    );
    assert_eq!(causes[8], DenialCause::EmptyRequirement);
}

/// The blocking fault is one that a deadline's timer alone lets through: the thread is
/// held, so the timer cannot fire, and the allow arrives "in time" as far as the timer
/// knows. Only a guard that reads the clock after the answer denies it.
#[tokio::test(start_paused = true)]
async fn a_timer_alone_lets_the_blocking_fault_through() {
    use crate::authz::{AccessRequest, DenialCause};
    let ada = Principal::new("ada");
    let request = AccessRequest::new("t", Mode::Read, &ada);
    let deadline = Duration::from_millis(100);
    let blocking = FailingPolicy {
        fault: PolicyFault::BlockingAllow,
        late: Duration::from_millis(300),
    };
    let start = tokio::time::Instant::now();
    let timer_only = tokio::time::timeout(deadline, blocking.authorize(request)).await;
    assert!(matches!(timer_only, Ok(Ok(Decision::Allow))));
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    let verdict = failing_policy(PolicyFault::BlockingAllow, Duration::from_millis(300))
        .evaluate(request, deadline)
        .await;
    assert!(
        matches!(verdict, Err(DenialCause::LateAnswer { .. })),
        "{verdict:?}"
    );
}

#[derive(Clone, Default)]
struct Configured {
    runs: Arc<AtomicUsize>,
}

/// Scopes read from a configuration that came back empty.
fn configured_scopes() -> Vec<String> {
    Vec::new()
}

#[secure_tool_router]
impl Configured {
    /// Reads, as the configuration says.
    #[secure_tool(authz = scopes(configured_scopes()), mode = read)]
    async fn read_configured(&self) -> Result<Note, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Note { id: 0 })
    }

    /// Writes, as an administrator.
    #[secure_tool(authz = crate::authz::roles("admin"), mode = write)]
    async fn write_admin(&self) -> Result<Note, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Note { id: 0 })
    }
}

impl rmcp::ServerHandler for Configured {}

#[tokio::test(start_paused = true)]
async fn the_audit_reports_a_tool_whose_requirement_is_empty() {
    let configured = Configured::default();
    let report = check_fail_closed(&SecureServer::new(configured.clone())).await;
    // Every fault still denies; the finding is the empty requirement itself.
    assert_eq!(report.handler_runs(), 0);
    assert_eq!(configured.runs.load(Ordering::SeqCst), 0);
    assert_eq!(report.findings().len(), 1, "{report}");
    let finding = &report.findings()[0];
    assert_eq!(finding.tool, "read_configured");
    assert_eq!(finding.fault, PolicyFault::EmptyRequirement);
    assert!(!finding.reached_handler);
    assert!(
        finding
            .answer
            .contains("(deny: empty scope list) has an empty requirement (empty scope list)"),
        "{}",
        finding.answer
    );
    let printed = report.to_string();
    assert!(
        printed.contains("read_configured with a policy that fails (empty_requirement)"),
        "{printed}"
    );
    let caught = std::panic::catch_unwind(|| report.assert_fail_closed());
    assert!(caught.is_err(), "the audit passed a tool nobody can call");
}

#[tokio::test(start_paused = true)]
async fn a_faulty_dependency_slows_hangs_and_panics_on_command() {
    let db = FaultyDependency::new("db");
    db.set(DependencyFault::Slow(Duration::from_secs(3)));
    let start = tokio::time::Instant::now();
    db.inject().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    db.set(DependencyFault::Hang);
    let hung = tokio::time::timeout(Duration::from_secs(60), db.inject()).await;
    assert!(hung.is_err());
    db.set(DependencyFault::Panic);
    let clone = db.clone();
    let panicked = tokio::spawn(async move { clone.inject().await }).await;
    assert!(panicked.unwrap_err().is_panic());
    db.set(DependencyFault::Healthy);
    db.inject().await.unwrap();
    assert_eq!(db.calls(), 4);
}

mod outputs {
    use crate::prelude::*;
    use crate::testing::check_outputs;

    #[derive(Clone)]
    struct Shapes;

    #[derive(serde::Serialize, schemars::JsonSchema)]
    struct Count {
        notes: u32,
    }

    /// Its schema says `notes` is a number; its serializer writes a string.
    #[derive(schemars::JsonSchema)]
    struct Drifted {
        notes: u32,
    }
    impl serde::Serialize for Drifted {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeStruct;
            let mut out = s.serialize_struct("Drifted", 1)?;
            out.serialize_field("notes", &self.notes.to_string())?;
            out.end()
        }
    }

    #[secure_tool_router]
    impl Shapes {
        /// Counts, as its schema says.
        #[secure_tool(authz = public, mode = read)]
        async fn count(&self) -> Result<Count, ToolError> {
            Ok(Count { notes: 3 })
        }

        /// Counts, in a shape its schema does not allow.
        #[secure_tool(authz = public, mode = read)]
        async fn drifted(&self) -> Result<Drifted, ToolError> {
            Ok(Drifted { notes: 3 })
        }

        /// Never sampled.
        #[secure_tool(authz = public, mode = read)]
        async fn forgotten(&self) -> Result<Count, ToolError> {
            Ok(Count { notes: 0 })
        }

        /// Has no output schema (a string): nothing to check.
        #[secure_tool(authz = public, mode = read)]
        async fn hello(&self) -> Result<String, ToolError> {
            Ok("hello".into())
        }
    }
    impl rmcp::ServerHandler for Shapes {}

    #[tokio::test]
    async fn the_output_check_finds_drift_and_tools_left_unchecked() {
        let server = SecureServer::new(Shapes);
        let anyone = Principal::anonymous();
        let empty = serde_json::json!({});
        let samples = [
            ("count", empty.clone()),
            ("drifted", empty.clone()),
            ("hello", empty),
        ];
        let report = check_outputs(&server, &anyone, samples).await;
        assert_eq!(report.conforming(), ["count"]);
        assert_eq!(report.violations().len(), 1, "{report}");
        assert_eq!(report.violations()[0].0, "drifted");
        assert!(report.violations()[0].1.contains("/notes"), "{report}");
        assert_eq!(report.unchecked(), ["forgotten"]);
        let caught = std::panic::catch_unwind(|| report.assert_conforming());
        assert!(caught.is_err(), "the check passed a drifted output");

        let good = [
            ("count", serde_json::json!({})),
            ("forgotten", serde_json::json!({})),
        ];
        let report = check_outputs(&server, &anyone, good).await;
        assert_eq!(report.conforming(), ["count", "forgotten"]);
        assert!(report.violations().is_empty(), "{report}");
        // The drifted tool was not sampled: it is reported, and the assertion fails.
        assert_eq!(report.unchecked(), ["drifted"]);
        assert!(std::panic::catch_unwind(|| report.assert_conforming()).is_err());
    }

    #[tokio::test]
    async fn a_server_that_checks_outputs_answers_drift_as_an_internal_error() {
        let log = crate::test_log::Log::default();
        let _default = crate::test_log::set_default(log.subscriber());
        let server = SecureServer::builder(Shapes).check_outputs(true).build();
        let anyone = Principal::anonymous();

        let drifted = server.call("drifted", None, anyone.clone()).await.unwrap();
        let facts = crate::sanitize::error_facts(&drifted).unwrap();
        assert_eq!(facts["category"], "internal");
        assert!(drifted.structured_content.is_none());
        let wire = serde_json::to_string(&drifted).unwrap();
        assert!(
            !wire.contains("\"3\""),
            "the drifted output reached the caller: {wire}"
        );
        // The operator reads what drifted, under the incident id the caller got.
        let incident = facts["incident_id"].as_str().unwrap();
        let text = log.text();
        let event = text.lines().find(|line| line.contains(incident)).unwrap();
        assert!(
            event.contains("output schema") && event.contains("/notes"),
            "{event}"
        );

        // Conforming outputs go through unchanged.
        let count = server.call("count", None, anyone).await.unwrap();
        assert_eq!(count.structured_content.unwrap()["notes"], 3);
    }
}

/// Resources and prompts: every fault of their policies is answered as a missing
/// resource or prompt, and no handler runs.
mod surfaces {
    use super::*;
    use crate::prompt::{PromptReply, PromptRoute, PromptSpec};
    use crate::resource::ResourceBody;

    #[derive(Clone, Default)]
    struct Library {
        runs: Arc<AtomicUsize>,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoteUri {
        id: u64,
    }

    #[secure_tool_router]
    impl Library {
        /// One note.
        #[secure_resource(
            uri = "notes://{id}",
            authz = scopes("notes:read"),
            complete(id = Self::note_ids)
        )]
        async fn note(&self, uri: NoteUri) -> Result<ResourceBody, ToolError> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            Ok(ResourceBody::text(uri.id.to_string()))
        }

        async fn note_ids(
            &self,
            _: crate::completion::CompletionRequest,
        ) -> Result<Vec<String>, ToolError> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            Ok(vec!["1".to_owned()])
        }

        /// About.
        #[secure_resource(uri = "docs://about", authz = public)]
        async fn about(&self) -> Result<ResourceBody, ToolError> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            Ok(ResourceBody::text("about"))
        }
    }

    impl rmcp::ServerHandler for Library {}

    async fn greet(
        library: &Library,
        _: NoArguments,
        _: crate::context::Grant<'_>,
    ) -> Result<PromptReply, ToolError> {
        library.runs.fetch_add(1, Ordering::SeqCst);
        Ok(PromptReply::new().user("hello"))
    }

    #[tokio::test(start_paused = true)]
    async fn every_fault_of_a_resource_or_prompt_policy_answers_not_found_without_running() {
        let library = Library::default();
        let router = Library::secure_tool_router().with_prompt(PromptRoute::new(
            PromptSpec::new("greet", roles("staff")),
            ArgumentsType::new(),
            ErrorType::new(),
            greet,
        ));
        let server = crate::SecureServerBuilder::with_router(library.clone(), router).build();
        let report = check_fail_closed(&server).await;
        report.assert_fail_closed();
        // Two resources, a prompt and a completer.
        assert_eq!(report.calls(), 4 * PolicyFault::ALL.len());
        assert_eq!(library.runs.load(Ordering::SeqCst), 0);
        // The same callers without the faults are let in.
        let reader = Principal::new("audit").with_scopes(["notes:read"]);
        assert!(server.read_resource("notes://1", reader).await.is_ok());
        let staff = Principal::new("audit").with_roles(["staff"]);
        assert!(server.get_prompt("greet", None, staff).await.is_ok());
        let reader = Principal::new("audit").with_scopes(["notes:read"]);
        let completed = server
            .complete(
                &rmcp::model::Reference::for_resource("notes://{id}"),
                crate::completion::CompletionRequest::new("id", ""),
                reader,
            )
            .await
            .unwrap();
        assert_eq!(completed.values, ["1"]);
    }
}
