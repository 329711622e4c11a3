//! Records through one event source mapping to a Rust closure handler: records/s and
//! invocations/s.
//!
//! SQS message bodies are sent to an in-memory queue first; then a mapping with a
//! FilterCriteria (one record in two passes) and a `BatchSize` drains it: every record is
//! filtered (the core's compiled FilterCriteria on the record's bytes), batched and handed to
//! a closure that counts the records and orders it gets. The time is from the mapping's
//! creation to the router being idle (queue empty, every batch done); a smaller run first
//! warms the allocator and the runtime. Every count (the mapping's counters, the closure's
//! totals, the queue left empty) is checked before any figure is printed. `--stream` sends
//! the records through an in-memory stream instead (one shard per `--shards`).
//!
//! ```text
//! cargo build --release -p weir-route --examples
//! target/release/examples/closure_bench [--records N] [--batch-size B] [--stream] [--shards S]
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use weir_route::{
    EventSourceMappingConfig, FunctionConfig, Invocation, Outcome, QueueConfig, Router,
    StreamConfig,
};

struct Args {
    records: usize,
    batch_size: usize,
    stream: bool,
    shards: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        records: 100_000,
        batch_size: 100,
        stream: false,
        shards: 4,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let mut value = || iter.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--records" => {
                args.records = value()?.parse().map_err(|e| format!("--records: {e}"))?
            }
            "--batch-size" => {
                args.batch_size = value()?.parse().map_err(|e| format!("--batch-size: {e}"))?
            }
            "--shards" => args.shards = value()?.parse().map_err(|e| format!("--shards: {e}"))?,
            "--stream" => args.stream = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.batch_size == 0 || args.records == 0 {
        return Err("--records and --batch-size must be positive".into());
    }
    Ok(args)
}

/// Half the records are orders (the filter's), half other kinds.
fn bodies(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let kind = match i % 4 {
                0 | 2 => "order",
                1 => "refund",
                _ => "ping",
            };
            format!(r#"{{"kind":"{kind}","id":{i},"amount":{}}}"#, i % 1000)
        })
        .collect()
}

const QUEUE_FILTER: &str = r#"{"Filters": [{"Pattern": "{\"body\": {\"kind\": [\"order\"]}}"}]}"#;
const STREAM_FILTER: &str = r#"{"Filters": [{"Pattern": "{\"data\": {\"kind\": [\"order\"]}}"}]}"#;

/// How an order's body reads.
const ORDER: &[u8] = br#""kind":"order""#;

#[derive(Clone, Default)]
struct Totals {
    records: Arc<AtomicU64>,
    orders: Arc<AtomicU64>,
}

/// The closure: counts the batch's records and the orders among them (read from each
/// record's body, or from its data for a stream, as a real handler would).
fn handler(totals: Totals) -> impl Fn(Invocation) -> std::future::Ready<Outcome> + Send + Sync {
    move |invocation: Invocation| {
        let event: serde_json::Value = match serde_json::from_slice(&invocation.payload) {
            Ok(v) => v,
            Err(e) => {
                return std::future::ready(Outcome::Error(weir_route::FunctionError::new(
                    "Error",
                    e.to_string(),
                )))
            }
        };
        let records = event["Records"].as_array().map_or(&[][..], Vec::as_slice);
        let orders = records
            .iter()
            .filter(|r| match r["body"].as_str() {
                Some(body) => body.as_bytes().windows(ORDER.len()).any(|w| w == ORDER),
                None => r["kinesis"]["data"].as_str().is_some_and(|d| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(d)
                        .is_ok_and(|data| data.windows(ORDER.len()).any(|w| w == ORDER))
                }),
            })
            .count();
        totals
            .records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        totals.orders.fetch_add(orders as u64, Ordering::Relaxed);
        std::future::ready(Outcome::Success(Vec::new()))
    }
}

/// `count` records through one new mapping; returns (sending time, draining time,
/// invocations) after checking every count.
async fn through_a_mapping(
    router: &Router,
    totals: &Totals,
    name: &str,
    count: usize,
    args: &Args,
) -> Result<(f64, f64, u64), String> {
    let bodies = bodies(count);
    let sending = Instant::now();
    let mut mapping = if args.stream {
        let stream = router
            .create_stream(StreamConfig::new(name).shard_count(args.shards))
            .map_err(|e| e.to_string())?;
        for (i, body) in bodies.into_iter().enumerate() {
            stream.put_record(&format!("key-{}", i % 64), body.into_bytes());
        }
        let mut m = EventSourceMappingConfig::new("bench", stream.arn());
        m.starting_position = Some("TRIM_HORIZON".into());
        m.filter_criteria = Some(STREAM_FILTER.into());
        m
    } else {
        let queue = router
            .create_queue(QueueConfig::new(name))
            .map_err(|e| e.to_string())?;
        for body in bodies {
            queue.send(body);
        }
        let mut m = EventSourceMappingConfig::new("bench", queue.arn());
        m.filter_criteria = Some(QUEUE_FILTER.into());
        if args.batch_size > 10 {
            // Over 10 records a queue batch needs a window; a full queue fills batches at
            // once, so only the last one waits for it.
            m.maximum_batching_window_in_seconds = Some(1);
        }
        m
    };
    let sent = sending.elapsed().as_secs_f64();
    mapping.batch_size = Some(args.batch_size as i64);
    let before = (
        totals.records.load(Ordering::Relaxed),
        totals.orders.load(Ordering::Relaxed),
        router
            .function_metrics("bench")
            .map_or(0, |m| m.invocations),
    );
    let draining = Instant::now();
    let uuid = router
        .create_event_source_mapping(mapping)
        .map_err(|e| e.to_string())?;
    router.wait_idle().await;
    let drained = draining.elapsed().as_secs_f64();
    let metrics = router.mapping_metrics(&uuid).ok_or("no mapping metrics")?;
    let counted = totals.records.load(Ordering::Relaxed) - before.0;
    let orders = totals.orders.load(Ordering::Relaxed) - before.1;
    let invocations = router
        .function_metrics("bench")
        .map_or(0, |m| m.invocations)
        - before.2;
    let delivered = count.div_ceil(2) as u64;
    let deleted_ok = args.stream || metrics.deleted == count as u64;
    let queue_empty = args.stream || router.queue(name).is_some_and(|q| q.is_empty());
    if metrics.polled != count as u64
        || metrics.filtered_out != count as u64 - delivered
        || metrics.invoked != delivered
        || metrics.failed_invoke != 0
        || !deleted_ok
        || counted != delivered
        || orders != delivered
        || invocations < delivered.div_ceil(args.batch_size as u64)
        || !queue_empty
    {
        return Err(format!(
            "{name}: {count} records, {delivered} expected through the filter; mapping \
             {metrics:?}, {invocations} invocations, the closure counted {counted} records and \
             {orders} orders"
        ));
    }
    Ok((sent, drained, invocations))
}

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let totals = Totals::default();
    runtime.block_on(async {
        let router = Router::new();
        router
            .create_function(FunctionConfig::new("bench"), handler(totals.clone()))
            .map_err(|e| e.to_string())?;
        through_a_mapping(&router, &totals, "warm", args.records.min(10_000), &args).await?;
        let (sent, drained, invocations) =
            through_a_mapping(&router, &totals, "bench", args.records, &args).await?;
        let source = if args.stream {
            format!("a stream of {} shards", args.shards)
        } else {
            "a queue".to_string()
        };
        println!(
            "mapping on {source}: {} records ({} through the filter) in {invocations} \
             invocations of up to {} records, Rust closure handler: {drained:.3} s (sending \
             them first: {sent:.3} s)",
            args.records,
            args.records.div_ceil(2),
            args.batch_size,
        );
        println!(
            "{:.0} records/s, {:.0} invocations/s",
            args.records as f64 / drained,
            invocations as f64 / drained
        );
        router.shutdown().await;
        Ok::<(), String>(())
    })
}
