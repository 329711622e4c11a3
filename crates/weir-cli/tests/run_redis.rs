//! `weir run` with queues on Redis (`Weir.Redis` in weir.toml): a filtered mapping with a
//! redrive policy to a Redis dead-letter queue, and two `weir run` processes sharing one
//! mapping's records. Against a Redis server of the test's own.

#[path = "../../weir-serve/tests/support/redis.rs"]
mod redis_harness;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use redis::Commands;
use serde_json::Value;

fn config(url: &str, messages: &str, command: &str) -> String {
    format!(
        r#"
[Resources.Orders]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "orders", VisibilityTimeout = 3, RedrivePolicy = {{ deadLetterTargetArn = {{ "Fn::GetAtt" = ["Dead", "Arn"] }}, maxReceiveCount = 2 }} }}
Weir = {{ Redis = "{url}"{messages} }}

[Resources.Dead]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "orders-dlq" }}
Weir = {{ Redis = "{url}" }}

[Resources.Ship]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "ship", Timeout = 3 }}
Weir = {{ Command = ["sh", "-c", '{command}'] }}

[Resources.OrdersToShip]
Type = "AWS::Lambda::EventSourceMapping"
Properties = {{ FunctionName = {{ Ref = "Ship" }}, EventSourceArn = {{ "Fn::GetAtt" = ["Orders", "Arn"] }}, BatchSize = 5, FilterCriteria = {{ Filters = [{{ Pattern = '{{"body": {{"ship": [true]}}}}' }}] }} }}
"#
    )
}

fn weir_run(dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--config", "weir.toml", "--no-progress"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn counters(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    json["EventSourceMappings"]["OrdersToShip"].clone()
}

/// Each batch's record bodies, as the command wrote them (one file per invocation).
fn shipped(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir.join("shipped")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        for r in event["Records"].as_array().unwrap() {
            out.push(serde_json::from_str(r["body"].as_str().unwrap()).unwrap());
        }
    }
    out
}

#[test]
fn a_filtered_mapping_on_a_redis_queue_with_redrive_to_a_redis_dead_letter_queue() {
    let server = redis_harness::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("shipped")).unwrap();
    let messages: Vec<String> = (0..12)
        .map(|n| format!(r#"{{"n": {n}, "ship": {}}}"#, n % 2 == 0))
        .collect();
    let inline = format!(
        ", Messages = [{}]",
        messages
            .iter()
            .map(|m| format!("'{m}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The command fails a batch holding record 4; the others are written.
    let command = r#"in=$(cat); case "$in" in *\\\"n\\\":?4,*) exit 1;; esac; printf %s "$in" > shipped/$(date +%s%N)-$$; echo null"#;
    std::fs::write(
        dir.path().join("weir.toml"),
        config(&server.url(), &inline, command),
    )
    .unwrap();
    let output = weir_run(dir.path()).wait_with_output().unwrap();
    let counters = counters(&output);
    assert_eq!(counters["FilteredOutEventCount"], 6, "{counters}");
    // The first batch (0-4, of which 0, 2 and 4 match) holds 4: it fails on each of its two
    // receives, then its three records move to the dead-letter queue.
    assert_eq!(counters["DroppedEventCount"], 3, "{counters}");
    let mut ns: Vec<i64> = shipped(dir.path())
        .iter()
        .map(|b| b["n"].as_i64().unwrap())
        .collect();
    ns.sort();
    assert_eq!(ns, [6, 8, 10], "{counters}");
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let dlq: redis::streams::StreamRangeReply = conn.xrange_all("orders-dlq").unwrap();
    let bodies: Vec<String> = dlq
        .ids
        .iter()
        .map(|e| redis::from_redis_value_ref(&e.map["body"]).unwrap())
        .collect();
    assert_eq!(
        bodies,
        [
            r#"{"n": 0, "ship": true}"#,
            r#"{"n": 2, "ship": true}"#,
            r#"{"n": 4, "ship": true}"#
        ]
    );
    let left: usize = conn.xlen("orders").unwrap();
    assert_eq!(left, 0);
}

#[test]
fn two_weir_runs_share_one_mapping() {
    let server = redis_harness::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("shipped")).unwrap();
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    // The queue is filled first; both processes then drain it.
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("orders")
        .arg("weir-mappings")
        .arg("0")
        .arg("MKSTREAM")
        .query(&mut conn)
        .unwrap();
    let mut pipe = redis::pipe();
    for n in 0..400 {
        pipe.cmd("XADD")
            .arg("orders")
            .arg("*")
            .arg("body")
            .arg(format!(r#"{{"n": {n}, "ship": {}}}"#, n % 4 != 0))
            .ignore();
    }
    let () = pipe.query(&mut conn).unwrap();
    let command = r#"printf %s "$(cat)" > shipped/$(date +%s%N)-$$; sleep 0.05; echo null"#;
    std::fs::write(
        dir.path().join("weir.toml"),
        config(&server.url(), "", command),
    )
    .unwrap();
    let first = weir_run(dir.path());
    let second = weir_run(dir.path());
    let a = counters(&first.wait_with_output().unwrap());
    let b = counters(&second.wait_with_output().unwrap());
    let invoked = |c: &Value| c["InvokedEventCount"].as_u64().unwrap();
    assert!(
        invoked(&a) > 0 && invoked(&b) > 0,
        "both took records: {a} {b}"
    );
    assert_eq!(invoked(&a) + invoked(&b), 300, "{a} {b}");
    assert_eq!(
        a["PolledEventCount"].as_u64().unwrap() + b["PolledEventCount"].as_u64().unwrap(),
        400
    );
    let mut ns: Vec<i64> = shipped(dir.path())
        .iter()
        .map(|b| b["n"].as_i64().unwrap())
        .collect();
    ns.sort();
    let want: Vec<i64> = (0..400).filter(|n| n % 4 != 0).collect();
    assert_eq!(ns, want, "each matching record once");
}
