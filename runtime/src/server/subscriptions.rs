//! Resource subscriptions, authorized per resource: `resources/subscribe` (sessions with
//! an `initialize` handshake) and the resource URIs of `subscriptions/listen`
//! (2026-07-28). A subscription is accepted only when the caller may read the resource,
//! and each update is sent only to subscribers whose policy still lets them read it,
//! decided again when the update is sent.

use rmcp::ErrorData as McpError;
use rmcp::model::{JsonObject, ResourceUpdatedNotificationParam};
use rmcp::service::{Peer, RoleServer, SubscriptionSink};

use super::{SecureServer, lock};
use crate::authz::{AccessRequest, Mode, Principal};
use crate::resource::ResourceRoute;
use crate::resource::read::resource_not_found;
use crate::resource::template::normal_form;

/// The most resources one session may be subscribed to.
pub const MAX_SUBSCRIPTIONS_PER_SESSION: usize = 256;
/// The most subscriptions the server holds, over every session.
pub const MAX_SUBSCRIPTIONS: usize = 65_536;

/// Who is told of an update.
#[derive(Clone)]
enum Subscriber {
    /// A session with an `initialize` handshake, told directly.
    Session(Peer<RoleServer>),
    /// A `subscriptions/listen` stream.
    Stream(SubscriptionSink),
}

impl Subscriber {
    fn is_closed(&self) -> bool {
        match self {
            Self::Session(peer) => peer.is_transport_closed(),
            Self::Stream(_) => false,
        }
    }

    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Session(a), Self::Session(b)) => super::gate::same_session(a, b),
            (Self::Stream(a), Self::Stream(b)) => a.id() == b.id(),
            _ => false,
        }
    }
}

/// One subscription: who, as whom, to which URI.
#[derive(Clone)]
struct Subscription {
    to: Subscriber,
    principal: Principal,
    /// The URI in normal form, what updates are matched by.
    uri: String,
    /// The URI as the subscriber wrote it: what it is told of (a listen stream's sink
    /// accepts only that spelling).
    written: String,
}

impl Subscription {
    fn new(to: Subscriber, principal: Principal, written: String) -> Self {
        Self {
            to,
            principal,
            uri: normal_form(&written).into_owned(),
            written,
        }
    }
}

/// Every subscription the server holds.
#[derive(Default)]
pub(super) struct Subscriptions(std::sync::Mutex<Vec<Subscription>>);

impl<S: Send + Sync + 'static> SecureServer<S> {
    /// The secure resource a URI names, if any, and the parameters it gives it.
    pub(super) fn resource_at(&self, uri: &str) -> Option<(&ResourceRoute<S>, JsonObject)> {
        self.inner
            .tools
            .resources()
            .find_map(|route| Some((route, route.parameters(uri)?)))
    }

    /// Whether `principal` may read the resource `route` serves with `params` (a URI's
    /// variables, as a read of it gives them to the policy): the server's policy and the
    /// resource's, fail-closed, within the authorization deadline.
    async fn may_read(
        &self,
        route: &ResourceRoute<S>,
        params: &JsonObject,
        principal: &Principal,
    ) -> bool {
        let spec = route.spec();
        let request = AccessRequest::new(spec.name(), Mode::Read, principal).with_arguments(params);
        let allowed = self.call_settings().authorize(spec.policy(), request).await;
        if let Err(cause) = &allowed {
            tracing::info!(
                target: crate::audit::TARGET,
                resource = spec.name(),
                principal = %crate::util::LogSafe::new(principal, 256),
                cause = %crate::util::LogSafe::new(cause, 2048),
                "resource subscription or update denied"
            );
        }
        allowed.is_ok()
    }

    /// `resources/subscribe` of `uri` by the session `peer`, as `principal`: accepted only
    /// if a secure resource is at `uri` and the caller may read it; otherwise the answer
    /// of a read of a resource that does not exist.
    pub(super) async fn subscribe_session(
        &self,
        peer: Peer<RoleServer>,
        principal: Principal,
        uri: String,
    ) -> Result<(), McpError> {
        let (route, params) = self.resource_at(&uri).ok_or_else(resource_not_found)?;
        if !self.may_read(route, &params, &principal).await {
            return Err(resource_not_found());
        }
        self.add(Subscription::new(Subscriber::Session(peer), principal, uri))
    }

    /// `resources/unsubscribe` of `uri` by the session `peer`.
    pub(super) fn unsubscribe_session(&self, peer: Peer<RoleServer>, uri: &str) {
        let to = Subscriber::Session(peer);
        let uri = normal_form(uri);
        lock(&self.inner.subscriptions.0).retain(|s| !(s.uri == uri && s.to.same(&to)));
    }

    /// The resource URIs of a `subscriptions/listen` stream that `principal` may read,
    /// registered for updates until [`Self::end_stream`].
    pub(super) async fn listen_resources(
        &self,
        sink: SubscriptionSink,
        principal: &Principal,
        uris: &[String],
    ) {
        for uri in uris.iter().take(MAX_SUBSCRIPTIONS_PER_SESSION) {
            let Some((route, params)) = self.resource_at(uri) else {
                continue;
            };
            if self.may_read(route, &params, principal).await {
                let _ = self.add(Subscription::new(
                    Subscriber::Stream(sink.clone()),
                    principal.clone(),
                    uri.clone(),
                ));
            }
        }
    }

    /// Forgets the subscriptions of a `subscriptions/listen` stream that ended.
    pub(super) fn end_stream(&self, id: &rmcp::model::RequestId) {
        lock(&self.inner.subscriptions.0)
            .retain(|s| !matches!(&s.to, Subscriber::Stream(sink) if sink.id() == id));
    }

    /// Whether a request about `uri` may go to the state's own handlers (when resources are
    /// forwarded): no secure resource matches it, in any spelling, and it is not too long
    /// to be matched against them ([`MAX_URI_BYTES`](crate::resource::MAX_URI_BYTES)).
    pub(super) fn forwardable_resource(&self, uri: &str) -> bool {
        uri.len() <= crate::resource::MAX_URI_BYTES && self.resource_at(uri).is_none()
    }

    fn add(&self, subscription: Subscription) -> Result<(), McpError> {
        let mut all = lock(&self.inner.subscriptions.0);
        all.retain(|s| !s.to.is_closed());
        if all
            .iter()
            .any(|s| s.uri == subscription.uri && s.to.same(&subscription.to))
        {
            return Ok(());
        }
        let of_session = all.iter().filter(|s| s.to.same(&subscription.to)).count();
        if of_session >= MAX_SUBSCRIPTIONS_PER_SESSION || all.len() >= MAX_SUBSCRIPTIONS {
            return Err(McpError::invalid_request(
                "too many resource subscriptions: unsubscribe from some first",
                None,
            ));
        }
        all.push(subscription);
        Ok(())
    }

    /// Tells every subscriber of `uri` that the resource changed
    /// (`notifications/resources/updated`), if its policy still lets it read the resource,
    /// decided now; returns how many were told. Call it when the data behind a secure
    /// resource changes.
    ///
    /// ```
    /// use secure_tool::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Notes;
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct NoteUri { id: u64 }
    ///
    /// #[secure_tool_router]
    /// impl Notes {
    ///     /// One note.
    ///     #[secure_resource(uri = "notes://{id}", authz = scopes("notes:read"))]
    ///     async fn note(&self, uri: NoteUri) -> Result<ResourceBody, ToolError> {
    ///         Ok(ResourceBody::text(uri.id.to_string()))
    ///     }
    /// }
    /// impl secure_tool::rmcp::ServerHandler for Notes {}
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = SecureServer::new(Notes);
    /// // Nobody subscribed: nobody is told.
    /// assert_eq!(server.notify_resource_updated("notes://1").await, 0);
    /// # }
    /// ```
    pub async fn notify_resource_updated(&self, uri: &str) -> usize {
        let Some((route, params)) = self.resource_at(uri) else {
            return 0;
        };
        // Subscriptions are kept by their URI in normal form, whatever its spelling.
        let normal = normal_form(uri);
        let subscribers: Vec<Subscription> = lock(&self.inner.subscriptions.0)
            .iter()
            .filter(|s| s.uri == normal)
            .cloned()
            .collect();
        let mut told = 0;
        let mut closed = Vec::new();
        for subscription in subscribers {
            if !self.may_read(route, &params, &subscription.principal).await {
                continue;
            }
            // Each is told in the spelling it subscribed with.
            let written = subscription.written.as_str();
            let sent = match &subscription.to {
                Subscriber::Session(peer) => peer
                    .notify_resource_updated(ResourceUpdatedNotificationParam::new(written))
                    .await
                    .is_ok(),
                Subscriber::Stream(sink) => sink.notify_resource_updated(written).await.is_ok(),
            };
            if sent {
                told += 1;
            } else {
                closed.push(subscription.to);
            }
        }
        if !closed.is_empty() {
            lock(&self.inner.subscriptions.0).retain(|s| !closed.iter().any(|c| c.same(&s.to)));
        }
        told
    }
}
