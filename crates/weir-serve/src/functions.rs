//! What `weir serve` invokes: the [`Invoker`] seam and [`LocalFunctions`], functions held in
//! this process.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use weir_route::{FunctionError, Handler, Invocation, Outcome};

use crate::aws::{new_id, ACCOUNT};

/// How a function is invoked (Lambda's `X-Amz-Invocation-Type`).
///
/// # Example
/// ```
/// use weir_serve::InvocationType;
/// assert_eq!(InvocationType::parse("DryRun"), Some(InvocationType::DryRun));
/// assert_eq!(InvocationType::parse("dryrun"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    /// Wait for the function's response (HTTP 200).
    RequestResponse,
    /// Queue the event and answer at once (HTTP 202).
    Event,
    /// Check that the function can be invoked, without invoking it (HTTP 204).
    DryRun,
}

impl InvocationType {
    /// The type named by Lambda's header value (case-sensitive, as Lambda).
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_serve::InvocationType::parse("Event"), Some(weir_serve::InvocationType::Event));
    /// ```
    pub fn parse(text: &str) -> Option<InvocationType> {
        match text {
            "RequestResponse" => Some(InvocationType::RequestResponse),
            "Event" => Some(InvocationType::Event),
            "DryRun" => Some(InvocationType::DryRun),
            _ => None,
        }
    }
}

/// A refused invocation: Lambda's error code, HTTP status and message.
///
/// # Example
/// ```
/// let e = weir_serve::InvokeError::not_found("arn:aws:lambda:us-east-1:000000000000:function:f");
/// assert_eq!((e.code.as_str(), e.status), ("ResourceNotFoundException", 404));
/// assert_eq!(e.message, "Function not found: arn:aws:lambda:us-east-1:000000000000:function:f");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvokeError {
    /// Lambda's error code, e.g. `TooManyRequestsException`.
    pub code: String,
    /// The HTTP status Lambda answers it with.
    pub status: u16,
    /// The message.
    pub message: String,
    /// Lambda's `Reason` field, when the error has one (e.g.
    /// `ReservedFunctionConcurrentInvocationLimitExceeded`).
    pub reason: Option<String>,
}

impl InvokeError {
    /// An error with no `Reason`.
    ///
    /// # Example
    /// ```
    /// let e = weir_serve::InvokeError::new("ResourceConflictException", 409, "pending");
    /// assert_eq!(e.reason, None);
    /// ```
    pub fn new(code: impl Into<String>, status: u16, message: impl Into<String>) -> InvokeError {
        InvokeError {
            code: code.into(),
            status,
            message: message.into(),
            reason: None,
        }
    }

    /// Lambda's `ResourceNotFoundException` for a function ARN.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_serve::InvokeError::not_found("arn").status, 404);
    /// ```
    pub fn not_found(function_arn: &str) -> InvokeError {
        InvokeError::new(
            "ResourceNotFoundException",
            404,
            format!("Function not found: {function_arn}"),
        )
    }
}

/// The future [`Invoker::invoke`] returns.
pub type InvokeFuture = Pin<Box<dyn Future<Output = Result<Option<Outcome>, InvokeError>> + Send>>;

/// The future [`Invoker::attempt`] returns.
pub type AttemptFuture =
    Pin<Box<dyn Future<Output = Result<weir_route::Attempt, InvokeError>> + Send>>;

/// What `weir serve` hands invocations to: the functions it serves.
///
/// `invoke` answers `Ok(Some(outcome))` for `RequestResponse`, `Ok(None)` once an `Event`
/// invocation is accepted (queued) or a `DryRun` passed its checks.
///
/// # Example
/// ```
/// use weir_serve::{Invoker, InvocationType, LocalFunctions};
/// use weir_route::{Invocation, Outcome};
/// let mut functions = LocalFunctions::new("us-east-1");
/// functions.insert("echo", |i: Invocation| async move { Outcome::Success(i.payload) }, std::time::Duration::from_secs(3));
/// let runtime = tokio::runtime::Runtime::new()?;
/// let outcome = runtime.block_on(functions.invoke("echo", InvocationType::RequestResponse, b"1".to_vec()));
/// assert_eq!(outcome, Ok(Some(Outcome::Success(b"1".to_vec()))));
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Invoker: Send + Sync + 'static {
    /// The ARN of the function `name` (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`),
    /// whether or not it exists.
    fn function_arn(&self, name: &str) -> String;
    /// Whether a function of that name exists.
    fn exists(&self, name: &str) -> bool;
    /// The names of the functions, sorted.
    fn names(&self) -> Vec<String>;
    /// Invokes the function `name` with `payload`.
    fn invoke(&self, name: &str, kind: InvocationType, payload: Vec<u8>) -> InvokeFuture;
    /// The function's timeout, when this invoker knows it (`None` by default). Queue
    /// mappings check it against the queue's visibility timeout.
    fn timeout(&self, name: &str) -> Option<Duration> {
        let _ = name;
        None
    }
    /// Sends a finished asynchronous invocation's record to the function's own destinations
    /// when this invoker keeps them (the invocation layer:
    /// [`weir_route::Router::complete_event`]); the future completes once they have it.
    /// `None` (the default): the asynchronous queue's own settings apply.
    fn complete_event(
        &self,
        name: &str,
        result: weir_route::EventResult,
    ) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        let _ = (name, result);
        None
    }
    /// Runs one attempt of an asynchronous invocation of `name` with the event's own
    /// `request_id` (what an asynchronous queue's worker calls, so every attempt of an event
    /// sees the id its `Invoke` answered). By default a `RequestResponse` invocation (with
    /// an id of its own); the invocation layer's router runs it with `request_id`
    /// ([`weir_route::Router::attempt`]) and tells a throttled or not-ready function apart.
    fn attempt(&self, name: &str, payload: Vec<u8>, request_id: &str) -> AttemptFuture {
        let _ = request_id;
        let run = self.invoke(name, InvocationType::RequestResponse, payload);
        Box::pin(async move {
            Ok(weir_route::Attempt::Ran(
                run.await?.unwrap_or(Outcome::Success(Vec::new())),
            ))
        })
    }
    /// Whether this invoker queues the function's `Event` invocations durably itself (a
    /// `weir.toml` function whose queue is on Redis), so a wrapping [`crate::DurableInvoker`]
    /// passes them on (`false` by default).
    fn queues_events(&self, name: &str) -> bool {
        let _ = name;
        false
    }
}

#[derive(Clone)]
struct LocalFunction {
    handler: Arc<dyn Handler>,
    timeout: Duration,
}

/// Functions held in this process, each a [`Handler`] with a timeout.
///
/// A `RequestResponse` invocation runs the handler and waits; one that outlives the timeout is
/// stopped and answers Lambda's `Task timed out after N.NN seconds`; one that panics answers a
/// function error. An `Event` invocation runs the same way in a task of its own, once: retries
/// and destinations belong to the invocation layer's asynchronous queue.
///
/// # Example
/// ```
/// let mut functions = weir_serve::LocalFunctions::new("us-east-1");
/// functions.insert("noop", |_| async { weir_route::Outcome::Success(Vec::new()) }, std::time::Duration::from_secs(1));
/// use weir_serve::Invoker;
/// assert!(functions.exists("noop"));
/// ```
#[derive(Clone)]
pub struct LocalFunctions {
    region: String,
    functions: BTreeMap<String, LocalFunction>,
}

impl LocalFunctions {
    /// No functions yet; ARNs name `region`.
    ///
    /// # Example
    /// ```
    /// use weir_serve::Invoker;
    /// let functions = weir_serve::LocalFunctions::new("eu-west-1");
    /// assert_eq!(functions.function_arn("f"), "arn:aws:lambda:eu-west-1:000000000000:function:f");
    /// ```
    pub fn new(region: impl Into<String>) -> LocalFunctions {
        LocalFunctions {
            region: region.into(),
            functions: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) the function `name`.
    ///
    /// # Example
    /// ```
    /// let mut functions = weir_serve::LocalFunctions::new("us-east-1");
    /// functions.insert("f", weir_route::CommandHandler::new(weir_route::ProcessSpec::new("cat")), std::time::Duration::from_secs(3));
    /// use weir_serve::Invoker;
    /// assert_eq!(functions.names(), ["f"]);
    /// ```
    pub fn insert(&mut self, name: impl Into<String>, handler: impl Handler, timeout: Duration) {
        self.functions.insert(
            name.into(),
            LocalFunction {
                handler: Arc::new(handler),
                timeout,
            },
        );
    }
}

/// Runs one invocation to its end: the handler in a task of its own (so a panic is a function
/// error), stopped at the timeout.
async fn run(function: LocalFunction, invocation: Invocation) -> Outcome {
    let timeout = function.timeout;
    let task = tokio::spawn(function.handler.invoke(invocation));
    let abort = task.abort_handle();
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(join)) => Outcome::Error(FunctionError::new(
            "Runtime.HandlerPanicked",
            if join.is_panic() {
                "the handler panicked"
            } else {
                "the handler was cancelled"
            },
        )),
        Err(_) => {
            abort.abort();
            Outcome::Error(FunctionError::new(
                "Sandbox.Timedout",
                format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
            ))
        }
    }
}

impl Invoker for LocalFunctions {
    fn function_arn(&self, name: &str) -> String {
        format!("arn:aws:lambda:{}:{ACCOUNT}:function:{name}", self.region)
    }

    fn exists(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    fn names(&self) -> Vec<String> {
        self.functions.keys().cloned().collect()
    }

    fn timeout(&self, name: &str) -> Option<Duration> {
        self.functions.get(name).map(|f| f.timeout)
    }

    fn attempt(&self, name: &str, payload: Vec<u8>, request_id: &str) -> AttemptFuture {
        let arn = self.function_arn(name);
        let Some(function) = self.functions.get(name).cloned() else {
            return Box::pin(async move { Err(InvokeError::not_found(&arn)) });
        };
        let invocation = Invocation::new(request_id, arn, payload);
        Box::pin(async move { Ok(weir_route::Attempt::Ran(run(function, invocation).await)) })
    }

    fn invoke(&self, name: &str, kind: InvocationType, payload: Vec<u8>) -> InvokeFuture {
        let arn = self.function_arn(name);
        let Some(function) = self.functions.get(name).cloned() else {
            return Box::pin(async move { Err(InvokeError::not_found(&arn)) });
        };
        let invocation = Invocation::new(new_id(), arn, payload);
        match kind {
            InvocationType::DryRun => Box::pin(async { Ok(None) }),
            InvocationType::Event => {
                tokio::spawn(run(function, invocation));
                Box::pin(async { Ok(None) })
            }
            InvocationType::RequestResponse => {
                Box::pin(async move { Ok(Some(run(function, invocation).await)) })
            }
        }
    }
}

/// `weir serve` over the invocation layer's [`weir_route::Router`]: its functions, states,
/// reserved concurrency, and its asynchronous queue (retries, destinations) for `Event`.
///
/// # Example
/// ```
/// use weir_serve::Invoker;
/// let router = weir_route::Router::new();
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// router.create_function(weir_route::FunctionConfig::new("f"), |_| async { weir_route::Outcome::Success(b"1".to_vec()) })?;
/// assert!(router.exists("f"));
/// # Ok::<(), weir_route::ValidationError>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
impl Invoker for weir_route::Router {
    fn function_arn(&self, name: &str) -> String {
        weir_route::Router::function_arn(self, name)
    }

    fn exists(&self, name: &str) -> bool {
        self.function_state(name).is_some()
    }

    fn names(&self) -> Vec<String> {
        self.function_names()
    }

    fn timeout(&self, name: &str) -> Option<Duration> {
        self.function_timeout(name)
    }

    fn complete_event(
        &self,
        name: &str,
        result: weir_route::EventResult,
    ) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        let router = self.clone();
        let name = name.to_string();
        Some(Box::pin(async move {
            router.complete_event(&name, result).await;
        }))
    }

    fn queues_events(&self, name: &str) -> bool {
        self.has_event_queue(name)
    }

    fn attempt(&self, name: &str, payload: Vec<u8>, request_id: &str) -> AttemptFuture {
        let (router, name, request_id) = (self.clone(), name.to_string(), request_id.to_string());
        Box::pin(async move {
            weir_route::Router::attempt(&router, &name, payload, &request_id)
                .await
                .map_err(invoke_error)
        })
    }

    fn invoke(&self, name: &str, kind: InvocationType, payload: Vec<u8>) -> InvokeFuture {
        let router = self.clone();
        let name = name.to_string();
        let kind = match kind {
            InvocationType::RequestResponse => weir_route::InvocationType::RequestResponse,
            InvocationType::Event => weir_route::InvocationType::Event,
            InvocationType::DryRun => weir_route::InvocationType::DryRun,
        };
        Box::pin(async move {
            match weir_route::Router::invoke(&router, &name, kind, payload).await {
                Ok(out) if kind == weir_route::InvocationType::RequestResponse => {
                    Ok(Some(match out.function_error {
                        Some(kind) => Outcome::Error(function_error(kind, out.payload)),
                        None => Outcome::Success(out.payload),
                    }))
                }
                Ok(_) => Ok(None),
                Err(e) => Err(invoke_error(e)),
            }
        })
    }
}

/// A function error from its payload: the `errorType` and `errorMessage` it names (Lambda's
/// error shape), else `kind` (`Unhandled`) and the payload's text.
fn function_error(kind: String, payload: Vec<u8>) -> FunctionError {
    let parsed = serde_json::from_slice::<serde_json::Value>(&payload).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    let error_type = field("errorType").unwrap_or(kind);
    let message =
        field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(&payload).into_owned());
    FunctionError::with_payload(error_type, message, payload)
}

/// The invocation layer's refusal as Lambda's error.
fn invoke_error(e: weir_route::InvokeError) -> InvokeError {
    InvokeError {
        code: e.error_type().to_string(),
        status: e.status_code(),
        message: e.message().to_string(),
        reason: e.reason().map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn timeout_panic_and_missing_function() {
        let mut functions = LocalFunctions::new("us-east-1");
        functions.insert(
            "slow",
            |_| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Outcome::Success(Vec::new())
            },
            Duration::from_millis(50),
        );
        functions.insert(
            "panics",
            |_| async {
                if true {
                    panic!("boom");
                }
                Outcome::Success(Vec::new())
            },
            Duration::from_secs(5),
        );
        let slow = functions
            .invoke("slow", InvocationType::RequestResponse, b"{}".to_vec())
            .await;
        let Ok(Some(Outcome::Error(error))) = slow else {
            panic!("{slow:?}")
        };
        assert_eq!(error.error_type, "Sandbox.Timedout");
        assert_eq!(error.error_message, "Task timed out after 0.05 seconds");
        let panicked = functions
            .invoke("panics", InvocationType::RequestResponse, b"{}".to_vec())
            .await;
        let Ok(Some(Outcome::Error(error))) = panicked else {
            panic!("{panicked:?}")
        };
        assert_eq!(error.error_type, "Runtime.HandlerPanicked");
        let missing = functions
            .invoke("nope", InvocationType::DryRun, Vec::new())
            .await;
        assert_eq!(
            missing,
            Err(InvokeError::not_found(
                "arn:aws:lambda:us-east-1:000000000000:function:nope"
            ))
        );
    }

    #[tokio::test]
    async fn a_routers_function_error_keeps_its_type_and_message() {
        let router = weir_route::Router::new();
        router
            .create_function(weir_route::FunctionConfig::new("f"), |_| async {
                Outcome::Error(FunctionError::new("Boom", "bad record"))
            })
            .unwrap();
        let out = Invoker::invoke(
            &router,
            "f",
            InvocationType::RequestResponse,
            b"{}".to_vec(),
        )
        .await;
        let Ok(Some(Outcome::Error(error))) = out else {
            panic!("{out:?}")
        };
        assert_eq!(
            (error.error_type.as_str(), error.error_message.as_str()),
            ("Boom", "bad record")
        );
        assert_eq!(
            error.payload,
            FunctionError::new("Boom", "bad record").payload
        );
    }
}
