//! Typed fields from the local model, by construction. The local model writes a JSON
//! object of string fields and nothing else (a 135M model cannot write JSON unaided,
//! ARCHITECTURE.md "Decisions"), so a step's typed outputs are asked for as strings and
//! built from them: a `messages` field as `user_1`, `assistant_1`, … strings (each turn
//! written after the ones before it), a list of strings as one string cut into sentences
//! (at most `max_items`), an enum as the first of its values the text names (else the
//! value whose words it shares most, else the first), a number as the first number in the
//! text. Strings are themselves. What still does not fit (a list with fewer sentences than
//! `min_items`) fails the type check like any reply.

use seedstream_core::spec::flow::{Field, FieldType};
use serde_json::{json, Map, Value};

/// The string fields the local model writes for `outputs`, in order.
pub(crate) fn string_fields(outputs: &[Field]) -> Vec<String> {
    let mut out = Vec::new();
    for f in outputs {
        match &f.ty {
            FieldType::Messages { turns } => {
                for t in 1..=*turns {
                    // The first user turn is named `question`: the local model starts it
                    // with an interrogative and ends it at its question mark.
                    out.push(if t == 1 {
                        "question".to_string()
                    } else {
                        format!("question_{t}")
                    });
                    out.push(format!("answer_{t}"));
                }
            }
            _ => out.push(f.name.clone()),
        }
    }
    out
}

/// Build `outputs` from the strings the model wrote (keyed as [`string_fields`] names
/// them).
pub(crate) fn assemble(outputs: &[Field], strings: &Map<String, Value>) -> Map<String, Value> {
    let text = |k: &str| strings.get(k).and_then(Value::as_str).unwrap_or("").trim();
    let mut out = Map::new();
    for f in outputs {
        let v = match &f.ty {
            FieldType::Messages { turns } => Value::Array(
                (1..=*turns)
                    .flat_map(|t| {
                        let q = if t == 1 {
                            "question".to_string()
                        } else {
                            format!("question_{t}")
                        };
                        [
                            json!({"role": "user", "content": text(&q)}),
                            json!({"role": "assistant", "content": text(&format!("answer_{t}"))}),
                        ]
                    })
                    .collect(),
            ),
            ty => typed(ty, text(&f.name)),
        };
        out.insert(f.name.clone(), v);
    }
    out
}

fn typed(ty: &FieldType, text: &str) -> Value {
    match ty {
        FieldType::String => json!(text),
        FieldType::Enum(values) => json!(pick(values, text)),
        FieldType::List { items, max, .. } => Value::Array(
            sentences(text)
                .into_iter()
                // List numbering ("1.") is not an item.
                .filter(|s| s.chars().any(char::is_alphabetic))
                .take(*max as usize)
                .map(|s| typed(items, s))
                .collect(),
        ),
        FieldType::Integer => first_number(text)
            .map(|n| json!(n.trunc() as i64))
            .unwrap_or(Value::Null),
        FieldType::Number => first_number(text).map(|n| json!(n)).unwrap_or(Value::Null),
        FieldType::Boolean => {
            let t = text.to_ascii_lowercase();
            json!(t.starts_with("yes") || t.starts_with("true"))
        }
        FieldType::Messages { .. } => Value::Null,
    }
}

/// The first value `text` names (whole words, any case), else the one sharing most of
/// its words with it, else the first.
fn pick<'a>(values: &'a [String], text: &str) -> &'a str {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '_' && c != '-')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let named = words
        .iter()
        .find_map(|w| values.iter().find(|v| v.to_lowercase() == *w));
    if let Some(v) = named {
        return v;
    }
    let shared = |v: &String| {
        v.split(|c: char| !c.is_alphanumeric())
            .filter(|x| words.contains(&x.to_lowercase()))
            .count()
    };
    match values
        .iter()
        .enumerate()
        .max_by_key(|(i, v)| (shared(v), std::cmp::Reverse(*i)))
    {
        Some((_, v)) if shared(v) > 0 => v,
        _ => &values[0],
    }
}

fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let end = match c {
            b'\n' | b';' => true,
            b'.' | b'!' | b'?' => b.get(i + 1).is_none_or(|n| n.is_ascii_whitespace()),
            _ => false,
        };
        if end {
            let s = text[start..=i].trim().trim_end_matches([';', '\n']).trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = i + 1;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

fn first_number(text: &str) -> Option<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter_map(|w| w.trim_matches('.').parse::<f64>().ok())
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use seedstream_core::spec::flow::{check_object, parse_fields};

    #[test]
    fn typed_outputs_are_built_from_strings_and_fit_their_types() {
        let m: Map<String, Value> = serde_yaml::from_str(
            "facts: {type: list, items: string, max_items: 2}
label: {type: enum, values: [positive, negative, mixed]}
n: {type: integer}
dialogue: {type: messages, turns: 2}",
        )
        .unwrap();
        let outputs = parse_fields("step", &m).unwrap();
        assert_eq!(
            string_fields(&outputs),
            [
                "facts",
                "label",
                "n",
                "question",
                "answer_1",
                "question_2",
                "answer_2"
            ]
        );
        let strings: Map<String, Value> = serde_json::from_value(json!({
            "facts": "1. Bees make honey. 2. Honey keeps for years! Wax is made too.",
            "label": "I would say this is Negative overall",
            "n": "about 40 of them",
            "question": "What do bees make?",
            "answer_1": "Honey.",
            "question_2": "How long does it keep?",
            "answer_2": "For years.",
        }))
        .unwrap();
        let built = assemble(&outputs, &strings);
        check_object(&outputs, &built).unwrap();
        assert_eq!(
            built["facts"],
            json!(["Bees make honey.", "Honey keeps for years!"])
        );
        assert_eq!(built["label"], "negative");
        assert_eq!(built["n"], 40);
        assert_eq!(built["dialogue"][2]["content"], "How long does it keep?");
        // No value named: the one sharing a word, else the first.
        assert_eq!(
            pick(&["very good".into(), "bad".into()], "quite good"),
            "very good"
        );
        assert_eq!(pick(&["a".into(), "b".into()], "nothing"), "a");
    }
}
