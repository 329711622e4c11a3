//! Handlers that run programs: [`CommandHandler`] starts a plain command per invocation.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::handler::{FunctionError, Handler, HandlerFuture, Invocation, Outcome};

/// A program to start: its path or name, arguments, extra environment and working directory.
///
/// # Example
/// ```
/// let spec = weir_route::ProcessSpec::new("sh").arg("-c").arg("cat");
/// assert_eq!(spec.args, ["-c", "cat"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessSpec {
    /// The program (looked up on `PATH` when it has no `/`).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables added to the inherited environment.
    pub env: Vec<(String, String)>,
    /// The working directory; the caller's when `None`.
    pub cwd: Option<PathBuf>,
}

impl ProcessSpec {
    /// A program with no arguments.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::ProcessSpec::new("true").program, "true");
    /// ```
    pub fn new(program: impl Into<String>) -> Self {
        ProcessSpec {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
        }
    }

    /// Adds an argument.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_route::ProcessSpec::new("echo").arg("hi").args, ["hi"]);
    /// ```
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds an environment variable.
    ///
    /// # Example
    /// ```
    /// let spec = weir_route::ProcessSpec::new("env").env("A", "1");
    /// assert_eq!(spec.env, [("A".to_string(), "1".to_string())]);
    /// ```
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A [`Command`] for this spec, killed when dropped. On Unix the process leads a
    /// process group of its own (so a terminal's Ctrl-C does not reach it, and
    /// [`ProcessGroup`] can end whatever it starts).
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).envs(self.env.iter().cloned());
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        command.kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        command
    }
}

/// The process group a [`ProcessSpec::command`] process leads; dropping this kills the whole
/// group (SIGKILL), the leader's children and grandchildren included.
#[derive(Debug)]
pub(crate) struct ProcessGroup(Option<u32>);

impl ProcessGroup {
    /// The group of the process `pid` (its id is the group's).
    pub(crate) fn of(pid: Option<u32>) -> ProcessGroup {
        ProcessGroup(pid)
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|pid| i32::try_from(pid).ok()) {
            // The group outlives its leader while a member is left, so this reaches the
            // children even after the leader exited; ESRCH when none is left.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// A plain command per invocation: the event on its stdin, the response from its stdout; a
/// non-zero exit (or death by a signal) is a function error (`Runtime.ExitError`) whose
/// message carries the exit status and the end of stderr. The command leads a process group
/// of its own (on Unix), killed whole when the command ends or the invocation's future is
/// dropped (a timeout), so nothing it started outlives the invocation.
///
/// # Example
/// ```
/// use weir_route::{CommandHandler, Handler, Invocation, Outcome, ProcessSpec};
/// let cat = CommandHandler::new(ProcessSpec::new("cat"));
/// let runtime = tokio::runtime::Runtime::new()?;
/// let outcome = runtime.block_on(cat.invoke(Invocation::new("r", "arn", br#"{"a":1}"#.to_vec())));
/// assert_eq!(outcome, Outcome::Success(br#"{"a":1}"#.to_vec()));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CommandHandler {
    spec: ProcessSpec,
}

impl CommandHandler {
    /// A handler that runs `spec` once per invocation.
    ///
    /// # Example
    /// ```
    /// let handler = weir_route::CommandHandler::new(weir_route::ProcessSpec::new("cat"));
    /// # let _ = handler;
    /// ```
    pub fn new(spec: ProcessSpec) -> Self {
        CommandHandler { spec }
    }
}

/// How much of a failed command's stderr goes into its error message.
const STDERR_TAIL: usize = 2048;

async fn run_command(spec: ProcessSpec, invocation: Invocation) -> Outcome {
    let mut command = spec.command();
    command
        .env("AWS_LAMBDA_REQUEST_ID", &invocation.request_id)
        .env("AWS_LAMBDA_FUNCTION_ARN", &invocation.function_arn)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            return Outcome::Error(FunctionError::new(
                "Runtime.InvalidEntrypoint",
                format!("cannot start {}: {error}", spec.program),
            ))
        }
    };
    // Whatever the command started ends with it: when it exits, or when this future is
    // dropped (a timeout).
    let _group = ProcessGroup::of(child.id());
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let payload = invocation.payload;
    // Write, read stdout and read stderr at once, so a command that answers before reading
    // all of its input (or writes much to stderr) cannot deadlock against us.
    let write = async {
        if let Some(mut stdin) = stdin.take() {
            // A command that exits without reading its input closes the pipe: not an error
            // of ours; its exit status tells.
            let _ = stdin.write_all(&payload).await;
        }
    };
    let read_out = async {
        let mut out = Vec::new();
        if let Some(stdout) = stdout.as_mut() {
            let _ = stdout.read_to_end(&mut out).await;
        }
        out
    };
    let read_err = async {
        let mut err = Vec::new();
        if let Some(stderr) = stderr.as_mut() {
            let _ = stderr.read_to_end(&mut err).await;
        }
        err
    };
    let ((), out, err) = tokio::join!(write, read_out, read_err);
    let status = match child.wait().await {
        Ok(status) => status,
        Err(error) => {
            return Outcome::Error(FunctionError::new(
                "Runtime.ExitError",
                format!("cannot wait for {}: {error}", spec.program),
            ))
        }
    };
    if status.success() {
        return Outcome::Success(out);
    }
    let err = String::from_utf8_lossy(&err);
    let tail = tail_chars(err.trim_end(), STDERR_TAIL);
    // Worded as Lambda words a runtime's exit: `exit status 3`, `signal: killed`.
    let status = crate::runtime_api::describe_exit(status);
    let message = if tail.is_empty() {
        format!(
            "RequestId: {} Error: Runtime exited with error: {status}",
            invocation.request_id
        )
    } else {
        format!(
            "RequestId: {} Error: Runtime exited with error: {status}: {tail}",
            invocation.request_id
        )
    };
    Outcome::Error(FunctionError::new("Runtime.ExitError", message))
}

/// The last `max` bytes of `text`, cut at a character boundary.
fn tail_chars(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

impl Handler for CommandHandler {
    fn invoke(&self, invocation: Invocation) -> HandlerFuture {
        Box::pin(run_command(self.spec.clone(), invocation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> CommandHandler {
        CommandHandler::new(ProcessSpec::new("sh").arg("-c").arg(script))
    }

    #[tokio::test]
    async fn a_command_that_fails_is_a_function_error_with_its_stderr() {
        let outcome = sh("echo oops >&2; exit 3")
            .invoke(Invocation::new("req-7", "arn", b"{}".to_vec()))
            .await;
        let Outcome::Error(error) = outcome else {
            panic!("expected an error, got {outcome:?}")
        };
        assert_eq!(error.error_type, "Runtime.ExitError");
        assert!(
            error.error_message.contains("req-7"),
            "{}",
            error.error_message
        );
        assert!(
            error.error_message.contains("oops"),
            "{}",
            error.error_message
        );
        assert_eq!(
            error.error_message,
            "RequestId: req-7 Error: Runtime exited with error: exit status 3: oops"
        );
    }

    #[tokio::test]
    async fn a_command_that_does_not_exist_is_a_function_error() {
        let outcome = CommandHandler::new(ProcessSpec::new("/nonexistent/weir-handler"))
            .invoke(Invocation::new("r", "arn", vec![]))
            .await;
        assert!(
            matches!(outcome, Outcome::Error(ref e) if e.error_type == "Runtime.InvalidEntrypoint"),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_large_payload_passes_through_without_deadlock() {
        let payload = vec![b'x'; 4 << 20];
        let outcome = sh("cat")
            .invoke(Invocation::new("r", "arn", payload.clone()))
            .await;
        assert_eq!(outcome, Outcome::Success(payload));
    }

    #[tokio::test]
    async fn dropping_the_future_kills_the_process() {
        let dir = std::env::temp_dir().join(format!("weir-route-kill-{}", std::process::id()));
        let marker = dir.with_extension("done");
        let script = format!("sleep 2; touch {}", marker.display());
        let handler = sh(&script);
        let result = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            handler.invoke(Invocation::new("r", "arn", vec![])),
        )
        .await;
        assert!(result.is_err(), "the command should still be running");
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        assert!(!marker.exists(), "the killed command ran to its end");
    }

    /// Whether process `pid` is gone (or a zombie waiting to be reaped).
    #[cfg(target_os = "linux")]
    fn gone(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            // `pid (comm) S ...`: the state follows the last ')'.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_stopped_command_takes_its_children_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // The shell does not exec: `sleep` is its child, the shell waits for it.
        let script = format!(
            "sleep 30 & echo $! > {0}.tmp; mv {0}.tmp {0}; wait; echo x",
            pid_file.display()
        );
        let handler = sh(&script);
        let task = tokio::spawn(handler.invoke(Invocation::new("r", "arn", vec![])));
        let waited = std::time::Instant::now();
        while !pid_file.exists() {
            assert!(waited.elapsed().as_secs() < 30, "the script never started");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let pid = pid.trim();
        assert!(!gone(pid), "sleep should be running");
        // What a timeout does: the invocation's future is dropped.
        task.abort();
        let _ = task.await;
        let waited = std::time::Instant::now();
        while !gone(pid) {
            assert!(
                waited.elapsed().as_secs() < 10,
                "the command's child {pid} outlived it"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn tail_chars_cuts_at_a_character_boundary() {
        assert_eq!(tail_chars("abc", 10), "abc");
        assert_eq!(tail_chars("aé", 1), "");
        assert_eq!(tail_chars("éb", 2), "b");
    }
}
