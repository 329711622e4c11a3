//! A `weir.toml` whose functions' asynchronous invocation queues and destinations are on
//! Redis (`Weir = { Redis = ... }`): an Event invocation stored on Redis and worked there with
//! the function's EventInvokeConfig, its OnFailure record (after its retries) on a Redis
//! stream, its OnSuccess record on a Redis queue, an in-memory invocation's OnFailure and
//! dead-letter queue on Redis, an in-memory mapping's OnFailure on Redis, and the errors of a
//! bad configuration. Against a Redis server of the test's own.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::streams::StreamRangeReply;
use serde_json::{json, Value};
use support::redis::Redis;
use weir_route::config::{Config, Deployment};
use weir_route::{InvocationType, Router};
use weir_serve::redis_config::{split, RedisLayer};
use weir_serve::RedisStream;

/// Builds a weir.toml as `weir run` does: Redis resources attached first, then the rest.
async fn build(text: &str, dir: &Path) -> Result<(Router, RedisLayer, Deployment), String> {
    let (rest, plan) = split(text, dir)?;
    let router = Router::new();
    let mut layer = plan.attach(&router).await?;
    let config = Config::parse(&rest, dir).map_err(|e| e.to_string())?;
    let deployment = config.build(&router, true).map_err(|e| e.to_string())?;
    layer.start(Arc::new(router.clone()));
    Ok((router, layer, deployment))
}

async fn conn(server: &Redis) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The entries of a Redis queue's stream (the queue's name), each field by name.
async fn queue_entries(server: &Redis, queue: &str) -> Vec<serde_json::Map<String, Value>> {
    let reply: StreamRangeReply = redis::cmd("XRANGE")
        .arg(queue)
        .arg("-")
        .arg("+")
        .query_async(&mut conn(server).await)
        .await
        .unwrap();
    reply
        .ids
        .iter()
        .map(|e| {
            e.map
                .iter()
                .map(|(k, v)| {
                    let text: String = redis::from_redis_value_ref(v).unwrap();
                    (k.clone(), Value::String(text))
                })
                .collect()
        })
        .collect()
}

/// A Redis queue's message bodies, as JSON.
async fn queue_bodies(server: &Redis, queue: &str) -> Vec<Value> {
    queue_entries(server, queue)
        .await
        .iter()
        .map(|m| serde_json::from_str(m["body"].as_str().unwrap()).unwrap())
        .collect()
}

/// A Redis stream's records (every shard), as JSON.
async fn stream_records(server: &Redis, stream: &str) -> Vec<Value> {
    let stream = RedisStream::open(&server.url(), stream).await.unwrap();
    let mut out = Vec::new();
    for shard in 0..stream.config().shard_count {
        for r in stream.read(shard, None, 1000).await.unwrap() {
            out.push(serde_json::from_slice(&r.data).unwrap());
        }
    }
    out
}

/// Polls `check` until it answers something, for up to `seconds`.
async fn eventually<T, F, Fut>(seconds: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Nanosecond times the command wrote, one a line.
fn times(dir: &Path) -> Vec<u128> {
    std::fs::read_to_string(dir.join("times"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_event_on_the_redis_queue_is_retried_then_recorded_on_a_redis_stream() {
    let server = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let text = format!(
        r#"
[Resources.Failed]
Type = "AWS::Kinesis::Stream"
Properties = {{ Name = "failed", ShardCount = 2 }}
Weir = {{ Redis = "{url}" }}

[Resources.Charge]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "charge", Timeout = 5, EventInvokeConfig = {{ MaximumRetryAttempts = 1, MaximumEventAgeInSeconds = 600, DestinationConfig = {{ OnFailure = {{ Destination = {{ "Fn::GetAtt" = ["Failed", "Arn"] }} }} }} }} }}
Weir = {{ Command = ["sh", "-c", "date +%s%N >> times; echo declined >&2; exit 3"], Redis = "{url}", RetryDelays = [1, 1] }}
"#
    );
    // Accepted while no worker runs: the event is on Redis, not in this process.
    let (rest, plan) = split(&text, dir.path()).unwrap();
    let router = Router::new();
    let mut layer = plan.attach(&router).await.unwrap();
    Config::parse(&rest, dir.path())
        .unwrap()
        .build(&router, true)
        .unwrap();
    let out = router
        .invoke("charge", InvocationType::Event, br#"{"order": 7}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(out.status_code, 202);
    assert_eq!(layer.pending().await.unwrap(), 1);
    let stored: Vec<String> = redis::cmd("HVALS")
        .arg("weir:async:charge:items")
        .query_async(&mut conn(&server).await)
        .await
        .unwrap();
    let item: Value = serde_json::from_str(&stored[0]).unwrap();
    assert_eq!(item["function"], "charge");
    assert_eq!(item["settings"]["maximum_retry_attempts"], 1);
    assert_eq!(item["settings"]["maximum_event_age_ms"], 600_000);
    assert_eq!(item["settings"]["retry_delays_ms"], json!([1000, 1000]));
    assert!(times(dir.path()).is_empty());

    layer.start(Arc::new(router.clone()));
    let records = eventually(30, "the OnFailure record", || async {
        let r = stream_records(&server, "failed").await;
        (!r.is_empty()).then_some(r)
    })
    .await;
    layer.wait_done().await.unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        record["requestContext"],
        json!({
            "requestId": out.request_id,
            "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:charge:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 2,
        })
    );
    assert_eq!(record["version"], "1.0");
    assert_eq!(record["requestPayload"], json!({"order": 7}));
    assert_eq!(
        record["responseContext"]["functionError"], "Unhandled",
        "{record}"
    );
    // One invocation and one retry (MaximumRetryAttempts 1), a second apart (RetryDelays).
    let t = times(dir.path());
    assert_eq!(t.len(), 2, "{t:?}");
    assert!(t[1] - t[0] >= 1_000_000_000, "{t:?}");
    let metrics = router.function_metrics("charge").unwrap();
    assert_eq!(metrics.async_events_received, 1);
    assert_eq!(metrics.async_events_dropped, 1);
    assert_eq!(metrics.destination_delivery_failures, 0);
    layer.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_success_on_the_redis_queue_is_recorded_on_a_redis_queue_and_bus_events_reach_it_and_a_redis_queue_target(
) {
    let server = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    std::fs::write(
        dir.path().join("events.jsonl"),
        "{\"source\": \"shop\", \"detail\": {\"n\": 1}}\n{\"source\": \"other\", \"detail\": {\"n\": 2}}\n",
    )
    .unwrap();
    let text = format!(
        r#"
[Resources.Done]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "done" }}
Weir = {{ Redis = "{url}" }}

[Resources.Echo]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "echo", EventInvokeConfig = {{ DestinationConfig = {{ OnSuccess = {{ Destination = {{ Ref = "Done" }} }} }} }} }}
Weir = {{ Command = ["cat"], Redis = "{url}" }}

[Resources.Shop]
Type = "AWS::Events::Rule"
Properties = {{ EventPattern = {{ source = ["shop"] }}, Targets = [{{ Id = "echo", Arn = {{ "Fn::GetAtt" = ["Echo", "Arn"] }} }}, {{ Id = "log", Arn = {{ "Fn::GetAtt" = ["Log", "Arn"] }} }}] }}

[Resources.Log]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "log" }}
Weir = {{ Redis = "{url}" }}

[Resources.Bus]
Type = "AWS::Events::EventBus"
Properties = {{ Name = "default" }}
Weir = {{ Events = "events.jsonl" }}
"#
    );
    let (router, layer, deployment) = build(&text, dir.path()).await.unwrap();
    deployment.feed(&router).await.unwrap();
    let bodies = eventually(30, "the OnSuccess record", || async {
        let b = queue_bodies(&server, "done").await;
        (!b.is_empty()).then_some(b)
    })
    .await;
    layer.wait_done().await.unwrap();
    router.wait_idle().await;
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let record = &bodies[0];
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(
        record["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:echo:$LATEST"
    );
    assert_eq!(record["requestPayload"]["detail"], json!({"n": 1}));
    assert_eq!(record["responsePayload"], record["requestPayload"]);
    assert_eq!(
        record["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST"})
    );
    // The rule's queue target on Redis got the event itself.
    let logged = queue_bodies(&server, "log").await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0]["detail"], json!({"n": 1}));
    let rule = router.rule_metrics("default", "Shop").unwrap();
    assert_eq!((rule.matched_events, rule.invocations), (1, 2));
    assert_eq!(rule.failed_invocations, 0);
    layer.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_in_memory_event_sends_its_failure_and_dead_letter_to_redis() {
    let server = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let text = format!(
        r#"
[Resources.Failures]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "failures" }}
Weir = {{ Redis = "{url}" }}

[Resources.Dlq]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "dlq" }}
Weir = {{ Redis = "{url}" }}

[Resources.Fail]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "fail", DeadLetterConfig = {{ TargetArn = {{ "Fn::GetAtt" = ["Dlq", "Arn"] }} }}, EventInvokeConfig = {{ MaximumRetryAttempts = 0, DestinationConfig = {{ OnFailure = {{ Destination = "arn:aws:sqs:us-east-1:000000000000:failures" }} }} }} }}
Weir = {{ Command = ["sh", "-c", "echo nope >&2; exit 1"] }}
"#
    );
    let (router, layer, _) = build(&text, dir.path()).await.unwrap();
    assert!(!router.has_event_queue("fail"));
    let out = router
        .invoke("fail", InvocationType::Event, br#"{"id": 3}"#.to_vec())
        .await
        .unwrap();
    // The in-memory queue waits for the Redis writes before it is idle.
    router.wait_idle().await;
    let failures = queue_bodies(&server, "failures").await;
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0]["requestContext"]["condition"],
        "RetriesExhausted"
    );
    assert_eq!(failures[0]["requestContext"]["requestId"], out.request_id);
    assert_eq!(failures[0]["requestPayload"], json!({"id": 3}));
    let dead = queue_entries(&server, "dlq").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["body"], r#"{"id": 3}"#);
    assert_eq!(dead[0]["attr.RequestID"], out.request_id.as_str());
    assert_eq!(dead[0]["attr.ErrorCode"], "200");
    assert!(
        dead[0]["attr.ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("nope"),
        "{dead:?}"
    );
    let metrics = router.function_metrics("fail").unwrap();
    assert_eq!(
        (
            metrics.dead_letter_errors,
            metrics.destination_delivery_failures
        ),
        (0, 0)
    );
    layer.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_in_memory_mapping_sends_its_on_failure_record_to_redis() {
    let server = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    std::fs::write(dir.path().join("clicks.jsonl"), "{\"k\": 1}\n{\"k\": 2}\n").unwrap();
    let text = format!(
        r#"
[Resources.Lost]
Type = "AWS::Kinesis::Stream"
Properties = {{ Name = "lost" }}
Weir = {{ Redis = "{url}" }}

[Resources.Clicks]
Type = "AWS::Kinesis::Stream"
Properties = {{ Name = "clicks" }}
Weir = {{ Records = "clicks.jsonl" }}

[Resources.Count]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "count" }}
Weir = {{ Command = ["sh", "-c", "exit 1"] }}

[Resources.ClicksToCount]
Type = "AWS::Lambda::EventSourceMapping"
Properties = {{ FunctionName = {{ Ref = "Count" }}, EventSourceArn = {{ "Fn::GetAtt" = ["Clicks", "Arn"] }}, StartingPosition = "TRIM_HORIZON", MaximumRetryAttempts = 0, DestinationConfig = {{ OnFailure = {{ Destination = {{ "Fn::GetAtt" = ["Lost", "Arn"] }} }} }} }}
"#
    );
    let (router, layer, deployment) = build(&text, dir.path()).await.unwrap();
    deployment.feed(&router).await.unwrap();
    router.wait_idle().await;
    // The two records, in one batch or two (as the feed and the poller meet), each batch
    // recorded once.
    let records = stream_records(&server, "lost").await;
    assert!(!records.is_empty() && records.len() <= 2, "{records:?}");
    let mut batched = 0;
    for record in &records {
        assert_eq!(
            record["requestContext"]["condition"],
            "RetryAttemptsExhausted"
        );
        assert_eq!(record["responseContext"]["functionError"], "Unhandled");
        assert_eq!(
            record["KinesisBatchInfo"]["streamArn"],
            "arn:aws:kinesis:us-east-1:000000000000:stream/clicks"
        );
        batched += record["KinesisBatchInfo"]["batchSize"].as_u64().unwrap();
    }
    assert_eq!(batched, 2);
    let (_, uuid) = &deployment.mappings[0];
    let metrics = router.mapping_metrics(uuid).unwrap();
    assert_eq!((metrics.dropped, metrics.on_failure_delivered), (2, 2));
    layer.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_redis_configuration_is_refused_naming_the_resource_and_property() {
    let dir = tempfile::tempdir().unwrap();
    let function = |weir: &str, props: &str| {
        format!(
            r#"
[Resources.F]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "f"{props} }}
Weir = {{ Command = ["cat"]{weir} }}
"#
        )
    };
    // A URL that does not parse.
    let err = split(
        &function(r#", Redis = "http://127.0.0.1:1/""#, ""),
        dir.path(),
    )
    .unwrap_err();
    assert!(
        err.starts_with(r#"Resources.F.Weir.Redis: "http://127.0.0.1:1/" is not a Redis URL"#),
        "{err}"
    );
    let err = split(&function(", Redis = 5", ""), dir.path()).unwrap_err();
    assert_eq!(err, "Resources.F.Weir.Redis: must be a redis:// URL");
    // Redis unreachable at the start.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = function(&format!(r#", Redis = "redis://127.0.0.1:{port}/""#), "");
    let (_, plan) = split(&text, dir.path()).unwrap();
    let err = plan.attach(&Router::new()).await.err().unwrap();
    assert!(
        err.starts_with(&format!(
            "Resources.F.Weir.Redis: cannot connect to redis://127.0.0.1:{port}/: "
        )),
        "{err}"
    );
    // A destination naming a resource that does not exist.
    let server = Redis::start();
    let url = server.url();
    let missing = function(
        &format!(r#", Redis = "{url}""#),
        r#", EventInvokeConfig = { DestinationConfig = { OnFailure = { Destination = { Ref = "Gone" } } } }"#,
    );
    let err = build(&missing, dir.path()).await.err().unwrap();
    assert_eq!(
        err,
        "Resources.F.Properties.EventInvokeConfig.DestinationConfig.OnFailure.Destination: no resource Gone"
    );
    let by_arn = function(
        "",
        r#", EventInvokeConfig = { DestinationConfig = { OnSuccess = { Destination = "arn:aws:kinesis:us-east-1:000000000000:stream/gone" } } }"#,
    );
    let err = build(&by_arn, dir.path()).await.err().unwrap();
    assert_eq!(
        err,
        "Resources.F.Properties.EventInvokeConfig.DestinationConfig.OnSuccess.Destination: \
         the stream gone does not exist"
    );
    // RetryDelays must be two numbers of seconds.
    let err = build(&function(", RetryDelays = [1]", ""), dir.path())
        .await
        .err()
        .unwrap();
    assert!(
        err.starts_with("Resources.F.Weir.RetryDelays: must be two whole numbers of seconds"),
        "{err}"
    );
    // Weir.Redis on a resource that cannot live there.
    let err = split(
        &format!(
            "[Resources.B]\nType = \"AWS::Events::EventBus\"\nProperties = {{ Name = \"b\" }}\nWeir = {{ Redis = \"{url}\" }}\n"
        ),
        dir.path(),
    )
    .unwrap_err();
    assert!(
        err.starts_with("Resources.B.Weir.Redis: only queues, streams and functions'"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn weir_serve_redis_leaves_a_weir_toml_functions_events_on_its_own_queue() {
    use weir_serve::{DurableInvoker, InvocationType as Kind, Invoker, RedisAsyncConfig};
    let server = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let text = format!(
        r#"
[Resources.Own]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "own", EventInvokeConfig = {{ MaximumRetryAttempts = 0 }} }}
Weir = {{ Command = ["cat"], Redis = "{url}" }}

[Resources.Plain]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "plain" }}
Weir = {{ Command = ["cat"] }}
"#
    );
    let (rest, plan) = split(&text, dir.path()).unwrap();
    let router = Router::new();
    // No worker runs: what each invocation left on Redis stays there to be looked at.
    let _layer = plan.attach(&router).await.unwrap();
    Config::parse(&rest, dir.path())
        .unwrap()
        .build(&router, true)
        .unwrap();
    let shared = weir_serve::RedisAsyncQueue::connect(&url, RedisAsyncConfig::new("weir:async"))
        .await
        .unwrap();
    let durable = DurableInvoker::new(Arc::new(router.clone()), shared.clone());
    assert!(durable.queues_events("own") && !durable.queues_events("plain"));
    for name in ["own", "plain"] {
        let out = durable
            .invoke(name, Kind::Event, b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(out, None);
    }
    let count = |key: &'static str| {
        let server = &server;
        async move {
            let n: usize = redis::cmd("HLEN")
                .arg(key)
                .query_async(&mut conn(server).await)
                .await
                .unwrap();
            n
        }
    };
    // The weir.toml function's event is on its own queue, with its settings; the other on
    // weir serve's shared one.
    assert_eq!(count("weir:async:own:items").await, 1);
    assert_eq!(count("weir:async:items").await, 1);
    let stored: Vec<String> = redis::cmd("HVALS")
        .arg("weir:async:own:items")
        .query_async(&mut conn(&server).await)
        .await
        .unwrap();
    let item: Value = serde_json::from_str(&stored[0]).unwrap();
    assert_eq!(item["settings"]["maximum_retry_attempts"], 0);
    assert_eq!(
        router
            .function_metrics("own")
            .unwrap()
            .async_events_received,
        1
    );
}

/// Waiting for a function's Redis queue to empty ends with an error naming the function once
/// its Redis has been gone for the layer's patience, instead of waiting forever.
#[tokio::test(flavor = "multi_thread")]
async fn waiting_for_the_redis_queues_gives_up_with_an_error_when_redis_goes_away() {
    let mut server = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let text = format!(
        r#"
[Resources.Slow]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "slow" }}
Weir = {{ Command = ["sh", "-c", "exit 1"], Redis = "{url}", RetryDelays = [60, 60] }}
"#
    );
    let (router, mut layer, _deployment) = build(&text, dir.path()).await.unwrap();
    layer.set_patience(Duration::from_secs(1));
    router
        .invoke("slow", InvocationType::Event, b"{}".to_vec())
        .await
        .unwrap();
    server.kill();
    let started = Instant::now();
    let waited = tokio::time::timeout(Duration::from_secs(20), layer.wait_done())
        .await
        .expect("wait_done gave up within its patience");
    let error = waited.unwrap_err();
    assert!(
        error.contains("the asynchronous queue of function slow on Redis"),
        "{error}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1), "{error}");
    // What bounds weir run's wait for the router (whose bus deliveries retry a refusing Redis).
    let error = tokio::time::timeout(Duration::from_secs(20), layer.unreachable())
        .await
        .expect("unreachable answered within its patience");
    assert!(
        error.contains("the asynchronous queue of function slow on Redis"),
        "{error}"
    );
    layer.stop().await;
}

/// A weir.toml naming one queue, stream or function twice, once or twice on Redis, is refused
/// naming both resources.
#[test]
fn a_name_used_twice_with_redis_is_refused_naming_both_resources() {
    let dir = tempfile::tempdir().unwrap();
    let url = "redis://127.0.0.1:1/";
    let two = |kind: &str, key: &str, first: &str, second: &str| {
        format!(
            "[Resources.A]\nType = \"{kind}\"\nProperties = {{ {key} = \"same\" }}\n{first}\n\
             [Resources.B]\nType = \"{kind}\"\nProperties = {{ {key} = \"same\" }}\n{second}\n"
        )
    };
    let redis = format!("Weir = {{ Redis = \"{url}\" }}");
    let function_redis = format!("Weir = {{ Command = [\"cat\"], Redis = \"{url}\" }}");
    let function_memory = "Weir = { Command = [\"cat\"] }".to_string();
    for (text, key, what, (a, b)) in [
        (
            two("AWS::SQS::Queue", "QueueName", &redis, ""),
            "QueueName",
            "queue",
            ("on Redis", "in memory"),
        ),
        (
            two("AWS::SQS::Queue", "QueueName", &redis, &redis),
            "QueueName",
            "queue",
            ("on Redis", "on Redis"),
        ),
        (
            two("AWS::Kinesis::Stream", "Name", "", &redis),
            "Name",
            "stream",
            ("in memory", "on Redis"),
        ),
        (
            two(
                "AWS::Lambda::Function",
                "FunctionName",
                &function_redis,
                &function_memory,
            ),
            "FunctionName",
            "function",
            ("on Redis", "in memory"),
        ),
    ] {
        let err = split(&text, dir.path()).unwrap_err();
        assert_eq!(
            err,
            format!(
                "Resources.B.Properties.{key}: the {what} same ({b}) is also Resources.A ({a}); \
                 a {what}'s name must be unique"
            ),
            "{text}"
        );
    }
    // A name given by the logical id counts too.
    let text = format!(
        "[Resources.jobs]\nType = \"AWS::SQS::Queue\"\n{redis}\n\
         [Resources.Other]\nType = \"AWS::SQS::Queue\"\nProperties = {{ QueueName = \"jobs\" }}\n"
    );
    let err = split(&text, dir.path()).unwrap_err();
    assert_eq!(
        err,
        "Resources.jobs: the queue jobs (on Redis, named by its logical id) is also \
         Resources.Other (in memory); a queue's name must be unique"
    );
    // Same names wholly in memory are left to the invocation layer; a queue and a stream
    // may share a name.
    assert!(split(&two("AWS::SQS::Queue", "QueueName", "", ""), dir.path()).is_ok());
    let mixed = format!(
        "[Resources.A]\nType = \"AWS::SQS::Queue\"\nProperties = {{ QueueName = \"same\" }}\n{redis}\n\
         [Resources.B]\nType = \"AWS::Kinesis::Stream\"\nProperties = {{ Name = \"same\" }}\n{redis}\n"
    );
    assert!(split(&mixed, dir.path()).is_ok());
}

/// Under another prefix (`--redis-prefix`), a function's asynchronous queue is
/// `PREFIX:async:NAME`, not `weir:async:NAME`, and is worked there.
#[tokio::test(flavor = "multi_thread")]
async fn a_functions_redis_queue_follows_the_prefix() {
    let server = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let text = format!(
        r#"
[Resources.Echo]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "echo" }}
Weir = {{ Command = ["cat"], Redis = "{url}" }}
"#
    );
    let (rest, mut plan) = split(&text, dir.path()).unwrap();
    plan.set_prefix("team1");
    let router = Router::new();
    let mut layer = plan.attach(&router).await.unwrap();
    Config::parse(&rest, dir.path())
        .unwrap()
        .build(&router, true)
        .unwrap();
    router
        .invoke("echo", InvocationType::Event, b"{}".to_vec())
        .await
        .unwrap();
    let mut conn = conn(&server).await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(keys, ["team1:async:echo:due", "team1:async:echo:items"]);
    let held: usize = redis::cmd("HLEN")
        .arg("team1:async:echo:items")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(held, 1);
    layer.start(Arc::new(router.clone()));
    layer.wait_done().await.unwrap();
    let held: usize = redis::cmd("HLEN")
        .arg("team1:async:echo:items")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(held, 0);
    layer.stop().await;
}
