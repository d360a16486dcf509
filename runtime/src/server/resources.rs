//! The server's resources: which ones each caller is shown, and a read routed to the
//! resource whose URI matches, through the guarded read.

use rmcp::ErrorData as McpError;
use rmcp::model::{ReadResourceResult, Resource, ResourceTemplate};

use super::SecureServer;
use crate::authz::Principal;
use crate::context::Session;
use crate::guard::Probe;
use crate::resource::ResourceRoute;
use crate::resource::read::{ReadInvocation, resource_not_found};

impl<S: Send + Sync + 'static> SecureServer<S> {
    /// Reads the secure resource at `uri` in-process as `principal`, without a transport,
    /// through the same guarded path as `resources/read` (authorization, parameters,
    /// deadline, breaker, error hygiene, audit). For tests, benchmarks and embedding.
    ///
    /// # Errors
    ///
    /// The JSON-RPC error `resources/read` would answer: "resource not found" (without the
    /// URI) for a URI that no resource matches, a read the policy denies and variables that
    /// are not valid parameters alike; otherwise the sanitized failure, its facts in `data`.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    /// use secure_tool::resource::{ResourceBody, ResourceRoute, ResourceSpec};
    /// use secure_tool::route::{ArgumentsType, ErrorType, NoArguments, SecureToolRouter};
    ///
    /// struct Docs;
    /// async fn readme(_: &Docs, _: NoArguments, _: secure_tool::context::Grant<'_>) -> Result<ResourceBody, ToolError> {
    ///     Ok(ResourceBody::text("# Docs"))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let spec = ResourceSpec::new("readme", "docs://readme", authenticated());
    /// let route = ResourceRoute::new(spec, ArgumentsType::new(), ErrorType::new(), readme);
    /// let router = SecureToolRouter::new().with_resource(route);
    /// let server = secure_tool::SecureServerBuilder::with_router(Docs, router).build();
    ///
    /// let read = server.read_resource("docs://readme", Principal::new("ada")).await.unwrap();
    /// assert_eq!(read.contents.len(), 1);
    /// assert!(server.read_resource("docs://readme", Principal::anonymous()).await.is_err());
    /// # }
    /// ```
    pub async fn read_resource(
        &self,
        uri: &str,
        principal: Principal,
    ) -> Result<ReadResourceResult, McpError> {
        self.read_resource_on(uri, principal, None).await
    }

    /// [`read_resource`](Self::read_resource), come in on `session`.
    pub(crate) async fn read_resource_on(
        &self,
        uri: &str,
        principal: Principal,
        session: Option<Session>,
    ) -> Result<ReadResourceResult, McpError> {
        let Some((route, params)) = self.resource_at(uri) else {
            return Err(resource_not_found());
        };
        let invocation = ReadInvocation {
            this: &self.inner.state,
            route,
            uri: route.spec().uri().answered_uri(uri),
            params,
            principal,
            context: self.call_settings(),
            session,
            probe: Probe::default(),
        };
        (route.read)(invocation).await
    }

    /// A read of `route` at `uri` as `principal`, probed by the fail-closed check (crate
    /// private: a probe only ever puts policies that never allow).
    #[cfg(feature = "testing")]
    pub(crate) async fn read_probed(
        &self,
        route: &ResourceRoute<S>,
        uri: &str,
        principal: Principal,
        probe: Probe<'_>,
    ) -> Result<ReadResourceResult, McpError> {
        let params = route.parameters(uri).unwrap_or_default();
        let invocation = ReadInvocation {
            this: &self.inner.state,
            route,
            uri: route.spec().uri().answered_uri(uri),
            params,
            principal,
            context: self.call_settings(),
            session: None,
            probe,
        };
        (route.read)(invocation).await
    }

    /// The fixed resources `principal` is shown by `resources/list`: those whose policies
    /// (and the server's) its scopes and roles can satisfy
    /// ([`Policy::may_admit`](crate::authz::Policy::may_admit)), in the order they were
    /// added.
    pub fn resources_for(&self, principal: &Principal) -> Vec<Resource> {
        self.readable(principal)
            .filter_map(ResourceRoute::resource)
            .collect()
    }

    /// The resource templates `principal` is shown by `resources/templates/list`, as
    /// [`resources_for`](Self::resources_for).
    pub fn resource_templates_for(&self, principal: &Principal) -> Vec<ResourceTemplate> {
        self.readable(principal)
            .filter_map(ResourceRoute::template)
            .collect()
    }

    fn readable<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> impl Iterator<Item = &'a ResourceRoute<S>> + 'a {
        let server_policy = self.inner.config.server_policy.as_ref();
        self.inner.tools.resources.iter().filter(move |route| {
            server_policy.is_none_or(|policy| policy.may_admit(principal))
                && route.spec.policy.may_admit(principal)
        })
    }
}
