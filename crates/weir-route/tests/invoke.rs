//! Invoke: status codes, AWS error names, function states, concurrency, payload limits,
//! timeouts and panics.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use weir_route::{
    FunctionConfig, FunctionState, Handler, HandlerFuture, Invocation, InvocationType,
    InvokeErrorKind, Outcome, MAX_ASYNC_PAYLOAD, MAX_SYNC_PAYLOAD,
};

#[tokio::test(start_paused = true)]
async fn request_response_returns_the_payload_or_the_error_with_unhandled() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(
            FunctionConfig::new("f"),
            recording(&calls, |event| {
                if event["fail"] == true {
                    fail("asked to")
                } else {
                    Outcome::Success(br#"{"ok":true}"#.to_vec())
                }
            }),
        )
        .unwrap();
    let out = router
        .invoke(
            "f",
            InvocationType::RequestResponse,
            br#"{"fail":false}"#.to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(out.status_code, 200);
    assert_eq!(out.function_error, None);
    assert_eq!(out.payload, br#"{"ok":true}"#);
    assert_eq!(out.executed_version, "$LATEST");

    let out = router
        .invoke(
            "f",
            InvocationType::RequestResponse,
            br#"{"fail":true}"#.to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(out.status_code, 200);
    assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        json(&out.payload),
        serde_json::json!({"errorMessage": "asked to", "errorType": "Error"})
    );
    assert_eq!(calls.len(), 2);
    assert_eq!(calls.all()[1].request_id, out.request_id);
    let metrics = router.function_metrics("f").unwrap();
    assert_eq!((metrics.invocations, metrics.errors), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn an_empty_payload_is_an_empty_object_and_a_non_json_one_is_refused() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    router
        .invoke("f", InvocationType::RequestResponse, Vec::new())
        .await
        .unwrap();
    assert_eq!(calls.all()[0].payload, serde_json::json!({}));
    let err = router
        .invoke("f", InvocationType::RequestResponse, b"{oops".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidRequestContentException");
    assert_eq!(err.status_code(), 400);
    assert!(
        err.message()
            .starts_with("Could not parse request body into json"),
        "{err}"
    );
    assert_eq!(calls.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn event_answers_202_and_dry_run_204_without_running_the_function() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(FunctionConfig::new("f"), recording(&calls, |_| ok()))
        .unwrap();
    let out = router
        .invoke("f", InvocationType::DryRun, b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!((out.status_code, out.payload.len()), (204, 0));
    router.wait_idle().await;
    assert_eq!(calls.len(), 0);
    let out = router
        .invoke("f", InvocationType::Event, b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!((out.status_code, out.payload.len()), (202, 0));
    router.wait_idle().await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls.all()[0].request_id, out.request_id);
}

#[tokio::test(start_paused = true)]
async fn every_non_active_state_is_refused_with_its_aws_error() {
    let router = router();
    let calls = Calls::default();
    router
        .create_function(
            FunctionConfig::new("f").state(FunctionState::Pending),
            recording(&calls, |_| ok()),
        )
        .unwrap();
    let cases = [
        (FunctionState::Pending, "ResourceConflictException", 409),
        (FunctionState::Inactive, "ResourceNotReadyException", 502),
        (FunctionState::Failed, "ResourceNotReadyException", 502),
    ];
    for (state, name, status) in cases {
        router.set_function_state("f", state).unwrap();
        for invocation_type in [
            InvocationType::RequestResponse,
            InvocationType::Event,
            InvocationType::DryRun,
        ] {
            let err = router
                .invoke("f", invocation_type, b"{}".to_vec())
                .await
                .unwrap_err();
            assert_eq!(err.error_type(), name, "{state} {invocation_type:?}");
            assert_eq!(err.status_code(), status);
            assert!(
                err.message()
                    .ends_with(&format!("following state: {state}")),
                "{err}"
            );
        }
    }
    router.wait_idle().await;
    assert_eq!(calls.len(), 0);
    router
        .set_function_state("f", FunctionState::Active)
        .unwrap();
    router
        .invoke("f", InvocationType::RequestResponse, b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(calls.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_missing_function_is_resource_not_found() {
    let router = router();
    let err = router
        .invoke("nope", InvocationType::RequestResponse, b"{}".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &InvokeErrorKind::ResourceNotFound);
    assert_eq!(
        err.message(),
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
    );
}

#[tokio::test(start_paused = true)]
async fn over_reserved_concurrency_is_too_many_requests() {
    let router = router();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    router
        .create_function(
            FunctionConfig::new("slow").reserved_concurrency(1),
            slow(Duration::from_secs(1), running.clone(), peak.clone()),
        )
        .unwrap();
    let first = {
        let router = router.clone();
        tokio::spawn(async move {
            router
                .invoke("slow", InvocationType::RequestResponse, b"{}".to_vec())
                .await
        })
    };
    tokio::task::yield_now().await;
    assert_eq!(running.load(Ordering::SeqCst), 1);
    let err = router
        .invoke("slow", InvocationType::RequestResponse, b"{}".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "TooManyRequestsException");
    assert_eq!(err.status_code(), 429);
    assert_eq!(
        err.reason(),
        Some("ReservedFunctionConcurrentInvocationLimitExceeded")
    );
    assert_eq!(first.await.unwrap().unwrap().status_code, 200);
    // Free again once the first has finished.
    router
        .invoke("slow", InvocationType::RequestResponse, b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(router.function_metrics("slow").unwrap().throttles, 1);

    router
        .create_function(
            FunctionConfig::new("off").reserved_concurrency(0),
            |_: Invocation| async { ok() },
        )
        .unwrap();
    let err = router
        .invoke("off", InvocationType::RequestResponse, b"{}".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "TooManyRequestsException");
}

#[tokio::test(start_paused = true)]
async fn payloads_over_6_mb_sync_or_1_mb_async_are_too_large() {
    let router = router();
    router
        .create_function(FunctionConfig::new("f"), |_: Invocation| async { ok() })
        .unwrap();
    let string_of = |len: usize| {
        let mut p = vec![b'"'];
        p.resize(len - 1, b'x');
        p.push(b'"');
        p
    };
    let out = router
        .invoke(
            "f",
            InvocationType::RequestResponse,
            string_of(MAX_SYNC_PAYLOAD),
        )
        .await
        .unwrap();
    assert_eq!(out.status_code, 200);
    let err = router
        .invoke(
            "f",
            InvocationType::RequestResponse,
            string_of(MAX_SYNC_PAYLOAD + 1),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.error_type(), err.status_code()),
        ("RequestTooLargeException", 413)
    );
    assert_eq!(
        err.message(),
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    );
    router
        .invoke("f", InvocationType::Event, string_of(MAX_ASYNC_PAYLOAD))
        .await
        .unwrap();
    let err = router
        .invoke("f", InvocationType::Event, string_of(MAX_ASYNC_PAYLOAD + 1))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "RequestTooLargeException");
    assert!(err.message().contains("1048576 bytes"), "{err}");
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_handler_over_its_timeout_is_stopped_and_reported_as_lambda_words_it() {
    let router = router();
    let dropped = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let (d, f) = (dropped.clone(), finished.clone());
    router
        .create_function(
            FunctionConfig::new("sleepy").timeout_seconds(3),
            move |_: Invocation| {
                let guard = DropFlag(d.clone());
                let finished = f.clone();
                async move {
                    let _guard = guard;
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    finished.store(true, Ordering::SeqCst);
                    ok()
                }
            },
        )
        .unwrap();
    let start = tokio::time::Instant::now();
    let out = router
        .invoke("sleepy", InvocationType::RequestResponse, b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(secs(start, tokio::time::Instant::now()), 3.0);
    assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
    let payload = json(&out.payload);
    assert_eq!(payload["errorType"], "Sandbox.Timedout");
    assert_eq!(
        payload["errorMessage"],
        format!(
            "RequestId: {} Error: Task timed out after 3.00 seconds",
            out.request_id
        )
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the handler's future was not dropped"
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(
        !finished.load(Ordering::SeqCst),
        "the handler ran on after its timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_is_the_timeout_on_the_routers_clock() {
    let router = router();
    let seen = Arc::new(std::sync::Mutex::new(0u64));
    let s = seen.clone();
    router
        .create_function(
            FunctionConfig::new("f").timeout_seconds(7),
            move |i: Invocation| {
                *s.lock().unwrap() = i.deadline_ms;
                async { ok() }
            },
        )
        .unwrap();
    let now = router.clock().now_ms();
    router
        .invoke("f", InvocationType::RequestResponse, b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), now + 7000);
}

struct PanicsWhenCalled;

impl Handler for PanicsWhenCalled {
    fn invoke(&self, _: Invocation) -> HandlerFuture {
        panic!("invoke itself panicked")
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_is_a_function_error_and_weir_goes_on() {
    let router = router();
    router
        .create_function(FunctionConfig::new("boom"), |_: Invocation| async {
            if true {
                panic!("the handler blew up");
            }
            ok()
        })
        .unwrap();
    router
        .create_function(FunctionConfig::new("boom-now"), PanicsWhenCalled)
        .unwrap();
    for (name, text) in [
        ("boom", "the handler blew up"),
        ("boom-now", "invoke itself panicked"),
    ] {
        for _ in 0..2 {
            let out = router
                .invoke(name, InvocationType::RequestResponse, b"{}".to_vec())
                .await
                .unwrap();
            assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
            let payload = json(&out.payload);
            assert_eq!(payload["errorType"], "Runtime.HandlerPanic");
            assert_eq!(payload["errorMessage"], text);
        }
    }
    assert_eq!(router.function_metrics("boom").unwrap().errors, 2);
}

#[tokio::test(start_paused = true)]
async fn function_configuration_is_checked_with_aws_messages() {
    let router = router();
    let h = |_: Invocation| async { ok() };
    let err = router
        .create_function(FunctionConfig::new("f").timeout_seconds(0), h)
        .unwrap_err();
    assert_eq!(err.error_type(), "ValidationException");
    assert_eq!(
        err.message(),
        "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: \
         Member must have value greater than or equal to 1"
    );
    let err = router
        .create_function(FunctionConfig::new("bad name"), h)
        .unwrap_err();
    assert!(err.message().contains("at 'functionName'"), "{err}");
    let config = FunctionConfig::new("f").event_invoke(
        weir_route::EventInvokeConfig::default()
            .maximum_retry_attempts(3)
            .maximum_event_age_in_seconds(59),
    );
    let err = router.create_function(config, h).unwrap_err();
    assert_eq!(
        err.message(),
        "2 validation errors detected: Value '3' at 'maximumRetryAttempts' failed to satisfy \
         constraint: Member must have value less than or equal to 2; Value '59' at \
         'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value \
         greater than or equal to 60"
    );
    router.create_function(FunctionConfig::new("f"), h).unwrap();
    let err = router
        .create_function(FunctionConfig::new("f"), h)
        .unwrap_err();
    assert_eq!(err.error_type(), "ResourceConflictException");
}

#[tokio::test]
async fn a_crashing_command_is_a_function_error_and_weir_goes_on() {
    let router = router();
    router
        .create_function(
            FunctionConfig::new("crash"),
            weir_route::CommandHandler::new(
                weir_route::ProcessSpec::new("sh")
                    .arg("-c")
                    .arg("kill -9 $$"),
            ),
        )
        .unwrap();
    for _ in 0..2 {
        let out = router
            .invoke("crash", InvocationType::RequestResponse, b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
        let payload = json(&out.payload);
        assert_eq!(payload["errorType"], "Runtime.ExitError");
        assert_eq!(
            payload["errorMessage"],
            format!(
                "RequestId: {} Error: Runtime exited with error: signal: killed",
                out.request_id
            ),
            "{payload}"
        );
    }
    assert_eq!(router.function_metrics("crash").unwrap().errors, 2);
}
