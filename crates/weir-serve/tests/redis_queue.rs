//! Queue semantics on a Redis stream's consumer group, against a Redis server of the test's
//! own: visibility timeout (XAUTOCLAIM), receive counts, the dead-letter stream, and event
//! source mappings on it (filtering before batching, partial batch failures, hanging and
//! crashing handlers, two consumers sharing one mapping).

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::streams::StreamRangeReply;
use serde_json::Value;
use support::redis::Redis;
use weir::lambda::FilterCriteria;
use weir_route::{CommandHandler, FunctionError, Handler, Invocation, Outcome, ProcessSpec};
use weir_serve::{QueueConsumer, QueueMappingConfig, RedisQueue, RedisQueueConfig};

const VISIBILITY: Duration = Duration::from_millis(400);

async fn queue(server: &Redis, config: RedisQueueConfig) -> RedisQueue {
    RedisQueue::connect(&server.url(), config.visibility_timeout(VISIBILITY))
        .await
        .unwrap()
}

async fn dead_letters(server: &Redis, key: &str) -> Vec<HashMap<String, String>> {
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
            e.map
                .iter()
                .map(|(k, v)| (k.clone(), redis::from_redis_value_ref::<String>(v).unwrap()))
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn visibility_timeout_receive_count_and_delete() {
    let server = Redis::start();
    let q = queue(&server, RedisQueueConfig::new("q")).await;
    let other = queue(&server, RedisQueueConfig::new("q")).await;
    q.send_batch(&["a", "b", "c"]).await.unwrap();
    let first = q.receive("c1", 10, Duration::ZERO).await.unwrap();
    let bodies: Vec<&str> = first.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["a", "b", "c"]);
    assert!(first.messages.iter().all(|m| m.receive_count == 1));
    // Hidden from every consumer until the visibility timeout passes.
    let hidden = other
        .receive("c2", 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert!(hidden.messages.is_empty());
    assert!(q.delete(&first.messages[0].id).await.unwrap());
    tokio::time::sleep(VISIBILITY + Duration::from_millis(100)).await;
    let again = other.receive("c2", 10, Duration::ZERO).await.unwrap();
    let bodies: Vec<(&str, u32)> = again
        .messages
        .iter()
        .map(|m| (m.body.as_str(), m.receive_count))
        .collect();
    assert_eq!(bodies, [("b", 2), ("c", 2)]);
    assert_eq!(q.len().await.unwrap(), 2);
    let ids: Vec<String> = again.messages.iter().map(|m| m.id.clone()).collect();
    assert_eq!(q.delete_batch(&ids).await.unwrap(), 2);
    assert!(q.is_empty().await.unwrap());
    // Deleting twice finds nothing pending.
    assert!(!q.delete(&ids[0]).await.unwrap());
}

#[tokio::test]
async fn past_max_receive_count_a_message_moves_to_the_dead_letter_stream() {
    let server = Redis::start();
    let q = queue(
        &server,
        RedisQueueConfig::new("q").max_receive_count(2, "q-dlq"),
    )
    .await;
    q.send("poison").await.unwrap();
    for count in 1..=2 {
        let got = q.receive("c", 10, Duration::ZERO).await.unwrap();
        assert_eq!(got.messages.len(), 1);
        assert_eq!(got.messages[0].receive_count, count);
        tokio::time::sleep(VISIBILITY + Duration::from_millis(100)).await;
    }
    let got = q.receive("c", 10, Duration::ZERO).await.unwrap();
    assert_eq!((got.messages.len(), got.dead_lettered), (0, 1));
    assert!(q.is_empty().await.unwrap());
    let dlq = dead_letters(&server, "q-dlq").await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0]["body"], "poison");
    assert_eq!(dlq[0]["receive_count"], "2");
}

#[tokio::test]
async fn message_attributes_reach_the_record_and_move_with_a_dead_letter() {
    let server = Redis::start();
    let q = queue(
        &server,
        RedisQueueConfig::new("q").max_receive_count(1, "q-dlq"),
    )
    .await;
    let attributes = [
        ("RULE_ARN".to_string(), "arn:r".to_string()),
        ("ERROR_CODE".to_string(), "E".to_string()),
    ];
    q.send_with_attributes("hello", &attributes).await.unwrap();
    let got = q.receive("c", 10, Duration::ZERO).await.unwrap();
    assert_eq!(
        got.messages[0].message_attributes,
        [
            ("ERROR_CODE".to_string(), "E".to_string()),
            ("RULE_ARN".to_string(), "arn:r".to_string()),
        ],
        "in name order"
    );
    // The SQS record a mapping delivers: Lambda's messageAttributes and the body's MD5.
    let seen: Seen = Arc::default();
    let q2 = queue(&server, RedisQueueConfig::new("q2")).await;
    q2.send_with_attributes("hello", &attributes).await.unwrap();
    q2.send("plain").await.unwrap();
    let consumer = QueueConsumer::new(
        q2.clone(),
        "c",
        QueueMappingConfig::new("arn"),
        recorder(seen.clone(), None),
    );
    consumer.poll_once().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0]["messageAttributes"]["RULE_ARN"],
        serde_json::json!({"stringValue": "arn:r", "stringListValues": [],
            "binaryListValues": [], "dataType": "String"})
    );
    assert_eq!(
        seen[0]["messageAttributes"]["ERROR_CODE"]["stringValue"],
        "E"
    );
    // MD5("hello").
    assert_eq!(seen[0]["md5OfBody"], "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(seen[1]["messageAttributes"], serde_json::json!({}));
    // A message moved to the dead-letter stream keeps its attributes.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while q
        .receive("c", 10, Duration::ZERO)
        .await
        .unwrap()
        .dead_lettered
        == 0
    {
        assert!(std::time::Instant::now() < deadline, "never dead-lettered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dlq = dead_letters(&server, "q-dlq").await;
    assert_eq!(dlq[0]["attr.RULE_ARN"], "arn:r");
    assert_eq!(dlq[0]["attr.ERROR_CODE"], "E");
}

type Seen = Arc<Mutex<Vec<Value>>>;

fn recorder(seen: Seen, fail_on: Option<&'static str>) -> Arc<dyn Handler> {
    Arc::new(move |invocation: Invocation| {
        let seen = seen.clone();
        async move {
            let event: Value = serde_json::from_slice(&invocation.payload).unwrap();
            let records = event["Records"].as_array().unwrap().clone();
            let mut failures = Vec::new();
            for record in records {
                if Some(record["body"].as_str().unwrap()) == fail_on {
                    failures.push(serde_json::json!({"itemIdentifier": record["messageId"]}));
                }
                seen.lock().unwrap().push(record);
            }
            let response = serde_json::json!({"batchItemFailures": failures});
            Outcome::Success(response.to_string().into_bytes())
        }
    })
}

#[tokio::test]
async fn a_mapping_filters_before_batching_and_deletes_what_it_filtered_out() {
    let server = Redis::start();
    let q = queue(&server, RedisQueueConfig::new("orders")).await;
    let bodies: Vec<String> = (0..25)
        .map(|n| format!(r#"{{"n": {n}, "big": {}}}"#, n % 2 == 0))
        .collect();
    q.send_batch(&bodies).await.unwrap();
    let seen: Seen = Arc::default();
    let mut config = QueueMappingConfig::new("arn:aws:lambda:us-east-1:000000000000:function:f");
    config.filter_criteria = Some(
        FilterCriteria::parse(r#"{"Filters": [{"Pattern": "{\"body\": {\"big\": [true]}}"}]}"#)
            .unwrap(),
    );
    config.batch_size = 4;
    let consumer = QueueConsumer::new(q.clone(), "c1", config, recorder(seen.clone(), None));
    let mut batches = 0;
    while !q.is_empty().await.unwrap() {
        let poll = consumer.poll_once().await.unwrap();
        assert!(poll.received <= 4);
        batches += 1;
        assert!(batches < 50, "the queue does not drain");
    }
    let seen = seen.lock().unwrap();
    let ns: Vec<i64> = seen
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            body["n"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(ns, (0..25).step_by(2).collect::<Vec<_>>());
    assert_eq!(seen[0]["eventSource"], "aws:sqs");
    assert_eq!(seen[0]["attributes"]["ApproximateReceiveCount"], "1");
    assert_eq!(
        seen[0]["eventSourceARN"],
        "arn:aws:sqs:us-east-1:000000000000:orders"
    );
    let counters = consumer.counters().to_json();
    assert_eq!(counters["PolledEventCount"], 25);
    assert_eq!(counters["FilteredOutEventCount"], 12);
    assert_eq!(counters["InvokedEventCount"], 13);
    assert_eq!(counters["DeletedEventCount"], 25);
    assert_eq!(counters["FailedInvokeEventCount"], 0);
}

#[tokio::test]
async fn reported_batch_item_failures_come_back_after_the_visibility_timeout() {
    let server = Redis::start();
    let q = queue(&server, RedisQueueConfig::new("q")).await;
    q.send_batch(&["ok-1", "bad", "ok-2"]).await.unwrap();
    let seen: Seen = Arc::default();
    let mut config = QueueMappingConfig::new("arn");
    config.report_batch_item_failures = true;
    let consumer = QueueConsumer::new(q.clone(), "c", config, recorder(seen.clone(), Some("bad")));
    consumer.poll_once().await.unwrap();
    assert_eq!(q.len().await.unwrap(), 1, "only the reported failure stays");
    // Not visible again before the timeout.
    assert_eq!(consumer.poll_once().await.unwrap().received, 0);
    tokio::time::sleep(VISIBILITY).await;
    consumer.poll_once().await.unwrap();
    let seen = seen.lock().unwrap();
    let last = seen.last().unwrap();
    assert_eq!(last["body"], "bad");
    assert_eq!(last["attributes"]["ApproximateReceiveCount"], "2");
    assert_eq!(seen.len(), 4);
}

/// Polls until the queue is empty (or a bound passes).
async fn drain(consumer: &QueueConsumer, q: &RedisQueue) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !q.is_empty().await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the queue does not drain"
        );
        consumer.poll_once().await.unwrap();
    }
}

#[tokio::test]
async fn a_hanging_handler_times_out_is_retried_then_dead_lettered() {
    let server = Redis::start();
    let q = queue(
        &server,
        RedisQueueConfig::new("q").max_receive_count(3, "q-dlq"),
    )
    .await;
    q.send(r#"{"hang": true}"#).await.unwrap();
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let hang: Arc<dyn Handler> = Arc::new(move |_| {
        *counted.lock().unwrap() += 1;
        async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Outcome::Success(Vec::new())
        }
    });
    let mut config = QueueMappingConfig::new("arn");
    config.timeout = Duration::from_millis(100);
    let consumer = QueueConsumer::new(q.clone(), "c", config, hang);
    drain(&consumer, &q).await;
    assert_eq!(
        *calls.lock().unwrap(),
        3,
        "three receives, three timed-out invocations"
    );
    let counters = consumer.counters().to_json();
    assert_eq!(counters["FailedInvokeEventCount"], 3);
    assert_eq!(counters["DroppedEventCount"], 1);
    let dlq = dead_letters(&server, "q-dlq").await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0]["body"], r#"{"hang": true}"#);
    assert_eq!(dlq[0]["receive_count"], "3");
}

#[tokio::test]
async fn a_crashing_handler_process_is_a_failure_retried_then_dead_lettered() {
    let server = Redis::start();
    let q = queue(
        &server,
        RedisQueueConfig::new("q").max_receive_count(2, "q-dlq"),
    )
    .await;
    q.send_batch(&["x", "y"]).await.unwrap();
    // The process kills itself: death by a signal, a function error.
    let crash = CommandHandler::new(ProcessSpec::new("sh").arg("-c").arg("kill -9 $$"));
    let mut config = QueueMappingConfig::new("arn");
    config.timeout = Duration::from_secs(5);
    let consumer = QueueConsumer::new(q.clone(), "c", config, Arc::new(crash));
    drain(&consumer, &q).await;
    let counters = consumer.counters().to_json();
    assert_eq!(counters["InvokedEventCount"], 4);
    assert_eq!(counters["FailedInvokeEventCount"], 4);
    assert_eq!(counters["DroppedEventCount"], 2);
    let mut bodies: Vec<String> = dead_letters(&server, "q-dlq")
        .await
        .into_iter()
        .map(|e| e["body"].clone())
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["x", "y"]);
}

#[tokio::test]
async fn a_panicking_handler_is_a_failure_not_a_crash() {
    let server = Redis::start();
    let q = queue(
        &server,
        RedisQueueConfig::new("q").max_receive_count(1, "q-dlq"),
    )
    .await;
    q.send("p").await.unwrap();
    let panics: Arc<dyn Handler> = Arc::new(|_| async {
        if true {
            panic!("handler bug");
        }
        Outcome::Error(FunctionError::new("never", "never"))
    });
    let consumer = QueueConsumer::new(q.clone(), "c", QueueMappingConfig::new("arn"), panics);
    drain(&consumer, &q).await;
    assert_eq!(consumer.counters().to_json()["DroppedEventCount"], 1);
}

#[tokio::test]
async fn two_consumers_share_a_mapping_each_record_once() {
    let server = Redis::start();
    let q = queue(&server, RedisQueueConfig::new("shared")).await;
    let bodies: Vec<String> = (0..400).map(|n| n.to_string()).collect();
    for chunk in bodies.chunks(100) {
        q.send_batch(chunk).await.unwrap();
    }
    let seen: Seen = Arc::default();
    let mut tasks = Vec::new();
    let mut counters = Vec::new();
    for name in ["a", "b"] {
        let mine = queue(&server, RedisQueueConfig::new("shared")).await;
        let slow_seen = seen.clone();
        let handler: Arc<dyn Handler> = Arc::new(move |i: Invocation| {
            let seen = slow_seen.clone();
            async move {
                // Slow enough that both consumers take part.
                tokio::time::sleep(Duration::from_millis(5)).await;
                let event: Value = serde_json::from_slice(&i.payload).unwrap();
                seen.lock()
                    .unwrap()
                    .extend(event["Records"].as_array().unwrap().iter().cloned());
                Outcome::Success(Vec::new())
            }
        });
        let consumer = QueueConsumer::new(mine, name, QueueMappingConfig::new("arn"), handler);
        counters.push(consumer.counters());
        let done = q.clone();
        tasks.push(tokio::spawn(async move {
            consumer
                .run(async move {
                    while !done.is_empty().await.unwrap_or(false) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
                .await
        }));
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
    }
    let seen = seen.lock().unwrap();
    let mut got: Vec<u32> = seen
        .iter()
        .map(|r| r["body"].as_str().unwrap().parse().unwrap())
        .collect();
    got.sort();
    assert_eq!(
        got,
        (0..400).collect::<Vec<_>>(),
        "each record exactly once"
    );
    let per: Vec<u64> = counters
        .iter()
        .map(|c| c.invoked.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    assert!(
        per.iter().all(|n| *n > 0),
        "both consumers took records: {per:?}"
    );
}

#[tokio::test]
async fn a_poll_with_several_pollers_invokes_several_batches_at_once() {
    let server = Redis::start();
    let q = queue(&server, RedisQueueConfig::new("q")).await;
    let bodies: Vec<String> = (0..12).map(|n| n.to_string()).collect();
    q.send_batch(&bodies).await.unwrap();
    let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (s, f, m) = (sizes.clone(), in_flight.clone(), most.clone());
    let handler: Arc<dyn Handler> = Arc::new(move |i: Invocation| {
        let (s, f, m) = (s.clone(), f.clone(), m.clone());
        async move {
            let now = f.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            m.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let event: Value = serde_json::from_slice(&i.payload).unwrap();
            s.lock()
                .unwrap()
                .push(event["Records"].as_array().unwrap().len());
            f.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            Outcome::Success(Vec::new())
        }
    });
    let mut config = QueueMappingConfig::new("arn");
    config.batch_size = 4;
    config.pollers = 3;
    let consumer = QueueConsumer::new(q.clone(), "c", config, handler);
    let poll = consumer.poll_once().await.unwrap();
    assert_eq!(poll.received, 12);
    assert_eq!(*sizes.lock().unwrap(), [4, 4, 4]);
    assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 3, "at once");
    assert!(q.is_empty().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_invocation_keeps_its_messages_hidden_past_the_visibility_timeout() {
    let server = Redis::start();
    let q = queue(&server, RedisQueueConfig::new("q")).await;
    let other = queue(&server, RedisQueueConfig::new("q")).await;
    q.send_batch(&["a", "b"]).await.unwrap();
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    // Runs six visibility timeouts.
    let slow: Arc<dyn Handler> = Arc::new(move |_| {
        *counted.lock().unwrap() += 1;
        async {
            tokio::time::sleep(VISIBILITY * 6).await;
            Outcome::Success(Vec::new())
        }
    });
    let mut config = QueueMappingConfig::new("arn");
    config.timeout = Duration::from_secs(60);
    let consumer = QueueConsumer::new(q.clone(), "c1", config, slow);
    let poll = tokio::spawn(async move {
        let poll = consumer.poll_once().await.unwrap();
        (poll, consumer.counters().to_json())
    });
    // Once the function runs, another consumer polling all along (XAUTOCLAIM past the
    // visibility timeout) never takes them.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while *calls.lock().unwrap() == 0 {
        assert!(std::time::Instant::now() < deadline, "never invoked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut taken = 0;
    while !poll.is_finished() {
        let got = other
            .receive("c2", 10, Duration::from_millis(50))
            .await
            .unwrap();
        taken += got.messages.len();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (poll, counters) = poll.await.unwrap();
    assert_eq!(poll.received, 2);
    assert_eq!(taken, 0, "another consumer took a message in flight");
    assert_eq!(*calls.lock().unwrap(), 1);
    assert_eq!(counters["DeletedEventCount"], 2);
    assert!(q.is_empty().await.unwrap());
}

#[tokio::test]
async fn receive_counts_are_each_messages_own_among_other_pending_messages() {
    let server = Redis::start();
    let config = RedisQueueConfig::new("q").max_receive_count(3, "q-dlq");
    let a = queue(&server, config.clone()).await;
    let b = queue(&server, config).await;
    let bodies: Vec<String> = (0..90).map(|n| n.to_string()).collect();
    a.send_batch(&bodies).await.unwrap();
    let got = a.receive("a", 90, Duration::ZERO).await.unwrap();
    assert_eq!(got.messages.len(), 90);
    let ids: Vec<String> = got.messages.iter().map(|m| m.id.clone()).collect();
    // The first and the last come back past their visibility timeout; the 88 between stay
    // pending (kept hidden by `a`), inside the range of the two.
    let between = &ids[1..89];
    for count in 2..=3 {
        tokio::time::sleep(VISIBILITY + Duration::from_millis(100)).await;
        assert_eq!(a.renew("a", between).await.unwrap(), 88);
        let got = b.receive("b", 10, Duration::ZERO).await.unwrap();
        let seen: Vec<(&str, u32)> = got
            .messages
            .iter()
            .map(|m| (m.body.as_str(), m.receive_count))
            .collect();
        assert_eq!(seen, [("0", count), ("89", count)]);
    }
    tokio::time::sleep(VISIBILITY + Duration::from_millis(100)).await;
    a.renew("a", between).await.unwrap();
    let got = b.receive("b", 10, Duration::ZERO).await.unwrap();
    assert_eq!((got.messages.len(), got.dead_lettered), (0, 2));
    let dlq = dead_letters(&server, "q-dlq").await;
    let dead: Vec<&str> = dlq.iter().map(|e| e["body"].as_str()).collect();
    assert_eq!(dead, ["0", "89"]);
    assert_eq!(a.len().await.unwrap(), 88);
}

#[tokio::test]
async fn a_batch_is_cut_to_stay_within_the_6_mb_payload_limit() {
    let server = Redis::start();
    let q = queue(&server, RedisQueueConfig::new("q")).await;
    // Eight messages of 1 MB: a batch of 10 would be 8 MB.
    let bodies: Vec<String> = (0..8)
        .map(|n| format!("{n}{}", "x".repeat(1 << 20)))
        .collect();
    q.send_batch(&bodies).await.unwrap();
    let payloads: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let p = payloads.clone();
    let handler: Arc<dyn Handler> = Arc::new(move |i: Invocation| {
        let p = p.clone();
        async move {
            let event: Value = serde_json::from_slice(&i.payload).unwrap();
            let n = event["Records"].as_array().unwrap().len();
            p.lock().unwrap().push((i.payload.len(), n));
            Outcome::Success(Vec::new())
        }
    });
    let mut config = QueueMappingConfig::new("arn");
    config.batch_size = 10;
    let consumer = QueueConsumer::new(q.clone(), "c", config, handler);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !q.is_empty().await.unwrap() {
        assert!(std::time::Instant::now() < deadline, "not drained");
        consumer.poll_once().await.unwrap();
    }
    let payloads = payloads.lock().unwrap().clone();
    assert!(
        payloads
            .iter()
            .all(|(bytes, _)| *bytes <= weir_route::MAX_SYNC_PAYLOAD),
        "{payloads:?}"
    );
    assert_eq!(payloads.iter().map(|(_, n)| n).sum::<usize>(), 8);
    assert!(payloads.len() >= 2, "{payloads:?}");
}
