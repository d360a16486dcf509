//! Verification keys from the authorization server: its metadata discovered (RFC 8414, or
//! OpenID Connect discovery), its JWK set fetched, cached, refreshed periodically and at
//! once when a token names a key the set lacks — at most once per cooldown, so that tokens
//! with made-up `kid`s cannot make the server hammer the issuer — and the last good set
//! kept through failed refreshes.
//!
//! One task per [`BearerAuth`](super::BearerAuth) refreshes the set; it holds no strong
//! reference to it and ends when the last clone of the configuration is dropped.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use http::{StatusCode, Uri};
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::ConfigError;
use super::keys::VerificationKey;
use crate::util::LogSafe;

pub(crate) mod fetch;

use fetch::Fetch;

/// How often the key set is fetched again when nothing asks for it: 10 minutes.
pub const DEFAULT_KEY_REFRESH: Duration = Duration::from_secs(10 * 60);
/// The shortest time between two refreshes asked for by unknown `kid`s: 30 seconds.
pub const DEFAULT_KEY_REFRESH_COOLDOWN: Duration = Duration::from_secs(30);
/// How long one request to the issuer may take: 5 seconds.
pub const DEFAULT_KEY_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest metadata document read: 64 KiB.
const MAX_METADATA_BYTES: usize = 64 * 1024;
/// The largest JWK set read: 256 KiB.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// The most keys kept from one set.
const MAX_KEYS: usize = 64;
/// The most requests waiting for a refresh at once; more are answered with the keys there
/// are, without waiting (so that waiting requests cannot pile up).
const MAX_WAITING: usize = 256;
/// The most requests one refresh makes: three discovery URLs and the key set. A request
/// waits for a refresh at most this many fetch timeouts.
const FETCHES_PER_REFRESH: u32 = 4;
/// The first retry after a failed refresh; each next one waits twice as long, up to
/// [`MAX_RETRY`] (or the refresh period, if shorter).
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// Where the keys come from.
#[derive(Debug, Clone)]
pub(super) enum KeyLocation {
    /// The issuer's metadata names the JWK set (`jwks_uri`).
    Discovered { issuer: String },
    /// The JWK set's URL, given.
    JwksUrl(Uri),
}

/// When the key set is fetched.
#[derive(Debug, Clone, Copy)]
pub(super) struct RefreshTimes {
    pub(super) every: Duration,
    pub(super) cooldown: Duration,
    pub(super) timeout: Duration,
}

impl Default for RefreshTimes {
    fn default() -> Self {
        Self {
            every: DEFAULT_KEY_REFRESH,
            cooldown: DEFAULT_KEY_REFRESH_COOLDOWN,
            timeout: DEFAULT_KEY_FETCH_TIMEOUT,
        }
    }
}

impl RefreshTimes {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("key_refresh", self.every),
            ("key_refresh_cooldown", self.cooldown),
            ("key_fetch_timeout", self.timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(format!(
                    "`{name}` must be longer than zero"
                )));
            }
        }
        Ok(())
    }
}

/// The key set fetched from the issuer, and what asks for it to be fetched again.
pub(crate) struct IssuerKeys {
    location: KeyLocation,
    times: RefreshTimes,
    fetch: Box<dyn Fetch>,
    /// The last good set; `None` until one was fetched.
    current: RwLock<Option<Arc<[VerificationKey]>>>,
    /// How many sets were stored in `current`, bumped after each under its write lock.
    generation: AtomicU64,
    /// The JWK set's URL, once discovered (forgotten when fetching it fails).
    jwks_url: Mutex<Option<Uri>>,
    /// Counts finished refreshes, good or failed: what waiting requests watch.
    finished: watch::Sender<u64>,
    demand: Mutex<Demand>,
    /// Wakes the refresh task before its period.
    wake: Arc<Notify>,
    /// Whether the refresh task runs (it is gone if its runtime shut down, or it panicked).
    alive: Arc<AtomicBool>,
    /// How many requests wait for a refresh now.
    waiting: Arc<AtomicUsize>,
    /// Whether the log was told the task is gone (once: requests must not flood it).
    told_gone: AtomicBool,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("location", &self.location)
            .field("keys", &self.current())
            .finish_non_exhaustive()
    }
}

/// Refreshes asked for by requests.
#[derive(Default)]
struct Demand {
    /// A refresh is running or was asked for and has not finished.
    busy: bool,
    /// When a request last started one.
    last_asked: Option<Instant>,
}

/// A refresh that replaced the key set.
struct Fetched {
    /// The set's key ids, `-` for a key without one.
    kids: String,
    /// Whether they differ from the set's before (or there was none).
    changed: bool,
}

/// What a request waits for: the end of the refresh running now.
pub(crate) struct Refreshed {
    finished: watch::Receiver<u64>,
    after: u64,
    timeout: Duration,
    _slot: WaitingSlot,
}

/// One of the [`MAX_WAITING`] places of waiting requests, given back when dropped.
struct WaitingSlot(Arc<AtomicUsize>);

impl Drop for WaitingSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Refreshed {
    /// Waits until the refresh finished, good or failed, at most a whole refresh's worth of
    /// fetch timeouts.
    pub(crate) async fn wait(mut self) {
        let after = self.after;
        let _ = tokio::time::timeout(
            self.timeout,
            self.finished.wait_for(|finished| *finished > after),
        )
        .await;
    }
}

impl IssuerKeys {
    /// The key set of `location`, fetched at once and then every `times.every` by a task
    /// on the current Tokio runtime.
    pub(super) fn start(
        location: KeyLocation,
        times: RefreshTimes,
        fetch: Box<dyn Fetch>,
    ) -> Result<Arc<Self>, ConfigError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ConfigError::new(
                "fetching keys from the issuer needs a Tokio runtime: build the `BearerAuth` \
                 inside one",
            )
        })?;
        let keys = Arc::new(Self {
            location,
            times,
            fetch,
            current: RwLock::new(None),
            generation: AtomicU64::new(0),
            jwks_url: Mutex::new(None),
            finished: watch::Sender::new(0),
            demand: Mutex::new(Demand {
                busy: true,
                last_asked: None,
            }),
            wake: Arc::new(Notify::new()),
            alive: Arc::new(AtomicBool::new(true)),
            waiting: Arc::new(AtomicUsize::new(0)),
            told_gone: AtomicBool::new(false),
        });
        runtime.spawn(refresh_task(
            Arc::downgrade(&keys),
            Arc::clone(&keys.wake),
            Alive(Arc::clone(&keys.alive)),
        ));
        Ok(keys)
    }

    /// The last good key set, if one was ever fetched.
    pub(crate) fn current(&self) -> Option<Arc<[VerificationKey]>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many key sets were fetched (each one a new set, even if its keys are the same).
    /// Read before [`current`](Self::current), it is never newer than the set it gives.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether a key set was fetched.
    pub(crate) fn ready(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Asks for the set to be fetched again now, for a token whose key the set lacks (or
    /// while there is no set): the refresh running now, or a new one if the last one a
    /// request asked for is older than the cooldown. `None`: too soon, the request is
    /// answered with what there is.
    pub(crate) fn refresh_now(&self) -> Option<Refreshed> {
        if !self.alive.load(Ordering::Acquire) {
            if !self.told_gone.swap(true, Ordering::AcqRel) {
                tracing::error!(target: "secure_tool::oauth", "the task that refreshes the issuer's keys is gone (its Tokio runtime shut down, or it panicked): build the BearerAuth on the runtime that serves it");
            }
            return None;
        }
        let taken = self.waiting.fetch_add(1, Ordering::AcqRel);
        let slot = WaitingSlot(Arc::clone(&self.waiting));
        if taken >= MAX_WAITING {
            return None;
        }
        let mut demand = self.demand.lock().unwrap_or_else(PoisonError::into_inner);
        let waiting = |keys: &Self, slot| Refreshed {
            finished: keys.finished.subscribe(),
            after: *keys.finished.borrow(),
            timeout: keys.times.timeout.saturating_mul(FETCHES_PER_REFRESH),
            _slot: slot,
        };
        if demand.busy {
            return Some(waiting(self, slot));
        }
        let now = Instant::now();
        if demand
            .last_asked
            .is_some_and(|last| now.duration_since(last) < self.times.cooldown)
        {
            return None;
        }
        demand.busy = true;
        demand.last_asked = Some(now);
        self.wake.notify_one();
        Some(waiting(self, slot))
    }

    /// Waits until a key set is there, at most `timeout`; whether it is.
    pub(crate) async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut finished = self.finished.subscribe();
        let ready = async {
            loop {
                if self.ready() {
                    return;
                }
                if finished.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(timeout, ready).await;
        self.ready()
    }

    /// One refresh: discovery if needed, then the JWK set. The set replaces the current
    /// one only if it holds at least one usable key.
    async fn refresh(&self) -> Result<Fetched, String> {
        let url = match self.jwks_url() {
            Some(url) => url,
            None => {
                let url = self.discover().await?;
                *self.jwks_url.lock().unwrap_or_else(PoisonError::into_inner) = Some(url.clone());
                url
            }
        };
        let keys = match self.fetch_jwks(&url).await {
            Ok(keys) => keys,
            Err(error) => {
                if matches!(self.location, KeyLocation::Discovered { .. }) {
                    // Discover again next time: the issuer may have moved its key set.
                    *self.jwks_url.lock().unwrap_or_else(PoisonError::into_inner) = None;
                }
                return Err(error);
            }
        };
        let kids = |keys: &[VerificationKey]| {
            keys.iter()
                .map(|key| key.kid().unwrap_or("-"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let now = kids(&keys);
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let changed = current.as_deref().is_none_or(|before| kids(before) != now);
        *current = Some(keys.into());
        self.generation.fetch_add(1, Ordering::Release);
        Ok(Fetched { kids: now, changed })
    }

    fn jwks_url(&self) -> Option<Uri> {
        match &self.location {
            KeyLocation::JwksUrl(url) => Some(url.clone()),
            KeyLocation::Discovered { .. } => self
                .jwks_url
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// The `jwks_uri` of the issuer's metadata, from the first discovery URL that answers
    /// `200` with usable metadata, in the order the MCP authorization specification gives.
    async fn discover(&self) -> Result<Uri, String> {
        let KeyLocation::Discovered { issuer } = &self.location else {
            unreachable!("a given JWK set URL is never discovered");
        };
        let mut tried = Vec::new();
        for url in discovery_urls(issuer)? {
            let fetched = match self.fetch.get(&url, MAX_METADATA_BYTES).await {
                Ok(fetched) if fetched.status == StatusCode::OK => fetched,
                Ok(fetched) => {
                    tried.push(format!("{url} ({})", fetched.status));
                    continue;
                }
                Err(error) => {
                    tried.push(error);
                    continue;
                }
            };
            // A `200` that is no usable metadata (a catch-all page, metadata without a
            // `jwks_uri`, optional in RFC 8414) is one more URL that failed: the next
            // may have it.
            match jwks_uri_of(&fetched.body, issuer, &url) {
                Ok(jwks_uri) => return Ok(jwks_uri),
                Err(error) => tried.push(error),
            }
        }
        Err(format!(
            "no authorization server metadata found for issuer `{issuer}`: {}",
            tried.join(", ")
        ))
    }

    async fn fetch_jwks(&self, url: &Uri) -> Result<Vec<VerificationKey>, String> {
        let fetched = self.fetch.get(url, MAX_JWKS_BYTES).await?;
        if fetched.status != StatusCode::OK {
            return Err(format!("GET {url} answered {}", fetched.status));
        }
        let json = std::str::from_utf8(&fetched.body)
            .map_err(|_| format!("the JWK set at {url} is not UTF-8"))?;
        let mut keys =
            VerificationKey::from_published_jwks(json, &format!("the JWK set at {url}"))?;
        if keys.is_empty() {
            return Err(format!(
                "the JWK set at {url} holds no usable signature key"
            ));
        }
        if keys.len() > MAX_KEYS {
            tracing::warn!(target: "secure_tool::oauth", %url, count = keys.len(), kept = MAX_KEYS, "the JWK set holds more keys than are kept");
            keys.truncate(MAX_KEYS);
        }
        Ok(keys)
    }

    /// Marks the end of a refresh, for the requests waiting for it.
    fn finish(&self) {
        let mut demand = self.demand.lock().unwrap_or_else(PoisonError::into_inner);
        demand.busy = false;
        self.finished.send_modify(|finished| *finished += 1);
    }

    fn begin(&self) {
        self.demand
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .busy = true;
    }
}

/// Refreshes the key set of `keys` until it is dropped: at once, then every period, sooner
/// when a request asks; after a failure, again after 1 s, 2 s, 4 s... up to a minute.
async fn refresh_task(keys: Weak<IssuerKeys>, wake: Arc<Notify>, _alive: Alive) {
    let mut failures: u32 = 0;
    loop {
        let wait = {
            let Some(keys) = keys.upgrade() else { return };
            keys.begin();
            // Ends the refresh for waiting requests however it ends: done, failed, or cut
            // short by the runtime's shutdown or a panic.
            let finishing = Finishing(&keys);
            let outcome = keys.refresh().await;
            let wait = match outcome {
                Ok(Fetched { kids, changed }) => {
                    if changed || failures > 0 {
                        tracing::info!(target: "secure_tool::oauth", kids = %LogSafe::new(&kids, 1024), "fetched the issuer's key set");
                    } else {
                        tracing::debug!(target: "secure_tool::oauth", kids = %LogSafe::new(&kids, 1024), "the issuer's key set is unchanged");
                    }
                    failures = 0;
                    keys.times.every
                }
                Err(reason) => {
                    failures = failures.saturating_add(1);
                    let retry = FIRST_RETRY
                        .saturating_mul(1 << (failures - 1).min(16))
                        .min(MAX_RETRY)
                        .min(keys.times.every);
                    let kept = if keys.ready() {
                        "the last good key set stays in use"
                    } else {
                        "no key set yet: tokens cannot be verified"
                    };
                    tracing::warn!(
                        target: "secure_tool::oauth",
                        reason = %LogSafe::new(&reason, 512),
                        retry_in = ?retry,
                        "fetching the issuer's key set failed; {kept}"
                    );
                    retry
                }
            };
            drop(finishing);
            wait
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
        }
    }
}

/// Marks the refresh task gone when it ends, however it ends.
struct Alive(Arc<AtomicBool>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Ends a refresh for the requests waiting for it when dropped.
struct Finishing<'k>(&'k IssuerKeys);

impl Drop for Finishing<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Where the metadata of `issuer` is looked for, in the order of the MCP authorization
/// specification: RFC 8414 with the issuer's path inserted, then OpenID Connect discovery
/// with the path inserted, then appended.
pub(super) fn discovery_urls(issuer: &str) -> Result<Vec<Uri>, String> {
    let uri: Uri = issuer
        .parse()
        .map_err(|_| format!("the issuer `{issuer}` is not a URL"))?;
    fetch::check_url(&uri)?;
    if uri.query().is_some() || issuer.contains('#') {
        return Err(format!(
            "the issuer `{issuer}` has a query or a fragment (RFC 8414 §2 forbids both)"
        ));
    }
    let origin = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map_or("", |a| a.as_str())
    );
    let path = uri.path().trim_end_matches('/');
    let urls = if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    };
    urls.into_iter()
        .map(|url| {
            url.parse()
                .map_err(|_| format!("cannot build a discovery URL from the issuer `{issuer}`"))
        })
        .collect()
}

/// The `jwks_uri` of a metadata document, which must name `issuer` exactly (RFC 8414 §3.3,
/// OpenID Connect Discovery §4.3: a document for another issuer is a mix-up).
fn jwks_uri_of(body: &[u8], issuer: &str, from: &Uri) -> Result<Uri, String> {
    let document: Value =
        serde_json::from_slice(body).map_err(|_| format!("the metadata at {from} is not JSON"))?;
    match document.get("issuer") {
        Some(Value::String(named)) if named == issuer => {}
        _ => {
            return Err(format!(
                "the metadata at {from} does not name the issuer `{issuer}` in `issuer`"
            ));
        }
    }
    let jwks_uri = document
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the metadata at {from} has no `jwks_uri`"))?;
    let url: Uri = jwks_uri
        .parse()
        .map_err(|_| format!("the `jwks_uri` of {from} is not a URL"))?;
    fetch::check_url(&url)?;
    // Plain HTTP only for an issuer that is itself on loopback HTTP (a test's): an HTTPS
    // issuer's keys are never taken in clear from whatever listens on a local port.
    if url.scheme_str() != Some("https") && from.scheme_str() == Some("https") {
        return Err(format!(
            "the `jwks_uri` of {from} is plain HTTP: an HTTPS issuer's keys are fetched over HTTPS"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests;
