//! Prompts: the built-in template, user templates (Jinja, via minijinja), and the exact
//! request sent to an endpoint, whose bytes are the response cache's key.

use minijinja::{context, Environment};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::SlotPlan;
use crate::spec::Job;

/// The user message used when the job names no template. The simulator finds the
/// chunk between the `<document>` lines.
pub const DEFAULT_TEMPLATE: &str = r#"{% if examples %}Here are examples of the records to write:
{% for ex in examples %}
{{ ex | tojson }}
{% endfor %}
{% endif %}Source document:
<document>
{{ document }}
</document>

Write one new record about the source document above, different from the examples. Every fact in it must come from the document. Reply with only a JSON object with the fields {% for f in fields %}"{{ f }}"{% if not loop.last %}, {% endif %}{% endfor %}."#;

/// The system message used when the job names none.
pub const DEFAULT_SYSTEM: &str = "You write high-quality training data for language models. You only state facts found in the source document you are given, and you answer with a single JSON object.";

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// An OpenAI `/v1/chat/completions` request. Field order is fixed, so its JSON bytes
/// are a stable cache key (DESIGN.md invariant 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Model name.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    pub temperature: f64,
    /// Nucleus sampling.
    pub top_p: f64,
    /// Most completion tokens.
    pub max_tokens: u32,
    /// Sampling seed.
    pub seed: u64,
    /// Structured output: a JSON schema of the task fields.
    pub response_format: serde_json::Value,
}

impl ChatRequest {
    /// The request's JSON body.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("request serialises")
    }
    /// Content address of the request (the response cache key).
    pub fn cache_key(&self) -> [u8; 32] {
        Self::cache_key_of(&self.body())
    }
    /// Content address of a request body already serialised with [`ChatRequest::body`].
    pub fn cache_key_of(body: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"seedstream-chat-v1\0");
        h.update(body);
        h.finalize().into()
    }
    /// sha256 of the messages alone (provenance).
    pub fn prompt_sha256(&self) -> String {
        hex::encode(Sha256::digest(
            serde_json::to_vec(&self.messages).expect("messages serialise"),
        ))
    }
}

/// Check that a user template parses, uses `document`, and renders with the job's own
/// shape (its fields and `few_shot` examples), so a loaded job cannot fail to render.
pub fn check_template(text: &str, fields: &[String], few_shot: usize) -> Result<(), String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template("t", text)
        .map_err(|e| format!("invalid template: {e}"))?;
    let t = env.get_template("t").map_err(|e| e.to_string())?;
    if !t.undeclared_variables(false).contains("document") {
        return Err(
            "template never uses {{ document }}: the model would not see its source".into(),
        );
    }
    let ex: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|f| (f.clone(), serde_json::Value::String("example".into())))
        .collect();
    t.render(context! { document => "doc", examples => vec![ex; few_shot], fields => fields, kind => "qa" })
        .map_err(|e| format!("template does not render with {few_shot} example(s) and fields {fields:?}: {e}"))?;
    Ok(())
}

/// What one step of a slot renders from: the fan-out item, and what earlier steps wrote
/// (`steps.NAME` → that step's reply object).
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    /// The fan-out item and its index, in the steps from the `for_each` one on.
    pub item: Option<(u32, &'a serde_json::Value)>,
    /// Earlier steps' outputs by step name.
    pub steps: &'a serde_json::Map<String, serde_json::Value>,
}

/// Renders every step's request for one job; build once, share.
pub struct FlowPrompts {
    env: Environment<'static>,
    systems: Vec<String>,
    formats: Vec<serde_json::Value>,
    fields: Vec<String>,
}

impl FlowPrompts {
    /// Compile the job's step templates (checked at load, so this cannot fail on a
    /// loaded job).
    pub fn new(job: &Job) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let flow = &job.flow;
        let mut systems = Vec::new();
        let mut formats = Vec::new();
        for (i, s) in flow.steps.iter().enumerate() {
            env.add_template_owned(format!("step{i}"), s.template.clone())
                .expect("template checked at load");
            systems.push(
                s.system
                    .clone()
                    .or_else(|| job.spec.task.system.clone())
                    .unwrap_or_else(|| DEFAULT_SYSTEM.to_string()),
            );
            formats.push(serde_json::json!({
                "type": "json_schema",
                "json_schema": {
                    "name": "record",
                    "strict": true,
                    "schema": crate::spec::flow::object_schema(&s.outputs),
                }
            }));
        }
        Self {
            env,
            systems,
            formats,
            fields: flow.record.iter().map(|f| f.name.clone()).collect(),
        }
    }

    /// The `seed` of step `step` of a slot (for `item` of a fan-out): the slot's seed
    /// for the first step, else derived from it, the step's name and the item.
    pub fn step_seed(job: &Job, plan: &SlotPlan, step: usize, item: Option<u32>) -> u64 {
        if step == 0 && item.is_none() {
            return plan.seed;
        }
        let k = plan.key;
        let mut r = crate::plan::rng(
            job.spec.seed,
            &format!("step:{}", job.flow.steps[step].name),
            &[
                k.round as u64,
                k.shard as u64,
                k.slot as u64,
                item.map_or(0, |i| i as u64 + 1),
            ],
        );
        rand_core::RngCore::next_u64(&mut r) >> 33
    }

    /// The exact request of step `step` of a planned slot. Fails only if a template
    /// fails on this slot's data (every step rendered on the first slot at load).
    pub fn request(
        &self,
        job: &Job,
        plan: &SlotPlan,
        step: usize,
        input: StepInput<'_>,
    ) -> Result<ChatRequest, String> {
        let flow = &job.flow;
        let s = &flow.steps[step];
        let examples: Vec<&serde_json::Map<String, serde_json::Value>> = plan
            .few_shot
            .iter()
            .map(|&i| &job.seed_examples[i].fields)
            .collect();
        let chunk = &job.chunks[plan.chunk];
        let document = if flow.document_is_chunk {
            chunk.text.as_str()
        } else {
            job.sources[chunk.doc as usize].path.as_str()
        };
        let item = input.item.map(|(_, v)| v.clone());
        let user = self
            .env
            .get_template(&format!("step{step}"))
            .and_then(|t| {
                t.render(context! {
                    chunk => chunk.text,
                    document => document,
                    section => "",
                    examples => examples,
                    fields => self.fields,
                    kind => job.spec.task.kind.as_str(),
                    slot_seed => plan.seed,
                    item => item,
                    steps => input.steps,
                })
            })
            .map_err(|e| format!("step {}: prompt template: {e}", s.name))?;
        let m = &job.spec.model;
        Ok(ChatRequest {
            model: s.model.clone().unwrap_or_else(|| m.name.clone()),
            messages: vec![
                ChatMessage {
                    role: "system".into(),
                    content: self.systems[step].clone(),
                },
                ChatMessage {
                    role: "user".into(),
                    content: user,
                },
            ],
            temperature: s.temperature.unwrap_or(m.temperature),
            top_p: s.top_p.unwrap_or(m.top_p),
            max_tokens: s.max_tokens.unwrap_or(m.max_tokens),
            seed: Self::step_seed(job, plan, step, input.item.map(|(i, _)| i)),
            response_format: self.formats[step].clone(),
        })
    }

    /// Every step's request on the job's first slot, with stand-in values of the
    /// declared types for what earlier steps write (and the first stand-in item of a
    /// fan-out): what `run --dry-run` prints. A template that fails here would fail on
    /// every slot, so loading a job checks this; the error names the template and step.
    pub fn first_slot_requests(job: &Job) -> crate::Result<Vec<ChatRequest>> {
        let me = Self::new(job);
        let round = crate::plan::RoundPlan {
            round: 0,
            slots: 1,
            shard_size: job.spec.shard_size,
        };
        let plan = crate::plan::plan_slot(job, &round, 0, 0);
        let mut steps = serde_json::Map::new();
        let mut item: Option<serde_json::Value> = None;
        let mut out = Vec::new();
        for (i, s) in job.flow.steps.iter().enumerate() {
            if let Some(list) = &s.for_each {
                item = steps
                    .values()
                    .find_map(|o| o.get(list))
                    .and_then(|l| l.as_array())
                    .and_then(|a| a.first())
                    .cloned();
            }
            let input = StepInput {
                item: item.as_ref().map(|v| (0, v)),
                steps: &steps,
            };
            match me.request(job, &plan, i, input) {
                Ok(r) => out.push(r),
                Err(e) => {
                    let at = &s.template_at;
                    let (file, field) = if at.starts_with("task.") {
                        (job.file.clone(), at.clone())
                    } else {
                        (
                            job.file
                                .parent()
                                .unwrap_or(std::path::Path::new(""))
                                .join(at),
                            format!("task.steps[{i}].template"),
                        )
                    };
                    return Err(crate::Error::bad_input(
                        file,
                        field,
                        format!("does not render on the first slot: {e}"),
                    ));
                }
            }
            let o: serde_json::Map<String, serde_json::Value> = s
                .outputs
                .iter()
                .map(|f| (f.name.clone(), f.ty.example()))
                .collect();
            steps.insert(s.name.clone(), serde_json::Value::Object(o));
        }
        Ok(out)
    }

    /// [`FlowPrompts::first_slot_requests`], for its error only.
    pub fn check_first_slot(job: &Job) -> crate::Result<()> {
        Self::first_slot_requests(job).map(|_| ())
    }
}

/// The first JSON object in `text` whose fields fit `fields` (types checked, other keys
/// dropped, in `fields` order). `Err` says why none fits: no object, or the first one
/// with the fields named, and what is wrong in it.
pub fn extract_typed(
    text: &str,
    fields: &[crate::spec::flow::Field],
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut misfit: Option<String> = None;
    while let Some(off) = text[start..].find('{') {
        let open = start + off;
        if let Some(end) = balanced_end(bytes, open) {
            if let Ok(serde_json::Value::Object(mut obj)) =
                serde_json::from_str::<serde_json::Value>(&text[open..=end])
            {
                crate::spec::flow::normalize_object(fields, &mut obj);
                match crate::spec::flow::check_object(fields, &obj) {
                    Ok(()) => {
                        let mut out = serde_json::Map::new();
                        for f in fields {
                            out.insert(f.name.clone(), obj[&f.name].clone());
                        }
                        return Ok(out);
                    }
                    Err(e) => {
                        if misfit.is_none() && fields.iter().any(|f| obj.contains_key(&f.name)) {
                            misfit = Some(e);
                        }
                    }
                }
            }
        }
        start = open + 1;
    }
    Err(match misfit {
        Some(e) => format!("{SCHEMA_MISFIT}: {e}"),
        None => {
            let cut: String = text.chars().take(120).collect();
            format!("no JSON object with the fields in the reply: {cut:?}")
        }
    })
}

/// How [`extract_typed`] says that a reply's JSON does not fit the step's types (the
/// record is then rejected as `format`, not `unparseable`).
pub const SCHEMA_MISFIT: &str = "reply does not fit the schema";

/// Find the first JSON object in `text` that holds every field as a string.
///
/// Models often wrap JSON in prose or code fences; accept the first balanced `{…}` that
/// parses and has the fields.
pub fn extract_fields(
    text: &str,
    fields: &[String],
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(off) = text[start..].find('{') {
        let open = start + off;
        if let Some(end) = balanced_end(bytes, open) {
            if let Ok(serde_json::Value::Object(obj)) =
                serde_json::from_str::<serde_json::Value>(&text[open..=end])
            {
                if fields
                    .iter()
                    .all(|f| obj.get(f).is_some_and(|v| v.is_string()))
                {
                    let mut out = serde_json::Map::new();
                    for f in fields {
                        out.insert(f.clone(), obj[f].clone());
                    }
                    return Some(out);
                }
            }
        }
        start = open + 1;
    }
    None
}

fn balanced_end(b: &[u8], open: usize) -> Option<usize> {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for (i, &c) in b.iter().enumerate().skip(open) {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> Vec<String> {
        vec!["question".into(), "answer".into()]
    }

    #[test]
    fn extracts_plain_and_wrapped_json() {
        let o = extract_fields(r#"{"question":"q?","answer":"a"}"#, &f()).unwrap();
        assert_eq!(o["question"], "q?");
        let o = extract_fields(
            "Sure! ```json\n{\"answer\": \"a {b}\", \"question\": \"q\"}\n``` done",
            &f(),
        )
        .unwrap();
        assert_eq!(o["answer"], "a {b}");
        // Keys come out in task order whatever order the model used.
        assert_eq!(o.keys().cloned().collect::<Vec<_>>(), f());
    }

    #[test]
    fn skips_objects_without_the_fields() {
        let t = r#"{"note": 1} then {"question": "q", "answer": "a"}"#;
        assert_eq!(extract_fields(t, &f()).unwrap()["answer"], "a");
        assert!(extract_fields(r#"{"question": "q"}"#, &f()).is_none());
        assert!(extract_fields(r#"{"question": "q", "answer": 3}"#, &f()).is_none());
        assert!(extract_fields(r#"{"question": "unterminated"#, &f()).is_none());
        assert!(extract_fields("no json here", &f()).is_none());
    }

    #[test]
    fn default_template_checks() {
        let f = f();
        check_template(DEFAULT_TEMPLATE, &f, 0).unwrap();
        check_template(DEFAULT_TEMPLATE, &f, 3).unwrap();
        assert!(check_template("{{ document }} {{ nope }}", &f, 1).is_err());
        assert!(check_template("{% for %}", &f, 1).is_err());
        // Mentioning the word is not using the variable.
        assert!(check_template("Source document: none", &f, 1).is_err());
        // Indexing an example that few_shot: 0 never provides fails at load, not at run.
        assert!(check_template("{{ document }} {{ examples[0].question }}", &f, 0).is_err());
        check_template("{{ document }} {{ examples[1].question }}", &f, 2).unwrap();
    }
}
