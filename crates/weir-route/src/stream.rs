//! An in-memory stream with Kinesis's layout: shards chosen by the MD5 hash of the partition
//! key, records in order per shard with growing sequence numbers. JSONL files and stdin are
//! read into a stream ([`Stream::feed_jsonl`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use md5::{Digest, Md5};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::error::{ValidationError, Violations};

/// A stream's configuration (`AWS::Kinesis::Stream`).
///
/// # Example
/// ```
/// let config = weir_route::StreamConfig::new("events").shard_count(4);
/// assert_eq!(config.shard_count, 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamConfig {
    /// The stream's name.
    pub name: String,
    /// How many shards (1-1000 here; default 1).
    pub shard_count: u32,
    /// `RetentionPeriodHours` (24-8760 h, default 24 h): validated; weir keeps every record
    /// in memory for the stream's life.
    pub retention: Duration,
}

impl StreamConfig {
    /// A one-shard stream keeping records 24 hours.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::StreamConfig::new("s").shard_count, 1);
    /// ```
    pub fn new(name: impl Into<String>) -> StreamConfig {
        StreamConfig {
            name: name.into(),
            shard_count: 1,
            retention: Duration::from_secs(24 * 3600),
        }
    }

    /// Sets `ShardCount`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::StreamConfig::new("s").shard_count(2).shard_count, 2);
    /// ```
    pub fn shard_count(mut self, n: u32) -> Self {
        self.shard_count = n;
        self
    }

    /// Sets `RetentionPeriodHours`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::StreamConfig::new("s").retention_period_hours(48).retention.as_secs(), 48 * 3600);
    /// ```
    pub fn retention_period_hours(mut self, hours: u64) -> Self {
        self.retention = Duration::from_secs(hours * 3600);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Violations::default();
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 128
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            v.push(format!(
                "Value '{}' at 'streamName' failed to satisfy constraint: Member must satisfy \
                 regular expression pattern: [a-zA-Z0-9_.-]+",
                self.name
            ));
        }
        v.range("shardCount", Some(i64::from(self.shard_count)), 1, 1000);
        v.range(
            "retentionPeriodHours",
            Some((self.retention.as_secs() / 3600) as i64),
            24,
            8760,
        );
        v.finish()
    }
}

/// One record of a stream.
///
/// # Example
/// ```
/// # use weir_route::{Router, StreamConfig};
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let stream = Router::new().create_stream(StreamConfig::new("s"))?;
/// stream.put_record("k", b"{}".to_vec());
/// let record = &stream.records(0)[0];
/// assert_eq!(record.partition_key, "k");
/// assert_eq!(record.data, b"{}");
/// # Ok::<(), weir_route::ValidationError>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamRecord {
    /// The sequence number (56 decimal digits; later records compare greater as text).
    pub sequence_number: String,
    /// The partition key.
    pub partition_key: String,
    /// The data, as put.
    pub data: Vec<u8>,
    /// When it arrived (ms since the epoch, on the router's clock).
    pub arrival_ms: u64,
}

/// Where [`Stream::put_record`] put a record.
///
/// # Example
/// ```
/// # use weir_route::{Router, StreamConfig};
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let stream = Router::new().create_stream(StreamConfig::new("s"))?;
/// let put = stream.put_record("k", b"1".to_vec());
/// assert_eq!(put.shard_id, "shardId-000000000000");
/// # Ok::<(), weir_route::ValidationError>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PutRecordOutput {
    /// The shard's id (`shardId-000000000000`).
    pub shard_id: String,
    /// The record's sequence number.
    pub sequence_number: String,
}

pub(crate) struct Shard {
    pub(crate) id: String,
    records: RwLock<Vec<Arc<StreamRecord>>>,
    notify: Notify,
}

pub(crate) struct StreamInner {
    pub(crate) config: StreamConfig,
    pub(crate) arn: String,
    pub(crate) shards: Vec<Shard>,
    clock: Arc<dyn Clock>,
    seq: AtomicU64,
    closed: AtomicBool,
    changed: Arc<Notify>,
}

/// An in-memory stream (cheap to clone: clones share the stream).
///
/// # Example
/// ```
/// # use weir_route::{Router, StreamConfig};
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let stream = Router::new().create_stream(StreamConfig::new("s").shard_count(2))?;
/// let a = stream.put_record("user-1", b"1".to_vec());
/// let b = stream.put_record("user-1", b"2".to_vec());
/// assert_eq!(a.shard_id, b.shard_id); // one key, one shard
/// assert!(b.sequence_number > a.sequence_number);
/// # Ok::<(), weir_route::ValidationError>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Stream(pub(crate) Arc<StreamInner>);

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("name", &self.0.config.name)
            .finish_non_exhaustive()
    }
}

impl Stream {
    pub(crate) fn new(
        config: StreamConfig,
        arn: String,
        clock: Arc<dyn Clock>,
        changed: Arc<Notify>,
    ) -> Stream {
        let shards = (0..config.shard_count)
            .map(|i| Shard {
                id: format!("shardId-{i:012}"),
                records: RwLock::new(Vec::new()),
                notify: Notify::new(),
            })
            .collect();
        Stream(Arc::new(StreamInner {
            config,
            arn,
            shards,
            clock,
            seq: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            changed,
        }))
    }

    /// The stream's name.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, StreamConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// assert_eq!(Router::new().create_stream(StreamConfig::new("s"))?.name(), "s");
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.0.config.name
    }

    /// The stream's ARN.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, StreamConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let s = Router::new().create_stream(StreamConfig::new("s"))?;
    /// assert_eq!(s.arn(), "arn:aws:kinesis:us-east-1:000000000000:stream/s");
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn arn(&self) -> &str {
        &self.0.arn
    }

    /// The shard a partition key goes to: the key's MD5 hash, read as a 128-bit number,
    /// falls in one of `shard_count` equal ranges of the hash key space, as Kinesis's
    /// evenly split shards do.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, StreamConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let s = Router::new().create_stream(StreamConfig::new("s").shard_count(4))?;
    /// assert!(s.shard_of("any key") < 4);
    /// assert_eq!(s.shard_of("k"), s.shard_of("k"));
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shard_of(&self, partition_key: &str) -> usize {
        let n = self.0.shards.len() as u128;
        let hash = u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into());
        // floor(hash * n / 2^128), computed in two 64-bit halves.
        let (hi, lo) = (hash >> 64, hash & u128::from(u64::MAX));
        let shard = (hi * n + ((lo * n) >> 64)) >> 64;
        (shard as usize).min(self.0.shards.len() - 1)
    }

    /// Appends a record to its partition key's shard.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, StreamConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let s = Router::new().create_stream(StreamConfig::new("s"))?;
    /// s.put_record("k", br#"{"a":1}"#.to_vec());
    /// assert_eq!(s.records(0).len(), 1);
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn put_record(&self, partition_key: &str, data: Vec<u8>) -> PutRecordOutput {
        let shard = &self.0.shards[self.shard_of(partition_key)];
        let partition_key = partition_key.to_string();
        // The sequence number and the arrival time are taken under the shard's lock, so a
        // shard's records are in the order of both even when puts race.
        let mut records = shard.records.write().unwrap_or_else(|e| e.into_inner());
        let n = self.0.seq.fetch_add(1, Ordering::Relaxed);
        let sequence_number = format!("4959{n:052}");
        records.push(Arc::new(StreamRecord {
            sequence_number: sequence_number.clone(),
            partition_key,
            data,
            arrival_ms: self.0.clock.now_ms(),
        }));
        drop(records);
        shard.notify.notify_waiters();
        self.0.changed.notify_waiters();
        PutRecordOutput {
            shard_id: shard.id.clone(),
            sequence_number,
        }
    }

    /// A copy of a shard's records, oldest first.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, StreamConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let s = Router::new().create_stream(StreamConfig::new("s"))?;
    /// assert!(s.records(0).is_empty());
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn records(&self, shard: usize) -> Vec<StreamRecord> {
        self.0.shards.get(shard).map_or_else(Vec::new, |s| {
            s.records
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|r| (**r).clone())
                .collect()
        })
    }

    /// Marks the stream finished: no more records will come (a JSONL file read to its end).
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, StreamConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let s = Router::new().create_stream(StreamConfig::new("s"))?;
    /// s.close();
    /// assert!(s.is_closed());
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(&self) {
        self.0.closed.store(true, Ordering::Release);
        for shard in &self.0.shards {
            shard.notify.notify_waiters();
        }
        self.0.changed.notify_waiters();
    }

    /// Whether [`Stream::close`] was called.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, StreamConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// assert!(!Router::new().create_stream(StreamConfig::new("s"))?.is_closed());
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    /// Reads JSONL into the stream: each non-blank line is one record's data. The partition
    /// key is the line's top-level `partition_key_field` when it is a string or a number, and
    /// the line number otherwise. Returns how many records were put. Does not close the
    /// stream.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, StreamConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let s = Router::new().create_stream(StreamConfig::new("s"))?;
    /// let jsonl: &[u8] = b"{\"user\": \"a\"}\n\n{\"user\": \"b\"}\n";
    /// assert_eq!(s.feed_jsonl(jsonl, Some("user")).await?, 2);
    /// assert_eq!(s.records(0)[1].partition_key, "b");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn feed_jsonl<R: AsyncBufRead + Unpin>(
        &self,
        reader: R,
        partition_key_field: Option<&str>,
    ) -> std::io::Result<u64> {
        let mut lines = reader.lines();
        let mut line_number = 0u64;
        let mut put = 0u64;
        while let Some(line) = lines.next_line().await? {
            line_number += 1;
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            let key = partition_key_field
                .and_then(|field| top_level_key(text, field))
                .unwrap_or_else(|| line_number.to_string());
            self.put_record(&key, text.as_bytes().to_vec());
            put += 1;
        }
        Ok(put)
    }

    pub(crate) fn shard_len(&self, shard: usize) -> usize {
        self.0.shards[shard]
            .records
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub(crate) fn read(&self, shard: usize, from: usize, max: usize) -> Vec<Arc<StreamRecord>> {
        let records = self.0.shards[shard]
            .records
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let end = records.len().min(from.saturating_add(max));
        records.get(from..end).map_or_else(Vec::new, <[_]>::to_vec)
    }

    /// Waits until shard `shard` holds more than `len` records or the stream closes.
    pub(crate) async fn wait_beyond(&self, shard: usize, len: usize) {
        loop {
            let notified = self.0.shards[shard].notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shard_len(shard) > len || self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}

/// The value of a top-level string or number member, as text.
fn top_level_key(line: &str, field: &str) -> Option<String> {
    let map: std::collections::HashMap<String, &serde_json::value::RawValue> =
        serde_json::from_str(line).ok()?;
    let raw = map.get(field)?.get();
    if raw.starts_with('"') {
        serde_json::from_str::<String>(raw).ok()
    } else if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(raw.to_string())
    } else {
        None
    }
}
