//! `weir run` with queues on Redis (`Weir.Redis` in weir.toml): a filtered mapping with a
//! redrive policy to a Redis dead-letter queue, two `weir run` processes sharing one
//! mapping's records, two under different `--redis-prefix` each reading a whole stream, a
//! function's asynchronous queue on Redis (an Event accepted by one
//! `weir serve` run by the next after a restart; `weir run`'s bus deliveries retried on Redis
//! to OnFailure records on a Redis stream), and `weir serve` on SIGINT finishing a stream
//! mapping's batch in flight and checkpointing it while its asynchronous worker, stopped at
//! the same time, puts a running event back; `weir run` giving up on a Redis that answers
//! reads but refuses its bus deliveries. Against a Redis server of the test's own.

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

/// Two `weir run`s of one weir.toml on one Redis, one under `--redis-prefix team1`: the
/// file's stream mapping has one id in both, yet they share no lease or checkpoint; each
/// reads every record, and keeps its checkpoint under its own prefix.
#[test]
fn weir_runs_under_two_prefixes_each_read_the_whole_stream() {
    let server = redis_harness::Redis::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = conn.set("clicks:shards", 1).unwrap();
    let mut last = String::new();
    for n in 0..3 {
        last = conn
            .xadd(
                "clicks:shardId-000000000000",
                "*",
                &[("pk", "k"), ("data", format!(r#"{{"n": {n}}}"#).as_str())],
            )
            .unwrap();
    }
    std::fs::write(
        dir.path().join("weir.toml"),
        format!(
            r#"
[Resources.Clicks]
Type = "AWS::Kinesis::Stream"
Properties = {{ Name = "clicks", ShardCount = 1 }}
Weir = {{ Redis = "{url}" }}

[Resources.Count]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "count" }}
Weir = {{ Command = ["sh", "-c", "cat > /dev/null; echo null"] }}

[Resources.M]
Type = "AWS::Lambda::EventSourceMapping"
Properties = {{ FunctionName = {{ Ref = "Count" }}, EventSourceArn = {{ "Fn::GetAtt" = ["Clicks", "Arn"] }}, StartingPosition = "TRIM_HORIZON" }}
"#
        ),
    )
    .unwrap();
    let run = |prefix: &str| {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args([
                "run",
                "--config",
                "weir.toml",
                "--no-progress",
                "--redis-prefix",
                prefix,
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (default, team1) = (run("weir"), run("team1"));
    for (prefix, child) in [("weir", default), ("team1", team1)] {
        let output = ended_within(child, 60, prefix);
        assert!(
            output.status.success(),
            "{prefix}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        let counters = &json["EventSourceMappings"]["M"];
        assert_eq!(counters["InvokedEventCount"], 3, "{prefix}: {counters}");
        let checkpoint: Option<String> = conn.get(format!("{prefix}:checkpoint:weir-M:0")).unwrap();
        assert_eq!(checkpoint.as_deref(), Some(last.as_str()), "{prefix}");
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failed assertion leaves no
/// stray weir behind.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `weir serve --port 0 --config weir.toml` in `dir`; answers the process and its endpoint's
/// address (the first line of its stdout).
fn weir_serve(dir: &Path) -> (Killed, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--port", "0", "--config", "weir.toml"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("no endpoint on stdout: {line:?}"))
        .to_string();
    (Killed(child), address)
}

/// Lambda's `Invoke` over HTTP with `X-Amz-Invocation-Type: Event`; answers the status code.
fn invoke_event(address: &str, function: &str, payload: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /2015-03-31/functions/{function}/invocations HTTP/1.1\r\nHost: {address}\r\n\
         X-Amz-Invocation-Type: Event\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

/// Polls `check` every 50 ms until it answers something, for up to `seconds`.
fn eventually<T>(seconds: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The bodies of a Redis queue's messages (the stream named after the queue), as JSON.
fn queue_bodies(conn: &mut redis::Connection, queue: &str) -> Vec<Value> {
    let reply: redis::streams::StreamRangeReply = conn.xrange_all(queue).unwrap();
    reply
        .ids
        .iter()
        .map(|e| {
            let body: String = redis::from_redis_value_ref(&e.map["body"]).unwrap();
            serde_json::from_str(&body).unwrap()
        })
        .collect()
}

/// The events waiting on the Redis asynchronous invocation queue, as stored.
fn queued_events(conn: &mut redis::Connection) -> Vec<Value> {
    let items: Vec<String> = conn.hvals("weir:async:charge:items").unwrap();
    items
        .iter()
        .map(|i| serde_json::from_str(i).unwrap())
        .collect()
}

#[test]
fn an_event_accepted_by_weir_serve_survives_a_restart_and_succeeds_to_a_redis_queue() {
    let server = redis_harness::Redis::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    // The function fails until the file `open` exists; its retries wait 4 s on Redis.
    std::fs::write(
        dir.path().join("weir.toml"),
        format!(
            r#"
[Resources.Done]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "done" }}
Weir = {{ Redis = "{url}" }}

[Resources.Charge]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "charge", EventInvokeConfig = {{ MaximumRetryAttempts = 2, DestinationConfig = {{ OnSuccess = {{ Destination = {{ "Fn::GetAtt" = ["Done", "Arn"] }} }} }} }} }}
Weir = {{ Command = ["sh", "-c", "test -e open || exit 1; cat"], Redis = "{url}", RetryDelays = [4, 4] }}
"#
        ),
    )
    .unwrap();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let (first, address) = weir_serve(dir.path());
    assert_eq!(
        invoke_event(&address, "charge", r#"{"order": "kept"}"#),
        202
    );
    // Tried (once, or twice on a slow machine) and waiting for its retry on Redis: then this
    // weir is killed.
    let item = eventually(20, "the first attempt", || {
        queued_events(&mut conn)
            .into_iter()
            .find(|i| i["invokes"].as_u64() >= Some(1))
    });
    let tried = item["invokes"].as_u64().unwrap();
    assert_eq!(item["function"], "charge");
    assert_eq!(item["payload"], r#"{"order": "kept"}"#);
    assert_eq!(item["settings"]["maximum_retry_attempts"], 2);
    drop(first);
    assert!(queue_bodies(&mut conn, "done").is_empty());
    std::fs::write(dir.path().join("open"), "").unwrap();
    // Another weir on the same Redis takes the event up and runs its retry.
    let (_second, _) = weir_serve(dir.path());
    // (Within a lease, 30 s, should the kill have landed during an attempt.)
    let done = eventually(60, "the OnSuccess record", || {
        let bodies = queue_bodies(&mut conn, "done");
        (!bodies.is_empty()).then_some(bodies)
    });
    assert_eq!(done.len(), 1, "{done:?}");
    let record = &done[0];
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(
        record["requestContext"]["approximateInvokeCount"],
        tried + 1
    );
    assert_eq!(
        record["requestPayload"],
        serde_json::json!({"order": "kept"})
    );
    assert_eq!(
        record["responsePayload"],
        serde_json::json!({"order": "kept"})
    );
    eventually(10, "the event's removal", || {
        queued_events(&mut conn).is_empty().then_some(())
    });
}

#[test]
fn weir_run_puts_bus_deliveries_on_the_redis_queue_and_waits_for_their_failure_records() {
    let server = redis_harness::Redis::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("events.jsonl"),
        "{\"source\": \"shop\", \"detail\": {\"n\": 1}}\n{\"source\": \"shop\", \"detail\": {\"n\": 2}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("weir.toml"),
        format!(
            r#"
[Resources.Failed]
Type = "AWS::Kinesis::Stream"
Properties = {{ Name = "failed" }}
Weir = {{ Redis = "{url}" }}

[Resources.Bus]
Type = "AWS::Events::EventBus"
Properties = {{ Name = "default" }}
Weir = {{ Events = "events.jsonl" }}

[Resources.Charge]
Type = "AWS::Serverless::Function"
Properties = {{ FunctionName = "charge", EventInvokeConfig = {{ MaximumRetryAttempts = 1, DestinationConfig = {{ OnFailure = {{ Type = "Kinesis", Destination = {{ "Fn::GetAtt" = ["Failed", "Arn"] }} }} }} }}, Events = {{ Shop = {{ Type = "EventBridgeRule", Properties = {{ Pattern = {{ source = ["shop"] }} }} }} }} }}
Weir = {{ Command = ["sh", "-c", "date +%s%N >> times; exit 1"], Redis = "{url}", RetryDelays = [1, 1] }}
"#
        ),
    )
    .unwrap();
    let output = weir_run(dir.path()).wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let counters: Value = serde_json::from_slice(&output.stdout).unwrap();
    let charge = &counters["Functions"]["charge"];
    // Both events accepted, each run twice (one retry), both dropped: before weir run ended.
    assert_eq!(charge["AsyncEventsReceived"], 2, "{counters}");
    assert_eq!(charge["Invocations"], 4, "{counters}");
    assert_eq!(charge["AsyncEventsDropped"], 2, "{counters}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("times"))
            .unwrap()
            .lines()
            .count(),
        4
    );
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    assert!(queued_events(&mut conn).is_empty());
    let reply: redis::streams::StreamRangeReply =
        conn.xrange_all("failed:shardId-000000000000").unwrap();
    let mut ns: Vec<i64> = reply
        .ids
        .iter()
        .map(|e| {
            let data: Vec<u8> = redis::from_redis_value_ref(&e.map["data"]).unwrap();
            let record: Value = serde_json::from_slice(&data).unwrap();
            assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
            assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
            record["requestPayload"]["detail"]["n"].as_i64().unwrap()
        })
        .collect();
    ns.sort();
    assert_eq!(ns, [1, 2]);
}

#[test]
fn the_redis_example_runs_as_its_comments_say() {
    let server = redis_harness::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let text = std::fs::read_to_string(examples.join("redis.toml")).unwrap();
    assert!(text.contains("redis://127.0.0.1:6380/"));
    // The example's file, on this test's Redis.
    std::fs::write(
        dir.path().join("weir.toml"),
        text.replace("redis://127.0.0.1:6380/", &server.url()),
    )
    .unwrap();
    std::fs::copy(
        examples.join("events.jsonl"),
        dir.path().join("events.jsonl"),
    )
    .unwrap();
    let output = weir_run(dir.path()).wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let counters: Value = serde_json::from_slice(&output.stdout).unwrap();
    let notify = &counters["Functions"]["notify"];
    // Two running instances and one stopped; the stopped one ran twice (one retry).
    assert_eq!(notify["AsyncEventsReceived"], 3, "{counters}");
    assert_eq!(notify["Invocations"], 4, "{counters}");
    assert_eq!(notify["AsyncEventsDropped"], 1, "{counters}");
    assert_eq!(counters["Rules"]["StateChanges"]["MatchedEvents"], 3);
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let notified = queue_bodies(&mut conn, "notified");
    assert_eq!(notified.len(), 2);
    for record in &notified {
        assert_eq!(record["requestContext"]["condition"], "Success");
        assert_eq!(
            record["responsePayload"],
            serde_json::json!({"notified": true})
        );
        assert_eq!(record["requestPayload"]["detail"]["state"], "running");
    }
    let failed: redis::streams::StreamRangeReply = conn
        .xrange_all("notify-failed:shardId-000000000000")
        .unwrap();
    assert_eq!(failed.ids.len(), 1);
    let data: Vec<u8> = redis::from_redis_value_ref(&failed.ids[0].map["data"]).unwrap();
    let record: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(record["requestPayload"]["detail"]["state"], "stopped");
}

#[test]
fn weir_invoke_event_on_a_redis_queue_waits_for_its_record() {
    let server = redis_harness::Redis::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("weir.toml"),
        format!(
            r#"
[Resources.Done]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "done" }}
Weir = {{ Redis = "{url}" }}

[Resources.Echo]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "echo", EventInvokeConfig = {{ DestinationConfig = {{ OnSuccess = {{ Destination = {{ Ref = "Done" }} }} }} }} }}
Weir = {{ Command = ["cat"], Redis = "{url}" }}
"#
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["invoke", "--config", "weir.toml", "Echo"])
        .args(["--invocation-type", "Event", "--payload", r#"{"x": 1}"#])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["StatusCode"], 202);
    // weir invoke ended after the event ran: its record is on Redis, nothing is queued.
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let done = queue_bodies(&mut conn, "done");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["requestPayload"], serde_json::json!({"x": 1}));
    let left: usize = conn.hlen("weir:async:echo:items").unwrap();
    assert_eq!(left, 0);
}

#[test]
fn weir_run_ends_after_the_redis_mapping_fed_by_a_redis_functions_destination_is_drained() {
    let server = redis_harness::Redis::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("events.jsonl"),
        "{\"source\": \"shop\", \"detail\": {\"n\": 1}}\n",
    )
    .unwrap();
    // The bus event runs echo (1 s) from its Redis queue; echo's OnSuccess record lands on a
    // Redis queue whose mapping (batching for 2 s) runs sink: the last work is a Redis
    // mapping's, after the asynchronous queue is empty.
    std::fs::write(
        dir.path().join("weir.toml"),
        format!(
            r#"
[Resources.Done]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "done" }}
Weir = {{ Redis = "{url}" }}

[Resources.Bus]
Type = "AWS::Events::EventBus"
Properties = {{ Name = "default" }}
Weir = {{ Events = "events.jsonl" }}

[Resources.Echo]
Type = "AWS::Serverless::Function"
Properties = {{ FunctionName = "echo", EventInvokeConfig = {{ DestinationConfig = {{ OnSuccess = {{ Destination = {{ Ref = "Done" }} }} }} }}, Events = {{ Shop = {{ Type = "EventBridgeRule", Properties = {{ Pattern = {{ source = ["shop"] }} }} }} }} }}
Weir = {{ Command = ["sh", "-c", "sleep 1; cat"], Redis = "{url}" }}

[Resources.Sink]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "sink" }}
Weir = {{ Command = ["sh", "-c", "cat >> sunk; echo >> sunk"] }}

[Resources.DoneToSink]
Type = "AWS::Lambda::EventSourceMapping"
Properties = {{ FunctionName = {{ Ref = "Sink" }}, EventSourceArn = {{ "Fn::GetAtt" = ["Done", "Arn"] }}, BatchSize = 10, MaximumBatchingWindowInSeconds = 2 }}
"#
        ),
    )
    .unwrap();
    let output = weir_run(dir.path()).wait_with_output().unwrap();
    let counters = {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    assert_eq!(
        counters["Functions"]["echo"]["Invocations"], 1,
        "{counters}"
    );
    let sunk = std::fs::read_to_string(dir.path().join("sunk")).unwrap_or_default();
    let event: Value = serde_json::from_str(sunk.trim())
        .unwrap_or_else(|e| panic!("sink did not run before weir run ended ({e}): {sunk:?}"));
    let record: Value =
        serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(record["requestPayload"]["detail"]["n"], 1);
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let left: usize = conn.xlen("done").unwrap();
    assert_eq!(left, 0);
    assert_eq!(
        counters["EventSourceMappings"]["DoneToSink"]["InvokedEventCount"], 1,
        "{counters}"
    );
}

/// Waits for a child for up to `seconds`; kills it and fails when it does not end.
fn ended_within(mut child: std::process::Child, seconds: u64, what: &str) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{what} did not end within {seconds} s: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn weir_invoke(dir: &Path, function: &str, kind: &str, payload: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["invoke", "--config", "weir.toml", function])
        .args(["--invocation-type", kind, "--payload", payload])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn two_redis_functions(dir: &Path, url: &str, echo: &str) {
    std::fs::write(
        dir.join("weir.toml"),
        format!(
            r#"
[Resources.Echo]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "echo" }}
Weir = {{ Command = ["sh", "-c", "{echo}"], Redis = "{url}" }}

[Resources.Other]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "other" }}
Weir = {{ Command = ["sh", "-c", "touch other-ran; cat"], Redis = "{url}" }}
"#
        ),
    )
    .unwrap();
}

#[test]
fn weir_invoke_waits_only_for_its_own_event_and_works_only_its_function() {
    let server = redis_harness::Redis::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    two_redis_functions(dir.path(), &url, "cat");
    // Another function's event, waiting for a retry an hour away (as another process left it).
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 3_600_000;
    let item = serde_json::json!({
        "function": "other", "payload": "{}", "received_ms": later - 3_600_000,
        "invokes": 1, "failures": 1, "throttles": 0, "last_error": null,
    });
    let () = conn
        .hset("weir:async:other:items", "waiting", item.to_string())
        .unwrap();
    let () = conn.zadd("weir:async:other:due", "waiting", later).unwrap();
    // RequestResponse: no Redis wait at all.
    let output = ended_within(
        weir_invoke(dir.path(), "Echo", "RequestResponse", r#"{"x": 1}"#),
        20,
        "weir invoke RequestResponse",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["StatusCode"], 200);
    assert_eq!(printed["Payload"], serde_json::json!({"x": 1}));
    // Event: waits for its own event only.
    let output = ended_within(
        weir_invoke(dir.path(), "Echo", "Event", r#"{"x": 2}"#),
        20,
        "weir invoke Event",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["StatusCode"], 202);
    let left: usize = conn.hlen("weir:async:echo:items").unwrap();
    assert_eq!(left, 0, "the invoked event ran before weir invoke ended");
    let waiting: bool = conn.hexists("weir:async:other:items", "waiting").unwrap();
    assert!(waiting, "the other function's event is left alone");
    assert!(!dir.path().join("other-ran").exists());
}

#[test]
fn weir_invoke_event_gives_up_with_an_error_when_redis_goes_away() {
    let mut server = redis_harness::Redis::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    two_redis_functions(dir.path(), &url, "sleep 2; cat");
    let child = weir_invoke(dir.path(), "Echo", "Event", "{}");
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    eventually(20, "the event claimed", || {
        let running: usize = conn.zcard("weir:async:echo:inflight").unwrap();
        (running == 1).then_some(())
    });
    server.kill();
    let output = ended_within(child, 40, "weir invoke with Redis gone");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the asynchronous queue of function echo on Redis"),
        "{stderr}"
    );
}

#[test]
fn weir_invoke_event_waiting_for_a_retry_ends_on_sigint_leaving_the_event_on_redis() {
    let server = redis_harness::Redis::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("weir.toml"),
        format!(
            r#"
[Resources.Fail]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "fail" }}
Weir = {{ Command = ["sh", "-c", "touch tried; exit 1"], Redis = "{url}", RetryDelays = [60, 60] }}
"#
        ),
    )
    .unwrap();
    let child = weir_invoke(dir.path(), "Fail", "Event", "{}");
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    // Tried once, now waiting a minute for its retry.
    eventually(20, "the first attempt", || {
        let due: usize = conn.zcard("weir:async:fail:due").unwrap();
        (dir.path().join("tried").exists() && due == 1).then_some(())
    });
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = ended_within(child, 20, "weir invoke after SIGINT");
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let left: usize = conn.hlen("weir:async:fail:items").unwrap();
    assert_eq!(left, 1, "the event waits on Redis for its retry");
}

/// An HTTP POST of JSON to `address`; answers the status code and the body.
fn post_json(address: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[test]
fn sigint_lets_a_stream_mappings_batch_in_flight_finish_and_checkpoints_it() {
    let server = redis_harness::Redis::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    // A one-shard Redis stream holding one record, as a producer made it.
    let _: () = conn.set("clicks:shards", 1).unwrap();
    let id: String = conn
        .xadd(
            "clicks:shardId-000000000000",
            "*",
            &[("pk", "k"), ("data", r#"{"n": 1}"#)],
        )
        .unwrap();
    // The function takes a while: weir is asked to stop while it runs.
    let (started, done) = (dir.path().join("started"), dir.path().join("done"));
    let function = format!(
        "job=touch {}; sleep 1; cat > {}; echo null",
        started.display(),
        done.display()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "serve",
            "--port",
            "0",
            "--redis",
            &url,
            "--function",
            &function,
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let mut child = Killed(child);
    let address = line.trim().strip_prefix("http://").unwrap().to_string();
    let (code, body) = post_json(
        &address,
        "/2015-03-31/event-source-mappings/",
        r#"{"EventSourceArn": "arn:aws:kinesis:us-east-1:000000000000:stream/clicks",
            "FunctionName": "job", "StartingPosition": "TRIM_HORIZON"}"#,
    );
    assert_eq!(code, 202, "{body}");
    let uuid = serde_json::from_str::<Value>(&body).unwrap()["UUID"]
        .as_str()
        .unwrap()
        .to_string();
    eventually(30, "the function to start", || {
        started.exists().then_some(())
    });
    let pid = child.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = eventually(30, "weir to stop", || child.0.try_wait().unwrap());
    assert!(status.success(), "{status}");
    // When weir has stopped, the batch it was invoking has run to its end and is
    // checkpointed, and the shard's lease is free for another weir at once.
    let got: Value = serde_json::from_str(&std::fs::read_to_string(&done).unwrap()).unwrap();
    assert_eq!(got["Records"][0]["kinesis"]["sequenceNumber"], id.as_str());
    let checkpoint: Option<String> = conn.get(format!("weir:checkpoint:{uuid}:0")).unwrap();
    assert_eq!(checkpoint.as_deref(), Some(id.as_str()));
    let lease: Option<String> = conn.get(format!("weir:lease:{uuid}:0")).unwrap();
    assert_eq!(lease, None);
}

#[test]
fn weir_serve_redis_stopped_lets_its_running_event_end() {
    use std::io::BufRead;
    let server = redis_harness::Redis::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--port", "0", "--redis", &url, "--timeout", "10"])
        .args([
            "--function",
            "slow=touch started; sleep 2; touch ended; cat",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.trim().strip_prefix("http://").unwrap().to_string();
    assert_eq!(invoke_event(&address, "slow", "{}"), 202);
    eventually(20, "the event to start", || {
        dir.path().join("started").exists().then_some(())
    });
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = ended_within(child, 30, "weir serve after SIGTERM");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("ended").exists(), "the running event ended");
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let left: usize = conn.hlen("weir:async:items").unwrap();
    assert_eq!(left, 0, "the event finished before weir serve ended");
}

#[test]
fn weir_serve_stopped_during_a_long_mapping_batch_still_puts_its_running_event_back() {
    use std::io::BufRead;
    let server = redis_harness::Redis::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = conn.set("clicks:shards", 1).unwrap();
    let _: String = conn
        .xadd(
            "clicks:shardId-000000000000",
            "*",
            &[("pk", "k"), ("data", "{}")],
        )
        .unwrap();
    // The mapping's batch runs until the test lets it end; the asynchronous event outlasts
    // the stop grace (10 s).
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--port", "0", "--redis", &url, "--timeout", "120"])
        .args([
            "--function",
            "job=touch batch; while [ ! -e release ]; do sleep 0.05; done; cat >/dev/null; echo null",
            "--function",
            "slow=touch started; sleep 100",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut child = Killed(child);
    let address = line.trim().strip_prefix("http://").unwrap().to_string();
    let (code, body) = post_json(
        &address,
        "/2015-03-31/event-source-mappings/",
        r#"{"EventSourceArn": "arn:aws:kinesis:us-east-1:000000000000:stream/clicks",
            "FunctionName": "job", "StartingPosition": "TRIM_HORIZON"}"#,
    );
    assert_eq!(code, 202, "{body}");
    assert_eq!(invoke_event(&address, "slow", "{}"), 202);
    eventually(30, "the batch and the event to start", || {
        (dir.path().join("batch").exists() && dir.path().join("started").exists()).then_some(())
    });
    let claimed: usize = conn.zcard("weir:async:inflight").unwrap();
    assert_eq!(claimed, 1);
    assert!(Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap()
        .success());
    // While the batch still runs, the asynchronous worker (told to stop at the same time)
    // gives its event the grace and puts it back, due at once, for another weir.
    eventually(25, "the running event to be put back", || {
        let inflight: usize = conn.zcard("weir:async:inflight").unwrap();
        let due: usize = conn.zcard("weir:async:due").unwrap();
        (inflight == 0 && due == 1).then_some(())
    });
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the batch holds weir"
    );
    std::fs::write(dir.path().join("release"), "").unwrap();
    let status = eventually(30, "weir to stop", || child.0.try_wait().unwrap());
    assert!(status.success(), "{status}");
    let left: usize = conn.hlen("weir:async:items").unwrap();
    assert_eq!(left, 1, "the event stays on Redis for the next weir");
}

#[test]
fn weir_run_gives_up_with_an_error_when_redis_answers_but_refuses_the_bus_deliveries() {
    let server = redis_harness::Redis::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("events.jsonl"),
        "{\"source\": \"shop\", \"detail\": {\"n\": 1}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("weir.toml"),
        format!(
            r#"
[Resources.Bus]
Type = "AWS::Events::EventBus"
Properties = {{ Name = "default" }}
Weir = {{ Events = "events.jsonl" }}

[Resources.Charge]
Type = "AWS::Serverless::Function"
Properties = {{ FunctionName = "charge", Events = {{ Shop = {{ Type = "EventBridgeRule", Properties = {{ Pattern = {{ source = ["shop"] }} }} }} }} }}
Weir = {{ Command = ["cat"], Redis = "{url}" }}
"#
        ),
    )
    .unwrap();
    // Redis answers reads, but refuses every write (no replica to write to).
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("min-replicas-to-write")
        .arg(1)
        .query(&mut conn)
        .unwrap();
    // The bus delivery is retried (1 s, doubling) while Redis refuses it; weir run gives up
    // after its patience (10 s) instead of retrying for a day.
    let output = ended_within(
        weir_run(dir.path()),
        40,
        "weir run with Redis refusing writes",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the asynchronous queue of function charge on Redis: refuses events"),
        "{stderr}"
    );
    assert!(stderr.contains("NOREPLICAS"), "{stderr}");
}
