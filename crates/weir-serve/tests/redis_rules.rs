//! EventBridge buses and rules kept on Redis: two weir serve processes (two services here) share the
//! rules and targets one of them put, and a new one (a restart) finds them.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use support::redis::Redis;
use tower::ServiceExt;
use weir_route::{Invocation, Outcome};
use weir_serve::{LocalFunctions, Service};

async fn events(app: &axum::Router, operation: &str, body: Value) -> Value {
    let request = Request::post("/")
        .header("x-amz-target", format!("AWSEvents.{operation}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

async fn service(url: &str, seen: Arc<Mutex<Vec<Value>>>) -> axum::Router {
    let mut functions = LocalFunctions::new("us-east-1");
    functions.insert(
        "keep",
        move |i: Invocation| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&i.payload).unwrap());
                Outcome::Success(Vec::new())
            }
        },
        Duration::from_secs(3),
    );
    Service::new(Arc::new(functions), "us-east-1")
        .rules_on_redis(url, "weir")
        .await
        .unwrap()
        .router()
}

#[tokio::test]
async fn rules_put_by_one_process_route_events_in_another_and_outlive_both() {
    let server = Redis::start();
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let first = service(&server.url(), seen.clone()).await;
    let second = service(&server.url(), seen.clone()).await;
    let pattern = r#"{"detail": {"total": [{"numeric": [">", 100]}]}}"#;
    events(
        &first,
        "PutRule",
        json!({"Name": "big", "EventPattern": pattern}),
    )
    .await;
    events(
        &first,
        "PutTargets",
        json!({"Rule": "big", "Targets": [{"Id": "t", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:keep"}]}),
    )
    .await;
    let listed = events(&second, "ListRules", json!({})).await;
    assert_eq!(listed["Rules"][0]["Name"], "big");
    assert_eq!(listed["Rules"][0]["EventPattern"], pattern);
    let put = events(
        &second,
        "PutEvents",
        json!({"Entries": [
            {"Source": "s", "DetailType": "t", "Detail": r#"{"total": 101}"#},
            {"Source": "s", "DetailType": "t", "Detail": r#"{"total": 1}"#},
        ]}),
    )
    .await;
    assert_eq!(put["FailedEntryCount"], 0);
    for _ in 0..100 {
        if !seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0]["detail"], json!({"total": 101}));
    }
    // A restarted process finds the rule and its targets.
    let third = service(&server.url(), seen.clone()).await;
    let targets = events(&third, "ListTargetsByRule", json!({"Rule": "big"})).await;
    assert_eq!(targets["Targets"][0]["Id"], "t");
    // A change in one is seen by the others.
    events(&third, "DeleteRule", json!({"Name": "big", "Force": true})).await;
    assert_eq!(
        events(&first, "ListRules", json!({})).await,
        json!({"Rules": []})
    );
    assert_eq!(
        events(&second, "ListRules", json!({})).await,
        json!({"Rules": []})
    );
}

/// The fields of every entry of Redis stream `key`, in order.
async fn entries(url: &str, key: &str) -> Vec<std::collections::HashMap<String, String>> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    reply
        .ids
        .into_iter()
        .map(|e| {
            e.map
                .into_iter()
                .map(|(k, v)| (k, redis::from_redis_value::<String>(v).unwrap()))
                .collect()
        })
        .collect()
}

/// Polls `key` until it has `count` entries or 10 s pass.
async fn wait_entries(
    url: &str,
    key: &str,
    count: usize,
) -> Vec<std::collections::HashMap<String, String>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = entries(url, key).await;
        if got.len() >= count || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn buses_on_redis_are_shared_and_their_queue_stream_and_dead_letter_targets_are_redis_ones() {
    let server = Redis::start();
    let url = server.url();
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let first = service(&url, seen.clone()).await;
    let second = service(&url, seen.clone()).await;
    // The stream targets put to (its producer creates it: targets never do).
    weir_serve::RedisStream::connect(&url, weir_serve::RedisStreamConfig::new("clicks", 1))
        .await
        .unwrap();
    let created = events(
        &first,
        "CreateEventBus",
        json!({"Name": "shop", "Description": "orders"}),
    )
    .await;
    assert_eq!(
        created["EventBusArn"],
        "arn:aws:events:us-east-1:000000000000:event-bus/shop"
    );
    // The other process sees it, and cannot create it again.
    let listed = events(&second, "ListEventBuses", json!({})).await;
    let names: Vec<&str> = listed["EventBuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "shop"]);
    assert_eq!(
        events(&second, "CreateEventBus", json!({"Name": "shop"})).await["__type"],
        "ResourceAlreadyExistsException"
    );
    assert_eq!(
        events(&second, "DescribeEventBus", json!({"Name": "shop"})).await["Description"],
        "orders"
    );
    events(
        &second,
        "PutRule",
        json!({"Name": "all", "EventBusName": "shop", "EventPattern": r#"{"source": ["shop"]}"#}),
    )
    .await;
    let put = events(
        &second,
        "PutTargets",
        json!({"Rule": "all", "EventBusName": "shop", "Targets": [
            {"Id": "queue", "Arn": "arn:aws:sqs:us-east-1:000000000000:orders", "InputPath": "$.detail"},
            {"Id": "stream", "Arn": "arn:aws:kinesis:us-east-1:000000000000:stream/clicks",
             "KinesisParameters": {"PartitionKeyPath": "$.detail.user"}},
            {"Id": "gone", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:gone",
             "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:000000000000:dead"}},
        ]}),
    )
    .await;
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    // The first process routes events with the rule the second put.
    let reply = events(
        &first,
        "PutEvents",
        json!({"Entries": [{"Source": "shop", "DetailType": "order", "EventBusName": "shop",
            "Detail": r#"{"user": "bo", "n": 3}"#}]}),
    )
    .await;
    assert_eq!(reply["FailedEntryCount"], 0, "{reply}");
    let id = reply["Entries"][0]["EventId"].as_str().unwrap().to_string();
    // The queue target is the Redis queue `orders` (a stream of `body` fields).
    let queued = wait_entries(&url, "orders", 1).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&queued[0]["body"]).unwrap(),
        json!({"user": "bo", "n": 3})
    );
    // The stream target is the Redis stream `clicks`, keyed by the partition key path.
    let stream = weir_serve::RedisStream::open(&url, "clicks").await.unwrap();
    let records = stream.read(0, None, 10).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].partition_key, "bo");
    let data: Value = serde_json::from_slice(&records[0].data).unwrap();
    assert_eq!(data["id"], id.as_str());
    // The missing function's event is dead-lettered on Redis with EventBridge's attributes.
    let dead = wait_entries(&url, "dead", 1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&dead[0]["body"]).unwrap()["id"],
        id.as_str()
    );
    assert_eq!(dead[0]["attr.ERROR_CODE"], "ResourceNotFoundException");
    assert_eq!(
        dead[0]["attr.RULE_ARN"],
        "arn:aws:events:us-east-1:000000000000:rule/shop/all"
    );
    assert_eq!(
        dead[0]["attr.TARGET_ARN"],
        "arn:aws:lambda:us-east-1:000000000000:function:gone"
    );
    assert_eq!(dead[0]["attr.RETRY_ATTEMPTS"], "0");

    // A restarted process finds the bus and its rule; a deletion is seen by all.
    let third = service(&url, seen.clone()).await;
    let rules = events(&third, "ListRules", json!({"EventBusName": "shop"})).await;
    assert_eq!(rules["Rules"][0]["Name"], "all");
    assert_eq!(
        events(&third, "DeleteEventBus", json!({"Name": "shop"})).await,
        json!({})
    );
    for app in [&first, &second] {
        assert_eq!(
            events(app, "DescribeEventBus", json!({"Name": "shop"})).await["__type"],
            "ResourceNotFoundException"
        );
    }
    // Recreated, it has none of the old rules.
    events(&first, "CreateEventBus", json!({"Name": "shop"})).await;
    assert_eq!(
        events(&second, "ListRules", json!({"EventBusName": "shop"})).await,
        json!({"Rules": []})
    );
}

#[tokio::test]
async fn a_weir_toml_bus_is_listed_beside_the_redis_ones_and_takes_rules_but_is_not_deleted() {
    let server = Redis::start();
    let layer = weir_route::Router::new();
    layer.create_event_bus("orders").unwrap();
    let queue = layer
        .create_queue(weir_route::QueueConfig::new("inbox"))
        .unwrap();
    let app = Service::new(Arc::new(layer.clone()), "us-east-1")
        .event_buses(layer.clone())
        .rules_on_redis(&server.url(), "weir")
        .await
        .unwrap()
        .router();
    events(&app, "CreateEventBus", json!({"Name": "api"})).await;
    let listed = events(&app, "ListEventBuses", json!({})).await;
    let names: Vec<&str> = listed["EventBuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "default", "orders"]);
    assert_eq!(
        events(&app, "DeleteEventBus", json!({"Name": "orders"})).await["__type"],
        "ValidationException"
    );
    // A rule put over the API on the weir.toml's bus, its target the weir.toml's queue (not
    // a Redis one of the same name).
    events(
        &app,
        "PutRule",
        json!({"Name": "r", "EventBusName": "orders", "EventPattern": r#"{"source": ["s"]}"#}),
    )
    .await;
    let put = events(
        &app,
        "PutTargets",
        json!({"Rule": "r", "EventBusName": "orders", "Targets": [
            {"Id": "q", "Arn": "arn:aws:sqs:us-east-1:000000000000:inbox", "Input": "{\"hit\": 1}"}]}),
    )
    .await;
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    let reply = events(
        &app,
        "PutEvents",
        json!({"Entries": [{"Source": "s", "DetailType": "t", "Detail": "{}", "EventBusName": "orders"}]}),
    )
    .await;
    assert_eq!(reply["FailedEntryCount"], 0, "{reply}");
    assert_eq!(queue.drain(), [r#"{"hit": 1}"#]);
    assert!(entries(&server.url(), "inbox").await.is_empty());
}

/// Writes rule `name` of bus `default` on Redis as `text`, bumping the version so every
/// process reloads.
async fn store_rule(url: &str, name: &str, text: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("HSET")
        .arg("weir:rules:default")
        .arg(name)
        .arg(text)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: i64 = redis::cmd("INCR")
        .arg("weir:rules:version")
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn rules_in_the_earlier_target_format_are_migrated_and_unloadable_ones_are_reported() {
    let server = Redis::start();
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = service(&server.url(), seen.clone()).await;
    // The earlier format: targets {arn, function, input} keyed by target id.
    store_rule(
        &server.url(),
        "old",
        &json!({
            "pattern": r#"{"source": ["s"]}"#,
            "enabled": true,
            "description": null,
            "targets": {"t1": {
                "arn": "arn:aws:lambda:us-east-1:000000000000:function:keep",
                "function": "keep",
                "input": r#"{"fixed": true}"#,
            }},
        })
        .to_string(),
    )
    .await;
    let targets = events(&app, "ListTargetsByRule", json!({"Rule": "old"})).await;
    assert_eq!(
        targets,
        json!({"Targets": [{
            "Id": "t1",
            "Arn": "arn:aws:lambda:us-east-1:000000000000:function:keep",
            "Input": r#"{"fixed": true}"#,
        }]})
    );
    let put = events(
        &app,
        "PutEvents",
        json!({"Entries": [{"Source": "s", "DetailType": "t", "Detail": "{}"}]}),
    )
    .await;
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the migrated target got nothing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen.lock().unwrap()[0], json!({"fixed": true}));

    // A rule that is not JSON is reported by every operation touching it, and an event
    // on its bus is not accepted silently.
    store_rule(&server.url(), "garbled", "{not json").await;
    for (operation, body) in [
        ("DescribeRule", json!({"Name": "garbled"})),
        ("ListTargetsByRule", json!({"Rule": "garbled"})),
        ("ListRules", json!({})),
        (
            "PutRule",
            json!({"Name": "garbled", "EventPattern": r#"{"source": ["s"]}"#}),
        ),
        ("DeleteRule", json!({"Name": "garbled"})),
    ] {
        let answer = events(&app, operation, body).await;
        assert_eq!(
            answer["__type"], "InternalException",
            "{operation}: {answer}"
        );
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains("garbled") && message.contains("could not be loaded"),
            "{operation}: {message}"
        );
    }
    let put = events(
        &app,
        "PutEvents",
        json!({"Entries": [{"Source": "s", "DetailType": "t", "Detail": "{}"}]}),
    )
    .await;
    assert_eq!(put["FailedEntryCount"], 1, "{put}");
    assert_eq!(put["Entries"][0]["ErrorCode"], "InternalFailure");
    // A target weir cannot deliver to makes its rule unloadable too.
    store_rule(
        &server.url(),
        "garbled",
        &json!({"pattern": "{}", "enabled": true, "description": null,
                "targets": {"x": {"Id": "x", "Arn": "arn:aws:nothing"}}})
        .to_string(),
    )
    .await;
    let answer = events(&app, "DescribeRule", json!({"Name": "garbled"})).await;
    assert_eq!(answer["__type"], "InternalException", "{answer}");
    // Force deletes it.
    let answer = events(
        &app,
        "DeleteRule",
        json!({"Name": "garbled", "Force": true}),
    )
    .await;
    assert_eq!(answer, json!({}));
    let rules = events(&app, "ListRules", json!({})).await;
    assert_eq!(rules["Rules"].as_array().unwrap().len(), 1, "{rules}");
}

/// Functions that are always throttled (`TooManyRequestsException`).
struct Throttled;

impl weir_serve::Invoker for Throttled {
    fn function_arn(&self, name: &str) -> String {
        format!("arn:aws:lambda:us-east-1:000000000000:function:{name}")
    }
    fn exists(&self, _: &str) -> bool {
        true
    }
    fn names(&self) -> Vec<String> {
        vec!["busy".into()]
    }
    fn invoke(
        &self,
        _: &str,
        _: weir_serve::InvocationType,
        _: Vec<u8>,
    ) -> weir_serve::InvokeFuture {
        Box::pin(async {
            Err(weir_serve::InvokeError::new(
                "TooManyRequestsException",
                429,
                "Rate Exceeded.",
            ))
        })
    }
}

/// Makes Redis key `key` a string, so an XADD to it fails (WRONGTYPE).
async fn jam(url: &str, key: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg("not a stream")
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_event_whose_dead_letter_queue_refuses_it_fails_its_entry_or_is_sent_again() {
    let server = Redis::start();
    let url = server.url();
    // A final failure (no such function) whose dead-letter queue cannot take the event:
    // the entry fails, the client sends it again.
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = service(&url, seen).await;
    jam(&url, "dead").await;
    events(
        &app,
        "PutRule",
        json!({"Name": "r", "EventPattern": r#"{"source": ["s"]}"#}),
    )
    .await;
    let put = events(
        &app,
        "PutTargets",
        json!({"Rule": "r", "Targets": [
            {"Id": "gone", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:gone",
             "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:000000000000:dead"}},
        ]}),
    )
    .await;
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    let entry = json!({"Entries": [{"Source": "s", "DetailType": "t", "Detail": "{}"}]});
    let reply = events(&app, "PutEvents", entry.clone()).await;
    assert_eq!(reply["FailedEntryCount"], 1, "{reply}");
    assert_eq!(reply["Entries"][0]["ErrorCode"], "InternalFailure");

    // A throttled target out of retries whose dead-letter queue fails for a while: the
    // dead-letter send is retried until the queue takes it.
    let throttled = Service::new(Arc::new(Throttled), "us-east-1")
        .rules_on_redis(&url, "other")
        .await
        .unwrap()
        .router();
    jam(&url, "dead2").await;
    events(
        &throttled,
        "PutRule",
        json!({"Name": "r", "EventPattern": r#"{"source": ["s"]}"#}),
    )
    .await;
    events(
        &throttled,
        "PutTargets",
        json!({"Rule": "r", "Targets": [
            {"Id": "busy", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:busy",
             "RetryPolicy": {"MaximumRetryAttempts": 0},
             "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:000000000000:dead2"}},
        ]}),
    )
    .await;
    let reply = events(&throttled, "PutEvents", entry).await;
    assert_eq!(reply["FailedEntryCount"], 0, "{reply}");
    let id = reply["Entries"][0]["EventId"].as_str().unwrap().to_string();
    // Once a dead-letter attempt failed (Redis counts failed XADDs: the first part's one and
    // this one), the queue is unjammed.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .unwrap();
        let failed = stats
            .lines()
            .find(|l| l.starts_with("cmdstat_xadd:"))
            .and_then(|l| l.split("failed_calls=").nth(1))
            .and_then(|n| n.split(',').next())
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if failed >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no dead-letter attempt: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _: i64 = redis::cmd("DEL")
        .arg("dead2")
        .query_async(&mut conn)
        .await
        .unwrap();
    let dead = wait_entries(&url, "dead2", 1).await;
    assert_eq!(dead.len(), 1, "the dead-letter send was not retried");
    assert_eq!(
        serde_json::from_str::<Value>(&dead[0]["body"]).unwrap()["id"],
        id.as_str()
    );
}

#[tokio::test]
async fn a_stream_target_never_creates_its_stream_and_a_stream_keeps_its_shard_count() {
    let server = Redis::start();
    let url = server.url();
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = service(&url, seen).await;
    events(
        &app,
        "PutRule",
        json!({"Name": "r", "EventPattern": r#"{"source": ["s"]}"#}),
    )
    .await;
    events(
        &app,
        "PutTargets",
        json!({"Rule": "r", "Targets": [
            {"Id": "k", "Arn": "arn:aws:kinesis:us-east-1:000000000000:stream/later",
             "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:000000000000:dead"}},
        ]}),
    )
    .await;
    let reply = events(
        &app,
        "PutEvents",
        json!({"Entries": [{"Source": "s", "DetailType": "t", "Detail": "{}"}]}),
    )
    .await;
    assert_eq!(reply["FailedEntryCount"], 0, "{reply}");
    // A missing stream is a final failure: dead-lettered, and the stream not created.
    let dead = wait_entries(&url, "dead", 1).await;
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].values().any(|v| v == "ResourceNotFoundException"),
        "{dead:?}"
    );
    assert!(weir_serve::RedisStream::open(&url, "later").await.is_err());
    // Its producer creates it with 4 shards; a later one asking for 2 is refused.
    let stream =
        weir_serve::RedisStream::connect(&url, weir_serve::RedisStreamConfig::new("later", 4))
            .await
            .unwrap();
    assert_eq!(stream.config().shard_count, 4);
    let refused =
        weir_serve::RedisStream::connect(&url, weir_serve::RedisStreamConfig::new("later", 2))
            .await
            .err()
            .expect("a second shard count is refused")
            .to_string();
    assert!(
        refused.contains("later") && refused.contains('4') && refused.contains('2'),
        "{refused}"
    );
    assert_eq!(
        weir_serve::RedisStream::open(&url, "later")
            .await
            .unwrap()
            .config()
            .shard_count,
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rule_changes_from_two_processes_lose_nothing() {
    let server = Redis::start();
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let first = service(&server.url(), seen.clone()).await;
    let second = service(&server.url(), seen.clone()).await;
    let target =
        |id: &str| json!({"Id": id, "Arn": "arn:aws:lambda:us-east-1:000000000000:function:keep"});
    let rounds = 15;
    for round in 0..rounds {
        let rule = format!("r{round}");
        let put = events(
            &first,
            "PutRule",
            json!({"Name": rule, "EventPattern": r#"{"source": ["s"]}"#}),
        )
        .await;
        assert!(put["RuleArn"].is_string(), "{put}");
        // Two processes add a target each to the same rule at the same time...
        let (a, b) = tokio::join!(
            events(
                &first,
                "PutTargets",
                json!({"Rule": rule, "Targets": [target("a")]})
            ),
            events(
                &second,
                "PutTargets",
                json!({"Rule": rule, "Targets": [target("b")]})
            ),
        );
        assert_eq!(
            (&a["FailedEntryCount"], &b["FailedEntryCount"]),
            (&json!(0), &json!(0))
        );
        // ...then one changes the rule while the other adds a third.
        let (r, c) = tokio::join!(
            events(
                &first,
                "PutRule",
                json!({"Name": rule, "EventPattern": r#"{"source": ["s"]}"#, "Description": format!("d{round}")}),
            ),
            events(
                &second,
                "PutTargets",
                json!({"Rule": rule, "Targets": [target("c")]})
            ),
        );
        assert!(r["RuleArn"].is_string(), "{r}");
        assert_eq!(c["FailedEntryCount"], 0, "{c}");
    }
    // A process started afterwards finds every change.
    let third = service(&server.url(), seen).await;
    for round in 0..rounds {
        let rule = format!("r{round}");
        let listed = events(&third, "ListTargetsByRule", json!({"Rule": rule})).await;
        let ids: Vec<&str> = listed["Targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["Id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b", "c"], "{rule}");
        let described = events(&third, "DescribeRule", json!({"Name": rule})).await;
        assert_eq!(described["Description"], format!("d{round}"), "{rule}");
    }
}

/// A TCP relay to Redis that counts the `GET`s sent through it and, while held, keeps what
/// the clients send (still counting it) instead of passing it on.
struct Relay {
    url: String,
    gets: Arc<std::sync::atomic::AtomicUsize>,
    held: tokio::sync::watch::Sender<bool>,
}

impl Relay {
    async fn start(redis_port: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}/", listener.local_addr().unwrap());
        let gets = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (held, watch) = tokio::sync::watch::channel(false);
        let counted = gets.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let redis = tokio::net::TcpStream::connect(("127.0.0.1", redis_port))
                    .await
                    .unwrap();
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_redis, mut to_redis) = redis.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_redis, &mut to_client).await;
                });
                let (counted, mut watch) = (counted.clone(), watch.clone());
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    const GET: &[u8] = b"$3\r\nGET\r\n";
                    let (mut kept, mut tail) = (Vec::new(), Vec::new());
                    let mut chunk = [0u8; 4096];
                    loop {
                        tokio::select! {
                            read = from_client.read(&mut chunk) => {
                                let n = match read {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => n,
                                };
                                // The last bytes of the previous chunk: a GET split across
                                // two reads is counted once.
                                tail.extend_from_slice(&chunk[..n]);
                                let found = tail.windows(GET.len()).filter(|w| *w == GET).count();
                                counted.fetch_add(found, Ordering::SeqCst);
                                tail.drain(..tail.len().saturating_sub(GET.len() - 1));
                                kept.extend_from_slice(&chunk[..n]);
                            }
                            changed = watch.changed() => {
                                if changed.is_err() {
                                    return;
                                }
                            }
                        }
                        if !*watch.borrow() && !kept.is_empty() {
                            if to_redis.write_all(&kept).await.is_err() {
                                return;
                            }
                            kept.clear();
                        }
                    }
                });
            }
        });
        Relay { url, gets, held }
    }

    fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }
}

/// Reads and PutEvents of one process do not queue behind each other on a lock: while Redis
/// has not answered the first one's version check, the others' checks are already sent (the
/// version is read without the lock; only a reload takes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_put_events_check_the_rules_version_concurrently() {
    let server = Redis::start();
    let relay = Relay::start(server.port()).await;
    let app = service(&relay.url, Arc::default()).await;
    let put = events(
        &app,
        "PutRule",
        json!({"Name": "r", "EventPattern": r#"{"source": ["s"]}"#}),
    )
    .await;
    assert!(put["RuleArn"].is_string(), "{put}");
    // Memory is current: a read now only checks the version.
    assert_eq!(
        events(&app, "DescribeRule", json!({"Name": "r"})).await["Name"],
        "r"
    );
    relay.held.send(true).unwrap();
    let before = relay.gets();
    let requests = 16;
    let tasks: Vec<_> = (0..requests)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    events(&app, "DescribeRule", json!({"Name": "r"})).await["Name"].clone()
                } else {
                    events(
                        &app,
                        "PutEvents",
                        json!({"Entries": [{"Source": "s", "DetailType": "t", "Detail": "{}"}]}),
                    )
                    .await["FailedEntryCount"]
                        .clone()
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while relay.gets() - before < requests {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {requests} version checks sent while Redis had not answered: requests wait \
             for each other",
            relay.gets() - before
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    relay.held.send(false).unwrap();
    for (i, task) in tasks.into_iter().enumerate() {
        let answer = task.await.unwrap();
        let expected = if i % 2 == 0 { json!("r") } else { json!(0) };
        assert_eq!(answer, expected);
    }
}

/// A rule stored before `PutTargets` refused `<aws.events.event>` inside a JSON string of an
/// `InputTemplate` still loads and delivers as it did (the event's JSON in the string); only
/// putting such a target again is refused.
#[tokio::test]
async fn a_stored_target_with_the_event_inside_a_template_string_still_delivers() {
    let server = Redis::start();
    let url = server.url();
    let app = service(&url, Arc::default()).await;
    let target = json!({
        "Id": "q",
        "Arn": "arn:aws:sqs:us-east-1:000000000000:inbox",
        "InputTransformer": {
            "InputPathsMap": {"s": "$.source"},
            "InputTemplate": r#"{"e": "<aws.events.event>", "s": <s>}"#,
        },
    });
    store_rule(
        &url,
        "legacy",
        &json!({
            "pattern": r#"{"source": ["s"]}"#,
            "enabled": true,
            "description": null,
            "targets": {"q": target},
        })
        .to_string(),
    )
    .await;
    let described = events(&app, "DescribeRule", json!({"Name": "legacy"})).await;
    assert_eq!(described["Name"], "legacy", "{described}");
    let listed = events(&app, "ListTargetsByRule", json!({"Rule": "legacy"})).await;
    assert_eq!(listed["Targets"][0]["Id"], "q", "{listed}");
    let put = events(
        &app,
        "PutEvents",
        json!({"Entries": [{"Source": "s", "DetailType": "t", "Detail": r#"{"n": 1}"#}]}),
    )
    .await;
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    let id = put["Entries"][0]["EventId"].as_str().unwrap().to_string();
    let queued = wait_entries(&url, "inbox", 1).await;
    assert_eq!(queued.len(), 1, "the stored target got nothing");
    let body = &queued[0]["body"];
    assert!(
        body.starts_with(r#"{"e": "{""#)
            && body.contains(&format!(r#""id":"{id}""#))
            && body.contains(r#""source":"s""#)
            && !body.contains(r#""detail":"#)
            && body.ends_with(r#"}", "s": "s"}"#),
        "{body}"
    );
    // Put again, the same target is refused.
    let again = events(
        &app,
        "PutTargets",
        json!({"Rule": "legacy", "Targets": [target]}),
    )
    .await;
    assert!(again.to_string().contains("ValidationException"), "{again}");
}
