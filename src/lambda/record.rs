//! Decoding one record of an event source into the JSON a filter sees (SEMANTICS.md §6).

use base64::Engine as _;
use serde_json::Value;

use super::Source;

/// What the data field held, once decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Data {
    /// No data field, or `null`: nothing to decode, the pattern applies to the record as is.
    Absent,
    /// A JSON object or array (now in the view in place of the encoded text).
    Json,
    /// UTF-8 text that is not a JSON object or array (now in the view as a string).
    Text,
    /// Bytes that are not UTF-8 (the view keeps the base64 text).
    Binary,
}

/// How a filter's pattern treats the data field, read from its IR leaves: a leaf whose path
/// is the data key itself matches the data as a plain string; a leaf below it
/// (`<key>.<...>`) matches it as JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Shape {
    pub plain: bool,
    pub json: bool,
}

/// What to do with one filter for one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Disposition {
    /// Match the whole pattern against the decoded record.
    Full,
    /// Match only the metadata part (the pattern without its data conditions).
    Metadata,
    /// The record is dropped by this filter, for this reason.
    Drop(String),
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The text parsed as JSON when it is a JSON object or array. Scalars (`42`, `"x"`, `true`)
/// stay plain strings: a JSON pattern on the data names fields inside it, and only an object
/// (or an array of them) has fields.
fn structured(text: &str) -> Option<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => Some(v),
        _ => None,
    }
}

/// The view a filter sees, where its data field lives, and what the data field held.
/// `Err` is the reason a malformed record is dropped.
pub(super) fn decode(source: Source, record: &Value) -> Result<(Value, Data), String> {
    if !record.is_object() {
        return Err(format!(
            "a {source} record must be a JSON object, not {}",
            type_name(record)
        ));
    }
    let key = source.data_key();
    let mut view = match (source, record.get("kinesis")) {
        (Source::Kinesis, Some(inner @ Value::Object(_))) => inner.clone(),
        _ => record.clone(),
    };
    let Some(slot) = view.as_object_mut().and_then(|m| m.get_mut(key)) else {
        return Ok((view, Data::Absent));
    };
    let data = match (source, &*slot) {
        (_, Value::Null) => Data::Absent,
        (Source::Sqs, Value::String(body)) => match structured(body) {
            Some(v) => {
                *slot = v;
                Data::Json
            }
            None => Data::Text,
        },
        (Source::Sqs, other) => {
            return Err(format!(
                "the SQS `body` must be a string (the message body as sent), not {}",
                type_name(other)
            ))
        }
        (Source::DynamoDb, Value::Object(_) | Value::Array(_)) => Data::Json,
        (Source::DynamoDb, _) => Data::Text,
        (_, Value::String(encoded)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| format!("the {source} `{key}` is not valid base64 ({e})"))?;
            match String::from_utf8(bytes) {
                Err(_) => Data::Binary,
                Ok(text) => match structured(&text) {
                    Some(v) => {
                        *slot = v;
                        Data::Json
                    }
                    None => {
                        *slot = Value::String(text);
                        Data::Text
                    }
                },
            }
        }
        (_, other) => {
            return Err(format!(
                "the {source} `{key}` must be a base64 string, not {}",
                type_name(other)
            ))
        }
    };
    Ok((view, data))
}

/// The per-source rule for one filter of `shape` and a record whose data is `data`.
pub(super) fn disposition(source: Source, data: Data, shape: Shape) -> Disposition {
    let key = source.data_key();
    let not_json = matches!(data, Data::Text | Data::Binary);
    match source {
        Source::Sqs => {
            if data == Data::Json && shape.plain {
                Disposition::Drop(
                    "the body is JSON but the filter matches `body` as a plain string".into(),
                )
            } else if not_json && shape.json {
                Disposition::Drop(
                    "the body is not JSON but the filter has a JSON pattern on `body`".into(),
                )
            } else {
                Disposition::Full
            }
        }
        Source::Kinesis | Source::DynamoDb => {
            if shape.plain {
                Disposition::Drop(format!(
                    "the filter matches `{key}` as a plain string, which {source} does not allow \
                     (AWS refuses such a filter when the event source mapping is created)"
                ))
            } else if not_json && shape.json {
                Disposition::Drop(format!(
                    "`{key}` is not JSON but the filter has a JSON pattern on `{key}`"
                ))
            } else {
                Disposition::Full
            }
        }
        Source::Kafka | Source::Mq => {
            let mismatch = (data == Data::Json && shape.plain)
                || (not_json && shape.json)
                || (data == Data::Binary && shape.plain);
            if mismatch {
                Disposition::Metadata
            } else {
                Disposition::Full
            }
        }
    }
}
