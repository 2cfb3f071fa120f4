//! Logs and traces: `tracing` to stderr (filter `SEEDSTREAM_LOG`, default `warn`), and,
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans exported over OTLP/gRPC (filter
//! `SEEDSTREAM_TRACE`, default `info`; service name `OTEL_SERVICE_NAME`, default
//! `seedstream-<command>`). The exporter reads the other standard `OTEL_*` variables.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Flushes exported spans when dropped... explicitly, by [`Telemetry::shutdown`].
pub(crate) struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Export what is buffered and stop the exporter.
    pub(crate) fn shutdown(self) {
        if let Some(p) = self.provider {
            if let Err(e) = p.shutdown() {
                eprintln!("warning: flushing traces: {e}");
            }
        }
    }
}

/// Install the subscriber; must run inside the tokio runtime (the gRPC exporter).
pub(crate) fn init(command: &str) -> Telemetry {
    let fmt_filter =
        EnvFilter::try_from_env("SEEDSTREAM_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colour only on a terminal: logs read from a file or a pod's log have no escapes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(fmt_filter);
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty());
    let Some(endpoint) = endpoint else {
        tracing_subscriber::registry().with(fmt).init();
        return Telemetry { provider: None };
    };
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            tracing_subscriber::registry().with(fmt).init();
            tracing::error!(error = %e, %endpoint, "OTLP exporter; traces are not exported");
            return Telemetry { provider: None };
        }
    };
    let service = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("seedstream-{command}"));
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service)
                .build(),
        )
        .build();
    let trace_filter =
        EnvFilter::try_from_env("SEEDSTREAM_TRACE").unwrap_or_else(|_| EnvFilter::new("info"));
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("seedstream"))
        .with_filter(trace_filter);
    tracing_subscriber::registry().with(fmt).with(otel).init();
    tracing::info!(%endpoint, "exporting traces over OTLP");
    Telemetry {
        provider: Some(provider),
    }
}
