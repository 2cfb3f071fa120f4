//! Lexical contradiction checks: an answer that reuses the source's words but changes what
//! they say. Fluent, on-topic and well grounded by similarity, these are the unfaithful
//! answers that overlap and embeddings miss. Four generic rules, each naming what it
//! found (`CONTRADICTION`):
//!
//! - **number and unit**: a number of the answer occurs in the source, but never with the
//!   answer's unit or period ("15 seconds a day" where the source has only "15 seconds a
//!   month"; a time of day's "a.m."/"p.m." is a unit);
//! - **antonym flip**: the answer has a word the source lacks, whose antonym (a list of
//!   common English pairs, `data/antonyms.txt`) is in the source sentence the answer
//!   sentence matches best, next to a word both sentences share ("recover quickly" where
//!   the source says "recover slowly"); or, when the answer sentence shares three words or
//!   more with that sentence, a word that sentence lacks (the source may use it
//!   elsewhere), whose antonym is there within four words of a shared one ("returns …
//!   fell by seventeen percent" where the source's sentence on returns says "rose");
//! - **unknown name**: a capitalised word inside an answer sentence (not at its start, not
//!   an acronym) that the source never mentions ("on the Mael Stack" where the source
//!   names only Greyhorn Point);
//! - **misplaced number**: a number of the answer that the source gives only in sentences
//!   about something else, while the sentence that the answer and its question restate
//!   gives another number of the same kind ("above 10 degrees" for the first inspection,
//!   where the source's sentence about the first inspection says 14 degrees and 10 degrees
//!   is the temperature at which the bees cluster).
//!
//! They are cheap (a few µs per record) and tuned to flag rarely: a good paraphrase moves
//! words around, so each rule needs positive evidence of a change, not absence alone.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::semantic::sentences;
use crate::text::stem_in_place;

/// A word (lowercased) or a number or punctuation, with its original text.
#[derive(Debug, Clone)]
struct Tok {
    lower: String,
    orig: String,
    alpha: bool,
}

fn toks(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_alphabetic() {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                let apostrophe = (d == '\'' || d == '’')
                    && text[j + d.len_utf8()..]
                        .chars()
                        .next()
                        .is_some_and(char::is_alphabetic);
                if d.is_alphabetic() || apostrophe {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let orig = text[i..end].replace('’', "'");
            out.push(Tok {
                lower: orig.to_lowercase(),
                orig,
                alpha: true,
            });
        } else if c.is_ascii_digit() {
            let mut end = i + 1;
            while let Some(&(j, d)) = chars.peek() {
                let inner = (d == ',' || d == '.')
                    && text[j + 1..]
                        .chars()
                        .next()
                        .is_some_and(|x| x.is_ascii_digit());
                if d.is_ascii_digit() || inner {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let s = text[i..end].to_string();
            out.push(Tok {
                lower: s.clone(),
                orig: s,
                alpha: false,
            });
        } else if !c.is_whitespace() {
            out.push(Tok {
                lower: c.to_string(),
                orig: c.to_string(),
                alpha: false,
            });
        }
    }
    times_of_day(out)
}

/// "10 a.m." / "10 p.m." / "10pm": the clock half after a number becomes one word,
/// `am` or `pm`, a unit like any other ("10 p.m." where the source says "10 a.m.").
fn times_of_day(ts: Vec<Tok>) -> Vec<Tok> {
    let clock = |w: &[Tok]| {
        matches!(w[0].lower.as_str(), "a" | "p") && w[1].lower == "." && w[2].lower == "m"
    };
    if !ts.windows(3).any(clock) {
        return ts;
    }
    let mut out: Vec<Tok> = Vec::with_capacity(ts.len());
    let mut i = 0;
    while i < ts.len() {
        let after_number = out
            .last()
            .is_some_and(|t| t.lower.starts_with(|c: char| c.is_ascii_digit()));
        let half = |k: usize| ts.get(k).map(|t| t.lower.as_str());
        let merged = match (half(i), half(i + 1), half(i + 2), half(i + 3)) {
            (Some(h @ ("a" | "p")), Some("."), Some("m"), Some(".")) => Some((h, 4)),
            (Some(h @ ("a" | "p")), Some("."), Some("m"), _) => Some((h, 3)),
            _ => None,
        };
        if let (true, Some((h, n))) = (after_number, merged) {
            let word = format!("{h}m");
            out.push(Tok {
                orig: ts[i..i + n].iter().map(|t| t.orig.as_str()).collect(),
                lower: word,
                alpha: true,
            });
            i += n;
        } else {
            out.push(ts[i].clone());
            i += 1;
        }
    }
    out
}

fn stem(w: &str) -> String {
    let mut s = w.trim_end_matches("'s").to_string();
    stem_in_place(&mut s);
    s
}

const STOP: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with",
    "from", "into", "as", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that",
    "these", "those", "they", "them", "their", "he", "she", "his", "her", "we", "you", "i", "who",
    "which", "what", "when", "where", "why", "how", "than", "so", "not", "no", "can", "may",
    "will", "would", "should", "could", "do", "does", "did", "has", "have", "had", "there",
    "about", "some", "each", "every", "per", "also", "only", "just", "very", "too", "such",
];

fn is_stop(w: &str) -> bool {
    STOP.contains(&w)
}

fn content_stems(ts: &[Tok]) -> HashSet<String> {
    ts.iter()
        .filter(|t| t.alpha && t.lower.chars().count() > 1 && !is_stop(&t.lower))
        .map(|t| stem(&t.lower))
        .collect()
}

// ---- numbers -------------------------------------------------------------------------

fn word_value(w: &str) -> Option<f64> {
    const SMALL: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    if let Some(i) = SMALL.iter().position(|x| *x == w) {
        return Some(i as f64);
    }
    TENS.iter()
        .position(|x| *x == w)
        .map(|i| (i as f64 + 2.0) * 10.0)
}

fn scale_value(w: &str) -> Option<f64> {
    match w {
        "hundred" => Some(100.0),
        "thousand" => Some(1e3),
        "million" => Some(1e6),
        "billion" => Some(1e9),
        _ => None,
    }
}

/// (value, first token, token after the number) of each number in `ts`.
fn numbers(ts: &[Tok]) -> Vec<(f64, usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ts.len() {
        let t = &ts[i].lower;
        if t.starts_with(|c: char| c.is_ascii_digit()) {
            if let Ok(mut v) = t.replace(',', "").parse::<f64>() {
                let mut j = i + 1;
                if let Some(s) = ts.get(j).and_then(|n| scale_value(&n.lower)) {
                    v *= s;
                    j += 1;
                }
                out.push((v, i, j));
                i = j;
                continue;
            }
        }
        let a_scale = (t == "a" || t == "an")
            && ts
                .get(i + 1)
                .is_some_and(|n| scale_value(&n.lower).is_some());
        if word_value(t).is_some() || a_scale {
            let (mut total, mut cur) = (0.0, 0.0);
            let mut j = i;
            if a_scale {
                cur = 1.0;
                j += 1;
            }
            while j < ts.len() {
                let w = ts[j].lower.as_str();
                if let Some(v) = word_value(w) {
                    cur += v;
                } else if let Some(s) = scale_value(w) {
                    cur = f64::max(cur, 1.0) * s;
                    if s >= 1e3 {
                        total += cur;
                        cur = 0.0;
                    }
                } else {
                    // "twenty-one", "a hundred and ten": joiners before a number word.
                    let joiner = w == "-" || (w == "and" && (total + cur) > 0.0);
                    let next_is_number = ts
                        .get(j + 1)
                        .is_some_and(|n| word_value(&n.lower).is_some());
                    if !(joiner && next_is_number) {
                        break;
                    }
                }
                j += 1;
            }
            // "one of", "one reason": not a quantity.
            let lone_one = t == "one" && j == i + 1;
            if !lone_one {
                out.push((total + cur, i, j));
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

/// A unit or time-period word, canonicalised.
fn unit(w: &str) -> Option<&'static str> {
    Some(match w {
        "second" | "seconds" | "sec" | "secs" => "second",
        "minute" | "minutes" | "min" | "mins" => "minute",
        "hour" | "hours" | "hourly" => "hour",
        "day" | "days" | "daily" => "day",
        "week" | "weeks" | "weekly" => "week",
        "month" | "months" | "monthly" => "month",
        "year" | "years" | "yearly" | "annually" | "annual" => "year",
        "decade" | "decades" => "decade",
        "century" | "centuries" => "century",
        "percent" | "%" => "percent",
        "metre" | "metres" | "meter" | "meters" | "m" => "metre",
        "kilometre" | "kilometres" | "kilometer" | "kilometers" | "km" => "km",
        "centimetre" | "centimetres" | "centimeter" | "centimeters" | "cm" => "cm",
        "millimetre" | "millimetres" | "millimeter" | "millimeters" | "mm" => "mm",
        "mile" | "miles" => "mile",
        "foot" | "feet" | "ft" => "foot",
        "inch" | "inches" => "inch",
        "kilogram" | "kilograms" | "kg" => "kg",
        "gram" | "grams" | "g" => "g",
        "milligram" | "milligrams" | "mg" => "mg",
        "tonne" | "tonnes" | "ton" | "tons" => "tonne",
        "pound" | "pounds" | "lb" | "lbs" => "pound",
        "litre" | "litres" | "liter" | "liters" | "l" => "litre",
        "degree" | "degrees" | "celsius" => "degree",
        "fahrenheit" => "fahrenheit",
        "am" => "am",
        "pm" => "pm",
        "dollar" | "dollars" => "dollar",
        "euro" | "euros" => "euro",
        "volt" | "volts" => "volt",
        "watt" | "watts" => "watt",
        "hertz" | "hz" => "hertz",
        _ => return None,
    })
}

/// (unit, period) after a number ending at token `end`: a unit word within the next two
/// words, then a period introduced by "a", "an", "per", "each", "every" or "/".
fn unit_after(ts: &[Tok], end: usize) -> (Option<&'static str>, Option<&'static str>) {
    let mut u = None;
    let mut from = end;
    for (k, t) in ts.iter().enumerate().skip(end).take(3) {
        // "12 a year": what follows "a" is the period, and the number has no unit.
        if matches!(
            t.lower.as_str(),
            "a" | "an" | "per" | "each" | "every" | "/"
        ) {
            break;
        }
        if let Some(x) = unit(&t.lower) {
            u = Some(x);
            from = k + 1;
            break;
        }
        if !t.alpha && t.lower != "-" {
            break;
        }
    }
    let mut p = None;
    for k in from..(from + 3).min(ts.len().saturating_sub(1)) {
        let w = ts[k].lower.as_str();
        if matches!(w, "a" | "an" | "per" | "each" | "every" | "/") {
            if let Some(x) = unit(&ts[k + 1].lower) {
                p = Some(x);
                break;
            }
        }
        if !ts[k].alpha && w != "/" {
            break;
        }
    }
    (u, p)
}

/// The number-and-unit rule over the answer's tokens and its numbers `said`.
fn number_unit(
    answer: &[Tok],
    said: &[(f64, usize, usize)],
    chunk: &[Tok],
    in_chunk: &[(f64, usize, usize)],
) -> Option<String> {
    for &(v, s, e) in said {
        let (au, ap) = unit_after(answer, e);
        if au.is_none() && ap.is_none() {
            continue;
        }
        let occ: Vec<usize> = in_chunk
            .iter()
            .filter(|(cv, _, _)| (cv - v).abs() < 1e-9)
            .map(|&(_, _, ce)| ce)
            .collect();
        if occ.is_empty() {
            continue; // an invented number is the number check's to report
        }
        let compatible = occ.iter().any(|&ce| {
            let (cu, cp) = unit_after(chunk, ce);
            let same = |a: Option<&str>, b: Option<&str>| a.is_none() || b.is_none() || a == b;
            same(au, cu) && same(ap, cp)
        });
        if !compatible {
            let said: Vec<&str> = answer[s..(e + 4).min(answer.len())]
                .iter()
                .enumerate()
                .take_while(|(k, t)| *k < e - s || t.alpha || t.lower == "%")
                .map(|(_, t)| t.orig.as_str())
                .collect();
            return Some(format!(
                "the answer's {:?} is in the source only with another unit or period",
                said.join(" ")
            ));
        }
    }
    None
}

/// What a number counts: its unit (and period), `year` for a bare year, else the word
/// after it ("96,300 people"); `None` when nothing says.
fn number_kind(ts: &[Tok], v: f64, end: usize) -> Option<String> {
    match unit_after(ts, end) {
        (Some(u), Some(p)) => return Some(format!("{u}/{p}")),
        (Some(u), None) => return Some(u.to_string()),
        _ => {}
    }
    if v.fract() == 0.0 && (1000.0..=2100.0).contains(&v) {
        return Some("year".into());
    }
    let next = ts.get(end)?;
    (next.alpha && next.lower.chars().count() > 1 && !is_stop(&next.lower))
        .then(|| stem(&next.lower))
}

/// Token indices that end a clause: a number's claim is its clause ("Soviet
/// irrigation diverted the rivers, so by 2007 the sea had shrunk" says 2007 of the sea,
/// not of the irrigation; "completed in 1769 and later sailed with Cook" says 1769 of
/// the completion).
fn clause_bounds(st: &[Tok]) -> Vec<usize> {
    const ENDS: [&str; 13] = [
        ",", ";", ":", "(", ")", "—", "–", "so", "but", "while", "because", "whereas", "although",
    ];
    // "and" before a word of sequence starts another claim ("was completed in 1769 and
    // later sailed with Cook").
    const THEN: [&str; 6] = [
        "later",
        "then",
        "afterwards",
        "subsequently",
        "eventually",
        "soon",
    ];
    st.iter()
        .enumerate()
        .filter(|&(i, t)| {
            ENDS.contains(&t.lower.as_str())
                || (t.lower == "and"
                    && st
                        .get(i + 1)
                        .is_some_and(|n| THEN.contains(&n.lower.as_str())))
        })
        .map(|(i, _)| i)
        .collect()
}

/// How many of the words of the clause around tokens `s..e` and of its question each
/// source sentence shares; counted once per clause (`cache`, keyed by its start).
fn clause_overlaps<'c>(
    st: &[Tok],
    bounds: &[usize],
    (s, e): (usize, usize),
    asked: &HashSet<String>,
    src: &Source,
    cache: &'c mut HashMap<usize, Vec<usize>>,
) -> &'c [usize] {
    let from = bounds.iter().rev().find(|&&b| b < s).map_or(0, |b| b + 1);
    let to = bounds
        .iter()
        .find(|&&b| b >= e)
        .copied()
        .unwrap_or(st.len());
    cache.entry(from).or_insert_with(|| {
        let mine = content_stems(&st[from..to]);
        src.sents
            .iter()
            .map(|(_, c)| {
                c.iter()
                    .filter(|w| mine.contains(*w) || asked.contains(*w))
                    .count()
            })
            .collect()
    })
}

/// Whether a clause restates another source sentence (overlap `other`) rather than the
/// ones that give what it quotes (best overlap `home`): at least 3 words in common with
/// it, and 2 more than with any of those.
fn restates_other(home: usize, other: usize) -> bool {
    other >= 3 && other >= home + 2
}

/// The misplaced-number rule for one answer sentence `st` with its numbers `said`;
/// `quoted` holds every number of the whole answer; the question's content stems are
/// read into `asked` when first needed.
fn misplaced_number(
    st: &[Tok],
    said: &[(f64, usize, usize)],
    quoted: &[f64],
    (question, asked): (&str, &mut Option<HashSet<String>>),
    src: &Source,
) -> Option<String> {
    let same = |a: f64, b: f64| (a - b).abs() < 1e-9;
    let bounds = clause_bounds(st);
    let mut cache = HashMap::new();
    for &(v, s, e) in said {
        let Some(kind) = number_kind(st, v, e) else {
            continue;
        };
        let rival = |&(w, ref k): &(f64, Option<String>)| {
            !same(w, v)
                && k.as_deref() == Some(kind.as_str())
                && !quoted.iter().any(|&q| same(q, w))
        };
        // The number must be the source's (else it is the number check's), and another
        // of its kind must be there to be the right one: cheap tests first.
        if !src.numbers.iter().any(|n| same(n.0, v))
            || !src.sent_numbers.iter().flatten().any(rival)
        {
            continue;
        }
        let asked = asked.get_or_insert_with(|| content_stems(&toks(question)));
        let overlaps = clause_overlaps(st, &bounds, (s, e), asked, src, &mut cache);
        // How well the sentences that give `v` match the claim, and the best-matching
        // sentence that gives instead another number of the same kind, not quoted.
        let mut home: Option<usize> = None;
        let mut other: Option<(usize, f64)> = None;
        for (&overlap, nums) in overlaps.iter().zip(&src.sent_numbers) {
            if nums.iter().any(|&(n, _)| same(n, v)) {
                home = Some(home.map_or(overlap, |h| h.max(overlap)));
            } else if let Some(&(w, _)) = nums.iter().find(|n| rival(n)) {
                if other.is_none_or(|(o, _)| overlap > o) {
                    other = Some((overlap, w));
                }
            }
        }
        if let (Some(home), Some((overlap, w))) = (home, other) {
            if restates_other(home, overlap) {
                let text: Vec<&str> = st[s..e].iter().map(|t| t.orig.as_str()).collect();
                return Some(format!(
                    "the answer gives {:?}, but the source's sentence on what it says gives {}",
                    text.join(" "),
                    fmt_number(w)
                ));
            }
        }
    }
    None
}

fn fmt_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

// ---- antonyms ------------------------------------------------------------------------

fn antonyms() -> &'static HashMap<String, Vec<String>> {
    static A: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    A.get_or_init(|| {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for line in include_str!("../data/antonyms.txt").lines() {
            let mut it = line.split_whitespace();
            if let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) {
                m.entry(a.to_string()).or_default().push(b.to_string());
                m.entry(b.to_string()).or_default().push(a.to_string());
            }
        }
        m
    })
}

/// Every word of `ts` and its stem.
fn forms(ts: &[Tok]) -> HashSet<String> {
    ts.iter()
        .filter(|t| t.alpha)
        .flat_map(|t| [t.lower.clone(), stem(&t.lower)])
        .collect()
}

/// Content stems within `r` tokens of position `i`.
fn neighbours(ts: &[Tok], i: usize, r: usize) -> HashSet<String> {
    let lo = i.saturating_sub(r);
    let hi = (i + r + 1).min(ts.len());
    (lo..hi)
        .filter(|&k| k != i)
        .map(|k| &ts[k])
        .filter(|t| t.alpha && !is_stop(&t.lower) && word_value(&t.lower).is_none())
        .map(|t| stem(&t.lower))
        .collect()
}

/// Whether a word of the sentence (or its stem) has an antonym that the source has:
/// (one such word is not in the source either, one is).
fn flippable(answer_sent: &[Tok], chunk_words: &HashSet<String>) -> (bool, bool) {
    let ant = antonyms();
    let (mut absent, mut present) = (false, false);
    for t in answer_sent.iter().filter(|t| t.alpha) {
        let mut look = |w: &str| {
            if let Some(opps) = ant.get(w) {
                if opps.iter().any(|o| chunk_words.contains(o)) {
                    if chunk_words.contains(w) {
                        present = true;
                    } else {
                        absent = true;
                    }
                }
            }
        };
        look(&t.lower);
        look(&stem(&t.lower));
        if absent && present {
            break;
        }
    }
    (absent, present)
}

/// The antonym rule for answer sentence `answer_sent` (its words and stems `in_answer`)
/// against the source sentence it restates (`best`, its words and stems `in_best`): a
/// word not in `chunk_words` whose antonym `best` has within `r` words of a word both
/// share.
fn antonym_flip(
    (answer_sent, in_answer): (&[Tok], &HashSet<String>),
    (best, in_best): (&[Tok], &HashSet<String>),
    chunk_words: &HashSet<String>,
    r: usize,
) -> Option<String> {
    let ant = antonyms();
    for (i, t) in answer_sent.iter().enumerate().filter(|(_, t)| t.alpha) {
        // "more than half" and "less than half as much" often say the same thing with
        // the verb turned round: comparisons of quantity are not flips.
        let quantity = matches!(
            t.lower.as_str(),
            "more" | "less" | "fewer" | "most" | "least"
        ) && answer_sent.get(i + 1).is_some_and(|n| n.lower == "than");
        if quantity {
            continue;
        }
        for w in [t.lower.clone(), stem(&t.lower)] {
            let Some(opps) = ant.get(&w) else { continue };
            if chunk_words.contains(&w) {
                continue;
            }
            for o in opps {
                if !in_best.contains(o) || in_answer.contains(o) {
                    continue;
                }
                // The antonym's place in the source sentence shares a neighbour with the
                // answer's word: the same thing, said the other way.
                let mine = neighbours(answer_sent, i, r);
                let shared = best
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.lower == *o || stem(&b.lower) == *o)
                    .any(|(k, _)| !neighbours(best, k, r).is_disjoint(&mine));
                if shared {
                    return Some(format!(
                        "the answer says {:?} where the source says {o:?}",
                        t.orig
                    ));
                }
            }
        }
    }
    None
}

// ---- names ---------------------------------------------------------------------------

fn unknown_name(answer_sent: &[Tok], src: &Source, question_lower: &str) -> Option<String> {
    for i in 1..answer_sent.len() {
        let t = &answer_sent[i];
        let first = t.orig.chars().next().unwrap_or(' ');
        // An acronym ("NHS"), or a unit written in mixed case ("GWh", "MiB"): two
        // capitals in a short word.
        let capitals = t.orig.chars().filter(|c| c.is_uppercase()).count();
        let acronym = (t.orig.chars().filter(|c| c.is_alphabetic()).count() > 1
            && t.orig.chars().all(|c| !c.is_lowercase()))
            || (capitals >= 2 && t.orig.chars().count() <= 4);
        let after_break = matches!(
            answer_sent[i - 1].orig.as_str(),
            "." | ":" | ";" | "\"" | "("
        );
        if !t.alpha || !first.is_uppercase() || acronym || after_break || is_stop(&t.lower) {
            continue;
        }
        let name = t.lower.trim_end_matches("'s");
        // Known as written, in another inflection ("Romans", "Roman"), or named by the
        // question itself (then it is the question's subject, not a claim of the answer).
        let known = contains_word(&src.lower, name)
            || src.words.contains(&stem(name))
            || contains_word(question_lower, name);
        if !known {
            return Some(format!(
                "the answer names {:?}, which the source does not mention",
                t.orig.trim_end_matches("'s")
            ));
        }
    }
    None
}

/// Whether `word` occurs in `text` as a whole word (or the start of one: "Board's").
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        !text[..i]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
    })
}

/// A source chunk read once for the contradiction rules.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    toks: Vec<Tok>,
    /// The chunk's numbers (value, first token, token after).
    numbers: Vec<(f64, usize, usize)>,
    lower: String,
    /// Every word and its stem.
    words: HashSet<String>,
    /// Each sentence's tokens and content stems.
    sents: Vec<(Vec<Tok>, HashSet<String>)>,
    /// Each sentence's numbers: (value, kind as [`number_kind`] gives it).
    sent_numbers: Vec<Vec<(f64, Option<String>)>>,
    /// Each sentence's words and their stems.
    sent_words: Vec<HashSet<String>>,
}

impl Source {
    pub(crate) fn new(chunk: &str) -> Source {
        let toks = toks(chunk);
        let words = forms(&toks);
        let sents: Vec<(Vec<Tok>, HashSet<String>)> = sentences(chunk)
            .into_iter()
            .map(|s| {
                let t = self::toks(s);
                let c = content_stems(&t);
                (t, c)
            })
            .collect();
        let sent_numbers = sents
            .iter()
            .map(|(t, _)| {
                numbers(t)
                    .into_iter()
                    .map(|(v, _, e)| (v, number_kind(t, v, e)))
                    .collect()
            })
            .collect();
        let sent_words = sents.iter().map(|(t, _)| forms(t)).collect();
        Source {
            sent_numbers,
            sent_words,
            numbers: numbers(&toks),
            toks,
            lower: chunk.to_lowercase().replace('’', "'"),
            words,
            sents,
        }
    }
}

impl Source {
    /// Years the source gives in centuries or decades ("two centuries" → 200), so an
    /// answer may say them in years.
    pub(crate) fn years_in_periods(&self) -> Vec<u64> {
        self.numbers
            .iter()
            .copied()
            .filter(|(v, _, _)| v.fract() == 0.0 && *v > 0.0 && *v < 1e6)
            .filter_map(|(v, _, e)| {
                let per = match self.toks.get(e)?.lower.as_str() {
                    "century" | "centuries" => 100.0,
                    "decade" | "decades" => 10.0,
                    _ => return None,
                };
                Some((v * per) as u64)
            })
            .collect()
    }
}

/// The first contradiction found between `answer` (to `question`) and its source,
/// described.
pub(crate) fn find(answer: &str, question: &str, src: &Source) -> Option<String> {
    let question_lower = question.to_lowercase().replace('’', "'");
    let all = toks(answer);
    let all_numbers = numbers(&all);
    if let Some(d) = number_unit(&all, &all_numbers, &src.toks, &src.numbers) {
        return Some(d);
    }
    let quoted: Vec<f64> = all_numbers.iter().map(|n| n.0).collect();
    // The question's words, read only when a rule needs them (rarely).
    let mut asked: Option<HashSet<String>> = None;
    for s in sentences(answer) {
        let st = toks(s);
        if let Some(d) = unknown_name(&st, src, &question_lower) {
            return Some(d);
        }
        if !quoted.is_empty() {
            let said = numbers(&st);
            if let Some(d) = misplaced_number(&st, &said, &quoted, (question, &mut asked), src) {
                return Some(d);
            }
        }
        let (strict, loose) = flippable(&st, &src.words);
        if !strict && !loose {
            continue;
        }
        // The source sentence this one restates: the most answer words in common, then
        // the most question words ("On its south flank." shares one word with the
        // source; its question, "On which flank did the bulge form?", picks the
        // sentence about the bulge).
        let mine = content_stems(&st);
        let asked = asked.get_or_insert_with(|| content_stems(&toks(question)));
        let best = src
            .sents
            .iter()
            .enumerate()
            .map(|(i, (_, c))| {
                let a = c.intersection(&mine).count();
                let q = c.intersection(asked).filter(|w| !mine.contains(*w)).count();
                ((a, q), i)
            })
            .max_by_key(|(n, _)| *n);
        if let Some(((a, q), i)) = best {
            let in_answer = forms(&st);
            let answer = (st.as_slice(), &in_answer);
            let best = (src.sents[i].0.as_slice(), &src.sent_words[i]);
            if strict && a >= 1 && a + q >= 2 {
                if let Some(d) = antonym_flip(answer, best, &src.words, 2) {
                    return Some(d);
                }
            }
            if a >= 3 {
                // The restated sentence says the opposite, whatever other sentences say.
                if let Some(d) = antonym_flip(answer, best, best.1, 4) {
                    return Some(d);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(answer: &str, chunk: &str) -> Option<String> {
        super::find(answer, "", &Source::new(chunk))
    }

    const WATCH: &str = "A quartz watch typically drifts by about 15 seconds a month, while a well-regulated mechanical watch may gain or lose several seconds a day.";
    const REEF: &str = "It may take five to ten years for a new colony to grow large enough to reproduce, which is one reason damaged reefs recover slowly.";
    const LIGHT: &str = "The Board installed its first such lens at Greyhorn Point in 1852, and the light's range increased from eighteen to roughly thirty-two kilometres.";

    #[test]
    fn finds_a_number_with_another_unit() {
        let d = find("It drifts by about 15 seconds a day.", WATCH).unwrap();
        assert!(d.contains("\"15 seconds a day\""), "{d}");
        assert_eq!(find("It drifts by about 15 seconds a month.", WATCH), None);
        assert_eq!(find("About 15 seconds.", WATCH), None);
        assert_eq!(
            find("Its range grew to about thirty-two kilometres.", LIGHT),
            None
        );
        assert!(find("Its range grew to about 32 miles.", LIGHT).is_some());
        // Times of day: the clock half is the unit.
        let rota = "A handover nurse works in the ambulance bay from 10 a.m. to 2 a.m. daily.";
        let d = find("From 10 p.m. to 2 a.m.", rota).unwrap();
        assert!(d.contains("\"10 p.m."), "{d}");
        assert_eq!(find("From 10am until 2am.", rota), None);
        let s = Source::new("For nearly two centuries, and for three decades after 1900.");
        assert_eq!(s.years_in_periods(), vec![200, 30]);
        // "a year" is a period, not the number's unit: "£12 a year" is "twelve pounds a
        // year", but not "twelve pounds a month".
        let card = "Visitors may buy a visitor card for twelve pounds a year.";
        assert_eq!(find("£12 a year.", card), None);
        assert!(find("£12 a month.", card).is_some());
    }

    #[test]
    fn finds_an_antonym_flip() {
        let d = find(
            "Usually about a year, which is why damaged reefs recover quickly.",
            REEF,
        )
        .unwrap();
        assert!(d.contains("quickly") && d.contains("slowly"), "{d}");
        let oil = "Oil consumption fell by more than half.";
        assert_eq!(find("It burned less than half as much oil.", oil), None);
        assert_eq!(
            find("Damaged reefs recover slowly, over years.", REEF),
            None
        );
        // An antonym with no shared neighbour is not a flip.
        assert_eq!(
            find(
                "Larvae settle quickly on hard surfaces, and damaged reefs take years.",
                REEF
            ),
            None
        );
        // The answer's word may be elsewhere in the source when the sentence it restates
        // (three words or more in common) says the opposite.
        let trial = "Income from overdue charges fell from 9,800 pounds to 8,450 pounds. \
The number of items returned after being overdue for more than three months rose by \
seventeen percent.";
        let d = find(
            "The number of items returned after long overdue periods fell by seventeen percent.",
            trial,
        )
        .unwrap();
        assert!(d.contains("\"fell\"") && d.contains("\"rose\""), "{d}");
        assert_eq!(find("Income from overdue charges fell.", trial), None);
        assert_eq!(
            find(
                "Returns of items overdue for more than three months rose.",
                trial
            ),
            None
        );
        let tide = "Sihwa generates only on the incoming tide, letting the sea flow in.";
        assert!(find("Sihwa generates on the outgoing tide.", tide).is_some());
        // Compass directions are opposites too.
        let bulge = "Magma pushed out a bulge on its north flank that grew every day.";
        let q = "On which flank did the bulge form?";
        let d = super::find("On its south flank.", q, &Source::new(bulge)).unwrap();
        assert!(d.contains("south") && d.contains("north"), "{d}");
        assert_eq!(
            super::find("On its north flank.", q, &Source::new(bulge)),
            None
        );
    }

    #[test]
    fn finds_a_number_taken_from_another_sentence() {
        let hive = "Bees form a tight winter cluster once the air drops below 10 degrees. \
The first full inspection of the year waits for a calm day above 14 degrees, usually in April. \
A colony may hold 50,000 bees in summer.";
        let q = "At what temperature is the first full inspection of the year carried out?";
        let src = Source::new(hive);
        let d = super::find("On a calm day above 10 degrees.", q, &src).unwrap();
        assert!(d.contains("\"10\"") && d.contains("14"), "{d}");
        assert_eq!(
            super::find("On a calm day above 14 degrees.", q, &src),
            None
        );
        // Both numbers quoted: a comparison, not a swap.
        assert_eq!(
            super::find(
                "Above 14 degrees; the bees cluster below 10 degrees.",
                q,
                &src
            ),
            None
        );
        // Another kind of number in the sentence it restates is no evidence.
        assert_eq!(
            super::find(
                "When the air is below 10 degrees the bees cluster.",
                "When do bees form a winter cluster?",
                &src
            ),
            None
        );
        let years = Source::new(
            "The seed bank was founded in 1987 by three councils. In 1994 it moved to the old grain store.",
        );
        let q = "In what year was the seed bank founded?";
        assert!(super::find("In 1994.", q, &years).is_some());
        assert_eq!(super::find("In 1987.", q, &years), None);
        // A number's claim is its clause: 2007 is said of the sea, not of the irrigation
        // that the rest of the sentence restates.
        let aral = Source::new(
            "Beginning in the 1960s, Soviet irrigation projects diverted the Amu Darya and Syr \
Darya rivers to grow cotton in the desert. By 2007 the sea had shrunk to 10% of its size.",
        );
        assert_eq!(
            super::find(
                "Soviet irrigation projects diverted the rivers to grow cotton, so by 2007 the sea had shrunk.",
                "Why did the Aral Sea shrink?",
                &aral
            ),
            None
        );
        // "and later" starts another claim: 1769 is said of the copy's completion, not of
        // the voyage the rest of the sentence restates.
        let k1 = Source::new(
            "Larcum Kendall produced an exact copy, known as K1, which was completed in 1769. \
K1 sailed with Captain James Cook on his second voyage of exploration, from 1772 to 1775.",
        );
        let q = "Who made the copy that went with Cook, and when was it finished?";
        let joined = "Kendall; the copy, K1, was completed in 1769 and later sailed on Cook's second voyage.";
        assert_eq!(super::find(joined, q, &k1), None);
        // A bare "and" does not split: the clause is read whole, and here (wrongly) as
        // restating the voyage's sentence. Only a word of sequence marks a second claim.
        assert!(super::find(&joined.replace(" and later", " and"), q, &k1).is_some());
    }

    #[test]
    fn finds_an_unknown_name() {
        let d = find("On the Mael Stack in 1852.", LIGHT).unwrap();
        assert!(d.contains("Mael"), "{d}");
        assert_eq!(find("At Greyhorn Point, in 1852.", LIGHT), None);
        assert_eq!(
            find("The Board's first lens went to Greyhorn Point.", LIGHT),
            None
        );
        // Acronyms, units in mixed case and sentence starts are not names.
        assert_eq!(find("In 1852. UV lamps came later.", LIGHT), None);
        assert_eq!(find("In 1852, and 40 GWh or 2 MiB later.", LIGHT), None);
        // Another inflection of a word of the source, or a name the question gives.
        assert_eq!(find("The Boards installed it.", LIGHT), None);
        let src = Source::new(LIGHT);
        assert_eq!(
            super::find(
                "Unlike the Mael Stack, Greyhorn Point got one.",
                "Did the Mael Stack get a lens first?",
                &src
            ),
            None
        );
    }
}
