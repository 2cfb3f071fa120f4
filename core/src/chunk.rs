//! Cutting documents into overlapping chunks at natural boundaries.
//!
//! Pure and deterministic: the same text and settings give the same chunks, which is
//! what makes the plan reproducible.

use serde::{Deserialize, Serialize};

/// One chunk of one source document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Index of the document in the job's `sources`.
    pub doc: u32,
    /// Index of the chunk within its document.
    pub index: u32,
    /// The chunk's text (trimmed).
    pub text: String,
}

/// Cut `text` into chunks of at most `max_chars` characters sharing about `overlap_chars`.
///
/// Cuts prefer a paragraph break, then a sentence end, then whitespace, in the last half
/// of the window, so chunks rarely split a sentence.
pub fn chunk_document(doc: u32, text: &str, max_chars: usize, overlap_chars: usize) -> Vec<Chunk> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let byte_at = |i: usize| if i >= n { text.len() } else { chars[i].0 };
    let max_chars = max_chars.max(1);
    let overlap = overlap_chars.min(max_chars / 2);
    let mut out = Vec::new();
    let mut start = 0usize;
    while start < n {
        let mut end = (start + max_chars).min(n);
        if end < n {
            end = best_cut(text, &chars, start, end).unwrap_or(end);
        }
        let piece = text[byte_at(start)..byte_at(end)].trim();
        if !piece.is_empty() {
            out.push(Chunk {
                doc,
                index: out.len() as u32,
                text: piece.to_string(),
            });
        }
        if end >= n {
            break;
        }
        // Step back by the overlap, then forward to a word start; always make progress.
        let mut next = end.saturating_sub(overlap).max(start + 1);
        if overlap > 0 {
            while next < end && !chars[next - 1].1.is_whitespace() {
                next += 1;
            }
        } else {
            next = end;
        }
        start = next;
    }
    out
}

fn best_cut(text: &str, chars: &[(usize, char)], start: usize, end: usize) -> Option<usize> {
    let lo = start + (end - start) / 2;
    let window = |i: usize| chars[i].1;
    // Paragraph break.
    for i in (lo + 1..end).rev() {
        if window(i) == '\n' && window(i - 1) == '\n' {
            return Some(i);
        }
    }
    // Sentence end followed by whitespace.
    for i in (lo + 1..end).rev() {
        if window(i).is_whitespace() && matches!(window(i - 1), '.' | '!' | '?') {
            return Some(i);
        }
    }
    for i in (lo + 1..end).rev() {
        if window(i).is_whitespace() {
            return Some(i);
        }
    }
    let _ = text;
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_chunk() {
        let c = chunk_document(0, "  Hello world.  ", 100, 10);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].text, "Hello world.");
    }

    #[test]
    fn chunks_respect_max_and_cover_text() {
        let text = "One sentence here. Another one follows it. ".repeat(40);
        let chunks = chunk_document(3, &text, 120, 20);
        assert!(chunks.len() > 5);
        for c in &chunks {
            assert!(c.text.chars().count() <= 120, "{}", c.text.len());
            assert_eq!(c.doc, 3);
            assert!(c.text.ends_with('.'), "cut mid-sentence: {:?}", c.text);
        }
        // Every word of the text appears in some chunk.
        let all: String = chunks
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(all.contains("Another one follows it."));
    }

    #[test]
    fn deterministic_and_unicode_safe() {
        let text = "Ünïcødé text — with “quotes” and 数字 123. ".repeat(30);
        let a = chunk_document(0, &text, 50, 10);
        let b = chunk_document(0, &text, 50, 10);
        assert_eq!(a, b);
        assert!(a.len() > 10);
    }

    #[test]
    fn zero_overlap_never_loops() {
        let text = "x".repeat(1000);
        let c = chunk_document(0, &text, 100, 0);
        assert_eq!(c.len(), 10);
    }
}
