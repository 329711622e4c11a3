//! weir's invocation layer: functions, invocation, event source mappings, retries,
//! destinations and an event bus, with AWS Lambda's rules and numbers.
//!
//! The core crate `weir` decides which events match; this crate delivers them. A
//! [`Router`] holds functions (each with a [`Handler`]: a closure, a [`CommandHandler`], or
//! a Lambda Runtime API process), in-memory [`Queue`]s and [`Stream`]s, event buses with
//! rules, and event source mappings that poll a queue or a stream, filter its records with
//! a [`weir::lambda::FilterCriteria`], batch them and invoke a function.
//!
//! ```
//! use weir_route::{EventSourceMappingConfig, FunctionConfig, Invocation, Outcome, QueueConfig, Router};
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let router = Router::new();
//! router.create_function(FunctionConfig::new("count"), |i: Invocation| async move {
//!     let event: serde_json::Value = serde_json::from_slice(&i.payload).unwrap();
//!     Outcome::Success(event["Records"].as_array().unwrap().len().to_string().into_bytes())
//! })?;
//! let queue = router.create_queue(QueueConfig::new("orders"))?;
//! let mut mapping = EventSourceMappingConfig::new("count", queue.arn());
//! mapping.filter_criteria = Some(r#"{"Filters": [{"Pattern": "{\"body\": {\"total\": [{\"numeric\": [\">\", 100]}]}}"}]}"#.into());
//! let uuid = router.create_event_source_mapping(mapping)?;
//! queue.send(r#"{"total": 250}"#);
//! queue.send(r#"{"total": 5}"#);
//! router.wait_idle().await;
//! let metrics = router.mapping_metrics(&uuid).unwrap();
//! assert_eq!((metrics.polled, metrics.filtered_out, metrics.invoked), (2, 1, 1));
//! # Ok::<(), weir_route::ValidationError>(())
//! # }).unwrap();
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

mod asynchronous;
mod bus;
pub mod clock;
pub mod config;
mod error;
mod external;
mod function;
pub mod handler;
pub mod mapping;
mod metrics;
pub mod process;
pub mod queue;
mod router;
pub mod runtime_api;
pub mod stream;

pub use bus::RuleConfig;
pub use clock::{Clock, TokioClock};
pub use error::{InvokeError, InvokeErrorKind, ValidationError};
pub use external::{
    Destination, DestinationRecord, EnqueueFuture, EventQueue, EventResult, QueuedEvent, SendFuture,
};
pub use function::{EventInvokeConfig, FunctionConfig, FunctionState, Target};
pub use handler::{FunctionError, Handler, HandlerFuture, Invocation, Outcome};
pub use mapping::EventSourceMappingConfig;
pub use metrics::{FunctionMetrics, MappingMetrics, RuleMetrics};
pub use process::{CommandHandler, ProcessSpec};
pub use queue::{Queue, QueueConfig, ReceivedMessage, RedrivePolicy};
pub use router::{
    timeout_message, Attempt, InvocationType, InvokeOutput, Router, MAX_ASYNC_PAYLOAD,
    MAX_SYNC_PAYLOAD,
};
pub use runtime_api::{ProcessLogs, RuntimeApiConfig, RuntimeApiHandler, MAX_RESPONSE_SIZE};
pub use stream::{PutRecordOutput, Stream, StreamConfig, StreamRecord};
