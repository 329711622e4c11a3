//! JSON as weir reads it: where a value ends, validation, and cutting inputs into events.
//!
//! Everything here reads JSON exactly as the validating [`Matcher`](crate::Matcher) does
//! (UTF-8, grammar, string escapes and control characters, nesting up to
//! [`MAX_EVENT_DEPTH`]), with the same errors at the same offsets: it is the same code.
//!
//! - [`value_end`] and [`validate`]: one value.
//! - [`split`] / [`Splitter`]: the events of a whole buffer, each with its byte offset and
//!   line, for a single value, a top-level array, JSONL, or a whitespace-separated stream of
//!   values ([`Layout`]; [`Layout::Auto`] tells them apart). A UTF-8 byte order mark at the
//!   start is skipped, CRLF and blank lines are fine, and a broken event is an error item
//!   after which splitting goes on.
//! - [`StreamSplitter`]: the same, fed block by block (or from a [`Read`](std::io::Read)),
//!   keeping only the incomplete tail.
//! - [`Checking::Boundaries`]: find the events only, for a consumer that validates them
//!   anyway (a validating matcher), so nothing is checked twice.
//! - [`locate`] and [`LineIndex`]: the line and column of an offset.
//!
//! # Example
//! ```
//! let input = b"{\"a\": 1}\n{\"a\": tru}\n{\"a\": 3}\n";
//! let mut ok = Vec::new();
//! let mut bad = Vec::new();
//! for item in weir::json::split(input) {
//!     match item {
//!         Ok(event) => ok.push(event.line),
//!         Err(e) => bad.push((e.line(), e.column(), e.reason().to_string())),
//!     }
//! }
//! assert_eq!(ok, [1, 3]);
//! assert_eq!(bad, [(2, 7, "expected a JSON value".to_string())]);
//! ```

mod position;
mod simd;
pub(crate) mod skip;
mod split;
pub(crate) mod validate;

use crate::error::{EventError, Malformed};

pub use position::{locate, LineIndex};
pub use split::{
    split, Checking, Event, Events, Layout, SplitError, Splitter, StreamSplitter, DEFAULT_BLOCK,
};

/// Deepest nesting accepted in an event (serde_json's limit, so the reference interpreter and
/// the matcher agree).
///
/// # Example
/// ```
/// use weir::json::{validate, MAX_EVENT_DEPTH};
/// let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
/// assert!(validate(deep(MAX_EVENT_DEPTH).as_bytes()).is_ok());
/// assert!(validate(deep(MAX_EVENT_DEPTH + 1).as_bytes()).is_err());
/// ```
pub const MAX_EVENT_DEPTH: usize = 127;

/// See `simd::read_ahead`: asks for the bytes a line search will read next (none below
/// `*asked`, which it moves on).
#[inline(always)]
pub(crate) fn read_ahead(b: &[u8], pos: usize, asked: &mut usize) {
    simd::read_ahead(b, pos, asked);
}

/// The quotes of a block, and its backslashes and control bytes: see `simd::quote_masks`
/// (`None` where the fast path does not run).
#[inline]
pub(crate) fn simd_quote_masks(block: &[u8; 64]) -> Option<(u64, u64)> {
    simd::quote_masks(block)
}

/// The offset of the first byte of `bytes` that is not valid UTF-8, if any: SIMD (`simdutf8`,
/// chosen at run time) for the common valid case, the standard library for the offset.
#[inline]
pub(crate) fn utf8_error(bytes: &[u8]) -> Option<usize> {
    if simd::ascii(bytes) == Some(true) {
        return None;
    }
    if simdutf8::basic::from_utf8(bytes).is_ok() {
        return None;
    }
    std::str::from_utf8(bytes).err().map(|e| e.valid_up_to())
}

/// Checks that `bytes` is one JSON value with nothing but whitespace around it; on failure the
/// offset and reason (the validating matcher's, for the same bytes).
pub(crate) fn check(bytes: &[u8], scratch: &mut Vec<u8>) -> Result<(), validate::Invalid> {
    let grammar = check_grammar(bytes, scratch);
    // UTF-8 after the grammar, which has brought the bytes into cache; an invalid byte is
    // the error whatever the grammar found, as if it were checked first.
    if let Some(at) = utf8_error(bytes) {
        return Err((at, Malformed::Utf8));
    }
    grammar
}

/// [`check`] but for UTF-8.
fn check_grammar(bytes: &[u8], scratch: &mut Vec<u8>) -> Result<(), validate::Invalid> {
    let start = validate::ws(bytes, 0);
    let end = validate::value(bytes, start, 0, scratch)?;
    let end = validate::ws(bytes, end);
    if end != bytes.len() {
        return Err((end, Malformed::Trailing));
    }
    Ok(())
}

/// Checks that `buf` is one well-formed JSON value (whitespace around it allowed), exactly as
/// the validating matcher reads events, without matching anything.
///
/// # Example
/// ```
/// assert!(weir::json::validate(br#" {"a": [1, "x"]} "#).is_ok());
/// let err = weir::json::validate(br#"{"a": "\x"}"#).unwrap_err();
/// assert_eq!((err.reason(), err.offset()), ("invalid escape in string", 7));
/// ```
pub fn validate(buf: &[u8]) -> Result<(), EventError> {
    check(buf, &mut Vec::new()).map_err(|(at, reason)| EventError::malformed(reason, buf, at))
}

/// Turns the SIMD fast path of validation off (`false`) or back on (`true`, only where the CPU
/// has AVX2) for the whole process; returns whether it is on now. Both paths give the same
/// verdicts, errors and offsets: this exists so tests and fuzz targets can compare them. The
/// environment variable `WEIR_SIMD=off` turns it off from the start. Tests comparing the two
/// paths on parallel threads take a [`SimdSwitch`] instead, which keeps other comparisons from
/// flipping the switch meanwhile and restores it when dropped.
///
/// # Example
/// ```
/// let was = weir::json::set_simd(false);
/// assert!(!was);
/// let err = weir::json::validate(b"[1, 2,]").unwrap_err();
/// weir::json::set_simd(true);
/// assert_eq!(weir::json::validate(b"[1, 2,]").unwrap_err().offset(), err.offset());
/// ```
#[doc(hidden)]
pub fn set_simd(on: bool) -> bool {
    simd::set_enabled(on)
}

/// Taken by [`SimdSwitch::take`]: one comparison of the two paths at a time in a process.
static SIMD_SWITCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The SIMD switch of [`set_simd`] held for one comparison of the two paths, as tests running
/// on parallel threads need it: while one `SimdSwitch` lives, no other can be taken (taking
/// waits), so no other comparison flips the switch between the two runs of this one; and
/// dropping it, on a panic too, puts the switch back as it was when it was taken. The switch
/// is still process-wide: code that does not take it runs whichever path is on.
///
/// # Example
/// ```
/// let switch = weir::json::SimdSwitch::take();
/// switch.set(false);
/// let scalar = weir::json::validate(b"[1, -2.5, 3e]").unwrap_err();
/// switch.set(true);
/// let fast = weir::json::validate(b"[1, -2.5, 3e]").unwrap_err();
/// assert_eq!((fast.offset(), fast.reason()), (scalar.offset(), scalar.reason()));
/// drop(switch); // the switch is as before, and the next comparison may take it
/// ```
#[doc(hidden)]
#[must_use = "the switch is released when this is dropped"]
pub struct SimdSwitch {
    was: bool,
    was_wide: bool,
    _held: std::sync::MutexGuard<'static, ()>,
}

impl SimdSwitch {
    /// Waits until no other `SimdSwitch` lives, and holds the switch.
    pub fn take() -> SimdSwitch {
        // A comparison that panicked restored the switch when its guard was dropped: the
        // poisoning says nothing about the state.
        let held = SIMD_SWITCH
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        SimdSwitch {
            was: simd::available(),
            was_wide: simd::wide_allowed(),
            _held: held,
        }
    }

    /// Turns the fast path off or on, as [`set_simd`] does; returns whether it is on now.
    pub fn set(&self, on: bool) -> bool {
        simd::set_enabled(on)
    }

    /// Whether the fast path is on now.
    ///
    /// # Example
    /// ```
    /// let switch = weir::json::SimdSwitch::take();
    /// assert!(!switch.set(false));
    /// assert!(!switch.is_on());
    /// ```
    pub fn is_on(&self) -> bool {
        simd::available()
    }

    /// Lets the fast path compare with AVX-512 where the CPU has it (`true`, the default) or
    /// keeps it to AVX2 (`false`); returns whether AVX-512 runs now. Both give the same
    /// verdicts: this exists so tests and fuzz targets can compare them.
    ///
    /// # Example
    /// ```
    /// let switch = weir::json::SimdSwitch::take();
    /// switch.set(true);
    /// switch.set_wide(false);
    /// let narrow = weir::json::validate(b"[1, -2.5, 3e]").unwrap_err();
    /// switch.set_wide(true);
    /// let wide = weir::json::validate(b"[1, -2.5, 3e]").unwrap_err();
    /// assert_eq!(narrow.offset(), wide.offset());
    /// ```
    pub fn set_wide(&self, on: bool) -> bool {
        simd::set_wide(on)
    }
}

impl Drop for SimdSwitch {
    fn drop(&mut self) {
        simd::set_wide(self.was_wide);
        simd::set_enabled(self.was);
    }
}

/// Where the JSON value starting at `start` ends (one past its last byte), validating it on
/// the way as the matcher does (UTF-8, grammar, escapes, control characters, nesting). What
/// follows the value is not looked at. Errors carry offsets, lines and columns in `buf`.
/// The value must start exactly at `start`: whitespace there is an error ("expected a JSON
/// value"), so skip it first.
///
/// # Example
/// ```
/// let buf = br#"{"a": [1, "]"]}, 2"#;
/// assert_eq!(weir::json::value_end(buf, 0)?, 15);
/// assert_eq!(weir::json::value_end(buf, 17)?, 18);
/// let err = weir::json::value_end(b"[1, tru]", 0).unwrap_err();
/// assert_eq!(err.offset(), 4);
/// # Ok::<(), weir::EventError>(())
/// ```
pub fn value_end(buf: &[u8], start: usize) -> Result<usize, EventError> {
    let err = |(at, reason): validate::Invalid| EventError::malformed(reason, buf, at);
    let utf8 = |to: usize| std::str::from_utf8(&buf[start.min(to)..to]);
    match validate::value(buf, start, 0, &mut Vec::new()) {
        // Strings were checked for escapes and control characters; the rest of UTF-8 here,
        // and a bad byte before a grammar error is the first error, as the matcher finds it.
        Ok(end) => match utf8(end) {
            Ok(_) => Ok(end),
            Err(e) => Err(err((start + e.valid_up_to(), Malformed::Utf8))),
        },
        Err((at, reason)) => match utf8(at) {
            Ok(_) => Err(err((at, reason))),
            Err(e) => Err(err((start + e.valid_up_to(), Malformed::Utf8))),
        },
    }
}

/// Removes the whitespace outside strings from the JSON `value`, appending the result to
/// `out`: a multi-line value on one line. Nothing is validated.
///
/// # Example
/// ```
/// let mut out = Vec::new();
/// weir::json::compact_into(b"{\n  \"a b\": [1, \"x\\\" y\"]\n}", &mut out);
/// assert_eq!(out, br#"{"a b":[1,"x\" y"]}"#);
/// ```
pub fn compact_into(value: &[u8], out: &mut Vec<u8>) {
    out.reserve(value.len());
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'"' => {
                let end = skip::skip_string(value, i + 1).unwrap_or(value.len());
                out.extend_from_slice(&value[i..end]);
                i = end;
                continue;
            }
            b' ' | b'\n' | b'\t' | b'\r' => {}
            b => out.push(b),
        }
        i += 1;
    }
}

/// Unescapes a JSON string body into `out`; on a bad escape returns its offset in `raw`.
pub(crate) fn unescape(raw: &[u8], out: &mut Vec<u8>) -> Result<(), usize> {
    unescape_with(raw, out, false)
}

/// [`unescape`], or with `lenient` a lone surrogate escape becomes U+FFFD instead of an
/// error (for pattern text, whose escapes the grammar has already checked).
pub(crate) fn unescape_with(raw: &[u8], out: &mut Vec<u8>, lenient: bool) -> Result<(), usize> {
    out.clear();
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *raw.get(i + 1).ok_or(i)?;
        i += 2;
        match e {
            b'"' => out.push(b'"'),
            b'\\' => out.push(b'\\'),
            b'/' => out.push(b'/'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let unit = hex4(raw, i).ok_or(i - 2)?;
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&unit) {
                    let low = if raw.get(i) == Some(&b'\\') && raw.get(i + 1) == Some(&b'u') {
                        hex4(raw, i + 2).filter(|l| (0xDC00..0xE000).contains(l))
                    } else {
                        None
                    };
                    match low {
                        Some(low) => {
                            i += 6;
                            0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                        }
                        None if lenient => 0xFFFD,
                        None if raw.get(i) != Some(&b'\\') || raw.get(i + 1) != Some(&b'u') => {
                            return Err(i - 6)
                        }
                        None => return Err(i),
                    }
                } else if (0xDC00..0xE000).contains(&unit) {
                    if !lenient {
                        return Err(i - 6);
                    }
                    0xFFFD
                } else {
                    unit
                };
                let ch = char::from_u32(cp).ok_or(i)?;
                let mut tmp = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            }
            _ => return Err(i - 2),
        }
    }
    Ok(())
}

/// Four hex digits (exactly: no sign, no spaces).
fn hex4(raw: &[u8], at: usize) -> Option<u32> {
    raw.get(at..at + 4)?.iter().try_fold(0u32, |acc, &c| {
        let d = (c as char).to_digit(16)?;
        Some(acc << 4 | d)
    })
}

#[cfg(test)]
mod tests;
