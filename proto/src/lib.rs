//! seedstream wire schemas: generated code only, no I/O.
//!
//! - `proto/seedstream/v1/messages.proto`: what travels on the bus (shard tasks,
//!   candidates, verdicts), as [`v1`]. Versioned by package.
//!
//! Re-exports `prost` so every crate encodes with one version.

pub use prost;

/// `seedstream.v1`: bus messages.
#[allow(unreachable_pub, missing_docs, clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/seedstream.v1.rs"));
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::v1;

    #[test]
    fn verdict_roundtrips() {
        let v = v1::Verdict {
            candidate: Some(v1::Candidate {
                job_id: "j".into(),
                key: Some(v1::SlotKey {
                    round: 1,
                    shard: 2,
                    slot: 3,
                }),
                prompt_sha256: "ab".into(),
                outcome: Some(v1::candidate::Outcome::Completion(v1::Completion {
                    fields: vec![v1::Field {
                        name: "question".into(),
                        value: "q?".into(),
                    }],
                    usage: Some(v1::Usage {
                        prompt_tokens: 5,
                        completion_tokens: 6,
                    }),
                })),
                cached: false,
                latency_us: 7,
            }),
            scores: [("faithfulness".to_string(), 0.5)].into_iter().collect(),
            reasons: vec![],
            exact: 42,
            minhash: vec![1, 2, 3],
        };
        let bytes = v.encode_to_vec();
        assert_eq!(v1::Verdict::decode(bytes.as_slice()).unwrap(), v);
    }
}
