//! Rule targets as `PutTargets` takes them: where a matched event goes (a Lambda function, an
//! SQS queue, a Kinesis stream or another event bus), what it sends (the event, `Input`,
//! `InputPath` or `InputTransformer`), and what happens when a delivery fails (`RetryPolicy`,
//! `DeadLetterConfig`).

use std::time::Duration;

use serde_json::{Map, Value};

use crate::aws::{missing_member, ApiError};

/// Where a target's deliveries go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dest {
    /// A Lambda function, invoked asynchronously.
    Function(String),
    /// An SQS queue: the payload is a message's body.
    Queue(String),
    /// A Kinesis stream: the payload is a record's data.
    Stream(String),
    /// Another event bus: the event is put on it (one hop).
    Bus(String),
}

impl Dest {
    /// The destination an ARN names, when weir delivers to that kind.
    pub(crate) fn of_arn(arn: &str) -> Option<Dest> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [arn_, _partition, service, _region, _account, resource] = parts.as_slice() else {
            return None;
        };
        if *arn_ != "arn" {
            return None;
        }
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        match *service {
            "lambda" => {
                let rest = resource.strip_prefix("function:")?;
                // NAME or NAME:QUALIFIER
                let name = rest.split(':').next()?;
                (rest.split(':').count() <= 2)
                    .then(|| nonempty(name))?
                    .map(Dest::Function)
            }
            "sqs" if !resource.contains(':') && !resource.contains('/') => {
                nonempty(resource).map(Dest::Queue)
            }
            "kinesis" => nonempty(resource.strip_prefix("stream/")?).map(Dest::Stream),
            "events" => nonempty(resource.strip_prefix("event-bus/")?).map(Dest::Bus),
            _ => None,
        }
    }
}

/// A JSON path of the subset EventBridge reads: `$`, `.member`, `[N]`, and `*` (`.*` or
/// `[*]`, every element or member, collected into an array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonPath(Vec<Step>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Member(String),
    Index(usize),
    All,
}

impl JsonPath {
    pub(crate) fn parse(text: &str) -> Result<JsonPath, String> {
        let bad = |why: &str| format!("{text:?} is not a JSON path weir reads: {why}");
        let rest = text
            .strip_prefix('$')
            .ok_or_else(|| bad("it must start with $"))?;
        let mut steps = Vec::new();
        let mut i = 0;
        let bytes = rest.as_bytes();
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    let start = i + 1;
                    let end = rest[start..]
                        .find(['.', '['])
                        .map_or(rest.len(), |e| start + e);
                    let name = &rest[start..end];
                    if name.is_empty() {
                        return Err(bad("a member name is empty"));
                    }
                    steps.push(if name == "*" {
                        Step::All
                    } else {
                        Step::Member(name.to_string())
                    });
                    i = end;
                }
                b'[' => {
                    let end = rest[i..]
                        .find(']')
                        .map(|e| i + e)
                        .ok_or_else(|| bad("a [ is not closed"))?;
                    let inner = &rest[i + 1..end];
                    steps.push(if inner == "*" {
                        Step::All
                    } else {
                        Step::Index(inner.parse().map_err(|_| {
                            bad("brackets hold an array index or * (members use dot notation)")
                        })?)
                    });
                    i = end + 1;
                }
                _ => return Err(bad("expected . or [ after $")),
            }
        }
        Ok(JsonPath(steps))
    }

    /// The value at this path in `value`, `None` when there is none.
    pub(crate) fn select(&self, value: &Value) -> Option<Value> {
        select(&self.0, value)
    }
}

fn select(steps: &[Step], value: &Value) -> Option<Value> {
    let Some((first, rest)) = steps.split_first() else {
        return Some(value.clone());
    };
    match first {
        Step::Member(name) => select(rest, value.as_object()?.get(name)?),
        Step::Index(n) => select(rest, value.as_array()?.get(*n)?),
        Step::All => {
            let items: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                Value::Object(members) => members.values().collect(),
                _ => return None,
            };
            Some(Value::Array(
                items.into_iter().filter_map(|v| select(rest, v)).collect(),
            ))
        }
    }
}

/// The variables EventBridge defines for every input template.
pub(crate) const PREDEFINED: [&str; 5] = [
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event",
    "aws.events.event.ingestion-time",
    "aws.events.event.json",
];

/// An `InputTemplate`, split into text and `<name>` placeholders, each knowing whether it
/// sits inside a JSON string of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    /// Whether the template is JSON (an object or array): a value placed outside a string is
    /// then written as JSON (strings quoted).
    json: bool,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var { name: String, in_string: bool },
}

/// The length of a placeholder name at the start of `s` (after `<`), when `s` holds one and
/// its closing `>`.
fn placeholder_len(s: &str) -> Option<usize> {
    let end = s.find('>')?;
    let name = &s[..end];
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    valid.then_some(end)
}

impl Template {
    pub(crate) fn parse(text: &str) -> Template {
        let trimmed = text.trim_start();
        let json = trimmed.starts_with('{') || trimmed.starts_with('[');
        let mut parts = Vec::new();
        let mut literal = String::new();
        let (mut in_string, mut escaped) = (false, false);
        let mut i = 0;
        while let Some(c) = text[i..].chars().next() {
            if c == '<' {
                if let Some(len) = placeholder_len(&text[i + 1..]) {
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var {
                        name: text[i + 1..i + 1 + len].to_string(),
                        in_string,
                    });
                    escaped = false;
                    i += len + 2;
                    continue;
                }
            }
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = false;
                }
            } else if c == '"' {
                in_string = true;
            }
            literal.push(c);
            i += c.len_utf8();
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Template { json, parts }
    }

    /// The placeholder names inside a JSON string of a JSON template (an object key or part
    /// of a string value), in order.
    pub(crate) fn names_in_json_strings(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var {
                name,
                in_string: true,
            } if self.json => Some(name.as_str()),
            _ => None,
        })
    }

    /// The placeholder names, in order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { name, .. } => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// The template with each placeholder replaced by `value(name)`, as EventBridge fills it:
    /// inside a string, a string value goes in as its text (not escaped) and another value as
    /// its JSON; outside a string, a JSON template takes the value as JSON (a string quoted)
    /// and a text template takes it as inside a string. A variable whose path matched
    /// nothing is the empty string. A JSON result is minified.
    pub(crate) fn render(&self, value: impl Fn(&str) -> Option<Value>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var { name, in_string } => {
                    let as_json = self.json && !in_string;
                    match value(name) {
                        None if as_json => out.push_str("\"\""),
                        None => {}
                        Some(Value::String(s)) if !as_json => out.push_str(&s),
                        Some(v) => out.push_str(&v.to_string()),
                    }
                }
            }
        }
        if self.json && serde_json::from_str::<serde::de::IgnoredAny>(&out).is_ok() {
            return minify(&out);
        }
        out
    }
}

/// Valid JSON text without the whitespace between its tokens (members keep their order).
fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c.is_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

/// What a target sends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    /// The matched event.
    Event,
    /// `Input`: constant JSON text.
    Constant(String),
    /// `InputPath`: the part of the event at the path.
    Path(JsonPath),
    /// `InputTransformer`: variables from the event's paths, filled into the template.
    Transformer {
        paths: Vec<(String, JsonPath)>,
        template: Template,
    },
}

/// What `Input::render` needs besides the event.
pub(crate) struct Context<'a> {
    pub(crate) rule_name: &'a str,
    pub(crate) rule_arn: &'a str,
    /// When EventBridge received the event (ISO 8601).
    pub(crate) ingestion_time: &'a str,
}

impl Input {
    /// The payload of a delivery of `event` (whose text is `text`).
    pub(crate) fn render(&self, event: &Value, text: &str, context: &Context<'_>) -> String {
        match self {
            Input::Event => text.to_string(),
            Input::Constant(input) => input.clone(),
            // A path that matches nothing sends JSON null.
            Input::Path(path) => path.select(event).unwrap_or(Value::Null).to_string(),
            Input::Transformer { paths, template } => template.render(|name| match name {
                "aws.events.rule-arn" => Some(Value::String(context.rule_arn.to_string())),
                "aws.events.rule-name" => Some(Value::String(context.rule_name.to_string())),
                "aws.events.event.ingestion-time" => {
                    Some(Value::String(context.ingestion_time.to_string()))
                }
                // The event without its `detail` (the same event when it has none), and whole.
                "aws.events.event" => Some(match event {
                    Value::Object(fields) if fields.contains_key("detail") => {
                        let mut fields = fields.clone();
                        fields.remove("detail");
                        Value::Object(fields)
                    }
                    other => other.clone(),
                }),
                "aws.events.event.json" => Some(event.clone()),
                _ => paths
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, path)| path.select(event)),
            }),
        }
    }
}

/// Which failures are retried, and for how long (EventBridge's defaults: 185 attempts, 24
/// hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 185,
            max_age: Duration::from_secs(86_400),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Try again after this delay.
    After(Duration),
    /// Stop; the condition that ended the retries (`EXHAUSTED_RETRY_CONDITION`).
    Exhausted(&'static str),
}

/// The first retry's delay bound; each retry doubles it, up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(300);

impl RetryPolicy {
    /// After `retries` retries (the first attempt not counted) of an event received `age`
    /// ago: the next delay, exponential with jitter (`jitter` in 0..1 picks a point in the
    /// upper half of the bound), or why retrying is over.
    pub(crate) fn next(&self, retries: u32, age: Duration, jitter: f64) -> Next {
        if retries >= self.max_attempts {
            return Next::Exhausted("MaximumRetryAttempts");
        }
        let bound = FIRST_DELAY
            .saturating_mul(1u32 << retries.min(16))
            .min(MAX_DELAY);
        let delay = bound / 2 + bound.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        if age + delay > self.max_age {
            return Next::Exhausted("MaximumEventAgeInSeconds");
        }
        Next::After(delay)
    }
}

/// One target, as weir delivers to it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) id: String,
    pub(crate) arn: String,
    pub(crate) dest: Dest,
    pub(crate) input: Input,
    /// `KinesisParameters.PartitionKeyPath` (else the event id is the partition key).
    pub(crate) partition_key: Option<JsonPath>,
    pub(crate) retry: RetryPolicy,
    /// `DeadLetterConfig.Arn` and its queue's name.
    pub(crate) dead_letter: Option<(String, String)>,
}

/// Why `PutTargets` did not take a target: the whole request (AWS's validation errors) or
/// this entry (`FailedEntries`).
#[derive(Debug)]
pub(crate) enum Refusal {
    Request(ApiError),
    Entry(String),
}

/// Target members weir cannot honour; a target naming one is refused.
const UNSUPPORTED: [&str; 8] = [
    "SqsParameters",
    "EcsParameters",
    "BatchParameters",
    "HttpParameters",
    "RunCommandParameters",
    "RedshiftDataParameters",
    "SageMakerPipelineParameters",
    "AppSyncParameters",
];

fn validation(message: impl Into<String>) -> Refusal {
    Refusal::Request(ApiError::json11("ValidationException", message))
}

fn present<'a>(target: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    target.get(key).filter(|v| !v.is_null())
}

/// A number member of `RetryPolicy` within `low..=high`, in AWS's constraint message.
fn bounded(
    policy: &Map<String, Value>,
    key: &str,
    wire: &str,
    index: usize,
    (low, high): (u64, u64),
) -> Result<Option<u64>, Refusal> {
    let Some(value) = present(policy, key) else {
        return Ok(None);
    };
    let n = value
        .as_i64()
        .ok_or_else(|| validation(format!("RetryPolicy.{key} must be an integer")))?;
    let at = format!("targets.{index}.member.retryPolicy.{wire}");
    if n < low as i64 {
        return Err(validation(format!(
            "1 validation error detected: Value '{n}' at '{at}' failed to satisfy constraint: \
             Member must have value greater than or equal to {low}"
        )));
    }
    if n > high as i64 {
        return Err(validation(format!(
            "1 validation error detected: Value '{n}' at '{at}' failed to satisfy constraint: \
             Member must have value less than or equal to {high}"
        )));
    }
    Ok(Some(n as u64))
}

/// Reads one target of `PutTargets` (`index` counts from 1, as AWS's messages do).
pub(crate) fn plan(target: &Value, index: usize) -> Result<Plan, Refusal> {
    plan_with(target, index, true)
}

/// Reads one target as stored with a rule: as [`plan`], except that an `InputTemplate` with
/// `<aws.events.event>` or `<aws.events.event.json>` inside a JSON string, which `PutTargets`
/// refuses now but took before, is kept and filled as it always was (the event's JSON in
/// the string, unescaped), so a rule put then still loads and delivers.
pub(crate) fn plan_stored(target: &Value, index: usize) -> Result<Plan, Refusal> {
    plan_with(target, index, false)
}

/// [`plan`] (`strict`) or [`plan_stored`].
fn plan_with(target: &Value, index: usize, strict: bool) -> Result<Plan, Refusal> {
    let Some(target) = target.as_object() else {
        return Err(Refusal::Request(ApiError::json11(
            "SerializationException",
            "a target must be an object",
        )));
    };
    let text = |key: &str| target.get(key).and_then(Value::as_str).unwrap_or_default();
    let (id, arn) = (text("Id"), text("Arn"));
    if id.is_empty() || arn.is_empty() {
        return Err(validation(missing_member(if id.is_empty() {
            "id"
        } else {
            "arn"
        })));
    }
    let inputs = ["Input", "InputPath", "InputTransformer"]
        .iter()
        .filter(|k| present(target, k).is_some())
        .count();
    if inputs > 1 {
        return Err(validation(format!(
            "Only one of Input, InputPath, or InputTransformer must be provided for target {id}."
        )));
    }
    let mut retry = RetryPolicy::default();
    if let Some(policy) = present(target, "RetryPolicy") {
        let policy = policy
            .as_object()
            .ok_or_else(|| validation("RetryPolicy must be an object"))?;
        let range = (0, 185);
        if let Some(n) = bounded(
            policy,
            "MaximumRetryAttempts",
            "maximumRetryAttempts",
            index,
            range,
        )? {
            retry.max_attempts = n as u32;
        }
        let range = (60, 86_400);
        if let Some(n) = bounded(
            policy,
            "MaximumEventAgeInSeconds",
            "maximumEventAgeInSeconds",
            index,
            range,
        )? {
            retry.max_age = Duration::from_secs(n);
        }
    }
    let input = match (
        present(target, "Input"),
        present(target, "InputPath"),
        present(target, "InputTransformer"),
    ) {
        (Some(input), _, _) => {
            let input = input.as_str().unwrap_or_default();
            if serde_json::from_str::<Value>(input).is_err() {
                return Err(Refusal::Entry("Input is not valid JSON".to_string()));
            }
            Input::Constant(input.to_string())
        }
        (_, Some(path), _) => {
            Input::Path(JsonPath::parse(path.as_str().unwrap_or_default()).map_err(Refusal::Entry)?)
        }
        (_, _, Some(transformer)) => transformer_of(transformer, id, strict)?,
        _ => Input::Event,
    };
    if let Some(key) = UNSUPPORTED.iter().find(|k| present(target, k).is_some()) {
        return Err(Refusal::Entry(format!(
            "weir does not support {key} on targets"
        )));
    }
    let Some(dest) = Dest::of_arn(arn) else {
        return Err(Refusal::Entry(format!(
            "weir delivers to Lambda functions, SQS queues, Kinesis streams and event buses; \
             not to {arn}"
        )));
    };
    if matches!(dest, Dest::Bus(_)) && input != Input::Event {
        return Err(Refusal::Entry(
            "an event bus target gets the event itself: Input, InputPath and InputTransformer \
             are not supported on it"
                .to_string(),
        ));
    }
    let partition_key = match present(target, "KinesisParameters") {
        None => None,
        Some(_) if !matches!(dest, Dest::Stream(_)) => {
            return Err(Refusal::Entry(
                "KinesisParameters is only for Kinesis stream targets".to_string(),
            ))
        }
        Some(params) => match params.get("PartitionKeyPath").and_then(Value::as_str) {
            Some(path) => Some(JsonPath::parse(path).map_err(Refusal::Entry)?),
            None => {
                return Err(validation(missing_member(&format!(
                    "targets.{index}.member.kinesisParameters.partitionKeyPath"
                ))))
            }
        },
    };
    let dead_letter = match present(target, "DeadLetterConfig") {
        None => None,
        Some(config) => match config.get("Arn").and_then(Value::as_str) {
            None => None,
            Some(dlq) => match Dest::of_arn(dlq) {
                Some(Dest::Queue(queue)) => Some((dlq.to_string(), queue)),
                _ => {
                    return Err(Refusal::Entry(format!(
                        "the dead-letter queue must be an SQS queue ARN, not {dlq}"
                    )))
                }
            },
        },
    };
    Ok(Plan {
        id: id.to_string(),
        arn: arn.to_string(),
        dest,
        input,
        partition_key,
        retry,
        dead_letter,
    })
}

fn transformer_of(transformer: &Value, id: &str, strict: bool) -> Result<Input, Refusal> {
    let template = match transformer.get("InputTemplate") {
        Some(Value::String(t)) if !t.is_empty() && t.len() <= 8192 => Template::parse(t),
        Some(Value::String(_)) => {
            return Err(validation(
                "InputTemplate must be 1 to 8192 characters long",
            ))
        }
        _ => return Err(validation(missing_member("inputTemplate"))),
    };
    let mut paths = Vec::new();
    if let Some(map) = transformer.get("InputPathsMap").filter(|v| !v.is_null()) {
        let map = map
            .as_object()
            .ok_or_else(|| validation("InputPathsMap must be an object"))?;
        if map.len() > 100 {
            return Err(validation(
                "InputPathsMap has more than 100 entries, EventBridge's limit",
            ));
        }
        for (name, path) in map {
            let valid = (1..=256).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
            if !valid || name.starts_with("AWS") || PREDEFINED.contains(&name.as_str()) {
                return Err(validation(format!(
                    "InputPathsMap key {name} for target {id} is not valid: keys are 1-256 \
                     characters of [A-Za-z0-9_-], not starting with AWS"
                )));
            }
            let path = JsonPath::parse(path.as_str().unwrap_or_default())
                .map_err(|e| validation(format!("InputPathsMap {name} for target {id}: {e}")))?;
            paths.push((name.clone(), path));
        }
    }
    if let Some(name) = template
        .names()
        .find(|n| !PREDEFINED.contains(n) && !paths.iter().any(|(p, _)| p == n))
    {
        return Err(validation(format!(
            "InputTemplate for target {id} contains invalid placeholder {name}."
        )));
    }
    // EventBridge puts the event in unescaped: only as a JSON field's value (or a text
    // template's text); inside a JSON template's string it could never give JSON. Refused
    // when put; a stored target put before this check keeps working.
    if let Some(name) = template
        .names_in_json_strings()
        .find(|n| matches!(*n, "aws.events.event" | "aws.events.event.json"))
        .filter(|_| strict)
    {
        return Err(validation(format!(
            "InputTemplate for target {id} has <{name}> inside a string: <{name}> is the event's \
             JSON, not escaped, so it can only be the value of a JSON field"
        )));
    }
    Ok(Input::Transformer { paths, template })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arns() {
        let of = Dest::of_arn;
        assert_eq!(
            of("arn:aws:lambda:us-east-1:1:function:f"),
            Some(Dest::Function("f".into()))
        );
        assert_eq!(
            of("arn:aws:lambda:us-east-1:1:function:f:$LATEST"),
            Some(Dest::Function("f".into()))
        );
        assert_eq!(
            of("arn:aws:sqs:us-east-1:1:q"),
            Some(Dest::Queue("q".into()))
        );
        assert_eq!(
            of("arn:aws:kinesis:us-east-1:1:stream/s"),
            Some(Dest::Stream("s".into()))
        );
        assert_eq!(
            of("arn:aws:events:us-east-1:1:event-bus/b"),
            Some(Dest::Bus("b".into()))
        );
        for bad in [
            "arn:aws:sns:us-east-1:1:t",
            "arn:aws:kinesis:us-east-1:1:s",
            "arn:aws:lambda:us-east-1:1:function:",
            "arn:aws:lambda:us-east-1:1:function:f:1:2",
            "arn:aws:sqs:us-east-1:1:",
            "nope",
        ] {
            assert_eq!(of(bad), None, "{bad}");
        }
    }

    #[test]
    fn json_paths() {
        let event = json!({"detail": {"a-b": [1, {"c": 2}], "s": "x"}, "resources": ["r0", "r1"]});
        let at = |p: &str| JsonPath::parse(p).unwrap().select(&event);
        assert_eq!(at("$"), Some(event.clone()));
        assert_eq!(at("$.detail.s"), Some(json!("x")));
        assert_eq!(at("$.detail.a-b[1].c"), Some(json!(2)));
        assert_eq!(at("$.resources[1]"), Some(json!("r1")));
        assert_eq!(at("$.resources[*]"), Some(json!(["r0", "r1"])));
        assert_eq!(at("$.detail.*"), Some(json!([[1, {"c": 2}], "x"])));
        assert_eq!(at("$.detail.missing"), None);
        assert_eq!(at("$.resources[5]"), None);
        for bad in ["detail", "$.", "$..a", "$[\"a\"]", "$.a[", "$x"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    fn fill(template: &str, vars: &Value) -> String {
        Template::parse(template).render(|name| vars.get(name).cloned())
    }

    #[test]
    fn templates_fill_as_eventbridge_does() {
        let vars =
            json!({"instance": "i-0123456789", "state": "RUNNING", "n": 9, "obj": {"k": "v"}});
        // The documented examples.
        assert_eq!(
            fill(r#""instance <instance> is in <state>""#, &vars),
            r#""instance i-0123456789 is in RUNNING""#
        );
        assert_eq!(
            fill(r#"{"instance" : <instance>, "state": <state>}"#, &vars),
            r#"{"instance":"i-0123456789","state":"RUNNING"}"#
        );
        assert_eq!(
            fill(
                r#"{"instance" : <instance>, "state": "<state>", "status": "instance \"<instance>\" is in <state>"}"#,
                &vars
            ),
            r#"{"instance":"i-0123456789","state":"RUNNING","status":"instance \"i-0123456789\" is in RUNNING"}"#
        );
        assert_eq!(
            fill(
                r#"{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}"#,
                &vars
            ),
            r#"{"instance":"i-0123456789","state":[9,"RUNNING",true],"Transformed":"Yes"}"#
        );
        // Numbers and objects stay JSON; inside a string they are their JSON text.
        assert_eq!(
            fill(r#"{"n": <n>, "o": <obj>}"#, &vars),
            r#"{"n":9,"o":{"k":"v"}}"#
        );
        assert_eq!(fill(r#""n is <n>""#, &vars), r#""n is 9""#);
        // A missing variable is the empty string: quoted where JSON wants a value.
        assert_eq!(fill(r#"{"m": <missing>}"#, &vars), r#"{"m":""}"#);
        assert_eq!(fill(r#""m=<missing>.""#, &vars), r#""m=.""#);
        // Values are not escaped inside strings (the result is then not JSON, sent as is).
        let quote = json!({"q": "say \"hi\""});
        assert_eq!(fill(r#"{"a": "<q>"}"#, &quote), r#"{"a": "say "hi""}"#);
        // A text template takes values as text; < without a name is text.
        assert_eq!(fill("state <state> a < b", &vars), "state RUNNING a < b");
        // A JSON template starting with an array.
        assert_eq!(fill("[<n>, <state>]", &vars), r#"[9,"RUNNING"]"#);
        let t = Template::parse(r#"{"a": <x>, "b": "<aws.events.rule-name>"}"#);
        assert_eq!(t.names().collect::<Vec<_>>(), ["x", "aws.events.rule-name"]);
    }

    #[test]
    fn predefined_variables_and_input_kinds() {
        let event = json!({"id": "e1", "detail": {"s": "x"}});
        let text = event.to_string();
        let context = Context {
            rule_name: "r",
            rule_arn: "arn:aws:events:us-east-1:000000000000:rule/b/r",
            ingestion_time: "2024-01-02T03:04:05Z",
        };
        let target = json!({"Id": "t", "Arn": "arn:aws:sqs:us-east-1:1:q", "InputTransformer": {
            "InputPathsMap": {"s": "$.detail.s"},
            "InputTemplate": r#"{"rule": <aws.events.rule-name>, "arn": "<aws.events.rule-arn>", "at": <aws.events.event.ingestion-time>, "e": <aws.events.event>, "s": <s>}"#,
        }});
        let plan = plan(&target, 1).unwrap();
        let out: Value = serde_json::from_str(&plan.input.render(&event, &text, &context)).unwrap();
        assert_eq!(
            out,
            json!({"rule": "r", "arn": context.rule_arn, "at": "2024-01-02T03:04:05Z", "e": {"id": "e1"}, "s": "x"})
        );
        let path = super::plan(
            &json!({"Id": "t", "Arn": "arn:aws:sqs:r:1:q", "InputPath": "$.detail"}),
            1,
        )
        .unwrap();
        assert_eq!(path.input.render(&event, &text, &context), r#"{"s":"x"}"#);
        let none = super::plan(
            &json!({"Id": "t", "Arn": "arn:aws:sqs:r:1:q", "InputPath": "$.nope"}),
            1,
        )
        .unwrap();
        assert_eq!(none.input.render(&event, &text, &context), "null");
        let constant = super::plan(
            &json!({"Id": "t", "Arn": "arn:aws:sqs:r:1:q", "Input": "{\"c\": 1}"}),
            1,
        )
        .unwrap();
        assert_eq!(constant.input.render(&event, &text, &context), "{\"c\": 1}");
        let whole = super::plan(&json!({"Id": "t", "Arn": "arn:aws:sqs:r:1:q"}), 1).unwrap();
        assert_eq!(whole.input.render(&event, &text, &context), text);
    }

    #[test]
    fn the_event_variables_are_the_event_without_and_with_its_detail() {
        let context = Context {
            rule_name: "r",
            rule_arn: "arn",
            ingestion_time: "t",
        };
        let target = json!({"Id": "t", "Arn": "arn:aws:sqs:us-east-1:1:q", "InputTransformer": {
            "InputTemplate": r#"{"e": <aws.events.event>, "j": <aws.events.event.json>}"#,
        }});
        let plan = plan(&target, 1).unwrap();
        let render = |event: &Value| -> Value {
            serde_json::from_str(&plan.input.render(event, &event.to_string(), &context)).unwrap()
        };
        let event = json!({"id": "e1", "source": "s", "detail": {"n": 1}});
        assert_eq!(
            render(&event),
            json!({"e": {"id": "e1", "source": "s"}, "j": event})
        );
        // Without a detail both are the whole event.
        let bare = json!({"id": "e2", "source": "s"});
        assert_eq!(render(&bare), json!({"e": bare, "j": bare}));
        // As a text template's whole value, the event's JSON.
        let whole = plan_of(r#"<aws.events.event.json>"#);
        assert_eq!(
            whole.input.render(&bare, &bare.to_string(), &context),
            bare.to_string()
        );
    }

    fn plan_of(template: &str) -> Plan {
        plan(
            &json!({"Id": "t", "Arn": "arn:aws:sqs:us-east-1:1:q",
                "InputTransformer": {"InputPathsMap": {"k": "$.detail.k"}, "InputTemplate": template}}),
            1,
        )
        .unwrap()
    }

    #[test]
    fn a_placeholder_as_an_object_key_is_filled_as_inside_any_string() {
        let context = Context {
            rule_name: "r",
            rule_arn: "arn",
            ingestion_time: "t",
        };
        let event = json!({"detail": {"k": "colour"}});
        let render = |template: &str| {
            plan_of(template)
                .input
                .render(&event, &event.to_string(), &context)
        };
        assert_eq!(render(r#"{"<k>": 1}"#), r#"{"colour":1}"#);
        assert_eq!(render(r#"{"my-<k>": "<k>"}"#), r#"{"my-colour":"colour"}"#);
        // Unquoted, a string value is quoted: still a key.
        assert_eq!(render(r#"{<k>: 1}"#), r#"{"colour":1}"#);
        let missing = json!({"detail": {}});
        assert_eq!(
            plan_of(r#"{"<k>": 1}"#)
                .input
                .render(&missing, &missing.to_string(), &context),
            r#"{"":1}"#
        );
    }

    #[test]
    fn the_event_variables_inside_a_json_templates_string_are_refused() {
        for template in [
            r#"{"e": "<aws.events.event>"}"#,
            r#"{"<aws.events.event.json>": 1}"#,
            r#"["seen: <aws.events.event.json>"]"#,
        ] {
            let target = json!({"Id": "t", "Arn": "arn:aws:sqs:us-east-1:1:q",
                "InputTransformer": {"InputTemplate": template}});
            let message = refused(target);
            assert!(
                message.starts_with("request ValidationException: InputTemplate for target t")
                    && message.contains("can only be the value of a JSON field"),
                "{template}: {message}"
            );
        }
        // A text template may hold them (its text is sent as is).
        plan_of(r#""seen: <aws.events.event>""#);
    }

    fn refused(target: Value) -> String {
        match plan(&target, 2) {
            Err(Refusal::Request(e)) => format!("request {}: {}", e.code, e.message),
            Err(Refusal::Entry(m)) => format!("entry: {m}"),
            Ok(p) => panic!("accepted {p:?}"),
        }
    }

    #[test]
    fn refusals_have_aws_messages() {
        let q = "arn:aws:sqs:us-east-1:1:q";
        assert_eq!(
            refused(json!({"Id": "t", "Arn": q, "Input": "{}", "InputPath": "$"})),
            "request ValidationException: Only one of Input, InputPath, or InputTransformer must be provided for target t."
        );
        assert_eq!(
            refused(json!({"Id": "t", "Arn": q, "InputTransformer": {"InputTemplate": "\"<nope>\""}})),
            "request ValidationException: InputTemplate for target t contains invalid placeholder nope."
        );
        assert_eq!(
            refused(json!({"Id": "t", "Arn": q, "RetryPolicy": {"MaximumRetryAttempts": 186}})),
            "request ValidationException: 1 validation error detected: Value '186' at \
             'targets.2.member.retryPolicy.maximumRetryAttempts' failed to satisfy constraint: \
             Member must have value less than or equal to 185"
        );
        assert_eq!(
            refused(json!({"Id": "t", "Arn": q, "RetryPolicy": {"MaximumEventAgeInSeconds": 59}})),
            "request ValidationException: 1 validation error detected: Value '59' at \
             'targets.2.member.retryPolicy.maximumEventAgeInSeconds' failed to satisfy constraint: \
             Member must have value greater than or equal to 60"
        );
        assert!(refused(json!({"Id": "t", "Arn": "arn:aws:sns:r:1:t"}))
            .starts_with("entry: weir delivers to"));
        assert_eq!(
            refused(json!({"Id": "t", "Arn": q, "SqsParameters": {"MessageGroupId": "g"}})),
            "entry: weir does not support SqsParameters on targets"
        );
        assert!(refused(
            json!({"Id": "t", "Arn": "arn:aws:events:r:1:event-bus/b", "InputPath": "$"})
        )
        .contains("event bus target"));
        assert!(refused(
            json!({"Id": "t", "Arn": q, "KinesisParameters": {"PartitionKeyPath": "$"}})
        )
        .contains("only for Kinesis"));
        assert!(refused(json!({"Id": "t", "Arn": q, "DeadLetterConfig": {"Arn": "arn:aws:lambda:r:1:function:f"}})).contains("must be an SQS queue"));
        assert_eq!(
            refused(json!({"Id": "t", "Arn": q, "Input": "{x"})),
            "entry: Input is not valid JSON"
        );
        assert!(refused(json!({"Id": "t", "Arn": q, "InputPath": "detail"}))
            .contains("must start with $"));
        let ok = plan(&json!({"Id": "t", "Arn": "arn:aws:kinesis:r:1:stream/s", "RoleArn": "arn:aws:iam::1:role/x",
            "KinesisParameters": {"PartitionKeyPath": "$.detail.user"},
            "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
            "DeadLetterConfig": {"Arn": q}}), 1).unwrap();
        assert_eq!(
            ok.retry,
            RetryPolicy {
                max_attempts: 0,
                max_age: Duration::from_secs(60)
            }
        );
        assert_eq!(ok.dead_letter, Some((q.to_string(), "q".to_string())));
        assert!(ok.partition_key.is_some());
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_within_the_policy() {
        let policy = RetryPolicy {
            max_attempts: 3,
            max_age: Duration::from_secs(60),
        };
        let zero = Duration::ZERO;
        assert_eq!(
            policy.next(0, zero, 0.0),
            Next::After(Duration::from_millis(500))
        );
        assert_eq!(
            policy.next(0, zero, 1.0),
            Next::After(Duration::from_secs(1))
        );
        assert_eq!(
            policy.next(2, zero, 0.0),
            Next::After(Duration::from_secs(2))
        );
        assert_eq!(
            policy.next(3, zero, 0.0),
            Next::Exhausted("MaximumRetryAttempts")
        );
        assert_eq!(
            policy.next(1, Duration::from_secs(59), 0.5),
            Next::Exhausted("MaximumEventAgeInSeconds")
        );
        // The bound stops doubling at five minutes.
        let long = RetryPolicy::default();
        assert_eq!(
            long.next(100, zero, 1.0),
            Next::After(Duration::from_secs(300))
        );
    }
}
