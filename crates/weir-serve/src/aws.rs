//! What AWS's two wire protocols share here: errors in their shapes, request ids, times.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// The account id weir answers with (AWS's documented placeholder form: twelve digits).
pub const ACCOUNT: &str = "000000000000";

/// The largest request body accepted, as Lambda's synchronous invocation limit (6 MB).
///
/// # Example
/// ```
/// assert_eq!(weir_serve::MAX_REQUEST_BYTES, 6 * 1024 * 1024);
/// ```
pub const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;

/// Which wire protocol an error is answered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// EventBridge: JSON 1.1, `{"__type": code, "message": ...}`.
    Json11,
    /// Lambda: REST-JSON, `x-amzn-ErrorType` and `{"Type": "User", "Message": ...}`.
    RestJson,
}

/// An error answered to the client in its protocol's shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) protocol: Protocol,
    pub(crate) status: StatusCode,
    /// AWS's error code, e.g. `InvalidEventPatternException`.
    pub(crate) code: String,
    pub(crate) message: String,
    /// Fields added to the body (clients ignore fields they do not model).
    pub(crate) extra: Map<String, Value>,
}

impl ApiError {
    pub(crate) fn json11(code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            protocol: Protocol::Json11,
            status: StatusCode::BAD_REQUEST,
            code: code.to_string(),
            message: message.into(),
            extra: Map::new(),
        }
    }

    pub(crate) fn rest(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            protocol: Protocol::RestJson,
            status,
            code: code.to_string(),
            message: message.into(),
            extra: Map::new(),
        }
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = status;
        self
    }

    pub(crate) fn with_field(mut self, key: &str, value: Value) -> ApiError {
        self.extra.insert(key.to_string(), value);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        let content_type = match self.protocol {
            Protocol::Json11 => {
                body.insert("__type".into(), Value::String(self.code.clone()));
                body.insert("message".into(), Value::String(self.message));
                "application/x-amz-json-1.1"
            }
            Protocol::RestJson => {
                body.insert("Type".into(), Value::String("User".into()));
                body.insert("Message".into(), Value::String(self.message));
                "application/json"
            }
        };
        body.extend(self.extra);
        let mut response = (self.status, Value::Object(body).to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        if let Ok(code) = HeaderValue::from_str(&self.code) {
            headers.insert(HeaderName::from_static("x-amzn-errortype"), code);
        }
        add_request_id(headers);
        response
    }
}

/// Adds `x-amzn-RequestId` (a fresh UUID) to a response's headers.
pub(crate) fn add_request_id(headers: &mut axum::http::HeaderMap) {
    if let Ok(id) = HeaderValue::from_str(&new_id()) {
        headers.insert(HeaderName::from_static("x-amzn-requestid"), id);
    }
}

/// A fresh version-4 UUID, as AWS's request and event ids.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A JSON 1.1 success response.
pub(crate) fn json11_ok(body: Value) -> Response {
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    add_request_id(headers);
    response
}

/// AWS's validation message for a missing member: `1 validation error detected: Value null
/// at 'name' failed to satisfy constraint: Member must not be null`.
pub(crate) fn missing_member(member: &str) -> String {
    format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: \
         Member must not be null"
    )
}

pub(crate) use weir_route::clock::iso8601_seconds as iso8601;

/// Seconds since the Unix epoch now.
pub(crate) fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch now.
pub(crate) fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The JSON object of a request body, or AWS's `SerializationException`.
pub(crate) fn parse_body(body: &[u8], protocol: Protocol) -> Result<Map<String, Value>, ApiError> {
    let text = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) | Err(_) => Err(match protocol {
            Protocol::Json11 => ApiError::json11(
                "SerializationException",
                "The request body is not a JSON object",
            ),
            Protocol::RestJson => ApiError::rest(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                "The request body is not a JSON object",
            ),
        }),
    }
}

/// An empty JSON object, the body of several successful responses.
pub(crate) fn empty() -> Value {
    json!({})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_704_164_645), "2024-01-02T03:04:05Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
    }
}
