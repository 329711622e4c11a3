//! Event source mappings: a queue or a stream polled, its records filtered, batched and
//! handed to a function, with Lambda's parameters, limits and failure handling.
//!
//! The rules (DESIGN.md has them in full):
//! - Records are filtered one by one before batching (`FilterCriteria`, with the source's
//!   record rules from [`weir::lambda`]); a batch holds only matching records, and a poll
//!   whose records are all filtered out invokes nothing. Filtered queue messages are deleted;
//!   a stream's position moves past filtered records.
//! - A batch is sent when it holds `BatchSize` records, when its payload would pass 6 MB, or
//!   `MaximumBatchingWindowInSeconds` after its first record arrived (at once when 0).
//! - Queue: a successful batch's messages are deleted; a failed one's come back after the
//!   visibility timeout (and move to the queue's dead-letter queue after `maxReceiveCount`
//!   receives). With `ReportBatchItemFailures` only the messages the response names stay.
//! - Stream: per shard in order; with `ParallelizationFactor` N, N batches of one shard run
//!   at once, each partition key always in the same one, so order holds per key. A failing
//!   batch blocks its key range until it succeeds, `MaximumRetryAttempts` is used up, or its
//!   records are `MaximumRecordAgeInSeconds` old; then its batch record goes to
//!   `DestinationConfig.OnFailure` and processing moves on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use weir::lambda::{FilterCriteria, RecordVerdict, Source};

use crate::clock::{iso8601, new_id};
use crate::error::{ValidationError, Violations};
use crate::function::Target;
use crate::handler::Outcome;
use crate::metrics::{add, MappingCounters};
use crate::queue::{Queue, ReceivedMessage};
use crate::router::{
    push_json_str, register_mapping, Attempt, Busy, Function, Router, MAX_SYNC_PAYLOAD,
};
use crate::stream::{Stream, StreamRecord};

/// An event source mapping's parameters, named and typed as `CreateEventSourceMapping`
/// takes them (numbers as given, so out-of-range values get AWS's messages). `None` means
/// "not given": Lambda's default for the source applies.
///
/// # Example
/// ```
/// use weir_route::EventSourceMappingConfig;
/// let mut config = EventSourceMappingConfig::new("process", "arn:aws:sqs:us-east-1:000000000000:orders");
/// config.batch_size = Some(5);
/// config.filter_criteria = Some(r#"{"Filters": [{"Pattern": "{\"body\": {\"ok\": [true]}}"}]}"#.into());
/// assert_eq!(config.batch_size, Some(5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventSourceMappingConfig {
    /// `FunctionName`: the function's name or ARN.
    pub function_name: String,
    /// `EventSourceArn`: a queue (`arn:aws:sqs:...`) or a stream (`arn:aws:kinesis:...`).
    pub event_source_arn: String,
    /// `Enabled` (default true): a disabled mapping polls nothing.
    pub enabled: bool,
    /// `BatchSize` (1-10000; default 10 for queues, 100 for streams).
    pub batch_size: Option<i64>,
    /// `MaximumBatchingWindowInSeconds` (0-300, default 0).
    pub maximum_batching_window_in_seconds: Option<i64>,
    /// `FilterCriteria` as JSON text (`{"Filters": [{"Pattern": "..."}]}`).
    pub filter_criteria: Option<String>,
    /// `FunctionResponseTypes` (only `ReportBatchItemFailures`).
    pub function_response_types: Vec<String>,
    /// `BisectBatchOnFunctionError` (streams).
    pub bisect_batch_on_function_error: Option<bool>,
    /// `MaximumRetryAttempts` (streams; -1 = until the record expires, or 0-10000).
    pub maximum_retry_attempts: Option<i64>,
    /// `MaximumRecordAgeInSeconds` (streams; -1 = no limit, or 60-604800).
    pub maximum_record_age_in_seconds: Option<i64>,
    /// `ParallelizationFactor` (streams; 1-10).
    pub parallelization_factor: Option<i64>,
    /// `StartingPosition` (streams; `TRIM_HORIZON` or `LATEST`; required).
    pub starting_position: Option<String>,
    /// `DestinationConfig.OnFailure.Destination` (streams): an ARN.
    pub on_failure: Option<String>,
    /// `ScalingConfig.MaximumConcurrency` (queues; 2-1000).
    pub maximum_concurrency: Option<i64>,
}

impl EventSourceMappingConfig {
    /// A mapping from `event_source_arn` to `function_name` with every parameter left to
    /// its default.
    ///
    /// # Example
    /// ```
    /// let c = weir_route::EventSourceMappingConfig::new("f", "arn:aws:kinesis:us-east-1:000000000000:stream/s");
    /// assert!(c.enabled);
    /// ```
    pub fn new(function_name: impl Into<String>, event_source_arn: impl Into<String>) -> Self {
        EventSourceMappingConfig {
            function_name: function_name.into(),
            event_source_arn: event_source_arn.into(),
            enabled: true,
            batch_size: None,
            maximum_batching_window_in_seconds: None,
            filter_criteria: None,
            function_response_types: Vec::new(),
            bisect_batch_on_function_error: None,
            maximum_retry_attempts: None,
            maximum_record_age_in_seconds: None,
            parallelization_factor: None,
            starting_position: None,
            on_failure: None,
            maximum_concurrency: None,
        }
    }
}

/// The checked settings of a mapping.
#[derive(Debug, Clone)]
struct Settings {
    batch_size: usize,
    window: Duration,
    report_item_failures: bool,
    bisect: bool,
    max_retries: Option<u32>,
    max_age: Option<Duration>,
    parallelization: usize,
    latest: bool,
    on_failure: Option<Target>,
    max_concurrency: Option<usize>,
}

enum SourceKind {
    Queue(Queue),
    Stream(Stream),
}

/// What a checked mapping is made of.
type Checked = (
    Arc<Function>,
    SourceKind,
    Settings,
    Option<Arc<FilterCriteria>>,
);

fn validate(router: &Router, c: &EventSourceMappingConfig) -> Result<Checked, ValidationError> {
    let mut v = Violations::default();
    v.range("batchSize", c.batch_size, 1, 10_000);
    v.range(
        "maximumBatchingWindowInSeconds",
        c.maximum_batching_window_in_seconds,
        0,
        300,
    );
    v.range("maximumRetryAttempts", c.maximum_retry_attempts, -1, 10_000);
    v.range(
        "maximumRecordAgeInSeconds",
        c.maximum_record_age_in_seconds,
        -1,
        604_800,
    );
    v.range("parallelizationFactor", c.parallelization_factor, 1, 10);
    v.range(
        "scalingConfig.maximumConcurrency",
        c.maximum_concurrency,
        2,
        1000,
    );
    if c.function_response_types
        .iter()
        .any(|t| t != "ReportBatchItemFailures")
    {
        v.push(format!(
            "Value '[{}]' at 'functionResponseTypes' failed to satisfy constraint: Member must \
             satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures]]",
            c.function_response_types.join(", ")
        ));
    }
    if let Some(p) = &c.starting_position {
        if p != "TRIM_HORIZON" && p != "LATEST" && p != "AT_TIMESTAMP" {
            v.push(format!(
                "Value '{p}' at 'startingPosition' failed to satisfy constraint: Member must \
                 satisfy enum value set: [AT_TIMESTAMP, LATEST, TRIM_HORIZON]"
            ));
        }
    }
    v.finish()?;

    let name = c
        .function_name
        .strip_prefix("arn:")
        .and_then(|_| c.function_name.parse::<Target>().ok())
        .map_or_else(|| c.function_name.clone(), |t| t.name().to_string());
    let function = router.function(&name).ok_or_else(|| {
        ValidationError::not_found(format!(
            "Function not found: {}",
            router.function_arn(&name)
        ))
    })?;
    let source = match c.event_source_arn.parse::<Target>() {
        Ok(Target::Queue(q)) => SourceKind::Queue(router.queue(&q).ok_or_else(|| {
            ValidationError::invalid_parameter(format!(
                "Invalid request provided: the queue {} does not exist",
                c.event_source_arn
            ))
        })?),
        Ok(Target::Stream(s)) => SourceKind::Stream(router.stream(&s).ok_or_else(|| {
            ValidationError::invalid_parameter(format!("Stream not found: {}", c.event_source_arn))
        })?),
        _ => {
            return Err(ValidationError::invalid_parameter(format!(
                "Unrecognized event source {:?}: weir maps queues (arn:aws:sqs:...) and streams \
                 (arn:aws:kinesis:...)",
                c.event_source_arn
            )))
        }
    };
    let is_queue = matches!(source, SourceKind::Queue(_));
    let window = c.maximum_batching_window_in_seconds.unwrap_or(0);
    let batch_size = c.batch_size.unwrap_or(if is_queue { 10 } else { 100 });
    let unsupported = |param: &str, kind: &str| {
        Err(ValidationError::invalid_parameter(format!(
            "Unsupported {param} parameter for the {kind} event source type"
        )))
    };
    if let SourceKind::Queue(queue) = &source {
        let visibility = queue.0.config.visibility_timeout.as_secs();
        let timeout = function.config.timeout.as_secs();
        if visibility < timeout {
            return Err(ValidationError::invalid_parameter(format!(
                "Queue visibility timeout: {visibility} seconds is less than Function timeout: \
                 {timeout} seconds"
            )));
        }
    }
    if is_queue {
        if batch_size > 10 && window < 1 {
            return Err(ValidationError::invalid_parameter(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size is \
                 greater than 10",
            ));
        }
        for (given, param) in [
            (
                c.bisect_batch_on_function_error.is_some(),
                "BisectBatchOnFunctionError",
            ),
            (c.maximum_retry_attempts.is_some(), "MaximumRetryAttempts"),
            (
                c.maximum_record_age_in_seconds.is_some(),
                "MaximumRecordAgeInSeconds",
            ),
            (c.parallelization_factor.is_some(), "ParallelizationFactor"),
            (c.starting_position.is_some(), "StartingPosition"),
            (c.on_failure.is_some(), "DestinationConfig"),
        ] {
            if given {
                return unsupported(param, "SQS");
            }
        }
    } else {
        if c.maximum_concurrency.is_some() {
            return unsupported("ScalingConfig", "Kinesis");
        }
        match c.starting_position.as_deref() {
            None => {
                return Err(ValidationError::invalid_parameter(
                    "1 validation error detected: Value null at 'startingPosition' failed to \
                     satisfy constraint: Member must not be null",
                )
                .with_type("ValidationException"))
            }
            Some("AT_TIMESTAMP") => {
                return Err(ValidationError::invalid_parameter(
                    "StartingPosition AT_TIMESTAMP needs StartingPositionTimestamp, which weir \
                     does not take: use TRIM_HORIZON or LATEST",
                ))
            }
            _ => {}
        }
        if let Some(age) = c.maximum_record_age_in_seconds {
            if (0..60).contains(&age) {
                return Err(ValidationError::invalid_parameter(format!(
                    "MaximumRecordAgeInSeconds must be -1 or between 60 and 604800, not {age}"
                )));
            }
        }
    }
    let on_failure = match &c.on_failure {
        Some(arn) => {
            let target: Target = arn.parse()?;
            if !router.target_exists(&target) {
                return Err(ValidationError::not_found(format!(
                    "the on-failure destination {arn} does not exist"
                )));
            }
            Some(target)
        }
        None => None,
    };
    let filter = match &c.filter_criteria {
        Some(text) => {
            let criteria = FilterCriteria::parse_with(
                text,
                &router.pattern_options(),
                weir::lambda::DEFAULT_MAX_FILTERS,
            )
            .map_err(|e| {
                ValidationError::invalid_parameter(format!(
                    "Invalid filter pattern definition. {}{}",
                    e.filter()
                        .map_or_else(String::new, |i| format!("Filter {i}: ")),
                    e.reason()
                ))
            })?;
            let source = if is_queue {
                Source::Sqs
            } else {
                Source::Kinesis
            };
            criteria.check_for(source).map_err(|e| {
                ValidationError::invalid_parameter(format!(
                    "Invalid filter pattern definition. {}",
                    e.reason()
                ))
            })?;
            Some(Arc::new(criteria))
        }
        None => None,
    };
    let settings = Settings {
        batch_size: batch_size as usize,
        window: Duration::from_secs(window as u64),
        report_item_failures: !c.function_response_types.is_empty(),
        bisect: c.bisect_batch_on_function_error.unwrap_or(false),
        max_retries: c
            .maximum_retry_attempts
            .filter(|n| *n >= 0)
            .map(|n| n as u32),
        max_age: c
            .maximum_record_age_in_seconds
            .filter(|n| *n >= 0)
            .map(|n| Duration::from_secs(n as u64)),
        parallelization: c.parallelization_factor.unwrap_or(1) as usize,
        latest: c.starting_position.as_deref() == Some("LATEST"),
        on_failure,
        max_concurrency: c.maximum_concurrency.map(|n| n as usize),
    };
    Ok((function, source, settings, filter))
}

impl Router {
    /// Creates an event source mapping and starts it polling; returns its UUID. Must be
    /// called inside a tokio runtime. The parameters are checked as
    /// `CreateEventSourceMapping` checks them, with AWS's messages.
    ///
    /// # Example
    /// ```
    /// use weir_route::{EventSourceMappingConfig, FunctionConfig, Invocation, Outcome, QueueConfig, Router};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let router = Router::new();
    /// router.create_function(FunctionConfig::new("f"), |_: Invocation| async { Outcome::Success(vec![]) })?;
    /// let queue = router.create_queue(QueueConfig::new("q"))?;
    /// let mut config = EventSourceMappingConfig::new("f", queue.arn());
    /// config.batch_size = Some(20);
    /// let err = router.create_event_source_mapping(config).unwrap_err();
    /// assert_eq!(err.message(), "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10");
    ///
    /// let uuid = router.create_event_source_mapping(EventSourceMappingConfig::new("f", queue.arn()))?;
    /// queue.send(r#"{"n": 1}"#);
    /// router.wait_idle().await;
    /// assert_eq!(router.mapping_metrics(&uuid).unwrap().deleted, 1);
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create_event_source_mapping(
        &self,
        config: EventSourceMappingConfig,
    ) -> Result<String, ValidationError> {
        let (function, source, settings, filter) = validate(self, &config)?;
        let uuid = new_id();
        match source {
            SourceKind::Queue(queue) => {
                let inflight = Arc::new(AtomicUsize::new(0));
                let idle_queue = queue.clone();
                let idle_inflight = inflight.clone();
                let enabled = config.enabled;
                let counters = register_mapping(
                    self,
                    uuid.clone(),
                    Box::new(move || {
                        !enabled
                            || (idle_queue.is_empty() && idle_inflight.load(Ordering::Acquire) == 0)
                    }),
                );
                if config.enabled {
                    let mapping = Arc::new(QueueMapping {
                        router: self.clone(),
                        function,
                        queue,
                        settings,
                        filter,
                        counters,
                        inflight,
                    });
                    tokio::spawn(run_queue(mapping));
                }
            }
            SourceKind::Stream(stream) => {
                let shards = stream.0.shards.len();
                let start: Vec<usize> = (0..shards)
                    .map(|s| {
                        if settings.latest {
                            stream.shard_len(s)
                        } else {
                            0
                        }
                    })
                    .collect();
                let positions: Arc<Vec<AtomicUsize>> =
                    Arc::new(start.iter().map(|p| AtomicUsize::new(*p)).collect());
                let pending = Arc::new(AtomicUsize::new(0));
                let (idle_stream, idle_positions, idle_pending) =
                    (stream.clone(), positions.clone(), pending.clone());
                let enabled = config.enabled;
                let counters = register_mapping(
                    self,
                    uuid.clone(),
                    Box::new(move || {
                        !enabled
                            || (idle_pending.load(Ordering::Acquire) == 0
                                && (0..idle_positions.len()).all(|s| {
                                    idle_positions[s].load(Ordering::Acquire)
                                        >= idle_stream.shard_len(s)
                                }))
                    }),
                );
                if config.enabled {
                    let mapping = Arc::new(StreamMapping {
                        router: self.clone(),
                        function,
                        stream,
                        settings,
                        filter,
                        counters,
                        positions,
                        pending,
                    });
                    for shard in 0..shards {
                        tokio::spawn(read_shard(mapping.clone(), shard));
                    }
                }
            }
        }
        Ok(uuid)
    }
}

/// How a partial batch response reads, given the ids of the batch's records.
///
/// A response means the whole batch succeeded when it is empty, `null`, an object without
/// `batchItemFailures`, or with `batchItemFailures` null or empty. It fails the whole batch
/// when it is not JSON, when it is JSON but not an object (a string, a number, an array, a
/// boolean), when `batchItemFailures` is not an array, or when an entry is not an object whose
/// `itemIdentifier` is a non-empty string naming a record of the batch. Otherwise the
/// entries name the failed records.
///
/// # Example
/// ```
/// use weir_route::mapping::{parse_batch_item_failures, BatchResponse};
/// let ids = ["a", "b", "c"];
/// assert_eq!(parse_batch_item_failures(b"", &ids), BatchResponse::Failed(vec![]));
/// assert_eq!(
///     parse_batch_item_failures(br#"{"batchItemFailures": [{"itemIdentifier": "b"}]}"#, &ids),
///     BatchResponse::Failed(vec![1])
/// );
/// assert_eq!(
///     parse_batch_item_failures(br#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#, &ids),
///     BatchResponse::Invalid
/// );
/// assert_eq!(parse_batch_item_failures(br#""done""#, &ids), BatchResponse::Invalid);
/// ```
pub fn parse_batch_item_failures(response: &[u8], ids: &[&str]) -> BatchResponse {
    let text = String::from_utf8_lossy(response);
    if text.trim().is_empty() {
        return BatchResponse::Failed(Vec::new());
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return BatchResponse::Invalid;
    };
    let object = match &value {
        serde_json::Value::Null => return BatchResponse::Failed(Vec::new()),
        serde_json::Value::Object(o) => o,
        // A string, number, array or boolean cannot name failed items: not a valid response.
        _ => return BatchResponse::Invalid,
    };
    let Some(failures) = object.get("batchItemFailures") else {
        return BatchResponse::Failed(Vec::new());
    };
    let items = match failures {
        serde_json::Value::Null => return BatchResponse::Failed(Vec::new()),
        serde_json::Value::Array(items) => items,
        _ => return BatchResponse::Invalid,
    };
    let mut failed = Vec::with_capacity(items.len());
    for item in items {
        let id = item
            .as_object()
            .and_then(|o| o.get("itemIdentifier"))
            .and_then(|v| v.as_str());
        let Some(index) = id
            .filter(|id| !id.is_empty())
            .and_then(|id| ids.iter().position(|x| *x == id))
        else {
            return BatchResponse::Invalid;
        };
        if !failed.contains(&index) {
            failed.push(index);
        }
    }
    failed.sort_unstable();
    BatchResponse::Failed(failed)
}

/// What a response under `ReportBatchItemFailures` says ([`parse_batch_item_failures`]).
///
/// # Example
/// ```
/// use weir_route::mapping::{parse_batch_item_failures, BatchResponse};
/// assert_eq!(parse_batch_item_failures(b"null", &["a"]), BatchResponse::Failed(vec![]));
/// assert_eq!(parse_batch_item_failures(b"{oops", &["a"]), BatchResponse::Invalid);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchResponse {
    /// The indexes (in the batch, ascending) of the failed records; empty: all succeeded.
    Failed(Vec<usize>),
    /// The response cannot be read: the whole batch failed.
    Invalid,
}

/// Whether each record passes the filter (all do without one), evaluated as one batch so
/// the decoding and matching buffers are reused.
fn verdicts(
    filter: &Option<Arc<FilterCriteria>>,
    source: Source,
    records: &[String],
    work: &mut Vec<RecordVerdict>,
) -> Vec<bool> {
    match filter {
        None => vec![true; records.len()],
        Some(f) => {
            f.evaluate_batch(source, records.iter().map(|r| r.as_bytes()), work);
            work.iter()
                .map(|v| *v == RecordVerdict::Delivered)
                .collect()
        }
    }
}

/// The event `{"Records": [...]}` of a batch.
fn batch_event<'a>(records: impl Iterator<Item = &'a str>, size: usize) -> Vec<u8> {
    let mut out = String::with_capacity(size + 16);
    out.push_str(r#"{"Records":["#);
    for (i, r) in records.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r);
    }
    out.push_str("]}");
    out.into_bytes()
}

/// The bytes `{"Records":[` and `]}` add to a batch, plus a comma per record.
const ENVELOPE: usize = 14;

// ---------------------------------------------------------------------------------------
// Queues

struct QueueMapping {
    router: Router,
    function: Arc<Function>,
    queue: Queue,
    settings: Settings,
    filter: Option<Arc<FilterCriteria>>,
    counters: Arc<MappingCounters>,
    inflight: Arc<AtomicUsize>,
}

struct QueueItem {
    message: ReceivedMessage,
    record: String,
}

fn sqs_record(m: &QueueMapping, message: &ReceivedMessage) -> String {
    use md5::{Digest, Md5};
    let mut out = String::with_capacity(message.body.len() + 512);
    out.push_str(r#"{"messageId":"#);
    push_json_str(&mut out, &message.message_id);
    out.push_str(r#","receiptHandle":"#);
    push_json_str(&mut out, &message.receipt_handle);
    out.push_str(r#","body":"#);
    push_json_str(&mut out, &message.body);
    out.push_str(&format!(
        r#","attributes":{{"ApproximateReceiveCount":"{}","SentTimestamp":"{}","SenderId":"{}","ApproximateFirstReceiveTimestamp":"{}"}}"#,
        message.receive_count, message.sent_timestamp, m.router.0.account, message.first_receive_timestamp
    ));
    out.push_str(r#","messageAttributes":{"#);
    for (i, (k, v)) in message.message_attributes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(&mut out, k);
        out.push_str(r#":{"stringValue":"#);
        push_json_str(&mut out, v);
        out.push_str(r#","stringListValues":[],"binaryListValues":[],"dataType":"String"}"#);
    }
    let md5 = Md5::digest(message.body.as_bytes());
    out.push_str(r#"},"md5OfBody":""#);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in md5 {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out.push_str(r#"","eventSource":"aws:sqs","eventSourceARN":"#);
    push_json_str(&mut out, m.queue.arn());
    out.push_str(r#","awsRegion":"#);
    push_json_str(&mut out, &m.router.0.region);
    out.push('}');
    out
}

async fn run_queue(m: Arc<QueueMapping>) {
    let limit = m
        .settings
        .max_concurrency
        .or(m
            .function
            .config
            .reserved_concurrency
            .map(|n| n.max(1) as usize))
        .unwrap_or(1000);
    let slots = Arc::new(Semaphore::new(limit));
    let mut carry: Option<QueueItem> = None;
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = m.router.until_stopped() => return,
        };
        let batch = tokio::select! {
            b = collect_queue_batch(&m, &mut carry) => b,
            _ = m.router.until_stopped() => return,
        };
        if batch.is_empty() {
            continue;
        }
        m.inflight.fetch_add(1, Ordering::AcqRel);
        let busy = m.router.busy();
        let mapping = m.clone();
        tokio::spawn(async move {
            run_queue_batch(&mapping, batch, busy).await;
            drop(permit);
        });
    }
}

async fn collect_queue_batch(m: &QueueMapping, carry: &mut Option<QueueItem>) -> Vec<QueueItem> {
    let size = m.settings.batch_size;
    let mut batch: Vec<QueueItem> = Vec::new();
    let mut bytes = ENVELOPE;
    let mut deadline: Option<Instant> = None;
    let mut work = Vec::new();
    if let Some(item) = carry.take() {
        bytes += item.record.len() + 1;
        batch.push(item);
        deadline = Some(Instant::now() + m.settings.window);
    }
    loop {
        if batch.len() < size {
            let received = m.queue.receive(size - batch.len());
            // Busy until the poll's messages are counted: a filtered message leaves the
            // queue before its counters move, and the router must not look idle between.
            let _counting = (!received.is_empty()).then(|| m.router.busy());
            add(&m.counters.polled, received.len());
            let records: Vec<String> = received.iter().map(|msg| sqs_record(m, msg)).collect();
            let verdicts = verdicts(&m.filter, Source::Sqs, &records, &mut work);
            for ((message, record), pass) in received.into_iter().zip(records).zip(verdicts) {
                if !pass {
                    add(&m.counters.filtered_out, 1);
                    if m.queue.delete(&message.receipt_handle) {
                        add(&m.counters.deleted, 1);
                    }
                    continue;
                }
                // A message that came back while the batch was gathering (its visibility
                // timeout ended) is in the batch once, with its latest receipt.
                if let Some(held) = batch
                    .iter_mut()
                    .find(|i| i.message.message_id == message.message_id)
                {
                    bytes = bytes + record.len() - held.record.len();
                    *held = QueueItem { message, record };
                    continue;
                }
                let item = QueueItem { message, record };
                if !batch.is_empty() && bytes + item.record.len() + 1 > MAX_SYNC_PAYLOAD {
                    *carry = Some(item);
                    return batch;
                }
                bytes += item.record.len() + 1;
                batch.push(item);
                if deadline.is_none() {
                    deadline = Some(Instant::now() + m.settings.window);
                }
            }
        }
        if batch.len() >= size {
            return batch;
        }
        match deadline {
            Some(at) if Instant::now() >= at => return batch,
            Some(at) => {
                tokio::select! {
                    _ = m.queue.wait_visible() => {}
                    _ = tokio::time::sleep_until(at) => {}
                }
            }
            None => m.queue.wait_visible().await,
        }
    }
}

async fn run_queue_batch(m: &QueueMapping, batch: Vec<QueueItem>, _busy: Busy) {
    let n = batch.len();
    let size: usize = batch.iter().map(|i| i.record.len() + 1).sum();
    let event = batch_event(batch.iter().map(|i| i.record.as_str()), size);
    add(&m.counters.invoked, n);
    let request_id = new_id();
    let keep: Vec<usize> = match m.router.execute(&m.function, event, &request_id).await {
        Attempt::Ran(Outcome::Success(response)) if m.settings.report_item_failures => {
            let ids: Vec<&str> = batch
                .iter()
                .map(|i| i.message.message_id.as_str())
                .collect();
            match parse_batch_item_failures(&response, &ids) {
                BatchResponse::Failed(failed) => failed,
                BatchResponse::Invalid => (0..n).collect(),
            }
        }
        Attempt::Ran(Outcome::Success(_)) => Vec::new(),
        Attempt::Ran(Outcome::Error(_)) | Attempt::Throttled | Attempt::NotReady => {
            (0..n).collect()
        }
    };
    add(&m.counters.failed_invoke, keep.len());
    for (i, item) in batch.iter().enumerate() {
        if keep.binary_search(&i).is_err() && m.queue.delete(&item.message.receipt_handle) {
            add(&m.counters.deleted, 1);
        }
    }
    m.inflight.fetch_sub(1, Ordering::AcqRel);
}

// ---------------------------------------------------------------------------------------
// Streams

struct StreamMapping {
    router: Router,
    function: Arc<Function>,
    stream: Stream,
    settings: Settings,
    filter: Option<Arc<FilterCriteria>>,
    counters: Arc<MappingCounters>,
    positions: Arc<Vec<AtomicUsize>>,
    /// Matching records handed to a slot and not yet done with.
    pending: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct StreamItem {
    record: Arc<StreamRecord>,
    json: Arc<str>,
}

fn kinesis_record(m: &StreamMapping, shard: usize, r: &StreamRecord) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(&r.data);
    let mut out = String::with_capacity(data.len() + 512);
    out.push_str(r#"{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"#);
    push_json_str(&mut out, &r.partition_key);
    out.push_str(r#","sequenceNumber":"#);
    push_json_str(&mut out, &r.sequence_number);
    out.push_str(r#","data":"#);
    push_json_str(&mut out, &data);
    out.push_str(&format!(
        r#","approximateArrivalTimestamp":{}.{:03}}}"#,
        r.arrival_ms / 1000,
        r.arrival_ms % 1000
    ));
    out.push_str(r#","eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"#);
    push_json_str(
        &mut out,
        &format!("{}:{}", m.stream.0.shards[shard].id, r.sequence_number),
    );
    out.push_str(r#","eventName":"aws:kinesis:record","invokeIdentityArn":"#);
    push_json_str(
        &mut out,
        &format!("arn:aws:iam::{}:role/weir", m.router.0.account),
    );
    out.push_str(r#","awsRegion":"#);
    push_json_str(&mut out, &m.router.0.region);
    out.push_str(r#","eventSourceARN":"#);
    push_json_str(&mut out, m.stream.arn());
    out.push('}');
    out
}

/// Which of a shard's parallel batches a partition key belongs to.
fn slot_of(partition_key: &str, slots: usize) -> usize {
    use md5::{Digest, Md5};
    let hash = Md5::digest(partition_key.as_bytes());
    (u64::from_be_bytes([
        hash[8], hash[9], hash[10], hash[11], hash[12], hash[13], hash[14], hash[15],
    ]) % slots as u64) as usize
}

async fn read_shard(m: Arc<StreamMapping>, shard: usize) {
    let mut senders = Vec::with_capacity(m.settings.parallelization);
    for _ in 0..m.settings.parallelization {
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        tokio::spawn(run_slot(m.clone(), shard, rx));
    }
    let mut position = m.positions[shard].load(Ordering::Acquire);
    let mut work = Vec::new();
    loop {
        let records = m.stream.read(shard, position, 1000);
        if records.is_empty() {
            tokio::select! {
                _ = m.stream.wait_beyond(shard, position) => {}
                _ = m.router.until_stopped() => return,
            }
            if m.stream.is_closed() && m.stream.shard_len(shard) <= position {
                // Nothing more will come; the slots end when their senders drop.
                return;
            }
            continue;
        }
        add(&m.counters.polled, records.len());
        let jsons: Vec<String> = records
            .iter()
            .map(|r| kinesis_record(&m, shard, r))
            .collect();
        let passing = verdicts(&m.filter, Source::Kinesis, &jsons, &mut work);
        for ((record, json), pass) in records.into_iter().zip(jsons).zip(passing) {
            position += 1;
            if pass {
                m.pending.fetch_add(1, Ordering::AcqRel);
                let slot = slot_of(&record.partition_key, senders.len());
                let _ = senders[slot].send(StreamItem {
                    record,
                    json: json.into(),
                });
            } else {
                add(&m.counters.filtered_out, 1);
            }
            m.positions[shard].store(position, Ordering::Release);
        }
        m.router.0.changed.notify_waiters();
    }
}

async fn run_slot(
    m: Arc<StreamMapping>,
    shard: usize,
    mut rx: mpsc::UnboundedReceiver<StreamItem>,
) {
    let mut queue: VecDeque<StreamItem> = VecDeque::new();
    loop {
        if queue.is_empty() {
            let item = tokio::select! {
                item = rx.recv() => item,
                _ = m.router.until_stopped() => return,
            };
            match item {
                Some(item) => queue.push_back(item),
                None => return,
            }
        }
        while let Ok(item) = rx.try_recv() {
            queue.push_back(item);
        }
        if queue.len() < m.settings.batch_size && !m.settings.window.is_zero() {
            let deadline = Instant::now() + m.settings.window;
            while queue.len() < m.settings.batch_size {
                tokio::select! {
                    item = rx.recv() => match item {
                        Some(item) => queue.push_back(item),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = m.router.until_stopped() => return,
                }
            }
        }
        let mut batch = Vec::new();
        let mut bytes = ENVELOPE;
        while batch.len() < m.settings.batch_size {
            let Some(front) = queue.front() else { break };
            if !batch.is_empty() && bytes + front.json.len() + 1 > MAX_SYNC_PAYLOAD {
                break;
            }
            bytes += front.json.len() + 1;
            batch.extend(queue.pop_front());
        }
        let n = batch.len();
        let busy = m.router.busy();
        run_stream_batch(&m, shard, batch).await;
        drop(busy);
        m.pending.fetch_sub(n, Ordering::AcqRel);
        m.router.0.changed.notify_waiters();
    }
}

/// The wait before a stream batch is retried.
const STREAM_RETRY_DELAY: Duration = Duration::from_secs(1);

async fn run_stream_batch(m: &StreamMapping, shard: usize, batch: Vec<StreamItem>) {
    // (records, retries used, invocations made)
    let mut work: VecDeque<(Vec<StreamItem>, u32, u32)> = VecDeque::from([(batch, 0, 0)]);
    while let Some((mut records, retries, invokes)) = work.pop_front() {
        if let Some(max_age) = m.settings.max_age {
            let now = m.router.0.clock.now_ms();
            let old = records
                .iter()
                .take_while(|r| {
                    now.saturating_sub(r.record.arrival_ms) >= max_age.as_millis() as u64
                })
                .count();
            if old > 0 {
                let rest = records.split_off(old);
                give_up(m, shard, &records, "RecordAgeExceeded", invokes, None).await;
                records = rest;
                if records.is_empty() {
                    continue;
                }
            }
        }
        if m.router.stopped() {
            return;
        }
        let n = records.len();
        let size: usize = records.iter().map(|r| r.json.len() + 1).sum();
        let event = batch_event(records.iter().map(|r| &*r.json), size);
        add(&m.counters.invoked, n);
        let request_id = new_id();
        let attempt = m.router.execute(&m.function, event, &request_id).await;
        let invokes = invokes + 1;
        // What to retry, and whether the failure counts against MaximumRetryAttempts.
        let (retry, counts, last): (Vec<StreamItem>, bool, Option<Outcome>) = match attempt {
            Attempt::Ran(Outcome::Success(response)) if m.settings.report_item_failures => {
                let ids: Vec<&str> = records
                    .iter()
                    .map(|r| r.record.sequence_number.as_str())
                    .collect();
                match parse_batch_item_failures(&response, &ids) {
                    BatchResponse::Failed(failed) if failed.is_empty() => continue,
                    BatchResponse::Failed(failed) => {
                        // Retry from the lowest failed sequence number on.
                        let from = failed[0];
                        add(&m.counters.failed_invoke, n - from);
                        if m.settings.bisect && from > 0 {
                            // With bisection on, the batch is split at that record: the rest
                            // is retried at once, using no retry (as a bisection).
                            work.push_front((records.split_off(from), retries, invokes));
                            continue;
                        }
                        (
                            records.split_off(from),
                            true,
                            Some(Outcome::Success(response)),
                        )
                    }
                    BatchResponse::Invalid => {
                        add(&m.counters.failed_invoke, n);
                        (records, true, Some(Outcome::Success(response)))
                    }
                }
            }
            Attempt::Ran(Outcome::Success(_)) => continue,
            Attempt::Ran(Outcome::Error(error)) => {
                add(&m.counters.failed_invoke, n);
                if m.settings.bisect && n > 1 {
                    // Splitting does not use up a retry.
                    let second = records.split_off(n / 2);
                    work.push_front((second, retries, invokes));
                    work.push_front((records, retries, invokes));
                    continue;
                }
                (records, true, Some(Outcome::Error(error)))
            }
            Attempt::Throttled | Attempt::NotReady => {
                add(&m.counters.failed_invoke, n);
                (records, false, None)
            }
        };
        let retries = if counts { retries + 1 } else { retries };
        if counts && m.settings.max_retries.is_some_and(|max| retries > max) {
            give_up(
                m,
                shard,
                &retry,
                "RetryAttemptsExhausted",
                invokes,
                last.as_ref(),
            )
            .await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(STREAM_RETRY_DELAY) => {}
            _ = m.router.until_stopped() => return,
        }
        work.push_front((retry, retries, invokes));
    }
}

/// Drops records, sending their batch's record to the on-failure destination.
async fn give_up(
    m: &StreamMapping,
    shard: usize,
    records: &[StreamItem],
    condition: &str,
    invokes: u32,
    last: Option<&Outcome>,
) {
    let (Some(first), Some(last_record)) = (records.first(), records.last()) else {
        return;
    };
    add(&m.counters.dropped, records.len());
    let Some(target) = &m.settings.on_failure else {
        return;
    };
    let mut out = String::with_capacity(1024);
    out.push_str(r#"{"requestContext":{"requestId":"#);
    push_json_str(&mut out, &new_id());
    out.push_str(r#","functionArn":"#);
    push_json_str(&mut out, &m.function.arn);
    out.push_str(r#","condition":"#);
    push_json_str(&mut out, condition);
    out.push_str(&format!(r#","approximateInvokeCount":{invokes}}}"#));
    if let Some(outcome) = last {
        out.push_str(r#","responseContext":{"statusCode":200,"executedVersion":"$LATEST""#);
        if !outcome.is_success() {
            out.push_str(r#","functionError":"Unhandled""#);
        }
        out.push('}');
    }
    out.push_str(r#","version":"1.0","timestamp":"#);
    push_json_str(&mut out, &iso8601(m.router.0.clock.now_ms()));
    out.push_str(r#","KinesisBatchInfo":{"shardId":"#);
    push_json_str(&mut out, &m.stream.0.shards[shard].id);
    out.push_str(r#","startSequenceNumber":"#);
    push_json_str(&mut out, &first.record.sequence_number);
    out.push_str(r#","endSequenceNumber":"#);
    push_json_str(&mut out, &last_record.record.sequence_number);
    out.push_str(r#","approximateArrivalOfFirstRecord":"#);
    push_json_str(&mut out, &iso8601(first.record.arrival_ms));
    out.push_str(r#","approximateArrivalOfLastRecord":"#);
    push_json_str(&mut out, &iso8601(last_record.record.arrival_ms));
    out.push_str(&format!(r#","batchSize":{}"#, records.len()));
    out.push_str(r#","streamArn":"#);
    push_json_str(&mut out, m.stream.arn());
    out.push_str("}}");
    let record = crate::external::DestinationRecord::new(
        out.into_bytes(),
        first.record.partition_key.clone(),
    );
    if m.router.deliver(target, record).await.is_ok() {
        add(&m.counters.on_failure_delivered, records.len());
    }
}
