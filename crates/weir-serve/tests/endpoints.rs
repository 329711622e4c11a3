//! `weir serve`'s endpoints, in process: EventBridge's JSON 1.1 operations (every
//! AWS-verified TestEventPattern case, rules, targets, PutEvents reaching a function) and
//! Lambda's Invoke in its three invocation types, with AWS's error shapes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use weir_route::{FunctionError, Invocation, Outcome};
use weir_serve::LocalFunctions;

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn send(app: &axum::Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn events(app: &axum::Router, operation: &str, body: Value) -> Reply {
    let request = Request::post("/")
        .header("x-amz-target", format!("AWSEvents.{operation}"))
        .header("content-type", "application/x-amz-json-1.1")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, request).await
}

async fn invoke(app: &axum::Router, name: &str, kind: Option<&str>, payload: &[u8]) -> Reply {
    let mut request = Request::post(format!("/2015-03-31/functions/{name}/invocations"));
    if let Some(kind) = kind {
        request = request.header("x-amz-invocation-type", kind);
    }
    send(app, request.body(Body::from(payload.to_vec())).unwrap()).await
}

type Seen = Arc<Mutex<Vec<Value>>>;

/// A router whose function `record` keeps what it receives, `fail` fails, `echo` echoes.
fn app() -> (axum::Router, Seen) {
    let seen: Seen = Arc::default();
    let mut functions = LocalFunctions::new("us-east-1");
    let keep = seen.clone();
    functions.insert(
        "record",
        move |invocation: Invocation| {
            let keep = keep.clone();
            async move {
                keep.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&invocation.payload).unwrap());
                Outcome::Success(b"null".to_vec())
            }
        },
        Duration::from_secs(3),
    );
    functions.insert(
        "fail",
        |_| async { Outcome::Error(FunctionError::new("Error", "bad record")) },
        Duration::from_secs(3),
    );
    functions.insert(
        "echo",
        |i: Invocation| async move { Outcome::Success(i.payload) },
        Duration::from_secs(3),
    );
    (weir_serve::router(Arc::new(functions), "us-east-1"), seen)
}

fn cases() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/conformance/eventbridge-aws.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

fn text_of(case: &Value, raw: &str, parsed: &str) -> String {
    match case.get(raw) {
        Some(Value::String(s)) => s.clone(),
        _ => serde_json::to_string(&case[parsed]).unwrap(),
    }
}

#[tokio::test]
async fn test_event_pattern_agrees_with_aws_on_every_case() {
    let (app, _) = app();
    let (mut matched, mut unmatched, mut errors) = (0, 0, 0);
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let reply = events(
            &app,
            "TestEventPattern",
            json!({
                "EventPattern": text_of(&case, "pattern_raw", "pattern"),
                "Event": text_of(&case, "event_raw", "event"),
            }),
        )
        .await;
        let body = reply.json();
        match case["expected"].as_str().unwrap() {
            expected @ ("match" | "no_match") => {
                assert_eq!(reply.status, StatusCode::OK, "{name}: {body}");
                assert_eq!(body, json!({"Result": expected == "match"}), "{name}");
                if expected == "match" {
                    matched += 1
                } else {
                    unmatched += 1
                }
            }
            "error" => {
                assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}: {body}");
                let want = case["aws_error_message"].as_str().unwrap();
                let message = body["message"].as_str().unwrap();
                assert_eq!(
                    message.lines().next(),
                    want.lines().next(),
                    "{name}: {body}"
                );
                let code = case["aws_error_code"]
                    .as_str()
                    .unwrap_or("InvalidEventPatternException");
                assert_eq!(body["__type"], code, "{name}");
                assert_eq!(reply.header("x-amzn-errortype"), Some(code), "{name}");
                errors += 1;
            }
            other => panic!("{name}: unknown expectation {other}"),
        }
    }
    assert_eq!((matched, unmatched, errors), (70, 51, 45));
}

#[tokio::test]
async fn test_event_pattern_errors_carry_weirs_position_and_aws_shapes() {
    let (app, _) = app();
    let envelope =
        r#"{"id":"1","source":"s","detail-type":"t","account":"1","region":"r","time":"t"}"#;
    let reply = events(
        &app,
        "TestEventPattern",
        json!({"EventPattern": r#"{"a": [{"FOO": 1}]}"#, "Event": envelope}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    let body = reply.json();
    assert_eq!(
        body["message"],
        "Event pattern is not valid. Reason: Unrecognized match type FOO"
    );
    assert_eq!(
        body["weirPosition"],
        json!({"offset": 8, "line": 1, "column": 9, "path": "a[0].FOO"})
    );
    // Missing members, an unknown operation, a body that is not JSON, no target.
    let reply = events(&app, "TestEventPattern", json!({"Event": envelope})).await;
    assert_eq!(reply.json()["__type"], "ValidationException");
    assert!(reply.json()["message"]
        .as_str()
        .unwrap()
        .contains("'eventPattern'"));
    let reply = events(&app, "CreateArchive", json!({})).await;
    assert_eq!(reply.json()["__type"], "UnknownOperationException");
    let request = Request::post("/")
        .header("x-amz-target", "AWSEvents.TestEventPattern")
        .body(Body::from("{not json"))
        .unwrap();
    assert_eq!(
        send(&app, request).await.json()["__type"],
        "SerializationException"
    );
    let request = Request::post("/").body(Body::from("{}")).unwrap();
    assert_eq!(
        send(&app, request).await.json()["__type"],
        "UnknownOperationException"
    );
    // An event that is not valid JSON, with the envelope's message.
    let reply = events(
        &app,
        "TestEventPattern",
        json!({"EventPattern": r#"{"a": [1]}"#, "Event": "{\"id\": "}),
    )
    .await;
    assert_eq!(reply.json()["message"], "Parameter Event is not valid.");
}

async fn wait_for(seen: &Seen, count: usize) -> Vec<Value> {
    for _ in 0..200 {
        if seen.lock().unwrap().len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seen.lock().unwrap().clone()
}

#[tokio::test]
async fn rules_targets_and_put_events_reach_the_function() {
    let (app, seen) = app();
    let pattern = r#"{"source": ["shop"], "detail": {"amount": [{"numeric": [">", 100]}]}}"#;
    let reply = events(
        &app,
        "PutRule",
        json!({"Name": "big", "EventPattern": pattern}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({"RuleArn": "arn:aws:events:us-east-1:000000000000:rule/big"})
    );
    let reply = events(
        &app,
        "PutTargets",
        json!({"Rule": "big", "Targets": [
            {"Id": "1", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:record"},
            {"Id": "2", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"},
        ]}),
    )
    .await;
    let body = reply.json();
    assert_eq!(body["FailedEntryCount"], 1);
    assert_eq!(body["FailedEntries"][0]["TargetId"], "2");
    let reply = events(&app, "ListRules", json!({"NamePrefix": "b"})).await;
    let rules = reply.json();
    assert_eq!(rules["Rules"][0]["Name"], "big");
    assert_eq!(rules["Rules"][0]["EventPattern"], pattern);
    assert_eq!(rules["Rules"][0]["State"], "ENABLED");
    assert_eq!(
        events(&app, "ListTargetsByRule", json!({"Rule": "big"}))
            .await
            .json()["Targets"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let reply = events(
        &app,
        "PutEvents",
        json!({"Entries": [
            {"Source": "shop", "DetailType": "order", "Detail": r#"{"amount": 150}"#, "Time": 1704164645},
            {"Source": "shop", "DetailType": "order", "Detail": r#"{"amount": 50}"#},
            {"Source": "shop", "DetailType": "order", "Detail": "[1]"},
            {"DetailType": "order", "Detail": "{}"},
            {"Source": "shop", "Detail": "{}"},
            {"Source": "shop", "DetailType": "order"},
        ]}),
    )
    .await;
    let body = reply.json();
    assert_eq!(body["FailedEntryCount"], 4, "{body}");
    let entries = body["Entries"].as_array().unwrap();
    assert_eq!(entries.len(), 6);
    assert!(entries[0]["EventId"].as_str().unwrap().len() == 36);
    assert!(entries[1]["EventId"].is_string());
    assert_eq!(
        entries[2],
        json!({"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."})
    );
    for (i, field) in [(3, "Source"), (4, "DetailType"), (5, "Detail")] {
        assert_eq!(
            entries[i],
            json!({"ErrorCode": "InvalidArgument", "ErrorMessage":
                format!("Parameter {field} is not valid. Reason: {field} is a required argument.")}),
        );
    }
    // A later matching event must arrive; the non-matching one, put before it, did not.
    let later = json!({"Entries": [{"Source": "shop", "DetailType": "order", "Detail": r#"{"amount": 200}"#}]});
    events(&app, "PutEvents", later).await;
    let delivered = wait_for(&seen, 2).await;
    let amounts: Vec<&Value> = delivered.iter().map(|e| &e["detail"]["amount"]).collect();
    assert_eq!(amounts, [150, 200], "only the matching events");
    let event = &delivered[0];
    assert_eq!(event["id"], entries[0]["EventId"]);
    assert_eq!(event["detail"], json!({"amount": 150}));
    assert_eq!(event["time"], "2024-01-02T03:04:05Z");
    assert_eq!(event["account"], "000000000000");
    assert_eq!(event["region"], "us-east-1");
    assert_eq!(event["detail-type"], "order");
    assert_eq!(event["version"], "0");

    // A rule with targets is not deleted without Force; a disabled rule delivers nothing.
    let reply = events(&app, "DeleteRule", json!({"Name": "big"})).await;
    assert_eq!(
        reply.json(),
        json!({"__type": "ValidationException", "message": "Rule can't be deleted since it has targets."})
    );
    events(
        &app,
        "PutRule",
        json!({"Name": "big", "EventPattern": pattern, "State": "DISABLED"}),
    )
    .await;
    events(
        &app,
        "PutEvents",
        json!({"Entries": [{"Source": "shop", "DetailType": "o", "Detail": r#"{"amount": 999}"#}]}),
    )
    .await;
    // Enabled again, the rule delivers the next event: the one put while disabled never came.
    events(
        &app,
        "PutRule",
        json!({"Name": "big", "EventPattern": pattern}),
    )
    .await;
    events(
        &app,
        "PutEvents",
        json!({"Entries": [{"Source": "shop", "DetailType": "o", "Detail": r#"{"amount": 300}"#}]}),
    )
    .await;
    let delivered = wait_for(&seen, 3).await;
    let amounts: Vec<&Value> = delivered.iter().map(|e| &e["detail"]["amount"]).collect();
    assert_eq!(amounts, [150, 200, 300], "nothing while disabled");
    let reply = events(&app, "RemoveTargets", json!({"Rule": "big", "Ids": ["1"]})).await;
    assert_eq!(reply.json()["FailedEntryCount"], 0);
    assert_eq!(
        events(&app, "DeleteRule", json!({"Name": "big"}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        events(&app, "ListRules", json!({})).await.json(),
        json!({"Rules": []})
    );

    // Bad requests: an invalid pattern, a bad name, a missing rule, too many entries.
    let reply = events(
        &app,
        "PutRule",
        json!({"Name": "r", "EventPattern": r#"{"a": []}"#}),
    )
    .await;
    assert_eq!(reply.json()["__type"], "InvalidEventPatternException");
    let reply = events(
        &app,
        "PutRule",
        json!({"Name": "bad name", "EventPattern": "{}"}),
    )
    .await;
    assert_eq!(reply.json()["__type"], "ValidationException");
    let reply = events(&app, "PutTargets", json!({"Rule": "gone", "Targets": []})).await;
    assert_eq!(
        reply.json()["message"],
        "Rule gone does not exist on EventBus default."
    );
    let entry = json!({"Source": "s", "DetailType": "t", "Detail": "{}"});
    let reply = events(&app, "PutEvents", json!({"Entries": vec![entry; 11]})).await;
    assert_eq!(reply.json()["__type"], "ValidationException");
}

#[tokio::test]
async fn invoke_in_three_invocation_types_with_lambdas_shapes() {
    let (app, seen) = app();
    let reply = invoke(&app, "echo", None, br#"{"x": 1}"#).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, br#"{"x": 1}"#);
    assert_eq!(reply.header("x-amz-executed-version"), Some("$LATEST"));
    assert_eq!(reply.header("x-amz-function-error"), None);

    let reply = invoke(&app, "fail", Some("RequestResponse"), b"{}").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(
        reply.json(),
        json!({"errorMessage": "bad record", "errorType": "Error"})
    );

    let reply = invoke(&app, "record", Some("Event"), br#"{"n": 7}"#).await;
    assert_eq!((reply.status, reply.body.len()), (StatusCode::ACCEPTED, 0));
    assert_eq!(wait_for(&seen, 1).await, [json!({"n": 7})]);

    let reply = invoke(&app, "record", Some("DryRun"), br#"{"n": 8}"#).await;
    assert_eq!(
        (reply.status, reply.body.len()),
        (StatusCode::NO_CONTENT, 0)
    );
    // A later invocation arrives right after the first: the DryRun in between ran nothing.
    invoke(&app, "record", Some("Event"), br#"{"n": 9}"#).await;
    assert_eq!(
        wait_for(&seen, 2).await,
        [json!({"n": 7}), json!({"n": 9})],
        "DryRun invokes nothing"
    );

    // Names, ARNs and qualifiers.
    let arn = "arn:aws:lambda:us-east-1:000000000000:function:echo";
    assert_eq!(invoke(&app, arn, None, b"1").await.body, b"1");
    assert_eq!(invoke(&app, "echo:$LATEST", None, b"2").await.body, b"2");
    let reply = invoke(&app, "echo:7", None, b"{}").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json()["Message"],
        format!("Function not found: {arn}:7")
    );

    // Errors: REST-JSON's header and body.
    let reply = invoke(&app, "nope", None, b"{}").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.header("x-amzn-errortype"),
        Some("ResourceNotFoundException")
    );
    assert_eq!(
        reply.json(),
        json!({"Type": "User", "Message": "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"})
    );
    let reply = invoke(&app, "echo", Some("Sometimes"), b"{}").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.header("x-amzn-errortype"),
        Some("ValidationException")
    );
    let reply = invoke(&app, "echo", None, b"{not json").await;
    assert_eq!(
        reply.header("x-amzn-errortype"),
        Some("InvalidRequestContentException")
    );
    // No payload: the function gets {}.
    assert_eq!(invoke(&app, "echo", None, b"").await.body, b"{}");

    // Size bounds: 6 MB synchronous, 1 MB asynchronous.
    let mut big = vec![b' '; 6 * 1024 * 1024];
    big[0] = b'1';
    let reply = invoke(&app, "echo", None, &big).await;
    assert_eq!(reply.status, StatusCode::OK, "exactly 6 MB is accepted");
    big.push(b' ');
    let reply = invoke(&app, "echo", None, &big).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        reply.json()["Message"],
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    );
    let reply = invoke(&app, "echo", Some("Event"), &big[..1024 * 1024 + 1]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        reply.header("x-amzn-errortype"),
        Some("RequestTooLargeException")
    );
}

#[tokio::test]
async fn over_the_invocation_layers_router_states_and_throttles_answer_lambdas_errors() {
    use weir_route::{FunctionConfig, FunctionState, Router};
    let router = Router::new();
    let echo = |i: Invocation| async move { Outcome::Success(i.payload) };
    router
        .create_function(FunctionConfig::new("echo"), echo)
        .unwrap();
    router
        .create_function(FunctionConfig::new("pending"), echo)
        .unwrap();
    router
        .set_function_state("pending", FunctionState::Pending)
        .unwrap();
    router
        .create_function(FunctionConfig::new("failed"), echo)
        .unwrap();
    router
        .set_function_state("failed", FunctionState::Failed)
        .unwrap();
    let mut throttled = FunctionConfig::new("throttled");
    throttled.reserved_concurrency = Some(0);
    router.create_function(throttled, echo).unwrap();
    let app = weir_serve::router(Arc::new(router), "us-east-1");

    let reply = invoke(&app, "echo", None, br#"{"via": "router"}"#).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, br#"{"via": "router"}"#);
    assert_eq!(
        invoke(&app, "echo", Some("Event"), b"{}").await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        invoke(&app, "echo", Some("DryRun"), b"{}").await.status,
        StatusCode::NO_CONTENT
    );
    let reply = invoke(&app, "pending", None, b"{}").await;
    assert_eq!(
        (reply.status, reply.header("x-amzn-errortype")),
        (StatusCode::CONFLICT, Some("ResourceConflictException"))
    );
    let reply = invoke(&app, "failed", None, b"{}").await;
    assert_eq!(
        (reply.status, reply.header("x-amzn-errortype")),
        (StatusCode::BAD_GATEWAY, Some("ResourceNotReadyException"))
    );
    let reply = invoke(&app, "throttled", None, b"{}").await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        reply.json()["Reason"],
        "ReservedFunctionConcurrentInvocationLimitExceeded"
    );
    assert_eq!(reply.json()["Type"], "User");
}

#[tokio::test]
async fn put_events_reach_the_invocation_layers_buses() {
    use weir_route::{QueueConfig, Router, RuleConfig, Target};
    let layer = Router::new();
    layer.create_event_bus("orders").unwrap();
    let queue = layer.create_queue(QueueConfig::new("big")).unwrap();
    layer
        .put_rule(
            "orders",
            RuleConfig::new("big", r#"{"detail": {"total": [{"numeric": [">", 100]}]}}"#)
                .target(Target::Queue("big".into())),
        )
        .unwrap();
    let app = weir_serve::Service::new(Arc::new(layer.clone()), "us-east-1")
        .event_buses(layer)
        .router();
    let reply = events(
        &app,
        "PutEvents",
        json!({"Entries": [
            {"Source": "shop", "DetailType": "o", "Detail": r#"{"total": 500}"#, "EventBusName": "orders"},
            {"Source": "shop", "DetailType": "o", "Detail": r#"{"total": 5}"#, "EventBusName": "orders"},
            {"Source": "shop", "DetailType": "o", "Detail": "{}", "EventBusName": "nowhere"},
        ]}),
    )
    .await;
    let body = reply.json();
    assert_eq!(body["FailedEntryCount"], 1, "{body}");
    assert_eq!(
        body["Entries"][2]["ErrorMessage"],
        "Event bus nowhere does not exist."
    );
    let got = queue.drain();
    assert_eq!(got.len(), 1);
    let event: Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(event["detail"], json!({"total": 500}));
    assert_eq!(event["id"], body["Entries"][0]["EventId"]);
}

#[tokio::test]
async fn an_event_forwarded_from_another_bus_goes_no_further_to_a_layer_bus_target() {
    use weir_route::{QueueConfig, Router, RuleConfig, Target};
    // weir.toml-like: bus `orders` forwards everything to bus `audit` and to queue `direct`;
    // `audit` puts everything on queue `audited`.
    let layer = Router::new();
    for bus in ["orders", "audit"] {
        layer.create_event_bus(bus).unwrap();
    }
    let direct = layer.create_queue(QueueConfig::new("direct")).unwrap();
    let audited = layer.create_queue(QueueConfig::new("audited")).unwrap();
    let all = r#"{"source": [{"prefix": ""}]}"#;
    layer
        .put_rule(
            "orders",
            RuleConfig::new("fan", all)
                .target(Target::Bus("audit".into()))
                .target(Target::Queue("direct".into())),
        )
        .unwrap();
    layer
        .put_rule(
            "audit",
            RuleConfig::new("keep", all).target(Target::Queue("audited".into())),
        )
        .unwrap();
    let app = weir_serve::Service::new(Arc::new(layer.clone()), "us-east-1")
        .event_buses(layer)
        .router();
    let put = |bus: &'static str| json!({"Entries": [{"Source": "shop", "DetailType": "o", "Detail": "{}", "EventBusName": bus}]});
    // Put on `orders` itself: one hop to `audit`, whose rule delivers it.
    let reply = events(&app, "PutEvents", put("orders")).await;
    assert_eq!(reply.json()["FailedEntryCount"], 0);
    assert_eq!((direct.drain().len(), audited.drain().len()), (1, 1));
    // A bus `shop` made over the API forwards to `orders`: that is the one hop, so `orders`'
    // rules deliver it to the queue but not on to `audit`.
    events(&app, "CreateEventBus", json!({"Name": "shop"})).await;
    events(
        &app,
        "PutRule",
        json!({"Name": "on", "EventBusName": "shop", "EventPattern": all}),
    )
    .await;
    let reply = events(
        &app,
        "PutTargets",
        json!({"Rule": "on", "EventBusName": "shop", "Targets": [
            {"Id": "b", "Arn": "arn:aws:events:us-east-1:000000000000:event-bus/orders"}]}),
    )
    .await;
    assert_eq!(reply.json()["FailedEntryCount"], 0);
    let reply = events(&app, "PutEvents", put("shop")).await;
    assert_eq!(reply.json()["FailedEntryCount"], 0);
    assert_eq!(
        direct.drain().len(),
        1,
        "delivered by the forwarded-to bus's rule"
    );
    assert!(audited.drain().is_empty(), "not forwarded a second hop");
}

/// A weir.toml-like layer (a bus `orders`, queues, a stream) served beside `functions`.
fn with_layer(functions: LocalFunctions) -> (axum::Router, weir_route::Router) {
    use weir_route::{QueueConfig, StreamConfig};
    let layer = weir_route::Router::new();
    layer.create_event_bus("orders").unwrap();
    for queue in ["q", "path", "tx", "forwarded", "dlq"] {
        layer.create_queue(QueueConfig::new(queue)).unwrap();
    }
    layer
        .create_stream(StreamConfig::new("s").shard_count(1))
        .unwrap();
    let app = weir_serve::Service::new(Arc::new(functions), "us-east-1")
        .event_buses(layer.clone())
        .router();
    (app, layer)
}

fn recording(seen: &Seen) -> LocalFunctions {
    let mut functions = LocalFunctions::new("us-east-1");
    let keep = seen.clone();
    functions.insert(
        "record",
        move |invocation: Invocation| {
            let keep = keep.clone();
            async move {
                keep.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&invocation.payload).unwrap());
                Outcome::Success(b"null".to_vec())
            }
        },
        Duration::from_secs(3),
    );
    functions
}

#[tokio::test]
async fn event_buses_are_created_listed_described_and_deleted_with_awss_errors() {
    let seen: Seen = Arc::default();
    let (app, _layer) = with_layer(recording(&seen));
    let names = |reply: &Reply| -> Vec<String> {
        reply.json()["EventBuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["Name"].as_str().unwrap().to_string())
            .collect()
    };
    // default and the weir.toml's bus are there from the start.
    let listed = events(&app, "ListEventBuses", json!({})).await;
    assert_eq!(names(&listed), ["default", "orders"]);
    assert_eq!(
        listed.json()["EventBuses"][0]["Arn"],
        "arn:aws:events:us-east-1:000000000000:event-bus/default"
    );
    let reply = events(
        &app,
        "CreateEventBus",
        json!({"Name": "shop", "Description": "the shop's events"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({"EventBusArn": "arn:aws:events:us-east-1:000000000000:event-bus/shop", "Description": "the shop's events"})
    );
    for taken in ["shop", "default", "orders"] {
        let reply = events(&app, "CreateEventBus", json!({"Name": taken})).await;
        assert_eq!(
            reply.json(),
            json!({"__type": "ResourceAlreadyExistsException", "message": format!("Event bus {taken} already exists.")})
        );
    }
    let reply = events(&app, "CreateEventBus", json!({"Name": "a/b"})).await;
    assert_eq!(reply.json()["__type"], "ValidationException");
    let reply = events(&app, "CreateEventBus", json!({"Name": "a b"})).await;
    assert!(reply.json()["message"]
        .as_str()
        .unwrap()
        .contains("failed to satisfy constraint"));
    let reply = events(&app, "CreateEventBus", json!({})).await;
    assert_eq!(reply.json()["__type"], "ValidationException");

    let reply = events(&app, "ListEventBuses", json!({"NamePrefix": "sh"})).await;
    assert_eq!(names(&reply), ["shop"]);
    assert_eq!(
        reply.json()["EventBuses"][0]["Description"],
        "the shop's events"
    );
    let reply = events(&app, "ListEventBuses", json!({"Limit": 2})).await;
    assert_eq!(names(&reply), ["default", "orders"]);
    let token = reply.json()["NextToken"].clone();
    let reply = events(
        &app,
        "ListEventBuses",
        json!({"Limit": 2, "NextToken": token}),
    )
    .await;
    assert_eq!(names(&reply), ["shop"]);
    assert!(reply.json().get("NextToken").is_none());

    let shop_arn = "arn:aws:events:us-east-1:000000000000:event-bus/shop";
    let described = events(&app, "DescribeEventBus", json!({"Name": shop_arn})).await;
    let body = described.json();
    assert_eq!(
        (&body["Name"], &body["Arn"]),
        (&json!("shop"), &json!(shop_arn))
    );
    assert!(body["CreationTime"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(
        events(&app, "DescribeEventBus", json!({})).await.json()["Name"],
        "default"
    );
    let missing =
        json!({"__type": "ResourceNotFoundException", "message": "Event bus nope does not exist."});
    assert_eq!(
        events(&app, "DescribeEventBus", json!({"Name": "nope"}))
            .await
            .json(),
        missing
    );

    // Rules honour EventBusName (a name or an ARN); an unknown bus is AWS's error.
    let reply = events(
        &app,
        "PutRule",
        json!({"Name": "r", "EventBusName": "shop", "EventPattern": r#"{"source": ["shop"]}"#}),
    )
    .await;
    assert_eq!(
        reply.json(),
        json!({"RuleArn": "arn:aws:events:us-east-1:000000000000:rule/shop/r"})
    );
    for operation in ["PutRule", "DescribeRule", "DeleteRule"] {
        let reply = events(
            &app,
            operation,
            json!({"Name": "r", "EventBusName": "nope", "EventPattern": r#"{"source": ["x"]}"#}),
        )
        .await;
        assert_eq!(reply.json(), missing, "{operation}");
    }
    for operation in ["PutTargets", "RemoveTargets", "ListTargetsByRule"] {
        let reply = events(
            &app,
            operation,
            json!({"Rule": "r", "EventBusName": "nope", "Targets": [], "Ids": []}),
        )
        .await;
        assert_eq!(reply.json(), missing, "{operation}");
    }
    assert_eq!(
        events(&app, "ListRules", json!({"EventBusName": "nope"}))
            .await
            .json(),
        missing
    );
    let rules = events(&app, "ListRules", json!({"EventBusName": shop_arn})).await;
    assert_eq!(rules.json()["Rules"][0]["EventBusName"], "shop");
    assert_eq!(
        events(&app, "ListRules", json!({})).await.json(),
        json!({"Rules": []}),
        "the default bus has none"
    );
    let rule = events(
        &app,
        "DescribeRule",
        json!({"Name": "r", "EventBusName": shop_arn}),
    )
    .await;
    assert_eq!(
        rule.json()["Arn"],
        "arn:aws:events:us-east-1:000000000000:rule/shop/r"
    );
    let reply = events(
        &app,
        "PutTargets",
        json!({"Rule": "r", "EventBusName": "shop", "Targets": [
            {"Id": "f", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:record"}]}),
    )
    .await;
    assert_eq!(reply.json()["FailedEntryCount"], 0);
    let reply = events(
        &app,
        "ListTargetsByRule",
        json!({"Rule": "r", "EventBusName": "shop"}),
    )
    .await;
    assert_eq!(reply.json()["Targets"][0]["Id"], "f");

    // PutEvents puts each entry on its own bus.
    let reply = events(
        &app,
        "PutEvents",
        json!({"Entries": [
            {"Source": "shop", "DetailType": "t", "Detail": r#"{"n": 1}"#, "EventBusName": shop_arn},
            {"Source": "shop", "DetailType": "t", "Detail": r#"{"n": 2}"#},
            {"Source": "shop", "DetailType": "t", "Detail": r#"{"n": 3}"#, "EventBusName": "nope"},
        ]}),
    )
    .await;
    let body = reply.json();
    assert_eq!(body["FailedEntryCount"], 1, "{body}");
    assert_eq!(
        body["Entries"][2],
        json!({"ErrorCode": "ResourceNotFoundException", "ErrorMessage": "Event bus nope does not exist."})
    );
    // A later event on the shop bus must arrive; the default bus's, put before it, did not.
    events(
        &app,
        "PutEvents",
        json!({"Entries": [{"Source": "shop", "DetailType": "t", "Detail": r#"{"n": 4}"#, "EventBusName": "shop"}]}),
    )
    .await;
    let got = wait_for(&seen, 2).await;
    let details: Vec<&Value> = got.iter().map(|e| &e["detail"]).collect();
    assert_eq!(
        details,
        [&json!({"n": 1}), &json!({"n": 4})],
        "only the shop bus's events"
    );

    // Deleting: never default, never the weir.toml's bus; a bus takes its rules with it.
    let reply = events(&app, "DeleteEventBus", json!({"Name": "default"})).await;
    assert_eq!(
        reply.json(),
        json!({"__type": "ValidationException", "message": "Cannot delete event bus default."})
    );
    let reply = events(&app, "DeleteEventBus", json!({"Name": "orders"})).await;
    assert_eq!(reply.json()["__type"], "ValidationException");
    let reply = events(&app, "DeleteEventBus", json!({"Name": "shop"})).await;
    assert_eq!((reply.status, reply.json()), (StatusCode::OK, json!({})));
    assert_eq!(
        events(&app, "DescribeEventBus", json!({"Name": "shop"}))
            .await
            .json()["__type"],
        "ResourceNotFoundException"
    );
    assert_eq!(
        names(&events(&app, "ListEventBuses", json!({})).await),
        ["default", "orders"]
    );
    let reply = events(&app, "DeleteEventBus", json!({"Name": "nope"})).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "deleting a missing bus succeeds"
    );
    // Recreated, it has no rules.
    events(&app, "CreateEventBus", json!({"Name": "shop"})).await;
    assert_eq!(
        events(&app, "ListRules", json!({"EventBusName": "shop"}))
            .await
            .json(),
        json!({"Rules": []})
    );
}

#[tokio::test]
async fn queue_stream_and_bus_targets_get_the_event_shaped_by_their_input() {
    let seen: Seen = Arc::default();
    let (app, layer) = with_layer(recording(&seen));
    let sqs = |q: &str| format!("arn:aws:sqs:us-east-1:000000000000:{q}");
    events(&app, "CreateEventBus", json!({"Name": "other"})).await;
    let pattern = r#"{"source": ["shop"]}"#;
    for (bus, rule) in [("default", "all"), ("other", "fwd")] {
        events(
            &app,
            "PutRule",
            json!({"Name": rule, "EventBusName": bus, "EventPattern": pattern}),
        )
        .await;
    }
    let transformer = json!({
        "InputPathsMap": {"user": "$.detail.user", "total": "$.detail.total", "missing": "$.detail.nope"},
        "InputTemplate": r#"{"who": <user>, "sum": <total>, "line": "<user> paid <total>", "rule": "<aws.events.rule-name>", "arn": <aws.events.rule-arn>, "none": <missing>}"#,
    });
    let reply = events(
        &app,
        "PutTargets",
        json!({"Rule": "all", "Targets": [
            {"Id": "whole", "Arn": sqs("q")},
            {"Id": "path", "Arn": sqs("path"), "InputPath": "$.detail"},
            {"Id": "tx", "Arn": sqs("tx"), "InputTransformer": transformer},
            {"Id": "kinesis", "Arn": "arn:aws:kinesis:us-east-1:000000000000:stream/s",
             "KinesisParameters": {"PartitionKeyPath": "$.detail.user"}},
            {"Id": "bus", "Arn": "arn:aws:events:us-east-1:000000000000:event-bus/other"},
        ]}),
    )
    .await;
    assert_eq!(reply.json()["FailedEntryCount"], 0, "{}", reply.json());
    // The other bus forwards to a queue and back to default: one hop only, no loop.
    let reply = events(
        &app,
        "PutTargets",
        json!({"Rule": "fwd", "EventBusName": "other", "Targets": [
            {"Id": "q", "Arn": sqs("forwarded"), "Input": r#"{"constant": true}"#},
            {"Id": "back", "Arn": "arn:aws:events:us-east-1:000000000000:event-bus/default"},
            {"Id": "nowhere", "Arn": "arn:aws:sns:us-east-1:000000000000:topic"},
            {"Id": "missing", "Arn": sqs("not-defined")},
        ]}),
    )
    .await;
    let body = reply.json();
    assert_eq!(body["FailedEntryCount"], 2, "{body}");
    let failed = body["FailedEntries"].as_array().unwrap();
    assert_eq!(failed[0]["TargetId"], "nowhere");
    assert!(failed[0]["ErrorMessage"].as_str().unwrap().starts_with(
        "weir delivers to Lambda functions, SQS queues, Kinesis streams and event buses"
    ));
    assert_eq!(failed[1]["TargetId"], "missing");
    assert!(failed[1]["ErrorMessage"]
        .as_str()
        .unwrap()
        .starts_with("weir has no queue not-defined"));
    // ListTargetsByRule answers the targets as put.
    let listed = events(&app, "ListTargetsByRule", json!({"Rule": "all"})).await;
    let listed = listed.json();
    assert_eq!(listed["Targets"].as_array().unwrap().len(), 5);
    let tx = listed["Targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["Id"] == "tx")
        .unwrap();
    assert_eq!(tx["InputTransformer"], transformer);

    let reply = events(
        &app,
        "PutEvents",
        json!({"Entries": [{"Source": "shop", "DetailType": "order",
            "Detail": r#"{"user": "ann", "total": 12.5}"#}]}),
    )
    .await;
    let body = reply.json();
    assert_eq!(body["FailedEntryCount"], 0, "{body}");
    let id = body["Entries"][0]["EventId"].as_str().unwrap().to_string();
    let drain = |q: &str| layer.queue(q).unwrap().drain();
    let whole = drain("q");
    assert_eq!(
        whole.len(),
        1,
        "the default bus's rule once, not again from other"
    );
    let event: Value = serde_json::from_str(&whole[0]).unwrap();
    assert_eq!(event["id"], id.as_str());
    let path = drain("path");
    assert_eq!(path.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&path[0]).unwrap(),
        json!({"user": "ann", "total": 12.5})
    );
    let tx: Value = serde_json::from_str(&drain("tx")[0]).unwrap();
    assert_eq!(
        tx,
        json!({"who": "ann", "sum": 12.5, "line": "ann paid 12.5", "rule": "all",
               "arn": "arn:aws:events:us-east-1:000000000000:rule/all", "none": ""})
    );
    assert_eq!(drain("forwarded"), [r#"{"constant": true}"#]);
    let records = layer.stream("s").unwrap().records(0);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].partition_key, "ann");
    assert_eq!(
        serde_json::from_slice::<Value>(&records[0].data).unwrap()["id"],
        id.as_str()
    );

    // Without PartitionKeyPath the event id is the partition key.
    events(
        &app,
        "PutRule",
        json!({"Name": "ids", "EventPattern": r#"{"source": ["ids"]}"#}),
    )
    .await;
    events(
        &app,
        "PutTargets",
        json!({"Rule": "ids", "Targets": [{"Id": "k", "Arn": "arn:aws:kinesis:us-east-1:000000000000:stream/s"}]}),
    )
    .await;
    let reply = events(
        &app,
        "PutEvents",
        json!({"Entries": [{"Source": "ids", "DetailType": "t", "Detail": "{}"}]}),
    )
    .await;
    let id = reply.json()["Entries"][0]["EventId"].clone();
    let records = layer.stream("s").unwrap().records(0);
    assert_eq!(records.len(), 2);
    assert_eq!(json!(records[1].partition_key), id);

    // AWS's request-level validation errors.
    for (target, message) in [
        (
            json!({"Id": "t", "Arn": sqs("q"), "Input": "{}", "InputPath": "$"}),
            "Only one of Input, InputPath, or InputTransformer must be provided for target t.",
        ),
        (
            json!({"Id": "t", "Arn": sqs("q"), "InputTransformer": {"InputPathsMap": {"a": "$.a"}, "InputTemplate": "\"<a> <b>\""}}),
            "InputTemplate for target t contains invalid placeholder b.",
        ),
        (
            json!({"Id": "t", "Arn": sqs("q"), "RetryPolicy": {"MaximumRetryAttempts": 186}}),
            "1 validation error detected: Value '186' at 'targets.1.member.retryPolicy.maximumRetryAttempts' \
             failed to satisfy constraint: Member must have value less than or equal to 185",
        ),
        (
            json!({"Id": "t", "Arn": sqs("q"), "RetryPolicy": {"MaximumEventAgeInSeconds": 86401}}),
            "1 validation error detected: Value '86401' at 'targets.1.member.retryPolicy.maximumEventAgeInSeconds' \
             failed to satisfy constraint: Member must have value less than or equal to 86400",
        ),
    ] {
        let reply = events(
            &app,
            "PutTargets",
            json!({"Rule": "ids", "Targets": [target]}),
        )
        .await;
        assert_eq!(
            reply.json(),
            json!({"__type": "ValidationException", "message": message})
        );
    }
    // Five targets a rule, as EventBridge.
    let reply = events(
        &app,
        "PutTargets",
        json!({"Rule": "all", "Targets": [{"Id": "sixth", "Arn": sqs("q")}]}),
    )
    .await;
    assert_eq!(reply.json()["__type"], "LimitExceededException");
}

/// Functions whose asynchronous invocations are refused as Lambda refuses them: `throttled`
/// always (429), `flaky` the first time only, `down` with a service error (500); the rest do
/// not exist. Accepted payloads are kept.
struct Refusing {
    calls: Mutex<Vec<String>>,
    accepted: Seen,
}

impl weir_serve::Invoker for Refusing {
    fn function_arn(&self, name: &str) -> String {
        format!("arn:aws:lambda:us-east-1:000000000000:function:{name}")
    }
    fn exists(&self, name: &str) -> bool {
        ["throttled", "flaky", "down"].contains(&name)
    }
    fn names(&self) -> Vec<String> {
        vec!["down".into(), "flaky".into(), "throttled".into()]
    }
    fn invoke(
        &self,
        name: &str,
        _kind: weir_serve::InvocationType,
        payload: Vec<u8>,
    ) -> weir_serve::InvokeFuture {
        let earlier = {
            let mut calls = self.calls.lock().unwrap();
            let earlier = calls.iter().filter(|c| *c == name).count();
            calls.push(name.to_string());
            earlier
        };
        let throttled =
            || weir_serve::InvokeError::new("TooManyRequestsException", 429, "Rate Exceeded.");
        let result = match name {
            "throttled" => Err(throttled()),
            "flaky" if earlier == 0 => Err(throttled()),
            "flaky" => {
                self.accepted
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&payload).unwrap());
                Ok(None)
            }
            "down" => Err(weir_serve::InvokeError::new(
                "ServiceException",
                500,
                "the asynchronous queue is unavailable",
            )),
            other => Err(weir_serve::InvokeError::not_found(
                &self.function_arn(other),
            )),
        };
        Box::pin(async move { result })
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_backoff_then_dead_lettered() {
    use weir_route::QueueConfig;
    let invoker = Arc::new(Refusing {
        calls: Mutex::default(),
        accepted: Arc::default(),
    });
    let layer = weir_route::Router::new();
    let dlq = layer.create_queue(QueueConfig::new("dlq")).unwrap();
    let app = weir_serve::Service::new(invoker.clone(), "us-east-1")
        .event_buses(layer.clone())
        .router();
    let function = |f: &str| format!("arn:aws:lambda:us-east-1:000000000000:function:{f}");
    let dead_letter = json!({"Arn": "arn:aws:sqs:us-east-1:000000000000:dlq"});
    events(
        &app,
        "PutRule",
        json!({"Name": "r", "EventPattern": r#"{"source": ["s"]}"#}),
    )
    .await;
    let reply = events(
        &app,
        "PutTargets",
        json!({"Rule": "r", "Targets": [
            {"Id": "gone", "Arn": function("gone"), "DeadLetterConfig": dead_letter},
            {"Id": "throttled", "Arn": function("throttled"), "DeadLetterConfig": dead_letter,
             "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60}},
            {"Id": "flaky", "Arn": function("flaky"), "DeadLetterConfig": dead_letter},
        ]}),
    )
    .await;
    assert_eq!(reply.json()["FailedEntryCount"], 0, "{}", reply.json());
    let started = std::time::Instant::now();
    let reply = events(
        &app,
        "PutEvents",
        json!({"Entries": [{"Source": "s", "DetailType": "t", "Detail": r#"{"k": 1}"#}]}),
    )
    .await;
    // Every failure here is EventBridge's to handle: the entry was accepted.
    let body = reply.json();
    assert_eq!(body["FailedEntryCount"], 0, "{body}");
    let id = body["Entries"][0]["EventId"].as_str().unwrap().to_string();

    // The missing function's event goes to the dead-letter queue at once, without retries;
    // the throttled one's after its two retries.
    let mut letters = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while letters.len() < 2 && std::time::Instant::now() < deadline {
        letters.extend(dlq.receive(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(letters.len(), 2, "{letters:?}");
    let attributes =
        |m: &weir_route::ReceivedMessage| -> std::collections::BTreeMap<String, String> {
            m.message_attributes.iter().cloned().collect()
        };
    let gone = attributes(&letters[0]);
    assert_eq!(gone["TARGET_ARN"], function("gone"));
    assert_eq!(
        gone["RULE_ARN"],
        "arn:aws:events:us-east-1:000000000000:rule/r"
    );
    assert_eq!(gone["ERROR_CODE"], "ResourceNotFoundException");
    assert_eq!(
        gone["ERROR_MESSAGE"],
        format!("Function not found: {}", function("gone"))
    );
    assert_eq!(gone["RETRY_ATTEMPTS"], "0");
    assert!(!gone.contains_key("EXHAUSTED_RETRY_CONDITION"));
    let throttled = attributes(&letters[1]);
    assert_eq!(throttled["TARGET_ARN"], function("throttled"));
    assert_eq!(throttled["ERROR_CODE"], "TooManyRequestsException");
    assert_eq!(throttled["RETRY_ATTEMPTS"], "2");
    assert_eq!(
        throttled["EXHAUSTED_RETRY_CONDITION"],
        "MaximumRetryAttempts"
    );
    for letter in &letters {
        let event: Value = serde_json::from_str(&letter.body).unwrap();
        assert_eq!(event["id"], id.as_str(), "the body is the event");
    }
    // Backoff: the first retry after 0.5-1 s, the second after 1-2 s more.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let calls = invoker.calls.lock().unwrap().clone();
    assert_eq!(calls.iter().filter(|c| *c == "throttled").count(), 3);
    assert_eq!(calls.iter().filter(|c| *c == "gone").count(), 1);
    // The flaky function got the event on its first retry, and no dead letter.
    assert_eq!(calls.iter().filter(|c| *c == "flaky").count(), 2);
    let accepted = invoker.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["id"], id.as_str());
    assert!(dlq.receive(10).is_empty());

    // A delivery weir itself could not take charge of fails the entry.
    events(
        &app,
        "PutRule",
        json!({"Name": "d", "EventPattern": r#"{"source": ["d"]}"#}),
    )
    .await;
    events(
        &app,
        "PutTargets",
        json!({"Rule": "d", "Targets": [{"Id": "down", "Arn": function("down"), "DeadLetterConfig": dead_letter}]}),
    )
    .await;
    let reply = events(
        &app,
        "PutEvents",
        json!({"Entries": [
            {"Source": "d", "DetailType": "t", "Detail": "{}"},
            {"Source": "other", "DetailType": "t", "Detail": "{}"},
        ]}),
    )
    .await;
    let body = reply.json();
    assert_eq!(body["FailedEntryCount"], 1, "{body}");
    assert_eq!(body["Entries"][0]["ErrorCode"], "InternalFailure");
    assert!(body["Entries"][1]["EventId"].is_string());
}
