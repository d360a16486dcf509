//! The server's series in a Prometheus registry (feature `metrics`): calls counted as they
//! end, breakers, bulkheads and health read when the registry is scraped.

use std::fmt;
use std::sync::{Arc, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{Inner, SecureServer};
use crate::breaker::State;
use crate::bulkhead::Bulkhead;
use crate::health::{ServicePath, Status};
use crate::metrics::CallMetrics;

impl<S: Send + Sync + 'static> SecureServer<S> {
    /// Adds this server's series to `registry` (see [`metrics`](crate::metrics) for the
    /// list) and starts counting its calls. Call it once per registry; every clone of the
    /// server shares the same counters. The registry holds the server weakly: once the
    /// server is dropped, its series are no longer written.
    ///
    /// ```
    /// use secure_tool::metrics::prometheus_client::{encoding::text::encode, registry::Registry};
    /// use secure_tool::prelude::*;
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Id {
    ///     id: u32,
    /// }
    ///
    /// #[derive(Clone)]
    /// struct Notes;
    ///
    /// #[secure_tool_router]
    /// impl Notes {
    ///     /// Deletes a note.
    ///     #[secure_tool(authz = scopes(["notes:write"]), mode = write)]
    ///     async fn delete_note(&self, args: Id, _w: WriteAccess<'_>) -> Result<(), ToolError> {
    ///         Err(ToolError::not_found("no such note"))
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = SecureServer::new(Notes);
    /// let mut registry = Registry::default();
    /// server.register_metrics(&mut registry);
    ///
    /// let args = serde_json::json!({"id": 7});
    /// let anonymous = Principal::anonymous();
    /// server.call("delete_note", args.as_object().cloned(), anonymous).await.unwrap();
    /// let writer = Principal::new("ada").with_scopes(["notes:write"]);
    /// server.call("delete_note", args.as_object().cloned(), writer).await.unwrap();
    ///
    /// let mut text = String::new();
    /// encode(&mut text, &registry).unwrap();
    /// for series in [
    ///     r#"secure_tool_calls_total{surface="tool",name="delete_note",outcome="denied"} 1"#,
    ///     r#"secure_tool_denials_total{surface="tool",name="delete_note",cause="anonymous"} 1"#,
    ///     r#"secure_tool_errors_total{surface="tool",name="delete_note",category="not_found"} 1"#,
    ///     r#"secure_tool_call_duration_seconds_count{surface="tool",name="delete_note"} 2"#,
    /// ] {
    ///     assert!(text.contains(series), "{series} in {text}");
    /// }
    /// assert!(!text.contains("ada"));
    /// # }
    /// ```
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.inner.metrics.turn_on();
        registry.register_collector(Box::new(ServerCollector {
            inner: Arc::downgrade(&self.inner),
        }));
    }
}

/// Writes a server's series at each scrape.
struct ServerCollector<S> {
    inner: Weak<Inner<S>>,
}

impl<S> fmt::Debug for ServerCollector<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCollector").finish_non_exhaustive()
    }
}

/// One tool, resource, prompt or completer, as its series name it.
struct Counted<'a> {
    surface: &'static str,
    name: &'a str,
    metrics: &'a CallMetrics,
    /// Its cap on concurrent calls (none for completers, which share their owner's).
    calls: Option<&'a Bulkhead>,
}

impl<'a> Counted<'a> {
    fn labels(&self) -> [(&'static str, &'a str); 2] {
        [("surface", self.surface), ("name", self.name)]
    }
}

/// Every route of `inner`, tools by name first, then resources in their order, prompts by
/// name, and the completers of those that have some.
fn counted<S>(inner: &Inner<S>) -> Vec<Counted<'_>> {
    let tools = &inner.tools;
    let mut routes: Vec<_> = tools.routes.values().collect();
    routes.sort_unstable_by(|a, b| a.spec.name.cmp(&b.spec.name));
    let mut prompts: Vec<_> = tools.prompts.values().collect();
    prompts.sort_unstable_by(|a, b| a.spec.name.cmp(&b.spec.name));
    let mut counted: Vec<Counted<'_>> = routes
        .iter()
        .map(|route| Counted {
            surface: "tool",
            name: &route.spec.name,
            metrics: &route.metrics,
            calls: Some(&route.calls),
        })
        .collect();
    let guarded = tools
        .resources
        .iter()
        .map(|r| ("resource", &*r.spec.name, &r.guard))
        .chain(prompts.iter().map(|p| ("prompt", &*p.spec.name, &p.guard)));
    let mut completers = Vec::new();
    for (surface, name, guard) in guarded {
        counted.push(Counted {
            surface,
            name,
            metrics: &guard.metrics,
            calls: Some(&guard.calls),
        });
        if !guard.completions.is_empty() {
            completers.push(Counted {
                surface: "completion",
                name,
                metrics: &guard.completion_metrics,
                calls: None,
            });
        }
    }
    counted.extend(completers);
    counted
}

impl<S: Send + Sync + 'static> Collector for ServerCollector<S> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let Some(inner) = self.inner.upgrade() else {
            return Ok(());
        };
        let counted = counted(&inner);
        encode_calls(&mut encoder, &counted)?;
        encode_dependencies(&mut encoder, &inner)?;
        encode_health(&mut encoder, &inner)
    }
}

/// A family of `kind` (a counter or a gauge) of `(labels, value)` pairs.
fn family<L>(
    encoder: &mut DescriptorEncoder,
    kind: MetricType,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result
where
    L: prometheus_client::encoding::EncodeLabelSet,
{
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in series {
        let mut member = metric.encode_family(&labels)?;
        match kind {
            MetricType::Counter => member.encode_counter::<NoLabelSet, _, u64>(&value, None)?,
            _ => member.encode_gauge(&value)?,
        }
    }
    Ok(())
}

/// A counter family of `(labels, value)` pairs.
fn counters<L: prometheus_client::encoding::EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    family(encoder, MetricType::Counter, name, help, series)
}

/// A gauge family of `(labels, value)` pairs.
fn gauges<L: prometheus_client::encoding::EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    family(encoder, MetricType::Gauge, name, help, series)
}

/// With `label: value` after `labels`.
fn and<'a, const N: usize>(
    labels: [(&'static str, &'a str); N],
    label: &'static str,
    value: &'a str,
) -> Vec<(&'static str, &'a str)> {
    let mut all = labels.to_vec();
    all.push((label, value));
    all
}

fn encode_calls(encoder: &mut DescriptorEncoder, counted: &[Counted<'_>]) -> fmt::Result {
    // Every outcome of every route is written, zeros included, so that a rate over them
    // starts from the first scrape; the breakdowns only where something happened.
    counters(
        encoder,
        "secure_tool_calls",
        "Calls by how they ended.",
        counted.iter().flat_map(|c| {
            c.metrics
                .outcomes()
                .map(|(outcome, n)| (and(c.labels(), "outcome", outcome), n))
        }),
    )?;
    let nonzero = |(_, n): &(_, u64)| *n > 0;
    counters(
        encoder,
        "secure_tool_errors",
        "Failed calls by error category.",
        counted.iter().flat_map(|c| {
            c.metrics
                .errors()
                .filter(nonzero)
                .map(|(category, n)| (and(c.labels(), "category", category), n))
        }),
    )?;
    counters(
        encoder,
        "secure_tool_denials",
        "Denied calls by cause class.",
        counted.iter().flat_map(|c| {
            c.metrics
                .denials()
                .filter(nonzero)
                .map(|(cause, n)| (and(c.labels(), "cause", cause), n))
        }),
    )?;
    counters(
        encoder,
        "secure_tool_rate_limited",
        "Calls refused by a rate limit: the tool's own or the server's.",
        counted.iter().flat_map(|c| {
            c.metrics
                .limited()
                .filter(nonzero)
                .map(|(limit, n)| (and(c.labels(), "limit", limit), n))
        }),
    )?;
    {
        let mut metric = encoder.encode_descriptor(
            "secure_tool_call_duration_seconds",
            "How long calls took, answered or refused.",
            None,
            MetricType::Histogram,
        )?;
        for c in counted {
            let (sum, count, buckets) = c.metrics.latency();
            metric
                .encode_family(&c.labels())?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
    }
    let capped = || counted.iter().filter_map(|c| Some((c.labels(), c.calls?)));
    gauges(
        encoder,
        "secure_tool_concurrent_calls",
        "Calls running now.",
        capped().map(|(labels, calls)| (labels, calls.in_flight() as u64)),
    )?;
    gauges(
        encoder,
        "secure_tool_concurrent_calls_limit",
        "The cap on concurrent calls.",
        capped().map(|(labels, calls)| (labels, calls.max_concurrent() as u64)),
    )
}

/// The breakers and bulkheads of the dependencies the routes name, each once (by name).
fn encode_dependencies<S: Send + Sync + 'static>(
    encoder: &mut DescriptorEncoder,
    inner: &Inner<S>,
) -> fmt::Result {
    let tools = &inner.tools;
    let state = &inner.state;
    let mut dependencies: Vec<_> = tools
        .routes
        .values()
        .filter_map(|r| r.dependency(state))
        .chain(
            tools
                .resources
                .iter()
                .filter_map(|r| r.guard.dependency(state)),
        )
        .chain(
            tools
                .prompts
                .values()
                .filter_map(|p| p.guard.dependency(state)),
        )
        .collect();
    dependencies.sort_unstable_by(|a, b| a.breaker.name().cmp(b.breaker.name()));
    dependencies.dedup_by(|a, b| a.breaker.name() == b.breaker.name());
    let snapshots: Vec<_> = dependencies.iter().map(|d| d.breaker.snapshot()).collect();
    const STATES: [State; 6] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::Isolated,
        State::Disabled,
        State::Shadow,
    ];
    gauges(
        encoder,
        "secure_tool_breaker_state",
        "1 for the breaker's current state, 0 for the others.",
        snapshots.iter().flat_map(|s| {
            STATES.iter().map(move |state| {
                (
                    [("breaker", &*s.name), ("state", state.as_str())],
                    u64::from(s.state == *state),
                )
            })
        }),
    )?;
    for (name, help, value) in [
        (
            "secure_tool_breaker_transitions",
            "State changes of the breaker.",
            (|s| s.transitions) as fn(&crate::breaker::Snapshot) -> u64,
        ),
        (
            "secure_tool_breaker_opens",
            "Times the breaker opened.",
            |s| s.opens,
        ),
        (
            "secure_tool_breaker_rejected",
            "Calls the breaker turned away without calling the dependency.",
            |s| s.rejected,
        ),
    ] {
        counters(
            encoder,
            name,
            help,
            snapshots
                .iter()
                .map(|s| ([("breaker", &*s.name)], value(s))),
        )?;
    }
    let bulkheads = || dependencies.iter().filter_map(|d| d.bulkhead);
    gauges(
        encoder,
        "secure_tool_bulkhead_in_use",
        "A dependency's bulkhead slots taken.",
        bulkheads().map(|b| ([("bulkhead", b.name())], b.in_flight() as u64)),
    )?;
    gauges(
        encoder,
        "secure_tool_bulkhead_capacity",
        "A dependency's bulkhead slots.",
        bulkheads().map(|b| ([("bulkhead", b.name())], b.max_concurrent() as u64)),
    )
}

/// Whether each path is degraded, if the server has a health monitor.
fn encode_health<S>(encoder: &mut DescriptorEncoder, inner: &Inner<S>) -> fmt::Result {
    let Some(gate) = &inner.gate else {
        return Ok(());
    };
    gauges(
        encoder,
        "secure_tool_degraded",
        "1 while the health monitor holds the path degraded.",
        [ServicePath::Reads, ServicePath::Writes].map(|path| {
            (
                [("path", path.as_str())],
                u64::from(gate.monitor.status(path) == Status::Degraded),
            )
        }),
    )
}
