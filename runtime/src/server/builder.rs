//! [`SecureServerBuilder`]: a server's state, its router and what every call shares.

use std::sync::Arc;
use std::time::Duration;

use super::gate::WriteGate;
use super::{CallConfig, Inner, SecureServer, ToolLists, Unguarded};
use crate::authz::{DEFAULT_AUTHZ_TIMEOUT, Mode, Policy, Principal};
use crate::bulkhead::Bulkhead;
use crate::health::HealthMonitor;
use crate::route::{ArgumentLimits, SecureToolRouter};

/// Configures a [`SecureServer`].
pub struct SecureServerBuilder<S> {
    state: S,
    tools: SecureToolRouter<S>,
    config: CallConfig,
    health: Option<HealthMonitor>,
    confirmations: Option<crate::confirm::Confirmations>,
}

impl<S: Send + Sync + 'static> SecureServerBuilder<S> {
    /// A builder serving `tools` (for routers built by hand or combined with `+`).
    pub fn with_router(state: S, tools: SecureToolRouter<S>) -> Self {
        Self {
            state,
            tools,
            config: CallConfig {
                local_principal: None,
                authz_timeout: DEFAULT_AUTHZ_TIMEOUT,
                tool_lists: ToolLists::All,
                check_outputs: false,
                server_policy: None,
                unguarded: Vec::new(),
                rate_limit: None,
                #[cfg(feature = "cedar")]
                cedar: None,
            },
            confirmations: None,
            health: None,
        }
    }

    /// Binds the server's `cedar()` policies to `policies`: generates the Cedar schema from
    /// its Cedar-guarded tools, prompts and resources, and validates the set against it
    /// (strict mode). See [`secure_tool::cedar`](crate::cedar).
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::cedar::{cedar, CedarPolicies};
    ///
    /// #[derive(Clone)]
    /// struct Echo;
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Pong { ok: bool }
    /// #[secure_tool_router]
    /// impl Echo {
    ///     /// Answers.
    ///     #[secure_tool(authz = cedar(), mode = read)]
    ///     async fn ping(&self) -> Result<Pong, ToolError> { Ok(Pong { ok: true }) }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Echo {}
    ///
    /// let typo = CedarPolicies::from_text("echo.cedar", "permit(principal, action == Action::\"pnig\", resource);").unwrap();
    /// let Err(refused) = SecureServer::builder(Echo).cedar(typo) else { panic!("accepted") };
    /// assert!(refused.to_string().contains("echo.cedar line 1"), "{refused}");
    ///
    /// let policies = CedarPolicies::from_text("echo.cedar", "permit(principal, action == Action::\"ping\", resource);").unwrap();
    /// let server = SecureServer::builder(Echo).cedar(policies)?.build();
    /// # Ok::<(), secure_tool::cedar::CedarError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The schema or the set is not valid (each problem with its file and line), an
    /// operation's declared resource or context has no Cedar type, or `policies` is bound to
    /// another server's operations.
    #[cfg(feature = "cedar")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cedar")))]
    pub fn cedar(
        mut self,
        policies: crate::cedar::CedarPolicies,
    ) -> Result<Self, crate::cedar::CedarError> {
        crate::cedar::bind(&mut self.tools, &policies)?;
        self.config.cedar = Some(policies);
        Ok(self)
    }

    /// Every call of every secure tool must also pass `policy`, decided before the tool's
    /// own policy and under the same deadline and fail-closed rules: a lockout during an
    /// incident, a tenant allowlist, or a failing policy in a fault-injection test. It can
    /// only deny more: a call runs when both policies allow.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::authz::roles;
    ///
    /// #[derive(Clone)]
    /// struct Echo;
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Pong { ok: bool }
    /// #[secure_tool_router]
    /// impl Echo {
    ///     /// Answers.
    ///     #[secure_tool(authz = public, mode = read)]
    ///     async fn ping(&self) -> Result<Pong, ToolError> { Ok(Pong { ok: true }) }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Echo {}
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // During an incident, only on-call engineers may use any tool.
    /// let server = SecureServer::builder(Echo).server_policy(roles("on-call")).build();
    /// let anyone = Principal::new("ada");
    /// let denied = server.call("ping", None, anyone).await.unwrap();
    /// assert_eq!(denied.is_error, Some(true));
    /// let on_call = Principal::new("bob").with_roles(["on-call"]);
    /// assert_eq!(server.call("ping", None, on_call).await.unwrap().is_error, Some(false));
    /// # }
    /// ```
    pub fn server_policy(mut self, policy: impl crate::authz::IntoPolicy) -> Self {
        self.config.server_policy = Some(policy.into_policy());
        self
    }

    /// Limits how often each caller may call, over every tool call, resource read and
    /// prompt get it makes, on top of each tool's own limit
    /// (`#[secure_tool(rate = "...")]`): a call over it is answered `rate_limited` at once
    /// (retryable, with the time after which a retry may succeed) and does not run. A tool
    /// call is limited before its policy is asked; a resource read or prompt get after, so
    /// that a caller who may not read one is told it does not exist, limited or not.
    /// Completions and unguarded surfaces take nothing from it. Callers are told apart by
    /// their subject; every anonymous caller shares one bucket. See [`rate`](crate::rate).
    ///
    /// ```
    /// use secure_tool::SecureServerBuilder;
    /// use secure_tool::rate::Rate;
    /// # struct Notes;
    /// # impl secure_tool::rmcp::ServerHandler for Notes {}
    /// let server = SecureServerBuilder::with_router(Notes, Default::default())
    ///     .rate_limit(Rate::per_minute(600).with_burst(100))
    ///     .build();
    /// assert_eq!(server.manifest().rate_limit.as_deref(), Some("600/min burst 100"));
    /// ```
    pub fn rate_limit(mut self, rate: crate::rate::Rate) -> Self {
        let limiter = crate::rate::Limiter::new(rate, "the server");
        self.config.rate_limit = Some(std::sync::Arc::new(limiter));
        self
    }

    /// The principal of the local caller, whoever started the server: handed only to
    /// requests without an identity of their own on a transport served with
    /// [`SecureServer::serve_stdio`] or [`SecureServer::serve_trusted`]. Never to HTTP
    /// requests, which must carry their own, nor to a transport served with rmcp's plain
    /// `serve` (a TCP socket's peer may be anyone): their callers are anonymous.
    pub fn local_principal(mut self, principal: Principal) -> Self {
        self.config.local_principal = Some(principal);
        self
    }

    /// Seals the `requestState` of 2026-07-28 confirmations with `key` (at least 32
    /// random bytes). Every replica behind one address needs the same key, or a retry
    /// reaching another replica is denied; by default each process makes its own.
    /// Redemptions are remembered per process: behind a load balancer, route a session's
    /// requests to one replica, or a state could be redeemed once on each.
    ///
    /// # Errors
    ///
    /// When `key` is shorter than 32 bytes.
    ///
    /// ```
    /// use secure_tool::SecureServerBuilder;
    /// # struct Notes;
    /// # impl secure_tool::rmcp::ServerHandler for Notes {}
    /// let builder = SecureServerBuilder::with_router(Notes, Default::default());
    /// assert!(builder.confirmation_key(b"too short".to_vec()).is_err());
    /// ```
    pub fn confirmation_key(
        mut self,
        key: Vec<u8>,
    ) -> Result<Self, rmcp::model::RequestStateError> {
        self.confirmations = Some(crate::confirm::Confirmations::new(key)?);
        Ok(self)
    }

    /// Which tools `tools/list` shows each caller: all of them (the default), or only
    /// those the caller's scopes and roles can satisfy ([`ToolLists::PerCaller`]), on
    /// every transport.
    ///
    /// The default shows every tool because a model that cannot see a tool cannot ask
    /// for the permission it lacks, nor tell its user why a task is out of reach; a
    /// denied call reveals nothing but the denial. Turn per-caller lists on when the
    /// names and descriptions of tools are themselves sensitive (an admin surface on a
    /// server that anyone with a token can list), typically over HTTP, where callers
    /// differ; on stdio the one local caller gains nothing from it. With per-caller lists
    /// the list differs by caller: it is marked `cacheScope: "private"`, and clients of
    /// protocol versions before 2026-07-28, which do not know the mark, list again per
    /// session.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::server::ToolLists;
    ///
    /// #[derive(Clone)]
    /// struct Admin;
    ///
    /// #[secure_tool_router]
    /// impl Admin {
    ///     /// Lists the users.
    ///     #[secure_tool(authz = roles("admin"), mode = read)]
    ///     async fn users(&self) -> Result<Vec<String>, ToolError> {
    ///         Ok(vec!["ada".into()])
    ///     }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Admin {}
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = SecureServer::builder(Admin).tool_lists(ToolLists::PerCaller).build();
    /// let admin = Principal::new("root").with_roles(["admin"]);
    /// assert_eq!(server.tool_names_for(&admin), ["users"]);
    /// assert!(server.tool_names_for(&Principal::new("bob")).is_empty());
    /// // Calling a tool one cannot see is calling a tool that does not exist.
    /// let hidden = server.call("users", None, Principal::new("bob")).await.unwrap_err();
    /// let missing = server.call("nothing", None, Principal::new("bob")).await.unwrap_err();
    /// assert_eq!(hidden, missing);
    /// # }
    /// ```
    pub fn tool_lists(mut self, lists: ToolLists) -> Self {
        self.config.tool_lists = lists;
        self
    }

    /// Checks every success result's structured content against the tool's output schema
    /// before it is sent (off by default): one that does not conform is answered as the
    /// sanitized internal error, and logged with the violation. MCP requires structured
    /// content to conform, and clients reject a result that does not; with the check on, a
    /// handler whose output drifted from its schema (a hand-written `JsonSchema`, a
    /// `#[serde(flatten)]` the schema does not follow) fails on the server, with an
    /// incident id, rather than in every client. It costs one validation of each output;
    /// the testing kit's `check_outputs` runs the same check in a test suite.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Drifted;
    ///
    /// /// The schema says `notes` is a number; the serializer below writes a string.
    /// #[derive(schemars::JsonSchema)]
    /// struct Count { notes: u32 }
    /// impl serde::Serialize for Count {
    ///     fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
    ///         use serde::ser::SerializeStruct;
    ///         let mut out = s.serialize_struct("Count", 1)?;
    ///         out.serialize_field("notes", &self.notes.to_string())?;
    ///         out.end()
    ///     }
    /// }
    ///
    /// #[secure_tool_router]
    /// impl Drifted {
    ///     /// Counts.
    ///     #[secure_tool(authz = public, mode = read)]
    ///     async fn count(&self) -> Result<Count, ToolError> {
    ///         Ok(Count { notes: 3 })
    ///     }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Drifted {}
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let unchecked = SecureServer::new(Drifted);
    /// let sent = unchecked.call("count", None, Principal::anonymous()).await.unwrap();
    /// assert_eq!(sent.structured_content.unwrap()["notes"], "3");
    ///
    /// let checked = SecureServer::builder(Drifted).check_outputs(true).build();
    /// let refused = checked.call("count", None, Principal::anonymous()).await.unwrap();
    /// let facts = secure_tool::sanitize::error_facts(&refused).unwrap();
    /// assert_eq!(facts["category"], "internal");
    /// # }
    /// ```
    pub fn check_outputs(mut self, check: bool) -> Self {
        self.config.check_outputs = check;
        self
    }

    /// How long a policy may take to decide before the call is denied (default 2 s).
    pub fn authz_timeout(mut self, timeout: Duration) -> Self {
        self.config.authz_timeout = timeout;
        self
    }

    /// Degrades to read-only when `monitor` says writes are degraded: `mode = write` tools
    /// answer a "degraded" error result naming the read tools that still work,
    /// `tools/list` marks them, and clients get `notifications/tools/list_changed` on
    /// degrade and on recovery. Start the monitor's probes with
    /// [`HealthMonitor::start`].
    pub fn health(mut self, monitor: HealthMonitor) -> Self {
        self.health = Some(monitor);
        self
    }

    /// Caps the concurrent calls of every tool that does not set its own cap
    /// ([`ToolSpec::with_max_concurrent`](crate::route::ToolSpec::with_max_concurrent)) at `max` (default 64). A call over the cap is
    /// answered `overloaded` (retryable) at once, without running; a tool that names a
    /// dependency is also bounded by the dependency's bulkhead. The manifest shows each
    /// tool's cap.
    ///
    /// # Panics
    ///
    /// If `max` is zero: every call would be refused.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Reports;
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Report { rows: u64 }
    /// #[secure_tool_router]
    /// impl Reports {
    ///     /// Builds the monthly report.
    ///     #[secure_tool(authz = scopes("reports:read"), mode = read)]
    ///     async fn monthly(&self) -> Result<Report, ToolError> { Ok(Report { rows: 0 }) }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Reports {}
    ///
    /// let server = SecureServer::builder(Reports).max_concurrent_calls(4).build();
    /// assert_eq!(server.manifest().tools[0].max_concurrent_calls, 4);
    /// ```
    pub fn max_concurrent_calls(mut self, max: usize) -> Self {
        assert!(
            max > 0,
            "the concurrency cap of tools must be more than zero"
        );
        for route in self.tools.routes.values_mut() {
            if route.spec.max_concurrent.is_none() {
                route.calls = Bulkhead::new(route.spec.name.clone().into_owned(), max);
            }
        }
        self
    }

    /// Holds the arguments of every tool that does not set its own limits
    /// ([`ToolSpec::with_argument_limits`](crate::route::ToolSpec::with_argument_limits),
    /// `#[secure_tool(argument_limits = ...)]`) to `limits` (default
    /// [`ArgumentLimits::DEFAULT`]: 256 KiB of JSON, strings of 32,768 characters, arrays of
    /// 1,024 items, 32 levels, 256 properties an object). A call past one is answered
    /// `invalid_input`, naming the field and the limit, before its schema is checked and
    /// without running. The manifest shows each tool's limits.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::route::ArgumentLimits;
    ///
    /// #[derive(Clone)]
    /// struct Search;
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Query { text: String }
    /// #[secure_tool_router]
    /// impl Search {
    ///     /// Searches.
    ///     #[secure_tool(authz = public, mode = read)]
    ///     async fn search(&self, args: Query) -> Result<Vec<String>, ToolError> {
    ///         Ok(vec![args.text])
    ///     }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Search {}
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let limits = ArgumentLimits::default().with_max_string_chars(100);
    /// let server = SecureServer::builder(Search).argument_limits(limits).build();
    /// assert_eq!(server.manifest().tools[0].argument_limits.max_string_chars(), 100);
    ///
    /// let long = serde_json::json!({ "text": "x".repeat(101) }).as_object().cloned();
    /// let refused = server.call("search", long, Principal::anonymous()).await.unwrap();
    /// let facts = secure_tool::sanitize::error_facts(&refused).unwrap();
    /// assert_eq!(facts["category"], "invalid_input");
    /// assert_eq!(facts["message"], "Invalid arguments: `text`: at most 100 characters");
    /// # }
    /// ```
    pub fn argument_limits(mut self, limits: ArgumentLimits) -> Self {
        for route in self.tools.routes.values_mut() {
            if route.spec.argument_limits.is_none() {
                route.argument_limits = limits;
            }
        }
        // Prompts' arguments and resources' parameters are held to the same.
        for route in &mut self.tools.resources {
            route.guard.argument_limits = limits;
        }
        for route in self.tools.prompts.values_mut() {
            route.guard.argument_limits = limits;
        }
        self
    }

    /// **Escape hatch**: forwards `surface` to the state's own
    /// [`ServerHandler`](rmcp::ServerHandler) implementation, *without* authorization,
    /// error hygiene, deadline or audit. Without it, that part of the protocol is not
    /// served: its methods answer "method not found" and `initialize` does not advertise
    /// it, so that a handler written for rmcp never publishes data unguarded by accident.
    ///
    /// `reason` says why this is acceptable: it is logged as a warning when the server is
    /// built and shown in the manifest.
    ///
    /// # Panics
    ///
    /// If `reason` is blank.
    ///
    /// ```
    /// use secure_tool::route::SecureToolRouter;
    /// use secure_tool::server::Unguarded;
    /// use secure_tool::SecureServerBuilder;
    ///
    /// struct Docs;
    /// impl secure_tool::rmcp::ServerHandler for Docs {}
    ///
    /// let server = SecureServerBuilder::with_router(Docs, SecureToolRouter::new())
    ///     .with_unguarded(Unguarded::Logging, "log levels only; no data crosses")
    ///     .build();
    /// let manifest = server.manifest();
    /// assert_eq!(manifest.unguarded_surfaces[0].surface, "logging");
    /// ```
    pub fn with_unguarded(
        mut self,
        surface: Unguarded,
        reason: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Self {
        let reason = reason.into();
        assert!(
            !crate::authz::is_blank(&reason),
            "forwarding {} unguarded needs a reason",
            surface.as_str()
        );
        self.config.unguarded.retain(|(s, _)| *s != surface);
        self.config.unguarded.push((surface, reason));
        self.config.unguarded.sort_by_key(|(s, _)| *s);
        self
    }

    /// Builds the server. A policy with an empty requirement (a scope or role list read
    /// from a configuration that came back empty) denies every caller; each one is logged
    /// here as a warning naming its tool, and shown as `deny: ...` in the manifest. So is
    /// each write tool open to anonymous callers, with the reason its
    /// [`public_because`](crate::authz::public_because) gives.
    pub fn build(self) -> SecureServer<S> {
        warn_of_empty_requirements(&self.tools, self.config.server_policy.as_ref());
        warn_of_public_writes(&self.tools);
        #[cfg(feature = "cedar")]
        warn_of_unbound_cedar(&self.tools, self.config.server_policy.as_ref());
        for (surface, reason) in &self.config.unguarded {
            tracing::warn!(
                target: "secure_tool::server",
                surface = surface.as_str(),
                %reason,
                "forwarding a part of the protocol to the state's own handler without secure-tool's guard"
            );
        }
        let gate = self.health.map(|monitor| WriteGate {
            monitor,
            read_tools: self
                .tools
                .routes()
                .into_iter()
                .filter(|route| route.spec.mode == Mode::Read)
                .map(|route| route.spec.name.to_string())
                .collect(),
            peers: Default::default(),
            sinks: Default::default(),
            watcher: Default::default(),
        });
        SecureServer {
            inner: Arc::new(Inner {
                scopes: super::manifest::scopes_named(
                    &self.tools,
                    self.config.server_policy.as_ref(),
                )
                .into_iter()
                .map(String::into_boxed_str)
                .collect(),
                state: self.state,
                tools: self.tools,
                config: self.config,
                warned_untrusted: std::sync::atomic::AtomicBool::new(false),
                metrics: crate::metrics::Switch::default(),
                gate,
                subscriptions: Default::default(),
                listen_streams: Default::default(),
                log_levels: Default::default(),
                confirmations: self
                    .confirmations
                    .unwrap_or_else(crate::confirm::Confirmations::with_random_key),
            }),
            trusted_transport: false,
        }
    }
}

/// One warning per policy with a `cedar()` part no policy set decides (the server was built
/// without `.cedar(..)`, or it is the server policy's): it denies every call it decides.
#[cfg(feature = "cedar")]
fn warn_of_unbound_cedar<S: Send + Sync + 'static>(
    tools: &SecureToolRouter<S>,
    server_policy: Option<&Policy>,
) {
    let routes = tools.routes();
    let prompts = tools.prompts();
    let policies = routes
        .iter()
        .map(|route| (&*route.spec.name, &route.spec.policy))
        .chain(
            prompts
                .iter()
                .map(|route| (&*route.spec.name, &route.spec.policy)),
        )
        .chain(
            tools
                .resources
                .iter()
                .map(|route| (&*route.spec.name, &route.spec.policy)),
        )
        .chain(server_policy.map(|policy| ("every tool (server policy)", policy)));
    for (name, policy) in policies {
        if policy
            .cedar_rules()
            .iter()
            .any(|rule| rule.binding.is_none())
        {
            tracing::warn!(
                target: "secure_tool::cedar",
                name,
                %policy,
                "a cedar() policy has no Cedar policy set to decide it (give the builder \
                 `.cedar(..)`; a server policy's cedar() is never bound): it denies every call"
            );
        }
    }
}

/// One warning per policy with an empty requirement: the tool it guards can never be used.
fn warn_of_empty_requirements<S: Send + Sync + 'static>(
    tools: &SecureToolRouter<S>,
    server_policy: Option<&Policy>,
) {
    let policies = tools
        .routes()
        .into_iter()
        .map(|route| (&*route.spec.name, &route.spec.policy))
        .chain(server_policy.map(|policy| ("every tool (server policy)", policy)));
    for (tool, policy) in policies {
        let empty = policy.empty_requirements();
        if !empty.is_empty() {
            tracing::warn!(
                tool,
                %policy,
                empty_requirement = %empty.join(", "),
                "the policy has an empty requirement: it denies every caller"
            );
        }
    }
}

/// One warning per write tool that anonymous callers may call, with the reason given.
fn warn_of_public_writes<S: Send + Sync + 'static>(tools: &SecureToolRouter<S>) {
    for route in tools.routes() {
        let (spec, policy) = (&route.spec, &route.spec.policy);
        if spec.mode == Mode::Write && policy.admits_anonymous() {
            tracing::warn!(
                tool = %spec.name,
                reason = %policy.public_reasons().join("; "),
                "write tool open to anonymous callers"
            );
        }
    }
}
