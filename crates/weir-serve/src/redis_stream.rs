//! A Kinesis-like stream on Redis: one Redis stream per shard, and an event source mapping
//! that reads each shard in order from a checkpoint kept in Redis (so it survives a restart),
//! where a failing batch blocks its shard until it succeeds or its retries are exhausted.
//!
//! Several consumers share a mapping by leasing shards: a shard is read by the consumer that
//! holds its lease (a Redis key with a time to live, renewed while it reads), so each shard
//! keeps its order and a dead consumer's shards pass to another once its leases expire.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;
use redis::RedisError;
use serde_json::{json, Value};
use weir::lambda::{FilterCriteria, RecordVerdict, Source};
use weir_route::{Handler, Invocation, Outcome};

use crate::aws::{iso8601, new_id, ACCOUNT};
use crate::redis_mapping::{batch_item_failures, MappingCounters};
use crate::redis_queue::{connect, field, id_millis};

/// A stream's name and shard count.
///
/// # Example
/// ```
/// let c = weir_serve::RedisStreamConfig::new("clicks", 4);
/// assert_eq!(c.shard_key(2), "clicks:shardId-000000000002");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStreamConfig {
    /// The stream's name (the prefix of its shards' Redis keys).
    pub name: String,
    /// How many shards (Redis streams) it has.
    pub shard_count: usize,
}

impl RedisStreamConfig {
    /// A stream of `shard_count` shards (at least 1).
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_serve::RedisStreamConfig::new("s", 0).shard_count, 1);
    /// ```
    pub fn new(name: impl Into<String>, shard_count: usize) -> RedisStreamConfig {
        RedisStreamConfig {
            name: name.into(),
            shard_count: shard_count.max(1),
        }
    }

    /// Kinesis's id of shard `i`: `shardId-000000000000`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_serve::RedisStreamConfig::shard_id(7), "shardId-000000000007");
    /// ```
    pub fn shard_id(i: usize) -> String {
        format!("shardId-{i:012}")
    }

    /// The Redis key of shard `i`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_serve::RedisStreamConfig::new("s", 1).shard_key(0), "s:shardId-000000000000");
    /// ```
    pub fn shard_key(&self, i: usize) -> String {
        format!("{}:{}", self.name, Self::shard_id(i))
    }

    /// The shard a partition key goes to (a stable 64-bit FNV-1a hash, modulo the count).
    ///
    /// # Example
    /// ```
    /// let c = weir_serve::RedisStreamConfig::new("s", 4);
    /// assert_eq!(c.shard_of("user-1"), c.shard_of("user-1"));
    /// ```
    pub fn shard_of(&self, partition_key: &str) -> usize {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in partition_key.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        (hash % self.shard_count as u64) as usize
    }
}

/// The key of a mapping's checkpoint in a shard.
pub(crate) fn checkpoint_key(mapping: &str, shard: usize) -> String {
    format!("weir:checkpoint:{mapping}:{shard}")
}

/// The key holding a stream's shard count.
fn shards_key(name: &str) -> String {
    format!("{name}:shards")
}

/// One record read from a shard.
///
/// # Example
/// ```
/// let r = weir_serve::ShardRecord { sequence_number: "1-0".into(), partition_key: "k".into(), data: b"{}".to_vec(), arrival_ms: 1 };
/// assert_eq!(r.partition_key, "k");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRecord {
    /// The record's sequence number (its Redis entry id).
    pub sequence_number: String,
    /// Its partition key.
    pub partition_key: String,
    /// Its data.
    pub data: Vec<u8>,
    /// When it arrived, in milliseconds since the epoch.
    pub arrival_ms: u64,
}

/// A connection to a Redis-backed stream (cheap to clone; reconnects by itself).
///
/// # Example
/// ```no_run
/// # async fn demo() -> Result<(), redis::RedisError> {
/// let s = weir_serve::RedisStream::connect("redis://127.0.0.1:7000/", weir_serve::RedisStreamConfig::new("s", 2)).await?;
/// let (shard, sequence) = s.put_record("user-1", b"{\"a\": 1}").await?;
/// # let _ = (shard, sequence); Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStream {
    conn: ConnectionManager,
    config: RedisStreamConfig,
}

impl RedisStream {
    /// Connects to the stream at `url`.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let s = weir_serve::RedisStream::connect("redis://127.0.0.1:7000/", weir_serve::RedisStreamConfig::new("s", 1)).await?;
    /// # let _ = s; Ok(()) }
    /// ```
    pub async fn connect(url: &str, config: RedisStreamConfig) -> Result<RedisStream, RedisError> {
        let conn = connect(url).await?;
        // The shard count is written once, for mappings that open the stream by name.
        let _: Option<String> = redis::cmd("SET")
            .arg(shards_key(&config.name))
            .arg(config.shard_count)
            .arg("NX")
            .query_async(&mut conn.clone())
            .await?;
        Ok(RedisStream { conn, config })
    }

    /// Connects to the stream named `name` with the shard count it was created with (1 when
    /// no producer has connected yet).
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let s = weir_serve::RedisStream::open("redis://127.0.0.1:7000/", "clicks").await?;
    /// # let _ = s; Ok(()) }
    /// ```
    pub async fn open(url: &str, name: &str) -> Result<RedisStream, RedisError> {
        let conn = connect(url).await?;
        let count: Option<usize> = redis::cmd("GET")
            .arg(shards_key(name))
            .query_async(&mut conn.clone())
            .await?;
        RedisStream::connect(url, RedisStreamConfig::new(name, count.unwrap_or(1))).await
    }

    /// The stream's configuration.
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(s: &weir_serve::RedisStream) { assert!(s.config().shard_count >= 1); }
    /// ```
    pub fn config(&self) -> &RedisStreamConfig {
        &self.config
    }

    /// Appends a record to its partition key's shard; answers the shard and the sequence
    /// number.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(s: weir_serve::RedisStream) -> Result<(), redis::RedisError> {
    /// s.put_record("k", b"data").await?;
    /// # Ok(()) }
    /// ```
    pub async fn put_record(
        &self,
        partition_key: &str,
        data: &[u8],
    ) -> Result<(usize, String), RedisError> {
        let shard = self.config.shard_of(partition_key);
        let id: String = redis::cmd("XADD")
            .arg(self.config.shard_key(shard))
            .arg("*")
            .arg("pk")
            .arg(partition_key)
            .arg("data")
            .arg(data)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok((shard, id))
    }

    /// Appends many records in one round trip.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(s: weir_serve::RedisStream) -> Result<(), redis::RedisError> {
    /// s.put_records(&[("a".to_string(), b"1".to_vec())]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn put_records(&self, records: &[(String, Vec<u8>)]) -> Result<(), RedisError> {
        let mut pipe = redis::pipe();
        for (key, data) in records {
            pipe.cmd("XADD")
                .arg(self.config.shard_key(self.config.shard_of(key)))
                .arg("*")
                .arg("pk")
                .arg(key)
                .arg("data")
                .arg(data.as_slice())
                .ignore();
        }
        pipe.query_async(&mut self.conn.clone()).await
    }

    /// Up to `count` records of shard `shard` after sequence number `after` (`None`: from
    /// the start), in order.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(s: weir_serve::RedisStream) -> Result<(), redis::RedisError> {
    /// let records = s.read(0, None, 100).await?;
    /// # let _ = records; Ok(()) }
    /// ```
    pub async fn read(
        &self,
        shard: usize,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<ShardRecord>, RedisError> {
        let start = match after {
            Some(id) => format!("({id}"),
            None => "-".to_string(),
        };
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.config.shard_key(shard))
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(count.max(1))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(reply
            .ids
            .iter()
            .map(|e| ShardRecord {
                sequence_number: e.id.clone(),
                partition_key: field(e, "pk").unwrap_or_default(),
                data: match e.map.get("data") {
                    Some(redis::Value::BulkString(b)) => b.clone(),
                    _ => Vec::new(),
                },
                arrival_ms: id_millis(&e.id),
            })
            .collect())
    }
}

impl RedisStream {
    /// The sequence number of shard `shard`'s last record.
    pub(crate) async fn last_sequence(&self, shard: usize) -> Result<Option<String>, RedisError> {
        let last: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(self.config.shard_key(shard))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(last.ids.first().map(|e| e.id.clone()))
    }

    /// A string key's value.
    pub(crate) async fn get_key(&self, key: &str) -> Result<Option<String>, RedisError> {
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
    }
}

/// A stream mapping's parameters (Lambda's names).
///
/// # Example
/// ```
/// let c = weir_serve::StreamMappingConfig::new("mapping-1", "arn:aws:lambda:us-east-1:000000000000:function:f");
/// assert_eq!((c.batch_size, c.maximum_retry_attempts), (100, -1));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamMappingConfig {
    /// The mapping's id: its checkpoints and leases are kept under it.
    pub uuid: String,
    /// The invoked function's ARN.
    pub function_arn: String,
    /// `BatchSize` (1-10000, default 100).
    pub batch_size: usize,
    /// `FilterCriteria`, parsed.
    pub filter_criteria: Option<FilterCriteria>,
    /// `MaximumRetryAttempts` (-1: until success, the default; 0-10000).
    pub maximum_retry_attempts: i64,
    /// `FunctionResponseTypes: ["ReportBatchItemFailures"]`: a reported failure checkpoints
    /// before the first failed record.
    pub report_batch_item_failures: bool,
    /// `DestinationConfig.OnFailure`: the Redis stream receiving Lambda's record of a
    /// discarded batch.
    pub on_failure: Option<String>,
    /// The invocation's timeout.
    pub timeout: Duration,
    /// How long a shard's lease lasts without renewal (it is renewed at every poll and every
    /// third of it while an invocation runs); a dead consumer's shards pass on after it.
    pub lease: Duration,
    /// The region written in records.
    pub region: String,
}

impl StreamMappingConfig {
    /// Lambda's defaults for a Kinesis mapping: batches of 100, retries until success.
    ///
    /// # Example
    /// ```
    /// assert!(weir_serve::StreamMappingConfig::new("m", "arn").on_failure.is_none());
    /// ```
    pub fn new(uuid: impl Into<String>, function_arn: impl Into<String>) -> StreamMappingConfig {
        StreamMappingConfig {
            uuid: uuid.into(),
            function_arn: function_arn.into(),
            batch_size: 100,
            filter_criteria: None,
            maximum_retry_attempts: -1,
            report_batch_item_failures: false,
            on_failure: None,
            timeout: Duration::from_secs(3),
            lease: Duration::from_secs(10),
            region: "us-east-1".into(),
        }
    }
}

/// One consumer of a stream mapping: reads the shards it leases, in order, from their
/// checkpoints.
///
/// # Example
/// ```no_run
/// # async fn demo(stream: weir_serve::RedisStream) -> Result<(), redis::RedisError> {
/// let handler = |_| async { weir_route::Outcome::Success(Vec::new()) };
/// let c = weir_serve::StreamConsumer::new(stream, "c1", weir_serve::StreamMappingConfig::new("m", "arn"), std::sync::Arc::new(handler));
/// c.poll_once().await?;
/// # Ok(()) }
/// ```
pub struct StreamConsumer {
    stream: RedisStream,
    name: String,
    config: StreamMappingConfig,
    handler: Arc<dyn Handler>,
    counters: Arc<MappingCounters>,
    /// Failed attempts at each shard's current batch, and when the shard may retry.
    attempts: Mutex<HashMap<usize, (i64, Instant)>>,
}

/// `renew_lease` never ends; this only gives its arm of a `select!` a type.
fn unreachable_outcome() -> Outcome {
    Outcome::Error(weir_route::FunctionError::new(
        "Weir.Internal",
        "the lease renewal ended",
    ))
}

/// The wait before a failed stream batch is retried, doubled per failed attempt.
const RETRY_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait between retries of a stream batch.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);

/// Renews a lease held by this consumer, or takes a free one; 1 when held after.
const LEASE: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Gives a lease up if this consumer holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Sets a checkpoint only while the lease is this consumer's; 1 when set.
const CHECKPOINT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
";

impl StreamConsumer {
    /// A consumer named `name` (unique among the mapping's consumers).
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(stream: weir_serve::RedisStream) {
    /// let handler = |_| async { weir_route::Outcome::Success(Vec::new()) };
    /// let c = weir_serve::StreamConsumer::new(stream, "c1", weir_serve::StreamMappingConfig::new("m", "arn"), std::sync::Arc::new(handler));
    /// # let _ = c; }
    /// ```
    pub fn new(
        stream: RedisStream,
        name: impl Into<String>,
        config: StreamMappingConfig,
        handler: Arc<dyn Handler>,
    ) -> StreamConsumer {
        StreamConsumer {
            stream,
            name: name.into(),
            config,
            handler,
            counters: Arc::default(),
            attempts: Mutex::default(),
        }
    }

    /// The same consumer counting into `counters` (shared with whoever holds them).
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(c: weir_serve::StreamConsumer) {
    /// let counters = std::sync::Arc::new(weir_serve::MappingCounters::default());
    /// let c = c.with_counters(counters.clone());
    /// # let _ = c; }
    /// ```
    pub fn with_counters(mut self, counters: Arc<MappingCounters>) -> Self {
        self.counters = counters;
        self
    }

    /// The consumer's counters.
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(c: &weir_serve::StreamConsumer) { let _ = c.counters(); }
    /// ```
    pub fn counters(&self) -> Arc<MappingCounters> {
        self.counters.clone()
    }

    fn lease_key(&self, shard: usize) -> String {
        format!("weir:lease:{}:{shard}", self.config.uuid)
    }

    fn checkpoint_key(&self, shard: usize) -> String {
        checkpoint_key(&self.config.uuid, shard)
    }

    /// One batch from each shard this consumer leases; answers how many records were read.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(c: weir_serve::StreamConsumer) -> Result<(), redis::RedisError> {
    /// let read = c.poll_once().await?;
    /// # let _ = read; Ok(()) }
    /// ```
    pub async fn poll_once(&self) -> Result<usize, RedisError> {
        let shards = self.stream.config.shard_count;
        let lease_ms = self.config.lease.as_millis() as u64;
        // The live consumers of the mapping (each seen within a lease), for a fair share.
        let members = format!("weir:consumers:{}", self.config.uuid);
        let now = crate::aws::now_millis();
        let lease_keys: Vec<String> = (0..shards).map(|s| self.lease_key(s)).collect();
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(&members)
            .arg(now)
            .arg(&self.name)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&members)
            .arg("-inf")
            .arg(now.saturating_sub(lease_ms))
            .ignore()
            .cmd("ZCARD")
            .arg(&members)
            .cmd("MGET")
            .arg(&lease_keys);
        let (live, holders): (usize, Vec<Option<String>>) =
            pipe.query_async(&mut self.stream.conn.clone()).await?;
        let share = shards.div_ceil(live.max(1));
        let mut held = holders
            .iter()
            .filter(|h| h.as_deref() == Some(self.name.as_str()))
            .count();
        let mut read = 0;
        for (shard, holder) in holders.iter().enumerate() {
            let mine = holder.as_deref() == Some(self.name.as_str());
            if mine && held > share {
                // More than a fair share: hand this shard over (its checkpoint is current).
                let _: i64 = redis::Script::new(RELEASE)
                    .key(&lease_keys[shard])
                    .arg(&self.name)
                    .invoke_async(&mut self.stream.conn.clone())
                    .await?;
                held -= 1;
                continue;
            }
            if !mine && (holder.is_some() || held >= share) {
                continue;
            }
            let got: i64 = redis::Script::new(LEASE)
                .key(&lease_keys[shard])
                .arg(&self.name)
                .arg(lease_ms)
                .invoke_async(&mut self.stream.conn.clone())
                .await?;
            if got == 1 {
                if !mine {
                    held += 1;
                }
                read += self.poll_shard(shard).await?;
            }
        }
        Ok(read)
    }

    /// Moves shard `shard`'s checkpoint to `sequence`, if the lease is still ours.
    async fn checkpoint(&self, shard: usize, sequence: &str) -> Result<(), RedisError> {
        let _: i64 = redis::Script::new(CHECKPOINT)
            .key(self.lease_key(shard))
            .key(self.checkpoint_key(shard))
            .arg(&self.name)
            .arg(sequence)
            .invoke_async(&mut self.stream.conn.clone())
            .await?;
        Ok(())
    }

    async fn poll_shard(&self, shard: usize) -> Result<usize, RedisError> {
        if self
            .retry_after(shard)
            .is_some_and(|at| Instant::now() < at)
        {
            // A failed batch waits out its backoff; the shard stays blocked meanwhile.
            return Ok(0);
        }
        let checkpoint: Option<String> = redis::cmd("GET")
            .arg(self.checkpoint_key(shard))
            .query_async(&mut self.stream.conn.clone())
            .await?;
        let records = self
            .stream
            .read(shard, checkpoint.as_deref(), self.config.batch_size)
            .await?;
        let Some(last) = records.last() else {
            return Ok(0);
        };
        let last = last.sequence_number.clone();
        let retrying = self.attempts_of(shard) > 0;
        if !retrying {
            self.counters
                .polled
                .fetch_add(records.len() as u64, Ordering::Relaxed);
        }
        let json: Vec<String> = records.iter().map(|r| self.record(shard, r)).collect();
        let batch: Vec<(usize, &String)> = json
            .iter()
            .enumerate()
            .filter(|(_, record)| match &self.config.filter_criteria {
                None => true,
                Some(fc) => {
                    fc.evaluate(Source::Kinesis, record.as_bytes()) == RecordVerdict::Delivered
                }
            })
            .collect();
        if !retrying {
            self.counters
                .filtered_out
                .fetch_add((records.len() - batch.len()) as u64, Ordering::Relaxed);
        }
        if batch.is_empty() {
            // All filtered out: the position advances, nothing is invoked.
            self.checkpoint(shard, &last).await?;
            return Ok(records.len());
        }
        let mut payload = String::from("{\"Records\":[");
        for (n, (_, record)) in batch.iter().enumerate() {
            if n > 0 {
                payload.push(',');
            }
            payload.push_str(record);
        }
        payload.push_str("]}");
        self.counters
            .invoked
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        // The shard's lease is renewed while the function runs, so it need not outlast an
        // invocation.
        let outcome = tokio::select! {
            outcome = self.invoke(payload.into_bytes()) => outcome,
            () = self.renew_lease(shard) => unreachable_outcome(),
        };
        let ids: Vec<&str> = batch
            .iter()
            .map(|(i, _)| records[*i].sequence_number.as_str())
            .collect();
        // The first failed record of the batch, if any.
        let first_failed: Option<usize> = match &outcome {
            Outcome::Success(response) if self.config.report_batch_item_failures => {
                match batch_item_failures(response, &ids) {
                    Some(failed) => failed
                        .iter()
                        .filter_map(|id| records.iter().position(|r| r.sequence_number == *id))
                        .min(),
                    None => Some(batch[0].0),
                }
            }
            Outcome::Success(_) => None,
            _ => Some(batch[0].0),
        };
        let Some(failed_at) = first_failed else {
            self.reset_attempts(shard);
            self.checkpoint(shard, &last).await?;
            return Ok(records.len());
        };
        self.counters
            .failed_invoke
            .fetch_add((batch.len()) as u64, Ordering::Relaxed);
        // Records before the first failure are done.
        if failed_at > 0 {
            self.checkpoint(shard, &records[failed_at - 1].sequence_number)
                .await?;
        }
        let attempts = self.add_attempt(shard);
        let max = self.config.maximum_retry_attempts;
        if max >= 0 && attempts > max {
            // Retries exhausted: the batch is discarded (recorded on the OnFailure
            // destination) and the shard moves on.
            let failed_records = &records[failed_at..];
            if let Some(destination) = &self.config.on_failure {
                let record = self.failure_record(shard, failed_records, attempts);
                let _: String = redis::cmd("XADD")
                    .arg(destination)
                    .arg("*")
                    .arg("record")
                    .arg(record.to_string())
                    .query_async(&mut self.stream.conn.clone())
                    .await?;
                self.counters
                    .dropped
                    .fetch_add(failed_records.len() as u64, Ordering::Relaxed);
            }
            self.reset_attempts(shard);
            self.checkpoint(shard, &last).await?;
        }
        Ok(records.len())
    }

    /// Renews shard `shard`'s lease every third of a lease, forever (until dropped).
    async fn renew_lease(&self, shard: usize) {
        let lease = self.config.lease;
        loop {
            tokio::time::sleep(lease / 3).await;
            let _: Result<i64, RedisError> = redis::Script::new(LEASE)
                .key(self.lease_key(shard))
                .arg(&self.name)
                .arg(lease.as_millis() as u64)
                .invoke_async(&mut self.stream.conn.clone())
                .await;
        }
    }

    fn attempts_of(&self, shard: usize) -> i64 {
        let attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        attempts.get(&shard).map_or(0, |a| a.0)
    }

    fn retry_after(&self, shard: usize) -> Option<Instant> {
        let attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        attempts.get(&shard).map(|a| a.1)
    }

    /// Counts a failed attempt; the next waits `RETRY_BACKOFF` doubled per attempt (at most
    /// `MAX_RETRY_BACKOFF`).
    fn add_attempt(&self, shard: usize) -> i64 {
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        let entry = attempts.entry(shard).or_insert((0, Instant::now()));
        entry.0 += 1;
        let backoff = RETRY_BACKOFF
            .saturating_mul(1 << (entry.0 - 1).min(16))
            .min(MAX_RETRY_BACKOFF);
        entry.1 = Instant::now() + backoff;
        entry.0
    }

    fn reset_attempts(&self, shard: usize) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        attempts.remove(&shard);
    }

    async fn invoke(&self, payload: Vec<u8>) -> Outcome {
        let invocation = Invocation::new(new_id(), self.config.function_arn.clone(), payload);
        let task = tokio::spawn(self.handler.invoke(invocation));
        let abort = task.abort_handle();
        match tokio::time::timeout(self.config.timeout, task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Outcome::Error(weir_route::FunctionError::new(
                "Runtime.HandlerPanicked",
                "the handler panicked",
            )),
            Err(_) => {
                abort.abort();
                Outcome::Error(weir_route::FunctionError::new(
                    "Sandbox.Timedout",
                    format!(
                        "Task timed out after {:.2} seconds",
                        self.config.timeout.as_secs_f64()
                    ),
                ))
            }
        }
    }

    fn stream_arn(&self) -> String {
        format!(
            "arn:aws:kinesis:{}:{ACCOUNT}:stream/{}",
            self.config.region, self.stream.config.name
        )
    }

    /// The Kinesis record Lambda delivers.
    fn record(&self, shard: usize, r: &ShardRecord) -> String {
        json!({
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": r.partition_key,
                "sequenceNumber": r.sequence_number,
                "data": base64::engine::general_purpose::STANDARD.encode(&r.data),
                "approximateArrivalTimestamp": r.arrival_ms as f64 / 1000.0,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": format!("{}:{}", RedisStreamConfig::shard_id(shard), r.sequence_number),
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": format!("arn:aws:iam::{ACCOUNT}:role/weir"),
            "awsRegion": self.config.region,
            "eventSourceARN": self.stream_arn(),
        })
        .to_string()
    }

    /// Lambda's OnFailure record for a discarded stream batch.
    fn failure_record(&self, shard: usize, records: &[ShardRecord], attempts: i64) -> Value {
        let (first, last) = (&records[0], &records[records.len() - 1]);
        json!({
            "requestContext": {
                "requestId": new_id(),
                "functionArn": self.config.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": iso8601(crate::aws::now_seconds()),
            "KinesisBatchInfo": {
                "shardId": RedisStreamConfig::shard_id(shard),
                "startSequenceNumber": first.sequence_number,
                "endSequenceNumber": last.sequence_number,
                "approximateArrivalOfFirstRecord": iso8601((first.arrival_ms / 1000) as i64),
                "approximateArrivalOfLastRecord": iso8601((last.arrival_ms / 1000) as i64),
                "batchSize": records.len(),
                "streamArn": self.stream_arn(),
            },
        })
    }

    /// Polls until `stop` completes; Redis errors are waited out with a backoff.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(c: weir_serve::StreamConsumer) {
    /// c.run(tokio::time::sleep(std::time::Duration::from_secs(1))).await;
    /// # }
    /// ```
    pub async fn run(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut backoff = Duration::from_millis(50);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                polled = self.poll_once() => match polled {
                    Ok(0) => tokio::time::sleep(Duration::from_millis(20)).await,
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
