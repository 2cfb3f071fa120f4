//! Trace context across the bus: the W3C `traceparent`/`tracestate` of the current span
//! travel in each message's headers, and the consumer's span continues the trace. With no
//! OpenTelemetry layer installed (no `OTEL_EXPORTER_OTLP_ENDPOINT`), spans carry no
//! context and nothing is added to messages.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

struct Headers<'a>(&'a mut Vec<(String, String)>);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
}

struct Found<'a>(&'a HashMap<&'a str, &'a str>);

impl Extractor for Found<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).copied()
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().copied().collect()
    }
}

/// The headers that carry the current span's trace context (empty when it has none).
pub fn current_headers() -> Vec<(String, String)> {
    let cx = tracing::Span::current().context();
    let mut out = Vec::new();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut Headers(&mut out));
    }
    out
}

/// Make `span` continue the trace carried by `headers`, if they carry one.
pub fn continue_trace(span: &tracing::Span, headers: &[(String, String)]) {
    if headers.is_empty() {
        return;
    }
    let map: HashMap<&str, &str> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let parent = TraceContextPropagator::new().extract(&Found(&map));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}
