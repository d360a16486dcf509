//! The tool manifest: every tool of a server with its schemas and its security posture
//! (mode, policy in words, breaker, deadline, argument limits), as JSON that a reviewer reads and a CI check
//! diffs.
//!
//! The document is stable: tools are sorted by name, every field is always present (`null`
//! when it does not apply), and its `format` names the version of the layout. A change of
//! layout is a new `format`.

use rmcp::ServerHandler;
use serde::Serialize;

use crate::breaker;
use crate::route::ArgumentLimits;

use super::SecureServer;

/// The version of the manifest's layout, in its `format` field.
pub const FORMAT: &str = "secure-tool-manifest/7";

/// Every tool of a server and how it is guarded, from [`SecureServer::manifest`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Manifest {
    /// The layout's version: [`FORMAT`].
    pub format: &'static str,
    /// The server, as it introduces itself to clients.
    pub server: ServerEntry,
    /// How long a policy may take before the call is denied, in milliseconds.
    pub authz_timeout_ms: u64,
    /// The policy every call must also pass, in words, if the server has one.
    pub server_policy: Option<String>,
    /// How often each caller may call, over every call it makes (`"600/min"`), if the
    /// server limits it.
    pub rate_limit: Option<String>,
    /// The digest of the Cedar policy set in force (`sha256:...`), if the server has one:
    /// two replicas that print the same manifest decide with the same policies.
    pub cedar_policies: Option<String>,
    /// Whether write tools stop (and answer a degraded result) while writes are unhealthy.
    pub write_degradation: bool,
    /// The secure tools, sorted by name.
    pub tools: Vec<ToolEntry>,
    /// Plain rmcp tools served without any guard, with the reason given for each.
    pub unguarded_tools: Vec<UnguardedEntry>,
    /// The secure resources and resource templates, in the order reads are matched.
    pub resources: Vec<ResourceEntry>,
    /// The secure prompts, sorted by name.
    pub prompts: Vec<PromptEntry>,
    /// The parts of the protocol forwarded to the state's own handler without any guard,
    /// with the reason given for each.
    pub unguarded_surfaces: Vec<UnguardedSurfaceEntry>,
}

/// One secure resource or resource template.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ResourceEntry {
    /// The resource's name.
    pub name: String,
    /// Its URI, or URI template.
    pub uri: String,
    /// Whether the URI is a template (listed by `resources/templates/list`).
    pub template: bool,
    /// Its MIME type, if declared.
    pub mime_type: Option<String>,
    /// Its policy.
    pub authz: AuthzEntry,
    /// The deadline of each read, in milliseconds.
    pub deadline_ms: u64,
    /// The cap on its concurrent reads.
    pub max_concurrent_calls: usize,
    /// The breaker guarding the dependency it reads through, if any.
    pub breaker: Option<BreakerEntry>,
    /// The URI variables that have a completer.
    pub completions: Vec<String>,
}

/// One secure prompt.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PromptEntry {
    /// The prompt's name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// Its arguments' names, sorted.
    pub arguments: Vec<String>,
    /// Its policy.
    pub authz: AuthzEntry,
    /// The deadline of each get, in milliseconds.
    pub deadline_ms: u64,
    /// The cap on its concurrent gets.
    pub max_concurrent_calls: usize,
    /// The breaker guarding the dependency it gets through, if any.
    pub breaker: Option<BreakerEntry>,
    /// The arguments that have a completer.
    pub completions: Vec<String>,
}

/// A part of the protocol forwarded unguarded.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct UnguardedSurfaceEntry {
    /// The surface: `resources`, `prompts`, `completions`, `logging`, ...
    pub surface: &'static str,
    /// Why it is forwarded without a guard.
    pub reason: String,
}

/// The server's name and version.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ServerEntry {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// One secure tool.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ToolEntry {
    /// The tool's name.
    pub name: String,
    /// Its human-readable title.
    pub title: Option<String>,
    /// Its description, as `tools/list` shows it when nothing is degraded.
    pub description: Option<String>,
    /// `read` or `write`.
    pub mode: &'static str,
    /// The MCP annotations (`readOnlyHint`, `destructiveHint`, ...).
    pub annotations: serde_json::Value,
    /// Who may call it.
    pub authz: AuthzEntry,
    /// The deadline of every call, in milliseconds.
    pub deadline_ms: u64,
    /// The cap on its concurrent calls (its own, or the server's default), whatever its
    /// dependency's bulkhead.
    pub max_concurrent_calls: usize,
    /// How often each caller may call it (`"30/min"`, `"5/s burst 20"`), if it limits it.
    pub rate_limit: Option<String>,
    /// The size caps its arguments are held to before the schema is checked (its own, or
    /// the server's, or the defaults).
    pub argument_limits: ArgumentLimits,
    /// The dependency it calls through, if it names one (`breaker = ...`).
    pub breaker: Option<BreakerEntry>,
    /// The question the user must answer yes to before each call runs (`confirm = ...`),
    /// its placeholders as written.
    pub confirm: Option<String>,
    /// The JSON schema of its arguments.
    pub input_schema: serde_json::Value,
    /// The JSON schema of its structured result, if it has one.
    pub output_schema: Option<serde_json::Value>,
}

/// A tool's authorization policy.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AuthzEntry {
    /// The policy in words: `scopes: notes:write`, `any of (roles: admin; scopes: x)`,
    /// `public (reason: ...)` with the reason a tool open to anyone gives.
    pub policy: String,
    /// Every scope the policy names.
    pub scopes: Vec<String>,
    /// Every role the policy names.
    pub roles: Vec<String>,
    /// Whether anonymous callers are let in (`authz = public`, `public_because(..)`, or a
    /// combinator a public part decides, such as `any_of([public(), ...])`).
    pub public: bool,
    /// Whether part of the decision is made beyond the built-in combinators, under the
    /// deadline: user code (a custom policy) or a Cedar policy set.
    pub custom: bool,
    /// The Cedar action that decides the operation (`Action::"delete_note"`), if a
    /// `cedar()` part of its policy is bound to the server's policy set.
    pub cedar_action: Option<String>,
}

/// The dependency a tool calls through.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct BreakerEntry {
    /// The dependency's (and its breaker's) name.
    pub name: String,
    /// Its bulkhead: the most calls in flight at once (`null`: unbounded).
    pub max_concurrent: Option<usize>,
    /// The breaker's configuration.
    pub settings: breaker::Settings,
}

/// A plain rmcp tool served beside the secure ones.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct UnguardedEntry {
    /// The tool's name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// Why it is served without a guard.
    pub reason: String,
}

impl Manifest {
    /// The manifest as pretty-printed JSON, with a final newline (ready to be written to a
    /// file and diffed).
    ///
    /// ```
    /// use secure_tool::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Clock;
    ///
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Now { unix: u64 }
    ///
    /// #[secure_tool_router]
    /// impl Clock {
    ///     /// The time.
    ///     #[secure_tool(authz = scopes("clock:read"), mode = read, timeout = "1s")]
    ///     async fn now(&self) -> Result<Now, ToolError> {
    ///         Ok(Now { unix: 0 })
    ///     }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Clock {}
    ///
    /// let json = SecureServer::new(Clock).manifest().to_json();
    /// let manifest: serde_json::Value = serde_json::from_str(&json).unwrap();
    /// let tool = &manifest["tools"][0];
    /// assert_eq!(tool["name"], "now");
    /// assert_eq!(tool["authz"]["policy"], "scopes: clock:read");
    /// assert_eq!(tool["deadline_ms"], 1000);
    /// assert!(json.ends_with("}\n"));
    /// ```
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("a manifest is plain data");
        json.push('\n');
        json
    }
}

impl<S: ServerHandler> SecureServer<S> {
    /// Every scope the policies of this server name (its tools' and its server policy's),
    /// sorted, once each: what an OAuth resource server advertises as `scopes_supported`
    /// ([`BearerAuthBuilder::scopes_supported`](crate::oauth::BearerAuthBuilder::scopes_supported)
    /// with the feature `oauth`).
    ///
    /// ```
    /// use secure_tool::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Notes;
    ///
    /// #[secure_tool_router]
    /// impl Notes {
    ///     /// Lists the notes.
    ///     #[secure_tool(authz = scopes("notes:read"), mode = read)]
    ///     async fn list_notes(&self) -> Result<Vec<String>, ToolError> {
    ///         Ok(Vec::new())
    ///     }
    ///
    ///     /// Deletes every note.
    ///     #[secure_tool(authz = any_of([roles("admin"), scopes(["notes:write", "notes:read"])]), mode = write)]
    ///     async fn clear(&self) -> Result<(), ToolError> {
    ///         Ok(())
    ///     }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Notes {}
    ///
    /// let server = SecureServer::builder(Notes)
    ///     .server_policy(secure_tool::authz::scopes("mcp"))
    ///     .build();
    /// assert_eq!(server.scopes(), ["mcp", "notes:read", "notes:write"]);
    /// ```
    pub fn scopes(&self) -> Vec<String> {
        self.inner
            .scopes
            .iter()
            .map(|scope| scope.to_string())
            .collect()
    }

    /// Every tool of this server with its schemas and security posture: see [`Manifest`].
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::resilience::Dependency;
    ///
    /// #[derive(Clone)]
    /// struct Notes { db: std::sync::Arc<Dependency> }
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Id { id: u64 }
    ///
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Gone { id: u64 }
    ///
    /// #[secure_tool_router]
    /// impl Notes {
    ///     /// Deletes a note.
    ///     #[secure_tool(authz = roles("admin"), mode = write, breaker = self.db)]
    ///     async fn delete_note(&self, args: Id) -> Result<Gone, ToolError> {
    ///         Ok(Gone { id: args.id })
    ///     }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Notes {}
    ///
    /// let db = std::sync::Arc::new(Dependency::new("notes-db").max_concurrent(8));
    /// let manifest = SecureServer::new(Notes { db }).manifest();
    /// let tool = &manifest.tools[0];
    /// assert_eq!((tool.name.as_str(), tool.mode), ("delete_note", "write"));
    /// assert_eq!(tool.authz.roles, ["admin"]);
    /// let breaker = tool.breaker.as_ref().unwrap();
    /// assert_eq!((breaker.name.as_str(), breaker.max_concurrent), ("notes-db", Some(8)));
    /// assert_eq!(tool.annotations["destructiveHint"], true);
    /// ```
    pub fn manifest(&self) -> Manifest {
        let inner = &*self.inner;
        let info = inner.state.get_info().server_info;
        let tools = inner
            .tools
            .routes()
            .into_iter()
            .map(|route| {
                let spec = route.spec();
                let tool = route.tool();
                let policy = spec.policy();
                ToolEntry {
                    name: spec.name().to_owned(),
                    title: tool.title.clone(),
                    description: tool.description.as_deref().map(str::to_owned),
                    mode: spec.mode().as_str(),
                    annotations: sorted(
                        serde_json::to_value(&tool.annotations).unwrap_or_default(),
                    ),
                    authz: AuthzEntry::of(policy),
                    deadline_ms: millis(spec.timeout()),
                    max_concurrent_calls: route.max_concurrent(),
                    rate_limit: spec.rate().map(|rate| rate.to_string()),
                    argument_limits: route.argument_limits(),
                    breaker: route.dependency(&inner.state).map(BreakerEntry::of),
                    confirm: spec.confirmation().map(ToString::to_string),
                    input_schema: sorted(serde_json::Value::Object((*tool.input_schema).clone())),
                    output_schema: tool
                        .output_schema
                        .as_ref()
                        .map(|schema| sorted(serde_json::Value::Object((**schema).clone()))),
                }
            })
            .collect();
        let unguarded_tools = inner
            .tools
            .unguarded
            .as_ref()
            .map(|(router, reason)| {
                let mut tools: Vec<UnguardedEntry> = router
                    .list_all()
                    .into_iter()
                    .filter(|tool| !inner.tools.routes.contains_key(&tool.name))
                    .map(|tool| UnguardedEntry {
                        name: tool.name.to_string(),
                        description: tool.description.as_deref().map(str::to_owned),
                        reason: reason.to_string(),
                    })
                    .collect();
                tools.sort_by(|a, b| a.name.cmp(&b.name));
                tools
            })
            .unwrap_or_default();
        let resources = inner
            .tools
            .resources()
            .map(|route| {
                let spec = route.spec();
                ResourceEntry {
                    name: spec.name().to_owned(),
                    uri: spec.uri().as_str().to_owned(),
                    template: !spec.uri().is_fixed(),
                    mime_type: spec.mime_type().map(str::to_owned),
                    authz: AuthzEntry::of(spec.policy()),
                    deadline_ms: millis(spec.timeout()),
                    max_concurrent_calls: route.max_concurrent(),
                    breaker: route.dependency(&inner.state).map(BreakerEntry::of),
                    completions: route
                        .guard
                        .completions
                        .iter()
                        .map(|(v, _)| v.clone())
                        .collect(),
                }
            })
            .collect();
        let prompts = inner
            .tools
            .prompts()
            .into_iter()
            .map(|route| {
                let spec = route.spec();
                let prompt = route.prompt();
                PromptEntry {
                    name: spec.name().to_owned(),
                    description: prompt.description.clone(),
                    arguments: prompt
                        .arguments
                        .iter()
                        .flatten()
                        .map(|a| a.name.clone())
                        .collect(),
                    authz: AuthzEntry::of(spec.policy()),
                    deadline_ms: millis(spec.timeout()),
                    max_concurrent_calls: route.max_concurrent(),
                    breaker: route.dependency(&inner.state).map(BreakerEntry::of),
                    completions: route
                        .guard
                        .completions
                        .iter()
                        .map(|(a, _)| a.clone())
                        .collect(),
                }
            })
            .collect();
        let unguarded_surfaces = inner
            .config
            .unguarded
            .iter()
            .map(|(surface, reason)| UnguardedSurfaceEntry {
                surface: surface.as_str(),
                reason: reason.to_string(),
            })
            .collect();
        Manifest {
            format: FORMAT,
            server: ServerEntry {
                name: info.name,
                version: info.version,
            },
            authz_timeout_ms: millis(inner.config.authz_timeout),
            server_policy: inner.config.server_policy.as_ref().map(ToString::to_string),
            #[cfg(feature = "cedar")]
            cedar_policies: inner.config.cedar.as_ref().map(|set| set.digest()),
            #[cfg(not(feature = "cedar"))]
            cedar_policies: None,
            rate_limit: inner
                .config
                .rate_limit
                .as_ref()
                .map(|limiter| limiter.rate().to_string()),
            write_degradation: inner.gate.is_some(),
            tools,
            unguarded_tools,
            resources,
            prompts,
            unguarded_surfaces,
        }
    }
}

impl AuthzEntry {
    fn of(policy: &crate::authz::Policy) -> Self {
        Self {
            policy: policy.to_string(),
            scopes: policy.scopes().into_iter().map(str::to_owned).collect(),
            roles: policy.roles().into_iter().map(str::to_owned).collect(),
            public: policy.admits_anonymous(),
            custom: policy.has_custom_part(),
            cedar_action: cedar_action(policy),
        }
    }
}

/// `value` with the keys of its objects sorted, at every level: the manifest reads the same
/// whether or not serde_json keeps insertion order in this build (its `preserve_order`
/// feature, which a dependency may turn on).
fn sorted(mut value: serde_json::Value) -> serde_json::Value {
    value.sort_all_objects();
    value
}

/// The Cedar action of `policy`'s bound Cedar parts, as Cedar writes it.
#[cfg(feature = "cedar")]
fn cedar_action(policy: &crate::authz::Policy) -> Option<String> {
    let rule = policy.cedar_rules().into_iter().next()?;
    let id = rule.action_id()?;
    Some(format!("Action::{}", serde_json::Value::from(id)))
}

#[cfg(not(feature = "cedar"))]
fn cedar_action(_: &crate::authz::Policy) -> Option<String> {
    None
}

impl BreakerEntry {
    fn of(dependency: crate::resilience::DependencyRef<'_>) -> Self {
        Self {
            name: dependency.breaker.name().to_owned(),
            max_concurrent: dependency.bulkhead.map(|b| b.max_concurrent()),
            settings: dependency.breaker.settings(),
        }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Every scope the policies of `tools` and the server's `policy` name, sorted and
/// deduplicated.
pub(super) fn scopes_named<S>(
    tools: &crate::route::SecureToolRouter<S>,
    policy: Option<&crate::authz::Policy>,
) -> Vec<String> {
    let mut scopes: std::collections::BTreeSet<String> = tools
        .routes
        .values()
        .flat_map(|route| route.spec.policy().scopes())
        .map(str::to_owned)
        .collect();
    if let Some(policy) = policy {
        scopes.extend(policy.scopes().into_iter().map(str::to_owned));
    }
    scopes.into_iter().collect()
}
