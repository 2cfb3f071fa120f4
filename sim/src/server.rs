//! The simulated OpenAI-compatible HTTP endpoint.
//!
//! Per chat completion request, in order:
//! 1. parse the body (400 when it is not an OpenAI chat request);
//! 2. decide a fault from (hash of the body, how many times this exact body was seen):
//!    a retried request draws again, so it eventually gets through, and a given sequence of
//!    requests meets the same faults on every run;
//! 3. `429` replies at once; `timeout` holds the request for `hang_ms`, then `504`;
//! 4. otherwise wait for a slot (at most `max_concurrency` served at once, the rest queue,
//!    like requests waiting for a GPU batch), then `latency_ms` + jitter;
//! 5. `500`, a malformed `200`, or the completion: [`crate::sample`] of the prompt's
//!    `<document>` block (without one: the text of the prompt's JSON examples, else what
//!    follows its last `Label:` line when that is most of it), optionally wrapped in prose; or, for a judge request (one with an
//!    `<answer>` block), the simulated judge's rating (`judge.rs`).
//!
//! The completion's content never depends on time, latency, jitter, concurrency or
//! arrival order: only on (chunk, fields, seed, bad rates, prose rate).

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::rng::{fnv1a, mix64, Rng};
use crate::sample::{effective_kind, sample, sample_typed, BadRates};

/// The `Server` header of every reply: nobody should mistake this for a model.
pub const SERVER_HEADER: &str = "seedstream-sim (SIMULATED endpoint)";
/// `owned_by` of the model listed by `GET /v1/models`.
pub const MODEL_OWNER: &str = "seedstream-simulator";

/// Settings of the simulated endpoint (`seedstream sim --help`).
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct SimArgs {
    /// Address to listen on (port 0: any free port, printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: String,
    /// Latency of every completion, from admission to reply.
    #[arg(long, default_value_t = 50)]
    pub latency_ms: u64,
    /// Extra latency drawn uniformly in [0, jitter_ms] per request (never changes content).
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// Requests served at once; beyond it requests queue (latency starts when admitted).
    #[arg(long, default_value_t = 64)]
    pub max_concurrency: usize,
    /// Model name listed by /v1/models (replies echo the request's model).
    #[arg(long, default_value = "seedstream-sim")]
    pub model: String,
    /// Rate of `429 Too Many Requests` replies (with `Retry-After: 0` or `1`).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub fault_429: f64,
    /// Rate of `500 Internal Server Error` replies.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub fault_500: f64,
    /// Rate of requests held for `hang_ms` and then answered `504`.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub fault_timeout: f64,
    /// How long a `timeout` fault holds the request.
    #[arg(long, default_value_t = 30_000)]
    pub hang_ms: u64,
    /// Rate of `200` replies that are not valid JSON or whose content holds no JSON object.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub fault_malformed: f64,
    /// Rate of `200` replies whose JSON does not fit the requested schema (the first
    /// field has the wrong type: a number for a string, a string for anything else).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub fault_schema: f64,
    /// Rate of off-topic samples.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub bad_off_topic: f64,
    /// Rate of samples whose answer copies 40+ words of the chunk.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub bad_copied: f64,
    /// Rate of near-duplicates of the chunk's anchor sample.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub bad_near_duplicate: f64,
    /// Rate of samples with a number that is not in the chunk.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub bad_invented_number: f64,
    /// Rate of samples carrying an email address and a phone number.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub bad_pii: f64,
    /// Rate of replies that wrap the JSON object in prose (decided per chunk and seed).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub prose_rate: f64,
    /// Answer an error to any request carrying `response_format`, as servers without
    /// structured output do.
    #[arg(long)]
    pub reject_response_format: bool,
    /// The status of that refusal: 400 (vLLM, Ollama), 422 (FastAPI's validation error)
    /// or 500 (llama-cpp-python's server, which wraps the validation error).
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u16).range(400..600))]
    pub reject_response_format_status: u16,
}

impl Default for SimArgs {
    fn default() -> Self {
        SimArgs {
            listen: "127.0.0.1:8089".into(),
            latency_ms: 50,
            jitter_ms: 0,
            max_concurrency: 64,
            model: "seedstream-sim".into(),
            fault_429: 0.0,
            fault_500: 0.0,
            fault_timeout: 0.0,
            hang_ms: 30_000,
            fault_malformed: 0.0,
            fault_schema: 0.0,
            bad_off_topic: 0.0,
            bad_copied: 0.0,
            bad_near_duplicate: 0.0,
            bad_invented_number: 0.0,
            bad_pii: 0.0,
            prose_rate: 0.0,
            reject_response_format: false,
            reject_response_format_status: 400,
        }
    }
}

impl SimArgs {
    /// The bad-sample rates, as [`crate::sample`] takes them.
    pub fn bad_rates(&self) -> BadRates {
        BadRates {
            off_topic: self.bad_off_topic,
            copied: self.bad_copied,
            near_duplicate: self.bad_near_duplicate,
            invented_number: self.bad_invented_number,
            pii: self.bad_pii,
        }
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("expected a rate in [0, 1], found {s:?}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("expected a rate in [0, 1], found {v}"))
    }
}

/// Bind `args.listen`, print `seedstream sim (SIMULATED endpoint) listening on
/// http://ADDR` on stdout (one flushed line, so a test that passed port 0 can read the
/// port), then [`serve`] until `shutdown` is cancelled.
pub async fn run(args: SimArgs, shutdown: CancellationToken) -> std::io::Result<()> {
    let listener = TcpListener::bind(&args.listen).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "seedstream sim (SIMULATED endpoint) listening on http://{addr}"
        )?;
        out.flush()?;
    }
    tracing::info!(%addr, "seedstream simulator listening (SIMULATED endpoint, not a real model)");
    serve(args, listener, shutdown).await
}

/// Serve the simulated endpoint on `listener` until `shutdown` is cancelled; requests
/// still waiting (queued, in latency, or hanging) are then answered `503` at once.
pub async fn serve(
    args: SimArgs,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let sim = Arc::new(Sim::new(args, shutdown.clone()));
    axum::serve(listener, router(sim))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset))
        .fallback(not_found)
        .with_state(sim)
        .layer(axum::middleware::map_response(
            |mut res: Response| async move {
                res.headers_mut()
                    .insert(header::SERVER, HeaderValue::from_static(SERVER_HEADER));
                res
            },
        ))
}

/// Counters behind `GET /stats`.
#[derive(Debug, Default)]
struct Stats {
    requests_total: u64,
    completions_ok: u64,
    by_status: BTreeMap<String, u64>,
    faults: BTreeMap<&'static str, u64>,
    bad_samples: BTreeMap<&'static str, u64>,
    judge_ratings: u64,
    in_flight: u64,
    max_in_flight: u64,
    queued: u64,
}

struct Sim {
    args: SimArgs,
    rates: BadRates,
    slots: Arc<Semaphore>,
    /// Times each exact request body was seen (by hash); grows with distinct requests,
    /// which is fine for a test and benchmark tool.
    seen: Mutex<HashMap<u64, u64>>,
    stats: Mutex<Stats>,
    shutdown: CancellationToken,
}

/// A simulated fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    RateLimited,
    ServerError,
    Timeout,
    Malformed,
    Schema,
}

impl Fault {
    fn as_str(self) -> &'static str {
        match self {
            Fault::RateLimited => "429",
            Fault::ServerError => "500",
            Fault::Timeout => "timeout",
            Fault::Malformed => "malformed",
            Fault::Schema => "schema",
        }
    }
}

/// Holds a serving slot; frees it (and the in-flight count) when dropped.
struct Slot<'a> {
    sim: &'a Sim,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.sim.stats().in_flight -= 1;
    }
}

const PROSE_SALT: u64 = 0x7072_6f73_0000_0005;

impl Sim {
    fn new(args: SimArgs, shutdown: CancellationToken) -> Sim {
        let slots = Arc::new(Semaphore::new(
            args.max_concurrency.clamp(1, Semaphore::MAX_PERMITS),
        ));
        Sim {
            rates: args.bad_rates(),
            args,
            slots,
            seen: Mutex::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            shutdown,
        }
    }

    fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many times this body was seen before (0 the first time).
    fn occurrence(&self, key: u64) -> u64 {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = seen.entry(key).or_insert(0);
        *n += 1;
        *n - 1
    }

    /// Independent draws, in a fixed order: 429, 500, timeout, malformed.
    fn fault(&self, draws: &mut Rng) -> Option<Fault> {
        let a = &self.args;
        [
            (Fault::RateLimited, a.fault_429),
            (Fault::ServerError, a.fault_500),
            (Fault::Timeout, a.fault_timeout),
            (Fault::Malformed, a.fault_malformed),
            (Fault::Schema, a.fault_schema),
        ]
        .into_iter()
        .find(|&(_, rate)| draws.chance(rate))
        .map(|(f, _)| f)
    }

    /// Wait for a serving slot; `None` when shutting down.
    async fn admit(&self) -> Option<Slot<'_>> {
        self.stats().queued += 1;
        let permit = tokio::select! {
            p = self.slots.clone().acquire_owned() => p.ok(),
            () = self.shutdown.cancelled() => None,
        };
        let mut s = self.stats();
        s.queued -= 1;
        let permit = permit?;
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        Some(Slot {
            sim: self,
            _permit: permit,
        })
    }

    /// Sleep `ms`; false when interrupted by shutdown.
    async fn sleep(&self, ms: u64) -> bool {
        if ms == 0 {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => true,
            () = self.shutdown.cancelled() => false,
        }
    }

    /// A JSON reply, counted by status.
    fn reply(&self, status: StatusCode, body: String, retry_after: Option<u64>) -> Response {
        *self
            .stats()
            .by_status
            .entry(status.as_u16().to_string())
            .or_insert(0) += 1;
        let mut res = (status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(s) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }

    fn error(&self, status: StatusCode, kind: &str, message: &str) -> Response {
        let body =
            json!({ "error": { "message": message, "type": kind, "code": status.as_u16() } });
        self.reply(status, body.to_string(), None)
    }

    fn count_fault(&self, f: Fault) {
        *self.stats().faults.entry(f.as_str()).or_insert(0) += 1;
        tracing::debug!(fault = f.as_str(), "simulator injecting fault");
    }
}

/// What the simulator reads from a chat completion request.
#[derive(Debug, Clone, PartialEq)]
struct ChatRequest {
    chunk: String,
    /// A judge request's (question, answer) blocks.
    judge: Option<(Option<String>, String)>,
    fields: Vec<String>,
    /// The schema's properties (name, schema) when some are not plain strings.
    typed: Option<Vec<(String, Value)>>,
    seed: u64,
    model: Option<String>,
    prompt_words: usize,
}

fn message_text(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn parse_request(req: &Value) -> Result<ChatRequest, String> {
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| "messages: expected an array of chat messages".to_string())?;
    let user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .ok_or_else(|| "messages: expected at least one message with role \"user\"".to_string())?;
    let text = message_text(user);
    let chunk = match block(&text, "document") {
        Some(c) => c.to_string(),
        None => example_text(&text).unwrap_or_else(|| after_last_label(&text).to_string()),
    };
    let seed = match req.get("seed") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_i64().map(|i| i as u64))
            .ok_or_else(|| format!("seed: expected an integer, found {v}"))?,
    };
    let fields = schema_fields(req).unwrap_or_else(|| vec!["question".into(), "answer".into()]);
    let typed = schema_properties(req, &fields).filter(|p| {
        p.iter().any(|(_, s)| {
            s.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t != "string")
                || s.get("enum").is_some()
        })
    });
    let judge = block(&text, "answer")
        .map(|a| (block(&text, "question").map(str::to_string), a.to_string()));
    Ok(ChatRequest {
        chunk,
        judge,
        fields,
        typed,
        seed,
        model: req.get("model").and_then(Value::as_str).map(str::to_string),
        prompt_words: messages
            .iter()
            .map(|m| message_text(m).split_whitespace().count())
            .sum(),
    })
}

/// The text between the last `<tag>` line and the `</tag>` line after it.
/// Without a `<document>` block, the source is what follows the last line that ends
/// with a colon (`Text:`), when that is most of the prompt; else the whole prompt.
fn after_last_label(text: &str) -> &str {
    let mut cut = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        offset += line.len();
        if line.trim_end().ends_with(':') {
            cut = offset;
        }
    }
    let rest = text[cut..].trim();
    if rest.len() * 2 >= text.trim().len() {
        rest
    } else {
        text.trim()
    }
}

/// The text of the JSON examples in a prompt (lines that are JSON objects): every string
/// value, one sentence each. What a prompt without a source (an instruct flow) offers.
fn example_text(text: &str) -> Option<String> {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => {
                let s = s.trim();
                if !s.is_empty() {
                    let end = if s.ends_with(['.', '?', '!']) {
                        ""
                    } else {
                        "."
                    };
                    out.push(format!("{s}{end}"));
                }
            }
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(o) => o
                .iter()
                .filter(|(k, _)| *k != "id" && *k != "role")
                .for_each(|(_, x)| strings(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for line in text.lines() {
        if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(line.trim()) {
            strings(&v, &mut out);
        }
    }
    (!out.is_empty()).then(|| out.join(" "))
}

fn block<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let (open_tag, close_tag) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut open: Option<usize> = None;
    let mut found = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t == open_tag {
            open = Some(offset + line.len());
        } else if t == close_tag {
            if let Some(start) = open.take() {
                found = Some(&text[start..offset]);
            }
        }
        offset += line.len();
    }
    found.map(str::trim)
}

/// Task fields from `response_format.json_schema.schema`: `required` in order, else the
/// `properties` keys.
fn schema_fields(req: &Value) -> Option<Vec<String>> {
    let schema = req
        .get("response_format")?
        .get("json_schema")?
        .get("schema")?;
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if !required.is_empty() {
        return Some(required);
    }
    let props: Vec<String> = schema
        .get("properties")?
        .as_object()?
        .keys()
        .cloned()
        .collect();
    (!props.is_empty()).then_some(props)
}

/// Each of `fields`' schema in `response_format.json_schema.schema.properties`.
fn schema_properties(req: &Value, fields: &[String]) -> Option<Vec<(String, Value)>> {
    let props = req
        .pointer("/response_format/json_schema/schema/properties")?
        .as_object()?;
    Some(
        fields
            .iter()
            .map(|f| (f.clone(), props.get(f).cloned().unwrap_or(Value::Null)))
            .collect(),
    )
}

fn body_key(body: &[u8]) -> u64 {
    let d = Sha256::digest(body);
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

fn tokens(words: usize) -> u64 {
    (words as u64 * 4).div_ceil(3)
}

/// Wrap a JSON object in a sentence or a code fence, as chatty models do.
fn prose(json: &str, rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!(
            "Here is the record you asked for:\n\n{json}\n\nLet me know if you need another one."
        ),
        1 => format!("Sure! {json}"),
        2 => format!("```json\n{json}\n```"),
        _ => format!(
            "Based on the document, I wrote this example: {json} It stays close to the source."
        ),
    }
}

async fn chat(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    sim.stats().requests_total += 1;
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return sim.error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "body: expected a JSON object",
            )
        }
        Err(e) => {
            return sim.error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("body: invalid JSON: {e}"),
            )
        }
    };
    if sim.args.reject_response_format && req.get("response_format").is_some() {
        let status = StatusCode::from_u16(sim.args.reject_response_format_status)
            .unwrap_or(StatusCode::BAD_REQUEST);
        return sim.error(
            status,
            "invalid_request_error",
            "response_format is not supported by this server (simulated)",
        );
    }
    let parsed = match parse_request(&req) {
        Ok(p) => p,
        Err(msg) => return sim.error(StatusCode::BAD_REQUEST, "invalid_request_error", &msg),
    };
    let key = body_key(&body);
    let n = sim.occurrence(key);
    let mut draws = Rng::new(key ^ mix64(n.wrapping_add(1)));
    let fault = sim.fault(&mut draws);
    let jitter = if sim.args.jitter_ms > 0 {
        draws.below(sim.args.jitter_ms as usize + 1) as u64
    } else {
        0
    };
    match fault {
        Some(f @ Fault::RateLimited) => {
            sim.count_fault(f);
            let body = json!({ "error": { "message": "rate limited (simulated fault)", "type": "rate_limit_error", "code": 429 } });
            return sim.reply(
                StatusCode::TOO_MANY_REQUESTS,
                body.to_string(),
                Some(draws.below(2) as u64),
            );
        }
        Some(f @ Fault::Timeout) => {
            sim.count_fault(f);
            if !sim.sleep(sim.args.hang_ms).await {
                return sim.error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    "simulator shutting down",
                );
            }
            return sim.error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                &format!("no reply within {} ms (simulated fault)", sim.args.hang_ms),
            );
        }
        _ => {}
    }
    let Some(_slot) = sim.admit().await else {
        return sim.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "simulator shutting down",
        );
    };
    if !sim.sleep(sim.args.latency_ms + jitter).await {
        return sim.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "simulator shutting down",
        );
    }
    if let Some(f @ Fault::ServerError) = fault {
        sim.count_fault(f);
        return sim.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error (simulated fault)",
        );
    }
    let content = if let Some((question, answer)) = &parsed.judge {
        crate::judge::reply(&parsed.chunk, question.as_deref(), answer, key)
    } else {
        let mut record = match &parsed.typed {
            Some(props) => sample_typed(&parsed.chunk, props, parsed.seed, &sim.rates),
            None => sample(&parsed.chunk, &parsed.fields, parsed.seed, &sim.rates),
        };
        if fault == Some(Fault::Schema) {
            sim.count_fault(Fault::Schema);
            if let Some((_, v)) = record.iter_mut().next() {
                *v = if v.is_string() {
                    json!(42)
                } else {
                    json!("not the declared type")
                };
            }
        }
        let object = serde_json::to_string(&record).expect("a JSON map serialises");
        let mut prose_rng =
            Rng::new(fnv1a(parsed.chunk.as_bytes()) ^ mix64(parsed.seed ^ PROSE_SALT));
        if prose_rng.chance(sim.args.prose_rate) {
            prose(&object, &mut prose_rng)
        } else {
            object
        }
    };
    let malformed = fault == Some(Fault::Malformed);
    let truncate = malformed && draws.chance(0.5);
    let content = if malformed && !truncate {
        "I'm sorry, but I can't produce a record for this document right now.".to_string()
    } else {
        content
    };
    let completion_tokens = tokens(content.split_whitespace().count());
    let prompt_tokens = tokens(parsed.prompt_words);
    let reply = json!({
        "id": format!("chatcmpl-sim-{key:016x}"),
        "object": "chat.completion",
        "created": 0,
        "model": parsed.model.as_deref().unwrap_or(&sim.args.model),
        "system_fingerprint": "seedstream-simulator",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    })
    .to_string();
    if malformed {
        sim.count_fault(Fault::Malformed);
        let body = if truncate {
            reply[..reply.len() / 2].to_string()
        } else {
            reply
        };
        return sim.reply(StatusCode::OK, body, None);
    }
    {
        let mut s = sim.stats();
        s.completions_ok += 1;
        if parsed.judge.is_some() {
            s.judge_ratings += 1;
        } else if let Some(kind) = effective_kind(&parsed.chunk, parsed.seed, &sim.rates) {
            *s.bad_samples.entry(kind.as_str()).or_insert(0) += 1;
        }
    }
    sim.reply(StatusCode::OK, reply, None)
}

async fn models(State(sim): State<Arc<Sim>>) -> Response {
    let body = json!({
        "object": "list",
        "data": [{ "id": sim.args.model, "object": "model", "created": 0, "owned_by": MODEL_OWNER }],
    });
    // Not counted in /stats, which is about chat completions.
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn stats(State(sim): State<Arc<Sim>>) -> Response {
    let distinct = sim.seen.lock().map(|m| m.len()).unwrap_or(0);
    let body = {
        let s = sim.stats();
        json!({
            "simulated": true,
            "requests_total": s.requests_total,
            "distinct_requests": distinct,
            "completions_ok": s.completions_ok,
            "by_status": s.by_status,
            "faults": s.faults,
            "bad_samples": s.bad_samples,
            "judge_ratings": s.judge_ratings,
            "in_flight": s.in_flight,
            "max_in_flight": s.max_in_flight,
            "queued": s.queued,
        })
    };
    let mut res = (StatusCode::OK, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// Zero the counters and forget which bodies were seen, so the next run meets the same
/// faults as a fresh simulator.
async fn reset(State(sim): State<Arc<Sim>>) -> Response {
    {
        let mut s = sim.stats();
        let (in_flight, queued) = (s.in_flight, s.queued);
        *s = Stats {
            in_flight,
            max_in_flight: in_flight,
            queued,
            ..Stats::default()
        };
    }
    sim.seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"reset":true}"#,
    )
        .into_response()
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let body = json!({ "error": {
        "message": format!("no route for {method} {uri} on the seedstream simulator"),
        "type": "invalid_request_error",
        "code": 404,
    }});
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimArgs,
    }

    #[test]
    fn clap_defaults_match_default() {
        use clap::Parser;
        assert_eq!(Cli::parse_from(["sim"]).args, SimArgs::default());
        let a = Cli::parse_from([
            "sim",
            "--fault-429",
            "0.2",
            "--bad-pii",
            "1",
            "--max-concurrency",
            "4",
        ])
        .args;
        assert_eq!((a.fault_429, a.bad_pii, a.max_concurrency), (0.2, 1.0, 4));
        assert!(Cli::try_parse_from(["sim", "--fault-500", "1.5"]).is_err());
    }

    #[test]
    fn the_last_document_block_is_the_chunk() {
        let text = "Example:\n<document>\nold chunk\n</document>\nNow this one:\n<document>\n  the real chunk\nsecond line\n</document>\nWrite JSON.";
        assert_eq!(block(text, "document"), Some("the real chunk\nsecond line"));
        assert_eq!(block("no block here", "document"), None);
        assert_eq!(block("x\n<answer>\n a \n</answer>\n", "answer"), Some("a"));
        assert_eq!(block("<document>\nunclosed", "document"), None);
        let long = "a long chunk of source text, longer than the instructions";
        assert_eq!(
            after_last_label(&format!("Write a question about: x\nText:\n{long}")),
            long
        );
        assert_eq!(after_last_label("no label here"), "no label here");
    }

    #[test]
    fn requests_are_parsed() {
        let req = json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "<document>\nfirst\n</document>"},
                {"role": "assistant", "content": "{}"},
                {"role": "user", "content": [{"type": "text", "text": "Use this:\n<document>\nchunk text\n</document>"}]},
            ],
            "seed": 42,
            "response_format": {"type": "json_schema", "json_schema": {"name": "qa", "schema": {
                "type": "object",
                "properties": {"answer": {"type": "string"}, "question": {"type": "string"}},
                "required": ["question", "answer"],
            }}},
        });
        let p = parse_request(&req).unwrap();
        assert_eq!(p.chunk, "chunk text");
        assert_eq!(p.fields, vec!["question", "answer"]);
        assert_eq!(p.seed, 42);
        assert_eq!(p.model.as_deref(), Some("m"));
        assert!(p.typed.is_none(), "string fields: the plain sampler");
        let mut typed = req.clone();
        typed["response_format"]["json_schema"]["schema"]["properties"]["answer"] =
            json!({"type": "array", "items": {"type": "string"}});
        let p = parse_request(&typed).unwrap();
        let props = p.typed.expect("a list field: the typed sampler");
        assert_eq!(
            props[0],
            ("question".to_string(), json!({"type": "string"}))
        );
        assert_eq!(props[1].1["type"], "array");
        let p =
            parse_request(&json!({"messages": [{"role": "user", "content": " whole message "}]}))
                .unwrap();
        assert_eq!((p.chunk.as_str(), p.seed), ("whole message", 0));
        assert_eq!(p.fields, vec!["question", "answer"]);
        assert!(parse_request(&json!({"messages": [{"role": "system", "content": "x"}]})).is_err());
        assert!(parse_request(
            &json!({"messages": [{"role": "user", "content": "x"}], "seed": "x"})
        )
        .is_err());
    }
}
