//! The event bus: every matching rule's targets receive the event; functions are invoked
//! asynchronously.

mod common;

use common::*;
use std::time::Duration;
use weir_route::{
    EventInvokeConfig, FunctionConfig, FunctionState, QueueConfig, RuleConfig, StreamConfig, Target,
};

#[tokio::test(start_paused = true)]
async fn an_event_reaches_the_targets_of_every_matching_rule() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("audit"), recording(&calls, |_| ok()))
        .unwrap();
    let big = router.create_queue(QueueConfig::new("big")).unwrap();
    let eu = router.create_stream(StreamConfig::new("eu")).unwrap();
    router.create_event_bus("orders").unwrap();
    router
        .put_rule(
            "orders",
            RuleConfig::new(
                "big",
                r#"{"detail": {"total": [{"numeric": [">=", 100]}]}}"#,
            )
            .target(Target::Queue("big".into()))
            .target(Target::Function("audit".into())),
        )
        .unwrap();
    router
        .put_rule(
            "orders",
            RuleConfig::new("eu", r#"{"region": [{"prefix": "eu-"}]}"#)
                .target(Target::Stream("eu".into())),
        )
        .unwrap();
    router
        .put_rule(
            "orders",
            RuleConfig::new("off", r#"{"source": ["shop"]}"#)
                .enabled(false)
                .target(Target::Queue("big".into())),
        )
        .unwrap();
    router.check_targets().unwrap();
    let event = br#"{"source": "shop", "region": "eu-west-1", "detail": {"total": 150}}"#;
    assert_eq!(router.put_event("orders", event).unwrap(), ["big", "eu"]);
    let small = br#"{"source": "shop", "region": "us-east-1", "detail": {"total": 5}}"#;
    assert!(router.put_event("orders", small).unwrap().is_empty());
    router.wait_idle().await;
    assert_eq!(big.drain(), [String::from_utf8_lossy(event)]);
    assert_eq!(eu.records(0).len(), 1);
    assert_eq!(eu.records(0)[0].data, event);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls.all()[0].payload["detail"]["total"], 150);
    // The default bus has no rules yet.
    assert!(router.put_event("default", event).unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn function_targets_get_asynchronous_retries() {
    let router = router();
    let calls = Calls::default();
    let config = FunctionConfig::new("f")
        .event_invoke(EventInvokeConfig::default().maximum_retry_attempts(1));
    router
        .create_function(config, recording(&calls, |_| fail("x")))
        .unwrap();
    router
        .put_rule(
            "default",
            RuleConfig::new("all", r#"{"source": [{"exists": true}]}"#)
                .target(Target::Function("f".into())),
        )
        .unwrap();
    router.put_event("default", br#"{"source": "a"}"#).unwrap();
    router.wait_idle().await;
    assert_eq!(calls.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn rules_and_events_are_checked() {
    let router = router();
    let err = router
        .put_rule(
            "default",
            RuleConfig::new("r", r#"{"a": [{"numeric": [">", "x"]}]}"#),
        )
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidEventPatternException");
    assert!(
        err.message()
            .starts_with("Event pattern is not valid. Reason: "),
        "{err}"
    );
    let err = router
        .put_rule("nope", RuleConfig::new("r", "{}"))
        .unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFoundException");
    let err = router
        .put_rule("default", RuleConfig::new("bad name", "{}"))
        .unwrap_err();
    assert!(err.message().contains("at 'name'"), "{err}");
    router
        .put_rule(
            "default",
            RuleConfig::new("r", r#"{"a": [1]}"#).target(Target::Queue("missing".into())),
        )
        .unwrap();
    let err = router.check_targets().unwrap_err();
    assert_eq!(
        err.message(),
        "event bus default: the destination queue missing does not exist"
    );
    assert!(router.put_event("default", b"{oops").is_err());
}

#[tokio::test(start_paused = true)]
async fn refused_deliveries_are_counted_as_failed_invocations() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    router
        .put_rule(
            "default",
            RuleConfig::new("r", r#"{"source": ["a"]}"#)
                .target(Target::Function("f".into()))
                .target(Target::Function("gone".into())),
        )
        .unwrap();
    router.put_event("default", br#"{"source": "a"}"#).unwrap();
    // Over the 1 MB an asynchronous invocation takes: the function refuses it for good.
    let big = format!(r#"{{"source": "a", "x": "{}"}}"#, "x".repeat(1024 * 1024));
    router.put_event("default", big.as_bytes()).unwrap();
    router.wait_idle().await;
    assert_eq!(calls.len(), 1);
    let m = router.rule_metrics("default", "r").unwrap();
    assert_eq!(m.matched_events, 2);
    assert_eq!(m.invocations, 4);
    // `gone` twice, `f` once (the big event).
    assert_eq!(m.failed_invocations, 3);
    assert!(router.rule_metrics("default", "nope").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_function_not_ready_yet_is_retried_with_backoff() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(
            FunctionConfig::new("f").state(FunctionState::Pending),
            recording(&calls, |_| ok()),
        )
        .unwrap();
    router
        .put_rule(
            "default",
            RuleConfig::new("r", r#"{"source": ["a"]}"#).target(Target::Function("f".into())),
        )
        .unwrap();
    router.put_event("default", br#"{"source": "a"}"#).unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(calls.len(), 0);
    assert_eq!(router.rule_metrics("default", "r").unwrap().invocations, 0);
    router
        .set_function_state("f", FunctionState::Active)
        .unwrap();
    router.wait_idle().await;
    assert_eq!(calls.len(), 1);
    let m = router.rule_metrics("default", "r").unwrap();
    assert_eq!((m.invocations, m.failed_invocations), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_function_never_ready_fails_after_24_hours_of_retries() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(
            FunctionConfig::new("f").state(FunctionState::Inactive),
            recording(&calls, |_| ok()),
        )
        .unwrap();
    router
        .put_rule(
            "default",
            RuleConfig::new("r", r#"{"source": ["a"]}"#).target(Target::Function("f".into())),
        )
        .unwrap();
    let start = tokio::time::Instant::now();
    router.put_event("default", br#"{"source": "a"}"#).unwrap();
    router.wait_idle().await;
    let waited = secs(start, tokio::time::Instant::now());
    // 185 attempts (backoff at most 5 minutes) end before 24 hours.
    assert!(
        waited > 10.0 * 3600.0 && waited <= 24.0 * 3600.0,
        "{waited}"
    );
    assert_eq!(calls.len(), 0);
    let m = router.rule_metrics("default", "r").unwrap();
    assert_eq!((m.invocations, m.failed_invocations), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_rule_cannot_target_its_own_bus() {
    let router = router();
    router.create_event_bus("orders").unwrap();
    let err = router
        .put_rule(
            "orders",
            RuleConfig::new("loop", "{}").target(Target::Bus("orders".into())),
        )
        .unwrap_err();
    assert_eq!(err.error_type(), "ValidationException");
    assert_eq!(
        err.message(),
        "rule loop: a rule cannot target its own event bus orders"
    );
}

#[tokio::test(start_paused = true)]
async fn events_travel_one_bus_to_bus_hop() {
    let router = router();
    router.create_event_bus("a").unwrap();
    router.create_event_bus("b").unwrap();
    let qa = router.create_queue(QueueConfig::new("qa")).unwrap();
    let qb = router.create_queue(QueueConfig::new("qb")).unwrap();
    let all = r#"{"source": [{"exists": true}]}"#;
    router
        .put_rule(
            "a",
            RuleConfig::new("to-b", all)
                .target(Target::Bus("b".into()))
                .target(Target::Queue("qa".into())),
        )
        .unwrap();
    router
        .put_rule(
            "b",
            RuleConfig::new("to-a", all)
                .target(Target::Bus("a".into()))
                .target(Target::Queue("qb".into())),
        )
        .unwrap();
    router.check_targets().unwrap();
    assert_eq!(
        router.put_event("a", br#"{"source": "x"}"#).unwrap(),
        ["to-b"]
    );
    router.wait_idle().await;
    assert_eq!(qa.drain().len(), 1);
    assert_eq!(qb.drain().len(), 1);
    let a = router.rule_metrics("a", "to-b").unwrap();
    assert_eq!(
        (a.matched_events, a.invocations, a.failed_invocations),
        (1, 2, 0)
    );
    // b's rule matched the forwarded event; its bus target is not a second hop.
    let b = router.rule_metrics("b", "to-a").unwrap();
    assert_eq!(
        (b.matched_events, b.invocations, b.failed_invocations),
        (1, 2, 1)
    );
}
