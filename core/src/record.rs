//! Shared record vocabulary: rejection reasons and their codes.

use serde::{Deserialize, Serialize};

/// Why a record was rejected: a stable machine code plus a human detail.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reason {
    /// Stable code, counted in the manifest (see [`codes`]).
    pub code: String,
    /// What was found, for a person.
    pub detail: String,
}

impl Reason {
    /// A reason with `code` and `detail`.
    pub fn new(code: &str, detail: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            detail: detail.into(),
        }
    }
}

/// Put a rejected record's reasons in the order they are written: the most specific
/// diagnosis first (personal data, copying, exact duplication, off-topic, a contradiction
/// or an invented number, near-duplication, then the lexical and grounding kinds of
/// unfaithfulness, then format), so the first reason names what is wrong with the record
/// even when the lexical checks also found its words missing from the source. A record
/// that rewords another but changes a number or says the opposite is unfaithful before it
/// is a near-duplicate; one whose words only drift from the source is a near-duplicate
/// first (a paraphrase grounds less well than the record it rewords). Stable:
/// reasons of one code keep the order they were found in.
pub fn order_reasons(reasons: &mut [Reason]) {
    reasons.sort_by_key(|r| codes::rank(&r.code));
}

/// The reason codes, in one place.
pub mod codes {
    /// A task field is missing, empty, not a string, too short or too long.
    pub const FORMAT: &str = "format";
    /// The answer is not grounded in its source chunk.
    pub const UNFAITHFUL: &str = "unfaithful";
    /// The answer has a number that does not occur in the source chunk.
    pub const INVENTED_NUMBER: &str = "invented_number";
    /// The answer reuses the source's words but changes what they say (a number with
    /// another unit, an antonym, a name the source never mentions).
    pub const CONTRADICTION: &str = "contradiction";
    /// Question or answer are not about the chunk.
    pub const OFF_TOPIC: &str = "off_topic";
    /// Same normalised text as a record earlier in canonical order.
    pub const DUPLICATE: &str = "duplicate";
    /// MinHash-similar to a record earlier in canonical order.
    pub const NEAR_DUPLICATE: &str = "near_duplicate";
    /// Personal data (email, phone, card number, national id).
    pub const PII: &str = "pii";
    /// A long verbatim span of the source.
    pub const COPIED: &str = "copied";
    /// The endpoint failed after every retry.
    pub const ENDPOINT_FAILED: &str = "endpoint_failed";
    /// The reply held no JSON object with the task fields after every retry.
    pub const UNPARSEABLE: &str = "unparseable";
    /// The LLM judge gave no usable verdict after every retry.
    pub const JUDGE_FAILED: &str = "judge_failed";
    /// The prompt template failed on this slot's data.
    pub const PROMPT: &str = "prompt_error";
    /// Valid, but the job already had its target of records earlier in canonical order.
    pub const OVER_TARGET: &str = "over_target";

    /// Where `code` goes in a record's reasons ([`super::order_reasons`]): lower first.
    pub fn rank(code: &str) -> u8 {
        match code {
            ENDPOINT_FAILED | UNPARSEABLE | PROMPT => 0,
            PII => 1,
            COPIED => 2,
            DUPLICATE => 3,
            OFF_TOPIC => 4,
            CONTRADICTION => 5,
            INVENTED_NUMBER => 6,
            NEAR_DUPLICATE => 7,
            UNFAITHFUL => 8,
            FORMAT => 9,
            JUDGE_FAILED => 10,
            OVER_TARGET => 12,
            _ => 11,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_reason_comes_first() {
        let mut r = vec![
            Reason::new(codes::FORMAT, "no question mark"),
            Reason::new(codes::UNFAITHFUL, "lexical"),
            Reason::new(codes::OFF_TOPIC, "topic"),
            Reason::new(codes::UNFAITHFUL, "grounding"),
            Reason::new(codes::PII, "email"),
            Reason::new(codes::NEAR_DUPLICATE, "of r1"),
            Reason::new(codes::CONTRADICTION, "15 July, not 15 June"),
        ];
        order_reasons(&mut r);
        let got: Vec<(&str, &str)> = r
            .iter()
            .map(|r| (r.code.as_str(), r.detail.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (codes::PII, "email"),
                (codes::OFF_TOPIC, "topic"),
                (codes::CONTRADICTION, "15 July, not 15 June"),
                (codes::NEAR_DUPLICATE, "of r1"),
                (codes::UNFAITHFUL, "lexical"),
                (codes::UNFAITHFUL, "grounding"),
                (codes::FORMAT, "no question mark"),
            ]
        );
    }
}
