//! The reference interpreter: the plainest possible reading of the rules, over
//! `serde_json::Value`. It is slow and obvious on purpose; tests use it as the oracle for the
//! compiled [`weir::Matcher`].
//!
//! 1. Flatten the event into leaves: (dot-joined path, scalar value, the array elements it
//!    sits in).
//! 2. A pattern matches when one of its terms does. A term's leaves are taken in path order
//!    (Java string order, as event-ruler walks a rule's fields): each leaf is given one event
//!    leaf that satisfies it, "array consistent" with those chosen before it (no two from
//!    different elements of one array); `exists: false` asks that no event leaf at the path
//!    is array consistent with those chosen before it.
//! 3. Event keys that are exactly `""` are not read unless a path of the pattern names an
//!    empty step (event-ruler reads only the keys rules' path steps name).
//!
//! The value tests below are written independently of the compiled matcher's.
//!
//! Events are read with serde_json's `arbitrary_precision` feature (numbers keep their text),
//! which reserves one object key for itself: an object whose key is
//! `$serde_json::private::Number` is read as a number (or refused). The matcher reads such an
//! object as the ordinary JSON object it is; events using that key are outside what this
//! interpreter can judge.

use serde_json::Value;

use crate::error::EventError;
use crate::ir::{AnythingBut, Leaf, Literal, Matcher, Pattern, Term, WildcardPiece};

/// A scalar of the event, with its place.
struct EventLeaf<'v> {
    path: String,
    value: &'v Value,
    /// (array id, element index) for every array enclosing the value, outermost first.
    trail: Vec<(usize, usize)>,
}

/// Whether `pattern` matches the event.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"e": {"f": ["Anna"], "l": ["Jones"]}}"#)?;
/// let event = serde_json::json!({"e": [{"f": "Anna", "l": "Smith"}, {"f": "Peter", "l": "Jones"}]});
/// assert!(!weir_reference::matches(&p, &event));
/// # Ok::<(), weir::PatternError>(())
/// ```
pub fn matches(pattern: &Pattern, event: &Value) -> bool {
    let mut leaves = Vec::new();
    let mut next_array = 0;
    let reading = Reading {
        empty_keys: reads_empty_keys(pattern),
    };
    flatten(
        &reading,
        event,
        None,
        &mut Vec::new(),
        &mut next_array,
        &mut leaves,
    );
    pattern.terms().iter().any(|t| term_matches(t, &leaves))
}

/// Parses `event` with serde_json and matches it.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"a": [1]}"#)?;
/// assert!(weir_reference::matches_text(&p, br#"{"a": 1.0}"#)?);
/// assert!(weir_reference::matches_text(&p, b"{").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn matches_text(pattern: &Pattern, event: &[u8]) -> Result<bool, EventError> {
    let value = parse_event(event)?;
    Ok(matches(pattern, &value))
}

/// Parses an event with serde_json, mapping its error to an [`EventError`].
pub(crate) fn parse_event(event: &[u8]) -> Result<Value, EventError> {
    serde_json::from_slice(event).map_err(|e| {
        let offset = offset_of(event, e.line(), e.column());
        let msg = e.to_string();
        let reason = msg
            .rsplit_once(" at line ")
            .map_or(msg.as_str(), |(r, _)| r)
            .to_string();
        EventError::new(reason, event, offset)
    })
}

fn offset_of(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for _ in 1..line {
        match bytes[offset..].iter().position(|&b| b == b'\n') {
            Some(i) => offset += i + 1,
            None => return bytes.len(),
        }
    }
    (offset + column.saturating_sub(1)).min(bytes.len())
}

/// What the pattern reads of an event.
struct Reading {
    /// Whether keys that are exactly `""` are read.
    empty_keys: bool,
}

/// `path`: the value's field path (every key joined with `.`, empty ones included), `None`
/// for the event itself.
fn flatten<'v>(
    reading: &Reading,
    value: &'v Value,
    path: Option<String>,
    trail: &mut Vec<(usize, usize)>,
    next_array: &mut usize,
    out: &mut Vec<EventLeaf<'v>>,
) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key.is_empty() && !reading.empty_keys {
                    continue;
                }
                let child = match &path {
                    None => key.clone(),
                    Some(path) => format!("{path}.{key}"),
                };
                flatten(reading, v, Some(child), trail, next_array, out);
            }
        }
        Value::Array(items) => {
            let id = *next_array;
            *next_array += 1;
            for (i, v) in items.iter().enumerate() {
                trail.push((id, i));
                flatten(reading, v, path.clone(), trail, next_array, out);
                trail.pop();
            }
        }
        // A scalar at the top of the event (or in top-level arrays) is on no field path.
        scalar => {
            if let Some(path) = path {
                out.push(EventLeaf {
                    path,
                    value: scalar,
                    trail: trail.clone(),
                });
            }
        }
    }
}

fn consistent(a: &[(usize, usize)], b: &[(usize, usize)]) -> bool {
    a.iter()
        .all(|(id, i)| b.iter().all(|(id2, j)| id != id2 || i == j))
}

fn term_matches(term: &Term, leaves: &[EventLeaf<'_>]) -> bool {
    let mut order: Vec<&Leaf> = term.leaves.iter().collect();
    order.sort_by(|a, b| a.path.encode_utf16().cmp(b.path.encode_utf16()));
    walk(&order, leaves, &mut Vec::new())
}

/// Satisfies `rest` in order, each leaf consistently with the event leaves `chosen` so far.
fn walk(rest: &[&Leaf], leaves: &[EventLeaf<'_>], chosen: &mut Vec<usize>) -> bool {
    let Some((leaf, rest)) = rest.split_first() else {
        return true;
    };
    let fits = |i: usize, chosen: &[usize]| {
        leaves[i].path == leaf.path
            && chosen
                .iter()
                .all(|&o| consistent(&leaves[o].trail, &leaves[i].trail))
    };
    if leaf.allows_absence()
        && !(0..leaves.len()).any(|i| fits(i, chosen))
        && walk(rest, leaves, chosen)
    {
        return true;
    }
    for i in 0..leaves.len() {
        if fits(i, chosen)
            && leaf
                .matchers
                .iter()
                .any(|m| value_matches(m, leaves[i].value))
        {
            chosen.push(i);
            if walk(rest, leaves, chosen) {
                return true;
            }
            chosen.pop();
        }
    }
    false
}

fn number_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn literal_matches(lit: &Literal, v: &Value) -> bool {
    match (lit, v) {
        (Literal::String(s), Value::String(e)) => {
            s == e
                || matches!((crate::ir::parse_ip(s), crate::ir::parse_ip(e)), (Some(a), Some(b)) if a == b)
        }
        (Literal::Number(n), Value::Number(_)) => {
            let text = number_text(v).unwrap_or_default();
            let ev = crate::ir::exact_f64(&text);
            match (n.value(), ev) {
                (Some(a), Some(b)) => a == b,
                _ => crate::ir::number_spelling(n.text()) == text,
            }
        }
        (Literal::NumberText(t), Value::Number(_)) => {
            number_text(v).is_some_and(|e| e == crate::ir::number_spelling(t))
        }
        (Literal::Bool(b), Value::Bool(e)) => b == e,
        (Literal::Null, Value::Null) => true,
        _ => false,
    }
}

/// Plain recursive wildcard matching, the textbook way.
fn wildcard(pieces: &[WildcardPiece], s: &str) -> bool {
    match pieces.split_first() {
        None => s.is_empty(),
        Some((WildcardPiece::Literal(l), rest)) => {
            s.starts_with(l.as_str()) && wildcard(rest, &s[l.len()..])
        }
        Some((WildcardPiece::Star, rest)) => {
            (0..=s.len()).any(|i| s.is_char_boundary(i) && wildcard(rest, &s[i..]))
        }
        Some((piece, _)) => panic!("the reference interpreter does not know the piece {piece:?}"),
    }
}

fn value_matches(m: &Matcher, v: &Value) -> bool {
    let s = v.as_str();
    match m {
        Matcher::Exact(lit) => literal_matches(lit, v),
        Matcher::Prefix(p) => s.is_some_and(|s| s.starts_with(p.as_str())),
        Matcher::PrefixIgnoreCase(p) => s.is_some_and(|s| crate::ir::starts_with_ignore_case(p, s)),
        Matcher::Suffix(p) => s.is_some_and(|s| s.ends_with(p.as_str())),
        Matcher::SuffixIgnoreCase(p) => s.is_some_and(|s| crate::ir::ends_with_ignore_case(p, s)),
        Matcher::EqualsIgnoreCase(p) => s.is_some_and(|s| crate::ir::eq_ignore_case(p, s)),
        Matcher::Wildcard(w) => s.is_some_and(|s| wildcard(w.pieces(), s)),
        Matcher::AnythingBut(ab) => match ab {
            AnythingBut::Literals(lits) => !lits.iter().any(|l| literal_matches(l, v)),
            AnythingBut::Prefix(ps) => {
                s.is_none_or(|s| !ps.iter().any(|p| s.starts_with(p.as_str())))
            }
            AnythingBut::Suffix(ps) => {
                s.is_none_or(|s| !ps.iter().any(|p| s.ends_with(p.as_str())))
            }
            AnythingBut::EqualsIgnoreCase(ps) => {
                s.is_none_or(|s| !ps.iter().any(|p| crate::ir::eq_ignore_case(p, s)))
            }
            AnythingBut::Wildcard(ws) => {
                s.is_none_or(|s| !ws.iter().any(|w| wildcard(w.pieces(), s)))
            }
            other => unknown(other),
        },
        Matcher::Numeric(range) => number_text(v)
            .and_then(|t| crate::ir::exact_f64(&t))
            .is_some_and(|x| range.contains(x)),
        Matcher::Cidr(c) => s.is_some_and(|s| c.contains(s)),
        Matcher::Exists(exists) => *exists,
        other => unknown(other),
    }
}

/// The IR's enums are `#[non_exhaustive]`: a condition added to weir must be added here too.
fn unknown(condition: &dyn std::fmt::Debug) -> ! {
    panic!("the reference interpreter does not know the condition {condition:?}")
}

// `crate::ir` above is weir's IR; `crate::error` is this crate's own error type.
use weir::ir;

/// The reference interpreter's error.
pub mod error {
    /// An event serde_json could not read: its reason, without serde_json's position suffix,
    /// and the byte offset.
    ///
    /// # Example
    /// ```
    /// let p = weir::Pattern::parse(r#"{"a": [1]}"#)?;
    /// let err = weir_reference::matches_text(&p, b"{\"a\": }").unwrap_err();
    /// assert_eq!(err.offset(), 6);
    /// assert!(err.to_string().contains("byte 6"));
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct EventError {
        reason: String,
        offset: usize,
    }

    impl EventError {
        pub(crate) fn new(reason: String, event: &[u8], offset: usize) -> EventError {
            EventError {
                reason,
                offset: offset.min(event.len()),
            }
        }

        /// Why the event could not be read (serde_json's words).
        ///
        /// # Example
        /// ```
        /// let p = weir::Pattern::match_all();
        /// let err = weir_reference::matches_text(&p, b"[").unwrap_err();
        /// assert!(err.reason().contains("EOF"), "{err}");
        /// # Ok::<(), weir::PatternError>(())
        /// ```
        pub fn reason(&self) -> &str {
            &self.reason
        }

        /// Byte offset in the event where reading failed.
        ///
        /// # Example
        /// ```
        /// let p = weir::Pattern::match_all();
        /// assert_eq!(weir_reference::matches_text(&p, b"{} x").unwrap_err().offset(), 3);
        /// # Ok::<(), weir::PatternError>(())
        /// ```
        pub fn offset(&self) -> usize {
            self.offset
        }
    }

    impl std::fmt::Display for EventError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "invalid event: {} (byte {})", self.reason, self.offset)
        }
    }

    impl std::error::Error for EventError {}
}

/// Whether some leaf path of `pattern` names an empty step, as event-ruler records a rule's
/// steps: the path split on `.` with trailing empty pieces dropped (`a.` names only `a`; the
/// path `""` names `""`). Only then does the pattern see event keys that are exactly `""`.
fn reads_empty_keys(pattern: &Pattern) -> bool {
    pattern.terms().iter().flat_map(|t| &t.leaves).any(|l| {
        let steps = l.path.trim_end_matches('.');
        l.path.is_empty() || (!steps.is_empty() && steps.split('.').any(str::is_empty))
    })
}
