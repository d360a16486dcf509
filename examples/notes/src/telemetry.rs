//! OpenTelemetry export of the calls' spans (`--otlp-endpoint URL`): each guarded call's
//! `secure_tool.call` span (`secure_tool::audit::SPAN_TARGET`), named `tools/call
//! get_note` and so on, with the outcome, the error category and the incident id, sent in
//! batches over OTLP/HTTP (protobuf) to a collector. Nothing else is exported: no log
//! line, no caller, no argument (the span holds none).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// The spans' exporter: flushed and shut down when dropped, so that the last calls' spans
/// leave before the process ends.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// An exporter of the calls' spans to `endpoint` (the collector's OTLP/HTTP traces URL,
    /// e.g. `http://127.0.0.1:4318/v1/traces`), and the layer that feeds it. Needs a tokio
    /// runtime (the batches are sent from a task of it).
    ///
    /// # Errors
    ///
    /// When the exporter cannot be built from `endpoint`.
    pub fn export_to<S>(endpoint: &str) -> Result<(Self, impl Layer<S>), String>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()
            .map_err(|error| format!("--otlp-endpoint {endpoint}: {error}"))?;
        let batches =
            BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(batches)
            .with_resource(
                Resource::builder()
                    .with_service_name("notes-server")
                    .build(),
            )
            .build();
        let tracer = provider.tracer("secure-tool");
        let only_calls =
            Targets::new().with_target(secure_tool::audit::SPAN_TARGET, tracing::Level::INFO);
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(only_calls);
        Ok((Self { provider }, layer))
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // The batch task runs on the runtime: wait for it without holding this worker.
        let shutdown = || self.provider.shutdown();
        let result = match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(shutdown)
            }
            _ => shutdown(),
        };
        if let Err(error) = result {
            eprintln!("notes-server: the last spans could not be exported: {error}");
        }
    }
}
