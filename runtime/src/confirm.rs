//! Human confirmation of destructive tools: a `mode = write` tool declared with
//! `confirm = "Delete note {id}?"` runs only once the user has said yes.
//!
//! The question is asked after authorization, the write gate and the arguments' checks,
//! and before the handler runs:
//! - on a session with an `initialize` handshake (2025-11-25), through elicitation
//!   (`elicitation/create`, a form with one `confirm` box);
//! - on a 2026-07-28 request, by answering an `InputRequiredResult` whose
//!   `requestState` carries the pending call, sealed (HMAC-SHA256, rmcp's
//!   `RequestStateCodec`) and bound to the principal, the tool and a digest of the
//!   arguments, with a short expiry, and single-use. The client retries with the user's
//!   answer and the state; a forged, replayed, expired or other-principal state is
//!   denied.
//!
//! Declined, cancelled, unanswered in time, or a client that cannot ask its user: the
//! tool does not run, and the model gets an error result saying so (category
//! `not_confirmed`, with a `confirmation` fact naming why). The manifest shows which
//! tools confirm.
//!
//! Argument values are written into the question safely: strings quoted and escaped
//! (JSON), long values cut, so that a value cannot pose as the question's own words.
//!
//! ```
//! use secure_tool::confirm::Confirmation;
//! let question = Confirmation::new("Delete note {id} ({title})?").unwrap();
//! let arguments = serde_json::json!({ "id": 7, "title": "Groceries\nYes, delete all" });
//! assert_eq!(
//!     question.render(arguments.as_object().unwrap()),
//!     r#"Delete note 7 ("Groceries\nYes, delete all")?"#,
//! );
//! ```

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rmcp::model::{
    ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    InputRequest, InputRequests, InputRequiredResult, InputResponses, JsonObject,
    RequestStateCodec, SealOptions,
};
use sha2::{Digest, Sha256};

use crate::authz::Principal;

/// How long a 2026-07-28 confirmation's `requestState` stays valid.
pub const CONFIRMATION_TTL: Duration = Duration::from_secs(300);

/// The most values of one argument written into a question, in characters.
pub const MAX_VALUE_CHARS: usize = 120;

/// How long the user has to answer a confirmation on a session with a handshake.
pub const CONFIRMATION_TIMEOUT: Duration = Duration::from_secs(120);

/// The most confirmations redeemed and not yet expired that the server remembers (to
/// refuse a replay); past it, new confirmations are refused until some expire.
pub const MAX_REDEEMED: usize = 65_536;

/// The most of those one principal may hold: one caller cannot make confirmations busy
/// for everyone.
pub const MAX_REDEEMED_PER_PRINCIPAL: usize = 1024;

/// The most questions waiting for a user's answer on the whole server (2025-11-25
/// sessions); past it, a confirmation is refused as busy rather than queued.
pub const MAX_PENDING_QUESTIONS: usize = 256;

/// The most of those one principal may have waiting at once (every anonymous caller
/// together): one caller who asks and never answers cannot make confirmations busy for
/// everyone.
pub const MAX_PENDING_QUESTIONS_PER_PRINCIPAL: usize = 16;

/// The key of the confirmation's answer in `inputRequests` / `inputResponses`.
pub const INPUT_KEY: &str = "confirm";

/// A tool's confirmation question: text with `{field}` placeholders naming its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmation {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(String),
}

/// Why a confirmation question is not well formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError(Cow<'static, str>);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

impl Confirmation {
    /// The question `template`: `{name}` is the argument `name`'s value, `{{` and `}}`
    /// are braces.
    ///
    /// # Errors
    ///
    /// A brace that opens no placeholder or closes none, a placeholder that is not a
    /// name (letters, digits, `_`), or a blank question.
    ///
    /// ```
    /// use secure_tool::confirm::Confirmation;
    /// assert!(Confirmation::new("Delete {id}?").is_ok());
    /// assert!(Confirmation::new("Delete {id?").is_err());
    /// assert!(Confirmation::new("  ").is_err());
    /// ```
    pub fn new(template: &str) -> Result<Self, TemplateError> {
        if crate::authz::is_blank(template) {
            return Err(TemplateError("the confirmation question is blank".into()));
        }
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) if c.is_alphanumeric() || c == '_' => name.push(c),
                            _ => {
                                return Err(TemplateError(
                                    "a `{` opens a placeholder that must be an argument's name \
                                     followed by `}` (write `{{` for a brace)"
                                        .into(),
                                ));
                            }
                        }
                    }
                    if name.is_empty() {
                        return Err(TemplateError(
                            "`{}` names no argument: write `{id}` for the argument `id`".into(),
                        ));
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Field(name));
                }
                '}' => {
                    return Err(TemplateError(
                        "a `}` closes no placeholder (write `}}` for a brace)".into(),
                    ));
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self { parts })
    }

    /// The arguments the question names.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Field(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// The question with each placeholder replaced by its argument's value in
    /// `arguments` (as checked: an integral float such as `2.0` is written `2`): numbers and
    /// booleans as written, strings (and anything else) as JSON,
    /// quoted and escaped, cut at [`MAX_VALUE_CHARS`]; an absent argument as `(none)`.
    pub fn render(&self, arguments: &JsonObject) -> String {
        let mut question = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => question.push_str(text),
                Part::Field(name) => question.push_str(&value(arguments.get(name))),
            }
        }
        question
    }
}

impl fmt::Display for Confirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Text(text) => f.write_str(&text.replace('{', "{{").replace('}', "}}"))?,
                Part::Field(name) => write!(f, "{{{name}}}")?,
            }
        }
        Ok(())
    }
}

/// One argument's value, as a question shows it.
fn value(value: Option<&serde_json::Value>) -> String {
    let json = match value {
        None | Some(serde_json::Value::Null) => return "(none)".to_owned(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::Bool(b)) => b.to_string(),
        Some(other) => serde_json::to_string(other).unwrap_or_default(),
    };
    // JSON escapes control characters, not the invisible ones that reorder or hide text
    // (bidirectional overrides, zero-width characters, line separators): escaped too.
    let mut shown = String::with_capacity(json.len());
    for c in json.chars() {
        if invisible(c) {
            shown.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    if shown.chars().count() <= MAX_VALUE_CHARS {
        return shown;
    }
    let mut cut: String = shown.chars().take(MAX_VALUE_CHARS).collect();
    cut.push('…');
    cut
}

/// Whether `c` changes how text around it reads without being seen.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// Why a confirmation did not let the call through; also the `confirmation` fact of the
/// answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unconfirmed {
    /// The user said no.
    Declined,
    /// The user dismissed the question, or did not answer in time.
    Cancelled,
    /// The client cannot ask its user (no form elicitation), or the call has no session.
    Unsupported,
    /// Too many confirmations are pending redemption.
    Busy,
}

impl Unconfirmed {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::Unsupported => "unsupported",
            Self::Busy => "busy",
        }
    }

    /// What the model reads.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::Declined => "The user declined this action; it was not performed",
            Self::Cancelled => {
                "The user did not confirm this action (dismissed or no answer in time); it was \
                 not performed"
            }
            Self::Unsupported => {
                "This action needs the user's confirmation, and this client cannot ask the user; \
                 it was not performed"
            }
            Self::Busy => {
                "Too many confirmations are pending; this action was not performed, retry shortly"
            }
        }
    }
}

/// Why a 2026-07-28 `requestState` was refused: each is a denial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StateRefused {
    /// Not sealed by this server for this principal, tool and arguments (forged, altered,
    /// or another call's).
    Forged,
    Expired,
    Replayed,
    /// A retry without a state.
    Missing,
}

impl fmt::Display for StateRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Forged => {
                "the request state is not one this server sealed for this principal, tool and \
                 arguments (forged, altered, or another call's)"
            }
            Self::Expired => "the request state has expired",
            Self::Replayed => "the request state was already redeemed",
            Self::Missing => "a confirmation's retry came without its request state",
        })
    }
}

/// What the call's confirmation decided.
pub(crate) enum Confirmed {
    /// The user said yes: run the handler.
    Yes,
    /// The call does not run, and the model is told why.
    No(Unconfirmed),
}

/// The pending call a 2026-07-28 `requestState` carries.
#[derive(serde::Serialize, serde::Deserialize)]
struct Pending {
    /// Single use: redeemed once.
    nonce: String,
    /// When it expires, in milliseconds since the epoch (the server's clock).
    expires_ms: u64,
    /// What earlier rounds of the call settled.
    #[serde(default)]
    carried: Carried,
    /// The keys of the questions this round asked: the only ones the retry may answer.
    #[serde(default)]
    asked: Vec<String>,
}

/// What the rounds of a 2026-07-28 call settled so far, carried in its sealed state: the
/// user's yes (for a confirmed tool) and every answer given, so that the handler, run
/// again, finds them.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Carried {
    #[serde(default)]
    pub(crate) confirmed: bool,
    #[serde(default)]
    pub(crate) answers: InputResponses,
}

/// The most bytes of answers a call's state may carry.
pub const MAX_ANSWERS_BYTES: usize = 64 * 1024;

/// Why a retry's state was not opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The state is forged, altered, another call's, expired, replayed or missing.
    Denied(StateRefused),
    /// Too many redemptions to remember.
    Busy,
    /// The answers carried would pass [`MAX_ANSWERS_BYTES`].
    TooLarge,
}

/// The server's confirmations: the key that seals 2026-07-28 states, its clock, and the
/// states redeemed and not yet expired.
pub(crate) struct Confirmations {
    codec: RequestStateCodec,
    clock: fn() -> SystemTime,
    redeemed: Mutex<Redeemed>,
    /// The questions waiting for an answer on sessions with a handshake.
    pending: Arc<tokio::sync::Semaphore>,
    /// How many of them each principal has.
    pending_per_principal: crate::util::PerCaller,
}

/// A question's place among those waiting for an answer: given back when dropped.
pub(crate) struct PendingSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _caller: crate::util::CallerSlot,
}

/// The states redeemed within their lifetime, oldest first (kept by the monotonic clock,
/// so that a wall clock set back does not make a redeemed state new again).
#[derive(Default)]
struct Redeemed {
    order: VecDeque<(tokio::time::Instant, String, Arc<str>)>,
    nonces: HashSet<String>,
    per_principal: HashMap<Arc<str>, usize>,
}

impl Redeemed {
    /// Forgets what was redeemed longer ago than a state lives.
    fn prune(&mut self, now: tokio::time::Instant) {
        while let Some((at, _, _)) = self.order.front() {
            if now.duration_since(*at) <= CONFIRMATION_TTL {
                break;
            }
            let Some((_, nonce, who)) = self.order.pop_front() else {
                break;
            };
            self.nonces.remove(&nonce);
            if let Some(count) = self.per_principal.get_mut(&who) {
                *count -= 1;
                if *count == 0 {
                    self.per_principal.remove(&who);
                }
            }
        }
    }
}

impl fmt::Debug for Confirmations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Confirmations").finish_non_exhaustive()
    }
}

impl Confirmations {
    /// Confirmations sealed with `key` (at least 32 bytes; every replica needs the same).
    pub(crate) fn new(key: Vec<u8>) -> Result<Self, rmcp::model::RequestStateError> {
        Ok(Self {
            codec: RequestStateCodec::try_new(key)?,
            clock: SystemTime::now,
            redeemed: Mutex::default(),
            pending: Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_QUESTIONS)),
            pending_per_principal: crate::util::PerCaller::default(),
        })
    }

    /// Confirmations sealed with a key of this process only (32 random bytes).
    pub(crate) fn with_random_key() -> Self {
        let mut key = Vec::with_capacity(32);
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self::new(key).expect("32 bytes is long enough")
    }

    #[cfg(test)]
    pub(crate) fn with_clock(mut self, clock: fn() -> SystemTime) -> Self {
        self.clock = clock;
        self
    }

    /// A place for one more question of `principal`'s waiting for its answer, if there is
    /// room: on the server, and in the principal's own share.
    pub(crate) fn pending_slot(&self, principal: &Principal) -> Option<PendingSlot> {
        // The caller's place first: given back (on drop) if the server has none left.
        let caller = self
            .pending_per_principal
            .take(principal, MAX_PENDING_QUESTIONS_PER_PRINCIPAL)?;
        let permit = self.pending.clone().try_acquire_owned().ok()?;
        Some(PendingSlot {
            _permit: permit,
            _caller: caller,
        })
    }

    fn now_ms(&self) -> u64 {
        let since = (self.clock)()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }

    /// The first answer to a 2026-07-28 call that needs confirmation: the question, and
    /// the call sealed into its state.
    pub(crate) fn ask(&self, question: String, binding: &[u8]) -> InputRequiredResult {
        let mut requests = InputRequests::new();
        requests.insert(
            INPUT_KEY.to_owned(),
            InputRequest::Elicitation(ElicitRequest::new(form(question))),
        );
        self.seal(requests, Carried::default(), binding)
    }

    /// An answer asking the client for `requests`, with what the call settled so far
    /// sealed into its state, bound to `binding`.
    pub(crate) fn seal(
        &self,
        requests: InputRequests,
        carried: Carried,
        binding: &[u8],
    ) -> InputRequiredResult {
        let pending = Pending {
            nonce: uuid::Uuid::new_v4().to_string(),
            expires_ms: self
                .now_ms()
                .saturating_add(u64::try_from(CONFIRMATION_TTL.as_millis()).unwrap_or(0)),
            carried,
            asked: requests.keys().cloned().collect(),
        };
        let payload = serde_json::to_vec(&pending).unwrap_or_default();
        // The codec's own expiry (wall clock) backs the one in the payload.
        let options = SealOptions::new()
            .associated_data(binding)
            .ttl(CONFIRMATION_TTL);
        let state = self.codec.seal_with(&payload, &options);
        let mut result = InputRequiredResult::from_request_state(state);
        result.input_requests = Some(requests);
        result
    }

    /// A 2026-07-28 retry: its state opened against `binding`, checked and redeemed (once),
    /// and what it carried, with the retry's `responses` to the questions the state's
    /// round asked added.
    pub(crate) fn open(
        &self,
        state: Option<&str>,
        responses: Option<&InputResponses>,
        binding: &[u8],
        principal: &Principal,
    ) -> Result<Carried, Refusal> {
        let Some(state) = state else {
            return Err(Refusal::Denied(StateRefused::Missing));
        };
        // The binding is part of the tag: a state sealed for another principal, tool or
        // arguments fails as a forged one does.
        let payload = match self.codec.open_with(state, binding) {
            Ok(payload) => payload,
            Err(rmcp::model::RequestStateError::Expired) => {
                return Err(Refusal::Denied(StateRefused::Expired));
            }
            Err(_) => return Err(Refusal::Denied(StateRefused::Forged)),
        };
        let Ok(pending) = serde_json::from_slice::<Pending>(&payload) else {
            return Err(Refusal::Denied(StateRefused::Forged));
        };
        if self.now_ms() >= pending.expires_ms {
            return Err(Refusal::Denied(StateRefused::Expired));
        }
        let mut carried = pending.carried;
        // An answer is taken only to a question the round asked: a client cannot answer
        // ahead a question it was never put (nor the user ever saw), nor change an answer
        // the call went on from (a question answered is never asked again: its answer is
        // found first).
        for (key, answer) in responses.into_iter().flatten() {
            if pending.asked.contains(key) {
                carried.answers.insert(key.clone(), answer.clone());
            }
        }
        if serde_json::to_vec(&carried.answers).map_or(usize::MAX, |bytes| bytes.len())
            > MAX_ANSWERS_BYTES
        {
            return Err(Refusal::TooLarge);
        }
        let mut redeemed = crate::server::lock(&self.redeemed);
        redeemed.prune(tokio::time::Instant::now());
        if redeemed.nonces.contains(&pending.nonce) {
            return Err(Refusal::Denied(StateRefused::Replayed));
        }
        let who: Arc<str> = Arc::from(principal.subject().unwrap_or(""));
        let theirs = redeemed.per_principal.get(&who).copied().unwrap_or(0);
        if redeemed.order.len() >= MAX_REDEEMED || theirs >= MAX_REDEEMED_PER_PRINCIPAL {
            return Err(Refusal::Busy);
        }
        redeemed.nonces.insert(pending.nonce.clone());
        redeemed
            .order
            .push_back((tokio::time::Instant::now(), pending.nonce, who.clone()));
        *redeemed.per_principal.entry(who).or_insert(0) += 1;
        Ok(carried)
    }

    /// A 2026-07-28 retry of a confirmed tool's first round: its state opened, and the
    /// user's answer read.
    #[cfg(test)]
    pub(crate) fn redeem(
        &self,
        state: Option<&str>,
        responses: Option<&InputResponses>,
        binding: &[u8],
        principal: &Principal,
    ) -> Result<Confirmed, Refusal> {
        self.open(state, responses, binding, principal)
            .map(|carried| decide_in(&carried.answers))
    }
}

/// The user's answer to the confirmation among `answers`: none is not a yes.
pub(crate) fn decide_in(answers: &InputResponses) -> Confirmed {
    let answer = answers
        .get(INPUT_KEY)
        .and_then(|answer| serde_json::from_value::<ElicitResult>(answer.clone()).ok());
    match answer {
        Some(answer) => decide(&answer),
        None => Confirmed::No(Unconfirmed::Cancelled),
    }
}

/// What binds a 2026-07-28 state to its call: the principal, the tool, and a digest of
/// the arguments.
pub(crate) fn binding(principal: &Principal, tool: &str, arguments: &JsonObject) -> Vec<u8> {
    let mut digest = Sha256::new();
    canonical(&serde_json::Value::Object(arguments.clone()), &mut digest);
    let digest = digest.finalize();
    let mut binding = Vec::new();
    binding.extend_from_slice(b"secure-tool/confirm/v1\0");
    match principal.subject() {
        Some(subject) => {
            binding.extend_from_slice(b"subject:");
            binding.extend_from_slice(subject.as_bytes());
        }
        None => binding.extend_from_slice(b"anonymous"),
    }
    binding.push(0);
    binding.extend_from_slice(tool.as_bytes());
    binding.push(0);
    binding.extend_from_slice(&digest);
    binding
}

/// Feeds `value` to `digest` in one form whatever the order of its objects' keys (which
/// serde_json keeps as sent when a crate of the build enables its `preserve_order`).
fn canonical(value: &serde_json::Value, digest: &mut Sha256) {
    match value {
        serde_json::Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            digest.update(b"{");
            for key in keys {
                canonical(&serde_json::Value::String(key.clone()), digest);
                digest.update(b":");
                canonical(&object[key], digest);
                digest.update(b",");
            }
            digest.update(b"}");
        }
        serde_json::Value::Array(items) => {
            digest.update(b"[");
            for item in items {
                canonical(item, digest);
                digest.update(b",");
            }
            digest.update(b"]");
        }
        scalar => digest.update(serde_json::to_vec(scalar).unwrap_or_default()),
    }
}

/// The form of a confirmation: one box the user ticks to go ahead.
pub(crate) fn form(question: String) -> ElicitRequestParams {
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: question,
        requested_schema: schema(),
    }
}

/// The schema of a confirmation's form.
pub(crate) fn schema() -> ElicitationSchema {
    serde_json::from_value(serde_json::json!({
        "type": "object",
        "properties": {
            "confirm": {
                "type": "boolean",
                "title": "Confirm",
                "description": "Tick to go ahead.",
                "default": false,
            },
        },
        "required": ["confirm"],
    }))
    .expect("a boolean form is an elicitation schema")
}

/// The user's answer: yes only when accepted with the box ticked.
pub(crate) fn decide(answer: &ElicitResult) -> Confirmed {
    match answer.action {
        ElicitationAction::Accept => {
            let ticked = answer
                .content
                .as_ref()
                .and_then(|content| content.get(INPUT_KEY))
                .and_then(serde_json::Value::as_bool)
                == Some(true);
            if ticked {
                Confirmed::Yes
            } else {
                Confirmed::No(Unconfirmed::Declined)
            }
        }
        ElicitationAction::Decline => Confirmed::No(Unconfirmed::Declined),
        _ => Confirmed::No(Unconfirmed::Cancelled),
    }
}

#[cfg(test)]
mod tests;
