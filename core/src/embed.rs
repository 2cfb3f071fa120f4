//! Text embeddings behind one trait, for the semantic checks (grounding, relevance,
//! near-duplicates) and dataset diversity.
//!
//! - [`Embedder`]: unit vectors for a batch of texts. Implementations: the in-process
//!   all-MiniLM-L6-v2 (CPU, candle; in the validator crate, which owns the model) and
//!   [`RemoteEmbedder`], any OpenAI-compatible `/v1/embeddings` (TEI, vLLM, Ollama).
//! - [`EmbedCache`]: per job, by text hash; batches only the texts not seen before.
//!
//! Vectors are L2-normalised here whatever the server returns, so cosine similarity is a
//! dot product ([`cosine`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A model that maps texts to unit vectors.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The model's name (manifest, provenance).
    fn model(&self) -> &str;
    /// One unit vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// Cosine similarity of two unit vectors (their dot product), in [-1, 1].
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Scale to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// An OpenAI-compatible `/v1/embeddings` endpoint.
pub struct RemoteEmbedder {
    http: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
    max_retries: u32,
}

impl RemoteEmbedder {
    /// `base` is the server's base URL (`http://host:port`, with or without `/v1`).
    pub fn new(base: &str, model: &str, api_key: Option<String>, timeout: Duration) -> Self {
        let base = base.trim_end_matches('/');
        let url = if base.ends_with("/v1") {
            format!("{base}/embeddings")
        } else {
            format!("{base}/v1/embeddings")
        };
        Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("http client"),
            url,
            model: model.to_string(),
            api_key,
            max_retries: 5,
        }
    }

    async fn once(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, (bool, String)> {
        let body = serde_json::json!({ "model": self.model, "input": texts });
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).expect("request serialises"));
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.map_err(|e| (true, e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            let retry =
                status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error();
            return Err((retry, format!("HTTP {status}")));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| (true, format!("reading the reply: {e}")))?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| (true, format!("unreadable reply: {e}")))?;
        let data = v["data"]
            .as_array()
            .ok_or_else(|| (true, "reply has no data array".to_string()))?;
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (i, d) in data.iter().enumerate() {
            let at = d["index"].as_u64().map(|x| x as usize).unwrap_or(i);
            let e: Vec<f32> = d["embedding"]
                .as_array()
                .ok_or_else(|| (true, format!("data[{i}] has no embedding")))?
                .iter()
                .map(|x| x.as_f64().unwrap_or(0.0) as f32)
                .collect();
            if at < out.len() {
                out[at] = Some(e);
            }
        }
        out.into_iter()
            .enumerate()
            .map(|(i, e)| {
                let mut e = e.ok_or_else(|| (true, format!("no embedding for input {i}")))?;
                normalize(&mut e);
                Ok(e)
            })
            .collect()
    }
}

#[async_trait]
impl Embedder for RemoteEmbedder {
    fn model(&self) -> &str {
        &self.model
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut attempt = 0;
        loop {
            match self.once(texts).await {
                Ok(v) => return Ok(v),
                Err((retry, e)) if retry && attempt < self.max_retries => {
                    attempt += 1;
                    let wait = Duration::from_millis((100u64 << attempt.min(6)).min(10_000));
                    tracing::warn!(attempt, error = %e, url = %self.url, "embeddings: retrying");
                    tokio::time::sleep(wait).await;
                }
                Err((_, e)) => {
                    return Err(Error::Endpoint(format!("embeddings {}: {e}", self.url)));
                }
            }
        }
    }
}

/// Embeddings of one job, by sha256 of the text: each distinct text is embedded once,
/// misses are sent in batches of `batch`.
pub struct EmbedCache {
    inner: Arc<dyn Embedder>,
    batch: usize,
    seen: Mutex<HashMap<[u8; 32], Arc<[f32]>>>,
}

impl EmbedCache {
    /// A cache in front of `inner`.
    pub fn new(inner: Arc<dyn Embedder>, batch: usize) -> Self {
        Self {
            inner,
            batch: batch.max(1),
            seen: Mutex::default(),
        }
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        self.inner.model()
    }

    /// One vector per text, in order.
    pub async fn get(&self, texts: &[&str]) -> Result<Vec<Arc<[f32]>>> {
        let keys: Vec<[u8; 32]> = texts
            .iter()
            .map(|t| Sha256::digest(t.as_bytes()).into())
            .collect();
        let mut missing: Vec<(usize, [u8; 32])> = Vec::new();
        {
            let seen = self.seen.lock().expect("lock");
            let mut asked = std::collections::HashSet::new();
            for (i, k) in keys.iter().enumerate() {
                if !seen.contains_key(k) && asked.insert(*k) {
                    missing.push((i, *k));
                }
            }
        }
        // Similar lengths together: a batch is padded to its longest text.
        missing.sort_by_key(|(i, _)| texts[*i].len());
        for part in missing.chunks(self.batch) {
            let batch: Vec<String> = part.iter().map(|(i, _)| texts[*i].to_string()).collect();
            let vecs = self.inner.embed(&batch).await?;
            if vecs.len() != batch.len() {
                return Err(Error::Endpoint(format!(
                    "embeddings: {} vectors for {} texts",
                    vecs.len(),
                    batch.len()
                )));
            }
            let mut seen = self.seen.lock().expect("lock");
            for ((_, k), v) in part.iter().zip(vecs) {
                seen.insert(*k, v.into());
            }
        }
        let seen = self.seen.lock().expect("lock");
        Ok(keys.iter().map(|k| seen[k].clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts calls and texts; vectors from the text's bytes.
    struct Counting(
        std::sync::atomic::AtomicUsize,
        std::sync::atomic::AtomicUsize,
    );

    #[async_trait]
    impl Embedder for Counting {
        fn model(&self) -> &str {
            "counting"
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.1
                .fetch_add(texts.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(texts
                .iter()
                .map(|t| {
                    let mut v = vec![t.len() as f32, t.bytes().map(f32::from).sum()];
                    normalize(&mut v);
                    v
                })
                .collect())
        }
    }

    #[tokio::test]
    async fn each_distinct_text_is_embedded_once_in_batches() {
        let inner = Arc::new(Counting(Default::default(), Default::default()));
        let cache = EmbedCache::new(inner.clone(), 2);
        let a = cache.get(&["x", "y", "x", "zz", "w"]).await.unwrap();
        assert_eq!(a.len(), 5);
        assert_eq!(a[0], a[2]);
        assert_eq!(
            inner.1.load(std::sync::atomic::Ordering::Relaxed),
            4,
            "x asked once"
        );
        assert_eq!(
            inner.0.load(std::sync::atomic::Ordering::Relaxed),
            2,
            "batches of 2"
        );
        let b = cache.get(&["zz", "x"]).await.unwrap();
        assert_eq!(
            inner.1.load(std::sync::atomic::Ordering::Relaxed),
            4,
            "all cached"
        );
        assert_eq!(b[1], a[0]);
        assert!((cosine(&a[0], &a[0]) - 1.0).abs() < 1e-6);
    }
}
