//! Events as Python gives them -> the JSON bytes weir reads: one event (`dict` and other
//! JSON values, `str`, `bytes`, `bytearray`, `memoryview`) or a batch (an iterable of those,
//! or one `str`/`bytes` buffer: one event, a JSON array of events, JSONL or a stream).

use std::borrow::Cow;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

use crate::ser;

/// One event's JSON bytes: borrowed from an immutable Python object, or written here.
pub(crate) enum EventBytes<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl EventBytes<'_> {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            EventBytes::Borrowed(b) => b,
            EventBytes::Owned(v) => v,
        }
    }
}

/// The bytes of text given as `str`/`bytes`/`bytearray`/`memoryview`, or `None` when `obj` is
/// none of these.
pub(crate) fn text_bytes<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Option<EventBytes<'a>>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Some(EventBytes::Borrowed(b.as_bytes())));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Some(match crate::utf8::bytes(s)? {
            Cow::Borrowed(t) => EventBytes::Borrowed(t),
            Cow::Owned(t) => EventBytes::Owned(t),
        }));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Some(EventBytes::Owned(b.to_vec())));
    }
    if obj.is_instance_of::<pyo3::types::PyMemoryView>() {
        let bytes = obj.call_method0("tobytes")?;
        let bytes = bytes.cast::<PyBytes>()?;
        return Ok(Some(EventBytes::Owned(bytes.as_bytes().to_vec())));
    }
    Ok(None)
}

/// One event: JSON text as `str`/`bytes`, or a Python value written as JSON (`root` names it
/// in an error: `event`).
pub(crate) fn event_bytes<'a>(obj: &'a Bound<'_, PyAny>, root: &str) -> PyResult<EventBytes<'a>> {
    if let Some(b) = text_bytes(obj)? {
        return Ok(b);
    }
    let mut out = Vec::new();
    ser::write(obj, &mut out).map_err(|e| e.into_pyerr(root))?;
    Ok(EventBytes::Owned(out))
}

/// A batch of events made ready for matching without the GIL.
pub(crate) struct Batch<'py> {
    /// Events written here (dicts, `str`s, mutable buffers), at `spans`.
    buf: Vec<u8>,
    /// Per event: where its bytes are.
    places: Vec<Place>,
    /// `bytes` objects whose memory events borrow (kept alive by holding them).
    held: Vec<Bound<'py, PyBytes>>,
    /// Events that could not be made JSON: (event index, error).
    pub(crate) failed: Vec<(usize, PyErr)>,
}

#[derive(Clone, Copy)]
enum Place {
    Buf(usize, usize),
    Held(usize),
    Failed,
}

impl<'py> Batch<'py> {
    /// Reads every item of `events` (calling back into Python: generators run here); `root`
    /// names the batch in errors (`events`, `records`).
    pub(crate) fn collect(events: &Bound<'py, PyAny>, root: &str) -> PyResult<Batch<'py>> {
        let mut batch = Batch {
            buf: Vec::new(),
            places: Vec::new(),
            held: Vec::new(),
            failed: Vec::new(),
        };
        let iter = events.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "{root} must be an iterable (of dicts, str or bytes) or one str/bytes buffer \
                 (JSONL, a JSON array, ...), not {}",
                events
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        for (i, item) in iter.enumerate() {
            let item = item?;
            if let Ok(b) = item.cast::<PyBytes>() {
                batch.places.push(Place::Held(batch.held.len()));
                batch.held.push(b.clone());
                continue;
            }
            let start = batch.buf.len();
            let written = match text_bytes(&item) {
                Ok(Some(b)) => {
                    batch.buf.extend_from_slice(b.as_bytes());
                    Ok(())
                }
                Ok(None) => ser::write(&item, &mut batch.buf)
                    .map_err(|e| e.into_pyerr(&format!("{root}[{i}]"))),
                Err(e) => Err(e),
            };
            match written {
                Ok(()) => batch.places.push(Place::Buf(start, batch.buf.len())),
                Err(e) => {
                    batch.buf.truncate(start);
                    batch.places.push(Place::Failed);
                    batch.failed.push((i, e));
                }
            }
        }
        Ok(batch)
    }

    /// Each event's bytes (an event that failed is empty: never matched, see `failed`).
    pub(crate) fn slices(&self) -> Vec<&[u8]> {
        self.places
            .iter()
            .map(|p| match *p {
                Place::Buf(s, e) => &self.buf[s..e],
                Place::Held(h) => self.held[h].as_bytes(),
                Place::Failed => &[][..],
            })
            .collect()
    }
}

/// Where the JSON value `event` starts (after whitespace and a byte order mark) and what it
/// is when it is not an object; `None` for an object (or for text that is not JSON, which
/// the matcher has refused already).
pub(crate) fn not_an_object(event: &[u8]) -> Option<(&'static str, usize)> {
    let skip = if event.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let at = skip
        + event[skip..]
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
    let found = match event[at] {
        b'{' => return None,
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        b'-' | b'0'..=b'9' => "a number",
        _ => return None,
    };
    Some((found, at))
}

/// Refuses a single JSON `event` that is not an object (`EventError` of kind
/// `not_an_object`), as AWS does.
pub(crate) fn object_only(py: Python<'_>, event: &[u8]) -> PyResult<()> {
    match not_an_object(event) {
        None => Ok(()),
        Some((found, at)) => Err(crate::errors::not_an_object(
            py, found, event, at, None, None,
        )),
    }
}
