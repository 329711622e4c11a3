//! Redis sources in `weir.toml`: a queue (`AWS::SQS::Queue`) or a stream
//! (`AWS::Kinesis::Stream`) whose `Weir` table names a Redis (`Redis = "redis://HOST:PORT/"`)
//! lives on that Redis instead of in memory, and the event source mappings reading it run as
//! Redis consumers.
//!
//! ```toml
//! [Resources.Orders]
//! Type = "AWS::SQS::Queue"
//! Properties = { QueueName = "orders", VisibilityTimeout = 30, RedrivePolicy = { deadLetterTargetArn = { "Fn::GetAtt" = ["Dead", "Arn"] }, maxReceiveCount = 3 } }
//! Weir = { Redis = "redis://127.0.0.1:6380/" }
//!
//! [Resources.Dead]
//! Type = "AWS::SQS::Queue"
//! Properties = { QueueName = "orders-dlq" }
//! Weir = { Redis = "redis://127.0.0.1:6380/" }
//! ```
//!
//! A function (`AWS::Lambda::Function`, `AWS::Serverless::Function`) with `Weir.Redis` has its
//! asynchronous invocation queue there ([`async_prefix`]): its `Event` invocations are stored
//! on Redis with its `EventInvokeConfig` and worked by every weir process that has it. The
//! Redis queues and streams are also destinations: a function's `DestinationConfig`
//! (`OnSuccess`, `OnFailure`) and `DeadLetterConfig`, and a mapping's
//! `DestinationConfig.OnFailure`, may name them, and Lambda's invocation record is written
//! there, whichever queue ran the invocation.
//!
//! ```toml
//! [Resources.Charge]
//! Type = "AWS::Lambda::Function"
//! Properties = { FunctionName = "charge", EventInvokeConfig = { MaximumRetryAttempts = 1, DestinationConfig = { OnFailure = { Destination = { "Fn::GetAtt" = ["Dead", "Arn"] } } } } }
//! Weir = { Command = ["./charge.sh"], Redis = "redis://127.0.0.1:6380/" }
//! ```
//!
//! [`split`] takes those resources (and the mappings on them) out of the file, leaving the
//! rest for the invocation layer's config (references to them become their ARNs);
//! [`RedisPlan::attach`] attaches the queues and streams to the router as destinations and
//! sets the functions' Redis queues before the rest is built, [`RedisLayer::start`] works
//! those queues, and [`RedisPlan::start`] runs the mappings. A mapping's
//! consumers are named after the process, and its id is `weir-LOGICALID`: every `weir run` of
//! the same file shares the mapping's records (queue: one consumer group; stream: shard
//! leases and checkpoints).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use redis::RedisError;
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::functions::Invoker;
use crate::mappings::RedisMappings;
use crate::redis_async::{RedisAsyncConfig, RedisAsyncQueue};
use crate::redis_mapping::MappingCounters;
use crate::redis_queue::{RedisQueue, RedisQueueConfig};
use crate::redis_stream::{checkpoint_key, RedisStream, RedisStreamConfig};

/// The default prefix of weir's own keys on Redis (asynchronous queues, mappings, queue
/// attributes, stream mappings' checkpoints and shard leases); [`RedisPlan::set_prefix`]
/// changes it.
pub const PREFIX: &str = "weir";

#[derive(Debug, Clone)]
enum Kind {
    Queue,
    Stream { shards: usize },
}

#[derive(Debug, Clone)]
struct RedisSource {
    id: String,
    name: String,
    url: String,
    kind: Kind,
    /// Queue attributes, as `PREFIX:queues:NAME` holds them.
    attributes: Vec<(String, String)>,
    /// Sample messages (queue) to send at the start.
    messages: Vec<String>,
}

#[derive(Debug, Clone)]
struct PlannedMapping {
    id: String,
    url: String,
    source: String,
    body: Map<String, Value>,
}

/// A function whose asynchronous invocation queue is on Redis.
#[derive(Debug, Clone)]
struct AsyncFunction {
    id: String,
    name: String,
    url: String,
}

/// The Redis sources and mappings of a `weir.toml`.
///
/// # Example
/// ```
/// let (rest, plan) = weir_serve::redis_config::split("[Resources]", ".".as_ref())?;
/// assert!(plan.is_empty());
/// # let _ = rest;
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RedisPlan {
    sources: Vec<RedisSource>,
    mappings: Vec<PlannedMapping>,
    /// Functions whose `Event` invocations are queued on Redis.
    async_functions: Vec<AsyncFunction>,
    /// The file's functions' timeouts (Lambda's default, 3 s, when not set), by name.
    timeouts: std::collections::HashMap<String, Duration>,
    /// The prefix of weir's keys on Redis ([`PREFIX`] when not set).
    prefix: Option<String>,
}

/// The prefix of the keys of a function's asynchronous invocation queue on Redis under
/// `prefix` (default [`PREFIX`]): `PREFIX:async:NAME` (its events in the hash
/// `PREFIX:async:NAME:items`, due times in the sorted set `...:due`, claimed events in
/// `...:inflight`, the token of each claim in `...:owners`).
///
/// # Example
/// ```
/// use weir_serve::redis_config::async_prefix;
/// assert_eq!(async_prefix("weir", "charge"), "weir:async:charge");
/// assert_eq!(async_prefix("team1", "charge"), "team1:async:charge");
/// ```
pub fn async_prefix(prefix: &str, function: &str) -> String {
    format!("{prefix}:async:{function}")
}

/// A resource's `Weir.Redis`: a URL the `redis` crate takes (`redis://HOST:PORT/`,
/// `rediss://`, `redis+unix://`), checked without connecting.
fn redis_url(id: &str, resource: &toml::Value) -> Result<Option<String>, String> {
    let Some(value) = resource.get("Weir").and_then(|w| w.get("Redis")) else {
        return Ok(None);
    };
    let at = format!("Resources.{id}.Weir.Redis");
    let url = value
        .as_str()
        .ok_or(format!("{at}: must be a redis:// URL"))?;
    redis::Client::open(url)
        .map_err(|e| format!("{at}: {url:?} is not a Redis URL (redis://HOST:PORT/): {e}"))?;
    Ok(Some(url.to_string()))
}

/// Replaces each `{ Ref = ID }` / `{ "Fn::GetAtt" = [ID, ...] }` naming one of `arns`'s
/// resources by that resource's ARN (the invocation layer then finds it attached).
fn rewrite_references(value: &mut toml::Value, arns: &BTreeMap<String, String>) {
    match value {
        toml::Value::Table(t) => {
            let id = match (t.len(), t.get("Ref"), t.get("Fn::GetAtt")) {
                (1, Some(toml::Value::String(id)), _) => Some(id.clone()),
                (1, _, Some(toml::Value::Array(a))) => {
                    a.first().and_then(toml::Value::as_str).map(str::to_string)
                }
                _ => None,
            };
            if let Some(arn) = id.and_then(|id| arns.get(&id)) {
                *value = toml::Value::String(arn.clone());
                return;
            }
            for (_, v) in t.iter_mut() {
                rewrite_references(v, arns);
            }
        }
        toml::Value::Array(items) => {
            for v in items {
                rewrite_references(v, arns);
            }
        }
        _ => {}
    }
}

fn to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Refuses two queues, two streams or two functions of one name when one of them is on Redis
/// (or both are): one would hide the other (a destination naming it would reach only one, and
/// the Redis keys are named after it). Names wholly in memory are the invocation layer's to
/// check.
fn unique_names(resources: &toml::Table) -> Result<(), String> {
    let mut seen: BTreeMap<(&str, String), (&str, bool)> = BTreeMap::new();
    for (id, resource) in resources {
        let (what, key) = match resource.get("Type").and_then(toml::Value::as_str) {
            Some("AWS::SQS::Queue") => ("queue", "QueueName"),
            Some("AWS::Kinesis::Stream") => ("stream", "Name"),
            Some("AWS::Lambda::Function" | "AWS::Serverless::Function") => {
                ("function", "FunctionName")
            }
            _ => continue,
        };
        let given = resource
            .get("Properties")
            .and_then(|p| p.get(key))
            .and_then(toml::Value::as_str);
        let name = given.unwrap_or(id).to_string();
        let on_redis = resource.get("Weir").and_then(|w| w.get("Redis")).is_some();
        let where_ = |redis: bool| if redis { "on Redis" } else { "in memory" };
        match seen.get(&(what, name.clone())) {
            Some((first, first_redis)) if on_redis || *first_redis => {
                // Where the name comes from: the property, or (without it) the logical id.
                let (at, named) = match given {
                    Some(_) => (format!("Resources.{id}.Properties.{key}"), ""),
                    None => (format!("Resources.{id}"), ", named by its logical id"),
                };
                return Err(format!(
                    "{at}: the {what} {name} ({}{named}) is also Resources.{first} ({}); \
                     a {what}'s name must be unique",
                    where_(on_redis),
                    where_(*first_redis),
                ));
            }
            Some(_) => {}
            None => {
                seen.insert((what, name), (id.as_str(), on_redis));
            }
        }
    }
    Ok(())
}

/// Takes the Redis resources out of a `weir.toml`'s text: answers the remaining file (for
/// the invocation layer's config) and the plan. `base` is the file's directory (for
/// `Weir.Messages` files).
///
/// # Example
/// ```
/// let text = r#"
/// [Resources.Q]
/// Type = "AWS::SQS::Queue"
/// Properties = { QueueName = "q" }
/// Weir = { Redis = "redis://127.0.0.1:7000/" }
/// "#;
/// let (rest, plan) = weir_serve::redis_config::split(text, ".".as_ref())?;
/// assert!(!plan.is_empty());
/// assert!(!rest.contains("AWS::SQS::Queue"));
/// # Ok::<(), String>(())
/// ```
pub fn split(text: &str, base: &Path) -> Result<(String, RedisPlan), String> {
    let mut doc: toml::Table = text.parse().map_err(|e| format!("not valid TOML: {e}"))?;
    let Some(toml::Value::Table(resources)) = doc.get("Resources").cloned() else {
        return Ok((text.to_string(), RedisPlan::default()));
    };
    unique_names(&resources)?;
    let mut plan = RedisPlan::default();
    for (id, resource) in &resources {
        let kind = resource.get("Type").and_then(toml::Value::as_str);
        if !matches!(
            kind,
            Some("AWS::Lambda::Function" | "AWS::Serverless::Function")
        ) {
            continue;
        }
        let props = resource.get("Properties");
        let name = props
            .and_then(|p| p.get("FunctionName"))
            .and_then(toml::Value::as_str)
            .unwrap_or(id);
        let seconds = props
            .and_then(|p| p.get("Timeout"))
            .and_then(|v| {
                v.as_integer()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(3);
        // A bad value is the invocation layer's to report.
        if let Ok(seconds) = u64::try_from(seconds) {
            plan.timeouts
                .insert(name.to_string(), Duration::from_secs(seconds));
        }
        if let Some(url) = redis_url(id, resource)? {
            plan.async_functions.push(AsyncFunction {
                id: id.clone(),
                name: name.to_string(),
                url,
            });
        }
    }
    let mut removed: Vec<String> = Vec::new();
    let mut names: BTreeMap<String, (String, String, bool)> = BTreeMap::new();
    // Sources first.
    for (id, resource) in &resources {
        let kind = resource
            .get("Type")
            .and_then(toml::Value::as_str)
            .unwrap_or_default();
        if matches!(kind, "AWS::Lambda::Function" | "AWS::Serverless::Function") {
            continue;
        }
        let Some(url) = redis_url(id, resource)? else {
            continue;
        };
        let props = resource
            .get("Properties")
            .cloned()
            .unwrap_or(toml::Value::Table(Default::default()));
        let (name_key, source_kind) = match kind {
            "AWS::SQS::Queue" => ("QueueName", Kind::Queue),
            "AWS::Kinesis::Stream" => {
                let shards = props
                    .get("ShardCount")
                    .and_then(|v| {
                        v.as_integer()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    })
                    .unwrap_or(1);
                if !(1..=1024).contains(&shards) {
                    return Err(format!(
                        "Resources.{id}.Properties.ShardCount: must be 1 to 1024"
                    ));
                }
                (
                    "Name",
                    Kind::Stream {
                        shards: shards as usize,
                    },
                )
            }
            other => {
                return Err(format!(
                    "Resources.{id}.Weir.Redis: only queues, streams and functions' asynchronous \
                     invocation queues live on Redis, not {other}"
                ))
            }
        };
        let name = props
            .get(name_key)
            .and_then(toml::Value::as_str)
            .unwrap_or(id)
            .to_string();
        let mut messages = Vec::new();
        match resource.get("Weir").and_then(|w| w.get("Messages")) {
            None => {}
            Some(toml::Value::Array(items)) => {
                for item in items {
                    messages.push(match item {
                        toml::Value::String(s) => s.clone(),
                        other => to_json(other).to_string(),
                    });
                }
            }
            Some(toml::Value::String(file)) => {
                let text = std::fs::read_to_string(base.join(file)).map_err(|e| {
                    format!("Resources.{id}.Weir.Messages: cannot read {file}: {e}")
                })?;
                messages.extend(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(str::to_string),
                );
            }
            Some(_) => {
                return Err(format!(
                    "Resources.{id}.Weir.Messages: must be a file or a list"
                ))
            }
        }
        let arn = match &source_kind {
            Kind::Queue => format!("arn:aws:sqs:us-east-1:000000000000:{name}"),
            Kind::Stream { .. } => format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}"),
        };
        names.insert(
            id.clone(),
            (name.clone(), arn, matches!(source_kind, Kind::Queue)),
        );
        plan.sources.push(RedisSource {
            id: id.clone(),
            name,
            url,
            kind: source_kind,
            attributes: Vec::new(),
            messages,
        });
        removed.push(id.clone());
    }
    if plan.is_empty() {
        return Ok((text.to_string(), plan));
    }
    // A reference to a Redis source: its ARN.
    let arn_of = |value: &toml::Value| -> Option<String> {
        match value {
            toml::Value::String(s) => names
                .values()
                .find(|(_, arn, _)| arn == s)
                .map(|(_, arn, _)| arn.clone()),
            toml::Value::Table(t) => {
                let id = match (t.get("Fn::GetAtt"), t.get("Ref")) {
                    (Some(toml::Value::Array(a)), _) => a.first()?.as_str()?.to_string(),
                    (_, Some(toml::Value::String(id))) => id.clone(),
                    _ => return None,
                };
                names.get(&id).map(|(_, arn, _)| arn.clone())
            }
            _ => None,
        }
    };
    // Queue attributes (a redrive policy must point at another Redis queue).
    for source in &mut plan.sources {
        let props = resources[&source.id].get("Properties");
        if let Some(v) = props.and_then(|p| p.get("VisibilityTimeout")) {
            let text = v
                .as_integer()
                .map(|n| n.to_string())
                .or_else(|| v.as_str().map(str::to_string));
            source
                .attributes
                .push(("VisibilityTimeout".into(), text.unwrap_or_default()));
        }
        if let Some(redrive) = props.and_then(|p| p.get("RedrivePolicy")) {
            let target = redrive
                .get("deadLetterTargetArn")
                .and_then(&arn_of)
                .ok_or(format!(
                    "Resources.{}.Properties.RedrivePolicy.deadLetterTargetArn: must be a queue on Redis",
                    source.id
                ))?;
            let count = redrive
                .get("maxReceiveCount")
                .and_then(|v| {
                    v.as_integer()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .filter(|n| *n >= 1)
                .ok_or(format!(
                    "Resources.{}.Properties.RedrivePolicy.maxReceiveCount: must be 1 or more",
                    source.id
                ))?;
            source
                .attributes
                .push(("deadLetterTargetArn".into(), target));
            source
                .attributes
                .push(("maxReceiveCount".into(), count.to_string()));
        }
    }
    // Mappings on Redis sources.
    for (id, resource) in &resources {
        if resource.get("Type").and_then(toml::Value::as_str)
            != Some("AWS::Lambda::EventSourceMapping")
        {
            continue;
        }
        let Some(props) = resource.get("Properties").and_then(toml::Value::as_table) else {
            continue;
        };
        let Some(arn) = props.get("EventSourceArn").and_then(&arn_of) else {
            continue;
        };
        let mut body = Map::new();
        for (key, value) in props {
            let json = match key.as_str() {
                "EventSourceArn" => Value::String(arn.clone()),
                "FunctionName" => {
                    match value {
                        toml::Value::Table(t) => {
                            let target = t
                            .get("Ref")
                            .or_else(|| t.get("Fn::GetAtt").and_then(|a| a.as_array()?.first()))
                            .and_then(toml::Value::as_str)
                            .ok_or(format!("Resources.{id}.Properties.FunctionName: a name, an ARN or a Ref"))?;
                            let name = resources
                                .get(target)
                                .and_then(|r| r.get("Properties"))
                                .and_then(|p| p.get("FunctionName"))
                                .and_then(toml::Value::as_str)
                                .unwrap_or(target);
                            Value::String(name.to_string())
                        }
                        other => to_json(other),
                    }
                }
                "BatchSize"
                | "MaximumBatchingWindowInSeconds"
                | "MaximumRetryAttempts"
                | "MaximumRecordAgeInSeconds"
                | "ParallelizationFactor" => match value {
                    toml::Value::String(s) => s.parse::<i64>().map(Value::from).map_err(|_| {
                        format!("Resources.{id}.Properties.{key}: must be a number")
                    })?,
                    other => to_json(other),
                },
                "BisectBatchOnFunctionError" => match value {
                    toml::Value::String(s) => match s.as_str() {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        _ => {
                            return Err(format!(
                                "Resources.{id}.Properties.{key}: must be true or false"
                            ))
                        }
                    },
                    other => to_json(other),
                },
                "DestinationConfig" => {
                    let mut d = to_json(value);
                    if let Some(dest) = value.get("OnFailure").and_then(|o| o.get("Destination")) {
                        if let Some(arn) = arn_of(dest) {
                            d["OnFailure"]["Destination"] = Value::String(arn);
                        }
                    }
                    d
                }
                _ => to_json(value),
            };
            body.insert(key.clone(), json);
        }
        let url = plan
            .sources
            .iter()
            .find(|s| names.get(&s.id).is_some_and(|(_, a, _)| *a == arn))
            .map(|s| s.url.clone())
            .unwrap_or_default();
        plan.mappings.push(PlannedMapping {
            id: id.clone(),
            url,
            source: arn,
            body,
        });
        removed.push(id.clone());
    }
    if let Some(toml::Value::Table(all)) = doc.get_mut("Resources") {
        for id in &removed {
            all.remove(id);
        }
        // What is left names the Redis queues and streams by ARN (they are attached to the
        // invocation layer as destinations), and its functions' Weir.Redis is read here.
        let arns: BTreeMap<String, String> = names
            .iter()
            .map(|(id, (_, arn, _))| (id.clone(), arn.clone()))
            .collect();
        for (_, resource) in all.iter_mut() {
            if let Some(props) = resource.get_mut("Properties") {
                rewrite_references(props, &arns);
            }
            if let Some(toml::Value::Table(weir)) = resource.get_mut("Weir") {
                weir.remove("Redis");
            }
        }
    }
    let rest = toml::to_string(&doc).map_err(|e| format!("cannot rewrite the config: {e}"))?;
    Ok((rest, plan))
}

/// How long `weir run` and `weir invoke` wait for a Redis that does not answer (or answers
/// errors) before giving up with the error.
pub const REDIS_PATIENCE: Duration = Duration::from_secs(10);

/// How long a wait has borne a Redis that does not answer, or answers errors.
struct Patience {
    limit: Duration,
    failing_since: Option<std::time::Instant>,
}

impl Patience {
    fn new(limit: Duration) -> Patience {
        Patience {
            limit,
            failing_since: None,
        }
    }

    /// Asks Redis: its answer, or `None` after an error (borne for `limit`, then the error
    /// naming `what`); a question unanswered for `limit` is an error at once.
    async fn ask<T, E: std::fmt::Display>(
        &mut self,
        what: impl Fn() -> String,
        question: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<Option<T>, String> {
        match tokio::time::timeout(self.limit, question).await {
            Ok(Ok(answer)) => {
                self.failing_since = None;
                Ok(Some(answer))
            }
            Ok(Err(e)) => {
                let since = *self
                    .failing_since
                    .get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= self.limit {
                    return Err(format!("{}: {e}", what()));
                }
                Ok(None)
            }
            Err(_) => Err(format!(
                "{}: no answer for {:.1} s",
                what(),
                self.limit.as_secs_f64()
            )),
        }
    }
}

/// The Redis asynchronous invocation queues of a `weir.toml`'s functions
/// ([`RedisPlan::attach`]) and their workers.
pub struct RedisLayer {
    /// Each function's name and queue.
    queues: Vec<(String, RedisAsyncQueue)>,
    /// How long the waits bear a Redis that does not answer.
    patience: Duration,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RedisLayer {
    /// Starts a worker on each queue, invoking `invoker`'s functions (the invocation layer's
    /// router, whose [`Invoker::complete_event`] sends the records to the functions'
    /// destinations). Every weir process on the same Redis works the same queue.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(mut layer: weir_serve::redis_config::RedisLayer, router: weir_route::Router) {
    /// layer.start(std::sync::Arc::new(router));
    /// layer.wait_done().await;
    /// layer.stop().await;
    /// # }
    /// ```
    pub fn start(&mut self, invoker: Arc<dyn Invoker>) {
        self.start_workers(invoker, |_| true);
    }

    /// Starts a worker on the queue of the function `name` only (none when its queue is not
    /// on Redis): `weir invoke` works the event it invoked, not other functions' events.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(mut layer: weir_serve::redis_config::RedisLayer, router: weir_route::Router) {
    /// layer.start_for(std::sync::Arc::new(router), "charge");
    /// # }
    /// ```
    pub fn start_for(&mut self, invoker: Arc<dyn Invoker>, name: &str) {
        self.start_workers(invoker, |function| function == name);
    }

    fn start_workers(&mut self, invoker: Arc<dyn Invoker>, chosen: impl Fn(&str) -> bool) {
        for (name, queue) in &self.queues {
            if !chosen(name) {
                continue;
            }
            let (queue, invoker) = (queue.clone(), invoker.clone());
            let mut stop = self.stop.subscribe();
            self.tasks.push(tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                };
                queue.run(&*invoker, stopped).await;
            }));
        }
    }

    /// Events accepted on the queues and not finished yet (due, waiting for a retry, or
    /// running), whichever process accepted them.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(layer: weir_serve::redis_config::RedisLayer) -> Result<(), String> {
    /// let n = layer.pending().await?;
    /// # let _ = n; Ok(()) }
    /// ```
    pub async fn pending(&self) -> Result<usize, String> {
        let mut total = 0;
        for (_, queue) in &self.queues {
            total += queue.pending().await.map_err(|e| e.to_string())?;
        }
        Ok(total)
    }

    /// Waits until the event `request_id` of the function `name` is finished (at once when the
    /// function's queue is not on Redis). Gives up with an error when Redis has not answered
    /// for [`REDIS_PATIENCE`].
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(layer: weir_serve::redis_config::RedisLayer) -> Result<(), String> {
    /// layer.wait_event("charge", "a-request-id").await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_event(&self, name: &str, request_id: &str) -> Result<(), String> {
        let Some((_, queue)) = self.queues.iter().find(|(n, _)| n == name) else {
            return Ok(());
        };
        let mut patience = Patience::new(self.patience);
        let what = || format!("the asynchronous queue of function {name} on Redis");
        loop {
            if patience.ask(what, queue.is_pending(request_id)).await? == Some(false) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until no event is pending on the queues (seen so twice, 100 ms apart). Gives up
    /// with an error naming the function when its queue's Redis has not answered (or has
    /// answered only errors) for [`REDIS_PATIENCE`]; an event waiting for a retry is waited
    /// for, however long its retry is away.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(layer: weir_serve::redis_config::RedisLayer) -> Result<(), String> {
    /// layer.wait_done().await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_done(&self) -> Result<(), String> {
        // Each queue's own patience: one Redis answering does not excuse another.
        let mut patience: Vec<Patience> = self
            .queues
            .iter()
            .map(|_| Patience::new(self.patience))
            .collect();
        let mut seen = 0;
        while seen < 2 {
            let mut empty = true;
            for ((name, queue), patience) in self.queues.iter().zip(&mut patience) {
                let what = || format!("the asynchronous queue of function {name} on Redis");
                match patience.ask(what, queue.pending()).await? {
                    Some(0) => {}
                    _ => empty = false,
                }
            }
            seen = if empty { seen + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Completes, with the error, once the Redis of one of the queues has not answered (or
    /// has answered only errors) for [`REDIS_PATIENCE`], or has refused to store the events
    /// given to it for as long ([`RedisAsyncQueue::refusing_events`]: a Redis answering reads
    /// but refusing writes); never while they answer and store. Raced
    /// against another wait (the router's, whose bus deliveries retry a refusing Redis), it
    /// bounds that wait.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(layer: weir_serve::redis_config::RedisLayer, router: weir_route::Router) -> Result<(), String> {
    /// tokio::select! {
    ///     _ = router.wait_idle() => Ok(()),
    ///     e = layer.unreachable() => Err(e),
    /// }
    /// # }
    /// ```
    pub async fn unreachable(&self) -> String {
        let mut patience: Vec<Patience> = self
            .queues
            .iter()
            .map(|_| Patience::new(self.patience))
            .collect();
        loop {
            for ((name, queue), patience) in self.queues.iter().zip(&mut patience) {
                let what = || format!("the asynchronous queue of function {name} on Redis");
                if let Err(e) = patience.ask(what, queue.pending()).await {
                    return e;
                }
                // A Redis answering reads but refusing writes: the events given to the queue
                // (bus deliveries, retried) fail to be stored.
                if let Some(e) = queue.refusing_events(self.patience) {
                    return format!(
                        "{}: refuses events for {:.1} s: {e}",
                        what(),
                        self.patience.as_secs_f64()
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Sets how long the waits ([`RedisLayer::wait_done`], [`RedisLayer::wait_event`]) bear a
    /// Redis that does not answer (default [`REDIS_PATIENCE`]).
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(layer: &mut weir_serve::redis_config::RedisLayer) {
    /// layer.set_patience(std::time::Duration::from_secs(2));
    /// # }
    /// ```
    pub fn set_patience(&mut self, patience: Duration) {
        self.patience = patience;
    }

    /// Stops the workers: an event running now gets its queue's grace
    /// ([`RedisAsyncConfig::stop_grace`], 10 s) to end; one still running then is put back on
    /// Redis, due at once, for the next worker.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(layer: weir_serve::redis_config::RedisLayer) { layer.stop().await; }
    /// ```
    pub async fn stop(self) {
        self.signal_stop();
        self.join().await;
    }

    /// Tells the workers to stop (no event is claimed after it) without waiting for them:
    /// a process stopping several parts tells them all first, then waits for them together
    /// ([`RedisLayer::join`]), so one part's grace does not keep another claiming.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(layer: weir_serve::redis_config::RedisLayer) {
    /// layer.signal_stop();
    /// layer.join().await;
    /// # }
    /// ```
    pub fn signal_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Waits for the workers told to stop by [`RedisLayer::signal_stop`] to end (their
    /// running events given the grace [`RedisLayer::stop`] describes).
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(layer: weir_serve::redis_config::RedisLayer) {
    /// layer.signal_stop();
    /// layer.join().await;
    /// # }
    /// ```
    pub async fn join(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Running Redis mappings of a `weir run`.
pub struct RedisRun {
    mappings: Vec<(String, Arc<MappingCounters>)>,
    stops: Vec<Arc<Notify>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Each mapping's logical id and how to tell its source is drained.
    drained: Vec<(String, Drained)>,
}

/// How to tell a mapping's source has nothing left.
enum Drained {
    Queue(RedisQueue),
    /// The stream, the prefix of the mapping's keys and the mapping's id.
    Stream(RedisStream, String, String),
}

impl RedisPlan {
    /// Whether the file has no Redis source.
    ///
    /// # Example
    /// ```
    /// assert!(weir_serve::redis_config::RedisPlan::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.async_functions.is_empty()
    }

    /// Puts weir's keys on Redis under `prefix` instead of [`PREFIX`] (`weir serve
    /// --redis-prefix`, `weir run --redis-prefix`): the functions' asynchronous queues
    /// (`PREFIX:async:NAME`), the queues' attributes (`PREFIX:queues:NAME`), the mappings'
    /// consumer group (`PREFIX-mappings`), the stream mappings' checkpoints
    /// (`PREFIX:checkpoint:UUID:SHARD`), shard leases (`PREFIX:lease:UUID:SHARD`) and live
    /// consumers (`PREFIX:consumers:UUID`). Processes share a queue, or a stream mapping's
    /// progress, only under one prefix.
    ///
    /// # Example
    /// ```
    /// let mut plan = weir_serve::redis_config::RedisPlan::default();
    /// plan.set_prefix("team1");
    /// assert_eq!(plan.prefix(), "team1");
    /// ```
    pub fn set_prefix(&mut self, prefix: impl Into<String>) {
        self.prefix = Some(prefix.into());
    }

    /// The prefix of weir's keys on Redis ([`PREFIX`] unless set).
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_serve::redis_config::RedisPlan::default().prefix(), "weir");
    /// ```
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(PREFIX)
    }

    /// Connects to the Redis of every Redis queue and stream and attaches each to `router`
    /// as a destination (so the functions', mappings' and rules' destinations naming them
    /// write there), and sets the Redis asynchronous queue ([`async_prefix`]) of every
    /// function with `Weir.Redis`. Call it before building the rest of the file into
    /// `router`; then start the queues' workers with [`RedisLayer::start`].
    ///
    /// # Example
    /// ```
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let plan = weir_serve::redis_config::RedisPlan::default();
    /// let layer = plan.attach(&weir_route::Router::new()).await?;
    /// assert_eq!(layer.pending().await?, 0);
    /// # Ok::<(), String>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn attach(&self, router: &weir_route::Router) -> Result<RedisLayer, String> {
        let unreachable = |id: &str, url: &str, e: &dyn std::fmt::Display| {
            format!("Resources.{id}.Weir.Redis: cannot connect to {url}: {e}")
        };
        for source in &self.sources {
            let (target, destination): (weir_route::Target, Arc<dyn weir_route::Destination>) =
                match source.kind {
                    Kind::Queue => (
                        weir_route::Target::Queue(source.name.clone()),
                        Arc::new(
                            RedisQueue::connect(&source.url, RedisQueueConfig::new(&source.name))
                                .await
                                .map_err(|e| unreachable(&source.id, &source.url, &e))?,
                        ),
                    ),
                    Kind::Stream { shards } => (
                        weir_route::Target::Stream(source.name.clone()),
                        Arc::new(
                            RedisStream::connect(
                                &source.url,
                                RedisStreamConfig::new(&source.name, shards),
                            )
                            .await
                            .map_err(|e| unreachable(&source.id, &source.url, &e))?,
                        ),
                    ),
                };
            router
                .attach_destination(target, destination)
                .map_err(|e| format!("Resources.{}: {e}", source.id))?;
        }
        // One queue per function, so a process works (and waits for) only the events of the
        // functions it has.
        let mut queues = Vec::new();
        for function in &self.async_functions {
            let config = RedisAsyncConfig::new(async_prefix(self.prefix(), &function.name));
            let queue = RedisAsyncQueue::connect(&function.url, config)
                .await
                .map_err(|e| unreachable(&function.id, &function.url, &e))?;
            router.set_event_queue(&function.name, Arc::new(queue.clone()));
            queues.push((function.name.clone(), queue));
        }
        Ok(RedisLayer {
            queues,
            patience: REDIS_PATIENCE,
            stop: tokio::sync::watch::channel(false).0,
            tasks: Vec::new(),
        })
    }

    /// Connects to the sources' Redis, stores queue attributes, sends the sample messages,
    /// checks every mapping as Lambda does and starts a consumer for each, invoking
    /// `invoker`'s functions.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(plan: weir_serve::redis_config::RedisPlan, router: weir_route::Router) -> Result<(), String> {
    /// let run = plan.start(std::sync::Arc::new(router)).await?;
    /// run.wait_drained().await;
    /// let counters = run.stop().await;
    /// # let _ = counters;
    /// # Ok(()) }
    /// ```
    pub async fn start(&self, invoker: Arc<dyn Invoker>) -> Result<RedisRun, String> {
        let mut run = RedisRun {
            mappings: Vec::new(),
            stops: Vec::new(),
            tasks: Vec::new(),
            drained: Vec::new(),
        };
        let fail = |id: &str, e: &dyn std::fmt::Display| format!("Resources.{id}: {e}");
        for source in &self.sources {
            match source.kind {
                Kind::Queue => {
                    let queue =
                        RedisQueue::connect(&source.url, RedisQueueConfig::new(&source.name))
                            .await
                            .map_err(|e| fail(&source.id, &e))?;
                    if !source.attributes.is_empty() {
                        let client = redis::Client::open(source.url.as_str())
                            .map_err(|e| fail(&source.id, &e))?;
                        let mut conn = client
                            .get_multiplexed_async_connection()
                            .await
                            .map_err(|e| fail(&source.id, &e))?;
                        let mut cmd = redis::cmd("HSET");
                        cmd.arg(format!("{}:queues:{}", self.prefix(), source.name));
                        for (k, v) in &source.attributes {
                            cmd.arg(k).arg(v);
                        }
                        let _: i64 = cmd
                            .query_async(&mut conn)
                            .await
                            .map_err(|e| fail(&source.id, &e))?;
                    }
                    for chunk in source.messages.chunks(500) {
                        queue
                            .send_batch(chunk)
                            .await
                            .map_err(|e| fail(&source.id, &e))?;
                    }
                }
                Kind::Stream { shards } => {
                    RedisStream::connect(&source.url, RedisStreamConfig::new(&source.name, shards))
                        .await
                        .map_err(|e| fail(&source.id, &e))?;
                }
            }
        }
        let consumer = format!(
            "weir-run-{}-{}",
            std::process::id(),
            &crate::aws::new_id()[..8]
        );
        for planned in &self.mappings {
            let mappings =
                RedisMappings::connect(&planned.url, self.prefix(), "us-east-1", invoker.clone())
                    .await
                    .map_err(|e| fail(&planned.id, &e))?
                    .with_function_timeouts(self.timeouts.clone());
            let uuid = format!("weir-{}", planned.id);
            let config = mappings
                .check(&planned.body, Some(&uuid))
                .await
                .map_err(|e| format!("Resources.{}: {}: {}", planned.id, e.code, e.message))?;
            let source_name = planned
                .source
                .rsplit([':', '/'])
                .next()
                .unwrap_or_default()
                .to_string();
            if planned.source.contains(":sqs:") {
                let queue = RedisQueue::connect(
                    &planned.url,
                    RedisQueueConfig::new(&source_name)
                        .group(format!("{}-mappings", self.prefix())),
                )
                .await
                .map_err(|e| fail(&planned.id, &e))?;
                run.drained
                    .push((planned.id.clone(), Drained::Queue(queue)));
            } else {
                let stream = RedisStream::open(&planned.url, &source_name)
                    .await
                    .map_err(|e| fail(&planned.id, &e))?;
                run.drained.push((
                    planned.id.clone(),
                    Drained::Stream(stream, self.prefix().to_string(), uuid.clone()),
                ));
            }
            if config["State"] != "Enabled" {
                continue;
            }
            let counters: Arc<MappingCounters> = Arc::default();
            let stop = Arc::new(Notify::new());
            run.mappings.push((planned.id.clone(), counters.clone()));
            run.stops.push(stop.clone());
            let name = consumer.clone();
            run.tasks.push(tokio::spawn(async move {
                mappings.run_mapping(config, name, stop, counters).await
            }));
        }
        Ok(run)
    }
}

impl RedisRun {
    /// Whether one mapping's source is drained: a queue empty, a stream's checkpoints at
    /// each shard's last record.
    async fn source_drained(source: &Drained) -> Result<bool, RedisError> {
        match source {
            Drained::Queue(queue) => queue.is_empty().await,
            Drained::Stream(stream, prefix, uuid) => {
                for shard in 0..stream.config().shard_count {
                    let last = stream.last_sequence(shard).await?;
                    let checkpoint = stream.get_key(&checkpoint_key(prefix, uuid, shard)).await?;
                    if last.is_some() && last != checkpoint {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }

    /// Whether every mapping's source is drained now (one look: a queue empty, a stream's
    /// checkpoints at each shard's last record); a Redis error counts as not drained.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(run: weir_serve::redis_config::RedisRun) { let quiet = run.is_drained().await; let _ = quiet; }
    /// ```
    pub async fn is_drained(&self) -> bool {
        for (_, source) in &self.drained {
            if !matches!(Self::source_drained(source).await, Ok(true)) {
                return false;
            }
        }
        true
    }

    /// Waits until every mapping's source is drained (seen so twice, 100 ms apart). Gives up
    /// with an error naming the mapping when its source's Redis has not answered (or has
    /// answered only errors) for [`REDIS_PATIENCE`].
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(run: weir_serve::redis_config::RedisRun) -> Result<(), String> {
    /// run.wait_drained().await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_drained(&self) -> Result<(), String> {
        let mut patience: Vec<Patience> = self
            .drained
            .iter()
            .map(|_| Patience::new(REDIS_PATIENCE))
            .collect();
        let mut seen = 0;
        while seen < 2 {
            let mut drained = true;
            for ((id, source), patience) in self.drained.iter().zip(&mut patience) {
                let what = || format!("the source of mapping {id} on Redis");
                if patience.ask(what, Self::source_drained(source)).await? != Some(true) {
                    drained = false;
                }
            }
            seen = if drained { seen + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Stops the consumers and answers their counters ([`RedisRun::metrics`]). A batch still
    /// in flight is left pending on its queue (it comes back after the visibility timeout) or
    /// unchecked on its shard.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(run: weir_serve::redis_config::RedisRun) { let counters = run.stop().await; let _ = counters; }
    /// ```
    pub async fn stop(self) -> Map<String, Value> {
        self.signal_stop();
        self.join().await
    }

    /// Tells the consumers to stop (no new batch is read after it) without waiting for
    /// them; [`RedisRun::join`] then waits. A process stopping several parts tells them all
    /// first, so a long batch here does not keep another part's workers claiming.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(run: weir_serve::redis_config::RedisRun) {
    /// run.signal_stop();
    /// let counters = run.join().await;
    /// # let _ = counters; }
    /// ```
    pub fn signal_stop(&self) {
        for stop in &self.stops {
            stop.notify_one();
        }
    }

    /// Waits for the consumers told to stop by [`RedisRun::signal_stop`] to end (each
    /// finishing the batch in hand, as [`RedisRun::stop`] says) and answers their counters.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(run: weir_serve::redis_config::RedisRun) {
    /// run.signal_stop();
    /// let counters = run.join().await;
    /// # let _ = counters; }
    /// ```
    pub async fn join(mut self) -> Map<String, Value> {
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        self.metrics()
    }

    /// Each running mapping's counters (Lambda's metric names), by logical id.
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(run: &weir_serve::redis_config::RedisRun) { let _ = run.metrics(); }
    /// ```
    pub fn metrics(&self) -> Map<String, Value> {
        self.mappings
            .iter()
            .map(|(id, counters)| (id.clone(), counters.to_json()))
            .collect()
    }
}
