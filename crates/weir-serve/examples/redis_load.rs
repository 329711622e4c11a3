//! Load on loopback: N records (default 100,000) through one queue mapping with filtering on
//! (half the records match), first on the invocation layer's embedded queue, then on a Redis
//! queue read by 2 consumers (each reading and invoking up to 4 batches per poll); counts are checked before the rates are printed (JSON).
//!
//! Run: `cargo run --release -p weir-serve --example redis_load [-- RECORDS]`. Starts its own
//! redis-server on a free loopback port (scripts/test-all installs it); gives up after 5 minutes.

#[path = "../tests/support/redis.rs"]
mod redis_harness;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use weir::lambda::FilterCriteria;
use weir_route::{
    EventSourceMappingConfig, FunctionConfig, Handler, Invocation, Outcome, QueueConfig, Router,
};
use weir_serve::{QueueConsumer, QueueMappingConfig, RedisQueue, RedisQueueConfig};

const FILTER: &str = r#"{"Filters": [{"Pattern": "{\"body\": {\"kind\": [\"order\"], \"total\": [{\"numeric\": [\">=\", 0]}]}}"}]}"#;
const BATCH: usize = 10;
/// Batches a Redis consumer reads and invokes per poll (the embedded mapping invokes
/// batches concurrently too, up to the function's concurrency).
const POLLERS: usize = 4;
const LIMIT: Duration = Duration::from_secs(300);

fn body(n: usize) -> String {
    let kind = if n.is_multiple_of(2) {
        "order"
    } else {
        "refund"
    };
    format!(
        r#"{{"id": {n}, "kind": "{kind}", "total": {}, "note": "record {n} of the load test"}}"#,
        n % 1000
    )
}

/// A handler counting the records it receives.
fn counting(count: Arc<AtomicU64>) -> impl Handler {
    move |i: Invocation| {
        let count = count.clone();
        async move {
            // Lambda's records are objects inside "Records": count the bodies.
            let n = memchr_count(&i.payload, b"\"messageId\"");
            count.fetch_add(n, Ordering::Relaxed);
            Outcome::Success(Vec::new())
        }
    }
}

fn memchr_count(haystack: &[u8], needle: &[u8]) -> u64 {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count() as u64
}

async fn embedded(records: usize) -> f64 {
    let router = Router::new();
    let count = Arc::new(AtomicU64::new(0));
    router
        .create_function(FunctionConfig::new("f"), counting(count.clone()))
        .expect("function");
    let queue = router
        .create_queue(QueueConfig::new("load"))
        .expect("queue");
    for n in 0..records {
        queue.send(body(n));
    }
    let mut mapping = EventSourceMappingConfig::new("f", queue.arn());
    mapping.batch_size = Some(BATCH as i64);
    mapping.filter_criteria = Some(FILTER.into());
    let started = Instant::now();
    let uuid = router
        .create_event_source_mapping(mapping)
        .expect("mapping");
    tokio::time::timeout(LIMIT, router.wait_idle())
        .await
        .expect("embedded run within the time limit");
    let seconds = started.elapsed().as_secs_f64();
    let metrics = router.mapping_metrics(&uuid).expect("metrics");
    let matching = records.div_ceil(2) as u64;
    assert_eq!(metrics.polled, records as u64, "embedded: polled");
    assert_eq!(
        metrics.filtered_out,
        records as u64 - matching,
        "embedded: filtered out"
    );
    assert_eq!(
        count.load(Ordering::Relaxed),
        matching,
        "embedded: delivered"
    );
    router.shutdown().await;
    seconds
}

async fn redis(url: &str, records: usize, consumers: usize) -> f64 {
    let config = RedisQueueConfig::new("load");
    let queue = RedisQueue::connect(url, config.clone())
        .await
        .expect("queue");
    let bodies: Vec<String> = (0..records).map(body).collect();
    for chunk in bodies.chunks(1000) {
        queue.send_batch(chunk).await.expect("send");
    }
    let count = Arc::new(AtomicU64::new(0));
    let handler: Arc<dyn Handler> = Arc::new(counting(count.clone()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut all_counters = Vec::new();
    for c in 0..consumers {
        let mine = RedisQueue::connect(url, config.clone())
            .await
            .expect("consumer");
        let mut mapping =
            QueueMappingConfig::new("arn:aws:lambda:us-east-1:000000000000:function:f");
        mapping.batch_size = BATCH;
        mapping.pollers = POLLERS;
        mapping.filter_criteria = Some(FilterCriteria::parse(FILTER).expect("filter"));
        let consumer = QueueConsumer::new(mine, format!("c{c}"), mapping, handler.clone());
        all_counters.push(consumer.counters());
        let done = queue.clone();
        tasks.push(tokio::spawn(async move {
            consumer
                .run(async move {
                    while !done.is_empty().await.unwrap_or(false) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
                .await
        }));
    }
    for task in tasks {
        tokio::time::timeout(LIMIT, task)
            .await
            .expect("redis run within the time limit")
            .expect("consumer");
    }
    let seconds = started.elapsed().as_secs_f64();
    let matching = records.div_ceil(2) as u64;
    let sum = |f: fn(&weir_serve::MappingCounters) -> &AtomicU64| -> u64 {
        all_counters
            .iter()
            .map(|c| f(c).load(Ordering::Relaxed))
            .sum()
    };
    assert_eq!(sum(|c| &c.polled), records as u64, "redis: polled");
    assert_eq!(
        sum(|c| &c.filtered_out),
        records as u64 - matching,
        "redis: filtered out"
    );
    assert_eq!(sum(|c| &c.deleted), records as u64, "redis: deleted");
    assert_eq!(count.load(Ordering::Relaxed), matching, "redis: delivered");
    for (c, counters) in all_counters.iter().enumerate() {
        assert!(
            counters.polled.load(Ordering::Relaxed) > 0,
            "consumer {c} took no record"
        );
    }
    seconds
}

#[tokio::main]
async fn main() {
    let records: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("RECORDS must be a number"))
        .unwrap_or(100_000);
    let server = redis_harness::Redis::start();
    let embedded_s = embedded(records).await;
    let redis_s = redis(&server.url(), records, 2).await;
    let rate = |s: f64| (records as f64 / s).round();
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "records": records,
            "matching": records.div_ceil(2),
            "batch_size": BATCH,
            "redis_batches_per_poll": POLLERS,
            "embedded": {"seconds": embedded_s, "records_per_s": rate(embedded_s)},
            "redis_2_consumers": {"seconds": redis_s, "records_per_s": rate(redis_s)},
            "redis_over_embedded_time": redis_s / embedded_s,
        }))
        .expect("json")
    );
}
