//! Real Lambda handlers through weir's Runtime API with their official runtime clients:
//! a Rust handler on the `lambda_runtime` crate (examples/lambda_runtime_handler.rs) and a
//! Python handler (tests/python/app.py) on `awslambdaric`.
//!
//! The Python test needs awslambdaric in a virtual environment: scripts/test-all makes it
//! (`python3 -m venv target/awslambdaric-venv` and `pip install awslambdaric`) and runs
//! these tests with `--include-ignored`; WEIR_AWSLAMBDARIC_PYTHON names another
//! interpreter that has it. Without one the test fails, saying so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use weir_route::{
    Handler, Invocation, Outcome, ProcessLogs, ProcessSpec, RuntimeApiConfig, RuntimeApiHandler,
};

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:real";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds an example of this crate (a no-op when it is up to date) and returns its path,
/// beside this test's own profile directory.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a profile directory");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", "weir-route", "--example", name])
        .current_dir(manifest_dir());
    if profile_dir.file_name().is_some_and(|dir| dir == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building the example {name} failed");
    let binary = profile_dir.join("examples").join(name);
    assert!(binary.exists(), "{} was not built", binary.display());
    binary
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

fn in_the_future_ms(seconds: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    now + seconds * 1000
}

/// The events both handlers answer the same way, and what they answer.
async fn check_batches_and_errors(handler: &RuntimeApiHandler) {
    let batch = json!({"Records": [
        {"kind": "order", "id": 1},
        {"kind": "refund", "id": 2},
        {"kind": "order", "id": 3},
        {"messageId": "m-4", "body": "{\"kind\":\"order\"}"},
        {"messageId": "m-5", "body": "not json"}
    ]});
    let counted = success(call(handler, "batch-1", batch).await);
    assert_eq!(counted, json!({"records": 5, "orders": 3}));

    let Outcome::Error(error) = call(handler, "fail-1", json!({"fail": "bad record 7"})).await
    else {
        panic!("the handler's error should be a function error")
    };
    assert!(error.error_message.contains("bad record 7"), "{error:?}");
    let payload: Value = serde_json::from_slice(&error.payload).expect("a JSON error payload");
    assert_eq!(payload["errorMessage"], error.error_message);
    assert_eq!(payload["errorType"], error.error_type);
}

#[tokio::test]
async fn a_rust_handler_on_the_lambda_runtime_crate() {
    let binary = example_binary("lambda_runtime_handler");
    let handler = RuntimeApiHandler::new(
        RuntimeApiConfig::new("real", ProcessSpec::new(binary.display().to_string()))
            .memory_size_mb(512)
            .logs(ProcessLogs::Discard),
    );
    let first = success(
        handler
            .invoke(
                invocation("req-1", json!({"hello": "rust"}))
                    .with_deadline_ms(in_the_future_ms(30)),
            )
            .await,
    );
    assert_eq!(first["event"], json!({"hello": "rust"}));
    assert_eq!(first["request_id"], "req-1");
    assert_eq!(first["function_arn"], ARN);
    assert_eq!(first["function_name"], "real");
    assert_eq!(first["memory"], 512);

    check_batches_and_errors(&handler).await;

    // A failed invocation leaves the environment warm: the same process answers.
    let last = success(call(&handler, "req-2", json!({"again": true})).await);
    assert_eq!(last["pid"], first["pid"]);
    assert_eq!(handler.environments_started(), 1);
}

/// The interpreter with awslambdaric, or a failure that says how to get one.
fn awslambdaric_python() -> PathBuf {
    let python = match std::env::var_os("WEIR_AWSLAMBDARIC_PYTHON") {
        Some(python) => PathBuf::from(python),
        None => manifest_dir().join("../../target/awslambdaric-venv/bin/python"),
    };
    let has_it = Command::new(&python)
        .args(["-c", "import awslambdaric"])
        .status()
        .map(|status| status.success())
        .unwrap_or(false);
    assert!(
        has_it,
        "no Python with awslambdaric at {}: run scripts/test-all, or make it with \
         `python3 -m venv target/awslambdaric-venv && target/awslambdaric-venv/bin/pip install awslambdaric` \
         (or set WEIR_AWSLAMBDARIC_PYTHON)",
        python.display()
    );
    python
}

#[tokio::test]
#[ignore = "needs awslambdaric in target/awslambdaric-venv: scripts/test-all installs it and runs this with --include-ignored"]
async fn a_python_handler_on_awslambdaric() {
    let python = awslambdaric_python();
    let handler = RuntimeApiHandler::new(
        RuntimeApiConfig::awslambdaric(
            "real",
            python.display().to_string(),
            "app.handler",
            manifest_dir().join("tests/python"),
        )
        .memory_size_mb(256)
        .logs(ProcessLogs::Discard),
    );
    let first = success(
        handler
            .invoke(
                invocation("req-1", json!({"hello": "python"}))
                    .with_deadline_ms(in_the_future_ms(30)),
            )
            .await,
    );
    assert_eq!(first["event"], json!({"hello": "python"}));
    assert_eq!(first["request_id"], "req-1");
    assert_eq!(first["function_arn"], ARN);
    assert_eq!(first["function_name"], "real");
    assert_eq!(first["memory"], "256");
    let remaining = first["remaining_ms"].as_i64().expect("remaining time");
    assert!(remaining > 20_000 && remaining <= 30_000, "{remaining}");
    assert_eq!(first["invocations"], 1);

    check_batches_and_errors(&handler).await;
    let Outcome::Error(error) = call(&handler, "fail-2", json!({"fail": "x"})).await else {
        panic!("expected a function error")
    };
    assert_eq!(error.error_type, "ValueError");

    // Warm: the module's state survived five invocations in one process.
    let last = success(call(&handler, "req-2", json!({"again": true})).await);
    assert_eq!(last["pid"], first["pid"]);
    assert_eq!(last["invocations"], 5);
    assert_eq!(handler.environments_started(), 1);
}

#[tokio::test]
#[ignore = "needs awslambdaric in target/awslambdaric-venv: scripts/test-all installs it and runs this with --include-ignored"]
async fn a_python_handler_that_cannot_be_imported_is_an_init_error() {
    let python = awslambdaric_python();
    let handler = RuntimeApiHandler::new(
        RuntimeApiConfig::new(
            "real",
            ProcessSpec::new(python.display().to_string())
                .arg("-m")
                .arg("awslambdaric")
                .arg("no_such_module.handler"),
        )
        .logs(ProcessLogs::Discard)
        .task_root(manifest_dir().join("tests/python")),
    );
    let Outcome::Error(error) = call(&handler, "req-1", json!({})).await else {
        panic!("expected an init error")
    };
    assert_eq!(error.error_type, "Runtime.ImportModuleError", "{error:?}");
    assert!(error.error_message.contains("no_such_module"), "{error:?}");
}
