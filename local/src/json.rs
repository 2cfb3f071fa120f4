//! JSON by construction: the model only ever writes the body of one JSON string at a time;
//! everything structural is written here, and the final object is serialised by
//! `serde_json` from the decoded values, so it is valid whatever the model wrote.

use serde_json::Value;

/// Text that opens the object and the first field's string: `{"question": "`.
pub(crate) fn opening(first_field: &str) -> String {
    format!("{{{}: \"", quoted(first_field))
}

/// Text that closes one field's string and opens the next one's: `", "answer": "`.
pub(crate) fn between(next_field: &str) -> String {
    format!("\", {}: \"", quoted(next_field))
}

/// The final object, fields in the order given (a `serde_json::Map` would sort them).
pub(crate) fn object(pairs: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&quoted(key));
        out.push(':');
        out.push_str(&quoted(value));
    }
    out.push('}');
    out
}

fn quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// What the scanner decided about a chunk of bytes (one sampled token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The whole chunk belongs to the string and the string goes on.
    Continue,
    /// The string ends within this chunk; its first `kept` bytes belong to the string, the
    /// rest (the closing quote and whatever the model wrote after it) is dropped.
    End { kept: usize },
}

/// Follows the body of a JSON string as the model writes it, token by token, and says where
/// it ends: at an unescaped `"`; at a raw line break (JSON strings cannot hold one, so the
/// model has left the string); or at a blank line written as escapes (`\n\n`), which for a
/// 135M model means it has moved on to padding or a new topic.
#[derive(Debug, Default)]
pub(crate) struct StringScanner {
    raw: Vec<u8>,
    in_escape: bool,
    newline_run: u32,
    has_content: bool,
}

impl StringScanner {
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Scan {
        for (i, &b) in chunk.iter().enumerate() {
            if self.in_escape {
                self.in_escape = false;
                match b {
                    b'n' => {
                        self.newline_run += 1;
                        if self.newline_run >= 2 {
                            self.raw.extend_from_slice(&chunk[..=i]);
                            return Scan::End { kept: i + 1 };
                        }
                    }
                    b'r' | b't' => {}
                    _ => {
                        self.newline_run = 0;
                        self.has_content = true;
                    }
                }
                continue;
            }
            match b {
                b'\\' => self.in_escape = true,
                b'"' | b'\n' | b'\r' => {
                    self.raw.extend_from_slice(&chunk[..i]);
                    return Scan::End { kept: i };
                }
                b' ' | b'\t' => {}
                _ => {
                    self.newline_run = 0;
                    self.has_content = true;
                }
            }
        }
        self.raw.extend_from_slice(chunk);
        Scan::Continue
    }

    /// Whether the string holds anything but whitespace so far.
    pub(crate) fn has_content(&self) -> bool {
        self.has_content
    }

    /// The decoded value, trimmed.
    pub(crate) fn value(&self) -> String {
        unescape_lenient(&self.raw).trim().to_owned()
    }
}

/// Whether a token's bytes, written first into an empty string, would leave it empty: it
/// closes the string or breaks the line before any visible character, or is all blanks.
/// Such tokens are masked out until a field has content, so fields are non-empty by
/// construction rather than by luck.
pub(crate) fn would_leave_empty(token: &[u8]) -> bool {
    for &b in token {
        match b {
            b' ' | b'\t' => continue,
            b'"' => return true,
            b if b < 0x20 => return true,
            _ => return false,
        }
    }
    true
}

/// Decodes the body of a JSON string the way a forgiving reader would: the model's output is
/// not trusted to be valid, and one bad escape should cost a character, not the record.
/// Unknown escapes keep the escaped character, lone surrogates become U+FFFD, a dangling
/// backslash or a UTF-8 sequence cut off by the token cap at the end is dropped.
pub(crate) fn unescape_lenient(raw: &[u8]) -> String {
    let text = match std::str::from_utf8(raw) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        // Cut mid-character at the end (the cap can stop between a character's tokens).
        Err(e) if e.error_len().is_none() => {
            std::borrow::Cow::Owned(String::from_utf8_lossy(&raw[..e.valid_up_to()]).into_owned())
        }
        Err(_) => String::from_utf8_lossy(raw),
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else { break };
        match e {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'u' => {
                let Some(unit) = hex4(&mut chars) else {
                    out.push_str("\\u");
                    continue;
                };
                if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate needs its low half, written as the next escape.
                    let mut lookahead = chars.clone();
                    let low = (lookahead.next() == Some('\\') && lookahead.next() == Some('u'))
                        .then(|| hex4(&mut lookahead))
                        .flatten()
                        .filter(|low| (0xDC00..0xE000).contains(low));
                    match low {
                        Some(low) => {
                            chars = lookahead;
                            let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                        }
                        None => out.push('\u{FFFD}'),
                    }
                } else {
                    out.push(char::from_u32(unit).unwrap_or('\u{FFFD}'));
                }
            }
            // `"`, `\`, `/` and any escape JSON does not know: keep the character.
            other => out.push(other),
        }
    }
    out
}

fn hex4(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<u32> {
    let mut lookahead = chars.clone();
    let mut unit = 0;
    for _ in 0..4 {
        unit = unit * 16 + lookahead.next()?.to_digit(16)?;
    }
    *chars = lookahead;
    Some(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(chunks: &[&str]) -> (StringScanner, Option<(usize, usize)>) {
        let mut s = StringScanner::default();
        for (i, c) in chunks.iter().enumerate() {
            if let Scan::End { kept } = s.push(c.as_bytes()) {
                return (s, Some((i, kept)));
            }
        }
        (s, None)
    }

    #[test]
    fn scanner_stops_at_the_first_unescaped_quote() {
        let (s, end) = scan_all(&["What", " is", " \\\"x", "\\\"?", "\", \"", "ignored"]);
        assert_eq!(end, Some((4, 0)));
        assert_eq!(s.value(), "What is \"x\"?");

        let (s, end) = scan_all(&["Paris", ".\"}"]);
        assert_eq!(end, Some((1, 1)));
        assert_eq!(s.value(), "Paris.");
    }

    #[test]
    fn scanner_treats_an_escaped_backslash_before_a_quote_as_closing() {
        // `\\"` is an escaped backslash and then the closing quote.
        let (s, end) = scan_all(&["C:", "\\\\", "\" and more"]);
        assert_eq!(end, Some((2, 0)));
        assert_eq!(s.value(), "C:\\");
    }

    #[test]
    fn scanner_stops_at_raw_newlines_and_blank_lines() {
        let (s, end) = scan_all(&["one", " two\nthree"]);
        assert_eq!(end, Some((1, 4)));
        assert_eq!(s.value(), "one two");

        let (s, end) = scan_all(&["line\\n", "more\\n", "\\n", "padding"]);
        assert_eq!(end, Some((2, 2)));
        assert_eq!(s.value(), "line\nmore");

        // Single escaped newlines are content, not an end.
        let (s, end) = scan_all(&["a\\nb\\nc"]);
        assert_eq!(end, None);
        assert_eq!(s.value(), "a\nb\nc");
    }

    #[test]
    fn scanner_tracks_whether_there_is_content() {
        let mut s = StringScanner::default();
        assert_eq!(s.push(b"  \\n "), Scan::Continue);
        assert!(!s.has_content());
        assert_eq!(s.push(b"x"), Scan::Continue);
        assert!(s.has_content());
    }

    #[test]
    fn tokens_that_would_leave_a_field_empty() {
        for t in ["\"", " \"", "\",", "\n", " ", "  ", ""] {
            assert!(would_leave_empty(t.as_bytes()), "{t:?}");
        }
        for t in ["a", " The", "\\\"", " 4", "é"] {
            assert!(!would_leave_empty(t.as_bytes()), "{t:?}");
        }
    }

    #[test]
    fn lenient_unescape_handles_valid_and_invalid_escapes() {
        assert_eq!(unescape_lenient(br#"a\"b\\c\/d\te"#), "a\"b\\c/d\te");
        assert_eq!(unescape_lenient(br"\u00e9\ud83d\ude00"), "é😀");
        assert_eq!(unescape_lenient(br"lone \ud83d here"), "lone \u{FFFD} here");
        assert_eq!(unescape_lenient(br"bad \x and \u12"), "bad x and \\u12");
        assert_eq!(unescape_lenient(b"dangling \\"), "dangling ");
        // "é" is two bytes; a cap that stops after the first one drops it.
        assert_eq!(unescape_lenient(b"caf\xc3"), "caf");
        assert_eq!(unescape_lenient(b"a\xffb"), "a\u{FFFD}b");
    }

    #[test]
    fn object_is_valid_json_in_field_order_whatever_the_values_hold() {
        let pairs = [
            ("zeta", "say \"hi\"\n\tand \\ leave <|im_end|>"),
            ("alpha", "\u{1}\u{7f}é"),
        ];
        let text = object(&pairs);
        assert!(text.starts_with("{\"zeta\":"), "{text}");
        let parsed: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.len(), 2);
        for (k, v) in pairs {
            assert_eq!(parsed[k], Value::String(v.to_owned()));
        }
    }

    #[test]
    fn structural_text_escapes_field_names() {
        assert_eq!(opening("question"), "{\"question\": \"");
        assert_eq!(between("answer"), "\", \"answer\": \"");
        assert_eq!(opening("a\"b"), "{\"a\\\"b\": \"");
    }
}
