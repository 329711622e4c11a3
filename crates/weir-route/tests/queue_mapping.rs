//! Event source mappings on the in-memory queue: filtering before batching, batch size and
//! window, partial batch responses, visibility timeout and redrive, concurrency, validation.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::time::Instant;
use weir_route::{
    EventSourceMappingConfig, FunctionConfig, Outcome, QueueConfig, RedrivePolicy, Router,
};

const EVEN: &str = r#"{"Filters": [{"Pattern": "{\"body\": {\"even\": [true]}}"}]}"#;

fn mapping(router: &Router, function: &str, queue: &str) -> EventSourceMappingConfig {
    EventSourceMappingConfig::new(function, router.queue_arn(queue))
}

#[tokio::test(start_paused = true)]
async fn records_are_filtered_before_batching_and_filtered_messages_deleted() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let queue = router.create_queue(QueueConfig::new("q")).unwrap();
    for i in 0..10 {
        queue.send(format!(r#"{{"n": {i}, "even": {}}}"#, i % 2 == 0));
    }
    let mut config = mapping(&router, "f", "q");
    config.filter_criteria = Some(EVEN.into());
    config.batch_size = Some(5);
    let uuid = router.create_event_source_mapping(config).unwrap();
    router.wait_idle().await;
    // The 10 messages come in two polls of 5; a batch of 5 holds only matching records,
    // so the five even ones make exactly one full batch.
    let batches = calls.batches();
    let all: Vec<String> = batches.concat();
    assert_eq!(all.len(), 5, "{batches:?}");
    assert!(all.iter().all(|b| b.contains(r#""even": true"#)), "{all:?}");
    assert!(batches.iter().all(|b| b.len() <= 5));
    assert!(queue.is_empty());
    let m = router.mapping_metrics(&uuid).unwrap();
    assert_eq!(
        (m.polled, m.filtered_out, m.invoked, m.deleted),
        (10, 5, 5, 10)
    );
}

#[tokio::test(start_paused = true)]
async fn a_poll_whose_records_are_all_filtered_out_invokes_nothing() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let queue = router.create_queue(QueueConfig::new("q")).unwrap();
    let mut config = mapping(&router, "f", "q");
    config.filter_criteria = Some(EVEN.into());
    let uuid = router.create_event_source_mapping(config).unwrap();
    for _ in 0..3 {
        queue.send(r#"{"even": false}"#);
    }
    queue.send("not json at all");
    router.wait_idle().await;
    assert_eq!(calls.len(), 0);
    let m = router.mapping_metrics(&uuid).unwrap();
    assert_eq!(
        (m.polled, m.filtered_out, m.invoked, m.deleted),
        (4, 4, 0, 4)
    );
}

#[tokio::test(start_paused = true)]
async fn batches_hold_at_most_batch_size_records() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let queue = router.create_queue(QueueConfig::new("q")).unwrap();
    for i in 0..25 {
        queue.send(format!("{i}"));
    }
    let mut config = mapping(&router, "f", "q");
    config.batch_size = Some(10);
    router.create_event_source_mapping(config).unwrap();
    router.wait_idle().await;
    let mut sizes: Vec<usize> = calls.batches().iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [5, 10, 10]);
}

#[tokio::test(start_paused = true)]
async fn the_batching_window_gathers_records_from_the_first_one_on() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let queue = router.create_queue(QueueConfig::new("q")).unwrap();
    let mut config = mapping(&router, "f", "q");
    config.batch_size = Some(100);
    config.maximum_batching_window_in_seconds = Some(5);
    router.create_event_source_mapping(config).unwrap();
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(calls.len(), 0, "an empty queue invokes nothing");
    let first = Instant::now();
    for i in 0..3 {
        queue.send(format!("{i}"));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    queue.send("3");
    queue.send("4");
    router.wait_idle().await;
    let all = calls.all();
    assert_eq!(calls.batches(), [["0", "1", "2", "3", "4"]]);
    assert_eq!(secs(first, all[0].at), 5.0);
    assert!(first > start);
}

#[tokio::test(start_paused = true)]
async fn a_full_batch_goes_before_the_window_ends() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let queue = router.create_queue(QueueConfig::new("q")).unwrap();
    let mut config = mapping(&router, "f", "q");
    config.batch_size = Some(3);
    config.maximum_batching_window_in_seconds = Some(300);
    router.create_event_source_mapping(config).unwrap();
    let start = Instant::now();
    for i in 0..3 {
        queue.send(format!("{i}"));
    }
    router.wait_idle().await;
    assert_eq!(calls.len(), 1);
    assert_eq!(secs(start, calls.all()[0].at), 0.0);
}

/// A function that fails the records whose body holds `"fail": true`, reporting them by
/// message id.
fn reporting(calls: &Calls) -> impl weir_route::Handler {
    recording(calls, |event| {
        let failures: Vec<serde_json::Value> = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["body"].as_str().unwrap().contains(r#""fail": true"#))
            .map(|r| serde_json::json!({"itemIdentifier": r["messageId"]}))
            .collect();
        Outcome::Success(
            serde_json::to_vec(&serde_json::json!({"batchItemFailures": failures})).unwrap(),
        )
    })
}

#[tokio::test(start_paused = true)]
async fn a_valid_partial_batch_response_keeps_only_the_failed_messages() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), reporting(&calls))
        .unwrap();
    router.create_queue(QueueConfig::new("dlq")).unwrap();
    let queue = router
        .create_queue(
            QueueConfig::new("q")
                .visibility_timeout_seconds(30)
                .redrive_policy(RedrivePolicy::new("dlq", 2)),
        )
        .unwrap();
    for i in 0..4 {
        queue.send(format!(r#"{{"i": {i}, "fail": {}}}"#, i == 2));
    }
    let mut config = mapping(&router, "f", "q");
    config.function_response_types = vec!["ReportBatchItemFailures".into()];
    let uuid = router.create_event_source_mapping(config).unwrap();
    let start = Instant::now();
    router.wait_idle().await;
    let all = calls.all();
    assert_eq!(calls.batches()[0].len(), 4);
    // Only the failed message comes back, after the visibility timeout; received twice
    // (maxReceiveCount), it then goes to the DLQ.
    assert_eq!(calls.batches()[1..], [[r#"{"i": 2, "fail": true}"#]]);
    assert_eq!(secs(start, all[1].at), 30.0);
    assert_eq!(
        all[1].payload["Records"][0]["attributes"]["ApproximateReceiveCount"],
        "2"
    );
    let dlq = router.queue("dlq").unwrap();
    assert_eq!(dlq.drain(), [r#"{"i": 2, "fail": true}"#]);
    let m = router.mapping_metrics(&uuid).unwrap();
    assert_eq!((m.invoked, m.failed_invoke, m.deleted), (5, 2, 3));
}

async fn one_batch_with_response(response: &'static str) -> (usize, usize) {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(
            FunctionConfig::new("f"),
            recording(&calls, move |_| {
                Outcome::Success(response.as_bytes().to_vec())
            }),
        )
        .unwrap();
    let queue = router
        .create_queue(QueueConfig::new("q").visibility_timeout_seconds(30))
        .unwrap();
    queue.send("a");
    queue.send("b");
    let mut config = mapping(&router, "f", "q");
    config.function_response_types = vec!["ReportBatchItemFailures".into()];
    router.create_event_source_mapping(config).unwrap();
    // The first batch, and what is left after it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let left = queue.len();
    router.shutdown().await;
    (calls.len(), left)
}

#[tokio::test(start_paused = true)]
async fn empty_null_and_empty_list_responses_are_complete_successes() {
    for response in [
        "",
        "null",
        "{}",
        r#"{"batchItemFailures": null}"#,
        r#"{"batchItemFailures": []}"#,
    ] {
        assert_eq!(
            one_batch_with_response(response).await,
            (1, 0),
            "{response:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_invalid_partial_batch_response_fails_the_whole_batch() {
    for response in [
        "{not json",
        r#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#,
        r#"{"batchItemFailures": [{"itemIdentifier": null}]}"#,
        r#"{"batchItemFailures": [{"itemId": "x"}]}"#,
        r#"{"batchItemFailures": [{"itemIdentifier": "no-such-message"}]}"#,
        r#"{"batchItemFailures": "all"}"#,
        // JSON, but not an object.
        r#""done""#,
        "[]",
        "7",
        "true",
    ] {
        assert_eq!(
            one_batch_with_response(response).await,
            (1, 2),
            "{response:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn without_report_batch_item_failures_the_response_is_not_read() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), reporting(&calls))
        .unwrap();
    let queue = router.create_queue(QueueConfig::new("q")).unwrap();
    queue.send(r#"{"fail": true}"#);
    router
        .create_event_source_mapping(mapping(&router, "f", "q"))
        .unwrap();
    router.wait_idle().await;
    assert_eq!(calls.len(), 1);
    assert!(queue.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_batch_returns_after_the_visibility_timeout_then_moves_to_the_dlq() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| fail("no")))
        .unwrap();
    let dlq = router.create_queue(QueueConfig::new("dlq")).unwrap();
    let queue = router
        .create_queue(
            QueueConfig::new("q")
                .visibility_timeout_seconds(20)
                .redrive_policy(RedrivePolicy::new("dlq", 3)),
        )
        .unwrap();
    let start = Instant::now();
    let id = queue.send(r#"{"k": 1}"#);
    let uuid = router
        .create_event_source_mapping(mapping(&router, "f", "q"))
        .unwrap();
    router.wait_idle().await;
    let all = calls.all();
    let times: Vec<f64> = all.iter().map(|c| secs(start, c.at)).collect();
    assert_eq!(times, [0.0, 20.0, 40.0]);
    for (i, call) in all.iter().enumerate() {
        let record = &call.payload["Records"][0];
        assert_eq!(record["messageId"], id.as_str());
        assert_eq!(
            record["attributes"]["ApproximateReceiveCount"],
            (i + 1).to_string()
        );
        assert_eq!(record["eventSource"], "aws:sqs");
        assert_eq!(record["eventSourceARN"], queue.arn());
        assert_eq!(record["md5OfBody"], "369a65ffa380af4e7d31b5bd677eb597");
    }
    assert!(queue.is_empty());
    assert_eq!(dlq.drain(), [r#"{"k": 1}"#]);
    let m = router.mapping_metrics(&uuid).unwrap();
    assert_eq!((m.invoked, m.failed_invoke, m.deleted), (3, 3, 0));
}

#[tokio::test(start_paused = true)]
async fn maximum_concurrency_bounds_the_mappings_invocations() {
    for (limit, expected) in [(Some(2), 2), (Some(5), 5)] {
        let router = router();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        router
            .create_function(
                FunctionConfig::new("f"),
                slow(Duration::from_secs(1), running.clone(), peak.clone()),
            )
            .unwrap();
        let queue = router.create_queue(QueueConfig::new("q")).unwrap();
        for i in 0..40 {
            queue.send(format!("{i}"));
        }
        let mut config = mapping(&router, "f", "q");
        config.batch_size = Some(1);
        config.maximum_concurrency = limit;
        router.create_event_source_mapping(config).unwrap();
        router.wait_idle().await;
        assert_eq!(peak.load(Ordering::SeqCst), expected, "{limit:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn throttled_batches_return_to_the_queue_and_are_processed_later() {
    let router = router();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    router
        .create_function(
            FunctionConfig::new("f").reserved_concurrency(1),
            slow(Duration::from_secs(1), running.clone(), peak.clone()),
        )
        .unwrap();
    let queue = router
        .create_queue(QueueConfig::new("q").visibility_timeout_seconds(5))
        .unwrap();
    for i in 0..6 {
        queue.send(format!("{i}"));
    }
    let mut config = mapping(&router, "f", "q");
    config.batch_size = Some(1);
    config.maximum_concurrency = Some(3);
    let uuid = router.create_event_source_mapping(config).unwrap();
    router.wait_idle().await;
    assert_eq!(peak.load(Ordering::SeqCst), 1);
    let throttles = router.function_metrics("f").unwrap().throttles;
    assert!(throttles > 0);
    let m = router.mapping_metrics(&uuid).unwrap();
    assert_eq!(m.deleted, 6);
    assert_eq!(m.failed_invoke, throttles);
}

#[tokio::test(start_paused = true)]
async fn mapping_parameters_are_validated_with_aws_messages() {
    let router = router();
    router
        .create_function(
            FunctionConfig::new("f"),
            |_: weir_route::Invocation| async { ok() },
        )
        .unwrap();
    router.create_queue(QueueConfig::new("q")).unwrap();
    let check = |edit: &dyn Fn(&mut EventSourceMappingConfig), expected: &str| {
        let mut config = mapping(&router, "f", "q");
        edit(&mut config);
        let err = router.create_event_source_mapping(config).unwrap_err();
        assert_eq!(err.to_string(), expected);
    };
    check(
        &|c| c.batch_size = Some(0),
        "ValidationException: 1 validation error detected: Value '0' at 'batchSize' failed to \
         satisfy constraint: Member must have value greater than or equal to 1",
    );
    check(
        &|c| {
            c.batch_size = Some(10_001);
            c.maximum_batching_window_in_seconds = Some(301);
        },
        "ValidationException: 2 validation errors detected: Value '10001' at 'batchSize' failed \
         to satisfy constraint: Member must have value less than or equal to 10000; Value '301' \
         at 'maximumBatchingWindowInSeconds' failed to satisfy constraint: Member must have \
         value less than or equal to 300",
    );
    check(
        &|c| c.batch_size = Some(11),
        "InvalidParameterValueException: Maximum batch window in seconds must be greater than 0 \
         if maximum batch size is greater than 10",
    );
    check(
        &|c| c.maximum_concurrency = Some(1),
        "ValidationException: 1 validation error detected: Value '1' at \
         'scalingConfig.maximumConcurrency' failed to satisfy constraint: Member must have value \
         greater than or equal to 2",
    );
    check(
        &|c| c.function_response_types = vec!["Everything".into()],
        "ValidationException: 1 validation error detected: Value '[Everything]' at \
         'functionResponseTypes' failed to satisfy constraint: Member must satisfy constraint: \
         [Member must satisfy enum value set: [ReportBatchItemFailures]]",
    );
    check(
        &|c| c.parallelization_factor = Some(2),
        "InvalidParameterValueException: Unsupported ParallelizationFactor parameter for the SQS \
         event source type",
    );
    check(
        &|c| c.filter_criteria = Some(r#"{"Filters": [{"Pattern": "{\"body\": []}"}]}"#.into()),
        "InvalidParameterValueException: Invalid filter pattern definition. Filter 0: Empty \
         arrays are not allowed",
    );
    check(
        &|c| c.function_name = "nope".into(),
        "ResourceNotFoundException: Function not found: \
         arn:aws:lambda:us-east-1:000000000000:function:nope",
    );
    check(
        &|c| c.event_source_arn = "arn:aws:sqs:us-east-1:000000000000:nope".into(),
        "InvalidParameterValueException: Invalid request provided: the queue \
         arn:aws:sqs:us-east-1:000000000000:nope does not exist",
    );
    router
        .create_function(
            FunctionConfig::new("long").timeout_seconds(60),
            |_: weir_route::Invocation| async { ok() },
        )
        .unwrap();
    check(
        &|c| c.function_name = "long".into(),
        "InvalidParameterValueException: Queue visibility timeout: 30 seconds is less than \
         Function timeout: 60 seconds",
    );
    // Accepted at the edges.
    let mut config = mapping(&router, "f", "q");
    config.batch_size = Some(10_000);
    config.maximum_batching_window_in_seconds = Some(300);
    config.maximum_concurrency = Some(1000);
    router.create_event_source_mapping(config).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_message_that_returns_while_its_batch_gathers_is_in_it_once() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let queue = router
        .create_queue(QueueConfig::new("q").visibility_timeout_seconds(3))
        .unwrap();
    let mut config = mapping(&router, "f", "q");
    config.batch_size = Some(100);
    config.maximum_batching_window_in_seconds = Some(10);
    let uuid = router.create_event_source_mapping(config).unwrap();
    queue.send("only");
    router.wait_idle().await;
    let all = calls.all();
    assert_eq!(calls.batches(), [["only"]]);
    // Received at 0, 3, 6 and 9 s; the batch went at 10 s with the latest receipt, which
    // deleted it.
    assert_eq!(
        all[0].payload["Records"][0]["attributes"]["ApproximateReceiveCount"],
        "4"
    );
    let m = router.mapping_metrics(&uuid).unwrap();
    assert_eq!((m.polled, m.invoked, m.deleted), (4, 1, 1));
    assert!(queue.is_empty());
}
