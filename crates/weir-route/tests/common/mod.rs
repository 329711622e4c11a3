//! What the invocation layer's tests share: a router on a fixed clock, recording handlers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use weir_route::{FunctionError, Handler, Invocation, Outcome, Router, TokioClock};

/// A router whose clock starts at 2024-01-01T00:00:00Z.
pub fn router() -> Router {
    Router::with_clock(Arc::new(TokioClock::starting_at(1_704_067_200_000)))
}

/// One call a recording handler saw.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: Instant,
    pub payload: serde_json::Value,
    pub request_id: String,
}

/// Calls seen, shared with the handler.
#[derive(Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<Call>>>);

impl Calls {
    pub fn all(&self) -> Vec<Call> {
        self.0.lock().unwrap().clone()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    /// The `body` (queue) or decoded `data` (stream) of each record of each call.
    pub fn batches(&self) -> Vec<Vec<String>> {
        self.all()
            .iter()
            .map(|c| record_texts(&c.payload))
            .collect()
    }
}

/// The texts of an event's records: SQS bodies, or Kinesis data decoded.
pub fn record_texts(event: &serde_json::Value) -> Vec<String> {
    use base64::Engine as _;
    event["Records"]
        .as_array()
        .map(|records| {
            records
                .iter()
                .map(|r| {
                    if let Some(body) = r["body"].as_str() {
                        body.to_string()
                    } else {
                        let data = r["kinesis"]["data"].as_str().unwrap_or_default();
                        String::from_utf8(
                            base64::engine::general_purpose::STANDARD
                                .decode(data)
                                .unwrap(),
                        )
                        .unwrap()
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A handler that records each call and answers with `respond(payload)`.
pub fn recording<F>(calls: &Calls, respond: F) -> impl Handler
where
    F: Fn(&serde_json::Value) -> Outcome + Send + Sync + 'static,
{
    let calls = calls.clone();
    let respond = Arc::new(respond);
    move |invocation: Invocation| {
        let payload: serde_json::Value =
            serde_json::from_slice(&invocation.payload).unwrap_or(serde_json::Value::Null);
        let outcome = respond(&payload);
        calls.0.lock().unwrap().push(Call {
            at: Instant::now(),
            payload,
            request_id: invocation.request_id,
        });
        async move { outcome }
    }
}

pub fn ok() -> Outcome {
    Outcome::Success(Vec::new())
}

pub fn fail(message: &str) -> Outcome {
    Outcome::Error(FunctionError::new("Error", message))
}

/// A handler that takes `duration` (tokio time) and tracks how many run at once.
pub fn slow(duration: Duration, running: Arc<AtomicUsize>, peak: Arc<AtomicUsize>) -> impl Handler {
    move |_: Invocation| {
        let running = running.clone();
        let peak = peak.clone();
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(duration).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Outcome::Success(Vec::new())
        }
    }
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

/// Seconds between two instants, rounded to the millisecond.
pub fn secs(from: Instant, to: Instant) -> f64 {
    ((to - from).as_millis() as f64) / 1000.0
}
