//! `seedstream score`: check a dataset made elsewhere with a job's validators.
//!
//! Input: JSONL, one record per line: the task fields, an optional `id` (kept; else
//! `line-N`), and either `source` {`document`: a source path as written in the job (or its
//! file name), `chunk`: the chunk's index within that document} or `context` (the text
//! the record is grounded in). Per-record checks run on every record (semantic ones in
//! batches when on); duplicates and near-duplicates are decided in line order, so the
//! first of a group is kept. Output: the same three files as a run.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use seedstream_core::dedup::{scope_key, DedupIndex, Signature};
use seedstream_core::record::Reason;
use seedstream_core::spec::Job;
use seedstream_core::state::{RedbState, StateStore};
use seedstream_core::{Error, Result};
use seedstream_validator::judge::judge_for;
use seedstream_validator::models::{self, ModelChecks};
use seedstream_validator::semantic::{embedder_for, EmbedEnv, Semantic};
use seedstream_validator::Validator;

use seedstream_coordinator::assemble::{write_atomic, AtomicFile};
use seedstream_coordinator::diversity::Diversity;

/// Records scored together (one embedding call for their texts).
const BATCH: usize = 64;

/// Characters (whitespace squashed) a context must start with to be placed in a job chunk.
const CONTEXT_KEY_CHARS: usize = 40;

/// The first [`CONTEXT_KEY_CHARS`] characters of `s` from its first non-space, runs of
/// whitespace read as one space; `None` when `s` has fewer.
fn context_key(s: &str) -> Option<String> {
    let mut key = String::with_capacity(CONTEXT_KEY_CHARS * 2);
    let mut n = 0;
    for w in s.split_whitespace() {
        for c in (if n == 0 { "" } else { " " }).chars().chain(w.chars()) {
            if n == CONTEXT_KEY_CHARS {
                return Some(key);
            }
            key.push(c);
            n += 1;
        }
    }
    (n == CONTEXT_KEY_CHARS).then_some(key)
}

/// Where the job's chunks' lines start, for placing a record's `context` in a chunk (the
/// manifest's coverage): the key of every line start of every chunk, first chunk first.
fn chunk_line_keys(job: &Job) -> HashMap<String, usize> {
    let mut keys = HashMap::new();
    for (i, c) in job.chunks.iter().enumerate() {
        let starts = std::iter::once(0).chain(c.text.match_indices('\n').map(|(at, _)| at + 1));
        for at in starts {
            if let Some(k) = context_key(&c.text[at..]) {
                keys.entry(k).or_insert(i);
            }
        }
    }
    keys
}

/// One input record, parsed.
struct Item {
    line: usize,
    id: String,
    fields: Map<String, Value>,
    /// The original object (written back out with scores and reasons).
    original: Map<String, Value>,
    /// Index into `Job::chunks`, when the record names one.
    chunk: Option<usize>,
    context: Option<String>,
    /// A context record's own `document` string field (for
    /// `validate.semantic.near_duplicate_scope`; a `source` record's document is its
    /// chunk's).
    document: Option<String>,
}

/// What `score` reports.
#[derive(Debug)]
pub struct ScoreOutcome {
    /// The manifest as written.
    pub manifest: Value,
    /// Where the files are.
    pub out_dir: PathBuf,
}

fn parse(job: &Job, input: &Path, text: &str) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let at = format!("line {line}");
        let v: Value = serde_json::from_str(raw)
            .map_err(|e| Error::bad_input(input, &at, format!("invalid JSON: {e}")))?;
        let Value::Object(obj) = v else {
            return Err(Error::bad_input(input, &at, "expected a JSON object"));
        };
        let id = match obj.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(x)) => x.to_string(),
            None | Some(Value::Null) => format!("line-{line}"),
            Some(other) => {
                return Err(Error::bad_input(
                    input,
                    format!("{at}: id"),
                    format!("expected a string or a number, found {other}"),
                ))
            }
        };
        let mut fields = Map::new();
        for f in &job.spec.task.fields {
            if let Some(x) = obj.get(f) {
                fields.insert(f.clone(), x.clone());
            }
        }
        let (chunk, context) = match (obj.get("source"), obj.get("context")) {
            (_, Some(Value::String(c))) if !c.trim().is_empty() => (None, Some(c.clone())),
            (Some(Value::Object(src)), _) => {
                let doc = src.get("document").and_then(Value::as_str).ok_or_else(|| {
                    Error::bad_input(
                        input,
                        format!("{at}: source.document"),
                        "expected the document's path as written in the job",
                    )
                })?;
                let d = job
                    .sources
                    .iter()
                    .position(|s| {
                        s.path == doc
                            || Path::new(&s.path).file_name().and_then(|n| n.to_str()) == Some(doc)
                    })
                    .ok_or_else(|| {
                        let known: Vec<&str> =
                            job.sources.iter().map(|s| s.path.as_str()).collect();
                        Error::bad_input(
                            input,
                            format!("{at}: source.document"),
                            format!("{doc:?} is not a source of the job (sources: {known:?})"),
                        )
                    })?;
                let idx = src.get("chunk").and_then(Value::as_u64).ok_or_else(|| {
                    Error::bad_input(
                        input,
                        format!("{at}: source.chunk"),
                        "expected the chunk's index within the document",
                    )
                })?;
                let chunks: Vec<usize> = (0..job.chunks.len())
                    .filter(|&c| job.chunks[c].doc as usize == d)
                    .collect();
                let c = chunks
                    .iter()
                    .copied()
                    .find(|&c| job.chunks[c].index as u64 == idx)
                    .ok_or_else(|| {
                        Error::bad_input(
                            input,
                            format!("{at}: source.chunk"),
                            format!(
                                "{doc} has chunks 0 to {}, found {idx}",
                                chunks.len().saturating_sub(1)
                            ),
                        )
                    })?;
                (Some(c), None)
            }
            _ => {
                return Err(Error::bad_input(
                    input,
                    &at,
                    "expected `source` {document, chunk} or a non-empty `context`",
                ))
            }
        };
        let document = match obj.get("document") {
            Some(Value::String(d)) if !d.is_empty() && context.is_some() => Some(d.clone()),
            _ => None,
        };
        items.push(Item {
            line,
            id,
            fields,
            original: obj,
            chunk,
            context,
            document,
        });
    }
    Ok(items)
}

/// Score the records of `input` against `job`'s sources with its validators; write
/// `samples.jsonl`, `rejected.jsonl` and `manifest.json` to `out`.
pub async fn run(job: Arc<Job>, input: &Path, out: &Path, env: &EmbedEnv) -> Result<ScoreOutcome> {
    let started = Instant::now();
    if job.spec.task.kind != seedstream_core::spec::TaskKind::Qa {
        // Records of other shapes are validated by role in `run`; scoring a dataset made
        // elsewhere reads question/answer records only so far.
        return Err(Error::bad_input(
            &job.file,
            "task.kind",
            format!(
                "seedstream score checks kind qa records (question/answer fields); kind {} is not supported by score yet",
                job.spec.task.kind.as_str()
            ),
        ));
    }
    let text = std::fs::read_to_string(input)
        .map_err(|e| Error::bad_input(input, "(file)", format!("cannot read: {e}")))?;
    let text = seedstream_core::spec::normalize_text(text);
    let items = parse(&job, input, &text)?;
    let mut seen_ids: HashMap<&str, usize> = HashMap::new();
    for it in &items {
        if let Some(first) = seen_ids.insert(&it.id, it.line) {
            return Err(Error::bad_input(
                input,
                format!("line {}: id", it.line),
                format!("id {:?} is also on line {first}: ids must be unique", it.id),
            ));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let spec = &job.spec.validate;
    let fields = &job.spec.task.fields;
    let validator = Validator::new(spec, fields);
    let semantic = embedder_for(&spec.semantic, env)
        .await?
        .map(|e| Semantic::new(e, &spec.semantic, fields));
    // The judge's verdicts are cached beside the output, so scoring again pays nothing.
    let state_cancel = tokio_util::sync::CancellationToken::new();
    let _stop_state = state_cancel.clone().drop_guard();
    let state = if spec.judge.is_off() {
        None
    } else {
        Some(RedbState::open(
            &out.join(".seedstream").join("cache.redb"),
            std::time::Duration::from_millis(500),
            state_cancel.clone(),
        )?)
    };
    let judge = match &state {
        Some(st) => judge_for(&spec.judge, fields, env, st.clone())?,
        None => None,
    };
    let checks = ModelChecks {
        semantic: semantic.as_ref(),
        judge: judge.as_deref(),
    };
    let mut dedup = DedupIndex::new(spec);
    let mut diversity = Diversity::new(job.chunks.len());
    // A `context` drawn from the sources (it starts where a line of a chunk starts) counts
    // toward that chunk's coverage; it is still scored against its own text. Only read
    // when some record gives a context.
    let line_keys = if items.iter().any(|it| it.context.is_some()) {
        chunk_line_keys(&job)
    } else {
        HashMap::new()
    };
    let mut samples = AtomicFile::create(&out.join("samples.jsonl"))?;
    let mut rejected = AtomicFile::create(&out.join("rejected.jsonl"))?;
    // Prepared once per distinct chunk (a job chunk, or a record's context).
    let mut prepared: HashMap<&str, seedstream_validator::PreparedChunk> = HashMap::new();
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut scores_h: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let (mut accepted, mut rejected_n) = (0u64, 0u64);
    let mut line_buf = Vec::with_capacity(4096);

    for batch in items.chunks(BATCH) {
        let chunk_texts: Vec<&str> = batch
            .iter()
            .map(|it| match (&it.context, it.chunk) {
                (Some(c), _) => c.as_str(),
                (None, Some(c)) => job.chunks[c].text.as_str(),
                (None, None) => "",
            })
            .collect();
        let mut scored: Vec<_> = batch
            .iter()
            .zip(&chunk_texts)
            .map(|(it, ch)| {
                let p = prepared
                    .entry(*ch)
                    .or_insert_with(|| validator.prepare_chunk(ch));
                validator.score_prepared(&it.fields, p)
            })
            .collect();
        let mut embeddings: Vec<(Vec<f32>, Vec<f32>)> = vec![Default::default(); batch.len()];
        if checks.any() {
            let items: Vec<models::Item<'_>> = batch
                .iter()
                .zip(&chunk_texts)
                .zip(&scored)
                .map(|((it, ch), s)| (&it.fields, *ch, &s.reasons[..]))
                .collect();
            let found = checks.run(&items).await?;
            drop(items);
            for ((f, s), e) in found.into_iter().zip(&mut scored).zip(&mut embeddings) {
                *e = checks.apply(f, &mut s.scores, &mut s.reasons);
            }
        }
        for (((it, s), (emb, answer_emb)), chunk) in
            batch.iter().zip(scored).zip(embeddings).zip(&chunk_texts)
        {
            let mut reasons: Vec<Reason> = s.reasons;
            // Every record is checked against the kept ones, so a rejected record also
            // names the record it repeats; only an accepted one is kept.
            let sig = Signature {
                exact: s.signature.exact,
                minhash: s.signature.minhash,
                embedding: emb.clone(),
                answer_embedding: answer_emb,
                numbers: s.signature.numbers,
            };
            // The document: a job chunk's source, else the record's `document` field,
            // else its context.
            let document = match (it.chunk, &it.document) {
                (Some(c), _) => job.sources[job.chunks[c].doc as usize].path.as_str(),
                (None, Some(d)) => d.as_str(),
                (None, None) => chunk,
            };
            let scope = scope_key(spec.semantic.near_duplicate_scope, document, chunk);
            match dedup.check(&sig, scope) {
                Some(r) => reasons.push(r),
                None if reasons.is_empty() => dedup.insert(&it.id, &sig, scope),
                None => {}
            }
            let mut rec = it.original.clone();
            rec.insert("id".into(), json!(it.id));
            rec.insert("scores".into(), json!(s.scores));
            if reasons.is_empty() {
                accepted += 1;
                seedstream_coordinator::manifest::record_scores(&mut scores_h, &s.scores);
                let text: Vec<&str> = fields
                    .iter()
                    .filter_map(|f| it.fields.get(f).and_then(Value::as_str))
                    .collect();
                let chunk = it.chunk.or_else(|| {
                    let key = context_key(it.context.as_deref()?)?;
                    line_keys.get(&key).copied()
                });
                diversity.add(&text.join("\n"), chunk, &emb);
            } else {
                rejected_n += 1;
                for r in &reasons {
                    *by_reason.entry(r.code.clone()).or_default() += 1;
                }
                seedstream_core::record::order_reasons(&mut reasons);
                rec.insert("reasons".into(), json!(reasons));
            }
            line_buf.clear();
            serde_json::to_writer(&mut line_buf, &Value::Object(rec)).expect("record serialises");
            line_buf.push(b'\n');
            if reasons.is_empty() {
                samples.write(&line_buf)?;
            } else {
                rejected.write(&line_buf)?;
            }
        }
    }
    samples.commit()?;
    rejected.commit()?;
    if let Some(st) = &state {
        st.flush().await?;
    }
    let manifest = json!({
        "manifest_version": seedstream_coordinator::manifest::MANIFEST_VERSION,
        "status": "scored",
        "input": input.display().to_string(),
        "job": {
            "id": job.id,
            "name": job.spec.name,
            "fingerprint": job.fingerprint,
            "file": job.file.display().to_string(),
            "sources": job.sources.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
            "chunks": job.chunks.len(),
        },
        "versions": { "seedstream": env!("CARGO_PKG_VERSION") },
        "validation": {
            "semantic": spec.semantic.backend,
            "embedding_model": semantic.as_ref().map(|s| s.model().to_string()),
            "judge": judge.as_ref().map(|_| json!({
                "model": spec.judge.model,
                "min_faithfulness": spec.judge.min_faithfulness,
                "min_relevance": spec.judge.min_relevance,
            })),
        },
        "counts": {
            "records": items.len(),
            "accepted": accepted,
            "rejected": rejected_n,
            "by_reason": by_reason,
        },
        "scores": seedstream_coordinator::manifest::score_summaries(&scores_h),
        "diversity": diversity.report(),
        "judge": judge.as_ref().map(|j| j.stats()),
        "wall_ms": started.elapsed().as_millis() as u64,
    });
    let mut bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    bytes.push(b'\n');
    write_atomic(&out.join("manifest.json"), &bytes)?;
    Ok(ScoreOutcome {
        manifest,
        out_dir: out.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_key_is_its_first_characters_with_whitespace_squashed() {
        let k = context_key("  Coral reefs cover\n less than  one percent of the ocean floor.")
            .unwrap();
        assert_eq!(k, "Coral reefs cover less than one percent ");
        assert_eq!(k.chars().count(), CONTEXT_KEY_CHARS);
        // The same words, wrapped differently, give the same key.
        assert_eq!(
            context_key("Coral reefs\ncover less than one percent of the ocean floor"),
            Some(k)
        );
        assert_eq!(context_key("Too short to place."), None);
    }
}
