//! Resources under the guard, end to end through an rmcp client: what each caller is
//! listed, what a read answers, and that the state's own handlers are not served unless
//! named.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rmcp::model::{
    CompleteRequestParams, ReadResourceRequestParams, ResourceContents, ServerCapabilities,
};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};

use super::StoreError;
use super::serve_built;
use crate::authz::{Principal, roles, scopes};
use crate::prelude::*;
use crate::resource::{ResourceBody, ResourceRoute, ResourceSpec};
use crate::route::{ArgumentsType, ErrorType, Handler, NoArguments, SecureToolRouter};
use crate::server::Unguarded;
use crate::test_log::Log;

/// A server state whose own rmcp handlers would publish secrets, were they forwarded.
#[derive(Clone, Default)]
struct Library {
    reads: Arc<AtomicUsize>,
}

// The state declares logging too, which rmcp deprecates: it must not be advertised.
#[allow(deprecated)]
impl rmcp::ServerHandler for Library {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        let mut info = rmcp::model::ServerConfig::default();
        info.capabilities = ServerCapabilities::builder()
            .enable_prompts()
            .enable_completions()
            .enable_logging()
            .enable_resources()
            .enable_skills_with_directory_read()
            .build();
        info
    }

    async fn list_prompts(
        &self,
        _: Option<rmcp::model::PaginatedRequestParams>,
        _: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ListPromptsResult, rmcp::ErrorData> {
        Ok(rmcp::model::ListPromptsResult::with_all_items(vec![
            rmcp::model::Prompt::new("secret_prompt", Some("SECRET-PROMPT"), None),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ReadResourceResponse, rmcp::ErrorData> {
        Ok(
            rmcp::model::ReadResourceResult::new(vec![ResourceContents::text(
                "SECRET-RESOURCE",
                request.uri,
            )])
            .into(),
        )
    }

    async fn read_resource_directory(
        &self,
        _: rmcp::model::ReadResourceDirectoryRequestParams,
        _: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ReadResourceDirectoryResult, rmcp::ErrorData> {
        Ok(rmcp::model::ListResourcesResult::with_all_items(vec![
            rmcp::model::Resource::new("SECRET-ENTRY", "secret"),
        ]))
    }

    async fn complete(
        &self,
        _: CompleteRequestParams,
        _: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CompleteResult, rmcp::ErrorData> {
        Ok(rmcp::model::CompleteResult::new(
            rmcp::model::CompletionInfo::new(vec!["SECRET-TITLE".into()]).unwrap(),
        ))
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoteUri {
    #[schemars(range(min = 1))]
    id: u64,
}

async fn readme(
    _: &Library,
    _: NoArguments,
    _: crate::context::Grant<'_>,
) -> Result<ResourceBody, ToolError> {
    Ok(ResourceBody::text("# Library"))
}

async fn note(
    library: &Library,
    uri: NoteUri,
    _: crate::context::Grant<'_>,
) -> Result<ResourceBody, ToolError> {
    library.reads.fetch_add(1, Ordering::SeqCst);
    match uri.id {
        1 => Ok(ResourceBody::text("first note")),
        2 => Ok(ResourceBody::blob(vec![0, 159, 146, 150], "image/png")),
        // A handler's own not-found message, with the caller's id in it.
        id => Err(ToolError::not_found(format!("no note {id} in shelf B"))),
    }
}

async fn audit_log(
    library: &Library,
    _: NoArguments,
    _: crate::context::Grant<'_>,
) -> Result<ResourceBody, ToolError> {
    library.reads.fetch_add(1, Ordering::SeqCst);
    Ok(ResourceBody::text("admin only"))
}

async fn broken(
    library: &Library,
    _: NoArguments,
    _: crate::context::Grant<'_>,
) -> Result<ResourceBody, StoreError> {
    library.reads.fetch_add(1, Ordering::SeqCst);
    Err(StoreError(std::io::Error::from(
        std::io::ErrorKind::ConnectionRefused,
    )))
}

async fn exploding(
    library: &Library,
    _: NoArguments,
    _: crate::context::Grant<'_>,
) -> Result<ResourceBody, ToolError> {
    library.reads.fetch_add(1, Ordering::SeqCst);
    panic!("invariant broken at /src/secret/path.rs")
}

async fn hanging(
    _: &Library,
    _: NoArguments,
    _: crate::context::Grant<'_>,
) -> Result<ResourceBody, ToolError> {
    std::future::pending().await
}

/// A fixed resource whose handler fails with a `ToolError`.
fn route<H>(spec: ResourceSpec, handler: H) -> ResourceRoute<Library>
where
    H: for<'a> Handler<
            'a,
            Library,
            NoArguments,
            crate::context::Grant<'a>,
            Result<ResourceBody, ToolError>,
        >,
{
    ResourceRoute::new(spec, ArgumentsType::new(), ErrorType::new(), handler)
}

fn router() -> SecureToolRouter<Library> {
    SecureToolRouter::new()
        .with_resource(route(
            ResourceSpec::new("readme", "docs://readme", public()).with_mime_type("text/markdown"),
            readme,
        ))
        .with_resource(ResourceRoute::new(
            ResourceSpec::new("note", "notes://{id}", scopes("notes:read"))
                .with_description("One note."),
            ArgumentsType::<NoteUri>::new(),
            ErrorType::<ToolError>::new(),
            note,
        ))
        .with_resource(route(
            ResourceSpec::new("audit", "admin://audit", roles("admin")),
            audit_log,
        ))
        .with_resource(ResourceRoute::new(
            ResourceSpec::new("broken", "docs://broken", public()),
            ArgumentsType::new(),
            ErrorType::<StoreError>::new(),
            broken,
        ))
        .with_resource(route(
            ResourceSpec::new("exploding", "docs://exploding", public()),
            exploding,
        ))
        .with_resource(route(
            ResourceSpec::new("hanging", "docs://hanging", public())
                .with_timeout(Duration::from_secs(1)),
            hanging,
        ))
}

fn reader() -> Principal {
    Principal::new("alice").with_scopes(["notes:read"])
}

async fn connect(
    library: Library,
    principal: Principal,
    unguarded: &[Unguarded],
) -> RunningService<RoleClient, ()> {
    let mut builder =
        crate::SecureServerBuilder::with_router(library, router()).local_principal(principal);
    for surface in unguarded {
        builder = builder.with_unguarded(*surface, "the test says so");
    }
    let server = builder.build();
    ().serve(serve_built(server))
        .await
        .expect("client connects")
}

fn text_of(contents: &ResourceContents) -> &str {
    match contents {
        ResourceContents::TextResourceContents { text, .. } => text,
        ResourceContents::BlobResourceContents { blob, .. } => blob,
        _ => "",
    }
}

#[tokio::test]
async fn each_caller_is_listed_the_resources_it_may_read_and_reads_them() {
    let library = Library::default();
    let client = connect(library.clone(), reader(), &[]).await;

    let listed = client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
    // Not `admin://audit`: the reader is no admin.
    assert_eq!(
        uris,
        [
            "docs://readme",
            "docs://broken",
            "docs://exploding",
            "docs://hanging"
        ]
    );
    assert_eq!(listed[0].mime_type.as_deref(), Some("text/markdown"));
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].uri_template, "notes://{id}");
    assert_eq!(templates[0].description.as_deref(), Some("One note."));

    let read = client
        .read_resource(ReadResourceRequestParams::new("notes://1"))
        .await
        .unwrap();
    assert_eq!(read.contents.len(), 1);
    assert_eq!(text_of(&read.contents[0]), "first note");
    let ResourceContents::TextResourceContents { uri, .. } = &read.contents[0] else {
        panic!("text contents");
    };
    assert_eq!(uri, "notes://1");

    let blob = client
        .read_resource(ReadResourceRequestParams::new("notes://2"))
        .await
        .unwrap();
    let ResourceContents::BlobResourceContents {
        blob, mime_type, ..
    } = &blob.contents[0]
    else {
        panic!("blob contents: {blob:?}");
    };
    assert_eq!(blob, "AJ+Slg==");
    assert_eq!(mime_type.as_deref(), Some("image/png"));

    // An admin is listed the audit log too.
    let admin = connect(library, Principal::new("root").with_roles(["admin"]), &[]).await;
    let listed = admin.list_all_resources().await.unwrap();
    assert!(listed.iter().any(|r| r.uri == "admin://audit"));
    // ... but no template: it lacks `notes:read`.
    assert!(
        admin
            .list_all_resource_templates()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn denied_missing_and_malformed_reads_get_one_answer_without_the_uri() {
    async fn read(client: &RunningService<RoleClient, ()>, uri: &str) -> String {
        client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap_err()
            .to_string()
    }
    let library = Library::default();
    let anonymous = connect(library.clone(), Principal::anonymous(), &[]).await;
    let reader = connect(library.clone(), reader(), &[]).await;

    let answers = [
        ("denied", read(&anonymous, "notes://1").await),
        ("denied, admin only", read(&reader, "admin://audit").await),
        (
            "missing: the handler's not_found",
            read(&reader, "notes://777").await,
        ),
        (
            "malformed: not a number",
            read(&reader, "notes://seven").await,
        ),
        (
            "malformed: below the schema's minimum",
            read(&reader, "notes://0").await,
        ),
        (
            "no resource at that URI",
            read(&reader, "other://777").await,
        ),
    ];
    let (_, first) = &answers[0];
    for (case, answer) in &answers {
        assert_eq!(answer, first, "{case}");
        for echoed in ["777", "seven", "notes://", "shelf", "admin"] {
            assert!(!answer.contains(echoed), "{case} echoes {echoed}: {answer}");
        }
    }
    assert!(first.contains("Resource not found"), "{first}");
    // Only the handler's own not-found ran it: denied and malformed reads never reach it.
    assert_eq!(library.reads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failed_read_is_sanitized_and_its_internals_are_only_in_the_log() {
    let log = Log::default();
    let _guard = crate::test_log::set_default(log.subscriber());
    let library = Library::default();
    let server = crate::SecureServerBuilder::with_router(library.clone(), router()).build();

    let failed = server
        .read_resource("docs://broken", Principal::anonymous())
        .await
        .unwrap_err();
    assert_eq!(failed.code.0, -32603);
    let data = failed.data.clone().unwrap();
    assert_eq!(data["category"], "unavailable");
    assert_eq!(data["retryable"], true);
    let incident = data["incident_id"].as_str().unwrap().to_owned();
    assert!(failed.message.contains(&incident), "{}", failed.message);
    let answer = serde_json::to_string(&failed).unwrap();
    for secret in ["SELECT", "/var/lib", "refused"] {
        assert!(!answer.contains(secret), "{answer}");
    }

    let exploded = server
        .read_resource("docs://exploding", Principal::anonymous())
        .await
        .unwrap_err();
    assert_eq!(exploded.data.as_ref().unwrap()["category"], "internal");
    assert!(
        !serde_json::to_string(&exploded)
            .unwrap()
            .contains("secret/path")
    );
    // The server still serves after a panic.
    assert!(
        server
            .read_resource("docs://readme", Principal::anonymous())
            .await
            .is_ok()
    );

    let logged = log.text();
    let line = logged
        .lines()
        .find(|line| line.contains(&incident))
        .expect("the failure is logged under its incident id");
    assert!(
        line.contains("resource=\"broken\"") || line.contains("resource=broken"),
        "{line}"
    );
    assert!(line.contains("SELECT * FROM notes"), "{line}");
    assert!(line.contains("resource read failed"), "{line}");
    assert!(logged.contains("resource handler panicked"), "{logged}");
    assert!(
        logged.contains("secret/path.rs"),
        "the panic is in the log: {logged}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_read_past_its_deadline_times_out() {
    let server = crate::SecureServerBuilder::with_router(Library::default(), router()).build();
    let timed_out = server
        .read_resource("docs://hanging", Principal::anonymous())
        .await
        .unwrap_err();
    assert_eq!(timed_out.data.unwrap()["category"], "timeout");
}

#[tokio::test]
async fn the_server_policy_applies_to_resources_too() {
    let server = crate::SecureServerBuilder::with_router(Library::default(), router())
        .server_policy(roles("staff"))
        .build();
    assert!(server.resources_for(&reader()).is_empty());
    assert!(server.resource_templates_for(&reader()).is_empty());
    let denied = server
        .read_resource("notes://1", reader())
        .await
        .unwrap_err();
    let missing = server
        .read_resource("nothing://here", reader())
        .await
        .unwrap_err();
    assert_eq!(denied, missing);
    let staff = reader().with_roles(["staff"]);
    assert!(server.read_resource("notes://1", staff).await.is_ok());
}

#[tokio::test]
async fn the_states_own_handlers_are_not_served_unless_named() {
    let client = connect(Library::default(), reader(), &[]).await;
    let info = client.peer_info().unwrap();
    let capabilities = &info.capabilities;
    // Resources are served (secure ones); what the state alone declares is not advertised.
    assert!(capabilities.resources.is_some());
    assert!(capabilities.prompts.is_none());
    assert!(capabilities.completions.is_none());
    // Logging is the server's own: handlers' messages, at the level each session sets.
    assert_eq!(capabilities.logging, Some(Default::default()));

    let prompts = client.list_prompts(None).await.unwrap_err().to_string();
    assert!(!prompts.contains("SECRET"), "{prompts}");
    let completed = client
        .complete(CompleteRequestParams::new(
            rmcp::model::Reference::for_prompt("secret_prompt"),
            rmcp::model::ArgumentInfo::new("title", "S"),
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(!completed.contains("SECRET"), "{completed}");
    // A URI no secure resource matches is not handed to the state's `read_resource`.
    let read = client
        .read_resource(ReadResourceRequestParams::new("secret://anything"))
        .await
        .unwrap_err()
        .to_string();
    assert!(read.contains("Resource not found"), "{read}");

    // Named, each is forwarded and advertised.
    let client = connect(
        Library::default(),
        reader(),
        &[
            Unguarded::Prompts,
            Unguarded::Completions,
            Unguarded::Resources,
        ],
    )
    .await;
    let capabilities = &client.peer_info().unwrap().capabilities;
    assert!(capabilities.prompts.is_some());
    assert!(capabilities.completions.is_some());
    assert_eq!(capabilities.logging, Some(Default::default()));
    let prompts = client.list_prompts(None).await.unwrap();
    assert_eq!(prompts.prompts[0].name, "secret_prompt");
    let read = client
        .read_resource(ReadResourceRequestParams::new("secret://anything"))
        .await
        .unwrap();
    assert_eq!(text_of(&read.contents[0]), "SECRET-RESOURCE");
    // Secure resources still go through the guard first.
    let read = client
        .read_resource(ReadResourceRequestParams::new("notes://1"))
        .await
        .unwrap();
    assert_eq!(text_of(&read.contents[0]), "first note");
}

#[test]
fn the_manifest_lists_resources_and_unguarded_surfaces() {
    let server = crate::SecureServerBuilder::with_router(Library::default(), router())
        .with_unguarded(Unguarded::Logging, "levels only")
        .build();
    let manifest = serde_json::to_value(server.manifest()).unwrap();
    let note = manifest["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "note")
        .unwrap();
    assert_eq!(note["uri"], "notes://{id}");
    assert_eq!(note["template"], true);
    assert_eq!(note["authz"]["scopes"], serde_json::json!(["notes:read"]));
    assert_eq!(note["deadline_ms"], 30_000);
    assert_eq!(
        manifest["unguarded_surfaces"],
        serde_json::json!([{ "surface": "logging", "reason": "levels only" }])
    );
}

#[test]
#[should_panic(expected = "needs a reason")]
fn forwarding_unguarded_needs_a_reason() {
    let _ = crate::SecureServerBuilder::with_router(Library::default(), router())
        .with_unguarded(Unguarded::Prompts, "  ");
}

#[test]
#[should_panic(expected = "has a variable `id` that its parameters type has no field for")]
fn a_template_variable_without_a_field_is_refused() {
    let _ = ResourceRoute::new(
        ResourceSpec::new("note", "notes://{id}", public()),
        ArgumentsType::<NoArguments>::new(),
        ErrorType::<ToolError>::new(),
        readme,
    );
}

#[test]
#[should_panic(expected = "its parameters require `id`, which the URI `docs://all` does not give")]
fn a_required_field_the_uri_cannot_give_is_refused() {
    let _ = ResourceRoute::new(
        ResourceSpec::new("note", "docs://all", public()),
        ArgumentsType::<NoteUri>::new(),
        ErrorType::<ToolError>::new(),
        note,
    );
}

#[test]
#[should_panic(expected = "have the same URI")]
fn two_resources_at_one_uri_are_refused() {
    let route = |name, uri| {
        ResourceRoute::new(
            ResourceSpec::new(name, uri, public()),
            ArgumentsType::new(),
            ErrorType::new(),
            readme,
        )
    };
    // The same URI spelled otherwise is the same URI.
    let _ = SecureToolRouter::<Library>::new()
        .with_resource(route("a", "docs://readme"))
        .with_resource(route("b", "Docs://READ%4De"));
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct PageUri {
    page: String,
}

async fn page(
    library: &Library,
    uri: PageUri,
    _: crate::context::Grant<'_>,
) -> Result<ResourceBody, ToolError> {
    library.reads.fetch_add(1, Ordering::SeqCst);
    Ok(ResourceBody::text(format!("page {}", uri.page)))
}

/// A fixed resource for admins inside a template anyone may read: the fixed one is
/// matched first, in whatever spelling the URI comes.
fn admin_pages() -> SecureToolRouter<Library> {
    SecureToolRouter::new()
        .with_resource(route(
            ResourceSpec::new("audit", "admin://audit", roles("admin")),
            audit_log,
        ))
        .with_resource(ResourceRoute::new(
            ResourceSpec::new("page", "admin://{page}", public()),
            ArgumentsType::<PageUri>::new(),
            ErrorType::<ToolError>::new(),
            page,
        ))
}

#[tokio::test]
async fn a_uri_spelled_otherwise_is_the_same_resource_and_gets_its_policy() {
    let library = Library::default();
    let server = crate::SecureServerBuilder::with_router(library.clone(), admin_pages()).build();
    let missing = server
        .read_resource("nothing://here", reader())
        .await
        .unwrap_err();
    // The same fixed resource: denied to a reader like the plain spelling, never answered
    // by the template anyone may read.
    for spelling in [
        "admin://audit",
        "admin://%61udit",
        "admin://%61%75%64%69%74",
        "ADMIN://audit",
        "Admin://%61udit",
    ] {
        let denied = server.read_resource(spelling, reader()).await.unwrap_err();
        assert_eq!(denied, missing, "{spelling}");
    }
    assert_eq!(library.reads.load(Ordering::SeqCst), 0);
    let admin = reader().with_roles(["admin"]);
    let read = server
        .read_resource("admin://%61udit", admin)
        .await
        .unwrap();
    assert_eq!(text_of(&read.contents[0]), "admin only");
    // The template still serves its own pages, decoded.
    let read = server
        .read_resource("admin://%68elp%20me", reader())
        .await
        .unwrap();
    assert_eq!(text_of(&read.contents[0]), "page help me");
    // A value that is not one path segment matches nothing: separators written or
    // encoded, dot segments, control characters.
    for outside in [
        "admin://a%2Fb",
        "admin://a%2fb",
        "admin://%2E%2E",
        "admin://..",
        "admin://.",
        "admin://a%3Fb",
        "admin://a%23b",
        "admin://a%00b",
        "admin://a%0Ab",
    ] {
        let refused = server.read_resource(outside, reader()).await.unwrap_err();
        assert_eq!(refused, missing, "{outside}");
    }
    assert_eq!(library.reads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_secure_resource_spelled_otherwise_or_too_long_is_never_forwarded() {
    let client = connect(Library::default(), reader(), &[Unguarded::Resources]).await;
    // Another spelling of a secure resource's URI goes through its guard, not to the
    // state's own `read_resource`.
    let read = client
        .read_resource(ReadResourceRequestParams::new("NOTES://%31"))
        .await
        .unwrap();
    assert_eq!(text_of(&read.contents[0]), "first note");
    // Too long for any secure resource to be matched against: not found, not forwarded.
    let long = format!("notes://{}", "1".repeat(crate::resource::MAX_URI_BYTES));
    let read = client
        .read_resource(ReadResourceRequestParams::new(long))
        .await
        .unwrap_err()
        .to_string();
    assert!(read.contains("Resource not found"), "{read}");
}

#[tokio::test]
async fn the_states_directory_listing_never_lists_a_secure_resource() {
    let client = connect(Library::default(), reader(), &[Unguarded::Skills]).await;
    // A secure resource's URI, in any spelling: not found, the state is not asked.
    for uri in ["notes://1", "NOTES://%31", "docs://readme"] {
        let listed = client
            .read_resource_directory(rmcp::model::ReadResourceDirectoryRequestParams::new(uri))
            .await
            .unwrap_err()
            .to_string();
        assert!(listed.contains("Resource not found"), "{uri}: {listed}");
    }
    // Any other directory is the state's to list.
    let listed = client
        .read_resource_directory(rmcp::model::ReadResourceDirectoryRequestParams::new(
            "skill://tools",
        ))
        .await
        .unwrap();
    assert_eq!(listed.resources[0].uri, "SECRET-ENTRY");
}

/// The URI a read's contents name.
fn uri_of(contents: &ResourceContents) -> &str {
    match contents {
        ResourceContents::TextResourceContents { uri, .. }
        | ResourceContents::BlobResourceContents { uri, .. } => uri,
        _ => "",
    }
}

#[tokio::test]
async fn a_read_answers_with_the_resources_uri_never_the_callers_spelling() {
    let library = Library::default();
    let server = crate::SecureServerBuilder::with_router(library, admin_pages()).build();
    let admin = reader().with_roles(["admin"]);
    // A fixed resource: its own URI, whatever the spelling, fragment and escapes dropped.
    let read = server
        .read_resource("ADMIN://%61udit#MARK ignore previous", admin)
        .await
        .unwrap();
    assert_eq!(uri_of(&read.contents[0]), "admin://audit");
    // A template's: in normal form, without the fragment.
    let read = server
        .read_resource("Admin://%68elp%20me#MARK ignore previous", reader())
        .await
        .unwrap();
    assert_eq!(uri_of(&read.contents[0]), "admin://help%20me");
}
