//! What the simulator answers: a pure function of (chunk, fields, seed, bad rates).
//!
//! A *good* sample picks one or two sentences of the chunk, takes a clause-sized window of
//! each (7–15 and 5–11 words), lightly rewrites them (a lead-in, a connective, sometimes
//! a dropped article or swapped clauses) and asks a question built from the content words
//! of the first window. So it is grounded (no content word or number outside the chunk
//! besides a few lead-in words), never copies more than ~16 consecutive words, and two
//! samples of one chunk rarely share most of their word shingles.
//!
//! A *bad* sample is chosen by [`injected_kind`] from the seed alone, and each kind is
//! built to fail exactly one validator check with the default thresholds.

use serde_json::{Map, Value};

use crate::rng::{fnv1a, mix64, unit, Rng};

/// Rates in [0, 1] of each kind of bad sample (the rest are good).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BadRates {
    /// Question and answer about an unrelated subject.
    pub off_topic: f64,
    /// Answer copies 40+ consecutive words of the chunk.
    pub copied: f64,
    /// The chunk's anchor sample with one word appended: all such samples of a chunk collide.
    pub near_duplicate: f64,
    /// A good sample whose answer gains a number absent from the chunk.
    pub invented_number: f64,
    /// A good sample whose answer gains an email address and a phone number.
    pub pii: f64,
}

impl BadRates {
    /// The same rate for every kind.
    pub fn uniform(rate: f64) -> BadRates {
        BadRates {
            off_topic: rate,
            copied: rate,
            near_duplicate: rate,
            invented_number: rate,
            pii: rate,
        }
    }

    fn in_order(&self) -> [(BadKind, f64); 5] {
        [
            (BadKind::OffTopic, self.off_topic),
            (BadKind::Copied, self.copied),
            (BadKind::NearDuplicate, self.near_duplicate),
            (BadKind::InventedNumber, self.invented_number),
            (BadKind::Pii, self.pii),
        ]
    }
}

/// A kind of deliberately bad sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BadKind {
    /// Unrelated to the chunk: fails relevance (and, necessarily, faithfulness).
    OffTopic,
    /// A long verbatim span of the chunk: fails copying.
    Copied,
    /// A near-copy of the chunk's anchor sample: fails near-duplicate removal.
    NearDuplicate,
    /// A number the chunk does not have: fails the number check.
    InventedNumber,
    /// An email and a phone number: fails privacy.
    Pii,
}

impl BadKind {
    /// Every kind, in the order [`injected_kind`] draws them.
    pub const ALL: [BadKind; 5] = [
        BadKind::OffTopic,
        BadKind::Copied,
        BadKind::NearDuplicate,
        BadKind::InventedNumber,
        BadKind::Pii,
    ];

    /// `off_topic`, `copied`, `near_duplicate`, `invented_number` or `pii`.
    pub fn as_str(self) -> &'static str {
        match self {
            BadKind::OffTopic => "off_topic",
            BadKind::Copied => "copied",
            BadKind::NearDuplicate => "near_duplicate",
            BadKind::InventedNumber => "invented_number",
            BadKind::Pii => "pii",
        }
    }
}

/// Words a copied answer needs at least; shorter chunks get a good sample instead.
pub const COPIED_MIN_WORDS: usize = 40;

const KIND_SALT: u64 = 0x6b69_6e64_0000_0001;
const SAMPLE_SALT: u64 = 0x7361_6d70_0000_0002;
const ANCHOR_SALT: u64 = 0x616e_6368_0000_0003;
const EXTRA_SALT: u64 = 0x6578_7472_0000_0004;
const TYPED_SALT: u64 = 0x7e9e_d5a1_f1e1_d500;

/// The bad-sample kind drawn for a request with this `seed` (its `seed` field): one
/// uniform draw from the seed, compared with the cumulative rates in the order of
/// [`BadKind::ALL`] (rates summing above 1 starve the later kinds). Depends on nothing
/// else, so a test can compute it from a record's provenance seed; see [`effective_kind`]
/// for the one case where the simulator then falls back to a good sample.
pub fn injected_kind(seed: u64, rates: &BadRates) -> Option<BadKind> {
    let u = unit(mix64(seed ^ KIND_SALT));
    let mut acc = 0.0;
    for (kind, rate) in rates.in_order() {
        acc += rate.clamp(0.0, 1.0);
        if u < acc {
            return Some(kind);
        }
    }
    None
}

/// The kind [`sample`] actually produces: [`injected_kind`], except that a `copied`
/// draw on a chunk of fewer than [`COPIED_MIN_WORDS`] words gives a good sample.
pub fn effective_kind(chunk: &str, seed: u64, rates: &BadRates) -> Option<BadKind> {
    match injected_kind(seed, rates) {
        Some(BadKind::Copied) if Doc::parse(chunk).words.len() < COPIED_MIN_WORDS => None,
        k => k,
    }
}

/// The record the simulator answers for this chunk, task fields and seed (the JSON object
/// the endpoint puts in `message.content`, before any prose wrapping). `question` and
/// `answer` fields get the question and the answer; without them the first field gets the
/// question and the last the answer; any other field gets the question's topic phrase.
pub fn sample(chunk: &str, fields: &[String], seed: u64, rates: &BadRates) -> Map<String, Value> {
    let chunk_key = fnv1a(chunk.as_bytes());
    with_parsed(chunk, chunk_key, |doc| {
        sample_doc(doc, chunk_key, fields, seed, rates)
    })
}

/// The record for a `response_format` schema with fields that are not all strings
/// (`props`: each property's name and schema, in order). String fields are filled as
/// [`sample`] fills them; the others by their schema, from the chunk and the seed alone:
/// an `enum` value, a number (the chunk's first, or a small one), a boolean, a list of
/// grounded sentences within `minItems..=maxItems` (default 1 to 3; questions when the
/// field's name says `question`), or a dialogue of
/// `minItems` messages (user questions, assistant answers). An unknown schema gets `null`.
pub(crate) fn sample_typed(
    chunk: &str,
    props: &[(String, Value)],
    seed: u64,
    rates: &BadRates,
) -> Map<String, Value> {
    let strings: Vec<String> = props
        .iter()
        .filter(|(_, s)| is_plain_string(s))
        .map(|(n, _)| n.clone())
        .collect();
    let mut text = if strings.is_empty() {
        Map::new()
    } else {
        sample(chunk, &strings, seed, rates)
    };
    let chunk_key = fnv1a(chunk.as_bytes());
    let mut out = Map::new();
    for (name, schema) in props {
        let mut rng = Rng::new(chunk_key ^ mix64(seed ^ TYPED_SALT) ^ fnv1a(name.as_bytes()));
        let v = match text.remove(name) {
            Some(v) => v,
            None => typed_value(
                chunk,
                name,
                schema,
                seed ^ fnv1a(name.as_bytes()),
                rates,
                &mut rng,
            ),
        };
        out.insert(name.clone(), v);
    }
    out
}

fn is_plain_string(schema: &Value) -> bool {
    schema
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(|t| t == "string")
        && schema.get("enum").is_none()
}

fn typed_value(
    chunk: &str,
    name: &str,
    schema: &Value,
    seed: u64,
    rates: &BadRates,
    rng: &mut Rng,
) -> Value {
    // A list named for questions (`questions`) holds questions; other text, sentences.
    let asks = name.to_ascii_lowercase().contains("question");
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return if values.is_empty() {
            Value::Null
        } else {
            rng.pick(values).clone()
        };
    }
    let count = |key: &str| schema.get(key).and_then(Value::as_u64).map(|n| n as usize);
    // One grounded sentence: the answer of a sample with other seeds.
    let sentence = |seed: u64| -> (String, String) {
        let m = sample(chunk, &["question".into(), "answer".into()], seed, rates);
        let get = |k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        (get("question"), get("answer"))
    };
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => Value::String(sentence(seed).1),
        Some("integer") => {
            let n = numbers_in(chunk)
                .iter()
                .find_map(|n| n.replace(',', "").parse::<i64>().ok())
                .unwrap_or(rng.range(1, 9) as i64);
            Value::from(n)
        }
        Some("number") => {
            let n = numbers_in(chunk)
                .iter()
                .find_map(|n| n.replace(',', "").parse::<f64>().ok())
                .unwrap_or(rng.range(1, 9) as f64);
            serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
        }
        Some("boolean") => Value::Bool(rng.chance(0.5)),
        Some("array") => {
            let items = schema.get("items").unwrap_or(&Value::Null);
            let is_message = items
                .pointer("/properties/role")
                .is_some_and(|_| items.pointer("/properties/content").is_some());
            if is_message {
                let n = count("minItems").unwrap_or(2).max(1);
                let mut turns = Vec::with_capacity(n);
                for t in 0..n.div_ceil(2) {
                    let (q, a) = sentence(seed ^ mix64(t as u64 + 1));
                    turns.push(serde_json::json!({"role": "user", "content": q}));
                    turns.push(serde_json::json!({"role": "assistant", "content": a}));
                }
                turns.truncate(n);
                return Value::Array(turns);
            }
            let min = count("minItems").unwrap_or(1);
            let max = count("maxItems").unwrap_or(3).max(min);
            let n = rng.range(min, max);
            let list = (0..n)
                .map(|i| {
                    let seed = seed ^ mix64(i as u64 + 1);
                    if is_plain_string(items) {
                        let (q, a) = sentence(seed);
                        Value::String(if asks { q } else { a })
                    } else {
                        typed_value(chunk, name, items, seed, rates, &mut Rng::new(seed))
                    }
                })
                .collect();
            Value::Array(list)
        }
        _ => Value::Null,
    }
}

fn sample_doc(
    doc: &Doc<'_>,
    chunk_key: u64,
    fields: &[String],
    seed: u64,
    rates: &BadRates,
) -> Map<String, Value> {
    let mut rng = Rng::new(chunk_key ^ mix64(seed ^ SAMPLE_SALT));
    let mut extra = Rng::new(chunk_key ^ mix64(seed ^ EXTRA_SALT));
    // As `effective_kind`, on the document parsed once.
    let kind = match injected_kind(seed, rates) {
        Some(BadKind::Copied) if doc.words.len() < COPIED_MIN_WORDS => None,
        k => k,
    };
    let qa = match kind {
        None => doc.good(&mut rng),
        Some(BadKind::OffTopic) => doc.off_topic(&mut rng),
        Some(BadKind::Copied) => doc.copied(&mut rng),
        Some(BadKind::NearDuplicate) => {
            // The anchor depends on the chunk only, so every near-duplicate of a chunk
            // is the same sample plus one word.
            let mut anchor = doc.good(&mut Rng::new(chunk_key ^ ANCHOR_SALT));
            let word = extra.pick(NEAR_DUPLICATE_WORDS);
            anchor.answer = format!("{}, {word}.", anchor.answer.trim_end_matches('.'));
            anchor
        }
        Some(BadKind::InventedNumber) => {
            let mut qa = doc.good(&mut rng);
            let phrase = doc.invented_number_phrase(&mut extra);
            qa.answer = format!("{}{phrase}.", qa.answer.trim_end_matches('.'));
            qa
        }
        Some(BadKind::Pii) => {
            let mut qa = doc.good(&mut rng);
            qa.answer = format!("{} {}", qa.answer, pii_sentence(&mut extra));
            qa
        }
    };
    qa.into_fields(fields)
}

/// A question/answer pair before it is mapped onto the task fields.
struct Qa {
    question: String,
    answer: String,
    topic: String,
}

impl Qa {
    fn into_fields(self, fields: &[String]) -> Map<String, Value> {
        let default = ["question".to_string(), "answer".to_string()];
        let fields = if fields.is_empty() {
            &default[..]
        } else {
            fields
        };
        let q = fields.iter().position(|f| f == "question").unwrap_or(0);
        let a = fields
            .iter()
            .position(|f| f == "answer")
            .unwrap_or(fields.len() - 1);
        let mut out = Map::new();
        for (i, f) in fields.iter().enumerate() {
            let v = if i == a {
                &self.answer
            } else if i == q {
                &self.question
            } else {
                &self.topic
            };
            out.insert(f.clone(), Value::String(v.clone()));
        }
        out
    }
}

/// Function words: not used as question keywords, trimmed from window ends. A superset of
/// the validator's stopwords, so a question keyword always counts as a content word there.
#[rustfmt::skip]
const STOPWORDS: &[&str] = &[
    "a", "about", "above", "across", "after", "again", "against", "all", "almost", "along", "also",
    "although", "am", "among", "an", "and", "another", "any", "are", "aren", "around", "as", "at",
    "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can",
    "cannot", "could", "did", "didn", "do", "does", "doesn", "doing", "don", "down", "during",
    "each", "either", "else", "etc", "even", "ever", "every", "few", "for", "from", "further",
    "furthermore", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him",
    "himself", "his", "how", "however", "i", "if", "in", "into", "is", "isn", "it", "its", "itself",
    "just", "ll", "many", "may", "me", "might", "more", "moreover", "most", "much", "must", "my",
    "myself", "neither", "no", "nor", "not", "now", "of", "off", "often", "on", "once", "one",
    "only", "onto", "or", "other", "others", "our", "ours", "ourselves", "out", "over", "own",
    "per", "quite", "rather", "re", "same", "shall", "she", "should", "since", "so", "some", "such",
    "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these",
    "they", "this", "those", "though", "through", "thus", "to", "too", "toward", "towards", "under",
    "until", "up", "upon", "us", "ve", "very", "via", "was", "wasn", "we", "were", "weren", "what",
    "when", "where", "whether", "which", "while", "who", "whom", "whose", "why", "will", "with",
    "within", "without", "would", "yet", "you", "your", "yours", "yourself", "yourselves",
];

/// Words a window does not start with (they lean on what came before).
#[rustfmt::skip]
const LEADING_CONNECTORS: &[&str] = &[
    "and", "or", "but", "which", "that", "while", "so", "because", "as", "whereas", "who", "whose",
    "where",
];

fn is_stop(word: &str) -> bool {
    STOPWORDS
        .binary_search(&word.to_lowercase().as_str())
        .is_ok()
}

const LEAD_INS: &[&str] = &[
    "",
    "",
    "According to the text, ",
    "The passage explains that ",
    "In short, ",
    "As described, ",
    "The document notes that ",
    "Based on the source, ",
    "It states that ",
    "Put simply, ",
    "The text indicates that ",
    "Briefly, ",
    "The source says that ",
    "As the passage puts it, ",
    "We are told that ",
    "Reportedly, ",
    "The text explains that ",
    "In summary, ",
    "Notably, ",
    "As stated, ",
    "The author notes that ",
    "Simply put, ",
    "To summarise, ",
    "The source explains that ",
];

const CONNECTIVES: &[&str] = &[
    "; also, ",
    ". In addition, ",
    ", and ",
    ". It also notes that ",
    ". Moreover, ",
    "; furthermore, ",
    ". Separately, ",
    ". The text adds that ",
    ", while ",
    ". Besides, ",
];

const SINGLE_TEMPLATES: &[&str] = &[
    "What does the text say about {a}?",
    "How does the passage describe {a}?",
    "What is stated about {a}?",
    "Why is {a} mentioned?",
    "What do we learn about {a}?",
    "Which details are given about {a}?",
    "What is explained regarding {a}?",
    "Can you summarize what is said about {a}?",
    "What should a reader know about {a}?",
    "What point is made about {a}?",
    "What is known about {a}?",
    "What can you tell me about {a}?",
    "What does the source report on {a}?",
    "What information is there on {a}?",
    "What is the role of {a}?",
    "What happens with {a}?",
    "How is {a} characterized?",
    "What does the author note about {a}?",
    "What is notable about {a}?",
    "What facts concern {a}?",
];

const DOUBLE_TEMPLATES: &[&str] = &[
    "How is {a} related to {b}?",
    "What connects {a} and {b}?",
    "What does the passage say about {a} and {b}?",
    "How does {a} relate to {b} according to the text?",
    "What is said about {a}, and what about {b}?",
    "In what way are {a} and {b} linked?",
    "What does the document explain about {a} with respect to {b}?",
    "What do we learn about {a} and about {b}?",
    "Which facts are given about {a} and {b}?",
    "How do {a} and {b} fit together here?",
    "What is the link between {a} and {b}?",
    "How are {a} and {b} connected?",
    "What does the text tell us about {a} and {b}?",
    "Why are {a} and {b} mentioned together?",
    "What role do {a} and {b} play?",
    "How does the source connect {a} with {b}?",
    "What is said of {a} in relation to {b}?",
    "Which points involve {a} and {b}?",
];

#[rustfmt::skip]
const NEAR_DUPLICATE_WORDS: &[&str] = &[
    "overall", "indeed", "notably", "clearly", "generally", "essentially", "broadly", "today",
    "reportedly", "apparently", "evidently", "ultimately", "currently", "historically", "typically",
    "usually", "largely", "mainly", "primarily", "certainly", "arguably", "basically", "naturally",
    "obviously", "plainly", "simply", "surely", "truly", "admittedly", "accordingly",
    "consequently", "hence", "therefore", "likewise", "similarly", "interestingly", "fundamentally",
    "chiefly", "mostly", "really",
];

/// Unrelated subjects for off-topic samples: (questions, answers).
const OFF_TOPICS: &[(&[&str], &[&str])] = &[
    (
        &[
            "How do you keep a sourdough starter active?",
            "Why does a sourdough starter need regular feeding?",
            "What makes sourdough bread rise?",
        ],
        &[
            "Feed the starter with flour and water every day, keep it somewhere warm, and discard part of it before each feeding.",
            "Wild yeast and lactic bacteria in the starter ferment the flour, releasing gas that lifts the dough.",
            "A starter left unfed turns sour and sluggish, so bakers refresh it with fresh flour and water.",
        ],
    ),
    (
        &[
            "Where do arctic terns spend the northern winter?",
            "Why do arctic terns migrate so far?",
            "How do arctic terns navigate?",
        ],
        &[
            "Arctic terns fly from their breeding grounds near the pole to the Antarctic pack ice, following the summer around the globe.",
            "Chasing two summers a year gives the terns more daylight for hunting small fish and krill.",
            "Terns seem to combine the position of the sun, the magnetic field and coastlines to find their way.",
        ],
    ),
    (
        &[
            "Which chess opening suits aggressive beginners?",
            "What is the idea behind the Sicilian Defence?",
            "Why should a player castle early in chess?",
        ],
        &[
            "The Italian Game develops bishops and knights quickly and aims straight at the weak square beside the black king.",
            "Black trades a central pawn for a flank pawn, creating an unbalanced game with counterattacking chances.",
            "Castling tucks the king behind pawns and connects the rooks, so they can join the fight along open files.",
        ],
    ),
    (
        &[
            "How do knitters make a cable pattern?",
            "What yarn is best for a first knitting project?",
            "Why does knitting tension matter?",
        ],
        &[
            "Stitches are slipped onto a spare needle and held in front or behind while the next stitches are worked, twisting the fabric.",
            "A smooth, light wool in a medium weight shows every stitch clearly and forgives uneven hands.",
            "Uneven tension makes loose and tight rows, so the finished garment puckers or stretches out of shape.",
        ],
    ),
    (
        &[
            "Why do honeybees perform a waggle dance?",
            "How do bees keep their hive warm in winter?",
            "What do worker bees do in their first weeks?",
        ],
        &[
            "A forager waggles along a line whose angle to vertical points nestmates toward flowers, relative to the sun.",
            "Workers cluster around the queen and shiver their flight muscles, keeping the core of the cluster warm.",
            "Young workers clean cells, feed larvae and build wax comb before they ever leave to gather nectar.",
        ],
    ),
    (
        &[
            "How should a beginner paint with watercolours?",
            "What is a wet-on-wet watercolour technique?",
            "Why does watercolour paper need stretching?",
        ],
        &[
            "Start with light washes, let each layer dry, and keep the white of the paper for highlights.",
            "Pigment dropped onto damp paper blooms and blends softly, giving misty skies and gentle gradients.",
            "Thin paper buckles when soaked, so artists wet it and tape it flat to dry taut before painting.",
        ],
    ),
    (
        &[
            "How do you clean a bicycle chain?",
            "When should a bicycle chain be replaced?",
            "Why does a bicycle chain squeak?",
        ],
        &[
            "Scrub the links with degreaser and a brush, rinse, dry thoroughly and then add light lubricant.",
            "A chain stretched beyond its wear limit skips on the cogs and grinds down the sprockets.",
            "Squeaking usually means dry rollers, so wipe the chain and apply lubricant to each roller.",
        ],
    ),
    (
        &[
            "How do jazz musicians learn to improvise?",
            "What role does the rhythm section play in jazz?",
            "Why do jazz players trade fours?",
        ],
        &[
            "Players transcribe solos by ear, practise scales over chord changes and borrow phrases from recordings.",
            "Bass, drums and piano lay down the groove and harmony that soloists lean on.",
            "Soloists alternate short phrases with the drummer, answering each other like a conversation.",
        ],
    ),
    (
        &[
            "How often should an orchid be watered?",
            "Why are orchid roots silvery green?",
            "How can you make an orchid bloom again?",
        ],
        &[
            "Water when the bark mix is nearly dry, soaking the pot and letting it drain completely.",
            "A spongy coating called velamen soaks up moisture and turns green once the roots are wet.",
            "Cooler nights and bright, indirect light encourage the plant to send up a new flower spike.",
        ],
    ),
    (
        &[
            "Why did medieval castles have moats?",
            "How were castle walls defended?",
            "What was the purpose of a castle keep?",
        ],
        &[
            "A moat kept siege towers and battering rams away from the walls and made tunnelling hard.",
            "Archers shot through narrow slits while defenders dropped stones from overhanging galleries.",
            "The keep was the strongest tower, a last refuge where the lord could hold out after outer walls fell.",
        ],
    ),
];

/// A chunk split into words and sentences.
struct Doc<'a> {
    /// Every word (whitespace token, markdown markers dropped), in order.
    words: Vec<&'a str>,
    /// `[start, end)` word ranges of sentences.
    sentences: Vec<(usize, usize)>,
    /// Normalised numbers of the chunk.
    numbers: Vec<String>,
    /// Crude stems (lowercase, first 5 letters) of the chunk's content words.
    keys: Vec<String>,
}

/// Runs `f` on the parsed chunk. Parsed chunks are kept by content hash: a job sends each
/// chunk many times, and parsing was a quarter of the simulator's CPU. They live as long
/// as the process (a test tool's corpus); past `PARSED_MAX` distinct chunks, new ones are
/// parsed on every request instead, so memory stays bounded.
fn with_parsed<R>(chunk: &str, key: u64, f: impl FnOnce(&Doc<'_>) -> R) -> R {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    const PARSED_MAX: usize = 20_000;
    type Cache = HashMap<u64, (&'static str, Arc<Doc<'static>>)>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let hit = {
        let c = cache.lock().expect("lock");
        match c.get(&key) {
            Some((text, doc)) if *text == chunk => Some(doc.clone()),
            Some(_) => None,
            None if c.len() >= PARSED_MAX => None,
            None => {
                drop(c);
                let text: &'static str = Box::leak(chunk.to_string().into_boxed_str());
                let doc = Arc::new(Doc::parse(text));
                cache
                    .lock()
                    .expect("lock")
                    .entry(key)
                    .or_insert((text, doc.clone()));
                Some(doc)
            }
        }
    };
    match hit {
        Some(doc) => f(&doc),
        None => f(&Doc::parse(chunk)),
    }
}

impl<'a> Doc<'a> {
    fn parse(chunk: &'a str) -> Doc<'a> {
        let mut words: Vec<&'a str> = Vec::new();
        let mut sentences = Vec::new();
        for line in chunk.lines() {
            let mut toks: Vec<&'a str> = line.split_whitespace().collect();
            while toks.first().is_some_and(|t| is_markdown_marker(t)) {
                toks.remove(0);
            }
            let toks: Vec<&'a str> = toks
                .into_iter()
                .map(|t| t.trim_matches(|c| c == '*' || c == '_' || c == '`'))
                .filter(|t| !t.is_empty())
                .collect();
            let mut start = words.len();
            for (i, t) in toks.iter().enumerate() {
                words.push(t);
                let next_opens = toks.get(i + 1).is_none_or(|n| {
                    n.chars().next().is_some_and(|c| {
                        c.is_uppercase() || c.is_ascii_digit() || "\"'“‘(".contains(c)
                    })
                });
                if ends_sentence(t) && next_opens {
                    sentences.push((start, words.len()));
                    start = words.len();
                }
            }
            if start < words.len() {
                sentences.push((start, words.len()));
            }
        }
        let mut keys: Vec<String> = words.iter().filter_map(|w| key(w)).collect();
        keys.sort();
        keys.dedup();
        Doc {
            words,
            sentences,
            numbers: numbers_in(chunk),
            keys,
        }
    }

    /// Sentences long enough to quote from.
    fn usable(&self) -> Vec<usize> {
        let long: Vec<usize> = (0..self.sentences.len())
            .filter(|&s| self.len(s) >= 5)
            .collect();
        if long.is_empty() {
            (0..self.sentences.len()).collect()
        } else {
            long
        }
    }

    fn len(&self, s: usize) -> usize {
        self.sentences[s].1 - self.sentences[s].0
    }

    /// A window of about `lo..=hi` words of sentence `s`: it starts where a phrase can
    /// start (sentence start, after a comma, at an article, a capitalised word or a
    /// number), ends at a clause boundary when one is near, and is trimmed of dangling
    /// function words at both ends.
    fn window(&self, s: usize, lo: usize, hi: usize, rng: &mut Rng) -> Window {
        let (start, end) = self.sentences[s];
        let n = end - start;
        let min_len = lo.min(n);
        let starts: Vec<usize> = (start..end)
            .filter(|&i| end - i >= min_len)
            .filter(|&i| {
                let w = self.words[i];
                i == start
                    || self.words[i - 1].ends_with([',', ';', ':'])
                    || matches!(w, "the" | "a" | "an")
                    || w.starts_with(|c: char| c.is_uppercase() || c.is_ascii_digit())
            })
            .collect();
        let mut from = if starts.is_empty() {
            start
        } else {
            *rng.pick(&starts)
        };
        let mut to = (from + rng.range(lo, hi)).min(end);
        if let Some(k) = (from + 4..to)
            .rev()
            .take(3)
            .find(|&k| self.words[k - 1].ends_with([',', ';', ':']))
        {
            to = k;
        }
        while to - from > 3
            && LEADING_CONNECTORS.contains(&clean(self.words[from]).to_lowercase().as_str())
        {
            from += 1;
        }
        while to - from > 3 && is_stop(&clean(self.words[to - 1])) {
            to -= 1;
        }
        Window {
            words: self.words[from..to]
                .iter()
                .map(|w| (*w).to_string())
                .collect(),
            sentence_start: from == start,
        }
    }

    fn good(&self, rng: &mut Rng) -> Qa {
        let usable = self.usable();
        if usable.is_empty() {
            return Qa {
                question: "What is this document about?".into(),
                answer: "The document is empty.".into(),
                topic: "the document".into(),
            };
        }
        // Longer sentences offer more distinct windows: pick them more often.
        let weights: Vec<usize> = usable.iter().map(|&s| self.len(s)).collect();
        let a = usable[rng.weighted(&weights)];
        let mut first = self.window(a, 7, 15, rng);
        let second = if usable.len() >= 2 && rng.chance(0.8) {
            let mut b = *rng.pick(&usable);
            if b == a {
                b = usable[(usable.iter().position(|&x| x == a).unwrap_or(0) + 1) % usable.len()];
            }
            Some(self.window(b, 5, 11, rng))
        } else {
            None
        };
        // Light rewrites: drop an article, or swap the clauses around a comma.
        if rng.chance(0.4) {
            first.drop_article(rng);
        }
        if rng.chance(0.3) {
            first.swap_clauses();
        }
        let phrases_a = first.phrases();
        let phrases_b = second.as_ref().map(Window::phrases).unwrap_or_default();
        let pa = pick_phrase(&phrases_a, rng);
        let pb = if !phrases_b.is_empty() {
            Some(rng.pick(&phrases_b).clone())
        } else {
            let others: Vec<&String> = phrases_a
                .iter()
                .filter(|p| Some(*p) != pa.as_ref())
                .collect();
            if others.is_empty() {
                None
            } else {
                Some((*rng.pick(&others)).clone())
            }
        };
        let topic = pa.clone().unwrap_or_else(|| first.text());
        let question = match (&pa, &pb) {
            (Some(x), Some(y)) if x != y && rng.chance(0.6) => rng
                .pick(DOUBLE_TEMPLATES)
                .replace("{a}", x)
                .replace("{b}", y),
            _ => rng.pick(SINGLE_TEMPLATES).replace("{a}", &topic),
        };
        let mut lead = rng.pick_str(LEAD_INS);
        let mut connective = if second.is_some() {
            rng.pick_str(CONNECTIVES)
        } else {
            ""
        };
        // Framing words are not in the chunk: keep them a small share of a short answer.
        let body =
            content_words(&first.text()) + second.as_ref().map_or(0, |w| content_words(&w.text()));
        if body < 2 * (content_words(lead) + content_words(connective)) + 1 {
            lead = "";
            connective = ", and ";
        }
        let mut answer = String::new();
        answer.push_str(lead);
        answer.push_str(&first.text_after(!lead.is_empty()));
        if let Some(second) = second {
            answer.push_str(connective);
            answer.push_str(&second.text_after(true));
        }
        answer.push('.');
        Qa {
            question,
            answer: capitalize(&answer),
            topic,
        }
    }

    fn off_topic(&self, rng: &mut Rng) -> Qa {
        let start = rng.below(OFF_TOPICS.len());
        let overlap = |t: usize| -> usize {
            let (qs, as_) = OFF_TOPICS[t];
            qs.iter()
                .chain(as_.iter())
                .flat_map(|s| s.split_whitespace())
                .filter_map(key)
                .filter(|k| self.keys.binary_search(k).is_ok())
                .count()
        };
        let topic = (0..OFF_TOPICS.len())
            .map(|i| (start + i) % OFF_TOPICS.len())
            .min_by_key(|&t| overlap(t))
            .unwrap_or(start);
        let (qs, as_) = OFF_TOPICS[topic];
        Qa {
            question: rng.pick(qs).to_string(),
            answer: rng.pick(as_).to_string(),
            topic: "general knowledge".into(),
        }
    }

    fn copied(&self, rng: &mut Rng) -> Qa {
        let n = self.words.len();
        // Start at a sentence start that leaves at least COPIED_MIN_WORDS words.
        let starts: Vec<usize> = self
            .sentences
            .iter()
            .map(|s| s.0)
            .filter(|&s| n - s >= COPIED_MIN_WORDS)
            .collect();
        let from = if starts.is_empty() {
            0
        } else {
            *rng.pick(&starts)
        };
        let mut to = (from + COPIED_MIN_WORDS + rng.below(11)).min(n);
        // Finish the sentence when that is short.
        if let Some(&(_, end)) = self.sentences.iter().find(|s| s.0 < to && to < s.1) {
            if end - to <= 12 {
                to = end;
            }
        }
        let text = self.words[from..to].join(" ");
        let answer = format!("{}.", text.trim_end_matches(|c: char| !c.is_alphanumeric()));
        let s = self.sentences.iter().position(|s| s.0 == from).unwrap_or(0);
        let w = self.window(s, 7, 15, rng);
        let topic = w
            .phrases()
            .first()
            .cloned()
            .unwrap_or_else(|| "this".into());
        let question = rng.pick(SINGLE_TEMPLATES).replace("{a}", &topic);
        Qa {
            question,
            answer: capitalize(&answer),
            topic,
        }
    }

    /// A phrase carrying a number that is not in the chunk.
    fn invented_number_phrase(&self, rng: &mut Rng) -> String {
        for _ in 0..64 {
            let (phrase, value) = match rng.below(4) {
                0 => {
                    let y = rng.range(1901, 1999);
                    (format!(", as of {y}"), y.to_string())
                }
                1 => {
                    let p = rng.range(11, 97);
                    (format!(", by about {p}%"), p.to_string())
                }
                2 => {
                    let (k, r) = (rng.range(1, 9), rng.range(1, 999));
                    (
                        format!(", across some {k},{r:03} sites"),
                        format!("{k}{r:03}"),
                    )
                }
                _ => {
                    let (a, b) = (rng.range(2, 9), rng.range(1, 9));
                    (format!(", {a}.{b} times over"), format!("{a}.{b}"))
                }
            };
            if !self.numbers.contains(&value) {
                return phrase;
            }
        }
        ", as of 1777".to_string()
    }
}

/// A run of words taken from one sentence.
struct Window {
    words: Vec<String>,
    /// The window starts at the sentence start (its first word may be capitalised only
    /// because it opens the sentence).
    sentence_start: bool,
}

impl Window {
    fn drop_article(&mut self, rng: &mut Rng) {
        let inner: Vec<usize> = (1..self.words.len().saturating_sub(1))
            .filter(|&i| matches!(self.words[i].as_str(), "the" | "a" | "an"))
            .collect();
        if !inner.is_empty() && self.words.len() > 5 {
            let i = *rng.pick(&inner);
            self.words.remove(i);
        }
    }

    fn swap_clauses(&mut self) {
        let n = self.words.len();
        let Some(p) = (3..n.saturating_sub(3)).find(|&i| self.words[i - 1].ends_with(',')) else {
            return;
        };
        let mut swapped: Vec<String> = self.words[p..].to_vec();
        // "A b, c d" becomes "c d, a b": the comma moves with the clause boundary.
        if let Some(last) = swapped.last_mut() {
            let trimmed = last
                .trim_end_matches(|c: char| !c.is_alphanumeric() && c != '%')
                .to_string();
            *last = format!("{trimmed},");
        }
        let mut moved = self.words[..p].to_vec();
        if self.sentence_start && is_stop(&clean(&moved[0])) {
            moved[0] = moved[0].to_lowercase();
        }
        swapped.extend(moved);
        self.words = swapped;
        self.sentence_start = false;
    }

    /// Content-word phrases (1–3 words) for questions.
    fn phrases(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut run: Vec<String> = Vec::new();
        let flush = |run: &mut Vec<String>, out: &mut Vec<String>| {
            if !run.is_empty()
                && run
                    .iter()
                    .any(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 4)
            {
                let take = run.len().min(3);
                out.push(run[run.len() - take..].join(" "));
            }
            run.clear();
        };
        for (i, w) in self.words.iter().enumerate() {
            let c = clean(w);
            if c.is_empty() || is_stop(&c) || !c.chars().any(char::is_alphanumeric) {
                flush(&mut run, &mut out);
                continue;
            }
            let c = if i == 0 && self.sentence_start && !is_acronym(&c) {
                c.to_lowercase()
            } else {
                c
            };
            run.push(c);
            if w.ends_with(|ch: char| ",;:.!?)".contains(ch)) {
                flush(&mut run, &mut out);
            }
        }
        flush(&mut run, &mut out);
        out
    }

    fn text(&self) -> String {
        self.text_after(false)
    }

    /// The window as text, following a lead-in when `after` (a capitalised function word
    /// that only opened the sentence is lowercased).
    fn text_after(&self, after: bool) -> String {
        let cleaned: Vec<String> = self
            .words
            .iter()
            .map(|w| {
                w.chars()
                    .filter(|c| !"()[]{}\"“”".contains(*c))
                    .collect::<String>()
            })
            .filter(|w| !w.is_empty())
            .collect();
        let mut text = cleaned.join(" ");
        text = text
            .trim_start_matches(|c: char| !c.is_alphanumeric())
            .trim_end_matches(|c: char| !c.is_alphanumeric() && c != '%')
            .to_string();
        if after {
            if let Some(first) = text.split(' ').next() {
                if is_stop(first) && first.chars().next().is_some_and(char::is_uppercase) {
                    let lower = first.to_lowercase();
                    text = format!("{lower}{}", &text[first.len()..]);
                }
            }
        }
        text
    }
}

/// Words of `text` that the validator counts as content words (approximately).
fn content_words(text: &str) -> usize {
    text.split_whitespace()
        .map(clean)
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2 && !is_stop(w))
        .count()
}

/// A phrase for a question, preferring multi-word ones (more specific).
fn pick_phrase(phrases: &[String], rng: &mut Rng) -> Option<String> {
    let multi: Vec<&String> = phrases.iter().filter(|p| p.contains(' ')).collect();
    if !multi.is_empty() && rng.chance(0.7) {
        return Some((*rng.pick(&multi)).clone());
    }
    (!phrases.is_empty()).then(|| rng.pick(phrases).clone())
}

fn is_acronym(w: &str) -> bool {
    w.chars()
        .filter(|c| c.is_alphabetic())
        .all(char::is_uppercase)
        && w.chars().count() > 1
}

/// A word without surrounding punctuation.
fn clean(w: &str) -> String {
    w.trim_matches(|c: char| !c.is_alphanumeric()).to_string()
}

/// Crude stem for overlap tests: lowercase, first five letters, content words of 4+ letters.
fn key(w: &str) -> Option<String> {
    let c = clean(w).to_lowercase();
    if c.chars().count() < 4 || is_stop(&c) || !c.chars().all(char::is_alphabetic) {
        return None;
    }
    Some(c.chars().take(5).collect())
}

fn is_markdown_marker(t: &str) -> bool {
    t.chars().all(|c| c == '#')
        || matches!(t, "-" | "*" | "+" | ">")
        || (t.len() <= 4
            && (t.ends_with('.') || t.ends_with(')'))
            && t[..t.len() - 1].chars().all(|c| c.is_ascii_digit())
            && t.len() > 1)
}

fn ends_sentence(t: &str) -> bool {
    let core = t.trim_end_matches(|c| "\"'”’)]".contains(c));
    if !core.ends_with(['.', '!', '?']) {
        return false;
    }
    let lower = core.to_lowercase();
    let abbreviation = matches!(
        lower.as_str(),
        "e.g."
            | "i.e."
            | "mr."
            | "mrs."
            | "ms."
            | "dr."
            | "st."
            | "vs."
            | "no."
            | "fig."
            | "approx."
            | "inc."
            | "ltd."
            | "u.s."
    );
    let initial = core.len() == 2 && core.chars().next().is_some_and(char::is_uppercase);
    !abbreviation && !initial
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Normalised numbers of a text, by the same rules as the validator: thousands
/// separators dropped, leading zeros and trailing decimal zeros trimmed.
fn numbers_in(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut int = String::new();
        while i < b.len() && b[i].is_ascii_digit() {
            int.push(b[i] as char);
            i += 1;
        }
        while i < b.len()
            && b[i] == b','
            && (1..=3).all(|k| b.get(i + k).is_some_and(u8::is_ascii_digit))
            && !b.get(i + 4).is_some_and(u8::is_ascii_digit)
        {
            int.push_str(&text[i + 1..i + 4]);
            i += 4;
        }
        let mut frac = String::new();
        if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                frac.push(b[i] as char);
                i += 1;
            }
        }
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let frac = frac.trim_end_matches('0');
        out.push(if frac.is_empty() {
            int.to_string()
        } else {
            format!("{int}.{frac}")
        });
    }
    out
}

#[rustfmt::skip]
const FIRST_NAMES: &[&str] = &[
    "jane", "omar", "li", "maria", "tom", "aisha", "pedro", "nina", "ken", "sara",
];
#[rustfmt::skip]
const LAST_NAMES: &[&str] = &[
    "doe", "haddad", "wei", "rossi", "baker", "khan", "silva", "berg", "ito", "novak",
];
#[rustfmt::skip]
const DOMAINS: &[&str] = &[
    "example.com", "example.org", "mail.example.net", "corp.example.com",
];

/// A sentence with a (fictional) email address and phone number.
fn pii_sentence(rng: &mut Rng) -> String {
    let email = format!(
        "{}.{}@{}",
        rng.pick(FIRST_NAMES),
        rng.pick(LAST_NAMES),
        rng.pick(DOMAINS)
    );
    let d = rng.range(0, 99);
    let phone = match rng.below(4) {
        0 => format!("+1 415-555-01{d:02}"),
        1 => format!("(212) 555-01{d:02}"),
        2 => format!("+44 20 7946 0{:03}", rng.range(0, 999)),
        _ => format!("617.555.01{d:02}"),
    };
    match rng.below(3) {
        0 => format!("Contact {email} or {phone}."),
        1 => format!("Write to {email} or ring {phone}."),
        _ => format!("Details: {email}, {phone}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK: &str =
        "The Aral Sea was once the fourth-largest lake in the world, covering about \
68,000 square kilometres. Beginning in the 1960s, Soviet irrigation projects diverted the Amu \
Darya and Syr Darya rivers to grow cotton in the surrounding desert. By 2007 the sea had shrunk \
to 10% of its original size and split into several smaller lakes. The fishing industry collapsed, \
and the exposed seabed released salt and dust laden with pesticides, harming the health of nearby \
communities. A dam completed in 2005 has since helped the northern part recover, with water levels \
rising by 12 metres and fish stocks returning.";

    fn qa_fields() -> Vec<String> {
        vec!["question".into(), "answer".into()]
    }

    fn answer(m: &Map<String, Value>) -> &str {
        m["answer"].as_str().unwrap()
    }

    fn words(s: &str) -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }

    /// Longest run of `a`'s words found consecutively in `b`.
    fn longest_run(a: &str, b: &str) -> usize {
        let (a, b) = (words(a), words(b));
        let mut best = 0;
        for i in 0..a.len() {
            for j in 0..b.len() {
                let k = a[i..]
                    .iter()
                    .zip(&b[j..])
                    .take_while(|(x, y)| x == y)
                    .count();
                best = best.max(k);
            }
        }
        best
    }

    #[test]
    fn sample_is_deterministic_and_varies_with_seed() {
        let r = BadRates::uniform(0.1);
        for seed in 0..50 {
            assert_eq!(
                sample(CHUNK, &qa_fields(), seed, &r),
                sample(CHUNK, &qa_fields(), seed, &r)
            );
        }
        let distinct: std::collections::BTreeSet<String> = (0..50)
            .map(|s| answer(&sample(CHUNK, &qa_fields(), s, &BadRates::default())).to_string())
            .collect();
        assert!(
            distinct.len() >= 45,
            "only {} distinct answers of 50",
            distinct.len()
        );
    }

    #[test]
    fn good_samples_are_grounded_and_not_copied() {
        let chunk_numbers = numbers_in(CHUNK);
        let chunk_words: std::collections::BTreeSet<String> = words(CHUNK).into_iter().collect();
        let allowed: std::collections::BTreeSet<String> = LEAD_INS
            .iter()
            .chain(CONNECTIVES)
            .flat_map(|s| words(s))
            .collect();
        for seed in 0..300 {
            let m = sample(CHUNK, &qa_fields(), seed, &BadRates::default());
            let a = answer(&m);
            for n in numbers_in(a) {
                assert!(
                    chunk_numbers.contains(&n),
                    "seed {seed}: {n} not in chunk: {a}"
                );
            }
            for w in words(a) {
                assert!(
                    chunk_words.contains(&w) || allowed.contains(&w),
                    "seed {seed}: {w:?} in {a}"
                );
            }
            assert!(longest_run(a, CHUNK) <= 18, "seed {seed}: {a}");
            let q = m["question"].as_str().unwrap();
            assert!(q.ends_with('?') && q.len() > 10, "{q}");
        }
    }

    #[test]
    fn injected_kind_rates_are_right() {
        let rates = BadRates {
            off_topic: 0.05,
            copied: 0.1,
            near_duplicate: 0.15,
            invented_number: 0.2,
            pii: 0.0,
        };
        let mut counts = std::collections::BTreeMap::new();
        for seed in 0..10_000u64 {
            *counts.entry(injected_kind(seed, &rates)).or_insert(0usize) += 1;
        }
        let near = |k: Option<BadKind>, expected: f64| {
            let n = counts.get(&k).copied().unwrap_or(0) as f64;
            let sd = (10_000.0 * expected * (1.0 - expected)).sqrt();
            assert!(
                (n - 10_000.0 * expected).abs() < 4.0 * sd + 1.0,
                "{k:?}: {n} vs {expected}"
            );
        };
        near(Some(BadKind::OffTopic), 0.05);
        near(Some(BadKind::Copied), 0.1);
        near(Some(BadKind::NearDuplicate), 0.15);
        near(Some(BadKind::InventedNumber), 0.2);
        near(Some(BadKind::Pii), 0.0);
        near(None, 0.5);
        assert_eq!(injected_kind(7, &BadRates::default()), None);
        assert_eq!(
            injected_kind(
                7,
                &BadRates {
                    pii: 1.0,
                    ..BadRates::default()
                }
            ),
            Some(BadKind::Pii)
        );
    }

    fn with_kind(kind: BadKind) -> impl Iterator<Item = u64> {
        let r = BadRates::uniform(0.15);
        (0..).filter(move |&s| injected_kind(s, &r) == Some(kind))
    }

    #[test]
    fn bad_samples_have_their_defect() {
        let r = BadRates::uniform(0.15);
        for seed in with_kind(BadKind::Copied).take(20) {
            let a = answer(&sample(CHUNK, &qa_fields(), seed, &r)).to_string();
            assert!(longest_run(&a, CHUNK) >= COPIED_MIN_WORDS, "{a}");
        }
        for seed in with_kind(BadKind::InventedNumber).take(20) {
            let a = answer(&sample(CHUNK, &qa_fields(), seed, &r)).to_string();
            let chunk_numbers = numbers_in(CHUNK);
            assert!(
                numbers_in(&a).iter().any(|n| !chunk_numbers.contains(n)),
                "{a}"
            );
        }
        for seed in with_kind(BadKind::Pii).take(20) {
            let a = answer(&sample(CHUNK, &qa_fields(), seed, &r)).to_string();
            assert!(
                a.contains('@') && a.contains("555") || a.contains("7946"),
                "{a}"
            );
        }
        for seed in with_kind(BadKind::OffTopic).take(20) {
            let m = sample(CHUNK, &qa_fields(), seed, &r);
            let doc = Doc::parse(CHUNK);
            for text in [m["question"].as_str().unwrap(), answer(&m)] {
                let shared: Vec<String> = text
                    .split_whitespace()
                    .filter_map(key)
                    .filter(|k| doc.keys.binary_search(k).is_ok())
                    .collect();
                assert!(shared.is_empty(), "{text}: {shared:?}");
            }
        }
        // Every near-duplicate of a chunk is its anchor plus one word.
        let near: Vec<Map<String, Value>> = with_kind(BadKind::NearDuplicate)
            .take(20)
            .map(|s| sample(CHUNK, &qa_fields(), s, &r))
            .collect();
        let q0 = near[0]["question"].clone();
        assert!(near.iter().all(|m| m["question"] == q0));
        let stems: std::collections::BTreeSet<String> = near
            .iter()
            .map(|m| answer(m).rsplit_once(", ").unwrap().0.to_string())
            .collect();
        assert_eq!(stems.len(), 1, "{stems:?}");
        let distinct: std::collections::BTreeSet<&str> = near.iter().map(answer).collect();
        assert!(
            distinct.len() >= 10,
            "near-duplicates should rarely be exact copies"
        );
    }

    #[test]
    fn short_chunks_fall_back_from_copied() {
        let short = "Tides rise twice a day. The moon pulls the oceans.";
        let r = BadRates {
            copied: 1.0,
            ..BadRates::default()
        };
        assert_eq!(injected_kind(3, &r), Some(BadKind::Copied));
        assert_eq!(effective_kind(short, 3, &r), None);
        assert_eq!(effective_kind(CHUNK, 3, &r), Some(BadKind::Copied));
        let m = sample(short, &qa_fields(), 3, &r);
        assert!(longest_run(answer(&m), short) < 10);
    }

    #[test]
    fn fields_are_mapped() {
        let f: Vec<String> = vec!["instruction".into(), "topic".into(), "response".into()];
        let m = sample(CHUNK, &f, 5, &BadRates::default());
        assert_eq!(
            m.keys().cloned().collect::<std::collections::BTreeSet<_>>(),
            f.iter().cloned().collect()
        );
        assert!(m["instruction"].as_str().unwrap().ends_with('?'));
        let m = sample(CHUNK, &[], 5, &BadRates::default());
        assert!(m.contains_key("question") && m.contains_key("answer"));
        let m = sample("", &qa_fields(), 5, &BadRates::uniform(0.2));
        assert!(m["answer"].as_str().is_some());
    }

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_stop("The") && is_stop("another") && !is_stop("river"));
    }

    #[test]
    fn markdown_and_sentences_are_parsed() {
        let d = Doc::parse("# Title here\n\n- First item is long enough. Second one, e.g. this, too!\n1. Numbered line");
        let sents: Vec<String> = d
            .sentences
            .iter()
            .map(|&(a, b)| d.words[a..b].join(" "))
            .collect();
        assert_eq!(
            sents,
            vec![
                "Title here",
                "First item is long enough.",
                "Second one, e.g. this, too!",
                "Numbered line"
            ]
        );
        assert_eq!(
            numbers_in("1,234.50 and 007 and 3.0% in 2019."),
            vec!["1234.5", "7", "3", "2019"]
        );
    }

    /// Any record schema (as the flow engine asks for it) gets a reply that fits it, the
    /// same for the same seed; string fields are what the plain sampler writes.
    #[test]
    fn any_schema_is_answered_with_values_of_its_types() {
        use seedstream_core::spec::flow::{check_object, object_schema, parse_fields};
        let yaml = "question: {type: string, role: question}
answer: {type: string, role: claim}
facts: {type: list, items: string, min_items: 2, max_items: 4}
label: {type: enum, values: [fraud, chargeback, legit], role: label}
n: {type: integer}
share: {type: number}
ok: {type: boolean}
tags: {type: list, items: {type: enum, values: [a, b]}, max_items: 2}
dialogue: {type: messages, turns: 3}";
        let map: Map<String, Value> = serde_yaml::from_str(yaml).unwrap();
        let fields = parse_fields("task.record", &map).unwrap();
        let schema = object_schema(&fields);
        let props: Vec<(String, Value)> = fields
            .iter()
            .map(|f| (f.name.clone(), schema["properties"][&f.name].clone()))
            .collect();
        let (mut labels, mut lengths) = (
            std::collections::BTreeSet::new(),
            std::collections::BTreeSet::new(),
        );
        for seed in 0..60 {
            let m = sample_typed(CHUNK, &props, seed, &BadRates::default());
            check_object(&fields, &m).unwrap_or_else(|e| panic!("seed {seed}: {e}: {m:?}"));
            assert_eq!(m, sample_typed(CHUNK, &props, seed, &BadRates::default()));
            let plain = sample(CHUNK, &qa_fields(), seed, &BadRates::default());
            assert_eq!(m["question"], plain["question"]);
            assert_eq!(m["answer"], plain["answer"]);
            let keys: Vec<_> = m.keys().cloned().collect();
            let want: Vec<_> = fields.iter().map(|f| f.name.clone()).collect();
            assert_eq!(keys, want, "fields in schema order");
            labels.insert(m["label"].as_str().unwrap().to_string());
            lengths.insert(m["facts"].as_array().unwrap().len());
            for fact in m["facts"].as_array().unwrap() {
                let words = fact.as_str().unwrap().split_whitespace().count();
                assert!(words >= 4, "a fact is a sentence: {fact}");
            }
        }
        assert_eq!(labels.len(), 3, "every enum value is drawn: {labels:?}");
        assert_eq!(
            lengths,
            [2, 3, 4].into_iter().collect(),
            "list lengths within bounds"
        );
    }
}
