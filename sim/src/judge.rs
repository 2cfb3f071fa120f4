//! The SIMULATED judge: answers seedstream's LLM-judge requests (a `<document>` block, an
//! `<answer>` block and, optionally, a `<question>` block) with a rating computed from word
//! overlap, not by a model. It exists to exercise the judge's client, cache and parser:
//! the ratings are a crude stand-in and say nothing about how good a real judge is.
//!
//! - faithfulness: share of the answer's words (4+ letters) found in the document, 5 at
//!   0.8 and above down to 1 below 0.3; 1 when the answer has a number the document does
//!   not;
//! - relevance: share of the question's (else the answer's) words found in the document:
//!   5 at 0.5 and above, 3 at 0.25, else 1;
//! - the reply's shape varies with the request (plain JSON, JSON in a code fence after a
//!   sentence, ratings as `"4/5"` strings, or `Faithfulness: 4/5` lines in prose), as
//!   real models' replies do.

use std::collections::HashSet;

use crate::rng::{fnv1a, Rng};

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4 || w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn share(of: &[String], known: &HashSet<String>) -> f64 {
    let of: Vec<&String> = of.iter().filter(|w| !is_number(w)).collect();
    if of.is_empty() {
        return 1.0;
    }
    of.iter().filter(|w| known.contains(w.as_str())).count() as f64 / of.len() as f64
}

fn is_number(w: &str) -> bool {
    w.chars().all(|c| c.is_ascii_digit())
}

/// (faithfulness, relevance, reason) for a record against its document.
pub(crate) fn rate(document: &str, question: Option<&str>, answer: &str) -> (u8, u8, String) {
    let known: HashSet<String> = words(document).into_iter().collect();
    let a = words(answer);
    let invented = a.iter().find(|w| is_number(w) && !known.contains(*w));
    let s = share(&a, &known);
    let (faithfulness, reason) = match invented {
        Some(n) => (1, format!("the number {n} is not in the document")),
        None => {
            let f = match s {
                x if x >= 0.8 => 5,
                x if x >= 0.65 => 4,
                x if x >= 0.5 => 3,
                x if x >= 0.3 => 2,
                _ => 1,
            };
            (
                f,
                format!(
                    "{:.0}% of the answer's words are in the document",
                    s * 100.0
                ),
            )
        }
    };
    let r = share(&words(question.unwrap_or(answer)), &known);
    let relevance = match r {
        x if x >= 0.5 => 5,
        x if x >= 0.25 => 3,
        _ => 1,
    };
    (faithfulness, relevance, reason)
}

/// The reply's content for a judge request, in one of four shapes picked by `key`.
pub(crate) fn reply(document: &str, question: Option<&str>, answer: &str, key: u64) -> String {
    let (f, r, reason) = rate(document, question, answer);
    let reason_json = serde_json::to_string(&reason).expect("a string serialises");
    let mut rng = Rng::new(key ^ fnv1a(b"simulated judge"));
    match rng.below(4) {
        0 => format!(r#"{{"faithfulness": {f}, "relevance": {r}, "reason": {reason_json}}}"#),
        1 => format!(
            "Here is my assessment.\n```json\n{{\"faithfulness\": {f}, \"relevance\": {r}, \"reason\": {reason_json}}}\n```"
        ),
        2 => format!(
            r#"{{"Faithfulness": "{f}/5", "Relevance": "{r} out of 5", "explanation": {reason_json}}}"#
        ),
        _ => format!("**Faithfulness:** {f}/5\n**Relevance:** {r}/5\nReason: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_by_overlap_and_invented_numbers() {
        let doc = "The filter beds hold sand and gravel. Backwashing happens every 48 hours.";
        assert_eq!(
            rate(
                doc,
                Some("How often are filter beds backwashed?"),
                "Every 48 hours, the sand and gravel beds are backwashed."
            )
            .0,
            5
        );
        assert_eq!(rate(doc, None, "Every 72 hours.").0, 1);
        let (f, r, _) = rate(
            doc,
            Some("Who won the 1966 World Cup?"),
            "England beat West Germany at Wembley.",
        );
        assert_eq!((f, r), (1, 1));
    }
}
