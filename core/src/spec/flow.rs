//! The record schema of a flow (`task.record`, and each step's `output`): field types,
//! the role that tells validators what a field is, the JSON schema a request asks for,
//! and the check a reply must pass.
//!
//! Raw structs mirror the file ([`RawField`]); [`parse_fields`] turns them into
//! [`Field`]s, refusing what cannot work (an `enum` without values, a `list` without
//! `items`, `values` on a string) with a message naming the field. Not yet read from job
//! files: the flow engine (ARCHITECTURE.md, "Next: flows and lanes") builds on this.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// A field as written: `{type: list, items: string, max_items: 3, role: claim}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    /// `string`, `integer`, `number`, `boolean`, `enum`, `list` or `messages`.
    #[serde(rename = "type")]
    pub ty: TypeName,
    /// What the validators should take the field for (default: none, or `messages` for
    /// a `messages` field).
    #[serde(default)]
    pub role: Option<Role>,
    /// The allowed values of an `enum`.
    #[serde(default)]
    pub values: Option<Vec<String>>,
    /// The type of a `list`'s items: a type name, or a field of its own.
    #[serde(default)]
    pub items: Option<Box<RawItems>>,
    /// Fewest items of a `list` (default 1).
    #[serde(default)]
    pub min_items: Option<u32>,
    /// Most items of a `list` (default 10).
    #[serde(default)]
    pub max_items: Option<u32>,
    /// User/assistant exchanges of a `messages` field (default 3).
    #[serde(default)]
    pub turns: Option<u32>,
    /// Said to the model in the JSON schema.
    #[serde(default)]
    pub description: Option<String>,
}

/// A list's items: `items: string` or `items: {type: enum, values: [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawItems {
    /// A bare type name.
    Name(TypeName),
    /// A full field description.
    Field(RawField),
}

/// The type names a job file may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeName {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// One of `values`.
    Enum,
    /// A list of `items`.
    List,
    /// A dialogue: `{role, content}` turns, user first.
    Messages,
}

/// What a field is, for the validators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Checked for relevance to the source.
    Question,
    /// A statement that must be grounded in the source (faithfulness, numbers).
    Claim,
    /// An instruction (skills data).
    Instruction,
    /// A response to an instruction.
    Response,
    /// A class label (an `enum` or a string).
    Label,
    /// Other generated text.
    Text,
    /// A dialogue: assistant turns are claims, user turns questions.
    Messages,
}

/// A field's type, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// One of these values.
    Enum(Vec<String>),
    /// A list of `min..=max` items of one type.
    List {
        /// The items' type.
        items: Box<FieldType>,
        /// Fewest items.
        min: u32,
        /// Most items.
        max: u32,
    },
    /// `2 × turns` messages, user and assistant by turns, user first.
    Messages {
        /// User/assistant exchanges.
        turns: u32,
    },
}

/// One field of a record or of a step's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The name (an identifier: templates say `steps.NAME.FIELD`).
    pub name: String,
    /// Its type.
    pub ty: FieldType,
    /// What the validators take it for.
    pub role: Option<Role>,
    /// Said to the model in the JSON schema.
    pub description: Option<String>,
}

/// Check `fields` (in the order written) as fields of `what` (e.g. `task.record`).
/// Errors name `what.field` and the problem.
pub fn parse_fields(what: &str, fields: &Map<String, Value>) -> Result<Vec<Field>, String> {
    if fields.is_empty() {
        return Err(format!("{what}: no fields"));
    }
    fields
        .iter()
        .map(|(name, v)| {
            let at = format!("{what}.{name}");
            if !is_identifier(name) {
                return Err(format!(
                    "{at}: a field name is letters, digits and _, starting with a letter"
                ));
            }
            let raw: RawField =
                serde_json::from_value(v.clone()).map_err(|e| format!("{at}: {e}"))?;
            field(&at, name, &raw)
        })
        .collect()
}

fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn field(at: &str, name: &str, raw: &RawField) -> Result<Field, String> {
    let ty = field_type(at, raw)?;
    let role = match (raw.role, &ty) {
        (None, FieldType::Messages { .. }) => Some(Role::Messages),
        (Some(Role::Messages), FieldType::Messages { .. }) | (None, _) => raw.role,
        (Some(Role::Messages), _) => {
            return Err(format!("{at}: role messages needs type messages"));
        }
        (Some(r), FieldType::Messages { .. }) => {
            return Err(format!(
                "{at}: a messages field has role messages, not {}",
                role_name(r)
            ));
        }
        (Some(Role::Label), FieldType::Enum(_) | FieldType::String) => raw.role,
        (Some(Role::Label), _) => {
            return Err(format!("{at}: role label needs type enum or string"));
        }
        (Some(r), FieldType::String) => Some(r),
        (Some(Role::Claim), FieldType::List { items, .. }) if **items == FieldType::String => {
            raw.role
        }
        (Some(r), _) => {
            return Err(format!(
                "{at}: role {} needs type string (a claim may also be a list of strings)",
                role_name(r)
            ));
        }
    };
    Ok(Field {
        name: name.to_string(),
        ty,
        role,
        description: raw.description.clone(),
    })
}

fn role_name(r: Role) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn field_type(at: &str, raw: &RawField) -> Result<FieldType, String> {
    let only = |set: bool, key: &str, ty: &str| {
        if set {
            Err(format!("{at}: {key} is only for type {ty}"))
        } else {
            Ok(())
        }
    };
    if raw.ty != TypeName::Enum {
        only(raw.values.is_some(), "values", "enum")?;
    }
    if raw.ty != TypeName::List {
        only(raw.items.is_some(), "items", "list")?;
        only(raw.min_items.is_some(), "min_items", "list")?;
        only(raw.max_items.is_some(), "max_items", "list")?;
    }
    if raw.ty != TypeName::Messages {
        only(raw.turns.is_some(), "turns", "messages")?;
    }
    Ok(match raw.ty {
        TypeName::String => FieldType::String,
        TypeName::Integer => FieldType::Integer,
        TypeName::Number => FieldType::Number,
        TypeName::Boolean => FieldType::Boolean,
        TypeName::Enum => {
            let values = raw.values.clone().unwrap_or_default();
            if values.is_empty() {
                return Err(format!("{at}: an enum needs values (values: [a, b, ...])"));
            }
            let mut seen = std::collections::BTreeSet::new();
            for v in &values {
                if v.trim().is_empty() {
                    return Err(format!("{at}: an enum value is empty"));
                }
                if !seen.insert(v) {
                    return Err(format!("{at}: enum value \"{v}\" given twice"));
                }
            }
            FieldType::Enum(values)
        }
        TypeName::List => {
            let items = match raw.items.as_deref() {
                None => {
                    return Err(format!(
                        "{at}: a list needs items (items: string, or items: {{type: ...}})"
                    ))
                }
                Some(RawItems::Name(n)) => field_type(
                    &format!("{at}.items"),
                    &RawField {
                        ty: *n,
                        role: None,
                        values: None,
                        items: None,
                        min_items: None,
                        max_items: None,
                        turns: None,
                        description: None,
                    },
                )?,
                Some(RawItems::Field(f)) => field_type(&format!("{at}.items"), f)?,
            };
            if matches!(items, FieldType::List { .. } | FieldType::Messages { .. }) {
                return Err(format!(
                    "{at}.items: a list holds strings, numbers, booleans or enum values"
                ));
            }
            let min = raw.min_items.unwrap_or(1);
            let max = raw.max_items.unwrap_or(10);
            if max == 0 {
                return Err(format!("{at}: max_items must be at least 1"));
            }
            if min > max {
                return Err(format!(
                    "{at}: min_items ({min}) is above max_items ({max})"
                ));
            }
            FieldType::List {
                items: Box::new(items),
                min,
                max,
            }
        }
        TypeName::Messages => {
            let turns = raw.turns.unwrap_or(3);
            if turns == 0 {
                return Err(format!("{at}: turns must be at least 1"));
            }
            FieldType::Messages { turns }
        }
    })
}

impl FieldType {
    /// The JSON schema of a value of this type (what `response_format` asks for).
    pub fn json_schema(&self) -> Value {
        match self {
            FieldType::String => json!({"type": "string"}),
            FieldType::Integer => json!({"type": "integer"}),
            FieldType::Number => json!({"type": "number"}),
            FieldType::Boolean => json!({"type": "boolean"}),
            FieldType::Enum(values) => json!({"type": "string", "enum": values}),
            FieldType::List { items, min, max } => json!({
                "type": "array",
                "items": items.json_schema(),
                "minItems": min,
                "maxItems": max,
            }),
            FieldType::Messages { turns } => json!({
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "role": {"type": "string", "enum": ["user", "assistant"]},
                        "content": {"type": "string"},
                    },
                    "required": ["role", "content"],
                    "additionalProperties": false,
                },
                "minItems": 2 * turns,
                "maxItems": 2 * turns,
            }),
        }
    }

    /// Whether `v` is a value of this type; the error says what is wrong at `at`
    /// (`facts[2]: expected a string, found 3`).
    pub fn check(&self, at: &str, v: &Value) -> Result<(), String> {
        let found = || match v {
            Value::String(s) => format!("\"{}\"", clip(s)),
            Value::Null => "null".into(),
            Value::Array(a) => format!("a list of {}", a.len()),
            Value::Object(_) => "an object".into(),
            other => other.to_string(),
        };
        let expected = |what: &str| Err(format!("{at}: expected {what}, found {}", found()));
        match self {
            FieldType::String => match v {
                Value::String(s) if !s.trim().is_empty() => Ok(()),
                Value::String(_) => Err(format!("{at}: empty")),
                _ => expected("a string"),
            },
            FieldType::Integer => match v {
                Value::Number(n) if n.is_i64() || n.is_u64() => Ok(()),
                _ => expected("an integer"),
            },
            FieldType::Number => match v {
                Value::Number(_) => Ok(()),
                _ => expected("a number"),
            },
            FieldType::Boolean => match v {
                Value::Bool(_) => Ok(()),
                _ => expected("true or false"),
            },
            FieldType::Enum(values) => match v {
                Value::String(s) if values.iter().any(|x| x == s) => Ok(()),
                Value::String(_) => Err(format!(
                    "{at}: {} is not one of {}",
                    found(),
                    values.join(", ")
                )),
                _ => expected(&format!("one of {}", values.join(", "))),
            },
            FieldType::List { items, min, max } => {
                let Value::Array(a) = v else {
                    return expected("a list");
                };
                let n = a.len() as u32;
                if n < *min || n > *max {
                    return Err(format!(
                        "{at}: {n} items, expected {}",
                        if min == max {
                            format!("{min}")
                        } else {
                            format!("{min} to {max}")
                        }
                    ));
                }
                a.iter()
                    .enumerate()
                    .try_for_each(|(i, x)| items.check(&format!("{at}[{i}]"), x))
            }
            FieldType::Messages { turns } => {
                let Value::Array(a) = v else {
                    return expected("a list of {role, content} messages");
                };
                if a.len() as u32 != 2 * turns {
                    return Err(format!(
                        "{at}: {} messages, expected {}, user and assistant by turns",
                        a.len(),
                        2 * turns
                    ));
                }
                for (i, m) in a.iter().enumerate() {
                    let at = format!("{at}[{i}]");
                    let want = if i % 2 == 0 { "user" } else { "assistant" };
                    let Some(o) = m.as_object() else {
                        return Err(format!("{at}: expected a {{role, content}} message"));
                    };
                    if let Some(k) = o.keys().find(|k| *k != "role" && *k != "content") {
                        return Err(format!("{at}: unexpected key \"{k}\""));
                    }
                    match o.get("role").and_then(Value::as_str) {
                        Some(r) if r == want => {}
                        Some(r) => return Err(format!("{at}.role: \"{r}\", expected \"{want}\"")),
                        None => return Err(format!("{at}.role: missing")),
                    }
                    FieldType::String.check(
                        &format!("{at}.content"),
                        o.get("content").unwrap_or(&Value::Null),
                    )?;
                }
                Ok(())
            }
        }
    }
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The JSON schema of an object with exactly `fields` (a step's `response_format`).
pub fn object_schema(fields: &[Field]) -> Value {
    let props: Map<String, Value> = fields
        .iter()
        .map(|f| {
            let mut s = f.ty.json_schema();
            if let (Some(d), Some(o)) = (&f.description, s.as_object_mut()) {
                o.insert("description".into(), json!(d));
            }
            (f.name.clone(), s)
        })
        .collect();
    json!({
        "type": "object",
        "properties": props,
        "required": fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        "additionalProperties": false,
    })
}

/// Check a reply object against `fields`: each present and of its type (other keys are
/// ignored). The error names the first field that does not fit.
pub fn check_object(fields: &[Field], obj: &Map<String, Value>) -> Result<(), String> {
    for f in fields {
        match obj.get(&f.name) {
            None => return Err(format!("{}: missing", f.name)),
            Some(v) => f.ty.check(&f.name, v)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Vec<Field>, String> {
        let m: Map<String, Value> = serde_yaml::from_str(yaml).unwrap();
        parse_fields("task.record", &m)
    }

    #[test]
    fn parses_every_type_in_the_order_written() {
        let f = parse(
            "question: {type: string, role: question}
answer: {type: string, role: claim}
facts: {type: list, items: string, max_items: 3}
label: {type: enum, values: [fraud, legit], role: label}
tags: {type: list, items: {type: enum, values: [a, b]}, min_items: 0, max_items: 2}
n: {type: integer}
score: {type: number}
ok: {type: boolean}
dialogue: {type: messages, turns: 2}",
        )
        .unwrap();
        let names: Vec<_> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["question", "answer", "facts", "label", "tags", "n", "score", "ok", "dialogue"]
        );
        assert_eq!(
            f[2].ty,
            FieldType::List {
                items: Box::new(FieldType::String),
                min: 1,
                max: 3
            }
        );
        assert_eq!(f[3].role, Some(Role::Label));
        assert_eq!(f[8].role, Some(Role::Messages), "messages is its own role");
        assert_eq!(f[8].ty, FieldType::Messages { turns: 2 });
    }

    #[test]
    fn refuses_what_cannot_work_naming_the_field() {
        for (yaml, want) in [
            (
                "label: {type: enum}",
                "task.record.label: an enum needs values",
            ),
            (
                "label: {type: enum, values: []}",
                "task.record.label: an enum needs values",
            ),
            (
                "label: {type: enum, values: [a, a]}",
                "enum value \"a\" given twice",
            ),
            (
                "facts: {type: list}",
                "task.record.facts: a list needs items",
            ),
            (
                "facts: {type: list, items: string, min_items: 4, max_items: 3}",
                "min_items (4) is above max_items (3)",
            ),
            (
                "facts: {type: list, items: {type: list, items: string}}",
                "task.record.facts.items: a list holds",
            ),
            (
                "q: {type: string, values: [a]}",
                "task.record.q: values is only for type enum",
            ),
            (
                "q: {type: string, turns: 2}",
                "turns is only for type messages",
            ),
            ("q: {type: strin}", "task.record.q: unknown variant `strin`"),
            (
                "q: {type: string, rol: question}",
                "task.record.q: unknown field `rol`",
            ),
            (
                "n: {type: integer, role: claim}",
                "task.record.n: role claim needs type string",
            ),
            (
                "d: {type: messages, role: claim}",
                "task.record.d: a messages field has role messages",
            ),
            ("d: {type: messages, turns: 0}", "turns must be at least 1"),
            (
                "x: {type: string, role: messages}",
                "role messages needs type messages",
            ),
            (
                "l: {type: integer, role: label}",
                "role label needs type enum or string",
            ),
            ("2x: {type: string}", "task.record.2x: a field name is"),
            ("{}", "task.record: no fields"),
        ] {
            let e = parse(yaml).expect_err(yaml);
            assert!(e.contains(want), "{yaml}: {e}");
        }
    }

    #[test]
    fn the_json_schema_asks_for_each_field_by_type() {
        let f = parse(
            "facts: {type: list, items: string, max_items: 3, description: facts from the text}
label: {type: enum, values: [x, y]}
dialogue: {type: messages, turns: 1}",
        )
        .unwrap();
        let s = object_schema(&f);
        assert_eq!(s["required"], json!(["facts", "label", "dialogue"]));
        assert_eq!(s["additionalProperties"], json!(false));
        let p = &s["properties"];
        assert_eq!(p["facts"]["type"], "array");
        assert_eq!(p["facts"]["maxItems"], 3);
        assert_eq!(p["facts"]["items"]["type"], "string");
        assert_eq!(p["facts"]["description"], "facts from the text");
        assert_eq!(p["label"]["enum"], json!(["x", "y"]));
        assert_eq!(p["dialogue"]["minItems"], 2);
        assert_eq!(
            p["dialogue"]["items"]["properties"]["role"]["enum"],
            json!(["user", "assistant"])
        );
    }

    #[test]
    fn a_reply_is_checked_against_the_types_naming_the_field() {
        let f = parse(
            "question: {type: string}
facts: {type: list, items: string, max_items: 2}
label: {type: enum, values: [fraud, legit]}
n: {type: integer}
dialogue: {type: messages, turns: 1}",
        )
        .unwrap();
        let good = json!({
            "question": "Why?", "facts": ["a", "b"], "label": "fraud", "n": 3,
            "dialogue": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
            "extra": "ignored"
        });
        check_object(&f, good.as_object().unwrap()).unwrap();
        for (change, want) in [
            (
                json!({"question": 3}),
                "question: expected a string, found 3",
            ),
            (json!({"question": "  "}), "question: empty"),
            (
                json!({"facts": ["a", "b", "c"]}),
                "facts: 3 items, expected 1 to 2",
            ),
            (
                json!({"facts": ["a", 2]}),
                "facts[1]: expected a string, found 2",
            ),
            (
                json!({"label": "frod"}),
                "label: \"frod\" is not one of fraud, legit",
            ),
            (json!({"n": 2.5}), "n: expected an integer, found 2.5"),
            (
                json!({"dialogue": [{"role": "user", "content": "hi"}]}),
                "dialogue: 1 messages, expected 2, user and assistant by turns",
            ),
            (
                json!({"dialogue": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}),
                "dialogue[0].role: \"assistant\", expected \"user\"",
            ),
            (
                json!({"dialogue": [{"role": "user", "content": "x"}, {"role": "assistant"}]}),
                "dialogue[1].content: expected a string, found null",
            ),
        ] {
            let mut v = good.clone();
            for (k, x) in change.as_object().unwrap() {
                v[k] = x.clone();
            }
            let e = check_object(&f, v.as_object().unwrap()).unwrap_err();
            assert_eq!(e, want);
        }
        let mut v = good.as_object().unwrap().clone();
        v.remove("label");
        assert_eq!(check_object(&f, &v).unwrap_err(), "label: missing");
    }
}
