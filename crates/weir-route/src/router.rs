//! The [`Router`]: functions, queues, streams, buses and event source mappings in one place,
//! and the `Invoke` operation with Lambda's rules.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{watch, Notify, Semaphore};

use crate::bus::{Bus, RuleConfig};
use crate::clock::{iso8601, new_id, Clock, TokioClock};
use crate::error::{InvokeError, InvokeErrorKind, ValidationError};
use crate::external::{
    Destination, DestinationRecord, EnqueueFuture, EventQueue, EventResult, QueuedEvent, SendFuture,
};
use crate::function::{EventInvokeConfig, FunctionConfig, FunctionState, Target};
use crate::handler::{FunctionError, Handler, HandlerFuture, Invocation, Outcome};
use crate::metrics::{
    add, FunctionCounters, FunctionMetrics, MappingCounters, MappingMetrics, RuleCounters,
    RuleMetrics,
};
use crate::queue::{Queue, QueueConfig};
use crate::stream::{Stream, StreamConfig};

/// The largest synchronous invocation payload: 6 MB (6,291,456 bytes).
///
/// # Example
/// ```
/// assert_eq!(weir_route::MAX_SYNC_PAYLOAD, 6 * 1024 * 1024);
/// ```
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;

/// The largest asynchronous invocation payload: 1 MB (1,048,576 bytes).
///
/// # Example
/// ```
/// assert_eq!(weir_route::MAX_ASYNC_PAYLOAD, 1024 * 1024);
/// ```
pub const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

/// How a function is invoked (`InvocationType`).
///
/// # Example
/// ```
/// use weir_route::InvocationType;
/// assert_eq!("Event".parse::<InvocationType>()?, InvocationType::Event);
/// assert!("event".parse::<InvocationType>().is_err());
/// # Ok::<(), weir_route::ValidationError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InvocationType {
    /// Run the function and wait for its response (status 200).
    #[default]
    RequestResponse,
    /// Queue the event for asynchronous invocation (status 202).
    Event,
    /// Check the request only (status 204).
    DryRun,
}

impl std::str::FromStr for InvocationType {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RequestResponse" => Ok(InvocationType::RequestResponse),
            "Event" => Ok(InvocationType::Event),
            "DryRun" => Ok(InvocationType::DryRun),
            _ => Err(ValidationError::invalid_parameter(format!(
                "1 validation error detected: Value '{s}' at 'invocationType' failed to \
                 satisfy constraint: Member must satisfy enum value set: [Event, \
                 RequestResponse, DryRun]"
            ))
            .with_type("ValidationException")),
        }
    }
}

/// What `Invoke` answers when the request was accepted.
///
/// # Example
/// ```
/// use weir_route::{FunctionConfig, InvocationType, Invocation, Outcome, Router};
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let router = Router::new();
/// router.create_function(FunctionConfig::new("echo"), |i: Invocation| async move { Outcome::Success(i.payload) })?;
/// let out = router.invoke("echo", InvocationType::RequestResponse, br#"{"a":1}"#.to_vec()).await?;
/// assert_eq!(out.status_code, 200);
/// assert_eq!(out.payload, br#"{"a":1}"#);
/// assert_eq!(out.function_error, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvokeOutput {
    /// 200 (`RequestResponse`), 202 (`Event`) or 204 (`DryRun`).
    pub status_code: u16,
    /// `Some("Unhandled")` when the function failed.
    pub function_error: Option<String>,
    /// The response (the error payload on a function error; empty for 202 and 204).
    pub payload: Vec<u8>,
    /// `$LATEST`.
    pub executed_version: String,
    /// The request id.
    pub request_id: String,
}

/// An event taken by [`Router::enqueue_event`]: queued in memory (its request id), or on its
/// way to an external [`EventQueue`].
pub(crate) enum Accepted {
    Now(String),
    Later(EnqueueFuture),
}

/// A delivery to a target: done, or on its way to an external [`Destination`] or
/// [`EventQueue`].
pub(crate) enum Delivery {
    Done(Result<(), String>),
    Later(SendFuture),
}

/// How one attempt at running a function went ([`Router::attempt`]).
///
/// # Example
/// ```
/// let a = weir_route::Attempt::Throttled;
/// assert!(!matches!(a, weir_route::Attempt::Ran(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The function ran: its outcome.
    Ran(Outcome),
    /// No concurrency left (reserved concurrency in use): nothing ran.
    Throttled,
    /// The function is not `Active` (pending, inactive or failed): nothing ran.
    NotReady,
}

pub(crate) struct Function {
    pub(crate) config: FunctionConfig,
    pub(crate) arn: String,
    handler: Arc<dyn Handler>,
    state: Mutex<FunctionState>,
    permits: Option<Arc<Semaphore>>,
    pub(crate) counters: FunctionCounters,
}

/// A mapping as the router keeps it: its counters and how to tell it is idle.
pub(crate) struct MappingEntry {
    pub(crate) uuid: String,
    pub(crate) counters: Arc<MappingCounters>,
    pub(crate) idle: Box<dyn Fn() -> bool + Send + Sync>,
}

pub(crate) struct Inner {
    pub(crate) region: String,
    pub(crate) account: String,
    pub(crate) clock: Arc<dyn Clock>,
    /// How patterns (FilterCriteria, bus rules) are read.
    pub(crate) options: RwLock<weir::Options>,
    functions: RwLock<HashMap<String, Arc<Function>>>,
    queues: RwLock<HashMap<String, Queue>>,
    streams: RwLock<HashMap<String, Stream>>,
    buses: RwLock<HashMap<String, Bus>>,
    /// Queues and streams kept elsewhere, by the target naming them.
    destinations: RwLock<HashMap<Target, Arc<dyn Destination>>>,
    /// Functions whose `Event` invocations are queued elsewhere, by function name.
    event_queues: RwLock<HashMap<String, Arc<dyn EventQueue>>>,
    pub(crate) mappings: RwLock<Vec<MappingEntry>>,
    busy: AtomicUsize,
    pub(crate) changed: Arc<Notify>,
    pub(crate) stop: watch::Sender<bool>,
}

/// The invocation layer's world: functions, queues, streams, event buses and event source
/// mappings, invoked and delivered with Lambda's rules. Cheap to clone (clones share it).
///
/// Methods that start work in the background (asynchronous invocation, event source
/// mappings, bus targets) must be called inside a tokio runtime.
///
/// # Example
/// ```
/// use weir_route::{FunctionConfig, InvocationType, Invocation, Outcome, Router};
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let router = Router::new();
/// router.create_function(FunctionConfig::new("hello"), |_: Invocation| async {
///     Outcome::Success(br#""hi""#.to_vec())
/// })?;
/// let out = router.invoke("hello", InvocationType::RequestResponse, b"{}".to_vec()).await?;
/// assert_eq!(out.payload, br#""hi""#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Router(pub(crate) Arc<Inner>);

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("region", &self.0.region)
            .field("account", &self.0.account)
            .finish_non_exhaustive()
    }
}

/// Counts work in progress while alive; its drop wakes [`Router::wait_idle`].
pub(crate) struct Busy(Arc<Inner>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }
}

/// A handler's future with its panics caught.
struct CatchUnwind(HandlerFuture);

impl Future for CatchUnwind {
    type Output = Result<Outcome, Box<dyn Any + Send>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Ready(outcome)) => Poll::Ready(Ok(outcome)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "the handler panicked".to_string()
    }
}

/// The message of a timed-out invocation, as Lambda words it.
///
/// # Example
/// ```
/// let m = weir_route::timeout_message("r-1", std::time::Duration::from_secs(3));
/// assert_eq!(m, "RequestId: r-1 Error: Task timed out after 3.00 seconds");
/// ```
pub fn timeout_message(request_id: &str, timeout: Duration) -> String {
    format!(
        "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
        timeout.as_secs_f64()
    )
}

impl Router {
    /// An empty router in region `us-east-1`, account `000000000000`, on a [`TokioClock`].
    ///
    /// # Example
    /// ```
    /// let router = weir_route::Router::new();
    /// assert_eq!(router.function_arn("f"), "arn:aws:lambda:us-east-1:000000000000:function:f");
    /// ```
    pub fn new() -> Router {
        Router::with_clock(Arc::new(TokioClock::new()))
    }

    /// An empty router reading wall-clock time from `clock`.
    ///
    /// # Example
    /// ```
    /// use std::sync::Arc;
    /// let router = weir_route::Router::with_clock(Arc::new(weir_route::TokioClock::starting_at(0)));
    /// assert!(router.clock().now_ms() < 1000);
    /// ```
    pub fn with_clock(clock: Arc<dyn Clock>) -> Router {
        let (stop, _) = watch::channel(false);
        let router = Router(Arc::new(Inner {
            region: "us-east-1".to_string(),
            account: "000000000000".to_string(),
            clock,
            options: RwLock::new(weir::Options::default()),
            functions: RwLock::new(HashMap::new()),
            queues: RwLock::new(HashMap::new()),
            streams: RwLock::new(HashMap::new()),
            buses: RwLock::new(HashMap::new()),
            destinations: RwLock::new(HashMap::new()),
            event_queues: RwLock::new(HashMap::new()),
            mappings: RwLock::new(Vec::new()),
            busy: AtomicUsize::new(0),
            changed: Arc::new(Notify::new()),
            stop,
        }));
        write(&router.0.buses).insert("default".to_string(), Bus::new("default".into()));
        router
    }

    /// Sets how the patterns of mappings and rules created from now on are read (for
    /// instance `lambda_strict`, refusing what Lambda's filtering does not support).
    ///
    /// # Example
    /// ```
    /// use weir_route::{Router, RuleConfig};
    /// let router = Router::new();
    /// router.set_pattern_options(weir::Options::new().lambda_strict(true));
    /// let err = router.put_rule("default", RuleConfig::new("w", r#"{"a": [{"wildcard": "x*"}]}"#)).unwrap_err();
    /// assert_eq!(err.error_type(), "InvalidEventPatternException");
    /// ```
    pub fn set_pattern_options(&self, options: weir::Options) {
        *write(&self.0.options) = options;
    }

    pub(crate) fn pattern_options(&self) -> weir::Options {
        read(&self.0.options).clone()
    }

    /// The router's region (`us-east-1`), as ARNs and records name it.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::Router::new().region(), "us-east-1");
    /// ```
    pub fn region(&self) -> &str {
        &self.0.region
    }

    /// The router's clock.
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::Router::new().clock().now_ms() > 0);
    /// ```
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.0.clock
    }

    /// A function's ARN.
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::Router::new().function_arn("f").ends_with(":function:f"));
    /// ```
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.0.region, self.0.account
        )
    }

    /// A queue's ARN.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::Router::new().queue_arn("q"), "arn:aws:sqs:us-east-1:000000000000:q");
    /// ```
    pub fn queue_arn(&self, name: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{name}", self.0.region, self.0.account)
    }

    /// A stream's ARN.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::Router::new().stream_arn("s"), "arn:aws:kinesis:us-east-1:000000000000:stream/s");
    /// ```
    pub fn stream_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:kinesis:{}:{}:stream/{name}",
            self.0.region, self.0.account
        )
    }

    /// An event bus's ARN.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::Router::new().bus_arn("default"), "arn:aws:events:us-east-1:000000000000:event-bus/default");
    /// ```
    pub fn bus_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:events:{}:{}:event-bus/{name}",
            self.0.region, self.0.account
        )
    }

    /// Adds a function; returns its ARN. Refused: an invalid configuration (AWS's
    /// constraint messages) or a name in use (`ResourceConflictException`).
    ///
    /// # Example
    /// ```
    /// use weir_route::{FunctionConfig, Invocation, Outcome, Router};
    /// let router = Router::new();
    /// let handler = |_: Invocation| async { Outcome::Success(vec![]) };
    /// router.create_function(FunctionConfig::new("f"), handler)?;
    /// let err = router.create_function(FunctionConfig::new("f").timeout_seconds(901), handler).unwrap_err();
    /// assert!(err.message().contains("Member must have value less than or equal to 900"), "{err}");
    /// # Ok::<(), weir_route::ValidationError>(())
    /// ```
    pub fn create_function(
        &self,
        config: FunctionConfig,
        handler: impl Handler,
    ) -> Result<String, ValidationError> {
        self.create_function_arc(config, Arc::new(handler))
    }

    /// [`Router::create_function`] with a shared handler.
    ///
    /// # Example
    /// ```
    /// use std::sync::Arc;
    /// use weir_route::{CommandHandler, FunctionConfig, ProcessSpec, Router};
    /// let router = Router::new();
    /// router.create_function_arc(FunctionConfig::new("cat"), Arc::new(CommandHandler::new(ProcessSpec::new("cat"))))?;
    /// # Ok::<(), weir_route::ValidationError>(())
    /// ```
    pub fn create_function_arc(
        &self,
        config: FunctionConfig,
        handler: Arc<dyn Handler>,
    ) -> Result<String, ValidationError> {
        config.validate()?;
        let arn = self.function_arn(&config.name);
        let mut functions = write(&self.0.functions);
        if functions.contains_key(&config.name) {
            return Err(ValidationError::conflict(format!(
                "Function already exist: {}",
                config.name
            )));
        }
        let permits = config
            .reserved_concurrency
            .map(|n| Arc::new(Semaphore::new(n as usize)));
        functions.insert(
            config.name.clone(),
            Arc::new(Function {
                state: Mutex::new(config.state),
                config,
                arn: arn.clone(),
                handler,
                permits,
                counters: FunctionCounters::default(),
            }),
        );
        Ok(arn)
    }

    /// Changes a function's state (as Lambda moves a function between states).
    ///
    /// # Example
    /// ```
    /// use weir_route::{FunctionConfig, FunctionState, Invocation, Outcome, Router};
    /// let router = Router::new();
    /// router.create_function(FunctionConfig::new("f"), |_: Invocation| async { Outcome::Success(vec![]) })?;
    /// router.set_function_state("f", FunctionState::Inactive)?;
    /// assert_eq!(router.function_state("f"), Some(FunctionState::Inactive));
    /// # Ok::<(), weir_route::ValidationError>(())
    /// ```
    pub fn set_function_state(
        &self,
        name: &str,
        state: FunctionState,
    ) -> Result<(), ValidationError> {
        let function = self.function(name).ok_or_else(|| {
            ValidationError::not_found(format!("Function not found: {}", self.function_arn(name)))
        })?;
        *function.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
        Ok(())
    }

    /// A function's state, `None` if there is no such function.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::Router::new().function_state("nope"), None);
    /// ```
    pub fn function_state(&self, name: &str) -> Option<FunctionState> {
        self.function(name)
            .map(|f| *f.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A function's timeout, or `None` when there is no such function.
    ///
    /// # Example
    /// ```
    /// let router = weir_route::Router::new();
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let config = weir_route::FunctionConfig::new("f").timeout_seconds(10);
    /// router.create_function(config, |_| async { weir_route::Outcome::Success(vec![]) })?;
    /// assert_eq!(router.function_timeout("f"), Some(std::time::Duration::from_secs(10)));
    /// assert_eq!(router.function_timeout("g"), None);
    /// # Ok::<(), weir_route::ValidationError>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn function_timeout(&self, name: &str) -> Option<std::time::Duration> {
        self.function(name).map(|f| f.config.timeout)
    }

    /// The names of the functions, sorted.
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::Router::new().function_names().is_empty());
    /// ```
    pub fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = read(&self.0.functions).keys().cloned().collect();
        names.sort();
        names
    }

    /// The function an invocation names (`ResourceNotFoundException` when there is none) and
    /// its payload, `{}` when empty (as Lambda takes an empty body).
    fn invocable(
        &self,
        name: &str,
        payload: Vec<u8>,
    ) -> Result<(Arc<Function>, Vec<u8>), InvokeError> {
        let function = self.function(name).ok_or_else(|| {
            InvokeError::new(
                InvokeErrorKind::ResourceNotFound,
                format!("Function not found: {}", self.function_arn(name)),
            )
        })?;
        let payload = if payload.is_empty() {
            b"{}".to_vec()
        } else {
            payload
        };
        Ok((function, payload))
    }

    pub(crate) fn function(&self, name: &str) -> Option<Arc<Function>> {
        read(&self.0.functions).get(name).cloned()
    }

    /// A function's counters.
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::Router::new().function_metrics("nope").is_none());
    /// ```
    pub fn function_metrics(&self, name: &str) -> Option<FunctionMetrics> {
        self.function(name).map(|f| f.counters.snapshot())
    }

    /// Adds a queue. Its redrive policy's dead-letter queue must exist already.
    ///
    /// # Example
    /// ```
    /// use weir_route::{QueueConfig, RedrivePolicy, Router};
    /// let router = Router::new();
    /// let err = router.create_queue(QueueConfig::new("q").redrive_policy(RedrivePolicy::new("dlq", 3))).unwrap_err();
    /// assert_eq!(err.error_type(), "ResourceNotFoundException");
    /// router.create_queue(QueueConfig::new("dlq"))?;
    /// router.create_queue(QueueConfig::new("q").redrive_policy(RedrivePolicy::new("dlq", 3)))?;
    /// # Ok::<(), weir_route::ValidationError>(())
    /// ```
    pub fn create_queue(&self, config: QueueConfig) -> Result<Queue, ValidationError> {
        config.validate()?;
        let dead_letter = match &config.redrive_policy {
            Some(policy) => Some(self.queue(&policy.dead_letter_target).ok_or_else(|| {
                ValidationError::not_found(format!(
                    "the dead-letter queue {} of queue {} does not exist",
                    policy.dead_letter_target, config.name
                ))
            })?),
            None => None,
        };
        // A queue attached as a destination (on Redis) holds its name too.
        let attached = read(&self.0.destinations).contains_key(&Target::Queue(config.name.clone()));
        let mut queues = write(&self.0.queues);
        if attached || queues.contains_key(&config.name) {
            return Err(ValidationError::conflict(format!(
                "A queue already exists with the same name: {}",
                config.name
            )));
        }
        let arn = self.queue_arn(&config.name);
        let queue = Queue::new(
            config.clone(),
            arn,
            self.0.clock.clone(),
            dead_letter,
            self.0.changed.clone(),
        );
        queues.insert(config.name, queue.clone());
        Ok(queue)
    }

    /// A queue by name.
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::Router::new().queue("nope").is_none());
    /// ```
    pub fn queue(&self, name: &str) -> Option<Queue> {
        read(&self.0.queues).get(name).cloned()
    }

    /// The names of the queues, sorted.
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::Router::new().queue_names().is_empty());
    /// ```
    pub fn queue_names(&self) -> Vec<String> {
        let mut names: Vec<String> = read(&self.0.queues).keys().cloned().collect();
        names.sort();
        names
    }

    /// Adds a stream.
    ///
    /// # Example
    /// ```
    /// use weir_route::{Router, StreamConfig};
    /// let err = Router::new().create_stream(StreamConfig::new("s").shard_count(0)).unwrap_err();
    /// assert!(err.message().contains("at 'shardCount'"));
    /// ```
    pub fn create_stream(&self, config: StreamConfig) -> Result<Stream, ValidationError> {
        config.validate()?;
        let attached =
            read(&self.0.destinations).contains_key(&Target::Stream(config.name.clone()));
        let mut streams = write(&self.0.streams);
        if attached || streams.contains_key(&config.name) {
            return Err(ValidationError::conflict(format!(
                "Stream {} under account {} already exists.",
                config.name, self.0.account
            ))
            .with_type("ResourceInUseException"));
        }
        let arn = self.stream_arn(&config.name);
        let stream = Stream::new(
            config.clone(),
            arn,
            self.0.clock.clone(),
            self.0.changed.clone(),
        );
        streams.insert(config.name, stream.clone());
        Ok(stream)
    }

    /// A stream by name.
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::Router::new().stream("nope").is_none());
    /// ```
    pub fn stream(&self, name: &str) -> Option<Stream> {
        read(&self.0.streams).get(name).cloned()
    }

    /// Adds an event bus (the bus `default` always exists).
    ///
    /// # Example
    /// ```
    /// let router = weir_route::Router::new();
    /// router.create_event_bus("orders")?;
    /// assert!(router.create_event_bus("default").is_err());
    /// # Ok::<(), weir_route::ValidationError>(())
    /// ```
    pub fn create_event_bus(&self, name: &str) -> Result<(), ValidationError> {
        let mut buses = write(&self.0.buses);
        if buses.contains_key(name) {
            return Err(
                ValidationError::conflict(format!("Event bus {name} already exists."))
                    .with_type("ResourceAlreadyExistsException"),
            );
        }
        buses.insert(name.to_string(), Bus::new(name.to_string()));
        Ok(())
    }

    /// The names of the event buses (`default` included), sorted.
    ///
    /// # Example
    /// ```
    /// let router = weir_route::Router::new();
    /// router.create_event_bus("orders")?;
    /// assert_eq!(router.event_bus_names(), ["default", "orders"]);
    /// # Ok::<(), weir_route::ValidationError>(())
    /// ```
    pub fn event_bus_names(&self) -> Vec<String> {
        let mut names: Vec<String> = read(&self.0.buses).keys().cloned().collect();
        names.sort();
        names
    }

    /// Adds or replaces a rule on a bus. The pattern is checked with AWS's reasons
    /// (`InvalidEventPatternException`); every enabled rule of the bus is compiled into one
    /// matcher.
    ///
    /// # Example
    /// ```
    /// use weir_route::{Router, RuleConfig};
    /// let router = Router::new();
    /// let err = router.put_rule("default", RuleConfig::new("r", r#"{"a": []}"#)).unwrap_err();
    /// assert_eq!(err.error_type(), "InvalidEventPatternException");
    /// assert_eq!(err.message(), "Event pattern is not valid. Reason: Empty arrays are not allowed");
    /// # Ok::<(), weir_route::ValidationError>(())
    /// ```
    pub fn put_rule(&self, bus: &str, rule: RuleConfig) -> Result<(), ValidationError> {
        let bus = self.bus(bus).ok_or_else(|| {
            ValidationError::not_found(format!("Event bus {bus} does not exist."))
        })?;
        bus.put_rule(rule, &self.pattern_options())
    }

    pub(crate) fn bus(&self, name: &str) -> Option<Bus> {
        read(&self.0.buses).get(name).cloned()
    }

    /// Puts one event (the whole JSON event, envelope included) on a bus: it is delivered to
    /// the targets of every matching rule (functions invoked asynchronously). Returns the
    /// names of the matching rules, in name order. An event that is not JSON is refused.
    ///
    /// # Example
    /// ```
    /// use weir_route::{QueueConfig, Router, RuleConfig, Target};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let router = Router::new();
    /// let queue = router.create_queue(QueueConfig::new("big"))?;
    /// router.put_rule("default", RuleConfig::new("big", r#"{"detail": {"n": [{"numeric": [">", 10]}]}}"#)
    ///     .target(Target::Queue("big".into())))?;
    /// assert_eq!(router.put_event("default", br#"{"detail": {"n": 11}}"#)?, ["big"]);
    /// assert!(router.put_event("default", br#"{"detail": {"n": 1}}"#)?.is_empty());
    /// assert_eq!(queue.drain(), [r#"{"detail": {"n": 11}}"#]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn put_event(&self, bus: &str, event: &[u8]) -> Result<Vec<String>, ValidationError> {
        self.put_event_from(bus, event, false)
    }

    /// [`Router::put_event`] for an event another bus forwarded (a rule's bus target
    /// elsewhere, such as a bus of weir serve's API): that was its one bus-to-bus hop, so
    /// the bus targets of the rules it matches here are not delivered to, as in
    /// EventBridge; their other targets are.
    ///
    /// # Example
    /// ```
    /// use weir_route::{QueueConfig, Router, RuleConfig, Target};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let router = Router::new();
    /// router.create_event_bus("audit")?;
    /// let queue = router.create_queue(QueueConfig::new("q"))?;
    /// let all = r#"{"source": ["shop"]}"#;
    /// router.put_rule("default", RuleConfig::new("on", all).target(Target::Bus("audit".into())))?;
    /// router.put_rule("audit", RuleConfig::new("keep", all).target(Target::Queue("q".into())))?;
    /// router.put_forwarded_event("default", br#"{"source": "shop"}"#)?;
    /// assert!(queue.drain().is_empty(), "no second hop");
    /// router.put_event("default", br#"{"source": "shop"}"#)?;
    /// assert_eq!(queue.drain().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn put_forwarded_event(
        &self,
        bus: &str,
        event: &[u8],
    ) -> Result<Vec<String>, ValidationError> {
        self.put_event_from(bus, event, true)
    }

    /// [`Router::put_event`]; `from_bus` when the event comes from another bus's rule, whose
    /// bus targets are then not delivered to (events travel one bus-to-bus hop, as in
    /// EventBridge, so buses targeting each other cannot loop).
    fn put_event_from(
        &self,
        bus: &str,
        event: &[u8],
        from_bus: bool,
    ) -> Result<Vec<String>, ValidationError> {
        let bus = self.bus(bus).ok_or_else(|| {
            ValidationError::not_found(format!("Event bus {bus} does not exist."))
        })?;
        let routes = bus.route(event).map_err(|e| {
            ValidationError::invalid_parameter(format!("the event is not valid JSON: {e}"))
        })?;
        let key = new_id();
        let mut names = Vec::with_capacity(routes.len());
        for route in routes {
            add(&route.counters.matched_events, 1);
            for target in &route.targets {
                self.deliver_rule_target(target, event, &key, from_bus, &route.counters);
            }
            names.push(route.name);
        }
        Ok(names)
    }

    /// Delivers a matched event to one rule target, counting the invocation when it ends.
    /// A function that is not ready or is throttled, or whose external queue refuses the
    /// event, is retried with a backoff (1 s, doubling, at most 5 min), up to 185 attempts or
    /// 24 hours, as EventBridge retries, until the router shuts down.
    fn deliver_rule_target(
        &self,
        target: &Target,
        event: &[u8],
        key: &str,
        from_bus: bool,
        counters: &Arc<RuleCounters>,
    ) {
        let ok = match target {
            Target::Bus(_) if from_bus => false,
            Target::Bus(name) => self.put_event_from(name, event, true).is_ok(),
            Target::Function(name) => match self.function(name) {
                None => false,
                Some(function) => match self.enqueue_event(&function, event.to_vec()) {
                    Ok(Accepted::Now(_)) => true,
                    Ok(Accepted::Later(queued)) => {
                        // An external queue (Redis) that refuses the event (unavailable) is
                        // retried as a throttle is: EventBridge retries a delivery Lambda
                        // answers with a service error.
                        let busy = self.busy();
                        let router = self.clone();
                        let (counters, event) = (counters.clone(), event.to_vec());
                        tokio::spawn(async move {
                            if queued.await.is_ok() {
                                add(&counters.invocations, 1);
                            } else {
                                router.retry_rule_target(function, event, counters).await;
                            }
                            drop(busy);
                        });
                        return;
                    }
                    Err(e) if retried_by_the_bus(&e) => {
                        let busy = self.busy();
                        let router = self.clone();
                        let (counters, event) = (counters.clone(), event.to_vec());
                        tokio::spawn(async move {
                            router.retry_rule_target(function, event, counters).await;
                            drop(busy);
                        });
                        return;
                    }
                    Err(_) => false,
                },
            },
            _ => match self.start_delivery(target, DestinationRecord::new(event.to_vec(), key)) {
                Delivery::Done(result) => result.is_ok(),
                Delivery::Later(future) => {
                    self.count_later(future, counters);
                    return;
                }
            },
        };
        add(&counters.invocations, 1);
        if !ok {
            add(&counters.failed_invocations, 1);
        }
    }

    /// Counts a rule target's delivery when it ends (the router is busy until then).
    fn count_later(&self, future: SendFuture, counters: &Arc<RuleCounters>) {
        let busy = self.busy();
        let counters = counters.clone();
        tokio::spawn(async move {
            let ok = future.await.is_ok();
            add(&counters.invocations, 1);
            if !ok {
                add(&counters.failed_invocations, 1);
            }
            drop(busy);
        });
    }

    async fn retry_rule_target(
        &self,
        function: Arc<Function>,
        event: Vec<u8>,
        counters: Arc<RuleCounters>,
    ) {
        let start = self.0.clock.now_ms();
        let mut delay = Duration::from_secs(1);
        let mut ok = false;
        // The first attempt was made by put_event.
        for _ in 1..BUS_RETRY_ATTEMPTS {
            let left = BUS_RETRY_AGE_MS.saturating_sub(self.0.clock.now_ms() - start);
            if left == 0 {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(delay.min(Duration::from_millis(left))) => {}
                _ = self.until_stopped() => break,
            }
            delay = (delay * 2).min(Duration::from_secs(300));
            match self.enqueue_event(&function, event.clone()) {
                Ok(accepted) => {
                    // Refused by the function's external queue: tried again.
                    if accept(&function, accepted).await.is_ok() {
                        ok = true;
                        break;
                    }
                }
                Err(e) if retried_by_the_bus(&e) => {}
                Err(_) => break,
            }
        }
        add(&counters.invocations, 1);
        if !ok {
            add(&counters.failed_invocations, 1);
        }
    }

    /// A bus rule's counters (EventBridge's `MatchedEvents`, `Invocations`,
    /// `FailedInvocations`), `None` if there is no such bus or rule.
    ///
    /// # Example
    /// ```
    /// use weir_route::{Router, RuleConfig, Target};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let router = Router::new();
    /// router.put_rule("default", RuleConfig::new("r", r#"{"a": [1]}"#).target(Target::Queue("gone".into())))?;
    /// router.put_event("default", br#"{"a": 1}"#)?;
    /// let m = router.rule_metrics("default", "r").unwrap();
    /// assert_eq!((m.matched_events, m.invocations, m.failed_invocations), (1, 1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn rule_metrics(&self, bus: &str, rule: &str) -> Option<RuleMetrics> {
        self.bus(bus)?.counters(rule).map(|c| c.snapshot())
    }

    /// Checks that every destination named by functions (on-success, on-failure,
    /// dead-letter queue) and bus rules exists; resources may be created in any order, then
    /// checked once.
    ///
    /// # Example
    /// ```
    /// use weir_route::{EventInvokeConfig, FunctionConfig, Invocation, Outcome, Router, Target};
    /// let router = Router::new();
    /// let config = FunctionConfig::new("f")
    ///     .event_invoke(EventInvokeConfig::default().on_failure(Target::Queue("failed".into())));
    /// router.create_function(config, |_: Invocation| async { Outcome::Success(vec![]) })?;
    /// let err = router.check_targets().unwrap_err();
    /// assert_eq!(err.message(), "function f: the destination queue failed does not exist");
    /// # Ok::<(), weir_route::ValidationError>(())
    /// ```
    pub fn check_targets(&self) -> Result<(), ValidationError> {
        let mut targets: Vec<(String, Target)> = Vec::new();
        for f in read(&self.0.functions).values() {
            let c = &f.config;
            for t in [
                &c.event_invoke.on_success,
                &c.event_invoke.on_failure,
                &c.dead_letter,
            ]
            .into_iter()
            .flatten()
            {
                targets.push((format!("function {}", c.name), t.clone()));
            }
        }
        for b in read(&self.0.buses).values() {
            for t in b.targets() {
                targets.push((format!("event bus {}", b.0.name), t));
            }
        }
        for (owner, target) in targets {
            if !self.target_exists(&target) {
                return Err(ValidationError::not_found(format!(
                    "{owner}: the destination {} {} does not exist",
                    kind_name(&target),
                    target.name()
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn target_exists(&self, target: &Target) -> bool {
        if read(&self.0.destinations).contains_key(target) {
            return true;
        }
        match target {
            Target::Function(n) => self.function(n).is_some(),
            Target::Queue(n) => self.queue(n).is_some(),
            Target::Stream(n) => self.stream(n).is_some(),
            Target::Bus(n) => self.bus(n).is_some(),
        }
    }

    /// Attaches a queue or a stream kept outside the router (for instance on Redis) under
    /// the name `target` gives it: destinations (on-success, on-failure, dead-letter queue,
    /// a mapping's on-failure) and bus rule targets naming it write their records to it.
    /// Refused: a function or bus target, or a name the router already holds a queue or
    /// stream under.
    ///
    /// # Example
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use weir_route::{Destination, DestinationRecord, EventInvokeConfig, FunctionConfig, FunctionError};
    /// use weir_route::{InvocationType, Outcome, Router, SendFuture, Target};
    /// struct Log(Arc<Mutex<Vec<String>>>);
    /// impl Destination for Log {
    ///     fn send(&self, record: DestinationRecord) -> SendFuture {
    ///         self.0.lock().unwrap().push(String::from_utf8_lossy(&record.body).into_owned());
    ///         Box::pin(async { Ok(()) })
    ///     }
    /// }
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let router = Router::new();
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// router.attach_destination(Target::Queue("failed".into()), Arc::new(Log(log.clone())))?;
    /// let config = FunctionConfig::new("f").event_invoke(
    ///     EventInvokeConfig::default().maximum_retry_attempts(0).on_failure(Target::Queue("failed".into())));
    /// router.create_function(config, |_| async { Outcome::Error(FunctionError::new("Error", "no")) })?;
    /// router.check_targets()?;
    /// router.invoke("f", InvocationType::Event, b"{}".to_vec()).await?;
    /// router.wait_idle().await;
    /// assert!(log.lock().unwrap()[0].contains(r#""condition":"RetriesExhausted""#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn attach_destination(
        &self,
        target: Target,
        destination: Arc<dyn Destination>,
    ) -> Result<(), ValidationError> {
        let held = match &target {
            Target::Queue(n) => self.queue(n).is_some(),
            Target::Stream(n) => self.stream(n).is_some(),
            Target::Function(_) | Target::Bus(_) => {
                return Err(ValidationError::invalid_parameter(format!(
                    "only a queue or a stream can be attached, not the {} {}",
                    kind_name(&target),
                    target.name()
                )))
            }
        };
        if held || read(&self.0.destinations).contains_key(&target) {
            return Err(ValidationError::conflict(format!(
                "the router already has a {} {}",
                kind_name(&target),
                target.name()
            )));
        }
        write(&self.0.destinations).insert(target, destination);
        Ok(())
    }

    /// Queues the `Event` invocations of the function `function` (which may be created
    /// later) on `queue` instead of the router's in-memory queue: from `Invoke`, bus rules
    /// and destinations. Whoever works `queue` runs the function and hands each finished
    /// event to [`Router::complete_event`].
    ///
    /// # Example
    /// ```
    /// use std::sync::Arc;
    /// use weir_route::{EnqueueFuture, EventQueue, FunctionConfig, InvocationType, Outcome, QueuedEvent, Router};
    /// struct Refuse;
    /// impl EventQueue for Refuse {
    ///     fn enqueue(&self, _: QueuedEvent) -> EnqueueFuture { Box::pin(async { Err("down".into()) }) }
    /// }
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let router = Router::new();
    /// router.set_event_queue("f", Arc::new(Refuse));
    /// router.create_function(FunctionConfig::new("f"), |_| async { Outcome::Success(vec![]) })?;
    /// let err = router.invoke("f", InvocationType::Event, vec![]).await.unwrap_err();
    /// assert_eq!((err.error_type(), err.status_code()), ("ServiceException", 500));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_event_queue(&self, function: &str, queue: Arc<dyn EventQueue>) {
        write(&self.0.event_queues).insert(function.to_string(), queue);
    }

    /// Whether the function's `Event` invocations go to an [`EventQueue`] set with
    /// [`Router::set_event_queue`].
    ///
    /// # Example
    /// ```
    /// assert!(!weir_route::Router::new().has_event_queue("f"));
    /// ```
    pub fn has_event_queue(&self, function: &str) -> bool {
        read(&self.0.event_queues).contains_key(function)
    }

    /// A function's asynchronous invocation settings, `None` if there is no such function.
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::Router::new().event_invoke_config("f").is_none());
    /// ```
    pub fn event_invoke_config(&self, name: &str) -> Option<EventInvokeConfig> {
        self.function(name).map(|f| f.config.event_invoke.clone())
    }

    /// Sends a finished asynchronous invocation's record where its function's settings say,
    /// as the in-memory queue does: a success's to the on-success destination; a discarded
    /// event's to the on-failure destination, and its payload to the dead-letter queue
    /// (counted in `AsyncEventsDropped`). Completes once every destination has it. For the
    /// workers of an [`EventQueue`]; a function that no longer exists sends nothing.
    ///
    /// # Example
    /// ```
    /// use weir_route::{EventInvokeConfig, EventResult, FunctionConfig, Outcome, QueueConfig, Router, Target};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let router = Router::new();
    /// let done = router.create_queue(QueueConfig::new("done"))?;
    /// let config = FunctionConfig::new("f").event_invoke(EventInvokeConfig::default().on_success(Target::Queue("done".into())));
    /// router.create_function(config, |_| async { Outcome::Success(vec![]) })?;
    /// router.complete_event("f", EventResult::new("r-1", "Success", 1, b"{}".to_vec(), Some(Outcome::Success(b"1".to_vec())))).await;
    /// assert!(done.drain()[0].contains(r#""requestId":"r-1""#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn complete_event(&self, function: &str, result: EventResult) {
        if let Some(function) = self.function(function) {
            crate::asynchronous::finish(self, &function, result).await;
        }
    }

    /// Starts a delivery of a record to a target.
    pub(crate) fn start_delivery(&self, target: &Target, record: DestinationRecord) -> Delivery {
        if let Some(destination) = read(&self.0.destinations).get(target).cloned() {
            return Delivery::Later(destination.send(record));
        }
        let body = record.body;
        Delivery::Done(match target {
            Target::Queue(name) => match self.queue(name) {
                Some(queue) => {
                    queue.send_with_attributes(
                        String::from_utf8_lossy(&body).into_owned(),
                        record.attributes,
                    );
                    Ok(())
                }
                None => Err(format!("no queue {name}")),
            },
            Target::Stream(name) => match self.stream(name) {
                Some(stream) => {
                    stream.put_record(&record.partition_key, body);
                    Ok(())
                }
                None => Err(format!("no stream {name}")),
            },
            Target::Function(name) => match self.function(name) {
                None => Err(format!("no function {name}")),
                Some(function) => match self.enqueue_event(&function, body) {
                    Ok(Accepted::Now(_)) => Ok(()),
                    Ok(Accepted::Later(queued)) => {
                        return Delivery::Later(Box::pin(async move { queued.await.map(|_| ()) }))
                    }
                    Err(e) => Err(e.to_string()),
                },
            },
            Target::Bus(name) => self
                .put_event(name, &body)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        })
    }

    /// Delivers a record to a target; `Err` when the target does not exist or refuses it.
    pub(crate) async fn deliver(
        &self,
        target: &Target,
        record: DestinationRecord,
    ) -> Result<(), String> {
        match self.start_delivery(target, record) {
            Delivery::Done(result) => result,
            Delivery::Later(future) => future.await,
        }
    }

    /// Invokes a function as the Lambda API's `Invoke` does. An empty payload is `{}`.
    ///
    /// - `RequestResponse`: runs the function and answers 200 with its response, or with
    ///   the error payload and `FunctionError: Unhandled`.
    /// - `Event`: queues the event for asynchronous invocation (retries, destinations,
    ///   dead-letter queue) and answers 202.
    /// - `DryRun`: checks the request and answers 204.
    ///
    /// Refused: no such function (`ResourceNotFoundException`), `Pending`
    /// (`ResourceConflictException`), `Inactive` or `Failed` (`ResourceNotReadyException`),
    /// a payload over [`MAX_SYNC_PAYLOAD`] / [`MAX_ASYNC_PAYLOAD`]
    /// (`RequestTooLargeException`), a payload that is not JSON
    /// (`InvalidRequestContentException`), and, for `RequestResponse`, no concurrency left
    /// (`TooManyRequestsException`, reason `ReservedFunctionConcurrentInvocationLimitExceeded`).
    ///
    /// # Example
    /// ```
    /// use weir_route::{FunctionConfig, FunctionError, InvocationType, Invocation, Outcome, Router};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let router = Router::new();
    /// router.create_function(FunctionConfig::new("fail"), |_: Invocation| async {
    ///     Outcome::Error(FunctionError::new("Error", "bad record"))
    /// })?;
    /// let out = router.invoke("fail", InvocationType::RequestResponse, vec![]).await?;
    /// assert_eq!((out.status_code, out.function_error.as_deref()), (200, Some("Unhandled")));
    /// assert_eq!(out.payload, br#"{"errorMessage":"bad record","errorType":"Error"}"#);
    /// let out = router.invoke("fail", InvocationType::DryRun, vec![]).await?;
    /// assert_eq!(out.status_code, 204);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn invoke(
        &self,
        name: &str,
        invocation_type: InvocationType,
        payload: Vec<u8>,
    ) -> Result<InvokeOutput, InvokeError> {
        let (function, payload) = self.invocable(name, payload)?;
        check_payload(&payload, invocation_type)?;
        check_state(&function)?;
        let output =
            |status_code, function_error: Option<&str>, payload, request_id| InvokeOutput {
                status_code,
                function_error: function_error.map(str::to_string),
                payload,
                executed_version: "$LATEST".to_string(),
                request_id,
            };
        match invocation_type {
            InvocationType::DryRun => Ok(output(204, None, Vec::new(), new_id())),
            InvocationType::Event => {
                let accepted = self.enqueue_event(&function, payload)?;
                let request_id = accept(&function, accepted).await?;
                Ok(output(202, None, Vec::new(), request_id))
            }
            InvocationType::RequestResponse => {
                let request_id = new_id();
                match self.execute(&function, payload, &request_id).await {
                    Attempt::Ran(Outcome::Success(p)) => Ok(output(200, None, p, request_id)),
                    Attempt::Ran(Outcome::Error(e)) => {
                        Ok(output(200, Some("Unhandled"), e.payload, request_id))
                    }
                    Attempt::Throttled => Err(throttled()),
                    Attempt::NotReady => {
                        Err(check_state(&function).err().unwrap_or_else(throttled))
                    }
                }
            }
        }
    }

    /// Runs one attempt of an asynchronous invocation with the event's own `request_id` (the
    /// one its `Invoke` answered), as the in-memory queue runs each attempt: for whoever works
    /// a function's [`EventQueue`]. A throttled or not-ready attempt runs nothing and says so.
    /// Refused: no such function (`ResourceNotFoundException`).
    ///
    /// # Example
    /// ```
    /// use weir_route::{Attempt, FunctionConfig, Invocation, Outcome, Router};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let router = Router::new();
    /// router.create_function(FunctionConfig::new("id"), |i: Invocation| async move {
    ///     Outcome::Success(i.request_id.into_bytes())
    /// })?;
    /// let attempt = router.attempt("id", b"{}".to_vec(), "r-1").await?;
    /// assert_eq!(attempt, Attempt::Ran(Outcome::Success(b"r-1".to_vec())));
    /// assert!(router.attempt("nope", vec![], "r-2").await.is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn attempt(
        &self,
        name: &str,
        payload: Vec<u8>,
        request_id: &str,
    ) -> Result<Attempt, InvokeError> {
        let (function, payload) = self.invocable(name, payload)?;
        Ok(self.execute(&function, payload, request_id).await)
    }

    /// Queues an event for asynchronous invocation: in memory (its request id), or on the
    /// function's [`EventQueue`].
    pub(crate) fn enqueue_event(
        &self,
        function: &Arc<Function>,
        payload: Vec<u8>,
    ) -> Result<Accepted, InvokeError> {
        let payload = if payload.is_empty() {
            b"{}".to_vec()
        } else {
            payload
        };
        check_payload(&payload, InvocationType::Event)?;
        check_state(function)?;
        // A function with reserved concurrency 0 runs none of its events: they go to the
        // failure destinations at once, from memory (nothing waits that could survive).
        let external = match function.config.reserved_concurrency {
            Some(0) => None,
            _ => read(&self.0.event_queues)
                .get(&function.config.name)
                .cloned(),
        };
        if let Some(queue) = external {
            let config = &function.config.event_invoke;
            let mut event = QueuedEvent::new(function.config.name.clone(), payload);
            event.maximum_retry_attempts = config.maximum_retry_attempts;
            event.maximum_event_age = config.maximum_event_age;
            event.retry_delays = config.retry_delays;
            let queued = queue.enqueue(event);
            let function = function.clone();
            return Ok(Accepted::Later(Box::pin(async move {
                let id = queued.await?;
                add(&function.counters.async_events_received, 1);
                Ok(id)
            })));
        }
        add(&function.counters.async_events_received, 1);
        let request_id = new_id();
        let busy = self.busy();
        let router = self.clone();
        let function = function.clone();
        let id = request_id.clone();
        let received = self.0.clock.now_ms();
        tokio::spawn(async move {
            crate::asynchronous::run_event(router, function, payload, id, received, busy).await;
        });
        Ok(Accepted::Now(request_id))
    }

    /// Runs a function once: its state and concurrency checked, its timeout enforced, its
    /// panics caught.
    pub(crate) async fn execute(
        &self,
        function: &Arc<Function>,
        payload: Vec<u8>,
        request_id: &str,
    ) -> Attempt {
        if *function.state.lock().unwrap_or_else(|e| e.into_inner()) != FunctionState::Active {
            return Attempt::NotReady;
        }
        let _permit = match &function.permits {
            Some(permits) => match permits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    add(&function.counters.throttles, 1);
                    return Attempt::Throttled;
                }
            },
            None => None,
        };
        let _busy = self.busy();
        add(&function.counters.invocations, 1);
        let timeout = function.config.timeout;
        let invocation = Invocation {
            request_id: request_id.to_string(),
            function_arn: function.arn.clone(),
            payload,
            deadline_ms: self.0.clock.now_ms() + timeout.as_millis() as u64,
            client_context: None,
        };
        let handler = function.handler.clone();
        let outcome =
            match std::panic::catch_unwind(AssertUnwindSafe(|| handler.invoke(invocation))) {
                Err(panic) => panicked(&*panic),
                Ok(future) => match tokio::time::timeout(timeout, CatchUnwind(future)).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(panic)) => panicked(&*panic),
                    // The handler's future is dropped here, which stops it.
                    Err(_) => Outcome::Error(FunctionError::new(
                        "Sandbox.Timedout",
                        timeout_message(request_id, timeout),
                    )),
                },
            };
        if !outcome.is_success() {
            add(&function.counters.errors, 1);
        }
        Attempt::Ran(outcome)
    }

    pub(crate) fn busy(&self) -> Busy {
        self.0.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.0.clone())
    }

    pub(crate) fn stopped(&self) -> bool {
        *self.0.stop.borrow()
    }

    /// The invocation record Lambda sends to destinations.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn invocation_record(
        &self,
        function: &Function,
        request_id: &str,
        condition: &str,
        invoke_count: u32,
        request_payload: &[u8],
        response: Option<&Outcome>,
    ) -> Vec<u8> {
        let mut out = String::with_capacity(256 + request_payload.len());
        out.push_str(r#"{"version":"1.0","timestamp":"#);
        push_json_str(&mut out, &iso8601(self.0.clock.now_ms()));
        out.push_str(r#","requestContext":{"requestId":"#);
        push_json_str(&mut out, request_id);
        out.push_str(r#","functionArn":"#);
        push_json_str(&mut out, &format!("{}:$LATEST", function.arn));
        out.push_str(r#","condition":"#);
        push_json_str(&mut out, condition);
        out.push_str(&format!(r#","approximateInvokeCount":{invoke_count}}}"#));
        out.push_str(r#","requestPayload":"#);
        push_raw_json(&mut out, request_payload);
        if let Some(response) = response {
            out.push_str(r#","responseContext":{"statusCode":200,"executedVersion":"$LATEST""#);
            let payload = match response {
                Outcome::Success(p) => p,
                Outcome::Error(e) => {
                    out.push_str(r#","functionError":"Unhandled""#);
                    &e.payload
                }
            };
            out.push_str(r#"},"responsePayload":"#);
            push_raw_json(&mut out, payload);
        }
        out.push('}');
        out.into_bytes()
    }

    /// Lists the mappings' UUIDs, in creation order.
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::Router::new().mapping_uuids().is_empty());
    /// ```
    pub fn mapping_uuids(&self) -> Vec<String> {
        read(&self.0.mappings)
            .iter()
            .map(|m| m.uuid.clone())
            .collect()
    }

    /// An event source mapping's counters.
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::Router::new().mapping_metrics("nope").is_none());
    /// ```
    pub fn mapping_metrics(&self, uuid: &str) -> Option<MappingMetrics> {
        read(&self.0.mappings)
            .iter()
            .find(|m| m.uuid == uuid)
            .map(|m| m.counters.snapshot())
    }

    /// Whether nothing is in progress: no invocation running, no asynchronous event waiting,
    /// every mapping's source consumed (queues empty, streams read to their end).
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::Router::new().is_idle());
    /// ```
    pub fn is_idle(&self) -> bool {
        self.0.busy.load(Ordering::Acquire) == 0
            && read(&self.0.mappings).iter().all(|m| (m.idle)())
    }

    /// Waits until [`Router::is_idle`].
    ///
    /// # Example
    /// ```
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// weir_route::Router::new().wait_idle().await;
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.0.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_idle() {
                // Let tasks that were just woken take their next step, then look again.
                tokio::task::yield_now().await;
                if self.is_idle() {
                    return;
                }
                continue;
            }
            // Every change that can make the router idle notifies; the periodic look is a
            // safety net, not the mechanism.
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Stops the mappings' polling and the waiting asynchronous events (what is queued stays
    /// where it is), then waits for the invocations running now to end.
    ///
    /// # Example
    /// ```
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// weir_route::Router::new().shutdown().await;
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn shutdown(&self) {
        self.0.stop.send_replace(true);
        self.0.changed.notify_waiters();
        loop {
            let notified = self.0.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.0.busy.load(Ordering::Acquire) == 0 {
                break;
            }
            notified.await;
        }
        // Warm runtime processes end here, not when the tokio runtime drops its tasks
        // (which closes their connections first, and runtime clients report that).
        let functions: Vec<Arc<Function>> = read(&self.0.functions).values().cloned().collect();
        for function in functions {
            function.handler.shutdown();
        }
    }

    /// Waits until [`Router::shutdown`] is called (pollers select on it).
    pub(crate) async fn until_stopped(&self) {
        let mut rx = self.0.stop.subscribe();
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}

fn kind_name(target: &Target) -> &'static str {
    match target {
        Target::Function(_) => "function",
        Target::Queue(_) => "queue",
        Target::Stream(_) => "stream",
        Target::Bus(_) => "event bus",
    }
}

/// How many times EventBridge tries a target (the first attempt included) and for how long.
const BUS_RETRY_ATTEMPTS: u32 = 185;
const BUS_RETRY_AGE_MS: u64 = 24 * 3600 * 1000;

/// Whether a bus retries a function target that refused an event: not ready yet (`Pending`,
/// `Inactive`, `Failed`) or throttled. A missing function or a refused payload is final.
fn retried_by_the_bus(e: &InvokeError) -> bool {
    matches!(
        e.kind(),
        InvokeErrorKind::ResourceConflict
            | InvokeErrorKind::ResourceNotReady
            | InvokeErrorKind::TooManyRequests { .. }
    )
}

/// Waits for an event's acceptance: its request id, or a `ServiceException` when the
/// function's external queue refused it.
async fn accept(function: &Function, accepted: Accepted) -> Result<String, InvokeError> {
    match accepted {
        Accepted::Now(id) => Ok(id),
        Accepted::Later(queued) => queued.await.map_err(|e| {
            InvokeError::new(
                InvokeErrorKind::Service,
                format!(
                    "the asynchronous invocation queue of function {} could not take the event: {e}",
                    function.config.name
                ),
            )
        }),
    }
}

fn throttled() -> InvokeError {
    InvokeError::new(
        InvokeErrorKind::TooManyRequests {
            reason: "ReservedFunctionConcurrentInvocationLimitExceeded".to_string(),
        },
        "Rate Exceeded.",
    )
}

fn panicked(panic: &(dyn Any + Send)) -> Outcome {
    Outcome::Error(FunctionError::new(
        "Runtime.HandlerPanic",
        panic_message(panic),
    ))
}

fn check_payload(payload: &[u8], invocation_type: InvocationType) -> Result<(), InvokeError> {
    let (limit, operation) = match invocation_type {
        InvocationType::Event => (MAX_ASYNC_PAYLOAD, "InvokeAsync"),
        _ => (MAX_SYNC_PAYLOAD, "InvokeFunction"),
    };
    if payload.len() > limit {
        return Err(InvokeError::new(
            InvokeErrorKind::RequestTooLarge,
            format!("Request must be smaller than {limit} bytes for the {operation} operation"),
        ));
    }
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(payload) {
        return Err(InvokeError::new(
            InvokeErrorKind::InvalidRequestContent,
            format!("Could not parse request body into json: {e}"),
        ));
    }
    Ok(())
}

fn check_state(function: &Function) -> Result<(), InvokeError> {
    let state = *function.state.lock().unwrap_or_else(|e| e.into_inner());
    let message = format!(
        "The operation cannot be performed at this time. The function is currently in the \
         following state: {state}"
    );
    match state {
        FunctionState::Active => Ok(()),
        FunctionState::Pending => Err(InvokeError::new(InvokeErrorKind::ResourceConflict, message)),
        FunctionState::Inactive | FunctionState::Failed => {
            Err(InvokeError::new(InvokeErrorKind::ResourceNotReady, message))
        }
    }
}

/// Appends `s` as a JSON string.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    // Serializing a &str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// Appends a payload as JSON: as is when it is one JSON value, `null` when empty, a JSON
/// string of its text otherwise.
pub(crate) fn push_raw_json(out: &mut String, payload: &[u8]) {
    let text = String::from_utf8_lossy(payload);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        out.push_str("null");
    } else if serde_json::from_str::<serde::de::IgnoredAny>(trimmed).is_ok() {
        out.push_str(trimmed);
    } else {
        push_json_str(out, &text);
    }
}

pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// The counters of a new mapping, registered with the router.
pub(crate) fn register_mapping(
    router: &Router,
    uuid: String,
    idle: Box<dyn Fn() -> bool + Send + Sync>,
) -> Arc<MappingCounters> {
    let counters = Arc::new(MappingCounters::default());
    write(&router.0.mappings).push(MappingEntry {
        uuid,
        counters: counters.clone(),
        idle,
    });
    counters
}
