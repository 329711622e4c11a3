//! An in-memory queue with SQS's delivery rules: a received message is hidden for the
//! visibility timeout and comes back unless it is deleted; a message received more than
//! `maxReceiveCount` times moves to the dead-letter queue on its next receive.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::clock::{new_id, Clock};
use crate::error::{ValidationError, Violations};

/// A queue's redrive policy (`RedrivePolicy`): after `max_receive_count` receives without a
/// delete, the message moves to the queue named `dead_letter_target`.
///
/// # Example
/// ```
/// let policy = weir_route::RedrivePolicy::new("orders-dlq", 3);
/// assert_eq!(policy.max_receive_count, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedrivePolicy {
    /// The dead-letter queue's name.
    pub dead_letter_target: String,
    /// Receives before the move (1-1000).
    pub max_receive_count: u32,
}

impl RedrivePolicy {
    /// A policy.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::RedrivePolicy::new("dlq", 1).dead_letter_target, "dlq");
    /// ```
    pub fn new(dead_letter_target: impl Into<String>, max_receive_count: u32) -> RedrivePolicy {
        RedrivePolicy {
            dead_letter_target: dead_letter_target.into(),
            max_receive_count,
        }
    }
}

/// A queue's configuration (`AWS::SQS::Queue`).
///
/// # Example
/// ```
/// let config = weir_route::QueueConfig::new("orders").visibility_timeout_seconds(5);
/// assert_eq!(config.visibility_timeout.as_secs(), 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueConfig {
    /// The queue's name.
    pub name: String,
    /// How long a received message stays hidden (0 s - 12 h, default 30 s).
    pub visibility_timeout: Duration,
    /// How long a message is kept (60 s - 14 days, default 4 days).
    pub message_retention: Duration,
    /// Where messages received too often go.
    pub redrive_policy: Option<RedrivePolicy>,
}

impl QueueConfig {
    /// A queue with SQS's defaults.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::QueueConfig::new("q").visibility_timeout.as_secs(), 30);
    /// ```
    pub fn new(name: impl Into<String>) -> QueueConfig {
        QueueConfig {
            name: name.into(),
            visibility_timeout: Duration::from_secs(30),
            message_retention: Duration::from_secs(345_600),
            redrive_policy: None,
        }
    }

    /// Sets `VisibilityTimeout`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::QueueConfig::new("q").visibility_timeout_seconds(0).visibility_timeout.as_secs(), 0);
    /// ```
    pub fn visibility_timeout_seconds(mut self, seconds: u64) -> Self {
        self.visibility_timeout = Duration::from_secs(seconds);
        self
    }

    /// Sets `MessageRetentionPeriod`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::QueueConfig::new("q").message_retention_seconds(60).message_retention.as_secs(), 60);
    /// ```
    pub fn message_retention_seconds(mut self, seconds: u64) -> Self {
        self.message_retention = Duration::from_secs(seconds);
        self
    }

    /// Sets the redrive policy.
    ///
    /// # Example
    /// ```
    /// use weir_route::{QueueConfig, RedrivePolicy};
    /// let c = QueueConfig::new("q").redrive_policy(RedrivePolicy::new("dlq", 2));
    /// assert!(c.redrive_policy.is_some());
    /// ```
    pub fn redrive_policy(mut self, policy: RedrivePolicy) -> Self {
        self.redrive_policy = Some(policy);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Violations::default();
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 80
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            v.push(format!(
                "Value '{}' at 'queueName' failed to satisfy constraint: Can only include \
                 alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
                self.name
            ));
        }
        v.range(
            "visibilityTimeout",
            Some(self.visibility_timeout.as_secs() as i64),
            0,
            43_200,
        );
        v.range(
            "messageRetentionPeriod",
            Some(self.message_retention.as_secs() as i64),
            60,
            1_209_600,
        );
        if let Some(p) = &self.redrive_policy {
            v.range(
                "redrivePolicy.maxReceiveCount",
                Some(i64::from(p.max_receive_count)),
                1,
                1000,
            );
        }
        v.finish()
    }
}

/// A message as a receive returns it.
///
/// # Example
/// ```
/// # use weir_route::{Router, QueueConfig};
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let router = Router::new();
/// let queue = router.create_queue(QueueConfig::new("q"))?;
/// queue.send("hello");
/// let message = &queue.receive(1)[0];
/// assert_eq!(message.body, "hello");
/// assert_eq!(message.receive_count, 1);
/// # Ok::<(), weir_route::ValidationError>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedMessage {
    /// The message id.
    pub message_id: String,
    /// This receive's handle (for [`Queue::delete`]).
    pub receipt_handle: String,
    /// The body.
    pub body: String,
    /// How many times it has been received, this receive included
    /// (`ApproximateReceiveCount`).
    pub receive_count: u32,
    /// When it was sent (`SentTimestamp`, ms since the epoch).
    pub sent_timestamp: u64,
    /// When it was first received (`ApproximateFirstReceiveTimestamp`).
    pub first_receive_timestamp: u64,
    /// Its message attributes (string values).
    pub message_attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Message {
    seq: u64,
    id: String,
    body: String,
    attributes: Vec<(String, String)>,
    sent: u64,
    first_receive: Option<u64>,
    receive_count: u32,
}

#[derive(Default)]
struct State {
    ready: VecDeque<Message>,
    /// Received messages by sequence number, with their current receipt and when they
    /// become visible again.
    inflight: HashMap<u64, (Message, String, Instant)>,
    /// (visible again at, seq, receive count): entries whose receive count no longer
    /// matches are stale (the message was deleted or received again).
    returns: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    next_seq: u64,
}

pub(crate) struct QueueInner {
    pub(crate) config: QueueConfig,
    pub(crate) arn: String,
    state: Mutex<State>,
    /// Messages taken out for the dead-letter queue and not yet in it (counted in `len`,
    /// so the queue never looks empty while a message is between the two).
    moving: std::sync::atomic::AtomicUsize,
    notify: Notify,
    clock: Arc<dyn Clock>,
    dead_letter: Option<Queue>,
    changed: Arc<Notify>,
}

/// An in-memory queue (cheap to clone: clones share the queue).
///
/// # Example
/// ```
/// # use weir_route::{Router, QueueConfig};
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let router = Router::new();
/// let queue = router.create_queue(QueueConfig::new("q"))?;
/// queue.send("a");
/// let received = queue.receive(10);
/// assert_eq!(queue.len(), 1); // hidden, not gone
/// assert!(queue.delete(&received[0].receipt_handle));
/// assert!(queue.is_empty());
/// # Ok::<(), weir_route::ValidationError>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Queue(pub(crate) Arc<QueueInner>);

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.0.config.name)
            .finish_non_exhaustive()
    }
}

impl Queue {
    pub(crate) fn new(
        config: QueueConfig,
        arn: String,
        clock: Arc<dyn Clock>,
        dead_letter: Option<Queue>,
        changed: Arc<Notify>,
    ) -> Queue {
        Queue(Arc::new(QueueInner {
            config,
            arn,
            state: Mutex::new(State::default()),
            moving: std::sync::atomic::AtomicUsize::new(0),
            notify: Notify::new(),
            clock,
            dead_letter,
            changed,
        }))
    }

    /// The queue's name.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, QueueConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// assert_eq!(Router::new().create_queue(QueueConfig::new("q"))?.name(), "q");
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.0.config.name
    }

    /// The queue's ARN.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, QueueConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let q = Router::new().create_queue(QueueConfig::new("q"))?;
    /// assert_eq!(q.arn(), "arn:aws:sqs:us-east-1:000000000000:q");
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn arn(&self) -> &str {
        &self.0.arn
    }

    /// Sends a message; returns its id.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, QueueConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let q = Router::new().create_queue(QueueConfig::new("q"))?;
    /// assert_eq!(q.send("x").len(), 36);
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send(&self, body: impl Into<String>) -> String {
        self.send_with_attributes(body, Vec::new())
    }

    /// Sends a message with string message attributes; returns its id.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, QueueConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let q = Router::new().create_queue(QueueConfig::new("q"))?;
    /// q.send_with_attributes("x", vec![("k".into(), "v".into())]);
    /// assert_eq!(q.receive(1)[0].message_attributes, [("k".to_string(), "v".to_string())]);
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_with_attributes(
        &self,
        body: impl Into<String>,
        attributes: Vec<(String, String)>,
    ) -> String {
        let id = new_id();
        let sent = self.0.clock.now_ms();
        self.push(Message {
            seq: 0,
            id: id.clone(),
            body: body.into(),
            attributes,
            sent,
            first_receive: None,
            receive_count: 0,
        });
        id
    }

    fn push(&self, mut message: Message) {
        {
            let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
            message.seq = state.next_seq;
            state.next_seq += 1;
            state.ready.push_back(message);
        }
        self.0.notify.notify_waiters();
        self.0.changed.notify_waiters();
    }

    /// Receives up to `max` visible messages, hiding them for the queue's visibility timeout.
    /// A message already received `maxReceiveCount` times moves to the dead-letter queue
    /// instead; a message older than the retention period is deleted.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, QueueConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let q = Router::new().create_queue(QueueConfig::new("q"))?;
    /// q.send("a");
    /// q.send("b");
    /// assert_eq!(q.receive(1).len(), 1);
    /// assert_eq!(q.receive(10).len(), 1);
    /// assert!(q.receive(10).is_empty());
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn receive(&self, max: usize) -> Vec<ReceivedMessage> {
        let now = Instant::now();
        let now_ms = self.0.clock.now_ms();
        let visibility = self.0.config.visibility_timeout;
        let retention = self.0.config.message_retention.as_millis() as u64;
        let mut out = Vec::new();
        let mut redrive = Vec::new();
        {
            let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
            return_expired(&mut state, now);
            while out.len() < max {
                let Some(mut m) = state.ready.pop_front() else {
                    break;
                };
                if now_ms.saturating_sub(m.sent) >= retention {
                    continue;
                }
                if let (Some(policy), Some(_)) =
                    (&self.0.config.redrive_policy, &self.0.dead_letter)
                {
                    if m.receive_count >= policy.max_receive_count {
                        self.0
                            .moving
                            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                        redrive.push(m);
                        continue;
                    }
                }
                m.receive_count += 1;
                let first = *m.first_receive.get_or_insert(now_ms);
                let receipt = format!("{}:{}:{}", m.seq, m.receive_count, new_id());
                let visible_at = now + visibility;
                state
                    .returns
                    .push(Reverse((visible_at, m.seq, m.receive_count)));
                out.push(ReceivedMessage {
                    message_id: m.id.clone(),
                    receipt_handle: receipt.clone(),
                    body: m.body.clone(),
                    receive_count: m.receive_count,
                    sent_timestamp: m.sent,
                    first_receive_timestamp: first,
                    message_attributes: m.attributes.clone(),
                });
                state.inflight.insert(m.seq, (m, receipt, visible_at));
            }
        }
        if let Some(dlq) = &self.0.dead_letter {
            for mut m in redrive {
                m.receive_count = 0;
                m.first_receive = None;
                dlq.push(m);
                self.0
                    .moving
                    .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                self.0.changed.notify_waiters();
            }
        }
        out
    }

    /// Deletes a received message by its receipt handle; `false` when the handle is not the
    /// message's current one (it was deleted, or became visible and was received again).
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, QueueConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let q = Router::new().create_queue(QueueConfig::new("q"))?;
    /// q.send("a");
    /// let handle = q.receive(1)[0].receipt_handle.clone();
    /// assert!(q.delete(&handle));
    /// assert!(!q.delete(&handle));
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn delete(&self, receipt_handle: &str) -> bool {
        let Some(seq) = receipt_handle
            .split(':')
            .next()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return false;
        };
        let deleted = {
            let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
            match state.inflight.get(&seq) {
                Some((_, receipt, _)) if receipt == receipt_handle => {
                    state.inflight.remove(&seq);
                    true
                }
                _ => false,
            }
        };
        if deleted {
            self.0.changed.notify_waiters();
        }
        deleted
    }

    /// Messages in the queue, visible or hidden.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, QueueConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let q = Router::new().create_queue(QueueConfig::new("q"))?;
    /// q.send("a");
    /// assert_eq!(q.len(), 1);
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        let state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        state.ready.len()
            + state.inflight.len()
            + self.0.moving.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the queue holds no message, visible or hidden.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, QueueConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// assert!(Router::new().create_queue(QueueConfig::new("q"))?.is_empty());
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns every message's body, visible or hidden, oldest first (for
    /// inspecting a destination or dead-letter queue).
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, QueueConfig};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let q = Router::new().create_queue(QueueConfig::new("q"))?;
    /// q.send("a");
    /// q.send("b");
    /// assert_eq!(q.drain(), ["a", "b"]);
    /// assert!(q.is_empty());
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn drain(&self) -> Vec<String> {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<Message> = state.ready.drain(..).collect();
        all.extend(state.inflight.drain().map(|(_, (m, _, _))| m));
        state.returns.clear();
        all.sort_by_key(|m| m.seq);
        all.into_iter().map(|m| m.body).collect()
    }

    /// Waits until a message may be visible: one is sent, or a hidden one's visibility
    /// timeout ends. Returns at once when one is visible.
    pub(crate) async fn wait_visible(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = {
                let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
                return_expired(&mut state, Instant::now());
                if !state.ready.is_empty() {
                    return;
                }
                state.returns.peek().map(|Reverse((at, _, _))| *at)
            };
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// Moves messages whose visibility timeout has ended back to the ready list.
fn return_expired(state: &mut State, now: Instant) {
    while let Some(Reverse((at, seq, count))) = state.returns.peek().copied() {
        if at > now {
            break;
        }
        state.returns.pop();
        let current =
            matches!(state.inflight.get(&seq), Some((m, _, _)) if m.receive_count == count);
        if current {
            if let Some((m, _, _)) = state.inflight.remove(&seq) {
                state.ready.push_back(m);
            }
        }
    }
}
