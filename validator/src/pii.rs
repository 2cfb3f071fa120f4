//! Personal data detectors: emails, phone numbers, payment card numbers, national ids,
//! street addresses, IBANs, IP addresses, dates of birth, passport and bank account
//! numbers named as such.
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
    Iban,
    Ip,
    BirthDate,
    Passport,
    Account,
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
            PiiKind::Iban => "IBAN",
            PiiKind::Ip => "IP address",
            PiiKind::BirthDate => "date of birth",
            PiiKind::Passport => "passport number",
            PiiKind::Account => "bank account number",
        }
    }

    /// Kinds a source may give of itself in public (a museum's street address, a
    /// server's IP address, a historical figure's date of birth): an answer that repeats
    /// the source's own is not flagged.
    pub(crate) fn public_in_source(self) -> bool {
        match self {
            PiiKind::Address | PiiKind::Ip | PiiKind::BirthDate => true,
            PiiKind::Email
            | PiiKind::Phone
            | PiiKind::Card
            | PiiKind::Ssn
            | PiiKind::UkNi
            | PiiKind::Iban
            | PiiKind::Passport
            | PiiKind::Account => false,
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
    iban: Regex,
    ip: Regex,
    birth_date: Regex,
    passport: Regex,
    account: Regex,
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
            // Country code, check digits, then 11–30 letters and digits, printed in
            // groups of four or run together; the mod-97 check decides.
            iban: re(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
            // Dotted quad; each part 0–255 is checked after matching.
            ip: re(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b"),
            // A full date (day, month and year) after "born", "date of birth" or "DOB".
            birth_date: re(concat!(
                r"(?i)\b(?:date of birth|d\.?o\.?b\.?|birth ?date|born(?: on)?)\s*(?:is|was|:|-)?\s*",
                r"(\d{1,2}[/.\-]\d{1,2}[/.\-](?:19|20)?\d{2}\b",
                r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?\s+\d{4}\b",
                r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b)",
            )),
            // A passport number named as one: 6–9 letters and digits, at least 5 digits.
            passport: re(
                r"(?i)\bpassport(?:\s+(?:number|no\.?|#))?\s*(?:is|:)?\s*([A-Z0-9]{6,9})\b",
            ),
            // A bank account number named as one (with or without a sort code).
            account: re(
                r"(?i)\b(?:account|acct\.?)\s*(?:number|no\.?|#)?\s*(?:is|:)?\s*(\d{6,12})\b",
            ),
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
        if digits >= 15 {
            for m in self.iban.find_iter(text) {
                let compact: String = m.as_str().chars().filter(|c| *c != ' ').collect();
                if (15..=34).contains(&compact.len()) && iban_valid(&compact) {
                    push(
                        &mut found,
                        PiiKind::Iban,
                        m.start(),
                        m.end(),
                        mask_digits(m.as_str()),
                    );
                }
            }
        }
        if digits >= 4 && text.contains('.') {
            for m in self.ip.find_iter(text) {
                let octets: Vec<u16> = m
                    .as_str()
                    .split('.')
                    .filter_map(|p| p.parse().ok())
                    .collect();
                // Loopback (127.x), "this host" (0.x) and netmasks (255.x) name no one.
                let octets_ok = octets.len() == 4
                    && octets.iter().all(|&x| x <= 255)
                    && !matches!(octets[0], 0 | 127 | 255);
                // "v1.2.3.4", "1.2.3.4.5" and section numbers inside longer dotted runs
                // are not addresses.
                let before = text[..m.start()].chars().next_back();
                let after = text[m.end()..].chars().next();
                let joined = matches!(before, Some('.' | 'v' | 'V'))
                    || after == Some('.')
                        && text[m.end() + 1..].starts_with(|c: char| c.is_ascii_digit());
                if octets_ok && !joined {
                    push(
                        &mut found,
                        PiiKind::Ip,
                        m.start(),
                        m.end(),
                        mask_digits(m.as_str()),
                    );
                }
            }
        }
        if digits >= 5 {
            for c in self.birth_date.captures_iter(text) {
                let d = c.get(1).expect("group 1");
                push(
                    &mut found,
                    PiiKind::BirthDate,
                    d.start(),
                    d.end(),
                    mask_digits(d.as_str()),
                );
            }
            for (re, kind) in [
                (&self.passport, PiiKind::Passport),
                (&self.account, PiiKind::Account),
            ] {
                for c in re.captures_iter(text) {
                    let d = c.get(1).expect("group 1");
                    if d.as_str().bytes().filter(u8::is_ascii_digit).count() >= 5 {
                        push(
                            &mut found,
                            kind,
                            d.start(),
                            d.end(),
                            mask_digits(d.as_str()),
                        );
                    }
                }
            }
        }
        found.sort_by_key(|m| m.start);
        found
    }

    /// What `text` gives of the kinds a source may publish about itself
    /// ([`PiiKind::public_in_source`]: street addresses, IP addresses, dates of birth),
    /// each normalised by [`address_key`], so an answer may repeat them.
    pub(crate) fn public(&self, text: &str) -> Vec<String> {
        self.find(text)
            .into_iter()
            .filter(|m| m.kind.public_in_source())
            .map(|m| address_key(&text[m.start..m.end]))
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

/// The IBAN check (ISO 13616): move the first four characters to the end, read
/// letters as 10–35, and the number is 1 modulo 97. `s` has no spaces.
pub(crate) fn iban_valid(s: &str) -> bool {
    let (head, tail) = s.split_at(4.min(s.len()));
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let Some(v) = c.to_digit(36) else {
            return false;
        };
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    rem == 1
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

    /// Each match's kind and the text it covers.
    fn found(t: &str) -> Vec<(PiiKind, String)> {
        Detectors::new()
            .find(t)
            .into_iter()
            .map(|m| (m.kind, t[m.start..m.end].to_string()))
            .collect()
    }

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
    fn finds_ibans_ip_addresses_birth_dates_passports_and_accounts() {
        // The IBAN examples of the ECBS registry: valid checksums, grouped or not.
        assert_eq!(
            found("Pay into GB82 WEST 1234 5698 7654 32 by Friday."),
            vec![(PiiKind::Iban, "GB82 WEST 1234 5698 7654 32".into())]
        );
        assert_eq!(
            found("IBAN DE89370400440532013000."),
            vec![(PiiKind::Iban, "DE89370400440532013000".into())]
        );
        assert!(iban_valid("GB82WEST12345698765432"));
        // One digit changed: the checksum fails, and it is no other kind either.
        assert!(found("Pay into GB82 WEST 1234 5698 7654 33 by Friday.").is_empty());
        assert_eq!(
            found("She logged in from 192.168.14.201 at noon."),
            vec![(PiiKind::Ip, "192.168.14.201".into())]
        );
        // Versions, section numbers and impossible octets are not addresses.
        assert!(found("Upgrade to v2.10.3.1 and read section 4.2.1.7.3.").is_empty());
        assert!(found("Readings of 312.5.6.7 were discarded.").is_empty());
        assert!(found("Bind 0.0.0.0 or 127.0.0.1 with mask 255.255.255.0.").is_empty());
        assert_eq!(
            found("Mr Hale (date of birth: 14/03/1987) was admitted."),
            vec![(PiiKind::BirthDate, "14/03/1987".into())]
        );
        assert_eq!(
            found("The patient, born on 3rd May 1950, was seen first."),
            vec![(PiiKind::BirthDate, "3rd May 1950".into())]
        );
        assert_eq!(
            found("DOB March 9, 1962."),
            vec![(PiiKind::BirthDate, "March 9, 1962".into())]
        );
        // A year of birth alone is a fact of history, not a personal record.
        assert!(found("Stephenson was born in 1781 and died in 1848.").is_empty());
        assert_eq!(
            found("His passport number is 533380006 and it expires soon."),
            vec![(PiiKind::Passport, "533380006".into())]
        );
        assert_eq!(
            found("Use account number 31926819 for the refund."),
            vec![(PiiKind::Account, "31926819".into())]
        );
        assert!(found("Passport holders queue here; the account was closed in 2019.").is_empty());
    }

    #[test]
    fn clean_text_has_no_matches() {
        let text =
            "The reservoir held 1,250,000 cubic metres in 2021, about 12.5% more than in 2019.";
        assert!(kinds(text).is_empty());
    }
}
