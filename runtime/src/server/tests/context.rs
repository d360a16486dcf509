//! The call's context, through an rmcp client: progress notifications echo the request's
//! token, log messages follow the session's level, elicitation and sampling reach the
//! client, and a call without a session (in process) gets a context that sends nothing.
//! Confirmation and the 2026-07-28 rounds of a call are in `context/confirm.rs`.

#![allow(deprecated)] // Logging and sampling are part of the 2025-11-25 protocol.

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientInfo, ClientRequest,
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
    ElicitationAction, Implementation, LoggingLevel, LoggingMessageNotificationParam,
    NumberOrString, ProgressNotificationParam, ProgressToken, Request, RequestMetaObject,
    SamplingMessage, SetLevelRequestParams,
};
use rmcp::service::{
    NotificationContext, PeerRequestOptions, RequestContext, RoleClient, RunningService,
};
use rmcp::{ClientHandler, ErrorData as McpError, ServiceExt};

use super::serve_built;
use crate::context::{CallContext, Elicited, LogLevel, MAX_MESSAGE_BYTES, Progress};
use crate::prelude::*;

mod confirm;

#[derive(Clone, Default)]
struct Jobs {
    /// How many deletions ran.
    deleted: Arc<std::sync::atomic::AtomicUsize>,
    /// Lets `wait` finish by itself.
    done: Arc<tokio::sync::Notify>,
    /// What `wait` saw: whether it was cancelled.
    saw: Arc<Mutex<Vec<String>>>,
    /// Tells a test that `wait` runs.
    started: Arc<tokio::sync::Notify>,
    /// Tells a test that `wait` has said what it saw.
    finished: Arc<tokio::sync::Notify>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Id {
    id: u64,
    /// Shown in the question only.
    #[serde(default)]
    #[allow(dead_code)]
    title: Option<String>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Steps {
    steps: u32,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Outcome {
    outcome: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Name {
    #[schemars(length(max = 50))]
    name: String,
}

#[secure_tool_router]
impl Jobs {
    /// Counts down, reporting progress and logging at three levels.
    #[secure_tool(authz = scopes("jobs"), mode = read)]
    async fn count_down(&self, args: Steps, cx: CallContext<'_>) -> Result<Outcome, ToolError> {
        for step in 1..=args.steps {
            cx.progress(
                Progress::new(f64::from(step))
                    .of(f64::from(args.steps))
                    .with_message(format!("step {step}")),
            )
            .await;
        }
        cx.log(LogLevel::Debug, "debug detail").await;
        cx.log(LogLevel::Info, "counted down").await;
        cx.log(LogLevel::Warning, "x".repeat(2 * MAX_MESSAGE_BYTES))
            .await;
        Ok(Outcome {
            outcome: format!("cancelled: {}", cx.is_cancelled()),
        })
    }

    /// Asks the user their name.
    #[secure_tool(authz = scopes("jobs"), mode = write)]
    async fn ask_name(
        &self,
        cx: CallContext<'_>,
        _access: WriteAccess<'_>,
    ) -> Result<Outcome, ToolError> {
        let outcome = match cx.elicit::<Name>("What is your name?").await? {
            Elicited::Accepted(name) => format!("hello {}", name.name),
            Elicited::Declined => "declined".to_owned(),
            Elicited::Cancelled => "cancelled".to_owned(),
            Elicited::Unsupported => "unsupported".to_owned(),
        };
        Ok(Outcome { outcome })
    }

    /// Deletes a job, once the user says yes.
    #[secure_tool(authz = scopes("jobs"), mode = write, confirm = "Delete job {id} ({title})?")]
    async fn delete(&self, args: Id, _access: WriteAccess<'_>) -> Result<Outcome, ToolError> {
        self.deleted
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Outcome {
            outcome: format!("deleted {}", args.id),
        })
    }

    /// Deletes a job, once the user says yes, and once an hour at most.
    #[secure_tool(authz = scopes("jobs"), mode = write, rate = "1/h", confirm = "Really delete {id}?")]
    async fn delete_rarely(
        &self,
        args: Id,
        _access: WriteAccess<'_>,
    ) -> Result<Outcome, ToolError> {
        self.deleted
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Outcome {
            outcome: format!("deleted {}", args.id),
        })
    }

    /// Deletes quickly, once the user says yes.
    #[secure_tool(authz = scopes("jobs"), mode = write, timeout = "1s", confirm = "Purge {id}?")]
    async fn purge(&self, args: Id, _access: WriteAccess<'_>) -> Result<Outcome, ToolError> {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        Ok(Outcome {
            outcome: format!("purged {}", args.id),
        })
    }

    /// Waits until it is done or cancelled, and says which.
    #[secure_tool(authz = scopes("jobs"), mode = read)]
    async fn wait(&self, cx: CallContext<'_>) -> Result<Outcome, ToolError> {
        self.started.notify_one();
        let outcome = tokio::select! {
            () = cx.cancelled() => format!("cancelled: {}", cx.is_cancelled()),
            () = self.done.notified() => format!("done: {}", cx.is_cancelled()),
        };
        self.saw.lock().unwrap().push(outcome.clone());
        self.finished.notify_one();
        Ok(Outcome { outcome })
    }

    /// What the client can be asked.
    #[secure_tool(authz = scopes("jobs"), mode = read)]
    async fn abilities(&self, cx: CallContext<'_>) -> Result<Outcome, ToolError> {
        Ok(Outcome {
            outcome: format!("elicit: {}, sample: {}", cx.can_elicit(), cx.can_sample()),
        })
    }

    /// Asks for a form of the server's own.
    #[secure_tool(authz = scopes("jobs"), mode = read)]
    async fn ask_form(&self, cx: CallContext<'_>) -> Result<Outcome, ToolError> {
        let form: crate::context::ElicitationSchema = serde_json::from_value(serde_json::json!({
            "type": "object",
            "properties": { "name": { "type": "string", "default": "Ada" } },
        }))
        .map_err(ToolError::internal)?;
        let outcome = match cx.elicit_form("Your name?", form).await? {
            Elicited::Accepted(content) => {
                format!("accepted {}", serde_json::Value::Object(content))
            }
            other => format!("{other:?}"),
        };
        Ok(Outcome { outcome })
    }

    /// Asks the user two questions.
    #[secure_tool(authz = scopes("jobs"), mode = read)]
    async fn ask_two(&self, cx: CallContext<'_>) -> Result<Outcome, ToolError> {
        let first = cx.elicit::<Name>("First name?").await?;
        let second = cx.elicit::<Name>("Second name?").await?;
        let name = |answer: Elicited<Name>| match answer {
            Elicited::Accepted(name) => name.name,
            other => format!("{other:?}"),
        };
        Ok(Outcome {
            outcome: format!("{} then {}", name(first), name(second)),
        })
    }

    /// Asks the client's model.
    #[secure_tool(authz = scopes("jobs"), mode = read)]
    async fn ask_model(&self, cx: CallContext<'_>) -> Result<Outcome, ToolError> {
        let request =
            CreateMessageRequestParams::new(vec![SamplingMessage::user_text("Say hi")], 32);
        let outcome = match cx.sample(request).await? {
            Some(answer) => format!("model said {:?}", answer.message.content),
            None => "unsupported".to_owned(),
        };
        Ok(Outcome { outcome })
    }
}

impl rmcp::ServerHandler for Jobs {}

/// A client that answers elicitations with `answer`, samples with a fixed message, and
/// records every progress and log notification.
#[derive(Clone)]
struct Client {
    answer: Option<ElicitationAction>,
    /// The content of an accepted answer.
    content: serde_json::Value,
    /// Whether the client never answers elicitations (the user walked away).
    silent: bool,
    /// How long the user takes to answer.
    thinks: std::time::Duration,
    /// What happens in the world while the user thinks.
    meanwhile: Option<Arc<dyn Fn() + Send + Sync>>,
    capabilities: ClientCapabilities,
    seen: Arc<Mutex<Vec<String>>>,
    asked: Arc<Mutex<Vec<String>>>,
    tokens: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientInfo {
        ClientInfo::new(
            self.capabilities.clone(),
            Implementation::new("context-test", "1"),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request {
            self.asked.lock().unwrap().push(message.clone());
        }
        if self.silent {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(self.thinks).await;
        if let Some(meanwhile) = &self.meanwhile {
            meanwhile();
        }
        let action = self.answer.clone().unwrap_or(ElicitationAction::Cancel);
        let mut result = ElicitResult::new(action.clone());
        if action == ElicitationAction::Accept {
            let mut content = self.content.clone();
            // Each question its own answer, where the question says which.
            if let ElicitRequestParams::FormElicitationParams { message, .. } = &request
                && message.starts_with("Second")
            {
                content = serde_json::json!({ "name": "Grace" });
            }
            result.content = Some(content);
        }
        Ok(result)
    }

    async fn create_message(
        &self,
        _: CreateMessageRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        Ok(CreateMessageResult::new(
            SamplingMessage::assistant_text("hi"),
            "test-model".to_owned(),
        ))
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        // rmcp's client puts a token of its own on each request: the same on every
        // notification of the call.
        let token = params.progress_token.0;
        self.seen.lock().unwrap().push(format!(
            "progress {} {:?} {:?}",
            params.progress, params.total, params.message
        ));
        self.tokens.lock().unwrap().push(format!("{token:?}"));
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let data = params.data.as_str().unwrap_or_default();
        self.seen.lock().unwrap().push(format!(
            "log {:?} {:?} {} bytes {}",
            params.level,
            params.logger,
            data.len(),
            &data[..data.len().min(16)]
        ));
    }
}

fn client(answer: Option<ElicitationAction>, capabilities: ClientCapabilities) -> Client {
    Client {
        answer,
        content: serde_json::json!({ "name": "Ada" }),
        silent: false,
        thinks: std::time::Duration::ZERO,
        meanwhile: None,
        capabilities,
        seen: Arc::default(),
        asked: Arc::default(),
        tokens: Arc::default(),
    }
}

fn full() -> ClientCapabilities {
    ClientCapabilities::builder()
        .enable_elicitation()
        .enable_sampling()
        .build()
}

async fn connect(client: Client, principal: Principal) -> RunningService<RoleClient, Client> {
    connect_to(Jobs::default(), client, principal).await
}

async fn connect_to(
    jobs: Jobs,
    client: Client,
    principal: Principal,
) -> RunningService<RoleClient, Client> {
    client
        .serve(serve(jobs, principal))
        .await
        .expect("client connects")
}

/// A server on `jobs` whose local caller is `principal`, serving the other end of the
/// returned stream.
fn serve(jobs: Jobs, principal: Principal) -> tokio::io::DuplexStream {
    serve_built(
        crate::SecureServerBuilder::with_router(jobs, Jobs::secure_tool_router())
            .local_principal(principal)
            .build(),
    )
}

fn worker() -> Principal {
    Principal::new("ada").with_scopes(["jobs"])
}

async fn call(
    client: &RunningService<RoleClient, Client>,
    name: &'static str,
    arguments: serde_json::Value,
    token: Option<i64>,
) -> rmcp::model::CallToolResult {
    let mut params = CallToolRequestParams::new(name);
    params.arguments = arguments.as_object().cloned();
    let mut options = PeerRequestOptions::no_options();
    if let Some(token) = token {
        options.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
            NumberOrString::Number(token),
        )));
    }
    let request = ClientRequest::CallToolRequest(Request::new(params));
    let answer = client
        .send_request_with_option(request, options)
        .await
        .unwrap()
        .await_response()
        .await
        .unwrap();
    match answer {
        rmcp::model::ServerResult::CallToolResult(result) => result,
        other => panic!("not a tool result: {other:?}"),
    }
}

fn outcome(result: &rmcp::model::CallToolResult) -> String {
    let structured = result.structured_content.as_ref().expect("structured");
    structured["outcome"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn progress_echoes_the_token_and_logs_follow_the_sessions_level() {
    let watcher = client(None, full());
    let seen = watcher.seen.clone();
    let tokens = watcher.tokens.clone();
    let running = connect(watcher, worker()).await;
    assert!(
        running.peer_info().unwrap().capabilities.logging.is_some(),
        "the server serves logging/setLevel"
    );

    let done = call(
        &running,
        "count_down",
        serde_json::json!({ "steps": 3 }),
        Some(7),
    )
    .await;
    assert_eq!(outcome(&done), "cancelled: false");
    // Without a level set: info and above, in the order sent, capped.
    let expected_default = vec![
        "progress 1 Some(3.0) Some(\"step 1\")".to_owned(),
        "progress 2 Some(3.0) Some(\"step 2\")".to_owned(),
        "progress 3 Some(3.0) Some(\"step 3\")".to_owned(),
        "log Info Some(\"count_down\") 12 bytes counted down".to_owned(),
        format!("log Warning Some(\"count_down\") {MAX_MESSAGE_BYTES} bytes xxxxxxxxxxxxxxxx"),
    ];
    assert_eq!(std::mem::take(&mut *seen.lock().unwrap()), expected_default);
    let tokens = tokens.lock().unwrap().clone();
    assert_eq!(tokens.len(), 3);
    assert!(tokens.iter().all(|token| *token == tokens[0]), "{tokens:?}");

    // At the level the client asks for, and above.
    for (level, logs_sent, first) in [
        (LoggingLevel::Debug, 3, "log Debug"),
        (LoggingLevel::Warning, 1, "log Warning"),
    ] {
        running
            .set_level(SetLevelRequestParams::new(level))
            .await
            .unwrap();
        call(
            &running,
            "count_down",
            serde_json::json!({ "steps": 1 }),
            None,
        )
        .await;
        let mut logs = std::mem::take(&mut *seen.lock().unwrap());
        logs.retain(|seen| seen.starts_with("log"));
        assert_eq!(logs.len(), logs_sent, "{logs:?}");
        assert!(logs[0].starts_with(first), "{logs:?}");
    }
}

#[tokio::test]
async fn elicitation_reaches_the_user_and_each_answer_is_told_apart() {
    for (answer, expected) in [
        (Some(ElicitationAction::Accept), "hello Ada"),
        (Some(ElicitationAction::Decline), "declined"),
        (Some(ElicitationAction::Cancel), "cancelled"),
    ] {
        let asker = client(answer, full());
        let asked = asker.asked.clone();
        let running = connect(asker, worker()).await;
        let result = call(&running, "ask_name", serde_json::json!({}), None).await;
        assert_eq!(outcome(&result), expected);
        assert_eq!(*asked.lock().unwrap(), ["What is your name?"]);
    }
    // A client that did not declare elicitation is never asked.
    let asker = client(
        Some(ElicitationAction::Accept),
        ClientCapabilities::default(),
    );
    let asked = asker.asked.clone();
    let running = connect(asker, worker()).await;
    let result = call(&running, "ask_name", serde_json::json!({}), None).await;
    assert_eq!(outcome(&result), "unsupported");
    assert!(asked.lock().unwrap().is_empty());
    // A client that declared URL elicitation only cannot answer a form; one that declared
    // both can.
    use rmcp::model::{ElicitationCapability, FormElicitationCapability, UrlElicitationCapability};
    let url_only = ElicitationCapability::new().with_url(UrlElicitationCapability::new());
    for (elicitation, expected) in [
        (url_only.clone(), "unsupported"),
        (
            url_only.with_form(FormElicitationCapability::new()),
            "hello Ada",
        ),
    ] {
        let mut capabilities = ClientCapabilities::default();
        capabilities.elicitation = Some(elicitation);
        let asker = client(Some(ElicitationAction::Accept), capabilities);
        let asked = asker.asked.clone();
        let running = connect(asker, worker()).await;
        let result = call(&running, "ask_name", serde_json::json!({}), None).await;
        assert_eq!(outcome(&result), expected);
        assert_eq!(asked.lock().unwrap().is_empty(), expected == "unsupported");
    }
}

/// A request that names an older protocol version without a handshake comes from a
/// client the server cannot send requests to: though its `_meta` declares elicitation, it
/// is never asked, and the handler is told it cannot ask.
#[tokio::test]
async fn a_request_without_a_handshake_is_never_asked() {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let (read, mut write) = tokio::io::split(serve(Jobs::default(), worker()));
    let request = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": "ask_name", "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2025-11-25",
                "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
            },
        },
    });
    write
        .write_all(format!("{request}\n").as_bytes())
        .await
        .unwrap();
    let mut lines = tokio::io::BufReader::new(read).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
        .await
        .expect("the server answers")
        .unwrap()
        .expect("a message");
    let message: serde_json::Value = serde_json::from_str(&first).unwrap();
    // The answer to the call comes first: no `elicitation/create` before it.
    assert_eq!(message["id"], 1, "{message}");
    let result: rmcp::model::CallToolResult =
        serde_json::from_value(message["result"].clone()).expect("a tool result");
    assert_eq!(outcome(&result), "unsupported");
}

#[tokio::test]
async fn sampling_reaches_a_client_that_declared_it_only() {
    let running = connect(client(None, full()), worker()).await;
    let result = call(&running, "ask_model", serde_json::json!({}), None).await;
    assert!(outcome(&result).starts_with("model said"), "{result:?}");
    assert!(outcome(&result).contains("hi"), "{result:?}");

    let running = connect(client(None, ClientCapabilities::default()), worker()).await;
    let result = call(&running, "ask_model", serde_json::json!({}), None).await;
    assert_eq!(outcome(&result), "unsupported");
}

#[tokio::test]
async fn a_denied_call_never_reaches_the_session() {
    let asker = client(Some(ElicitationAction::Accept), full());
    let asked = asker.asked.clone();
    let seen = asker.seen.clone();
    let running = connect(asker, Principal::new("eve")).await;
    let denied = call(&running, "ask_name", serde_json::json!({}), Some(1)).await;
    assert_eq!(denied.is_error, Some(true));
    let denied = call(
        &running,
        "count_down",
        serde_json::json!({ "steps": 2 }),
        Some(1),
    )
    .await;
    assert_eq!(denied.is_error, Some(true));
    assert!(asked.lock().unwrap().is_empty());
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn in_process_a_context_sends_nothing_and_cannot_ask() {
    let server = SecureServer::new(Jobs::default());
    let result = server.call("ask_name", None, worker()).await.unwrap();
    assert_eq!(outcome(&result), "unsupported");
    let result = server
        .call(
            "count_down",
            serde_json::json!({ "steps": 2 }).as_object().cloned(),
            worker(),
        )
        .await
        .unwrap();
    assert_eq!(outcome(&result), "cancelled: false");
}

/// The facts of an error result.
fn facts(result: &rmcp::model::CallToolResult) -> serde_json::Value {
    crate::sanitize::error_facts(result)
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn each_session_keeps_its_own_log_level() {
    // Two sessions of one server.
    let server =
        crate::SecureServerBuilder::with_router(Jobs::default(), Jobs::secure_tool_router())
            .local_principal(worker())
            .build();
    let debug = client(None, full());
    let debug_seen = debug.seen.clone();
    let debug = debug.serve(serve_built(server.clone())).await.unwrap();
    let warning = client(None, full())
        .serve(serve_built(server))
        .await
        .unwrap();
    debug
        .set_level(SetLevelRequestParams::new(LoggingLevel::Debug))
        .await
        .unwrap();
    warning
        .set_level(SetLevelRequestParams::new(LoggingLevel::Warning))
        .await
        .unwrap();
    call(
        &debug,
        "count_down",
        serde_json::json!({ "steps": 1 }),
        None,
    )
    .await;
    let logs: Vec<_> = debug_seen
        .lock()
        .unwrap()
        .iter()
        .filter(|seen| seen.starts_with("log"))
        .cloned()
        .collect();
    assert_eq!(
        logs.len(),
        3,
        "the first session's level was lost: {logs:?}"
    );
}

#[tokio::test]
async fn a_handler_knows_what_it_may_ask_and_a_form_of_its_own_is_answered() {
    let running = connect(client(Some(ElicitationAction::Accept), full()), worker()).await;
    let result = call(&running, "abilities", serde_json::json!({}), None).await;
    assert_eq!(outcome(&result), "elicit: true, sample: true");
    let result = call(&running, "ask_form", serde_json::json!({}), None).await;
    assert_eq!(outcome(&result), r#"accepted {"name":"Ada"}"#);
    let bare = connect(client(None, ClientCapabilities::default()), worker()).await;
    let result = call(&bare, "abilities", serde_json::json!({}), None).await;
    assert_eq!(outcome(&result), "elicit: false, sample: false");
    let in_process = SecureServer::new(Jobs::default())
        .call("abilities", None, worker())
        .await
        .unwrap();
    assert_eq!(outcome(&in_process), "elicit: false, sample: false");
    for (answer, content, expected) in [
        (
            ElicitationAction::Accept,
            serde_json::Value::Null,
            "accepted {}",
        ),
        (
            ElicitationAction::Decline,
            serde_json::json!({}),
            "Declined",
        ),
        (
            ElicitationAction::Cancel,
            serde_json::json!({}),
            "Cancelled",
        ),
    ] {
        let mut asker = client(Some(answer), full());
        asker.content = content;
        let running = connect(asker, worker()).await;
        let result = call(&running, "ask_form", serde_json::json!({}), None).await;
        assert_eq!(outcome(&result), expected);
    }
    // An answer that is not an object is not the form's.
    let mut asker = client(Some(ElicitationAction::Accept), full());
    asker.content = serde_json::json!(["not", "a", "form"]);
    let running = connect(asker, worker()).await;
    let result = call(&running, "ask_form", serde_json::json!({}), None).await;
    assert_eq!(facts(&result)["category"], "invalid_input", "{result:?}");
}

#[tokio::test]
async fn a_handler_sees_its_call_cancelled_and_only_then() {
    use rmcp::model::ClientRequest;
    let jobs = Jobs::default();
    let running = connect_to(jobs.clone(), client(None, full()), worker()).await;
    // Not cancelled: done.
    jobs.done.notify_one();
    let result = call(&running, "wait", serde_json::json!({}), None).await;
    assert_eq!(outcome(&result), "done: false");
    jobs.finished.notified().await;
    jobs.started.notified().await;
    // Cancelled by the client while it waits.
    let request = ClientRequest::CallToolRequest(Request::new(CallToolRequestParams::new("wait")));
    let handle = running.send_cancellable_request(request, PeerRequestOptions::no_options());
    let handle = handle.await.unwrap();
    jobs.started.notified().await;
    handle.cancel(None).await.unwrap();
    // The first call's notice was taken by its own wait above; this one is the second's.
    tokio::time::timeout(std::time::Duration::from_secs(10), jobs.finished.notified())
        .await
        .expect("the handler saw the cancellation");
    assert_eq!(
        *jobs.saw.lock().unwrap(),
        ["done: false", "cancelled: true"]
    );
}

#[tokio::test]
async fn an_accepted_answer_that_breaks_its_form_is_invalid_input() {
    // Longer than the form's `maxLength`, and not a string at all.
    for content in [
        serde_json::json!({ "name": "x".repeat(100) }),
        serde_json::json!({ "name": 7 }),
    ] {
        let mut asker = client(Some(ElicitationAction::Accept), full());
        asker.content = content.clone();
        let running = connect(asker, worker()).await;
        let result = call(&running, "ask_name", serde_json::json!({}), None).await;
        assert_eq!(result.is_error, Some(true), "{content}");
        assert_eq!(
            super::category(&result).as_deref(),
            Some("invalid_input"),
            "{content}"
        );
    }
    // A form of the handler's own, whose answer it reads as a raw map: held to the form
    // too (its `name` is a string).
    let mut asker = client(Some(ElicitationAction::Accept), full());
    asker.content = serde_json::json!({ "name": 7 });
    let running = connect(asker, worker()).await;
    let result = call(&running, "ask_form", serde_json::json!({}), None).await;
    assert_eq!(
        super::category(&result).as_deref(),
        Some("invalid_input"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_session_is_opened_once_and_another_handshake_changes_nothing() {
    let server =
        crate::SecureServerBuilder::with_router(Jobs::default(), Jobs::secure_tool_router())
            .local_principal(worker())
            .build();
    let client = client(None, full());
    let seen = client.seen.clone();
    let client = client.serve(serve_built(server)).await.unwrap();
    client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Debug))
        .await
        .unwrap();
    // The same session shakes hands again, declaring nothing, many times.
    for round in 0..16 {
        let again = rmcp::model::InitializeRequestParams::new(
            ClientCapabilities::default(),
            Implementation::new(format!("another-{round}"), "1"),
        );
        client
            .send_request(ClientRequest::InitializeRequest(Request::new(again)))
            .await
            .expect("answered");
    }
    // Its calls may still ask what the session declared it answers, and its level holds.
    let abilities = call(&client, "abilities", serde_json::json!({}), None).await;
    assert!(
        format!("{abilities:?}").contains("elicit: true, sample: true"),
        "{abilities:?}"
    );
    call(
        &client,
        "count_down",
        serde_json::json!({ "steps": 1 }),
        None,
    )
    .await;
    let logs = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|seen| seen.starts_with("log"))
        .count();
    assert_eq!(logs, 3, "the session's level was lost");
}
