//! Queues kept outside the router: an attached `Destination` receives what an in-memory queue
//! would (records, dead-letter messages with their attributes, rule targets), an `EventQueue`
//! takes a function's Event invocations with its settings, `complete_event` ends them at the
//! function's destinations, and refusals are answered and counted.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use weir_route::{
    Destination, DestinationRecord, EnqueueFuture, EventInvokeConfig, EventQueue, EventResult,
    FunctionConfig, InvocationType, QueueConfig, QueuedEvent, RuleConfig, SendFuture, Target,
};

/// A destination keeping what it is sent, or refusing everything.
#[derive(Clone, Default)]
struct Kept {
    records: Arc<Mutex<Vec<DestinationRecord>>>,
    refuse: bool,
}

impl Destination for Kept {
    fn send(&self, record: DestinationRecord) -> SendFuture {
        let (records, refuse) = (self.records.clone(), self.refuse);
        Box::pin(async move {
            // An external write takes a while; the router waits for it.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if refuse {
                return Err("refused".to_string());
            }
            records.lock().unwrap().push(record);
            Ok(())
        })
    }
}

impl Kept {
    fn bodies(&self) -> Vec<serde_json::Value> {
        self.records
            .lock()
            .unwrap()
            .iter()
            .map(|r| json(&r.body))
            .collect()
    }
}

/// An event queue keeping what it is given, or refusing everything.
#[derive(Clone, Default)]
struct Events {
    events: Arc<Mutex<Vec<QueuedEvent>>>,
    refuse: bool,
}

impl EventQueue for Events {
    fn enqueue(&self, event: QueuedEvent) -> EnqueueFuture {
        let (events, refuse) = (self.events.clone(), self.refuse);
        Box::pin(async move {
            if refuse {
                return Err("unavailable".to_string());
            }
            events.lock().unwrap().push(event);
            Ok("external-1".to_string())
        })
    }
}

#[tokio::test]
async fn an_attached_queue_gets_the_failure_record_and_the_dead_letter_message() {
    let router = router();
    let (failures, dead) = (Kept::default(), Kept::default());
    router
        .attach_destination(Target::Queue("failures".into()), Arc::new(failures.clone()))
        .unwrap();
    router
        .attach_destination(Target::Queue("dlq".into()), Arc::new(dead.clone()))
        .unwrap();
    let config = FunctionConfig::new("f")
        .dead_letter(Target::Queue("dlq".into()))
        .event_invoke(
            EventInvokeConfig::default()
                .maximum_retry_attempts(0)
                .on_failure(Target::Queue("failures".into())),
        );
    let calls = Calls::default();
    router
        .create_function(config, recording(&calls, |_| fail("no stock")))
        .unwrap();
    router.check_targets().unwrap();
    let out = router
        .invoke("f", InvocationType::Event, br#"{"sku": 9}"#.to_vec())
        .await
        .unwrap();
    router.wait_idle().await;
    let records = failures.bodies();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["requestContext"]["condition"],
        "RetriesExhausted"
    );
    assert_eq!(records[0]["requestContext"]["requestId"], out.request_id);
    assert_eq!(records[0]["responsePayload"]["errorMessage"], "no stock");
    let dead = dead.records.lock().unwrap().clone();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, br#"{"sku": 9}"#);
    assert_eq!(
        dead[0].attributes,
        [
            ("RequestID".to_string(), out.request_id.clone()),
            ("ErrorCode".to_string(), "200".to_string()),
            ("ErrorMessage".to_string(), "no stock".to_string()),
        ]
    );
    let m = router.function_metrics("f").unwrap();
    assert_eq!(
        (
            m.async_events_dropped,
            m.destination_delivery_failures,
            m.dead_letter_errors
        ),
        (1, 0, 0)
    );
}

#[tokio::test]
async fn refused_deliveries_are_counted() {
    let router = router();
    let refusing = Kept {
        refuse: true,
        ..Kept::default()
    };
    router
        .attach_destination(Target::Queue("down".into()), Arc::new(refusing.clone()))
        .unwrap();
    router
        .attach_destination(Target::Stream("down".into()), Arc::new(refusing))
        .unwrap();
    let config = FunctionConfig::new("f")
        .dead_letter(Target::Queue("down".into()))
        .event_invoke(
            EventInvokeConfig::default()
                .maximum_retry_attempts(0)
                .on_failure(Target::Stream("down".into())),
        );
    router
        .create_function(config, |_| async { fail("x") })
        .unwrap();
    router
        .put_rule(
            "default",
            RuleConfig::new("r", r#"{"a": [1]}"#).target(Target::Queue("down".into())),
        )
        .unwrap();
    router
        .invoke("f", InvocationType::Event, vec![])
        .await
        .unwrap();
    router.put_event("default", br#"{"a": 1}"#).unwrap();
    router.wait_idle().await;
    let m = router.function_metrics("f").unwrap();
    assert_eq!(
        (m.destination_delivery_failures, m.dead_letter_errors),
        (1, 1)
    );
    let r = router.rule_metrics("default", "r").unwrap();
    assert_eq!((r.invocations, r.failed_invocations), (1, 1));
}

#[tokio::test]
async fn attaching_is_refused_for_functions_buses_and_names_in_use() {
    let router = router();
    router.create_queue(QueueConfig::new("q")).unwrap();
    let kept = Arc::new(Kept::default());
    let err = router
        .attach_destination(Target::Queue("q".into()), kept.clone())
        .unwrap_err();
    assert_eq!(err.message(), "the router already has a queue q");
    let err = router
        .attach_destination(Target::Function("f".into()), kept.clone())
        .unwrap_err();
    assert_eq!(
        err.message(),
        "only a queue or a stream can be attached, not the function f"
    );
    assert!(router
        .attach_destination(Target::Bus("default".into()), kept)
        .is_err());
}

#[tokio::test]
async fn an_attached_name_is_not_attached_again_nor_created_in_memory() {
    let router = router();
    let kept = Arc::new(Kept::default());
    router
        .attach_destination(Target::Queue("jobs".into()), kept.clone())
        .unwrap();
    router
        .attach_destination(Target::Stream("log".into()), kept.clone())
        .unwrap();
    let err = router
        .attach_destination(Target::Queue("jobs".into()), kept.clone())
        .unwrap_err();
    assert_eq!(err.message(), "the router already has a queue jobs");
    let err = router
        .attach_destination(Target::Stream("log".into()), kept)
        .unwrap_err();
    assert_eq!(err.message(), "the router already has a stream log");
    let err = router.create_queue(QueueConfig::new("jobs")).unwrap_err();
    assert_eq!(
        err.message(),
        "A queue already exists with the same name: jobs"
    );
    let err = router
        .create_stream(weir_route::StreamConfig::new("log"))
        .unwrap_err();
    assert_eq!(err.error_type(), "ResourceInUseException");
    assert!(router.queue("jobs").is_none());
    assert!(router.stream("log").is_none());
}

#[tokio::test]
async fn an_event_queue_takes_the_events_with_the_functions_settings() {
    let router = router();
    let events = Events::default();
    router.set_event_queue("f", Arc::new(events.clone()));
    let config = FunctionConfig::new("f").event_invoke(
        EventInvokeConfig::default()
            .maximum_retry_attempts(1)
            .maximum_event_age_in_seconds(120)
            .retry_delays(Duration::from_secs(2), Duration::from_secs(4)),
    );
    let calls = Calls::default();
    router
        .create_function(config, recording(&calls, |_| ok()))
        .unwrap();
    assert!(router.has_event_queue("f"));
    let out = router
        .invoke("f", InvocationType::Event, br#"{"n": 1}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(
        (out.status_code, out.request_id.as_str()),
        (202, "external-1")
    );
    // From a bus rule and as a function destination too.
    router
        .put_rule(
            "default",
            RuleConfig::new("r", r#"{"n": [2]}"#).target(Target::Function("f".into())),
        )
        .unwrap();
    router.put_event("default", br#"{"n": 2}"#).unwrap();
    router.wait_idle().await;
    let events = events.events.lock().unwrap().clone();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].function, "f");
    assert_eq!(events[0].payload, br#"{"n": 1}"#);
    assert_eq!(events[0].maximum_retry_attempts, 1);
    assert_eq!(events[0].maximum_event_age, Duration::from_secs(120));
    assert_eq!(
        events[0].retry_delays,
        [Duration::from_secs(2), Duration::from_secs(4)]
    );
    assert_eq!(events[1].payload, br#"{"n": 2}"#);
    // Nothing ran here: the queue's workers run the function.
    assert_eq!(calls.len(), 0);
    let m = router.function_metrics("f").unwrap();
    assert_eq!((m.async_events_received, m.invocations), (2, 0));
    assert_eq!(
        router
            .rule_metrics("default", "r")
            .unwrap()
            .failed_invocations,
        0
    );
}

/// (Paused time: the bus's retries of the refused delivery, hours of them, run at once.)
#[tokio::test(start_paused = true)]
async fn a_refusing_event_queue_is_a_service_exception_and_a_failed_rule_invocation() {
    let router = router();
    router.set_event_queue(
        "f",
        Arc::new(Events {
            refuse: true,
            ..Events::default()
        }),
    );
    router
        .create_function(FunctionConfig::new("f"), |_| async { ok() })
        .unwrap();
    let err = router
        .invoke("f", InvocationType::Event, vec![])
        .await
        .unwrap_err();
    assert_eq!(
        (err.error_type(), err.status_code()),
        ("ServiceException", 500)
    );
    assert_eq!(
        err.message(),
        "the asynchronous invocation queue of function f could not take the event: unavailable"
    );
    router
        .put_rule(
            "default",
            RuleConfig::new("r", r#"{"n": [1]}"#).target(Target::Function("f".into())),
        )
        .unwrap();
    let start = tokio::time::Instant::now();
    router.put_event("default", br#"{"n": 1}"#).unwrap();
    router.wait_idle().await;
    // Failed once the bus's retries are over (185 attempts, the waits doubling from 1 s to
    // 5 min: over 14 hours), not at the first refusal.
    assert!(start.elapsed() >= Duration::from_secs(14 * 3600));
    let r = router.rule_metrics("default", "r").unwrap();
    assert_eq!((r.invocations, r.failed_invocations), (1, 1));
    assert_eq!(
        router.function_metrics("f").unwrap().async_events_received,
        0
    );
}

/// An event queue refusing the first few events, then taking them.
#[derive(Clone, Default)]
struct Flaky {
    refusals: Arc<std::sync::atomic::AtomicUsize>,
    events: Arc<Mutex<Vec<QueuedEvent>>>,
}

impl EventQueue for Flaky {
    fn enqueue(&self, event: QueuedEvent) -> EnqueueFuture {
        let (refusals, events) = (self.refusals.clone(), self.events.clone());
        Box::pin(async move {
            let left = refusals.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                refusals.store(left - 1, std::sync::atomic::Ordering::SeqCst);
                return Err("unavailable".to_string());
            }
            events.lock().unwrap().push(event);
            Ok("external-1".to_string())
        })
    }
}

/// A rule's delivery to a function whose external queue refuses it for a while is retried
/// with the bus's backoff, with the function's settings, until the queue takes it.
#[tokio::test(start_paused = true)]
async fn a_rule_delivery_refused_by_the_event_queue_is_retried_until_taken() {
    let router = router();
    let queue = Flaky::default();
    queue.refusals.store(3, std::sync::atomic::Ordering::SeqCst);
    router.set_event_queue("f", Arc::new(queue.clone()));
    let config = FunctionConfig::new("f")
        .event_invoke(EventInvokeConfig::default().maximum_retry_attempts(1));
    router.create_function(config, |_| async { ok() }).unwrap();
    router
        .put_rule(
            "default",
            RuleConfig::new("r", r#"{"n": [1]}"#).target(Target::Function("f".into())),
        )
        .unwrap();
    let start = tokio::time::Instant::now();
    router.put_event("default", br#"{"n": 1}"#).unwrap();
    router.wait_idle().await;
    // Three refusals: retried after 1, 2 and 4 s.
    assert!(start.elapsed() >= Duration::from_secs(7));
    let events = queue.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, br#"{"n": 1}"#);
    assert_eq!(events[0].maximum_retry_attempts, 1);
    let r = router.rule_metrics("default", "r").unwrap();
    assert_eq!((r.invocations, r.failed_invocations), (1, 0));
    assert_eq!(
        router.function_metrics("f").unwrap().async_events_received,
        1
    );
}

#[tokio::test]
async fn reserved_concurrency_zero_skips_the_event_queue_and_fails_at_once() {
    let router = router();
    let events = Events::default();
    router.set_event_queue("f", Arc::new(events.clone()));
    let failures = router.create_queue(QueueConfig::new("failures")).unwrap();
    let config = FunctionConfig::new("f")
        .reserved_concurrency(0)
        .event_invoke(EventInvokeConfig::default().on_failure(Target::Queue("failures".into())));
    router.create_function(config, |_| async { ok() }).unwrap();
    router
        .invoke("f", InvocationType::Event, vec![])
        .await
        .unwrap();
    router.wait_idle().await;
    assert!(events.events.lock().unwrap().is_empty());
    let records: Vec<serde_json::Value> = failures
        .drain()
        .iter()
        .map(|b| json(b.as_bytes()))
        .collect();
    assert_eq!(
        records[0]["requestContext"]["condition"],
        "RetriesExhausted"
    );
    assert_eq!(records[0]["requestContext"]["approximateInvokeCount"], 0);
}

#[tokio::test]
async fn complete_event_ends_an_external_event_at_the_functions_destinations() {
    let router = router();
    let (done, failed) = (Kept::default(), Kept::default());
    router
        .attach_destination(Target::Stream("done".into()), Arc::new(done.clone()))
        .unwrap();
    router
        .attach_destination(Target::Queue("failed".into()), Arc::new(failed.clone()))
        .unwrap();
    let config = FunctionConfig::new("f").event_invoke(
        EventInvokeConfig::default()
            .on_success(Target::Stream("done".into()))
            .on_failure(Target::Queue("failed".into())),
    );
    router.create_function(config, |_| async { ok() }).unwrap();
    router
        .complete_event(
            "f",
            EventResult::new(
                "r-1",
                "Success",
                2,
                br#"{"a": 1}"#.to_vec(),
                Some(weir_route::Outcome::Success(b"7".to_vec())),
            ),
        )
        .await;
    router
        .complete_event(
            "f",
            EventResult::new("r-2", "EventAgeExceeded", 0, b"{}".to_vec(), None),
        )
        .await;
    // A function that does not exist sends nothing.
    router
        .complete_event("gone", EventResult::new("r-3", "Success", 1, vec![], None))
        .await;
    let ok = done.bodies();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["requestContext"]["requestId"], "r-1");
    assert_eq!(ok[0]["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(ok[0]["responsePayload"], 7);
    // A stream destination's partition key is the request id.
    assert_eq!(done.records.lock().unwrap()[0].partition_key, "r-1");
    let bad = failed.bodies();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["requestContext"]["condition"], "EventAgeExceeded");
    assert!(bad[0].get("responseContext").is_none());
    assert_eq!(
        router.function_metrics("f").unwrap().async_events_dropped,
        1
    );
}
