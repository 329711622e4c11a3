//! Asynchronous invocation: the internal queue's retries, event age, destinations and
//! dead-letter queue.
//!
//! Each queued event is a task. A function error is retried up to `MaximumRetryAttempts`
//! times, 1 minute after the first failure and 2 minutes after the second. A throttled or
//! not-ready attempt is retried with a backoff (1 s, doubling, at most 5 min) and does not
//! count as a retry. Before each attempt the event's age is checked; an event at least
//! `MaximumEventAgeInSeconds` old is discarded (`EventAgeExceeded`), and a wait never runs
//! past that age. A discarded event's invocation record goes to the on-failure destination
//! and its payload to the dead-letter queue; a success's record goes to the on-success
//! destination. A function with reserved concurrency 0 runs none of its events: each goes to
//! the failure destinations at once (`RetriesExhausted`, no attempt made). An event waiting for
//! a retry or a backoff when the router shuts down stays unprocessed and is counted
//! (`AsyncEventsUnprocessed`), never dropped silently.

use std::sync::Arc;
use std::time::Duration;

use crate::external::{DestinationRecord, EventResult};
use crate::function::Target;
use crate::handler::Outcome;
use crate::metrics::add;
use crate::router::{Attempt, Busy, Function, Router};
/// The first wait after a throttle, doubled each time up to [`MAX_THROTTLE_DELAY`].
const FIRST_THROTTLE_DELAY: Duration = Duration::from_secs(1);
const MAX_THROTTLE_DELAY: Duration = Duration::from_secs(300);

pub(crate) async fn run_event(
    router: Router,
    function: Arc<Function>,
    payload: Vec<u8>,
    request_id: String,
    received_ms: u64,
    _busy: Busy,
) {
    let config = &function.config.event_invoke;
    let max_age_ms = config.maximum_event_age.as_millis() as u64;
    let mut invoke_count = 0u32;
    let mut failures = 0u32;
    let mut throttle_delay = FIRST_THROTTLE_DELAY;
    let mut last: Option<Outcome> = None;
    // A function whose reserved concurrency is 0 sends its events straight to the failure
    // destinations, without trying or retrying them.
    let never = function.config.reserved_concurrency == Some(0);
    let condition = loop {
        if never {
            break "RetriesExhausted";
        }
        let age = router.0.clock.now_ms().saturating_sub(received_ms);
        if age >= max_age_ms {
            break "EventAgeExceeded";
        }
        let remaining = Duration::from_millis(max_age_ms - age);
        let wait = match router
            .execute(&function, payload.clone(), &request_id)
            .await
        {
            Attempt::Ran(Outcome::Success(response)) => {
                invoke_count += 1;
                let result = EventResult::new(
                    request_id,
                    "Success",
                    invoke_count,
                    payload,
                    Some(Outcome::Success(response)),
                );
                finish(&router, &function, result).await;
                return;
            }
            Attempt::Ran(outcome) => {
                invoke_count += 1;
                last = Some(outcome);
                if failures >= config.maximum_retry_attempts {
                    break "RetriesExhausted";
                }
                let delay = config.retry_delays[(failures as usize).min(1)];
                failures += 1;
                delay
            }
            Attempt::Throttled | Attempt::NotReady => {
                let delay = throttle_delay;
                throttle_delay = (throttle_delay * 2).min(MAX_THROTTLE_DELAY);
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait.min(remaining)) => {}
            _ = router.until_stopped() => {
                add(&function.counters.async_events_unprocessed, 1);
                return;
            }
        }
    };
    let result = EventResult::new(request_id, condition, invoke_count, payload, last);
    finish(&router, &function, result).await;
}

/// Sends a finished event's invocation record to its function's destinations (and a
/// discarded one's payload to the dead-letter queue); completes once they have it.
pub(crate) async fn finish(router: &Router, function: &Function, result: EventResult) {
    let config = &function.config.event_invoke;
    let response = result.response.as_ref();
    let record = |condition: &str| {
        router.invocation_record(
            function,
            &result.request_id,
            condition,
            result.invoke_count,
            &result.payload,
            response,
        )
    };
    if result.is_success() {
        if let Some(target) = &config.on_success {
            let record = record("Success");
            send(router, function, target, record, &result.request_id, true).await;
        }
        return;
    }
    add(&function.counters.async_events_dropped, 1);
    if let Some(target) = &config.on_failure {
        let record = record(&result.condition);
        send(router, function, target, record, &result.request_id, false).await;
    }
    if let Some(target @ Target::Queue(_)) = &function.config.dead_letter {
        let (code, message) = match response {
            Some(Outcome::Error(e)) => ("200".to_string(), truncate(&e.error_message)),
            _ => ("429".to_string(), result.condition.clone()),
        };
        let mut message_record =
            DestinationRecord::new(result.payload.clone(), result.request_id.clone());
        message_record.attributes = vec![
            ("RequestID".to_string(), result.request_id.clone()),
            ("ErrorCode".to_string(), code),
            ("ErrorMessage".to_string(), message),
        ];
        if router.deliver(target, message_record).await.is_err() {
            add(&function.counters.dead_letter_errors, 1);
        }
    }
}

/// Lambda cuts a dead-letter message's `ErrorMessage` attribute to 1 KB.
const MAX_ERROR_MESSAGE: usize = 1024;

/// The first [`MAX_ERROR_MESSAGE`] bytes of `message`, cut at a character boundary.
fn truncate(message: &str) -> String {
    let mut end = message.len().min(MAX_ERROR_MESSAGE);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_string()
}

/// Sends an invocation record to a destination; an event bus receives it as the `detail` of
/// an event from `lambda`, as Lambda sends it.
async fn send(
    router: &Router,
    function: &Function,
    target: &Target,
    record: Vec<u8>,
    request_id: &str,
    success: bool,
) {
    let body = match target {
        Target::Bus(_) => bus_event(router, function, &record, success),
        _ => record,
    };
    if router
        .deliver(target, DestinationRecord::new(body, request_id))
        .await
        .is_err()
    {
        add(&function.counters.destination_delivery_failures, 1);
    }
}

fn bus_event(router: &Router, function: &Function, record: &[u8], success: bool) -> Vec<u8> {
    use crate::router::push_json_str;
    let mut out = String::with_capacity(record.len() + 256);
    out.push_str(r#"{"version":"0","id":"#);
    push_json_str(&mut out, &crate::clock::new_id());
    out.push_str(r#","detail-type":"#);
    push_json_str(
        &mut out,
        if success {
            "Lambda Function Invocation Result - Success"
        } else {
            "Lambda Function Invocation Result - Failure"
        },
    );
    out.push_str(r#","source":"lambda","account":"#);
    push_json_str(&mut out, &router.0.account);
    out.push_str(r#","time":"#);
    let now = crate::clock::iso8601(router.0.clock.now_ms());
    // EventBridge times have whole seconds.
    push_json_str(&mut out, &format!("{}Z", &now[..19]));
    out.push_str(r#","region":"#);
    push_json_str(&mut out, &router.0.region);
    out.push_str(r#","resources":["#);
    push_json_str(&mut out, &format!("{}:$LATEST", function.arn));
    out.push_str(r#"],"detail":"#);
    out.push_str(&String::from_utf8_lossy(record));
    out.push('}');
    out.into_bytes()
}
