//! A SIMULATED OpenAI-compatible model endpoint, for seedstream's tests and benchmarks only.
//!
//! `seedstream sim` serves `POST /v1/chat/completions` and `GET /v1/models` like vLLM or
//! any OpenAI-compatible server, but its "model" is a deterministic generator: the reply
//! to a request is a pure function of the source chunk in the prompt, the task fields of
//! the response schema, the request's `seed` and the configured bad-sample rates. It never
//! depends on time, latency, concurrency or arrival order, so a pipeline run against it is
//! reproducible byte for byte. It is labelled as a simulator everywhere: its stdout line,
//! logs, `Server` header and the `owned_by` of its model.
//!
//! What it exercises in a client:
//! - latency, jitter and a concurrency limit beyond which requests queue (like a GPU batch);
//! - faults: `429` with `Retry-After`, `500`, hangs answered `504`, malformed `200`s;
//!   decided per (request body, n-th time seen), so a retried request gets through;
//! - replies wrapped in prose, for the "first JSON object in the text" fallback;
//! - bad samples (off-topic, copied, near-duplicate, invented number, PII) at set rates,
//!   with the ground truth computable from the seed ([`injected_kind`], [`effective_kind`]);
//! - seedstream's LLM-judge requests, answered by a word-overlap rating in varied reply
//!   shapes (a stand-in to test the judge's plumbing, not a judge);
//! - `GET /stats` and `POST /stats/reset` for assertions on what the server saw.
//!
//! Layout:
//! - `server.rs`: [`SimArgs`], [`run`], [`serve`], the HTTP handlers, faults and stats
//! - `sample.rs`: [`sample`], [`injected_kind`], [`BadRates`], [`BadKind`]
//! - `judge.rs`: the simulated judge
//! - `rng.rs`: a portable splitmix64 RNG and FNV-1a

mod judge;
mod rng;
mod sample;
mod server;

pub use sample::{effective_kind, injected_kind, sample, BadKind, BadRates, COPIED_MIN_WORDS};
pub use server::{run, serve, SimArgs, MODEL_OWNER, SERVER_HEADER};
