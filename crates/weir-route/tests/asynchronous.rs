//! Asynchronous invocation: retries and their spacing, throttle backoff, event age,
//! destinations with Lambda's invocation record, the dead-letter queue.

mod common;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::time::Instant;
use weir_route::{
    EventInvokeConfig, FunctionConfig, InvocationType, Outcome, QueueConfig, RuleConfig,
    StreamConfig, Target,
};

fn queue_target(name: &str) -> Target {
    Target::Queue(name.to_string())
}

#[tokio::test(start_paused = true)]
async fn a_failing_event_is_retried_twice_one_then_two_minutes_apart() {
    let router = router();
    let calls = Calls::default();
    let failed = router.create_queue(QueueConfig::new("failed")).unwrap();
    let config = FunctionConfig::new("f")
        .event_invoke(EventInvokeConfig::default().on_failure(queue_target("failed")));
    router
        .create_function(config, recording(&calls, |_| fail("bad record")))
        .unwrap();
    let start = Instant::now();
    let out = router
        .invoke("f", InvocationType::Event, br#"{"order": 7}"#.to_vec())
        .await
        .unwrap();
    router.wait_idle().await;
    let all = calls.all();
    let times: Vec<f64> = all.iter().map(|c| secs(start, c.at)).collect();
    assert_eq!(times, [0.0, 60.0, 180.0]);
    assert!(all.iter().all(|c| c.request_id == out.request_id));
    let records = failed.drain();
    assert_eq!(records.len(), 1);
    let record = json(records[0].as_bytes());
    assert_eq!(record["version"], "1.0");
    // 2024-01-01T00:00:00Z plus the 180 s of retries.
    assert_eq!(record["timestamp"], "2024-01-01T00:03:00.000Z");
    assert_eq!(
        record["requestContext"],
        serde_json::json!({
            "requestId": out.request_id,
            "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        })
    );
    assert_eq!(record["requestPayload"], serde_json::json!({"order": 7}));
    assert_eq!(
        record["responseContext"],
        serde_json::json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
    );
    assert_eq!(
        record["responsePayload"],
        serde_json::json!({"errorMessage": "bad record", "errorType": "Error"})
    );
    let metrics = router.function_metrics("f").unwrap();
    assert_eq!(
        (
            metrics.async_events_received,
            metrics.async_events_dropped,
            metrics.errors
        ),
        (1, 1, 3)
    );
}

#[tokio::test(start_paused = true)]
async fn maximum_retry_attempts_bounds_the_retries() {
    for (retries, expected) in [(0, vec![0.0]), (1, vec![0.0, 60.0])] {
        let router = router();
        let calls = Calls::default();
        let config = FunctionConfig::new("f")
            .event_invoke(EventInvokeConfig::default().maximum_retry_attempts(retries));
        router
            .create_function(config, recording(&calls, |_| fail("no")))
            .unwrap();
        let start = Instant::now();
        router
            .invoke("f", InvocationType::Event, b"{}".to_vec())
            .await
            .unwrap();
        router.wait_idle().await;
        let times: Vec<f64> = calls.all().iter().map(|c| secs(start, c.at)).collect();
        assert_eq!(times, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn a_success_sends_its_record_to_the_on_success_destination() {
    let router = router();
    let calls = Calls::default();
    let done = router.create_queue(QueueConfig::new("done")).unwrap();
    let config = FunctionConfig::new("f")
        .event_invoke(EventInvokeConfig::default().on_success(queue_target("done")));
    router
        .create_function(
            config,
            recording(&calls, |_| Outcome::Success(br#"{"total": 12}"#.to_vec())),
        )
        .unwrap();
    router
        .invoke("f", InvocationType::Event, br#"{"a": [1, 2]}"#.to_vec())
        .await
        .unwrap();
    router.wait_idle().await;
    let record = json(done.drain()[0].as_bytes());
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(record["requestPayload"], serde_json::json!({"a": [1, 2]}));
    assert_eq!(
        record["responseContext"],
        serde_json::json!({"statusCode": 200, "executedVersion": "$LATEST"})
    );
    assert_eq!(record["responsePayload"], serde_json::json!({"total": 12}));
}

#[tokio::test(start_paused = true)]
async fn an_event_older_than_its_maximum_age_is_discarded_even_after_six_hours() {
    // The function stops being ready after the event was queued: each attempt is refused and
    // retried with backoff until the default 6-hour age limit.
    let router = router();
    let calls = Calls::default();
    let failed = router.create_queue(QueueConfig::new("failed")).unwrap();
    let config = FunctionConfig::new("f")
        .event_invoke(EventInvokeConfig::default().on_failure(queue_target("failed")));
    router
        .create_function(config, recording(&calls, |_| ok()))
        .unwrap();
    let start = Instant::now();
    router
        .set_function_state("f", weir_route::FunctionState::Active)
        .unwrap();
    router
        .invoke("f", InvocationType::Event, b"{}".to_vec())
        .await
        .unwrap();
    router
        .set_function_state("f", weir_route::FunctionState::Inactive)
        .unwrap();
    router.wait_idle().await;
    assert_eq!(secs(start, Instant::now()), 21_600.0);
    assert_eq!(calls.len(), 0);
    let record = json(failed.drain()[0].as_bytes());
    assert_eq!(record["requestContext"]["condition"], "EventAgeExceeded");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 0);
    assert_eq!(record["timestamp"], "2024-01-01T06:00:00.000Z");
    assert!(record.get("responseContext").is_none());
    let m = router.function_metrics("f").unwrap();
    assert_eq!((m.invocations, m.async_events_dropped), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn reserved_concurrency_zero_sends_events_to_the_failure_destinations_at_once() {
    let router = router();
    let failed = router.create_queue(QueueConfig::new("failed")).unwrap();
    let dlq = router.create_queue(QueueConfig::new("dlq")).unwrap();
    let config = FunctionConfig::new("off")
        .reserved_concurrency(0)
        .dead_letter(queue_target("dlq"))
        .event_invoke(EventInvokeConfig::default().on_failure(queue_target("failed")));
    router
        .create_function(config, |_: weir_route::Invocation| async { ok() })
        .unwrap();
    let start = Instant::now();
    let out = router
        .invoke("off", InvocationType::Event, br#"{"k": 1}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(out.status_code, 202);
    router.wait_idle().await;
    assert_eq!(secs(start, Instant::now()), 0.0);
    let record = json(failed.drain()[0].as_bytes());
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 0);
    assert_eq!(dlq.drain(), [r#"{"k": 1}"#]);
    assert_eq!(router.function_metrics("off").unwrap().invocations, 0);
}

#[tokio::test(start_paused = true)]
async fn a_retry_due_after_the_maximum_age_discards_the_event_at_that_age() {
    let router = router();
    let calls = Calls::default();
    let failed = router.create_queue(QueueConfig::new("failed")).unwrap();
    let config = FunctionConfig::new("f").event_invoke(
        EventInvokeConfig::default()
            .maximum_event_age_in_seconds(90)
            .on_failure(queue_target("failed")),
    );
    router
        .create_function(config, recording(&calls, |_| fail("no")))
        .unwrap();
    let start = Instant::now();
    router
        .invoke("f", InvocationType::Event, b"{}".to_vec())
        .await
        .unwrap();
    router.wait_idle().await;
    // Attempts at 0 s and 60 s; the next would be at 180 s, past the 90 s age.
    let times: Vec<f64> = calls.all().iter().map(|c| secs(start, c.at)).collect();
    assert_eq!(times, [0.0, 60.0]);
    assert_eq!(secs(start, Instant::now()), 90.0);
    let record = json(failed.drain()[0].as_bytes());
    assert_eq!(record["requestContext"]["condition"], "EventAgeExceeded");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
}

#[tokio::test(start_paused = true)]
async fn throttled_events_back_off_and_run_when_concurrency_frees_up() {
    let router = router();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    router
        .create_function(
            FunctionConfig::new("one")
                .reserved_concurrency(1)
                .timeout_seconds(30),
            slow(Duration::from_secs(10), running.clone(), peak.clone()),
        )
        .unwrap();
    let start = Instant::now();
    for _ in 0..3 {
        router
            .invoke("one", InvocationType::Event, b"{}".to_vec())
            .await
            .unwrap();
    }
    router.wait_idle().await;
    let m = router.function_metrics("one").unwrap();
    assert_eq!(m.invocations, 3);
    assert_eq!(m.errors, 0);
    assert!(m.throttles >= 2, "{m:?}");
    assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Three 10 s runs one after another, with backoff gaps (1, 2, 4, 8 s ...) in between.
    let elapsed = secs(start, Instant::now());
    assert!((30.0..60.0).contains(&elapsed), "{elapsed}");
}

#[tokio::test(start_paused = true)]
async fn a_discarded_event_goes_to_the_dead_letter_queue_with_its_error() {
    let router = router();
    let dlq = router.create_queue(QueueConfig::new("dlq")).unwrap();
    let config = FunctionConfig::new("f")
        .dead_letter(queue_target("dlq"))
        .event_invoke(EventInvokeConfig::default().maximum_retry_attempts(0));
    router
        .create_function(config, |_: weir_route::Invocation| async { fail("cannot") })
        .unwrap();
    let out = router
        .invoke("f", InvocationType::Event, br#"{"x": 1}"#.to_vec())
        .await
        .unwrap();
    router.wait_idle().await;
    let message = &dlq.receive(1)[0];
    assert_eq!(message.body, r#"{"x": 1}"#);
    let attrs: std::collections::HashMap<_, _> =
        message.message_attributes.iter().cloned().collect();
    assert_eq!(attrs["RequestID"], out.request_id);
    assert_eq!(attrs["ErrorCode"], "200");
    assert_eq!(attrs["ErrorMessage"], "cannot");
}

#[tokio::test(start_paused = true)]
async fn destinations_may_be_a_function_a_stream_or_the_bus() {
    let router = router();
    let audit = Calls::default();
    router
        .create_function(FunctionConfig::new("audit"), recording(&audit, |_| ok()))
        .unwrap();
    let stream = router.create_stream(StreamConfig::new("results")).unwrap();
    let bus_queue = router.create_queue(QueueConfig::new("from-bus")).unwrap();
    router
        .put_rule(
            "default",
            RuleConfig::new(
                "lambda-results",
                r#"{"source": ["lambda"], "detail-type": ["Lambda Function Invocation Result - Failure"]}"#,
            )
            .target(queue_target("from-bus")),
        )
        .unwrap();
    let mk = |name: &str, target: Target| {
        FunctionConfig::new(name).event_invoke(
            EventInvokeConfig::default()
                .maximum_retry_attempts(0)
                .on_failure(target),
        )
    };
    let failing = |_: weir_route::Invocation| async { fail("x") };
    router
        .create_function(mk("to-fn", Target::Function("audit".into())), failing)
        .unwrap();
    router
        .create_function(mk("to-stream", Target::Stream("results".into())), failing)
        .unwrap();
    router
        .create_function(mk("to-bus", Target::Bus("default".into())), failing)
        .unwrap();
    router.check_targets().unwrap();
    for name in ["to-fn", "to-stream", "to-bus"] {
        router
            .invoke(name, InvocationType::Event, b"{}".to_vec())
            .await
            .unwrap();
    }
    router.wait_idle().await;
    let got = audit.all();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].payload["requestContext"]["condition"],
        "RetriesExhausted"
    );
    let records = stream.records(0);
    assert_eq!(records.len(), 1);
    assert_eq!(
        json(&records[0].data)["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:to-stream:$LATEST"
    );
    let event = json(bus_queue.drain()[0].as_bytes());
    assert_eq!(event["source"], "lambda");
    assert_eq!(
        event["resources"][0],
        "arn:aws:lambda:us-east-1:000000000000:function:to-bus:$LATEST"
    );
    assert_eq!(
        event["detail"]["requestContext"]["condition"],
        "RetriesExhausted"
    );
}

#[tokio::test(start_paused = true)]
async fn events_waiting_for_a_retry_at_shutdown_are_counted_unprocessed() {
    let router = router();
    let calls = Calls::default();
    let failed = router.create_queue(QueueConfig::new("failed")).unwrap();
    let config = FunctionConfig::new("f")
        .event_invoke(EventInvokeConfig::default().on_failure(queue_target("failed")));
    router
        .create_function(config, recording(&calls, |_| fail("bad record")))
        .unwrap();
    for _ in 0..2 {
        router
            .invoke("f", InvocationType::Event, b"{}".to_vec())
            .await
            .unwrap();
    }
    // Both failed once and wait 60 s for their first retry.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(calls.len(), 2);
    router.shutdown().await;
    let m = router.function_metrics("f").unwrap();
    assert_eq!(
        (
            m.async_events_received,
            m.async_events_dropped,
            m.async_events_unprocessed
        ),
        (2, 0, 2)
    );
    assert!(failed.drain().is_empty());
    let json = serde_json::to_value(m).unwrap();
    assert_eq!(json["AsyncEventsUnprocessed"], 2);
}
