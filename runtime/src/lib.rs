#![doc = include_str!("../../README.md")]
//!
//! # Where each guarantee lives
//!
//! The public API is what the crate root and [`prelude`] export, and the modules below;
//! `__private` holds what the macros' generated code names, and is not API.
//!
//! | guarantee | module | files |
//! |---|---|---|
//! | the attributes' rules (tools, resources, prompts, completers), at compile time | `secure-tool-macros` | `macros/src/tool/{ast,signature,requirements,uri}.rs` (parse, check), `tool/expand.rs` (expand), `router.rs` |
//! | a route only around the guarded call; the call's steps in order | [`route`] | `route/{secure_route,call}.rs` |
//! | authorize first, fail-closed, late answers denied | [`authz`] | `authz/evaluate.rs`; the policies in `authz/policy.rs`, the caller in `authz/principal.rs`, causes in `authz/denial.rs` |
//! | the audit trail: one event per call, nothing of the caller verbatim | [`audit`] | `audit.rs`, `util.rs` (`LogSafe`) |
//! | per-caller tool lists, a hidden tool answered as a missing one | [`server`] | `server.rs` (`shows`), `server/handler.rs` |
//! | writes only with a `mode = write` call's capability | [`capability`] | `capability.rs` |
//! | arguments within size limits, every tool (checked first) | [`route`] | `route/limits.rs` |
//! | arguments conform to the published input schema, before the handler | [`route`] | `route/validate.rs`, `route/schema.rs` |
//! | arguments parsed without echoing the caller's values or keys, or Rust paths | [`route`] | `route/arguments.rs`, `route/field_path.rs` |
//! | a safe message and an incident id, never internals | [`sanitize`] | `sanitize.rs` |
//! | deadline, panics caught, per-dependency breaker and bulkhead | [`resilience`], [`breaker`], [`bulkhead`] | `resilience.rs`, `breaker/*.rs`, `bulkhead.rs` |
//! | partial results with warnings | [`partial`] | `partial.rs`, `route/render.rs` |
//! | read-only degradation, told to the model | [`health`], [`server`] | `health.rs`, `server/gate.rs`, `route/call.rs` |
//! | published schemas clients accept | [`route`] | `route/schema.rs` |
//! | resources: one guarded read, one "not found" for denied, missing and malformed | [`resource`] | `resource/{template,route,read}.rs`, `guard.rs`, `server/resources.rs` |
//! | prompts: one guarded get, arguments typed from text, denied answered as missing | [`prompt`] | `prompt/{route,get}.rs`, `guard.rs`, `server/prompts.rs` |
//! | completions under the guard of what they complete, nothing for the denied | [`completion`] | `completion.rs`, `server/completions.rs` |
//! | rich tool results that cannot be errors | [`route`] | `route/rich.rs` |
//! | a call's session (progress, cancellation, client log, elicitation, sampling) only after the guard, public text only | [`context`] | `context.rs` |
//! | serving: every surface through its guard, nothing forwarded unless named; the manifest | [`server`] | `server.rs` (`Unguarded`), `server/{builder,handler,manifest}.rs` |
//! | bearer tokens to principals over HTTP, sessions bound | `oauth` (feature) | `oauth.rs`, `oauth/*.rs` |
//! | every stdio request answered, within bounds | `stdio` (feature) | `stdio.rs` |
//! | proof that no tool is fail-open, in one line of a test | `testing` (feature) | `testing.rs` |
#![cfg_attr(docsrs, feature(doc_cfg))]

// Lets this crate's own tests and doctests use the macros, which name `::secure_tool`.
extern crate self as secure_tool;

pub mod audit;
pub mod authz;
pub mod breaker;
pub mod bulkhead;
pub mod capability;
#[cfg(feature = "cedar")]
#[cfg_attr(docsrs, doc(cfg(feature = "cedar")))]
pub mod cedar;
pub mod completion;
pub mod confirm;
pub mod context;
#[cfg(any(feature = "stdio", feature = "oauth"))]
mod echo;
mod guard;
pub mod health;
pub mod metrics;
#[cfg(feature = "oauth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub mod oauth;
pub mod partial;
pub mod prompt;
pub mod rate;
pub mod resilience;
pub mod resource;
pub mod route;
pub mod sanitize;
pub mod server;
#[cfg(feature = "stdio")]
#[cfg_attr(docsrs, doc(cfg(feature = "stdio")))]
pub mod stdio;
#[cfg(test)]
mod test_log;
#[cfg(feature = "testing")]
pub mod testing;
mod util;

/// Makes an `async fn` method of a [`#[secure_tool_router]`](secure_tool_router) impl
/// block a secure MCP tool: authorized first (fail-closed), then its arguments checked
/// (size limits, the published input schema) and parsed, then run under its deadline, bulkhead and breaker, its errors sanitized, one audit
/// event per call.
///
/// | Key | Required | Value |
/// |---|---|---|
/// | `authz` | yes | a policy: `public` (on a `mode = write` tool: [`public_because("...")`](authz::public_because), which says why anyone may change state), `authenticated`, `scopes("a")`, `scopes(["a", "b"])`, `roles(...)`, `all_of([...])`, `any_of([...])`, any [`Policy`] expression, or a value implementing [`Authorize`](authz::Authorize); names resolve where the handler is written ([`prelude`] brings the built-in ones) |
/// | `mode` | yes | `read` or `write`: sets `readOnlyHint` / `destructiveHint` and the write gate of [read-only degradation](health) |
/// | `breaker` | no | the dependency the tool calls: a place holding a [`Dependency`](resilience::Dependency) or a [`CircuitBreaker`](breaker::CircuitBreaker), such as `self.store` |
/// | `timeout` | no | the deadline of every call: `"500ms"`, `"5s"`, `"2m"`, `"1h"` or a `Duration` expression (default 30 s) |
/// | `argument_limits` | no | the size caps of the tool's arguments, an [`ArgumentLimits`](route::ArgumentLimits) expression (default: the server's, else [`ArgumentLimits::DEFAULT`](route::ArgumentLimits::DEFAULT)) |
/// | `name` | no | the tool's name (default: the function's name) |
/// | `description` | no | the tool's description (default: the doc comment, which is then required) |
/// | `title` | no | a human-readable title |
///
/// Accepted signatures, with `T: Deserialize + JsonSchema` (the input schema),
/// `O: Serialize + JsonSchema` (the output schema) and an error type `E` that is a
/// `std::error::Error` or a [`ToolError`], never raw text:
///
/// ```text
/// async fn tool(&self) -> Result<O, E>
/// async fn tool(&self, args: T) -> Result<O, E>
/// async fn tool(&self, access: WriteAccess<'_>) -> Result<O, E>           // mode = write only
/// async fn tool(&self, args: T, access: WriteAccess<'_>) -> Result<O, E>  // mode = write only
/// ```
///
/// [`WriteAccess`] is recognised by the last segment of its type's path, must come last
/// and by value, and is granted only to `mode = write` tools.
///
/// ```
/// use secure_tool::prelude::*;
///
/// #[derive(Clone)]
/// struct Notes;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct NewNote { title: String }
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Note { id: u64, title: String }
///
/// #[secure_tool_router]
/// impl Notes {
///     /// Creates a note.
///     #[secure_tool(authz = scopes("notes:write"), mode = write, timeout = "5s")]
///     async fn create_note(&self, args: NewNote, _access: WriteAccess<'_>) -> Result<Note, ToolError> {
///         if args.title.is_empty() {
///             return Err(ToolError::invalid_input("`title` must not be empty"));
///         }
///         Ok(Note { id: 1, title: args.title })
///     }
/// }
/// impl secure_tool::rmcp::ServerHandler for Notes {}
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = SecureServer::new(Notes);
/// let arguments = serde_json::json!({ "title": "groceries" }).as_object().cloned();
/// let writer = Principal::new("ada").with_scopes(["notes:write"]);
/// let created = server.call("create_note", arguments.clone(), writer).await.unwrap();
/// assert_eq!(created.structured_content.unwrap()["title"], "groceries");
///
/// // Without the scope: the generic denial, and the handler never ran.
/// let denied = server.call("create_note", arguments, Principal::anonymous()).await.unwrap();
/// let facts = secure_tool::sanitize::error_facts(&denied).unwrap();
/// assert_eq!(facts["category"], "denied");
/// # }
/// ```
///
/// A tool that does not say who may call it does not compile:
///
/// ```compile_fail
/// use secure_tool::prelude::*;
///
/// #[derive(Clone)]
/// struct Notes;
///
/// #[secure_tool_router]
/// impl Notes {
///     /// Counts the notes.
///     #[secure_tool(mode = read)]
///     async fn count(&self) -> Result<u64, ToolError> {
///         Ok(0)
///     }
/// }
/// ```
///
/// ```text
/// error: `#[secure_tool]` requires `authz = ...`: the policy that decides who may call
///        this tool (for example `authz = scopes("notes:read")`, or `authz = public` to
///        let anyone in)
/// ```
///
/// Nor does a write tool open to anonymous callers that does not say why:
///
/// ```compile_fail
/// use secure_tool::prelude::*;
///
/// #[derive(Clone)]
/// struct Notes;
///
/// #[secure_tool_router]
/// impl Notes {
///     /// Deletes every note.
///     #[secure_tool(authz = public, mode = write)]
///     async fn clear(&self) -> Result<(), ToolError> {
///         Ok(())
///     }
/// }
/// ```
///
/// ```text
/// error: a `mode = write` tool with `authz = public` lets anyone, anonymous callers
///        included, change state: write `authz = public_because("...")` to say why, or
///        require a scope
/// ```
///
/// Each compile-time rule has a trybuild case under `tests/ui/fail/` in the repository.
#[cfg(feature = "macros")]
#[doc(inline)]
pub use secure_tool_macros::secure_tool;

/// Collects the [`#[secure_tool]`](macro@secure_tool),
/// [`#[secure_resource]`](macro@secure_resource) and [`#[secure_prompt]`](macro@secure_prompt)
/// methods of an impl block into the type's router, and refuses, at compile time, a plain
/// rmcp `#[tool]` among them, two handlers of one kind with the same name, and two
/// resources with the same URI.
///
/// On `impl T`, it implements [`SecureTools`] for `T`, which [`SecureServer`] serves. With
/// `#[secure_tool_router(router = name)]` it generates an inherent
/// `fn name() -> SecureToolRouter<T>` instead, for tools split over several impl blocks
/// (combined with `+`):
///
/// ```
/// use secure_tool::prelude::*;
/// use secure_tool::SecureToolRouter;
///
/// #[derive(Clone)]
/// struct Server;
///
/// #[secure_tool_router(router = read_tools)]
/// impl Server {
///     /// Says hello.
///     #[secure_tool(authz = public, mode = read)]
///     async fn hello(&self) -> Result<String, ToolError> {
///         Ok("hello".into())
///     }
/// }
///
/// #[secure_tool_router(router = write_tools)]
/// impl Server {
///     /// Forgets everything.
///     #[secure_tool(authz = roles("admin"), mode = write)]
///     async fn reset(&self) -> Result<(), ToolError> {
///         Ok(())
///     }
/// }
///
/// impl SecureTools for Server {
///     fn secure_tool_router() -> SecureToolRouter<Self> {
///         Self::read_tools() + Self::write_tools()
///     }
/// }
/// impl secure_tool::rmcp::ServerHandler for Server {}
///
/// let manifest = SecureServer::new(Server).manifest();
/// let tools: Vec<&str> = manifest.tools.iter().map(|tool| tool.name.as_str()).collect();
/// assert_eq!(tools, ["hello", "reset"]);
/// ```
#[cfg(feature = "macros")]
#[doc(inline)]
pub use secure_tool_macros::secure_tool_router;

/// Makes an `async fn` method of a [`#[secure_tool_router]`](secure_tool_router) impl
/// block a secure MCP resource: a fixed URI (`docs://readme`) or a URI template
/// (`notes://{id}`) whose every read is authorized first (fail-closed), then its URI's
/// variables checked against the parameters' schema and parsed, then run under its
/// deadline, bulkhead and breaker, its errors sanitized, one audit event per read.
///
/// A read that the policy denies, of a URI that no resource matches, or whose variables
/// are not valid parameters, gets one answer, "resource not found", without the URI; and
/// `resources/list` and `resources/templates/list` show each caller only what it may read.
/// See [`resource`] for the guarded read.
///
/// | Key | Required | Value |
/// |---|---|---|
/// | `uri` | yes | a string literal: a fixed URI, or a template with `{name}` variables, checked at compile time by the rules of [`UriTemplate`](resource::UriTemplate) |
/// | `authz` | yes | a policy, as for [`#[secure_tool]`](macro@secure_tool): `public`, `authenticated`, `scopes("a")`, `roles(...)`, `all_of([...])`, `any_of([...])`, any [`Policy`] expression, or a value implementing [`Authorize`](authz::Authorize) |
/// | `breaker` | no | the dependency the handler reads from: a place holding a [`Dependency`](resilience::Dependency) or a [`CircuitBreaker`](breaker::CircuitBreaker), such as `self.store` |
/// | `timeout` | no | the deadline of every read: `"500ms"`, `"5s"`, `"2m"`, `"1h"` or a `Duration` expression (default 30 s) |
/// | `name` | no | the resource's name (default: the function's name) |
/// | `description` | no | the resource's description (default: the doc comment, which is then required) |
/// | `title` | no | a human-readable title |
/// | `mime_type` | no | the MIME type the resource is listed with, and read with when the [`ResourceBody`](resource::ResourceBody) sets none |
/// | `complete` | no | `complete(id = Self::note_ids, ..)`: each variable of the URI that has a completer, and the completer, a method of the same impl block, `async fn note_ids(&self, request: CompletionRequest) -> Result<Vec<String>, E>` (see [`completion`]); a name that is no variable of the URI does not compile |
///
/// A resource is read-only: it takes no `mode` (nor `argument_limits`) and cannot take
/// [`WriteAccess`]. Accepted signatures, with `P: Deserialize + JsonSchema` a struct with a
/// field per variable of the URI, and an error type `E` that is a `std::error::Error` or
/// a [`ToolError`], never raw text (`ToolError::not_found(..)` is answered as "resource not
/// found"):
///
/// ```text
/// async fn resource(&self) -> Result<ResourceBody, E>             // a fixed URI
/// async fn resource(&self, params: P) -> Result<ResourceBody, E>  // a URI template
/// ```
///
/// A variable is passed to `P` as text, or as the integer, number or boolean it spells when
/// its field is one (`id: u64` reads `notes://42`, and `notes://x` is not found).
///
/// ```
/// use secure_tool::prelude::*;
///
/// #[derive(Clone)]
/// struct Notes;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct NoteUri {
///     id: u64,
/// }
///
/// #[secure_tool_router]
/// impl Notes {
///     /// One note, as Markdown.
///     #[secure_resource(
///         uri = "notes://{id}",
///         authz = scopes("notes:read"),
///         mime_type = "text/markdown"
///     )]
///     async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> {
///         match params.id {
///             1 => Ok(ResourceBody::text("# Groceries")),
///             _ => Err(ToolError::not_found("no such note")),
///         }
///     }
///
///     /// How the notes are named.
///     #[secure_resource(uri = "docs://readme", authz = public, timeout = "2s")]
///     async fn readme(&self) -> Result<ResourceBody, ToolError> {
///         Ok(ResourceBody::text("Each note is at notes://{id}."))
///     }
/// }
/// impl secure_tool::rmcp::ServerHandler for Notes {}
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = SecureServer::new(Notes);
/// let reader = Principal::new("ada").with_scopes(["notes:read"]);
/// let read = server.read_resource("notes://1", reader.clone()).await.unwrap();
/// let contents = serde_json::to_value(&read.contents[0]).unwrap();
/// assert_eq!(contents["uri"], "notes://1");
/// assert_eq!(contents["text"], "# Groceries");
/// assert_eq!(contents["mimeType"], "text/markdown");
///
/// // Each caller is shown what it may read: anyone the readme, a reader the notes too.
/// let anonymous = Principal::anonymous();
/// assert_eq!(server.resources_for(&anonymous)[0].uri, "docs://readme");
/// assert!(server.resource_templates_for(&anonymous).is_empty());
/// assert_eq!(server.resource_templates_for(&reader)[0].uri_template, "notes://{id}");
///
/// // Denied, missing and malformed are one answer, which does not repeat the URI.
/// let denied = server.read_resource("notes://1", anonymous).await.unwrap_err();
/// let missing = server.read_resource("notes://2", reader.clone()).await.unwrap_err();
/// let malformed = server.read_resource("notes://x", reader).await.unwrap_err();
/// assert_eq!(denied, missing);
/// assert_eq!(missing, malformed);
/// # }
/// ```
///
/// A resource that does not say who may read it does not compile:
///
/// ```compile_fail
/// use secure_tool::prelude::*;
///
/// #[derive(Clone)]
/// struct Docs;
///
/// #[secure_tool_router]
/// impl Docs {
///     /// The readme.
///     #[secure_resource(uri = "docs://readme")]
///     async fn readme(&self) -> Result<ResourceBody, ToolError> {
///         Ok(ResourceBody::text("# Docs"))
///     }
/// }
/// ```
///
/// ```text
/// error: `#[secure_resource]` requires `authz = ...`: the policy that decides who may read
///        this resource (for example `authz = scopes("notes:read")`, or `authz = public`
///        to let anyone in)
/// ```
///
/// Each compile-time rule has a trybuild case under `tests/ui/fail/` in the repository
/// (`resource_*.rs`).
#[cfg(feature = "macros")]
#[doc(inline)]
pub use secure_tool_macros::secure_resource;

/// Makes an `async fn` method of a [`#[secure_tool_router]`](secure_tool_router) impl
/// block a secure MCP prompt: every get is authorized first (fail-closed), then its
/// arguments checked against the arguments' schema and parsed, then run under its deadline,
/// bulkhead and breaker, its errors sanitized, one audit event per get.
///
/// `prompts/list` shows each caller only the prompts it may get, with their arguments (the
/// fields of the arguments struct: a field's doc comment is its description, a field
/// without a default is required). A get that the policy denies gets the answer of a get of
/// a prompt that does not exist. See [`prompt`] for the guarded get.
///
/// | Key | Required | Value |
/// |---|---|---|
/// | `authz` | yes | a policy, as for [`#[secure_tool]`](macro@secure_tool): `public`, `authenticated`, `scopes("a")`, `roles(...)`, `all_of([...])`, `any_of([...])`, any [`Policy`] expression, or a value implementing [`Authorize`](authz::Authorize) |
/// | `breaker` | no | the dependency the handler reads from: a place holding a [`Dependency`](resilience::Dependency) or a [`CircuitBreaker`](breaker::CircuitBreaker), such as `self.store` |
/// | `timeout` | no | the deadline of every get: `"500ms"`, `"5s"`, `"2m"`, `"1h"` or a `Duration` expression (default 30 s) |
/// | `name` | no | the prompt's name (default: the function's name) |
/// | `description` | no | the prompt's description (default: the doc comment, which is then required) |
/// | `title` | no | a human-readable title |
/// | `complete` | no | `complete(topic = Self::topics, ..)`: each argument that has a completer, and the completer, a method of the same impl block, `async fn topics(&self, request: CompletionRequest) -> Result<Vec<String>, E>` (see [`completion`]); a name that is no argument panics when the router is built |
///
/// A prompt is read-only: it takes no `mode` (nor `argument_limits`, `uri` or
/// `mime_type`) and cannot take [`WriteAccess`]. Accepted signatures, with
/// `A: Deserialize + JsonSchema` a struct whose fields are text, numbers or booleans (MCP
/// prompt arguments are text: one whose field is a number or a boolean is read as one), and
/// an error type `E` that is a `std::error::Error` or a [`ToolError`], never raw text:
///
/// ```text
/// async fn prompt(&self) -> Result<PromptReply, E>           // no arguments
/// async fn prompt(&self, args: A) -> Result<PromptReply, E>
/// ```
///
/// A completer's error type follows the same rules; a caller who may not get the prompt
/// (or read the resource) gets no suggestions, as for an argument without a completer.
///
/// ```
/// use secure_tool::prelude::*;
/// use secure_tool::rmcp::model::Reference;
///
/// #[derive(Clone)]
/// struct Notes;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Summary {
///     /// What the notes are about.
///     topic: String,
///     /// How many notes to summarise.
///     count: Option<u32>,
/// }
///
/// #[secure_tool_router]
/// impl Notes {
///     /// Summarise my notes about a topic.
///     #[secure_prompt(authz = scopes("notes:read"), complete(topic = Self::topics))]
///     async fn summarise(&self, args: Summary) -> Result<PromptReply, ToolError> {
///         let count = args.count.unwrap_or(10);
///         Ok(PromptReply::new().user(format!("Summarise my last {count} notes about {}.", args.topic)))
///     }
///
///     /// Say hello.
///     #[secure_prompt(authz = public, title = "Hello")]
///     async fn greet(&self) -> Result<PromptReply, ToolError> {
///         Ok(PromptReply::new().user("Hello!"))
///     }
///
///     async fn topics(&self, request: CompletionRequest) -> Result<Vec<String>, ToolError> {
///         let topics = ["groceries", "plans", "poems"].map(String::from);
///         Ok(topics.into_iter().filter(|t| t.starts_with(request.value())).collect())
///     }
/// }
/// impl secure_tool::rmcp::ServerHandler for Notes {}
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = SecureServer::new(Notes);
/// let reader = Principal::new("ada").with_scopes(["notes:read"]);
///
/// // Each caller is shown the prompts it may get, with their arguments.
/// let listed: Vec<String> = server.prompts_for(&reader).into_iter().map(|p| p.name).collect();
/// assert_eq!(listed, ["greet", "summarise"]);
/// let anonymous = Principal::anonymous();
/// assert_eq!(server.prompts_for(&anonymous).len(), 1);
/// let arguments = &server.prompts_for(&reader)[1].arguments;
/// assert_eq!(arguments.as_ref().unwrap()[1].name, "topic");
///
/// let args = serde_json::json!({ "topic": "plans", "count": "3" }).as_object().cloned();
/// let got = server.get_prompt("summarise", args.clone(), reader.clone()).await.unwrap();
/// let text = serde_json::to_string(&got.messages).unwrap();
/// assert!(text.contains("Summarise my last 3 notes about plans."));
///
/// // Denied and missing are one answer.
/// let denied = server.get_prompt("summarise", args, anonymous.clone()).await.unwrap_err();
/// let missing = server.get_prompt("nothing", None, anonymous.clone()).await.unwrap_err();
/// assert_eq!(denied, missing);
///
/// // Completions, under the prompt's guard.
/// let prompt = Reference::for_prompt("summarise");
/// let typed = CompletionRequest::new("topic", "p");
/// let shown = server.complete(&prompt, typed.clone(), reader).await.unwrap();
/// assert_eq!(shown.values, ["plans", "poems"]);
/// let hidden = server.complete(&prompt, typed, anonymous).await.unwrap();
/// assert!(hidden.values.is_empty());
/// # }
/// ```
///
/// A prompt that does not say who may get it does not compile:
///
/// ```compile_fail
/// use secure_tool::prelude::*;
///
/// #[derive(Clone)]
/// struct Notes;
///
/// #[secure_tool_router]
/// impl Notes {
///     /// Say hello.
///     #[secure_prompt(title = "Hello")]
///     async fn greet(&self) -> Result<PromptReply, ToolError> {
///         Ok(PromptReply::new().user("Hello!"))
///     }
/// }
/// ```
///
/// ```text
/// error: `#[secure_prompt]` requires `authz = ...`: the policy that decides who may get
///        this prompt (for example `authz = scopes("notes:read")`, or `authz = public` to
///        let anyone in)
/// ```
///
/// Each compile-time rule has a trybuild case under `tests/ui/fail/` in the repository
/// (`prompt_*.rs`, and `complete_*.rs` for completers).
#[cfg(feature = "macros")]
#[doc(inline)]
pub use secure_tool_macros::secure_prompt;

pub use authz::{Decision, Mode, Policy, Principal};
pub use capability::WriteAccess;
pub use route::{SecureToolRouter, SecureTools};
pub use sanitize::{ErrorCategory, ToolError};
pub use server::{SecureServer, SecureServerBuilder};

/// The MCP SDK this crate serves tools with, re-exported so that user code and generated
/// code use the same version.
pub use rmcp;
/// The JSON Schema crate tool arguments and results derive `JsonSchema` from.
pub use schemars;

/// What a server file needs: the macros, the server, the error type, a resource's
/// contents, a prompt's messages, a completer's request, the principal and the built-in
/// policies that `authz = ...` names. Being a glob import, it never overrides an item or
/// import of the user's with the same name.
///
/// ```
/// use secure_tool::prelude::*;
/// let _ = ToolError::invalid_input("a message for the caller");
/// ```
pub mod prelude {
    pub use crate::authz::{
        all_of, any_of, authenticated, custom, public, public_because, roles, scopes,
    };
    pub use crate::completion::CompletionRequest;
    pub use crate::context::CallContext;
    pub use crate::prompt::PromptReply;
    pub use crate::resource::ResourceBody;
    pub use crate::route::RichResult;
    pub use crate::{
        ErrorCategory, Mode, Principal, SecureServer, SecureTools, ToolError, WriteAccess, schemars,
    };
    #[cfg(feature = "macros")]
    pub use crate::{secure_prompt, secure_resource, secure_tool, secure_tool_router};
}

/// Not public API: what the code generated by the macros names.
#[doc(hidden)]
pub mod __private {
    pub use crate::authz::{IntoPolicy, Mode, Policy};
    pub use crate::capability::WriteAccess;
    pub use crate::completion::CompletionRequest;
    pub use crate::context::Grant;
    pub use crate::prompt::{PromptReply, PromptRoute, PromptSpec};
    pub use crate::resilience::{AsDependency, DependencyRef};
    pub use crate::resource::{ResourceBody, ResourceRoute, ResourceSpec};
    pub use crate::route::plumbing::{
        BorrowedDependency, CompleterRequest, CompletionError, CompletionValues, DependencyExpr,
        NamedPolicy, OwnArguments, OwnResult, PolicyFunction, PolicyValue, Probe, ProbeOwn,
        ProbeProtocol, PromptError, PromptOutput, ResourceError, ResourceOutput, RmcpProtocolType,
        borrowed_dependency, completion_error, completion_request, completion_values, into_policy,
        own_arguments, own_result, prompt_error, prompt_reply, resource_body, resource_error,
    };
    pub use crate::route::{
        ArgumentsType, ErrorType, NoArguments, OutputType, SecureRoute, SecureToolRouter,
        SecureTools, ToolArguments, ToolOutput, ToolSpec, ToolTypes,
    };
    pub use crate::sanitize::IntoToolError;
    pub use ::core;
    pub use ::std;

    /// Checks, spanned at the user's type, that it can be a tool's arguments.
    #[inline]
    pub fn arguments<A: ToolArguments>() -> ArgumentsType<A> {
        ArgumentsType::new()
    }

    /// Checks, spanned at the user's type, that it can be a resource's parameters.
    #[inline]
    pub fn resource_params<P: crate::resource::ResourceParams>() -> ArgumentsType<P> {
        ArgumentsType::new()
    }

    /// Checks, spanned at the user's type, that it can be a prompt's arguments.
    #[inline]
    pub fn prompt_arguments<A: crate::prompt::PromptArguments>() -> ArgumentsType<A> {
        ArgumentsType::new()
    }

    /// Checks, spanned at the user's type, that it can be a tool's result.
    #[inline]
    pub fn output<T: ToolOutput>() -> OutputType<T> {
        OutputType::new()
    }

    /// Checks, spanned at the user's type, that it can be a tool's error.
    #[inline]
    pub fn error<E: IntoToolError>() -> ErrorType<E> {
        ErrorType::new()
    }

    /// Checks, spanned at the user's expression, that `breaker = ...` names a breaker.
    #[inline]
    pub fn dependency<B: AsDependency + ?Sized>(breaker: &B) -> DependencyRef<'_> {
        breaker.dependency()
    }

    /// Checks, spanned at the user's expression, that `timeout = ...` is a `Duration`.
    #[inline]
    pub fn timeout(timeout: ::core::time::Duration) -> ::core::time::Duration {
        timeout
    }

    /// Checks, spanned at the user's expression, that `argument_limits = ...` is an
    /// [`ArgumentLimits`](crate::route::ArgumentLimits).
    #[inline]
    pub fn argument_limits(limits: crate::route::ArgumentLimits) -> crate::route::ArgumentLimits {
        limits
    }

    /// Reads `rate = "..."`'s text in the constant the attribute writes, spanned at the
    /// string: a malformed rate fails to compile, in the parser's words.
    pub const fn rate_of(text: &str) -> crate::rate::Rate {
        match crate::rate::Rate::parse(text) {
            Ok(rate) => rate,
            Err(error) => panic!("{}", error.message()),
        }
    }

    /// Checks, spanned at the user's expression, that `rate = ...` is a
    /// [`Rate`](crate::rate::Rate).
    #[inline]
    pub fn rate(rate: crate::rate::Rate) -> crate::rate::Rate {
        rate
    }
}
