//! EventBridge's JSON 1.1 operations: `TestEventPattern`, and rules, targets and `PutEvents`
//! on the buses `weir serve` keeps in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::{json, Map, Value};
use weir::{Matcher, Pattern, PatternError};

use crate::aws::{self, json11_ok, missing_member, ApiError, ACCOUNT};
use crate::functions::{InvocationType, Invoker};

/// The most entries one `PutEvents` request may hold (EventBridge's quota).
const MAX_PUT_ENTRIES: usize = 10;

/// One rule: its pattern, state and targets.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Rule {
    pattern: String,
    enabled: bool,
    description: Option<String>,
    /// Target id -> target, in id order.
    targets: BTreeMap<String, Target>,
}

/// A rule's target: a function, with an optional constant input replacing the event.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Target {
    arn: String,
    function: String,
    input: Option<String>,
}

/// One event bus: its rules and the matcher compiled from the enabled ones.
#[derive(Default)]
struct Bus {
    rules: BTreeMap<String, Rule>,
    matcher: Arc<Matcher>,
}

impl Bus {
    fn recompile(&mut self) {
        let mut matcher = Matcher::new();
        for (name, rule) in &self.rules {
            if rule.enabled && !rule.targets.is_empty() {
                // Every stored pattern was parsed when it was put.
                if let Ok(pattern) = Pattern::parse(&rule.pattern) {
                    matcher.add_pattern(name.clone(), pattern);
                }
            }
        }
        self.matcher = Arc::new(matcher);
    }
}

/// The EventBridge side of `weir serve`: buses with rules and targets, delivering to the
/// functions of an [`Invoker`].
pub(crate) struct EventBridge {
    region: String,
    buses: RwLock<BTreeMap<String, Bus>>,
    invoker: Arc<dyn Invoker>,
    /// The invocation layer's buses (those of a weir.toml), which every put event also
    /// reaches.
    layer: Option<weir_route::Router>,
    /// Where rules are kept when they live on Redis (shared by every weir serve on it).
    store: Option<RuleStore>,
}

/// Rules on Redis: a hash per bus (`PREFIX:rules:BUS`, rule name -> rule) and a version
/// counter (`PREFIX:rules:version`) bumped on every change, so each process reloads the
/// rules when another changed them.
pub(crate) struct RuleStore {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    /// The version the rules in memory were loaded at.
    seen: std::sync::Mutex<Option<i64>>,
}

impl RuleStore {
    pub(crate) async fn connect(url: &str, prefix: &str) -> Result<RuleStore, redis::RedisError> {
        Ok(RuleStore {
            conn: crate::redis_queue::connect(url).await?,
            prefix: prefix.to_string(),
            seen: std::sync::Mutex::new(None),
        })
    }
}

fn store_error(e: redis::RedisError) -> ApiError {
    ApiError::json11(
        "InternalException",
        format!("the rules on Redis are unavailable: {e}"),
    )
    .with_status(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
}

impl EventBridge {
    /// The `default` bus, empty.
    pub(crate) fn new(
        region: &str,
        invoker: Arc<dyn Invoker>,
        layer: Option<weir_route::Router>,
    ) -> EventBridge {
        let mut buses = BTreeMap::new();
        buses.insert("default".to_string(), Bus::default());
        EventBridge {
            region: region.to_string(),
            buses: RwLock::new(buses),
            invoker,
            layer,
            store: None,
        }
    }

    /// Keeps the rules on Redis.
    pub(crate) fn with_store(mut self, store: RuleStore) -> EventBridge {
        self.store = Some(store);
        self
    }

    /// Reloads the rules from Redis when another process changed them.
    async fn refresh(&self) -> Result<(), ApiError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let mut conn = store.conn.clone();
        let version: Option<i64> = redis::cmd("GET")
            .arg(format!("{}:rules:version", store.prefix))
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        if *store.seen.lock().unwrap_or_else(|p| p.into_inner()) == version && version.is_some() {
            return Ok(());
        }
        let names: Vec<String> = {
            let buses = self.buses.read().unwrap_or_else(|p| p.into_inner());
            buses.keys().cloned().collect()
        };
        for bus in names {
            let stored: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
                .arg(format!("{}:rules:{bus}", store.prefix))
                .query_async(&mut conn)
                .await
                .map_err(store_error)?;
            let rules: BTreeMap<String, Rule> = stored
                .into_iter()
                .filter_map(|(name, text)| serde_json::from_str(&text).ok().map(|r| (name, r)))
                .collect();
            let mut buses = self.buses.write().unwrap_or_else(|p| p.into_inner());
            if let Some(b) = buses.get_mut(&bus) {
                b.rules = rules;
                b.recompile();
            }
        }
        *store.seen.lock().unwrap_or_else(|p| p.into_inner()) = version;
        Ok(())
    }

    /// Writes rule `name` of `bus` as it now is in memory (or its absence) to Redis.
    async fn persist(&self, bus: &str, name: &str) -> Result<(), ApiError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let rule = {
            let buses = self.buses.read().unwrap_or_else(|p| p.into_inner());
            buses.get(bus).and_then(|b| b.rules.get(name).cloned())
        };
        let key = format!("{}:rules:{bus}", store.prefix);
        let mut pipe = redis::pipe();
        pipe.atomic();
        match rule {
            Some(rule) => pipe
                .cmd("HSET")
                .arg(&key)
                .arg(name)
                .arg(serde_json::to_string(&rule).unwrap_or_default())
                .ignore(),
            None => pipe.cmd("HDEL").arg(&key).arg(name).ignore(),
        };
        pipe.cmd("INCR")
            .arg(format!("{}:rules:version", store.prefix));
        let (version,): (i64,) = pipe
            .query_async(&mut store.conn.clone())
            .await
            .map_err(store_error)?;
        let mut seen = store.seen.lock().unwrap_or_else(|p| p.into_inner());
        // Only our change since the last load: memory is current. Otherwise the next
        // request reloads.
        if *seen == Some(version - 1) {
            *seen = Some(version);
        }
        Ok(())
    }

    /// Answers one JSON 1.1 operation.
    pub(crate) async fn call(
        &self,
        operation: &str,
        request: Map<String, Value>,
    ) -> Result<axum::response::Response, ApiError> {
        self.refresh().await?;
        let changed = match operation {
            "PutRule" | "DeleteRule" => request.get("Name"),
            "PutTargets" | "RemoveTargets" => request.get("Rule"),
            _ => None,
        }
        .and_then(Value::as_str)
        .map(str::to_string);
        let body = match operation {
            "TestEventPattern" => test_event_pattern(&request)?,
            "PutRule" => self.put_rule(&request)?,
            "DeleteRule" => self.delete_rule(&request)?,
            "ListRules" => self.list_rules(&request)?,
            "DescribeRule" => self.describe_rule(&request)?,
            "PutTargets" => self.put_targets(&request)?,
            "RemoveTargets" => self.remove_targets(&request)?,
            "ListTargetsByRule" => self.list_targets(&request)?,
            "PutEvents" => self.put_events(&request).await?,
            other => {
                return Err(ApiError::json11(
                    "UnknownOperationException",
                    format!("weir does not serve the operation {other}"),
                ))
            }
        };
        if let Some(name) = changed {
            self.persist(&Self::bus_name(&request)?, &name).await?;
        }
        Ok(json11_ok(body))
    }

    fn bus_name(request: &Map<String, Value>) -> Result<String, ApiError> {
        match request.get("EventBusName") {
            None | Some(Value::Null) => Ok("default".into()),
            Some(Value::String(name)) => Ok(bus_from_arn(name).to_string()),
            Some(_) => Err(not_string("EventBusName")),
        }
    }

    fn rule_arn(&self, bus: &str, rule: &str) -> String {
        if bus == "default" {
            format!("arn:aws:events:{}:{ACCOUNT}:rule/{rule}", self.region)
        } else {
            format!("arn:aws:events:{}:{ACCOUNT}:rule/{bus}/{rule}", self.region)
        }
    }

    fn with_bus<T>(
        &self,
        bus: &str,
        f: impl FnOnce(&mut Bus) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut buses = self.buses.write().unwrap_or_else(|p| p.into_inner());
        let Some(found) = buses.get_mut(bus) else {
            return Err(ApiError::json11(
                "ResourceNotFoundException",
                format!("Event bus {bus} does not exist."),
            ));
        };
        f(found)
    }

    fn put_rule(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let name = rule_name(request, "Name")?;
        let bus = Self::bus_name(request)?;
        if request
            .get("ScheduleExpression")
            .is_some_and(|v| !v.is_null())
        {
            return Err(ApiError::json11(
                "ValidationException",
                "weir does not run scheduled rules: ScheduleExpression is not supported",
            ));
        }
        let pattern = match request.get("EventPattern") {
            Some(Value::String(text)) => text.clone(),
            None | Some(Value::Null) => {
                return Err(ApiError::json11(
                    "ValidationException",
                    "Parameter(s) EventPattern or ScheduleExpression must be specified.",
                ))
            }
            Some(_) => return Err(not_string("EventPattern")),
        };
        Pattern::parse(&pattern).map_err(pattern_error)?;
        let enabled = match request.get("State") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) if s == "ENABLED" => true,
            Some(Value::String(s)) if s == "DISABLED" => false,
            Some(other) => {
                return Err(ApiError::json11(
                    "ValidationException",
                    format!(
                        "1 validation error detected: Value '{}' at 'state' failed to satisfy \
                         constraint: Member must satisfy enum value set: [ENABLED, DISABLED]",
                        other.as_str().unwrap_or_default()
                    ),
                ))
            }
        };
        let description = request
            .get("Description")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.with_bus(&bus, |b| {
            let targets = b.rules.remove(&name).map(|r| r.targets).unwrap_or_default();
            b.rules.insert(
                name.clone(),
                Rule {
                    pattern,
                    enabled,
                    description,
                    targets,
                },
            );
            b.recompile();
            Ok(())
        })?;
        Ok(json!({"RuleArn": self.rule_arn(&bus, &name)}))
    }

    fn delete_rule(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let name = rule_name(request, "Name")?;
        let bus = Self::bus_name(request)?;
        let force = request
            .get("Force")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.with_bus(&bus, |b| {
            if let Some(rule) = b.rules.get(&name) {
                if !rule.targets.is_empty() && !force {
                    return Err(ApiError::json11(
                        "ValidationException",
                        "Rule can't be deleted since it has targets.",
                    ));
                }
                b.rules.remove(&name);
                b.recompile();
            }
            // Deleting a rule that does not exist succeeds, as in EventBridge.
            Ok(())
        })?;
        Ok(aws::empty())
    }

    fn rule_json(&self, bus: &str, name: &str, rule: &Rule) -> Value {
        let mut out = json!({
            "Name": name,
            "Arn": self.rule_arn(bus, name),
            "EventPattern": rule.pattern,
            "State": if rule.enabled { "ENABLED" } else { "DISABLED" },
            "EventBusName": bus,
        });
        if let Some(d) = &rule.description {
            out["Description"] = Value::String(d.clone());
        }
        out
    }

    fn list_rules(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let bus = Self::bus_name(request)?;
        let prefix = request
            .get("NamePrefix")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (start, limit) = paging(request)?;
        self.with_bus(&bus, |b| {
            let names: Vec<(&String, &Rule)> = b
                .rules
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .collect();
            let page: Vec<Value> = names
                .iter()
                .skip(start)
                .take(limit)
                .map(|(n, r)| self.rule_json(&bus, n, r))
                .collect();
            let mut out = json!({"Rules": page});
            if start + limit < names.len() {
                out["NextToken"] = Value::String((start + limit).to_string());
            }
            Ok(out)
        })
    }

    fn describe_rule(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let name = rule_name(request, "Name")?;
        let bus = Self::bus_name(request)?;
        self.with_bus(&bus, |b| match b.rules.get(&name) {
            Some(rule) => Ok(self.rule_json(&bus, &name, rule)),
            None => Err(no_rule(&name, &bus)),
        })
    }

    fn put_targets(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let name = rule_name(request, "Rule")?;
        let bus = Self::bus_name(request)?;
        let targets = match request.get("Targets") {
            Some(Value::Array(targets)) => targets.clone(),
            None | Some(Value::Null) => {
                return Err(ApiError::json11(
                    "ValidationException",
                    missing_member("targets"),
                ))
            }
            Some(_) => return Err(not_string("Targets")),
        };
        let mut failed = Vec::new();
        let mut accepted = Vec::new();
        for target in &targets {
            let id = target.get("Id").and_then(Value::as_str).unwrap_or_default();
            let arn = target
                .get("Arn")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if id.is_empty() || arn.is_empty() {
                return Err(ApiError::json11(
                    "ValidationException",
                    missing_member(if id.is_empty() { "id" } else { "arn" }),
                ));
            }
            let fail = |code: &str, message: String| json!({"TargetId": id, "ErrorCode": code, "ErrorMessage": message});
            let unsupported = ["InputPath", "InputTransformer"]
                .into_iter()
                .find(|k| target.get(*k).is_some_and(|v| !v.is_null()));
            if let Some(key) = unsupported {
                failed.push(fail(
                    "ValidationException",
                    format!("weir does not support {key} on targets"),
                ));
                continue;
            }
            let Some(function) = function_of_arn(arn) else {
                failed.push(fail(
                    "ValidationException",
                    format!("weir delivers only to Lambda function targets: {arn}"),
                ));
                continue;
            };
            let input = target.get("Input").and_then(Value::as_str);
            if let Some(input) = input {
                if serde_json::from_str::<Value>(input).is_err() {
                    failed.push(fail(
                        "ValidationException",
                        "Input is not valid JSON".to_string(),
                    ));
                    continue;
                }
            }
            accepted.push((
                id.to_string(),
                Target {
                    arn: arn.to_string(),
                    function: function.to_string(),
                    input: input.map(str::to_string),
                },
            ));
        }
        self.with_bus(&bus, |b| {
            let Some(rule) = b.rules.get_mut(&name) else {
                return Err(no_rule(&name, &bus));
            };
            rule.targets.extend(accepted);
            b.recompile();
            Ok(())
        })?;
        Ok(json!({"FailedEntryCount": failed.len(), "FailedEntries": failed}))
    }

    fn remove_targets(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let name = rule_name(request, "Rule")?;
        let bus = Self::bus_name(request)?;
        let ids: Vec<String> = match request.get("Ids") {
            Some(Value::Array(ids)) => ids
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => {
                return Err(ApiError::json11(
                    "ValidationException",
                    missing_member("ids"),
                ))
            }
        };
        self.with_bus(&bus, |b| {
            let Some(rule) = b.rules.get_mut(&name) else {
                return Err(no_rule(&name, &bus));
            };
            for id in &ids {
                rule.targets.remove(id);
            }
            b.recompile();
            Ok(())
        })?;
        Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
    }

    fn list_targets(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let name = rule_name(request, "Rule")?;
        let bus = Self::bus_name(request)?;
        self.with_bus(&bus, |b| {
            let Some(rule) = b.rules.get(&name) else {
                return Err(no_rule(&name, &bus));
            };
            let targets: Vec<Value> = rule
                .targets
                .iter()
                .map(|(id, t)| {
                    let mut v = json!({"Id": id, "Arn": t.arn});
                    if let Some(input) = &t.input {
                        v["Input"] = Value::String(input.clone());
                    }
                    v
                })
                .collect();
            Ok(json!({"Targets": targets}))
        })
    }

    async fn put_events(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let entries = match request.get("Entries") {
            Some(Value::Array(entries)) => entries,
            None | Some(Value::Null) => {
                return Err(ApiError::json11(
                    "ValidationException",
                    missing_member("entries"),
                ))
            }
            Some(_) => return Err(not_string("Entries")),
        };
        if entries.is_empty() || entries.len() > MAX_PUT_ENTRIES {
            return Err(ApiError::json11(
                "ValidationException",
                format!(
                    "1 validation error detected: Value at 'entries' failed to satisfy \
                     constraint: Member must have length {} {MAX_PUT_ENTRIES}",
                    if entries.is_empty() {
                        "greater than or equal to 1, and less than or equal to"
                    } else {
                        "less than or equal to"
                    }
                ),
            ));
        }
        let mut results = Vec::with_capacity(entries.len());
        let mut failed = 0;
        for entry in entries {
            match self.put_event(entry).await {
                Ok(id) => results.push(json!({"EventId": id})),
                Err((code, message)) => {
                    failed += 1;
                    results.push(json!({"ErrorCode": code, "ErrorMessage": message}));
                }
            }
        }
        Ok(json!({"FailedEntryCount": failed, "Entries": results}))
    }

    /// Puts one entry on its bus: the event's id, or the entry's error code and message.
    async fn put_event(&self, entry: &Value) -> Result<String, (&'static str, String)> {
        let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or_default();
        for (key, field) in [
            ("Source", "Source"),
            ("DetailType", "DetailType"),
            ("Detail", "Detail"),
        ] {
            if text(key).is_empty() {
                return Err((
                    "InvalidArgument",
                    format!(
                        "Parameter {field} is not valid. Reason: {field} is a required argument."
                    ),
                ));
            }
        }
        let detail = match serde_json::from_str::<Value>(text("Detail")) {
            Ok(Value::Object(detail)) => detail,
            _ => return Err(("MalformedDetail", "Detail is malformed.".to_string())),
        };
        let bus = match entry.get("EventBusName").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => bus_from_arn(name).to_string(),
            _ => "default".to_string(),
        };
        let time = match entry.get("Time") {
            Some(Value::Number(n)) => n.as_f64().map(|s| s as i64),
            Some(Value::String(s)) => s.parse::<f64>().ok().map(|s| s as i64),
            _ => None,
        }
        .unwrap_or_else(aws::now_seconds);
        let resources: Vec<Value> = match entry.get("Resources") {
            Some(Value::Array(r)) => r.clone(),
            _ => Vec::new(),
        };
        let id = aws::new_id();
        let event = json!({
            "version": "0",
            "id": id,
            "detail-type": text("DetailType"),
            "source": text("Source"),
            "account": ACCOUNT,
            "time": aws::iso8601(time),
            "region": self.region,
            "resources": resources,
            "detail": detail,
        });
        let bytes = event.to_string().into_bytes();
        // The invocation layer's bus of that name gets the event too (its rules from weir.toml).
        let layer_has_bus = match &self.layer {
            Some(layer) => layer.put_event(&bus, &bytes).is_ok(),
            None => false,
        };
        let deliveries = {
            let buses = self.buses.read().unwrap_or_else(|p| p.into_inner());
            let Some(found) = buses.get(&bus) else {
                if layer_has_bus {
                    return Ok(id);
                }
                return Err((
                    "InvalidArgument",
                    format!("Event bus {bus} does not exist."),
                ));
            };
            let matched = found.matcher.matching_rules(&bytes).map_err(|e| {
                (
                    "MalformedDetail",
                    format!("Detail is malformed. ({})", e.reason()),
                )
            })?;
            let mut deliveries = Vec::new();
            for rule in matched {
                if let Some(rule) = found.rules.get(rule) {
                    for target in rule.targets.values() {
                        let payload = match &target.input {
                            Some(input) => input.clone().into_bytes(),
                            None => bytes.clone(),
                        };
                        deliveries.push((target.function.clone(), payload));
                    }
                }
            }
            deliveries
        };
        // Targets are invoked asynchronously, as EventBridge invokes Lambda targets; a target
        // whose function is missing fails its delivery, not the put (as in EventBridge). A
        // delivery that could not be accepted (the asynchronous queue's Redis down, say)
        // fails the entry, so the client knows to send it again; the other targets are still
        // tried.
        let mut lost = Vec::new();
        for (function, payload) in deliveries {
            match self
                .invoker
                .invoke(&function, InvocationType::Event, payload)
                .await
            {
                Err(e) if e.status >= 500 => lost.push(format!("{function}: {}", e.message)),
                _ => {}
            }
        }
        if !lost.is_empty() {
            return Err((
                "InternalFailure",
                format!(
                    "The event could not be delivered to every target: {}",
                    lost.join("; ")
                ),
            ));
        }
        Ok(id)
    }
}

/// `TestEventPattern`: `{"Result": bool}`, AWS's `InvalidEventPatternException` for a bad
/// pattern, its `ValidationException` (`Parameter Event is not valid.`) for an event without
/// the envelope.
fn test_event_pattern(request: &Map<String, Value>) -> Result<Value, ApiError> {
    let member = |key: &str, wire: &str| match request.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(ApiError::json11(
            "ValidationException",
            missing_member(wire),
        )),
        Some(_) => Err(not_string(key)),
    };
    let pattern = member("EventPattern", "eventPattern")?;
    let event = member("Event", "event")?;
    let pattern = Pattern::parse(&pattern).map_err(pattern_error)?;
    if let Err(e) = weir::check_envelope(event.as_bytes()) {
        return Err(
            ApiError::json11("ValidationException", "Parameter Event is not valid.")
                .with_field("weirReason", Value::String(e.reason().to_string()))
                .with_field("weirPosition", position(e.position())),
        );
    }
    let mut matcher = Matcher::new();
    matcher.add_pattern("pattern", pattern);
    match matcher.is_match(event.as_bytes()) {
        Ok(result) => Ok(json!({"Result": result})),
        Err(e) => Err(
            ApiError::json11("ValidationException", "Parameter Event is not valid.")
                .with_field("weirReason", Value::String(e.reason().to_string()))
                .with_field("weirPosition", position(e.position())),
        ),
    }
}

fn position(at: weir::Position) -> Value {
    json!({"offset": at.offset, "line": at.line, "column": at.column})
}

/// A pattern error in AWS's shape, with weir's place of it in `weirPosition`.
fn pattern_error(e: PatternError) -> ApiError {
    let mut error = ApiError::json11("InvalidEventPatternException", e.aws_message());
    if let Some(span) = e.span() {
        let mut place = position(span.start);
        place["path"] = Value::String(e.path().to_string());
        error = error.with_field("weirPosition", place);
    }
    error
}

fn not_string(key: &str) -> ApiError {
    ApiError::json11(
        "SerializationException",
        format!("{key} has the wrong type"),
    )
}

fn no_rule(name: &str, bus: &str) -> ApiError {
    ApiError::json11(
        "ResourceNotFoundException",
        format!("Rule {name} does not exist on EventBus {bus}."),
    )
}

/// A rule name member: required, 1-64 characters of `[.\-_A-Za-z0-9]`.
fn rule_name(request: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    let wire = key.to_ascii_lowercase();
    let name = match request.get(key) {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            return Err(ApiError::json11(
                "ValidationException",
                missing_member(&wire),
            ))
        }
        Some(_) => return Err(not_string(key)),
    };
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid {
        return Err(ApiError::json11(
            "ValidationException",
            format!(
                "1 validation error detected: Value '{name}' at '{wire}' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
            ),
        ));
    }
    Ok(name)
}

/// `Limit` (1-100, default 100) and `NextToken` (an index weir gave) of a list request.
fn paging(request: &Map<String, Value>) -> Result<(usize, usize), ApiError> {
    let limit = match request.get("Limit").and_then(Value::as_u64) {
        None => 100,
        Some(n @ 1..=100) => n as usize,
        Some(n) => {
            return Err(ApiError::json11(
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{n}' at 'limit' failed to satisfy \
                     constraint: Member must have value less than or equal to 100"
                ),
            ))
        }
    };
    let start = match request.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(token) => token
            .parse()
            .map_err(|_| ApiError::json11("ValidationException", "The NextToken is not valid."))?,
    };
    Ok((start, limit))
}

/// The bus name of a bus name or ARN (`arn:aws:events:r:a:event-bus/NAME`).
fn bus_from_arn(name: &str) -> &str {
    match name.strip_prefix("arn:") {
        Some(_) => name.rsplit('/').next().unwrap_or(name),
        None => name,
    }
}

/// The function name of a Lambda function ARN (`arn:aws:lambda:r:a:function:NAME[:q]`).
fn function_of_arn(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name] => Some(name),
        ["arn", _, "lambda", _, _, "function", name, _qualifier] => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        assert_eq!(
            function_of_arn("arn:aws:lambda:us-east-1:1:function:f"),
            Some("f")
        );
        assert_eq!(
            function_of_arn("arn:aws:lambda:us-east-1:1:function:f:$LATEST"),
            Some("f")
        );
        assert_eq!(function_of_arn("arn:aws:sqs:us-east-1:1:q"), None);
        assert_eq!(bus_from_arn("arn:aws:events:r:1:event-bus/b"), "b");
        assert_eq!(bus_from_arn("default"), "default");
    }
}
