//! The model-backed checks over a batch of records, after the lexical ones: the semantic
//! checks (embeddings) and the LLM judge, run at the same time, the judge only about
//! records it could still accept ([`crate::judge::worth_asking`]). Used by validators and
//! by `seedstream score` alike.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use seedstream_core::client::Failure;
use seedstream_core::record::Reason;
use seedstream_core::Result;

use crate::judge::{worth_asking, Judge, Rating};
use crate::semantic::{SemScores, Semantic};

/// One record for the model-backed checks: its fields, its chunk, and the reasons the
/// lexical checks gave it.
pub type Item<'a> = (&'a Map<String, Value>, &'a str, &'a [Reason]);

/// The model-backed checks a job runs (either may be off).
#[derive(Clone, Copy)]
pub struct ModelChecks<'a> {
    /// The semantic checks, when on.
    pub semantic: Option<&'a Semantic>,
    /// The judge, when on.
    pub judge: Option<&'a Judge>,
}

/// What the model-backed checks found about one record.
pub struct Findings {
    semantic: Option<SemScores>,
    rating: Option<std::result::Result<Rating, Failure>>,
}

impl ModelChecks<'_> {
    /// Whether any runs.
    pub fn any(&self) -> bool {
        self.semantic.is_some() || self.judge.is_some()
    }

    /// Run the checks over `items`: one embedding call for the texts not cached, and the
    /// judge's requests, at the same time.
    pub async fn run(&self, items: &[Item<'_>]) -> Result<Vec<Findings>> {
        let pairs: Vec<(&Map<String, Value>, &str)> =
            items.iter().map(|&(f, c, _)| (f, c)).collect();
        let ask: Vec<usize> = (0..items.len())
            .filter(|&i| worth_asking(items[i].2))
            .collect();
        let asked: Vec<_> = ask.iter().map(|&i| pairs[i]).collect();
        let semantic = async {
            match self.semantic {
                Some(sem) => sem.score(&pairs).await.map(Some),
                None => Ok(None),
            }
        };
        let judged = async {
            match self.judge {
                Some(j) => j.rate(&asked).await.map(Some),
                None => Ok(None),
            }
        };
        let (scored, rated) = tokio::join!(semantic, judged);
        let mut out: Vec<Findings> = match scored? {
            Some(s) => s
                .into_iter()
                .map(|s| Findings {
                    semantic: Some(s),
                    rating: None,
                })
                .collect(),
            None => (0..items.len())
                .map(|_| Findings {
                    semantic: None,
                    rating: None,
                })
                .collect(),
        };
        if let Some(rated) = rated? {
            for (i, r) in ask.into_iter().zip(rated) {
                out[i].rating = Some(r);
            }
        }
        Ok(out)
    }

    /// Add one record's findings to its scores and reasons (the semantic checks first,
    /// then the judge, whose verdict settles faithfulness and relevance). Returns the
    /// record's embedding and its answer's (empty without semantic checks).
    pub fn apply(
        &self,
        f: Findings,
        scores: &mut BTreeMap<String, f64>,
        reasons: &mut Vec<Reason>,
    ) -> (Vec<f32>, Vec<f32>) {
        let mut embeddings = Default::default();
        if let (Some(sem), Some(s)) = (self.semantic, f.semantic) {
            sem.apply(&s, scores, reasons);
            embeddings = (s.embedding, s.answer_embedding);
        }
        if let (Some(judge), Some(r)) = (self.judge, &f.rating) {
            judge.apply(r, scores, reasons);
        }
        embeddings
    }
}
