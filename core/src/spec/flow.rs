//! The record schema of a flow (`task.record`, and each step's `output`): field types,
//! the role that tells validators what a field is, the JSON schema a request asks for,
//! and the check a reply must pass.
//!
//! Raw structs mirror the file ([`RawField`], [`RawStep`]); [`parse_fields`] turns them
//! into [`Field`]s, refusing what cannot work (an `enum` without values, a `list` without
//! `items`, `values` on a string) with a message naming the field, and [`resolve`] turns
//! `task.record` and `task.steps` (or a preset's, [`preset_yaml`]) into the [`Flow`] the
//! generator runs, refusing unknown or forward references, unused outputs and fields no
//! step writes.

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

fn collect_text<'a>(v: Option<&'a Value>, out: &mut Vec<&'a str>) {
    match v {
        Some(Value::String(s)) => out.push(s),
        Some(Value::Array(a)) => {
            for x in a {
                match x {
                    Value::String(s) => out.push(s),
                    Value::Object(o) => {
                        if let Some(Value::String(c)) = o.get("content") {
                            out.push(c)
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

impl FieldType {
    /// Whether values of this type hold generated text.
    pub fn has_text(&self) -> bool {
        match self {
            FieldType::String | FieldType::Messages { .. } => true,
            FieldType::List { items, .. } => **items == FieldType::String,
            _ => false,
        }
    }

    /// A stand-in value of this type (to render templates at load).
    pub fn example(&self) -> Value {
        match self {
            FieldType::String => json!("example text"),
            FieldType::Integer => json!(1),
            FieldType::Number => json!(1.5),
            FieldType::Boolean => json!(true),
            FieldType::Enum(values) => json!(values[0]),
            FieldType::List { items, min, .. } => {
                Value::Array(vec![items.example(); (*min).max(1) as usize])
            }
            FieldType::Messages { turns } => Value::Array(
                (0..2 * turns)
                    .map(|i| {
                        json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": "example text"})
                    })
                    .collect(),
            ),
        }
    }

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

/// Mend what models commonly get almost right before the check: an `enum` value in
/// another case or with spaces around it ("Positive " for `positive`), in a field or a
/// list's items. Nothing else is changed.
pub fn normalize_object(fields: &[Field], obj: &mut Map<String, Value>) {
    fn mend(ty: &FieldType, v: &mut Value) {
        match (ty, v) {
            (FieldType::Enum(values), Value::String(s)) if !values.contains(s) => {
                if let Some(x) = values.iter().find(|x| x.eq_ignore_ascii_case(s.trim())) {
                    *s = x.clone();
                }
            }
            (FieldType::List { items, .. }, Value::Array(a)) => {
                a.iter_mut().for_each(|x| mend(items, x));
            }
            _ => {}
        }
    }
    for f in fields {
        if let Some(v) = obj.get_mut(&f.name) {
            mend(&f.ty, v);
        }
    }
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

/// A step's `output`: a list of `task.record` fields, or a map of new fields with their
/// types (intermediate values a later step or the record uses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawOutput {
    /// Fields of `task.record`, by name.
    Names(Vec<String>),
    /// New fields with their types (`{facts: {type: list, items: string}}`).
    Fields(Map<String, Value>),
}

/// A step's `model`: another model name on the job's endpoints, or other endpoints too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawStepModel {
    /// A model name served by the job's endpoints.
    Name(String),
    /// A model name and the endpoints that serve it.
    Spec {
        /// Model name sent in this step's requests.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Base URLs of the endpoints for this step (default: the job's).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        endpoints: Vec<String>,
    },
}

/// One step as written in `task.steps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// The step's name (templates say `steps.NAME.FIELD`).
    pub name: String,
    /// The Jinja prompt, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The Jinja prompt from a file, relative to the job file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The system message (default: `task.system`, else the built-in one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Another model (and endpoints) for this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<RawStepModel>,
    /// Run the rest of the flow once per item of this list field (each item its own record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    /// With `for_each`: record the item as this `task.record` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_as: Option<String>,
    /// The fields the step writes.
    pub output: RawOutput,
    /// Sampling temperature for this step (default: `model.temperature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling for this step (default: `model.top_p`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Most completion tokens for this step (default: `model.max_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// One step, checked: what the generator runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its name.
    pub name: String,
    /// The Jinja prompt's text.
    pub template: String,
    /// Where the prompt came from, for messages (`task.steps[1].prompt` or a file path).
    pub template_at: String,
    /// The system message (`None`: the job's).
    pub system: Option<String>,
    /// Model name for this step (`None`: `model.name`).
    pub model: Option<String>,
    /// Endpoints for this step (empty: the job's).
    pub endpoints: Vec<String>,
    /// The list field this step fans out over.
    pub for_each: Option<String>,
    /// The record field the fan-out item is recorded as.
    pub item_as: Option<String>,
    /// The fields it writes (what its `response_format` asks for).
    pub outputs: Vec<Field>,
    /// Sampling overrides.
    pub temperature: Option<f64>,
    /// Sampling overrides.
    pub top_p: Option<f64>,
    /// Sampling overrides.
    pub max_tokens: Option<u32>,
}

/// How the validators read a flow's records: the names of [`Flow::view`]'s fields, which
/// of them is the question and which the claim, and how many (from the first) make the
/// record's signature and embedding for near-duplicates (by default every question,
/// claim and instruction, or the whole dialogue; everything when there is none of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewFields {
    /// The view's field names, in order.
    pub names: Vec<String>,
    /// The question's index.
    pub question: Option<usize>,
    /// The claim's index (the answer).
    pub answer: Option<usize>,
    /// `names[..signed]` make near-duplicate signatures.
    pub signed: usize,
}

/// A job's flow: the record it makes and the steps that make it.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// `task.record`, in the order written (the order of a record's fields).
    pub record: Vec<Field>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Index of the step with `for_each` (the steps from it on run once per item).
    pub fan_out: Option<usize>,
    /// `kind: qa` keeps `{{ document }}` as the chunk's text, as templates written before
    /// flows expect; everywhere else `document` is the document's name.
    pub document_is_chunk: bool,
    /// [`Flow::view_fields`], once worked out (set `document_is_chunk` before).
    pub view: std::sync::OnceLock<ViewFields>,
}

/// The fields that play the question and the answer of a record with these field names
/// when no roles say so (`kind: qa`): `question` and `answer` when present, else the
/// first and the last field.
pub fn default_roles(names: &[String]) -> (Option<usize>, Option<usize>) {
    let question = names
        .iter()
        .position(|f| f == "question")
        .or(if names.is_empty() { None } else { Some(0) });
    let answer = names
        .iter()
        .position(|f| f == "answer")
        .or(names.len().checked_sub(1));
    (question, answer)
}

impl Flow {
    /// The record field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.record.iter().find(|f| f.name == name)
    }

    /// Records a slot is expected to make: the fan-out list's `max_items` (1 without a
    /// fan-out). Round sizes divide the shortfall by it.
    pub fn records_per_slot(&self) -> u64 {
        let Some(i) = self.fan_out else { return 1 };
        let list = self.steps[i].for_each.as_deref().unwrap_or_default();
        self.steps[..i]
            .iter()
            .flat_map(|s| &s.outputs)
            .find(|f| f.name == list)
            .map_or(1, |f| match f.ty {
                FieldType::List { max, .. } => u64::from(max.max(1)),
                _ => 1,
            })
    }

    /// Every generated text of a record (strings, list items, message contents), one
    /// per line, in record order: what diversity measures.
    pub fn record_text(&self, fields: &Map<String, Value>) -> String {
        let mut out: Vec<&str> = Vec::new();
        for f in &self.record {
            collect_text(fields.get(&f.name), &mut out);
        }
        out.join("\n")
    }

    /// How the validators read this flow's records ([`Flow::view`]); worked out once.
    pub fn view_fields(&self) -> ViewFields {
        self.view.get_or_init(|| self.make_view_fields()).clone()
    }

    fn make_view_fields(&self) -> ViewFields {
        if self.document_is_chunk {
            // kind qa: the record's own fields, as before flows.
            let names: Vec<String> = self.record.iter().map(|f| f.name.clone()).collect();
            let (q, a) = default_roles(&names);
            let signed = names.len();
            return ViewFields {
                names,
                question: q,
                answer: a,
                signed,
            };
        }
        let has = |r: Role| self.record.iter().any(|f| f.role == Some(r));
        let mut names = Vec::new();
        let (mut q, mut a) = (None, None);
        if has(Role::Question) {
            q = Some(names.len());
            names.push("question".to_string());
        } else if has(Role::Messages) {
            q = Some(names.len());
            names.push("user_turns".to_string());
        }
        if has(Role::Claim) || has(Role::Messages) {
            a = Some(names.len());
            names.push("answer".to_string());
        }
        if has(Role::Instruction) {
            names.push("instruction".to_string());
        }
        let mut signed = names.len();
        if self.record.iter().any(|f| {
            !matches!(
                f.role,
                Some(Role::Question | Role::Claim | Role::Messages | Role::Instruction)
            ) && f.ty.has_text()
        }) {
            names.push("other".to_string());
            if signed == 0 {
                signed = names.len();
            }
        }
        ViewFields {
            names,
            question: q,
            answer: a,
            signed,
        }
    }

    /// A record as the validators read it: `question` (question fields) or `user_turns`
    /// (a dialogue's user turns), `answer` (claim fields and assistant turns: what must
    /// be grounded in the source), `instruction`, and `other` (every other generated
    /// text: responses, labels, a knowledge record's context), each one string; for kind
    /// qa, the record itself.
    pub fn view(&self, fields: &Map<String, Value>) -> Map<String, Value> {
        if self.document_is_chunk {
            return fields.clone();
        }
        let view = self.view.get_or_init(|| self.make_view_fields());
        let mut parts: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for f in &self.record {
            let v = fields.get(&f.name);
            match f.role {
                Some(Role::Question) => collect_text(v, parts.entry("question").or_default()),
                Some(Role::Claim) => collect_text(v, parts.entry("answer").or_default()),
                Some(Role::Instruction) => collect_text(v, parts.entry("instruction").or_default()),
                Some(Role::Messages) => {
                    for (i, m) in v
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        if let Some(c) = m.get("content").and_then(Value::as_str) {
                            let key = if i % 2 == 0 { "user_turns" } else { "answer" };
                            parts.entry(key).or_default().push(c);
                        }
                    }
                }
                _ => collect_text(v, parts.entry("other").or_default()),
            }
        }
        view.names
            .iter()
            .map(|n| {
                let text = parts
                    .get(n.as_str())
                    .map(|p| p.join("\n"))
                    .unwrap_or_default();
                (n.clone(), Value::String(text))
            })
            .collect()
    }

    /// The text of `names` (record fields) of a record, one per line: what
    /// `validate.diversity.fields` compares for near-duplicates.
    pub fn text_of(&self, names: &[String], fields: &Map<String, Value>) -> String {
        let mut out: Vec<&str> = Vec::new();
        for n in names {
            collect_text(fields.get(n), &mut out);
        }
        out.join("\n")
    }

    /// Names of the record fields a seed example must have (every field but `text`
    /// ones, which a step derives, such as a knowledge record's `context`).
    pub fn seed_fields(&self) -> Vec<&Field> {
        self.record
            .iter()
            .filter(|f| f.role != Some(Role::Text))
            .collect()
    }
}

/// The built-in flows, by `task.kind`. Each is YAML with `${name}` parameters filled
/// from the task (`augmentations`, `per_augmentation`, `turns`).
pub const PRESETS: [(&str, &str); 5] = [
    ("qa", include_str!("presets/qa.yaml")),
    ("knowledge", include_str!("presets/knowledge.yaml")),
    ("instruct", include_str!("presets/instruct.yaml")),
    ("chat", include_str!("presets/chat.yaml")),
    ("classify", include_str!("presets/classify.yaml")),
];

/// Parameters of the presets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetParams {
    /// `knowledge`: the kinds of augmentation a slot may write (one per slot).
    pub augmentations: Vec<String>,
    /// `knowledge`: question/answer pairs per augmentation.
    pub per_augmentation: u32,
    /// `chat`: user/assistant exchanges per dialogue.
    pub turns: u32,
    /// `classify`: the labels.
    pub labels: Vec<String>,
}

impl Default for PresetParams {
    fn default() -> Self {
        Self {
            augmentations: vec!["detailed_summary".into(), "atomic_facts".into()],
            per_augmentation: 3,
            turns: 3,
            labels: vec!["positive".into(), "negative".into(), "neutral".into()],
        }
    }
}

/// A preset's flow as YAML (`record:` and `steps:`), parameters filled in; `None` for
/// an unknown kind.
pub fn preset_yaml(kind: &str, p: &PresetParams) -> Option<String> {
    let text = PRESETS.iter().find(|(k, _)| *k == kind)?.1;
    let augs = format!(
        "[{}]",
        p.augmentations
            .iter()
            .map(|a| serde_json::to_string(a).expect("string serialises"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let labels = format!(
        "[{}]",
        p.labels
            .iter()
            .map(|a| serde_json::to_string(a).expect("string serialises"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let labels_text = p.labels.join(", ");
    Some(
        text.replace("${augmentations}", &augs)
            .replace("${labels_text}", &labels_text)
            .replace("${labels}", &labels)
            .replace("${per_augmentation}", &p.per_augmentation.to_string())
            .replace("${turns}", &p.turns.to_string()),
    )
}

/// A preset parsed: its record and steps as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetDoc {
    /// The record schema.
    pub record: Map<String, Value>,
    /// The steps.
    pub steps: Vec<RawStep>,
}

/// Parse a preset's YAML.
pub fn preset(kind: &str, p: &PresetParams) -> Option<PresetDoc> {
    let text = preset_yaml(kind, p)?;
    let doc: PresetDoc = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("built-in preset {kind} does not parse: {e}"));
    Some(doc)
}

/// Reads step `i`'s `template:` file (`Err`: field and problem).
pub type ReadTemplate<'a> = dyn FnMut(usize, &str) -> Result<String, (String, String)> + 'a;

/// Turn a record schema and steps into a [`Flow`]. `template_text(i, path)` reads step
/// `i`'s `template:` file. Errors are `(field, problem)` with the field as written
/// (`task.steps[1].for_each`).
pub fn resolve(
    record: &Map<String, Value>,
    steps: &[RawStep],
    template_text: &mut ReadTemplate<'_>,
) -> Result<Flow, (String, String)> {
    let err = |at: String, msg: String| Err((at, msg));
    let record_fields = parse_fields("task.record", record).map_err(|e| split_at(&e))?;
    if steps.is_empty() {
        return err("task.steps".into(), "expected at least one step".into());
    }
    let mut out: Vec<Step> = Vec::new();
    let mut fan_out: Option<usize> = None;
    // Where each field is written: field name → step index.
    let mut written: std::collections::BTreeMap<String, usize> = Default::default();
    for (i, raw) in steps.iter().enumerate() {
        let at = format!("task.steps[{i}]");
        if !is_identifier(&raw.name) {
            return err(
                format!("{at}.name"),
                format!(
                    "{:?}: a step name is letters, digits and _, starting with a letter",
                    raw.name
                ),
            );
        }
        if out.iter().any(|s| s.name == raw.name) {
            return err(
                format!("{at}.name"),
                format!("step {:?} is named twice", raw.name),
            );
        }
        let (template, template_at) = match (&raw.prompt, &raw.template) {
            (Some(p), None) => (p.clone(), format!("{at}.prompt")),
            (None, Some(t)) => (template_text(i, t)?, t.clone()),
            (Some(_), Some(_)) => {
                return err(
                    at,
                    format!("step {}: give prompt or template, not both", raw.name),
                )
            }
            (None, None) => {
                return err(
                    at,
                    format!(
                        "step {}: needs a prompt (prompt: inline, or template: a file)",
                        raw.name
                    ),
                )
            }
        };
        let outputs = match &raw.output {
            RawOutput::Names(names) => {
                if names.is_empty() {
                    return err(format!("{at}.output"), "no fields".into());
                }
                names
                    .iter()
                    .map(|n| {
                        record_fields.iter().find(|f| &f.name == n).cloned().ok_or((
                            format!("{at}.output"),
                            format!(
                                "step {}: {n:?} is not a field of task.record ({})",
                                raw.name,
                                names_of(&record_fields)
                            ),
                        ))
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            RawOutput::Fields(m) => {
                let fs = parse_fields(&format!("{at}.output"), m).map_err(|e| split_at(&e))?;
                for f in &fs {
                    if let Some(r) = record_fields.iter().find(|r| r.name == f.name) {
                        if r.ty != f.ty {
                            return err(
                                format!("{at}.output.{}", f.name),
                                format!("a field of task.record with another type: write it as output: [{}] to use the record's type", r.name),
                            );
                        }
                    }
                }
                fs
            }
        };
        for f in &outputs {
            if let Some(&j) = written.get(&f.name) {
                return err(
                    format!("{at}.output"),
                    format!(
                        "field {:?} is written by step {} already",
                        f.name, out[j].name
                    ),
                );
            }
            written.insert(f.name.clone(), i);
        }
        if let Some(list) = &raw.for_each {
            if let Some(j) = fan_out {
                return err(
                    format!("{at}.for_each"),
                    format!(
                        "only one step may fan out (step {} does already)",
                        out[j].name
                    ),
                );
            }
            let producer = out
                .iter()
                .flat_map(|s| &s.outputs)
                .find(|f| &f.name == list);
            match producer {
                Some(f) if matches!(f.ty, FieldType::List { .. }) => {}
                Some(_) => {
                    return err(
                        format!("{at}.for_each"),
                        format!("{list:?} is not a list field"),
                    )
                }
                None => {
                    let later = steps[i..].iter().any(|s| match &s.output {
                        RawOutput::Names(n) => n.contains(list),
                        RawOutput::Fields(m) => m.contains_key(list),
                    });
                    return err(
                        format!("{at}.for_each"),
                        if later {
                            format!("{list:?} is written by this or a later step: for_each takes a list an earlier step wrote")
                        } else {
                            format!("no earlier step writes a field {list:?}")
                        },
                    );
                }
            }
            fan_out = Some(i);
        }
        if let Some(name) = &raw.item_as {
            if raw.for_each.is_none() {
                return err(
                    format!("{at}.item_as"),
                    "item_as needs for_each on the same step".into(),
                );
            }
            let Some(f) = record_fields.iter().find(|f| &f.name == name) else {
                return err(
                    format!("{at}.item_as"),
                    format!(
                        "{name:?} is not a field of task.record ({})",
                        names_of(&record_fields)
                    ),
                );
            };
            if let Some(&j) = written.get(name) {
                return err(
                    format!("{at}.item_as"),
                    format!("field {name:?} is written by step {} already", out[j].name),
                );
            }
            let _ = f;
            written.insert(name.clone(), i);
        }
        let (model, endpoints) = match &raw.model {
            None => (None, Vec::new()),
            Some(RawStepModel::Name(n)) => (Some(n.clone()), Vec::new()),
            Some(RawStepModel::Spec { name, endpoints }) => (name.clone(), endpoints.clone()),
        };
        if model.as_deref() == Some("") {
            return err(format!("{at}.model"), "empty model name".into());
        }
        for (k, url) in endpoints.iter().enumerate() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return err(
                    format!("{at}.model.endpoints[{k}]"),
                    format!("invalid URL {url:?}: expected http://host:port"),
                );
            }
        }
        if let Some(t) = raw.temperature {
            if !(0.0..=2.0).contains(&t) {
                return err(
                    format!("{at}.temperature"),
                    format!("expected 0 to 2, found {t}"),
                );
            }
        }
        if let Some(t) = raw.top_p {
            if !(t > 0.0 && t <= 1.0) {
                return err(
                    format!("{at}.top_p"),
                    format!("expected more than 0 and at most 1, found {t}"),
                );
            }
        }
        if raw.max_tokens == Some(0) {
            return err(format!("{at}.max_tokens"), "expected at least 1".into());
        }
        // Every variable the template names must exist by this step.
        let earlier = &out[..];
        check_references(&raw.name, &template, earlier, fan_out.is_some())
            .map_err(|e| (template_at.clone(), e))?;
        out.push(Step {
            name: raw.name.clone(),
            template,
            template_at,
            system: raw.system.clone(),
            model,
            endpoints,
            for_each: raw.for_each.clone(),
            item_as: raw.item_as.clone(),
            outputs,
            temperature: raw.temperature,
            top_p: raw.top_p,
            max_tokens: raw.max_tokens,
        });
    }
    // Every record field is written by some step.
    for f in &record_fields {
        if !written.contains_key(&f.name) {
            return err(
                format!("task.record.{}", f.name),
                "no step writes it (name it in a step's output)".into(),
            );
        }
    }
    // Every intermediate output is used: by the record, a later template or a fan-out.
    for (i, s) in out.iter().enumerate() {
        for f in &s.outputs {
            if record_fields.iter().any(|r| r.name == f.name) {
                continue;
            }
            let used = out[i + 1..].iter().any(|later| {
                later.for_each.as_deref() == Some(f.name.as_str())
                    || template_uses(&later.template, &s.name, &f.name)
            });
            if !used {
                return err(
                    format!("task.steps[{i}].output.{}", f.name),
                    format!(
                        "step {} writes {:?} but no record field or later step uses it",
                        s.name, f.name
                    ),
                );
            }
        }
    }
    Ok(Flow {
        record: record_fields,
        steps: out,
        fan_out,
        document_is_chunk: false,
        view: Default::default(),
    })
}

fn names_of(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `task.record.x: problem` → (`task.record.x`, `problem`).
fn split_at(e: &str) -> (String, String) {
    match e.split_once(": ") {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => ("task".into(), e.to_string()),
    }
}

/// The variables a template may use.
pub const TEMPLATE_VARS: [&str; 9] = [
    "chunk",
    "document",
    "section",
    "examples",
    "item",
    "steps",
    "fields",
    "kind",
    "slot_seed",
];

fn parse_template(text: &str) -> Result<std::collections::HashSet<String>, String> {
    let mut env = minijinja::Environment::new();
    env.add_template("t", text)
        .map_err(|e| format!("invalid template: {e}"))?;
    let t = env.get_template("t").map_err(|e| e.to_string())?;
    Ok(t.undeclared_variables(true))
}

fn check_references(
    step: &str,
    text: &str,
    earlier: &[Step],
    in_fan_out: bool,
) -> Result<(), String> {
    let vars = parse_template(text)?;
    let mut vars: Vec<String> = vars.into_iter().collect();
    vars.sort();
    for v in &vars {
        let mut parts = v.split('.');
        let root = parts.next().unwrap_or_default();
        if !TEMPLATE_VARS.contains(&root) {
            return Err(format!(
                "step {step}: unknown variable {root:?} (a template sees {})",
                TEMPLATE_VARS.join(", ")
            ));
        }
        if root == "item" && !in_fan_out {
            return Err(format!(
                "step {step}: uses item, but neither it nor an earlier step has for_each"
            ));
        }
        if root != "steps" {
            continue;
        }
        let Some(name) = parts.next() else { continue };
        let Some(s) = earlier.iter().find(|s| s.name == name) else {
            return Err(format!(
                "step {step}: steps.{name} is not an earlier step{}",
                if earlier.is_empty() {
                    " (this is the first step)".to_string()
                } else {
                    format!(
                        " (earlier steps: {})",
                        earlier
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ));
        };
        let Some(field) = parts.next() else { continue };
        if !s.outputs.iter().any(|f| f.name == field) {
            return Err(format!(
                "step {step}: steps.{name}.{field}: step {name} writes {}",
                s.outputs
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

fn template_uses(text: &str, step: &str, field: &str) -> bool {
    let Ok(vars) = parse_template(text) else {
        return false;
    };
    let exact = format!("steps.{step}.{field}");
    let whole = format!("steps.{step}");
    vars.iter()
        .any(|v| v == "steps" || *v == whole || v == &exact || v.starts_with(&format!("{exact}.")))
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

#[cfg(test)]
mod flow_tests {
    use super::*;
    use crate::spec::{Job, Overrides};
    use std::collections::BTreeMap;

    const SEEDS: &str = "{\"question\": \"Why?\", \"answer\": \"Because.\"}\n{\"question\": \"How?\", \"answer\": \"Slowly.\"}\n";
    const DOC: &str = "Bees make honey. Honey keeps for years because it holds little water.";

    fn job(task: &str) -> crate::Result<Job> {
        let yaml = format!(
            "name: t\ntarget: 6\nsources:\n  - path: d.md\nseed_examples: s.jsonl\n{task}\nmodel:\n  backend: openai\n  endpoints: [\"http://127.0.0.1:9\"]\n"
        );
        let files = BTreeMap::from([
            ("d.md".to_string(), DOC.to_string()),
            ("s.jsonl".to_string(), SEEDS.to_string()),
        ]);
        Job::from_submission("job.yaml", &yaml, &files, &Overrides::default())
    }

    const TWO_STEPS: &str = "task:
  kind: flow
  record:
    question: {type: string, role: question}
    answer: {type: string, role: claim}
  steps:
    - name: facts
      prompt: \"List up to three facts stated in this text:\\n{{ chunk }}\"
      output:
        facts: {type: list, items: string, max_items: 3}
    - name: qa
      for_each: facts
      prompt: \"Write a question answered by this fact: {{ item }}\\nText:\\n{{ chunk }}\"
      output: [question, answer]";

    #[test]
    fn the_issues_two_step_flow_resolves() {
        let j = job(TWO_STEPS).unwrap();
        let f = &j.flow;
        assert_eq!(f.steps.len(), 2);
        assert_eq!(f.fan_out, Some(1));
        assert_eq!(f.records_per_slot(), 3);
        assert_eq!(f.steps[0].outputs[0].name, "facts");
        assert_eq!(f.steps[1].outputs.len(), 2);
        // Fan-out records get the item in their id.
        let key = crate::plan::SlotKey {
            round: 0,
            shard: 1,
            slot: 2,
        };
        assert_eq!(j.record_id(&key, 2), format!("{}:0:1:2:2", j.id));
        // Step seeds: the slot's for the first step, distinct per step and item after.
        let round = crate::plan::RoundPlan {
            round: 0,
            slots: 6,
            shard_size: 16,
        };
        let plan = crate::plan::plan_slot(&j, &round, 0, 0);
        let seed = |step, item| crate::prompt::FlowPrompts::step_seed(&j, &plan, step, item);
        assert_eq!(seed(0, None), plan.seed);
        let later = [seed(1, Some(0)), seed(1, Some(1)), seed(1, Some(2))];
        assert!(later[0] != later[1] && later[1] != later[2] && later[0] != plan.seed);
        assert_eq!(seed(1, Some(1)), later[1], "a pure function of the slot");
    }

    #[test]
    fn enum_values_in_another_case_are_mended() {
        let m: Map<String, Value> = serde_yaml::from_str(
            "label: {type: enum, values: [positive, negative]}\ntags: {type: list, items: {type: enum, values: [a, b]}}",
        )
        .unwrap();
        let f = parse_fields("r", &m).unwrap();
        let mut obj = json!({"label": " Positive", "tags": ["A", "b"]})
            .as_object()
            .unwrap()
            .clone();
        normalize_object(&f, &mut obj);
        assert_eq!(obj["label"], "positive");
        assert_eq!(obj["tags"], json!(["a", "b"]));
        check_object(&f, &obj).unwrap();
        let mut bad = json!({"label": "neutral", "tags": ["c"]})
            .as_object()
            .unwrap()
            .clone();
        normalize_object(&f, &mut bad);
        assert!(
            check_object(&f, &bad).is_err(),
            "a value not in the list stays wrong"
        );
    }

    #[test]
    fn every_preset_resolves_and_qa_renders_the_requests_of_before() {
        for kind in ["qa", "knowledge", "chat", "instruct", "classify"] {
            let p = preset(kind, &PresetParams::default()).unwrap();
            let mut read = |_: usize, _: &str| -> Result<String, (String, String)> {
                Err(("template".into(), "no files".into()))
            };
            resolve(&p.record, &p.steps, &mut read).unwrap_or_else(|e| panic!("{kind}: {e:?}"));
        }
        // kind qa is the qa preset: the same user message as the built-in template.
        let qa = preset("qa", &PresetParams::default()).unwrap();
        assert_eq!(
            qa.steps[0].prompt.as_deref().unwrap(),
            crate::prompt::DEFAULT_TEMPLATE.replace("{{ document }}", "{{ chunk }}")
        );
        let knowledge = preset_yaml(
            "knowledge",
            &PresetParams {
                per_augmentation: 5,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(knowledge.contains("max_items: 5"));
        assert!(preset_yaml("nope", &PresetParams::default()).is_none());
    }

    #[test]
    fn bad_flows_name_the_field_and_the_problem() {
        let err = |task: &str| match job(task) {
            Err(crate::Error::BadInput { field, problem, .. }) => format!("{field}: {problem}"),
            other => panic!("expected bad input, got {other:?}"),
        };
        let e = err(&TWO_STEPS.replace("for_each: facts", "for_each: fact"));
        assert!(
            e.starts_with("task.steps[1].for_each: no earlier step"),
            "{e}"
        );
        let e = err(&TWO_STEPS.replace("for_each: facts", "for_each: question"));
        assert!(e.contains("written by this or a later step"), "{e}");
        let e = err(&TWO_STEPS.replace(
            "{{ chunk }}\"\n      output:",
            "{{ steps.qa.answer }}\"\n      output:",
        ));
        assert!(e.contains("steps.qa is not an earlier step"), "{e}");
        let e = err(&TWO_STEPS.replace("{{ item }}", "{{ itme }}"));
        assert!(e.contains("unknown variable \"itme\""), "{e}");
        let e = err(&TWO_STEPS.replace("output: [question, answer]", "output: [question]"));
        assert!(
            e.starts_with("task.record.answer: no step writes it"),
            "{e}"
        );
        let e = err(&TWO_STEPS.replace(
            "    - name: qa\n      for_each: facts\n",
            "    - name: qa\n",
        ));
        assert!(
            e.contains("uses item, but neither it nor an earlier step has for_each"),
            "{e}"
        );
        let e = err("task:\n  kind: chat\n  turns: 0");
        assert_eq!(e, "task.turns: expected 1 to 20, found 0");
        let e = err("task:\n  kind: qa\n  turns: 2");
        assert_eq!(e, "task.turns: turns is for kind chat");
        let e = err("task:\n  kind: classify");
        assert!(
            e.starts_with("task.labels: kind classify needs its labels"),
            "{e}"
        );
        let e = err("task:\n  kind: classify\n  labels: [a, a]");
        assert!(e.starts_with("task.labels"), "{e}");
        let e = err("task:\n  kind: flow");
        assert!(
            e.starts_with("task.record: kind flow needs a record"),
            "{e}"
        );
        // A seed example must have the record's fields.
        let e = err("task:\n  kind: chat");
        assert!(e.contains("missing record field \"messages\""), "{e}");
    }

    fn view_of(task: &str, seeds: &str) -> (ViewFields, Flow) {
        let yaml = format!(
            "name: t\ntarget: 6\nsources:\n  - path: d.md\nseed_examples: s.jsonl\n{task}\nmodel:\n  backend: openai\n  endpoints: [\"http://127.0.0.1:9\"]\n"
        );
        let files = BTreeMap::from([
            ("d.md".to_string(), DOC.to_string()),
            ("s.jsonl".to_string(), seeds.repeat(2)),
        ]);
        let j = Job::from_submission("job.yaml", &yaml, &files, &Overrides::default()).unwrap();
        (j.flow.view_fields(), j.flow)
    }

    #[test]
    fn validators_read_records_by_role() {
        // chat: user turns are the question, assistant turns the claim.
        let (v, f) = view_of(
            "task:\n  kind: chat\n  turns: 1",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"Q?\"}, {\"role\": \"assistant\", \"content\": \"A.\"}]}\n",
        );
        assert_eq!(v.names, ["user_turns", "answer"]);
        assert_eq!((v.question, v.answer, v.signed), (Some(0), Some(1), 2));
        let rec = json!({"messages": [
            {"role": "user", "content": "Why honey?"}, {"role": "assistant", "content": "It keeps."},
            {"role": "user", "content": "How long?"}, {"role": "assistant", "content": "Years."}]});
        let view = f.view(rec.as_object().unwrap());
        assert_eq!(view["user_turns"], "Why honey?\nHow long?");
        assert_eq!(view["answer"], "It keeps.\nYears.");
        // knowledge: the context is checked, not compared for near-duplicates.
        let (v, _) = view_of("task:\n  kind: knowledge", SEEDS);
        assert_eq!(v.names, ["question", "answer", "other"]);
        assert_eq!(v.signed, 2);
        // instruct: nothing to ground; the instruction makes the signature.
        let (v, _) = view_of(
            "task:\n  kind: instruct",
            "{\"instruction\": \"Do x.\", \"response\": \"Done.\"}\n",
        );
        assert_eq!(v.names, ["instruction", "other"]);
        assert_eq!((v.question, v.answer, v.signed), (None, None, 1));
        // A record of a text and a label only: everything makes the signature.
        let (v, _) = view_of(
            "task:\n  kind: flow\n  record:\n    text: {type: string, role: text}\n    label: {type: enum, values: [a, b], role: label}\n  steps:\n    - name: s\n      prompt: \"{{ chunk }}\"\n      output: [text, label]",
            "{\"text\": \"t\", \"label\": \"a\"}\n",
        );
        assert_eq!(v.names, ["other"]);
        assert_eq!(v.signed, 1);
    }
}

#[cfg(test)]
mod bundle_tests {
    use crate::spec::{Job, JobBundle, Overrides};
    use std::collections::BTreeMap;

    #[test]
    fn a_flow_job_is_the_same_job_rebuilt_from_its_bundle() {
        for task in [
            "task:\n  kind: knowledge",
            "task:\n  kind: qa",
            "task:\n  kind: flow\n  record:\n    question: {type: string, role: question}\n    answer: {type: string, role: claim}\n  steps:\n    - name: s\n      prompt: \"{{ chunk }}\"\n      output: [question, answer]",
        ] {
            let yaml = format!(
                "name: t\ntarget: 6\nsources:\n  - path: d.md\nseed_examples: s.jsonl\n{task}\nmodel:\n  backend: openai\n  endpoints: [\"http://127.0.0.1:9\"]\n"
            );
            let seeds = "{\"question\": \"Why?\", \"answer\": \"Because.\"}\n".repeat(2);
            let files = BTreeMap::from([
                ("d.md".to_string(), "Bees make honey. It keeps.".to_string()),
                ("s.jsonl".to_string(), seeds),
            ]);
            let job = Job::from_submission("job.yaml", &yaml, &files, &Overrides::default()).unwrap();
            let bundle: JobBundle =
                serde_json::from_slice(&serde_json::to_vec(&job.bundle()).unwrap()).unwrap();
            let again = Job::from_bundle(&bundle).unwrap();
            assert_eq!(again.id, job.id, "{task}");
        }
    }
}

#[cfg(test)]
mod semantic_off_tests {
    use crate::spec::{EmbedBackend, Job, JobBundle, Overrides};
    use std::collections::BTreeMap;

    #[test]
    fn semantic_checks_turned_off_stay_off_in_the_bundle() {
        let yaml = "name: t\ntarget: 6\nsources:\n  - path: d.md\nseed_examples: s.jsonl\ntask:\n  kind: qa\n  few_shot: 1\nmodel:\n  backend: openai\n  endpoints: [\"http://127.0.0.1:9\"]\nvalidate:\n  semantic: {backend: none}\n";
        let files = BTreeMap::from([
            ("d.md".to_string(), "Bees make honey. It keeps.".to_string()),
            (
                "s.jsonl".to_string(),
                "{\"question\": \"Why?\", \"answer\": \"Because.\"}\n".to_string(),
            ),
        ]);
        let job = Job::from_submission("job.yaml", yaml, &files, &Overrides::default()).unwrap();
        assert_eq!(job.spec.validate.semantic.backend, EmbedBackend::None);
        let bundle: JobBundle =
            serde_json::from_slice(&serde_json::to_vec(&job.bundle()).unwrap()).unwrap();
        let again = Job::from_bundle(&bundle).unwrap();
        assert_eq!(again.spec.validate.semantic.backend, EmbedBackend::None);
        assert_eq!(again.id, job.id);
    }
}
