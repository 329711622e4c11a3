//! Lambda's REST-JSON operations: `Invoke`.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use weir_route::Outcome;

use crate::aws::{add_request_id, ApiError, MAX_REQUEST_BYTES};
use crate::functions::{InvocationType, InvokeError, Invoker};

/// The largest payload of an asynchronous (`Event`) invocation: 1 MB.
pub(crate) const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> ApiError {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut error = ApiError::rest(status, &e.code, e.message);
        if let Some(reason) = e.reason {
            error = error.with_field("Reason", serde_json::Value::String(reason));
        }
        error
    }
}

/// The function name and qualifier of Lambda's `FunctionName` (a name, `name:qualifier`, a
/// partial ARN `account:function:name` or a full ARN) and the `Qualifier` query parameter.
fn resolve(
    function_name: &str,
    qualifier: Option<&str>,
) -> Result<(String, Option<String>), ApiError> {
    let parts: Vec<&str> = function_name.split(':').collect();
    let (name, in_name) = match parts.as_slice() {
        [name] => (*name, None),
        [name, q] => (*name, Some(*q)),
        [_, "function", name] => (*name, None),
        [_, "function", name, q] => (*name, Some(*q)),
        ["arn", _, "lambda", _, _, "function", name] => (*name, None),
        ["arn", _, "lambda", _, _, "function", name, q] => (*name, Some(*q)),
        _ => {
            return Err(ApiError::rest(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{function_name}' at 'functionName' \
                     failed to satisfy constraint: Member must satisfy regular expression pattern"
                ),
            ))
        }
    };
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if !valid {
        return Err(ApiError::rest(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!(
                "1 validation error detected: Value '{function_name}' at 'functionName' failed \
                 to satisfy constraint: Member must satisfy regular expression pattern"
            ),
        ));
    }
    let qualifier = match (in_name, qualifier) {
        (Some(a), Some(b)) if a != b => return Err(ApiError::rest(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
        )),
        (Some(q), _) | (None, Some(q)) => Some(q.to_string()),
        (None, None) => None,
    };
    Ok((name.to_string(), qualifier))
}

/// Reads a request body of at most `limit` bytes; past that, Lambda's
/// `RequestTooLargeException`.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, usize> {
    axum::body::to_bytes(body, limit)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| limit)
}

fn too_large(limit: usize) -> ApiError {
    ApiError::rest(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestTooLargeException",
        format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
    )
}

/// `POST /2015-03-31/functions/{FunctionName}/invocations`.
pub(crate) async fn invoke(
    invoker: &dyn Invoker,
    function_name: &str,
    qualifier: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let kind_header = headers
        .get("x-amz-invocation-type")
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let kind = match kind_header {
        None => InvocationType::RequestResponse,
        Some(text) => InvocationType::parse(text).ok_or_else(|| {
            ApiError::rest(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{text}' at 'invocationType' failed to \
                     satisfy constraint: Member must satisfy enum value set: [Event, \
                     RequestResponse, DryRun]"
                ),
            )
        })?,
    };
    if let Some(log_type) = headers.get("x-amz-log-type") {
        let text = log_type.to_str().unwrap_or("\u{fffd}");
        if text != "None" && text != "Tail" {
            return Err(ApiError::rest(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{text}' at 'logType' failed to satisfy \
                     constraint: Member must satisfy enum value set: [Tail, None]"
                ),
            ));
        }
    }
    let (name, qualifier) = resolve(function_name, qualifier)?;
    let arn = invoker.function_arn(&name);
    if let Some(q) = &qualifier {
        if q != "$LATEST" {
            return Err(InvokeError::not_found(&format!("{arn}:{q}")).into());
        }
    }
    if !invoker.exists(&name) {
        return Err(InvokeError::not_found(&arn).into());
    }
    let limit = if kind == InvocationType::Event {
        MAX_ASYNC_PAYLOAD
    } else {
        MAX_REQUEST_BYTES
    };
    let mut payload = read_body(body, limit).await.map_err(too_large)?;
    if payload.iter().all(u8::is_ascii_whitespace) {
        // No payload: the function receives an empty object.
        payload = b"{}".to_vec();
    } else if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
        return Err(ApiError::rest(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            format!("Could not parse request body into json: {e}"),
        ));
    }
    let outcome = invoker.invoke(&name, kind, payload).await?;
    let mut response = match (kind, outcome) {
        (InvocationType::DryRun, _) => StatusCode::NO_CONTENT.into_response(),
        (InvocationType::Event, _) => StatusCode::ACCEPTED.into_response(),
        (InvocationType::RequestResponse, outcome) => {
            let (body, error) = match outcome {
                Some(Outcome::Success(body)) => (body, false),
                Some(Outcome::Error(e)) => (e.payload, true),
                // A RequestResponse invoker answers an outcome; none is an empty response.
                Some(_) | None => (Vec::new(), false),
            };
            let mut response = (StatusCode::OK, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(
                HeaderName::from_static("x-amz-executed-version"),
                HeaderValue::from_static("$LATEST"),
            );
            if error {
                headers.insert(
                    HeaderName::from_static("x-amz-function-error"),
                    HeaderValue::from_static("Unhandled"),
                );
            }
            response
        }
    };
    add_request_id(response.headers_mut());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names() {
        let ok = |s: &str, q: Option<&str>| resolve(s, q).unwrap();
        assert_eq!(ok("f", None), ("f".into(), None));
        assert_eq!(ok("f:$LATEST", None), ("f".into(), Some("$LATEST".into())));
        assert_eq!(
            ok("123:function:f", Some("1")),
            ("f".into(), Some("1".into()))
        );
        assert_eq!(
            ok("arn:aws:lambda:us-east-1:1:function:f", None),
            ("f".into(), None)
        );
        assert!(resolve("f:1", Some("2")).is_err());
        assert!(resolve("bad name", None).is_err());
        assert!(resolve("a:b:c:d:e", None).is_err());
    }
}
