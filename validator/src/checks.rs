//! The per-record checks, each behind the [`Check`] trait.
//!
//! A check reads a [`Record`] (the task fields, tokenised once, with their personal-data
//! matches, and the prepared source chunk), writes its score under its name and pushes a
//! [`Reason`] when the record fails it. New scorers (embedding similarity, an LLM judge)
//! are added by implementing [`Check`] and listing them in [`crate::Validator::new`].

use seedstream_core::record::{codes, Reason};
use serde_json::Value;

use crate::pii::PiiMatch;
use crate::text::{Kind, Token};
use crate::{PreparedChunk, Scored};

/// Numbers written in words count in an answer from three up ("four gondolas"): "one" is
/// mostly a pronoun ("one of the locks") and "two" often counts what the source lists
/// ("the two tropics").
const ANSWER_WORD_NUMBERS_FROM: u64 = 3;

/// One record as the checks see it.
pub(crate) struct Record<'a> {
    /// Task field names, in order.
    pub(crate) names: &'a [String],
    /// Each task field's JSON value, `None` when absent.
    pub(crate) values: Vec<Option<&'a Value>>,
    /// Each task field's tokens (empty when not a string).
    pub(crate) tokens: Vec<Vec<Token>>,
    /// Each task field's personal-data matches.
    pub(crate) pii: Vec<Vec<PiiMatch>>,
    /// Index of the question field (`question`, else the first field).
    pub(crate) question: Option<usize>,
    /// Index of the answer field (`answer`, else the last field).
    pub(crate) answer: Option<usize>,
    /// The source chunk.
    pub(crate) chunk: &'a PreparedChunk,
}

impl Record<'_> {
    /// The text of field `f`, when it is a string.
    pub(crate) fn text(&self, f: usize) -> Option<&str> {
        self.values[f].and_then(Value::as_str)
    }

    /// Tokens of field `f` outside personal-data spans: an email or a phone number is
    /// reported once, as PII, not again as unsupported words or invented numbers.
    pub(crate) fn clean_tokens(&self, f: usize) -> impl Iterator<Item = &Token> {
        let pii = &self.pii[f];
        self.tokens[f]
            .iter()
            .filter(move |t| pii.iter().all(|m| t.end <= m.start || t.start >= m.end))
    }

    /// (supported, total) content words of field `f` found in the chunk. A number the
    /// chunk also gives counts as a supported word ("From 1,140 to 212, a drop of 928."
    /// is about its source); one it does not is left to the invented-number check.
    fn support(&self, f: usize) -> (usize, usize) {
        let mut total = 0;
        let mut hit = 0;
        for t in self.clean_tokens(f) {
            if t.content {
                total += 1;
                if self.chunk.has_stem(t.stem) {
                    hit += 1;
                }
            } else if t.kind == Kind::Number && self.chunk.has_number(t.raw) {
                total += 1;
                hit += 1;
            }
        }
        (hit, total)
    }
}

/// A per-record check.
pub(crate) trait Check: Send + Sync {
    /// The score's key in [`Scored::scores`].
    fn name(&self) -> &'static str;
    /// Score `rec` into `out` (its score under [`Check::name`], plus reasons on failure).
    fn check(&self, rec: &Record<'_>, out: &mut Scored);
}

/// Every task field present, a string, with a sane trimmed length.
pub(crate) struct Format {
    pub(crate) min_chars: usize,
    pub(crate) max_chars: usize,
}

impl Check for Format {
    fn name(&self) -> &'static str {
        "format"
    }

    fn check(&self, rec: &Record<'_>, out: &mut Scored) {
        let mut problems = Vec::new();
        for (f, name) in rec.names.iter().enumerate() {
            match rec.values[f] {
                None => problems.push(format!("{name}: missing")),
                Some(Value::String(s)) => {
                    let n = s.trim().chars().count();
                    if n < self.min_chars {
                        problems.push(format!(
                            "{name}: {n} chars, expected at least {}",
                            self.min_chars
                        ));
                    } else if n > self.max_chars {
                        problems.push(format!(
                            "{name}: {n} chars, expected at most {}",
                            self.max_chars
                        ));
                    }
                }
                Some(other) => problems.push(format!(
                    "{name}: expected a string, found {}",
                    json_kind(other)
                )),
            }
        }
        // A QA pair: the question asks something, and the answer does not just repeat it.
        let text = |n: &str| {
            let i = rec.names.iter().position(|x| x == n)?;
            rec.values[i].and_then(Value::as_str)
        };
        if let (Some(q), Some(a)) = (text("question"), text("answer")) {
            let squash = |s: &str| -> String {
                s.chars()
                    .filter(|c| c.is_alphanumeric())
                    .flat_map(char::to_lowercase)
                    .collect()
            };
            if !q.trim_end().ends_with('?') {
                problems.push("question: not a question (expected it to end with '?')".to_string());
            }
            if !a.trim().is_empty() && squash(q) == squash(a) {
                problems.push("answer: repeats the question".to_string());
            }
        }
        let total = rec.names.len().max(1);
        out.scores.insert(
            self.name().into(),
            (total - problems.len().min(total)) as f64 / total as f64,
        );
        if !problems.is_empty() {
            out.reasons
                .push(Reason::new(codes::FORMAT, problems.join("; ")));
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The answer's content words (and numbers) occur in the source chunk.
pub(crate) struct Faithfulness {
    pub(crate) min_score: f64,
    pub(crate) check_numbers: bool,
    pub(crate) check_contradictions: bool,
}

impl Check for Faithfulness {
    fn name(&self) -> &'static str {
        "faithfulness"
    }

    fn check(&self, rec: &Record<'_>, out: &mut Scored) {
        let Some((a, text)) = rec.answer.and_then(|a| rec.text(a).map(|t| (a, t))) else {
            // A missing answer is a format failure, reported once, by `Format`.
            out.scores.insert(self.name().into(), 0.0);
            return;
        };
        let (hit, total) = rec.support(a);
        // An answer without content words ("Yes.") claims nothing the source could contradict.
        let score = if total == 0 {
            1.0
        } else {
            hit as f64 / total as f64
        };
        out.scores.insert(self.name().into(), score);
        if score < self.min_score {
            let mut missing: Vec<String> = Vec::new();
            for t in rec
                .clean_tokens(a)
                .filter(|t| t.content && !rec.chunk.has_stem(t.stem))
            {
                let w = text[t.start..t.end].to_lowercase();
                if !missing.contains(&w) {
                    missing.push(w);
                }
                if missing.len() == 8 {
                    break;
                }
            }
            out.reasons.push(Reason::new(
                codes::UNFAITHFUL,
                format!(
                    "{hit} of {total} answer content words occur in the source (score {score:.2}, min_score {:.2}); not in the source: {}",
                    self.min_score,
                    missing.join(", ")
                ),
            ));
        }
        if self.check_numbers {
            // A number the answer works out from two that it quotes from the source, or
            // that its question gives ("three years after: 1798 and 1801"; "about 29
            // percent, from 164 to 212, an increase of 48"; "6 MW, from four turbines of
            // 1.5 MW") is not invented. Read only when a number is not in the source.
            // The answer's numbers in words, read once for both uses.
            let words = crate::text::word_number_values(text, 2);
            let operands = std::cell::OnceCell::new();
            let worked_out = |written: &str| {
                let ops = operands.get_or_init(|| worked_operands(rec, a, text, &words));
                worked_from(ops, written)
            };
            // A length of time the source gives in other units ("a 60-minute cycle" where
            // it says "an hour") is not invented. The answer's lengths of time are read
            // only when a number is not otherwise accounted for.
            let durations = std::cell::OnceCell::new();
            let converted = |start: usize| {
                durations
                    .get_or_init(|| crate::text::durations(text))
                    .iter()
                    .any(|&(s, e, k)| s <= start && start < e && rec.chunk.has_duration(k))
            };
            let mut invented: Vec<&str> = Vec::new();
            for t in rec.clean_tokens(a).filter(|t| t.kind == Kind::Number) {
                if !rec.chunk.has_number(t.raw)
                    && !always_phrase(text, t.start, t.end)
                    && !worked_out(&text[t.start..t.end])
                    && !converted(t.start)
                {
                    let s = &text[t.start..t.end];
                    if !invented.contains(&s) {
                        invented.push(s);
                    }
                }
            }
            // Numbers written in words, against the source's numbers in digits or words.
            let pii = &rec.pii[a];
            for &(s, e, h, _) in words
                .iter()
                .filter(|w| w.3 >= ANSWER_WORD_NUMBERS_FROM as f64)
            {
                let in_pii = pii.iter().any(|m| s < m.end && e > m.start);
                if !in_pii
                    && !rec.chunk.has_number(h)
                    && !always_phrase(text, s, e)
                    && !worked_out(&text[s..e])
                    && !converted(s)
                {
                    let w = &text[s..e];
                    if !invented.contains(&w) {
                        invented.push(w);
                    }
                }
            }
            if !invented.is_empty() {
                out.reasons.push(Reason::new(
                    codes::INVENTED_NUMBER,
                    format!(
                        "numbers in the answer that do not occur in the source: {}",
                        invented.join(", ")
                    ),
                ));
            }
        }
        if self.check_contradictions {
            let question = rec
                .question
                .filter(|&q| Some(q) != rec.answer)
                .and_then(|q| rec.text(q))
                .unwrap_or("");
            if let Some(d) = crate::contradict::find(text, question, &rec.chunk.source) {
                out.reasons.push(Reason::new(codes::CONTRADICTION, d));
            }
        }
    }
}

/// The numbers an answer may work from: those of answer field `a` (in digits or words)
/// that the source also gives, and every number of the question.
fn worked_operands(
    rec: &Record<'_>,
    a: usize,
    text: &str,
    words: &[(usize, usize, u64, f64)],
) -> Vec<f64> {
    let value = |s: &str| crate::text::normalize_number(s).parse::<f64>().ok();
    let mut ops: Vec<f64> = rec
        .clean_tokens(a)
        .filter(|t| t.kind == Kind::Number && rec.chunk.has_number(t.raw))
        .filter_map(|t| value(&text[t.start..t.end]))
        .collect();
    ops.extend(
        words
            .iter()
            .filter(|w| rec.chunk.has_number(w.2))
            .map(|w| w.3),
    );
    if let Some(q) = rec.question.filter(|&q| q != a) {
        if let Some(qt) = rec.text(q) {
            ops.extend(
                rec.clean_tokens(q)
                    .filter(|t| t.kind == Kind::Number)
                    .filter_map(|t| value(&qt[t.start..t.end])),
            );
            ops.extend(
                crate::text::word_number_values(qt, 2)
                    .into_iter()
                    .map(|w| w.3),
            );
        }
    }
    // 0 and 1 work out nothing: x + 1 would excuse every off-by-one.
    ops.retain(|&v| v != 0.0 && v != 1.0);
    // One step further: a number the answer works out ("an increase of 48") may be
    // worked from again ("about 29 percent").
    let worked: Vec<f64> = rec
        .clean_tokens(a)
        .filter(|t| t.kind == Kind::Number && !rec.chunk.has_number(t.raw))
        .filter(|t| worked_from(&ops, &text[t.start..t.end]))
        .filter_map(|t| value(&text[t.start..t.end]))
        .filter(|&v| v != 0.0 && v != 1.0)
        .collect();
    ops.extend(worked);
    ops
}

/// Whether `written` (a number as the answer writes it, in digits or words) is one step of
/// arithmetic from two of `ops` (sum, difference, product, quotient, a percentage of one,
/// the other's share in percent, or one raised or cut by the other in percent: 20 minutes
/// "5 percent" longer is 21), to the precision it is written with: "3.7" within
/// 0.05, "29" within 0.5, "2,100" within 50.
fn worked_from(ops: &[f64], written: &str) -> bool {
    if ops.len() < 2 {
        return false;
    }
    let digits = crate::text::normalize_number(written);
    let Some(v) = digits.parse::<f64>().ok().or_else(|| {
        crate::text::word_number_values(written, 0)
            .first()
            .map(|w| w.3)
    }) else {
        return false;
    };
    let tolerance = match digits.split_once('.') {
        Some((_, f)) => 0.5 * 10f64.powi(-(f.len() as i32)),
        None if v >= 1_000.0 => {
            let zeros = digits.bytes().rev().take_while(|&b| b == b'0').count();
            0.5 * 10f64.powi(zeros as i32)
        }
        None => 0.5,
    };
    let near = |r: f64| r.is_finite() && (r - v).abs() < tolerance + 1e-9;
    ops.iter().enumerate().any(|(i, &x)| {
        ops[i + 1..].iter().any(|&y| {
            near(x + y)
                || near((x - y).abs())
                || near(x * y)
                || (y != 0.0 && (near(x / y) || near(x / y * 100.0)))
                || (x != 0.0 && (near(y / x) || near(y / x * 100.0)))
                || near(x * y / 100.0)
                || near(x * (1.0 + y / 100.0))
                || near(y * (1.0 + x / 100.0))
                || near(x * (1.0 - y / 100.0))
                || near(y * (1.0 - x / 100.0))
        })
    })
}

/// Whether the number at `start..end` of `text` is part of a phrase that means "always"
/// ("seven days a week", "24 hours a day", "365 days a year", "24/7"), not a quantity
/// the source must give.
fn always_phrase(text: &str, start: usize, end: usize) -> bool {
    const PHRASES: [&str; 7] = [
        "seven days a week",
        "7 days a week",
        "24 hours a day",
        "twenty-four hours a day",
        "twenty four hours a day",
        "365 days a year",
        "24/7",
    ];
    let from: String = text[start..]
        .chars()
        .take(24)
        .collect::<String>()
        .to_lowercase();
    PHRASES.iter().any(|p| from.starts_with(p)) || text[..end].ends_with("24/7")
}

/// Question and answer are about the chunk.
pub(crate) struct Relevance {
    pub(crate) min_score: f64,
}

impl Check for Relevance {
    fn name(&self) -> &'static str {
        "relevance"
    }

    fn check(&self, rec: &Record<'_>, out: &mut Scored) {
        let share = |f: Option<usize>| -> Option<f64> {
            let f = f.filter(|&f| rec.text(f).is_some())?;
            let (hit, total) = rec.support(f);
            (total > 0).then(|| hit as f64 / total as f64)
        };
        let q = share(rec.question);
        let a = if rec.answer == rec.question {
            None
        } else {
            share(rec.answer)
        };
        // Both must be about the chunk; a field without content words says nothing either way.
        let score = match (q, a) {
            (Some(q), Some(a)) => q.min(a),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => 0.0,
        };
        out.scores.insert(self.name().into(), score);
        if let Some(q) = q {
            out.scores.insert("question_support".into(), q);
        }
        let any_text = rec.question.is_some_and(|f| rec.text(f).is_some())
            || rec.answer.is_some_and(|f| rec.text(f).is_some());
        if score < self.min_score && any_text {
            let show = |x: Option<f64>| x.map_or_else(|| "n/a".to_string(), |x| format!("{x:.2}"));
            out.reasons.push(Reason::new(
                codes::OFF_TOPIC,
                format!(
                    "share of content words found in the source: question {}, answer {} (score {score:.2}, min_score {:.2})",
                    show(q),
                    show(a),
                    self.min_score
                ),
            ));
        }
    }
}

/// No personal data in any task field.
pub(crate) struct Privacy {
    /// Push a reason on a match (the score is computed either way).
    pub(crate) enforce: bool,
}

impl Check for Privacy {
    fn name(&self) -> &'static str {
        "privacy"
    }

    fn check(&self, rec: &Record<'_>, out: &mut Scored) {
        let found: Vec<String> = rec
            .pii
            .iter()
            .enumerate()
            .flat_map(|(f, ms)| {
                ms.iter()
                    .map(move |m| format!("{} {} in {}", m.kind.as_str(), m.masked, rec.names[f]))
            })
            .collect();
        out.scores
            .insert(self.name().into(), if found.is_empty() { 1.0 } else { 0.0 });
        if self.enforce && !found.is_empty() {
            out.reasons.push(Reason::new(codes::PII, found.join("; ")));
        }
    }
}

/// The answer does not reproduce the source beyond one of its sentences: restating one
/// source sentence, even word for word, is grounding; a verbatim run that crosses a
/// sentence boundary of the source, or covers most of the chunk, is copying.
pub(crate) struct Copying {
    /// Longest verbatim run allowed across a sentence boundary of the source.
    pub(crate) max_span_words: usize,
    /// Share of the chunk a run may cover (with at least `min_share_span_words` words).
    pub(crate) max_span_share: f64,
    pub(crate) min_share_span_words: usize,
    /// Check every text field, not only the answer.
    pub(crate) every_field: bool,
}

impl Check for Copying {
    fn name(&self) -> &'static str {
        "copying"
    }

    fn check(&self, rec: &Record<'_>, out: &mut Scored) {
        // The answer (the claim), or every text field when the record is read whole
        // (`every_field`: a flow's records, whose every generated text may copy).
        let fields: Vec<usize> = if self.every_field {
            (0..rec.names.len())
                .filter(|&f| rec.text(f).is_some())
                .collect()
        } else {
            rec.answer
                .filter(|&a| rec.text(a).is_some())
                .into_iter()
                .collect()
        };
        let mut score = 1.0f64;
        let mut reason: Option<Reason> = None;
        for f in fields {
            let words: Vec<u64> = rec.tokens[f].iter().map(|t| t.raw).collect();
            let (span, crossing) = rec.chunk.longest_common_run(&words);
            if !words.is_empty() {
                score = score.min(1.0 - (span as f64 / words.len() as f64).min(1.0));
            }
            if reason.is_some() {
                continue;
            }
            let what = if self.every_field {
                format!("of the {} text", rec.names[f].replace('_', " "))
            } else {
                "of the answer".to_string()
            };
            let chunk_words = rec.chunk.len();
            let most_of_chunk = span >= self.min_share_span_words
                && span as f64 >= self.max_span_share * chunk_words as f64;
            if crossing > self.max_span_words {
                reason = Some(Reason::new(
                    codes::COPIED,
                    format!(
                        "{crossing} consecutive words {what} ({} in all) copied verbatim from the source across a sentence boundary (max_span_words {})",
                        words.len(),
                        self.max_span_words
                    ),
                ));
            } else if most_of_chunk {
                reason = Some(Reason::new(
                    codes::COPIED,
                    format!(
                        "{span} consecutive words {what} copied verbatim from the source, {:.0}% of its {chunk_words} words (max_span_share {:.2} when the run has {}+ words)",
                        100.0 * span as f64 / chunk_words.max(1) as f64,
                        self.max_span_share,
                        self.min_share_span_words
                    ),
                ));
            }
        }
        out.scores.insert(self.name().into(), score);
        out.reasons.extend(reason);
    }
}
