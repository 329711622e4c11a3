//! The errors of the invocation layer, named as the Lambda API names them.

use std::fmt;

/// A refused configuration: a parameter out of range, a missing resource, a combination AWS
/// does not accept. `error_type` is AWS's exception name, `message` its wording where AWS's
/// is known (constraint violations read `1 validation error detected: Value '11' at
/// 'parallelizationFactor' failed to satisfy constraint: Member must have value less than or
/// equal to 10`).
///
/// # Example
/// ```
/// let err = weir_route::ValidationError::invalid_parameter("BatchSize must be positive");
/// assert_eq!(err.error_type(), "InvalidParameterValueException");
/// assert_eq!(err.to_string(), "InvalidParameterValueException: BatchSize must be positive");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    error_type: &'static str,
    message: String,
}

impl ValidationError {
    /// An `InvalidParameterValueException`.
    ///
    /// # Example
    /// ```
    /// let err = weir_route::ValidationError::invalid_parameter("bad");
    /// assert_eq!(err.message(), "bad");
    /// ```
    pub fn invalid_parameter(message: impl Into<String>) -> ValidationError {
        ValidationError {
            error_type: "InvalidParameterValueException",
            message: message.into(),
        }
    }

    /// A `ResourceNotFoundException` (a referenced function, queue, stream or bus is missing).
    ///
    /// # Example
    /// ```
    /// let err = weir_route::ValidationError::not_found("Function not found: f");
    /// assert_eq!(err.error_type(), "ResourceNotFoundException");
    /// ```
    pub fn not_found(message: impl Into<String>) -> ValidationError {
        ValidationError {
            error_type: "ResourceNotFoundException",
            message: message.into(),
        }
    }

    /// A `ResourceConflictException` (a resource of that name exists already).
    ///
    /// # Example
    /// ```
    /// let err = weir_route::ValidationError::conflict("exists");
    /// assert_eq!(err.error_type(), "ResourceConflictException");
    /// ```
    pub fn conflict(message: impl Into<String>) -> ValidationError {
        ValidationError {
            error_type: "ResourceConflictException",
            message: message.into(),
        }
    }

    pub(crate) fn with_type(mut self, error_type: &'static str) -> ValidationError {
        self.error_type = error_type;
        self
    }

    /// AWS's exception name.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::ValidationError::conflict("x").error_type(), "ResourceConflictException");
    /// ```
    pub fn error_type(&self) -> &str {
        self.error_type
    }

    /// The message.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::ValidationError::conflict("x").message(), "x");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `context: ` before its message (the config file names the
    /// resource this way).
    ///
    /// # Example
    /// ```
    /// let err = weir_route::ValidationError::conflict("x").context("Resources.Q");
    /// assert_eq!(err.message(), "Resources.Q: x");
    /// ```
    pub fn context(mut self, context: &str) -> ValidationError {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Collects constraint violations and words them as AWS does: `N validation error(s)
/// detected: Value 'V' at 'name' failed to satisfy constraint: ...; Value ...`.
#[derive(Debug, Default)]
pub(crate) struct Violations(Vec<String>);

impl Violations {
    pub(crate) fn range(&mut self, name: &str, value: Option<i64>, min: i64, max: i64) {
        let Some(v) = value else { return };
        if v < min {
            self.0.push(format!(
                "Value '{v}' at '{name}' failed to satisfy constraint: Member must have value \
                 greater than or equal to {min}"
            ));
        } else if v > max {
            self.0.push(format!(
                "Value '{v}' at '{name}' failed to satisfy constraint: Member must have value \
                 less than or equal to {max}"
            ));
        }
    }

    pub(crate) fn push(&mut self, violation: String) {
        self.0.push(violation);
    }

    pub(crate) fn finish(self) -> Result<(), ValidationError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let n = self.0.len();
        let noun = if n == 1 { "error" } else { "errors" };
        Err(ValidationError {
            error_type: "ValidationException",
            message: format!("{n} validation {noun} detected: {}", self.0.join("; ")),
        })
    }
}

/// Why an `Invoke` call was refused (the function did not run). The names and HTTP status
/// codes are the Lambda API's.
///
/// # Example
/// ```
/// use weir_route::{InvokeErrorKind, Router, InvocationType};
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let router = Router::new();
/// let err = router.invoke("missing", InvocationType::RequestResponse, b"{}".to_vec()).await.unwrap_err();
/// assert_eq!(err.kind(), &InvokeErrorKind::ResourceNotFound);
/// assert_eq!(err.error_type(), "ResourceNotFoundException");
/// assert_eq!(err.status_code(), 404);
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeError {
    kind: InvokeErrorKind,
    message: String,
}

/// The kinds of [`InvokeError`].
///
/// # Example
/// ```
/// let kind = weir_route::InvokeErrorKind::RequestTooLarge;
/// assert_eq!(format!("{kind:?}"), "RequestTooLarge");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvokeErrorKind {
    /// No function of that name (`ResourceNotFoundException`, 404).
    ResourceNotFound,
    /// The function is `Pending` (`ResourceConflictException`, 409).
    ResourceConflict,
    /// The function is `Inactive` or `Failed` (`ResourceNotReadyException`, 502).
    ResourceNotReady,
    /// Over the function's reserved concurrency (`TooManyRequestsException`, 429), with
    /// Lambda's reason (`ReservedFunctionConcurrentInvocationLimitExceeded`).
    TooManyRequests {
        /// The throttling reason.
        reason: String,
    },
    /// The payload is over 6 MB (synchronous) or 1 MB (asynchronous)
    /// (`RequestTooLargeException`, 413).
    RequestTooLarge,
    /// The payload is not JSON (`InvalidRequestContentException`, 400).
    InvalidRequestContent,
    /// The function's asynchronous invocation queue (an [`crate::EventQueue`], e.g. on
    /// Redis) could not take the event (`ServiceException`, 500).
    Service,
}

impl InvokeError {
    pub(crate) fn new(kind: InvokeErrorKind, message: impl Into<String>) -> InvokeError {
        InvokeError {
            kind,
            message: message.into(),
        }
    }

    /// The kind.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, InvocationType, InvokeErrorKind};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let err = Router::new().invoke("f", InvocationType::Event, vec![]).await.unwrap_err();
    /// assert_eq!(err.kind(), &InvokeErrorKind::ResourceNotFound);
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kind(&self) -> &InvokeErrorKind {
        &self.kind
    }

    /// AWS's exception name (`ResourceNotFoundException`, ...).
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, InvocationType};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let err = Router::new().invoke("f", InvocationType::DryRun, vec![]).await.unwrap_err();
    /// assert_eq!(err.error_type(), "ResourceNotFoundException");
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn error_type(&self) -> &'static str {
        match self.kind {
            InvokeErrorKind::ResourceNotFound => "ResourceNotFoundException",
            InvokeErrorKind::ResourceConflict => "ResourceConflictException",
            InvokeErrorKind::ResourceNotReady => "ResourceNotReadyException",
            InvokeErrorKind::TooManyRequests { .. } => "TooManyRequestsException",
            InvokeErrorKind::RequestTooLarge => "RequestTooLargeException",
            InvokeErrorKind::InvalidRequestContent => "InvalidRequestContentException",
            InvokeErrorKind::Service => "ServiceException",
        }
    }

    /// The HTTP status code the Lambda API answers with.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, InvocationType};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let err = Router::new().invoke("f", InvocationType::DryRun, vec![]).await.unwrap_err();
    /// assert_eq!(err.status_code(), 404);
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn status_code(&self) -> u16 {
        match self.kind {
            InvokeErrorKind::ResourceNotFound => 404,
            InvokeErrorKind::ResourceConflict => 409,
            InvokeErrorKind::ResourceNotReady => 502,
            InvokeErrorKind::TooManyRequests { .. } => 429,
            InvokeErrorKind::RequestTooLarge => 413,
            InvokeErrorKind::InvalidRequestContent => 400,
            InvokeErrorKind::Service => 500,
        }
    }

    /// The message.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, InvocationType};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let err = Router::new().invoke("f", InvocationType::DryRun, vec![]).await.unwrap_err();
    /// assert_eq!(err.message(), "Function not found: arn:aws:lambda:us-east-1:000000000000:function:f");
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The throttling reason, for `TooManyRequestsException`.
    ///
    /// # Example
    /// ```
    /// # use weir_route::{Router, InvocationType};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let err = Router::new().invoke("f", InvocationType::DryRun, vec![]).await.unwrap_err();
    /// assert_eq!(err.reason(), None);
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reason(&self) -> Option<&str> {
        match &self.kind {
            InvokeErrorKind::TooManyRequests { reason } => Some(reason),
            _ => None,
        }
    }
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type(), self.message)
    }
}

impl std::error::Error for InvokeError {}
