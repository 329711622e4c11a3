//! A Rust Lambda handler built on the official `lambda_runtime` crate, unmodified, as it
//! would be deployed to Lambda. weir runs it through its Runtime API (see the
//! `runtime_clients` test and the `runtime_api_bench` example).
//!
//! It answers an event with `Records` (a batch from an event source mapping) with how many
//! records it got and how many of them are orders (`"kind": "order"` in the record, or in
//! its JSON `body` as SQS delivers it); an event with `"fail"`
//! with an error; any other event with the event, the request id, the function ARN and
//! the function's name and memory size as the runtime client read them.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

fn is_order(record: &Value) -> bool {
    let kind = |value: &Value| value.get("kind").and_then(Value::as_str) == Some("order");
    kind(record)
        || record
            .get("body")
            .and_then(Value::as_str)
            .and_then(|body| serde_json::from_str::<Value>(body).ok())
            .is_some_and(|body| kind(&body))
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let orders = records.iter().filter(|record| is_order(record)).count();
        return Ok(json!({ "records": records.len(), "orders": orders }));
    }
    if let Some(reason) = payload.get("fail").and_then(Value::as_str) {
        return Err(reason.to_string().into());
    }
    Ok(json!({
        "event": payload,
        "request_id": context.request_id,
        "function_arn": context.invoked_function_arn,
        "function_name": context.env_config.function_name,
        "memory": context.env_config.memory,
        "pid": std::process::id(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
