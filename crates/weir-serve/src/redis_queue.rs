//! A queue on a Redis stream and its consumer group, with SQS's semantics: a received message
//! is hidden from other consumers until it is deleted or its visibility timeout passes, its
//! receive count is the stream entry's delivery count, and past `maxReceiveCount` it moves to
//! a dead-letter stream.
//!
//! Polling is `XREADGROUP` (new messages) after `XAUTOCLAIM` with the visibility timeout as
//! the minimum idle time (messages a consumer received and neither deleted nor finished in
//! time: a failed batch, a hung or dead consumer); deleting is `XACK` and `XDEL`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use redis::{RedisError, Value};

/// How a Redis queue behaves (SQS's queue attributes).
///
/// # Example
/// ```
/// let config = weir_serve::RedisQueueConfig::new("orders").max_receive_count(3, "orders-dlq");
/// assert_eq!(config.dead_letter.as_deref(), Some("orders-dlq"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisQueueConfig {
    /// The Redis key of the stream holding the messages.
    pub stream: String,
    /// The consumer group every consumer of the queue joins.
    pub group: String,
    /// How long a received message stays hidden (SQS's `VisibilityTimeout`, default 30 s).
    pub visibility_timeout: Duration,
    /// The redrive policy's `maxReceiveCount`; `None`: messages are never dead-lettered.
    pub max_receive_count: Option<u32>,
    /// The Redis key of the dead-letter stream.
    pub dead_letter: Option<String>,
}

impl RedisQueueConfig {
    /// A queue on the stream `stream`, group `weir`, visibility timeout 30 s, no redrive.
    ///
    /// # Example
    /// ```
    /// let config = weir_serve::RedisQueueConfig::new("q");
    /// assert_eq!(config.visibility_timeout, std::time::Duration::from_secs(30));
    /// ```
    pub fn new(stream: impl Into<String>) -> RedisQueueConfig {
        RedisQueueConfig {
            stream: stream.into(),
            group: "weir".into(),
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: None,
            dead_letter: None,
        }
    }

    /// Sets the visibility timeout.
    ///
    /// # Example
    /// ```
    /// let c = weir_serve::RedisQueueConfig::new("q").visibility_timeout(std::time::Duration::from_secs(5));
    /// assert_eq!(c.visibility_timeout.as_secs(), 5);
    /// ```
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }

    /// Sets the redrive policy: after `count` receives a message moves to `dead_letter`.
    ///
    /// # Example
    /// ```
    /// let c = weir_serve::RedisQueueConfig::new("q").max_receive_count(2, "dlq");
    /// assert_eq!(c.max_receive_count, Some(2));
    /// ```
    pub fn max_receive_count(mut self, count: u32, dead_letter: impl Into<String>) -> Self {
        self.max_receive_count = Some(count);
        self.dead_letter = Some(dead_letter.into());
        self
    }

    /// Sets the consumer group.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_serve::RedisQueueConfig::new("q").group("g").group, "g");
    /// ```
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }
}

/// A received message.
///
/// # Example
/// ```
/// let m = weir_serve::QueueMessage {
///     id: "1-0".into(),
///     body: "{}".into(),
///     message_attributes: vec![("RequestID".into(), "r-1".into())],
///     receive_count: 1,
///     sent_timestamp: 1,
/// };
/// assert_eq!(m.receive_count, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The stream entry id (also the message id and the receipt handle).
    pub id: String,
    /// The body (the entry's `body` field).
    pub body: String,
    /// The message attributes (the entry's `attr.NAME` fields), in name order.
    pub message_attributes: Vec<(String, String)>,
    /// How many times it has been received, this receive included.
    pub receive_count: u32,
    /// When it was sent, in milliseconds since the epoch (the entry id's time part).
    pub sent_timestamp: u64,
}

/// What one [`RedisQueue::receive`] did.
///
/// # Example
/// ```
/// let r = weir_serve::Received::default();
/// assert!(r.messages.is_empty() && r.dead_lettered == 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    /// The messages received.
    pub messages: Vec<QueueMessage>,
    /// Messages moved to the dead-letter stream instead (received more than
    /// `maxReceiveCount` times).
    pub dead_lettered: usize,
}

/// A connection to a Redis queue. Cheap to clone (clones share the connection, which
/// reconnects by itself after Redis restarts).
///
/// # Example
/// ```no_run
/// # async fn demo() -> Result<(), redis::RedisError> {
/// let queue = weir_serve::RedisQueue::connect("redis://127.0.0.1:7000/", weir_serve::RedisQueueConfig::new("q")).await?;
/// queue.send("{\"a\": 1}").await?;
/// let received = queue.receive("consumer-1", 10, std::time::Duration::from_millis(100)).await?;
/// for m in &received.messages {
///     queue.delete(&m.id).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisQueue {
    conn: ConnectionManager,
    config: RedisQueueConfig,
    /// When this handle last looked for messages past their visibility timeout.
    last_claim: Arc<Mutex<Option<Instant>>>,
}

/// How often a handle looks for messages past their visibility timeout: a quarter of the
/// timeout (10 ms to 1 s), so a message comes back at most that late, and a poll of new
/// messages costs one round trip instead of two.
fn claim_interval(visibility: Duration) -> Duration {
    (visibility / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// A connection manager that reconnects, with a response timeout longer than any blocking
/// read weir issues.
pub(crate) async fn connect(url: &str) -> Result<ConnectionManager, RedisError> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(3)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_with_config(client, config).await
}

/// The time part of a stream entry id (`MS-SEQ`).
pub(crate) fn id_millis(id: &str) -> u64 {
    id.split('-')
        .next()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0)
}

/// A field of a stream entry as text.
/// The prefix of a queue entry's fields that hold message attributes (`attr.NAME`), the one
/// convention of everything that writes or reads Redis queues.
pub(crate) const ATTRIBUTE_PREFIX: &str = "attr.";

/// A queue entry's message attributes (its `attr.NAME` fields), in name order.
fn message_attributes(entry: &StreamId) -> Vec<(String, String)> {
    let mut attributes: Vec<(String, String)> = entry
        .map
        .keys()
        .filter_map(|key| {
            let name = key.strip_prefix(ATTRIBUTE_PREFIX)?;
            Some((name.to_string(), field(entry, key)?))
        })
        .collect();
    attributes.sort();
    attributes
}

pub(crate) fn field(entry: &StreamId, name: &str) -> Option<String> {
    match entry.map.get(name)? {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

impl RedisQueue {
    /// Connects to `url` and creates the consumer group (and the stream) when missing.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let q = weir_serve::RedisQueue::connect("redis://127.0.0.1:7000/", weir_serve::RedisQueueConfig::new("q")).await?;
    /// # let _ = q; Ok(()) }
    /// ```
    pub async fn connect(url: &str, config: RedisQueueConfig) -> Result<RedisQueue, RedisError> {
        let queue = RedisQueue {
            conn: connect(url).await?,
            config,
            last_claim: Arc::default(),
        };
        queue.create_group().await?;
        Ok(queue)
    }

    /// The queue's configuration.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisQueue) {
    /// assert_eq!(q.config().group, "weir");
    /// # }
    /// ```
    pub fn config(&self) -> &RedisQueueConfig {
        &self.config
    }

    async fn create_group(&self) -> Result<(), RedisError> {
        let created: Result<Value, RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.config.stream)
            .arg(&self.config.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.conn.clone())
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sends a message; answers its id.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisQueue) -> Result<(), redis::RedisError> {
    /// let id = q.send("hello").await?;
    /// # let _ = id; Ok(()) }
    /// ```
    pub async fn send(&self, body: &str) -> Result<String, RedisError> {
        redis::cmd("XADD")
            .arg(&self.config.stream)
            .arg("*")
            .arg("body")
            .arg(body)
            .query_async(&mut self.conn.clone())
            .await
    }

    /// Sends a message with message attributes (kept as the entry's `attr.NAME` fields, beside
    /// `body`); answers its id.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisQueue) -> Result<(), redis::RedisError> {
    /// let id = q.send_with_attributes("{}", &[("RequestID".into(), "r-1".into())]).await?;
    /// # let _ = id; Ok(()) }
    /// ```
    pub async fn send_with_attributes(
        &self,
        body: &str,
        attributes: &[(String, String)],
    ) -> Result<String, RedisError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.config.stream).arg("*").arg("body").arg(body);
        for (name, value) in attributes {
            cmd.arg(format!("{ATTRIBUTE_PREFIX}{name}")).arg(value);
        }
        cmd.query_async(&mut self.conn.clone()).await
    }

    /// Sends many messages in one round trip.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisQueue) -> Result<(), redis::RedisError> {
    /// q.send_batch(&["a", "b"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_batch<S: AsRef<str>>(&self, bodies: &[S]) -> Result<Vec<String>, RedisError> {
        let mut pipe = redis::pipe();
        for body in bodies {
            pipe.cmd("XADD")
                .arg(&self.config.stream)
                .arg("*")
                .arg("body")
                .arg(body.as_ref());
        }
        pipe.query_async(&mut self.conn.clone()).await
    }

    /// Receives up to `max` messages for `consumer`: first those whose visibility timeout has
    /// passed (taken over from whichever consumer had them), then new ones, waiting up to
    /// `wait` for some. Messages past `maxReceiveCount` go to the dead-letter stream instead.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisQueue) -> Result<(), redis::RedisError> {
    /// let got = q.receive("c1", 10, std::time::Duration::from_secs(1)).await?;
    /// # let _ = got; Ok(()) }
    /// ```
    pub async fn receive(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Received, RedisError> {
        let mut conn = self.conn.clone();
        let max = max.max(1);
        let idle = self.config.visibility_timeout.as_millis() as u64;
        let due = {
            let last = self.last_claim.lock().unwrap_or_else(|p| p.into_inner());
            last.is_none_or(|at| at.elapsed() >= claim_interval(self.config.visibility_timeout))
        };
        let claimed = if due {
            let claimed: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(&self.config.stream)
                .arg(&self.config.group)
                .arg(consumer)
                .arg(idle)
                .arg("0-0")
                .arg("COUNT")
                .arg(max)
                .query_async(&mut conn)
                .await?;
            // A full claim may leave more behind: look again at the next poll.
            if claimed.claimed.len() < max {
                *self.last_claim.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            }
            claimed
        } else {
            StreamAutoClaimReply::default()
        };
        let mut received = Received::default();
        if !claimed.claimed.is_empty() {
            let counts = self.delivery_counts(&claimed.claimed).await?;
            for entry in &claimed.claimed {
                let count = counts.get(&entry.id).copied().unwrap_or(1);
                self.take(entry, count, &mut received).await?;
            }
        }
        let room = max.saturating_sub(received.messages.len());
        if room > 0 {
            // Block only when nothing was taken over (or dead-lettered): a batch already in
            // hand goes at once.
            let block = if received.messages.is_empty() && received.dead_lettered == 0 {
                wait.as_millis().min(1000) as u64
            } else {
                0
            };
            let mut read = redis::cmd("XREADGROUP");
            read.arg("GROUP")
                .arg(&self.config.group)
                .arg(consumer)
                .arg("COUNT")
                .arg(room);
            if block > 0 {
                read.arg("BLOCK").arg(block);
            }
            read.arg("STREAMS").arg(&self.config.stream).arg(">");
            let reply: Option<StreamReadReply> = read.query_async(&mut conn).await?;
            for key in reply.map(|r| r.keys).unwrap_or_default() {
                for entry in &key.ids {
                    self.take(entry, 1, &mut received).await?;
                }
            }
        }
        Ok(received)
    }

    /// The delivery counts of claimed entries: one `XPENDING key group id id 1` per entry,
    /// pipelined (a range over the first to the last id would also hold other consumers'
    /// pending entries, and could miss some of these).
    async fn delivery_counts(
        &self,
        entries: &[StreamId],
    ) -> Result<HashMap<String, u32>, RedisError> {
        if entries.is_empty() {
            return Ok(HashMap::new());
        }
        let mut pipe = redis::pipe();
        for entry in entries {
            pipe.cmd("XPENDING")
                .arg(&self.config.stream)
                .arg(&self.config.group)
                .arg(&entry.id)
                .arg(&entry.id)
                .arg(1);
        }
        let replies: Vec<StreamPendingCountReply> =
            pipe.query_async(&mut self.conn.clone()).await?;
        Ok(replies
            .into_iter()
            .flat_map(|reply| reply.ids)
            .map(|p| (p.id, p.times_delivered as u32))
            .collect())
    }

    /// Adds a received entry to `received`, or dead-letters it.
    async fn take(
        &self,
        entry: &StreamId,
        receive_count: u32,
        received: &mut Received,
    ) -> Result<(), RedisError> {
        let body = field(entry, "body").unwrap_or_default();
        let message_attributes = message_attributes(entry);
        if let (Some(max), Some(dead_letter)) =
            (self.config.max_receive_count, &self.config.dead_letter)
        {
            if receive_count > max {
                // Moved as one transaction: the message is in exactly one of the two streams.
                // Its message attributes go with it.
                let mut xadd = redis::cmd("XADD");
                xadd.arg(dead_letter)
                    .arg("*")
                    .arg("body")
                    .arg(&body)
                    .arg("source_id")
                    .arg(&entry.id)
                    .arg("receive_count")
                    .arg(receive_count - 1);
                for (name, value) in &message_attributes {
                    xadd.arg(format!("{ATTRIBUTE_PREFIX}{name}")).arg(value);
                }
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .add_command(xadd)
                    .ignore()
                    .cmd("XACK")
                    .arg(&self.config.stream)
                    .arg(&self.config.group)
                    .arg(&entry.id)
                    .ignore()
                    .cmd("XDEL")
                    .arg(&self.config.stream)
                    .arg(&entry.id)
                    .ignore();
                let () = pipe.query_async(&mut self.conn.clone()).await?;
                received.dead_lettered += 1;
                return Ok(());
            }
        }
        received.messages.push(QueueMessage {
            id: entry.id.clone(),
            body,
            message_attributes,
            receive_count,
            sent_timestamp: id_millis(&entry.id),
        });
        Ok(())
    }

    /// Keeps received messages hidden: resets their idle time (`XCLAIM` to `consumer` with a
    /// minimum idle time of 0, `JUSTID`, so their receive counts do not grow), as Lambda
    /// extends the visibility of the messages of a batch its function is still working on.
    /// Answers how many were still pending.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisQueue) -> Result<(), redis::RedisError> {
    /// let kept = q.renew("c1", &["1-0".to_string()]).await?;
    /// # let _ = kept; Ok(()) }
    /// ```
    pub async fn renew(&self, consumer: &str, ids: &[String]) -> Result<usize, RedisError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let kept: Vec<String> = redis::cmd("XCLAIM")
            .arg(&self.config.stream)
            .arg(&self.config.group)
            .arg(consumer)
            .arg(0)
            .arg(ids)
            .arg("JUSTID")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(kept.len())
    }

    /// Deletes received messages (`XACK`, then `XDEL`); answers how many were still
    /// pending for the group.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisQueue) -> Result<(), redis::RedisError> {
    /// q.delete_batch(&["1-0".to_string()]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_batch(&self, ids: &[String]) -> Result<usize, RedisError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XACK")
            .arg(&self.config.stream)
            .arg(&self.config.group)
            .arg(ids)
            .cmd("XDEL")
            .arg(&self.config.stream)
            .arg(ids)
            .ignore();
        let (acked,): (usize,) = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(acked)
    }

    /// Deletes one received message; whether it was still pending.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisQueue) -> Result<(), redis::RedisError> {
    /// let deleted = q.delete("1-0").await?;
    /// # let _ = deleted; Ok(()) }
    /// ```
    pub async fn delete(&self, id: &str) -> Result<bool, RedisError> {
        Ok(self.delete_batch(&[id.to_string()]).await? == 1)
    }

    /// Messages in the stream (pending ones included).
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisQueue) -> Result<(), redis::RedisError> {
    /// let n = q.len().await?;
    /// # let _ = n; Ok(()) }
    /// ```
    pub async fn len(&self) -> Result<usize, RedisError> {
        redis::cmd("XLEN")
            .arg(&self.config.stream)
            .query_async(&mut self.conn.clone())
            .await
    }

    /// Whether the stream holds no message.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisQueue) -> Result<(), redis::RedisError> {
    /// assert!(q.is_empty().await?);
    /// # Ok(()) }
    /// ```
    pub async fn is_empty(&self) -> Result<bool, RedisError> {
        Ok(self.len().await? == 0)
    }
}
