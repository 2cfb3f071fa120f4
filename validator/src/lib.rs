//! seedstream validator: scores generated records against their source chunk and removes
//! duplicates.
//!
//! Two parts, used by the pipeline in two steps:
//!
//! 1. [`Validator::score`]: per-record checks, independent of every other record (any
//!    thread, any order). Each check writes a score in [0, 1] to [`Scored::scores`] and a
//!    [`Reason`] with a concrete detail when the record fails it:
//!    - `format`: every task field present, a string, trimmed length within bounds
//!      (`FORMAT`);
//!    - `faithfulness`: share of the answer's content words found in the chunk
//!      (`UNFAITHFUL`), every number of the answer found in the chunk
//!      (`INVENTED_NUMBER`), and no lexical contradiction of the chunk: a number with
//!      another unit, an antonym flip, a name the chunk never mentions (`CONTRADICTION`);
//!    - `relevance`: question and answer both about the chunk (`OFF_TOPIC`);
//!    - `privacy`: no email, phone, payment card or national id in any field (`PII`);
//!    - `copying`: no long verbatim span of the chunk in the answer (`COPIED`).
//!
//!    It also computes the record's [`Signature`] (exact hash + MinHash sketch).
//! 2. [`DedupIndex`]: greedy near-duplicate removal, fed in canonical order, so the
//!    decisions do not depend on arrival order (`DUPLICATE`, `NEAR_DUPLICATE`).
//!
//! The checks are lexical (content-word overlap, with a light stemmer): cheap enough to
//! run on every record (about 10–20 µs for a typical record). They sit behind an internal
//! `Check` trait so embedding- or judge-based scorers can be added beside them.
//!
//! Layout:
//! - `lib.rs`: the public API ([`Validator`], [`Input`], [`Scored`], [`Signature`],
//!   [`PreparedChunk`])
//! - `checks.rs`: the `Check` trait and the five checks
//! - `contradict.rs`: the lexical contradiction rules
//! - `text.rs`: tokeniser, stopwords, stemmer, number normalisation, portable hashes
//! - `pii.rs`: personal-data detectors, Luhn, masking
//! - `signature.rs`: exact hash and MinHash
//! - `seedstream_core::dedup` (re-exported): [`DedupIndex`] with LSH banding (MinHash, and random hyperplanes for
//!   embeddings)
//! - `semantic.rs`: embedding-based checks (grounding, relevance), batched
//! - `judge.rs`: the LLM judge (rubric prompt, robust verdict parsing, cached verdicts)
//! - `models.rs`: the semantic checks and the judge over a batch, together

mod checks;
mod contradict;
pub mod judge;
pub mod models;
mod pii;
pub mod semantic;
pub mod service;
mod signature;
mod text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use seedstream_core::dedup::{scope_key, DedupIndex, Signature};
pub use seedstream_core::record::Reason;
use seedstream_core::spec::ValidateSpec;

use checks::{Check, Copying, Faithfulness, Format, Privacy, Record, Relevance};
use pii::Detectors;
use signature::MinHasher;
use text::{tokenize, Kind, StopWords, Token};

/// One record to score: its task fields and the source chunk it was generated from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The record's fields (extra keys are ignored).
    pub fields: &'a Map<String, Value>,
    /// The source chunk's text.
    pub chunk: &'a str,
}

/// The verdict of the per-record checks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scored {
    /// Every score in [0, 1], keyed `format`, `faithfulness`, `relevance`, `privacy`,
    /// `copying`.
    pub scores: BTreeMap<String, f64>,
    /// Why the record fails; empty when it passes every per-record check.
    pub reasons: Vec<Reason>,
    /// The record's signature, for [`DedupIndex`].
    pub signature: Signature,
}

/// A source chunk tokenised once, for scoring many records against it
/// ([`Validator::score_prepared`]).
#[derive(Debug, Clone)]
pub struct PreparedChunk {
    /// Sorted, unique stems of the chunk's content words.
    stems: Vec<u64>,
    /// Sorted, unique normalised numbers.
    numbers: Vec<u64>,
    /// Every token's normalised hash, in order.
    seq: Vec<u64>,
    /// `(hash, position)` of every token, sorted, to find where a word occurs.
    index: Vec<(u64, u32)>,
    /// The sentence of each token (index into the chunk's sentences).
    sentence_of: Vec<u32>,
    /// The chunk read for the contradiction rules.
    source: contradict::Source,
    /// The street addresses, IP addresses and dates of birth the chunk gives
    /// ([`pii::Detectors::public`]): public, not personal.
    public_pii: Vec<String>,
    /// Sorted, unique lengths of time the chunk gives ([`text::durations`]).
    durations: Vec<u64>,
    /// Hash of the chunk's tokens: which chunk a record's numbers are on.
    key: u64,
}

impl PreparedChunk {
    fn has_stem(&self, stem: u64) -> bool {
        self.stems.binary_search(&stem).is_ok()
    }

    fn has_number(&self, n: u64) -> bool {
        self.numbers.binary_search(&n).is_ok()
    }

    /// True when the chunk gives this length of time, in any unit ([`text::durations`]).
    fn has_duration(&self, key: u64) -> bool {
        self.durations.binary_search(&key).is_ok()
    }

    /// Tokens in the chunk.
    fn len(&self) -> usize {
        self.seq.len()
    }

    /// Length of the longest run of `words` that occurs verbatim in the chunk, and of
    /// the longest such run that crosses a sentence boundary of the chunk (0: none).
    fn longest_common_run(&self, words: &[u64]) -> (usize, usize) {
        let mut best = 0;
        let mut crossing = 0;
        for (i, &w) in words.iter().enumerate() {
            let from = self.index.partition_point(|&(h, _)| h < w);
            for &(h, j) in &self.index[from..] {
                if h != w {
                    break;
                }
                let j = j as usize;
                // Only start at the beginning of a run; its continuations are shorter.
                if i > 0 && j > 0 && words[i - 1] == self.seq[j - 1] {
                    continue;
                }
                let run = words[i..]
                    .iter()
                    .zip(&self.seq[j..])
                    .take_while(|(a, b)| a == b)
                    .count();
                best = best.max(run);
                if run > 0 && self.sentence_of[j] != self.sentence_of[j + run - 1] {
                    crossing = crossing.max(run);
                }
            }
        }
        (best, crossing)
    }
}

/// Which task fields play the question and the answer for the semantic checks and the
/// judge: `question` and `answer` when present, else the first and the last field (no
/// question when there is only one field, or when it would be the answer field).
pub(crate) fn question_answer(fields: &[String]) -> (Option<usize>, Option<usize>) {
    let (question, answer) = seedstream_core::spec::flow::default_roles(fields);
    let question = question.filter(|_| fields.len() > 1);
    (question.filter(|q| Some(*q) != answer), answer)
}

/// Scores records: built once per job from its [`ValidateSpec`], shared by every thread.
pub struct Validator {
    fields: Vec<String>,
    question: Option<usize>,
    answer: Option<usize>,
    stop: StopWords,
    pii: Detectors,
    minhash: MinHasher,
    checks: Vec<Box<dyn Check>>,
    /// `validate.diversity.same_numbers_min` (0: off).
    same_numbers_min: usize,
    /// The fields (from the first) that make the signature.
    signed: usize,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let checks: Vec<&str> = self.checks.iter().map(|c| c.name()).collect();
        f.debug_struct("Validator")
            .field("fields", &self.fields)
            .field("checks", &checks)
            .finish()
    }
}

impl Validator {
    /// A validator for records with these task `fields` (a qa task has `question` and
    /// `answer`; otherwise the first field plays the question and the last the answer).
    pub fn new(spec: &ValidateSpec, fields: &[String]) -> Validator {
        let (question, answer) = seedstream_core::spec::flow::default_roles(fields);
        Self::with_roles(spec, fields, question, answer)
    }

    /// A validator for records with these `fields`, of which `question` is checked for
    /// relevance and `answer` for grounding (faithfulness, numbers, copying); `None`:
    /// no such field (a flow's [`seedstream_core::spec::flow::Flow::view`]).
    pub fn with_roles(
        spec: &ValidateSpec,
        fields: &[String],
        question: Option<usize>,
        answer: Option<usize>,
    ) -> Validator {
        let mut checks: Vec<Box<dyn Check>> = vec![Box::new(Format {
            min_chars: spec.format.min_chars,
            max_chars: spec.format.max_chars,
        })];
        // Grounding checks only where a field is a claim or a question (a flow's
        // instruction/response record has neither, and no score for them).
        if answer.is_some() {
            checks.push(Box::new(Faithfulness {
                min_score: spec.faithfulness.min_score,
                check_numbers: spec.faithfulness.check_numbers,
                check_contradictions: spec.faithfulness.check_contradictions,
            }));
        }
        if question.is_some() || answer.is_some() {
            checks.push(Box::new(Relevance {
                min_score: spec.relevance.min_score,
            }));
        }
        checks.push(Box::new(Privacy {
            enforce: spec.privacy.enabled,
        }));
        if answer.is_some() {
            checks.push(Box::new(Copying {
                max_span_words: spec.copying.max_span_words,
                max_span_share: spec.copying.max_span_share,
                min_share_span_words: spec.copying.min_share_span_words,
                every_field: false,
            }));
        }
        Validator {
            fields: fields.to_vec(),
            question,
            answer,
            stop: StopWords::new(),
            pii: Detectors::new(),
            minhash: MinHasher::new(
                spec.diversity.minhash_permutations,
                spec.diversity.shingle_words,
            ),
            checks,
            same_numbers_min: spec.diversity.same_numbers_min,
            signed: fields.len(),
        }
    }

    /// Check every text field for copying from the source, not only the answer (a
    /// flow's view: every generated text may copy).
    pub fn copying_every_field(mut self, spec: &ValidateSpec) -> Self {
        self.checks.retain(|c| c.name() != "copying");
        self.checks.push(Box::new(Copying {
            max_span_words: spec.copying.max_span_words,
            max_span_share: spec.copying.max_span_share,
            min_share_span_words: spec.copying.min_share_span_words,
            every_field: true,
        }));
        self
    }

    /// Make near-duplicate signatures of the first `n` fields only (a flow's view: its
    /// other text, such as a knowledge record's context, is checked but not compared).
    pub fn signing(mut self, n: usize) -> Self {
        self.signed = n.min(self.fields.len());
        self
    }

    /// The exact hash and MinHash sketch of `text` alone (the record's numbers key is
    /// not part of it): a signature over the fields `validate.diversity.fields` names.
    pub fn signature_of(&self, text: &str) -> Signature {
        let mut toks = Vec::new();
        tokenize(text, &self.stop, &mut toks, &mut String::with_capacity(32));
        self.minhash.signature(&[toks])
    }

    /// Tokenise a chunk once, to score several records against it.
    pub fn prepare_chunk(&self, chunk: &str) -> PreparedChunk {
        let source = contradict::Source::new(chunk);
        let mut toks: Vec<Token> = Vec::with_capacity(chunk.len() / 5);
        tokenize(chunk, &self.stop, &mut toks, &mut String::with_capacity(32));
        let mut stems: Vec<u64> = toks.iter().filter(|t| t.content).map(|t| t.stem).collect();
        stems.sort_unstable();
        stems.dedup();
        let mut numbers: Vec<u64> = toks
            .iter()
            .filter(|t| t.kind == Kind::Number)
            .map(|t| t.raw)
            .chain(text::word_numbers(chunk, 0).into_iter().map(|(_, _, h)| h))
            .chain(
                source
                    .years_in_periods()
                    .into_iter()
                    .map(|y| text::hash_number(y.to_string().as_bytes())),
            )
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        let seq: Vec<u64> = toks.iter().map(|t| t.raw).collect();
        // Sentence of each token: the number of sentence starts at or before it.
        let starts: Vec<usize> = semantic::sentences(chunk)
            .iter()
            .map(|s| s.as_ptr() as usize - chunk.as_ptr() as usize)
            .collect();
        let sentence_of: Vec<u32> = toks
            .iter()
            .map(|t| starts.partition_point(|&s| s <= t.start).saturating_sub(1) as u32)
            .collect();
        let mut index: Vec<(u64, u32)> = seq
            .iter()
            .enumerate()
            .map(|(i, &h)| (h, i as u32))
            .collect();
        index.sort_unstable();
        PreparedChunk {
            public_pii: self.pii.public(chunk),
            durations: {
                let mut d: Vec<u64> = text::durations(chunk).into_iter().map(|d| d.2).collect();
                d.sort_unstable();
                d.dedup();
                d
            },
            stems,
            numbers,
            key: seq
                .iter()
                .fold(0x6e75_6d62_6572_7300, |h, &x| text::mix64(h ^ x)),
            seq,
            index,
            sentence_of,
            source,
        }
    }

    /// Run every per-record check on `input`.
    pub fn score(&self, input: &Input<'_>) -> Scored {
        let chunk = self.prepare_chunk(input.chunk);
        self.score_prepared(input.fields, &chunk)
    }

    /// [`Validator::score`] against a chunk prepared by [`Validator::prepare_chunk`].
    pub fn score_prepared(&self, fields: &Map<String, Value>, chunk: &PreparedChunk) -> Scored {
        let mut buf = String::with_capacity(32);
        let values: Vec<Option<&Value>> = self.fields.iter().map(|f| fields.get(f)).collect();
        let mut tokens = Vec::with_capacity(values.len());
        let mut pii = Vec::with_capacity(values.len());
        for v in &values {
            let mut toks = Vec::new();
            let mut found = Vec::new();
            if let Some(s) = v.and_then(Value::as_str) {
                tokenize(s, &self.stop, &mut toks, &mut buf);
                found = self.pii.find(s);
                found.retain(|m| {
                    !m.kind.public_in_source()
                        || !chunk
                            .public_pii
                            .contains(&pii::address_key(&s[m.start..m.end]))
                });
            }
            tokens.push(toks);
            pii.push(found);
        }
        let rec = Record {
            names: &self.fields,
            values,
            tokens,
            pii,
            question: self.question,
            answer: self.answer,
            chunk,
        };
        let mut out = Scored {
            scores: BTreeMap::new(),
            reasons: Vec::new(),
            signature: self.minhash.signature(&rec.tokens[..self.signed]),
        };
        for c in &self.checks {
            c.check(&rec, &mut out);
        }
        out.signature.numbers = self.numbers_key(&rec);
        out
    }

    /// The key of the set of distinct numbers the answer gives (digits, and words from
    /// "two" up), on its chunk; 0 when there are fewer than `same_numbers_min`, or the
    /// task has no answer field apart from its question.
    fn numbers_key(&self, rec: &Record<'_>) -> u64 {
        let (Some(a), Some(q)) = (self.answer, self.question) else {
            return 0;
        };
        if self.same_numbers_min == 0 || a == q {
            return 0;
        }
        let Some(text) = rec.values[a].and_then(Value::as_str) else {
            return 0;
        };
        let mut ns: Vec<u64> = rec.tokens[a]
            .iter()
            .filter(|t| t.kind == Kind::Number)
            .map(|t| t.raw)
            .chain(text::word_numbers(text, 2).into_iter().map(|w| w.2))
            .collect();
        ns.sort_unstable();
        ns.dedup();
        if ns.len() < self.same_numbers_min {
            return 0;
        }
        ns.iter()
            .fold(rec.chunk.key, |h, &n| text::mix64(h ^ n))
            .max(1)
    }
}

#[cfg(test)]
mod tests;
