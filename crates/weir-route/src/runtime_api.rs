//! Handlers that speak the Lambda Runtime API: [`RuntimeApiHandler`].
//!
//! weir serves the Runtime API (`/2018-06-01/runtime/...`) on 127.0.0.1 and starts the
//! function's process with `AWS_LAMBDA_RUNTIME_API` pointing at it, so a handler written for
//! Lambda runs unmodified through its official runtime client (`awslambdaric` for Python,
//! the `lambda_runtime` crate for Rust, or any custom runtime).
//!
//! Each process is an *execution environment*: it serves one invocation at a time and stays
//! warm between invocations. An environment is discarded (its process killed) when its
//! invocation is dropped (the caller's timeout), when its process exits, and when it reports
//! an initialization error; the next invocation starts a fresh one.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use tokio::process::Child;
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::handler::{FunctionError, Handler, HandlerFuture, Invocation, Outcome};
use crate::process::{ProcessGroup, ProcessSpec};

/// The largest response (or error) body a runtime may post, in bytes: Lambda's 6 MB
/// synchronous limit (6 MiB and 100 bytes). A larger response fails the invocation with
/// `Function.ResponseSizeTooLarge`, and the runtime's post gets 413.
///
/// # Example
/// ```
/// assert_eq!(weir_route::MAX_RESPONSE_SIZE, 6_291_556);
/// ```
pub const MAX_RESPONSE_SIZE: usize = 6 * 1024 * 1024 + 100;

/// How long an invocation without a deadline may run as far as the runtime is told
/// (`Lambda-Runtime-Deadline-Ms`): 15 minutes, Lambda's longest function timeout.
const NO_DEADLINE_MS: u64 = 900_000;

/// Where a runtime process's stdout and stderr go.
///
/// # Example
/// ```
/// assert_eq!(weir_route::ProcessLogs::default(), weir_route::ProcessLogs::Stderr);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessLogs {
    /// Both to weir's stderr (a function's logs never mix with weir's stdout).
    #[default]
    Stderr,
    /// Discarded.
    Discard,
}

/// How a [`RuntimeApiHandler`] starts its execution environments: the process and the
/// function's settings its runtime client reads from the environment.
///
/// # Example
/// ```
/// use weir_route::{ProcessSpec, RuntimeApiConfig};
/// let config = RuntimeApiConfig::new("orders", ProcessSpec::new("python3").arg("-m").arg("awslambdaric").arg("app.handler"))
///     .handler("app.handler")
///     .memory_size_mb(256)
///     .max_environments(4);
/// assert_eq!(config.function_name, "orders");
/// assert_eq!(config.memory_size_mb, 256);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeApiConfig {
    /// The runtime's process (its program, arguments, extra environment, directory). A
    /// relative program path with a `/` (`./bootstrap`) is taken from weir's working
    /// directory, even when the process starts in another.
    pub process: ProcessSpec,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
    /// `AWS_LAMBDA_FUNCTION_VERSION`; `$LATEST` by default.
    pub function_version: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` in MB; 128 by default (informational: weir sets
    /// no memory limit).
    pub memory_size_mb: u32,
    /// `AWS_REGION` and `AWS_DEFAULT_REGION`; `us-east-1` by default.
    pub region: String,
    /// `_HANDLER`, the handler setting a runtime client reads (e.g. `app.handler`); unset
    /// when `None`.
    pub handler: Option<String>,
    /// `LAMBDA_TASK_ROOT`, also the process's working directory when the [`ProcessSpec`]
    /// names none; the process's working directory (or weir's) when `None`.
    pub task_root: Option<PathBuf>,
    /// How many environments may run at once (at least 1; 10 by default). An invocation
    /// that finds them all busy waits for one.
    pub max_environments: usize,
    /// Where the processes' output goes.
    pub logs: ProcessLogs,
}

impl RuntimeApiConfig {
    /// A function named `function_name` whose environments run `process`.
    ///
    /// # Example
    /// ```
    /// let config = weir_route::RuntimeApiConfig::new("f", weir_route::ProcessSpec::new("./bootstrap"));
    /// assert_eq!(config.function_version, "$LATEST");
    /// assert_eq!(config.max_environments, 10);
    /// ```
    pub fn new(function_name: impl Into<String>, process: ProcessSpec) -> Self {
        RuntimeApiConfig {
            process,
            function_name: function_name.into(),
            function_version: "$LATEST".to_string(),
            memory_size_mb: 128,
            region: "us-east-1".to_string(),
            handler: None,
            task_root: None,
            max_environments: 10,
            logs: ProcessLogs::Stderr,
        }
    }

    /// A Python function run by the official runtime client: `PYTHON -m awslambdaric
    /// HANDLER` in `code_dir` (the task root), `_HANDLER` set to `handler` (`module.function`,
    /// as in a template's `Handler`). `python` is an interpreter that has `awslambdaric`.
    ///
    /// # Example
    /// ```
    /// let config = weir_route::RuntimeApiConfig::awslambdaric("orders", "python3", "app.handler", "src");
    /// assert_eq!(config.process.args, ["-m", "awslambdaric", "app.handler"]);
    /// assert_eq!(config.handler.as_deref(), Some("app.handler"));
    /// assert_eq!(config.task_root.as_deref(), Some(std::path::Path::new("src")));
    /// ```
    pub fn awslambdaric(
        function_name: impl Into<String>,
        python: impl Into<String>,
        handler: impl Into<String>,
        code_dir: impl Into<PathBuf>,
    ) -> Self {
        let handler = handler.into();
        RuntimeApiConfig::new(
            function_name,
            ProcessSpec::new(python)
                .arg("-m")
                .arg("awslambdaric")
                .arg(handler.clone()),
        )
        .handler(handler)
        .task_root(code_dir)
    }

    /// A custom runtime (`provided.al2023`): the executable `bootstrap` in `code_dir`, which
    /// is the task root; a Rust function built on the `lambda_runtime` crate is one.
    ///
    /// # Example
    /// ```
    /// let config = weir_route::RuntimeApiConfig::bootstrap("orders", "target/lambda/orders");
    /// assert_eq!(config.process.program, "target/lambda/orders/bootstrap");
    /// ```
    pub fn bootstrap(function_name: impl Into<String>, code_dir: impl Into<PathBuf>) -> Self {
        let code_dir = code_dir.into();
        let mut program = code_dir.join("bootstrap").display().to_string();
        if !program.contains('/') {
            // `bootstrap` alone would be looked up on PATH.
            program = format!("./{program}");
        }
        RuntimeApiConfig::new(function_name, ProcessSpec::new(program)).task_root(code_dir)
    }

    /// Sets `_HANDLER`.
    ///
    /// # Example
    /// ```
    /// let config = weir_route::RuntimeApiConfig::new("f", weir_route::ProcessSpec::new("x")).handler("app.main");
    /// assert_eq!(config.handler.as_deref(), Some("app.main"));
    /// ```
    pub fn handler(mut self, handler: impl Into<String>) -> Self {
        self.handler = Some(handler.into());
        self
    }

    /// Sets `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    ///
    /// # Example
    /// ```
    /// let config = weir_route::RuntimeApiConfig::new("f", weir_route::ProcessSpec::new("x")).memory_size_mb(512);
    /// assert_eq!(config.memory_size_mb, 512);
    /// ```
    pub fn memory_size_mb(mut self, memory_size_mb: u32) -> Self {
        self.memory_size_mb = memory_size_mb;
        self
    }

    /// Sets `AWS_REGION` and `AWS_DEFAULT_REGION`.
    ///
    /// # Example
    /// ```
    /// let config = weir_route::RuntimeApiConfig::new("f", weir_route::ProcessSpec::new("x")).region("eu-west-1");
    /// assert_eq!(config.region, "eu-west-1");
    /// ```
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Sets `AWS_LAMBDA_FUNCTION_VERSION`.
    ///
    /// # Example
    /// ```
    /// let config = weir_route::RuntimeApiConfig::new("f", weir_route::ProcessSpec::new("x")).function_version("3");
    /// assert_eq!(config.function_version, "3");
    /// ```
    pub fn function_version(mut self, version: impl Into<String>) -> Self {
        self.function_version = version.into();
        self
    }

    /// Sets `LAMBDA_TASK_ROOT` (and the working directory when the process names none).
    ///
    /// # Example
    /// ```
    /// let config = weir_route::RuntimeApiConfig::new("f", weir_route::ProcessSpec::new("x")).task_root("/srv/app");
    /// assert_eq!(config.task_root.as_deref(), Some(std::path::Path::new("/srv/app")));
    /// ```
    pub fn task_root(mut self, task_root: impl Into<PathBuf>) -> Self {
        self.task_root = Some(task_root.into());
        self
    }

    /// Sets how many environments may run at once (0 counts as 1).
    ///
    /// # Example
    /// ```
    /// let config = weir_route::RuntimeApiConfig::new("f", weir_route::ProcessSpec::new("x")).max_environments(0);
    /// assert_eq!(config.max_environments, 1);
    /// ```
    pub fn max_environments(mut self, max_environments: usize) -> Self {
        self.max_environments = max_environments.max(1);
        self
    }

    /// Sets where the processes' output goes.
    ///
    /// # Example
    /// ```
    /// use weir_route::{ProcessLogs, ProcessSpec, RuntimeApiConfig};
    /// let config = RuntimeApiConfig::new("f", ProcessSpec::new("x")).logs(ProcessLogs::Discard);
    /// assert_eq!(config.logs, ProcessLogs::Discard);
    /// ```
    pub fn logs(mut self, logs: ProcessLogs) -> Self {
        self.logs = logs;
        self
    }
}

/// A handler whose invocations run in processes speaking the Lambda Runtime API.
///
/// Environments start on demand, up to [`RuntimeApiConfig::max_environments`] at once, and
/// stay warm: an idle environment serves the next invocation. An environment is discarded,
/// its process killed, when:
/// - the invocation's future is dropped (the caller's timeout): nothing of it is reused;
/// - its process exits (during an invocation: `Runtime.ExitError`, `RequestId: ... Error:
///   Runtime exited with error: exit status N` or `signal: killed`);
/// - its runtime posts `/runtime/init/error`: the invocation fails with the runtime's error.
///
/// The first invocation that needs an environment starts it, so it must be called within
/// a tokio runtime (any [`Handler`] is); dropping the handler kills its idle environments.
///
/// # Example
/// ```no_run
/// use weir_route::{Handler, Invocation, Outcome, ProcessSpec, RuntimeApiConfig, RuntimeApiHandler};
/// let handler = RuntimeApiHandler::new(
///     RuntimeApiConfig::new("orders", ProcessSpec::new("python3").arg("-m").arg("awslambdaric").arg("app.handler"))
///         .handler("app.handler")
///         .task_root("crates/weir-route/tests/python"),
/// );
/// let runtime = tokio::runtime::Runtime::new()?;
/// let outcome = runtime.block_on(handler.invoke(Invocation::new("req-1", "arn:aws:lambda:us-east-1:000000000000:function:orders", b"{}".to_vec())));
/// match outcome {
///     Outcome::Success(payload) => println!("{}", String::from_utf8_lossy(&payload)),
///     other => eprintln!("{other:?}"),
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RuntimeApiHandler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: RuntimeApiConfig,
    /// One permit per environment that may run.
    slots: Arc<Semaphore>,
    /// Warm environments waiting for an invocation; the most recently used last.
    idle: Mutex<Vec<Environment>>,
    /// Environments started so far.
    started: AtomicU64,
    /// [`Handler::shutdown`] was called: no environment is kept warm any more.
    closing: std::sync::atomic::AtomicBool,
}

impl RuntimeApiHandler {
    /// A handler that starts environments as `config` says.
    ///
    /// # Example
    /// ```
    /// use weir_route::{ProcessSpec, RuntimeApiConfig, RuntimeApiHandler};
    /// let handler = RuntimeApiHandler::new(RuntimeApiConfig::new("f", ProcessSpec::new("./bootstrap")));
    /// assert_eq!(handler.environments_started(), 0);
    /// ```
    pub fn new(config: RuntimeApiConfig) -> Self {
        let slots = Arc::new(Semaphore::new(config.max_environments.max(1)));
        RuntimeApiHandler {
            inner: Arc::new(Inner {
                config,
                slots,
                idle: Mutex::new(Vec::new()),
                started: AtomicU64::new(0),
                closing: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// The configuration.
    ///
    /// # Example
    /// ```
    /// use weir_route::{ProcessSpec, RuntimeApiConfig, RuntimeApiHandler};
    /// let handler = RuntimeApiHandler::new(RuntimeApiConfig::new("f", ProcessSpec::new("./bootstrap")));
    /// assert_eq!(handler.config().function_name, "f");
    /// ```
    pub fn config(&self) -> &RuntimeApiConfig {
        &self.inner.config
    }

    /// How many environments (processes) this handler has started so far, counting the
    /// discarded ones.
    ///
    /// # Example
    /// ```
    /// use weir_route::{ProcessSpec, RuntimeApiConfig, RuntimeApiHandler};
    /// let handler = RuntimeApiHandler::new(RuntimeApiConfig::new("f", ProcessSpec::new("./bootstrap")));
    /// assert_eq!(handler.environments_started(), 0);
    /// ```
    pub fn environments_started(&self) -> u64 {
        self.inner.started.load(Ordering::Relaxed)
    }

    /// How many warm environments are waiting for an invocation.
    ///
    /// # Example
    /// ```
    /// use weir_route::{ProcessSpec, RuntimeApiConfig, RuntimeApiHandler};
    /// let handler = RuntimeApiHandler::new(RuntimeApiConfig::new("f", ProcessSpec::new("./bootstrap")));
    /// assert_eq!(handler.idle_environments(), 0);
    /// ```
    pub fn idle_environments(&self) -> usize {
        lock(&self.inner.idle).len()
    }
}

impl Handler for RuntimeApiHandler {
    fn invoke(&self, invocation: Invocation) -> HandlerFuture {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.invoke(invocation).await })
    }

    /// Kills the idle environments now; an invocation still running keeps its environment
    /// until it ends, and then it is killed rather than kept warm. A later invocation starts
    /// a fresh environment as usual (and it is not kept either).
    fn shutdown(&self) {
        let idle = {
            let mut idle = lock(&self.inner.idle);
            self.inner.closing.store(true, Ordering::Release);
            std::mem::take(&mut *idle)
        };
        // Killed outside the lock.
        drop(idle);
    }
}

impl Inner {
    async fn invoke(self: Arc<Self>, invocation: Invocation) -> Outcome {
        // The semaphore is never closed, so acquiring fails only if it were.
        let Ok(_slot) = Arc::clone(&self.slots).acquire_owned().await else {
            return Outcome::Error(FunctionError::new(
                "Runtime.Unknown",
                "the function's environments are shut down",
            ));
        };
        let mut environment = match self.take_idle() {
            Some(environment) => environment,
            None => match Environment::start(&self.config).await {
                Ok(environment) => {
                    self.started.fetch_add(1, Ordering::Relaxed);
                    environment
                }
                Err(error) => {
                    return Outcome::Error(FunctionError::new(
                        "Runtime.InvalidEntrypoint",
                        format!(
                            "RequestId: {} Error: cannot start {}: {error}",
                            invocation.request_id, self.config.process.program
                        ),
                    ))
                }
            },
        };
        // Dropping this future drops `environment`, which kills its process.
        let (outcome, fate) = environment.run(invocation).await;
        match fate {
            Fate::Keep => {
                // Under the idle list's lock, which `shutdown` holds while it sets `closing`:
                // no environment slips into the list after it was emptied.
                let mut idle = lock(&self.idle);
                if self.closing.load(Ordering::Acquire) {
                    drop(idle);
                    drop(environment);
                } else {
                    idle.push(environment);
                }
            }
            Fate::Kill => drop(environment),
            Fate::Retire => {
                // Told 202 for its init error, the runtime may still be writing its logs:
                // it gets a moment to exit by itself.
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(RETIRE_GRACE, environment.child.wait()).await;
                    drop(environment);
                });
            }
        }
        outcome
    }

    /// A warm environment whose process is still running, if there is one.
    fn take_idle(&self) -> Option<Environment> {
        let mut idle = lock(&self.idle);
        while let Some(mut environment) = idle.pop() {
            if matches!(environment.child.try_wait(), Ok(None)) {
                return Some(environment);
            }
            // Exited while idle: dropped here, and a fresh one serves the invocation.
        }
        None
    }
}

/// A poisoned lock only means another invocation panicked while holding it; the data
/// (a list, a small state) is still consistent, so go on with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One execution environment: a runtime process and the Runtime API server it talks to.
#[derive(Debug)]
struct Environment {
    child: Child,
    /// The process's group (on Unix it leads a group of its own, so whatever it starts goes
    /// with it when this drops).
    group: ProcessGroup,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for Environment {
    fn drop(&mut self) {
        // The whole group, a runtime's children too (the field drops after this body, so
        // kill it first, as before the child).
        drop(std::mem::replace(&mut self.group, ProcessGroup::of(None)));
        let _ = self.child.start_kill();
        lock(&self.shared.state).closed = true;
        self.shared.wake.notify_waiters();
        self.server.abort();
    }
}

/// What an environment's server and its invocations share.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<EnvState>,
    /// Woken when an invocation is queued or the environment closes.
    wake: Notify,
}

#[derive(Debug, Default)]
struct EnvState {
    /// The invocation waiting for the runtime's `/next`.
    queued: Option<Invocation>,
    /// Where the invocation in progress (queued or handed out) gets its answer.
    reply: Option<oneshot::Sender<Reply>>,
    /// The request id `/next` handed out and not yet answered.
    current: Option<String>,
    /// Whether a `/next` has returned an invocation (the runtime's init is over).
    initialized: bool,
    /// An init error posted when no invocation was waiting.
    init_error: Option<FunctionError>,
    /// The environment is being discarded.
    closed: bool,
}

/// An invocation's answer, and what becomes of its environment.
#[derive(Debug)]
struct Reply {
    outcome: Outcome,
    fate: Fate,
}

/// What becomes of an environment after an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Warm: it serves the next invocation.
    Keep,
    /// Discarded at once.
    Kill,
    /// Discarded, after [`RETIRE_GRACE`] to exit by itself.
    Retire,
}

/// How long a runtime that reported an init error has to exit before it is killed.
const RETIRE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

impl Environment {
    async fn start(config: &RuntimeApiConfig) -> io::Result<Environment> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let address: SocketAddr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let app = router(Arc::clone(&shared));
        // Small request-response exchanges: no Nagle delay on the answers.
        let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
            let _ = stream.set_nodelay(true);
        });
        let server = tokio::spawn(async move {
            // Ends only when aborted (the environment is dropped) or the listener fails.
            let _ = axum::serve(listener, app).await;
        });
        // A relative program path names a file under weir's working directory, whatever
        // directory the process starts in.
        let mut spec = config.process.clone();
        if spec.program.contains('/') && std::path::Path::new(&spec.program).is_relative() {
            if let Ok(cwd) = std::env::current_dir() {
                spec.program = cwd.join(&spec.program).display().to_string();
            }
        }
        let mut command = spec.command();
        let task_root = match (&config.task_root, &config.process.cwd) {
            (Some(root), _) => root.clone(),
            (None, Some(cwd)) => cwd.clone(),
            (None, None) => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        };
        if config.process.cwd.is_none() {
            if let Some(root) = &config.task_root {
                command.current_dir(root);
            }
        }
        for (key, value) in lambda_environment(config, &task_root) {
            command.env(key, value);
        }
        command
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .stdin(Stdio::null());
        match config.logs {
            ProcessLogs::Stderr => {
                command.stdout(io::stderr()).stderr(io::stderr());
            }
            ProcessLogs::Discard => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                server.abort();
                return Err(error);
            }
        };
        Ok(Environment {
            group: ProcessGroup::of(child.id()),
            child,
            shared,
            server,
        })
    }

    /// Runs one invocation; the answer and whether the environment may be kept.
    async fn run(&mut self, invocation: Invocation) -> (Outcome, Fate) {
        let request_id = invocation.request_id.clone();
        let (sender, receiver) = oneshot::channel();
        {
            let mut state = lock(&self.shared.state);
            if let Some(error) = state.init_error.take() {
                return (Outcome::Error(error), Fate::Kill);
            }
            state.queued = Some(invocation);
            state.reply = Some(sender);
        }
        self.shared.wake.notify_one();
        tokio::select! {
            biased;
            reply = receiver => match reply {
                Ok(reply) => (reply.outcome, reply.fate),
                Err(_) => (
                    Outcome::Error(FunctionError::new(
                        "Runtime.Unknown",
                        format!("RequestId: {request_id} Error: the environment closed"),
                    )),
                    Fate::Kill,
                ),
            },
            status = self.child.wait() => {
                let message = match status {
                    Ok(status) => format!(
                        "RequestId: {request_id} Error: Runtime exited with error: {}",
                        describe_exit(status)
                    ),
                    Err(error) => format!(
                        "RequestId: {request_id} Error: cannot wait for the runtime: {error}"
                    ),
                };
                (Outcome::Error(FunctionError::new("Runtime.ExitError", message)), Fate::Kill)
            }
        }
    }
}

/// The variables Lambda sets in an execution environment (less credentials, which the
/// process inherits from weir's environment if anywhere).
fn lambda_environment(
    config: &RuntimeApiConfig,
    task_root: &std::path::Path,
) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("AWS_LAMBDA_FUNCTION_NAME", config.function_name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_VERSION",
            config.function_version.clone(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_size_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", config.function_name),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            log_stream_name(&config.function_version),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_string()),
        ("AWS_REGION", config.region.clone()),
        ("AWS_DEFAULT_REGION", config.region.clone()),
        ("LAMBDA_TASK_ROOT", task_root.display().to_string()),
        ("TZ", ":UTC".to_string()),
    ];
    if let Some(handler) = &config.handler {
        vars.push(("_HANDLER", handler.clone()));
    }
    vars
}

/// `YYYY/MM/DD/[VERSION]` and 32 hex digits, as Lambda names an environment's log stream.
fn log_stream_name(version: &str) -> String {
    let days = now_ms() / 86_400_000;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}/{month:02}/{day:02}/[{version}]{:016x}{:016x}",
        random_u64(),
        random_u64()
    )
}

/// The Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

/// A random number for ids (trace ids, log streams): std's randomly keyed hasher over a
/// counter, so no two calls repeat.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// An X-Ray style trace header for one invocation (`Lambda-Runtime-Trace-Id`), not sampled.
fn trace_id() -> String {
    let seconds = now_ms() / 1000;
    format!(
        "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
        seconds as u32,
        u128::from(random_u64()) << 32 | u128::from(random_u64() as u32),
        random_u64()
    )
}

/// An exit status as Lambda words it: `exit status 2`, `signal: killed`.
pub(crate) fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                1 => "hangup",
                2 => "interrupt",
                3 => "quit",
                4 => "illegal instruction",
                6 => "aborted",
                7 => "bus error",
                8 => "floating point exception",
                9 => "killed",
                11 => "segmentation fault",
                13 => "broken pipe",
                15 => "terminated",
                _ => return format!("signal: {signal}"),
            };
            return format!("signal: {name}");
        }
    }
    status.to_string()
}

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const RESPONSE: &str = "/2018-06-01/runtime/invocation/{request_id}/response";
const ERROR: &str = "/2018-06-01/runtime/invocation/{request_id}/error";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(NEXT, get(next))
        .route(RESPONSE, post(response))
        .route(ERROR, post(invocation_error))
        .route(INIT_ERROR, post(init_error))
        .with_state(shared)
}

/// A Runtime API error body: `{"errorMessage": ..., "errorType": ...}`.
fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
    json_response(status, body.to_string())
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn accepted() -> Response {
    json_response(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_string())
}

fn invalid_request_id() -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "Invalid request ID",
    )
}

fn invalid_state(message: &str) -> Response {
    api_error(StatusCode::FORBIDDEN, "InvalidStateTransition", message)
}

fn too_large() -> Response {
    api_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_SIZE} bytes)."),
    )
}

/// `GET /runtime/invocation/next`: waits for an invocation and hands it to the runtime.
async fn next(State(shared): State<Arc<Shared>>) -> Response {
    loop {
        let woken = shared.wake.notified();
        {
            let mut state = lock(&shared.state);
            if state.closed {
                return api_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "the environment is shutting down",
                );
            }
            if state.current.is_some() {
                return invalid_state(
                    "an invocation is in progress: post its response or error before asking for the next",
                );
            }
            if let Some(invocation) = state.queued.take() {
                state.current = Some(invocation.request_id.clone());
                state.initialized = true;
                drop(state);
                return invocation_event(invocation);
            }
        }
        woken.await;
    }
}

/// The `/next` answer: the event and the invocation's headers.
fn invocation_event(invocation: Invocation) -> Response {
    let deadline = if invocation.deadline_ms == 0 {
        now_ms() + NO_DEADLINE_MS
    } else {
        invocation.deadline_ms
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        // A value that is no header value (a line break in a caller's id) is left out
        // rather than failing the invocation.
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("Lambda-Runtime-Aws-Request-Id", &invocation.request_id);
    set("Lambda-Runtime-Deadline-Ms", &deadline.to_string());
    set(
        "Lambda-Runtime-Invoked-Function-Arn",
        &invocation.function_arn,
    );
    set("Lambda-Runtime-Trace-Id", &trace_id());
    if let Some(context) = &invocation.client_context {
        set("Lambda-Runtime-Client-Context", context);
    }
    set("Content-Type", "application/json");
    (StatusCode::OK, headers, invocation.payload).into_response()
}

/// Why a posted body could not be read.
enum BodyError {
    TooLarge,
    Truncated,
}

/// Reads a posted body of at most [`MAX_RESPONSE_SIZE`] bytes. A larger body is read to
/// its end and dropped, so the connection stays usable for the runtime's next call.
async fn read_body(body: Body) -> Result<Vec<u8>, BodyError> {
    let mut body = body;
    let hint =
        usize::try_from(axum::body::HttpBody::size_hint(&body).lower()).unwrap_or(usize::MAX);
    let mut kept = Vec::with_capacity(hint.min(MAX_RESPONSE_SIZE));
    let mut too_large = false;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(BodyError::Truncated);
        };
        if let Ok(data) = frame.into_data() {
            if !too_large && kept.len() + data.len() <= MAX_RESPONSE_SIZE {
                kept.extend_from_slice(&data);
            } else {
                too_large = true;
                kept = Vec::new();
            }
        }
    }
    if too_large {
        Err(BodyError::TooLarge)
    } else {
        Ok(kept)
    }
}

fn truncated() -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "TruncatedHTTPRequest",
        "the request body ended early",
    )
}

/// Ends the invocation in progress with `outcome` and answers `answer`, when
/// `request_id` is that invocation's; refuses the post otherwise.
fn finish(shared: &Shared, request_id: &str, outcome: Outcome, answer: Response) -> Response {
    let mut state = lock(&shared.state);
    match &state.current {
        Some(current) if current == request_id => {}
        Some(_) => return invalid_request_id(),
        None => {
            return invalid_state(
                "no invocation is in progress: a response needs a request id from /next",
            )
        }
    }
    state.current = None;
    if let Some(reply) = state.reply.take() {
        // The invocation may have been given up already; nothing waits then.
        let _ = reply.send(Reply {
            outcome,
            fate: Fate::Keep,
        });
    }
    answer
}

fn response_too_large() -> FunctionError {
    FunctionError::new(
        "Function.ResponseSizeTooLarge",
        format!(
            "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_SIZE} bytes)."
        ),
    )
}

/// `POST /runtime/invocation/{id}/response`.
async fn response(
    State(shared): State<Arc<Shared>>,
    Path(request_id): Path<String>,
    body: Body,
) -> Response {
    let (outcome, answer) = match read_body(body).await {
        Ok(bytes) => (Outcome::Success(bytes), accepted()),
        Err(BodyError::TooLarge) => (Outcome::Error(response_too_large()), too_large()),
        Err(BodyError::Truncated) => return truncated(),
    };
    finish(&shared, &request_id, outcome, answer)
}

/// A function error from a runtime's error post: the type from the body's `errorType` (what
/// the caller reads in the payload), else the `Lambda-Runtime-Function-Error-Type` header
/// (runtime clients send `Unhandled` there), else `Unhandled`; the message from the body's
/// `errorMessage`; the body as the payload.
fn posted_error(headers: &HeaderMap, body: &[u8]) -> FunctionError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|value| value.get(name))
            .and_then(|value| value.as_str())
            .map(str::to_string)
    };
    let error_type = field("errorType")
        .filter(|value| !value.is_empty())
        .or_else(|| {
            headers
                .get("Lambda-Runtime-Function-Error-Type")
                .and_then(|value| value.to_str().ok())
                .filter(|value| !value.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Unhandled".to_string());
    let message = field("errorMessage").unwrap_or_default();
    if body.is_empty() {
        FunctionError::new(error_type, message)
    } else {
        FunctionError::with_payload(error_type, message, body.to_vec())
    }
}

/// `POST /runtime/invocation/{id}/error`.
async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (error, answer) = match read_body(body).await {
        Ok(bytes) => (posted_error(&headers, &bytes), accepted()),
        Err(BodyError::TooLarge) => (response_too_large(), too_large()),
        Err(BodyError::Truncated) => return truncated(),
    };
    finish(&shared, &request_id, Outcome::Error(error), answer)
}

/// `POST /runtime/init/error`: the runtime could not start the function. The waiting
/// invocation fails with its error, and the environment is discarded.
async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let error = match read_body(body).await {
        Ok(bytes) => posted_error(&headers, &bytes),
        Err(BodyError::TooLarge) => return too_large(),
        Err(BodyError::Truncated) => return truncated(),
    };
    let mut state = lock(&shared.state);
    if state.initialized {
        return invalid_state("the runtime's initialization is over: init errors are refused");
    }
    // The environment is of no further use: a later /next waits for nothing.
    state.initialized = true;
    state.queued = None;
    match state.reply.take() {
        Some(reply) => {
            let _ = reply.send(Reply {
                outcome: Outcome::Error(error),
                fate: Fate::Retire,
            });
        }
        None => state.init_error = Some(error),
    }
    accepted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_423), (2025, 12, 1));
    }

    #[test]
    fn trace_ids_have_the_x_ray_shape_and_differ() {
        let first = trace_id();
        let second = trace_id();
        assert_ne!(first, second);
        let root = first
            .strip_prefix("Root=1-")
            .and_then(|rest| rest.split(';').next())
            .expect("a root");
        let parts: Vec<&str> = root.split('-').collect();
        assert_eq!(parts.len(), 2, "{first}");
        assert_eq!(parts[0].len(), 8, "{first}");
        assert_eq!(parts[1].len(), 24, "{first}");
        assert!(first.ends_with(";Sampled=0"), "{first}");
    }

    #[test]
    fn posted_errors_take_the_bodys_type_then_the_header() {
        let mut headers = HeaderMap::new();
        let body = br#"{"errorMessage":"bad","errorType":"ValueError","stackTrace":[]}"#;
        let error = posted_error(&headers, body);
        assert_eq!(error.error_type, "ValueError");
        assert_eq!(error.error_message, "bad");
        assert_eq!(error.payload, body);
        headers.insert(
            "Lambda-Runtime-Function-Error-Type",
            HeaderValue::from_static("Runtime.HandlerError"),
        );
        assert_eq!(posted_error(&headers, body).error_type, "ValueError");
        assert_eq!(
            posted_error(&headers, br#"{"errorMessage":"m"}"#).error_type,
            "Runtime.HandlerError"
        );
        let bare = posted_error(&HeaderMap::new(), b"");
        assert_eq!(bare.error_type, "Unhandled");
        assert_eq!(
            bare.payload,
            br#"{"errorMessage":"","errorType":"Unhandled"}"#
        );
    }

    #[cfg(unix)]
    #[test]
    fn exit_statuses_read_as_lambda_words_them() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(describe_exit(ExitStatus::from_raw(3 << 8)), "exit status 3");
        assert_eq!(describe_exit(ExitStatus::from_raw(9)), "signal: killed");
        assert_eq!(
            describe_exit(ExitStatus::from_raw(11)),
            "signal: segmentation fault"
        );
        assert_eq!(describe_exit(ExitStatus::from_raw(40)), "signal: 40");
    }
}
