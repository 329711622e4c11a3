//! What a function runs: the [`Handler`] trait every kind of handler implements.
//!
//! A handler receives one [`Invocation`] and answers with an [`Outcome`]. The caller enforces
//! the function's timeout by dropping the handler's future: a handler must stop its work when
//! its future is dropped (a child process is killed, a runtime environment is discarded).

use std::future::Future;
use std::pin::Pin;

/// The future a [`Handler`] returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// One invocation of a function, as a handler sees it.
///
/// # Example
/// ```
/// let invocation = weir_route::Invocation::new("req-1", "arn:aws:lambda:us-east-1:000000000000:function:f", b"{}".to_vec());
/// assert_eq!(invocation.payload, b"{}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Invocation {
    /// The request id (`Lambda-Runtime-Aws-Request-Id`).
    pub request_id: String,
    /// The invoked function's ARN (`Lambda-Runtime-Invoked-Function-Arn`).
    pub function_arn: String,
    /// The event, as JSON bytes.
    pub payload: Vec<u8>,
    /// When the invocation times out, in milliseconds since the Unix epoch on the caller's
    /// clock (`Lambda-Runtime-Deadline-Ms`); 0 when there is no deadline.
    pub deadline_ms: u64,
    /// The client context (`Lambda-Runtime-Client-Context`), if the caller gave one.
    pub client_context: Option<String>,
}

impl Invocation {
    /// An invocation with no deadline and no client context.
    ///
    /// # Example
    /// ```
    /// let invocation = weir_route::Invocation::new("req-1", "arn:aws:lambda:us-east-1:000000000000:function:f", b"{}".to_vec());
    /// assert_eq!(invocation.deadline_ms, 0);
    /// ```
    pub fn new(
        request_id: impl Into<String>,
        function_arn: impl Into<String>,
        payload: Vec<u8>,
    ) -> Self {
        Invocation {
            request_id: request_id.into(),
            function_arn: function_arn.into(),
            payload,
            deadline_ms: 0,
            client_context: None,
        }
    }

    /// The same invocation with a deadline (milliseconds since the Unix epoch).
    ///
    /// # Example
    /// ```
    /// let invocation = weir_route::Invocation::new("r", "arn", vec![]).with_deadline_ms(5);
    /// assert_eq!(invocation.deadline_ms, 5);
    /// ```
    pub fn with_deadline_ms(mut self, deadline_ms: u64) -> Self {
        self.deadline_ms = deadline_ms;
        self
    }
}

/// How one invocation ended, as the handler reports it.
///
/// # Example
/// ```
/// let ok = weir_route::Outcome::Success(b"\"done\"".to_vec());
/// assert!(ok.is_success());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The function returned this payload (JSON bytes; may be empty).
    Success(Vec<u8>),
    /// The function failed (Lambda's `FunctionError: Unhandled`).
    Error(FunctionError),
}

impl Outcome {
    /// Whether the function succeeded.
    ///
    /// # Example
    /// ```
    /// let failed = weir_route::Outcome::Error(weir_route::FunctionError::new("Error", "boom"));
    /// assert!(!failed.is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success(_))
    }
}

/// A function error: Lambda's `errorType` and `errorMessage`, and the response payload
/// the caller receives (`{"errorMessage": ..., "errorType": ...}` unless the runtime sent
/// its own).
///
/// # Example
/// ```
/// let error = weir_route::FunctionError::new("Runtime.ExitError", "exit status 1");
/// assert_eq!(error.error_type, "Runtime.ExitError");
/// assert!(std::str::from_utf8(&error.payload).unwrap().contains("exit status 1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FunctionError {
    /// Lambda's `errorType`, e.g. `Runtime.ExitError`, `Sandbox.Timedout`.
    pub error_type: String,
    /// Lambda's `errorMessage`, e.g. `Task timed out after 3.00 seconds`.
    pub error_message: String,
    /// The payload the caller receives.
    pub payload: Vec<u8>,
}

impl FunctionError {
    /// An error whose payload is `{"errorMessage": message, "errorType": error_type}`.
    ///
    /// # Example
    /// ```
    /// let error = weir_route::FunctionError::new("Error", "bad record");
    /// assert_eq!(error.payload, br#"{"errorMessage":"bad record","errorType":"Error"}"#);
    /// ```
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        let error_type = error_type.into();
        let error_message = error_message.into();
        let payload = serde_json::to_vec(&serde_json::json!({
            "errorMessage": error_message,
            "errorType": error_type,
        }))
        .unwrap_or_default();
        FunctionError {
            error_type,
            error_message,
            payload,
        }
    }

    /// An error with the payload its runtime sent.
    ///
    /// # Example
    /// ```
    /// let error = weir_route::FunctionError::with_payload("Error", "m", b"{}".to_vec());
    /// assert_eq!(error.payload, b"{}");
    /// ```
    pub fn with_payload(
        error_type: impl Into<String>,
        error_message: impl Into<String>,
        payload: Vec<u8>,
    ) -> Self {
        FunctionError {
            error_type: error_type.into(),
            error_message: error_message.into(),
            payload,
        }
    }
}

/// What a function runs. Implemented by closures ([`Handler`] for any
/// `Fn(Invocation) -> Future<Output = Outcome>`), [`crate::CommandHandler`] (a process per
/// invocation) and the Lambda Runtime API handler.
///
/// A handler may be called again before an earlier call has finished (up to the function's
/// concurrency); dropping the returned future must stop that invocation's work.
///
/// # Example
/// ```
/// use weir_route::{Handler, Invocation, Outcome};
/// let echo = |invocation: Invocation| async move { Outcome::Success(invocation.payload) };
/// let outcome = tokio::runtime::Runtime::new()?.block_on(echo.invoke(Invocation::new("r", "arn", b"1".to_vec())));
/// assert_eq!(outcome, Outcome::Success(b"1".to_vec()));
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Runs one invocation.
    fn invoke(&self, invocation: Invocation) -> HandlerFuture;

    /// Releases what the handler keeps between invocations (warm processes), now, while
    /// the caller's runtime still runs; called once no invocation is running (the router's
    /// shutdown). Nothing to release by default.
    ///
    /// # Example
    /// ```
    /// use weir_route::{Handler, Invocation, Outcome};
    /// let echo = |invocation: Invocation| async move { Outcome::Success(invocation.payload) };
    /// echo.shutdown();
    /// ```
    fn shutdown(&self) {}
}

impl<F, Fut> Handler for F
where
    F: Fn(Invocation) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    fn invoke(&self, invocation: Invocation) -> HandlerFuture {
        Box::pin(self(invocation))
    }
}
