//! An event source mapping on a [`RedisQueue`]: poll, filter, batch, invoke, delete, as
//! Lambda's SQS poller does. Several consumers (in one process or many, on one machine or
//! several) share a mapping through the queue's consumer group: each message goes to one of
//! them, and comes back to any of them only after a failure (at-least-once).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::RedisError;
use serde_json::{json, Value};
use weir::lambda::{FilterCriteria, RecordVerdict, Source};
use weir_route::{Handler, Invocation, Outcome};

use crate::aws::{new_id, ACCOUNT};
use crate::functions::{InvocationType, Invoker};
use crate::redis_queue::{QueueMessage, RedisQueue};

/// A mapping's parameters (Lambda's names).
///
/// # Example
/// ```
/// let config = weir_serve::QueueMappingConfig::new("arn:aws:lambda:us-east-1:000000000000:function:f");
/// assert_eq!(config.batch_size, 10);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QueueMappingConfig {
    /// The invoked function's ARN.
    pub function_arn: String,
    /// `BatchSize` (1-10000, default 10).
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds` (0-300, default 0).
    pub maximum_batching_window: Duration,
    /// `FilterCriteria`, parsed.
    pub filter_criteria: Option<FilterCriteria>,
    /// `FunctionResponseTypes: ["ReportBatchItemFailures"]`.
    pub report_batch_item_failures: bool,
    /// The invocation's timeout (the function's `Timeout`).
    pub timeout: Duration,
    /// The region written in records.
    pub region: String,
    /// How many batches one poll may hold and invoke at once (default 1), as Lambda's
    /// several SQS pollers per mapping: a poll reads up to `batch_size * pollers` messages.
    pub pollers: usize,
}

impl QueueMappingConfig {
    /// Lambda's defaults: batches of 10, no window, no filter, 3 s timeout.
    ///
    /// # Example
    /// ```
    /// let c = weir_serve::QueueMappingConfig::new("arn");
    /// assert!(c.filter_criteria.is_none());
    /// ```
    pub fn new(function_arn: impl Into<String>) -> QueueMappingConfig {
        QueueMappingConfig {
            function_arn: function_arn.into(),
            batch_size: 10,
            maximum_batching_window: Duration::ZERO,
            filter_criteria: None,
            report_batch_item_failures: false,
            timeout: Duration::from_secs(3),
            region: "us-east-1".into(),
            pollers: 1,
        }
    }
}

/// Counters with the names of Lambda's mapping metrics.
///
/// # Example
/// ```
/// let m = weir_serve::MappingCounters::default();
/// assert_eq!(m.to_json()["PolledEventCount"], 0);
/// ```
#[derive(Debug, Default)]
pub struct MappingCounters {
    /// `PolledEventCount`: records read from the source.
    pub polled: AtomicU64,
    /// `FilteredOutEventCount`: records no filter matched (or dropped as unmatchable).
    pub filtered_out: AtomicU64,
    /// `InvokedEventCount`: records sent to the function.
    pub invoked: AtomicU64,
    /// `FailedInvokeEventCount`: records of failed invocations (or reported as failed items).
    pub failed_invoke: AtomicU64,
    /// `DeletedEventCount`: records deleted from the queue.
    pub deleted: AtomicU64,
    /// `DroppedEventCount`: records moved to the dead-letter stream (queues) or given up on
    /// (streams: retries exhausted or too old; each batch's record goes to the OnFailure
    /// destination when there is one).
    pub dropped: AtomicU64,
}

impl MappingCounters {
    /// The counters as a JSON object with Lambda's metric names.
    ///
    /// # Example
    /// ```
    /// let m = weir_serve::MappingCounters::default();
    /// assert!(m.to_json().get("DeletedEventCount").is_some());
    /// ```
    pub fn to_json(&self) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "PolledEventCount": get(&self.polled),
            "FilteredOutEventCount": get(&self.filtered_out),
            "InvokedEventCount": get(&self.invoked),
            "FailedInvokeEventCount": get(&self.failed_invoke),
            "DeletedEventCount": get(&self.deleted),
            "DroppedEventCount": get(&self.dropped),
        })
    }
}

/// One consumer of a mapping on a Redis queue.
///
/// # Example
/// ```no_run
/// # async fn demo() -> Result<(), redis::RedisError> {
/// use weir_serve::{QueueConsumer, QueueMappingConfig, RedisQueue, RedisQueueConfig};
/// let queue = RedisQueue::connect("redis://127.0.0.1:7000/", RedisQueueConfig::new("q")).await?;
/// let handler = |_| async { weir_route::Outcome::Success(Vec::new()) };
/// let consumer = QueueConsumer::new(queue, "c1", QueueMappingConfig::new("arn"), std::sync::Arc::new(handler));
/// consumer.poll_once().await?;
/// # Ok(()) }
/// ```
pub struct QueueConsumer {
    queue: RedisQueue,
    name: String,
    config: QueueMappingConfig,
    target: Target,
    counters: Arc<MappingCounters>,
    /// Set while a poll has messages in hand: from then on it runs to its end, even when
    /// asked to stop, so its records are acked and counted (or left pending) as a whole.
    in_batch: std::sync::atomic::AtomicBool,
}

/// What one poll did.
///
/// # Example
/// ```
/// let p = weir_serve::Poll::default();
/// assert_eq!(p.received, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Poll {
    /// Messages received (dead-lettered ones not counted).
    pub received: usize,
    /// Whether the function was invoked.
    pub invoked: bool,
}

impl QueueConsumer {
    /// A consumer named `name` (unique among the group's consumers) invoking `handler`.
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(queue: weir_serve::RedisQueue) {
    /// let handler = |_| async { weir_route::Outcome::Success(Vec::new()) };
    /// let c = weir_serve::QueueConsumer::new(queue, "c1", weir_serve::QueueMappingConfig::new("arn"), std::sync::Arc::new(handler));
    /// # let _ = c; }
    /// ```
    pub fn new(
        queue: RedisQueue,
        name: impl Into<String>,
        config: QueueMappingConfig,
        handler: Arc<dyn Handler>,
    ) -> QueueConsumer {
        QueueConsumer {
            queue,
            name: name.into(),
            config,
            target: Target::Handler(handler),
            counters: Arc::default(),
            in_batch: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The same consumer invoking function `function` through `invoker` instead of its
    /// handler (an invoker's error means the function never ran).
    pub(crate) fn through(mut self, invoker: Arc<dyn Invoker>, function: String) -> Self {
        self.target = Target::Invoker { invoker, function };
        self
    }

    /// The same consumer counting into `counters` (shared with whoever holds them).
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(c: weir_serve::QueueConsumer) {
    /// let counters = std::sync::Arc::new(weir_serve::MappingCounters::default());
    /// let c = c.with_counters(counters.clone());
    /// # let _ = c; }
    /// ```
    pub fn with_counters(mut self, counters: Arc<MappingCounters>) -> Self {
        self.counters = counters;
        self
    }

    /// The consumer's counters (shared: clone the `Arc` to read them while it runs).
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(c: &weir_serve::QueueConsumer) {
    /// let counters = c.counters();
    /// # let _ = counters; }
    /// ```
    pub fn counters(&self) -> Arc<MappingCounters> {
        self.counters.clone()
    }

    /// One poll: receive (up to the batch size, within the batching window), filter,
    /// invoke once for the matching records, delete what succeeded or was filtered out.
    /// Failed records stay pending and come back after the visibility timeout.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(c: weir_serve::QueueConsumer) -> Result<(), redis::RedisError> {
    /// let poll = c.poll_once().await?;
    /// # let _ = poll; Ok(()) }
    /// ```
    pub async fn poll_once(&self) -> Result<Poll, RedisError> {
        let deadline = Instant::now() + self.config.maximum_batching_window;
        let mut messages: Vec<QueueMessage> = Vec::new();
        let window = self.config.maximum_batching_window;
        let capacity = self.config.batch_size * self.config.pollers.max(1);
        loop {
            let room = capacity - messages.len();
            let wait = if window.is_zero() {
                // One receive, waiting a little when the queue is empty.
                Duration::from_millis(200)
            } else {
                deadline.saturating_duration_since(Instant::now())
            };
            let got = self.queue.receive(&self.name, room, wait).await?;
            self.counters
                .dropped
                .fetch_add(got.dead_lettered as u64, Ordering::Relaxed);
            messages.extend(got.messages);
            if messages.len() >= capacity || window.is_zero() || Instant::now() >= deadline {
                break;
            }
        }
        let received = messages.len();
        if received == 0 {
            return Ok(Poll::default());
        }
        self.in_batch.store(true, Ordering::Release);
        let result = self.run_batch(messages, received).await;
        self.in_batch.store(false, Ordering::Release);
        result
    }

    /// The rest of a poll, once `messages` are in hand.
    async fn run_batch(
        &self,
        messages: Vec<QueueMessage>,
        received: usize,
    ) -> Result<Poll, RedisError> {
        self.counters
            .polled
            .fetch_add(received as u64, Ordering::Relaxed);
        let records: Vec<String> = messages.iter().map(|m| self.record(m)).collect();
        // Filtering comes before batching: the batch holds only matching records, and the
        // others are deleted.
        let mut keep = Vec::with_capacity(received);
        let mut delete = Vec::new();
        for (message, record) in messages.iter().zip(&records) {
            let delivered = match &self.config.filter_criteria {
                None => true,
                Some(fc) => fc.evaluate(Source::Sqs, record.as_bytes()) == RecordVerdict::Delivered,
            };
            if delivered {
                keep.push((message, record));
            } else {
                delete.push(message.id.clone());
            }
        }
        self.counters
            .filtered_out
            .fetch_add(delete.len() as u64, Ordering::Relaxed);
        let invoked = !keep.is_empty();
        // Up to `pollers` batches of the matching records (each within the payload limit),
        // invoked at once.
        let mut chunks = Vec::new();
        let mut rest = keep.as_slice();
        while !rest.is_empty() {
            let len = batch_len(rest.iter().map(|(_, r)| r.as_str()), self.config.batch_size);
            let (batch, after) = rest.split_at(len);
            chunks.push(batch);
            rest = after;
        }
        let batches = chunks.into_iter().map(|batch| async move {
            let payload = batch_payload(batch.iter().map(|(_, record)| record.as_str()));
            self.counters
                .invoked
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            let outcome = self.invoke(payload).await;
            let ids: Vec<&str> = batch.iter().map(|(m, _)| m.id.as_str()).collect();
            // A function error, or a batch the function never got (throttled, not ready):
            // its messages stay pending and come back after the visibility timeout, as an
            // SQS batch does.
            let failed: Vec<&str> = match outcome {
                Attempt::Ran(Outcome::Success(response))
                    if self.config.report_batch_item_failures =>
                {
                    batch_item_failures(&response, &ids).unwrap_or_else(|| ids.clone())
                }
                Attempt::Ran(Outcome::Success(_)) => Vec::new(),
                _ => ids.clone(),
            };
            self.counters
                .failed_invoke
                .fetch_add(failed.len() as u64, Ordering::Relaxed);
            batch
                .iter()
                .filter(|(m, _)| !failed.contains(&m.id.as_str()))
                .map(|(m, _)| m.id.clone())
                .collect::<Vec<String>>()
        });
        // While the function runs, the batch's messages (and the filtered ones, deleted at
        // the end) are kept hidden, renewed every third of the visibility timeout: a function
        // may run longer than one visibility timeout without another consumer taking them.
        let held: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
        let every = (self.queue.config().visibility_timeout / 3).max(Duration::from_millis(10));
        let work = crate::redis_async::join_all(batches);
        tokio::pin!(work);
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let results = loop {
            tokio::select! {
                done = &mut work => break done,
                _ = renew.tick() => {
                    // A failed renewal (Redis restarting) is tried again at the next tick.
                    let _ = self.queue.renew(&self.name, &held).await;
                }
            }
        };
        for done in results {
            delete.extend(done);
        }
        let deleted = self.queue.delete_batch(&delete).await?;
        self.counters
            .deleted
            .fetch_add(deleted as u64, Ordering::Relaxed);
        Ok(Poll { received, invoked })
    }

    async fn invoke(&self, payload: Vec<u8>) -> Attempt {
        invoke_within(
            &self.target,
            &self.config.function_arn,
            self.config.timeout,
            payload,
        )
        .await
    }

    /// The SQS record Lambda delivers for a message: its message attributes as
    /// `messageAttributes` (strings), `md5OfBody` the body's MD5 in hex.
    fn record(&self, m: &QueueMessage) -> String {
        let stream = &self.queue.config().stream;
        json!({
            "messageId": m.id,
            "receiptHandle": m.id,
            "body": m.body,
            "attributes": {
                "ApproximateReceiveCount": m.receive_count.to_string(),
                "SentTimestamp": m.sent_timestamp.to_string(),
                "SenderId": ACCOUNT,
                "ApproximateFirstReceiveTimestamp": m.sent_timestamp.to_string(),
            },
            "messageAttributes": m
                .message_attributes
                .iter()
                .map(|(name, value)| {
                    (
                        name.clone(),
                        json!({
                            "stringValue": value,
                            "stringListValues": [],
                            "binaryListValues": [],
                            "dataType": "String",
                        }),
                    )
                })
                .collect::<serde_json::Map<String, Value>>(),
            "md5OfBody": md5_hex(m.body.as_bytes()),
            "eventSource": "aws:sqs",
            "eventSourceARN": format!("arn:aws:sqs:{}:{ACCOUNT}:{stream}", self.config.region),
            "awsRegion": self.config.region,
        })
        .to_string()
    }

    /// Polls until `stop` completes; a Redis error (Redis restarting, say) is waited out
    /// with a backoff, never fatal.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(c: weir_serve::QueueConsumer) {
    /// c.run(tokio::time::sleep(std::time::Duration::from_secs(1))).await;
    /// # }
    /// ```
    pub async fn run(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut backoff = Duration::from_millis(50);
        loop {
            let poll = self.poll_once();
            tokio::pin!(poll);
            tokio::select! {
                _ = &mut stop => {
                    // A poll with messages in hand finishes (acks and counts them); one still
                    // waiting for messages is dropped.
                    if self.in_batch.load(Ordering::Acquire) {
                        let _ = poll.await;
                    }
                    return;
                }
                polled = &mut poll => match polled {
                    Ok(_) => backoff = Duration::from_millis(50),
                    Err(_) => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                },
            }
        }
    }
}

/// The MD5 digest of `bytes`, in lowercase hex.
fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The bytes `{"Records":[` and `]}` add to a batch.
const ENVELOPE: usize = 14;

/// How many of `records` (JSON texts, in order) the next batch takes: at most `batch_size`,
/// and no more than keep its payload within Lambda's 6 MB synchronous limit
/// ([`weir_route::MAX_SYNC_PAYLOAD`]), but always at least one (a record too large alone
/// goes by itself, and the function refuses it).
pub(crate) fn batch_len<'a>(records: impl Iterator<Item = &'a str>, batch_size: usize) -> usize {
    let mut bytes = ENVELOPE;
    let mut len = 0;
    for record in records.take(batch_size.max(1)) {
        if len > 0 && bytes + record.len() + 1 > weir_route::MAX_SYNC_PAYLOAD {
            break;
        }
        bytes += record.len() + 1;
        len += 1;
    }
    len
}

/// The event `{"Records": [...]}` of a batch of records (each a JSON text).
pub(crate) fn batch_payload<'a>(records: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut payload = String::from("{\"Records\":[");
    for (i, record) in records.enumerate() {
        if i > 0 {
            payload.push(',');
        }
        payload.push_str(record);
    }
    payload.push_str("]}");
    payload.into_bytes()
}

/// What a consumer invokes: a handler (the function itself, so every failure is a
/// function error), or a function through an [`Invoker`] (whose errors mean the function
/// never ran).
#[derive(Clone)]
pub(crate) enum Target {
    Handler(Arc<dyn Handler>),
    Invoker {
        invoker: Arc<dyn Invoker>,
        function: String,
    },
}

/// How one attempt at a batch went.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The function ran (and succeeded or failed).
    Ran(Outcome),
    /// The function was never invoked: throttled (`TooManyRequestsException`), not ready,
    /// or the invoker's service error. Lambda retries such a batch without counting a retry
    /// or bisecting it (as the in-memory layer does).
    NotInvoked,
}

/// Invokes `target` with `payload` in a task of its own, as Lambda runs a batch: past
/// `timeout` the task is aborted and the outcome is `Sandbox.Timedout`; a handler that
/// panics is `Runtime.HandlerPanicked`.
pub(crate) async fn invoke_within(
    target: &Target,
    function_arn: &str,
    timeout: Duration,
    payload: Vec<u8>,
) -> Attempt {
    let task = match target {
        Target::Handler(handler) => {
            let invocation = Invocation::new(new_id(), function_arn.to_string(), payload);
            let run = handler.invoke(invocation);
            tokio::spawn(async move { Attempt::Ran(run.await) })
        }
        Target::Invoker { invoker, function } => {
            let call = invoker.invoke(function, InvocationType::RequestResponse, payload);
            tokio::spawn(async move {
                match call.await {
                    Ok(Some(outcome)) => Attempt::Ran(outcome),
                    Ok(None) => Attempt::Ran(Outcome::Success(Vec::new())),
                    Err(_) => Attempt::NotInvoked,
                }
            })
        }
    };
    let abort = task.abort_handle();
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(attempt)) => attempt,
        Ok(Err(_)) => Attempt::Ran(Outcome::Error(weir_route::FunctionError::new(
            "Runtime.HandlerPanicked",
            "the handler panicked",
        ))),
        Err(_) => {
            abort.abort();
            Attempt::Ran(Outcome::Error(weir_route::FunctionError::new(
                "Sandbox.Timedout",
                format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
            )))
        }
    }
}

/// The failed item ids of a `ReportBatchItemFailures` response, as Lambda reads it: an empty
/// or `null` response, `{}`, or an empty or `null` `batchItemFailures` list means no failure;
/// each failure must name a record of the batch by a non-empty `itemIdentifier`. `None`: the
/// response is invalid, and the whole batch failed.
pub(crate) fn batch_item_failures<'a>(response: &[u8], ids: &[&'a str]) -> Option<Vec<&'a str>> {
    if response.iter().all(u8::is_ascii_whitespace) {
        return Some(Vec::new());
    }
    let value: Value = serde_json::from_slice(response).ok()?;
    let list = match &value {
        Value::Null => return Some(Vec::new()),
        Value::Object(map) => match map.get("batchItemFailures") {
            None | Some(Value::Null) => return Some(Vec::new()),
            Some(Value::Array(list)) => list,
            Some(_) => return None,
        },
        // Any other response is not a batch response: the batch succeeded.
        _ => return Some(Vec::new()),
    };
    let mut failed = Vec::new();
    for item in list {
        let id = item.get("itemIdentifier")?.as_str()?;
        let found = ids.iter().find(|known| **known == id)?;
        failed.push(*found);
    }
    Some(failed)
}

#[cfg(test)]
mod tests {
    use super::batch_item_failures;

    #[test]
    fn batch_responses() {
        let ids = ["1", "2"];
        assert_eq!(batch_item_failures(b"", &ids), Some(vec![]));
        assert_eq!(batch_item_failures(b"null", &ids), Some(vec![]));
        assert_eq!(batch_item_failures(b"{}", &ids), Some(vec![]));
        assert_eq!(
            batch_item_failures(br#"{"batchItemFailures": []}"#, &ids),
            Some(vec![])
        );
        assert_eq!(
            batch_item_failures(br#"{"batchItemFailures": [{"itemIdentifier": "2"}]}"#, &ids),
            Some(vec!["2"])
        );
        assert_eq!(
            batch_item_failures(br#"{"batchItemFailures": [{"itemIdentifier": "9"}]}"#, &ids),
            None
        );
        assert_eq!(
            batch_item_failures(br#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#, &ids),
            None
        );
        assert_eq!(
            batch_item_failures(br#"{"batchItemFailures": "x"}"#, &ids),
            None
        );
    }
}
