//! `weir run` and `weir invoke` on weir.toml configs.

mod harness;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{run, spawn};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Splits `weir run`'s stdout into the output lines and the metrics JSON after them.
fn split(stdout: &str) -> (Vec<serde_json::Value>, serde_json::Value) {
    let start = stdout.find("{\n").expect("the metrics JSON");
    let lines = stdout[..start]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let metrics = serde_json::from_str(&stdout[start..]).unwrap();
    (lines, metrics)
}

#[test]
fn the_orders_example_filters_ships_and_dead_letters() {
    let out = run(&root(), &["run", "--config", "examples/orders.toml"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (failed, metrics) = split(&out.stdout);
    let mut ids: Vec<i64> = failed.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [3, 6], "the broken items end in the dead-letter queue");
    let m = &metrics["EventSourceMappings"]["ShipOrders"];
    // 8 messages, 3 not new (filtered out and deleted); 5 new: 3 shipped (deleted), 2 failed
    // three times each (maxReceiveCount 3), so received 12 times in all.
    assert_eq!(m["PolledEventCount"], 12);
    assert_eq!(m["FilteredOutEventCount"], 3);
    assert_eq!(m["InvokedEventCount"], 9);
    assert_eq!(m["FailedInvokeEventCount"], 6);
    assert_eq!(m["DeletedEventCount"], 6);
    let f = &metrics["Functions"]["ship"];
    assert_eq!(
        (f["Invocations"].as_u64(), f["Errors"].as_u64()),
        (Some(9), Some(6))
    );
}

#[test]
fn invoke_prints_what_aws_lambda_invoke_prints() {
    let root = root();
    let config = ["--config", "examples/orders.toml"];
    let args = |rest: &[&'static str]| {
        let mut a = vec!["invoke"];
        a.extend(config);
        a.extend(rest);
        a
    };
    let out = run(
        &root,
        &args(&["ship", "--payload", r#"{"Records": []}"#]),
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let meta: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        meta,
        serde_json::json!({"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": {"shipped": true}})
    );

    let dir = tempfile::tempdir().unwrap();
    let outfile = dir.path().join("response.json");
    let payload = dir.path().join("event.json");
    std::fs::write(&payload, r#"{"item": "broken"}"#).unwrap();
    let file_arg = format!("file://{}", payload.display());
    let out = run(
        &root,
        &[
            "invoke",
            "--config",
            "examples/orders.toml",
            "Ship",
            "--payload",
            &file_arg,
            outfile.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let meta: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        meta,
        serde_json::json!({"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST"})
    );
    let response: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&outfile).unwrap()).unwrap();
    assert_eq!(response["errorType"], "Runtime.ExitError");
    assert!(response["errorMessage"]
        .as_str()
        .unwrap()
        .contains("cannot ship a broken item"));

    let out = run(&root, &args(&["ship", "--invocation-type", "DryRun"]), None);
    assert_eq!(out.code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()["StatusCode"],
        204
    );

    // Event: 202, then the failure record reaches orders-failed, printed as its output.
    let out = run(
        &root,
        &args(&[
            "ship",
            "--invocation-type",
            "Event",
            "--payload",
            r#"{"item": "broken"}"#,
        ]),
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let start = out.stdout.find("}\n").unwrap() + 2;
    let meta: serde_json::Value = serde_json::from_str(&out.stdout[..start]).unwrap();
    assert_eq!(meta["StatusCode"], 202);
    let record: serde_json::Value = serde_json::from_str(out.stdout[start..].trim()).unwrap();
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(
        record["requestPayload"],
        serde_json::json!({"item": "broken"})
    );

    let out = run(&root, &args(&["nope"]), None);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        "weir: An error occurred (ResourceNotFoundException) when calling the Invoke operation: \
         Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
    );
    let out = run(&root, &args(&["ship", "--payload", "{oops"]), None);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("(InvalidRequestContentException)"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_stream_can_be_read_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("weir.toml"),
        r#"
[Resources.In]
Type = "AWS::Kinesis::Stream"
Weir = { Records = "-" }

[Resources.Count]
Type = "AWS::Lambda::Function"
Weir = { Command = ["sh", "-c", "cat > /dev/null"] }

[Resources.Map]
Type = "AWS::Lambda::EventSourceMapping"
Properties = { FunctionName = "Count", EventSourceArn = { "Fn::GetAtt" = ["In", "Arn"] }, StartingPosition = "TRIM_HORIZON", BatchSize = 2, FilterCriteria = { Filters = [{ Pattern = '{"data": {"n": [{"numeric": [">", 2]}]}}' }] } }
"#,
    )
    .unwrap();
    let input: String = (1..=7).map(|n| format!("{{\"n\": {n}}}\n")).collect();
    let out = run(
        dir.path(),
        &["run", "--config", "weir.toml"],
        Some(input.as_bytes()),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (lines, metrics) = split(&out.stdout);
    assert!(lines.is_empty());
    let m = &metrics["EventSourceMappings"]["Map"];
    assert_eq!(m["PolledEventCount"], 7);
    assert_eq!(m["FilteredOutEventCount"], 2);
    assert_eq!(m["InvokedEventCount"], 5);
    assert_eq!(metrics["Functions"]["Count"]["Invocations"], 3);
}

#[test]
fn sigint_ends_a_run_whose_stream_reads_an_open_stdin() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("weir.toml"),
        r#"
[Resources.In]
Type = "AWS::Kinesis::Stream"
Weir = { Records = "-" }

[Resources.Count]
Type = "AWS::Lambda::Function"
Weir = { Command = ["sh", "-c", "cat >> seen.txt; echo >> seen.txt"] }

[Resources.Map]
Type = "AWS::Lambda::EventSourceMapping"
Properties = { FunctionName = "Count", EventSourceArn = { "Fn::GetAtt" = ["In", "Arn"] }, StartingPosition = "TRIM_HORIZON", BatchSize = 1 }
"#,
    )
    .unwrap();
    let mut child = spawn(
        dir.path(),
        &["run", "--config", "weir.toml", "--no-progress"],
    );
    // stdin stays open (never EOF) until the test ends.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\"n\": 1}\n").unwrap();
    stdin.flush().unwrap();
    let seen = dir.path().join("seen.txt");
    let waited = std::time::Instant::now();
    while !seen.exists() && waited.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seen.exists(), "the record was never processed");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let waited = std::time::Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if waited.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("weir did not exit after SIGINT while its stdin was open");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(130));
    let (_, metrics) = split(&reader.join().unwrap().unwrap());
    assert_eq!(metrics["EventSourceMappings"]["Map"]["PolledEventCount"], 1);
    assert_eq!(metrics["Functions"]["Count"]["Invocations"], 1);
    drop(stdin);
}

#[test]
fn sigint_drains_running_invocations_then_prints_the_counters() {
    let dir = tempfile::tempdir().unwrap();
    // Every message fails forever (no redrive policy): the run only ends on SIGINT.
    std::fs::write(
        dir.path().join("weir.toml"),
        r#"
[Resources.Q]
Type = "AWS::SQS::Queue"
Properties = { VisibilityTimeout = 60 }
Weir = { Messages = ["a", "b", "c"] }

[Resources.Slow]
Type = "AWS::Lambda::Function"
Properties = { Timeout = 10 }
Weir = { Command = ["sh", "-c", "sleep 1; echo started-and-finished >> log.txt; exit 1"] }

[Resources.Map]
Type = "AWS::Lambda::EventSourceMapping"
Properties = { FunctionName = "Slow", EventSourceArn = { "Fn::GetAtt" = ["Q", "Arn"] }, BatchSize = 1 }
"#,
    )
    .unwrap();
    let child = spawn(
        dir.path(),
        &["run", "--config", "weir.toml", "--no-progress"],
    );
    // SIGINT once some invocation has finished (and others are likely running).
    let log = dir.path().join("log.txt");
    let waited = std::time::Instant::now();
    while !log.exists() && waited.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, metrics) = split(&stdout);
    let invocations = metrics["Functions"]["Slow"]["Invocations"]
        .as_u64()
        .unwrap();
    assert!(invocations >= 1, "{metrics}");
    // Every invocation that had started ran to its end before weir printed and exited.
    let finished = std::fs::read_to_string(dir.path().join("log.txt")).unwrap();
    assert_eq!(finished.lines().count() as u64, invocations);
    assert_eq!(
        metrics["EventSourceMappings"]["Map"]["InvokedEventCount"],
        invocations
    );
}

#[test]
fn a_bad_config_is_an_error_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("weir.toml"),
        "[Resources.Q]\nType = \"AWS::SQS::Queue\"\nProperties = { VisibilityTimout = 3 }\n",
    )
    .unwrap();
    let out = run(dir.path(), &["run", "--config", "weir.toml"], None);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        "weir: Resources.Q.Properties.VisibilityTimout: unknown property (known here: \
         MessageRetentionPeriod, QueueName, RedrivePolicy, VisibilityTimeout)"
    );
    let out = run(dir.path(), &["run", "--config", "missing.toml"], None);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("weir: missing.toml: cannot read"),
        "{}",
        out.stderr
    );
}

/// The interpreter with awslambdaric that scripts/test-all installs.
fn awslambdaric_python() -> PathBuf {
    std::env::var_os("WEIR_AWSLAMBDARIC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/awslambdaric-venv/bin/python"))
}

#[test]
#[ignore = "needs awslambdaric in target/awslambdaric-venv: scripts/test-all installs it and runs this with --include-ignored"]
fn the_python_example_runs_its_handler_through_awslambdaric() {
    let python = awslambdaric_python();
    assert!(
        python.exists(),
        "{} is missing: python3 -m venv target/awslambdaric-venv && target/awslambdaric-venv/bin/pip install awslambdaric",
        python.display()
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--config", "examples/python.toml"])
        .current_dir(root())
        .env("WEIR_PYTHON", &python)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (failed, metrics) = split(&stdout);
    let mut ids: Vec<i64> = failed.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [3, 6], "{stderr}");
    // The handler's own log lines reach stderr.
    assert!(
        stderr.contains("cannot ship order 3: broken-vase"),
        "{stderr}"
    );
    let m = &metrics["EventSourceMappings"]["ShipOrders"];
    // One batch of the 5 new orders, then the 2 reported failures twice more, alone.
    assert_eq!(m["FilteredOutEventCount"], 3);
    assert_eq!(m["InvokedEventCount"], 9);
    assert_eq!(m["FailedInvokeEventCount"], 6);
    assert_eq!(m["DeletedEventCount"], 6);
    let f = &metrics["Functions"]["ship"];
    assert_eq!(
        (f["Invocations"].as_u64(), f["Errors"].as_u64()),
        (Some(3), Some(0))
    );
}

#[test]
fn lambda_strict_applies_to_the_configs_filters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("weir.toml"),
        r#"
[Resources.Q]
Type = "AWS::SQS::Queue"
[Resources.F]
Type = "AWS::Lambda::Function"
Weir = { Command = ["true"] }
[Resources.M]
Type = "AWS::Lambda::EventSourceMapping"
Properties = { FunctionName = "F", EventSourceArn = { "Fn::GetAtt" = ["Q", "Arn"] }, FilterCriteria = { Filters = [{ Pattern = '{"body": {"a": [{"wildcard": "x*"}]}}' }] } }
"#,
    )
    .unwrap();
    let out = run(dir.path(), &["run", "--config", "weir.toml"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(
        dir.path(),
        &["run", "--lambda-strict", "--config", "weir.toml"],
        None,
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with(
            "weir: Resources.M: InvalidParameterValueException: Invalid filter pattern definition."
        ),
        "{}",
        out.stderr
    );
}
