//! The router of a server's secure tools: what `#[secure_tool_router]` builds and
//! [`SecureServer`](crate::SecureServer) serves.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use rmcp::handler::server::tool::ToolRouter;
use rmcp::model::Tool;

use super::secure_route::SecureRoute;
use crate::prompt::PromptRoute;
use crate::resource::ResourceRoute;

/// A server type whose tools are all secure tools: implemented by
/// `#[secure_tool_router]` on the `impl` block that holds the `#[secure_tool]` handlers.
pub trait SecureTools: Sized + Send + Sync + 'static {
    /// The router of every secure tool of this type.
    fn secure_tool_router() -> SecureToolRouter<Self>;
}

/// The secure tools of a server type `S`, plus any plain rmcp tools added through the
/// explicit escape hatch [`SecureToolRouter::with_unguarded_tools`].
///
/// `#[secure_tool_router]` builds one; routers combine with `+`.
pub struct SecureToolRouter<S> {
    pub(crate) routes: HashMap<Cow<'static, str>, SecureRoute<S>>,
    pub(crate) unguarded: Option<(ToolRouter<S>, Cow<'static, str>)>,
    /// The secure resources, in the order they were added: a read's URI is matched
    /// against the fixed URIs first, then the templates in this order.
    pub(crate) resources: Vec<ResourceRoute<S>>,
    /// The secure prompts, by name.
    pub(crate) prompts: HashMap<Cow<'static, str>, PromptRoute<S>>,
}

impl<S> Default for SecureToolRouter<S> {
    fn default() -> Self {
        Self {
            routes: HashMap::new(),
            unguarded: None,
            resources: Vec::new(),
            prompts: HashMap::new(),
        }
    }
}

impl<S> Clone for SecureToolRouter<S> {
    fn clone(&self) -> Self {
        Self {
            routes: self.routes.clone(),
            unguarded: self.unguarded.clone(),
            resources: self.resources.clone(),
            prompts: self.prompts.clone(),
        }
    }
}

impl<S: Send + Sync + 'static> fmt::Debug for SecureToolRouter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.routes.keys().collect();
        names.sort();
        f.debug_struct("SecureToolRouter")
            .field("secure", &names)
            .field(
                "resources",
                &self
                    .resources
                    .iter()
                    .map(|r| r.spec.name.as_ref())
                    .collect::<Vec<_>>(),
            )
            .field(
                "unguarded",
                &self
                    .unguarded
                    .as_ref()
                    .map(|(r, why)| (r.list_all().len(), why)),
            )
            .finish()
    }
}

impl<S: Send + Sync + 'static> SecureToolRouter<S> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secure route.
    ///
    /// # Panics
    ///
    /// If a tool with the same name is already registered: two handlers for one name would
    /// make which one runs (and under which policy) depend on registration order.
    pub fn with_route(mut self, route: SecureRoute<S>) -> Self {
        let name = route.spec.name.clone();
        if self.routes.insert(name.clone(), route).is_some() {
            panic!("two secure tools are named `{name}`");
        }
        self
    }

    /// Adds a secure resource (a fixed URI or a URI template).
    ///
    /// # Panics
    ///
    /// If a resource with the same name, or the same URI, is already registered: which one
    /// a read reaches (and under which policy) would depend on registration order.
    pub fn with_resource(mut self, route: ResourceRoute<S>) -> Self {
        let spec = &route.spec;
        for existing in &self.resources {
            assert!(
                existing.spec.name != spec.name,
                "two secure resources are named `{}`",
                spec.name
            );
            assert!(
                !existing.spec.uri.same_as(&spec.uri),
                "secure resources `{}` and `{}` have the same URI `{}`",
                existing.spec.name,
                spec.name,
                spec.uri
            );
        }
        self.resources.push(route);
        self
    }

    /// Adds a secure prompt.
    ///
    /// # Panics
    ///
    /// If a prompt with the same name is already registered.
    pub fn with_prompt(mut self, route: PromptRoute<S>) -> Self {
        let name = route.spec.name.clone();
        if self.prompts.insert(name.clone(), route).is_some() {
            panic!("two secure prompts are named `{name}`");
        }
        self
    }

    /// The secure prompt named `name`.
    pub fn prompt(&self, name: &str) -> Option<&PromptRoute<S>> {
        self.prompts.get(name)
    }

    /// Every secure prompt, sorted by name.
    pub fn prompts(&self) -> Vec<&PromptRoute<S>> {
        let mut prompts: Vec<_> = self.prompts.values().collect();
        prompts.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        prompts
    }

    /// The secure resources, in the order a read's URI is matched: fixed URIs first, then
    /// templates, each in the order they were added.
    pub fn resources(&self) -> impl Iterator<Item = &ResourceRoute<S>> {
        let fixed = self.resources.iter().filter(|r| r.spec.uri.is_fixed());
        let templates = self.resources.iter().filter(|r| !r.spec.uri.is_fixed());
        fixed.chain(templates)
    }

    /// The names of the secure resources, sorted.
    pub fn resource_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .resources
            .iter()
            .map(|r| r.spec.name.to_string())
            .collect();
        names.sort();
        names
    }

    /// **Escape hatch**: serves the plain rmcp tools of `router` beside the secure ones,
    /// *without* authorization, error hygiene or any other guarantee of this crate.
    ///
    /// `reason` says why this is acceptable (it is logged at startup and shown in the
    /// manifest). Secure tools win name clashes. Use it for tools that expose nothing
    /// (a liveness probe), never as a way around a policy.
    ///
    /// ```
    /// use secure_tool::rmcp::{tool, tool_router, handler::server::tool::ToolRouter};
    /// use secure_tool::route::SecureToolRouter;
    ///
    /// struct Server;
    /// #[tool_router(router = plain_tools)]
    /// impl Server {
    ///     #[tool(description = "Liveness probe")]
    ///     fn ping(&self) -> String { "pong".into() }
    /// }
    ///
    /// let router = SecureToolRouter::<Server>::new()
    ///     .with_unguarded_tools(Server::plain_tools(), "liveness probe, returns a constant");
    /// assert_eq!(router.unguarded_tool_names(), vec!["ping".to_string()]);
    /// ```
    pub fn with_unguarded_tools(
        mut self,
        router: ToolRouter<S>,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        let reason = reason.into();
        for tool in router.list_all() {
            tracing::warn!(
                target: "secure_tool::server",
                tool = %tool.name,
                reason = %reason,
                "serving a plain rmcp tool without secure-tool's guard"
            );
        }
        match &mut self.unguarded {
            Some((existing, _)) => existing.merge(router),
            None => self.unguarded = Some((router, reason)),
        }
        self
    }

    /// The names of the secure tools, sorted.
    pub fn tool_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.routes.keys().map(|n| n.to_string()).collect();
        names.sort();
        names
    }

    /// The names of the unguarded tools added by [`Self::with_unguarded_tools`], sorted.
    pub fn unguarded_tool_names(&self) -> Vec<String> {
        self.unguarded
            .as_ref()
            .map(|(r, _)| {
                r.list_all()
                    .into_iter()
                    .map(|t| t.name.to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The secure route named `name`.
    pub fn route(&self, name: &str) -> Option<&SecureRoute<S>> {
        self.routes.get(name)
    }

    /// Every secure route, sorted by name.
    pub fn routes(&self) -> Vec<&SecureRoute<S>> {
        let mut routes: Vec<_> = self.routes.values().collect();
        routes.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        routes
    }

    pub(crate) fn list(&self) -> Vec<Tool> {
        let mut tools: Vec<Tool> = self.routes.values().map(|r| r.tool.clone()).collect();
        if let Some((unguarded, _)) = &self.unguarded {
            tools.extend(
                unguarded
                    .list_all()
                    .into_iter()
                    .filter(|t| !self.routes.contains_key(&t.name)),
            );
        }
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools
    }
}

impl<S: Send + Sync + 'static> std::ops::Add for SecureToolRouter<S> {
    type Output = Self;

    fn add(mut self, other: Self) -> Self {
        for route in other.routes.into_values() {
            self = self.with_route(route);
        }
        for route in other.resources {
            self = self.with_resource(route);
        }
        for route in other.prompts.into_values() {
            self = self.with_prompt(route);
        }
        if let Some((router, reason)) = other.unguarded {
            self = self.with_unguarded_tools(router, reason);
        }
        self
    }
}
