//! Records through a Runtime API process handler: records/s and invocations/s.
//!
//! By default the records go through one event source mapping, as `weir run` would run it:
//! SQS message bodies are sent to an in-memory [`Queue`](weir_route::Queue), and a mapping with
//! a FilterCriteria (one record in two passes) and a `BatchSize` polls it, filters before
//! batching and invokes a function whose handler is a [`RuntimeApiHandler`] running a real
//! Lambda handler: the Rust one on the `lambda_runtime` crate
//! (examples/lambda_runtime_handler.rs, the default) or the Python one on `awslambdaric`
//! (`--python PATH` to an interpreter that has it). The queue is filled first and the mapping
//! made after, so the time is the mapping's alone (the sending time is printed apart), with
//! the environments already warm from a first, smaller run. A `BatchSize` over 10 comes with
//! a 1 s `MaximumBatchingWindowInSeconds` (Lambda requires one); batches fill at once from
//! the full queue, and with the record count a multiple of twice the batch size no batch
//! waits for the window. `--direct` skips the router:
//! the records are filtered with the FilterCriteria, batched and invoked on the handler
//! directly, one invoking task per environment.
//!
//! The handler answers each batch with how many records and orders it got; the totals (and
//! the mapping's counters) are checked before any figure is printed.
//!
//! ```text
//! cargo build --release -p weir-route --examples
//! target/release/examples/runtime_api_bench [--records N] [--batch-size B] [--environments E] [--python PATH] [--direct]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use weir::lambda::{FilterCriteria, RecordVerdict, Source};
use weir_route::{
    EventSourceMappingConfig, FunctionConfig, Handler, Invocation, Outcome, ProcessLogs,
    ProcessSpec, QueueConfig, Router, RuntimeApiConfig, RuntimeApiHandler,
};

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:bench";

struct Args {
    records: usize,
    batch_size: usize,
    environments: usize,
    python: Option<PathBuf>,
    direct: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        records: 100_000,
        batch_size: 100,
        environments: 2,
        python: None,
        direct: false,
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
            "--environments" => {
                args.environments = value()?
                    .parse()
                    .map_err(|e| format!("--environments: {e}"))?
            }
            "--python" => args.python = Some(PathBuf::from(value()?)),
            "--direct" => args.direct = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.batch_size == 0 || args.environments == 0 {
        return Err("--batch-size and --environments must be at least 1".to_string());
    }
    if args.batch_size > 10_000 {
        return Err("--batch-size is at most 10000 (Lambda's limit for a queue)".to_string());
    }
    Ok(args)
}

/// Message bodies: orders (one in two), refunds or notes.
fn make_bodies(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let kind = match i % 4 {
                0 | 2 => "order",
                1 => "refund",
                _ => "note",
            };
            format!(r#"{{"kind":"{kind}","id":{i},"amount":{}}}"#, i % 1000)
        })
        .collect()
}

/// SQS records (as a mapping delivers them) of [`make_bodies`]'s bodies.
fn make_records(count: usize) -> Vec<Vec<u8>> {
    make_bodies(count)
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            serde_json::to_vec(&serde_json::json!({
                "messageId": format!("m-{i}"),
                "receiptHandle": format!("rh-{i}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench",
            }))
            .expect("a record")
        })
        .collect()
}

/// Filters, batches and invokes; returns (delivered, invocations, records and orders the
/// handler counted).
async fn run(
    handler: Arc<RuntimeApiHandler>,
    criteria: &FilterCriteria,
    records: &[Vec<u8>],
    args: &Args,
) -> Result<(usize, usize, u64, u64), String> {
    let mut verdicts = Vec::with_capacity(records.len());
    criteria.evaluate_batch(
        Source::Sqs,
        records.iter().map(Vec::as_slice),
        &mut verdicts,
    );
    let delivered: Vec<&[u8]> = records
        .iter()
        .zip(&verdicts)
        .filter(|(_, verdict)| matches!(verdict, RecordVerdict::Delivered))
        .map(|(record, _)| record.as_slice())
        .collect();
    let batches: Vec<Vec<u8>> = delivered
        .chunks(args.batch_size)
        .map(|batch| {
            let mut event = b"{\"Records\":[".to_vec();
            for (i, record) in batch.iter().enumerate() {
                if i > 0 {
                    event.push(b',');
                }
                event.extend_from_slice(record);
            }
            event.extend_from_slice(b"]}");
            event
        })
        .collect();
    let invocations = batches.len();
    // One task per environment, each taking the next batch.
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let batches = Arc::new(batches);
    let mut tasks = Vec::new();
    for _ in 0..args.environments {
        let (handler, next, batches) = (
            Arc::clone(&handler),
            Arc::clone(&next),
            Arc::clone(&batches),
        );
        tasks.push(tokio::spawn(async move {
            let (mut counted, mut orders) = (0u64, 0u64);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(batch) = batches.get(i) else { break };
                let invocation = Invocation::new(format!("req-{i}"), ARN, batch.clone());
                match handler.invoke(invocation).await {
                    Outcome::Success(answer) => {
                        let answer: Value = serde_json::from_slice(&answer)
                            .map_err(|e| format!("batch {i}: the answer is not JSON: {e}"))?;
                        counted += answer["records"].as_u64().unwrap_or(0);
                        orders += answer["orders"].as_u64().unwrap_or(0);
                    }
                    other => return Err(format!("batch {i} failed: {other:?}")),
                }
            }
            Ok::<_, String>((counted, orders))
        }));
    }
    let (mut counted, mut orders) = (0, 0);
    for task in tasks {
        let (c, o) = task.await.map_err(|e| e.to_string())??;
        counted += c;
        orders += o;
    }
    Ok((delivered.len(), invocations, counted, orders))
}

fn handler_config(args: &Args) -> Result<RuntimeApiConfig, String> {
    let config = match &args.python {
        Some(python) => RuntimeApiConfig::awslambdaric(
            "bench",
            python.display().to_string(),
            "app.handler",
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python"),
        ),
        None => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let binary = exe.with_file_name("lambda_runtime_handler");
            if !binary.exists() {
                return Err(format!(
                    "{} is missing: cargo build --release -p weir-route --examples",
                    binary.display()
                ));
            }
            RuntimeApiConfig::new("bench", ProcessSpec::new(binary.display().to_string()))
        }
    };
    Ok(config
        .max_environments(args.environments)
        .logs(ProcessLogs::Discard))
}

const FILTER: &str = r#"{"Filters": [{"Pattern": "{\"body\": {\"kind\": [\"order\"]}}"}]}"#;

/// A handler that adds up what the benchmark's Lambda handler counted.
#[derive(Clone)]
struct Counting {
    inner: Arc<RuntimeApiHandler>,
    records: Arc<AtomicU64>,
    orders: Arc<AtomicU64>,
}

impl Handler for Counting {
    fn invoke(&self, invocation: Invocation) -> weir_route::HandlerFuture {
        let this = self.clone();
        Box::pin(async move {
            let outcome = this.inner.invoke(invocation).await;
            if let Outcome::Success(answer) = &outcome {
                if let Ok(answer) = serde_json::from_slice::<Value>(answer) {
                    let count = |key: &str| answer[key].as_u64().unwrap_or(0);
                    this.records.fetch_add(count("records"), Ordering::Relaxed);
                    this.orders.fetch_add(count("orders"), Ordering::Relaxed);
                }
            }
            outcome
        })
    }
}

/// One queue of `count` messages drained by one mapping; returns the sending and draining
/// times and the invocations, after checking every count.
async fn through_a_mapping(
    router: &Router,
    counting: &Counting,
    name: &str,
    count: usize,
    args: &Args,
) -> Result<(f64, f64, u64), String> {
    // Lambda wants the visibility timeout at least the function's (60 s).
    let queue = router
        .create_queue(QueueConfig::new(name).visibility_timeout_seconds(60))
        .map_err(|e| e.to_string())?;
    let bodies = make_bodies(count);
    let sending = Instant::now();
    for body in bodies {
        queue.send(body);
    }
    let sent = sending.elapsed().as_secs_f64();
    let (records_before, orders_before) = (
        counting.records.load(Ordering::Relaxed),
        counting.orders.load(Ordering::Relaxed),
    );
    let invocations_before = router
        .function_metrics("bench")
        .map(|m| m.invocations)
        .unwrap_or(0);
    let mut mapping = EventSourceMappingConfig::new("bench", queue.arn());
    mapping.batch_size = Some(args.batch_size as i64);
    // Over 10 records a batch needs a batching window; a full queue fills batches at once,
    // so only the last one waits for it.
    if args.batch_size > 10 {
        mapping.maximum_batching_window_in_seconds = Some(1);
    }
    mapping.filter_criteria = Some(FILTER.to_string());
    let draining = Instant::now();
    let uuid = router
        .create_event_source_mapping(mapping)
        .map_err(|e| e.to_string())?;
    router.wait_idle().await;
    let drained = draining.elapsed().as_secs_f64();
    let mut metrics = router.mapping_metrics(&uuid).ok_or("no mapping metrics")?;
    // The poller deletes a filtered message and then counts it, so a reader that wakes
    // in between (wait_idle saw the queue empty) can find the count one short; give it a
    // moment and say so.
    let settle = Instant::now();
    while metrics.deleted < count as u64 && settle.elapsed().as_millis() < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        metrics = router.mapping_metrics(&uuid).ok_or("no mapping metrics")?;
    }
    if settle.elapsed().as_micros() > 500 {
        eprintln!(
            "note ({name}): DeletedEventCount reached {} {:.1} ms after wait_idle returned",
            metrics.deleted,
            settle.elapsed().as_secs_f64() * 1000.0
        );
    }
    let invocations = router
        .function_metrics("bench")
        .map(|m| m.invocations)
        .unwrap_or(0)
        - invocations_before;
    let delivered = count.div_ceil(2) as u64;
    let counted = counting.records.load(Ordering::Relaxed) - records_before;
    let orders = counting.orders.load(Ordering::Relaxed) - orders_before;
    let expected_invocations = delivered.div_ceil(args.batch_size as u64);
    if metrics.polled != count as u64
        || metrics.filtered_out != count as u64 - delivered
        || metrics.invoked != delivered
        || metrics.failed_invoke != 0
        || metrics.deleted != count as u64
        || counted != delivered
        || orders != delivered
        || invocations < expected_invocations
        || !queue.is_empty()
    {
        return Err(format!(
            "{name}: {count} records, {delivered} expected through the filter; mapping {metrics:?}, \
             {invocations} invocations, the handler counted {counted} records and {orders} orders"
        ));
    }
    Ok((sent, drained, invocations))
}

fn main() -> Result<(), String> {
    let args = parse_args()?;
    if !args.direct && args.batch_size > 10 && args.records.div_ceil(2) % args.batch_size != 0 {
        eprintln!(
            "note: {} records through the filter are not whole batches of {}: the last batch waits out the 1 s batching window, and that second is in the time",
            args.records.div_ceil(2),
            args.batch_size
        );
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let handler = Arc::new(RuntimeApiHandler::new(handler_config(&args)?));
    let kind = if args.python.is_some() {
        "Python awslambdaric"
    } else {
        "Rust lambda_runtime"
    };
    let warm_count = args.environments * args.batch_size * 4;

    if args.direct {
        let criteria = FilterCriteria::parse(FILTER).map_err(|e| e.to_string())?;
        let records = make_records(args.records);
        let expected = records.len().div_ceil(2);
        // Warm-up: start every environment and check the counts on a small run first.
        let warm = make_records(warm_count);
        let (delivered, _, counted, orders) =
            runtime.block_on(run(Arc::clone(&handler), &criteria, &warm, &args))?;
        if counted != delivered as u64 || orders != delivered as u64 {
            return Err(format!(
                "warm-up: delivered {delivered}, the handler counted {counted} records and {orders} orders"
            ));
        }
        let started = Instant::now();
        let (delivered, invocations, counted, orders) =
            runtime.block_on(run(Arc::clone(&handler), &criteria, &records, &args))?;
        let elapsed = started.elapsed().as_secs_f64();
        if delivered != expected || counted != delivered as u64 || orders != delivered as u64 {
            return Err(format!(
                "{} records: expected {expected} delivered, got {delivered}; the handler counted {counted} records and {orders} orders",
                records.len()
            ));
        }
        println!(
            "direct: {} records ({delivered} through the filter) in {invocations} invocations of up to {} records, {} environment(s), {kind} handler: {elapsed:.3} s",
            records.len(),
            args.batch_size,
            handler.environments_started(),
        );
        println!(
            "{:.0} records/s, {:.0} invocations/s",
            records.len() as f64 / elapsed,
            invocations as f64 / elapsed
        );
        return Ok(());
    }

    let counting = Counting {
        inner: Arc::clone(&handler),
        records: Arc::new(AtomicU64::new(0)),
        orders: Arc::new(AtomicU64::new(0)),
    };
    runtime.block_on(async {
        let router = Router::new();
        let function = FunctionConfig::new("bench")
            .reserved_concurrency(args.environments as u32)
            .timeout_seconds(60);
        router
            .create_function(function, counting.clone())
            .map_err(|e| e.to_string())?;
        through_a_mapping(&router, &counting, "warm", warm_count, &args).await?;
        let (sent, drained, invocations) =
            through_a_mapping(&router, &counting, "bench", args.records, &args).await?;
        println!(
            "mapping: {} records ({} through the filter) in {invocations} invocations of up to {} records, {} environment(s), {kind} handler: {drained:.3} s (sending them to the queue first: {sent:.3} s)",
            args.records,
            args.records.div_ceil(2),
            args.batch_size,
            handler.environments_started(),
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
