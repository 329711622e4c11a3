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

    /// A [`Command`] for this spec, killed when dropped.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).envs(self.env.iter().cloned());
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        command.kill_on_drop(true);
        command
    }
}

/// A plain command per invocation: the event on its stdin, the response from its stdout; a
/// non-zero exit (or death by a signal) is a function error (`Runtime.ExitError`) whose
/// message carries the exit status and the end of stderr. Dropping the invocation's future
/// kills the process.
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
    let message = if tail.is_empty() {
        format!(
            "RequestId: {} Error: Runtime exited with {status}",
            invocation.request_id
        )
    } else {
        format!(
            "RequestId: {} Error: Runtime exited with {status}: {tail}",
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
        assert!(error.error_message.contains('3'), "{}", error.error_message);
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

    #[test]
    fn tail_chars_cuts_at_a_character_boundary() {
        assert_eq!(tail_chars("abc", 10), "abc");
        assert_eq!(tail_chars("aé", 1), "");
        assert_eq!(tail_chars("éb", 2), "b");
    }
}
