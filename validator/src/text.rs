//! Tokenising, normalising and hashing text, shared by every check.
//!
//! One pass over the text yields [`Token`]s: words (lowercased, with a lightly stemmed
//! hash for content words) and numbers (normalised: thousands separators dropped, leading
//! zeros and trailing decimal zeros trimmed, a trailing `%` kept in the span but not in the
//! value). Nothing allocates per token; hashes are FNV-1a, so they are the same on every
//! machine and every run (no `RandomState`).

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over bytes: portable and stable across runs and machines.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

pub(crate) use seedstream_core::dedup::{mix64, SplitMix64};

/// Function words that carry no topic: ignored by the overlap-based checks.
#[rustfmt::skip]
const STOPWORDS: &[&str] = &[
    "a", "about", "above", "across", "after", "again", "against", "all", "almost", "along", "also",
    "although", "am", "among", "an", "and", "another", "any", "are", "aren", "around", "as", "at",
    "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can",
    "cannot", "could", "did", "didn", "do", "does", "doesn", "doing", "don", "down", "during",
    "each", "either", "else", "etc", "even", "ever", "every", "few", "for", "from", "further",
    "furthermore", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him",
    "himself", "his", "how", "however", "i", "if", "in", "into", "is", "isn", "it", "its", "itself",
    "just", "ll", "may", "me", "might", "more", "moreover", "most", "much", "must", "my", "myself",
    "neither", "no", "nor", "not", "now", "of", "off", "often", "on", "once", "one", "only", "onto",
    "or", "other", "others", "our", "ours", "ourselves", "out", "over", "own", "per", "quite",
    "rather", "re", "same", "shall", "she", "should", "so", "some", "such", "than", "that", "the",
    "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those",
    "though", "through", "thus", "to", "too", "toward", "towards", "under", "until", "up", "upon",
    "us", "ve", "very", "via", "was", "wasn", "we", "were", "weren", "what", "when", "where",
    "whether", "which", "while", "who", "whom", "whose", "why", "will", "with", "within", "without",
    "would", "yet", "you", "your", "yours", "yourself", "yourselves",
];

/// The stopword list as a sorted set of hashes (binary search is a few nanoseconds).
#[derive(Debug, Clone)]
pub(crate) struct StopWords(Vec<u64>);

impl StopWords {
    pub(crate) fn new() -> Self {
        let mut v: Vec<u64> = STOPWORDS.iter().map(|w| fnv1a(w.as_bytes())).collect();
        v.sort_unstable();
        v.dedup();
        Self(v)
    }

    fn contains(&self, hash: u64) -> bool {
        self.0.binary_search(&hash).is_ok()
    }
}

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A run of letters and digits starting with a letter.
    Word,
    /// A number: digits, optional `,ddd` groups, optional decimals, optional `%`.
    Number,
}

/// One token of a text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub(crate) kind: Kind,
    /// Hash of the normalised surface (lowercased word, or normalised number).
    pub(crate) raw: u64,
    /// Hash of the stem for content words; `raw` otherwise.
    pub(crate) stem: u64,
    /// A word that is not a stopword, has two or more characters.
    pub(crate) content: bool,
    /// Byte span in the text.
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Tokenise `text`, appending to `out`. `buf` is scratch space reused between calls.
pub(crate) fn tokenize(text: &str, stop: &StopWords, out: &mut Vec<Token>, buf: &mut String) {
    let b = text.as_bytes();
    let n = b.len();
    let mut i = 0;
    while i < n {
        let c = b[i];
        if c.is_ascii_digit() {
            let start = i;
            let (end, hash) = scan_number(b, i);
            out.push(Token {
                kind: Kind::Number,
                raw: hash,
                stem: hash,
                content: false,
                start,
                end,
            });
            i = end;
        } else if c.is_ascii_alphabetic() || (c >= 0x80 && starts_alpha(text, i)) {
            let start = i;
            buf.clear();
            let mut chars = 0usize;
            while i < n {
                let c = b[i];
                if c.is_ascii_alphanumeric() {
                    buf.push(c.to_ascii_lowercase() as char);
                    i += 1;
                } else if c >= 0x80 {
                    let ch = text[i..].chars().next().unwrap_or(' ');
                    if !ch.is_alphanumeric() {
                        break;
                    }
                    buf.extend(ch.to_lowercase());
                    i += ch.len_utf8();
                } else {
                    break;
                }
                chars += 1;
            }
            let raw = fnv1a(buf.as_bytes());
            let content = chars >= 2 && !stop.contains(raw);
            let stem = if content {
                stem_in_place(buf);
                fnv1a(buf.as_bytes())
            } else {
                raw
            };
            out.push(Token {
                kind: Kind::Word,
                raw,
                stem,
                content,
                start,
                end: i,
            });
        } else if c >= 0x80 {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        } else {
            i += 1;
        }
    }
}

fn starts_alpha(text: &str, i: usize) -> bool {
    text[i..].chars().next().is_some_and(char::is_alphanumeric)
}

/// Scan a number starting at `i` (a digit). Returns (end of span incl. `%`, hash of the
/// normalised value).
fn scan_number(b: &[u8], mut i: usize) -> (usize, u64) {
    let n = b.len();
    let start = i;
    while i < n && b[i].is_ascii_digit() {
        i += 1;
    }
    // Thousands groups: ",ddd" not followed by another digit.
    while i < n
        && b[i] == b','
        && (1..=3).all(|k| b.get(i + k).is_some_and(u8::is_ascii_digit))
        && !b.get(i + 4).is_some_and(u8::is_ascii_digit)
    {
        i += 4;
    }
    if i + 1 < n && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i += 1;
        while i < n && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    let end = if i < n && b[i] == b'%' { i + 1 } else { i };
    (end, hash_number(&b[start..i]))
}

/// Hash of the normalised form of a number's digits (`1,234.50` → `1234.5`).
pub(crate) fn hash_number(s: &[u8]) -> u64 {
    let dot = s.iter().position(|&c| c == b'.');
    let (int, frac) = match dot {
        Some(d) => (&s[..d], &s[d + 1..]),
        None => (s, &s[s.len()..]),
    };
    let mut h = FNV_OFFSET;
    let mut push = |c: u8| {
        h ^= u64::from(c);
        h = h.wrapping_mul(FNV_PRIME);
    };
    // Integer part without separators and leading zeros (keep one digit).
    let digits: usize = int.iter().filter(|c| c.is_ascii_digit()).count();
    let mut seen_nonzero = false;
    let mut emitted = 0;
    for (k, &c) in int.iter().filter(|c| c.is_ascii_digit()).enumerate() {
        if c != b'0' || seen_nonzero || k + 1 == digits {
            seen_nonzero = true;
            push(c);
            emitted += 1;
        }
    }
    if emitted == 0 {
        push(b'0');
    }
    let frac_len = frac.iter().rposition(|&c| c != b'0').map_or(0, |p| p + 1);
    if frac_len > 0 {
        push(b'.');
        for &c in &frac[..frac_len] {
            push(c);
        }
    }
    h
}

/// The normalised text of a number: `1,234.50%` → `1234.5`.
pub(crate) fn normalize_number(s: &str) -> String {
    let s = s.trim_end_matches('%').replace(',', "");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// Hash of a normalised number, as tokens carry it (for tests).
#[cfg(test)]
pub(crate) fn number_hash(s: &str) -> u64 {
    fnv1a(normalize_number(s).as_bytes())
}

/// Light suffix stripping, in place (`studies`/`studied`/`study` → `studi`,
/// `increases`/`increasing`/`increased` → `increas`). Applied to both sides of every
/// comparison, so only consistency matters, not linguistic accuracy.
pub(crate) fn stem_in_place(w: &mut String) {
    if !w.is_ascii() {
        return;
    }
    let len = w.len();
    if len > 4 && (w.ends_with("sses") || w.ends_with("ies")) {
        w.truncate(len - 2);
    } else if len > 3
        && w.ends_with('s')
        && !w.ends_with("ss")
        && !w.ends_with("us")
        && !w.ends_with("is")
    {
        w.truncate(len - 1);
    }
    // Nouns made from verbs: "eruption" = "erupt", "irrigation" = "irrigated",
    // "development" = "develop" (short words such as "station" and "comment" stay).
    let len = w.len();
    if len > 7 && (w.ends_with("tion") || w.ends_with("sion")) {
        w.truncate(len - 3);
        return;
    } else if len > 7 && w.ends_with("ment") {
        w.truncate(len - 4);
    }
    let len = w.len();
    if len > 5 && w.ends_with("ing") {
        w.truncate(len - 3);
    } else if len > 4 && (w.ends_with("ed") || w.ends_with("ly")) {
        w.truncate(len - 2);
    }
    let len = w.len();
    if len > 3 && w.ends_with('y') {
        w.truncate(len - 1);
        w.push('i');
    } else if len > 4 && w.ends_with('e') {
        w.truncate(len - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Token> {
        let mut out = Vec::new();
        tokenize(s, &StopWords::new(), &mut out, &mut String::new());
        out
    }

    fn stem(s: &str) -> String {
        let mut w = s.to_string();
        stem_in_place(&mut w);
        w
    }

    #[test]
    fn durations_are_compared_across_units() {
        let keys = |t: &str| durations(t).into_iter().map(|d| d.2).collect::<Vec<_>>();
        assert_eq!(keys("a 60-minute cycle"), keys("takes an hour"));
        assert_eq!(keys("30 minutes"), keys("half an hour"));
        assert_eq!(keys("two weeks"), keys("a fortnight"));
        assert_eq!(keys("18 months"), keys("1.5 years"));
        assert_eq!(keys("ten years"), keys("a decade"));
        assert_ne!(keys("90 minutes"), keys("an hour"));
        // Months are not converted into days.
        assert_ne!(keys("30 days"), keys("a month"));
        let d = durations("Within Half an hour, then 3 days.");
        assert_eq!(d.len(), 2);
        assert_eq!(
            &"Within Half an hour, then 3 days."[d[0].0..d[0].1],
            "Half an hour"
        );
        assert!(durations("a many-year wait, an hourly bus").is_empty());
    }

    #[test]
    fn stemming_merges_inflections() {
        assert_eq!(stem("studies"), stem("study"));
        assert_eq!(stem("studied"), stem("study"));
        assert_eq!(stem("increases"), stem("increase"));
        assert_eq!(stem("increasing"), stem("increased"));
        assert_eq!(stem("classes"), "class");
        assert_eq!(stem("status"), "status");
        assert_ne!(stem("river"), stem("rover"));
        assert_eq!(stem("eruptions"), stem("erupt"));
        assert_eq!(stem("irrigation"), stem("irrigated"));
        assert_eq!(stem("development"), stem("developing"));
        assert_eq!(stem("station"), "station");
        assert_ne!(stem("station"), stem("state"));
        assert_eq!(stem("comment"), "comment");
    }

    #[test]
    fn numbers_are_normalised() {
        assert_eq!(normalize_number("1,234"), "1234");
        assert_eq!(normalize_number("3.50"), "3.5");
        assert_eq!(normalize_number("12%"), "12");
        assert_eq!(normalize_number("007"), "7");
        assert_eq!(normalize_number("0.25"), "0.25");
        assert_eq!(normalize_number("2.0"), "2");
        let t = toks("It rose 1,234 units to 3.50 and 12% in 2019.");
        let nums: Vec<u64> = t
            .iter()
            .filter(|t| t.kind == Kind::Number)
            .map(|t| t.raw)
            .collect();
        assert_eq!(
            nums,
            vec![
                number_hash("1234"),
                number_hash("3.5"),
                number_hash("12"),
                number_hash("2019")
            ]
        );
        // A sentence-final period is not a decimal point; "1,2,3" is a list.
        let t = toks("in 2019. Then 1,2,3 or 1,2345");
        let nums: Vec<u64> = t
            .iter()
            .filter(|t| t.kind == Kind::Number)
            .map(|t| t.raw)
            .collect();
        assert_eq!(
            nums,
            vec![
                number_hash("2019"),
                number_hash("1"),
                number_hash("2"),
                number_hash("3"),
                number_hash("1"),
                number_hash("2345")
            ]
        );
    }

    #[test]
    fn percent_sign_is_in_the_span_not_the_value() {
        let text = "grew 12% fast";
        let t = toks(text);
        let n = t.iter().find(|t| t.kind == Kind::Number).unwrap();
        assert_eq!(&text[n.start..n.end], "12%");
        assert_eq!(n.raw, number_hash("12"));
    }

    #[test]
    fn words_are_lowercased_and_stopwords_flagged() {
        let t = toks("The River's FLOW, naïve café");
        let words: Vec<(bool, u64)> = t.iter().map(|t| (t.content, t.raw)).collect();
        assert_eq!(words[0], (false, fnv1a(b"the")));
        assert_eq!(words[1], (true, fnv1a(b"river")));
        assert_eq!(words[2], (false, fnv1a(b"s")));
        assert_eq!(words[3], (true, fnv1a(b"flow")));
        assert_eq!(words[4].1, fnv1a("naïve".as_bytes()));
        assert_eq!(words[5].1, fnv1a("café".as_bytes()));
        assert_eq!(t.len(), 6);
    }
}

/// Lengths of time ("60-minute", "an hour", "half an hour", "two weeks", "a
/// fortnight", "18 months", "a decade"), each as (byte start, byte end, key): equal keys
/// are the same length in other units. Days and shorter are counted in seconds, months
/// and longer in months; the two are not converted into each other.
pub(crate) fn durations(text: &str) -> Vec<(usize, usize, u64)> {
    use std::sync::LazyLock;
    static RE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(concat!(
            r"\b(half an?|an?|\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten",
            r"|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|ninety)[ -]",
            r"(second|minute|hour|day|week|fortnight|month|year|decade|century|centuries)s?\b",
        ))
        .expect("built-in duration regex compiles")
    });
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    for c in RE.captures_iter(&lower) {
        let (amount, unit) = (&c[1], &c[2]);
        let n: f64 = match amount {
            "a" | "an" | "one" => 1.0,
            "half a" | "half an" => 0.5,
            "two" => 2.0,
            "three" => 3.0,
            "four" => 4.0,
            "five" => 5.0,
            "six" => 6.0,
            "seven" => 7.0,
            "eight" => 8.0,
            "nine" => 9.0,
            "ten" => 10.0,
            "eleven" => 11.0,
            "twelve" => 12.0,
            "fifteen" => 15.0,
            "twenty" => 20.0,
            "thirty" => 30.0,
            "forty" => 40.0,
            "fifty" => 50.0,
            "sixty" => 60.0,
            "ninety" => 90.0,
            d => match d.parse() {
                Ok(x) => x,
                Err(_) => continue,
            },
        };
        let (family, per) = match unit {
            "second" => ('s', 1.0),
            "minute" => ('s', 60.0),
            "hour" => ('s', 3_600.0),
            "day" => ('s', 86_400.0),
            "week" => ('s', 604_800.0),
            "fortnight" => ('s', 1_209_600.0),
            "month" => ('m', 1.0),
            "year" => ('m', 12.0),
            "decade" => ('m', 120.0),
            _ => ('m', 1_200.0),
        };
        let value = (n * per * 1_000.0).round() as u64;
        let key = hash_number(format!("{family}{value}").as_bytes());
        let m = c.get(0).expect("group 0");
        out.push((m.start(), m.end(), key));
    }
    out
}

/// Numbers written in words ("twenty-one", "a hundred and ten", "two thousand", "forty
/// eight"): (byte start, byte end, hash of the value as [`scan_number`] hashes digits).
/// Values below `min` are left out (in an answer, "one" and "two" are mostly not
/// quantities; in a source, "six in the morning" is the 6 of "6 a.m.").
pub(crate) fn word_numbers(text: &str, min: u64) -> Vec<(usize, usize, u64)> {
    word_number_digits(text, min)
        .into_iter()
        .map(|(s, e, d)| (s, e, hash_number(d.as_bytes())))
        .collect()
}

/// [`word_numbers`] with each value (byte start, byte end, hash, value).
pub(crate) fn word_number_values(text: &str, min: u64) -> Vec<(usize, usize, u64, f64)> {
    word_number_digits(text, min)
        .into_iter()
        .filter_map(|(s, e, d)| Some((s, e, hash_number(d.as_bytes()), d.parse().ok()?)))
        .collect()
}

/// [`word_numbers`] with each value written in digits ("1.5").
fn word_number_digits(text: &str, min: u64) -> Vec<(usize, usize, String)> {
    fn unit(w: &str) -> Option<u64> {
        Some(match w {
            "zero" => 0,
            "one" | "a" | "an" => 1,
            "two" => 2,
            "three" => 3,
            "four" => 4,
            "five" => 5,
            "six" => 6,
            "seven" => 7,
            "eight" => 8,
            "nine" => 9,
            "ten" => 10,
            "eleven" => 11,
            "twelve" => 12,
            "thirteen" => 13,
            "fourteen" => 14,
            "fifteen" => 15,
            "sixteen" => 16,
            "seventeen" => 17,
            "eighteen" => 18,
            "nineteen" => 19,
            "twenty" => 20,
            "thirty" => 30,
            "forty" => 40,
            "fifty" => 50,
            "sixty" => 60,
            "seventy" => 70,
            "eighty" => 80,
            "ninety" => 90,
            _ => return None,
        })
    }
    let scale = |w: &str| match w {
        "hundred" => Some(100u64),
        "thousand" => Some(1_000),
        "million" => Some(1_000_000),
        "billion" => Some(1_000_000_000),
        _ => None,
    };
    // Words with their spans; hyphens split words ("twenty-one").
    let mut words: Vec<(usize, usize, String)> = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        if c.is_alphabetic() {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            words.push((s, i, text[s..i].to_lowercase()));
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].2.as_str();
        let starts = unit(w).is_some() || scale(w).is_some();
        if !starts {
            i += 1;
            continue;
        }
        // Accumulate: total of completed scales, current group.
        let (mut total, mut current, mut any) = (0u64, 0u64, false);
        let mut j = i;
        let mut end = words[i].1;
        while j < words.len() {
            let w = words[j].2.as_str();
            let joined = j == i || {
                let gap = &text[words[j - 1].1..words[j].0];
                gap.trim().is_empty() || gap == "-"
            };
            if !joined {
                break;
            }
            if let Some(u) = unit(w) {
                // "a"/"an" only count before a scale word ("a hundred").
                if matches!(w, "a" | "an") && words.get(j + 1).is_none_or(|n| scale(&n.2).is_none())
                {
                    break;
                }
                // A unit continues a number only after a scale word, "and", or a tens
                // word when it is below ten ("forty eight"): "two five" is two numbers.
                let prev = (j > i).then(|| words[j - 1].2.as_str());
                let continues = match prev {
                    None => true,
                    Some(p) => {
                        scale(p).is_some()
                            || p == "and"
                            || (unit(p).is_some_and(|t| t >= 20 && t % 10 == 0) && u < 10)
                    }
                };
                if !continues {
                    break;
                }
                current += u;
                any = true;
            } else if let Some(s) = scale(w) {
                current = current.max(1) * s;
                if s >= 1_000 {
                    total += current;
                    current = 0;
                }
                any = true;
            } else if w == "and"
                && j > i
                && scale(&words[j - 1].2).is_some()
                && words
                    .get(j + 1)
                    .is_some_and(|n| unit(&n.2).is_some_and(|u| u < 100))
            {
                // "a hundred and ten" (but "between two and five" is two numbers)
            } else {
                break;
            }
            end = words[j].1;
            j += 1;
        }
        let value = total + current;
        // "one and a half", "two and a quarter", "three and three quarters".
        let word = |k: usize| words.get(k).map(|w| w.2.as_str());
        let fraction = match (word(j), word(j + 1), word(j + 2)) {
            (Some("and"), Some("a" | "one"), Some("half")) => Some(".5"),
            (Some("and"), Some("a" | "one"), Some("quarter")) => Some(".25"),
            (Some("and"), Some("three"), Some("quarters")) => Some(".75"),
            _ => None,
        };
        let mut digits = value.to_string();
        if let (true, Some(f)) = (any, fraction) {
            digits.push_str(f);
            end = words[j + 2].1;
            j += 3;
        }
        if any && value >= min {
            out.push((words[i].0, end, digits));
        }
        i = j.max(i + 1);
    }
    out
}

#[cfg(test)]
mod word_number_tests {
    use super::*;

    fn values(t: &str) -> Vec<(String, u64)> {
        word_numbers(t, 10)
            .into_iter()
            .map(|(s, e, h)| (t[s..e].to_string(), h))
            .collect()
    }

    #[test]
    fn reads_numbers_written_in_words() {
        let h = |s: &str| number_hash(s);
        assert_eq!(
            values("Twenty-one ships sank"),
            vec![("Twenty-one".into(), h("21"))]
        );
        assert_eq!(
            values("a hundred and ten keepers"),
            vec![("a hundred and ten".into(), h("110"))]
        );
        assert_eq!(
            values("more than two thousand fish"),
            vec![("two thousand".into(), h("2000"))]
        );
        assert_eq!(
            word_numbers("between two and five percent, two five", 2)
                .into_iter()
                .map(|(_, _, h)| h)
                .collect::<Vec<_>>(),
            vec![h("2"), h("5"), h("2"), h("5")],
            "\"and\" joins only after a hundred or a thousand"
        );
        assert_eq!(
            values("two thousand and twelve"),
            vec![("two thousand and twelve".into(), h("2012"))]
        );
        assert_eq!(
            values("forty eight pounds"),
            vec![("forty eight".into(), h("48"))]
        );
        assert_eq!(values("one of three boats and a cat"), vec![]);
        assert_eq!(
            word_numbers("one and a half times, twelve and three quarters", 0)
                .into_iter()
                .map(|(s, e, h)| (&"one and a half times, twelve and three quarters"[s..e], h))
                .collect::<Vec<_>>(),
            vec![
                ("one and a half", h("1.5")),
                ("twelve and three quarters", h("12.75"))
            ]
        );
        assert_eq!(
            values("twelve thousand five hundred"),
            vec![("twelve thousand five hundred".into(), h("12500"))]
        );
    }
}
