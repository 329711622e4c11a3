//! The event bus: every matching rule's targets receive the event; functions are invoked
//! asynchronously.

mod common;

use common::*;
use weir_route::{
    EventInvokeConfig, FunctionConfig, QueueConfig, RuleConfig, StreamConfig, Target,
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
