//! Faults on a Redis-backed mapping, with every record counted at the end:
//! - a consumer process killed with SIGKILL in the middle of a batch: its records are
//!   redelivered to another consumer after the visibility timeout, none lost;
//! - Redis killed and restarted in the middle of a run (AOF on): the consumer reconnects and
//!   goes on, nothing lost.
//!
//! The killed consumer is this test binary run again as a child (the ignored test
//! `child_consumer`, which does nothing unless the parent sets its environment).

mod support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use serde_json::Value;
use support::redis::Redis;
use weir_route::{Handler, Invocation, Outcome};
use weir_serve::{QueueConsumer, QueueMappingConfig, RedisQueue, RedisQueueConfig};

const VISIBILITY: Duration = Duration::from_millis(1500);
const RECORDS: usize = 300;

fn bodies_of(payload: &[u8]) -> Vec<String> {
    let event: Value = serde_json::from_slice(payload).unwrap();
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].as_str().unwrap().to_string())
        .collect()
}

/// A handler that notes each record in the Redis hash `seen` on arrival, works `pause`, and
/// notes it in `done` when it finishes.
fn noting(conn: redis::aio::MultiplexedConnection, pause: Duration) -> Arc<dyn Handler> {
    Arc::new(move |i: Invocation| {
        let mut conn = conn.clone();
        async move {
            let bodies = bodies_of(&i.payload);
            for b in &bodies {
                let _: i64 = conn.hincr("seen", b, 1).await.unwrap();
            }
            tokio::time::sleep(pause).await;
            for b in &bodies {
                let _: i64 = conn.hincr("done", b, 1).await.unwrap();
            }
            Outcome::Success(Vec::new())
        }
    })
}

/// Run as a child by `sigkill_mid_batch_records_go_to_another_consumer`.
#[test]
#[ignore = "a child process of the SIGKILL test"]
fn child_consumer() {
    let Ok(url) = std::env::var("WEIR_TEST_CHILD_REDIS") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let q = RedisQueue::connect(
            &url,
            RedisQueueConfig::new("jobs").visibility_timeout(VISIBILITY),
        )
        .await
        .unwrap();
        let conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let mut config = QueueMappingConfig::new("arn");
        config.batch_size = 10;
        config.timeout = Duration::from_secs(600);
        // Slow batches: the parent kills this process while one is in flight.
        let consumer =
            QueueConsumer::new(q, "child", config, noting(conn, Duration::from_millis(300)));
        consumer.run(std::future::pending()).await;
    });
}

/// A child process killed (SIGKILL) and waited for when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn hash(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> HashMap<String, i64> {
    conn.hgetall(key).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_records_go_to_another_consumer() {
    let server = Redis::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let q = RedisQueue::connect(
        &server.url(),
        RedisQueueConfig::new("jobs").visibility_timeout(VISIBILITY),
    )
    .await
    .unwrap();
    let bodies: Vec<String> = (0..RECORDS).map(|n| format!("r{n}")).collect();
    q.send_batch(&bodies).await.unwrap();

    // Killed and waited for however the test ends (a failed assertion included).
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_consumer", "--ignored", "--nocapture"])
            .env("WEIR_TEST_CHILD_REDIS", server.url())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Kill it while a batch is in flight: seen but not done.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = hash(&mut conn, "seen").await;
        let done = hash(&mut conn, "done").await;
        if done.len() >= 20 && seen.len() > done.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the child consumer did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    let seen_by_child = hash(&mut conn, "seen").await;
    let done_by_child = hash(&mut conn, "done").await;
    let in_flight: Vec<&String> = seen_by_child
        .keys()
        .filter(|k| !done_by_child.contains_key(*k))
        .collect();
    assert!(!in_flight.is_empty(), "killed mid-batch");

    // Another consumer takes the rest, and the killed batch once its visibility passes.
    let mut config = QueueMappingConfig::new("arn");
    config.batch_size = 50;
    let consumer = QueueConsumer::new(
        q.clone(),
        "rescuer",
        config,
        noting(conn.clone(), Duration::ZERO),
    );
    let started = Instant::now();
    while !q.is_empty().await.unwrap() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "records are stuck"
        );
        consumer.poll_once().await.unwrap();
    }
    let done = hash(&mut conn, "done").await;
    let seen = hash(&mut conn, "seen").await;
    for body in &bodies {
        assert!(done.get(body).copied().unwrap_or(0) >= 1, "{body} lost");
    }
    for body in &in_flight {
        assert_eq!(
            seen[*body], 2,
            "{body}: seen by the child, then redelivered"
        );
        assert_eq!(done[*body], 1, "{body}");
    }
    // At-least-once, and more than once only for what the child had not finished.
    let twice: Vec<&String> = done
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(twice.is_empty(), "done twice: {twice:?}");
    assert_eq!(done.len(), RECORDS);
    assert!(
        started.elapsed() >= VISIBILITY / 2,
        "the killed batch waited for its visibility timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_run_with_aof_loses_nothing() {
    let mut server = Redis::start_with_aof();
    let q = RedisQueue::connect(
        &server.url(),
        RedisQueueConfig::new("events").visibility_timeout(Duration::from_millis(800)),
    )
    .await
    .unwrap();
    let done: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let record = done.clone();
    let handler: Arc<dyn Handler> = Arc::new(move |i: Invocation| {
        let record = record.clone();
        async move {
            for b in bodies_of(&i.payload) {
                *record.lock().unwrap().entry(b).or_default() += 1;
            }
            Outcome::Success(Vec::new())
        }
    });
    let consumer_queue = RedisQueue::connect(
        &server.url(),
        RedisQueueConfig::new("events").visibility_timeout(Duration::from_millis(800)),
    )
    .await
    .unwrap();
    let consumer = QueueConsumer::new(consumer_queue, "c", QueueMappingConfig::new("arn"), handler);
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let task = tokio::spawn(async move {
        consumer.run(stopped.notified()).await;
    });

    let total = 2000;
    let mut sent = 0;
    let mut restarted = false;
    while sent < total {
        let chunk: Vec<String> = (sent..(sent + 50).min(total))
            .map(|n| format!("e{n}"))
            .collect();
        match q.send_batch(&chunk).await {
            Ok(_) => sent += chunk.len(),
            Err(_) => {
                // Redis is coming back: send the chunk again.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        }
        if !restarted && sent >= total / 2 {
            server.kill();
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.restart();
            restarted = true;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let count = done.lock().unwrap().len();
        if count == total && q.is_empty().await.unwrap_or(false) {
            break;
        }
        assert!(Instant::now() < deadline, "{count} of {total} processed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.notify_one();
    task.await.unwrap();
    let done = done.lock().unwrap();
    for n in 0..total {
        assert!(done.contains_key(&format!("e{n}")), "e{n} lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_under_a_stream_mapping_and_the_async_queue_loses_nothing() {
    use weir_route::{FunctionConfig, Router};
    use weir_serve::{
        RedisAsyncConfig, RedisAsyncQueue, RedisStream, RedisStreamConfig, StreamConsumer,
        StreamMappingConfig,
    };
    let mut server = Redis::start_with_aof();
    let url = server.url();
    let stream = RedisStream::connect(&url, RedisStreamConfig::new("s", 2))
        .await
        .unwrap();
    let records: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = records.clone();
    let handler: Arc<dyn Handler> = Arc::new(move |i: Invocation| {
        let keep = keep.clone();
        async move {
            let event: Value = serde_json::from_slice(&i.payload).unwrap();
            for r in event["Records"].as_array().unwrap() {
                keep.lock()
                    .unwrap()
                    .push(r["kinesis"]["partitionKey"].as_str().unwrap().to_string());
            }
            Outcome::Success(Vec::new())
        }
    });
    let mut mapping = StreamMappingConfig::new("m", "arn");
    mapping.batch_size = 20;
    let consumer = StreamConsumer::new(stream.clone(), "c", mapping, handler);
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let router = Router::new();
    let seen = events.clone();
    router
        .create_function(FunctionConfig::new("f"), move |i: Invocation| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8(i.payload).unwrap());
                Outcome::Success(Vec::new())
            }
        })
        .unwrap();
    let mut async_config = RedisAsyncConfig::new("weir:async");
    // A claim whose answer the restart cut off comes back after one lease.
    async_config.lease = Duration::from_secs(2);
    let queue = RedisAsyncQueue::connect(&url, async_config).await.unwrap();
    let stop = Arc::new(tokio::sync::Notify::new());
    let (s1, s2) = (stop.clone(), stop.clone());
    let (q, r) = (queue.clone(), router.clone());
    let tasks = [
        tokio::spawn(async move { consumer.run(s1.notified()).await }),
        tokio::spawn(async move { q.run(&r, s2.notified()).await }),
    ];
    let total = 600;
    let mut sent = 0;
    let mut restarted = false;
    while sent < total {
        let key = format!("k{sent}");
        // A record put before a failure is put again when the pair is retried (at least
        // once): only absence would be a loss.
        let ok = match stream.put_record(&key, b"{}").await {
            Ok(_) => queue
                .enqueue("f", format!("\"{key}\"").as_bytes())
                .await
                .is_ok(),
            Err(_) => false,
        };
        if ok {
            sent += 1;
        } else {
            // Redis is coming back.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        if !restarted && sent == total / 2 {
            server.kill();
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.restart();
            restarted = true;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (r, e) = (
            records.lock().unwrap().clone(),
            events.lock().unwrap().clone(),
        );
        let all = (0..total).all(|n| {
            let key = format!("k{n}");
            r.contains(&key) && e.contains(&format!("\"{key}\""))
        });
        if all {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} records, {} events of {total}",
            r.len(),
            e.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.notify_waiters();
    for task in tasks {
        task.abort();
    }
}
