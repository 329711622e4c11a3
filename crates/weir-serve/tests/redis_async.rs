//! The asynchronous invocation queue on Redis: retries and their spacing, the invocation
//! records on the destinations, event age, an accepted event surviving a restart and a
//! worker that dies mid-invocation, two workers sharing the queue, and `Event` invocations
//! through the HTTP endpoint landing in Redis.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::streams::StreamRangeReply;
use serde_json::{json, Value};
use support::redis::Redis;
use weir_route::{FunctionConfig, FunctionError, Invocation, Outcome, Router};
use weir_serve::{DurableInvoker, RedisAsyncConfig, RedisAsyncQueue};

fn config() -> RedisAsyncConfig {
    let mut config = RedisAsyncConfig::new("weir:async");
    config.retry_delays = [Duration::from_millis(200), Duration::from_millis(400)];
    config.lease = Duration::from_millis(600);
    config.on_success = Some("ok".into());
    config.on_failure = Some("failed".into());
    config
}

async fn records(server: &Redis, key: &str) -> Vec<Value> {
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let reply: StreamRangeReply = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    reply
        .ids
        .iter()
        .map(|e| {
            serde_json::from_str(&redis::from_redis_value_ref::<String>(&e.map["record"]).unwrap())
                .unwrap()
        })
        .collect()
}

/// Works the queue until nothing is pending (bounded).
async fn drain(queue: &RedisAsyncQueue, router: &Router) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while queue.pending().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "events stuck");
        queue.work_once(router, 16).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

type Times = Arc<Mutex<Vec<Instant>>>;

fn router_with(name: &str, fail: bool, times: Times) -> Router {
    let router = Router::new();
    router
        .create_function(FunctionConfig::new(name), move |i: Invocation| {
            let times = times.clone();
            async move {
                times.lock().unwrap().push(Instant::now());
                if fail {
                    Outcome::Error(FunctionError::new("Error", "always"))
                } else {
                    Outcome::Success(i.payload)
                }
            }
        })
        .unwrap();
    router
}

#[tokio::test]
async fn a_failing_event_is_retried_twice_spaced_then_recorded_on_failure() {
    let server = Redis::start();
    let times: Times = Arc::default();
    let router = router_with("f", true, times.clone());
    let queue = RedisAsyncQueue::connect(&server.url(), config())
        .await
        .unwrap();
    let id = queue.enqueue("f", br#"{"order": 1}"#).await.unwrap();
    drain(&queue, &router).await;
    let times = times.lock().unwrap().clone();
    assert_eq!(times.len(), 3, "one invocation and two retries");
    let gaps = [times[1] - times[0], times[2] - times[1]];
    assert!(gaps[0] >= Duration::from_millis(200), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(400), "{gaps:?}");
    assert!(gaps[1] < Duration::from_secs(3), "{gaps:?}");
    let failed = records(&server, "failed").await;
    assert_eq!(failed.len(), 1);
    let record = &failed[0];
    assert_eq!(record["version"], "1.0");
    assert_eq!(
        record["requestContext"],
        json!({
            "requestId": id,
            "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        })
    );
    assert_eq!(record["requestPayload"], json!({"order": 1}));
    assert_eq!(
        record["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
    );
    assert_eq!(
        record["responsePayload"],
        json!({"errorMessage": "always", "errorType": "Error"})
    );
    assert!(records(&server, "ok").await.is_empty());
}

#[tokio::test]
async fn a_success_is_recorded_on_success() {
    let server = Redis::start();
    let router = router_with("f", false, Times::default());
    let queue = RedisAsyncQueue::connect(&server.url(), config())
        .await
        .unwrap();
    queue.enqueue("f", br#"{"n": 2}"#).await.unwrap();
    drain(&queue, &router).await;
    let ok = records(&server, "ok").await;
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["requestContext"]["condition"], "Success");
    assert_eq!(ok[0]["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(ok[0]["responsePayload"], json!({"n": 2}));
    assert_eq!(
        ok[0]["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST"})
    );
}

#[tokio::test]
async fn an_event_past_its_maximum_age_is_discarded() {
    let server = Redis::start();
    let times: Times = Arc::default();
    let router = router_with("f", true, times.clone());
    let mut config = config();
    config.maximum_event_age = Duration::from_millis(300);
    config.retry_delays = [Duration::from_secs(5), Duration::from_secs(5)];
    let queue = RedisAsyncQueue::connect(&server.url(), config)
        .await
        .unwrap();
    queue.enqueue("f", b"{}").await.unwrap();
    let started = Instant::now();
    drain(&queue, &router).await;
    // The retry's wait stops at the age limit: the event goes then, not 5 s later.
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(times.lock().unwrap().len(), 1);
    let failed = records(&server, "failed").await;
    assert_eq!(failed[0]["requestContext"]["condition"], "EventAgeExceeded");
    assert_eq!(failed[0]["requestContext"]["approximateInvokeCount"], 1);
}

#[tokio::test]
async fn an_accepted_event_survives_a_restart_and_a_worker_dying_mid_invocation() {
    let server = Redis::start();
    // Accepted by one weir, which stops before any worker ran it.
    let first = RedisAsyncQueue::connect(&server.url(), config())
        .await
        .unwrap();
    first.enqueue("f", br#"{"kept": true}"#).await.unwrap();
    drop(first);
    // The next weir's worker hangs in the handler and dies there.
    let calls = Arc::new(AtomicUsize::new(0));
    let router = Router::new();
    let counted = calls.clone();
    let mut slow = FunctionConfig::new("f");
    slow.timeout = Duration::from_secs(60);
    router
        .create_function(slow, move |i: Invocation| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Outcome::Success(i.payload)
            }
        })
        .unwrap();
    // A lease of 2 s (renewed every third of it): the dead worker's claim still holds for
    // over a second after it dies, however slow the machine.
    let mut leased = config();
    leased.lease = Duration::from_secs(2);
    let second = RedisAsyncQueue::connect(&server.url(), leased.clone())
        .await
        .unwrap();
    let worker = {
        let (queue, router) = (second.clone(), router.clone());
        tokio::spawn(async move { queue.work_once(&router, 16).await })
    };
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    worker.abort();
    assert_eq!(second.pending().await.unwrap(), 1, "still accepted");
    // A third worker takes it once the dead one's lease passes.
    let third = RedisAsyncQueue::connect(&server.url(), leased)
        .await
        .unwrap();
    assert_eq!(third.work_once(&router, 16).await.unwrap(), 0, "leased");
    // Polled until the lease passes (a generous deadline, no fixed sleep).
    let deadline = Instant::now() + Duration::from_secs(30);
    while calls.load(Ordering::SeqCst) < 2 {
        assert!(
            Instant::now() < deadline,
            "the dead worker's event never came back"
        );
        third.work_once(&router, 16).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drain(&third, &router).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let ok = records(&server, "ok").await;
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["requestPayload"], json!({"kept": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_the_queue_each_event_once() {
    let server = Redis::start();
    let seen: Arc<Mutex<Vec<i64>>> = Arc::default();
    let router = Router::new();
    let keep = seen.clone();
    router
        .create_function(FunctionConfig::new("f"), move |i: Invocation| {
            let keep = keep.clone();
            async move {
                let v: Value = serde_json::from_slice(&i.payload).unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
                keep.lock().unwrap().push(v["n"].as_i64().unwrap());
                Outcome::Success(Vec::new())
            }
        })
        .unwrap();
    let producer = RedisAsyncQueue::connect(&server.url(), config())
        .await
        .unwrap();
    for n in 0..200 {
        producer
            .enqueue("f", format!(r#"{{"n": {n}}}"#).as_bytes())
            .await
            .unwrap();
    }
    let mut workers = Vec::new();
    for _ in 0..2 {
        let queue = RedisAsyncQueue::connect(&server.url(), config())
            .await
            .unwrap();
        let router = router.clone();
        workers.push(tokio::spawn(async move {
            let mut claimed = 0;
            while queue.pending().await.unwrap() > 0 {
                claimed += queue.work_once(&router, 8).await.unwrap();
            }
            claimed
        }));
    }
    let mut claimed = Vec::new();
    for w in workers {
        claimed.push(
            tokio::time::timeout(Duration::from_secs(30), w)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
    assert!(claimed.iter().all(|c| *c > 0), "{claimed:?}");
}

#[tokio::test]
async fn event_invocations_over_http_are_kept_in_redis_until_run() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;
    let server = Redis::start();
    let times: Times = Arc::default();
    let router = router_with("f", false, times.clone());
    let queue = RedisAsyncQueue::connect(&server.url(), config())
        .await
        .unwrap();
    let durable = DurableInvoker::new(Arc::new(router.clone()), queue.clone());
    let app = weir_serve::router(Arc::new(durable), "us-east-1");
    let send = |name: &str| {
        Request::post(format!("/2015-03-31/functions/{name}/invocations"))
            .header("x-amz-invocation-type", "Event")
            .body(Body::from(r#"{"via": "http"}"#))
            .unwrap()
    };
    let reply = app.clone().oneshot(send("f")).await.unwrap();
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    let reply = app.clone().oneshot(send("missing")).await.unwrap();
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);
    assert_eq!(queue.pending().await.unwrap(), 1);
    assert!(times.lock().unwrap().is_empty(), "queued, not run yet");
    drain(&queue, &router).await;
    assert_eq!(times.lock().unwrap().len(), 1);
    assert_eq!(
        records(&server, "ok").await[0]["requestPayload"],
        json!({"via": "http"})
    );
}

#[tokio::test]
async fn put_events_reports_an_entry_failed_when_its_delivery_cannot_be_queued() {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut server = Redis::start();
    let times: Times = Arc::default();
    let router = router_with("f", false, times.clone());
    let queue = RedisAsyncQueue::connect(&server.url(), config())
        .await
        .unwrap();
    let durable = DurableInvoker::new(Arc::new(router.clone()), queue.clone());
    let app = weir_serve::router(Arc::new(durable), "us-east-1");
    let call = |operation: &str, body: Value| {
        let request = Request::post("/")
            .header("x-amz-target", format!("AWSEvents.{operation}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(Body::from(body.to_string()))
            .unwrap();
        let app = app.clone();
        async move {
            let reply = app.oneshot(request).await.unwrap();
            let bytes = reply.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        }
    };
    call(
        "PutRule",
        json!({"Name": "r", "EventPattern": r#"{"source": ["shop"]}"#}),
    )
    .await;
    let targets = call(
        "PutTargets",
        json!({"Rule": "r", "Targets": [{"Id": "1", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:f"}]}),
    )
    .await;
    assert_eq!(targets["FailedEntryCount"], 0, "{targets}");
    let entries = json!({"Entries": [
        {"Source": "shop", "DetailType": "order", "Detail": "{}"},
        {"Source": "other", "DetailType": "order", "Detail": "{}"},
    ]});
    let put = call("PutEvents", entries.clone()).await;
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    assert_eq!(queue.pending().await.unwrap(), 1);
    // Redis down: the matching entry's delivery is lost, so the entry fails; the entry no
    // rule matched has nothing to deliver.
    server.kill();
    let put = call("PutEvents", entries).await;
    assert_eq!(put["FailedEntryCount"], 1, "{put}");
    assert_eq!(put["Entries"][0]["ErrorCode"], "InternalFailure", "{put}");
    assert!(put["Entries"][0]["ErrorMessage"]
        .as_str()
        .is_some_and(|m| m.contains("asynchronous queue")));
    assert!(put["Entries"][0].get("EventId").is_none());
    assert!(put["Entries"][1]["EventId"].is_string(), "{put}");
}

/// A router whose function `f` (queue on Redis, retried after 50 ms twice) fails, noting the
/// request id of each attempt.
fn router_noting_ids(queue: &RedisAsyncQueue, ids: Arc<Mutex<Vec<String>>>) -> Router {
    use weir_route::EventInvokeConfig;
    let router = Router::new();
    let config = FunctionConfig::new("f").event_invoke(
        EventInvokeConfig::default()
            .retry_delays(Duration::from_millis(50), Duration::from_millis(50)),
    );
    router
        .create_function(config, move |i: Invocation| {
            let ids = ids.clone();
            async move {
                ids.lock().unwrap().push(i.request_id);
                Outcome::Error(FunctionError::new("Error", "again"))
            }
        })
        .unwrap();
    router.set_event_queue("f", Arc::new(queue.clone()));
    router
}

#[tokio::test]
async fn every_attempt_of_a_redis_event_sees_the_request_id_invoke_answered() {
    let server = Redis::start();
    let queue = RedisAsyncQueue::connect(&server.url(), RedisAsyncConfig::new("weir:async:f"))
        .await
        .unwrap();
    let ids: Arc<Mutex<Vec<String>>> = Arc::default();
    let router = router_noting_ids(&queue, ids.clone());
    let out = router
        .invoke("f", weir_route::InvocationType::Event, b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(out.status_code, 202);
    drain(&queue, &router).await;
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), 3, "one invocation and two retries");
    assert!(
        ids.iter().all(|id| *id == out.request_id),
        "{ids:?} vs {}",
        out.request_id
    );
}
/// The dead-letter message and the OnFailure record of a failing event, from memory and from
/// the Redis queue: the same attributes (ErrorMessage cut to 1 KB) and the same record.
#[tokio::test]
async fn dead_letters_and_failure_records_are_the_same_from_redis_and_from_memory() {
    use weir_route::{EventInvokeConfig, InvocationType, QueueConfig, Target};
    let server = Redis::start();
    let router = Router::new();
    let long = "é".repeat(700); // 1400 bytes
    for name in ["mem", "red"] {
        router
            .create_queue(QueueConfig::new(format!("dlq-{name}")))
            .unwrap();
        router
            .create_queue(QueueConfig::new(format!("failed-{name}")))
            .unwrap();
        let config = FunctionConfig::new(name)
            .dead_letter(Target::Queue(format!("dlq-{name}")))
            .event_invoke(
                EventInvokeConfig::default()
                    .maximum_retry_attempts(0)
                    .on_failure(Target::Queue(format!("failed-{name}"))),
            );
        let long = long.clone();
        router
            .create_function(config, move |_: Invocation| {
                let long = long.clone();
                async move { Outcome::Error(FunctionError::new("Boom", long)) }
            })
            .unwrap();
    }
    let queue = RedisAsyncQueue::connect(&server.url(), RedisAsyncConfig::new("weir:async:red"))
        .await
        .unwrap();
    router.set_event_queue("red", Arc::new(queue.clone()));
    let mut request_ids = Vec::new();
    for name in ["mem", "red"] {
        let out = router
            .invoke(name, InvocationType::Event, br#"{"n": 1}"#.to_vec())
            .await
            .unwrap();
        request_ids.push(out.request_id);
    }
    drain(&queue, &router).await;
    router.wait_idle().await;
    let mut seen = Vec::new();
    for (name, request_id) in ["mem", "red"].iter().zip(&request_ids) {
        let dead = router.queue(&format!("dlq-{name}")).unwrap().receive(10);
        assert_eq!(dead.len(), 1, "{name}");
        assert_eq!(dead[0].body, r#"{"n": 1}"#);
        let mut attributes = dead[0].message_attributes.clone();
        attributes.sort();
        let message = &attributes[0].1;
        assert_eq!(attributes[0].0, "ErrorCode");
        assert_eq!(attributes[1].0, "ErrorMessage");
        assert!(
            attributes[1].1.len() <= 1024,
            "{name}: {}",
            attributes[1].1.len()
        );
        assert!(
            long.starts_with(&attributes[1].1),
            "{name}: {}",
            attributes[1].1
        );
        assert!(attributes[1].1.len() > 1000, "{name}");
        assert_eq!(attributes[2], ("RequestID".to_string(), request_id.clone()));
        let failed = router.queue(&format!("failed-{name}")).unwrap().drain();
        assert_eq!(failed.len(), 1, "{name}");
        let mut record: Value = serde_json::from_str(&failed[0]).unwrap();
        assert_eq!(record["requestContext"]["requestId"], request_id.as_str());
        record["requestContext"]["requestId"] = Value::Null;
        record["requestContext"]["functionArn"] = Value::Null;
        record["timestamp"] = Value::Null;
        seen.push((message.clone(), attributes[1].1.clone(), record));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0].0, "200");
    assert_eq!(seen[0].2["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(seen[0].2["responsePayload"]["errorType"], "Boom");
}

/// An event whose age runs out while it waits for a retry after a function error: its
/// record and dead-letter message carry that error, as from memory.
#[tokio::test]
async fn an_event_too_old_after_a_failed_attempt_keeps_its_last_error() {
    use weir_route::{EventInvokeConfig, QueueConfig, QueuedEvent, Target};
    let server = Redis::start();
    let router = Router::new();
    router.create_queue(QueueConfig::new("dlq")).unwrap();
    router.create_queue(QueueConfig::new("failed")).unwrap();
    let config = FunctionConfig::new("f")
        .dead_letter(Target::Queue("dlq".into()))
        .event_invoke(EventInvokeConfig::default().on_failure(Target::Queue("failed".into())));
    router
        .create_function(config, |_: Invocation| async {
            Outcome::Error(FunctionError::new("Boom", "late"))
        })
        .unwrap();
    let queue = RedisAsyncQueue::connect(&server.url(), RedisAsyncConfig::new("weir:async:f"))
        .await
        .unwrap();
    router.set_event_queue("f", Arc::new(queue.clone()));
    // Stored as the router stores it, with an age limit shorter than the retry wait.
    let mut event = QueuedEvent::new("f", br#"{"n": 2}"#.to_vec());
    event.maximum_event_age = Duration::from_millis(400);
    event.retry_delays = [Duration::from_secs(10), Duration::from_secs(10)];
    let id = queue.enqueue_event(&event).await.unwrap();
    drain(&queue, &router).await;
    router.wait_idle().await;
    let failed = router.queue("failed").unwrap().drain();
    assert_eq!(failed.len(), 1);
    let record: Value = serde_json::from_str(&failed[0]).unwrap();
    assert_eq!(record["requestContext"]["requestId"], id.as_str());
    assert_eq!(record["requestContext"]["condition"], "EventAgeExceeded");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(
        record["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
    );
    assert_eq!(
        record["responsePayload"],
        json!({"errorMessage": "late", "errorType": "Boom"})
    );
    let dead = router.queue("dlq").unwrap().receive(10);
    assert_eq!(dead.len(), 1);
    let mut attributes = dead[0].message_attributes.clone();
    attributes.sort();
    assert_eq!(
        attributes,
        [
            ("ErrorCode".to_string(), "200".to_string()),
            ("ErrorMessage".to_string(), "late".to_string()),
            ("RequestID".to_string(), id.clone()),
        ]
    );
}

/// A router whose function `f` notes each start and end; the first call takes `first`.
fn slow_router(first: Duration, started: Arc<AtomicUsize>, ended: Arc<AtomicUsize>) -> Router {
    let router = Router::new();
    let mut slow = FunctionConfig::new("f");
    slow.timeout = Duration::from_secs(900);
    router
        .create_function(slow, move |i: Invocation| {
            let n = started.fetch_add(1, Ordering::SeqCst);
            let ended = ended.clone();
            async move {
                if n == 0 {
                    tokio::time::sleep(first).await;
                }
                ended.fetch_add(1, Ordering::SeqCst);
                Outcome::Success(i.payload)
            }
        })
        .unwrap();
    router
}

/// Starts `queue.run` on `router`; answers the task and the sender that stops it.
fn running(
    queue: &RedisAsyncQueue,
    router: &Router,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (queue, router) = (queue.clone(), router.clone());
    let task = tokio::spawn(async move {
        queue
            .run(&router, async move {
                let _ = stopped.await;
            })
            .await
    });
    (task, stop)
}

async fn wait_for(count: &AtomicUsize, n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while count.load(Ordering::SeqCst) < n {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Told to stop while an event runs, a worker lets it end (within its grace): the event is
/// finished and recorded, not cut short.
#[tokio::test]
async fn a_stopped_worker_lets_its_running_event_end() {
    let server = Redis::start();
    let (started, ended) = (Arc::default(), Arc::default());
    let router = slow_router(
        Duration::from_millis(500),
        Arc::clone(&started),
        Arc::clone(&ended),
    );
    let mut settings = config();
    settings.lease = Duration::from_secs(60);
    settings.stop_grace = Duration::from_secs(20);
    let queue = RedisAsyncQueue::connect(&server.url(), settings)
        .await
        .unwrap();
    queue.enqueue("f", br#"{"n": 1}"#).await.unwrap();
    let (task, stop) = running(&queue, &router);
    wait_for(&started, 1, "the event to start").await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the worker stopped within its grace")
        .unwrap();
    assert_eq!(ended.load(Ordering::SeqCst), 1, "the running event ended");
    assert_eq!(queue.pending().await.unwrap(), 0);
    let ok = records(&server, "ok").await;
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["requestContext"]["approximateInvokeCount"], 1);
}

/// An event still running when a stopped worker's grace runs out is put back on Redis, due
/// at once (not after its lease), its cut attempt not counted: the next worker runs it.
#[tokio::test]
async fn a_stopped_worker_puts_back_an_event_still_running_after_its_grace() {
    let server = Redis::start();
    let (started, ended) = (Arc::default(), Arc::default());
    let router = slow_router(
        Duration::from_secs(3600),
        Arc::clone(&started),
        Arc::clone(&ended),
    );
    let mut settings = config();
    settings.lease = Duration::from_secs(600);
    settings.stop_grace = Duration::from_millis(200);
    let queue = RedisAsyncQueue::connect(&server.url(), settings)
        .await
        .unwrap();
    let id = queue.enqueue("f", br#"{"n": 2}"#).await.unwrap();
    let (task, stop) = running(&queue, &router);
    wait_for(&started, 1, "the event to start").await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the worker stopped after its grace")
        .unwrap();
    assert_eq!(ended.load(Ordering::SeqCst), 0);
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let due: Option<u64> = redis::cmd("ZSCORE")
        .arg("weir:async:due")
        .arg(&id)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(due.is_some(), "the event is due again");
    let inflight: usize = redis::cmd("ZCARD")
        .arg("weir:async:inflight")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(inflight, 0);
    // The next worker takes it at once, well before the 10-minute lease.
    assert_eq!(queue.work_once(&router, 16).await.unwrap(), 1);
    assert_eq!(ended.load(Ordering::SeqCst), 1);
    let ok = records(&server, "ok").await;
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["requestContext"]["requestId"], id.as_str());
    assert_eq!(ok[0]["requestContext"]["approximateInvokeCount"], 1);
}

/// An invoker whose first `attempt` answers a service error (503), then runs the router's.
struct Unavailable {
    router: Router,
    refusals: AtomicUsize,
}

impl weir_serve::Invoker for Unavailable {
    fn function_arn(&self, name: &str) -> String {
        weir_serve::Invoker::function_arn(&self.router, name)
    }
    fn exists(&self, name: &str) -> bool {
        weir_serve::Invoker::exists(&self.router, name)
    }
    fn names(&self) -> Vec<String> {
        weir_serve::Invoker::names(&self.router)
    }
    fn invoke(
        &self,
        name: &str,
        kind: weir_serve::InvocationType,
        payload: Vec<u8>,
    ) -> weir_serve::InvokeFuture {
        weir_serve::Invoker::invoke(&self.router, name, kind, payload)
    }
    fn attempt(&self, name: &str, payload: Vec<u8>, request_id: &str) -> weir_serve::AttemptFuture {
        if self.refusals.fetch_add(1, Ordering::SeqCst) == 0 {
            return Box::pin(async {
                Err(weir_serve::InvokeError::new(
                    "ServiceException",
                    503,
                    "try again",
                ))
            });
        }
        weir_serve::Invoker::attempt(&self.router, name, payload, request_id)
    }
}

/// A service error (5xx) from the invoker is waited out with a backoff, not the end of the
/// event: the event runs once the invoker answers again, its first run counted once.
#[tokio::test]
async fn a_service_error_from_the_invoker_is_backed_off_not_the_end_of_the_event() {
    let server = Redis::start();
    let times: Times = Arc::default();
    let invoker = Unavailable {
        router: router_with("f", false, times.clone()),
        refusals: AtomicUsize::new(0),
    };
    let queue = RedisAsyncQueue::connect(&server.url(), config())
        .await
        .unwrap();
    queue.enqueue("f", b"{}").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while queue.pending().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "the event never ran");
        queue.work_once(&invoker, 16).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(invoker.refusals.load(Ordering::SeqCst), 2);
    assert_eq!(times.lock().unwrap().len(), 1);
    assert!(records(&server, "failed").await.is_empty());
    let ok = records(&server, "ok").await;
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["requestContext"]["approximateInvokeCount"], 1);
}

/// How many times the queue's claim script has run on `server`.
async fn claims(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// A worker whose claims fail (Redis refusing them) waits longer after each failure instead
/// of asking again every 200 ms, and goes on once Redis answers again.
#[tokio::test]
async fn a_worker_backs_off_while_redis_refuses_its_claims() {
    let server = Redis::start();
    let router = router_with("f", false, Arc::default());
    let queue = RedisAsyncQueue::connect(&server.url(), config())
        .await
        .unwrap();
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // The due set's key holds a string: every claim fails (WRONGTYPE).
    let () = redis::cmd("SET")
        .arg("weir:async:due")
        .arg("not a sorted set")
        .query_async(&mut conn)
        .await
        .unwrap();
    let before = claims(&mut conn).await;
    let started = Instant::now();
    let (task, stop) = running(&queue, &router);
    // Six script calls are at least five claims (the first may count twice: a script not
    // yet loaded), so at least the waits 100 + 200 + 400 + 800 ms lie between them: 1.5 s,
    // where waits of a fixed 200 ms (or none) would take 1 s at most.
    let deadline = Instant::now() + Duration::from_secs(30);
    while claims(&mut conn).await - before < 6 {
        assert!(Instant::now() < deadline, "the worker stopped claiming");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1_500),
        "six claims in {elapsed:?}: the worker did not back off"
    );
    // Redis answers again: the worker runs the next event.
    let () = redis::cmd("DEL")
        .arg("weir:async:due")
        .query_async(&mut conn)
        .await
        .unwrap();
    queue.enqueue("f", b"{}").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while queue.pending().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "the worker never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    task.await.unwrap();
}

/// Redis's clock, in milliseconds.
async fn redis_time(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(conn).await.unwrap();
    secs * 1000 + micros / 1000
}

/// The commands Redis ran for its clients (not those its scripts ran), each as its quoted
/// words, recorded through `MONITOR` until stopped.
struct Monitor {
    commands: Arc<Mutex<Vec<Vec<String>>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Monitor {
    fn start(server: &Redis) -> Monitor {
        use std::io::{BufRead, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        stream.write_all(b"MONITOR\r\n").unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut reader = std::io::BufReader::new(stream);
        let mut ok = String::new();
        reader.read_line(&mut ok).unwrap();
        assert_eq!(ok, "+OK\r\n");
        let commands: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen, stopped) = (commands.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut line = String::new();
            loop {
                match reader.read_line(&mut line) {
                    Ok(0) => return,
                    Ok(_) if line.ends_with('\n') => {
                        // `+TIME [DB CLIENT] "WORD" ...`: a script's own commands say `lua`.
                        if !line.contains(" lua] ") {
                            seen.lock().unwrap().push(quoted_words(&line));
                        }
                        line.clear();
                    }
                    _ if stopped.load(Ordering::SeqCst) => return,
                    _ => {}
                }
            }
        });
        Monitor {
            commands,
            stop,
            thread,
        }
    }

    fn stop(self) -> Vec<Vec<String>> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        std::mem::take(&mut *self.commands.lock().unwrap())
    }
}

/// The double-quoted words of a `MONITOR` line, their escapes undone (as far as digits go).
fn quoted_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut word = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => word.extend(chars.next()),
                '"' => break,
                c => word.push(c),
            }
        }
        words.push(word);
    }
    words
}

/// Processes whose clocks disagree (one an hour slow, one an hour fast) agree on due times
/// and ages: they are on Redis's clock. The process's clock only timestamps records. No
/// command the queue sends Redis carries a time (of the host's clock, which Redis shares
/// here, or of the skewed ones): every due time, lease and age is Redis's own `TIME`.
#[tokio::test]
async fn due_times_and_ages_are_on_redis_clock_whatever_the_process_clocks() {
    let server = Redis::start();
    let times: Times = Arc::default();
    let router = router_with("f", true, times.clone());
    let mut settings = config();
    settings.maximum_event_age = Duration::from_secs(60);
    settings.retry_delays = [Duration::from_secs(2), Duration::from_secs(2)];
    settings.maximum_retry_attempts = 1;
    settings.lease = Duration::from_secs(30);
    let hour = 3_600_000;
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let url = server.url();
    let skewed = |by: i64| {
        let (url, settings) = (url.clone(), settings.clone());
        async move {
            RedisAsyncQueue::connect(&url, settings)
                .await
                .unwrap()
                .with_clock(Arc::new(weir_route::TokioClock::starting_at(
                    (wall as i64 + by) as u64,
                )))
        }
    };
    let (slow, fast) = (skewed(-hour).await, skewed(hour).await);
    let monitor = Monitor::start(&server);
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let near = |score: u64, expected: u64| score + 5_000 >= expected && score <= expected + 5_000;
    // Accepted by the slow process: received and due at Redis's now, not an hour ago.
    let id = slow.enqueue("f", b"{}").await.unwrap();
    let now = redis_time(&mut conn).await;
    let due: u64 = redis::cmd("ZSCORE")
        .arg("weir:async:due")
        .arg(&id)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(near(due, now), "due {due}, Redis now {now}");
    // Run by the fast process: not too old for it (60 s age limit), so it runs; its retry
    // is due 2 s after Redis's now, not an hour later.
    assert_eq!(fast.work_once(&router, 16).await.unwrap(), 1);
    assert_eq!(times.lock().unwrap().len(), 1, "the event ran");
    let now = redis_time(&mut conn).await;
    let due: u64 = redis::cmd("ZSCORE")
        .arg("weir:async:due")
        .arg(&id)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(near(due, now + 2_000), "due {due}, Redis now {now}");
    // The slow process takes the retry once it is due on Redis's clock (not an hour later).
    let deadline = Instant::now() + Duration::from_secs(20);
    while times.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the retry never ran");
        slow.work_once(&router, 16).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(slow.pending().await.unwrap(), 0);
    let commands = monitor.stop();
    let scripts = commands
        .iter()
        .filter(|c| matches!(c.first().map(String::as_str), Some("EVALSHA" | "EVAL")))
        .count();
    // Stored, claimed, retried, claimed again, finished: at least five script calls seen.
    assert!(scripts >= 5, "{scripts} script calls seen: {commands:?}");
    // A time within a day of the host's clock, in milliseconds or seconds.
    let day = 86_400_000;
    let timelike = |n: u64| n.abs_diff(wall) < day || n.abs_diff(wall / 1000) < day / 1000;
    for command in &commands {
        for word in command.iter().skip(1) {
            let number = word
                .parse::<u64>()
                .ok()
                .or_else(|| word.parse::<f64>().ok().map(|f| f as u64));
            assert!(
                !number.is_some_and(timelike),
                "the queue sent Redis a time: {command:?}"
            );
        }
    }
    let failed = records(&server, "failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(failed[0]["requestContext"]["approximateInvokeCount"], 2);
    // The record's timestamp is the slow process's own time.
    let stamp = failed[0]["timestamp"].as_str().unwrap();
    let minutes: Vec<String> = (0..2u64)
        .map(|k| weir_route::clock::iso8601(wall - hour as u64 + k * 60_000)[..16].to_string())
        .collect();
    assert!(
        minutes.contains(&stamp[..16].to_string()),
        "{stamp} {minutes:?}"
    );
}
