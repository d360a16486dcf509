//! Partial results: run the sources of one tool concurrently, settle each on its own
//! (the counterpart of JavaScript's `Promise.allSettled`), and answer with what succeeded
//! plus warnings, in safe words, naming what is missing.
//!
//! Each [`Source`] is named with a label meant for the caller ("Statistics"), declared
//! [`critical`](Source::critical), [`optional`](Source::optional) or
//! [`cache`](Source::cache), and has its own deadline and, optionally, its own breaker.
//!
//! | kind | when it fails | logged |
//! |---|---|---|
//! | critical | a warning; if every critical source failed, the tool fails | `error` |
//! | optional | a warning | `warn` |
//! | cache | nothing: a cache miss or failure is silent | no |
//!
//! The caller never sees a source's error, only "Statistics temporarily unavailable" (or
//! "... did not answer in time"); the log (target `secure_tool::partial`) has the cause.
//!
//! ```
//! use std::time::Duration;
//! use secure_tool::partial::{Partial, Source, Sources};
//! use secure_tool::ToolError;
//!
//! #[derive(serde::Serialize, schemars::JsonSchema)]
//! struct Overview {
//!     notes: Vec<String>,
//!     /// Absent when the statistics service is down.
//!     words: Option<u64>,
//! }
//!
//! async fn overview() -> Result<Partial<Overview>, ToolError> {
//!     let mut sources = Sources::new();
//!     let notes = sources.add(Source::critical("Notes", async {
//!         Ok::<_, ToolError>(vec!["groceries".to_owned()])
//!     }));
//!     let words = sources.add(
//!         Source::optional("Statistics", async {
//!             Err::<u64, _>(std::io::Error::other("stats.internal:9000 refused"))
//!         })
//!         .timeout(Duration::from_millis(500)),
//!     );
//!     let mut settled = sources.settle().await?;
//!     let overview = Overview {
//!         notes: settled.take(notes).unwrap_or_default(),
//!         words: settled.take(words),
//!     };
//!     Ok(settled.into_partial(overview))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let answer = overview().await.unwrap();
//! assert_eq!(answer.value.notes, ["groceries"]);
//! assert_eq!(answer.value.words, None);
//! assert_eq!(answer.warnings[0].message, "Statistics temporarily unavailable");
//! # }
//! ```

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;

use crate::resilience::{AsDependency, DEFAULT_TIMEOUT, DependencyRef, Limits};
use crate::sanitize::{ErrorCategory, IntoToolError, ToolError, error_chain};

const TARGET: &str = "secure_tool::partial";

type Erased = Box<dyn Any + Send>;
type SourceFuture<'a> = Pin<Box<dyn Future<Output = Result<Erased, ToolError>> + Send + 'a>>;

/// How much a tool needs a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    /// The tool cannot answer without at least one of its critical sources.
    Critical,
    /// The answer is useful without it; its absence is a warning.
    Optional,
    /// An accelerator: its miss or failure is silent.
    Cache,
}

/// One source of a tool's answer, producing a `T`.
#[must_use = "add the source to `Sources`"]
pub struct Source<'a, T> {
    label: Cow<'static, str>,
    criticality: Criticality,
    timeout: Duration,
    dependency: Option<DependencyRef<'a>>,
    future: SourceFuture<'a>,
    _output: PhantomData<fn() -> T>,
}

impl<'a, T: Send + 'static> Source<'a, T> {
    fn new<E: IntoToolError>(
        label: impl Into<Cow<'static, str>>,
        criticality: Criticality,
        future: impl Future<Output = Result<T, E>> + Send + 'a,
    ) -> Self {
        Self {
            label: label.into(),
            criticality,
            timeout: DEFAULT_TIMEOUT,
            dependency: None,
            future: Box::pin(async move {
                match future.await {
                    Ok(value) => Ok(Box::new(value) as Erased),
                    Err(error) => Err(error.into_tool_error()),
                }
            }),
            _output: PhantomData,
        }
    }

    /// A source the tool cannot answer without. `label` names it to the caller.
    pub fn critical<E: IntoToolError>(
        label: impl Into<Cow<'static, str>>,
        future: impl Future<Output = Result<T, E>> + Send + 'a,
    ) -> Self {
        Self::new(label, Criticality::Critical, future)
    }

    /// A source whose absence is a warning.
    pub fn optional<E: IntoToolError>(
        label: impl Into<Cow<'static, str>>,
        future: impl Future<Output = Result<T, E>> + Send + 'a,
    ) -> Self {
        Self::new(label, Criticality::Optional, future)
    }

    /// A cache: its miss (`Ok(None)` is a natural `T` for it) or failure is silent.
    pub fn cache<E: IntoToolError>(
        label: impl Into<Cow<'static, str>>,
        future: impl Future<Output = Result<T, E>> + Send + 'a,
    ) -> Self {
        Self::new(label, Criticality::Cache, future)
    }

    /// This source's own deadline (default 30 s; the tool's deadline still bounds it).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Calls to this source go through `dependency`'s bulkhead and breaker.
    pub fn dependency(mut self, dependency: &'a (impl AsDependency + ?Sized)) -> Self {
        self.dependency = Some(dependency.dependency());
        self
    }
}

/// Where a source's value will be, once settled.
#[derive(Debug)]
pub struct Slot<T> {
    index: usize,
    _output: PhantomData<fn() -> T>,
}

struct Entry<'a> {
    label: Cow<'static, str>,
    criticality: Criticality,
    timeout: Duration,
    dependency: Option<DependencyRef<'a>>,
    future: SourceFuture<'a>,
}

/// The sources of one answer. Add them, then [`settle`](Self::settle) them all at once.
#[derive(Default)]
#[must_use = "settle the sources"]
pub struct Sources<'a> {
    entries: Vec<Entry<'a>>,
}

impl<'a> Sources<'a> {
    /// No sources yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `source`; its value will be in the returned slot.
    pub fn add<T: Send + 'static>(&mut self, source: Source<'a, T>) -> Slot<T> {
        self.entries.push(Entry {
            label: source.label,
            criticality: source.criticality,
            timeout: source.timeout,
            dependency: source.dependency,
            future: source.future,
        });
        Slot {
            index: self.entries.len() - 1,
            _output: PhantomData,
        }
    }

    /// Runs every source concurrently, each under its deadline and breaker, and waits for
    /// all of them to settle.
    ///
    /// # Errors
    ///
    /// The first critical source's error when every critical source failed (the others
    /// are logged). With no critical source, never.
    pub async fn settle(self) -> Result<Settled, ToolError> {
        let (meta, futures): (Vec<_>, Vec<_>) = self
            .entries
            .into_iter()
            .map(|entry| {
                let limits = Limits::new(entry.timeout).with_dependency_ref(entry.dependency);
                ((entry.label, entry.criticality), limits.run(entry.future))
            })
            .unzip();
        let results = futures::future::join_all(futures).await;

        let mut values = Vec::with_capacity(results.len());
        let mut warnings = Vec::new();
        let mut critical = 0;
        let mut first_critical_error = None;
        for ((label, criticality), result) in meta.into_iter().zip(results) {
            if criticality == Criticality::Critical {
                critical += 1;
            }
            match result {
                Ok(value) => values.push(Some(value)),
                Err(error) => {
                    values.push(None);
                    log_failure(&label, criticality, &error);
                    if criticality != Criticality::Cache {
                        warnings.push(Warning::new(label, criticality, &error));
                    }
                    if criticality == Criticality::Critical && first_critical_error.is_none() {
                        first_critical_error = Some(error);
                    }
                }
            }
        }
        let critical_failed = warnings
            .iter()
            .filter(|w| w.criticality == Criticality::Critical)
            .count();
        match first_critical_error {
            Some(error) if critical_failed == critical => Err(error),
            _ => Ok(Settled { values, warnings }),
        }
    }
}

fn log_failure(label: &str, criticality: Criticality, error: &ToolError) {
    let category = error.category().as_str();
    let cause = error.source().map(|e| error_chain(e)).unwrap_or_default();
    match criticality {
        Criticality::Critical => tracing::error!(
            target: TARGET, source = label, category, error = %cause, "critical source failed"
        ),
        Criticality::Optional => tracing::warn!(
            target: TARGET, source = label, category, error = %cause, "optional source failed"
        ),
        Criticality::Cache => {}
    }
}

/// What every source gave: take the values out of their slots, then wrap the answer with
/// the warnings.
#[derive(Debug)]
pub struct Settled {
    values: Vec<Option<Erased>>,
    warnings: Vec<Warning>,
}

impl Settled {
    /// The value of the source in `slot`, or `None` if it failed (or was taken already).
    pub fn take<T: 'static>(&mut self, slot: Slot<T>) -> Option<T> {
        let value = self.values.get_mut(slot.index)?.take()?;
        // A slot comes from the `Sources` this was settled from, with its type: the
        // downcast cannot fail unless slots of two `Sources` are mixed up.
        value.downcast::<T>().ok().map(|value| *value)
    }

    /// The warnings: one per failed critical or optional source, in the order added.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Whether every source answered.
    pub fn is_complete(&self) -> bool {
        self.warnings.is_empty()
    }

    /// The tool's answer: `value` with the warnings.
    pub fn into_partial<T>(self, value: T) -> Partial<T> {
        Partial {
            value,
            warnings: self.warnings,
        }
    }
}

/// A source that did not contribute to the answer, in words safe for the caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Warning {
    /// The source's label.
    pub source: Cow<'static, str>,
    /// What the caller should know, e.g. "Statistics temporarily unavailable".
    pub message: String,
    /// Whether the answer lacks a critical part.
    pub criticality: Criticality,
    /// `timeout` or `unavailable`.
    pub reason: WarningReason,
}

/// Why a source is missing from the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarningReason {
    /// It did not answer within its deadline.
    Timeout,
    /// It failed, or its breaker is open.
    Unavailable,
}

impl Warning {
    pub(crate) fn new(
        source: Cow<'static, str>,
        criticality: Criticality,
        error: &ToolError,
    ) -> Self {
        let (reason, message) = match error.category() {
            ErrorCategory::Timeout => (
                WarningReason::Timeout,
                format!("{source} did not answer in time"),
            ),
            _ => (
                WarningReason::Unavailable,
                format!("{source} temporarily unavailable"),
            ),
        };
        Self {
            source,
            message,
            criticality,
            reason,
        }
    }
}

/// A tool's answer with the warnings of its missing parts. Serialized as `T`'s fields
/// plus `warnings` (so `T` must serialize as an object without a `warnings` field); the
/// output schema says the same, and the text content mirrors the warnings in words.
///
/// ```
/// use secure_tool::partial::Partial;
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Count { notes: u64 }
///
/// let answer = Partial { value: Count { notes: 3 }, warnings: vec![] };
/// assert_eq!(serde_json::to_value(&answer).unwrap(), serde_json::json!({"notes": 3, "warnings": []}));
/// let schema = schemars::schema_for!(Partial<Count>);
/// assert!(schema.as_value()["properties"]["warnings"].is_object());
/// ```
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Partial<T> {
    /// What the sources that answered gave.
    #[serde(flatten)]
    pub value: T,
    /// What is missing from the answer, in safe words; empty when complete.
    pub warnings: Vec<Warning>,
}

/// The start of the schema id of every `Partial<T>`: schemars' derive names a type by
/// its module path, so no type of the user's has it.
const PARTIAL_SCHEMA_ID: &str = concat!(module_path!(), "::Partial<");

/// Whether `T` is a [`Partial`] (through any alias): decided once per route, by the type.
pub(crate) fn is_partial<T: JsonSchema + ?Sized>() -> bool {
    T::schema_id().starts_with(PARTIAL_SCHEMA_ID)
}

/// The warnings of a result value in words, for the text content of a tool result.
pub(crate) fn warnings_text(value: &serde_json::Value) -> Option<String> {
    let warnings = value.get("warnings")?.as_array()?;
    let messages: Vec<&str> = warnings
        .iter()
        .filter_map(|w| w.get("message")?.as_str())
        .collect();
    if messages.is_empty() {
        return None;
    }
    Some(format!(
        "Partial result. Warnings: {}.",
        messages.join("; ")
    ))
}

#[cfg(test)]
mod tests;
