//! The operations endpoint every process serves over HTTP (`SEEDSTREAM_HTTP_LISTEN`):
//!
//! - `/healthz`: liveness, 200 while the process runs (its event loop answers)
//! - `/readyz`: readiness, 200 when its dependencies (Kafka, Redis) answer and it is not
//!   draining; 503 with the reason otherwise
//! - `/metrics`: Prometheus text format ([`crate::metrics`])

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// Checks a process's dependencies; `Err` says which one is down.
pub type ReadyCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<()>> + Send + Sync>;

#[derive(Clone)]
struct Ops {
    ready: ReadyCheck,
    draining: CancellationToken,
}

/// Serve the operations endpoint on `addr` (port 0: any) until `stop`; `draining` makes
/// `/readyz` fail first (Kubernetes stops sending work) while the process drains.
/// Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    ready: ReadyCheck,
    draining: CancellationToken,
    stop: CancellationToken,
) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io(format!("listen {addr}"), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io(format!("listen {addr}"), e))?;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|| async {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    crate::metrics::render(),
                )
            }),
        )
        .with_state(Ops { ready, draining });
    tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "operations endpoint stopped");
        }
    });
    tracing::info!(addr = %bound, "serving /healthz /readyz /metrics");
    Ok(bound)
}

async fn readyz(State(ops): State<Ops>) -> (StatusCode, String) {
    if ops.draining.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n".into());
    }
    match tokio::time::timeout(Duration::from_secs(5), (ops.ready)()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n".into()),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "dependency check timed out\n".into(),
        ),
    }
}
