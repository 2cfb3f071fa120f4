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

/// Renders slot prompts for one job; build once, share.
pub struct PromptBuilder {
    env: Environment<'static>,
    system: String,
    schema: serde_json::Value,
}

impl PromptBuilder {
    /// Compile the job's template (checked at load, so this cannot fail on a loaded job).
    pub fn new(job: &Job) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let text = job
            .template
            .clone()
            .unwrap_or_else(|| DEFAULT_TEMPLATE.to_string());
        env.add_template_owned("user", text)
            .expect("template checked at load");
        let props: serde_json::Map<String, serde_json::Value> = job
            .spec
            .task
            .fields
            .iter()
            .map(|f| (f.clone(), serde_json::json!({"type": "string"})))
            .collect();
        let schema = serde_json::json!({
            "type": "json_schema",
            "json_schema": {
                "name": "record",
                "strict": true,
                "schema": {
                    "type": "object",
                    "properties": props,
                    "required": job.spec.task.fields,
                    "additionalProperties": false,
                }
            }
        });
        Self {
            env,
            system: job
                .spec
                .task
                .system
                .clone()
                .unwrap_or_else(|| DEFAULT_SYSTEM.to_string()),
            schema,
        }
    }

    /// The exact request for a planned slot. Fails only if a user template fails on
    /// this slot's data (the shape was checked at load).
    pub fn request(&self, job: &Job, plan: &SlotPlan) -> Result<ChatRequest, String> {
        let examples: Vec<&serde_json::Map<String, serde_json::Value>> = plan
            .few_shot
            .iter()
            .map(|&i| &job.seed_examples[i].fields)
            .collect();
        let user = self
            .env
            .get_template("user")
            .and_then(|t| {
                t.render(context! {
                    document => job.chunks[plan.chunk].text,
                    examples => examples,
                    fields => job.spec.task.fields,
                    kind => "qa",
                })
            })
            .map_err(|e| format!("prompt template: {e}"))?;
        let m = &job.spec.model;
        Ok(ChatRequest {
            model: m.name.clone(),
            messages: vec![
                ChatMessage {
                    role: "system".into(),
                    content: self.system.clone(),
                },
                ChatMessage {
                    role: "user".into(),
                    content: user,
                },
            ],
            temperature: m.temperature,
            top_p: m.top_p,
            max_tokens: m.max_tokens,
            seed: plan.seed,
            response_format: self.schema.clone(),
        })
    }
}

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
