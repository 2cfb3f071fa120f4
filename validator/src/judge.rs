//! The LLM judge: an OpenAI-compatible model endpoint rates each record's faithfulness to
//! its source chunk and its relevance, on a 1–5 rubric, with a one-sentence reason.
//!
//! - The request is fixed bytes (temperature 0, seed 0, the rubric, the chunk and the
//!   record in tagged blocks), so its sha256 is a stable key: a verdict is paid once and
//!   read from the job's response cache after that (on a rerun, on any validator).
//! - Replies are read robustly ([`parse_rating`]): a JSON object anywhere in the text
//!   (code fences and chatter around it are fine), keys matched loosely, ratings as
//!   numbers or strings (`4`, `"4"`, `"4/5"`, `"4 out of 5"`, `0.75` on a 0–1 scale), or,
//!   with no JSON, `Faithfulness: 4/5` lines in prose. A reply with no usable rating is
//!   retried like a malformed completion (counted), then the record is rejected with
//!   `judge_failed`, never dropped.
//! - Only records the judge could still accept are sent: one that already fails a check
//!   the judge does not settle (format, privacy, copying, an invented number, a
//!   contradiction) is not ([`worth_asking`]).
//! - When the judge rates a record, its verdict settles faithfulness and relevance: the
//!   lexical and embedding scores stay in the record, but their `unfaithful` and
//!   `off_topic` verdicts give way to the judge's. A number absent from the source
//!   (`invented_number`) still rejects.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use seedstream_core::client::{Completion, EndpointPool, Failure};
use seedstream_core::metrics::{self, METRICS};
use seedstream_core::prompt::{ChatMessage, ChatRequest};
use seedstream_core::record::{codes, Reason};
use seedstream_core::spec::JudgeSpec;
use seedstream_core::state::StateStore;
use seedstream_core::{Error, Result};

/// The judge's system message.
pub const SYSTEM: &str = "You are a strict grader of training data for language models. You rate a record written from a source document, using only that document. You answer with a single JSON object.";

/// The rubric, after the document and the record.
pub const RUBRIC: &str = r#"Rate the record above on two scales from 1 to 5.

faithfulness: is every claim of the answer supported by the document?
  5 = every claim is stated in or directly implied by the document
  4 = supported, with harmless rewording
  3 = mostly supported, but one detail is not in the document
  2 = a claim is missing from or contradicts the document (a wrong number, name, cause or direction)
  1 = mostly invented, or contradicts the document

relevance: is the question about the document, and does the answer address it?
  5 = both fully
  3 = only partly
  1 = not about the document, or the answer does not address the question

Reply with only a JSON object: {"faithfulness": <1-5>, "relevance": <1-5>, "reason": "<one short sentence>"}"#;

/// A judge's rating of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    /// 1–5.
    pub faithfulness: f64,
    /// 1–5.
    pub relevance: f64,
    /// The judge's reason (may be empty).
    pub reason: String,
}

impl Rating {
    fn from_fields(f: &Map<String, Value>) -> Option<Rating> {
        Some(Rating {
            faithfulness: f.get("faithfulness")?.as_f64()?,
            relevance: f.get("relevance")?.as_f64()?,
            reason: f
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
    }
}

/// Read a judge's reply: `faithfulness` and `relevance` on 1–5, and `reason`, as a JSON
/// map for the response cache. `Err` says why the reply is unusable.
pub fn parse_rating(content: &str) -> std::result::Result<Map<String, Value>, String> {
    let (f, r, reason) = from_json(content)
        .or_else(|| from_prose(content))
        .ok_or_else(|| {
            let cut: String = content.chars().take(120).collect();
            format!("no faithfulness and relevance ratings in the judge's reply: {cut:?}")
        })?;
    let mut m = Map::new();
    m.insert("faithfulness".into(), Value::from(f));
    m.insert("relevance".into(), Value::from(r));
    m.insert("reason".into(), Value::from(reason));
    Ok(m)
}

/// The first JSON object of `content` with both ratings.
fn from_json(content: &str) -> Option<(f64, f64, String)> {
    let mut start = 0;
    while let Some(off) = content[start..].find('{') {
        let open = start + off;
        start = open + 1;
        let Some(obj) = json_object_at(content, open) else {
            continue;
        };
        let mut f = None;
        let mut r = None;
        let mut reason = String::new();
        for (k, v) in &obj {
            let k = k.to_ascii_lowercase();
            if k.contains("faith") {
                f = f.or_else(|| rating_value(v));
            } else if k.contains("relev") {
                r = r.or_else(|| rating_value(v));
            } else if ["reason", "explanation", "rationale", "justification"]
                .iter()
                .any(|w| k.contains(w))
            {
                reason = v.as_str().map(str::to_string).unwrap_or_default();
            }
        }
        if let (Some(f), Some(r)) = (f, r) {
            return Some((f, r, reason));
        }
    }
    None
}

/// The JSON object starting at byte `open` of `text`, if one does.
fn json_object_at(text: &str, open: usize) -> Option<Map<String, Value>> {
    let mut de = serde_json::Deserializer::from_str(&text[open..]).into_iter::<Value>();
    match de.next()? {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// A rating as a JSON value: a number, or a string holding one.
fn rating_value(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => scale(n.as_f64()?, None),
        Value::String(s) => rating_text(s),
        Value::Object(m) => m
            .iter()
            .find(|(k, _)| k.contains("score") || k.contains("rating"))
            .and_then(|(_, v)| rating_value(v)),
        _ => None,
    }
}

/// A rating at the start of `s`: `4`, `4.5`, `4/5`, `4 out of 5`, `80%`.
fn rating_text(s: &str) -> Option<f64> {
    let s = s.trim_start_matches(|c: char| c.is_whitespace() || c == '*' || c == '"');
    let num_end = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.'))
        .map_or(s.len(), |(i, _)| i);
    let x: f64 = s[..num_end].trim_end_matches('.').parse().ok()?;
    let rest = s[num_end..].trim_start();
    if rest.starts_with('%') {
        return scale(x, Some(100.0));
    }
    let rest = rest
        .strip_prefix('/')
        .or_else(|| rest.strip_prefix("out of"))
        .map(str::trim_start);
    let out_of = rest.and_then(|r| {
        let end = r
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_digit() || c == '.'))
            .map_or(r.len(), |(i, _)| i);
        r[..end].parse::<f64>().ok()
    });
    scale(x, out_of)
}

/// `x` (out of `out_of`, when said) on the 1–5 scale; `None` when it cannot be one.
fn scale(x: f64, out_of: Option<f64>) -> Option<f64> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    let y = match out_of {
        Some(5.0) => x,
        Some(d) if d > 0.0 && x <= d => 1.0 + 4.0 * x / d,
        Some(_) => return None,
        // Unsaid scale: 1–5 as asked; a fraction below 1 reads as 0–1.
        None if x < 1.0 => 1.0 + 4.0 * x,
        None => x,
    };
    (1.0..=5.0).contains(&y).then_some(y)
}

/// `Faithfulness: 4/5` and `Relevance - 5` lines (any case, markdown emphasis allowed).
fn from_prose(content: &str) -> Option<(f64, f64, String)> {
    let lower = content.to_ascii_lowercase();
    let after = |word: &str| -> Option<f64> {
        let mut from = 0;
        while let Some(i) = lower[from..].find(word) {
            let at = from + i + word.len();
            from = at;
            // Skip the rest of the word ("faithfulness", "relevant") and separators.
            let rest = &content[at..];
            let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            let sep = |c: char| c.is_whitespace() || matches!(c, ':' | '=' | '*' | '"' | '(' | ')');
            let rest = rest.trim_start_matches(sep);
            // "Relevance - 3" is a separator; "relevance: -1" is a negative number.
            let rest = match rest.strip_prefix('-') {
                Some(r) if r.starts_with(char::is_whitespace) => r.trim_start_matches(sep),
                _ => rest,
            };
            let rest = rest
                .strip_prefix("score")
                .or_else(|| rest.strip_prefix("rating"))
                .map_or(rest, |r| {
                    r.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '='))
                });
            if let Some(x) = rating_text(rest) {
                return Some(x);
            }
        }
        None
    };
    let f = after("faithful")?;
    let r = after("relev")?;
    let reason = lower
        .find("reason")
        .map(|i| {
            content[i + "reason".len()..]
                .trim_start_matches(|c: char| {
                    c.is_whitespace() || matches!(c, ':' | '-' | '*' | '=')
                })
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    Some((f, r, reason))
}

/// Whether a record with these reasons from the other checks is worth a judge's verdict:
/// not when it already fails a check the judge does not settle (format, personal data,
/// copying, an invented number, a contradiction), so no verdict is paid for in vain.
pub fn worth_asking(reasons: &[Reason]) -> bool {
    reasons
        .iter()
        .all(|r| r.code == codes::UNFAITHFUL || r.code == codes::OFF_TOPIC)
}

/// The judge a job asks for (`None`: no judge), its API key read from `env`.
pub fn judge_for(
    spec: &JudgeSpec,
    fields: &[String],
    env: &crate::semantic::EmbedEnv,
    state: Arc<dyn StateStore>,
) -> Result<Option<Arc<Judge>>> {
    if spec.is_off() {
        return Ok(None);
    }
    let key =
        seedstream_core::spec::api_key(spec.api_key_env.as_deref(), |v| env.env.get(v).cloned())
            .map_err(|e| Error::Endpoint(format!("validate.judge.api_key_env: {e}")))?;
    Ok(Some(Arc::new(Judge::new(spec, fields, key, state))))
}

/// The judge of one job.
pub struct Judge {
    pool: Arc<EndpointPool>,
    spec: JudgeSpec,
    state: Arc<dyn StateStore>,
    fields: Vec<String>,
    question: Option<usize>,
    answer: Option<usize>,
    cache_hits: AtomicU64,
}

impl Judge {
    /// A judge per `spec` for records with these task fields (question and answer as in
    /// [`crate::Validator::new`]); verdicts are cached in `state`.
    pub fn new(
        spec: &JudgeSpec,
        fields: &[String],
        api_key: Option<String>,
        state: Arc<dyn StateStore>,
    ) -> Judge {
        let (question, answer) = crate::question_answer(fields);
        Judge {
            pool: EndpointPool::for_judge(&spec.model_spec(), api_key),
            spec: spec.clone(),
            state,
            fields: fields.to_vec(),
            question,
            answer,
            cache_hits: AtomicU64::new(0),
        }
    }

    /// The request that asks for `fields`' rating against `chunk`.
    pub fn request(&self, fields: &Map<String, Value>, chunk: &str) -> ChatRequest {
        let text = |i: Option<usize>| {
            i.and_then(|i| fields.get(&self.fields[i]))
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let mut user = format!(
            "Source document:\n<document>\n{}\n</document>\n\n",
            chunk.trim()
        );
        if self.question.is_some() {
            user.push_str(&format!(
                "Record:\n<question>\n{}\n</question>\n",
                text(self.question)
            ));
        } else {
            user.push_str("Record:\n");
        }
        user.push_str(&format!("<answer>\n{}\n</answer>\n\n", text(self.answer)));
        user.push_str(RUBRIC);
        ChatRequest {
            model: self.spec.model.clone(),
            messages: vec![
                ChatMessage {
                    role: "system".into(),
                    content: SYSTEM.into(),
                },
                ChatMessage {
                    role: "user".into(),
                    content: user,
                },
            ],
            temperature: 0.0,
            top_p: 1.0,
            max_tokens: self.spec.max_tokens,
            seed: 0,
            response_format: serde_json::json!({
                "type": "json_schema",
                "json_schema": {
                    "name": "judge_rating",
                    "schema": {
                        "type": "object",
                        "properties": {
                            "faithfulness": {"type": "integer", "minimum": 1, "maximum": 5},
                            "relevance": {"type": "integer", "minimum": 1, "maximum": 5},
                            "reason": {"type": "string"}
                        },
                        "required": ["faithfulness", "relevance", "reason"]
                    }
                }
            }),
        }
    }

    /// Rate each record against its chunk, concurrently (the pool bounds requests in
    /// flight); cached verdicts are not asked again.
    pub async fn rate(
        &self,
        items: &[(&Map<String, Value>, &str)],
    ) -> Result<Vec<std::result::Result<Rating, Failure>>> {
        let never = CancellationToken::new();
        let jobs = items.iter().map(|(fields, chunk)| {
            let never = &never;
            async move {
                let body = self.request(fields, chunk).body();
                let key = ChatRequest::cache_key_of(&body);
                if let Some(bytes) = self.state.cache_get(&key).await? {
                    if let Some(r) = serde_json::from_slice::<Completion>(&bytes)
                        .ok()
                        .and_then(|c| Rating::from_fields(&c.fields))
                    {
                        self.cache_hits.fetch_add(1, Ordering::Relaxed);
                        metrics::inc(&METRICS.judge_cache_hits);
                        return Ok(Ok(r));
                    }
                }
                let out = self
                    .pool
                    .complete_with(body.into(), &key, &parse_rating, never)
                    .await;
                match out {
                    Ok(c) => {
                        metrics::inc(&METRICS.judge_answers);
                        let r = Rating::from_fields(&c.fields).ok_or_else(|| {
                            Error::Endpoint("judge rating lost its fields".into())
                        })?;
                        self.state
                            .cache_put(key, serde_json::to_vec(&c).expect("completion serialises"))
                            .await?;
                        Ok(Ok(r))
                    }
                    Err(f) => {
                        metrics::inc(&METRICS.judge_failures);
                        Ok(Err(f))
                    }
                }
            }
        });
        futures::future::join_all(jobs).await.into_iter().collect()
    }

    /// Add a rating to a record's scores (`judge_faithfulness`, `judge_relevance`, each
    /// on [0, 1]) and let it settle faithfulness and relevance.
    pub fn apply(
        &self,
        rating: &std::result::Result<Rating, Failure>,
        scores: &mut BTreeMap<String, f64>,
        reasons: &mut Vec<Reason>,
    ) {
        let r = match rating {
            Ok(r) => r,
            Err(f) => {
                reasons.push(Reason::new(
                    codes::JUDGE_FAILED,
                    format!(
                        "the judge gave no usable rating after {} attempt(s): {}",
                        f.attempts, f.detail
                    ),
                ));
                return;
            }
        };
        let unit = |x: f64| ((x - 1.0) / 4.0 * 10_000.0).round() / 10_000.0;
        scores.insert("judge_faithfulness".into(), unit(r.faithfulness));
        scores.insert("judge_relevance".into(), unit(r.relevance));
        reasons.retain(|x| x.code != codes::UNFAITHFUL && x.code != codes::OFF_TOPIC);
        let why = if r.reason.is_empty() {
            String::new()
        } else {
            let cut: String = r.reason.chars().take(200).collect();
            format!(": {cut}")
        };
        if r.relevance < f64::from(self.spec.min_relevance) {
            reasons.push(Reason::new(
                codes::OFF_TOPIC,
                format!(
                    "judge rated relevance {}/5 (min {}){why}",
                    r.relevance, self.spec.min_relevance
                ),
            ));
        }
        if r.faithfulness < f64::from(self.spec.min_faithfulness) {
            reasons.push(Reason::new(
                codes::UNFAITHFUL,
                format!(
                    "judge rated faithfulness {}/5 (min {}){why}",
                    r.faithfulness, self.spec.min_faithfulness
                ),
            ));
        }
    }

    /// What the judge did: HTTP requests, retries, failures, cache hits.
    pub fn stats(&self) -> BTreeMap<&'static str, u64> {
        let mut m = self.pool.stats.snapshot();
        m.insert("cache_hits", self.cache_hits.load(Ordering::Relaxed));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rated(s: &str) -> Option<(f64, f64, String)> {
        parse_rating(s).ok().map(|m| {
            (
                m["faithfulness"].as_f64().unwrap(),
                m["relevance"].as_f64().unwrap(),
                m["reason"].as_str().unwrap().to_string(),
            )
        })
    }

    #[test]
    fn reads_ratings_in_the_shapes_models_write() {
        let r = |f: f64, rel: f64, why: &str| Some((f, rel, why.to_string()));
        assert_eq!(
            rated(r#"{"faithfulness": 4, "relevance": 5, "reason": "ok"}"#),
            r(4.0, 5.0, "ok")
        );
        assert_eq!(
            rated("Sure.\n```json\n{\"Faithfulness\": \"2/5\", \"Relevance\": \"5 out of 5\", \"explanation\": \"wrong year\"}\n```"),
            r(2.0, 5.0, "wrong year")
        );
        // A braces-in-prose preamble before the object, scores on 0–1 and 0–10.
        assert_eq!(
            rated(r#"I think {this} is fine. {"faithfulness_score": 0.75, "relevance": "8/10"}"#),
            r(4.0, 4.2, "")
        );
        assert_eq!(
            rated(r#"{"faithfulness": {"score": 3}, "relevance": {"rating": "4"}}"#),
            r(3.0, 4.0, "")
        );
        assert_eq!(
            rated("**Faithfulness:** 1/5\n**Relevance**: 4\nReason: the answer swaps the cause."),
            r(1.0, 4.0, "the answer swaps the cause.")
        );
        assert_eq!(
            rated("The answer is faithful. Faithfulness score = 5. Relevance - 3 (partly)."),
            r(5.0, 3.0, "")
        );
    }

    #[test]
    fn rejects_replies_without_both_ratings() {
        for bad in [
            "",
            "I cannot rate this record.",
            r#"{"faithfulness": 4}"#,
            r#"{"faithfulness": 9, "relevance": 3}"#,
            r#"{"faithfulness": "high", "relevance": "high"}"#,
            r#"{"faithfulness": 4, "relevance": -1}"#,
            "Faithfulness: 7/5, relevance: 3",
        ] {
            assert!(parse_rating(bad).is_err(), "{bad:?} parsed");
        }
    }
}
