//! Embedding-based checks, batched: sentence-level grounding of the answer in its source
//! chunk, question ↔ chunk and answer ↔ question relevance, and each record's embedding
//! for semantic near-duplicates (decided in canonical order by [`crate::DedupIndex`]).
//!
//! - `grounding`: for each sentence of the answer, its best cosine similarity to any
//!   sentence of the chunk (or to the whole chunk); the score is the lowest over the
//!   answer's sentences, so one unsupported sentence shows. Below
//!   `validate.semantic.min_grounding`: `UNFAITHFUL`, naming the sentence.
//! - `question_relevance` (question ↔ chunk) and `answer_relevance` (answer ↔ question):
//!   below their minimums, `OFF_TOPIC`.
//!
//! Embeddings come from an [`Embedder`] behind the job's [`EmbedCache`]: chunk sentences
//! are embedded once per job, whatever the number of records drawn from them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use seedstream_core::embed::{cosine, EmbedCache, Embedder, RemoteEmbedder};
use seedstream_core::record::{codes, Reason};
use seedstream_core::spec::{EmbedBackend, SemanticSpec};
use seedstream_core::{Error, Result};

/// all-MiniLM-L6-v2 in this process (CPU work on the blocking pool).
pub struct LocalEmbedder(pub Arc<seedstream_local::MiniLm>);

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model(&self) -> &str {
        "all-MiniLM-L6-v2"
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let (m, texts) = (self.0.clone(), texts.to_vec());
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            m.embed(&refs)
        })
        .await
        .map_err(|e| Error::Endpoint(format!("embedding task: {e}")))?
        .map_err(|e| Error::Endpoint(e.to_string()))
    }
}

/// What a process needs to build a job's embedder: where the local model is cached and
/// the environment variables a job may name for an API key (read in `main`).
#[derive(Debug, Clone, Default)]
pub struct EmbedEnv {
    /// The seedstream cache directory (the local model goes to `<dir>/models/`).
    pub cache_dir: PathBuf,
    /// Environment variables.
    pub env: HashMap<String, String>,
}

/// The local model, loaded once per process (the first job that needs it waits).
static LOCAL: tokio::sync::OnceCell<Arc<seedstream_local::MiniLm>> =
    tokio::sync::OnceCell::const_new();

async fn local_model(cache_dir: PathBuf) -> Result<Arc<seedstream_local::MiniLm>> {
    LOCAL
        .get_or_try_init(|| async move {
            tokio::task::spawn_blocking(move || {
                let dir = seedstream_local::ensure_embedder(&cache_dir)?;
                seedstream_local::MiniLm::load(&dir).map(Arc::new)
            })
            .await
            .map_err(|e| Error::Endpoint(format!("loading the embedding model: {e}")))?
            .map_err(|e| Error::Endpoint(format!("loading the embedding model: {e}")))
        })
        .await
        .cloned()
}

/// The embedder a job asks for (`None`: semantic checks off).
pub async fn embedder_for(spec: &SemanticSpec, env: &EmbedEnv) -> Result<Option<Arc<EmbedCache>>> {
    let inner: Arc<dyn Embedder> = match spec.backend {
        EmbedBackend::None => return Ok(None),
        EmbedBackend::Local => Arc::new(LocalEmbedder(local_model(env.cache_dir.clone()).await?)),
        EmbedBackend::Endpoint => {
            let url = spec.endpoint.as_deref().unwrap_or_default();
            let key = seedstream_core::spec::api_key(spec.api_key_env.as_deref(), |v| {
                env.env.get(v).cloned()
            })
            .map_err(|e| Error::Endpoint(format!("validate.semantic.api_key_env: {e}")))?;
            Arc::new(RemoteEmbedder::new(
                url,
                &spec.model,
                key,
                Duration::from_secs(60),
            ))
        }
    };
    Ok(Some(Arc::new(EmbedCache::new(inner, spec.batch_size))))
}

/// Sentences of `text`: split after `.`, `!`, `?` or a line break when what follows starts
/// a new sentence; fragments under three words join the sentence before them (a leading
/// one, the sentence after it).
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let end_here = match c {
            b'\n' => true,
            b'.' | b'!' | b'?' => {
                let next = text[i + 1..].chars().next();
                let after = text[i + 1..].trim_start().chars().next();
                matches!(next, None | Some(' ' | '\n' | '\t' | '"' | '\'' | ')'))
                    && after.is_none_or(|a| a.is_uppercase() || a.is_ascii_digit() || a == '"')
            }
            _ => false,
        };
        if end_here {
            push_sentence(&mut out, text, start, i + 1);
            start = i + 1;
        }
        i += 1;
    }
    push_sentence(&mut out, text, start, text.len());
    // A leading fragment ("Yes.", "In 2026.") joins the sentence after it: alone it
    // says nothing to ground.
    if out.len() >= 2 && out[0].split_whitespace().count() < 3 {
        let from = out[0].as_ptr() as usize - text.as_ptr() as usize;
        let to = out[1].as_ptr() as usize - text.as_ptr() as usize + out[1].len();
        out[1] = &text[from..to];
        out.remove(0);
    }
    out
}

fn push_sentence<'a>(out: &mut Vec<&'a str>, text: &'a str, start: usize, end: usize) {
    let s = text[start..end].trim();
    if s.is_empty() {
        return;
    }
    let words = s.split_whitespace().count();
    if words < 3 {
        if let Some(last) = out.last_mut() {
            // Extend the previous sentence over this fragment (same underlying text).
            let from = last.as_ptr() as usize - text.as_ptr() as usize;
            *last = text[from..end].trim();
            return;
        }
    }
    out.push(s);
}

/// A record's semantic scores.
#[derive(Debug, Clone, Default)]
pub struct SemScores {
    /// Lowest best-match similarity of an answer sentence to the chunk.
    pub grounding: f64,
    /// The least grounded answer sentence.
    pub weakest: String,
    /// Question ↔ chunk.
    pub question_relevance: Option<f64>,
    /// Answer ↔ question.
    pub answer_relevance: Option<f64>,
    /// The whole record ↔ chunk.
    pub topic: f64,
    /// The record's embedding (its fields joined), for near-duplicates.
    pub embedding: Vec<f32>,
    /// The answer's embedding, for near-duplicates (empty without an answer).
    pub answer_embedding: Vec<f32>,
    /// The record has no claim to ground: no grounding check or score.
    pub without_claim: bool,
    /// The record has neither a question nor a claim: it is about no source (no topic
    /// check or score); its embedding still serves near-duplicates.
    pub without_source: bool,
}

/// The semantic checks of one job.
pub struct Semantic {
    cache: Arc<EmbedCache>,
    spec: SemanticSpec,
    fields: Vec<String>,
    /// The fields whose text makes the record's embedding (default: `fields`).
    record_fields: Option<Vec<String>>,
    question: Option<usize>,
    answer: Option<usize>,
}

impl Semantic {
    /// Checks with `spec`'s thresholds for records with these task fields (question and
    /// answer as in [`crate::Validator::new`]).
    pub fn new(cache: Arc<EmbedCache>, spec: &SemanticSpec, fields: &[String]) -> Semantic {
        let (question, answer) = crate::question_answer(fields);
        Self::with_roles(cache, spec, fields, question, answer)
    }

    /// Checks for records with these `fields`, of which `question` and `answer` (the
    /// claim) are checked; `None`: no such field (a flow's view, see
    /// [`crate::Validator::with_roles`]). Every field makes the record's embedding.
    pub fn with_roles(
        cache: Arc<EmbedCache>,
        spec: &SemanticSpec,
        fields: &[String],
        question: Option<usize>,
        answer: Option<usize>,
    ) -> Semantic {
        Semantic {
            cache,
            spec: spec.clone(),
            fields: fields.to_vec(),
            record_fields: None,
            question,
            answer,
        }
    }

    /// Make the record's embedding (near-duplicates) of these fields of what is scored
    /// instead of every field (`validate.diversity.fields`, passed as one field).
    pub fn record_from(mut self, fields: Vec<String>) -> Self {
        self.record_fields = Some(fields);
        self
    }

    /// The embedding model's name.
    pub fn model(&self) -> &str {
        self.cache.model()
    }

    fn field<'a>(&self, fields: &'a Map<String, Value>, i: Option<usize>) -> Option<&'a str> {
        fields
            .get(self.fields.get(i?)?)?
            .as_str()
            .filter(|s| !s.trim().is_empty())
    }

    /// The text a record's embedding is made of (every task field, trimmed, in order,
    /// joined by a space: for a one-sentence answer it is the same text as the
    /// sentence's grounding claim, so it is embedded once).
    pub fn record_text(&self, fields: &Map<String, Value>) -> String {
        self.record_fields
            .as_ref()
            .unwrap_or(&self.fields)
            .iter()
            .filter_map(|f| fields.get(f).and_then(Value::as_str))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Score a batch of records, each against its chunk; every text goes through the
    /// job's cache, in one call per batch of misses.
    pub async fn score(&self, items: &[(&Map<String, Value>, &str)]) -> Result<Vec<SemScores>> {
        // Collect every text the batch needs, then embed them together.
        let mut texts: Vec<String> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        let mut idx = |t: &str, texts: &mut Vec<String>| -> usize {
            if let Some(&i) = at.get(t) {
                return i;
            }
            texts.push(t.to_string());
            at.insert(t.to_string(), texts.len() - 1);
            texts.len() - 1
        };
        struct Plan {
            answer: Vec<(usize, String)>,
            answer_text: Option<usize>,
            chunk_sents: Vec<usize>,
            chunk: usize,
            question: Option<usize>,
            record: usize,
        }
        let mut plans = Vec::with_capacity(items.len());
        for (fields, chunk) in items {
            let question = self.field(fields, self.question);
            // A sentence is grounded as the claim it makes in context: "Roughly 254
            // nanometres." says nothing alone, with its question it is a fact to find.
            let answer_sents: Vec<(usize, String)> = self
                .field(fields, self.answer)
                .map(|a| {
                    sentences(a)
                        .into_iter()
                        .map(|s| {
                            let claim = match question {
                                Some(q) => format!("{} {s}", q.trim()),
                                None => s.to_string(),
                            };
                            (idx(&claim, &mut texts), s.to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            let chunk_sents = sentences(chunk)
                .into_iter()
                .map(|s| idx(s, &mut texts))
                .collect();
            let question = question.map(|q| idx(q, &mut texts));
            let answer_text = self.field(fields, self.answer).map(|a| idx(a, &mut texts));
            plans.push(Plan {
                answer_text,
                answer: answer_sents,
                chunk_sents,
                chunk: idx(chunk, &mut texts),
                question,
                record: idx(&self.record_text(fields), &mut texts),
            });
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vecs = self.cache.get(&refs).await?;
        let sim = |a: usize, b: usize| f64::from(cosine(&vecs[a], &vecs[b])).clamp(0.0, 1.0);
        Ok(plans
            .into_iter()
            .map(|p| {
                let mut grounding = 1.0f64;
                let mut weakest = String::new();
                for (s, text) in &p.answer {
                    let best = p
                        .chunk_sents
                        .iter()
                        .map(|&c| sim(*s, c))
                        .fold(sim(*s, p.chunk), f64::max);
                    if best < grounding {
                        grounding = best;
                        weakest = text.clone();
                    }
                }
                if p.answer.is_empty() {
                    grounding = 0.0;
                }
                SemScores {
                    grounding,
                    weakest,
                    question_relevance: p.question.map(|q| sim(q, p.chunk)),
                    answer_relevance: match (p.question, p.answer_text) {
                        (Some(q), Some(a)) => Some(sim(q, a)),
                        _ => None,
                    },
                    topic: sim(p.record, p.chunk),
                    embedding: vecs[p.record].to_vec(),
                    answer_embedding: p.answer_text.map(|a| vecs[a].to_vec()).unwrap_or_default(),
                    without_claim: self.answer.is_none(),
                    without_source: self.answer.is_none() && self.question.is_none(),
                }
            })
            .collect())
    }

    /// Add `s` to a record's scores and decide with them, next to the lexical checks'
    /// scores and reasons already there (semantic evidence settles what words alone
    /// cannot):
    /// - off-topic: `topic` (record ↔ source) below `min_topic`, or the lexical
    ///   relevance below 0.3 with `topic` below `min_topic_with_lexical` unless the question
    ///   itself is on topic (`question_relevance` ≥ `on_topic_question` and
    ///   `question_support` ≥ `on_topic_question_words`), or the answer
    ///   unrelated to its question (`answer_relevance` below `min_answer_relevance`). The
    ///   lexical off-topic verdict alone no longer rejects.
    /// - unfaithful: an answer sentence below `min_grounding`, unless every content word
    ///   and number of the answer occurs in the source (lexical faithfulness 1.0); the
    ///   lexical verdict (few of the answer's words in the source) only stands when
    ///   grounding is also below `min_grounding` + 0.1, so paraphrases pass. Invented
    ///   numbers always reject.
    pub fn apply(
        &self,
        s: &SemScores,
        scores: &mut BTreeMap<String, f64>,
        reasons: &mut Vec<Reason>,
    ) {
        decide(&self.spec, s, scores, reasons);
    }
}

/// [`Semantic::apply`] with `spec`'s thresholds.
fn decide(
    spec: &SemanticSpec,
    s: &SemScores,
    scores: &mut BTreeMap<String, f64>,
    reasons: &mut Vec<Reason>,
) {
    let round = |x: f64| (x * 10_000.0).round() / 10_000.0;
    if s.without_source {
        return;
    }
    if !s.without_claim {
        scores.insert("grounding".into(), round(s.grounding));
    }
    scores.insert("topic".into(), round(s.topic));
    if let Some(q) = s.question_relevance {
        scores.insert("question_relevance".into(), round(q));
    }
    if let Some(a) = s.answer_relevance {
        scores.insert("answer_relevance".into(), round(a));
    }
    let lexical_relevance = scores.get("relevance").copied().unwrap_or(1.0);
    let grounded_enough = s.grounding >= spec.min_grounding + 0.1;
    reasons.retain(|r| {
        !(r.code == codes::OFF_TOPIC || (r.code == codes::UNFAITHFUL && grounded_enough))
    });
    // Near in meaning and in words: a question on the source's subject about something
    // the source does not discuss ("How do wasps build their nests?" of a passage on
    // honey bees) embeds close to it, but most of its words are not there.
    let question_words = scores.get("question_support").copied().unwrap_or(1.0);
    let question_on_topic = s
        .question_relevance
        .is_some_and(|q| q >= spec.on_topic_question)
        && question_words >= spec.on_topic_question_words;
    if s.topic < spec.min_topic
        || (lexical_relevance < 0.3 && s.topic < spec.min_topic_with_lexical && !question_on_topic)
    {
        reasons.push(Reason::new(
                codes::OFF_TOPIC,
                format!(
                    "record not about the source (similarity {:.2}, lexical relevance {lexical_relevance:.2}; min_topic {:.2}, or {:.2} with lexical relevance below 0.30 and the question below {:.2} or with under {:.2} of its words in the source)",
                    s.topic, spec.min_topic, spec.min_topic_with_lexical, spec.on_topic_question, spec.on_topic_question_words
                ),
            ));
    } else if let Some(a) = s
        .answer_relevance
        .filter(|a| *a < spec.min_answer_relevance)
    {
        reasons.push(Reason::new(
            codes::OFF_TOPIC,
            format!(
                "answer does not address the question (similarity {a:.2} < {:.2})",
                spec.min_answer_relevance
            ),
        ));
    }
    // Every content word and number of the answer is in the source: a terse answer
    // ("In Devon, in 1992.") embeds far from the prose it restates, but says nothing the
    // source does not.
    let every_word_in_source = scores.get("faithfulness").is_some_and(|f| *f >= 1.0);
    if !s.without_claim && s.grounding < spec.min_grounding && !every_word_in_source {
        let mut sentence: String = s.weakest.chars().take(120).collect();
        if sentence.len() < s.weakest.len() {
            sentence.push('…');
        }
        reasons.push(Reason::new(
                codes::UNFAITHFUL,
                format!(
                    "answer sentence not grounded in the source (best similarity {:.2} < {:.2}): {sentence:?}",
                    s.grounding, spec.min_grounding
                ),
            ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reason codes `decide` leaves for these scores, from a lexical verdict of
    /// `lexical_relevance` with the lexical reasons `before`.
    fn decided(s: SemScores, lexical_relevance: f64, before: &[&str]) -> Vec<String> {
        let mut scores = BTreeMap::from([("relevance".to_string(), lexical_relevance)]);
        let mut reasons: Vec<Reason> = before.iter().map(|c| Reason::new(c, "lexical")).collect();
        decide(&SemanticSpec::default(), &s, &mut scores, &mut reasons);
        assert_eq!(scores["topic"], s.topic);
        reasons.into_iter().map(|r| r.code).collect()
    }

    #[test]
    fn an_answer_straying_from_an_on_topic_question_is_unfaithful_not_off_topic() {
        let s = |question: f64, topic: f64| SemScores {
            grounding: 0.5,
            topic,
            question_relevance: Some(question),
            answer_relevance: Some(0.4),
            ..Default::default()
        };
        // Few of its words in the source, middling similarity, a question not about the
        // source: off-topic.
        let got = decided(s(0.3, 0.4), 0.1, &[codes::OFF_TOPIC, codes::UNFAITHFUL]);
        assert_eq!(
            got,
            [codes::UNFAITHFUL, codes::OFF_TOPIC, codes::UNFAITHFUL]
        );
        // The same answer to a question about the source: unfaithful only.
        let got = decided(s(0.6, 0.4), 0.1, &[codes::OFF_TOPIC, codes::UNFAITHFUL]);
        assert_eq!(got, [codes::UNFAITHFUL, codes::UNFAITHFUL]);
        // Far from the source whatever the question: off-topic.
        let got = decided(s(0.6, 0.2), 0.1, &[]);
        assert!(got.contains(&codes::OFF_TOPIC.to_string()), "{got:?}");
        // Grounded paraphrase: the lexical verdict does not stand.
        let grounded = SemScores {
            grounding: 0.8,
            ..s(0.6, 0.6)
        };
        assert!(decided(grounded, 0.2, &[codes::UNFAITHFUL]).is_empty());
    }

    #[test]
    fn a_question_near_the_source_but_not_in_its_words_is_off_topic() {
        // "How do wasps build their nests?" of a passage on honey bees: the question
        // embeds close to the source (0.54), but one of its three content words is there.
        let s = SemScores {
            grounding: 0.4,
            topic: 0.47,
            question_relevance: Some(0.54),
            answer_relevance: Some(0.6),
            ..Default::default()
        };
        let decide_with = |question_support: f64| {
            let mut scores = BTreeMap::from([
                ("relevance".to_string(), 0.06),
                ("faithfulness".to_string(), 0.06),
                ("question_support".to_string(), question_support),
            ]);
            let mut reasons = vec![Reason::new(codes::UNFAITHFUL, "lexical")];
            decide(&SemanticSpec::default(), &s, &mut scores, &mut reasons);
            reasons.into_iter().map(|r| r.code).collect::<Vec<_>>()
        };
        assert_eq!(
            decide_with(0.33),
            [codes::UNFAITHFUL, codes::OFF_TOPIC, codes::UNFAITHFUL]
        );
        // Most of its words in the source: a question about the source, answered
        // unfaithfully.
        assert_eq!(decide_with(0.67), [codes::UNFAITHFUL, codes::UNFAITHFUL]);
    }

    #[test]
    fn an_answer_made_only_of_the_sources_words_needs_no_embedding_grounding() {
        let terse = SemScores {
            grounding: 0.5,
            topic: 0.5,
            question_relevance: Some(0.6),
            answer_relevance: Some(0.4),
            ..Default::default()
        };
        let decide_with = |faithfulness: f64| {
            let mut scores = BTreeMap::from([
                ("relevance".to_string(), 1.0),
                ("faithfulness".to_string(), faithfulness),
            ]);
            let mut reasons = Vec::new();
            decide(&SemanticSpec::default(), &terse, &mut scores, &mut reasons);
            assert_eq!(scores["grounding"], 0.5);
            reasons.into_iter().map(|r| r.code).collect::<Vec<_>>()
        };
        assert!(decide_with(1.0).is_empty());
        assert_eq!(decide_with(0.9), [codes::UNFAITHFUL]);
    }

    #[test]
    fn splits_sentences_and_keeps_fragments_with_their_sentence() {
        assert_eq!(
            sentences("The pump runs at 3.5 bar. It stops at night! Why? Because of noise."),
            vec![
                "The pump runs at 3.5 bar.",
                "It stops at night! Why?",
                "Because of noise."
            ]
        );
        assert_eq!(
            sentences("e.g. the valve opens"),
            vec!["e.g. the valve opens"]
        );
        assert_eq!(sentences("  "), Vec::<&str>::new());
        assert_eq!(
            sentences("Line one is here\nline two is here"),
            vec!["Line one is here", "line two is here"]
        );
        // A leading fragment joins the sentence after it.
        assert_eq!(
            sentences("Yes. A map had shown it. In 2026 probably."),
            vec!["Yes. A map had shown it.", "In 2026 probably."]
        );
        assert_eq!(sentences("No."), vec!["No."]);
    }
}
