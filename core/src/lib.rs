//! What every seedstream service shares.
//!
//! - [`spec`]: the job file and its validation into a runtime [`spec::Job`]
//! - [`chunk`]: cutting documents into chunks
//! - [`plan`]: rounds, shards, slots and the counter-based RNG behind every choice
//! - [`prompt`]: prompt templates and the exact request (the cache key)
//! - [`client`]: the OpenAI-compatible endpoint client (pool, retries, backoff)
//! - [`embed`]: text embeddings (trait, remote endpoint, per-job cache)
//! - [`bus`]: publisher/consumer traits and the in-process bus
//! - [`state`]: the state store trait (response cache) and its embedded implementations
//! - [`kafka`], [`redis_state`]: the real bus and state store (cluster mode)
//! - [`wire`]: bus messages as versioned protobuf
//! - [`messages`]: what travels on the bus
//! - [`record`]: rejection reasons and their codes
//! - [`telemetry`]: trace context in message headers
//! - [`metrics`], [`ops`]: Prometheus metrics and the /healthz /readyz /metrics endpoint
pub mod bus;
pub mod chunk;
pub mod client;
pub mod dedup;
pub mod embed;
pub mod error;
pub mod kafka;
pub mod lanes;
pub mod messages;
pub mod metrics;
pub mod ops;
pub mod plan;
pub mod prompt;
pub mod record;
pub mod redis_state;
pub mod spec;
pub mod state;
pub mod telemetry;
pub mod wire;

pub use error::{Error, Result};
