//! Resource subscriptions, authorized per resource: `resources/subscribe` (sessions with
//! an `initialize` handshake) and the resource URIs of `subscriptions/listen`
//! (2026-07-28). A subscription is accepted only when the caller may read the resource,
//! and each update is sent only to subscribers whose policy still lets them read it,
//! decided again when the update is sent.
//!
//! A subscription is kept by the resource it names (the route and the parameters its URI
//! gives it), so that every spelling of a URI that reads a resource also subscribes to it,
//! unsubscribes from it and is told of its updates. A listen stream is told apart from
//! every other by its sink, not by its request id (each client numbers its own requests).
//! Updates go to every subscriber at once, each within [`NOTIFY_TIMEOUT`]: a client that
//! stops reading loses its subscriptions, never delays anyone else's updates.

use std::time::Duration;

use rmcp::ErrorData as McpError;
use rmcp::model::{JsonObject, ResourceUpdatedNotificationParam};
use rmcp::service::{Peer, RoleServer, SubscriptionSink};

use super::{SecureServer, lock};
use crate::authz::{AccessRequest, Mode, Principal};
use crate::resource::ResourceRoute;
use crate::resource::read::resource_not_found;

/// The most resources one session (or one listen stream) may be subscribed to.
pub const MAX_SUBSCRIPTIONS_PER_SESSION: usize = 256;
/// The most subscriptions one caller (a subject, over all its sessions and streams; every
/// anonymous caller together) may hold, so that no one caller can use the server's up.
pub const MAX_SUBSCRIPTIONS_PER_CALLER: usize = 4_096;
/// The most subscriptions the server holds, over every session.
pub const MAX_SUBSCRIPTIONS: usize = 65_536;
/// The most `subscriptions/listen` streams one caller (a subject; every anonymous caller
/// together) may hold open at once: a stream is a request that stays open (over HTTP, a
/// connection of its own), so that no one caller can hold the server's up.
pub const MAX_LISTEN_STREAMS_PER_CALLER: usize = 16;
/// How long one subscriber may take to take an update: past it, the subscriber is taken
/// for gone (its client stopped reading) and its subscriptions are dropped.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

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
            (Self::Stream(a), Self::Stream(b)) => same_stream(a, b),
            _ => false,
        }
    }
}

/// Whether two sinks are of the same listen stream. A request id is not enough: every
/// client numbers its own requests, so two sessions' streams often share one. The clones
/// of a stream's sink share its accepted filter, and no other stream's sink does.
pub(super) fn same_stream(a: &SubscriptionSink, b: &SubscriptionSink) -> bool {
    std::ptr::eq(a.accepted(), b.accepted())
}

/// A resource as a subscription names it: its route and the parameters the URI gives it
/// (none for a fixed URI). Every spelling of a URI that reads the resource names it alike.
#[derive(Clone, PartialEq)]
struct ResourceKey {
    route: String,
    params: JsonObject,
}

impl ResourceKey {
    /// The resource `route` serves with `params`.
    fn of<S: Send + Sync + 'static>(route: &ResourceRoute<S>, params: JsonObject) -> Self {
        Self {
            route: route.spec().name().to_owned(),
            params,
        }
    }
}

/// One subscription: who, as whom, to which resource.
#[derive(Clone)]
struct Subscription {
    to: Subscriber,
    principal: Principal,
    /// The resource, what updates are matched by.
    resource: ResourceKey,
    /// The URI as the subscriber wrote it: what a listen stream is told of (its sink
    /// accepts only that spelling); a session is told the resource's own URI.
    written: String,
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

    /// The resource `uri` names, as subscriptions are kept.
    fn resource_key(&self, uri: &str) -> Option<ResourceKey> {
        let (route, params) = self.resource_at(uri)?;
        Some(ResourceKey::of(route, params))
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
        if principal.has_expired() {
            // A subscription outlives the request that made it; not the token.
            tracing::info!(
                target: crate::audit::TARGET,
                resource = spec.name(),
                principal = %crate::util::LogSafe::new(principal, 256),
                "resource subscription or update denied: the caller's credential expired"
            );
            return false;
        }
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
        let resource = ResourceKey::of(route, params);
        self.add(Subscription {
            to: Subscriber::Session(peer),
            principal,
            resource,
            written: uri,
        })
    }

    /// `resources/unsubscribe` of `uri` by the session `peer`.
    pub(super) fn unsubscribe_session(&self, peer: Peer<RoleServer>, uri: &str) {
        let Some(resource) = self.resource_key(uri) else {
            return;
        };
        let to = Subscriber::Session(peer);
        lock(&self.inner.subscriptions.0).retain(|s| !(s.resource == resource && s.to.same(&to)));
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
                let resource = ResourceKey::of(route, params);
                let added = self.add(Subscription {
                    to: Subscriber::Stream(sink.clone()),
                    principal: principal.clone(),
                    resource,
                    written: uri.clone(),
                });
                if added.is_err() {
                    // Acknowledged (the acknowledgement tells nothing of what exists), but
                    // past a cap: said where an operator looks.
                    tracing::warn!(
                        target: "secure_tool::server",
                        principal = %crate::util::LogSafe::new(principal, 256),
                        "a listen stream's resource was not registered: too many subscriptions"
                    );
                }
            }
        }
    }

    /// Forgets the subscriptions of a `subscriptions/listen` stream that ended (only its
    /// own: another session's stream with the same request id keeps its).
    pub(super) fn end_stream(&self, ended: &SubscriptionSink) {
        lock(&self.inner.subscriptions.0)
            .retain(|s| !matches!(&s.to, Subscriber::Stream(sink) if same_stream(sink, ended)));
    }

    /// Whether a request about `uri` may go to the state's own handlers (when resources are
    /// forwarded): no secure resource matches it, in any spelling, and it is not too long
    /// to be matched against them ([`MAX_URI_BYTES`](crate::resource::MAX_URI_BYTES)).
    pub(super) fn forwardable_resource(&self, uri: &str) -> bool {
        uri.len() <= crate::resource::MAX_URI_BYTES && self.resource_at(uri).is_none()
    }

    fn add(&self, subscription: Subscription) -> Result<(), McpError> {
        let mut all = lock(&self.inner.subscriptions.0);
        // Closed sessions, and callers whose credential expired, hold no place.
        let now = tokio::time::Instant::now();
        all.retain(|s| {
            !s.to.is_closed() && s.principal.valid_until().is_none_or(|until| now < until)
        });
        if let Some(known) = all
            .iter_mut()
            .find(|s| s.resource == subscription.resource && s.to.same(&subscription.to))
        {
            // Subscribed again (with a fresh token, say): it goes on as the caller is now.
            known.principal = subscription.principal;
            known.written = subscription.written;
            return Ok(());
        }
        let of_session = all.iter().filter(|s| s.to.same(&subscription.to)).count();
        let caller = subscription.principal.subject();
        let of_caller = all
            .iter()
            .filter(|s| s.principal.subject() == caller)
            .count();
        if of_session >= MAX_SUBSCRIPTIONS_PER_SESSION
            || of_caller >= MAX_SUBSCRIPTIONS_PER_CALLER
            || all.len() >= MAX_SUBSCRIPTIONS
        {
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
        // Subscriptions are kept by the resource, whatever the spelling of its URI.
        let resource = ResourceKey::of(route, params);
        let subscribers: Vec<Subscription> = lock(&self.inner.subscriptions.0)
            .iter()
            .filter(|s| s.resource == resource)
            .cloned()
            .collect();
        // Every subscriber at once, each within its own time: one that stops reading
        // delays no one else.
        let sent = futures::future::join_all(subscribers.iter().map(|subscription| async {
            if subscription.principal.has_expired() {
                // Its credential ended: the subscription goes (subscribing again renews it).
                return Some(false);
            }
            if !self
                .may_read(route, &resource.params, &subscription.principal)
                .await
            {
                return None;
            }
            // A session is told the resource's URI (never its own spelling, which can carry
            // anything in a fragment or an escape); a listen stream in the spelling it
            // listened with, the only one its sink accepts.
            let written = subscription.written.as_str();
            let send = async {
                match &subscription.to {
                    Subscriber::Session(peer) => peer
                        .notify_resource_updated(ResourceUpdatedNotificationParam::new(
                            route.spec().uri().answered_uri(written),
                        ))
                        .await
                        .is_ok(),
                    Subscriber::Stream(sink) => {
                        sink.notify_resource_updated(written).await.is_ok()
                    }
                }
            };
            let sent = tokio::time::timeout(NOTIFY_TIMEOUT, send).await;
            if sent.is_err() {
                tracing::warn!(
                    target: "secure_tool::server",
                    resource = %resource.route,
                    "a subscriber took no update within {NOTIFY_TIMEOUT:?}: its subscriptions are dropped"
                );
            }
            Some(sent.unwrap_or(false))
        }))
        .await;
        let mut told = 0;
        let mut gone = Vec::new();
        for (subscription, sent) in subscribers.into_iter().zip(sent) {
            match sent {
                Some(true) => told += 1,
                Some(false) => gone.push(subscription.to),
                None => {}
            }
        }
        if !gone.is_empty() {
            lock(&self.inner.subscriptions.0).retain(|s| !gone.iter().any(|c| c.same(&s.to)));
        }
        told
    }
}
