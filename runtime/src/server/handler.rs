//! [`SecureServer`]'s `ServerHandler` implementation, in one place: `tools/call`,
//! `tools/list`, `get_tool`, `resources/read`, `resources/list`,
//! `resources/templates/list` and `get_info` are answered here through the secure routes.
//! The rest of the protocol (prompts, completion, logging, subscriptions, tasks, skills,
//! custom requests) is forwarded to the user's server state only for the surfaces the
//! builder names ([`SecureServerBuilder::with_unguarded`](super::SecureServerBuilder::with_unguarded));
//! the others answer "method not found". Ping, the protocol versions and notifications
//! are forwarded.
//!
//! `initialize`, `negotiate_initialize` and `discover` are not forwarded: their defaults
//! call [`SecureServer`]'s own `get_info`, which advertises the tools capability.

// Forwarding legacy methods is what keeps them working for the user's state.
#![allow(deprecated)]

use std::borrow::Cow;
use std::future::Future;

use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::model::*;
use rmcp::service::{
    MaybeSendFuture, NotificationContext, RequestContext, RoleServer, SubscriptionContext,
};

use rmcp::handler::server::tool::ToolCallContext;

use super::{SecureServer, ToolLists, Unguarded, unknown_tool};
use crate::authz::Mode;
use crate::authz::Principal;
use crate::completion::CompletionRequest;
use crate::health::{ServicePath, Status};
use crate::route::Invocation;

impl<S: ServerHandler> ServerHandler for SecureServer<S> {
    fn get_info(&self) -> ServerConfig {
        get_info(self)
    }

    fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CallToolResponse, McpError>> + MaybeSendFuture + '_ {
        call_tool(self, request, context)
    }

    fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListToolsResult, McpError>> + MaybeSendFuture + '_ {
        let _ = request;
        std::future::ready(Ok(list_tools(self, &context)))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        get_tool(self, name)
    }

    fn ping(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        // Answered here: a liveness check needs nothing of the state, and the state's own
        // `ping` would be reached by any client, unguarded.
        let _ = context;
        std::future::ready(Ok(()))
    }

    fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<InitializeResult, McpError>> + MaybeSendFuture + '_ {
        // A session is opened once: rmcp records the handshake that opened it before this
        // is called. Another `initialize` in the session is answered, and changes nothing:
        // neither the capabilities its calls were declared (what they may be asked), nor
        // the session its log level is kept for (each new handshake would be a session of
        // its own, its level held until the session closes).
        let _ = context;
        std::future::ready(self.negotiate_initialize(&request))
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.state.supported_protocol_versions()
    }

    fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CompleteResult, McpError>> + MaybeSendFuture + '_ {
        complete(self, request, context)
    }

    fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        let forwarded = self.inner.config.forwards(Unguarded::Logging);
        async move {
            if forwarded {
                Box::pin(self.inner.state.set_level(request, context)).await
            } else {
                // The level of the messages handlers send through their call's context:
                // remembered per session, nothing else.
                self.inner.log_levels.set(&context.peer, request.level);
                Ok(())
            }
        }
    }

    fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetPromptResponse, McpError>> + MaybeSendFuture + '_ {
        get_prompt(self, request, context)
    }

    fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListPromptsResult, McpError>> + MaybeSendFuture + '_ {
        list_prompts(self, request, context)
    }

    fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourcesResult, McpError>> + MaybeSendFuture + '_ {
        list_resources(self, request, context)
    }

    fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourceTemplatesResult, McpError>> + MaybeSendFuture + '_
    {
        list_resource_templates(self, request, context)
    }

    fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceResponse, McpError>> + MaybeSendFuture + '_ {
        read_resource(self, request, context)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = self.state_accepted(requested);
        if self.has_gate() && requested.tools_list_changed == Some(true) {
            // Degradation changes the tool list: accept that, whatever the state says.
            accepted.get_or_insert_default().tools_list_changed = Some(true);
        }
        // Resource URIs: every one acknowledged, for any caller, whether a resource matches
        // it or not (the acknowledgement must not tell a caller which URIs exist); `listen`
        // registers only the secure ones the caller may read, and each update is
        // authorized again.
        // Only a URI is acknowledged: a scheme, then URI characters, no fragment (a
        // fragment never names another resource), not too long to name any resource
        // (whatever exists): an acknowledgement quotes no text of the client's other than
        // URIs. A stream names at most `MAX_SUBSCRIPTIONS_PER_SESSION` of them; one naming
        // more has none acknowledged (rmcp acknowledges every copy the request holds of an
        // accepted URI, which would send a request of copies back whole).
        let named = requested
            .resource_subscriptions
            .as_deref()
            .unwrap_or_default();
        let secure: Vec<String> =
            if named.len() > super::subscriptions::MAX_SUBSCRIPTIONS_PER_SESSION {
                Vec::new()
            } else {
                named
                    .iter()
                    .filter(|uri| crate::resource::acknowledgeable(uri))
                    .cloned()
                    .collect()
            };
        if !secure.is_empty() {
            let accepted = accepted.get_or_insert_default();
            let uris = accepted.resource_subscriptions.get_or_insert_default();
            for uri in secure {
                if !uris.contains(&uri) {
                    uris.push(uri);
                }
            }
        }
        // A stream the state's own `listen` will not get (see `listen`) is promised none of
        // the state's notifications: only what the server sends itself.
        if let Some(accepted) = &mut accepted
            && self.kept_from_state(accepted)
        {
            accepted.prompts_list_changed = None;
            accepted.resources_list_changed = None;
            if !(self.has_gate() && requested.tools_list_changed == Some(true)) {
                accepted.tools_list_changed = None;
            }
        }
        accepted
    }

    // The trait's signature (`impl Future + MaybeSendFuture`) must be kept as is.
    #[allow(clippy::manual_async_fn)]
    fn listen(
        &self,
        context: SubscriptionContext,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        async move {
            let principal = self.principal(context.request_context());
            let Some(_slot) = self.inner.listen_streams.take(
                &principal,
                super::subscriptions::MAX_LISTEN_STREAMS_PER_CALLER,
            ) else {
                tracing::warn!(
                    target: "secure_tool::server",
                    principal = %crate::util::LogSafe::new(&principal, 256),
                    "a listen stream was refused: its caller holds too many open"
                );
                return Err(McpError::invalid_request(
                    "too many open subscriptions/listen streams: end one first",
                    None,
                ));
            };
            let watches_tools = context.accepted().tools_list_changed == Some(true);
            let sink = context.sink().clone();
            if watches_tools {
                self.register_sink(context.sink().clone());
            }
            if let Some(uris) = &context.accepted().resource_subscriptions {
                self.listen_resources(context.sink().clone(), &principal, uris)
                    .await;
            }
            let kept_from_state = self.kept_from_state(context.accepted());
            // The stream ends when its caller's credential does (a listen stream outlives
            // the request that opened it; not the token).
            let expired = async {
                match principal.valid_until() {
                    Some(until) => tokio::time::sleep_until(until).await,
                    None => std::future::pending().await,
                }
            };
            let result = if !kept_from_state {
                let state = crate::resilience::DropCaught::new(
                    "the state's listen",
                    Box::pin(self.inner.state.listen(context)),
                );
                tokio::select! {
                    result = state => result,
                    () = expired => Ok(()),
                }
            } else {
                tokio::select! {
                    () = context.cancelled() => {}
                    () = expired => {}
                }
                Ok(())
            };
            if watches_tools {
                self.unregister_sink(&sink);
            }
            self.end_stream(&sink);
            result
        }
    }

    // The trait's signature (`impl Future + MaybeSendFuture`) must be kept as is.
    #[allow(clippy::manual_async_fn)]
    fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        async move {
            if self.inner.config.forwards(Unguarded::Resources)
                && self.forwardable_resource(&request.uri)
            {
                return Box::pin(self.inner.state.subscribe(request, context)).await;
            }
            if self.inner.tools.resources.is_empty() {
                return Err(McpError::method_not_found::<SubscribeRequestMethod>());
            }
            let principal = self.principal(&context);
            self.subscribe_session(context.peer, principal, request.uri)
                .await
        }
    }

    // The trait's signature (`impl Future + MaybeSendFuture`) must be kept as is.
    #[allow(clippy::manual_async_fn)]
    fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        async move {
            if self.inner.config.forwards(Unguarded::Resources)
                && self.forwardable_resource(&request.uri)
            {
                return Box::pin(self.inner.state.unsubscribe(request, context)).await;
            }
            if self.inner.tools.resources.is_empty() {
                return Err(McpError::method_not_found::<UnsubscribeRequestMethod>());
            }
            // Unsubscribing from what one was never subscribed to is not an error: the
            // answer must not tell which resources exist.
            self.unsubscribe_session(context.peer, &request.uri);
            Ok(())
        }
    }

    fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CustomResult, McpError>> + MaybeSendFuture + '_ {
        let forwarded = self.inner.config.forwards(Unguarded::CustomRequests);
        async move {
            if forwarded {
                Box::pin(self.inner.state.on_custom_request(request, context)).await
            } else {
                Err(McpError::new(
                    ErrorCode::METHOD_NOT_FOUND,
                    "method not found",
                    None,
                ))
            }
        }
    }

    fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.state.on_cancelled(notification, context)
    }

    fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.state.on_progress(notification, context)
    }

    fn on_initialized(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.register_peer(context.peer.clone());
        self.inner.state.on_initialized(context)
    }

    fn on_roots_list_changed(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.state.on_roots_list_changed(context)
    }

    fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        // A method the protocol does not define reaches the state only when custom methods
        // are forwarded, notifications as requests: any caller could send one.
        let forwarded = self.inner.config.forwards(Unguarded::CustomRequests);
        async move {
            if forwarded {
                Box::pin(
                    self.inner
                        .state
                        .on_custom_notification(notification, context),
                )
                .await;
            } else {
                tracing::debug!(
                    target: "secure_tool::server",
                    method = %crate::util::LogSafe::new(&notification.method, 128),
                    "dropped a notification of a method the protocol does not define (custom methods are not forwarded)"
                );
            }
        }
    }

    fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetTaskResult, McpError>> + MaybeSendFuture + '_ {
        let forwarded = self.inner.config.forwards(Unguarded::Tasks);
        async move {
            if forwarded {
                Box::pin(self.inner.state.get_task(request, context)).await
            } else {
                Err(McpError::method_not_found::<GetTaskMethod>())
            }
        }
    }

    fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        let forwarded = self.inner.config.forwards(Unguarded::Tasks);
        async move {
            if forwarded {
                Box::pin(self.inner.state.update_task(request, context)).await
            } else {
                Err(McpError::method_not_found::<UpdateTaskMethod>())
            }
        }
    }

    fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        let forwarded = self.inner.config.forwards(Unguarded::Tasks);
        async move {
            if forwarded {
                Box::pin(self.inner.state.cancel_task(request, context)).await
            } else {
                Err(McpError::method_not_found::<CancelTaskMethod>())
            }
        }
    }

    fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListSkillsResult, McpError>> + MaybeSendFuture + '_ {
        let forwarded = self.inner.config.forwards(Unguarded::Skills);
        async move {
            if forwarded {
                Box::pin(self.inner.state.list_skills(request, context)).await
            } else {
                Err(McpError::method_not_found::<ListSkillsRequestMethod>())
            }
        }
    }

    fn get_skill(
        &self,
        request: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetSkillResult, McpError>> + MaybeSendFuture + '_ {
        let forwarded = self.inner.config.forwards(Unguarded::Skills);
        async move {
            if forwarded {
                Box::pin(self.inner.state.get_skill(request, context)).await
            } else {
                Err(McpError::method_not_found::<GetSkillRequestMethod>())
            }
        }
    }

    fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceDirectoryResult, McpError>> + MaybeSendFuture + '_
    {
        let forwarded = self.inner.config.forwards(Unguarded::Skills);
        async move {
            if forwarded && !self.forwardable_resource(&request.uri) {
                // A secure resource's URI (in any spelling) is never listed by the state:
                // the answer of a resource that does not exist.
                Err(crate::resource::read::resource_not_found())
            } else if forwarded {
                Box::pin(self.inner.state.read_resource_directory(request, context)).await
            } else {
                Err(McpError::method_not_found::<
                    ReadResourceDirectoryRequestMethod,
                >())
            }
        }
    }
}

impl<S: ServerHandler> SecureServer<S> {
    /// Whether a `subscriptions/listen` stream accepting `accepted` is kept from the
    /// state's own `listen`: it names a secure resource, in any spelling (the stream's
    /// sink accepts every URI it names, and a state given it could send a secure
    /// resource's updates, unauthorized: rmcp's own pattern accepts whatever is asked),
    /// or it names any resource URI and resources are not forwarded.
    fn kept_from_state(&self, accepted: &SubscriptionFilter) -> bool {
        let mut uris = accepted.resource_subscriptions.iter().flatten().peekable();
        let names_any = uris.peek().is_some();
        uris.any(|uri| !self.forwardable_resource(uri))
            || (names_any && !self.inner.config.forwards(Unguarded::Resources))
    }

    /// What the state accepts of a `subscriptions/listen` filter, less the surfaces it does
    /// not serve: its notifications of those would tell a caller what it may not read.
    fn state_accepted(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        let config = &self.inner.config;
        self.inner
            .state
            .accepted_subscription_filter(requested)
            .map(|mut accepted| {
                if !config.forwards(Unguarded::Resources) {
                    accepted.resources_list_changed = None;
                    accepted.resource_subscriptions = None;
                }
                if !config.forwards(Unguarded::Prompts) {
                    accepted.prompts_list_changed = None;
                }
                accepted
            })
    }
}

/// The state's own `get_info`, with exactly the capabilities that are served: tools;
/// resources when there is a secure one or they are forwarded; the rest only when
/// forwarded.
fn get_info<S: ServerHandler>(server: &SecureServer<S>) -> ServerConfig {
    let mut info = server.inner.state.get_info();
    let config = &server.inner.config;
    let own = std::mem::take(&mut info.capabilities);
    let capabilities = &mut info.capabilities;
    let mut tools = own.tools.unwrap_or_default();
    if server.inner.gate.is_some() {
        // Write tools change when writes degrade and recover.
        tools.list_changed = Some(true);
    }
    capabilities.tools = Some(tools);
    capabilities.resources = if config.forwards(Unguarded::Resources) {
        Some(own.resources.unwrap_or_default())
    } else if server.inner.tools.resources.is_empty() {
        None
    } else {
        Some(ResourcesCapability::default())
    };
    if let Some(resources) = &mut capabilities.resources
        && !server.inner.tools.resources.is_empty()
    {
        // Secure resources can be subscribed to.
        resources.subscribe = Some(true);
    }
    capabilities.prompts = if config.forwards(Unguarded::Prompts) {
        Some(own.prompts.unwrap_or_default())
    } else if server.inner.tools.prompts.is_empty() {
        None
    } else {
        Some(PromptsCapability::default())
    };
    capabilities.completions = if config.forwards(Unguarded::Completions) {
        Some(own.completions.unwrap_or_default())
    } else if server.has_completers() {
        Some(JsonObject::default())
    } else {
        None
    };
    // Handlers send public log messages through their call's context: the level is the
    // client's to set.
    capabilities.logging = if config.forwards(Unguarded::Logging) {
        own.logging
    } else {
        Some(JsonObject::default())
    };
    if config.forwards(Unguarded::CustomRequests) {
        capabilities.experimental = own.experimental;
    }
    // Extensions (tasks, skills, apps...) are kept only with what serves them.
    let mut extensions = own.extensions.unwrap_or_default();
    if !config.forwards(Unguarded::Tasks) {
        extensions.remove(TASKS_EXTENSION_ID);
    }
    if !config.forwards(Unguarded::Skills) {
        extensions.remove(SKILLS_EXTENSION_ID);
    }
    if !config.forwards(Unguarded::CustomRequests) {
        extensions.retain(|id, _| id == TASKS_EXTENSION_ID || id == SKILLS_EXTENSION_ID);
    }
    capabilities.extensions = (!extensions.is_empty()).then_some(extensions);
    info
}

/// The secure resources `context`'s caller may read, then (on the first page) the
/// state's own when resources are forwarded.
async fn list_resources<S: ServerHandler>(
    server: &SecureServer<S>,
    request: Option<PaginatedRequestParams>,
    context: RequestContext<RoleServer>,
) -> Result<ListResourcesResult, McpError> {
    let first_page = request.as_ref().and_then(|r| r.cursor.as_ref()).is_none();
    let secure = if first_page {
        server.resources_for(&server.principal(&context))
    } else {
        Vec::new()
    };
    let mut result = if server.inner.config.forwards(Unguarded::Resources) {
        Box::pin(server.inner.state.list_resources(request, context)).await?
    } else if server.inner.tools.resources.is_empty() {
        return Err(McpError::method_not_found::<ListResourcesRequestMethod>());
    } else {
        ListResourcesResult::default()
    };
    result.resources.splice(0..0, secure);
    // The list is this caller's: no one else may be served it from a cache.
    result.cache_scope = Some(CacheScope::Private);
    Ok(result)
}

/// The secure prompts `context`'s caller may get, then (on the first page) the state's
/// own when prompts are forwarded.
async fn list_prompts<S: ServerHandler>(
    server: &SecureServer<S>,
    request: Option<PaginatedRequestParams>,
    context: RequestContext<RoleServer>,
) -> Result<ListPromptsResult, McpError> {
    let first_page = request.as_ref().and_then(|r| r.cursor.as_ref()).is_none();
    let secure = if first_page {
        server.prompts_for(&server.principal(&context))
    } else {
        Vec::new()
    };
    let mut result = if server.inner.config.forwards(Unguarded::Prompts) {
        Box::pin(server.inner.state.list_prompts(request, context)).await?
    } else if server.inner.tools.prompts.is_empty() {
        return Err(McpError::method_not_found::<ListPromptsRequestMethod>());
    } else {
        ListPromptsResult::default()
    };
    result.prompts.splice(0..0, secure);
    result.cache_scope = Some(CacheScope::Private);
    Ok(result)
}

/// A get of a secure prompt through the guarded get; else, when prompts are forwarded,
/// the state's own; else "prompt not found".
async fn get_prompt<S: ServerHandler>(
    server: &SecureServer<S>,
    request: GetPromptRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<GetPromptResponse, McpError> {
    let secure = server
        .inner
        .tools
        .prompts
        .contains_key(request.name.as_str());
    if !secure && server.inner.config.forwards(Unguarded::Prompts) {
        return Box::pin(server.inner.state.get_prompt(request, context)).await;
    }
    let principal = server.principal(&context);
    let session = Some(server.session(&context));
    // Boxed, as a completion is: no request's future is larger than a tool call's.
    let get = Box::pin(server.get_prompt_on(&request.name, request.arguments, principal, session));
    tokio::select! {
        biased;
        result = get => result.map(GetPromptResponse::from),
        () = context.ct.cancelled() => Err(McpError::invalid_request("request cancelled", None)),
    }
}

/// A completion for a secure prompt or resource template, under its guard; else, when
/// completions are forwarded, the state's own; else no suggestions, or "method not found"
/// when nothing is completed at all.
async fn complete<S: ServerHandler>(
    server: &SecureServer<S>,
    request: CompleteRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<CompleteResult, McpError> {
    let tools = &server.inner.tools;
    let secure = match &request.r#ref {
        Reference::Prompt(prompt) => tools.prompts.contains_key(prompt.name.as_str()),
        // A secure resource's template or URI in any spelling (as reads and subscriptions
        // match them) is never the state's to complete.
        Reference::Resource(template) => {
            let named = crate::resource::UriTemplate::parse(&template.uri).ok();
            named.is_some_and(|named| {
                tools
                    .resources
                    .iter()
                    .any(|route| route.spec.uri.same_as(&named))
            }) || !server.forwardable_resource(&template.uri)
        }
        _ => false,
    };
    let forwarded = server.inner.config.forwards(Unguarded::Completions);
    if !secure && forwarded {
        return Box::pin(server.inner.state.complete(request, context)).await;
    }
    if !secure && !server.has_completers() {
        return Err(McpError::method_not_found::<CompleteRequestMethod>());
    }
    let mut typed = CompletionRequest::new(request.argument.name, request.argument.value);
    for (argument, value) in request
        .context
        .and_then(|context| context.arguments)
        .into_iter()
        .flatten()
    {
        typed = typed.with_context(argument, value);
    }
    let principal = server.principal(&context);
    // Boxed: rmcp keeps one future per request, as large as the largest any method of the
    // server returns, and a guarded completion's (4.4 KiB) would make every request's,
    // tools/call's included, 2.7 KiB larger to allocate and move.
    let completed = Box::pin(server.complete(&request.r#ref, typed, principal));
    tokio::select! {
        biased;
        result = completed => result.map(CompleteResult::new),
        () = context.ct.cancelled() => Err(McpError::invalid_request("request cancelled", None)),
    }
}

/// As [`list_resources`], for templates.
async fn list_resource_templates<S: ServerHandler>(
    server: &SecureServer<S>,
    request: Option<PaginatedRequestParams>,
    context: RequestContext<RoleServer>,
) -> Result<ListResourceTemplatesResult, McpError> {
    let first_page = request.as_ref().and_then(|r| r.cursor.as_ref()).is_none();
    let secure = if first_page {
        server.resource_templates_for(&server.principal(&context))
    } else {
        Vec::new()
    };
    let mut result = if server.inner.config.forwards(Unguarded::Resources) {
        Box::pin(server.inner.state.list_resource_templates(request, context)).await?
    } else if server.inner.tools.resources.is_empty() {
        return Err(McpError::method_not_found::<
            ListResourceTemplatesRequestMethod,
        >());
    } else {
        ListResourceTemplatesResult::default()
    };
    result.resource_templates.splice(0..0, secure);
    result.cache_scope = Some(CacheScope::Private);
    Ok(result)
}

/// A read of a secure resource through the guarded read; else, when resources are
/// forwarded, the state's own; else "resource not found".
async fn read_resource<S: ServerHandler>(
    server: &SecureServer<S>,
    request: ReadResourceRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<ReadResourceResponse, McpError> {
    // Whether resources are forwarded is asked first: a server that forwards none matches
    // the URI once, in the read.
    if server.inner.config.forwards(Unguarded::Resources)
        && server.forwardable_resource(&request.uri)
    {
        return Box::pin(server.inner.state.read_resource(request, context)).await;
    }
    let principal = server.principal(&context);
    let session = Some(server.session(&context));
    let read = server.read_resource_on(&request.uri, principal, session);
    tokio::select! {
        biased;
        result = read => result.map(ReadResourceResponse::from),
        () = context.ct.cancelled() => Err(McpError::invalid_request("request cancelled", None)),
    }
}

/// What `tools/list` shows of a write tool while writes are degraded.
const DEGRADED_PREFIX: &str =
    "[Temporarily unavailable: writes are degraded; read tools still work.] ";

fn list_tools<S: Send + Sync + 'static>(
    server: &SecureServer<S>,
    context: &RequestContext<RoleServer>,
) -> ListToolsResult {
    // The caller is resolved only when the list depends on it.
    let mut tools = match server.inner.config.tool_lists {
        ToolLists::All => server.inner.tools.list(),
        ToolLists::PerCaller => server.tools_for(&server.principal(context)),
    };
    if let Some(gate) = &server.inner.gate
        && gate.monitor.status(ServicePath::Writes) == Status::Degraded
    {
        for tool in &mut tools {
            let write = server
                .inner
                .tools
                .routes
                .get(tool.name.as_ref())
                .is_some_and(|route| route.spec.mode == Mode::Write);
            if write {
                let description = tool.description.as_deref().unwrap_or_default();
                tool.description = Some(format!("{DEGRADED_PREFIX}{description}").into());
            }
        }
    }
    let mut result = ListToolsResult::with_all_items(tools);
    if server.inner.config.tool_lists == ToolLists::PerCaller {
        // The list is this caller's: no one else may be served it from a cache.
        result.cache_scope = Some(CacheScope::Private);
    }
    result
}

/// A tool by name, asked without a caller (rmcp's HTTP transport checks a call's
/// `Mcp-Param-*` headers against the tool's input schema with it). With per-caller lists,
/// only the tools every caller sees are answered: a schema check that ran for a hidden
/// tool and not for a missing one would tell them apart.
fn get_tool<S: Send + Sync + 'static>(server: &SecureServer<S>, name: &str) -> Option<Tool> {
    let tools = &server.inner.tools;
    if let Some(route) = tools.routes.get(name) {
        return server
            .shows(route, &Principal::anonymous())
            .then(|| route.tool().clone());
    }
    tools.list().into_iter().find(|t| t.name == name)
}

async fn call_tool<S: Send + Sync + 'static>(
    server: &SecureServer<S>,
    request: CallToolRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<CallToolResponse, McpError> {
    let inner = &*server.inner;
    if let Some(route) = inner.tools.routes.get(request.name.as_ref()) {
        let principal = server.principal(&context);
        if !server.shows(route, &principal) {
            return Err(unknown_tool());
        }
        let invocation = Invocation::new(
            &inner.state,
            route,
            request.arguments,
            principal,
            server.call_settings(),
        )
        .on(server.session(&context))
        .retrying(request.request_state, request.input_responses);
        // rmcp only signals a client's `notifications/cancelled` through the token and keeps
        // polling the handler: drop the call instead, so that it releases its breaker
        // permit and bulkhead slot now rather than at its deadline.
        return tokio::select! {
            biased;
            result = (route.call)(invocation) => Ok(result),
            () = context.ct.cancelled() => {
                tracing::info!(
                    target: "secure_tool::audit",
                    tool = %request.name,
                    outcome = "cancelled",
                    "tool call cancelled by the client"
                );
                Err(McpError::invalid_request("request cancelled", None))
            }
        };
    }
    if let Some((unguarded, _)) = &inner.tools.unguarded
        && unguarded.has_route(&request.name)
    {
        return unguarded
            .call(ToolCallContext::new(&inner.state, request, context))
            .await;
    }
    Err(unknown_tool())
}
