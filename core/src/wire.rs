//! Bus messages on the wire: conversions between [`crate::messages`] and the versioned
//! protobuf schemas of `seedstream-proto` (`seedstream.v1`).

use seedstream_proto::prost::Message;
use seedstream_proto::v1;

use crate::client::{Completion, Failure, Usage};
use crate::error::{Error, Result};
use crate::messages::{Candidate, ShardTask, StepTrace, Verdict};
use crate::plan::SlotKey;
use crate::record::Reason;

/// A message that can travel on a real broker.
pub trait WireMessage: Sized + Send + 'static {
    /// Protobuf bytes.
    fn encode(&self) -> Vec<u8>;
    /// From protobuf bytes; an error names what was wrong.
    fn decode(bytes: &[u8]) -> Result<Self>;
}

fn bad(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Bus(format!("undecodable {what}: {e}"))
}

fn key_to(k: &SlotKey) -> v1::SlotKey {
    v1::SlotKey {
        round: k.round,
        shard: k.shard,
        slot: k.slot,
    }
}

fn key_from(k: Option<v1::SlotKey>) -> Result<SlotKey> {
    let k = k.ok_or_else(|| bad("candidate", "no slot key"))?;
    Ok(SlotKey {
        round: k.round,
        shard: k.shard,
        slot: k.slot,
    })
}

impl WireMessage for ShardTask {
    fn encode(&self) -> Vec<u8> {
        v1::ShardTask {
            job_id: self.job_id.clone(),
            round: self.round,
            shard: self.shard,
            slots: self.slots,
            shard_size: self.shard_size,
            attempt: self.attempt,
        }
        .encode_to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        let t = v1::ShardTask::decode(bytes).map_err(|e| bad("shard task", e))?;
        Ok(ShardTask {
            job_id: t.job_id,
            round: t.round,
            shard: t.shard,
            slots: t.slots,
            shard_size: t.shard_size,
            attempt: t.attempt,
        })
    }
}

fn candidate_to(c: &Candidate) -> v1::Candidate {
    let outcome = match &c.outcome {
        Ok(done) => v1::candidate::Outcome::Completion(v1::Completion {
            fields: done
                .fields
                .iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => v1::Field {
                        name: k.clone(),
                        value: s.clone(),
                        json: String::new(),
                    },
                    other => v1::Field {
                        name: k.clone(),
                        value: String::new(),
                        json: other.to_string(),
                    },
                })
                .collect(),
            usage: Some(v1::Usage {
                prompt_tokens: done.usage.prompt_tokens,
                completion_tokens: done.usage.completion_tokens,
            }),
        }),
        Err(f) => v1::candidate::Outcome::Failure(v1::Failure {
            code: f.code.clone(),
            detail: f.detail.clone(),
            attempts: f.attempts,
        }),
    };
    v1::Candidate {
        job_id: c.job_id.clone(),
        key: Some(key_to(&c.key)),
        prompt_sha256: c.prompt_sha256.clone(),
        outcome: Some(outcome),
        cached: c.cached,
        latency_us: c.latency_us,
        item: c.item,
        items: c.items,
        steps: c
            .steps
            .iter()
            .map(|s| v1::StepTrace {
                name: s.name.clone(),
                model: s.model.clone(),
                prompt_sha256: s.prompt_sha256.clone(),
                seed: s.seed,
                prompt_tokens: s.usage.prompt_tokens,
                completion_tokens: s.usage.completion_tokens,
                cached: s.cached,
            })
            .collect(),
    }
}

fn candidate_from(c: v1::Candidate) -> Result<Candidate> {
    let outcome = match c.outcome.ok_or_else(|| bad("candidate", "no outcome"))? {
        v1::candidate::Outcome::Completion(done) => {
            let usage = done.usage.unwrap_or_default();
            Ok(Completion {
                fields: done
                    .fields
                    .into_iter()
                    .map(|f| {
                        if f.json.is_empty() {
                            Ok((f.name, serde_json::Value::String(f.value)))
                        } else {
                            serde_json::from_str(&f.json)
                                .map(|v| (f.name, v))
                                .map_err(|e| bad("candidate field", e))
                        }
                    })
                    .collect::<Result<_>>()?,
                usage: Usage {
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                },
            })
        }
        v1::candidate::Outcome::Failure(f) => Err(Failure {
            code: f.code,
            detail: f.detail,
            attempts: f.attempts,
        }),
    };
    Ok(Candidate {
        job_id: c.job_id,
        key: key_from(c.key)?,
        prompt_sha256: c.prompt_sha256,
        outcome,
        cached: c.cached,
        latency_us: c.latency_us,
        item: c.item,
        items: c.items.max(1),
        steps: c
            .steps
            .into_iter()
            .map(|s| StepTrace {
                name: s.name,
                model: s.model,
                prompt_sha256: s.prompt_sha256,
                seed: s.seed,
                usage: Usage {
                    prompt_tokens: s.prompt_tokens,
                    completion_tokens: s.completion_tokens,
                },
                cached: s.cached,
            })
            .collect(),
    })
}

impl WireMessage for Candidate {
    fn encode(&self) -> Vec<u8> {
        candidate_to(self).encode_to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        candidate_from(v1::Candidate::decode(bytes).map_err(|e| bad("candidate", e))?)
    }
}

impl WireMessage for Verdict {
    fn encode(&self) -> Vec<u8> {
        v1::Verdict {
            candidate: Some(candidate_to(&self.candidate)),
            scores: self.scores.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            reasons: self
                .reasons
                .iter()
                .map(|r| v1::Reason {
                    code: r.code.clone(),
                    detail: r.detail.clone(),
                })
                .collect(),
            exact: self.exact,
            minhash: self.minhash.clone(),
            embedding: self.embedding.clone(),
            answer_embedding: self.answer_embedding.clone(),
            numbers: self.numbers,
        }
        .encode_to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        let v = v1::Verdict::decode(bytes).map_err(|e| bad("verdict", e))?;
        Ok(Verdict {
            candidate: candidate_from(v.candidate.ok_or_else(|| bad("verdict", "no candidate"))?)?,
            scores: v.scores.into_iter().collect(),
            reasons: v
                .reasons
                .into_iter()
                .map(|r| Reason {
                    code: r.code,
                    detail: r.detail,
                })
                .collect(),
            exact: v.exact,
            minhash: v.minhash,
            embedding: v.embedding,
            answer_embedding: v.answer_embedding,
            numbers: v.numbers,
        })
    }
}

/// Raw bytes (accepted records as JSON lines).
impl WireMessage for Vec<u8> {
    fn encode(&self) -> Vec<u8> {
        self.clone()
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(bytes.to_vec())
    }
}

impl WireMessage for u64 {
    fn encode(&self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(u64::from_le_bytes(
            bytes
                .try_into()
                .map_err(|_| bad("u64", "expected 8 bytes"))?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(ok: bool) -> Candidate {
        let outcome = if ok {
            let mut fields = serde_json::Map::new();
            fields.insert("question".into(), "q?".into());
            fields.insert("answer".into(), "a — ünïcode".into());
            // Typed fields of a flow travel as JSON.
            fields.insert("facts".into(), serde_json::json!(["x", "y"]));
            fields.insert("n".into(), serde_json::json!(3));
            Ok(Completion {
                fields,
                usage: Usage {
                    prompt_tokens: 3,
                    completion_tokens: 4,
                },
            })
        } else {
            Err(Failure {
                code: "endpoint_failed".into(),
                detail: "500".into(),
                attempts: 6,
            })
        };
        Candidate {
            job_id: "job-1".into(),
            key: SlotKey {
                round: 1,
                shard: 2,
                slot: 3,
            },
            prompt_sha256: "ab".repeat(32),
            outcome,
            cached: true,
            latency_us: 123,
            item: 2,
            items: 3,
            steps: vec![StepTrace {
                name: "facts".into(),
                model: "m".into(),
                prompt_sha256: "cd".repeat(32),
                seed: 9,
                usage: Usage {
                    prompt_tokens: 5,
                    completion_tokens: 6,
                },
                cached: false,
            }],
        }
    }

    #[test]
    fn messages_roundtrip_exactly() {
        let t = ShardTask {
            attempt: 2,
            job_id: "j".into(),
            round: 2,
            shard: 9,
            slots: 16,
            shard_size: 16,
        };
        assert_eq!(ShardTask::decode(&t.encode()).unwrap(), t);
        for ok in [true, false] {
            let c = candidate(ok);
            let back = Candidate::decode(&c.encode()).unwrap();
            assert_eq!(back, c);
            // Field order survives (task order decides output bytes).
            if let Ok(done) = &back.outcome {
                assert_eq!(
                    done.fields.keys().collect::<Vec<_>>(),
                    ["question", "answer", "facts", "n"]
                );
            }
            let v = Verdict {
                candidate: c,
                scores: [
                    ("faithfulness".to_string(), 0.75),
                    ("format".to_string(), 1.0),
                ]
                .into_iter()
                .collect(),
                reasons: vec![Reason::new("pii", "email")],
                exact: u64::MAX,
                minhash: vec![1, 2, u32::MAX],
                embedding: vec![0.5, -0.25, 1.0],
                answer_embedding: vec![0.25, 1.0],
                numbers: 0x1234_5678_9abc_def0,
            };
            assert_eq!(Verdict::decode(&v.encode()).unwrap(), v);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Candidate::decode(b"\xff\xff\xff").is_err());
        assert!(Verdict::decode(&[]).is_err());
    }
}
