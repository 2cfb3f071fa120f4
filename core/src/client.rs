//! Client for OpenAI-compatible `/v1/chat/completions` endpoints.
//!
//! Several endpoints share one pool of permits (each endpoint's `concurrency`); a
//! request takes the least-loaded endpoint with room. 429, 5xx, timeouts, connection
//! errors and replies with no usable JSON are retried with exponential backoff and
//! jitter (honouring `Retry-After`), and counted. The permit is released while backing
//! off, so a failing request never holds a slot an endpoint could use.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::record::codes;
use crate::spec::ModelSpec;

/// Failure code of a reply that says the endpoint is misconfigured (401, 403, 404): the
/// caller stops the job rather than rejecting slot after slot.
pub const MISCONFIGURED: &str = "endpoint_misconfigured";

/// Token usage of one completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
}

/// A successful completion: the task fields and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The task fields, in task order.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Tokens used.
    pub usage: Usage,
}

/// A request that failed after every retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Reason code ([`codes::ENDPOINT_FAILED`] or [`codes::UNPARSEABLE`]).
    pub code: String,
    /// The last error seen.
    pub detail: String,
    /// Attempts made.
    pub attempts: u32,
}

/// Counters of what the client did: each pool's (read by the manifest), and the
/// process's per role ([`crate::metrics::GENERATION_CLIENT`],
/// [`crate::metrics::JUDGE_CLIENT`], read by `/metrics`).
#[derive(Debug, Default)]
pub struct ClientStats {
    /// HTTP requests sent.
    pub requests: AtomicU64,
    /// Retries after a 429.
    pub retries_429: AtomicU64,
    /// Retries after a 5xx.
    pub retries_5xx: AtomicU64,
    /// Retries after a timeout.
    pub retries_timeout: AtomicU64,
    /// Retries after a connection error.
    pub retries_connect: AtomicU64,
    /// Retries after a reply with no usable JSON.
    pub retries_unparseable: AtomicU64,
    /// Requests that failed after every retry.
    pub failures: AtomicU64,
}

impl ClientStats {
    /// All zero (for statics).
    pub const fn new() -> Self {
        ClientStats {
            requests: AtomicU64::new(0),
            retries_429: AtomicU64::new(0),
            retries_5xx: AtomicU64::new(0),
            retries_timeout: AtomicU64::new(0),
            retries_connect: AtomicU64::new(0),
            retries_unparseable: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// The kinds of retry, as [`ClientStats::retries`] takes them.
    pub const RETRY_KINDS: [&'static str; 5] = ["429", "5xx", "timeout", "connect", "unparseable"];

    /// The counter of a retry's kind (one of [`ClientStats::RETRY_KINDS`]).
    pub fn retries(&self, kind: &str) -> &AtomicU64 {
        match kind {
            "429" => &self.retries_429,
            "5xx" => &self.retries_5xx,
            "timeout" => &self.retries_timeout,
            "connect" => &self.retries_connect,
            _ => &self.retries_unparseable,
        }
    }

    /// A snapshot as a sorted map.
    pub fn snapshot(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("requests", l(&self.requests)),
            ("retries_429", l(&self.retries_429)),
            ("retries_5xx", l(&self.retries_5xx)),
            ("retries_timeout", l(&self.retries_timeout)),
            ("retries_connect", l(&self.retries_connect)),
            ("retries_unparseable", l(&self.retries_unparseable)),
            ("failures", l(&self.failures)),
        ]
        .into_iter()
        .collect()
    }
}

struct Endpoint {
    url: String,
    limit: usize,
    in_flight: AtomicUsize,
    /// Set when the endpoint refused `response_format` (an error reply naming it): later
    /// requests to it go without it, and the reply's first JSON object with the fields is
    /// used.
    plain: std::sync::atomic::AtomicBool,
}

/// Endpoints behind one pool of permits.
pub struct EndpointPool {
    endpoints: Vec<Endpoint>,
    permits: Semaphore,
    http: reqwest::Client,
    api_key: Option<String>,
    timeout: Duration,
    max_retries: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    /// What the client did.
    pub stats: ClientStats,
    /// The same counts for the whole process, per role (generation or judge).
    process: &'static ClientStats,
}

enum Attempt {
    Done(Completion),
    Retry {
        kind: &'static str,
        detail: String,
        retry_after: Option<Duration>,
    },
    Fatal(String),
    Misconfigured(String),
    /// The endpoint does not support structured output: send again without it.
    Downgrade,
}

impl EndpointPool {
    /// A pool for `model`'s endpoints; `api_key` was read by the caller from `api_key_env`.
    pub fn new(model: &ModelSpec, api_key: Option<String>) -> Arc<Self> {
        Self::counted_in(model, api_key, &crate::metrics::GENERATION_CLIENT)
    }

    /// A pool for other `endpoints` with this pool's key and settings (a flow step's
    /// own endpoints).
    pub fn sibling(&self, model: &ModelSpec, endpoints: &[String]) -> Arc<Self> {
        let mut m = model.clone();
        m.endpoints = endpoints.to_vec();
        Self::counted_in(&m, self.api_key.clone(), self.process)
    }

    /// A pool whose requests the process counts as the judge's.
    pub fn for_judge(model: &ModelSpec, api_key: Option<String>) -> Arc<Self> {
        Self::counted_in(model, api_key, &crate::metrics::JUDGE_CLIENT)
    }

    fn counted_in(
        model: &ModelSpec,
        api_key: Option<String>,
        process: &'static ClientStats,
    ) -> Arc<Self> {
        let endpoints: Vec<Endpoint> = model
            .endpoints
            .iter()
            .map(|u| Endpoint {
                url: chat_url(u),
                limit: model.concurrency,
                in_flight: AtomicUsize::new(0),
                plain: Default::default(),
            })
            .collect();
        let total = endpoints.iter().map(|e| e.limit).sum::<usize>();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(model.concurrency)
            .tcp_nodelay(true)
            .user_agent(concat!("seedstream/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("http client builds");
        Arc::new(Self {
            endpoints,
            permits: Semaphore::new(total),
            http,
            api_key,
            timeout: Duration::from_millis(model.timeout_ms),
            max_retries: model.max_retries,
            backoff_base: Duration::from_millis(model.backoff_base_ms),
            backoff_max: Duration::from_millis(model.backoff_max_ms.max(model.backoff_base_ms)),
            stats: ClientStats::default(),
            process,
        })
    }

    /// Add one to a counter of this pool and the process's.
    fn count(&self, which: impl Fn(&ClientStats) -> &AtomicU64) {
        which(&self.stats).fetch_add(1, Ordering::Relaxed);
        which(self.process).fetch_add(1, Ordering::Relaxed);
    }

    /// Total requests the pool runs at once.
    pub fn capacity(&self) -> usize {
        self.endpoints.iter().map(|e| e.limit).sum()
    }

    /// Send a request body already serialised (`key` is its cache key, which seeds the
    /// backoff jitter), retrying as configured; the reply's content is read by `extract`
    /// (`Err`: the reply is unusable, and the request is retried like a malformed one).
    pub async fn complete_with(
        &self,
        body: bytes::Bytes,
        key: &[u8; 32],
        extract: &Extract<'_>,
        cancel: &CancellationToken,
    ) -> Result<Completion, Failure> {
        let mut jitter = u64::from_le_bytes(key[..8].try_into().expect("8 bytes")) | 1;
        let mut last = String::new();
        let mut last_kind = "";
        let mut plain_body: Option<bytes::Bytes> = None;
        let mut attempt = 0;
        while attempt <= self.max_retries {
            let outcome = {
                let _permit = tokio::select! {
                    p = self.permits.acquire() => p.expect("pool semaphore never closes"),
                    _ = cancel.cancelled() => return Err(Failure { code: codes::ENDPOINT_FAILED.into(), detail: "cancelled".into(), attempts: attempt }),
                };
                let ep = self.pick();
                ep.in_flight.fetch_add(1, Ordering::Relaxed);
                let plain = ep.plain.load(Ordering::Relaxed);
                let send = if plain {
                    plain_body
                        .get_or_insert_with(|| without_response_format(&body))
                        .clone()
                } else {
                    body.clone()
                };
                let out = tokio::select! {
                    o = self.attempt(ep, send, plain, extract) => o,
                    _ = cancel.cancelled() => Attempt::Fatal("cancelled".into()),
                };
                ep.in_flight.fetch_sub(1, Ordering::Relaxed);
                out
            };
            match outcome {
                Attempt::Done(c) => return Ok(c),
                // Not a retry: the same attempt again, without the part the endpoint refused.
                Attempt::Downgrade => continue,
                Attempt::Misconfigured(detail) => {
                    self.count(|s| &s.failures);
                    return Err(Failure {
                        code: MISCONFIGURED.into(),
                        detail,
                        attempts: attempt + 1,
                    });
                }
                Attempt::Fatal(detail) => {
                    self.count(|s| &s.failures);
                    return Err(Failure {
                        code: codes::ENDPOINT_FAILED.into(),
                        detail,
                        attempts: attempt + 1,
                    });
                }
                Attempt::Retry {
                    kind,
                    detail,
                    retry_after,
                } => {
                    last = detail;
                    last_kind = kind;
                    if attempt == self.max_retries {
                        break;
                    }
                    self.count(|s| s.retries(kind));
                    // Exponential backoff with full jitter; Retry-After wins when longer.
                    let cap = self
                        .backoff_base
                        .saturating_mul(1u32 << attempt.min(16))
                        .min(self.backoff_max);
                    jitter ^= jitter << 13;
                    jitter ^= jitter >> 7;
                    jitter ^= jitter << 17;
                    let mut delay = Duration::from_nanos(jitter % (cap.as_nanos() as u64 + 1));
                    if let Some(ra) = retry_after {
                        delay = delay.max(ra.min(Duration::from_secs(60)));
                    }
                    tracing::debug!(
                        attempt,
                        kind,
                        delay_ms = delay.as_millis() as u64,
                        "retrying"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = cancel.cancelled() => return Err(Failure { code: codes::ENDPOINT_FAILED.into(), detail: "cancelled".into(), attempts: attempt + 1 }),
                    }
                    attempt += 1;
                }
            }
        }
        self.count(|s| &s.failures);
        let code = if last_kind == "unparseable" {
            codes::UNPARSEABLE
        } else {
            codes::ENDPOINT_FAILED
        };
        Err(Failure {
            code: code.into(),
            detail: last,
            attempts: self.max_retries + 1,
        })
    }

    fn pick(&self) -> &Endpoint {
        // A permit guarantees some endpoint is below its limit; take the least loaded.
        self.endpoints
            .iter()
            .min_by_key(|e| {
                let n = e.in_flight.load(Ordering::Relaxed);
                (n >= e.limit, n * 1000 / e.limit.max(1))
            })
            .expect("at least one endpoint")
    }

    async fn attempt(
        &self,
        ep: &Endpoint,
        body: bytes::Bytes,
        sent_plain: bool,
        extract: &Extract<'_>,
    ) -> Attempt {
        self.count(|s| &s.requests);
        let mut rb = self
            .http
            .post(&ep.url)
            .timeout(self.timeout)
            .header("content-type", "application/json")
            .body(body);
        if let Some(k) = &self.api_key {
            rb = rb.bearer_auth(k);
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Attempt::Retry {
                    kind: "timeout",
                    detail: format!("{}: timed out after {:?}", ep.url, self.timeout),
                    retry_after: None,
                }
            }
            Err(e) => {
                return Attempt::Retry {
                    kind: "connect",
                    detail: format!("{}: {e}", ep.url),
                    retry_after: None,
                }
            }
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(3600.0)));
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) if e.is_timeout() => {
                return Attempt::Retry {
                    kind: "timeout",
                    detail: format!("{}: body timed out", ep.url),
                    retry_after: None,
                }
            }
            Err(e) => {
                return Attempt::Retry {
                    kind: "connect",
                    detail: format!("{}: reading body: {e}", ep.url),
                    retry_after: None,
                }
            }
        };
        // Servers word a refusal of structured output differently, and not all with 400:
        // FastAPI-based ones answer 422, and llama-cpp-python's server 500 with the
        // validation error in the body. Such a refusal is not retried as it is.
        if !sent_plain
            && (matches!(status.as_u16(), 400 | 422) || status.is_server_error())
            && refuses_structured_output(&bytes)
        {
            if !ep.plain.swap(true, Ordering::Relaxed) {
                tracing::warn!(endpoint = %ep.url, %status, "endpoint refused response_format; sending requests to it without it");
            }
            return Attempt::Downgrade;
        }
        if status.as_u16() == 429 {
            return Attempt::Retry {
                kind: "429",
                detail: format!("{}: 429 too many requests", ep.url),
                retry_after,
            };
        }
        if status.is_server_error() || status.as_u16() == 408 {
            return Attempt::Retry {
                kind: "5xx",
                detail: format!("{}: {status}", ep.url),
                retry_after,
            };
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            let detail = format!("{}: {status}: {text}", ep.url);
            // A wrong key, URL or model name fails every request: stop the job, not the slot.
            if matches!(status.as_u16(), 401 | 403 | 404) {
                return Attempt::Misconfigured(detail);
            }
            return Attempt::Fatal(detail);
        }
        match parse_reply_with(&bytes, extract) {
            Ok(c) => Attempt::Done(c),
            Err(detail) => Attempt::Retry {
                kind: "unparseable",
                detail: format!("{}: {detail}", ep.url),
                retry_after: None,
            },
        }
    }
}

#[derive(Deserialize)]
struct Reply {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ReplyUsage>,
}
#[derive(Deserialize)]
struct Choice {
    message: ReplyMessage,
}
#[derive(Deserialize)]
struct ReplyMessage {
    #[serde(default)]
    content: Option<String>,
}
#[derive(Deserialize)]
struct ReplyUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// How a caller reads a reply's content into fields (`Err` says why it cannot).
pub type Extract<'a> =
    dyn Fn(&str) -> Result<serde_json::Map<String, serde_json::Value>, String> + Sync + 'a;

/// Parse an OpenAI chat completion body, its content read by `extract`.
pub fn parse_reply_with(body: &[u8], extract: &Extract<'_>) -> Result<Completion, String> {
    let reply: Reply =
        serde_json::from_slice(body).map_err(|e| format!("reply is not a chat completion: {e}"))?;
    let content = reply
        .choices
        .first()
        .and_then(|c| c.message.content.as_deref())
        .ok_or_else(|| "reply has no choices[0].message.content".to_string())?;
    let fields = extract(content)?;
    let usage = reply
        .usage
        .map(|u| Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        })
        .unwrap_or_default();
    Ok(Completion { fields, usage })
}

/// Whether an error reply's body blames structured output (servers word it differently:
/// vLLM, TGI, llama.cpp, llama-cpp-python and Ollama versions name `response_format`,
/// `json_schema`, `guided_json` or `grammar`).
fn refuses_structured_output(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    [
        "response_format",
        "json_schema",
        "guided",
        "grammar",
        "structured",
    ]
    .iter()
    .any(|w| text.contains(w))
}

/// The request body without `response_format` (for endpoints that refuse it).
fn without_response_format(body: &[u8]) -> bytes::Bytes {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.remove("response_format");
            serde_json::to_vec(&m).expect("json serialises").into()
        }
        _ => bytes::Bytes::copy_from_slice(body),
    }
}

/// `http://h:p` → `http://h:p/v1/chat/completions`; `…/v1` → `…/v1/chat/completions`.
pub fn chat_url(base: &str) -> String {
    let b = base.trim_end_matches('/');
    if b.ends_with("/chat/completions") {
        b.to_string()
    } else if b.ends_with("/v1") {
        format!("{b}/chat/completions")
    } else {
        format!("{b}/v1/chat/completions")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(chat_url("http://h:1"), "http://h:1/v1/chat/completions");
        assert_eq!(chat_url("http://h:1/v1/"), "http://h:1/v1/chat/completions");
        assert_eq!(
            chat_url("http://h:1/v1/chat/completions"),
            "http://h:1/v1/chat/completions"
        );
    }

    #[test]
    fn parses_replies() {
        let f = vec!["question".to_string(), "answer".to_string()];
        let parse_reply = |body: &[u8], f: &[String]| {
            parse_reply_with(body, &|c: &str| {
                crate::prompt::extract_fields(c, f).ok_or_else(|| "no fields".to_string())
            })
        };
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"{\"question\":\"q\",\"answer\":\"a\"}"}}],"usage":{"prompt_tokens":5,"completion_tokens":7}}"#;
        let c = parse_reply(body, &f).unwrap();
        assert_eq!(c.fields["answer"], "a");
        assert_eq!(c.usage.completion_tokens, 7);
        assert!(parse_reply(b"not json", &f).is_err());
        assert!(parse_reply(br#"{"choices":[]}"#, &f).is_err());
        assert!(parse_reply(br#"{"choices":[{"message":{"content":"nothing"}}]}"#, &f).is_err());
    }
}
