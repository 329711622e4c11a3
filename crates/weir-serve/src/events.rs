//! EventBridge's JSON 1.1 operations: `TestEventPattern`; event buses; rules and their
//! targets (Lambda functions, SQS queues, Kinesis streams, other buses) with input shaping,
//! retries and dead-letter queues; and `PutEvents`, on buses kept in memory or on Redis.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde_json::{json, Map, Value};
use weir::{Matcher, Pattern, PatternError};

use crate::aws::{self, json11_ok, missing_member, ApiError, ACCOUNT};
use crate::functions::{InvocationType, InvokeError, Invoker};
use crate::targets::{self, Context, Dest, Next, Plan, Refusal};

/// The most entries one `PutEvents` request may hold (EventBridge's quota).
const MAX_PUT_ENTRIES: usize = 10;
/// The most targets a rule may have, and one `PutTargets` request may hold (EventBridge's
/// quotas).
const MAX_RULE_TARGETS: usize = 5;
const MAX_PUT_TARGETS: usize = 10;
/// The first wait before a failed dead-letter send is retried, doubled per attempt up to
/// [`MAX_DEAD_LETTER_BACKOFF`].
const DEAD_LETTER_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);
const MAX_DEAD_LETTER_BACKOFF: std::time::Duration = std::time::Duration::from_secs(30);

/// One rule: its pattern, state and targets.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Rule {
    pattern: String,
    enabled: bool,
    description: Option<String>,
    /// Target id -> the target as `PutTargets` gave it (null members left out), in id order.
    targets: BTreeMap<String, Value>,
}

/// What `DescribeEventBus` tells of a bus besides its rules.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct BusInfo {
    #[serde(default)]
    description: Option<String>,
    /// Seconds since the epoch.
    created: i64,
}

/// One event bus: its rules, the matcher compiled from the enabled ones, and their targets as
/// weir delivers to them.
struct Bus {
    info: BusInfo,
    rules: BTreeMap<String, Rule>,
    /// Rules stored on Redis that could not be loaded (rule name -> why): never dropped
    /// silently, every operation touching one fails with the reason.
    broken: BTreeMap<String, String>,
    matcher: Arc<Matcher>,
    plans: HashMap<String, Vec<Arc<Plan>>>,
}

impl Bus {
    fn new(info: BusInfo) -> Bus {
        Bus {
            info,
            rules: BTreeMap::new(),
            broken: BTreeMap::new(),
            matcher: Arc::default(),
            plans: HashMap::new(),
        }
    }

    fn recompile(&mut self) {
        let mut matcher = Matcher::new();
        self.plans.clear();
        for (name, rule) in &self.rules {
            if rule.enabled && !rule.targets.is_empty() {
                // Every stored pattern and target was read when it was put.
                if let Ok(pattern) = Pattern::parse(&rule.pattern) {
                    matcher.add_pattern(name.clone(), pattern);
                }
                let plans = rule
                    .targets
                    .values()
                    .enumerate()
                    .filter_map(|(i, t)| targets::plan_stored(t, i + 1).ok().map(Arc::new))
                    .collect();
                self.plans.insert(name.clone(), plans);
            }
        }
        self.matcher = Arc::new(matcher);
    }

    /// Fails when rule `name` is one that could not be loaded from Redis.
    fn loadable(&self, bus: &str, name: &str) -> Result<(), ApiError> {
        match self.broken.get(name) {
            Some(reason) => Err(unloadable(bus, name, reason)),
            None => Ok(()),
        }
    }
}

fn unloadable(bus: &str, name: &str, reason: &str) -> ApiError {
    ApiError::json11(
        "InternalException",
        format!("Rule {name} on EventBus {bus} could not be loaded from Redis: {reason}"),
    )
    .with_status(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
}

/// Reads a rule as stored on Redis: the current format, or the earlier one whose targets
/// were `{"arn", "function", "input"}` keyed by target id (migrated to `PutTargets`'s
/// `{"Id", "Arn", "Input"}`). Every pattern and target must be one weir can deliver to.
fn load_rule(text: &str) -> Result<Rule, String> {
    let mut rule: Rule =
        serde_json::from_str(text).map_err(|e| format!("its JSON is not a rule: {e}"))?;
    for (id, target) in rule.targets.iter_mut() {
        let earlier = target.get("Id").is_none() && target.get("arn").is_some();
        if earlier {
            let mut migrated = Map::new();
            migrated.insert("Id".into(), Value::String(id.clone()));
            migrated.insert("Arn".into(), target["arn"].clone());
            if let Some(input) = target.get("input").filter(|v| !v.is_null()) {
                let input = match input {
                    Value::String(s) => Value::String(s.clone()),
                    other => Value::String(other.to_string()),
                };
                migrated.insert("Input".into(), input);
            }
            *target = Value::Object(migrated);
        }
    }
    Pattern::parse(&rule.pattern).map_err(|e| format!("its pattern is not valid: {e}"))?;
    for (i, (id, target)) in rule.targets.iter().enumerate() {
        if target.get("Id").and_then(Value::as_str) != Some(id.as_str()) {
            return Err(format!("its target {id} has no Id {id}"));
        }
        match targets::plan_stored(target, i + 1) {
            Ok(_) => {}
            Err(Refusal::Entry(message)) => return Err(format!("its target {id}: {message}")),
            Err(Refusal::Request(e)) => return Err(format!("its target {id}: {}", e.message)),
        }
    }
    Ok(rule)
}

/// The EventBridge side of `weir serve`: buses with rules and targets. Cheap to clone (clones
/// share everything), so retries can run on their own.
#[derive(Clone)]
pub(crate) struct EventBridge(Arc<Inner>);

struct Inner {
    region: String,
    buses: RwLock<BTreeMap<String, Bus>>,
    invoker: Arc<dyn Invoker>,
    /// The invocation layer's buses, queues and streams (those of a weir.toml): every put
    /// event also reaches its bus of the same name, and targets reach its queues and streams.
    layer: Option<weir_route::Router>,
    /// Where buses and rules are kept when they live on Redis (shared by every weir serve on
    /// it); queue and stream targets not in `layer` are Redis queues and streams there.
    store: Option<RuleStore>,
    /// When this service started (the creation time of `default` and the layer's buses).
    started: i64,
    /// Redis streams opened for Kinesis targets, by name.
    streams: tokio::sync::Mutex<HashMap<String, crate::RedisStream>>,
    /// Held while the buses and rules in memory are reloaded or changed, so a change made in
    /// memory is written to Redis before anything reloads over it. Reads and `PutEvents`
    /// take it only to reload (when Redis's version is not the one memory holds).
    changes: tokio::sync::Mutex<()>,
}

/// Buses and rules on Redis: a hash of the created buses (`PREFIX:buses`, name -> its
/// description and creation time), a hash per bus (`PREFIX:rules:BUS`, rule name -> rule)
/// and a version counter (`PREFIX:rules:version`) bumped on every change, so each process
/// reloads when another changed them.
pub(crate) struct RuleStore {
    conn: redis::aio::ConnectionManager,
    url: String,
    prefix: String,
    /// The version the buses and rules in memory were loaded at.
    seen: std::sync::Mutex<Option<i64>>,
}

/// Writes a rule (`ARGV[3]`, or deletes it when empty) as field `ARGV[2]` of hash `KEYS[2]`
/// and bumps the version `KEYS[1]`, only while the version is still `ARGV[1]` (empty: none
/// yet); answers the new version, or -1 when another process changed the rules since.
const PUT_RULE_IF_CURRENT: &str = r"
local version = redis.call('GET', KEYS[1]) or ''
if version ~= ARGV[1] then
  return -1
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[2], ARGV[2])
else
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
end
return redis.call('INCR', KEYS[1])
";

/// How many times a rule change is applied again after another process changed the rules
/// first, before it fails with `ConcurrentModificationException`.
const MAX_CHANGE_ATTEMPTS: usize = 50;

impl RuleStore {
    pub(crate) async fn connect(url: &str, prefix: &str) -> Result<RuleStore, redis::RedisError> {
        Ok(RuleStore {
            conn: crate::redis_queue::connect(url).await?,
            url: url.to_string(),
            prefix: prefix.to_string(),
            seen: std::sync::Mutex::new(None),
        })
    }

    fn version_key(&self) -> String {
        format!("{}:rules:version", self.prefix)
    }

    fn buses_key(&self) -> String {
        format!("{}:buses", self.prefix)
    }

    fn rules_key(&self, bus: &str) -> String {
        format!("{}:rules:{bus}", self.prefix)
    }

    /// Records that our own change made `version`: memory is current if it was current
    /// before (otherwise the next request reloads).
    fn advanced_to(&self, version: i64) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == Some(version - 1) {
            *seen = Some(version);
        }
    }
}

fn store_error(e: redis::RedisError) -> ApiError {
    ApiError::json11(
        "InternalException",
        format!("the rules on Redis are unavailable: {e}"),
    )
    .with_status(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
}

/// How a failed delivery is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The target could take it later (throttled, not ready): retried per the policy.
    Retry,
    /// It never will (missing, refused payload): straight to the dead-letter queue.
    Final,
    /// weir could not take charge of it (its own Redis unavailable): the entry fails.
    NotAccepted,
}

/// A failed delivery: the code and message a dead-letter message carries.
#[derive(Debug, Clone)]
struct Failure {
    kind: Kind,
    code: String,
    message: String,
}

impl Failure {
    fn new(kind: Kind, code: &str, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            code: code.to_string(),
            message: message.into(),
        }
    }

    fn of_invoke(e: InvokeError) -> Failure {
        let kind = match e.code.as_str() {
            "TooManyRequestsException"
            | "ResourceConflictException"
            | "ResourceNotReadyException" => Kind::Retry,
            _ if e.status >= 500 => Kind::NotAccepted,
            _ => Kind::Final,
        };
        Failure {
            kind,
            code: e.code,
            message: e.message,
        }
    }

    fn redis(e: redis::RedisError) -> Failure {
        Failure::new(
            Kind::NotAccepted,
            "InternalFailure",
            format!("Redis is unavailable: {e}"),
        )
    }
}

/// One matched event on its way to one target.
#[derive(Clone)]
struct Delivery {
    plan: Arc<Plan>,
    rule: String,
    rule_arn: String,
    event: Arc<Value>,
    text: Arc<String>,
    ingestion_time: Arc<String>,
    received: Instant,
}

/// Why an event was not routed on a bus.
enum RouteError {
    NoBus,
    Malformed(String),
    /// Deliveries weir could not take charge of.
    Lost(Vec<String>),
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A number in 0..1 from a fresh UUID's random bits.
fn jitter() -> f64 {
    (uuid::Uuid::new_v4().as_u128() as u64 >> 11) as f64 / (1u64 << 53) as f64
}

impl EventBridge {
    /// The `default` bus and `layer`'s buses, empty; buses and rules on Redis with `store`.
    pub(crate) fn new(
        region: &str,
        invoker: Arc<dyn Invoker>,
        layer: Option<weir_route::Router>,
        store: Option<RuleStore>,
    ) -> EventBridge {
        let started = aws::now_seconds();
        let mut buses = BTreeMap::new();
        let names = layer
            .as_ref()
            .map(weir_route::Router::event_bus_names)
            .unwrap_or_default();
        for name in std::iter::once("default".to_string()).chain(names) {
            buses.insert(
                name,
                Bus::new(BusInfo {
                    description: None,
                    created: started,
                }),
            );
        }
        EventBridge(Arc::new(Inner {
            region: region.to_string(),
            buses: RwLock::new(buses),
            invoker,
            layer,
            store,
            started,
            streams: tokio::sync::Mutex::default(),
            changes: tokio::sync::Mutex::default(),
        }))
    }

    fn layer_has_bus(&self, name: &str) -> bool {
        self.0
            .layer
            .as_ref()
            .is_some_and(|l| l.event_bus_names().iter().any(|n| n == name))
    }

    /// Whether memory holds the buses and rules at Redis's version (always, without Redis),
    /// read without taking `changes`. A change in progress holds `changes` with memory ahead
    /// of that version until it is written: a reader may see it a moment before Redis does.
    async fn current(&self) -> Result<bool, ApiError> {
        let Some(store) = &self.0.store else {
            return Ok(true);
        };
        let version: Option<i64> = redis::cmd("GET")
            .arg(store.version_key())
            .query_async(&mut store.conn.clone())
            .await
            .map_err(store_error)?;
        Ok(version.is_some() && *store.seen.lock().unwrap_or_else(|p| p.into_inner()) == version)
    }

    /// Reloads buses and rules from Redis when another process changed them (called with
    /// `changes` held).
    async fn refresh(&self) -> Result<(), ApiError> {
        let Some(store) = &self.0.store else {
            return Ok(());
        };
        let mut conn = store.conn.clone();
        let version: Option<i64> = redis::cmd("GET")
            .arg(store.version_key())
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        if *store.seen.lock().unwrap_or_else(|p| p.into_inner()) == version && version.is_some() {
            return Ok(());
        }
        let created: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(store.buses_key())
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        let mut infos: BTreeMap<String, BusInfo> = created
            .into_iter()
            .map(|(name, text)| {
                let info = serde_json::from_str(&text).unwrap_or_else(|e| {
                    eprintln!(
                        "weir serve: the description of event bus {name} on Redis could not \
                         be read ({e}); it is served without one"
                    );
                    BusInfo {
                        description: None,
                        created: self.0.started,
                    }
                });
                (name, info)
            })
            .collect();
        let names = self
            .0
            .layer
            .as_ref()
            .map(weir_route::Router::event_bus_names)
            .unwrap_or_default();
        for name in std::iter::once("default".to_string()).chain(names) {
            infos.entry(name).or_insert(BusInfo {
                description: None,
                created: self.0.started,
            });
        }
        let mut pipe = redis::pipe();
        for name in infos.keys() {
            pipe.cmd("HGETALL").arg(store.rules_key(name));
        }
        let stored: Vec<HashMap<String, String>> =
            pipe.query_async(&mut conn).await.map_err(store_error)?;
        let mut buses = BTreeMap::new();
        for ((name, info), rules) in infos.into_iter().zip(stored) {
            let mut bus = Bus::new(info);
            for (rule, text) in rules {
                match load_rule(&text) {
                    Ok(loaded) => {
                        bus.rules.insert(rule, loaded);
                    }
                    Err(reason) => {
                        eprintln!(
                            "weir serve: rule {rule} on event bus {name} could not be loaded \
                             from Redis ({reason}); operations on it fail until it is put \
                             again or deleted (DeleteRule with Force)"
                        );
                        bus.broken.insert(rule, reason);
                    }
                }
            }
            bus.recompile();
            buses.insert(name, bus);
        }
        *self.0.buses.write().unwrap_or_else(|p| p.into_inner()) = buses;
        *store.seen.lock().unwrap_or_else(|p| p.into_inner()) = version;
        Ok(())
    }

    /// Writes rule `name` of `bus` as it now is in memory (or its absence) to Redis, if the
    /// rules there are still at version `loaded` (those memory was loaded from); false when
    /// another process changed them since (nothing written). Called with `changes` held.
    async fn persist(&self, bus: &str, name: &str, loaded: Option<i64>) -> Result<bool, ApiError> {
        let Some(store) = &self.0.store else {
            return Ok(true);
        };
        let rule = {
            let buses = self.0.buses.read().unwrap_or_else(|p| p.into_inner());
            buses.get(bus).and_then(|b| b.rules.get(name).cloned())
        };
        let text = rule
            .map(|rule| serde_json::to_string(&rule).unwrap_or_default())
            .unwrap_or_default();
        let version: i64 = redis::Script::new(PUT_RULE_IF_CURRENT)
            .key(store.version_key())
            .key(store.rules_key(bus))
            .arg(loaded.map(|v| v.to_string()).unwrap_or_default())
            .arg(name)
            .arg(text)
            .invoke_async(&mut store.conn.clone())
            .await
            .map_err(store_error)?;
        if version < 0 {
            return Ok(false);
        }
        // Memory is the loaded version plus this change: the new version.
        *store.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(version);
        Ok(true)
    }

    /// A rule operation on Redis, atomic against other processes: under `changes`, memory
    /// is brought up to date, the operation applied to it, and the rule written only if no
    /// other process changed the rules meanwhile; otherwise memory is reloaded and the
    /// operation applied again (at most [`MAX_CHANGE_ATTEMPTS`] times).
    async fn change_rule(
        &self,
        operation: &str,
        request: &Map<String, Value>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let _changing = self.0.changes.lock().await;
        for _ in 0..MAX_CHANGE_ATTEMPTS {
            self.refresh().await?;
            let loaded = self
                .0
                .store
                .as_ref()
                .and_then(|store| *store.seen.lock().unwrap_or_else(|p| p.into_inner()));
            let body = self.dispatch(operation, request).await?;
            let persisted = self.persist(&Self::bus_name(request)?, name, loaded).await;
            if persisted.is_err() {
                // Memory holds a change Redis may not have: reload before the next request.
                if let Some(store) = &self.0.store {
                    *store.seen.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
            }
            if persisted? {
                return Ok(body);
            }
            // Another process changed the rules first: what memory holds is not what Redis
            // holds, so reload it before applying the operation again.
            if let Some(store) = &self.0.store {
                *store.seen.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
        }
        Err(ApiError::json11(
            "ConcurrentModificationException",
            format!(
                "Rule {name} could not be changed: other processes kept changing the rules on \
                 Redis ({MAX_CHANGE_ATTEMPTS} attempts)."
            ),
        ))
    }

    /// Answers one JSON 1.1 operation.
    pub(crate) async fn call(
        &self,
        operation: &str,
        request: Map<String, Value>,
    ) -> Result<axum::response::Response, ApiError> {
        let changed = match operation {
            "PutRule" | "DeleteRule" => request.get("Name"),
            "PutTargets" | "RemoveTargets" => request.get("Rule"),
            _ => None,
        }
        .and_then(Value::as_str)
        .map(str::to_string);
        let body = match changed {
            Some(name) => self.change_rule(operation, &request, &name).await?,
            None => {
                let bus_change = matches!(operation, "CreateEventBus" | "DeleteEventBus");
                // Reads and PutEvents take no lock while memory is current (one GET of the
                // version): only a reload does, so it never overwrites a change not yet on
                // Redis (a change holds the lock until it is written).
                let _changing = if bus_change || !self.current().await? {
                    let changing = self.0.changes.lock().await;
                    self.refresh().await?;
                    bus_change.then_some(changing)
                } else {
                    None
                };
                self.dispatch(operation, &request).await?
            }
        };
        Ok(json11_ok(body))
    }

    /// Applies one operation to the buses and rules in memory (bus creations and deletions
    /// also on Redis).
    async fn dispatch(
        &self,
        operation: &str,
        request: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        Ok(match operation {
            "TestEventPattern" => test_event_pattern(request)?,
            "CreateEventBus" => self.create_event_bus(request).await?,
            "DeleteEventBus" => self.delete_event_bus(request).await?,
            "DescribeEventBus" => self.describe_event_bus(request)?,
            "ListEventBuses" => self.list_event_buses(request)?,
            "PutRule" => self.put_rule(request)?,
            "DeleteRule" => self.delete_rule(request)?,
            "ListRules" => self.list_rules(request)?,
            "DescribeRule" => self.describe_rule(request)?,
            "PutTargets" => self.put_targets(request)?,
            "RemoveTargets" => self.remove_targets(request)?,
            "ListTargetsByRule" => self.list_targets(request)?,
            "PutEvents" => self.put_events(request).await?,
            other => {
                return Err(ApiError::json11(
                    "UnknownOperationException",
                    format!("weir does not serve the operation {other}"),
                ))
            }
        })
    }

    fn bus_name(request: &Map<String, Value>) -> Result<String, ApiError> {
        match request.get("EventBusName") {
            None | Some(Value::Null) => Ok("default".into()),
            Some(Value::String(name)) => Ok(bus_from_arn(name).to_string()),
            Some(_) => Err(not_string("EventBusName")),
        }
    }

    fn bus_arn(&self, bus: &str) -> String {
        format!("arn:aws:events:{}:{ACCOUNT}:event-bus/{bus}", self.0.region)
    }

    fn rule_arn(&self, bus: &str, rule: &str) -> String {
        if bus == "default" {
            format!("arn:aws:events:{}:{ACCOUNT}:rule/{rule}", self.0.region)
        } else {
            format!(
                "arn:aws:events:{}:{ACCOUNT}:rule/{bus}/{rule}",
                self.0.region
            )
        }
    }

    fn with_bus<T>(
        &self,
        bus: &str,
        f: impl FnOnce(&mut Bus) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut buses = self.0.buses.write().unwrap_or_else(|p| p.into_inner());
        let Some(found) = buses.get_mut(bus) else {
            return Err(no_bus(bus));
        };
        f(found)
    }

    async fn create_event_bus(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let name = bus_name_member(request)?;
        if request.get("EventSourceName").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::json11(
                "ValidationException",
                "weir does not serve partner event buses: EventSourceName is not supported",
            ));
        }
        let description = match request.get("Description") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) if d.chars().count() <= 512 => Some(d.clone()),
            Some(Value::String(_)) => {
                return Err(ApiError::json11(
                    "ValidationException",
                    "1 validation error detected: Value at 'description' failed to satisfy \
                     constraint: Member must have length less than or equal to 512",
                ))
            }
            Some(_) => return Err(not_string("Description")),
        };
        let exists = || {
            ApiError::json11(
                "ResourceAlreadyExistsException",
                format!("Event bus {name} already exists."),
            )
        };
        if self
            .0
            .buses
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&name)
        {
            return Err(exists());
        }
        let info = BusInfo {
            description: description.clone(),
            created: aws::now_seconds(),
        };
        if let Some(store) = &self.0.store {
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("HSETNX")
                .arg(store.buses_key())
                .arg(&name)
                .arg(serde_json::to_string(&info).unwrap_or_default())
                .cmd("INCR")
                .arg(store.version_key());
            let (created, version): (i64, i64) = pipe
                .query_async(&mut store.conn.clone())
                .await
                .map_err(store_error)?;
            if created == 0 {
                return Err(exists());
            }
            store.advanced_to(version);
        }
        self.0
            .buses
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.clone())
            .or_insert_with(|| Bus::new(info));
        let mut out = json!({"EventBusArn": self.bus_arn(&name)});
        if let Some(d) = description {
            out["Description"] = Value::String(d);
        }
        Ok(out)
    }

    async fn delete_event_bus(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let name = required_string(request, "Name")?;
        if name == "default" {
            return Err(ApiError::json11(
                "ValidationException",
                "Cannot delete event bus default.",
            ));
        }
        if self.layer_has_bus(&name) {
            return Err(ApiError::json11(
                "ValidationException",
                format!(
                    "Event bus {name} is defined in the weir.toml weir serves: it cannot be \
                     deleted over the API."
                ),
            ));
        }
        if let Some(store) = &self.0.store {
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("HDEL")
                .arg(store.buses_key())
                .arg(&name)
                .ignore()
                .cmd("DEL")
                .arg(store.rules_key(&name))
                .ignore()
                .cmd("INCR")
                .arg(store.version_key());
            let (version,): (i64,) = pipe
                .query_async(&mut store.conn.clone())
                .await
                .map_err(store_error)?;
            store.advanced_to(version);
        }
        // Its rules go with it; deleting a bus that does not exist succeeds, as in AWS.
        self.0
            .buses
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name);
        Ok(aws::empty())
    }

    fn bus_json(&self, name: &str, info: &BusInfo) -> Value {
        let mut out = json!({
            "Name": name,
            "Arn": self.bus_arn(name),
            "CreationTime": info.created,
            "LastModifiedTime": info.created,
        });
        if let Some(d) = &info.description {
            out["Description"] = Value::String(d.clone());
        }
        out
    }

    fn describe_event_bus(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let name = match request.get("Name") {
            None | Some(Value::Null) => "default".to_string(),
            Some(Value::String(name)) => bus_from_arn(name).to_string(),
            Some(_) => return Err(not_string("Name")),
        };
        self.with_bus(&name, |b| Ok(self.bus_json(&name, &b.info)))
    }

    fn list_event_buses(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let prefix = request
            .get("NamePrefix")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (start, limit) = paging(request)?;
        let buses = self.0.buses.read().unwrap_or_else(|p| p.into_inner());
        let names: Vec<(&String, &Bus)> = buses
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .collect();
        let page: Vec<Value> = names
            .iter()
            .skip(start)
            .take(limit)
            .map(|(n, b)| self.bus_json(n, &b.info))
            .collect();
        let mut out = json!({"EventBuses": page});
        if start + limit < names.len() {
            out["NextToken"] = Value::String((start + limit).to_string());
        }
        Ok(out)
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
            b.loadable(&bus, &name)?;
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
            if force {
                // Force deletes a rule even when it could not be loaded.
                b.broken.remove(&name);
            }
            b.loadable(&bus, &name)?;
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
            if let Some(broken) = b.broken.keys().find(|n| n.starts_with(prefix)) {
                b.loadable(&bus, broken)?;
            }
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
            _ if b.broken.contains_key(&name) => b.loadable(&bus, &name).map(|()| Value::Null),
            Some(rule) => Ok(self.rule_json(&bus, &name, rule)),
            None => Err(no_rule(&name, &bus)),
        })
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
            b.loadable(&bus, &name)?;
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

    fn put_targets(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let name = rule_name(request, "Rule")?;
        let bus = Self::bus_name(request)?;
        let targets = required_array(request, "Targets")?.clone();
        if targets.len() > MAX_PUT_TARGETS {
            return Err(ApiError::json11(
                "ValidationException",
                format!(
                    "1 validation error detected: Value at 'targets' failed to satisfy \
                     constraint: Member must have length less than or equal to {MAX_PUT_TARGETS}"
                ),
            ));
        }
        let mut failed = Vec::new();
        let mut accepted = Vec::new();
        for (i, target) in targets.iter().enumerate() {
            let id = target.get("Id").and_then(Value::as_str).unwrap_or_default();
            let fail = |message: String| json!({"TargetId": id, "ErrorCode": "ValidationException", "ErrorMessage": message});
            match targets::plan(target, i + 1) {
                Err(Refusal::Request(e)) => return Err(e),
                Err(Refusal::Entry(message)) => failed.push(fail(message)),
                Ok(plan) => match self.reachable(&plan) {
                    Err(message) => failed.push(fail(message)),
                    Ok(()) => {
                        let mut spec = target.as_object().cloned().unwrap_or_default();
                        spec.retain(|_, v| !v.is_null());
                        accepted.push((plan.id, Value::Object(spec)));
                    }
                },
            }
        }
        self.with_bus(&bus, |b| {
            b.loadable(&bus, &name)?;
            let Some(rule) = b.rules.get_mut(&name) else {
                return Err(no_rule(&name, &bus));
            };
            let mut targets = rule.targets.clone();
            targets.extend(accepted);
            if targets.len() > MAX_RULE_TARGETS {
                return Err(ApiError::json11(
                    "LimitExceededException",
                    "The requested resource exceeds the maximum number allowed.",
                ));
            }
            rule.targets = targets;
            b.recompile();
            Ok(())
        })?;
        Ok(json!({"FailedEntryCount": failed.len(), "FailedEntries": failed}))
    }

    /// Whether weir can reach a target's queue or stream (and its dead-letter queue): one of
    /// the invocation layer's, or any name when serving with Redis.
    fn reachable(&self, plan: &Plan) -> Result<(), String> {
        let on_redis = self.0.store.is_some();
        let layer = self.0.layer.as_ref();
        let queue = |name: &str| {
            if on_redis || layer.is_some_and(|l| l.queue(name).is_some()) {
                Ok(())
            } else {
                Err(format!(
                    "weir has no queue {name}: define it in the weir.toml weir serves \
                     (--config), or serve with --redis (a Redis queue of that name)"
                ))
            }
        };
        match &plan.dest {
            Dest::Queue(name) => queue(name)?,
            Dest::Stream(name) => {
                if !on_redis && layer.is_none_or(|l| l.stream(name).is_none()) {
                    return Err(format!(
                        "weir has no stream {name}: define it in the weir.toml weir serves \
                         (--config), or serve with --redis (a Redis stream of that name)"
                    ));
                }
            }
            Dest::Function(_) | Dest::Bus(_) => {}
        }
        match &plan.dead_letter {
            Some((_, name)) => queue(name),
            None => Ok(()),
        }
    }

    fn list_targets(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let name = rule_name(request, "Rule")?;
        let bus = Self::bus_name(request)?;
        self.with_bus(&bus, |b| {
            b.loadable(&bus, &name)?;
            let Some(rule) = b.rules.get(&name) else {
                return Err(no_rule(&name, &bus));
            };
            let targets: Vec<Value> = rule.targets.values().cloned().collect();
            Ok(json!({"Targets": targets}))
        })
    }

    async fn put_events(&self, request: &Map<String, Value>) -> Result<Value, ApiError> {
        let entries = required_array(request, "Entries")?;
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
        let now = aws::now_seconds();
        let time = match entry.get("Time") {
            Some(Value::Number(n)) => n.as_f64().map(|s| s as i64),
            Some(Value::String(s)) => s.parse::<f64>().ok().map(|s| s as i64),
            _ => None,
        }
        .unwrap_or(now);
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
            "region": self.0.region,
            "resources": resources,
            "detail": detail,
        });
        let text = Arc::new(event.to_string());
        let ingestion_time = Arc::new(aws::iso8601(now));
        match self
            .route(&bus, Arc::new(event), text, ingestion_time, false)
            .await
        {
            Ok(()) => Ok(id),
            Err(RouteError::NoBus) => Err((
                "ResourceNotFoundException",
                format!("Event bus {bus} does not exist."),
            )),
            Err(RouteError::Malformed(reason)) => Err((
                "MalformedDetail",
                format!("Detail is malformed. ({reason})"),
            )),
            // A delivery weir could not take charge of (its Redis down, say) fails the
            // entry, so the client knows to send it again; the other targets were still
            // tried.
            Err(RouteError::Lost(lost)) => Err((
                "InternalFailure",
                format!(
                    "The event could not be delivered to every target: {}",
                    lost.join("; ")
                ),
            )),
        }
    }

    /// Routes an event on `bus`: the invocation layer's bus of that name gets it, and each
    /// target of each matching rule. `from_bus`: the event comes from another bus's target,
    /// and goes no further to bus targets (one hop, as EventBridge forwards).
    fn route(
        &self,
        bus: &str,
        event: Arc<Value>,
        text: Arc<String>,
        ingestion_time: Arc<String>,
        from_bus: bool,
    ) -> BoxFuture<'_, Result<(), RouteError>> {
        let bus = bus.to_string();
        Box::pin(async move {
            // The invocation layer's bus of that name gets the event too (its rules from
            // weir.toml); a forwarded event goes no further to its rules' bus targets either.
            let layer_has_bus = match &self.0.layer {
                Some(layer) if from_bus => layer.put_forwarded_event(&bus, text.as_bytes()).is_ok(),
                Some(layer) => layer.put_event(&bus, text.as_bytes()).is_ok(),
                None => false,
            };
            // Rules that could not be loaded may match the event: it is not lost silently.
            let mut lost: Vec<String> = Vec::new();
            let deliveries = {
                let buses = self.0.buses.read().unwrap_or_else(|p| p.into_inner());
                let Some(found) = buses.get(&bus) else {
                    return if layer_has_bus {
                        Ok(())
                    } else {
                        Err(RouteError::NoBus)
                    };
                };
                let matched = found
                    .matcher
                    .matching_rules(text.as_bytes())
                    .map_err(|e| RouteError::Malformed(e.reason().to_string()))?;
                for (rule, reason) in &found.broken {
                    lost.push(format!(
                        "rule {rule} could not be loaded from Redis ({reason})"
                    ));
                }
                let received = Instant::now();
                let mut deliveries = Vec::new();
                for rule in matched {
                    for plan in found.plans.get(rule).into_iter().flatten() {
                        if from_bus && matches!(plan.dest, Dest::Bus(_)) {
                            continue;
                        }
                        deliveries.push(Delivery {
                            plan: plan.clone(),
                            rule: rule.to_string(),
                            rule_arn: self.rule_arn(&bus, rule),
                            event: event.clone(),
                            text: text.clone(),
                            ingestion_time: ingestion_time.clone(),
                            received,
                        });
                    }
                }
                deliveries
            };
            for delivery in deliveries {
                match self.deliver(&delivery).await {
                    Ok(()) => {}
                    Err(f) => match f.kind {
                        Kind::NotAccepted => {
                            lost.push(format!("{}: {}", delivery.plan.arn, f.message))
                        }
                        Kind::Retry => self.retry_later(delivery, f),
                        Kind::Final => {
                            // The event is accepted only once its dead-letter queue has it.
                            if let Err(dlq) = self.dead_letter(&delivery, &f, None, 0).await {
                                lost.push(format!(
                                    "{}: {} (and its dead-letter queue could not take it: {})",
                                    delivery.plan.arn, f.message, dlq.message
                                ))
                            }
                        }
                    },
                }
            }
            if lost.is_empty() {
                Ok(())
            } else {
                Err(RouteError::Lost(lost))
            }
        })
    }

    /// One attempt at one delivery.
    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let context = Context {
                rule_name: &d.rule,
                rule_arn: &d.rule_arn,
                ingestion_time: &d.ingestion_time,
            };
            let payload = || d.plan.input.render(&d.event, &d.text, &context);
            match &d.plan.dest {
                Dest::Function(name) => self
                    .0
                    .invoker
                    .invoke(name, InvocationType::Event, payload().into_bytes())
                    .await
                    .map(|_| ())
                    .map_err(Failure::of_invoke),
                Dest::Queue(name) => self.send_to_queue(name, &payload(), &[]).await,
                Dest::Stream(name) => {
                    let key = d
                        .plan
                        .partition_key
                        .as_ref()
                        .and_then(|path| path.select(&d.event))
                        .map(|v| match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        })
                        .unwrap_or_else(|| d.event["id"].as_str().unwrap_or_default().to_string());
                    self.put_record(name, &key, payload().into_bytes()).await
                }
                Dest::Bus(name) => {
                    match self
                        .route(
                            name,
                            d.event.clone(),
                            d.text.clone(),
                            d.ingestion_time.clone(),
                            true,
                        )
                        .await
                    {
                        Ok(()) => Ok(()),
                        Err(RouteError::NoBus) => Err(Failure::new(
                            Kind::Final,
                            "ResourceNotFoundException",
                            format!("Event bus {name} does not exist."),
                        )),
                        Err(RouteError::Malformed(reason)) => {
                            Err(Failure::new(Kind::Final, "MalformedDetail", reason))
                        }
                        Err(RouteError::Lost(lost)) => Err(Failure::new(
                            Kind::NotAccepted,
                            "InternalFailure",
                            lost.join("; "),
                        )),
                    }
                }
            }
        })
    }

    /// Sends a message to queue `name`: the invocation layer's queue of that name, else the
    /// Redis queue (a stream whose entries have a `body` field, and the `attributes` as
    /// `attr.NAME` fields, as [`crate::RedisQueue::send_with_attributes`] writes them).
    async fn send_to_queue(
        &self,
        name: &str,
        body: &str,
        attributes: &[(&str, String)],
    ) -> Result<(), Failure> {
        if let Some(queue) = self.0.layer.as_ref().and_then(|l| l.queue(name)) {
            let attributes = attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            queue.send_with_attributes(body, attributes);
            return Ok(());
        }
        let Some(store) = &self.0.store else {
            return Err(Failure::new(
                Kind::Final,
                "ResourceNotFoundException",
                format!("weir has no queue {name}"),
            ));
        };
        let mut xadd = redis::cmd("XADD");
        xadd.arg(name).arg("*").arg("body").arg(body);
        for (key, value) in attributes {
            xadd.arg(format!("{}{key}", crate::redis_queue::ATTRIBUTE_PREFIX))
                .arg(value);
        }
        xadd.query_async::<String>(&mut store.conn.clone())
            .await
            .map(|_| ())
            .map_err(Failure::redis)
    }

    /// Puts a record on stream `name`: the invocation layer's stream of that name, else the
    /// Redis stream.
    async fn put_record(&self, name: &str, key: &str, data: Vec<u8>) -> Result<(), Failure> {
        if let Some(stream) = self.0.layer.as_ref().and_then(|l| l.stream(name)) {
            stream.put_record(key, data);
            return Ok(());
        }
        let Some(store) = &self.0.store else {
            return Err(Failure::new(
                Kind::Final,
                "ResourceNotFoundException",
                format!("weir has no stream {name}"),
            ));
        };
        let stream = {
            let mut streams = self.0.streams.lock().await;
            match streams.get(name) {
                Some(stream) => stream.clone(),
                None => {
                    // A target never creates a stream: its shard count is its producer's.
                    let Some(stream) = crate::RedisStream::existing(&store.url, name)
                        .await
                        .map_err(Failure::redis)?
                    else {
                        return Err(Failure::new(
                            Kind::Final,
                            "ResourceNotFoundException",
                            format!("Stream {name} does not exist."),
                        ));
                    };
                    streams.insert(name.to_string(), stream.clone());
                    stream
                }
            }
        };
        stream
            .put_record(key, &data)
            .await
            .map(|_| ())
            .map_err(Failure::redis)
    }

    /// Retries a delivery in a task of its own, per its target's retry policy (exponential
    /// backoff with jitter); the dead-letter queue gets it when the retries run out.
    fn retry_later(&self, delivery: Delivery, first: Failure) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut retries = 0;
            let mut last = first;
            loop {
                let age = delivery.received.elapsed();
                match delivery.plan.retry.next(retries, age, jitter()) {
                    Next::Exhausted(condition) => {
                        this.dead_letter_retrying(&delivery, &last, Some(condition), retries)
                            .await;
                        return;
                    }
                    Next::After(delay) => tokio::time::sleep(delay).await,
                }
                retries += 1;
                match this.deliver(&delivery).await {
                    Ok(()) => return,
                    Err(f) if f.kind != Kind::Final => last = f,
                    Err(f) => {
                        this.dead_letter_retrying(&delivery, &f, None, retries)
                            .await;
                        return;
                    }
                }
            }
        });
    }

    /// [`EventBridge::dead_letter`] from a retry task: a failed send is retried with a
    /// doubling backoff while the event is younger than its target's
    /// `MaximumEventAgeInSeconds`, then reported on stderr.
    async fn dead_letter_retrying(
        &self,
        d: &Delivery,
        failure: &Failure,
        exhausted: Option<&'static str>,
        retries: u32,
    ) {
        let mut backoff = DEAD_LETTER_BACKOFF;
        loop {
            let Err(e) = self.dead_letter(d, failure, exhausted, retries).await else {
                return;
            };
            if e.kind == Kind::Final || d.received.elapsed() + backoff > d.plan.retry.max_age {
                eprintln!(
                    "weir serve: event {} for target {} of rule {} is dropped: it failed \
                     ({}: {}) and its dead-letter queue could not take it ({})",
                    d.event["id"].as_str().unwrap_or_default(),
                    d.plan.arn,
                    d.rule_arn,
                    failure.code,
                    failure.message,
                    e.message
                );
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_DEAD_LETTER_BACKOFF);
        }
    }

    /// Sends a delivery that failed for good to its target's dead-letter queue, the event as
    /// the body and EventBridge's message attributes beside it. Without a dead-letter queue
    /// the event is dropped, as EventBridge drops it; an error when the queue could not take
    /// it.
    async fn dead_letter(
        &self,
        d: &Delivery,
        failure: &Failure,
        exhausted: Option<&'static str>,
        retries: u32,
    ) -> Result<(), Failure> {
        let Some((_, queue)) = &d.plan.dead_letter else {
            return Ok(());
        };
        let mut attributes = vec![
            ("RULE_ARN", d.rule_arn.clone()),
            ("TARGET_ARN", d.plan.arn.clone()),
            ("ERROR_CODE", failure.code.clone()),
            ("ERROR_MESSAGE", failure.message.clone()),
            ("RETRY_ATTEMPTS", retries.to_string()),
        ];
        if let Some(condition) = exhausted {
            attributes.push(("EXHAUSTED_RETRY_CONDITION", condition.to_string()));
        }
        self.send_to_queue(queue, &d.text, &attributes).await
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

/// A member the request must carry: absent or null is AWS's "must not be null" naming it in
/// lower case, as AWS does; its type is the caller's to check.
fn required<'a>(request: &'a Map<String, Value>, key: &str) -> Result<&'a Value, ApiError> {
    match request.get(key) {
        None | Some(Value::Null) => Err(ApiError::json11(
            "ValidationException",
            missing_member(&key.to_ascii_lowercase()),
        )),
        Some(value) => Ok(value),
    }
}

/// A required member that must be a string.
fn required_string(request: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match required(request, key)? {
        Value::String(s) => Ok(s.clone()),
        _ => Err(not_string(key)),
    }
}

/// A required member that must be an array.
fn required_array<'a>(
    request: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Vec<Value>, ApiError> {
    match required(request, key)? {
        Value::Array(items) => Ok(items),
        _ => Err(not_string(key)),
    }
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
    let name = required_string(request, key)?;
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

fn no_bus(bus: &str) -> ApiError {
    ApiError::json11(
        "ResourceNotFoundException",
        format!("Event bus {bus} does not exist."),
    )
}

/// `CreateEventBus`'s `Name`: 1-256 characters of `[.\-_A-Za-z0-9]` (a `/` is for partner
/// buses, which weir does not serve).
fn bus_name_member(request: &Map<String, Value>) -> Result<String, ApiError> {
    let name = required_string(request, "Name")?;
    if name.contains('/') {
        return Err(ApiError::json11(
            "ValidationException",
            "Event bus name must not contain '/'.",
        ));
    }
    let valid = (1..=256).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid {
        return Err(ApiError::json11(
            "ValidationException",
            format!(
                "1 validation error detected: Value '{name}' at 'name' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+"
            ),
        ));
    }
    if name.starts_with("aws.") {
        return Err(ApiError::json11(
            "ValidationException",
            "weir does not serve partner event buses (names starting with aws.)",
        ));
    }
    Ok(name)
}

/// The bus name of a bus name or ARN (`arn:aws:events:r:a:event-bus/NAME`).
fn bus_from_arn(name: &str) -> &str {
    match name.strip_prefix("arn:") {
        Some(_) => name.rsplit('/').next().unwrap_or(name),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        assert_eq!(bus_from_arn("arn:aws:events:r:1:event-bus/b"), "b");
        assert_eq!(bus_from_arn("default"), "default");
    }
}
