//! Unit tests of the public API: each check's true positives and clean negatives,
//! signatures, and dedup order-independence.

use super::*;
use seedstream_core::record::codes;
use serde_json::json;

const CHUNK: &str = "The Aral Sea was once the fourth-largest lake in the world, covering about \
68,000 square kilometres. Beginning in the 1960s, Soviet irrigation projects diverted the Amu \
Darya and Syr Darya rivers to grow cotton in the surrounding desert. By 2007 the sea had shrunk \
to 10% of its original size and split into several smaller lakes. The fishing industry collapsed, \
and the exposed seabed released salt and dust laden with pesticides, harming the health of nearby \
communities. A dam completed in 2005 has since helped the northern part recover, with water levels \
rising by 12 metres and fish stocks returning.";

fn fields() -> Vec<String> {
    vec!["question".into(), "answer".into()]
}

fn validator() -> Validator {
    Validator::new(&ValidateSpec::default(), &fields())
}

fn qa(q: &str, a: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("question".into(), json!(q));
    m.insert("answer".into(), json!(a));
    m
}

fn score(q: &str, a: &str) -> Scored {
    validator().score(&Input {
        fields: &qa(q, a),
        chunk: CHUNK,
    })
}

fn codes_of(s: &Scored) -> Vec<&str> {
    s.reasons.iter().map(|r| r.code.as_str()).collect()
}

const GOOD_Q: &str = "Why did the Aral Sea shrink?";
const GOOD_A: &str =
    "Soviet irrigation projects diverted the rivers that fed it to grow cotton, so by 2007 \
the sea had shrunk to 10% of its original size.";

#[test]
fn a_good_record_passes_every_check() {
    let s = score(GOOD_Q, GOOD_A);
    assert!(s.reasons.is_empty(), "{:?}", s.reasons);
    for key in ["format", "faithfulness", "relevance", "privacy", "copying"] {
        let v = s.scores[key];
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    assert_eq!(s.scores["format"], 1.0);
    assert_eq!(s.scores["privacy"], 1.0);
    assert!(s.scores["faithfulness"] > 0.9, "{:?}", s.scores);
    assert!(s.scores["relevance"] > 0.5, "{:?}", s.scores);
}

#[test]
fn format_flags_missing_non_string_and_length() {
    let v = validator();
    let mut m = Map::new();
    m.insert("question".into(), json!(GOOD_Q));
    m.insert("extra".into(), json!(42)); // extra keys are ignored
    let s = v.score(&Input {
        fields: &m,
        chunk: CHUNK,
    });
    assert_eq!(codes_of(&s), vec![codes::FORMAT]);
    assert!(
        s.reasons[0].detail.contains("answer: missing"),
        "{}",
        s.reasons[0].detail
    );
    assert_eq!(s.scores["format"], 0.5);

    m.insert("answer".into(), json!(["a", "list"]));
    let s = v.score(&Input {
        fields: &m,
        chunk: CHUNK,
    });
    assert!(s.reasons[0]
        .detail
        .contains("answer: expected a string, found an array"));

    let s = score(GOOD_Q, "  a ");
    assert_eq!(s.reasons[0].code, codes::FORMAT);
    assert!(
        s.reasons[0]
            .detail
            .contains("answer: 1 chars, expected at least 3"),
        "{}",
        s.reasons[0].detail
    );

    let long = "cotton ".repeat(700);
    let s = score(GOOD_Q, &long);
    assert!(codes_of(&s).contains(&codes::FORMAT), "{:?}", s.reasons);
    assert!(s.reasons[0].detail.contains("expected at most 4000"));
}

#[test]
fn faithfulness_flags_unsupported_answers() {
    let s = score(
        GOOD_Q,
        "Volcanic eruptions buried the basin under thick ash and lava flows from nearby mountains.",
    );
    assert!(codes_of(&s).contains(&codes::UNFAITHFUL), "{:?}", s.reasons);
    assert!(s.scores["faithfulness"] < 0.2);
    let d = &s
        .reasons
        .iter()
        .find(|r| r.code == codes::UNFAITHFUL)
        .unwrap()
        .detail;
    assert!(
        d.contains("volcanic") && d.contains("min_score 0.50"),
        "{d}"
    );

    // Inflections of source words count as support (light stemming).
    let s = score(
        GOOD_Q,
        "Irrigation project diverting the river shrank the lake; fisheries collapsed.",
    );
    assert!(
        !codes_of(&s).contains(&codes::UNFAITHFUL),
        "{:?} {:?}",
        s.reasons,
        s.scores
    );
}

#[test]
fn invented_numbers_are_flagged_and_listed() {
    let s = score(GOOD_Q, "By 2007 the sea had shrunk to 10% of its size, about 4,812 square kilometres and 37% less.");
    let r = s
        .reasons
        .iter()
        .find(|r| r.code == codes::INVENTED_NUMBER)
        .expect("invented number");
    assert!(
        r.detail.contains("4,812") && r.detail.contains("37%"),
        "{}",
        r.detail
    );
    assert!(
        !r.detail.contains("2007") && !r.detail.contains("10%"),
        "{}",
        r.detail
    );

    // Same numbers in another form (thousands separator, decimals) are not invented.
    let s = score(
        GOOD_Q,
        "It once covered about 68000 square kilometres, and levels rose 12.0 metres after 2005.",
    );
    assert!(
        !codes_of(&s).contains(&codes::INVENTED_NUMBER),
        "{:?}",
        s.reasons
    );

    // A number worked out from two quoted source numbers is not invented; the same
    // number without them is, and so is a small number written in words.
    let s = score(
        GOOD_Q,
        "The dam came 2 years before 2007: it was completed in 2005.",
    );
    assert!(
        !codes_of(&s).contains(&codes::INVENTED_NUMBER),
        "{:?}",
        s.reasons
    );
    for (answer, invented) in [
        ("The sea shrank for 42 years, from 1965 to 2007.", "42"),
        ("The dam came 2 years before 2007.", "2"),
        ("Water levels have risen by seven metres.", "seven"),
    ] {
        let s = score(GOOD_Q, answer);
        let r = s.reasons.iter().find(|r| r.code == codes::INVENTED_NUMBER);
        assert!(
            r.is_some_and(|r| r.detail.contains(invented)),
            "{answer}: {:?}",
            s.reasons
        );
    }

    // Phrases that mean "always" are not quantities; the same numbers alone are.
    for answer in [
        "Monitoring stations now watch the sea seven days a week.",
        "Pumps run 24 hours a day, 365 days a year; the dam is staffed 24/7.",
    ] {
        let s = score(GOOD_Q, answer);
        assert!(
            !codes_of(&s).contains(&codes::INVENTED_NUMBER),
            "{answer}: {:?}",
            s.reasons
        );
    }
    let s = score(
        GOOD_Q,
        "Seven stations watch the sea for 24 hours after a storm.",
    );
    let r = s.reasons.iter().find(|r| r.code == codes::INVENTED_NUMBER);
    assert!(
        r.is_some_and(|r| r.detail.contains("Seven") && r.detail.contains("24")),
        "{:?}",
        s.reasons
    );

    let mut spec = ValidateSpec::default();
    spec.faithfulness.check_numbers = false;
    let v = Validator::new(&spec, &fields());
    let s = v.score(&Input {
        fields: &qa(GOOD_Q, "The sea covered 99,999 square kilometres."),
        chunk: CHUNK,
    });
    assert!(s.reasons.is_empty(), "{:?}", s.reasons);
}

#[test]
fn relevance_flags_off_topic_records() {
    let s = score(
        "How do you keep a sourdough starter active?",
        "Feed the starter with flour and water daily and keep it somewhere warm.",
    );
    assert!(codes_of(&s).contains(&codes::OFF_TOPIC), "{:?}", s.reasons);
    assert!(s.scores["relevance"] < 0.1);
    // An off-topic question is enough, even with an on-topic answer.
    let s = score(
        "Which chess opening suits aggressive beginners playing white?",
        GOOD_A,
    );
    assert!(codes_of(&s).contains(&codes::OFF_TOPIC), "{:?}", s.reasons);
    assert!(!codes_of(&s).contains(&codes::UNFAITHFUL));
}

#[test]
fn a_home_address_is_pii_unless_the_source_gives_it() {
    let q = "Where can visitors learn about the Aral Sea?";
    let chunk = format!("{CHUNK} The museum at 12 Harbour Road, Moynaq, tells its story.");
    let v = validator();
    let s = v.score(&Input {
        fields: &qa(
            q,
            "At the museum at 12 Harbour Road, Moynaq, which tells the story of the sea.",
        ),
        chunk: &chunk,
    });
    assert!(!codes_of(&s).contains(&codes::PII), "{:?}", s.reasons);
    let s = v.score(&Input {
        fields: &qa(
            q,
            "At the museum in Moynaq; write to Anna Petrova, 7 Willow Crescent, Leeds LS6 2AB.",
        ),
        chunk: &chunk,
    });
    let r = s
        .reasons
        .iter()
        .find(|r| r.code == codes::PII)
        .expect("pii");
    assert!(
        r.detail.starts_with("street address ") && r.detail.ends_with(" in answer"),
        "{}",
        r.detail
    );
    assert!(!r.detail.contains("Willow"), "masked: {}", r.detail);
}

#[test]
fn an_ip_address_or_birth_date_the_source_gives_is_not_pii() {
    let q = "When was the founder born, and where is the archive's server?";
    let chunk = format!(
        "{CHUNK} The museum's founder, Lev Berg, was born on 14 March 1876. Its archive is served from 203.0.113.7."
    );
    let v = validator();
    let s = v.score(&Input {
        fields: &qa(
            q,
            "Berg was born on 14 March 1876; the archive is at 203.0.113.7.",
        ),
        chunk: &chunk,
    });
    assert!(!codes_of(&s).contains(&codes::PII), "{:?}", s.reasons);
    let s = v.score(&Input {
        fields: &qa(
            q,
            "Berg was born on 14 March 1876; his grandson logs in from 198.51.100.23.",
        ),
        chunk: &chunk,
    });
    let r = s
        .reasons
        .iter()
        .find(|r| r.code == codes::PII)
        .expect("pii");
    assert!(r.detail.starts_with("IP address "), "{}", r.detail);
    assert!(!r.detail.contains("198.51"), "masked: {}", r.detail);
}

#[test]
fn privacy_flags_pii_in_any_field_masked() {
    let s = score(
        "Who should I email (jane.doe@example.com) about the Aral Sea?",
        "Call +1 415-555-0132 about the dam completed in 2005, which helped the northern part recover.",
    );
    let r = s
        .reasons
        .iter()
        .find(|r| r.code == codes::PII)
        .expect("pii");
    assert!(
        r.detail.contains("email") && r.detail.contains("in question"),
        "{}",
        r.detail
    );
    assert!(
        r.detail.contains("phone number") && r.detail.contains("in answer"),
        "{}",
        r.detail
    );
    assert!(
        !r.detail.contains("jane.doe") && !r.detail.contains("415-555"),
        "{}",
        r.detail
    );
    assert_eq!(s.scores["privacy"], 0.0);
    // Digits of a phone number are PII, not invented numbers; email words are not unsupported.
    assert_eq!(codes_of(&s), vec![codes::PII], "{:?}", s.reasons);

    let s = score(
        GOOD_Q,
        "By 2007 the sea held 10% of its water; card 4111 1111 1111 1111 was used.",
    );
    assert!(
        s.reasons
            .iter()
            .any(|r| r.code == codes::PII && r.detail.contains("payment card")),
        "{:?}",
        s.reasons
    );

    let mut spec = ValidateSpec::default();
    spec.privacy.enabled = false;
    let v = Validator::new(&spec, &fields());
    let s = v.score(&Input {
        fields: &qa(GOOD_Q, "Write to jane.doe@example.com about the sea."),
        chunk: CHUNK,
    });
    assert!(!codes_of(&s).contains(&codes::PII));
    assert_eq!(s.scores["privacy"], 0.0);
}

#[test]
fn copying_flags_long_verbatim_spans_only() {
    // 37 words verbatim (punctuation and case do not matter).
    let copied = "beginning in the 1960s soviet irrigation projects diverted the amu darya and syr darya rivers \
to grow cotton in the surrounding desert by 2007 the sea had shrunk to 10 of its original size and split \
into several smaller lakes";
    let s = score(GOOD_Q, copied);
    let r = s
        .reasons
        .iter()
        .find(|r| r.code == codes::COPIED)
        .expect("copied");
    // 37 words; "1960s" is two tokens (a number and "s"), "10%" one.
    let span: usize = r.detail.split(' ').next().unwrap().parse().unwrap();
    assert!((37..=41).contains(&span), "{}", r.detail);
    assert_eq!(codes_of(&s), vec![codes::COPIED]);
    assert!(s.scores["copying"] < 0.05);

    let s = score(GOOD_Q, GOOD_A);
    assert!(s.scores["copying"] > 0.3, "{:?}", s.scores);
    // Eight words across the boundary of two source sentences: over max_span_words 5.
    let mut spec = ValidateSpec::default();
    spec.copying.max_span_words = 5;
    let v = Validator::new(&spec, &fields());
    let s = v.score(&Input {
        fields: &qa(
            "What happened to the sea and then the fishing?",
            "It split into several smaller lakes. The fishing industry collapsed then.",
        ),
        chunk: CHUNK,
    });
    assert!(codes_of(&s).contains(&codes::COPIED), "{:?}", s.reasons);
}

#[test]
fn restating_one_source_sentence_is_not_copying() {
    let q = "What happened to the fishing industry?";
    // One whole source sentence, word for word (23 words), bare or with a lead-in: a
    // grounded answer, not a copy.
    let whole = "The fishing industry collapsed, and the exposed seabed released salt and dust laden with pesticides, harming the health of nearby communities.";
    for a in [
        whole.to_string(),
        format!("The passage states that {}", whole.to_lowercase()),
    ] {
        let s = score(q, &a);
        assert!(
            !codes_of(&s).contains(&codes::COPIED),
            "{a}: {:?}",
            s.reasons
        );
    }
    // Two sentences handed back: reproducing the source beyond one of its sentences.
    let two = "By 2007 the sea had shrunk to 10% of its original size and split into several smaller lakes. The fishing industry collapsed.";
    let s = score(q, two);
    let r = s
        .reasons
        .iter()
        .find(|r| r.code == codes::COPIED)
        .unwrap_or_else(|| panic!("copied: {:?}", s.reasons));
    assert!(
        r.detail.contains("across a sentence boundary"),
        "{}",
        r.detail
    );
    // A chunk of one sentence, handed back whole: most of the chunk.
    let v = validator();
    let one = "The lighthouse on the northern cape was built of granite blocks cut on the mainland and shipped over in calm summers.";
    let s = v.score(&Input {
        fields: &qa("How was the lighthouse built?", one),
        chunk: one,
    });
    assert!(codes_of(&s).contains(&codes::COPIED), "{:?}", s.reasons);
}

#[test]
fn a_length_of_time_in_other_units_is_not_invented() {
    let chunk = "A route whose full cycle takes an hour can be run hourly with one bus. \
Crews must rest for half an hour after four hours at the wheel.";
    let v = validator();
    let codes = |a: &str| -> Vec<String> {
        let s = v.score(&Input {
            fields: &qa("How many buses does an hourly route need?", a),
            chunk,
        });
        s.reasons.into_iter().map(|r| r.code).collect()
    };
    let good = codes("One, if its cycle is 60 minutes; crews then rest for 30 minutes.");
    assert!(
        !good.iter().any(|c| c == codes::INVENTED_NUMBER),
        "{good:?}"
    );
    let wrong = codes("One, if its cycle is 90 minutes.");
    assert!(
        wrong.iter().any(|c| c == codes::INVENTED_NUMBER),
        "{wrong:?}"
    );
}

#[test]
fn a_number_worked_out_from_the_sources_is_not_invented() {
    let chunk = "New adult memberships rose from 164 to 212 during the trial. The first phase \
has four turbines of 1.5 MW each. Some 142 households are served by 38 volunteers. The old \
mill was rebuilt in 1998.";
    let v = validator();
    let invented = |q: &str, a: &str| -> bool {
        v.score(&Input {
            fields: &qa(q, a),
            chunk,
        })
        .reasons
        .iter()
        .any(|r| r.code == codes::INVENTED_NUMBER)
    };
    let q = "How did memberships change?";
    // A share worked from a difference worked from the source's two numbers.
    assert!(!invented(
        q,
        "By about 29 percent, from 164 to 212, an increase of 48."
    ));
    assert!(invented(
        q,
        "By about 35 percent, from 164 to 212, an increase of 48."
    ));
    // A product with a number in words, a quotient to the precision written.
    assert!(!invented(
        "What is the first phase's capacity?",
        "6 MW, from four turbines of 1.5 MW each."
    ));
    assert!(!invented(
        "How many households does each volunteer serve?",
        "Roughly 3.7 (142 households among 38 volunteers)."
    ));
    assert!(invented(
        "How many households does each volunteer serve?",
        "Roughly 4.2 (142 households among 38 volunteers)."
    ));
    // The question's numbers may be worked from too.
    assert!(!invented(
        "What would 38 volunteers each serving 4 households cover?",
        "152 households."
    ));
    // A number raised or cut by a percentage.
    assert!(!invented(
        "What would 212 members be after a 25 percent rise?",
        "About 265 members."
    ));
    assert!(invented(
        "What would 212 members be after a 25 percent rise?",
        "About 275 members."
    ));
    // 1 works out nothing: a year off by one is still invented.
    assert!(invented(
        "When was the mill rebuilt?",
        "In 1999, one year after the flood."
    ));
}

#[test]
fn signatures_normalise_case_spacing_and_punctuation() {
    let a = score(GOOD_Q, GOOD_A).signature;
    let b = score(
        "why did the ARAL sea   shrink",
        &GOOD_A.replace(',', "").to_uppercase(),
    )
    .signature;
    assert_eq!(a, b);
    let c = score(GOOD_Q, &GOOD_A.replace("cotton", "wheat")).signature;
    assert_ne!(a.exact, c.exact);
    let j = signature::estimate_jaccard(&a.minhash, &c.minhash);
    assert!(j > 0.6 && j < 1.0, "{j}");
    // Field boundaries matter.
    let d = score("Why did the Aral", &format!("Sea shrink? {GOOD_A}")).signature;
    assert_ne!(a.exact, d.exact);
    assert_eq!(a.minhash.len(), 64);
}

#[test]
fn signatures_are_pinned_across_runs_and_machines() {
    // Fixed hashes only (FNV-1a, splitmix64): this value must never change by accident.
    let s = score(GOOD_Q, GOOD_A).signature;
    assert_eq!(s.exact, PINNED_EXACT, "exact hash changed: {:#x}", s.exact);
    assert_eq!(
        &s.minhash[..4],
        &PINNED_MINHASH,
        "minhash changed: {:?}",
        &s.minhash[..4]
    );
}
const PINNED_EXACT: u64 = 0x4a11_a9d7_2aab_3d14;
const PINNED_MINHASH: [u32; 4] = [69_971_176, 190_152_092, 74_037_771, 5_078_598];

#[test]
fn prepared_and_plain_scoring_agree() {
    let v = validator();
    let prepared = v.prepare_chunk(CHUNK);
    let m = qa(GOOD_Q, GOOD_A);
    assert_eq!(
        v.score(&Input {
            fields: &m,
            chunk: CHUNK
        }),
        v.score_prepared(&m, &prepared)
    );
}

#[test]
fn validator_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Validator>();
    assert_send_sync::<DedupIndex>();
}

/// A tiny portable RNG for the property-style tests.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    text::mix64(*state)
}

#[test]
fn dedup_is_order_independent_given_canonical_order() {
    let v = validator();
    // Records with many exact and near-duplicates among them.
    let words = [
        "sea",
        "lake",
        "cotton",
        "dam",
        "salt",
        "dust",
        "rivers",
        "fishing",
        "irrigation",
        "desert",
        "water",
        "level",
    ];
    let mut rng = 7u64;
    let mut records: Vec<(String, Signature)> = Vec::new();
    for i in 0..300 {
        let base = (splitmix(&mut rng) % 40) as usize;
        let mut q: Vec<&str> = (0..8)
            .map(|k| words[(base * 7 + k * 5) % words.len()])
            .collect();
        let a: Vec<&str> = (0..14)
            .map(|k| words[(base * 3 + k * 11 + k * k) % words.len()])
            .collect();
        match splitmix(&mut rng) % 3 {
            0 => {}
            1 => q[(splitmix(&mut rng) % 8) as usize] = "changed",
            _ => q.push("extra"),
        }
        let s = v
            .score(&Input {
                fields: &qa(&q.join(" "), &a.join(" ")),
                chunk: CHUNK,
            })
            .signature;
        records.push((format!("job/r0/s{:03}/{}", i / 16, i % 16), s));
    }
    let run = |order: &[(String, Signature)]| -> Vec<String> {
        let mut sorted = order.to_vec();
        sorted.sort_by(|a, b| a.0.cmp(&b.0)); // canonical order
        let mut idx = DedupIndex::new(&ValidateSpec::default());
        let mut kept = Vec::new();
        for (id, sig) in &sorted {
            if idx.check(sig, 0).is_none() {
                idx.insert(id, sig, 0);
                kept.push(id.clone());
            }
        }
        kept
    };
    let reference = run(&records);
    assert!(
        reference.len() > 20 && reference.len() < 250,
        "kept {}",
        reference.len()
    );
    for round in 0..20u64 {
        let mut shuffled = records.clone();
        let mut r = round + 1000;
        for i in (1..shuffled.len()).rev() {
            let j = (splitmix(&mut r) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        assert_eq!(run(&shuffled), reference, "shuffle {round}");
    }
}

#[test]
fn an_answer_with_the_same_numbers_on_the_same_chunk_is_a_near_duplicate() {
    let chunk = "Unsoaked chickpeas need 40 minutes at high pressure, soaked ones 15, so \
skipping the soak adds 25 minutes. Lentils need 8 minutes and 2 cups of water.";
    let other = "A different passage, also giving 40, 15 and 25.";
    let mut spec = ValidateSpec::default();
    spec.diversity.same_numbers_min = 3;
    let v = Validator::new(&spec, &["question".into(), "answer".into()]);
    let sig = |q: &str, a: &str, chunk: &str| {
        v.score(&Input {
            fields: &qa(q, a),
            chunk,
        })
        .signature
    };
    let mut idx = DedupIndex::new(&spec);
    let kept = sig(
        "How much longer do unsoaked chickpeas take than soaked ones?",
        "25 minutes longer: 40 minutes instead of 15.",
        chunk,
    );
    assert_ne!(kept.numbers, 0);
    assert!(idx.check(&kept, 0).is_none());
    idx.insert("g0077", &kept, 0);
    // Every word changed but the numbers, some written in words: a near-duplicate.
    let r = idx
        .check(
            &sig(
                "By how many minutes does skipping the soak lengthen cooking?",
                "By twenty-five minutes, from fifteen to 40.",
                chunk,
            ),
            0,
        )
        .unwrap();
    assert_eq!(r.code, codes::NEAR_DUPLICATE);
    assert!(r.detail.contains("same numbers as g0077"), "{}", r.detail);
    // Not when one number differs, one is missing (two are fewer than the default
    // three: "from 15 to 40" is often one range, quoted by different answers), or the
    // chunk is another.
    for (a, c) in [
        ("By 25 minutes, from 15 to 45.", chunk),
        ("From 15 to 40 minutes.", chunk),
        ("By 25 minutes, from 15 to 40.", other),
    ] {
        assert!(idx.check(&sig("How long?", a, c), 0).is_none(), "{a}");
    }
    // Off (the default): no key.
    let off = validator();
    let s = off.score(&Input {
        fields: &qa("How long?", "25 minutes longer: 40 minutes instead of 15."),
        chunk,
    });
    assert_eq!(s.signature.numbers, 0);
}

#[test]
fn dedup_finds_what_brute_force_finds() {
    // LSH banding must not miss near-duplicates that a full pairwise scan finds.
    let v = validator();
    let spec = ValidateSpec::default();
    let mut rng = 99u64;
    let vocab: Vec<String> = (0..60).map(|i| format!("w{i}")).collect();
    let mut sigs = Vec::new();
    for _ in 0..400 {
        let base = (splitmix(&mut rng) % 25) as usize;
        let mut ws: Vec<&str> = (0..30)
            .map(|k| vocab[(base * 13 + k * 7) % 60].as_str())
            .collect();
        for _ in 0..(splitmix(&mut rng) % 6) {
            let p = (splitmix(&mut rng) % 30) as usize;
            ws[p] = vocab[(splitmix(&mut rng) % 60) as usize].as_str();
        }
        let text = ws.join(" ");
        sigs.push(
            v.score(&Input {
                fields: &qa("question words here", &text),
                chunk: CHUNK,
            })
            .signature,
        );
    }
    let mut idx = DedupIndex::new(&spec);
    let mut kept: Vec<usize> = Vec::new();
    let mut lsh_decisions = Vec::new();
    for (i, s) in sigs.iter().enumerate() {
        let dup = idx.check(s, 0).is_some();
        let brute = kept.iter().any(|&k| {
            sigs[k].exact == s.exact
                || signature::estimate_jaccard(&sigs[k].minhash, &s.minhash)
                    >= spec.diversity.near_duplicate_jaccard
        });
        lsh_decisions.push((dup, brute));
        if !dup {
            idx.insert(&i.to_string(), s, 0);
            kept.push(i);
        }
    }
    let disagree = lsh_decisions.iter().filter(|(a, b)| a != b).count();
    let dups = lsh_decisions.iter().filter(|(a, _)| *a).count();
    assert!(
        dups > 100,
        "test data should hold many near-duplicates ({dups})"
    );
    assert!(
        disagree <= 2,
        "LSH disagreed with brute force {disagree} times"
    );
}

#[test]
fn format_wants_a_question_and_an_answer_that_is_not_the_question() {
    let s = score(
        "The queen lays about 1,500 eggs a day at the height of the season.",
        "The queen lays about 1,500 eggs a day at the height of the season.",
    );
    let format = s
        .reasons
        .iter()
        .find(|r| r.code == codes::FORMAT)
        .expect("format reason");
    assert!(
        format.detail.contains("not a question"),
        "{}",
        format.detail
    );
    assert!(
        format.detail.contains("repeats the question"),
        "{}",
        format.detail
    );
    let ok = score(
        "How many eggs does the queen lay in a day?",
        "About 1,500 eggs a day at the height of the season.",
    );
    assert!(!codes_of(&ok).contains(&codes::FORMAT), "{:?}", ok.reasons);
}
