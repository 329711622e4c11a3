//! Records through a Runtime API process handler: records/s and invocations/s.
//!
//! SQS-shaped records are filtered with a FilterCriteria (before batching, as an event source
//! mapping does), the matching ones batched into `{"Records": [...]}` events, and each batch
//! invoked on a [`RuntimeApiHandler`] whose process is a real Lambda handler: the Rust one
//! on the `lambda_runtime` crate (examples/lambda_runtime_handler.rs, the default) or the
//! Python one on `awslambdaric` (`--python PATH` to an interpreter that has it). The
//! handler answers each batch with how many records and orders it got; the totals are
//! checked against what the filter delivered before any figure is printed.
//!
//! ```text
//! cargo build --release -p weir-route --examples
//! target/release/examples/runtime_api_bench [--records N] [--batch-size B] [--environments E] [--python PATH]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use weir::lambda::{FilterCriteria, RecordVerdict, Source};
use weir_route::{
    Handler, Invocation, Outcome, ProcessLogs, ProcessSpec, RuntimeApiConfig, RuntimeApiHandler,
};

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:bench";

struct Args {
    records: usize,
    batch_size: usize,
    environments: usize,
    python: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        records: 100_000,
        batch_size: 100,
        environments: 2,
        python: None,
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
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.batch_size == 0 || args.environments == 0 {
        return Err("--batch-size and --environments must be at least 1".to_string());
    }
    Ok(args)
}

/// SQS messages whose JSON bodies are orders (one in two), refunds or notes.
fn make_records(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let kind = match i % 4 {
                0 | 2 => "order",
                1 => "refund",
                _ => "note",
            };
            let body = format!(r#"{{"kind":"{kind}","id":{i},"amount":{}}}"#, i % 1000);
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

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let criteria = FilterCriteria::parse(
        r#"{"Filters": [{"Pattern": "{\"body\": {\"kind\": [\"order\"]}}"}]}"#,
    )
    .map_err(|e| e.to_string())?;
    let records = make_records(args.records);
    let expected = records.len().div_ceil(2);
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let handler = Arc::new(RuntimeApiHandler::new(handler_config(&args)?));

    // Warm-up: start every environment and check the counts on a small run first.
    let warm = make_records(args.environments * args.batch_size * 2);
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
        "{} records ({} delivered by the filter) in {invocations} invocations of {} records, {} environment(s), {} handler: {:.3} s",
        records.len(),
        delivered,
        args.batch_size,
        handler.environments_started(),
        if args.python.is_some() { "Python awslambdaric" } else { "Rust lambda_runtime" },
        elapsed
    );
    println!(
        "{:.0} records/s, {:.0} invocations/s",
        records.len() as f64 / elapsed,
        invocations as f64 / elapsed
    );
    Ok(())
}
