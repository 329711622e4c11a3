//! weir's invocation layer: functions, invocation, event source mappings, retries,
//! destinations and an event bus, with AWS Lambda's rules and numbers.
//!
//! The core crate `weir` decides which events match; this crate delivers them.
#![deny(missing_docs)]

pub mod handler;
pub mod process;
pub mod runtime_api;

pub use handler::{FunctionError, Handler, HandlerFuture, Invocation, Outcome};
pub use process::{CommandHandler, ProcessSpec};
pub use runtime_api::{ProcessLogs, RuntimeApiConfig, RuntimeApiHandler, MAX_RESPONSE_SIZE};
