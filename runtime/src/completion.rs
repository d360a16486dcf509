//! Completions for prompt arguments and resource template variables, guarded by the
//! policy of what they complete.
//!
//! A completer is attached to one argument of a prompt ([`PromptRoute::with_completion`])
//! or one variable of a resource template ([`ResourceRoute::with_completion`]). A
//! `completion/complete` request for it goes through the guarded path of that prompt or
//! resource: its policy (and the server's) first, then the completer under the deadline
//! and the breaker with panics caught, one audit event. A caller who may not get the
//! prompt or read the resource gets an empty list, exactly as for an argument that has no
//! completer or a prompt that does not exist: the answer does not tell them apart. At most
//! [`MAX_VALUES`] suggestions are sent, with the total and `hasMore`.
//!
//! With the attributes, `complete(id = Self::note_ids)` on a `#[secure_resource]` or a
//! `#[secure_prompt]` attaches a method of the same impl block, `async fn note_ids(&self, request: CompletionRequest) -> Result<Vec<String>, E>`,
//! with `E` an error type as a handler's.
//!
//! [`PromptRoute::with_completion`]: crate::prompt::PromptRoute::with_completion
//! [`ResourceRoute::with_completion`]: crate::resource::ResourceRoute::with_completion

use std::collections::BTreeMap;
use std::sync::Arc;

use rmcp::ErrorData as McpError;
use rmcp::model::CompletionInfo;
use serde::Deserialize;

use crate::guard::{Guarded, Refused};
use crate::route::ErrorType;
use crate::route::secure_route::BoxFuture;
use crate::sanitize::ToolError;

/// The most suggestions one answer carries (the protocol's limit).
pub const MAX_VALUES: usize = CompletionInfo::MAX_VALUES;

/// What a completer is asked: the argument (or variable) being completed, what the user
/// has typed of it so far, and the values already given for the others.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct CompletionRequest {
    argument: String,
    value: String,
    #[serde(default)]
    context: BTreeMap<String, String>,
}

impl CompletionRequest {
    /// A request to complete `argument`, of which `value` is typed so far.
    ///
    /// ```
    /// use secure_tool::completion::CompletionRequest;
    /// let request = CompletionRequest::new("id", "4").with_context("shelf", "b");
    /// assert_eq!((request.argument(), request.value()), ("id", "4"));
    /// assert_eq!(request.context("shelf"), Some("b"));
    /// ```
    pub fn new(argument: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            argument: argument.into(),
            value: value.into(),
            context: BTreeMap::new(),
        }
    }

    /// Adds the value already given for another argument.
    pub fn with_context(mut self, argument: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.insert(argument.into(), value.into());
        self
    }

    /// The argument being completed.
    pub fn argument(&self) -> &str {
        &self.argument
    }

    /// What is typed of it so far.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The value already given for `argument`, if any.
    pub fn context(&self, argument: &str) -> Option<&str> {
        self.context.get(argument).map(String::as_str)
    }
}

/// A completer as its route calls it: the server's state and the request. Implemented by
/// every `Copy` function of that shape returning `Result<Vec<String>, E>`.
pub trait Completer<'a, S: 'a, E>: Copy + Send + Sync + 'static {
    /// The completer's future.
    type Future: Future<Output = Result<Vec<String>, E>> + Send + 'a;

    /// Calls the completer.
    fn call(self, state: &'a S, request: CompletionRequest) -> Self::Future;
}

impl<'a, S: 'a, E, F, Fut> Completer<'a, S, E> for F
where
    F: Fn(&'a S, CompletionRequest) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<String>, E>> + Send + 'a,
{
    type Future = Fut;

    fn call(self, state: &'a S, request: CompletionRequest) -> Fut {
        self(state, request)
    }
}

/// A completer, boxed, with its errors made `ToolError`s.
pub(crate) type CompleteFn<S> = Arc<
    dyn for<'a> Fn(&'a S, CompletionRequest) -> BoxFuture<'a, Result<Vec<String>, ToolError>>
        + Send
        + Sync,
>;

/// `completer` boxed, its errors converted with `error`.
pub(crate) fn complete_fn<S, E, C>(error: ErrorType<E>, completer: C) -> CompleteFn<S>
where
    S: Send + Sync + 'static,
    E: 'static,
    C: for<'a> Completer<'a, S, E>,
{
    let into_error = error.into_error;
    Arc::new(move |state: &S, request| -> BoxFuture<'_, _> {
        let future = completer.call(state, request);
        Box::pin(async move { future.await.map_err(into_error) })
    })
}

/// What the guard needs of the prompt or resource a completion is for.
pub(crate) struct Target<'a, S> {
    pub(crate) guarded: Guarded<'a, S>,
    pub(crate) completer: &'a CompleteFn<S>,
    /// How the target's parameters are read from text (its schema's names and types).
    pub(crate) values: &'a crate::guard::text_values::TextValues,
    /// Whether the target is a resource: its parameters are a URI's variables.
    pub(crate) uri_variables: bool,
}

/// The answer of a completion nobody may see, or that has nothing to suggest.
pub(crate) fn no_suggestions() -> CompletionInfo {
    CompletionInfo::with_all_values(Vec::new()).unwrap_or_default()
}

impl<'a, S: Send + Sync + 'static> Target<'a, S> {
    /// The guarded completion: a denial is no suggestions; a failure its sanitized error.
    pub(crate) async fn complete(
        self,
        request: CompletionRequest,
    ) -> Result<CompletionInfo, McpError> {
        // The policy is asked what a read (or get) of the target would ask it, as far as
        // it is known: the values the client gave for the other arguments. Never the one
        // being typed: a prefix is no value, and whatever a client put there would decide
        // for everything the completer lists (a policy that needs it denies).
        // Only parameters the target declares, typed as a read types them, and for a
        // resource only values a URI's variable could take.
        // The completer is given no more than the policy is asked about: the declared
        // parameters' values a read could take, within a string's cap (the server's), and
        // a prefix within it too (a longer one completes to nothing).
        let mut request = request;
        let cap = self.guarded.limits.max_string_chars();
        if request.value.chars().count() > cap {
            return Ok(no_suggestions());
        }
        let argument = request.argument.clone();
        request.context.retain(|name, value| {
            *name != argument
                && self.values.declares(name)
                && value.chars().count() <= cap
                && (!self.uri_variables || crate::resource::template::allowed_value(value))
        });
        let known = self.values.typed(
            request
                .context
                .iter()
                .map(|(name, value)| (name.clone(), serde_json::Value::from(value.clone()))),
        );
        let completer = self.completer;
        let answer = self
            .guarded
            .run(
                known,
                |_, _| Ok(()),
                |error: ToolError| error,
                move |state, (), _| completer(state, request),
            )
            .await;
        match answer {
            Ok(mut values) => {
                let total = values.len();
                values.truncate(MAX_VALUES);
                let total = u32::try_from(total).unwrap_or(u32::MAX);
                let more = values.len() < usize::try_from(total).unwrap_or(usize::MAX);
                // Within the protocol's limit, since truncated to it.
                Ok(CompletionInfo::with_pagination(values, Some(total), more).unwrap_or_default())
            }
            Err(Refused::Denied | Refused::Invalid(..)) => Ok(no_suggestions()),
            Err(Refused::Failed(safe)) => Err(safe.to_error_data()),
        }
    }
}
