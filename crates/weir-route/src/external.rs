//! Queues, streams and asynchronous invocation queues that live outside the router: the
//! seams through which another crate (weir-serve, on Redis) takes a function's `Event`
//! invocations or receives the records the invocation layer sends to destinations, without
//! this crate knowing how they are stored.
//!
//! - A [`Destination`] attached with [`crate::Router::attach_destination`] stands for a queue
//!   or a stream of that name: functions' on-success / on-failure destinations and
//!   dead-letter queues, mappings' on-failure destinations and bus rules' targets that name
//!   it write to it, with the same records as an in-memory queue or stream receives.
//! - An [`EventQueue`] set with [`crate::Router::set_event_queue`] takes a function's
//!   `Event` invocations (from `Invoke`, bus rules and destinations) instead of the router's
//!   in-memory queue; whoever works it runs the function and hands each finished event back
//!   to [`crate::Router::complete_event`], which sends its record to the function's
//!   destinations.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::handler::Outcome;

/// What [`Destination::send`] answers: `Err` with a reason when the record was not stored.
pub type SendFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// What [`EventQueue::enqueue`] answers: the request id of the accepted event, or why it
/// was refused.
pub type EnqueueFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// One record on its way to a destination.
///
/// # Example
/// ```
/// let r = weir_route::DestinationRecord::new(b"{}".to_vec(), "key");
/// assert!(r.attributes.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationRecord {
    /// The message body (queue) or the record's data (stream): an invocation record, a
    /// dead-lettered event, or a bus rule's event.
    pub body: Vec<u8>,
    /// Message attributes (a dead-letter queue's `RequestID`, `ErrorCode`, `ErrorMessage`).
    pub attributes: Vec<(String, String)>,
    /// The partition key (streams).
    pub partition_key: String,
}

impl DestinationRecord {
    /// A record without attributes.
    ///
    /// # Example
    /// ```
    /// let r = weir_route::DestinationRecord::new(b"x".to_vec(), "k");
    /// assert_eq!(r.partition_key, "k");
    /// ```
    pub fn new(body: Vec<u8>, partition_key: impl Into<String>) -> DestinationRecord {
        DestinationRecord {
            body,
            attributes: Vec::new(),
            partition_key: partition_key.into(),
        }
    }
}

/// A queue or stream kept outside the router, as a destination.
///
/// # Example
/// ```
/// use std::sync::{Arc, Mutex};
/// use weir_route::{Destination, DestinationRecord, SendFuture};
/// struct Log(Arc<Mutex<Vec<Vec<u8>>>>);
/// impl Destination for Log {
///     fn send(&self, record: DestinationRecord) -> SendFuture {
///         self.0.lock().unwrap().push(record.body);
///         Box::pin(async { Ok(()) })
///     }
/// }
/// let log = Log(Arc::default());
/// let _ = log.send(DestinationRecord::new(b"{}".to_vec(), "k"));
/// assert_eq!(log.0.lock().unwrap().len(), 1);
/// ```
pub trait Destination: Send + Sync + 'static {
    /// Stores one record; the future completes once it is stored.
    fn send(&self, record: DestinationRecord) -> SendFuture;
}

/// An event accepted for asynchronous invocation, with the settings of its function at the
/// time (so a queue kept elsewhere can apply them after a restart).
///
/// # Example
/// ```
/// let e = weir_route::QueuedEvent::new("f", b"{}".to_vec());
/// assert_eq!(e.maximum_retry_attempts, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueuedEvent {
    /// The function's name.
    pub function: String,
    /// The event.
    pub payload: Vec<u8>,
    /// `MaximumRetryAttempts`.
    pub maximum_retry_attempts: u32,
    /// `MaximumEventAgeInSeconds`.
    pub maximum_event_age: Duration,
    /// The waits before the first and the second retry.
    pub retry_delays: [Duration; 2],
}

impl QueuedEvent {
    /// An event with Lambda's default settings.
    ///
    /// # Example
    /// ```
    /// let e = weir_route::QueuedEvent::new("f", vec![]);
    /// assert_eq!(e.maximum_event_age.as_secs(), 21_600);
    /// ```
    pub fn new(function: impl Into<String>, payload: Vec<u8>) -> QueuedEvent {
        let defaults = crate::EventInvokeConfig::default();
        QueuedEvent {
            function: function.into(),
            payload,
            maximum_retry_attempts: defaults.maximum_retry_attempts,
            maximum_event_age: defaults.maximum_event_age,
            retry_delays: defaults.retry_delays,
        }
    }
}

/// An asynchronous invocation queue kept outside the router.
///
/// # Example
/// ```
/// use weir_route::{EnqueueFuture, EventQueue, QueuedEvent};
/// struct Refuse;
/// impl EventQueue for Refuse {
///     fn enqueue(&self, _: QueuedEvent) -> EnqueueFuture {
///         Box::pin(async { Err("full".to_string()) })
///     }
/// }
/// # let _ = Refuse;
/// ```
pub trait EventQueue: Send + Sync + 'static {
    /// Stores an accepted event; the future answers its request id once it is stored.
    fn enqueue(&self, event: QueuedEvent) -> EnqueueFuture;
}

/// How an asynchronous invocation ended, for [`crate::Router::complete_event`].
///
/// # Example
/// ```
/// let r = weir_route::EventResult::new("r-1", "RetriesExhausted", 3, b"{}".to_vec(), None);
/// assert!(!r.is_success());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventResult {
    /// The request id.
    pub request_id: String,
    /// `Success`, `RetriesExhausted` or `EventAgeExceeded`.
    pub condition: String,
    /// How many times the function ran.
    pub invoke_count: u32,
    /// The event.
    pub payload: Vec<u8>,
    /// The last attempt's outcome, when the function ran.
    pub response: Option<Outcome>,
}

impl EventResult {
    /// A result.
    ///
    /// # Example
    /// ```
    /// let r = weir_route::EventResult::new("r", "Success", 1, vec![], Some(weir_route::Outcome::Success(vec![])));
    /// assert!(r.is_success());
    /// ```
    pub fn new(
        request_id: impl Into<String>,
        condition: impl Into<String>,
        invoke_count: u32,
        payload: Vec<u8>,
        response: Option<Outcome>,
    ) -> EventResult {
        EventResult {
            request_id: request_id.into(),
            condition: condition.into(),
            invoke_count,
            payload,
            response,
        }
    }

    /// Whether the event succeeded (its record goes to the on-success destination; the
    /// others' to the on-failure destination and the dead-letter queue).
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::EventResult::new("r", "Success", 1, vec![], None).is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        self.condition == "Success"
    }
}
