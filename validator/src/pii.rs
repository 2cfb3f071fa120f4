//! Personal data detectors: emails, phone numbers, payment card numbers, national ids,
//! street addresses.
//!
//! Regexes are compiled once (in [`Detectors::new`]) and only run when a cheap prefilter
//! says they can match (an `@` for emails, enough digits for the numeric kinds), so clean
//! text costs a byte scan. Matches are reported masked: a detail never carries the value.

use regex::Regex;

/// The kind of personal data found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PiiKind {
    Email,
    Phone,
    Card,
    Ssn,
    UkNi,
    Address,
}

impl PiiKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone number",
            PiiKind::Card => "payment card number",
            PiiKind::Ssn => "US social security number",
            PiiKind::UkNi => "UK national insurance number",
            PiiKind::Address => "street address",
        }
    }
}

/// One match: its kind, byte span and a masked rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PiiMatch {
    pub(crate) kind: PiiKind,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) masked: String,
}

/// The compiled detectors.
#[derive(Debug, Clone)]
pub(crate) struct Detectors {
    email: Regex,
    ssn: Regex,
    card: Regex,
    phone_intl: Regex,
    phone_nanp: Regex,
    phone_national: Regex,
    uk_ni: Regex,
    address: Regex,
}

impl Detectors {
    pub(crate) fn new() -> Self {
        let re = |s: &str| Regex::new(s).expect("built-in PII regex compiles");
        Self {
            email: re(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"),
            ssn: re(r"\b(\d{3})-(\d{2})-(\d{4})\b"),
            card: re(r"\b\d(?:[ \-]?\d){12,18}\b"),
            // "+" country code, then 2–5 groups of digits (optionally one in parentheses).
            phone_intl: re(r"\+\d{1,3}(?:[ .\-]?(?:\(\d{1,4}\)|\d{1,5})){2,5}\b"),
            // North-American: optional +1, (ddd) or ddd, then ddd-dddd with separators.
            phone_nanp: re(
                r"(?:\+?1[ .\-]?)?(?:\((\d{3})\)[ .\-]?|\b(\d{3})[ .\-])(\d{3})[ .\-](\d{4})\b",
            ),
            // National trunk-prefix form (UK and most of Europe): 0, then 9–10 more digits
            // in 2–3 groups ("020 7946 0018", "07700 900147", "0161 496 0325").
            phone_national: re(r"\b0[1-9]\d{1,4}(?:[ \-]\d{2,6}){1,2}\b"),
            // Letters as HMRC issues them, plus the QQ prefix of its specimen numbers
            // (which show up in real data as placeholders all the same).
            uk_ni: re(r"\b([A-CEGHJ-TW-Z][A-CEGHJ-NP-TW-Z]) ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
            // A house number, one to three capitalised words and a street type ("14
            // Orchard Lane", "221B Baker Street"), then optionally a town and a UK
            // postcode or a US state and ZIP code. Types that also end names in prose
            // ("the 9 Supreme Court justices", "16 Caen Hill locks") are left out.
            address: re(concat!(
                r"\b\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][A-Za-z'’\-]*\.?\s+){1,3}",
                r"(?:(?:Street|Road|Lane|Avenue|Drive|Close|Crescent|Terrace|Gardens|Grove",
                r"|Boulevard|Mews)\b|(?:St|Rd|Ave|Blvd)\b\.?)",
                r"(?:,?\s+[A-Z][A-Za-z'’\-]+(?:\s+[A-Z][a-z'’\-]+)?)?",
                r"(?:,?\s+[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b|,?\s+[A-Z]{2}\s+\d{5}\b)?",
            )),
        }
    }

    /// Every personal-data match in `text`, in order of position, non-overlapping.
    pub(crate) fn find(&self, text: &str) -> Vec<PiiMatch> {
        let mut found: Vec<PiiMatch> = Vec::new();
        let digits = text.bytes().filter(u8::is_ascii_digit).count();
        if text.contains('@') {
            for m in self.email.find_iter(text) {
                push(
                    &mut found,
                    PiiKind::Email,
                    m.start(),
                    m.end(),
                    mask_email(m.as_str()),
                );
            }
        }
        if digits >= 9 {
            for c in self.ssn.captures_iter(text) {
                let m = c.get(0).expect("group 0");
                let (area, group, serial) = (&c[1], &c[2], &c[3]);
                // Structurally impossible parts only: numbers from reserved ranges
                // (9xx, 666, the 987-65-432x of advertisements) still look like an SSN
                // to a reader, and a training set should not teach the model to write
                // them.
                let valid = area != "000" && group != "00" && serial != "0000";
                if valid {
                    push(
                        &mut found,
                        PiiKind::Ssn,
                        m.start(),
                        m.end(),
                        mask_digits(m.as_str()),
                    );
                }
            }
        }
        if digits >= 13 {
            for m in self.card.find_iter(text) {
                let ds: Vec<u8> = m
                    .as_str()
                    .bytes()
                    .filter(u8::is_ascii_digit)
                    .map(|d| d - b'0')
                    .collect();
                if (13..=19).contains(&ds.len()) && luhn_valid(&ds) {
                    push(
                        &mut found,
                        PiiKind::Card,
                        m.start(),
                        m.end(),
                        mask_digits(m.as_str()),
                    );
                }
            }
        }
        if digits >= 8 && text.contains('+') {
            for m in self.phone_intl.find_iter(text) {
                let n = m.as_str().bytes().filter(u8::is_ascii_digit).count();
                let after_digit = text[m.end()..]
                    .bytes()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit());
                if (8..=15).contains(&n) && !after_digit && !preceded_by_word(text, m.start()) {
                    push(
                        &mut found,
                        PiiKind::Phone,
                        m.start(),
                        m.end(),
                        mask_digits(m.as_str()),
                    );
                }
            }
        }
        if digits >= 10 {
            for c in self.phone_nanp.captures_iter(text) {
                let m = c.get(0).expect("group 0");
                let area = c.get(1).or_else(|| c.get(2)).map_or("", |g| g.as_str());
                let exchange = &c[3];
                // Area code and exchange start with 2–9: keeps ranges and ids out. A
                // parenthesised area code is a phone number whatever the exchange.
                let parenthesised = c.get(1).is_some();
                let valid = !area.starts_with(['0', '1'])
                    && (parenthesised || !exchange.starts_with(['0', '1']));
                if valid && !preceded_by_word(text, m.start()) {
                    push(
                        &mut found,
                        PiiKind::Phone,
                        m.start(),
                        m.end(),
                        mask_digits(m.as_str()),
                    );
                }
            }
        }
        if digits >= 10 {
            for m in self.phone_national.find_iter(text) {
                let n = m.as_str().bytes().filter(u8::is_ascii_digit).count();
                let after = text[m.end()..].chars().next();
                let joined = after.is_some_and(|c| {
                    c.is_ascii_digit()
                        || c == '-'
                        || c == '.' && text[m.end() + 1..].starts_with(|d: char| d.is_ascii_digit())
                });
                if (10..=11).contains(&n) && !joined && !preceded_by_word(text, m.start()) {
                    push(
                        &mut found,
                        PiiKind::Phone,
                        m.start(),
                        m.end(),
                        mask_digits(m.as_str()),
                    );
                }
            }
        }
        if digits >= 6 {
            for c in self.uk_ni.captures_iter(text) {
                let m = c.get(0).expect("group 0");
                let prefix = &c[1];
                if !matches!(prefix, "BG" | "GB" | "NK" | "KN" | "TN" | "NT" | "ZZ") {
                    push(
                        &mut found,
                        PiiKind::UkNi,
                        m.start(),
                        m.end(),
                        mask_digits(m.as_str()),
                    );
                }
            }
        }
        if digits >= 1 {
            for m in self.address.find_iter(text) {
                push(
                    &mut found,
                    PiiKind::Address,
                    m.start(),
                    m.end(),
                    mask_digits(m.as_str()),
                );
            }
        }
        found.sort_by_key(|m| m.start);
        found
    }

    /// The street addresses `text` gives, normalised as [`address_key`] makes them: a
    /// source's own (a museum's, a station's) are public, so an answer may repeat them.
    pub(crate) fn addresses(&self, text: &str) -> Vec<String> {
        self.address
            .find_iter(text)
            .map(|m| address_key(m.as_str()))
            .collect()
    }
}

/// Add a match unless it overlaps one already found (earlier detectors win).
fn push(found: &mut Vec<PiiMatch>, kind: PiiKind, start: usize, end: usize, masked: String) {
    if found.iter().all(|f| end <= f.start || start >= f.end) {
        found.push(PiiMatch {
            kind,
            start,
            end,
            masked,
        });
    }
}

/// True when the byte before `i` is a digit or letter (the match starts mid-token).
fn preceded_by_word(text: &str, i: usize) -> bool {
    text[..i]
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric)
}

/// The Luhn checksum over decimal digits (0–9 each).
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &d)| {
            let d = u32::from(d);
            if k % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    // Not `is_multiple_of`: rust-version is 1.85.
    matches!(sum % 10, 0)
}

/// An address's words, lower-cased, without punctuation: what is compared with a source's.
pub(crate) fn address_key(s: &str) -> String {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `jane.doe@example.com` → `j***@***.com`.
fn mask_email(s: &str) -> String {
    let first = s.chars().next().unwrap_or('*');
    let tld = s.rsplit('.').next().unwrap_or("");
    format!("{first}***@***.{tld}")
}

/// Every alphanumeric character but the last two becomes `*`; separators stay.
fn mask_digits(s: &str) -> String {
    let total = s.chars().filter(|c| c.is_alphanumeric()).count();
    let mut seen = 0;
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                seen += 1;
                if seen + 2 > total {
                    c
                } else {
                    '*'
                }
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<PiiKind> {
        Detectors::new()
            .find(text)
            .into_iter()
            .map(|m| m.kind)
            .collect()
    }

    #[test]
    fn luhn_known_values() {
        let d = |s: &str| s.bytes().map(|c| c - b'0').collect::<Vec<u8>>();
        assert!(luhn_valid(&d("4111111111111111")));
        assert!(luhn_valid(&d("79927398713")));
        assert!(luhn_valid(&d("5555555555554444")));
        assert!(!luhn_valid(&d("4111111111111112")));
        assert!(!luhn_valid(&d("79927398710")));
        assert!(!luhn_valid(&[]));
    }

    #[test]
    fn finds_emails_and_masks_them() {
        let m = Detectors::new().find("write to jane.doe@example.com today");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].kind, PiiKind::Email);
        assert_eq!(m[0].masked, "j***@***.com");
        assert!(!m[0].masked.contains("jane.doe"));
    }

    #[test]
    fn finds_phone_numbers_in_common_forms() {
        for text in [
            "call +1 415-555-0132 now",
            "call (212) 555-0198 now",
            "call 617.555.0147 now",
            "call 415-555-0132",
            "ring +44 20 7946 0958 today",
            "ring +33 1 42 68 53 00 today",
            "ring +49 (30) 1234 5678.",
            "ring (555) 014-2337 if it is dark",
            "text me on 07700 900147.",
            "reach me on 0161 496 0325",
            "on 020 7946 0018, weekdays",
        ] {
            assert_eq!(kinds(text), vec![PiiKind::Phone], "{text}");
        }
        let m = Detectors::new().find("call +1 415-555-0132 now");
        assert_eq!(m[0].masked, "+* ***-***-**32");
    }

    #[test]
    fn years_ranges_and_plain_numbers_are_not_phones() {
        for text in [
            "between 1990 and 2024 the share rose from 12% to 3,456,789 units",
            "the period 1914-1918 and 1939-1945",
            "order 100-200-3000 items",
            "revenue was 123456789 dollars in 2019",
            "version 2.14.1 released on 2024-05-06",
            "the score was +3 and then +12.5 points",
            "it holds 0.5 litres and 10 000 to 12 000 fish",
            "between 01 and 2024 1234",
        ] {
            assert!(kinds(text).is_empty(), "{text}: {:?}", kinds(text));
        }
    }

    #[test]
    fn finds_luhn_valid_cards_only() {
        assert_eq!(
            kinds("card 4111 1111 1111 1111 expires"),
            vec![PiiKind::Card]
        );
        assert_eq!(kinds("card 5555-5555-5555-4444"), vec![PiiKind::Card]);
        assert_eq!(kinds("card 4111111111111111"), vec![PiiKind::Card]);
        assert!(kinds("ref 4111 1111 1111 1112").is_empty());
        let m = Detectors::new().find("card 4111 1111 1111 1111");
        assert_eq!(m[0].masked, "**** **** **** **11");
    }

    #[test]
    fn finds_national_ids() {
        assert_eq!(kinds("SSN 123-45-6789 on file"), vec![PiiKind::Ssn]);
        assert!(kinds("SSN 000-45-6789 or 123-00-6789").is_empty());
        assert_eq!(kinds("claim for SSN 987-65-4320"), vec![PiiKind::Ssn]);
        assert_eq!(kinds("NI number QQ 12 34 56 C"), vec![PiiKind::UkNi]);
        assert_eq!(kinds("NI number JG 10 37 42 C"), vec![PiiKind::UkNi]);
        assert_eq!(kinds("NI number AB123456D"), vec![PiiKind::UkNi]);
        assert!(kinds("code GB123456A").is_empty());
        let m = Detectors::new().find("SSN 123-45-6789");
        assert_eq!(m[0].masked, "***-**-**89");
    }

    #[test]
    fn finds_street_addresses() {
        let found = |t: &str| {
            Detectors::new()
                .find(t)
                .into_iter()
                .map(|m| (m.kind, t[m.start..m.end].to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            found("Write to Tom at his home, 14 Orchard Lane, Wexcombe WX3 7PL, today."),
            vec![(PiiKind::Address, "14 Orchard Lane, Wexcombe WX3 7PL".into())]
        );
        assert_eq!(
            found("She lives at 1600 Pennsylvania Avenue NW? No: 221B Baker Street."),
            vec![
                (PiiKind::Address, "1600 Pennsylvania Avenue NW".into()),
                (PiiKind::Address, "221B Baker Street".into())
            ]
        );
        assert_eq!(
            found("Send it to 42 Elm St., Springfield, IL 62704 by Friday."),
            vec![(PiiKind::Address, "42 Elm St., Springfield, IL 62704".into())]
        );
        // Numbers before ordinary capitalised words are not addresses.
        assert!(found("In 1842 Gregory fitted 3 Arms to the Signal Post on the line.").is_empty());
        assert!(found("About 40 Swarms were Collected on the Hill farms.").is_empty());
        assert!(found("The 9 Supreme Court justices saw the 16 Caen Hill locks.").is_empty());
        assert_eq!(address_key("14 Orchard  Lane,"), "14 orchard lane");
    }

    #[test]
    fn clean_text_has_no_matches() {
        let text =
            "The reservoir held 1,250,000 cubic metres in 2021, about 12.5% more than in 2019.";
        assert!(kinds(text).is_empty());
    }
}
