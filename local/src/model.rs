//! [`LocalModel`]: loading, the ChatML prompt, and the field-by-field generation loop.

use std::fs::File;
use std::io::Cursor;
use std::path::Path;
use std::time::Instant;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::{ModelWeights, MAX_SEQ_LEN};

use crate::json::{self, Scan, StringScanner};
use crate::tokenizer::{self, BuildError, Vocabulary};
use crate::{Error, GenParams, Generation, Result};

/// The system turn SmolLM2's chat template inserts when a conversation has none; the model
/// was tuned with it, so leaving it out would change its behaviour.
const DEFAULT_SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// Positions kept free per field, beyond `max_tokens` and the text between fields, for the
/// re-tokenised tail of the token that closed a string (a few bytes, usually one token).
const SLACK_PER_FIELD: usize = 16;

/// Below this the division by the temperature overflows; it means greedy anyway
/// (candle's `LogitsProcessor::new` uses the same cut-off).
const MIN_TEMPERATURE: f64 = 1e-7;

/// SmolLM2-135M-Instruct loaded for CPU inference, with its tokenizer.
///
/// One instance serves request after request: every generation starts with a forward pass
/// at position 0, which resets the KV cache. It is `Send`, not `Sync`: callers share it
/// behind a `Mutex`.
pub struct LocalModel {
    weights: ModelWeights,
    vocab: Vocabulary,
    device: Device,
    im_start: u32,
    im_end: u32,
    /// `<|im_end|>` ends a turn, `<|endoftext|>` a document; either ends a field.
    stops: [u32; 2],
    /// Control tokens other than the stops: never meaningful inside a JSON string.
    always_banned: Vec<u32>,
    /// Also banned until a field has content: the stops and every token that would close or
    /// break the string before anything visible (see [`json::would_leave_empty`]).
    banned_while_empty: Vec<u32>,
}

/// Where a generation stands: the logits for the next position and that position.
#[derive(Clone)]
struct State {
    logits: Tensor,
    pos: usize,
}

struct FieldOutput {
    value: String,
    /// Bytes of the token that ended the string which still belonged to it: the model
    /// sampled them but they were not fed back, so they go in front of the next key.
    leftover: Vec<u8>,
    sampled: usize,
}

impl LocalModel {
    /// Loads a GGUF chat model (SmolLM2-135M-Instruct Q4_1) and rebuilds its tokenizer from
    /// the GGUF metadata.
    ///
    /// 4- and 5-bit weights are re-quantised to Q8_0 on the way in: on a 2-core AVX2 machine
    /// candle's Q8_0 kernels read the prompt ≈ 4.4× faster than its Q4_1 ones (93 vs 21
    /// tokens/s) and generate ≈ 1.7× faster (22 vs 13 tokens/s), and 8 bits hold a 4-bit
    /// block's values almost exactly. It costs ≈ 0.5 s at load and ≈ 50 MB of memory.
    pub fn load(gguf: &Path) -> Result<LocalModel> {
        let started = Instant::now();
        let path = gguf.to_owned();
        let gguf_error = |source| Error::Gguf {
            path: path.clone(),
            source,
        };
        let mut file = File::open(gguf).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let content = gguf_file::Content::read(&mut file).map_err(gguf_error)?;
        let vocab = tokenizer::from_gguf(&content).map_err(|e| match e {
            BuildError::Metadata { key, problem } => Error::Metadata {
                path: path.clone(),
                key: key.to_owned(),
                problem,
            },
            BuildError::Tokenizer(message) => Error::Tokenizer {
                path: path.clone(),
                message,
            },
        })?;
        let control = |token: &str| {
            vocab.id(token).ok_or_else(|| Error::Metadata {
                path: path.clone(),
                key: "tokenizer.ggml.tokens".to_owned(),
                problem: format!("no control token {token}: not a ChatML model"),
            })
        };
        let im_start = control("<|im_start|>")?;
        let im_end = control("<|im_end|>")?;
        let end_of_text = control("<|endoftext|>")?;

        let device = Device::Cpu;
        let (content, mut reader) = requantize(&content, &mut file, &device).map_err(gguf_error)?;
        let weights = ModelWeights::from_gguf(content, &mut reader, &device).map_err(gguf_error)?;

        let stops = [im_end, end_of_text];
        let always_banned: Vec<u32> = vocab
            .special
            .iter()
            .copied()
            .filter(|id| !stops.contains(id))
            .collect();
        let mut banned_while_empty = always_banned.clone();
        banned_while_empty.extend(stops);
        banned_while_empty.extend(
            vocab
                .token_bytes
                .iter()
                .enumerate()
                .filter(|(id, bytes)| {
                    !vocab.special.contains(&(*id as u32)) && json::would_leave_empty(bytes)
                })
                .map(|(id, _)| id as u32),
        );
        tracing::debug!(
            path = %gguf.display(),
            load_ms = started.elapsed().as_millis() as u64,
            vocab = vocab.token_bytes.len(),
            "loaded local model"
        );
        Ok(LocalModel {
            weights,
            vocab,
            device,
            im_start,
            im_end,
            stops,
            always_banned,
            banned_while_empty,
        })
    }

    /// Generates one JSON object whose keys are `fields`, in order, each a non-empty string.
    ///
    /// `messages` are chat turns as (role, content), role one of "system", "user",
    /// "assistant"; their content is treated as text even where it spells a control token.
    /// Deterministic for a given (messages, fields, params) on one build.
    pub fn generate_json(
        &mut self,
        messages: &[(String, String)],
        fields: &[String],
        params: &GenParams,
    ) -> Result<Generation> {
        validate(fields, params)?;
        let started = Instant::now();
        let prompt = self.prompt(messages, &fields[0], &field_prefix(&fields[0], params.seed))?;
        // Every field samples at least one token, whatever max_tokens says.
        let max_tokens = (params.max_tokens as usize).max(fields.len());
        let mut reserve = max_tokens + SLACK_PER_FIELD * fields.len();
        for field in &fields[1..] {
            reserve += self.encode(&json::between(field))?.len();
        }
        if prompt.len() + reserve > MAX_SEQ_LEN {
            return Err(Error::PromptTooLong {
                tokens: prompt.len(),
                max: MAX_SEQ_LEN.saturating_sub(reserve),
            });
        }

        // The whole prompt in one pass; position 0 also clears the previous request's cache.
        let input = Tensor::new(prompt.as_slice(), &self.device)?.unsqueeze(0)?;
        let mut state = State {
            logits: self.weights.forward(&input, 0)?.squeeze(0)?,
            pos: prompt.len(),
        };
        let prompt_elapsed = started.elapsed();

        let mut sampler = sampler(params, params.seed);
        let mut budget = max_tokens;
        let mut sampled = 0;
        let mut values = Vec::with_capacity(fields.len());
        for (i, field) in fields.iter().enumerate() {
            // Later fields inherit what earlier ones left unused: a short question leaves
            // room for a longer answer.
            let cap = (budget / (fields.len() - i)).max(1);
            // Tensors are reference-counted, so this copies no weights or cache.
            let snapshot = (self.weights.clone(), state.clone());
            let prefix = field_prefix(field, params.seed);
            let mut out = self.sample_field(&mut state, &mut sampler, cap, &prefix)?;
            sampled += out.sampled;
            if out.value.is_empty() {
                tracing::warn!(field = %field, "local model left a field empty; retrying it with a derived seed");
                (self.weights, state) = snapshot;
                sampler = self::sampler(params, derive_seed(params.seed, i));
                out = self.sample_field(&mut state, &mut sampler, cap, &prefix)?;
                sampled += out.sampled;
                if out.value.is_empty() {
                    return Err(Error::EmptyField {
                        field: field.clone(),
                    });
                }
            }
            budget = budget.saturating_sub(out.sampled);
            if let Some(next) = fields.get(i + 1) {
                // The closing quote and the next key are ours to write. The part of the
                // closing token that was still string goes first, so the model reads back
                // exactly the value it wrote.
                let mut text = String::from_utf8_lossy(&out.leftover).into_owned();
                text.push_str(&json::between(next));
                text.push_str(&field_prefix(next, params.seed));
                for id in self.encode(&text)? {
                    feed(&mut self.weights, &self.device, &mut state, id)?;
                }
            }
            let mut value = out.value;
            if field == "question" && !value.trim_end().ends_with('?') {
                value = format!(
                    "{}?",
                    value.trim_end().trim_end_matches(['.', '!', ',', ';', ':'])
                );
            }
            values.push(value);
        }

        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .zip(&values)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let generation = Generation {
            content: json::object(&pairs),
            prompt_tokens: prompt.len() as u32,
            completion_tokens: sampled as u32,
        };
        let decode_elapsed = started.elapsed() - prompt_elapsed;
        tracing::debug!(
            prompt_tokens = generation.prompt_tokens,
            completion_tokens = generation.completion_tokens,
            forward_passes = state.pos - prompt.len(),
            prompt_ms = prompt_elapsed.as_millis() as u64,
            decode_ms = decode_elapsed.as_millis() as u64,
            "local generation"
        );
        Ok(generation)
    }

    /// The ChatML prompt up to and including the assistant turn's `{"first_field": "`.
    /// Control tokens are placed by id; everything between them is encoded as text, one
    /// segment per stretch between control tokens, as the template would be tokenised.
    fn prompt(
        &self,
        messages: &[(String, String)],
        first_field: &str,
        prefix: &str,
    ) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let has_system = messages.first().is_some_and(|(role, _)| role == "system");
        let default_system = (!has_system).then_some(("system", DEFAULT_SYSTEM));
        let turns = default_system
            .into_iter()
            .chain(messages.iter().map(|(r, c)| (r.as_str(), c.as_str())));
        for (role, content) in turns {
            if !matches!(role, "system" | "user" | "assistant") {
                return Err(Error::InvalidRequest(format!(
                    "message role {role:?}: expected \"system\", \"user\" or \"assistant\""
                )));
            }
            ids.push(self.im_start);
            ids.extend(self.encode(&format!("{role}\n{content}"))?);
            ids.push(self.im_end);
            ids.extend(self.encode("\n")?);
        }
        ids.push(self.im_start);
        ids.extend(self.encode(&format!(
            "assistant\n{}{prefix}",
            json::opening(first_field)
        ))?);
        Ok(ids)
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .vocab
            .tokenizer
            .encode(text, false)
            .map_err(|e| Error::Encode(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Samples one string body, feeding each accepted token back, until the string ends,
    /// a stop token comes, or `cap` tokens have been sampled.
    fn sample_field(
        &mut self,
        state: &mut State,
        sampler: &mut LogitsProcessor,
        cap: usize,
        prefix: &str,
    ) -> Result<FieldOutput> {
        let mut scanner = StringScanner::default();
        // The prefix was fed as part of the structure; it is the value's start.
        let _ = scanner.push(prefix.as_bytes());
        let question = !prefix.is_empty();
        let mut sampled = 0;
        let mut leftover = Vec::new();
        while sampled < cap && state.pos < MAX_SEQ_LEN {
            let banned = if scanner.has_content() {
                &self.always_banned
            } else {
                &self.banned_while_empty
            };
            let id = sample(&state.logits, banned, sampler)?;
            sampled += 1;
            if self.stops.contains(&id) {
                break;
            }
            let Some(bytes) = self.vocab.token_bytes.get(id as usize) else {
                break;
            };
            match scanner.push(bytes) {
                Scan::Continue => {
                    feed(&mut self.weights, &self.device, state, id)?;
                    // A question ends at its question mark.
                    if question && bytes.contains(&b'?') {
                        break;
                    }
                }
                Scan::End { kept } => {
                    leftover = bytes[..kept].to_vec();
                    break;
                }
            }
        }
        Ok(FieldOutput {
            value: scanner.value(),
            leftover,
            sampled,
        })
    }
}

/// A 135M model asked for a question often writes a statement. A field named `question`
/// is made a question by construction: it starts with an interrogative chosen by the seed
/// and ends at its first `?` (one is added if the model never writes it). Other fields
/// start empty.
fn field_prefix(field: &str, seed: u64) -> String {
    const STARTS: [&str; 4] = ["What", "How", "Why", "Which"];
    if field == "question" {
        STARTS[(seed % STARTS.len() as u64) as usize].to_string()
    } else {
        String::new()
    }
}

/// Runs one token through the model at the next position. One at a time because
/// `quantized_llama` builds its causal mask only for chunks that start at position 0.
fn feed(weights: &mut ModelWeights, device: &Device, state: &mut State, id: u32) -> Result<()> {
    if state.pos >= MAX_SEQ_LEN {
        // The up-front reserve makes this unreachable in practice; never index past the
        // rotary tables.
        return Err(Error::ContextFull { max: MAX_SEQ_LEN });
    }
    let input = Tensor::new(&[id], device)?.unsqueeze(0)?;
    state.logits = weights.forward(&input, state.pos)?.squeeze(0)?;
    state.pos += 1;
    Ok(())
}

/// Samples after masking `banned` to -inf, so that greedy and random sampling alike obey it.
fn sample(logits: &Tensor, banned: &[u32], sampler: &mut LogitsProcessor) -> Result<u32> {
    let mut values: Vec<f32> = logits.to_dtype(DType::F32)?.to_vec1()?;
    for &id in banned {
        if let Some(v) = values.get_mut(id as usize) {
            *v = f32::NEG_INFINITY;
        }
    }
    let n = values.len();
    let masked = Tensor::from_vec(values, n, logits.device())?;
    Ok(sampler.sample(&masked)?)
}

fn sampler(params: &GenParams, seed: u64) -> LogitsProcessor {
    let sampling = if params.temperature < MIN_TEMPERATURE {
        Sampling::ArgMax
    } else {
        // TopP samples the whole distribution when p is outside (0, 1).
        Sampling::TopP {
            p: params.top_p,
            temperature: params.temperature,
        }
    };
    LogitsProcessor::from_sampling(seed, sampling)
}

/// A seed for retrying field `index` that is unrelated to the one that failed
/// (splitmix64 of the pair).
fn derive_seed(seed: u64, index: usize) -> u64 {
    let mut z = seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn validate(fields: &[String], params: &GenParams) -> Result<()> {
    let invalid = |s: String| Err(Error::InvalidRequest(s));
    if fields.is_empty() {
        return invalid("fields: expected at least one field, found none".to_owned());
    }
    for (i, field) in fields.iter().enumerate() {
        if field.is_empty() {
            return invalid(format!("fields[{i}]: expected a name, found \"\""));
        }
        if fields[..i].contains(field) {
            return invalid(format!("fields[{i}]: {field:?} appears twice"));
        }
    }
    if !params.temperature.is_finite() {
        return invalid(format!(
            "temperature: expected a number, found {}",
            params.temperature
        ));
    }
    if !params.top_p.is_finite() {
        return invalid(format!("top_p: expected a number, found {}", params.top_p));
    }
    Ok(())
}

/// Rewrites 4- and 5-bit tensors as Q8_0 into an in-memory GGUF that `from_gguf` reads like
/// the file. Only the tensors and the `general.`/`llama.` metadata the loader needs are
/// carried over (the tokenizer arrays are megabytes and were read already).
fn requantize(
    content: &gguf_file::Content,
    file: &mut File,
    device: &Device,
) -> candle_core::Result<(gguf_file::Content, Cursor<Vec<u8>>)> {
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let tensor = content.tensor(file, name, device)?;
        let tensor = match tensor.dtype() {
            GgmlDType::Q4_0 | GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1 => {
                QTensor::quantize(&tensor.dequantize(device)?, GgmlDType::Q8_0)?
            }
            _ => tensor,
        };
        tensors.push((name.as_str(), tensor));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .filter(|(k, _)| k.starts_with("general.") || k.starts_with("llama."))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut buffer = Cursor::new(Vec::new());
    gguf_file::write(&mut buffer, &metadata, &tensor_refs)?;
    buffer.set_position(0);
    let requantized = gguf_file::Content::read(&mut buffer)?;
    Ok((requantized, buffer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> GenParams {
        GenParams {
            temperature: 0.7,
            top_p: 0.9,
            max_tokens: 32,
            seed: 1,
        }
    }

    #[test]
    fn local_model_and_errors_cross_threads() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync + 'static>() {}
        send::<LocalModel>();
        send_sync::<Error>();
    }

    #[test]
    fn requests_are_validated_before_any_work() {
        let f = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(validate(&f(&["question", "answer"]), &params()).is_ok());
        for bad in [f(&[]), f(&["a", ""]), f(&["a", "b", "a"])] {
            let err = validate(&bad, &params()).unwrap_err();
            assert!(matches!(err, Error::InvalidRequest(_)), "{bad:?}: {err}");
        }
        let nan = GenParams {
            top_p: f64::NAN,
            ..params()
        };
        assert!(validate(&f(&["a"]), &nan).is_err());
    }

    #[test]
    fn masked_tokens_are_never_sampled() {
        let logits = Tensor::new(&[5.0f32, 1.0, 4.0, 0.5], &Device::Cpu).unwrap();
        let mut greedy = sampler(
            &GenParams {
                temperature: 0.0,
                ..params()
            },
            1,
        );
        assert_eq!(sample(&logits, &[], &mut greedy).unwrap(), 0);
        assert_eq!(sample(&logits, &[0], &mut greedy).unwrap(), 2);
        let mut random = sampler(
            &GenParams {
                temperature: 5.0,
                top_p: 1.0,
                ..params()
            },
            7,
        );
        for _ in 0..200 {
            let id = sample(&logits, &[0, 2], &mut random).unwrap();
            assert!(id == 1 || id == 3, "sampled banned id {id}");
        }
    }

    /// The tokenizer rebuilt from the real model's metadata, and the prompt built with it.
    /// Fetches the model like tests/model.rs does.
    #[test]
    fn real_tokenizer_and_prompt_keep_control_tokens_out_of_text() {
        let cache = match std::env::var("SEEDSTREAM_CACHE") {
            Ok(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
            _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/seedstream-cache"),
        };
        let model = LocalModel::load(&crate::ensure_default_model(&cache).unwrap()).unwrap();
        let id = |t: &str| model.vocab.tokenizer.token_to_id(t).unwrap();
        assert_eq!(
            model.encode("Hello world").unwrap(),
            [id("Hello"), id("Ġworld")]
        );
        assert_eq!(
            model.encode("in 2024").unwrap(),
            [id("in"), id("Ġ"), id("2"), id("0"), id("2"), id("4")]
        );
        assert_eq!((model.im_start, model.im_end, model.stops[1]), (1, 2, 0));

        let messages = [("user".to_owned(), "a <|im_end|> b <|im_start|>".to_owned())];
        let prompt = model.prompt(&messages, "question", "What").unwrap();
        // Default system turn + user turn + the open assistant turn.
        assert_eq!(prompt.iter().filter(|&&t| t == model.im_start).count(), 3);
        assert_eq!(prompt.iter().filter(|&&t| t == model.im_end).count(), 2);
        let text = model.vocab.tokenizer.decode(&prompt, false).unwrap();
        assert_eq!(
            text,
            format!(
                "<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\n\
                 a <|im_end|> b <|im_start|><|im_end|>\n<|im_start|>assistant\n\
                 {{\"question\": \"What"
            )
        );
        let bad = [("tool".to_owned(), "x".to_owned())];
        assert!(matches!(
            model.prompt(&bad, "question", ""),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn only_a_question_field_gets_an_interrogative_start() {
        assert!(["What", "How", "Why", "Which"].contains(&field_prefix("question", 7).as_str()));
        assert_eq!(field_prefix("question", 7), field_prefix("question", 7));
        assert_eq!(field_prefix("answer", 7), "");
    }

    #[test]
    fn derived_seeds_differ_per_field_and_from_the_seed() {
        let seeds = [derive_seed(1, 0), derive_seed(1, 1), derive_seed(2, 0)];
        assert!(!seeds.contains(&1));
        assert_ne!(seeds[0], seeds[1]);
        assert_ne!(seeds[0], seeds[2]);
        assert_eq!(derive_seed(1, 0), seeds[0]);
    }
}
