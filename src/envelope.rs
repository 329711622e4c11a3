//! EventBridge's check that a test event carries its envelope.

use std::collections::HashMap;

use serde::de::IgnoredAny;

use crate::error::{EventError, EventErrorKind};

/// The fields `TestEventPattern` requires of an event.
///
/// # Example
/// ```
/// assert!(weir::ENVELOPE_FIELDS.contains(&"detail-type"));
/// ```
pub const ENVELOPE_FIELDS: [&str; 6] = ["id", "source", "detail-type", "account", "region", "time"];

/// Checks what EventBridge's `TestEventPattern` checks of an event before matching: a JSON
/// object carrying the envelope fields [`ENVELOPE_FIELDS`] (any JSON value). AWS answers a failure
/// with `Parameter Event is not valid.`; the error here also names the missing field.
///
/// # Example
/// ```
/// assert!(weir::check_envelope(br#"{"testEvent": "value"}"#).is_err());
/// let ok = br#"{"id": "1", "source": "s", "detail-type": "t", "account": "1", "region": "r", "time": "t"}"#;
/// assert!(weir::check_envelope(ok).is_ok());
/// ```
pub fn check_envelope(event: &[u8]) -> Result<(), EventError> {
    // The whole event is checked as the matcher checks events; then only the top-level keys
    // are read (not into a `serde_json::Value`, whose number handling reserves an object key
    // of its own).
    crate::json::validate(event)?;
    // Valid JSON by now: serde_json can only refuse it for not being an object.
    let Ok(map) = serde_json::from_slice::<HashMap<String, IgnoredAny>>(event) else {
        return Err(EventError::with_kind(
            EventErrorKind::NotAnObject,
            "Parameter Event is not valid. (the event is not a JSON object)",
            event,
            0,
        ));
    };
    for field in ENVELOPE_FIELDS {
        if !map.contains_key(field) {
            return Err(EventError::with_kind(
                EventErrorKind::MissingField,
                format!("Parameter Event is not valid. (missing field \"{field}\")"),
                event,
                0,
            ));
        }
    }
    Ok(())
}
