//! Cedar policies through the server: each denial cause, the set checked before serving,
//! reloads (in flight and under load), a real MCP session.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::{RoleClient, ServiceExt as _, service::RunningService};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tracing::instrument::WithSubscriber as _;

use super::{CedarPolicies, EntityLoader, LoadFuture, cedar};
use crate::authz::{all_of, any_of, roles};
use crate::prelude::*;
use crate::prompt::PromptReply;
use crate::test_log::Log;

/// The application's entity types.
const SCHEMA: &str = "entity Note { owner: String };\n";

const POLICIES: &str = r#"// Who may do what with notes.
@id("owners delete their notes")
permit(principal, action == Action::"delete_note", resource is Note)
when { resource.owner == principal.subject };

@id("admins delete and rename")
permit(principal in Role::"admin", action in [Action::"delete_note", Action::"rename"], resource);

@id("note 7 is kept")
forbid(principal, action, resource is Note) when { resource == Note::"7" };

@id("owners rename their notes with a tag")
permit(principal, action == Action::"rename", resource is Note)
when { resource.owner == principal.subject && context.arguments.tags.contains("mine") };

@id("readers list")
permit(principal, action == Action::"list", resource) when { principal.scopes.contains("notes:read") };

@id("an arithmetic error")
permit(principal, action == Action::"list", resource)
when { principal.subject == "overflow" && 9223372036854775807 + 1 > 0 };

permit(principal, action == Action::"prompt:brief", resource == Prompt::"brief");
"#;

#[derive(Clone, Default)]
struct Desk {
    runs: Arc<AtomicUsize>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteId {
    id: i64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Rename {
    id: i64,
    title: String,
    tags: Vec<String>,
    pinned: Option<bool>,
    /// Not required, and never null.
    #[serde(default)]
    copies: u32,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Done {
    ok: bool,
}

#[secure_tool_router]
impl Desk {
    /// Deletes a note.
    #[secure_tool(authz = cedar().resource("Note", "id"), mode = write)]
    async fn delete_note(&self, args: NoteId, _w: WriteAccess<'_>) -> Result<Done, ToolError> {
        let _ = args.id;
        self.ran()
    }

    /// Renames a note.
    #[secure_tool(
        authz = cedar().resource("Note", "id").context(["id", "title", "tags", "pinned", "copies"]),
        mode = write
    )]
    async fn rename(&self, args: Rename, _w: WriteAccess<'_>) -> Result<Done, ToolError> {
        let _ = (args.id, args.title, args.tags, args.pinned, args.copies);
        self.ran()
    }

    /// Lists the notes.
    #[secure_tool(authz = cedar, mode = read)]
    async fn list(&self) -> Result<Done, ToolError> {
        self.ran()
    }

    /// Admins, or whoever Cedar lets in.
    #[secure_tool(authz = any_of([roles("admin"), cedar().into()]), mode = read)]
    async fn audit(&self) -> Result<Done, ToolError> {
        self.ran()
    }

    /// A brief.
    #[secure_prompt(authz = cedar())]
    async fn brief(&self) -> Result<PromptReply, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(PromptReply::new().user("Brief me."))
    }
}

impl Desk {
    fn ran(&self) -> Result<Done, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Done { ok: true })
    }
}

impl rmcp::ServerHandler for Desk {}

/// Note `n` belongs to `owners[n]`; 13 fails to load; 99 has an owner of the wrong type.
struct Owners(HashMap<&'static str, &'static str>);

impl Owners {
    fn new() -> Self {
        // "-1" and "1.5" exist too: a negative id names a note; a number that is not an
        // integer names none, even where an entity has that id.
        Self(HashMap::from([
            ("1", "ada"),
            ("2", "bob"),
            ("7", "ada"),
            ("-1", "ada"),
            ("1.5", "ada"),
        ]))
    }
}

impl EntityLoader for Owners {
    fn load<'a>(&'a self, entity_type: &'a str, id: &'a str) -> LoadFuture<'a> {
        Box::pin(async move {
            assert_eq!(entity_type, "Note");
            match id {
                "13" => Err("the store is down".into()),
                "99" => Ok(json!({ "owner": 5 }).as_object().cloned()),
                id => Ok(self
                    .0
                    .get(id)
                    .map(|owner| json!({ "owner": owner }).as_object().cloned().unwrap())),
            }
        })
    }
}

/// Every call permitted.
const PERMIT_ALL: &str = "permit(principal, action, resource);";

/// A set that permits every call, with `fragment` as the application's schema.
fn permitting_all_with(fragment: &str) -> CedarPolicies {
    CedarPolicies::from_text("p.cedar", PERMIT_ALL)
        .unwrap()
        .with_schema("notes.cedarschema", fragment)
        .unwrap()
}

fn policies(text: &str) -> CedarPolicies {
    CedarPolicies::from_text("notes.cedar", text)
        .unwrap()
        .with_schema("notes.cedarschema", SCHEMA)
        .unwrap()
        .with_entities(Owners::new())
}

fn server_with(set: &CedarPolicies) -> (SecureServer<Desk>, Arc<AtomicUsize>) {
    let desk = Desk::default();
    let runs = desk.runs.clone();
    let server = SecureServer::builder(desk)
        .cedar(set.clone())
        .unwrap()
        .build();
    (server, runs)
}

fn args(value: Value) -> Option<JsonObject> {
    value.as_object().cloned()
}

fn ada() -> Principal {
    Principal::new("ada").with_scopes(["notes:read"])
}

fn admin() -> Principal {
    Principal::new("root").with_roles(["admin"])
}

async fn allowed(
    server: &SecureServer<Desk>,
    tool: &str,
    arguments: Value,
    who: Principal,
) -> bool {
    let result = server.call(tool, args(arguments), who).await.unwrap();
    if result.is_error == Some(true) {
        let error = crate::sanitize::error_facts(&result).unwrap();
        assert_eq!(error["category"], "denied", "{result:?}");
        false
    } else {
        true
    }
}

/// The cause the audit log gives for the only denial logged while `f` ran.
async fn cause_of<F: Future<Output = bool>>(f: F) -> String {
    let log = Log::default();
    let _default = crate::test_log::set_default(log.subscriber());
    assert!(!f.await, "the call was allowed");
    let text = log.text();
    let line = text
        .lines()
        .find(|l| l.contains("decision=\"deny\""))
        .unwrap_or_else(|| panic!("no denial logged: {text}"));
    line.split("cause=").nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn the_owner_and_admins_are_let_in_and_a_forbid_overrides_every_permit() {
    let set = policies(POLICIES);
    let (server, runs) = server_with(&set);
    assert!(allowed(&server, "delete_note", json!({"id": 1}), ada()).await);
    assert!(allowed(&server, "delete_note", json!({"id": 2}), admin()).await);
    assert!(allowed(&server, "delete_note", json!({"id": -1}), ada()).await);
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    let cause = cause_of(allowed(&server, "delete_note", json!({"id": 2}), ada())).await;
    assert!(
        cause.contains("cedar: no policy permits action delete_note"),
        "{cause}"
    );
    let cause = cause_of(allowed(&server, "delete_note", json!({"id": 7}), ada())).await;
    assert!(
        cause.contains("cedar: forbidden by note 7 is kept (notes.cedar:9)"),
        "{cause}"
    );
    let cause = cause_of(allowed(&server, "delete_note", json!({"id": 7}), admin())).await;
    assert!(cause.contains("forbidden by note 7 is kept"), "{cause}");
    assert_eq!(runs.load(Ordering::SeqCst), 3, "no denied call ran");
}

#[tokio::test]
async fn a_missing_entity_denies() {
    let set = policies(POLICIES);
    let (server, runs) = server_with(&set);
    for arguments in [
        json!({"id": 404}),
        json!({}),
        json!({"id": true}),
        json!({"id": 1.5}),
    ] {
        let cause = cause_of(allowed(&server, "delete_note", arguments.clone(), admin())).await;
        assert!(
            cause.contains("cedar: missing entity"),
            "{arguments}: {cause}"
        );
    }
    let cause = cause_of(allowed(&server, "delete_note", json!({"id": 404}), admin())).await;
    assert!(cause.contains("Note::\"404\" does not exist"), "{cause}");
    // An id sent as a string names the same note (the policy decides; the schema then
    // refuses the string before the handler runs).
    let cause = cause_of(allowed(&server, "delete_note", json!({"id": "7"}), admin())).await;
    assert!(cause.contains("forbidden by note 7 is kept"), "{cause}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_entity_that_fails_to_load_or_does_not_fit_the_schema_denies() {
    let set = policies(POLICIES);
    let (server, _) = server_with(&set);
    let cause = cause_of(allowed(&server, "delete_note", json!({"id": 13}), admin())).await;
    assert!(
        cause.contains("policy error: loading Note::\"13\": the store is down"),
        "{cause}"
    );
    let cause = cause_of(allowed(&server, "delete_note", json!({"id": 99}), admin())).await;
    assert!(
        cause.contains("cedar: Note::\"99\" does not fit the schema"),
        "{cause}"
    );
}

#[tokio::test]
async fn an_evaluation_error_denies_even_when_another_policy_permits() {
    let set = policies(POLICIES);
    let (server, _) = server_with(&set);
    assert!(allowed(&server, "list", json!({}), ada()).await);
    let overflow = Principal::new("overflow").with_scopes(["notes:read"]);
    let cause = cause_of(allowed(&server, "list", json!({}), overflow)).await;
    assert!(cause.contains("cedar: evaluation error"), "{cause}");
    assert!(cause.contains("an arithmetic error"), "{cause}");
}

#[tokio::test]
async fn exposed_arguments_are_typed_from_the_input_schema() {
    let set = policies(POLICIES);
    let (server, runs) = server_with(&set);
    let rename = |tags: Value| json!({"id": 1, "title": "t", "tags": tags});
    assert!(allowed(&server, "rename", rename(json!(["mine"])), ada()).await);
    for full in [
        json!({"id": 1, "title": "t", "tags": ["mine"], "pinned": null}),
        json!({"id": 1, "title": "t", "tags": ["mine"], "pinned": true, "copies": 2}),
    ] {
        assert!(
            allowed(&server, "rename", full.clone(), ada()).await,
            "{full}"
        );
    }
    let cause = cause_of(allowed(&server, "rename", rename(json!(["yours"])), ada())).await;
    assert!(cause.contains("no policy permits action rename"), "{cause}");
    let cause = cause_of(allowed(
        &server,
        "rename",
        json!({"id": 1, "title": "t", "tags": ["mine"], "pinned": "yes"}),
        ada(),
    ))
    .await;
    assert!(
        cause.contains("the argument `pinned` is not a Bool"),
        "{cause}"
    );
    for wrong in [json!("mine"), json!([1]), Value::Null] {
        let cause = cause_of(allowed(&server, "rename", rename(wrong.clone()), ada())).await;
        assert!(
            cause.contains("cedar: the call does not fit the schema"),
            "{wrong}: {cause}"
        );
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    let schema = set.schema().unwrap();
    assert!(
        schema.contains(
            "action \"rename\" appliesTo { principal: [User], resource: [Note], context: { \
             \"mode\": String, \"arguments\": { \"id\": Long, \"title\": String, \
             \"tags\": Set<String>, \"pinned\"?: Bool, \"copies\"?: Long } } };"
        ),
        "{schema}"
    );
}

#[tokio::test]
async fn anonymous_callers_are_denied_before_cedar_is_asked() {
    let set = policies(PERMIT_ALL);
    let (server, runs) = server_with(&set);
    let cause = cause_of(allowed(&server, "list", json!({}), Principal::anonymous())).await;
    assert!(cause.contains("anonymous caller"), "{cause}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(allowed(&server, "list", json!({}), Principal::new("x")).await);
}

#[tokio::test]
async fn a_cedar_part_without_a_policy_set_denies() {
    let desk = Desk::default();
    let runs = desk.runs.clone();
    let log = Log::default();
    let server = {
        let _default = crate::test_log::set_default(log.subscriber());
        SecureServer::new(desk)
    };
    let warnings = log.text();
    for name in [
        "name=\"list\"",
        "name=\"audit\"",
        "name=\"brief\"",
        "name=\"rename\"",
    ] {
        assert!(
            warnings
                .lines()
                .any(|l| l.contains("has no Cedar policy set") && l.contains(name)),
            "{name}: {warnings}"
        );
    }
    let cause = cause_of(allowed(&server, "list", json!({}), ada())).await;
    assert!(cause.contains("cedar: no policy set"), "{cause}");
    // The built-in part of an `any_of` still decides.
    assert!(allowed(&server, "audit", json!({}), admin()).await);
    let cause = cause_of(allowed(&server, "audit", json!({}), ada())).await;
    assert!(cause.contains("cedar: no policy set"), "{cause}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn prompts_are_cedar_actions_of_their_own() {
    let set = policies(POLICIES);
    let (server, runs) = server_with(&set);
    let got = server
        .get_prompt("brief", None, Principal::new("ada"))
        .await;
    assert!(got.is_ok(), "{got:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    set.replace(
        "notes.cedar",
        "permit(principal, action == Action::\"list\", resource);",
    )
    .unwrap();
    assert!(
        server
            .get_prompt("brief", None, Principal::new("ada"))
            .await
            .is_err()
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// Why a server of `state` is not built with `set`.
fn refusal<S>(state: S, set: CedarPolicies) -> String
where
    S: crate::SecureTools + rmcp::ServerHandler,
{
    match SecureServer::builder(state).cedar(set) {
        Ok(_) => panic!("the set was accepted"),
        Err(error) => error.to_string(),
    }
}

/// The message of a set refused when the server is built.
fn refused(text: &str) -> String {
    let set = CedarPolicies::from_text("notes.cedar", text)
        .and_then(|set| set.with_schema("notes.cedarschema", SCHEMA));
    match set {
        Err(error) => error.to_string(),
        Ok(set) => refusal(Desk::default(), set),
    }
}

#[test]
fn a_set_that_does_not_validate_is_refused_naming_its_file_and_line() {
    let cases = [
        // An action that names no tool.
        (
            "permit(principal, action == Action::\"list\", resource);\n\
             permit(principal, action == Action::\"delete_notes\", resource);",
            "notes.cedar line 2, column 29",
            "delete_notes",
        ),
        // The second of two policies on one line.
        (
            "permit(principal, action == Action::\"list\", resource); \
             permit(principal, action == Action::\"lsit\", resource);",
            "notes.cedar line 1, column 84: for policy `notes.cedar:1:56`",
            "lsit",
        ),
        // An attribute nobody provides.
        (
            "\n\npermit(principal, action == Action::\"delete_note\", resource is Note)\n  \
             when { resource.ownr == principal.subject };",
            "notes.cedar line 4",
            "ownr",
        ),
        // A type error.
        (
            "permit(principal, action == Action::\"list\", resource) when { context.mode + 1 > 0 };",
            "notes.cedar line 1",
            "type",
        ),
        // An argument the tool does not expose.
        (
            "permit(principal, action == Action::\"delete_note\", resource) when { context.arguments.id == 1 };",
            "notes.cedar line 1",
            "arguments",
        ),
        // An entity type nobody declared.
        (
            "permit(principal, action, resource is Folder);",
            "notes.cedar line 1",
            "Folder",
        ),
        // A syntax error.
        (
            "permit(principal, action, resource);\nfrobid(principal, action, resource);",
            "notes.cedar line 2",
            "parse",
        ),
        // Nothing permitted at all.
        (
            "// everything was commented out\n// permit(principal, action, resource);",
            "notes.cedar",
            "permit nothing",
        ),
        // A template.
        (
            "permit(principal == ?principal, action, resource);",
            "notes.cedar line 1",
            "template",
        ),
    ];
    for (text, at, what) in cases {
        let message = refused(text);
        assert!(message.contains(at), "{text}\n=> {message}");
        assert!(message.contains(what), "{text}\n=> {message}");
    }
}

#[test]
fn a_schema_or_a_declaration_that_does_not_fit_is_refused() {
    let set = permitting_all_with("entity Note { owner: Strin };");
    let message = refusal(Desk::default(), set);
    assert!(message.contains("notes.cedarschema line 1"), "{message}");

    // The generated types cannot be declared twice.
    let set = permitting_all_with("entity Note;\nentity User;");
    let message = refusal(Desk::default(), set);
    assert!(message.contains("User"), "{message}");
}

#[derive(Clone)]
struct Odd;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Nested {
    inner: HashMap<String, String>,
}

#[secure_tool_router]
impl Odd {
    /// Exposes a map.
    #[secure_tool(authz = cedar().context(["inner"]), mode = read)]
    async fn exposes_a_map(&self, args: Nested) -> Result<Done, ToolError> {
        let _ = args.inner;
        Ok(Done { ok: true })
    }
}

impl rmcp::ServerHandler for Odd {}

#[derive(Clone)]
struct Other;

#[secure_tool_router]
impl Other {
    /// Pings.
    #[secure_tool(authz = cedar(), mode = read)]
    async fn ping(&self) -> Result<Done, ToolError> {
        Ok(Done { ok: true })
    }
}

impl rmcp::ServerHandler for Other {}

#[derive(Clone)]
struct Keyed;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct ByName {
    name: String,
    flag: bool,
}

#[secure_tool_router]
impl Keyed {
    /// Names its resource by a string.
    #[secure_tool(authz = cedar().resource("Note", "name"), mode = read)]
    async fn by_name(&self, args: ByName) -> Result<Done, ToolError> {
        let _ = (args.name, args.flag);
        Ok(Done { ok: true })
    }

    /// Names its resource by a boolean.
    #[secure_tool(authz = cedar().resource("Note", "flag"), mode = read)]
    async fn by_flag(&self, args: ByName) -> Result<Done, ToolError> {
        let _ = (args.name, args.flag);
        Ok(Done { ok: true })
    }
}

impl rmcp::ServerHandler for Keyed {}

#[test]
fn a_resource_is_named_by_a_string_or_an_integer_argument_only() {
    let set = permitting_all_with(SCHEMA);
    let message = refusal(Keyed, set);
    assert!(
        message.contains(
            "tool `by_flag` names its Cedar resource by the argument `flag`, which must be a \
             string or an integer (it is Bool)"
        ),
        "{message}"
    );
    assert!(!message.contains("by_name"), "{message}");
}

#[test]
fn an_argument_without_a_cedar_type_is_refused() {
    let set = CedarPolicies::from_text("p.cedar", PERMIT_ALL).unwrap();
    let message = refusal(Odd, set);
    assert!(
        message.contains("tool `exposes_a_map` exposes the argument `inner` to Cedar"),
        "{message}"
    );
}

#[tokio::test]
async fn a_new_set_is_in_force_at_once_and_a_bad_one_is_refused() {
    let set = policies(POLICIES);
    let (server, _) = server_with(&set);
    let before = set.digest();
    assert!(allowed(&server, "list", json!({}), ada()).await);

    let log = Log::default();
    let _default = crate::test_log::set_default(log.subscriber());
    let refused = set
        .replace(
            "notes.cedar",
            "permit(principal, action == Action::\"lsit\", resource);",
        )
        .unwrap_err();
    assert!(
        refused.to_string().contains("notes.cedar line 1"),
        "{refused}"
    );
    assert_eq!(set.digest(), before, "the set in force stays");
    assert!(allowed(&server, "list", json!({}), ada()).await);
    let text = log.text();
    assert!(
        text.contains("the new Cedar policy set was refused") && text.contains(&before),
        "{text}"
    );

    let digest = set
        .replace(
            "notes.cedar",
            "permit(principal, action == Action::\"delete_note\", resource);",
        )
        .unwrap();
    assert_ne!(digest, before);
    assert_eq!(set.digest(), digest);
    assert!(!allowed(&server, "list", json!({}), ada()).await);
    assert!(allowed(&server, "delete_note", json!({"id": 2}), ada()).await);
}

#[tokio::test]
async fn reload_reads_the_files_again() {
    let dir = std::env::temp_dir().join(format!("secure-tool-cedar-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("notes.cedar");
    std::fs::write(
        &file,
        "permit(principal, action == Action::\"list\", resource);",
    )
    .unwrap();
    let set = CedarPolicies::from_file(&file)
        .unwrap()
        .with_schema("notes.cedarschema", SCHEMA)
        .unwrap();
    let (server, _) = server_with(&set);
    assert!(allowed(&server, "list", json!({}), ada()).await);

    std::fs::write(
        &file,
        "permit(principal, action == Action::\"audit\", resource);",
    )
    .unwrap();
    assert!(
        allowed(&server, "list", json!({}), ada()).await,
        "not before the reload"
    );
    set.reload().unwrap();
    assert!(!allowed(&server, "list", json!({}), ada()).await);
    assert!(allowed(&server, "audit", json!({}), ada()).await);

    std::fs::write(
        &file,
        "permit(principal, action == Action::\"audit\", resource) when { resource.x };",
    )
    .unwrap();
    let refused = set.reload().unwrap_err().to_string();
    assert!(
        refused.contains(&format!("{} line 1", file.display())),
        "{refused}"
    );
    assert!(allowed(&server, "audit", json!({}), ada()).await);

    std::fs::remove_file(&file).unwrap();
    let refused = set.reload().unwrap_err().to_string();
    assert!(refused.contains("cannot read"), "{refused}");
    assert!(allowed(&server, "audit", json!({}), ada()).await);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Lets a load through only once told to, counting the loads that wait.
struct Gate {
    waiting: Arc<Notify>,
    open: Arc<Notify>,
}

impl EntityLoader for Gate {
    fn load<'a>(&'a self, _: &'a str, _: &'a str) -> LoadFuture<'a> {
        Box::pin(async move {
            self.waiting.notify_one();
            self.open.notified().await;
            Ok(json!({ "owner": "ada" }).as_object().cloned())
        })
    }
}

/// `future`, which must be ready within 10 s: a call that never asks the entity loader
/// fails the test instead of hanging it.
async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(10), future)
        .await
        .expect("the call asked the entity loader")
}

#[tokio::test]
async fn a_call_in_flight_decides_with_the_set_it_started_with() {
    let waiting = Arc::new(Notify::new());
    let open = Arc::new(Notify::new());
    let set = CedarPolicies::from_text("notes.cedar", POLICIES)
        .unwrap()
        .with_schema("notes.cedarschema", SCHEMA)
        .unwrap()
        .with_entities(Gate {
            waiting: waiting.clone(),
            open: open.clone(),
        });
    let (server, runs) = server_with(&set);
    let server = Arc::new(server);
    let in_flight = tokio::spawn({
        let server = server.clone();
        async move { allowed(&server, "delete_note", json!({"id": 1}), ada()).await }
    });
    bounded(waiting.notified()).await;
    // The owner may no longer delete; the call in flight started under the old set.
    set.replace(
        "notes.cedar",
        "permit(principal in Role::\"admin\", action, resource);",
    )
    .unwrap();
    open.notify_one();
    assert!(
        in_flight.await.unwrap(),
        "decided with the set it started with"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let next = tokio::spawn({
        let server = server.clone();
        async move { allowed(&server, "delete_note", json!({"id": 1}), ada()).await }
    });
    bounded(waiting.notified()).await;
    open.notify_one();
    assert!(!next.await.unwrap(), "the next call sees the new set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_never_show_a_call_anything_but_a_whole_set() {
    // Each set lets exactly one of the two tools through: a call is allowed by the set in
    // force, or denied because no policy permits it; never anything else.
    const LIST: &str = "@id(\"list\") permit(principal, action == Action::\"list\", resource);";
    const AUDIT: &str = "@id(\"audit\") permit(principal, action == Action::\"audit\", resource);";
    let set = policies(LIST);
    let (server, _) = server_with(&set);
    let server = Arc::new(server);
    let log = Log::default();
    let swaps = tokio::spawn({
        let set = set.clone();
        async move {
            for i in 0..200 {
                let text = if i % 2 == 0 { AUDIT } else { LIST };
                set.replace("notes.cedar", text).unwrap();
                tokio::task::yield_now().await;
            }
        }
    });
    // The global subscriber first (see `set_default`), then this log for every poll of
    // the callers, on whichever worker they run.
    drop(crate::test_log::set_default(log.subscriber()));
    let mut callers = Vec::new();
    for caller in 0..8 {
        let server = server.clone();
        let calls = async move {
            let mut outcomes = [0usize; 2];
            for i in 0..100 {
                let tool = if (caller + i) % 2 == 0 {
                    "list"
                } else {
                    "audit"
                };
                let ok = allowed(&server, tool, json!({}), ada()).await;
                outcomes[usize::from(ok)] += 1;
                tokio::task::yield_now().await;
            }
            outcomes
        };
        callers.push(tokio::spawn(calls.with_subscriber(log.subscriber())));
    }
    let mut totals = [0usize; 2];
    for caller in callers {
        let outcomes = caller.await.unwrap();
        totals[0] += outcomes[0];
        totals[1] += outcomes[1];
    }
    swaps.await.unwrap();
    assert_eq!(totals[0] + totals[1], 800);
    assert!(totals[0] > 0 && totals[1] > 0, "{totals:?}");
    let text = log.text();
    let denials: Vec<_> = text
        .lines()
        .filter(|l| l.contains("decision=\"deny\""))
        .collect();
    assert_eq!(denials.len(), totals[0], "{text}");
    for line in denials {
        assert!(line.contains("cedar: no policy permits action"), "{line}");
    }
}

async fn session(server: SecureServer<Desk>) -> RunningService<RoleClient, ()> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve_trusted(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(client_io).await.unwrap()
}

async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    arguments: Value,
) -> CallToolResult {
    client
        .call_tool(
            CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments).unwrap()),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn over_a_session_a_cedar_denial_is_the_generic_denial() {
    let set = policies(POLICIES);
    let as_caller = |who: Principal| {
        SecureServer::builder(Desk::default())
            .cedar(set.clone())
            .unwrap()
            .local_principal(who)
            .build()
    };
    let ada = session(as_caller(ada())).await;
    let tools = ada.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 4);
    let deleted = call(&ada, "delete_note", json!({"id": 1})).await;
    assert_eq!(deleted.is_error, Some(false), "{deleted:?}");
    let forbidden = call(&ada, "delete_note", json!({"id": 7})).await;
    let missing = call(&ada, "delete_note", json!({"id": 404})).await;
    let unpermitted = call(&ada, "delete_note", json!({"id": 2})).await;

    // The same answer as a plain scope denial's, whatever Cedar's reason.
    let bob = session(as_caller(Principal::new("bob"))).await;
    let not_a_reader = call(&bob, "list", json!({})).await;
    let text = |r: &CallToolResult| {
        let error = crate::sanitize::error_facts(r).unwrap().clone();
        (
            error["category"].clone(),
            error["message"].clone(),
            r.is_error,
        )
    };
    for denied in [&forbidden, &missing, &unpermitted] {
        assert_eq!(text(denied), text(&not_a_reader));
        let wire = serde_json::to_string(denied).unwrap();
        for secret in ["cedar", "Note", "forbid", "note 7", "missing", "owner"] {
            assert!(!wire.contains(secret), "{secret} in {wire}");
        }
    }
}

#[test]
fn a_set_bound_to_one_server_cannot_be_bound_to_different_operations() {
    let set = policies(PERMIT_ALL);
    let _first = SecureServer::builder(Desk::default())
        .cedar(set.clone())
        .unwrap();
    // The same operations: the same schema, accepted.
    let _same = SecureServer::builder(Desk::default())
        .cedar(set.clone())
        .unwrap();
    let message = refusal(Other, set.clone());
    assert!(message.contains("another server's operations"), "{message}");
    assert!(set.clone().with_schema("x", "entity X;").is_err());
}

#[tokio::test(start_paused = true)]
async fn the_fail_closed_audit_probes_every_cedar_tool_with_sets_that_must_deny() {
    let set = policies(POLICIES);
    let (server, runs) = server_with(&set);
    let report = crate::testing::check_fail_closed(&server).await;
    report.assert_fail_closed();
    // 4 tools × 9 faults × 2 argument shapes, then the Cedar sets: 3 for each of the 4
    // Cedar tools, and the missing entity for the 2 that name their resource, × 2 shapes.
    assert_eq!(report.calls(), 4 * 9 * 2 + (4 * 3 + 2) * 2 + 9, "{report}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    // Without a server, a Cedar fault is a Cedar part with no set: it denies.
    let alone = crate::testing::failing_policy(
        crate::testing::PolicyFault::CedarError,
        std::time::Duration::ZERO,
    );
    assert!(!alone.allows_locally(&ada()));
}

#[test]
fn the_manifest_names_each_cedar_action_and_the_digest_of_the_set_in_force() {
    let set = policies(POLICIES);
    let (server, _) = server_with(&set);
    let manifest = serde_json::to_value(server.manifest()).unwrap();
    assert_eq!(manifest["cedar_policies"], set.digest());
    let authz = |name: &str| {
        manifest["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|tool| tool["name"] == name)
            .unwrap()["authz"]
            .clone()
    };
    assert_eq!(
        authz("delete_note")["cedar_action"],
        "Action::\"delete_note\""
    );
    assert_eq!(
        authz("delete_note")["policy"],
        "cedar (resource: Note from `id`)"
    );
    assert_eq!(authz("delete_note")["custom"], true);
    assert_eq!(authz("audit")["cedar_action"], "Action::\"audit\"");
    assert_eq!(
        manifest["prompts"][0]["authz"]["cedar_action"],
        "Action::\"prompt:brief\""
    );

    let digest = set.replace("notes.cedar", PERMIT_ALL).unwrap();
    let manifest = serde_json::to_value(server.manifest()).unwrap();
    assert_eq!(manifest["cedar_policies"], digest);

    let plain = serde_json::to_value(SecureServer::new(Desk::default()).manifest()).unwrap();
    assert_eq!(plain["cedar_policies"], Value::Null);
    assert_eq!(plain["tools"][0]["authz"]["cedar_action"], Value::Null);
}

#[tokio::test]
async fn each_denial_cause_through_a_session_is_logged_and_answered_alike() {
    let log = Log::default();
    let _default = crate::test_log::set_default(log.subscriber());
    let set = policies(POLICIES);
    let as_caller = |who: Principal| {
        SecureServer::builder(Desk::default())
            .cedar(set.clone())
            .unwrap()
            .local_principal(who)
            .build()
    };
    let owner = session(as_caller(ada())).await;
    owner.list_all_tools().await.unwrap();
    let overflow = session(as_caller(
        Principal::new("overflow").with_scopes(["notes:read"]),
    ))
    .await;
    overflow.list_all_tools().await.unwrap();
    let unbound = session(
        SecureServer::builder(Desk::default())
            .local_principal(ada())
            .build(),
    )
    .await;
    unbound.list_all_tools().await.unwrap();
    let cases = [
        (
            &owner,
            "delete_note",
            json!({"id": 2}),
            "cedar: no policy permits action delete_note",
        ),
        (
            &owner,
            "delete_note",
            json!({"id": 7}),
            "cedar: forbidden by note 7 is kept",
        ),
        (
            &owner,
            "delete_note",
            json!({"id": 404}),
            "cedar: missing entity: Note::\"404\" does not exist",
        ),
        (
            &owner,
            "delete_note",
            json!({"id": "x"}),
            "cedar: missing entity",
        ),
        (
            &owner,
            "delete_note",
            json!({"id": 13}),
            "policy error: loading Note::\"13\"",
        ),
        (
            &owner,
            "delete_note",
            json!({"id": 99}),
            "cedar: Note::\"99\" does not fit the schema",
        ),
        (
            &owner,
            "rename",
            json!({"id": 1, "title": "t", "tags": "mine"}),
            "cedar: the call does not fit the schema",
        ),
        (&overflow, "list", json!({}), "cedar: evaluation error"),
        (&unbound, "list", json!({}), "cedar: no policy set"),
    ];
    let mut answers = Vec::new();
    for (client, tool, arguments, cause) in cases {
        let before = log.text().len();
        let result = call(client, tool, arguments.clone()).await;
        let logged = log.text()[before..].to_owned();
        assert!(logged.contains(cause), "{tool} {arguments}: {logged}");
        let facts = crate::sanitize::error_facts(&result).unwrap().clone();
        assert_eq!(facts["category"], "denied", "{tool} {arguments}");
        let text: String = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect();
        let incident = facts["incident_id"].as_str().unwrap().to_owned();
        answers.push(text.replace(&incident, "<incident>"));
    }
    answers.dedup();
    assert_eq!(answers.len(), 1, "one answer for every cause: {answers:?}");
}

#[tokio::test]
async fn policies_on_one_line_are_told_apart_by_their_column() {
    let set = policies(
        "permit(principal, action == Action::\"list\", resource); \
         forbid(principal, action, resource) when { principal.subject == \"bob\" };",
    );
    let (server, _) = server_with(&set);
    assert!(allowed(&server, "list", json!({}), ada()).await);
    let bob = Principal::new("bob");
    let cause = cause_of(allowed(&server, "list", json!({}), bob)).await;
    assert!(cause.contains("forbidden by notes.cedar:1:56"), "{cause}");
}

#[tokio::test]
async fn a_blank_id_annotation_names_a_policy_by_where_it_is() {
    let set = policies(
        "permit(principal, action == Action::\"list\", resource);\n\
         @id(\" \")\n\
         forbid(principal, action, resource) when { principal.subject == \"bob\" };",
    );
    let (server, _) = server_with(&set);
    let cause = cause_of(allowed(&server, "list", json!({}), Principal::new("bob"))).await;
    assert!(cause.contains("forbidden by notes.cedar:2 "), "{cause}");
}

#[test]
fn the_schema_is_the_fragment_then_the_generated_part_each_on_lines_of_its_own() {
    let bound = |fragment: &str| {
        let set = permitting_all_with(fragment);
        let _server = server_with(&set);
        set.schema().unwrap().to_owned()
    };
    let generated = "// Generated by secure-tool";
    // A fragment that ends its last line, and one that does not, are followed by the
    // generated part on the next line; without a fragment, the generated part is all.
    for fragment in [
        "entity Note { owner: String };\n",
        "entity Note { owner: String };",
    ] {
        let schema = bound(fragment);
        assert!(
            schema.starts_with(&format!("entity Note {{ owner: String }};\n{generated}")),
            "{fragment:?}\n=> {schema}"
        );
    }
    let alone = CedarPolicies::from_text("p.cedar", PERMIT_ALL).unwrap();
    let _server = SecureServer::builder(Other).cedar(alone.clone()).unwrap();
    let schema = alone.schema().unwrap();
    assert!(schema.starts_with(generated), "{schema}");
}

#[test]
fn an_error_in_the_generated_part_of_the_schema_is_told_by_its_line_there() {
    // The tools name `Note` resources, which the fragment does not declare: the error is
    // in the generated part, and told by its line there.
    let set = permitting_all_with("entity Folder;\n\n\nentity Shelf;");
    let message = refusal(Desk::default(), set);
    let at = "the schema generated from the server's operations, line ";
    let line: usize = message
        .split_once(at)
        .and_then(|(_, rest)| rest.split_once(':'))
        .and_then(|(line, _)| line.parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    // That line names a `Note` (Cedar reports one of the lines that do).
    let set = policies(PERMIT_ALL);
    let _server = server_with(&set);
    let schema = set.schema().unwrap();
    let generated = schema.strip_prefix(SCHEMA).unwrap();
    let named = generated.lines().nth(line - 1).unwrap_or_default();
    assert!(
        named.contains("resource: [Note]"),
        "line {line}: {named}\n{schema}"
    );
}

#[test]
fn a_policy_set_shows_its_digest_and_whether_it_is_bound() {
    let set = policies(PERMIT_ALL);
    let digest = set.digest();
    let shown = format!("{set:?}");
    assert!(
        shown.starts_with(&format!(
            "CedarPolicies {{ digest: {digest:?}, bound: false"
        )),
        "{shown}"
    );
    let _server = server_with(&set);
    let shown = format!("{set:?}");
    assert!(shown.contains("bound: true"), "{shown}");
}

#[derive(Clone)]
struct Twice;

#[secure_tool_router]
impl Twice {
    /// Two Cedar parts naming the same resource: one action.
    #[secure_tool(
        authz = all_of([cedar().resource("Note", "id").into(), cedar().resource("Note", "id").into()]),
        mode = write
    )]
    async fn agreeing(&self, args: NoteId, _w: WriteAccess<'_>) -> Result<Done, ToolError> {
        let _ = args.id;
        Ok(Done { ok: true })
    }
}

impl rmcp::ServerHandler for Twice {}

#[derive(Clone)]
struct Split;

#[secure_tool_router]
impl Split {
    /// Two Cedar parts naming different resources.
    #[secure_tool(
        authz = any_of([cedar().resource("Note", "id").into(), cedar().into()]),
        mode = write
    )]
    async fn torn(&self, args: NoteId, _w: WriteAccess<'_>) -> Result<Done, ToolError> {
        let _ = args.id;
        Ok(Done { ok: true })
    }
}

impl rmcp::ServerHandler for Split {}

#[test]
fn an_operation_is_one_cedar_action_whatever_its_parts() {
    let set = policies(PERMIT_ALL);
    SecureServer::builder(Twice).cedar(set).unwrap();
    let set = policies(PERMIT_ALL);
    let message = refusal(Split, set);
    assert!(
        message
            .contains("tool `torn` has two Cedar parts that name different resources or contexts"),
        "{message}"
    );
}

/// What a caller-specific tool list shows: a Cedar part may let any named caller in (its
/// answer is known only when asked), never an anonymous one; the parts beside it still
/// count.
#[test]
fn a_cedar_part_may_admit_any_named_caller_until_it_is_asked() {
    let alone: crate::authz::Policy = cedar().into();
    assert!(alone.may_admit(&ada()));
    assert!(!alone.may_admit(&Principal::anonymous()));
    let with_role = all_of([roles("admin"), cedar().into()]);
    assert!(with_role.may_admit(&admin()));
    assert!(!with_role.may_admit(&ada()));
}
