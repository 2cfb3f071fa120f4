//! seedstream wire schemas: generated code only, no I/O.
//!
//! - `proto/seedstream/v1/messages.proto`: what travels on the bus (shard tasks,
//!   candidates, verdicts), as [`v1`]. Versioned by package.
//! - `proto/seedstream/v1/jobs.proto`: the coordinator's gRPC API, `JobService`
//!   (server and client in [`v1::job_service_server`] and [`v1::job_service_client`]).
//! - [`FILE_DESCRIPTOR_SET`]: both, for gRPC server reflection.
//!
//! Re-exports `prost` and `tonic` so every crate uses one version.

pub use prost;
pub use tonic;

/// The encoded descriptor set of every .proto file (for server reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

/// `seedstream.v1`: bus messages and the JobService API.
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
                        json: String::new(),
                    }],
                    usage: Some(v1::Usage {
                        prompt_tokens: 5,
                        completion_tokens: 6,
                    }),
                })),
                cached: false,
                latency_us: 7,
                item: 0,
                items: 1,
                steps: vec![],
            }),
            scores: [("faithfulness".to_string(), 0.5)].into_iter().collect(),
            reasons: vec![],
            exact: 42,
            minhash: vec![1, 2, 3],
            embedding: vec![0.5],
            answer_embedding: vec![0.25],
            numbers: 7,
        };
        let bytes = v.encode_to_vec();
        assert_eq!(v1::Verdict::decode(bytes.as_slice()).unwrap(), v);
    }
}
