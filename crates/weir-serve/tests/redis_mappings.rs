//! Lambda's event source mapping operations over HTTP, for mappings on Redis sources: create
//! (with AWS's validation), get, list, delete; the mapping runs in every process supervising
//! the same Redis (two here, sharing the records), and stops when deleted. Stream mappings
//! take Lambda's stream settings over HTTP and in weir.toml. Waits poll what the server shows
//! (its clients, its command counts, checkpoints), never a fixed time.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use support::redis::Redis;
use tower::ServiceExt;
use weir_route::{FunctionConfig, Invocation, Outcome, Router};
use weir_serve::{RedisMappings, RedisQueue, RedisQueueConfig, RedisStream, RedisStreamConfig};

type Seen = Arc<Mutex<Vec<(usize, Value)>>>;

/// A function `f` keeping each record it receives, tagged with `process`.
fn functions(process: usize, seen: Seen) -> Router {
    let router = Router::new();
    router
        .create_function(FunctionConfig::new("f"), move |i: Invocation| {
            let seen = seen.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let event: Value = serde_json::from_slice(&i.payload).unwrap();
                for r in event["Records"].as_array().unwrap() {
                    seen.lock().unwrap().push((process, r.clone()));
                }
                Outcome::Success(Vec::new())
            }
        })
        .unwrap();
    router
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn wait_for(seen: &Seen, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < count {
        assert!(
            Instant::now() < deadline,
            "{} of {count}",
            seen.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A connection of the test's own.
async fn conn(server: &Redis) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// How many connections are queue consumers': their last command worked on a consumer
/// group. (A consumer blocked in `XREADGROUP` on an empty queue is listed by `CLIENT LIST`,
/// but `XINFO CONSUMERS` shows it only once it has been delivered a message.)
async fn consumer_connections(server: &Redis) -> usize {
    const GROUP_COMMANDS: [&str; 6] = [
        "xreadgroup",
        "xautoclaim",
        "xclaim",
        "xpending",
        "xack",
        "xgroup",
    ];
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn(server).await)
        .await
        .unwrap();
    list.lines()
        .filter(|line| {
            line.split(' ')
                .filter_map(|field| field.strip_prefix("cmd="))
                .any(|cmd| GROUP_COMMANDS.contains(&cmd.split('|').next().unwrap_or(cmd)))
        })
        .count()
}

/// How many `HGETALL`s the server has run (each supervisor runs one per reconciliation).
async fn hgetall_calls(server: &Redis) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn(server).await)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_hgetall:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Polls `condition` every 20 ms until it holds, for at most 20 s.
macro_rules! wait_until {
    ($what:expr, $condition:expr) => {{
        let deadline = Instant::now() + Duration::from_secs(20);
        while !$condition {
            assert!(Instant::now() < deadline, "{}: not within 20 s", $what);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_mapping_created_over_http_runs_in_both_processes_until_deleted() {
    let server = Redis::start();
    let seen: Seen = Arc::default();
    let first = RedisMappings::connect(
        &server.url(),
        "weir",
        "us-east-1",
        Arc::new(functions(1, seen.clone())),
    )
    .await
    .unwrap();
    let second = RedisMappings::connect(
        &server.url(),
        "weir",
        "us-east-1",
        Arc::new(functions(2, seen.clone())),
    )
    .await
    .unwrap();
    let app = weir_serve::router_with(first.invoker(), "us-east-1", Some(first.clone()));
    for m in [first.clone(), second.clone()] {
        tokio::spawn(async move { m.supervise(std::future::pending()).await });
    }
    let arn = "arn:aws:sqs:us-east-1:000000000000:orders";
    let (status, created) = call(
        &app,
        "POST",
        "/2015-03-31/event-source-mappings/",
        Some(json!({
            "EventSourceArn": arn,
            "FunctionName": "f",
            "BatchSize": 5,
            "FilterCriteria": {"Filters": [{"Pattern": "{\"body\": {\"keep\": [true]}}"}]},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    assert_eq!(created["State"], "Creating");
    assert_eq!(created["BatchSize"], 5);
    assert_eq!(
        created["FunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:f"
    );
    let uuid = created["UUID"].as_str().unwrap().to_string();
    // Both supervisors pick the mapping up within a tick (500 ms): each starts a consumer,
    // whose connection then waits in XREADGROUP.
    wait_until!(
        "both consumers polling",
        consumer_connections(&server).await == 2
    );

    let queue = RedisQueue::connect(&server.url(), RedisQueueConfig::new("orders"))
        .await
        .unwrap();
    let bodies: Vec<String> = (0..300)
        .map(|n| format!(r#"{{"n": {n}, "keep": {}}}"#, n % 3 != 0))
        .collect();
    queue.send_batch(&bodies).await.unwrap();
    wait_for(&seen, 200).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !queue.is_empty().await.unwrap() {
        assert!(Instant::now() < deadline, "filtered records not deleted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    {
        let seen = seen.lock().unwrap();
        let mut ns: Vec<i64> = seen
            .iter()
            .map(|(_, r)| {
                serde_json::from_str::<Value>(r["body"].as_str().unwrap()).unwrap()["n"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        ns.sort();
        let want: Vec<i64> = (0..300).filter(|n| n % 3 != 0).collect();
        assert_eq!(ns, want, "each matching record once");
        assert!(
            seen.iter().any(|(p, _)| *p == 1) && seen.iter().any(|(p, _)| *p == 2),
            "both processes consumed"
        );
    }

    let (status, got) = call(
        &app,
        "GET",
        &format!("/2015-03-31/event-source-mappings/{uuid}"),
        None,
    )
    .await;
    assert_eq!((status, &got["State"]), (StatusCode::OK, &json!("Enabled")));
    let (_, listed) = call(
        &app,
        "GET",
        "/2015-03-31/event-source-mappings/?FunctionName=f",
        None,
    )
    .await;
    assert_eq!(listed["EventSourceMappings"].as_array().unwrap().len(), 1);
    let (_, listed) = call(
        &app,
        "GET",
        "/2015-03-31/event-source-mappings/?EventSourceArn=arn:aws:sqs:us-east-1:000000000000:other",
        None,
    )
    .await;
    assert_eq!(listed["EventSourceMappings"], json!([]));
    let (status, deleted) = call(
        &app,
        "DELETE",
        &format!("/2015-03-31/event-source-mappings/{uuid}"),
        None,
    )
    .await;
    assert_eq!(
        (status, &deleted["State"]),
        (StatusCode::ACCEPTED, &json!("Deleting"))
    );
    let (status, missing) = call(
        &app,
        "GET",
        &format!("/2015-03-31/event-source-mappings/{uuid}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing["Message"],
        "The resource you requested does not exist."
    );
    // Deleted: the supervisors stop their consumers (whose connections close), and new
    // messages stay, through a reconciliation of each supervisor (three HGETALLs of the two,
    // ticking every 500 ms, hold one of each).
    wait_until!(
        "both consumers stopped",
        consumer_connections(&server).await == 0
    );
    queue.send(r#"{"keep": true}"#).await.unwrap();
    let calls = hgetall_calls(&server).await;
    wait_until!(
        "a reconciliation of each supervisor",
        hgetall_calls(&server).await >= calls + 3
    );
    assert_eq!(
        consumer_connections(&server).await,
        0,
        "no consumer restarted"
    );
    assert_eq!(queue.len().await.unwrap(), 1);
}

/// (Under a prefix of its own, `weir serve --redis-prefix team1`: the checkpoints set at
/// creation and those the consumer keeps are both `team1:checkpoint:UUID:SHARD`.)
#[tokio::test]
async fn a_stream_mapping_at_latest_reads_only_what_comes_after() {
    let server = Redis::start();
    let seen: Seen = Arc::default();
    let mappings = RedisMappings::connect(
        &server.url(),
        "team1",
        "us-east-1",
        Arc::new(functions(1, seen.clone())),
    )
    .await
    .unwrap();
    let app = weir_serve::router_with(mappings.invoker(), "us-east-1", Some(mappings.clone()));
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("clicks", 2))
        .await
        .unwrap();
    stream.put_record("a", br#"{"old": true}"#).await.unwrap();
    stream.put_record("b", br#"{"old": true}"#).await.unwrap();
    let (status, created) = call(
        &app,
        "POST",
        "/2015-03-31/event-source-mappings/",
        Some(json!({
            "EventSourceArn": "arn:aws:kinesis:us-east-1:000000000000:stream/clicks",
            "FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:f",
            "StartingPosition": "LATEST",
            "MaximumRetryAttempts": 1,
        })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    assert_eq!(created["StartingPosition"], "LATEST");
    assert_eq!(created["MaximumRetryAttempts"], 1);
    tokio::spawn(async move { mappings.supervise(std::future::pending()).await });
    for key in ["a", "b", "c", "d"] {
        stream.put_record(key, br#"{"old": false}"#).await.unwrap();
    }
    wait_for(&seen, 4).await;
    // Every shard checkpointed at its last record: nothing more is to come.
    let uuid = created["UUID"].as_str().unwrap();
    for shard in 0..2 {
        let last = stream.read(shard, None, 100).await.unwrap().pop().unwrap();
        let key = format!("team1:checkpoint:{uuid}:{shard}");
        wait_until!(
            &key,
            redis::cmd("GET")
                .arg(&key)
                .query_async::<Option<String>>(&mut conn(&server).await)
                .await
                .unwrap()
                .as_ref()
                == Some(&last.sequence_number)
        );
    }
    let outside: Vec<String> = redis::cmd("KEYS")
        .arg("weir:*")
        .query_async(&mut conn(&server).await)
        .await
        .unwrap();
    assert_eq!(outside, Vec::<String>::new(), "no key outside the prefix");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|(_, r)| r["eventSource"] == "aws:kinesis"));
}

#[tokio::test]
async fn create_event_source_mapping_validates_as_lambda() {
    let server = Redis::start();
    let mappings = RedisMappings::connect(
        &server.url(),
        "weir",
        "us-east-1",
        Arc::new(functions(1, Seen::default())),
    )
    .await
    .unwrap();
    let app = weir_serve::router_with(mappings.invoker(), "us-east-1", Some(mappings));
    let sqs = "arn:aws:sqs:us-east-1:000000000000:q";
    let cases = [
        (
            json!({"EventSourceArn": sqs, "FunctionName": "nope"}),
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
        ),
        (
            json!({"EventSourceArn": "arn:aws:s3:::bucket", "FunctionName": "f"}),
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
        ),
        (
            json!({"EventSourceArn": sqs, "FunctionName": "f", "BatchSize": 0}),
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
        ),
        (
            json!({"EventSourceArn": sqs, "FunctionName": "f", "BatchSize": 11}),
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
        ),
        (
            json!({"EventSourceArn": sqs, "FunctionName": "f", "MaximumBatchingWindowInSeconds": 301}),
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
        ),
        (
            json!({"EventSourceArn": sqs, "FunctionName": "f", "FilterCriteria": {"Filters": [{"Pattern": "{\"a\": 1}"}]}}),
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
        ),
        (
            json!({"EventSourceArn": sqs, "FunctionName": "f", "FunctionResponseTypes": ["Other"]}),
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
        ),
        (
            json!({"EventSourceArn": "arn:aws:kinesis:us-east-1:000000000000:stream/s", "FunctionName": "f"}),
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
        ),
    ];
    for (body, status, code) in cases {
        let (got, reply) = call(
            &app,
            "POST",
            "/2015-03-31/event-source-mappings/",
            Some(body.clone()),
        )
        .await;
        assert_eq!(got, status, "{body}: {reply}");
        assert_eq!(reply["Type"], "User", "{body}");
        assert!(
            reply["Message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}: {code}"
        );
    }
    let (_, reply) = call(
        &app,
        "POST",
        "/2015-03-31/event-source-mappings/",
        Some(json!({"EventSourceArn": sqs, "FunctionName": "f", "BatchSize": 0})),
    )
    .await;
    assert_eq!(
        reply["Message"],
        "1 validation error detected: Value '0' at 'batchSize' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
    // A window lets an SQS batch exceed 10.
    let (status, _) = call(
        &app,
        "POST",
        "/2015-03-31/event-source-mappings/",
        Some(json!({"EventSourceArn": sqs, "FunctionName": "f", "BatchSize": 100, "MaximumBatchingWindowInSeconds": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Without Redis, weir serve says how to get mappings.
    let plain = weir_serve::router(Arc::new(functions(1, Seen::default())), "us-east-1");
    let (status, reply) = call(&plain, "GET", "/2015-03-31/event-source-mappings/", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(reply["Message"].as_str().unwrap().contains("--redis"));
}

#[tokio::test]
async fn a_queue_mapping_is_refused_when_the_function_outlasts_the_visibility_timeout() {
    let server = Redis::start();
    let mut local = weir_serve::LocalFunctions::new("us-east-1");
    local.insert(
        "slow",
        |_| async { Outcome::Success(Vec::new()) },
        Duration::from_secs(60),
    );
    let from_invoker = RedisMappings::connect(&server.url(), "weir", "us-east-1", Arc::new(local))
        .await
        .unwrap();
    // A router tells its functions' timeouts.
    let router = Router::new();
    router
        .create_function(FunctionConfig::new("r").timeout_seconds(50), |_| async {
            Outcome::Success(Vec::new())
        })
        .unwrap();
    let from_router = RedisMappings::connect(&server.url(), "weir", "us-east-1", Arc::new(router))
        .await
        .unwrap();
    // Timeouts can also be given beside the invoker (they win over its own).
    let given = RedisMappings::connect(
        &server.url(),
        "weir",
        "us-east-1",
        Arc::new(functions(1, Seen::default())),
    )
    .await
    .unwrap()
    .with_function_timeouts([("f".to_string(), Duration::from_secs(45))].into());
    let create = |mappings: RedisMappings, function: &'static str| async move {
        let app = weir_serve::router_with(mappings.invoker(), "us-east-1", Some(mappings));
        call(
            &app,
            "POST",
            "/2015-03-31/event-source-mappings/",
            Some(json!({
                "EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q",
                "FunctionName": function,
            })),
        )
        .await
    };
    // The queue's default visibility timeout, 30 s.
    let (status, reply) = create(from_invoker.clone(), "slow").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["Type"], "User");
    assert_eq!(
        reply["Message"],
        "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"
    );
    let (status, reply) = create(from_router.clone(), "r").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(
        reply["Message"],
        "Queue visibility timeout: 30 seconds is less than Function timeout: 50 seconds"
    );
    let (status, reply) = create(given.clone(), "f").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(
        reply["Message"],
        "Queue visibility timeout: 30 seconds is less than Function timeout: 45 seconds"
    );
    // A visibility timeout as long as the function's is enough.
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("HSET")
        .arg("weir:queues:q")
        .arg("VisibilityTimeout")
        .arg(60)
        .query_async(&mut conn)
        .await
        .unwrap();
    let (status, reply) = create(from_invoker, "slow").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let (status, reply) = create(given, "f").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let (status, reply) = create(from_router, "r").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
}

#[tokio::test]
async fn a_weir_toml_queue_mapping_is_refused_when_the_function_outlasts_the_visibility_timeout() {
    let server = Redis::start();
    let text = |visibility: u64| {
        format!(
            r#"
[Resources.Q]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "orders", VisibilityTimeout = {visibility} }}
Weir = {{ Redis = "{}" }}

[Resources.F]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "f", Timeout = 60 }}

[Resources.M]
Type = "AWS::Lambda::EventSourceMapping"
Properties = {{ EventSourceArn = {{ "Fn::GetAtt" = ["Q", "Arn"] }}, FunctionName = {{ Ref = "F" }} }}
"#,
            server.url()
        )
    };
    let invoker = Arc::new(functions(1, Seen::default()));
    let (_, plan) = weir_serve::redis_config::split(&text(30), ".".as_ref()).unwrap();
    let refused = plan.start(invoker.clone()).await.err().unwrap();
    assert_eq!(
        refused,
        "Resources.M: InvalidParameterValueException: Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"
    );
    let (_, plan) = weir_serve::redis_config::split(&text(60), ".".as_ref()).unwrap();
    let run = plan.start(invoker).await.unwrap();
    run.stop().await;
}

/// A function `g` keeping each record's data, failing every batch holding the data `bad`.
fn failing_on_bad(seen: Arc<Mutex<Vec<String>>>) -> Router {
    use base64::Engine as _;
    let router = Router::new();
    router
        .create_function(FunctionConfig::new("g"), move |i: Invocation| {
            let seen = seen.clone();
            async move {
                let event: Value = serde_json::from_slice(&i.payload).unwrap();
                let data: Vec<String> = event["Records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(r["kinesis"]["data"].as_str().unwrap())
                            .unwrap();
                        String::from_utf8(bytes).unwrap()
                    })
                    .collect();
                if data.iter().any(|d| d == "bad") {
                    return Outcome::Error(weir_route::FunctionError::new("Error", "bad"));
                }
                seen.lock().unwrap().extend(data);
                Outcome::Success(Vec::new())
            }
        })
        .unwrap();
    router
}

/// A request's status, `x-amzn-ErrorType` and body.
async fn call_typed(app: &axum::Router, body: Value) -> (StatusCode, String, Value) {
    let request = Request::builder()
        .method("POST")
        .uri("/2015-03-31/event-source-mappings/")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        error_type,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_mapping_over_http_takes_bisect_parallelization_record_age_and_window() {
    let server = Redis::start();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let mappings = RedisMappings::connect(
        &server.url(),
        "weir",
        "us-east-1",
        Arc::new(failing_on_bad(seen.clone())),
    )
    .await
    .unwrap();
    let app = weir_serve::router_with(mappings.invoker(), "us-east-1", Some(mappings.clone()));
    let stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/clicks";
    let base = json!({
        "EventSourceArn": stream_arn,
        "FunctionName": "g",
        "StartingPosition": "TRIM_HORIZON",
    });
    let with = |extra: Value| {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    // AWS's ranges, with AWS's messages.
    let refused = [
        (
            json!({"ParallelizationFactor": 0}),
            "1 validation error detected: Value '0' at 'parallelizationFactor' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            json!({"ParallelizationFactor": 11}),
            "1 validation error detected: Value '11' at 'parallelizationFactor' failed to satisfy constraint: Member must have value less than or equal to 10",
        ),
        (
            json!({"MaximumRecordAgeInSeconds": -2}),
            "1 validation error detected: Value '-2' at 'maximumRecordAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to -1",
        ),
        (
            json!({"MaximumRecordAgeInSeconds": 604_801}),
            "1 validation error detected: Value '604801' at 'maximumRecordAgeInSeconds' failed to satisfy constraint: Member must have value less than or equal to 604800",
        ),
        (
            json!({"MaximumRecordAgeInSeconds": 59}),
            "MaximumRecordAgeInSeconds must be -1 or between 60 and 604800, not 59",
        ),
        (
            json!({"MaximumBatchingWindowInSeconds": 301}),
            "1 validation error detected: Value '301' at 'maximumBatchingWindowInSeconds' failed to satisfy constraint: Member must have value less than or equal to 300",
        ),
        (
            json!({"BisectBatchOnFunctionError": "yes"}),
            "BisectBatchOnFunctionError must be a boolean",
        ),
        (
            json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q", "StartingPosition": null, "ParallelizationFactor": 2}),
            "Unsupported ParallelizationFactor parameter for the SQS event source type",
        ),
        (
            json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q", "StartingPosition": null, "BisectBatchOnFunctionError": true}),
            "Unsupported BisectBatchOnFunctionError parameter for the SQS event source type",
        ),
    ];
    for (extra, message) in refused {
        let (status, error_type, reply) = call_typed(&app, with(extra.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra}: {reply}");
        assert_eq!(error_type, "InvalidParameterValueException", "{extra}");
        assert_eq!(reply["Message"], message, "{extra}");
    }
    // Defaults, as Lambda reports them for a Kinesis mapping.
    let (status, _, defaults) = call_typed(&app, base.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{defaults}");
    assert_eq!(defaults["ParallelizationFactor"], 1);
    assert_eq!(defaults["MaximumRecordAgeInSeconds"], -1);
    assert_eq!(defaults["BisectBatchOnFunctionError"], false);
    assert_eq!(defaults["MaximumBatchingWindowInSeconds"], 0);
    let (_, deleted) = call(
        &app,
        "DELETE",
        &format!(
            "/2015-03-31/event-source-mappings/{}",
            defaults["UUID"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(deleted["State"], "Deleting");

    let (status, _, created) = call_typed(
        &app,
        with(json!({
            "BatchSize": 6,
            "BisectBatchOnFunctionError": true,
            "ParallelizationFactor": 3,
            "MaximumRecordAgeInSeconds": 3600,
            "MaximumBatchingWindowInSeconds": 0,
            "MaximumRetryAttempts": 0,
            "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:kinesis:us-east-1:000000000000:stream/failures"}},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let uuid = created["UUID"].as_str().unwrap().to_string();
    let (_, got) = call(
        &app,
        "GET",
        &format!("/2015-03-31/event-source-mappings/{uuid}"),
        None,
    )
    .await;
    let (_, listed) = call(
        &app,
        "GET",
        &format!("/2015-03-31/event-source-mappings/?EventSourceArn={stream_arn}"),
        None,
    )
    .await;
    assert_eq!(listed["EventSourceMappings"].as_array().unwrap().len(), 1);
    for reported in [&created, &got, &listed["EventSourceMappings"][0]] {
        assert_eq!(reported["BisectBatchOnFunctionError"], true, "{reported}");
        assert_eq!(reported["ParallelizationFactor"], 3);
        assert_eq!(reported["MaximumRecordAgeInSeconds"], 3600);
        assert_eq!(reported["MaximumBatchingWindowInSeconds"], 0);
    }
    // The running mapping bisects: the bad record alone reaches the OnFailure stream
    // (MaximumRetryAttempts 0), the others the function.
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("clicks", 1))
        .await
        .unwrap();
    for data in ["r0", "r1", "r2", "bad", "r4", "r5"] {
        stream.put_record("k", data.as_bytes()).await.unwrap();
    }
    tokio::spawn(async move { mappings.supervise(std::future::pending()).await });
    let failures = || async {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg("failures")
            .arg("-")
            .arg("+")
            .query_async(&mut conn(&server).await)
            .await
            .unwrap();
        reply
            .ids
            .iter()
            .map(|e| {
                serde_json::from_str::<Value>(
                    &redis::from_redis_value_ref::<String>(&e.map["record"]).unwrap(),
                )
                .unwrap()
            })
            .collect::<Vec<_>>()
    };
    wait_until!(
        "the bad record on the OnFailure stream and the others processed",
        !failures().await.is_empty() && seen.lock().unwrap().len() == 5
    );
    let failures = failures().await;
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["KinesisBatchInfo"]["batchSize"], 1);
    assert_eq!(*seen.lock().unwrap(), ["r0", "r1", "r2", "r4", "r5"]);
}

#[tokio::test]
async fn weir_toml_stream_mappings_take_the_stream_settings_with_aws_ranges() {
    let server = Redis::start();
    let text = |props: &str| {
        format!(
            r#"
[Resources.S]
Type = "AWS::Kinesis::Stream"
Properties = {{ Name = "clicks", ShardCount = 1 }}
Weir = {{ Redis = "{url}" }}

[Resources.Failures]
Type = "AWS::Kinesis::Stream"
Properties = {{ Name = "failures", ShardCount = 1 }}
Weir = {{ Redis = "{url}" }}

[Resources.G]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "g" }}

[Resources.M]
Type = "AWS::Lambda::EventSourceMapping"
Properties = {{ EventSourceArn = {{ "Fn::GetAtt" = ["S", "Arn"] }}, FunctionName = {{ Ref = "G" }}, StartingPosition = "TRIM_HORIZON", {props} }}
"#,
            url = server.url()
        )
    };
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let invoker = Arc::new(failing_on_bad(seen.clone()));
    for (props, error) in [
        (
            "ParallelizationFactor = 11",
            "Resources.M: InvalidParameterValueException: 1 validation error detected: Value '11' at 'parallelizationFactor' failed to satisfy constraint: Member must have value less than or equal to 10",
        ),
        (
            r#"MaximumRecordAgeInSeconds = "30""#,
            "Resources.M: InvalidParameterValueException: MaximumRecordAgeInSeconds must be -1 or between 60 and 604800, not 30",
        ),
        (
            "MaximumBatchingWindowInSeconds = 301",
            "Resources.M: InvalidParameterValueException: 1 validation error detected: Value '301' at 'maximumBatchingWindowInSeconds' failed to satisfy constraint: Member must have value less than or equal to 300",
        ),
    ] {
        let (_, plan) = weir_serve::redis_config::split(&text(props), ".".as_ref()).unwrap();
        assert_eq!(plan.start(invoker.clone()).await.err().unwrap(), error);
    }
    let refused = weir_serve::redis_config::split(
        &text(r#"BisectBatchOnFunctionError = "maybe""#),
        ".".as_ref(),
    )
    .unwrap_err();
    assert_eq!(
        refused,
        "Resources.M.Properties.BisectBatchOnFunctionError: must be true or false"
    );
    // Numbers and booleans as strings too, as in a template.
    let (_, plan) = weir_serve::redis_config::split(
        &text(
            r#"BatchSize = 4, BisectBatchOnFunctionError = "true", ParallelizationFactor = "2", MaximumRecordAgeInSeconds = "60", MaximumRetryAttempts = 0, DestinationConfig = { OnFailure = { Destination = { "Fn::GetAtt" = ["Failures", "Arn"] } } }"#,
        ),
        ".".as_ref(),
    )
    .unwrap();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("clicks", 1))
        .await
        .unwrap();
    for data in ["a", "bad", "c", "d"] {
        stream.put_record("k", data.as_bytes()).await.unwrap();
    }
    let run = plan.start(invoker).await.unwrap();
    run.wait_drained().await.unwrap();
    let counters = run.stop().await;
    // Bisected down to the bad record (given up on at once), the rest processed.
    assert_eq!(counters["M"]["DroppedEventCount"], 1, "{counters:?}");
    assert_eq!(*seen.lock().unwrap(), ["a", "c", "d"]);
    let failures: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("failures")
        .arg("-")
        .arg("+")
        .query_async(&mut conn(&server).await)
        .await
        .unwrap();
    assert_eq!(failures.ids.len(), 1);
}

/// A function `f` throttled (`TooManyRequestsException`) for its first `throttles` calls,
/// then keeping each batch it gets.
struct ThrottledAtFirst {
    throttles: usize,
    calls: Arc<Mutex<usize>>,
    batches: Arc<Mutex<Vec<Vec<Value>>>>,
}

impl weir_serve::Invoker for ThrottledAtFirst {
    fn function_arn(&self, name: &str) -> String {
        format!("arn:aws:lambda:us-east-1:000000000000:function:{name}")
    }
    fn exists(&self, name: &str) -> bool {
        name == "f"
    }
    fn names(&self) -> Vec<String> {
        vec!["f".into()]
    }
    fn invoke(
        &self,
        _: &str,
        _: weir_serve::InvocationType,
        payload: Vec<u8>,
    ) -> weir_serve::InvokeFuture {
        let call = {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            *calls
        };
        if call <= self.throttles {
            return Box::pin(async {
                Err(weir_serve::InvokeError::new(
                    "TooManyRequestsException",
                    429,
                    "Rate Exceeded.",
                ))
            });
        }
        let event: Value = serde_json::from_slice(&payload).unwrap();
        self.batches
            .lock()
            .unwrap()
            .push(event["Records"].as_array().unwrap().clone());
        Box::pin(async { Ok(Some(Outcome::Success(Vec::new()))) })
    }
}

#[tokio::test]
async fn a_throttled_stream_batch_is_retried_whole_without_using_a_retry() {
    let server = Redis::start();
    let calls: Arc<Mutex<usize>> = Arc::default();
    let batches: Arc<Mutex<Vec<Vec<Value>>>> = Arc::default();
    let invoker = ThrottledAtFirst {
        throttles: 3,
        calls: calls.clone(),
        batches: batches.clone(),
    };
    let mappings = RedisMappings::connect(&server.url(), "weir", "us-east-1", Arc::new(invoker))
        .await
        .unwrap();
    let app = weir_serve::router_with(mappings.invoker(), "us-east-1", Some(mappings.clone()));
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("clicks", 1))
        .await
        .unwrap();
    for key in ["a", "b", "c", "d"] {
        stream.put_record(key, b"{}").await.unwrap();
    }
    let (status, created) = call(
        &app,
        "POST",
        "/2015-03-31/event-source-mappings/",
        Some(json!({
            "EventSourceArn": "arn:aws:kinesis:us-east-1:000000000000:stream/clicks",
            "FunctionName": "f",
            "StartingPosition": "TRIM_HORIZON",
            "MaximumRetryAttempts": 0,
            "BisectBatchOnFunctionError": true,
            "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:kinesis:us-east-1:000000000000:stream/failed"}},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    tokio::spawn(async move { mappings.supervise(std::future::pending()).await });
    wait_until!("the batch", !batches.lock().unwrap().is_empty());
    // The whole batch, once, after the throttles: not split, not given up on.
    let uuid = created["UUID"].as_str().unwrap();
    let last = stream.read(0, None, 10).await.unwrap().pop().unwrap();
    let key = format!("weir:checkpoint:{uuid}:0");
    wait_until!(
        &key,
        redis::cmd("GET")
            .arg(&key)
            .query_async::<Option<String>>(&mut conn(&server).await)
            .await
            .unwrap()
            .as_ref()
            == Some(&last.sequence_number)
    );
    let batches = batches.lock().unwrap().clone();
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert_eq!(batches[0].len(), 4);
    assert_eq!(*calls.lock().unwrap(), 4);
    let failed: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("failed")
        .arg("-")
        .arg("+")
        .query_async(&mut conn(&server).await)
        .await
        .unwrap();
    assert!(failed.ids.is_empty(), "given up on: {:?}", failed.ids);
}

/// Two weirs running one weir.toml on one Redis under two prefixes (`--redis-prefix`): the
/// file's stream mapping has one id in both, yet each reads every record from checkpoints
/// of its own, `PREFIX:checkpoint:UUID:SHARD`, and holds its own leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weir_toml_stream_mapping_keeps_its_checkpoints_and_leases_under_the_prefix() {
    let server = Redis::start();
    let text = format!(
        r#"
[Resources.S]
Type = "AWS::Kinesis::Stream"
Properties = {{ Name = "clicks", ShardCount = 1 }}
Weir = {{ Redis = "{url}" }}

[Resources.G]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "g" }}

[Resources.M]
Type = "AWS::Lambda::EventSourceMapping"
Properties = {{ EventSourceArn = {{ "Fn::GetAtt" = ["S", "Arn"] }}, FunctionName = {{ Ref = "G" }}, StartingPosition = "TRIM_HORIZON" }}
"#,
        url = server.url()
    );
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("clicks", 1))
        .await
        .unwrap();
    for data in ["a", "b", "c"] {
        stream.put_record("k", data.as_bytes()).await.unwrap();
    }
    let last = stream.read(0, None, 10).await.unwrap().pop().unwrap();
    let get = |key: String| {
        let server = &server;
        async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<String>>(&mut conn(server).await)
                .await
                .unwrap()
        }
    };
    // The default prefix first: its checkpoint is where weir always kept it.
    let (_, plan) = weir_serve::redis_config::split(&text, ".".as_ref()).unwrap();
    let seen_weir: Arc<Mutex<Vec<String>>> = Arc::default();
    let run_weir = plan
        .start(Arc::new(failing_on_bad(seen_weir.clone())))
        .await
        .unwrap();
    run_weir.wait_drained().await.unwrap();
    assert_eq!(*seen_weir.lock().unwrap(), ["a", "b", "c"]);
    assert_eq!(
        get("weir:checkpoint:weir-M:0".into()).await,
        Some(last.sequence_number.clone())
    );
    // Then, while the first still holds the shard, another under "team1".
    let (_, mut plan) = weir_serve::redis_config::split(&text, ".".as_ref()).unwrap();
    plan.set_prefix("team1");
    let seen_team1: Arc<Mutex<Vec<String>>> = Arc::default();
    let run_team1 = plan
        .start(Arc::new(failing_on_bad(seen_team1.clone())))
        .await
        .unwrap();
    run_team1.wait_drained().await.unwrap();
    assert_eq!(
        *seen_team1.lock().unwrap(),
        ["a", "b", "c"],
        "read from its own checkpoint, not the other's"
    );
    assert_eq!(
        get("team1:checkpoint:weir-M:0".into()).await,
        Some(last.sequence_number)
    );
    let (weir_lease, team1_lease) = (
        get("weir:lease:weir-M:0".into()).await,
        get("team1:lease:weir-M:0".into()).await,
    );
    assert!(weir_lease.is_some() && team1_lease.is_some());
    assert_ne!(weir_lease, team1_lease, "each holds a lease of its own");
    run_team1.stop().await;
    run_weir.stop().await;
    assert_eq!(*seen_weir.lock().unwrap(), ["a", "b", "c"], "nothing twice");
}
