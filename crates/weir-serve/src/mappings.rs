//! Event source mappings on Redis sources, through Lambda's REST API
//! (`CreateEventSourceMapping`, `GetEventSourceMapping`, `ListEventSourceMappings`,
//! `DeleteEventSourceMapping`).
//!
//! A mapping is kept on Redis (a hash of configurations), so every weir process connected to
//! the same Redis runs it: each process's [`RedisMappings::supervise`] starts a consumer for
//! every enabled mapping and stops those deleted. An `arn:aws:sqs:REGION:ACCOUNT:NAME` source
//! is the [`RedisQueue`] on the stream `NAME` (its attributes, when set, in the hash
//! `PREFIX:queues:NAME`: `VisibilityTimeout`, `maxReceiveCount`, `deadLetterTargetArn`); an
//! `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME` source is the [`RedisStream`] `NAME`.
//!
//! Parameters are checked with Lambda's ranges and messages. A stream mapping takes
//! `StartingPosition`, `MaximumRetryAttempts`, `DestinationConfig.OnFailure`,
//! `BisectBatchOnFunctionError`, `ParallelizationFactor` (1-10), `MaximumRecordAgeInSeconds`
//! (-1, or 60-604800) and `MaximumBatchingWindowInSeconds` (0-300), and reports each back
//! (with Lambda's defaults when not given); a queue mapping refuses the stream-only ones
//! (all but the window) as Lambda does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use redis::aio::ConnectionManager;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;
use weir::lambda::{FilterCriteria, Source};
use weir_route::{Handler, Outcome};

use crate::aws::{new_id, now_millis, ApiError};
use crate::functions::Invoker;
use crate::redis_mapping::{MappingCounters, QueueConsumer, QueueMappingConfig};
use crate::redis_queue::{connect, RedisQueue, RedisQueueConfig};
use crate::redis_stream::{RedisStream, StreamConsumer, StreamMappingConfig};

/// How long a consumer waits for a function it invokes through the [`Invoker`] (which
/// enforces the function's own timeout): past Lambda's longest timeout.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(960);

/// The event source mappings of the weir processes sharing one Redis.
///
/// # Example
/// ```no_run
/// # async fn demo(router: weir_route::Router) -> Result<(), redis::RedisError> {
/// let mappings = weir_serve::RedisMappings::connect("redis://127.0.0.1:7000/", "weir", "us-east-1", std::sync::Arc::new(router)).await?;
/// let app = weir_serve::router_with(mappings.invoker(), "us-east-1", Some(mappings.clone()));
/// tokio::spawn(async move { mappings.supervise(std::future::pending()).await });
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisMappings {
    conn: ConnectionManager,
    url: String,
    prefix: String,
    region: String,
    invoker: Arc<dyn Invoker>,
    /// Function timeouts known beside the invoker's ([`Invoker::timeout`]).
    timeouts: Arc<HashMap<String, Duration>>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::rest(
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        message,
    )
}

fn redis_error(e: redis::RedisError) -> ApiError {
    ApiError::rest(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceException",
        format!("Redis: {e}"),
    )
}

fn not_found() -> ApiError {
    ApiError::rest(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
    )
}

/// The kind and Redis name of a source ARN.
fn source_of(arn: &str) -> Option<(Source, String)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", _, _, name] if !name.is_empty() => Some((Source::Sqs, name.to_string())),
        ["arn", _, "kinesis", _, _, resource] => resource
            .strip_prefix("stream/")
            .filter(|n| !n.is_empty())
            .map(|n| (Source::Kinesis, n.to_string())),
        _ => None,
    }
}

/// An integer member within `range`, or Lambda's validation message.
fn int_in(
    body: &Map<String, Value>,
    key: &str,
    wire: &str,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
) -> Result<i64, ApiError> {
    let value = match body.get(key) {
        None | Some(Value::Null) => return Ok(default),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| invalid(format!("{key} must be an integer")))?,
    };
    if !range.contains(&value) {
        let (bound, word) = if value < *range.start() {
            (range.start(), "greater")
        } else {
            (range.end(), "less")
        };
        return Err(invalid(format!(
            "1 validation error detected: Value '{value}' at '{wire}' failed to satisfy \
             constraint: Member must have value {word} than or equal to {bound}"
        )));
    }
    Ok(value)
}

impl RedisMappings {
    /// Mappings under `prefix` on the Redis at `url`, invoking `invoker`'s functions.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let functions = std::sync::Arc::new(weir_serve::LocalFunctions::new("us-east-1"));
    /// let m = weir_serve::RedisMappings::connect("redis://127.0.0.1:7000/", "weir", "us-east-1", functions).await?;
    /// # let _ = m; Ok(()) }
    /// ```
    pub async fn connect(
        url: &str,
        prefix: &str,
        region: &str,
        invoker: Arc<dyn Invoker>,
    ) -> Result<RedisMappings, redis::RedisError> {
        Ok(RedisMappings {
            conn: connect(url).await?,
            url: url.to_string(),
            prefix: prefix.to_string(),
            region: region.to_string(),
            invoker,
            timeouts: Arc::default(),
        })
    }

    /// The same mappings knowing these functions' timeouts (by name), for invokers that do
    /// not tell them: `CreateEventSourceMapping` refuses a queue whose visibility timeout is
    /// shorter than its function's timeout, as Lambda does.
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(m: weir_serve::RedisMappings) {
    /// let timeouts = [("f".to_string(), std::time::Duration::from_secs(60))].into();
    /// let m = m.with_function_timeouts(timeouts);
    /// # let _ = m; }
    /// ```
    pub fn with_function_timeouts(mut self, timeouts: HashMap<String, Duration>) -> Self {
        self.timeouts = Arc::new(timeouts);
        self
    }

    /// A function's timeout: the one given to [`RedisMappings::with_function_timeouts`],
    /// else the invoker's.
    fn function_timeout(&self, function: &str) -> Option<Duration> {
        self.timeouts
            .get(function)
            .copied()
            .or_else(|| self.invoker.timeout(function))
    }

    /// A queue's stored visibility timeout (SQS's default, 30 s, when none is stored).
    async fn visibility_timeout(&self, queue: &str) -> Result<Duration, redis::RedisError> {
        let seconds: Option<String> = redis::cmd("HGET")
            .arg(format!("{}:queues:{queue}", self.prefix))
            .arg("VisibilityTimeout")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(seconds.and_then(|s| s.parse().ok()).map_or(
            RedisQueueConfig::new(queue).visibility_timeout,
            Duration::from_secs,
        ))
    }

    /// The invoker the mappings invoke.
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(m: &weir_serve::RedisMappings) { let _ = m.invoker(); }
    /// ```
    pub fn invoker(&self) -> Arc<dyn Invoker> {
        self.invoker.clone()
    }

    fn key(&self) -> String {
        format!("{}:mappings", self.prefix)
    }

    async fn stored(&self) -> Result<HashMap<String, Value>, redis::RedisError> {
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.key())
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(raw
            .into_iter()
            .filter_map(|(k, v)| serde_json::from_str(&v).ok().map(|v| (k, v)))
            .collect())
    }

    /// `CreateEventSourceMapping`.
    pub(crate) async fn create(&self, body: Map<String, Value>) -> Result<Value, ApiError> {
        let config = self.check(&body, None).await?;
        let uuid = config["UUID"].as_str().unwrap_or_default().to_string();
        let _: () = redis::cmd("HSET")
            .arg(self.key())
            .arg(&uuid)
            .arg(config.to_string())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        let mut answer = config;
        answer["State"] = if answer["State"] == "Disabled" {
            "Disabled".into()
        } else {
            "Creating".into()
        };
        Ok(answer)
    }

    /// Checks a `CreateEventSourceMapping` request as Lambda does and answers the mapping's
    /// configuration (`State` `Enabled` or `Disabled`), with the UUID `uuid` or a new one.
    /// A `LATEST` stream mapping's checkpoints are set here.
    pub(crate) async fn check(
        &self,
        body: &Map<String, Value>,
        uuid: Option<&str>,
    ) -> Result<Value, ApiError> {
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
        let arn = text("EventSourceArn").ok_or_else(|| invalid("EventSourceArn is required"))?;
        let function = text("FunctionName").ok_or_else(|| invalid("FunctionName is required"))?;
        let function = function
            .rsplit_once(":function:")
            .map(|(_, n)| n.split(':').next().unwrap_or(n).to_string())
            .unwrap_or(function);
        if !self.invoker.exists(&function) {
            return Err(ApiError::rest(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!(
                    "Function not found: {}",
                    self.invoker.function_arn(&function)
                ),
            ));
        }
        let (source, source_name) = source_of(&arn).ok_or_else(|| {
            invalid("Unrecognized event source, must be kinesis, dynamodb stream or sqs.")
        })?;
        if source == Source::Sqs {
            // A message must stay hidden for as long as the function may run.
            if let Some(timeout) = self.function_timeout(&function) {
                let visibility = self
                    .visibility_timeout(&source_name)
                    .await
                    .map_err(redis_error)?;
                if timeout > visibility {
                    return Err(invalid(format!(
                        "Queue visibility timeout: {} seconds is less than Function timeout: {} seconds",
                        visibility.as_secs(),
                        timeout.as_secs_f64().ceil() as u64
                    )));
                }
            }
        }
        let default_batch = if source == Source::Sqs { 10 } else { 100 };
        let batch_size = int_in(body, "BatchSize", "batchSize", 1..=10_000, default_batch)?;
        let window = int_in(
            body,
            "MaximumBatchingWindowInSeconds",
            "maximumBatchingWindowInSeconds",
            0..=300,
            0,
        )?;
        if source == Source::Sqs && batch_size > 10 && window == 0 {
            return Err(invalid(
                "Maximum batch size must be set to a value less than or equal to 10 when \
                 MaximumBatchingWindowInSeconds is not set.",
            ));
        }
        let mut config = json!({
            "UUID": uuid.map_or_else(new_id, str::to_string),
            "BatchSize": batch_size,
            "MaximumBatchingWindowInSeconds": window,
            "EventSourceArn": arn,
            "FunctionArn": self.invoker.function_arn(&function),
            "LastModified": now_millis() as f64 / 1000.0,
            "State": "Enabled",
            "StateTransitionReason": "USER_INITIATED",
            "FunctionResponseTypes": [],
        });
        if let Some(fc) = body.get("FilterCriteria").filter(|v| !v.is_null()) {
            let parsed = FilterCriteria::parse(&fc.to_string())
                .and_then(|c| c.check_for(source).map(|()| c))
                .map_err(|e| {
                    invalid(format!("Invalid filter pattern definition. {}", e.reason()))
                })?;
            let _ = parsed;
            config["FilterCriteria"] = fc.clone();
        }
        match body.get("FunctionResponseTypes") {
            None | Some(Value::Null) => {}
            Some(Value::Array(types)) => {
                for t in types {
                    if t != "ReportBatchItemFailures" {
                        return Err(invalid(format!(
                            "1 validation error detected: Value '[{t}]' at 'functionResponseTypes' \
                             failed to satisfy constraint: Member must satisfy enum value set: \
                             [ReportBatchItemFailures]"
                        )));
                    }
                }
                config["FunctionResponseTypes"] = Value::Array(types.clone());
            }
            Some(_) => return Err(invalid("FunctionResponseTypes must be a list")),
        }
        if body.get("Enabled") == Some(&Value::Bool(false)) {
            config["State"] = "Disabled".into();
        }
        let given = |key: &str| body.get(key).is_some_and(|v| !v.is_null());
        if source == Source::Sqs {
            // Stream-only parameters, as the invocation layer refuses them.
            for key in [
                "BisectBatchOnFunctionError",
                "MaximumRetryAttempts",
                "MaximumRecordAgeInSeconds",
                "ParallelizationFactor",
                "StartingPosition",
                "DestinationConfig",
            ] {
                if given(key) {
                    return Err(invalid(format!(
                        "Unsupported {key} parameter for the SQS event source type"
                    )));
                }
            }
        }
        if source == Source::Kinesis {
            let start = text("StartingPosition").ok_or_else(|| {
                invalid(
                    "1 validation error detected: Value null at 'startingPosition' failed \
                         to satisfy constraint: Member must not be null",
                )
            })?;
            if start != "TRIM_HORIZON" && start != "LATEST" {
                return Err(invalid(format!(
                    "weir's Redis streams start at TRIM_HORIZON or LATEST, not {start}"
                )));
            }
            config["StartingPosition"] = start.clone().into();
            config["MaximumRetryAttempts"] = int_in(
                body,
                "MaximumRetryAttempts",
                "maximumRetryAttempts",
                -1..=10_000,
                -1,
            )?
            .into();
            config["ParallelizationFactor"] = int_in(
                body,
                "ParallelizationFactor",
                "parallelizationFactor",
                1..=10,
                1,
            )?
            .into();
            let age = int_in(
                body,
                "MaximumRecordAgeInSeconds",
                "maximumRecordAgeInSeconds",
                -1..=604_800,
                -1,
            )?;
            if (0..60).contains(&age) {
                return Err(invalid(format!(
                    "MaximumRecordAgeInSeconds must be -1 or between 60 and 604800, not {age}"
                )));
            }
            config["MaximumRecordAgeInSeconds"] = age.into();
            config["BisectBatchOnFunctionError"] = match body.get("BisectBatchOnFunctionError") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid("BisectBatchOnFunctionError must be a boolean")),
            }
            .into();
            let on_failure = body
                .get("DestinationConfig")
                .and_then(|d| d.get("OnFailure"))
                .and_then(|d| d.get("Destination"))
                .and_then(Value::as_str);
            config["DestinationConfig"] = match on_failure {
                Some(destination) => {
                    source_of(destination).ok_or_else(|| {
                        invalid("The OnFailure destination must be a queue or a stream ARN")
                    })?;
                    json!({"OnFailure": {"Destination": destination}})
                }
                None => json!({"OnFailure": {}}),
            };
            if start == "LATEST" {
                self.start_at_latest(&config).await.map_err(redis_error)?;
            }
        }
        Ok(config)
    }

    /// Sets every shard's checkpoint to its last record, so a `LATEST` mapping reads only
    /// what comes after.
    async fn start_at_latest(&self, config: &Value) -> Result<(), redis::RedisError> {
        let (_, name) = source_of(config["EventSourceArn"].as_str().unwrap_or_default())
            .unwrap_or((Source::Kinesis, String::new()));
        // A stream no producer created yet has nothing to skip.
        let Some(stream) = RedisStream::existing(&self.url, &name).await? else {
            return Ok(());
        };
        let uuid = config["UUID"].as_str().unwrap_or_default();
        for shard in 0..stream.config().shard_count {
            let last: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
                .arg(stream.config().shard_key(shard))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut self.conn.clone())
                .await?;
            if let Some(entry) = last.ids.first() {
                let _: () = redis::cmd("SET")
                    .arg(crate::redis_stream::checkpoint_key(
                        &self.prefix,
                        uuid,
                        shard,
                    ))
                    .arg(&entry.id)
                    .query_async(&mut self.conn.clone())
                    .await?;
            }
        }
        Ok(())
    }

    /// `GetEventSourceMapping`.
    pub(crate) async fn get(&self, uuid: &str) -> Result<Value, ApiError> {
        let mut stored = self.stored().await.map_err(redis_error)?;
        stored.remove(uuid).ok_or_else(not_found)
    }

    /// `ListEventSourceMappings`, filtered by source and function.
    pub(crate) async fn list(
        &self,
        event_source_arn: Option<&str>,
        function_name: Option<&str>,
    ) -> Result<Value, ApiError> {
        let stored = self.stored().await.map_err(redis_error)?;
        let function_arn = function_name.map(|f| {
            if f.starts_with("arn:") {
                f.to_string()
            } else {
                self.invoker.function_arn(f)
            }
        });
        let mut found: Vec<Value> = stored
            .into_values()
            .filter(|m| event_source_arn.is_none_or(|a| m["EventSourceArn"] == a))
            .filter(|m| {
                function_arn
                    .as_deref()
                    .is_none_or(|f| m["FunctionArn"] == f)
            })
            .collect();
        found.sort_by(|a, b| a["UUID"].as_str().cmp(&b["UUID"].as_str()));
        Ok(json!({"EventSourceMappings": found}))
    }

    /// `DeleteEventSourceMapping`.
    pub(crate) async fn delete(&self, uuid: &str) -> Result<Value, ApiError> {
        let mut mapping = self.get(uuid).await?;
        let _: () = redis::cmd("HDEL")
            .arg(self.key())
            .arg(uuid)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        mapping["State"] = "Deleting".into();
        Ok(mapping)
    }

    /// Runs a consumer for every enabled mapping until `stop` completes, starting new
    /// mappings and stopping deleted ones as they change on Redis (checked twice a second).
    /// After `stop` it returns once every consumer has finished the batches it had in hand.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(m: weir_serve::RedisMappings) {
    /// m.supervise(tokio::time::sleep(std::time::Duration::from_secs(1))).await;
    /// # }
    /// ```
    pub async fn supervise(&self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut running: HashMap<String, (Arc<Notify>, tokio::task::JoinHandle<()>)> =
            HashMap::new();
        let consumer = format!("weir-{}-{}", std::process::id(), &new_id()[..8]);
        loop {
            if let Ok(stored) = self.stored().await {
                running.retain(|uuid, (stop, _)| {
                    let keep = stored.get(uuid).is_some_and(|m| m["State"] == "Enabled");
                    if !keep {
                        stop.notify_one();
                    }
                    keep
                });
                for (uuid, mapping) in stored {
                    if mapping["State"] != "Enabled" || running.contains_key(&uuid) {
                        continue;
                    }
                    let stop = Arc::new(Notify::new());
                    let this = self.clone();
                    let name = consumer.clone();
                    let notify = stop.clone();
                    let task = tokio::spawn(async move {
                        this.run_mapping(mapping, name, notify, Arc::default())
                            .await
                    });
                    running.insert(uuid, (stop, task));
                }
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        // Each consumer finishes the batches it has in hand (see `StreamConsumer::run` and
        // `QueueConsumer::run`) before this returns.
        for (stop, _) in running.values() {
            stop.notify_one();
        }
        for (_, (_, task)) in running {
            let _ = task.await;
        }
    }

    pub(crate) async fn run_mapping(
        &self,
        mapping: Value,
        consumer: String,
        stop: Arc<Notify>,
        counters: Arc<MappingCounters>,
    ) {
        let Some((source, name)) =
            source_of(mapping["EventSourceArn"].as_str().unwrap_or_default())
        else {
            return;
        };
        let function_arn = mapping["FunctionArn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let function = function_arn
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_string();
        // The consumers invoke through the invoker (its errors mean the function never ran);
        // this handler is never called.
        let handler: Arc<dyn Handler> = Arc::new(|_| async { Outcome::Success(Vec::new()) });
        let filter = mapping
            .get("FilterCriteria")
            .and_then(|fc| FilterCriteria::parse(&fc.to_string()).ok());
        let report = mapping["FunctionResponseTypes"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "ReportBatchItemFailures"));
        let batch_size = mapping["BatchSize"].as_u64().unwrap_or(10) as usize;
        let window = Duration::from_secs(
            mapping["MaximumBatchingWindowInSeconds"]
                .as_u64()
                .unwrap_or(0),
        );
        let mut backoff = Duration::from_millis(100);
        // Connecting is retried: Redis may be restarting.
        loop {
            let result = match source {
                Source::Sqs => match self.queue(&name).await {
                    Ok(queue) => {
                        let mut config = QueueMappingConfig::new(function_arn.clone());
                        config.batch_size = batch_size;
                        config.maximum_batching_window = window;
                        config.filter_criteria = filter.clone();
                        config.report_batch_item_failures = report;
                        config.timeout = INVOKE_TIMEOUT;
                        config.region = self.region.clone();
                        let consumer =
                            QueueConsumer::new(queue, consumer.clone(), config, handler.clone())
                                .through(self.invoker.clone(), function.clone())
                                .with_counters(counters.clone());
                        consumer.run(stop.notified()).await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                _ => match RedisStream::open(&self.url, &name).await {
                    Ok(stream) => {
                        let uuid = mapping["UUID"].as_str().unwrap_or_default();
                        let mut config = StreamMappingConfig::new(uuid, function_arn.clone());
                        config.prefix = self.prefix.clone();
                        config.batch_size = batch_size;
                        config.maximum_batching_window = window;
                        config.filter_criteria = filter.clone();
                        config.report_batch_item_failures = report;
                        config.maximum_retry_attempts =
                            mapping["MaximumRetryAttempts"].as_i64().unwrap_or(-1);
                        config.maximum_record_age = mapping["MaximumRecordAgeInSeconds"]
                            .as_u64()
                            .map(Duration::from_secs);
                        config.bisect_batch_on_function_error =
                            mapping["BisectBatchOnFunctionError"].as_bool() == Some(true);
                        config.parallelization_factor =
                            mapping["ParallelizationFactor"].as_u64().unwrap_or(1) as usize;
                        config.on_failure = mapping["DestinationConfig"]["OnFailure"]
                            ["Destination"]
                            .as_str()
                            .and_then(source_of)
                            .map(|(_, n)| n);
                        config.timeout = INVOKE_TIMEOUT;
                        config.region = self.region.clone();
                        let consumer =
                            StreamConsumer::new(stream, consumer.clone(), config, handler.clone())
                                .through(self.invoker.clone(), function.clone())
                                .with_counters(counters.clone());
                        consumer.run(stop.notified()).await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            };
            if result.is_ok() {
                return;
            }
            tokio::select! {
                _ = stop.notified() => return,
                _ = tokio::time::sleep(backoff) => backoff = (backoff * 2).min(Duration::from_secs(5)),
            }
        }
    }

    /// The queue `name`, with the attributes stored for it.
    async fn queue(&self, name: &str) -> Result<RedisQueue, redis::RedisError> {
        let attributes: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("{}:queues:{name}", self.prefix))
            .query_async(&mut self.conn.clone())
            .await?;
        let mut config = RedisQueueConfig::new(name).group(format!("{}-mappings", self.prefix));
        if let Some(seconds) = attributes
            .get("VisibilityTimeout")
            .and_then(|v| v.parse().ok())
        {
            config = config.visibility_timeout(Duration::from_secs(seconds));
        }
        if let (Some(count), Some(target)) = (
            attributes
                .get("maxReceiveCount")
                .and_then(|v| v.parse().ok()),
            attributes
                .get("deadLetterTargetArn")
                .and_then(|a| source_of(a)),
        ) {
            config = config.max_receive_count(count, target.1);
        }
        RedisQueue::connect(&self.url, config).await
    }
}
