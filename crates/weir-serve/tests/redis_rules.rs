//! EventBridge rules kept on Redis: two weir serve processes (two services here) share the
//! rules and targets one of them put, and a new one (a restart) finds them.

mod support;

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
