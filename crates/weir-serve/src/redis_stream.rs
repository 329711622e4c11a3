//! A Kinesis-like stream on Redis: one Redis stream per shard, and an event source mapping
//! that reads each shard in order from a checkpoint kept in Redis (so it survives a restart),
//! where a failing batch blocks its shard until it succeeds or its retries are exhausted.
//!
//! Several consumers share a mapping by leasing shards: a shard is read by the consumer that
//! holds its lease (a Redis key with a time to live, renewed while it reads), so each shard
//! keeps its order and a dead consumer's shards pass to another once its leases expire.
//! A mapping's checkpoints, leases and live consumers are keys under its prefix
//! ([`StreamMappingConfig::prefix`], `weir` by default, `--redis-prefix`):
//! consumers share a mapping only under one prefix.
//!
//! Lambda's stream settings apply ([`StreamMappingConfig`]): `BisectBatchOnFunctionError`
//! (a failing batch split in halves down to the record at fault), `ReportBatchItemFailures`
//! (retried from the first failed record), `ParallelizationFactor` (up to 10 batches of a shard
//! at once, each partition key in one lane, the checkpoint past only records whose earlier
//! records are all done), `MaximumRecordAgeInSeconds` (older records go to the OnFailure
//! destination unretried), `MaximumRetryAttempts` and `MaximumBatchingWindowInSeconds`.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;
use redis::RedisError;
use serde_json::{json, Value};
use weir::lambda::{FilterCriteria, RecordVerdict, Source};
use weir_route::{Handler, Outcome};

use crate::aws::{iso8601, new_id, ACCOUNT};
use crate::functions::Invoker;
use crate::redis_mapping::{batch_item_failures, invoke_within, Attempt, MappingCounters, Target};
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

/// The key of a mapping's checkpoint in a shard, under `prefix` (weir's keys' prefix,
/// [`crate::redis_config::PREFIX`] by default).
pub(crate) fn checkpoint_key(prefix: &str, mapping: &str, shard: usize) -> String {
    format!("{prefix}:checkpoint:{mapping}:{shard}")
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
    /// Connects to the stream at `url`, creating it with `config`'s shard count when it does
    /// not exist yet; an error when it exists with another shard count (naming the stream and
    /// both counts).
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let s = weir_serve::RedisStream::connect("redis://127.0.0.1:7000/", weir_serve::RedisStreamConfig::new("s", 1)).await?;
    /// # let _ = s; Ok(()) }
    /// ```
    pub async fn connect(url: &str, config: RedisStreamConfig) -> Result<RedisStream, RedisError> {
        let conn = connect(url).await?;
        // The shard count is written once, for mappings that open the stream by name; a
        // stream that exists keeps its count.
        let (_, stored): (Option<String>, Option<String>) = redis::pipe()
            .cmd("SET")
            .arg(shards_key(&config.name))
            .arg(config.shard_count)
            .arg("NX")
            .cmd("GET")
            .arg(shards_key(&config.name))
            .query_async(&mut conn.clone())
            .await?;
        let stored = stored.and_then(|n| n.parse::<usize>().ok());
        if stored != Some(config.shard_count) {
            return Err(RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "shard count mismatch",
                format!(
                    "stream {} exists on Redis with {} shards, not the {} asked for",
                    config.name,
                    stored.map_or_else(|| "an unreadable number of".to_string(), |n| n.to_string()),
                    config.shard_count
                ),
            )));
        }
        Ok(RedisStream { conn, config })
    }

    /// The stream named `name` with the shard count it was created with, or `None` when no
    /// producer has created it.
    pub(crate) async fn existing(url: &str, name: &str) -> Result<Option<RedisStream>, RedisError> {
        let conn = connect(url).await?;
        let count: Option<usize> = redis::cmd("GET")
            .arg(shards_key(name))
            .query_async(&mut conn.clone())
            .await?;
        Ok(count.map(|n| RedisStream {
            conn,
            config: RedisStreamConfig::new(name, n),
        }))
    }

    /// Connects to the stream named `name` with the shard count it was created with; an
    /// error when no producer has created it yet (opening never creates a stream).
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let s = weir_serve::RedisStream::open("redis://127.0.0.1:7000/", "clicks").await?;
    /// # let _ = s; Ok(()) }
    /// ```
    pub async fn open(url: &str, name: &str) -> Result<RedisStream, RedisError> {
        RedisStream::existing(url, name).await?.ok_or_else(|| {
            RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "no such stream",
                format!("stream {name} does not exist on Redis (no producer has created it)"),
            ))
        })
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
/// The ranges given are those `CreateEventSourceMapping` and `weir.toml` enforce; this
/// struct takes any value (a test may use a 200 ms window or a 1 s record age).
///
/// # Example
/// ```
/// let c = weir_serve::StreamMappingConfig::new("mapping-1", "arn:aws:lambda:us-east-1:000000000000:function:f");
/// assert_eq!((c.batch_size, c.maximum_retry_attempts, c.parallelization_factor), (100, -1, 1));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamMappingConfig {
    /// The mapping's id: its checkpoints and leases are kept under it.
    pub uuid: String,
    /// The prefix of the mapping's keys on Redis (`weir`, [`crate::redis_config::PREFIX`],
    /// by default; `--redis-prefix`): its checkpoints (`PREFIX:checkpoint:UUID:SHARD`), shard
    /// leases (`PREFIX:lease:UUID:SHARD`) and live consumers (`PREFIX:consumers:UUID`).
    /// Consumers share a mapping's progress only under one prefix.
    pub prefix: String,
    /// The invoked function's ARN.
    pub function_arn: String,
    /// `BatchSize` (1-10000, default 100).
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds` (0-300 s, default 0): a batch smaller than
    /// `batch_size` waits until this long after its first record was read.
    pub maximum_batching_window: Duration,
    /// `FilterCriteria`, parsed.
    pub filter_criteria: Option<FilterCriteria>,
    /// `MaximumRetryAttempts` (-1: until success or the record age limit, the default;
    /// 0-10000).
    pub maximum_retry_attempts: i64,
    /// `MaximumRecordAgeInSeconds` (`None`: no limit, Lambda's -1 and the default; else
    /// 60-604800 s): before each attempt, the batch's records at least this old (by their
    /// arrival on the stream, the time of their entry id) are given up on. The age is this
    /// process's clock minus that arrival (Redis's clock): a skewed clock moves the limit by
    /// the skew.
    pub maximum_record_age: Option<Duration>,
    /// `BisectBatchOnFunctionError`: a batch of 2 or more that fails with a function error
    /// is split in two halves, retried first half first; splitting uses no retry.
    pub bisect_batch_on_function_error: bool,
    /// `ParallelizationFactor` (1-10, default 1): how many batches of one shard may run at
    /// once; each partition key always goes to the same one of them, so its records stay in
    /// order.
    pub parallelization_factor: usize,
    /// `FunctionResponseTypes: ["ReportBatchItemFailures"]`: a reported failure checkpoints
    /// before the first failed record, and the batch is retried from it.
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
    /// Lambda's defaults for a Kinesis mapping: batches of 100, no window, retries until
    /// success, no age limit, no bisection, one batch per shard at a time.
    ///
    /// # Example
    /// ```
    /// assert!(weir_serve::StreamMappingConfig::new("m", "arn").on_failure.is_none());
    /// ```
    pub fn new(uuid: impl Into<String>, function_arn: impl Into<String>) -> StreamMappingConfig {
        StreamMappingConfig {
            uuid: uuid.into(),
            prefix: crate::redis_config::PREFIX.to_string(),
            function_arn: function_arn.into(),
            batch_size: 100,
            maximum_batching_window: Duration::ZERO,
            filter_criteria: None,
            maximum_retry_attempts: -1,
            maximum_record_age: None,
            bisect_batch_on_function_error: false,
            parallelization_factor: 1,
            report_batch_item_failures: false,
            on_failure: None,
            timeout: Duration::from_secs(3),
            lease: Duration::from_secs(10),
            region: "us-east-1".into(),
        }
    }

    /// The Redis key of the mapping's checkpoint in shard `shard`: the sequence number of
    /// the last record done with, read from on a restart.
    ///
    /// # Example
    /// ```
    /// let mut c = weir_serve::StreamMappingConfig::new("m", "arn");
    /// assert_eq!(c.checkpoint_key(0), "weir:checkpoint:m:0");
    /// c.prefix = "team1".into();
    /// assert_eq!(c.checkpoint_key(3), "team1:checkpoint:m:3");
    /// ```
    pub fn checkpoint_key(&self, shard: usize) -> String {
        checkpoint_key(&self.prefix, &self.uuid, shard)
    }

    /// The Redis key of the lease on shard `shard` (the name of the consumer reading it,
    /// with a time to live).
    ///
    /// # Example
    /// ```
    /// let mut c = weir_serve::StreamMappingConfig::new("m", "arn");
    /// assert_eq!(c.lease_key(0), "weir:lease:m:0");
    /// c.prefix = "team1".into();
    /// assert_eq!(c.lease_key(3), "team1:lease:m:3");
    /// ```
    pub fn lease_key(&self, shard: usize) -> String {
        format!("{}:lease:{}:{shard}", self.prefix, self.uuid)
    }

    /// The Redis key of the sorted set of the mapping's live consumers (each scored by when
    /// it was last seen), by which they share the shards fairly. Scores are each process's
    /// own clock (not Redis's): processes whose clocks differ by more than the lease see each
    /// other as gone or as live too long, which unbalances the sharing (leases, on Redis's
    /// clock, still keep one reader per shard).
    ///
    /// # Example
    /// ```
    /// let mut c = weir_serve::StreamMappingConfig::new("m", "arn");
    /// c.prefix = "team1".into();
    /// assert_eq!(c.consumers_key(), "team1:consumers:m");
    /// ```
    pub fn consumers_key(&self) -> String {
        format!("{}:consumers:{}", self.prefix, self.uuid)
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
    target: Target,
    counters: Arc<MappingCounters>,
    /// What this consumer holds of each shard it leases; a poll holds the lock throughout.
    shards: tokio::sync::Mutex<HashMap<usize, ShardState>>,
    /// Polls made (records remember the poll that read them).
    polls: AtomicU64,
}

/// A record read from a shard and not done with yet.
struct Pending {
    record: ShardRecord,
    /// The Kinesis record delivered.
    json: String,
    /// Its place in the shard's read order.
    index: u64,
    /// When this consumer read it (the batching window starts at a batch's first record).
    seen: Instant,
    /// The poll that read it.
    poll: u64,
}

/// The records at the front of a lane that one attempt takes: a batch, or part of a failed
/// batch split by `BisectBatchOnFunctionError` or cut by a partial-batch response.
#[derive(Debug, Clone, Copy)]
struct Piece {
    len: usize,
    /// Retries used (counted against `MaximumRetryAttempts`).
    retries: i64,
    /// Attempts in a row the function never got (throttled, not ready): retried with a
    /// backoff, counted against no limit.
    throttles: i64,
    /// Invocations made (`approximateInvokeCount`).
    invokes: i64,
}

/// One of a shard's `ParallelizationFactor` lanes: its records in order, and the failed
/// batch being retried at its front.
#[derive(Default)]
struct Lane {
    queue: VecDeque<Pending>,
    /// The pieces at the queue's front still to attempt, in order (empty: the next attempt
    /// is a new batch).
    pieces: VecDeque<Piece>,
    /// When a failed piece may be retried.
    retry_at: Option<Instant>,
}

/// A leased shard's records between its checkpoint and the last record read.
struct ShardState {
    /// The last record read (`None`: from the start of the shard).
    read_to: Option<String>,
    /// The records read and not checkpointed yet, in order, with whether each is done
    /// (processed, filtered out or given up on).
    order: VecDeque<(String, bool)>,
    /// The read index of `order[0]`.
    base: u64,
    lanes: Vec<Lane>,
}

impl ShardState {
    fn new(checkpoint: Option<String>, lanes: usize) -> ShardState {
        ShardState {
            read_to: checkpoint,
            order: VecDeque::new(),
            base: 0,
            lanes: (0..lanes.max(1)).map(|_| Lane::default()).collect(),
        }
    }

    fn done(&mut self, index: u64) {
        if let Some(entry) = index
            .checked_sub(self.base)
            .and_then(|i| self.order.get_mut(i as usize))
        {
            entry.1 = true;
        }
    }

    /// Drops the done records at the front: answers the last one, the new checkpoint.
    fn advance(&mut self) -> Option<String> {
        let mut checkpoint = None;
        while self.order.front().is_some_and(|(_, done)| *done) {
            checkpoint = self.order.pop_front().map(|(seq, _)| seq);
            self.base += 1;
        }
        checkpoint
    }

    fn pending(&self) -> usize {
        self.lanes.iter().map(|l| l.queue.len()).sum()
    }
}

/// One attempt planned in a poll: lane `lane`'s first `len` records.
struct Planned {
    lane: usize,
    piece: Piece,
    payload: Vec<u8>,
}

/// How many records of a shard a consumer holds in memory past its checkpoint at most (a
/// failing lane holds the checkpoint back while the others go on).
const MAX_READ_AHEAD: usize = 10_000;

/// The lane (of `lanes`) of a partition key: its FNV-1a hash, mixed (so lanes do not follow
/// shards, which take the same hash modulo the shard count), modulo `lanes`.
fn lane_of(partition_key: &str, lanes: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in partition_key.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64's finalizer.
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^= hash >> 31;
    (hash % lanes.max(1) as u64) as usize
}

/// The wait before a failed stream batch is retried, doubled per failed attempt.
const RETRY_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait between retries of a stream batch.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);

/// Renews a lease held by this consumer (1), or takes a free one (2); 0 when another holds
/// it.
const LEASE: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
";

/// Renews a lease only if this consumer holds it.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
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
            target: Target::Handler(handler),
            counters: Arc::default(),
            shards: tokio::sync::Mutex::default(),
            polls: AtomicU64::new(0),
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
        self.config.lease_key(shard)
    }

    fn checkpoint_key(&self, shard: usize) -> String {
        self.config.checkpoint_key(shard)
    }

    /// One step of each shard this consumer leases (the shards at once): read what its lanes
    /// have room for, then one attempt per lane whose batch is ready (full, its window over,
    /// or a failed batch's retry due), the lanes at once; then the checkpoint moves past the
    /// records done with. Answers how many records it read, or attempted or gave up on that
    /// an earlier poll read: 0 when nothing was to be done now (no new record; every batch
    /// waiting for its window or its retry).
    ///
    /// Polls of one consumer run one at a time (a second call waits for the first).
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(c: weir_serve::StreamConsumer) -> Result<(), redis::RedisError> {
    /// let read = c.poll_once().await?;
    /// # let _ = read; Ok(()) }
    /// ```
    pub async fn poll_once(&self) -> Result<usize, RedisError> {
        let mut states = self.shards.lock().await;
        let poll = self.polls.fetch_add(1, Ordering::Relaxed);
        let shards = self.stream.config.shard_count;
        let lease_ms = self.config.lease.as_millis() as u64;
        // The live consumers of the mapping (each seen within a lease), for a fair share.
        let members = self.config.consumers_key();
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
        let mut leased = Vec::new();
        for (shard, holder) in holders.iter().enumerate() {
            let mine = holder.as_deref() == Some(self.name.as_str());
            if mine && held > share {
                // More than a fair share: hand this shard over (from its checkpoint).
                let _: i64 = redis::Script::new(RELEASE)
                    .key(&lease_keys[shard])
                    .arg(&self.name)
                    .invoke_async(&mut self.stream.conn.clone())
                    .await?;
                states.remove(&shard);
                held -= 1;
                continue;
            }
            if !mine && (holder.is_some() || held >= share) {
                states.remove(&shard);
                continue;
            }
            let got: i64 = redis::Script::new(LEASE)
                .key(&lease_keys[shard])
                .arg(&self.name)
                .arg(lease_ms)
                .invoke_async(&mut self.stream.conn.clone())
                .await?;
            if got != 1 {
                // Not held since the last poll: start again from the checkpoint.
                states.remove(&shard);
            }
            if got >= 1 {
                if !mine {
                    held += 1;
                }
                leased.push((shard, states.remove(&shard)));
            }
        }
        let held: Vec<usize> = leased.iter().map(|(shard, _)| *shard).collect();
        let steps = leased.into_iter().map(|(shard, state)| async move {
            (shard, self.poll_shard(shard, state, poll).await)
        });
        // Every leased shard's lease is renewed until the whole poll is over: a shard done
        // early keeps its lease (and its state) while another shard's invocation runs.
        let results = tokio::select! {
            results = crate::redis_async::join_all(steps) => results,
            () = self.renew_leases(&held) => Vec::new(),
        };
        let mut progress = 0;
        let mut failed = None;
        for (shard, result) in results {
            match result {
                Ok((moved, Some(state))) => {
                    progress += moved;
                    states.insert(shard, state);
                }
                Ok((moved, None)) => progress += moved,
                // The shard starts again from its checkpoint.
                Err(e) => failed = Some(e),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(progress),
        }
    }

    /// Moves shard `shard`'s checkpoint to `sequence`, if the lease is still ours; false
    /// when it is not.
    async fn checkpoint(&self, shard: usize, sequence: &str) -> Result<bool, RedisError> {
        let set: i64 = redis::Script::new(CHECKPOINT)
            .key(self.lease_key(shard))
            .key(self.checkpoint_key(shard))
            .arg(&self.name)
            .arg(sequence)
            .invoke_async(&mut self.stream.conn.clone())
            .await?;
        Ok(set == 1)
    }

    /// One step of a leased shard; answers the progress and the state to keep (`None`: the
    /// lease was lost, start again from the checkpoint).
    async fn poll_shard(
        &self,
        shard: usize,
        state: Option<ShardState>,
        poll: u64,
    ) -> Result<(usize, Option<ShardState>), RedisError> {
        let lanes = self.config.parallelization_factor.clamp(1, 10);
        let mut state = match state {
            Some(state) => state,
            None => {
                let checkpoint: Option<String> = redis::cmd("GET")
                    .arg(self.checkpoint_key(shard))
                    .query_async(&mut self.stream.conn.clone())
                    .await?;
                ShardState::new(checkpoint, lanes)
            }
        };
        let batch_size = self.config.batch_size.max(1);
        let mut progress = 0;
        // Read what the lanes have room for.
        let room = (batch_size * lanes).saturating_sub(state.pending());
        if room > 0 && state.order.len() < MAX_READ_AHEAD.max(batch_size * lanes) {
            let records = self
                .stream
                .read(shard, state.read_to.as_deref(), room)
                .await?;
            progress += records.len();
            self.counters
                .polled
                .fetch_add(records.len() as u64, Ordering::Relaxed);
            let now = Instant::now();
            for record in records {
                let index = state.base + state.order.len() as u64;
                let json = self.record(shard, &record);
                let delivered = match &self.config.filter_criteria {
                    None => true,
                    Some(fc) => {
                        fc.evaluate(Source::Kinesis, json.as_bytes()) == RecordVerdict::Delivered
                    }
                };
                state.read_to = Some(record.sequence_number.clone());
                state
                    .order
                    .push_back((record.sequence_number.clone(), !delivered));
                if !delivered {
                    // Filtered out: the position moves past it, nothing is invoked.
                    self.counters.filtered_out.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let lane = lane_of(&record.partition_key, lanes);
                state.lanes[lane].queue.push_back(Pending {
                    record,
                    json,
                    index,
                    seen: now,
                    poll,
                });
            }
        }
        // One attempt per ready lane; records past their age are given up on first.
        let now = Instant::now();
        let now_ms = crate::aws::now_millis();
        let mut planned = Vec::new();
        for lane_no in 0..state.lanes.len() {
            loop {
                let lane = &mut state.lanes[lane_no];
                if lane.retry_at.is_some_and(|at| now < at) {
                    break;
                }
                let Some(front) = lane.queue.front() else {
                    break;
                };
                let mut piece = match lane.pieces.front() {
                    Some(piece) => *piece,
                    None => {
                        let window = self.config.maximum_batching_window;
                        // Within the batch size and the payload limit.
                        let len = crate::redis_mapping::batch_len(
                            lane.queue.iter().map(|p| p.json.as_str()),
                            batch_size,
                        );
                        let full = len >= batch_size || len < lane.queue.len();
                        if !full && !window.is_zero() && now < front.seen + window {
                            // Not full: wait for more records until the window ends.
                            break;
                        }
                        let piece = Piece {
                            len,
                            retries: 0,
                            throttles: 0,
                            invokes: 0,
                        };
                        lane.pieces.push_back(piece);
                        piece
                    }
                };
                if let Some(age) = self.config.maximum_record_age {
                    let age = age.as_millis() as u64;
                    let old = lane
                        .queue
                        .iter()
                        .take(piece.len)
                        .take_while(|p| now_ms.saturating_sub(p.record.arrival_ms) >= age)
                        .count();
                    if old > 0 {
                        let expired: Vec<Pending> = lane.queue.drain(..old).collect();
                        piece.len -= old;
                        if piece.len == 0 {
                            lane.pieces.pop_front();
                        } else if let Some(front) = lane.pieces.front_mut() {
                            front.len = piece.len;
                        }
                        progress += expired.iter().filter(|p| p.poll != poll).count();
                        self.give_up(shard, &expired, "RecordAgeExceeded", piece.invokes, None)
                            .await?;
                        for p in &expired {
                            state.done(p.index);
                        }
                        // The rest of the batch (or the next one) may go now.
                        continue;
                    }
                }
                let payload = crate::redis_mapping::batch_payload(
                    lane.queue.iter().take(piece.len).map(|p| p.json.as_str()),
                );
                progress += lane
                    .queue
                    .iter()
                    .take(piece.len)
                    .filter(|p| p.poll != poll)
                    .count();
                planned.push(Planned {
                    lane: lane_no,
                    piece,
                    payload,
                });
                break;
            }
        }
        if !planned.is_empty() {
            let attempts = planned.iter_mut().map(|p| {
                self.counters
                    .invoked
                    .fetch_add(p.piece.len as u64, Ordering::Relaxed);
                self.invoke(std::mem::take(&mut p.payload))
            });
            // The poll renews the shard's lease while the functions run, so it need not
            // outlast an invocation.
            let outcomes = crate::redis_async::join_all(attempts).await;
            for (plan, outcome) in planned.iter().zip(outcomes) {
                self.settle(shard, &mut state, plan, outcome).await?;
            }
        }
        if let Some(checkpoint) = state.advance() {
            if !self.checkpoint(shard, &checkpoint).await? {
                // The lease passed to another consumer: what is held here is stale.
                return Ok((progress, None));
            }
        }
        Ok((progress, Some(state)))
    }

    /// Applies an attempt's outcome to its lane: done records leave it, a failed piece is
    /// split (bisect), cut (partial-batch response) or retried, or given up on past its
    /// retries.
    async fn settle(
        &self,
        shard: usize,
        state: &mut ShardState,
        plan: &Planned,
        outcome: Attempt,
    ) -> Result<(), RedisError> {
        let mut piece = plan.piece;
        piece.invokes += 1;
        let n = piece.len;
        // How many records at the front succeeded.
        let ok = {
            let lane = &state.lanes[plan.lane];
            match &outcome {
                Attempt::Ran(Outcome::Success(response))
                    if self.config.report_batch_item_failures =>
                {
                    let ids: Vec<&str> = lane
                        .queue
                        .iter()
                        .take(n)
                        .map(|p| p.record.sequence_number.as_str())
                        .collect();
                    match batch_item_failures(response, &ids) {
                        // Retry from the lowest failed sequence number on.
                        Some(failed) => failed
                            .iter()
                            .filter_map(|id| ids.iter().position(|i| i == id))
                            .min()
                            .unwrap_or(n),
                        None => 0,
                    }
                }
                Attempt::Ran(Outcome::Success(_)) => n,
                _ => 0,
            }
        };
        let lane = &mut state.lanes[plan.lane];
        let done: Vec<Pending> = lane.queue.drain(..ok).collect();
        lane.pieces.pop_front();
        if ok == n {
            lane.retry_at = None;
            for p in &done {
                state.done(p.index);
            }
            return Ok(());
        }
        self.counters
            .failed_invoke
            .fetch_add((n - ok) as u64, Ordering::Relaxed);
        piece.len = n - ok;
        if let Attempt::NotInvoked = outcome {
            // The function never got the batch (throttled, not ready): retried as it is
            // until its records are too old, using no retry and never split, as Lambda does.
            piece.throttles += 1;
            let backoff = RETRY_BACKOFF
                .saturating_mul(1 << (piece.throttles - 1).clamp(0, 16))
                .min(MAX_RETRY_BACKOFF);
            lane.retry_at = Some(Instant::now() + backoff);
            lane.pieces.push_front(piece);
            for p in &done {
                state.done(p.index);
            }
            return Ok(());
        }
        piece.throttles = 0;
        let Attempt::Ran(outcome) = outcome else {
            return Ok(());
        };
        if outcome.is_success() && self.config.bisect_batch_on_function_error && ok > 0 {
            // A partial-batch response with bisection on splits the batch at the first
            // failed record: the rest is retried at once, using no retry (as a bisection).
            lane.pieces.push_front(piece);
            lane.retry_at = None;
            for p in &done {
                state.done(p.index);
            }
            return Ok(());
        }
        if !outcome.is_success() && self.config.bisect_batch_on_function_error && piece.len > 1 {
            // Split in two, first half first; splitting uses no retry and waits for nothing.
            let first = piece.len / 2;
            lane.pieces.push_front(Piece {
                len: piece.len - first,
                ..piece
            });
            lane.pieces.push_front(Piece {
                len: first,
                ..piece
            });
            lane.retry_at = None;
        } else {
            piece.retries += 1;
            let max = self.config.maximum_retry_attempts;
            if max >= 0 && piece.retries > max {
                // Retries exhausted: the records are given up on (recorded on the OnFailure
                // destination) and the lane moves on.
                let failed: Vec<Pending> = lane.queue.drain(..piece.len).collect();
                lane.retry_at = None;
                self.give_up(
                    shard,
                    &failed,
                    "RetryAttemptsExhausted",
                    piece.invokes,
                    Some(&outcome),
                )
                .await?;
                for p in done.iter().chain(&failed) {
                    state.done(p.index);
                }
                return Ok(());
            }
            let backoff = RETRY_BACKOFF
                .saturating_mul(1 << (piece.retries - 1).clamp(0, 16))
                .min(MAX_RETRY_BACKOFF);
            lane.retry_at = Some(Instant::now() + backoff);
            lane.pieces.push_front(piece);
        }
        for p in &done {
            state.done(p.index);
        }
        Ok(())
    }

    /// Gives records up: their batch's record goes to the OnFailure destination (when there
    /// is one); they count as dropped.
    async fn give_up(
        &self,
        shard: usize,
        records: &[Pending],
        condition: &str,
        invokes: i64,
        last: Option<&Outcome>,
    ) -> Result<(), RedisError> {
        if records.is_empty() {
            return Ok(());
        }
        if let Some(destination) = &self.config.on_failure {
            let record = self.failure_record(shard, records, condition, invokes, last);
            let _: String = redis::cmd("XADD")
                .arg(destination)
                .arg("*")
                .arg("record")
                .arg(record.to_string())
                .query_async(&mut self.stream.conn.clone())
                .await?;
        }
        self.counters
            .dropped
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Renews the leases of `shards` every third of a lease (one pipelined round trip),
    /// forever (until dropped); a failed renewal is tried again at the next.
    async fn renew_leases(&self, shards: &[usize]) {
        let lease = self.config.lease;
        let script = redis::Script::new(RENEW);
        loop {
            tokio::time::sleep(lease / 3).await;
            if shards.is_empty() {
                continue;
            }
            let mut pipe = redis::pipe();
            for shard in shards {
                pipe.cmd("EVALSHA")
                    .arg(script.get_hash())
                    .arg(1)
                    .arg(self.lease_key(*shard))
                    .arg(&self.name)
                    .arg(lease.as_millis() as u64)
                    .ignore();
            }
            let renewed: Result<(), RedisError> =
                pipe.query_async(&mut self.stream.conn.clone()).await;
            if renewed.is_err() {
                // The script not loaded yet (or Redis restarted): one by one, loading it.
                for shard in shards {
                    let _: Result<i64, RedisError> = script
                        .key(self.lease_key(*shard))
                        .arg(&self.name)
                        .arg(lease.as_millis() as u64)
                        .invoke_async(&mut self.stream.conn.clone())
                        .await;
                }
            }
        }
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

    /// Lambda's OnFailure record for records given up on (`RetryAttemptsExhausted` or
    /// `RecordAgeExceeded`); the response context is the last attempt's, when there was one.
    fn failure_record(
        &self,
        shard: usize,
        records: &[Pending],
        condition: &str,
        invokes: i64,
        last: Option<&Outcome>,
    ) -> Value {
        let (first, last_record) = (&records[0].record, &records[records.len() - 1].record);
        let mut record = json!({
            "requestContext": {
                "requestId": new_id(),
                "functionArn": self.config.function_arn,
                "condition": condition,
                "approximateInvokeCount": invokes,
            },
            "version": "1.0",
            "timestamp": iso8601(crate::aws::now_seconds()),
            "KinesisBatchInfo": {
                "shardId": RedisStreamConfig::shard_id(shard),
                "startSequenceNumber": first.sequence_number,
                "endSequenceNumber": last_record.sequence_number,
                "approximateArrivalOfFirstRecord": iso8601((first.arrival_ms / 1000) as i64),
                "approximateArrivalOfLastRecord": iso8601((last_record.arrival_ms / 1000) as i64),
                "batchSize": records.len(),
                "streamArn": self.stream_arn(),
            },
        });
        if let Some(outcome) = last {
            let mut context = json!({"statusCode": 200, "executedVersion": "$LATEST"});
            if !outcome.is_success() {
                context["functionError"] = "Unhandled".into();
            }
            record["responseContext"] = context;
        }
        record
    }

    /// Polls until `stop` completes; Redis errors are waited out with a backoff.
    ///
    /// Stopping is at-least-once: the poll in progress when `stop` completes finishes (its
    /// invocations run to their end, within the mapping's timeout, and what they processed
    /// is checkpointed), then the consumer gives its leases up so another consumer goes on
    /// from the checkpoints at once. A batch cut short anyway (the process killed) was never
    /// checkpointed: it is delivered again. No poll begins once `stop` has completed: a stop
    /// given while the consumer waits (20 ms when idle, the backoff after an error) ends the
    /// wait at once.
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
            // Whether the poll has begun: once told to stop, a poll not begun is never begun.
            let started = std::sync::atomic::AtomicBool::new(false);
            let poll = self.poll_once();
            tokio::pin!(poll);
            let poll = std::future::poll_fn(|cx| {
                started.store(true, Ordering::Relaxed);
                poll.as_mut().poll(cx)
            });
            tokio::pin!(poll);
            // Biased: a stop already given wins over a new poll.
            let wait = tokio::select! {
                biased;
                _ = &mut stop => {
                    // The batches in hand finish and are checkpointed (a poll never waits
                    // for records: it reads what is there).
                    if started.load(Ordering::Relaxed) {
                        let _ = poll.await;
                    }
                    break;
                }
                polled = &mut poll => match polled {
                    Ok(0) => Duration::from_millis(20),
                    Ok(_) => {
                        backoff = Duration::from_millis(50);
                        Duration::ZERO
                    }
                    Err(_) => {
                        let wait = backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        wait
                    }
                },
            };
            // The idle wait and the error backoff end early on a stop.
            if !wait.is_zero() {
                tokio::select! {
                    biased;
                    _ = &mut stop => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        let _ = self.release_all().await;
    }

    /// Gives up every lease this consumer holds, and leaves the mapping's live consumers
    /// (their fair share counts without it at once).
    async fn release_all(&self) -> Result<(), RedisError> {
        let mut states = self.shards.lock().await;
        states.clear();
        for shard in 0..self.stream.config.shard_count {
            let _: i64 = redis::Script::new(RELEASE)
                .key(self.lease_key(shard))
                .arg(&self.name)
                .invoke_async(&mut self.stream.conn.clone())
                .await?;
        }
        let _: i64 = redis::cmd("ZREM")
            .arg(self.config.consumers_key())
            .arg(&self.name)
            .query_async(&mut self.stream.conn.clone())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{lane_of, RedisStreamConfig};

    #[test]
    fn lanes_do_not_follow_shards() {
        // With 2 shards and 2 lanes, the keys of one shard spread over both lanes.
        let config = RedisStreamConfig::new("s", 2);
        let lanes: std::collections::HashSet<usize> = (0..200)
            .map(|k| format!("key-{k}"))
            .filter(|k| config.shard_of(k) == 0)
            .map(|k| lane_of(&k, 2))
            .collect();
        assert_eq!(lanes.len(), 2);
        assert_eq!(lane_of("k", 1), 0);
        assert_eq!(lane_of("k", 7), lane_of("k", 7));
    }
}
