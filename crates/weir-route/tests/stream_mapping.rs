//! Event source mappings on the in-memory stream: order per shard and per partition key,
//! ParallelizationFactor, bisect, retries, record age, partial batch responses, OnFailure
//! records, filtering, starting position, validation.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::time::Instant;
use weir_route::{
    EventSourceMappingConfig, FunctionConfig, Outcome, QueueConfig, Router, StreamConfig,
};

fn mapping(router: &Router, function: &str, stream: &str) -> EventSourceMappingConfig {
    let mut c = EventSourceMappingConfig::new(function, router.stream_arn(stream));
    c.starting_position = Some("TRIM_HORIZON".into());
    c
}

/// The `n` of each record of each batch.
fn numbers(calls: &Calls) -> Vec<Vec<i64>> {
    calls
        .batches()
        .iter()
        .map(|b| {
            b.iter()
                .map(|t| json(t.as_bytes())["n"].as_i64().unwrap())
                .collect()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn records_arrive_in_order_per_shard_in_batches() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    for n in 0..25 {
        stream.put_record("k", format!(r#"{{"n": {n}}}"#).into_bytes());
    }
    let mut config = mapping(&router, "f", "s");
    config.batch_size = Some(10);
    router.create_event_source_mapping(config).unwrap();
    router.wait_idle().await;
    let batches = numbers(&calls);
    assert_eq!(batches.concat(), (0..25).collect::<Vec<_>>());
    assert_eq!(
        batches.iter().map(Vec::len).collect::<Vec<_>>(),
        [10, 10, 5]
    );
    let record = &calls.all()[0].payload["Records"][0];
    assert_eq!(record["eventSource"], "aws:kinesis");
    assert_eq!(record["kinesis"]["partitionKey"], "k");
    assert_eq!(
        record["eventID"].as_str().unwrap().split(':').next(),
        Some("shardId-000000000000")
    );
}

#[tokio::test(start_paused = true)]
async fn filtering_happens_before_batching_and_the_position_moves_past_filtered_records() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    for n in 0..20 {
        stream.put_record(
            "k",
            format!(r#"{{"n": {n}, "keep": {}}}"#, n % 4 == 0).into_bytes(),
        );
    }
    let mut config = mapping(&router, "f", "s");
    config.batch_size = Some(5);
    config.filter_criteria =
        Some(r#"{"Filters": [{"Pattern": "{\"data\": {\"keep\": [true]}}"}]}"#.into());
    let uuid = router.create_event_source_mapping(config).unwrap();
    router.wait_idle().await;
    assert_eq!(numbers(&calls), [[0, 4, 8, 12, 16]]);
    let m = router.mapping_metrics(&uuid).unwrap();
    assert_eq!((m.polled, m.filtered_out, m.invoked), (20, 15, 5));
    assert!(router.is_idle(), "the position is at the stream's end");
}

#[tokio::test(start_paused = true)]
async fn a_failing_batch_blocks_its_shard_until_retries_are_exhausted() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(
            FunctionConfig::new("f"),
            recording(&calls, |event| {
                let texts = record_texts(event);
                if texts.iter().any(|t| t.contains(r#""bad": true"#)) {
                    fail("bad record")
                } else {
                    ok()
                }
            }),
        )
        .unwrap();
    let failed = router.create_queue(QueueConfig::new("failed")).unwrap();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    for n in 0..6 {
        stream.put_record(
            "k",
            format!(r#"{{"n": {n}, "bad": {}}}"#, n == 1).into_bytes(),
        );
    }
    let mut config = mapping(&router, "f", "s");
    config.batch_size = Some(3);
    config.maximum_retry_attempts = Some(2);
    config.on_failure = Some(failed.arn().to_string());
    let uuid = router.create_event_source_mapping(config).unwrap();
    let start = Instant::now();
    router.wait_idle().await;
    // The first batch is tried three times (1 + 2 retries) before the next one runs.
    assert_eq!(
        numbers(&calls),
        [vec![0, 1, 2], vec![0, 1, 2], vec![0, 1, 2], vec![3, 4, 5]]
    );
    let times: Vec<f64> = calls.all().iter().map(|c| secs(start, c.at)).collect();
    assert_eq!(times, [0.0, 1.0, 2.0, 2.0]);
    let records = stream.records(0);
    let record = json(failed.drain()[0].as_bytes());
    assert_eq!(
        record["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(
        record["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:f"
    );
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["version"], "1.0");
    let info = &record["KinesisBatchInfo"];
    assert_eq!(info["shardId"], "shardId-000000000000");
    assert_eq!(
        info["startSequenceNumber"],
        records[0].sequence_number.as_str()
    );
    assert_eq!(
        info["endSequenceNumber"],
        records[2].sequence_number.as_str()
    );
    assert_eq!(info["batchSize"], 3);
    assert_eq!(info["streamArn"], stream.arn());
    assert_eq!(
        info["approximateArrivalOfFirstRecord"],
        "2024-01-01T00:00:00.000Z"
    );
    let m = router.mapping_metrics(&uuid).unwrap();
    assert_eq!(
        (
            m.invoked,
            m.failed_invoke,
            m.dropped,
            m.on_failure_delivered
        ),
        (12, 9, 3, 3)
    );
}

#[tokio::test(start_paused = true)]
async fn bisect_isolates_the_bad_record_without_using_up_retries() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(
            FunctionConfig::new("f"),
            recording(&calls, |event| {
                if record_texts(event)
                    .iter()
                    .any(|t| t.contains(r#""bad": true"#))
                {
                    fail("bad")
                } else {
                    ok()
                }
            }),
        )
        .unwrap();
    let failed = router.create_queue(QueueConfig::new("failed")).unwrap();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    for n in 0..4 {
        stream.put_record(
            "k",
            format!(r#"{{"n": {n}, "bad": {}}}"#, n == 2).into_bytes(),
        );
    }
    let mut config = mapping(&router, "f", "s");
    config.batch_size = Some(4);
    config.bisect_batch_on_function_error = Some(true);
    config.maximum_retry_attempts = Some(0);
    config.on_failure = Some(failed.arn().to_string());
    router.create_event_source_mapping(config).unwrap();
    router.wait_idle().await;
    assert_eq!(
        numbers(&calls),
        [vec![0, 1, 2, 3], vec![0, 1], vec![2, 3], vec![2], vec![3]]
    );
    let record = json(failed.drain()[0].as_bytes());
    assert_eq!(record["KinesisBatchInfo"]["batchSize"], 1);
    assert_eq!(
        record["KinesisBatchInfo"]["startSequenceNumber"],
        stream.records(0)[2].sequence_number.as_str()
    );
}

#[tokio::test(start_paused = true)]
async fn a_partial_batch_response_retries_from_the_lowest_failed_sequence_number() {
    let router = router();
    let calls = Calls::default();
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = attempts.clone();
    router
        .create_function(
            FunctionConfig::new("f"),
            recording(&calls, move |event| {
                let records = event["Records"].as_array().unwrap();
                // The first attempt fails records n=3 and n=1; later ones succeed.
                if a.fetch_add(1, Ordering::SeqCst) > 0 {
                    return Outcome::Success(br#"{"batchItemFailures": []}"#.to_vec());
                }
                let failures: Vec<serde_json::Value> = records
                    .iter()
                    .filter(|r| {
                        let t = record_texts(&serde_json::json!({"Records": [r]}))[0].clone();
                        let n = json(t.as_bytes())["n"].as_i64().unwrap();
                        n == 3 || n == 1
                    })
                    .map(|r| serde_json::json!({"itemIdentifier": r["kinesis"]["sequenceNumber"]}))
                    .collect();
                Outcome::Success(
                    serde_json::to_vec(&serde_json::json!({"batchItemFailures": failures}))
                        .unwrap(),
                )
            }),
        )
        .unwrap();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    for n in 0..5 {
        stream.put_record("k", format!(r#"{{"n": {n}}}"#).into_bytes());
    }
    let mut config = mapping(&router, "f", "s");
    config.batch_size = Some(5);
    config.function_response_types = vec!["ReportBatchItemFailures".into()];
    router.create_event_source_mapping(config).unwrap();
    router.wait_idle().await;
    assert_eq!(numbers(&calls), [vec![0, 1, 2, 3, 4], vec![1, 2, 3, 4]]);
}

#[tokio::test(start_paused = true)]
async fn an_invalid_stream_partial_response_retries_the_whole_batch() {
    let router = router();
    let calls = Calls::default();
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = attempts.clone();
    router
        .create_function(
            FunctionConfig::new("f"),
            recording(&calls, move |_| {
                if a.fetch_add(1, Ordering::SeqCst) == 0 {
                    Outcome::Success(
                        br#"{"batchItemFailures": [{"itemIdentifier": "nope"}]}"#.to_vec(),
                    )
                } else {
                    ok()
                }
            }),
        )
        .unwrap();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    for n in 0..3 {
        stream.put_record("k", format!(r#"{{"n": {n}}}"#).into_bytes());
    }
    let mut config = mapping(&router, "f", "s");
    config.function_response_types = vec!["ReportBatchItemFailures".into()];
    router.create_event_source_mapping(config).unwrap();
    router.wait_idle().await;
    assert_eq!(numbers(&calls), [vec![0, 1, 2], vec![0, 1, 2]]);
}

#[tokio::test(start_paused = true)]
async fn records_past_their_maximum_age_are_dropped_to_the_on_failure_destination() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(
            FunctionConfig::new("f"),
            recording(&calls, |_| fail("always")),
        )
        .unwrap();
    let failed = router.create_queue(QueueConfig::new("failed")).unwrap();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    stream.put_record("k", br#"{"n": 0}"#.to_vec());
    let mut config = mapping(&router, "f", "s");
    config.maximum_record_age_in_seconds = Some(60);
    config.on_failure = Some(failed.arn().to_string());
    let start = Instant::now();
    let uuid = router.create_event_source_mapping(config).unwrap();
    router.wait_idle().await;
    // Retried once a second (retries unlimited by default) until the record is 60 s old.
    assert_eq!(calls.len(), 60);
    assert_eq!(secs(start, Instant::now()), 60.0);
    let record = json(failed.drain()[0].as_bytes());
    assert_eq!(record["requestContext"]["condition"], "RecordAgeExceeded");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 60);
    let m = router.mapping_metrics(&uuid).unwrap();
    assert_eq!((m.dropped, m.on_failure_delivered), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn parallelization_runs_several_batches_per_shard_keeping_order_per_key() {
    for factor in [1, 4] {
        let router = router();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, i64)>::new()));
        let (r, p, s) = (running.clone(), peak.clone(), seen.clone());
        router
            .create_function(
                FunctionConfig::new("f").timeout_seconds(60),
                move |i: weir_route::Invocation| {
                    let (running, peak, seen) = (r.clone(), p.clone(), s.clone());
                    async move {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        let event = json(&i.payload);
                        for r in event["Records"].as_array().unwrap() {
                            let key = r["kinesis"]["partitionKey"].as_str().unwrap().to_string();
                            let t = record_texts(&serde_json::json!({"Records": [r]}))[0].clone();
                            seen.lock()
                                .unwrap()
                                .push((key, json(t.as_bytes())["n"].as_i64().unwrap()));
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        ok()
                    }
                },
            )
            .unwrap();
        let stream = router.create_stream(StreamConfig::new("s")).unwrap();
        for n in 0..200 {
            stream.put_record(
                &format!("user-{}", n % 16),
                format!(r#"{{"n": {n}}}"#).into_bytes(),
            );
        }
        let mut config = mapping(&router, "f", "s");
        config.batch_size = Some(5);
        config.parallelization_factor = Some(factor);
        router.create_event_source_mapping(config).unwrap();
        router.wait_idle().await;
        assert_eq!(
            peak.load(Ordering::SeqCst),
            factor as usize,
            "factor {factor}"
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 200);
        let mut per_key: HashMap<&str, Vec<i64>> = HashMap::new();
        for (k, n) in seen.iter() {
            per_key.entry(k).or_default().push(*n);
        }
        for (k, ns) in per_key {
            let mut sorted = ns.clone();
            sorted.sort_unstable();
            assert_eq!(ns, sorted, "key {k} out of order with factor {factor}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn shards_are_processed_independently_and_in_order_each() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let stream = router
        .create_stream(StreamConfig::new("s").shard_count(4))
        .unwrap();
    for n in 0..100 {
        stream.put_record(
            &format!("k{}", n % 10),
            format!(r#"{{"n": {n}}}"#).into_bytes(),
        );
    }
    let used = (0..4).filter(|s| !stream.records(*s).is_empty()).count();
    assert!(used > 1, "keys should spread over shards");
    let mut config = mapping(&router, "f", "s");
    config.batch_size = Some(7);
    router.create_event_source_mapping(config).unwrap();
    router.wait_idle().await;
    let mut per_shard: HashMap<String, Vec<String>> = HashMap::new();
    for call in calls.all() {
        for r in call.payload["Records"].as_array().unwrap() {
            let id = r["eventID"].as_str().unwrap();
            let (shard, seq) = id.split_once(':').unwrap();
            per_shard
                .entry(shard.to_string())
                .or_default()
                .push(seq.to_string());
        }
    }
    assert_eq!(per_shard.values().map(Vec::len).sum::<usize>(), 100);
    for (shard, seqs) in per_shard {
        let mut sorted = seqs.clone();
        sorted.sort();
        assert_eq!(seqs, sorted, "{shard}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_batching_window_applies_to_streams() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    let mut config = mapping(&router, "f", "s");
    config.maximum_batching_window_in_seconds = Some(10);
    router.create_event_source_mapping(config).unwrap();
    let start = Instant::now();
    stream.put_record("k", br#"{"n": 0}"#.to_vec());
    tokio::time::sleep(Duration::from_secs(4)).await;
    stream.put_record("k", br#"{"n": 1}"#.to_vec());
    router.wait_idle().await;
    assert_eq!(numbers(&calls), [[0, 1]]);
    assert_eq!(secs(start, calls.all()[0].at), 10.0);
}

#[tokio::test(start_paused = true)]
async fn latest_starts_after_the_records_already_there() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    stream.put_record("k", br#"{"n": 0}"#.to_vec());
    let mut config = mapping(&router, "f", "s");
    config.starting_position = Some("LATEST".into());
    router.create_event_source_mapping(config).unwrap();
    stream.put_record("k", br#"{"n": 1}"#.to_vec());
    router.wait_idle().await;
    assert_eq!(numbers(&calls), [[1]]);
}

#[tokio::test(start_paused = true)]
async fn stream_mapping_parameters_are_validated_with_aws_messages() {
    let router = router();
    router
        .create_function(
            FunctionConfig::new("f"),
            |_: weir_route::Invocation| async { ok() },
        )
        .unwrap();
    router.create_stream(StreamConfig::new("s")).unwrap();
    let check = |edit: &dyn Fn(&mut EventSourceMappingConfig), expected: &str| {
        let mut config = mapping(&router, "f", "s");
        edit(&mut config);
        let err = router.create_event_source_mapping(config).unwrap_err();
        assert_eq!(err.to_string(), expected);
    };
    check(
        &|c| c.parallelization_factor = Some(11),
        "ValidationException: 1 validation error detected: Value '11' at 'parallelizationFactor' \
         failed to satisfy constraint: Member must have value less than or equal to 10",
    );
    check(
        &|c| c.maximum_retry_attempts = Some(-2),
        "ValidationException: 1 validation error detected: Value '-2' at 'maximumRetryAttempts' \
         failed to satisfy constraint: Member must have value greater than or equal to -1",
    );
    check(
        &|c| c.maximum_record_age_in_seconds = Some(604_801),
        "ValidationException: 1 validation error detected: Value '604801' at \
         'maximumRecordAgeInSeconds' failed to satisfy constraint: Member must have value less \
         than or equal to 604800",
    );
    check(
        &|c| c.maximum_record_age_in_seconds = Some(30),
        "InvalidParameterValueException: MaximumRecordAgeInSeconds must be -1 or between 60 and \
         604800, not 30",
    );
    check(
        &|c| c.starting_position = None,
        "ValidationException: 1 validation error detected: Value null at 'startingPosition' \
         failed to satisfy constraint: Member must not be null",
    );
    check(
        &|c| c.maximum_concurrency = Some(5),
        "InvalidParameterValueException: Unsupported ScalingConfig parameter for the Kinesis \
         event source type",
    );
    check(
        &|c| {
            c.filter_criteria = Some(r#"{"Filters": [{"Pattern": "{\"data\": [\"x\"]}"}]}"#.into())
        },
        "InvalidParameterValueException: Invalid filter pattern definition. A kinesis filter \
         cannot match `data` as a plain string: only JSON patterns on `data` are allowed (AWS \
         refuses the filter when the event source mapping is created: Invalid filter pattern \
         definition.)",
    );
    check(
        &|c| c.on_failure = Some("arn:aws:sqs:us-east-1:000000000000:missing".into()),
        "ResourceNotFoundException: the on-failure destination \
         arn:aws:sqs:us-east-1:000000000000:missing does not exist",
    );
}

#[tokio::test(start_paused = true)]
async fn throttled_stream_batches_wait_without_using_retries() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(
            FunctionConfig::new("f").reserved_concurrency(0),
            recording(&calls, |_| ok()),
        )
        .unwrap();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    stream.put_record("k", br#"{"n": 0}"#.to_vec());
    let mut config = mapping(&router, "f", "s");
    config.maximum_retry_attempts = Some(0);
    config.maximum_record_age_in_seconds = Some(120);
    let uuid = router.create_event_source_mapping(config).unwrap();
    let start = Instant::now();
    router.wait_idle().await;
    // Never run, never given up for retries: only the record's age ends it.
    assert_eq!(calls.len(), 0);
    assert_eq!(secs(start, Instant::now()), 120.0);
    let m = router.mapping_metrics(&uuid).unwrap();
    assert_eq!(m.dropped, 1);
    assert_eq!(m.failed_invoke, 120);
    assert_eq!(router.function_metrics("f").unwrap().throttles, 120);
}

#[tokio::test(start_paused = true)]
async fn a_disabled_mapping_reads_nothing() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    stream.put_record("k", br#"{"n": 0}"#.to_vec());
    let mut config = mapping(&router, "f", "s");
    config.enabled = false;
    let uuid = router.create_event_source_mapping(config).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    router.wait_idle().await;
    assert_eq!(calls.len(), 0);
    assert_eq!(router.mapping_metrics(&uuid).unwrap().polled, 0);
}

#[test]
fn concurrent_puts_keep_sequence_numbers_and_arrival_in_shard_order() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let router = weir_route::Router::new();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let stream = stream.clone();
            scope.spawn(move || {
                for i in 0..2000 {
                    stream.put_record(
                        "one key",
                        format!("{{\"t\": {t}, \"i\": {i}}}").into_bytes(),
                    );
                }
            });
        }
    });
    let records = stream.records(0);
    assert_eq!(records.len(), 8000);
    for pair in records.windows(2) {
        assert!(
            pair[0].sequence_number < pair[1].sequence_number,
            "{} then {}",
            pair[0].sequence_number,
            pair[1].sequence_number
        );
        assert!(pair[0].arrival_ms <= pair[1].arrival_ms);
    }
}

#[tokio::test(start_paused = true)]
async fn with_bisect_a_partial_batch_response_splits_at_the_failed_record_using_no_retry() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(
            FunctionConfig::new("f"),
            recording(&calls, move |event| {
                // Record n=2 fails unless it is the batch's first.
                let records = event["Records"].as_array().unwrap();
                let failures: Vec<serde_json::Value> = records
                    .iter()
                    .enumerate()
                    .filter(|(i, r)| {
                        let t = record_texts(&serde_json::json!({"Records": [r]}))[0].clone();
                        *i > 0 && json(t.as_bytes())["n"] == 2
                    })
                    .map(|(_, r)| serde_json::json!({"itemIdentifier": r["kinesis"]["sequenceNumber"]}))
                    .collect();
                Outcome::Success(
                    serde_json::to_vec(&serde_json::json!({"batchItemFailures": failures}))
                        .unwrap(),
                )
            }),
        )
        .unwrap();
    let failed = router.create_queue(QueueConfig::new("failed")).unwrap();
    let stream = router.create_stream(StreamConfig::new("s")).unwrap();
    for n in 0..4 {
        stream.put_record("k", format!(r#"{{"n": {n}}}"#).into_bytes());
    }
    let mut config = mapping(&router, "f", "s");
    config.batch_size = Some(4);
    config.bisect_batch_on_function_error = Some(true);
    config.maximum_retry_attempts = Some(0);
    config.function_response_types = vec!["ReportBatchItemFailures".into()];
    config.on_failure = Some(failed.arn().to_string());
    router.create_event_source_mapping(config).unwrap();
    router.wait_idle().await;
    assert_eq!(numbers(&calls), [vec![0, 1, 2, 3], vec![2, 3]]);
    assert!(failed.drain().is_empty(), "nothing given up on");
}
