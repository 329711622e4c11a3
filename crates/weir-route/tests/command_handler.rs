//! CommandHandler: a plain command per invocation, the event on stdin, the response from
//! stdout; a crash (a signal) is a function error; a dropped invocation kills the command.

use std::time::Duration;

use weir_route::{CommandHandler, Handler, Invocation, Outcome, ProcessSpec};

fn sh(script: &str) -> CommandHandler {
    CommandHandler::new(ProcessSpec::new("sh").arg("-c").arg(script))
}

fn invocation(request_id: &str, payload: &[u8]) -> Invocation {
    Invocation::new(
        request_id,
        "arn:aws:lambda:us-east-1:000000000000:function:cmd",
        payload.to_vec(),
    )
}

/// Whether a process is gone (no such process, or a zombie waiting to be reaped).
fn process_is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

#[tokio::test]
async fn the_event_goes_in_on_stdin_and_the_response_comes_from_stdout() {
    let handler = sh(
        r#"tr 'a-z' 'A-Z'; printf ' %s %s' "$AWS_LAMBDA_REQUEST_ID" "$AWS_LAMBDA_FUNCTION_ARN""#,
    );
    let outcome = handler
        .invoke(invocation("req-9", br#"{"name":"weir"}"#))
        .await;
    assert_eq!(
        outcome,
        Outcome::Success(
            br#"{"NAME":"WEIR"} req-9 arn:aws:lambda:us-east-1:000000000000:function:cmd"#.to_vec()
        )
    );
}

#[tokio::test]
async fn each_invocation_is_a_new_process() {
    let handler = sh("echo $$");
    let Outcome::Success(first) = handler.invoke(invocation("a", b"")).await else {
        panic!("expected a success")
    };
    let Outcome::Success(second) = handler.invoke(invocation("b", b"")).await else {
        panic!("expected a success")
    };
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_command_that_ignores_a_large_event_and_succeeds_is_a_success() {
    let outcome = sh("printf done")
        .invoke(invocation("r", &vec![b' '; 1 << 20]))
        .await;
    assert_eq!(outcome, Outcome::Success(b"done".to_vec()));
}

#[tokio::test]
async fn a_command_killed_by_a_signal_is_runtime_exit_error() {
    let outcome = sh("echo dying >&2; kill -KILL $$")
        .invoke(invocation("req-s", b"{}"))
        .await;
    let Outcome::Error(error) = outcome else {
        panic!("expected a function error, got {outcome:?}")
    };
    assert_eq!(error.error_type, "Runtime.ExitError");
    assert!(
        error.error_message.contains("req-s"),
        "{}",
        error.error_message
    );
    assert!(
        error.error_message.contains("signal"),
        "{}",
        error.error_message
    );
    assert!(
        error.error_message.contains("dying"),
        "{}",
        error.error_message
    );
}

#[tokio::test]
async fn a_dropped_invocation_kills_the_command() {
    let pid_file = std::env::temp_dir().join(format!("weir-command-pid-{}", std::process::id()));
    let _ = std::fs::remove_file(&pid_file);
    let script = format!(
        "echo $$ > {path}.tmp && mv {path}.tmp {path} && exec sleep 30",
        path = pid_file.display()
    );
    let handler = sh(&script);
    let task = tokio::spawn(handler.invoke(invocation("slow", b"")));
    // However loaded the machine, wait until the command runs (it writes its pid), then
    // drop its invocation, as a timeout does.
    let waited = std::time::Instant::now();
    while !pid_file.exists() {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the command never wrote its pid"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!task.is_finished(), "the command should still be running");
    task.abort();
    let _ = task.await;
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("the command wrote its pid")
        .trim()
        .parse()
        .expect("a pid");
    let _ = std::fs::remove_file(&pid_file);
    let waited = std::time::Instant::now();
    while waited.elapsed() < Duration::from_secs(10) {
        if process_is_gone(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the command {pid} is still running after its invocation was dropped");
}
