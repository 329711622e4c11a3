//! Stream semantics on Redis (one Redis stream per shard): order per shard, a checkpoint that
//! survives a restart of the consumer, a failing batch blocking its shard until its retries
//! are exhausted (then Lambda's OnFailure record), filtering, and two consumers splitting the
//! shards by lease.

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
