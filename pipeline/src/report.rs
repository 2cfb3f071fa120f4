//! `seedstream report DIR`: a self-contained HTML page (charts as inline SVG drawn with
//! plotters) and a short terminal summary of a dataset written by `run` or `score`:
//! counts, rejection reasons with examples, score histograms (accepted vs rejected),
//! diversity, and how records spread over the source chunks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde_json::Value;

use seedstream_core::{Error, Result};

/// Examples shown per rejection reason.
const EXAMPLES: usize = 3;
/// Histogram bins over [0, 1].
const BINS: usize = 20;

/// A built report.
#[derive(Debug)]
pub struct Report {
    /// The HTML page.
    pub html: String,
    /// A few lines for the terminal.
    pub summary: String,
    /// Charts drawn.
    pub charts: usize,
}

fn read_jsonl(path: &Path) -> Result<Vec<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| {
                Error::bad_input(
                    path,
                    format!("line {}", n + 1),
                    format!("invalid JSON: {e}"),
                )
            })
        })
        .collect()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn short(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

fn chart_err(e: impl std::fmt::Display) -> Error {
    Error::State(format!("drawing a chart: {e}"))
}

/// Vertical bars: one per label.
fn bar_chart(title: &str, labels: &[String], values: &[u64], color: RGBColor) -> Result<String> {
    let mut svg = String::new();
    {
        // Names fit under their bars up to a dozen of them; past that they turn.
        let rotate = labels.len() > 12 && labels.iter().any(|l| l.len() > 3);
        let per = if rotate {
            24
        } else {
            labels
                .iter()
                .map(|l| l.len() as u32 * 8 + 16)
                .max()
                .unwrap_or(40)
                .max(24)
        };
        let width = (120 + per * labels.len() as u32).clamp(480, 1100);
        let root = SVGBackend::with_string(&mut svg, (width, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        let max = values.iter().copied().max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(if labels.iter().any(|l| l.len() > 6) {
                90
            } else {
                30
            })
            .y_label_area_size(50)
            .build_cartesian_2d((0..labels.len()).into_segmented(), 0u64..max + max / 10 + 1)
            .map_err(chart_err)?;
        let lbl = labels.to_vec();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(labels.len().min(40))
            .x_label_formatter(&move |x| match x {
                SegmentValue::CenterOf(i) => lbl.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_label_style(("sans-serif", 12).into_font().transform(
                if labels.iter().any(|l| l.len() > 6) {
                    FontTransform::Rotate90
                } else {
                    FontTransform::None
                },
            ))
            .y_desc("records")
            .draw()
            .map_err(chart_err)?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(color.filled())
                    .margin(4)
                    .data(values.iter().enumerate().map(|(i, v)| (i, *v))),
            )
            .map_err(chart_err)?;
        root.present().map_err(chart_err)?;
    }
    Ok(svg)
}

/// Two overlaid histograms over [0, 1]: accepted and rejected.
fn score_chart(name: &str, accepted: &[f64], rejected: &[f64]) -> Result<String> {
    let bin = |xs: &[f64]| {
        let mut b = [0u64; BINS];
        for x in xs {
            let i = ((x.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1);
            b[i] += 1;
        }
        b
    };
    let (a, r) = (bin(accepted), bin(rejected));
    let max = a.iter().chain(&r).copied().max().unwrap_or(1).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (520, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("score: {name}"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(0f64..1f64, 0u64..max + max / 10 + 1)
            .map_err(chart_err)?;
        chart
            .configure_mesh()
            .x_labels(6)
            .y_desc("records")
            .draw()
            .map_err(chart_err)?;
        let w = 1.0 / BINS as f64;
        for (series, color, label) in [
            (&a, GREEN.mix(0.6), "accepted"),
            (&r, RED.mix(0.45), "rejected"),
        ] {
            chart
                .draw_series(
                    series
                        .iter()
                        .enumerate()
                        .filter(|(_, &n)| n > 0)
                        .map(|(i, &n)| {
                            let x0 = i as f64 * w;
                            Rectangle::new([(x0 + w * 0.05, 0), (x0 + w * 0.95, n)], color.filled())
                        }),
                )
                .map_err(chart_err)?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(chart_err)?;
        root.present().map_err(chart_err)?;
    }
    Ok(svg)
}

/// The text fields of a record worth showing (task fields come first in each record).
fn preview(rec: &Value) -> String {
    let Some(obj) = rec.as_object() else {
        return String::new();
    };
    let skip = [
        "id",
        "source",
        "scores",
        "provenance",
        "reasons",
        "context",
        "document",
        "label",
        "note",
        "dup_of",
    ];
    obj.iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            v.as_str()
                .map(|s| format!("<b>{}</b>: {}", esc(k), esc(&short(s, 220))))
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// Build the report of the dataset in `dir`.
pub fn build(dir: &Path) -> Result<Report> {
    let mpath = dir.join("manifest.json");
    let manifest: Value = serde_json::from_slice(&std::fs::read(&mpath).map_err(|e| {
        Error::bad_input(
            &mpath,
            "(file)",
            format!("cannot read: {e} (is this a dataset directory?)"),
        )
    })?)
    .map_err(|e| Error::bad_input(&mpath, "(document)", format!("invalid JSON: {e}")))?;
    let samples = read_jsonl(&dir.join("samples.jsonl"))?;
    let rejected = read_jsonl(&dir.join("rejected.jsonl"))?;

    // Reasons (a record may carry several; the first is the one shown first).
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut examples: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for r in &rejected {
        for reason in r["reasons"].as_array().into_iter().flatten() {
            let code = reason["code"].as_str().unwrap_or("unknown").to_string();
            *reasons.entry(code.clone()).or_default() += 1;
            let ex = examples.entry(code).or_default();
            if ex.len() < EXAMPLES {
                ex.push((
                    r["id"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| r["id"].to_string()),
                    preview(r),
                    reason["detail"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    let mut by_count: Vec<(&String, &u64)> = reasons.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));

    // Scores.
    let mut scores: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for (recs, acc) in [(&samples, true), (&rejected, false)] {
        for r in recs.iter() {
            for (k, v) in r["scores"].as_object().into_iter().flatten() {
                if let Some(x) = v.as_f64() {
                    let e = scores.entry(k.clone()).or_default();
                    if acc {
                        e.0.push(x)
                    } else {
                        e.1.push(x)
                    }
                }
            }
        }
    }

    let mut charts = 0;
    let mut html = String::with_capacity(64 * 1024);
    let job = &manifest["job"];
    let title = format!(
        "seedstream report: {}",
        job["id"].as_str().unwrap_or("dataset")
    );
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>\
body{{font-family:sans-serif;margin:2em auto;max-width:1150px;color:#222}}\
table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}\
th{{background:#f3f3f3}}.num{{text-align:right}}.charts{{display:flex;flex-wrap:wrap;gap:12px}}.detail{{color:#555;font-size:90%}}\
figure{{margin:0}}</style></head><body>",
        esc(&title)
    );
    let _ = write!(html, "<h1>{}</h1>", esc(&title));
    let total = samples.len() + rejected.len();
    let _ = write!(
        html,
        "<h2>Counts</h2><table><tr><th>records</th><th>accepted</th><th>rejected</th><th>status</th><th>job fingerprint</th><th>semantic checks</th><th>LLM judge</th></tr>\
<tr><td class=num>{total}</td><td class=num>{}</td><td class=num>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr></table>",
        samples.len(),
        rejected.len(),
        esc(manifest["status"].as_str().unwrap_or("")),
        esc(&short(job["fingerprint"].as_str().unwrap_or(""), 16)),
        esc(&manifest["validation"]["embedding_model"].as_str().map(str::to_string).unwrap_or_else(|| "off (lexical only)".into())),
        esc(&match &manifest["validation"]["judge"] {
            serde_json::Value::Object(j) => format!(
                "{} (faithfulness ≥ {}/5, relevance ≥ {}/5)",
                j.get("model").and_then(|m| m.as_str()).unwrap_or("?"),
                j.get("min_faithfulness").unwrap_or(&serde_json::Value::Null),
                j.get("min_relevance").unwrap_or(&serde_json::Value::Null)
            ),
            _ => "off".to_string(),
        }),
    );

    // What the model endpoint and the judge were asked, and what had to be retried (the
    // manifest's counters; absent for the local model, and in cluster mode, where each
    // process counts them on its /metrics).
    let callers: Vec<(&str, &serde_json::Map<String, serde_json::Value>)> =
        [("model endpoint", "endpoint"), ("LLM judge", "judge")]
            .into_iter()
            .filter_map(|(name, key)| match &manifest[key] {
                serde_json::Value::Object(m) if m.contains_key("requests") => Some((name, m)),
                _ => None,
            })
            .collect();
    const COUNTERS: [(&str, &str); 8] = [
        ("requests", "requests"),
        ("retries_429", "429"),
        ("retries_5xx", "5xx"),
        ("retries_timeout", "timeout"),
        ("retries_connect", "connect"),
        ("retries_unparseable", "unparseable"),
        ("failures", "failed"),
        ("cache_hits", "cache hits"),
    ];
    let count = |m: &serde_json::Map<String, serde_json::Value>, k: &str| {
        m.get(k).and_then(serde_json::Value::as_u64)
    };
    if !callers.is_empty() {
        html.push_str("<h2>Requests and retries</h2><table><tr><th></th>");
        for (_, head) in COUNTERS {
            let _ = write!(html, "<th>{head}</th>");
        }
        html.push_str("</tr>");
        for (name, m) in &callers {
            let _ = write!(html, "<tr><td>{name}</td>");
            for (k, _) in COUNTERS {
                match count(m, k) {
                    Some(v) => {
                        let _ = write!(html, "<td class=num>{v}</td>");
                    }
                    None => html.push_str("<td></td>"),
                }
            }
            html.push_str("</tr>");
        }
        html.push_str("</table>");
    }

    html.push_str("<h2>Rejection reasons</h2>");
    if by_count.is_empty() {
        html.push_str("<p>No record was rejected.</p>");
    } else {
        let labels: Vec<String> = by_count.iter().map(|(k, _)| (*k).clone()).collect();
        let values: Vec<u64> = by_count.iter().map(|(_, v)| **v).collect();
        html.push_str("<figure>");
        html.push_str(&bar_chart(
            "rejections by reason",
            &labels,
            &values,
            RGBColor(200, 80, 60),
        )?);
        html.push_str("</figure>");
        charts += 1;
        html.push_str("<table><tr><th>reason</th><th>records</th><th>examples</th></tr>");
        for (code, n) in &by_count {
            let _ = write!(html, "<tr><td>{}</td><td class=num>{n}</td><td>", esc(code));
            for (id, text, detail) in examples.get(*code).into_iter().flatten() {
                let _ = write!(
                    html,
                    "<p><code>{}</code><br>{text}<br><span class=detail>{}</span></p>",
                    esc(id),
                    esc(detail)
                );
            }
            html.push_str("</td></tr>");
        }
        html.push_str("</table>");
    }

    html.push_str("<h2>Scores</h2><p>Each score in [0, 1]; green: accepted records, red: rejected.</p><div class=charts>");
    for (k, (a, r)) in &scores {
        html.push_str("<figure>");
        html.push_str(&score_chart(k, a, r)?);
        html.push_str("</figure>");
        charts += 1;
    }
    html.push_str("</div>");

    let d = &manifest["diversity"];
    html.push_str("<h2>Diversity</h2>");
    if d.is_object() {
        let f = |v: &Value| match v {
            Value::Null => "n/a".to_string(),
            v => v.to_string(),
        };
        let _ = write!(
            html,
            "<table><tr><th>distinct-1</th><th>distinct-2</th><th>mean pairwise similarity</th><th>chunks covered</th><th>records per chunk (min / mean / max)</th><th>imbalance (Gini)</th></tr>\
<tr><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{} of {} ({})</td><td class=num>{} / {} / {}</td><td class=num>{}</td></tr></table>",
            f(&d["distinct_1"]), f(&d["distinct_2"]), f(&d["mean_pairwise_similarity"]),
            f(&d["chunks_covered"]), f(&d["chunks"]), f(&d["chunk_coverage"]),
            f(&d["records_per_chunk"]["min"]), f(&d["records_per_chunk"]["mean"]), f(&d["records_per_chunk"]["max"]),
            f(&d["records_per_chunk"]["gini"]),
        );
        if let Some(n) = d["records_unplaced"].as_u64().filter(|n| *n > 0) {
            let _ = write!(
                html,
                "<p class=detail>Accepted records with a context not found in the sources (not counted in coverage): {n}.</p>"
            );
        }
        let counts: Vec<u64> = d["records_per_chunk"]["counts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        if !counts.is_empty() {
            let labels: Vec<String> = (0..counts.len()).map(|i| i.to_string()).collect();
            html.push_str("<h3>Accepted records per source chunk</h3><figure>");
            html.push_str(&bar_chart(
                "accepted records per chunk (chunk index)",
                &labels,
                &counts,
                RGBColor(60, 110, 190),
            )?);
            html.push_str("</figure>");
            charts += 1;
        }
    } else {
        html.push_str("<p>The manifest has no diversity section.</p>");
    }
    let _ = writeln!(
        html,
        "<p class=detail>Made by seedstream {} from {}.</p></body></html>",
        env!("CARGO_PKG_VERSION"),
        esc(&dir.display().to_string())
    );

    let mut summary = format!(
        "{}: {total} records, {} accepted, {} rejected\n",
        job["id"].as_str().unwrap_or("dataset"),
        samples.len(),
        rejected.len()
    );
    if !by_count.is_empty() {
        let top: Vec<String> = by_count
            .iter()
            .take(6)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(summary, "rejections: {}", top.join(", "));
    }
    let means: Vec<String> = scores
        .iter()
        .filter(|(_, (a, _))| !a.is_empty())
        .map(|(k, (a, _))| format!("{k} {:.2}", a.iter().sum::<f64>() / a.len() as f64))
        .collect();
    if !means.is_empty() {
        let _ = writeln!(
            summary,
            "mean scores of accepted records: {}",
            means.join(", ")
        );
    }
    for (name, m) in &callers {
        let retries: Vec<String> = COUNTERS[1..6]
            .iter()
            .filter_map(|(k, head)| {
                count(m, k)
                    .filter(|v| *v > 0)
                    .map(|v| format!("{head} {v}"))
            })
            .collect();
        let _ = writeln!(
            summary,
            "{name}: {} requests, retries: {}, {} failed",
            count(m, "requests").unwrap_or(0),
            if retries.is_empty() {
                "none".to_string()
            } else {
                retries.join(", ")
            },
            count(m, "failures").unwrap_or(0)
        );
    }
    if d.is_object() {
        let _ = writeln!(
            summary,
            "diversity: distinct-1 {}, distinct-2 {}, {} of {} chunks covered",
            d["distinct_1"], d["distinct_2"], d["chunks_covered"], d["chunks"]
        );
        if let Some(n) = d["records_unplaced"].as_u64().filter(|n| *n > 0) {
            let _ = writeln!(
                summary,
                "accepted records with a context not found in the sources (not counted in coverage): {n}"
            );
        }
    }
    Ok(Report {
        html,
        summary,
        charts,
    })
}

/// Build the report of `dir` and write it to `out` (default `<dir>/report.html`).
pub fn write(dir: &Path, out: Option<PathBuf>) -> Result<(Report, PathBuf)> {
    let report = build(dir)?;
    let path = out.unwrap_or_else(|| dir.join("report.html"));
    seedstream_coordinator::assemble::write_atomic(&path, report.html.as_bytes())?;
    Ok((report, path))
}
