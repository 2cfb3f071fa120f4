//! Generates JSON objects from a document with the default local model and logs timings:
//!
//! ```text
//! cargo run -p seedstream-local --release --example generate -- [RUNS] [FIELD...] < document.txt
//! ```
//!
//! Fields default to `question answer`; each run uses the next seed. The cache directory is
//! resolved as the CLI does (`SEEDSTREAM_CACHE`, `XDG_CACHE_HOME`, `HOME`).

use std::io::Read;
use std::time::Instant;

use seedstream_local::{default_cache_dir, ensure_default_model, GenParams, LocalModel};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "seedstream_local=debug".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1).peekable();
    let runs: u64 = match args.peek().map(|a| a.parse()) {
        Some(Ok(n)) => {
            args.next();
            n
        }
        _ => 1,
    };
    let mut fields: Vec<String> = args.collect();
    if fields.is_empty() {
        fields = vec!["question".into(), "answer".into()];
    }
    let mut document = String::new();
    std::io::stdin().read_to_string(&mut document)?;

    let cache = default_cache_dir(
        std::env::var("SEEDSTREAM_CACHE").ok(),
        std::env::var("XDG_CACHE_HOME").ok(),
        std::env::var("HOME").ok(),
    );
    let mut model = LocalModel::load(&ensure_default_model(&cache)?)?;
    let messages = vec![(
        "user".to_owned(),
        format!(
            "Document:\n{document}\n\nWrite a JSON object about the document with the fields {}.",
            fields.join(", ")
        ),
    )];
    for seed in 1..=runs {
        let params = GenParams {
            temperature: 0.8,
            top_p: 0.95,
            max_tokens: 128,
            seed,
        };
        let started = Instant::now();
        let generation = model.generate_json(&messages, &fields, &params)?;
        println!("{}", generation.content);
        eprintln!(
            "seed {seed}: {} prompt + {} sampled tokens in {:.2}s",
            generation.prompt_tokens,
            generation.completion_tokens,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
