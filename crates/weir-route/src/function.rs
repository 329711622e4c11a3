//! Functions: their configuration, state and asynchronous-invocation settings, and the
//! targets records are delivered to.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{ValidationError, Violations};

/// A function's state, as `GetFunction` reports it. Only an `Active` function runs.
///
/// # Example
/// ```
/// use weir_route::FunctionState;
/// assert_eq!("Inactive".parse::<FunctionState>(), Ok(FunctionState::Inactive));
/// assert_eq!(FunctionState::Pending.to_string(), "Pending");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FunctionState {
    /// Being created: invocations fail with `ResourceConflictException`.
    Pending,
    /// Ready.
    #[default]
    Active,
    /// Idle long enough to have been reclaimed: `ResourceNotReadyException`.
    Inactive,
    /// Creation or update failed: `ResourceNotReadyException`.
    Failed,
}

impl fmt::Display for FunctionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FunctionState::Pending => "Pending",
            FunctionState::Active => "Active",
            FunctionState::Inactive => "Inactive",
            FunctionState::Failed => "Failed",
        })
    }
}

impl FromStr for FunctionState {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Pending" => Ok(FunctionState::Pending),
            "Active" => Ok(FunctionState::Active),
            "Inactive" => Ok(FunctionState::Inactive),
            "Failed" => Ok(FunctionState::Failed),
            _ => Err(ValidationError::invalid_parameter(format!(
                "unknown function state {s:?} (expected Pending, Active, Inactive or Failed)"
            ))),
        }
    }
}

/// Where records go: a function (invoked asynchronously), a queue, a stream or an event bus,
/// named by the resource's name.
///
/// Parsed from an ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`,
/// `arn:aws:sqs:REGION:ACCOUNT:NAME`, `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`,
/// `arn:aws:events:REGION:ACCOUNT:event-bus/NAME`); the region and account are not checked.
///
/// # Example
/// ```
/// use weir_route::Target;
/// assert_eq!("arn:aws:sqs:us-east-1:000000000000:failed".parse::<Target>()?, Target::Queue("failed".into()));
/// assert_eq!("arn:aws:kinesis:eu-west-1:1:stream/s".parse::<Target>()?, Target::Stream("s".into()));
/// assert!("arn:aws:sns:us-east-1:1:topic".parse::<Target>().is_err());
/// # Ok::<(), weir_route::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A function, invoked asynchronously with the record as its event.
    Function(String),
    /// A queue: the record is a message's body.
    Queue(String),
    /// A stream: the record is a record's data.
    Stream(String),
    /// An event bus: the record is an event's `detail`.
    Bus(String),
}

impl Target {
    /// The target's resource name.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::Target::Queue("q".into()).name(), "q");
    /// ```
    pub fn name(&self) -> &str {
        match self {
            Target::Function(n) | Target::Queue(n) | Target::Stream(n) | Target::Bus(n) => n,
        }
    }
}

impl FromStr for Target {
    type Err = ValidationError;
    fn from_str(arn: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ValidationError::invalid_parameter(format!(
                "{arn:?} is not the ARN of a function, queue, stream or event bus \
                 (arn:aws:lambda:REGION:ACCOUNT:function:NAME, arn:aws:sqs:REGION:ACCOUNT:NAME, \
                 arn:aws:kinesis:REGION:ACCOUNT:stream/NAME, arn:aws:events:REGION:ACCOUNT:event-bus/NAME)"
            ))
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[5].is_empty() {
            return Err(bad());
        }
        let resource = parts[5];
        let target = match parts[2] {
            "lambda" => {
                let rest = resource.strip_prefix("function:").ok_or_else(bad)?;
                // A qualifier (`:$LATEST`) names the same function here.
                let name = rest.split(':').next().unwrap_or(rest);
                Target::Function(name.to_string())
            }
            "sqs" => Target::Queue(resource.to_string()),
            "kinesis" => Target::Stream(
                resource
                    .strip_prefix("stream/")
                    .ok_or_else(bad)?
                    .to_string(),
            ),
            "events" => Target::Bus(
                resource
                    .strip_prefix("event-bus/")
                    .ok_or_else(bad)?
                    .to_string(),
            ),
            _ => return Err(bad()),
        };
        if target.name().is_empty() {
            return Err(bad());
        }
        Ok(target)
    }
}

/// A function's asynchronous-invocation settings (`PutFunctionEventInvokeConfig`,
/// CloudFormation's `AWS::Lambda::EventInvokeConfig`).
///
/// # Example
/// ```
/// use weir_route::{EventInvokeConfig, Target};
/// let config = EventInvokeConfig::default()
///     .maximum_retry_attempts(1)
///     .on_failure(Target::Queue("failed".into()));
/// assert_eq!(config.maximum_retry_attempts, 1);
/// assert_eq!(config.maximum_event_age, std::time::Duration::from_secs(21_600));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventInvokeConfig {
    /// Retries after a function error (0-2, default 2): the first 1 minute after the error,
    /// the second 2 minutes after the next.
    pub maximum_retry_attempts: u32,
    /// How long an event may wait in the internal queue (60 s - 6 h, default 6 h).
    pub maximum_event_age: Duration,
    /// Where the invocation record of a success goes.
    pub on_success: Option<Target>,
    /// Where the invocation record of a discarded event goes.
    pub on_failure: Option<Target>,
    /// The waits before the first and the second retry (Lambda's: 1 and 2 minutes). weir's
    /// own setting (`Weir.RetryDelays` in `weir.toml`), for trying retries quickly.
    pub retry_delays: [Duration; 2],
}

impl Default for EventInvokeConfig {
    fn default() -> Self {
        EventInvokeConfig {
            maximum_retry_attempts: 2,
            maximum_event_age: Duration::from_secs(21_600),
            on_success: None,
            on_failure: None,
            retry_delays: [Duration::from_secs(60), Duration::from_secs(120)],
        }
    }
}

impl EventInvokeConfig {
    /// Sets `MaximumRetryAttempts`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::EventInvokeConfig::default().maximum_retry_attempts(0).maximum_retry_attempts, 0);
    /// ```
    pub fn maximum_retry_attempts(mut self, n: u32) -> Self {
        self.maximum_retry_attempts = n;
        self
    }

    /// Sets `MaximumEventAgeInSeconds`.
    ///
    /// # Example
    /// ```
    /// let c = weir_route::EventInvokeConfig::default().maximum_event_age_in_seconds(60);
    /// assert_eq!(c.maximum_event_age.as_secs(), 60);
    /// ```
    pub fn maximum_event_age_in_seconds(mut self, seconds: u64) -> Self {
        self.maximum_event_age = Duration::from_secs(seconds);
        self
    }

    /// Sets the waits before the first and the second retry.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// let c = weir_route::EventInvokeConfig::default().retry_delays(Duration::from_millis(100), Duration::from_millis(200));
    /// assert_eq!(c.retry_delays[1], Duration::from_millis(200));
    /// ```
    pub fn retry_delays(mut self, first: Duration, second: Duration) -> Self {
        self.retry_delays = [first, second];
        self
    }

    /// Sets the on-success destination.
    ///
    /// # Example
    /// ```
    /// use weir_route::{EventInvokeConfig, Target};
    /// let c = EventInvokeConfig::default().on_success(Target::Bus("default".into()));
    /// assert_eq!(c.on_success, Some(Target::Bus("default".into())));
    /// ```
    pub fn on_success(mut self, target: Target) -> Self {
        self.on_success = Some(target);
        self
    }

    /// Sets the on-failure destination.
    ///
    /// # Example
    /// ```
    /// use weir_route::{EventInvokeConfig, Target};
    /// let c = EventInvokeConfig::default().on_failure(Target::Function("audit".into()));
    /// assert_eq!(c.on_failure, Some(Target::Function("audit".into())));
    /// ```
    pub fn on_failure(mut self, target: Target) -> Self {
        self.on_failure = Some(target);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Violations::default();
        v.range(
            "maximumRetryAttempts",
            Some(i64::from(self.maximum_retry_attempts)),
            0,
            2,
        );
        v.range(
            "maximumEventAgeInSeconds",
            Some(self.maximum_event_age.as_secs() as i64),
            60,
            21_600,
        );
        v.finish()
    }
}

/// A function's configuration.
///
/// # Example
/// ```
/// use weir_route::{FunctionConfig, FunctionState};
/// let config = FunctionConfig::new("process").timeout_seconds(10).reserved_concurrency(2);
/// assert_eq!(config.timeout.as_secs(), 10);
/// assert_eq!(config.state, FunctionState::Active);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FunctionConfig {
    /// The function's name (1-64 characters: letters, digits, `-`, `_`).
    pub name: String,
    /// How long an invocation may run (1-900 s, default 3 s).
    pub timeout: Duration,
    /// At most this many invocations at once (`ReservedConcurrentExecutions`); 0 throttles
    /// every invocation. `None`: no limit of its own.
    pub reserved_concurrency: Option<u32>,
    /// The state it starts in.
    pub state: FunctionState,
    /// Asynchronous invocation settings.
    pub event_invoke: EventInvokeConfig,
    /// The dead-letter queue (`DeadLetterConfig.TargetArn`): receives the event of a
    /// discarded asynchronous invocation.
    pub dead_letter: Option<Target>,
}

impl FunctionConfig {
    /// A function with Lambda's defaults: 3 s timeout, no reserved concurrency, `Active`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::FunctionConfig::new("f").timeout.as_secs(), 3);
    /// ```
    pub fn new(name: impl Into<String>) -> FunctionConfig {
        FunctionConfig {
            name: name.into(),
            timeout: Duration::from_secs(3),
            reserved_concurrency: None,
            state: FunctionState::Active,
            event_invoke: EventInvokeConfig::default(),
            dead_letter: None,
        }
    }

    /// Sets the timeout in seconds.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::FunctionConfig::new("f").timeout_seconds(900).timeout.as_secs(), 900);
    /// ```
    pub fn timeout_seconds(mut self, seconds: u64) -> Self {
        self.timeout = Duration::from_secs(seconds);
        self
    }

    /// Sets the timeout.
    ///
    /// # Example
    /// ```
    /// let c = weir_route::FunctionConfig::new("f").timeout(std::time::Duration::from_millis(1500));
    /// assert_eq!(c.timeout.as_millis(), 1500);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the reserved concurrency.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::FunctionConfig::new("f").reserved_concurrency(0).reserved_concurrency, Some(0));
    /// ```
    pub fn reserved_concurrency(mut self, n: u32) -> Self {
        self.reserved_concurrency = Some(n);
        self
    }

    /// Sets the initial state.
    ///
    /// # Example
    /// ```
    /// use weir_route::{FunctionConfig, FunctionState};
    /// assert_eq!(FunctionConfig::new("f").state(FunctionState::Pending).state, FunctionState::Pending);
    /// ```
    pub fn state(mut self, state: FunctionState) -> Self {
        self.state = state;
        self
    }

    /// Sets the asynchronous invocation settings.
    ///
    /// # Example
    /// ```
    /// use weir_route::{EventInvokeConfig, FunctionConfig};
    /// let c = FunctionConfig::new("f").event_invoke(EventInvokeConfig::default().maximum_retry_attempts(0));
    /// assert_eq!(c.event_invoke.maximum_retry_attempts, 0);
    /// ```
    pub fn event_invoke(mut self, config: EventInvokeConfig) -> Self {
        self.event_invoke = config;
        self
    }

    /// Sets the dead-letter queue.
    ///
    /// # Example
    /// ```
    /// use weir_route::{FunctionConfig, Target};
    /// let c = FunctionConfig::new("f").dead_letter(Target::Queue("dlq".into()));
    /// assert_eq!(c.dead_letter, Some(Target::Queue("dlq".into())));
    /// ```
    pub fn dead_letter(mut self, target: Target) -> Self {
        self.dead_letter = Some(target);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Violations::default();
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            v.push(format!(
                "Value '{}' at 'functionName' failed to satisfy constraint: Member must satisfy \
                 regular expression pattern: [a-zA-Z0-9-_]{{1,64}}",
                self.name
            ));
        }
        let ms = self.timeout.as_millis() as i64;
        if ms < 1000 {
            v.push(format!(
                "Value '{}' at 'timeout' failed to satisfy constraint: Member must have value \
                 greater than or equal to 1",
                self.timeout.as_secs_f64()
            ));
        } else if ms > 900_000 {
            v.push(format!(
                "Value '{}' at 'timeout' failed to satisfy constraint: Member must have value \
                 less than or equal to 900",
                self.timeout.as_secs_f64()
            ));
        }
        if let Some(Target::Stream(_)) = &self.dead_letter {
            v.push("a dead-letter target must be a queue".to_string());
        }
        if let Some(Target::Function(_) | Target::Bus(_)) = &self.dead_letter {
            v.push("a dead-letter target must be a queue".to_string());
        }
        v.finish()?;
        self.event_invoke.validate()
    }
}
