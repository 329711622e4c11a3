//! Decoding one record of an event source into the JSON a filter sees, on the record's bytes:
//! the record is validated, cut into its top-level members (serde_json's `RawValue` gives each
//! member's text without reading any number), and only the data field's text is replaced by
//! its decoded form. Every other byte, numbers included, reaches the matcher as written.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{Base64Error, DropReason, Source, ValueKind};
use crate::error::EventError;
use crate::json::{unescape, validate as validate_event};

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
    Drop(DropReason),
}

/// Buffers reused from record to record.
#[derive(Default)]
pub(super) struct Buffers {
    /// The decoded document, when it differs from a slice of the record.
    pub doc: Vec<u8>,
    /// A JSON string's unescaped bytes.
    text: Vec<u8>,
    /// Base64-decoded bytes.
    decoded: Vec<u8>,
}

/// The document a filter sees: a slice of the record as written, or [`Buffers::doc`].
pub(super) enum View {
    Record(Range<usize>),
    Buffer,
}

/// The kind of the JSON value `raw` (valid JSON) holds, from its first byte.
pub(super) fn kind_of(raw: &[u8]) -> ValueKind {
    match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => ValueKind::Object,
        Some(b'[') => ValueKind::Array,
        Some(b'"') => ValueKind::String,
        Some(b't' | b'f') => ValueKind::Boolean,
        Some(b'n') => ValueKind::Null,
        _ => ValueKind::Number,
    }
}

/// Whether `text` is a JSON object or array. Scalars (`42`, `"x"`, `true`) stay plain
/// strings: a JSON pattern on the data names fields inside it, and only an object (or an array
/// of them) has fields. Validated as the matcher reads events.
fn structured(text: &[u8]) -> bool {
    matches!(kind_of(text), ValueKind::Object | ValueKind::Array) && validate_event(text).is_ok()
}

/// A key of the record, borrowed when it holds no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Finds the last member named `key` of the JSON object `object` (valid JSON): the byte range
/// of its value in `object`. The last one, because the matcher keeps a repeated key's last
/// value. Values are skipped or taken as raw text, never read as numbers.
fn member(object: &[u8], key: &str) -> Option<Range<usize>> {
    struct Find<'k>(&'k str);
    impl<'de> Visitor<'de> for Find<'_> {
        type Value = Option<&'de RawValue>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                if k == self.0 {
                    found = Some(map.next_value::<&'de RawValue>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    impl<'de> DeserializeSeed<'de> for Find<'_> {
        type Value = Option<&'de RawValue>;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(object);
    // Valid JSON by now: serde_json cannot refuse it, but an error would only mean "absent".
    let raw = Find(key).deserialize(&mut de).ok()??;
    let start = raw.get().as_ptr() as usize - object.as_ptr() as usize;
    Some(start..start + raw.get().len())
}

/// The bytes the JSON string token `record[token]` (validated) stands for, in `out`.
fn string_bytes<'b>(
    record: &[u8],
    token: Range<usize>,
    out: &'b mut Vec<u8>,
) -> Result<&'b [u8], DropReason> {
    let body = token.start + 1..token.end - 1;
    // The record was validated with this same unescaping: an error cannot happen; if it did,
    // it would be reported like the validator's.
    unescape(&record[body.clone()], out).map_err(|off| {
        DropReason::NotJson(EventError::new(
            "invalid escape in string",
            record,
            body.start + off,
        ))
    })?;
    Ok(out)
}

/// Decodes `record` of `source` (valid JSON): the document a filter sees (in `bufs.doc` or a
/// slice of the record), and what the data field held. `Err` is the reason a malformed
/// record is dropped.
pub(super) fn decode(
    source: Source,
    record: &[u8],
    bufs: &mut Buffers,
) -> Result<(View, Data), DropReason> {
    let found = kind_of(record);
    if found != ValueKind::Object {
        return Err(DropReason::NotAnObject { source, found });
    }
    let mut view = 0..record.len();
    if source == Source::Kinesis {
        if let Some(inner) = member(record, "kinesis") {
            if kind_of(&record[inner.clone()]) == ValueKind::Object {
                view = inner;
            }
        }
    }
    let object = &record[view.clone()];
    let key = source.data_key();
    let Some(slot) = member(object, key) else {
        return Ok((View::Record(view), Data::Absent));
    };
    let value = &object[slot.clone()];
    let in_record = view.start + slot.start..view.start + slot.end;
    let splice = |bufs: &mut Buffers, replacement: Replacement| {
        bufs.doc.clear();
        bufs.doc.extend_from_slice(&object[..slot.start]);
        match replacement {
            Replacement::Text => {
                bufs.doc.extend_from_slice(&bufs.text);
            }
            Replacement::Decoded => {
                let s = std::str::from_utf8(&bufs.decoded).expect("checked UTF-8");
                serde_json::to_writer(&mut bufs.doc, s).expect("writing to a Vec");
            }
            Replacement::DecodedJson => {
                bufs.doc.extend_from_slice(&bufs.decoded);
            }
        }
        bufs.doc.extend_from_slice(&object[slot.end..]);
    };
    let kind = kind_of(value);
    let data = match (source, kind) {
        (_, ValueKind::Null) => Data::Absent,
        (Source::Sqs, ValueKind::String) => {
            let body = string_bytes(record, in_record, &mut bufs.text)?;
            if structured(body) {
                splice(bufs, Replacement::Text);
                return Ok((View::Buffer, Data::Json));
            }
            Data::Text
        }
        (Source::Sqs, found) => return Err(DropReason::BodyNotAString { found }),
        (Source::DynamoDb, ValueKind::Object | ValueKind::Array) => Data::Json,
        (Source::DynamoDb, _) => Data::Text,
        (_, ValueKind::String) => {
            let encoded = string_bytes(record, in_record, &mut bufs.text)?;
            bufs.decoded.clear();
            base64::engine::general_purpose::STANDARD
                .decode_vec(encoded, &mut bufs.decoded)
                .map_err(|e| DropReason::InvalidBase64 {
                    source,
                    error: Base64Error(e),
                })?;
            if std::str::from_utf8(&bufs.decoded).is_err() {
                Data::Binary
            } else if structured(&bufs.decoded) {
                splice(bufs, Replacement::DecodedJson);
                return Ok((View::Buffer, Data::Json));
            } else {
                splice(bufs, Replacement::Decoded);
                return Ok((View::Buffer, Data::Text));
            }
        }
        (_, found) => return Err(DropReason::DataNotAString { source, found }),
    };
    Ok((View::Record(view), data))
}

/// What replaces the data field's text.
enum Replacement {
    /// The unescaped string (`Buffers::text`), itself JSON.
    Text,
    /// The base64-decoded text (`Buffers::decoded`), written as a JSON string.
    Decoded,
    /// The base64-decoded text, itself JSON.
    DecodedJson,
}

/// The per-source rule for filter `filter` of `shape` and a record whose data is `data`.
pub(super) fn disposition(source: Source, data: Data, shape: Shape, filter: usize) -> Disposition {
    let not_json = matches!(data, Data::Text | Data::Binary);
    match source {
        Source::Sqs => {
            if data == Data::Json && shape.plain {
                Disposition::Drop(DropReason::PlainPatternOnJson { filter, source })
            } else if not_json && shape.json {
                Disposition::Drop(DropReason::JsonPatternOnText { filter, source })
            } else {
                Disposition::Full
            }
        }
        Source::Kinesis | Source::DynamoDb => {
            if shape.plain {
                Disposition::Drop(DropReason::PlainPatternNotAllowed { filter, source })
            } else if not_json && shape.json {
                Disposition::Drop(DropReason::JsonPatternOnText { filter, source })
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
