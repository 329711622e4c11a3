//! RuntimeApiHandler against a small custom runtime written in Python (standard library
//! only; tests/runtimes/fake_runtime.py): what the runtime is told, what it may post, and
//! how environments are kept, discarded and multiplied.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use weir_route::{
    FunctionError, Handler, Invocation, Outcome, ProcessLogs, ProcessSpec, RuntimeApiConfig,
    RuntimeApiHandler, MAX_RESPONSE_SIZE,
};

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:fake";

fn fake_runtime() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/runtimes/fake_runtime.py")
}

fn config() -> RuntimeApiConfig {
    RuntimeApiConfig::new(
        "fake",
        ProcessSpec::new("python3").arg(fake_runtime().display().to_string()),
    )
    .logs(ProcessLogs::Stderr)
}

fn handler() -> RuntimeApiHandler {
    RuntimeApiHandler::new(config())
}

fn invocation(request_id: &str, event: Value) -> Invocation {
    Invocation::new(request_id, ARN, event.to_string().into_bytes())
}

async fn call(handler: &RuntimeApiHandler, request_id: &str, event: Value) -> Outcome {
    tokio::time::timeout(
        Duration::from_secs(60),
        handler.invoke(invocation(request_id, event)),
    )
    .await
    .expect("the invocation should finish within a minute")
}

fn success(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Success(bytes) => serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes))),
        other => panic!("expected a success, got {other:?}"),
    }
}

fn failure(outcome: Outcome) -> FunctionError {
    match outcome {
        Outcome::Error(error) => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn pid_of(value: &Value) -> u64 {
    value["pid"].as_u64().expect("a pid")
}

/// Whether a process is gone (no such process, or a zombie waiting to be reaped).
fn process_is_gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

async fn eventually_gone(pid: u64) {
    for _ in 0..100 {
        if process_is_gone(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("process {pid} is still running");
}

#[tokio::test]
async fn success_hands_the_event_headers_and_lambda_variables_to_the_runtime() {
    let task_root = std::env::temp_dir();
    let handler = RuntimeApiHandler::new(
        RuntimeApiConfig::new(
            "fake",
            ProcessSpec::new("python3")
                .arg(fake_runtime().display().to_string())
                .env("WEIR_TEST_EXTRA", "kept"),
        )
        .handler("app.handler")
        .memory_size_mb(256)
        .region("eu-west-1")
        .task_root(&task_root),
    );
    let mut call_with_context =
        invocation("req-1", json!({"action": "echo", "n": 1})).with_deadline_ms(4_102_444_800_000);
    call_with_context.client_context = Some(r#"{"custom":{"k":"v"}}"#.to_string());
    let value = success(handler.invoke(call_with_context).await);
    assert_eq!(value["event"], json!({"action": "echo", "n": 1}));
    let headers = &value["headers"];
    assert_eq!(headers["lambda-runtime-aws-request-id"], "req-1");
    assert_eq!(headers["lambda-runtime-invoked-function-arn"], ARN);
    assert_eq!(headers["lambda-runtime-deadline-ms"], "4102444800000");
    assert_eq!(
        headers["lambda-runtime-client-context"],
        r#"{"custom":{"k":"v"}}"#
    );
    let trace = headers["lambda-runtime-trace-id"]
        .as_str()
        .expect("a trace id");
    assert!(trace.starts_with("Root=1-"), "{trace}");
    assert_eq!(value["content_type"], "application/json");

    let env = &value["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "fake");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/fake");
    let stream = env["AWS_LAMBDA_LOG_STREAM_NAME"].as_str().unwrap();
    assert!(stream.contains("/[$LATEST]"), "{stream}");
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(env["AWS_REGION"], "eu-west-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "eu-west-1");
    assert_eq!(env["_HANDLER"], "app.handler");
    assert_eq!(env["LAMBDA_TASK_ROOT"], task_root.display().to_string());
    assert_eq!(env["WEIR_TEST_EXTRA"], "kept");
    let cwd = PathBuf::from(value["cwd"].as_str().unwrap());
    assert_eq!(
        cwd.canonicalize().unwrap(),
        task_root.canonicalize().unwrap()
    );
}

#[tokio::test]
async fn an_invocation_without_deadline_is_told_one_15_minutes_ahead() {
    let handler = handler();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let value = success(call(&handler, "r", json!({"action": "echo"})).await);
    let deadline: u64 = value["headers"]["lambda-runtime-deadline-ms"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        deadline >= before + 900_000 && deadline < before + 960_000,
        "{deadline} vs {before}"
    );
    assert!(value["headers"]
        .get("lambda-runtime-client-context")
        .is_none());
}

#[tokio::test]
async fn a_function_error_carries_the_runtimes_type_message_and_body_and_keeps_the_environment() {
    let handler = handler();
    let error = failure(
        call(
            &handler,
            "req-2",
            json!({"action": "fail", "message": "bad record"}),
        )
        .await,
    );
    assert_eq!(error.error_type, "ValueError");
    assert_eq!(error.error_message, "bad record");
    let payload: Value = serde_json::from_slice(&error.payload).unwrap();
    assert_eq!(
        payload,
        json!({"errorMessage": "bad record", "errorType": "ValueError", "stackTrace": ["line 1"]})
    );
    // The runtime's post was accepted, and the same process serves the next invocation.
    let report = success(call(&handler, "req-3", json!({"action": "report"})).await);
    assert_eq!(
        report["late"]["last_error"],
        json!({"status": 202, "body": {"status": "OK"}})
    );
    assert_eq!(handler.environments_started(), 1);
}

#[tokio::test]
async fn the_api_refuses_wrong_ids_and_calls_out_of_turn_with_lambdas_codes() {
    let handler = handler();
    let probe = success(call(&handler, "req-p", json!({"action": "probe"})).await);
    assert_eq!(
        probe["wrong_id"],
        json!({"status": 400, "body": {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}})
    );
    assert_eq!(probe["wrong_id_error"]["status"], 400);
    assert_eq!(probe["next_in_flight"]["status"], 403);
    assert_eq!(
        probe["next_in_flight"]["body"]["errorType"],
        "InvalidStateTransition"
    );
    assert_eq!(probe["init_error_late"]["status"], 403);
    assert_eq!(
        probe["init_error_late"]["body"]["errorType"],
        "InvalidStateTransition"
    );
    assert_eq!(probe["unknown_path"], 404);
    // A second response for a spent request id is refused; the environment goes on.
    let report = success(call(&handler, "req-q", json!({"action": "report"})).await);
    assert_eq!(report["late"]["twice"]["status"], 403);
    assert_eq!(
        report["late"]["last_response"],
        json!({"status": 202, "body": {"status": "OK"}})
    );
    assert_eq!(handler.environments_started(), 1);
}

#[tokio::test]
async fn warm_reuse_one_process_serves_invocation_after_invocation() {
    let handler = handler();
    let first = success(call(&handler, "a", json!({"action": "echo"})).await);
    let second = success(call(&handler, "b", json!({"action": "echo"})).await);
    let third = success(call(&handler, "c", json!({"action": "echo"})).await);
    assert_eq!(pid_of(&first), pid_of(&second));
    assert_eq!(pid_of(&second), pid_of(&third));
    assert_eq!(second["headers"]["lambda-runtime-aws-request-id"], "b");
    assert_eq!(handler.environments_started(), 1);
    assert_eq!(handler.idle_environments(), 1);
}

#[tokio::test]
async fn an_init_error_fails_the_invocation_and_discards_the_environment() {
    let report = std::env::temp_dir().join(format!("weir-init-error-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&report);
    let handler = RuntimeApiHandler::new(RuntimeApiConfig::new(
        "fake",
        ProcessSpec::new("python3")
            .arg(fake_runtime().display().to_string())
            .env("WEIR_TEST_INIT_ERROR", "1")
            .env("WEIR_TEST_REPORT", report.display().to_string()),
    ));
    let error = failure(call(&handler, "req-i", json!({})).await);
    assert_eq!(error.error_type, "Runtime.ImportModuleError");
    assert_eq!(
        error.error_message,
        "Unable to import module 'app': no module named app"
    );
    let payload: Value = serde_json::from_slice(&error.payload).unwrap();
    assert_eq!(payload["errorType"], "Runtime.ImportModuleError");
    // The next invocation starts a fresh environment (which fails the same way).
    let again = failure(call(&handler, "req-j", json!({})).await);
    assert_eq!(again.error_type, "Runtime.ImportModuleError");
    assert_eq!(handler.environments_started(), 2);
    assert_eq!(handler.idle_environments(), 0);
    // The runtime was told 202 for its post (and given a moment to exit by itself).
    let mut written = None;
    for _ in 0..100 {
        match std::fs::read_to_string(&report) {
            Ok(text) if !text.is_empty() => {
                written = Some(text);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let written = written.expect("the runtime reports its init error post's answer");
    let posted: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(posted, json!({"status": 202, "body": {"status": "OK"}}));
    let _ = std::fs::remove_file(&report);
}

#[tokio::test]
async fn a_runtime_that_exits_mid_invocation_is_runtime_exit_error_and_replaced() {
    let handler = handler();
    let before = success(call(&handler, "a", json!({"action": "echo"})).await);
    let error = failure(call(&handler, "req-x", json!({"action": "exit", "code": 3})).await);
    assert_eq!(error.error_type, "Runtime.ExitError");
    assert_eq!(
        error.error_message,
        "RequestId: req-x Error: Runtime exited with error: exit status 3"
    );
    let payload: Value = serde_json::from_slice(&error.payload).unwrap();
    assert_eq!(payload["errorType"], "Runtime.ExitError");
    let after = success(call(&handler, "b", json!({"action": "echo"})).await);
    assert_ne!(pid_of(&before), pid_of(&after));
    assert_eq!(handler.environments_started(), 2);
}

#[tokio::test]
async fn a_runtime_killed_by_a_signal_is_runtime_exit_error() {
    let handler = handler();
    let error = failure(call(&handler, "req-k", json!({"action": "kill"})).await);
    assert_eq!(error.error_type, "Runtime.ExitError");
    assert_eq!(
        error.error_message,
        "RequestId: req-k Error: Runtime exited with error: signal: killed"
    );
    success(call(&handler, "b", json!({"action": "echo"})).await);
}

#[tokio::test]
async fn a_dropped_invocation_kills_its_environment_and_the_next_gets_a_fresh_one() {
    let handler = handler();
    let before = success(call(&handler, "a", json!({"action": "echo"})).await);
    let old_pid = pid_of(&before);
    let timed_out = tokio::time::timeout(
        Duration::from_millis(500),
        handler.invoke(invocation(
            "slow",
            json!({"action": "sleep", "seconds": 30}),
        )),
    )
    .await;
    assert!(
        timed_out.is_err(),
        "the sleeping invocation should time out"
    );
    eventually_gone(old_pid).await;
    let after = success(call(&handler, "b", json!({"action": "echo"})).await);
    assert_ne!(pid_of(&after), old_pid);
    assert_eq!(after["headers"]["lambda-runtime-aws-request-id"], "b");
    assert_eq!(handler.environments_started(), 2);
}

#[tokio::test]
async fn a_response_over_6_mb_is_function_response_size_too_large_and_413() {
    let handler = handler();
    let error = failure(
        call(
            &handler,
            "req-b",
            json!({"action": "big", "bytes": MAX_RESPONSE_SIZE + 1}),
        )
        .await,
    );
    assert_eq!(error.error_type, "Function.ResponseSizeTooLarge");
    assert_eq!(
        error.error_message,
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    );
    let report = success(call(&handler, "r", json!({"action": "report"})).await);
    assert_eq!(report["late"]["big"]["status"], 413);
    assert_eq!(
        report["late"]["big"]["body"]["errorType"],
        "RequestEntityTooLarge"
    );
    // Exactly the limit passes.
    let at_limit = call(
        &handler,
        "req-c",
        json!({"action": "big", "bytes": MAX_RESPONSE_SIZE}),
    )
    .await;
    match at_limit {
        Outcome::Success(bytes) => assert_eq!(bytes.len(), MAX_RESPONSE_SIZE),
        other => panic!("expected a success, got {other:?}"),
    }
    assert_eq!(handler.environments_started(), 1);
}

#[tokio::test]
async fn concurrent_invocations_get_their_own_environments() {
    let handler = RuntimeApiHandler::new(config().max_environments(2));
    let slow = json!({"action": "sleep", "seconds": 0.5});
    let (a, b) = tokio::join!(
        call(&handler, "a", slow.clone()),
        call(&handler, "b", slow.clone())
    );
    let (a, b) = (success(a), success(b));
    assert_ne!(pid_of(&a), pid_of(&b));
    assert_eq!(handler.environments_started(), 2);
    assert_eq!(handler.idle_environments(), 2);
    // Both stay warm: two more concurrent invocations reuse them.
    let (c, d) = tokio::join!(call(&handler, "c", slow.clone()), call(&handler, "d", slow));
    let mut before = [pid_of(&a), pid_of(&b)];
    let mut after = [pid_of(&success(c)), pid_of(&success(d))];
    before.sort_unstable();
    after.sort_unstable();
    assert_eq!(before, after);
    assert_eq!(handler.environments_started(), 2);
}

#[tokio::test]
async fn invocations_beyond_the_environment_limit_wait_for_one() {
    let handler = RuntimeApiHandler::new(config().max_environments(1));
    let slow = json!({"action": "sleep", "seconds": 0.2});
    let (a, b) = tokio::join!(call(&handler, "a", slow.clone()), call(&handler, "b", slow));
    assert_eq!(pid_of(&success(a)), pid_of(&success(b)));
    assert_eq!(handler.environments_started(), 1);
}

#[tokio::test]
async fn a_runtime_that_cannot_start_is_invalid_entrypoint() {
    let handler = RuntimeApiHandler::new(RuntimeApiConfig::new(
        "missing",
        ProcessSpec::new("/nonexistent/weir-bootstrap"),
    ));
    let error = failure(call(&handler, "req-m", json!({})).await);
    assert_eq!(error.error_type, "Runtime.InvalidEntrypoint");
    assert!(
        error.error_message.contains("req-m"),
        "{}",
        error.error_message
    );
    assert_eq!(handler.environments_started(), 0);
}

#[tokio::test]
async fn a_runtime_that_exits_before_asking_for_an_invocation_is_runtime_exit_error() {
    let handler = RuntimeApiHandler::new(RuntimeApiConfig::new(
        "quits",
        ProcessSpec::new("sh").arg("-c").arg("exit 7"),
    ));
    let error = failure(call(&handler, "req-q", json!({})).await);
    assert_eq!(error.error_type, "Runtime.ExitError");
    assert_eq!(
        error.error_message,
        "RequestId: req-q Error: Runtime exited with error: exit status 7"
    );
}

#[tokio::test]
async fn dropping_the_handler_kills_its_idle_environments() {
    let handler = handler();
    let value = success(call(&handler, "a", json!({"action": "echo"})).await);
    let pid = pid_of(&value);
    assert!(!process_is_gone(pid));
    drop(handler);
    eventually_gone(pid).await;
}

#[tokio::test]
async fn a_relative_program_path_is_taken_from_weirs_directory_not_the_task_root() {
    // Tests run in the package's directory; the process starts in the temporary directory.
    let handler = RuntimeApiHandler::new(
        RuntimeApiConfig::new("fake", ProcessSpec::new("./tests/runtimes/fake_runtime.py"))
            .task_root(std::env::temp_dir()),
    );
    let value = success(call(&handler, "r", json!({"action": "echo"})).await);
    assert_eq!(
        value["env"]["LAMBDA_TASK_ROOT"],
        std::env::temp_dir().display().to_string()
    );
}

#[tokio::test]
async fn a_custom_runtime_is_the_bootstrap_in_its_code_directory() {
    let code_dir = std::env::temp_dir().join(format!("weir-bootstrap-{}", std::process::id()));
    std::fs::create_dir_all(&code_dir).unwrap();
    let bootstrap = code_dir.join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!("#!/bin/sh\nexec python3 {}\n", fake_runtime().display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let handler = RuntimeApiHandler::new(RuntimeApiConfig::bootstrap("custom", &code_dir));
    let value = success(call(&handler, "r", json!({"action": "echo"})).await);
    assert_eq!(value["env"]["AWS_LAMBDA_FUNCTION_NAME"], "custom");
    assert_eq!(
        value["env"]["LAMBDA_TASK_ROOT"],
        code_dir.display().to_string()
    );
    drop(handler);
    let _ = std::fs::remove_dir_all(&code_dir);
}

#[tokio::test]
async fn a_weir_toml_function_runs_through_the_runtime_api_and_the_routers_timeout_stops_it() {
    use weir_route::{config::Config, InvocationType, Router};
    let runtimes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/runtimes");
    let config = Config::parse(
        r#"
[Resources.Fake]
Type = "AWS::Lambda::Function"
Properties = { FunctionName = "fake", Timeout = 1, Handler = "app.handler", ReservedConcurrentExecutions = 2 }
Weir = { RuntimeApi = ["python3", "fake_runtime.py"] }
"#,
        &runtimes,
    )
    .expect("a valid config");
    let router = Router::new();
    config.build(&router, true).expect("the config builds");
    let out = router
        .invoke(
            "fake",
            InvocationType::RequestResponse,
            br#"{"action": "echo"}"#.to_vec(),
        )
        .await
        .expect("invoked");
    assert_eq!(
        (out.status_code, out.function_error.as_deref()),
        (200, None)
    );
    let value: Value = serde_json::from_slice(&out.payload).unwrap();
    assert_eq!(value["env"]["AWS_LAMBDA_FUNCTION_NAME"], "fake");
    assert_eq!(value["env"]["_HANDLER"], "app.handler");
    assert_eq!(
        value["env"]["LAMBDA_TASK_ROOT"],
        runtimes.display().to_string()
    );
    assert_eq!(
        value["headers"]["lambda-runtime-aws-request-id"],
        out.request_id.as_str()
    );
    let first_pid = pid_of(&value);

    // Over the function's 1 s timeout: the router drops the invocation, which kills the
    // environment; the next invocation gets a fresh one.
    let out = router
        .invoke(
            "fake",
            InvocationType::RequestResponse,
            br#"{"action": "sleep", "seconds": 30}"#.to_vec(),
        )
        .await
        .expect("invoked");
    assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
    let error: Value = serde_json::from_slice(&out.payload).unwrap();
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("Task timed out after 1.00 seconds"),
        "{error}"
    );
    eventually_gone(first_pid).await;
    let out = router
        .invoke(
            "fake",
            InvocationType::RequestResponse,
            br#"{"action": "echo"}"#.to_vec(),
        )
        .await
        .expect("invoked");
    let value: Value = serde_json::from_slice(&out.payload).unwrap();
    assert_ne!(pid_of(&value), first_pid);
    // The router's shutdown ends the warm process while the router is still there.
    router.shutdown().await;
    eventually_gone(pid_of(&value)).await;
    drop(router);
}

#[tokio::test]
async fn shutdown_kills_the_idle_environments_and_keeps_none_after() {
    let handler = handler();
    let first = success(call(&handler, "a", json!({"action": "echo"})).await);
    handler.shutdown();
    assert_eq!(handler.idle_environments(), 0);
    eventually_gone(pid_of(&first)).await;
    let later = success(call(&handler, "b", json!({"action": "echo"})).await);
    assert_ne!(pid_of(&later), pid_of(&first));
    assert_eq!(handler.environments_started(), 2);
    assert_eq!(handler.idle_environments(), 0);
    eventually_gone(pid_of(&later)).await;
}

#[tokio::test]
async fn a_discarded_environment_takes_the_processes_its_runtime_started() {
    // A bootstrap that runs the runtime as its child (no exec): killing the shell alone
    // would leave the runtime running.
    let code_dir = std::env::temp_dir().join(format!("weir-forking-{}", std::process::id()));
    std::fs::create_dir_all(&code_dir).unwrap();
    let bootstrap = code_dir.join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!(
            "#!/bin/sh\npython3 {}\necho unreachable\n",
            fake_runtime().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let handler = RuntimeApiHandler::new(RuntimeApiConfig::bootstrap("forking", &code_dir));
    let value = success(call(&handler, "a", json!({"action": "echo"})).await);
    let runtime_pid = pid_of(&value);
    let timed_out = tokio::time::timeout(
        Duration::from_millis(500),
        handler.invoke(invocation(
            "slow",
            json!({"action": "sleep", "seconds": 30}),
        )),
    )
    .await;
    assert!(timed_out.is_err());
    eventually_gone(runtime_pid).await;
    drop(handler);
    let _ = std::fs::remove_dir_all(&code_dir);
}
