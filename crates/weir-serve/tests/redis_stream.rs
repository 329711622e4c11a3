//! Stream semantics on Redis (one Redis stream per shard): order per shard, a checkpoint that
//! survives a restart of the consumer, a failing batch blocking its shard until its retries
//! are exhausted (then Lambda's OnFailure record), filtering, two consumers splitting the
//! shards by lease, and Lambda's stream settings: bisection, partial-batch responses,
//! parallelization, the record age limit and the batching window; a stop given while a
//! consumer waits (or before it polls) starting no new poll.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use redis::streams::StreamRangeReply;
use serde_json::Value;
use support::redis::Redis;
use weir::lambda::FilterCriteria;
use weir_route::{FunctionError, Handler, Invocation, Outcome};
use weir_serve::{RedisStream, RedisStreamConfig, StreamConsumer, StreamMappingConfig};

/// (partition key, data) of each record a handler received, in the order received.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

fn records(payload: &[u8]) -> Vec<(String, String, String)> {
    let event: Value = serde_json::from_slice(payload).unwrap();
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let data = base64::engine::general_purpose::STANDARD
                .decode(r["kinesis"]["data"].as_str().unwrap())
                .unwrap();
            (
                r["eventID"]
                    .as_str()
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_string(),
                r["kinesis"]["partitionKey"].as_str().unwrap().to_string(),
                String::from_utf8(data).unwrap(),
            )
        })
        .collect()
}

/// Records what it gets; fails every batch holding data `fail_on`.
fn handler(seen: Seen, fail_on: Option<&'static str>) -> Arc<dyn Handler> {
    Arc::new(move |i: Invocation| {
        let seen = seen.clone();
        async move {
            let got = records(&i.payload);
            if got.iter().any(|(_, _, d)| Some(d.as_str()) == fail_on) {
                return Outcome::Error(FunctionError::new("Error", "bad record"));
            }
            seen.lock().unwrap().extend(got);
            Outcome::Success(Vec::new())
        }
    })
}

async fn put(stream: &RedisStream, keys: usize, per_key: usize) {
    let mut batch = Vec::new();
    for n in 0..per_key {
        for k in 0..keys {
            batch.push((
                format!("k{k}"),
                format!("{{\"k\": {k}, \"n\": {n}}}").into_bytes(),
            ));
        }
    }
    stream.put_records(&batch).await.unwrap();
}

fn n_of(data: &str) -> i64 {
    serde_json::from_str::<Value>(data).unwrap()["n"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn in_order_per_shard_from_a_checkpoint_that_survives_a_restart() {
    let server = Redis::start();
    let config = RedisStreamConfig::new("clicks", 3);
    let stream = RedisStream::connect(&server.url(), config.clone())
        .await
        .unwrap();
    put(&stream, 6, 10).await;
    let seen: Seen = Arc::default();
    let mut mapping = StreamMappingConfig::new("m1", "arn");
    mapping.batch_size = 7;
    let first = StreamConsumer::new(
        stream.clone(),
        "a",
        mapping.clone(),
        handler(seen.clone(), None),
    );
    first.poll_once().await.unwrap();
    first.poll_once().await.unwrap();
    let before = seen.lock().unwrap().len();
    assert!(before > 0 && before < 60);
    drop(first);
    // A new consumer process (same name, new connection) goes on from the checkpoints.
    let stream = RedisStream::connect(&server.url(), config.clone())
        .await
        .unwrap();
    let second = StreamConsumer::new(stream, "a", mapping, handler(seen.clone(), None));
    while second.poll_once().await.unwrap() > 0 {}
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 60, "each record once");
    // In order per partition key (hence per shard), and each key stays on its shard.
    let mut last: HashMap<&str, i64> = HashMap::new();
    let mut shard_of: HashMap<&str, &str> = HashMap::new();
    for (shard, key, data) in seen.iter() {
        let n = n_of(data);
        assert!(
            last.get(key.as_str()).is_none_or(|prev| *prev < n),
            "{key} out of order"
        );
        last.insert(key, n);
        assert_eq!(*shard_of.entry(key).or_insert(shard), shard.as_str());
        assert_eq!(
            shard,
            &RedisStreamConfig::shard_id(config.shard_of(key)),
            "{key}"
        );
    }
    assert_eq!(
        shard_of
            .values()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        3
    );
}

#[tokio::test]
async fn a_failing_batch_blocks_its_shard_until_retries_are_exhausted() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
        .await
        .unwrap();
    for data in ["a", "b", "bad", "c", "d"] {
        stream.put_record("key", data.as_bytes()).await.unwrap();
    }
    let seen: Seen = Arc::default();
    let mut mapping =
        StreamMappingConfig::new("m", "arn:aws:lambda:us-east-1:000000000000:function:f");
    mapping.batch_size = 2;
    mapping.maximum_retry_attempts = 2;
    mapping.on_failure = Some("failures".into());
    let consumer = StreamConsumer::new(stream, "c", mapping, handler(seen.clone(), Some("bad")));
    let datas = |seen: &Seen| -> Vec<String> {
        seen.lock()
            .unwrap()
            .iter()
            .map(|(_, _, d)| d.clone())
            .collect()
    };
    consumer.poll_once().await.unwrap();
    assert_eq!(datas(&seen), ["a", "b"]);
    // ["bad", "c"] fails: the shard is blocked, "c" and "d" wait.
    for _ in 0..2 {
        consumer.poll_once().await.unwrap();
        assert_eq!(datas(&seen), ["a", "b"]);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The third failure exhausts the two retries: the batch goes to OnFailure, the shard
    // moves on.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while datas(&seen).len() < 3 {
        assert!(std::time::Instant::now() < deadline);
        consumer.poll_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(datas(&seen), ["a", "b", "d"]);
    let counters = consumer.counters().to_json();
    assert_eq!(counters["FailedInvokeEventCount"], 6);
    assert_eq!(counters["PolledEventCount"], 5);
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let reply: StreamRangeReply = redis::cmd("XRANGE")
        .arg("failures")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(reply.ids.len(), 1);
    let record: Value = serde_json::from_str(
        &redis::from_redis_value_ref::<String>(&reply.ids[0].map["record"]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        record["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["KinesisBatchInfo"]["batchSize"], 2);
    assert_eq!(
        record["KinesisBatchInfo"]["shardId"],
        "shardId-000000000000"
    );
    assert_eq!(
        record["KinesisBatchInfo"]["streamArn"],
        "arn:aws:kinesis:us-east-1:000000000000:stream/s"
    );
}

#[tokio::test]
async fn filtered_out_records_advance_the_position_and_invoke_nothing() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 2))
        .await
        .unwrap();
    put(&stream, 4, 5).await;
    let seen: Seen = Arc::default();
    let mut mapping = StreamMappingConfig::new("m", "arn");
    mapping.filter_criteria = Some(
        FilterCriteria::parse(r#"{"Filters": [{"Pattern": "{\"data\": {\"n\": [4]}}"}]}"#).unwrap(),
    );
    let consumer = StreamConsumer::new(stream, "c", mapping, handler(seen.clone(), None));
    while consumer.poll_once().await.unwrap() > 0 {}
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|(_, _, d)| n_of(d) == 4));
    let counters = consumer.counters().to_json();
    assert_eq!(
        (
            &counters["PolledEventCount"],
            &counters["FilteredOutEventCount"]
        ),
        (&Value::from(20), &Value::from(16))
    );
}

#[tokio::test]
async fn two_consumers_split_the_shards_by_lease_and_a_dead_ones_pass_on_to_the_other() {
    let server = Redis::start();
    let config = RedisStreamConfig::new("s", 4);
    let stream = RedisStream::connect(&server.url(), config.clone())
        .await
        .unwrap();
    put(&stream, 16, 5).await;
    let seen_a: Seen = Arc::default();
    let seen_b: Seen = Arc::default();
    let mut mapping = StreamMappingConfig::new("m", "arn");
    mapping.batch_size = 3;
    mapping.lease = Duration::from_millis(500);
    let a = StreamConsumer::new(
        stream.clone(),
        "a",
        mapping.clone(),
        handler(seen_a.clone(), None),
    );
    let b = StreamConsumer::new(
        stream.clone(),
        "b",
        mapping.clone(),
        handler(seen_b.clone(), None),
    );
    // "a" alone leases every shard; once "b" is live, "a" hands half of them over.
    a.poll_once().await.unwrap();
    b.poll_once().await.unwrap();
    assert!(seen_b.lock().unwrap().is_empty(), "every shard is a's");
    a.poll_once().await.unwrap();
    b.poll_once().await.unwrap();
    for _ in 0..3 {
        a.poll_once().await.unwrap();
        b.poll_once().await.unwrap();
    }
    let (got_a, got_b) = (
        seen_a.lock().unwrap().clone(),
        seen_b.lock().unwrap().clone(),
    );
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both consumers read"
    );
    let shards = |seen: &[(String, String, String)]| -> std::collections::HashSet<String> {
        seen.iter().map(|(s, _, _)| s.clone()).collect()
    };
    let late_a = shards(&got_a[got_a.len() - 3..]);
    assert!(
        late_a.is_disjoint(&shards(&got_b)),
        "a shard has one reader at a time"
    );
    // "a" stops (dead): once its leases expire "b" takes over every shard from the
    // checkpoints, and nothing is read twice.
    drop(a);
    tokio::time::sleep(Duration::from_millis(600)).await;
    while b.poll_once().await.unwrap() > 0 {}
    let mut all: Vec<(String, String)> = seen_a
        .lock()
        .unwrap()
        .iter()
        .chain(seen_b.lock().unwrap().iter())
        .map(|(_, k, d)| (k.clone(), d.clone()))
        .collect();
    assert_eq!(all.len(), 80);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 80, "nothing twice");
}

/// A string key's value.
async fn get(server: &Redis, key: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn(server).await)
        .await
        .unwrap()
}

/// Two consumers of one mapping id on one stream under two prefixes (two weirs run with
/// different `--redis-prefix`) share neither leases nor checkpoints: each holds every shard
/// at once and reads every record, from its own checkpoints under its own prefix.
#[tokio::test]
async fn consumers_under_two_prefixes_share_no_lease_or_checkpoint() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 2))
        .await
        .unwrap();
    put(&stream, 4, 3).await;
    let (seen_a, seen_b): (Seen, Seen) = (Arc::default(), Arc::default());
    let mut under_team1 = StreamMappingConfig::new("m", "arn");
    under_team1.prefix = "team1".into();
    under_team1.lease = Duration::from_secs(60);
    let mut under_weir = StreamMappingConfig::new("m", "arn");
    under_weir.lease = Duration::from_secs(60);
    let a = StreamConsumer::new(
        stream.clone(),
        "a",
        under_team1,
        handler(seen_a.clone(), None),
    );
    let b = StreamConsumer::new(
        stream.clone(),
        "b",
        under_weir,
        handler(seen_b.clone(), None),
    );
    // "a" reads everything before "b" starts: were they one mapping, "b" would find every
    // shard leased and checkpointed past the end.
    poll_until(&a, || seen_a.lock().unwrap().len() == 12).await;
    for shard in 0..2 {
        assert_eq!(
            get(&server, &format!("weir:checkpoint:m:{shard}")).await,
            None
        );
        assert_eq!(get(&server, &format!("weir:lease:m:{shard}")).await, None);
    }
    poll_until(&b, || seen_b.lock().unwrap().len() == 12).await;
    let data = |seen: &Seen| {
        let mut data: Vec<String> = seen.lock().unwrap().iter().map(|r| r.2.clone()).collect();
        data.sort();
        data
    };
    assert_eq!(data(&seen_a), data(&seen_b), "each read every record");
    for shard in 0..2 {
        let last = stream
            .read(shard, None, 100)
            .await
            .unwrap()
            .pop()
            .expect("records in every shard")
            .sequence_number;
        assert_eq!(
            get(&server, &format!("team1:checkpoint:m:{shard}")).await,
            Some(last.clone())
        );
        assert_eq!(checkpoint(&server, "m", shard).await, Some(last));
        assert_eq!(
            get(&server, &format!("team1:lease:m:{shard}"))
                .await
                .as_deref(),
            Some("a")
        );
        assert_eq!(
            get(&server, &format!("weir:lease:m:{shard}"))
                .await
                .as_deref(),
            Some("b")
        );
    }
    let members = |key: &'static str| {
        let server = &server;
        async move {
            redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .query_async::<Vec<String>>(&mut conn(server).await)
                .await
                .unwrap()
        }
    };
    assert_eq!(members("team1:consumers:m").await, ["a"]);
    assert_eq!(members("weir:consumers:m").await, ["b"]);
    // Nothing more for either.
    assert_eq!(a.poll_once().await.unwrap(), 0);
    assert_eq!(b.poll_once().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_renewed_while_a_long_invocation_runs() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
        .await
        .unwrap();
    stream.put_record("k", b"{}").await.unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let slow = |who: &'static str, calls: Arc<Mutex<Vec<&'static str>>>| -> Arc<dyn Handler> {
        Arc::new(move |_| {
            calls.lock().unwrap().push(who);
            async {
                tokio::time::sleep(Duration::from_millis(3500)).await;
                Outcome::Success(Vec::new())
            }
        })
    };
    let mut mapping = StreamMappingConfig::new("m", "arn");
    mapping.lease = Duration::from_millis(1000);
    mapping.timeout = Duration::from_secs(30);
    let a = StreamConsumer::new(
        stream.clone(),
        "a",
        mapping.clone(),
        slow("a", calls.clone()),
    );
    let b = StreamConsumer::new(stream.clone(), "b", mapping, slow("b", calls.clone()));
    let first = tokio::spawn(async move { a.poll_once().await.unwrap() });
    while calls.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // While "a" invokes for 3.5 s (three leases and a half, renewed every third of one: a
    // stall of over half a second would be needed to lose it), "b" keeps polling and never
    // gets the shard.
    while !first.is_finished() {
        b.poll_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(first.await.unwrap(), 1);
    assert_eq!(
        *calls.lock().unwrap(),
        ["a"],
        "one reader of the shard at a time"
    );
}

/// A connection of the test's own.
async fn conn(server: &Redis) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The OnFailure records on the Redis stream `destination`.
async fn failure_records(server: &Redis, destination: &str) -> Vec<Value> {
    let reply: StreamRangeReply = redis::cmd("XRANGE")
        .arg(destination)
        .arg("-")
        .arg("+")
        .query_async(&mut conn(server).await)
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

/// A mapping's checkpoint in a shard.
async fn checkpoint(server: &Redis, mapping: &str, shard: usize) -> Option<String> {
    redis::cmd("GET")
        .arg(format!("weir:checkpoint:{mapping}:{shard}"))
        .query_async(&mut conn(server).await)
        .await
        .unwrap()
}

/// Polls `consumer` until `done` holds (a poll with nothing to do waits 10 ms: a batch in
/// its backoff or window).
async fn poll_until(consumer: &StreamConsumer, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "not reached in 20 s");
        if consumer.poll_once().await.unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The data of each batch a handler got, in order; it fails every batch holding `fail_on`.
type Batches = Arc<Mutex<Vec<Vec<String>>>>;

fn batch_handler(batches: Batches, fail_on: &'static str) -> Arc<dyn Handler> {
    Arc::new(move |i: Invocation| {
        let batches = batches.clone();
        async move {
            let got: Vec<String> = records(&i.payload).into_iter().map(|r| r.2).collect();
            let failed = got.iter().any(|d| d == fail_on);
            batches.lock().unwrap().push(got);
            if failed {
                Outcome::Error(FunctionError::new("Error", "bad record"))
            } else {
                Outcome::Success(Vec::new())
            }
        }
    })
}

#[tokio::test]
async fn bisect_splits_a_failing_batch_until_the_bad_record_alone_goes_to_on_failure() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
        .await
        .unwrap();
    let mut sequences = Vec::new();
    for n in 0..8 {
        let data = if n == 5 {
            "bad".to_string()
        } else {
            format!("r{n}")
        };
        sequences.push(stream.put_record("key", data.as_bytes()).await.unwrap().1);
    }
    let batches: Batches = Arc::default();
    let mut mapping =
        StreamMappingConfig::new("m", "arn:aws:lambda:us-east-1:000000000000:function:f");
    mapping.batch_size = 8;
    mapping.bisect_batch_on_function_error = true;
    mapping.maximum_retry_attempts = 1;
    mapping.on_failure = Some("failures".into());
    let consumer = StreamConsumer::new(stream, "c", mapping, batch_handler(batches.clone(), "bad"));
    let last = sequences[7].clone();
    let mut reached = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while reached.as_ref() != Some(&last) {
        assert!(std::time::Instant::now() < deadline);
        if consumer.poll_once().await.unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        reached = checkpoint(&server, "m", 0).await;
    }
    let batch = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Halves, first half first; the bad record alone is retried once (MaximumRetryAttempts
    // 1), then given up; the records after it go on, in order.
    assert_eq!(
        *batches.lock().unwrap(),
        [
            batch(&["r0", "r1", "r2", "r3", "r4", "bad", "r6", "r7"]),
            batch(&["r0", "r1", "r2", "r3"]),
            batch(&["r4", "bad", "r6", "r7"]),
            batch(&["r4", "bad"]),
            batch(&["r4"]),
            batch(&["bad"]),
            batch(&["bad"]),
            batch(&["r6", "r7"]),
        ]
    );
    let failures = failure_records(&server, "failures").await;
    assert_eq!(failures.len(), 1);
    let info = &failures[0]["KinesisBatchInfo"];
    assert_eq!(info["batchSize"], 1);
    assert_eq!(info["startSequenceNumber"], sequences[5]);
    assert_eq!(info["endSequenceNumber"], sequences[5]);
    assert_eq!(
        failures[0]["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    // Every invocation holding the bad record counts.
    assert_eq!(failures[0]["requestContext"]["approximateInvokeCount"], 5);
    assert_eq!(failures[0]["responseContext"]["functionError"], "Unhandled");
    let counters = consumer.counters().to_json();
    assert_eq!(counters["PolledEventCount"], 8);
    assert_eq!(counters["InvokedEventCount"], 8 + 4 + 4 + 2 + 1 + 1 + 1 + 2);
    assert_eq!(counters["FailedInvokeEventCount"], 8 + 4 + 2 + 1 + 1);
    assert_eq!(counters["DroppedEventCount"], 1);
}

#[tokio::test]
async fn a_partial_batch_response_checkpoints_before_the_first_failure_and_retries_from_it() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
        .await
        .unwrap();
    let mut sequences = HashMap::new();
    for data in ["a", "b", "c", "d", "e", "f"] {
        let (_, seq) = stream.put_record("key", data.as_bytes()).await.unwrap();
        sequences.insert(data, seq);
    }
    let batches: Batches = Arc::default();
    let keep = batches.clone();
    let by_data = sequences.clone();
    // Reports "c" (and "e", after it) failed the first time it sees them.
    let handler: Arc<dyn Handler> = Arc::new(move |i: Invocation| {
        let (batches, by_data) = (keep.clone(), by_data.clone());
        async move {
            let got: Vec<String> = records(&i.payload).into_iter().map(|r| r.2).collect();
            let first_time = !batches
                .lock()
                .unwrap()
                .iter()
                .any(|b| b.contains(&"c".to_string()));
            batches.lock().unwrap().push(got.clone());
            let failed: Vec<Value> = ["e", "c"]
                .iter()
                .filter(|d| first_time && got.contains(&d.to_string()))
                .map(|d| serde_json::json!({"itemIdentifier": by_data[d]}))
                .collect();
            Outcome::Success(
                serde_json::json!({"batchItemFailures": failed})
                    .to_string()
                    .into_bytes(),
            )
        }
    });
    let mut mapping = StreamMappingConfig::new("m", "arn");
    mapping.batch_size = 4;
    mapping.report_batch_item_failures = true;
    let consumer = StreamConsumer::new(stream, "c", mapping, handler);
    consumer.poll_once().await.unwrap();
    assert_eq!(
        checkpoint(&server, "m", 0).await.as_ref(),
        Some(&sequences["b"])
    );
    poll_until(&consumer, || batches.lock().unwrap().len() == 3).await;
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // The retry is the rest of the batch from "c", not a new batch from there.
    assert_eq!(
        *batches.lock().unwrap(),
        [
            strings(&["a", "b", "c", "d"]),
            strings(&["c", "d"]),
            strings(&["e", "f"]),
        ]
    );
    poll_until(&consumer, || true).await;
    assert_eq!(
        checkpoint(&server, "m", 0).await.as_ref(),
        Some(&sequences["f"])
    );
    assert_eq!(consumer.counters().to_json()["FailedInvokeEventCount"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallelization_runs_several_batches_of_a_shard_at_once_in_order_per_key() {
    for factor in [1, 4] {
        let server = Redis::start();
        let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
            .await
            .unwrap();
        put(&stream, 8, 5).await;
        let seen: Seen = Arc::default();
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (keep, now, max) = (seen.clone(), running.clone(), most.clone());
        let handler: Arc<dyn Handler> = Arc::new(move |i: Invocation| {
            let (keep, now, max) = (keep.clone(), now.clone(), max.clone());
            async move {
                let at_once = now.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                max.fetch_max(at_once, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                keep.lock().unwrap().extend(records(&i.payload));
                now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                Outcome::Success(Vec::new())
            }
        });
        let mut mapping = StreamMappingConfig::new("m", "arn");
        mapping.batch_size = 2;
        mapping.parallelization_factor = factor;
        let consumer = StreamConsumer::new(stream.clone(), "c", mapping, handler);
        poll_until(&consumer, || seen.lock().unwrap().len() == 40).await;
        let most = most.load(std::sync::atomic::Ordering::SeqCst);
        if factor == 1 {
            assert_eq!(most, 1, "one batch of a shard at a time");
        } else {
            assert!((2..=factor).contains(&most), "{most} batches at once");
        }
        let seen = seen.lock().unwrap().clone();
        let mut last: HashMap<&str, i64> = HashMap::new();
        for (_, key, data) in seen.iter() {
            let n = n_of(data);
            assert!(
                last.get(key.as_str()).is_none_or(|prev| *prev + 1 == n),
                "{key} out of order or twice"
            );
            last.insert(key, n);
        }
        assert_eq!(
            checkpoint(&server, "m", 0).await,
            stream
                .read(0, None, 100)
                .await
                .unwrap()
                .last()
                .map(|r| r.sequence_number.clone())
        );
    }
}

#[tokio::test]
async fn a_blocked_lane_holds_the_checkpoint_while_the_other_lanes_go_on() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
        .await
        .unwrap();
    let (_, blocked_at) = stream.put_record("bad-key", b"bad").await.unwrap();
    put(&stream, 10, 2).await;
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen: Seen = Arc::default();
    let (keep, fail, tries) = (seen.clone(), failing.clone(), attempts.clone());
    let handler: Arc<dyn Handler> = Arc::new(move |i: Invocation| {
        let (keep, fail, tries) = (keep.clone(), fail.clone(), tries.clone());
        async move {
            let got = records(&i.payload);
            if got.iter().any(|(_, _, d)| d == "bad") {
                tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if fail.load(std::sync::atomic::Ordering::SeqCst) {
                    return Outcome::Error(FunctionError::new("Error", "bad record"));
                }
            }
            keep.lock().unwrap().extend(got);
            Outcome::Success(Vec::new())
        }
    });
    let mut mapping = StreamMappingConfig::new("m", "arn");
    mapping.batch_size = 1;
    mapping.parallelization_factor = 10;
    let consumer = StreamConsumer::new(stream.clone(), "c", mapping, handler);
    poll_until(&consumer, || {
        attempts.load(std::sync::atomic::Ordering::SeqCst) >= 3
    })
    .await;
    // By the third attempt at the bad record the other lanes' records (read at the first
    // poll) are done, but the checkpoint cannot pass the bad record, the shard's first.
    let done_early = seen.lock().unwrap().len();
    assert!(done_early > 0, "other lanes went on");
    assert_eq!(checkpoint(&server, "m", 0).await, None);
    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let last = stream
        .read(0, Some(&blocked_at), 100)
        .await
        .unwrap()
        .last()
        .unwrap()
        .sequence_number
        .clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while checkpoint(&server, "m", 0).await.as_ref() != Some(&last) {
        assert!(std::time::Instant::now() < deadline);
        if consumer.poll_once().await.unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // Nothing done past the checkpoint was delivered again.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 21);
    let mut all: Vec<&str> = seen.iter().map(|(_, _, d)| d.as_str()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 21, "each record once");
}

#[tokio::test]
async fn records_past_the_maximum_record_age_go_to_on_failure_unretried() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
        .await
        .unwrap();
    // Two records that arrived in 1970 (their entry ids' time), then two new ones.
    for id in ["1000-1", "1000-2"] {
        let _: String = redis::cmd("XADD")
            .arg("s:shardId-000000000000")
            .arg(id)
            .arg("pk")
            .arg("k")
            .arg("data")
            .arg("old")
            .query_async(&mut conn(&server).await)
            .await
            .unwrap();
    }
    stream.put_record("k", b"new1").await.unwrap();
    stream.put_record("k", b"new2").await.unwrap();
    let batches: Batches = Arc::default();
    let mut mapping = StreamMappingConfig::new("m", "arn");
    mapping.maximum_record_age = Some(Duration::from_secs(60));
    mapping.on_failure = Some("failures".into());
    let consumer = StreamConsumer::new(
        stream.clone(),
        "c",
        mapping,
        batch_handler(batches.clone(), "-"),
    );
    consumer.poll_once().await.unwrap();
    // The old records are given up on before any invocation; the rest of the batch goes.
    assert_eq!(
        *batches.lock().unwrap(),
        [vec!["new1".to_string(), "new2".to_string()]]
    );
    let failures = failure_records(&server, "failures").await;
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0]["requestContext"]["condition"],
        "RecordAgeExceeded"
    );
    assert_eq!(failures[0]["requestContext"]["approximateInvokeCount"], 0);
    assert!(failures[0].get("responseContext").is_none());
    assert_eq!(
        failures[0]["KinesisBatchInfo"]["startSequenceNumber"],
        "1000-1"
    );
    assert_eq!(failures[0]["KinesisBatchInfo"]["batchSize"], 2);
    assert_eq!(
        failures[0]["KinesisBatchInfo"]["approximateArrivalOfFirstRecord"],
        "1970-01-01T00:00:01Z"
    );
    assert_eq!(consumer.counters().to_json()["DroppedEventCount"], 2);

    // A batch failing with unlimited retries is given up on once its records are too old.
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("t", 1))
        .await
        .unwrap();
    for data in ["x", "y", "z"] {
        stream.put_record("k", data.as_bytes()).await.unwrap();
    }
    let batches: Batches = Arc::default();
    let mut mapping = StreamMappingConfig::new("m2", "arn");
    // Short for the test (CreateEventSourceMapping takes 60 s or more).
    mapping.maximum_record_age = Some(Duration::from_secs(1));
    mapping.on_failure = Some("failures2".into());
    let consumer = StreamConsumer::new(
        stream.clone(),
        "c",
        mapping,
        batch_handler(batches.clone(), "x"),
    );
    let mut failures = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while failures.is_empty() {
        assert!(std::time::Instant::now() < deadline);
        if consumer.poll_once().await.unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        failures = failure_records(&server, "failures2").await;
    }
    let tries = batches.lock().unwrap().len();
    assert!(tries >= 2, "retried until too old ({tries})");
    assert_eq!(
        failures[0]["requestContext"]["condition"],
        "RecordAgeExceeded"
    );
    assert_eq!(
        failures[0]["requestContext"]["approximateInvokeCount"],
        tries
    );
    assert_eq!(failures[0]["KinesisBatchInfo"]["batchSize"], 3);
    // Given up on: the shard moves on and the batch is not invoked again.
    let last = stream.read(0, None, 10).await.unwrap()[2]
        .sequence_number
        .clone();
    assert_eq!(checkpoint(&server, "m2", 0).await, Some(last));
    consumer.poll_once().await.unwrap();
    assert_eq!(batches.lock().unwrap().len(), tries);
}

#[tokio::test]
async fn a_batching_window_waits_for_a_full_batch_or_its_end() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
        .await
        .unwrap();
    let batches: Batches = Arc::default();
    let mut mapping = StreamMappingConfig::new("m", "arn");
    mapping.batch_size = 3;
    mapping.maximum_batching_window = Duration::from_secs(30);
    let consumer = StreamConsumer::new(
        stream.clone(),
        "c",
        mapping,
        batch_handler(batches.clone(), "-"),
    );
    stream.put_record("k", b"1").await.unwrap();
    stream.put_record("k", b"2").await.unwrap();
    assert_eq!(consumer.poll_once().await.unwrap(), 2, "read");
    assert!(
        batches.lock().unwrap().is_empty(),
        "2 of 3 wait for the window"
    );
    assert_eq!(consumer.poll_once().await.unwrap(), 0, "nothing to do yet");
    stream.put_record("k", b"3").await.unwrap();
    consumer.poll_once().await.unwrap();
    // Full: it goes at once, 30 s before the window's end.
    assert_eq!(batches.lock().unwrap().len(), 1);
    assert_eq!(batches.lock().unwrap()[0].len(), 3);

    // A short window: a lone record goes when it ends.
    let batches: Batches = Arc::default();
    let mut mapping = StreamMappingConfig::new("m2", "arn");
    mapping.batch_size = 10;
    mapping.maximum_batching_window = Duration::from_millis(200);
    let consumer = StreamConsumer::new(
        stream.clone(),
        "c",
        mapping,
        batch_handler(batches.clone(), "-"),
    );
    let start = std::time::Instant::now();
    poll_until(&consumer, || !batches.lock().unwrap().is_empty()).await;
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(batches.lock().unwrap()[0].len(), 3, "what had come by then");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_leased_shard_keeps_its_lease_while_another_shards_invocation_runs() {
    let server = Redis::start();
    let config = RedisStreamConfig::new("s", 2);
    let stream = RedisStream::connect(&server.url(), config.clone())
        .await
        .unwrap();
    // A key of each shard: shard 0's record is slow (three leases), shard 1's fails.
    let key_of = |shard: usize| {
        (0..)
            .map(|k| format!("k{k}"))
            .find(|k| config.shard_of(k) == shard)
            .unwrap()
    };
    stream.put_record(&key_of(0), b"slow").await.unwrap();
    stream.put_record(&key_of(1), b"fail").await.unwrap();
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let handler: Arc<dyn Handler> = {
        let calls = calls.clone();
        Arc::new(move |i: Invocation| {
            let calls = calls.clone();
            async move {
                let data = records(&i.payload).pop().unwrap().2;
                calls.lock().unwrap().push(data.clone());
                if data == "slow" {
                    tokio::time::sleep(Duration::from_millis(1200)).await;
                    Outcome::Success(Vec::new())
                } else {
                    Outcome::Error(FunctionError::new("Error", "bad record"))
                }
            }
        })
    };
    let mut mapping = StreamMappingConfig::new("m", "arn");
    mapping.lease = Duration::from_millis(300);
    mapping.timeout = Duration::from_secs(10);
    mapping.maximum_retry_attempts = 2;
    mapping.on_failure = Some("failed".into());
    let consumer = StreamConsumer::new(stream, "c", mapping, handler);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while failure_records(&server, "failed").await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "never gave up");
        if consumer.poll_once().await.unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // The failing shard kept its lease (and its retry count) through the slow invocation:
    // one attempt and two retries, then given up once; the slow record ran once.
    let calls = calls.lock().unwrap().clone();
    let count = |d: &str| calls.iter().filter(|c| *c == d).count();
    assert_eq!(count("slow"), 1, "{calls:?}");
    assert_eq!(count("fail"), 3, "{calls:?}");
    let failed = failure_records(&server, "failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["requestContext"]["approximateInvokeCount"], 3);
}

#[tokio::test]
async fn a_stream_batch_is_cut_to_stay_within_the_6_mb_payload_limit() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
        .await
        .unwrap();
    // Six records of 1 MB (1.33 MB in base64): a batch of 100 would be 8 MB.
    for n in 0..6u8 {
        let mut data = vec![b'x'; 1 << 20];
        data[0] = b'0' + n;
        stream.put_record("k", &data).await.unwrap();
    }
    let payloads: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let p = payloads.clone();
    let handler: Arc<dyn Handler> = Arc::new(move |i: Invocation| {
        let p = p.clone();
        async move {
            let n = records(&i.payload).len();
            p.lock().unwrap().push((i.payload.len(), n));
            Outcome::Success(Vec::new())
        }
    });
    let consumer = StreamConsumer::new(stream, "c", StreamMappingConfig::new("m", "arn"), handler);
    poll_until(&consumer, || {
        payloads
            .lock()
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum::<usize>()
            >= 6
    })
    .await;
    let payloads = payloads.lock().unwrap().clone();
    assert!(
        payloads
            .iter()
            .all(|(bytes, _)| *bytes <= weir_route::MAX_SYNC_PAYLOAD),
        "{payloads:?}"
    );
    assert_eq!(
        payloads.iter().map(|(_, n)| n).sum::<usize>(),
        6,
        "{payloads:?}"
    );
}

#[tokio::test]
async fn with_bisect_a_partial_batch_response_splits_at_the_failed_record_using_no_retry() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
        .await
        .unwrap();
    for data in ["a", "b", "bad", "c"] {
        stream.put_record("k", data.as_bytes()).await.unwrap();
    }
    let batches: Batches = Arc::default();
    let b = batches.clone();
    // Record "bad" is reported failed unless it is the batch's first.
    let handler: Arc<dyn Handler> = Arc::new(move |i: Invocation| {
        let b = b.clone();
        async move {
            let event: Value = serde_json::from_slice(&i.payload).unwrap();
            let got: Vec<String> = records(&i.payload).into_iter().map(|r| r.2).collect();
            let failures: Vec<Value> = event["Records"]
                .as_array()
                .unwrap()
                .iter()
                .zip(&got)
                .enumerate()
                .filter(|(n, (_, data))| *n > 0 && data.as_str() == "bad")
                .map(|(_, (r, _))| serde_json::json!({"itemIdentifier": r["kinesis"]["sequenceNumber"]}))
                .collect();
            b.lock().unwrap().push(got);
            Outcome::Success(
                serde_json::to_vec(&serde_json::json!({"batchItemFailures": failures})).unwrap(),
            )
        }
    });
    let mut mapping = StreamMappingConfig::new("m", "arn");
    mapping.bisect_batch_on_function_error = true;
    mapping.report_batch_item_failures = true;
    mapping.maximum_retry_attempts = 0;
    mapping.on_failure = Some("failed".into());
    let consumer = StreamConsumer::new(stream.clone(), "c", mapping, handler);
    let last = stream.read(0, None, 10).await.unwrap().pop().unwrap();
    poll_until(&consumer, || batches.lock().unwrap().len() >= 2).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while checkpoint(&server, "m", 0).await.as_ref() != Some(&last.sequence_number) {
        assert!(std::time::Instant::now() < deadline, "not checkpointed");
        consumer.poll_once().await.unwrap();
    }
    assert_eq!(
        *batches.lock().unwrap(),
        [vec!["a", "b", "bad", "c"], vec!["bad", "c"]]
    );
    assert!(failure_records(&server, "failed").await.is_empty());
}

#[tokio::test]
async fn a_stop_lets_the_batch_in_flight_finish_checkpoints_it_and_frees_the_lease() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
        .await
        .unwrap();
    for n in 0..3 {
        stream
            .put_record("k", format!("{{\"n\": {n}}}").as_bytes())
            .await
            .unwrap();
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = Arc::new(Mutex::new(Some(stop_tx)));
    let finished: Batches = Arc::default();
    // The function asks weir to stop as soon as it starts, then takes a while to finish.
    let function: Arc<dyn Handler> = {
        let finished = finished.clone();
        Arc::new(move |i: Invocation| {
            let (stop_tx, finished) = (stop_tx.clone(), finished.clone());
            async move {
                if let Some(tx) = stop_tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                let got = records(&i.payload).into_iter().map(|r| r.2).collect();
                finished.lock().unwrap().push(got);
                Outcome::Success(Vec::new())
            }
        })
    };
    let mut mapping = StreamMappingConfig::new("m", "arn");
    mapping.lease = Duration::from_secs(60);
    let a = StreamConsumer::new(stream.clone(), "a", mapping.clone(), function);
    tokio::time::timeout(
        Duration::from_secs(10),
        a.run(async {
            let _ = stop_rx.await;
        }),
    )
    .await
    .expect("the consumer stops");
    assert_eq!(
        finished.lock().unwrap().concat().len(),
        3,
        "the batch in flight ran to its end"
    );
    assert_eq!(
        checkpoint(&server, "m", 0).await,
        stream
            .read(0, None, 10)
            .await
            .unwrap()
            .last()
            .map(|r| r.sequence_number.clone()),
        "and was checkpointed"
    );
    let lease: Option<String> = redis::cmd("GET")
        .arg("weir:lease:m:0")
        .query_async(&mut conn(&server).await)
        .await
        .unwrap();
    assert_eq!(lease, None, "the lease is given up");
    // Another consumer takes the shard at once (the lease is a minute) and finds nothing
    // left to deliver.
    let seen: Seen = Arc::default();
    let b = StreamConsumer::new(stream, "b", mapping, handler(seen.clone(), None));
    assert_eq!(b.poll_once().await.unwrap(), 0);
    assert!(seen.lock().unwrap().is_empty(), "nothing delivered twice");
}

/// How many write commands Redis has refused for want of replicas (`NOREPLICAS`).
async fn refused_writes(server: &Redis) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("errorstats")
        .query_async(&mut conn(server).await)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("errorstat_NOREPLICAS:count="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_stop_during_the_error_backoff_starts_no_new_poll() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
        .await
        .unwrap();
    // Redis refuses writes (no replica to write to): every poll fails, and the consumer
    // waits longer and longer between them.
    let mut admin = conn(&server).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("min-replicas-to-write")
        .arg(1)
        .query_async(&mut admin)
        .await
        .unwrap();
    let seen: Seen = Arc::default();
    let consumer = StreamConsumer::new(
        stream.clone(),
        "c",
        StreamMappingConfig::new("m", "arn"),
        handler(seen.clone(), None),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        consumer
            .run(async {
                let _ = stop_rx.await;
            })
            .await
    });
    // Several polls refused: the consumer is in a backoff of 100 ms or more.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while refused_writes(&server).await < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "the polls are refused"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Told to stop while it waits; then Redis takes writes again and a record arrives.
    stop_tx.send(()).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("min-replicas-to-write")
        .arg(0)
        .query_async(&mut admin)
        .await
        .unwrap();
    stream.put_record("k", br#"{"n": 1}"#).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the consumer stops")
        .unwrap();
    assert!(
        seen.lock().unwrap().is_empty(),
        "no poll after the stop: nothing read or invoked"
    );
    let lease: Option<String> = redis::cmd("GET")
        .arg("weir:lease:m:0")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(lease, None, "no lease taken after the stop");
    assert_eq!(checkpoint(&server, "m", 0).await, None);
}

#[tokio::test]
async fn a_stop_given_before_a_poll_begins_starts_none() {
    let server = Redis::start();
    let stream = RedisStream::connect(&server.url(), RedisStreamConfig::new("s", 1))
        .await
        .unwrap();
    stream.put_record("k", br#"{"n": 1}"#).await.unwrap();
    let seen: Seen = Arc::default();
    let consumer = StreamConsumer::new(
        stream,
        "c",
        StreamMappingConfig::new("m", "arn"),
        handler(seen.clone(), None),
    );
    // Already stopped: the record waiting is neither read nor invoked, no lease is taken.
    tokio::time::timeout(Duration::from_secs(5), consumer.run(std::future::ready(())))
        .await
        .expect("the consumer stops");
    assert!(seen.lock().unwrap().is_empty(), "nothing invoked");
    let lease: Option<String> = redis::cmd("GET")
        .arg("weir:lease:m:0")
        .query_async(&mut conn(&server).await)
        .await
        .unwrap();
    assert_eq!(lease, None, "no lease taken");
    assert_eq!(checkpoint(&server, "m", 0).await, None);
}
