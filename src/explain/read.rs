//! The event as explain reads it: every scalar on a field path with its byte span and array
//! trail, and every array with the spans of its elements.
//!
//! The event is first checked by the matcher's own validating reader (same errors, same
//! offsets); this reader then walks the known-good text with the matcher's lexing helpers.

use crate::error::EventError;
use crate::json::validate::{number as number_end, string_end, ws};
use crate::json::{unescape, validate as validate_event};

/// What a scalar is; a number keeps its text (its span in the event).
#[derive(Clone, Debug)]
pub(crate) enum Scalar {
    /// The unescaped UTF-8 bytes.
    String(Vec<u8>),
    Number,
    True,
    False,
    Null,
}

/// A scalar on a field path.
#[derive(Clone, Debug)]
pub(crate) struct Value {
    pub path: String,
    pub span: (usize, usize),
    /// (array, element index) of every array around the value, outermost first; arrays are
    /// numbered by their index in [`Event::arrays`].
    pub trail: Vec<(u32, u32)>,
    pub scalar: Scalar,
    /// False once a later repeat of a key overrides the value.
    pub alive: bool,
    /// Whether a key that is exactly `""` leads to the value: such values are invisible to a
    /// pattern naming no empty path step (`Pattern::reads_empty_keys`), as the matcher's
    /// scanner marks them (`via_empty_key`).
    pub via_empty_key: bool,
}

/// An array of the event.
#[derive(Clone, Debug)]
pub(crate) struct Array {
    /// Its field path; `None` at the top of the event.
    pub path: Option<String>,
    pub span: (usize, usize),
    pub elements: Vec<(usize, usize)>,
    pub alive: bool,
}

/// The event, flattened.
#[derive(Debug, Default)]
pub(crate) struct Event {
    pub values: Vec<Value>,
    pub arrays: Vec<Array>,
}

/// Reads `bytes` as one JSON event, validating it exactly as the matcher's default reading
/// does.
pub(crate) fn read(bytes: &[u8]) -> Result<Event, EventError> {
    validate_event(bytes)?;
    let mut r = Reader {
        b: bytes,
        pos: ws(bytes, 0),
        out: Event::default(),
        trail: Vec::new(),
        empty_keys: 0,
    };
    r.value(None)?;
    Ok(r.out)
}

/// The field path of key `key` inside the object at path `prefix` (`None`: the top of the
/// event). The one place that says how event keys join into paths, as the matcher's path trie
/// meets them: every key is joined with `.`, an empty one included (`{"": {"a": ..}}` is
/// `.a`), the IR's joining of object keys (`ir::object_path`).
pub(crate) fn join_path(prefix: Option<&str>, key: &str) -> String {
    crate::ir::object_path(prefix, key)
}

/// A key repeated in one object: the values and arrays the earlier occurrence produced
/// (`values`, `arrays`: their index ranges) are overridden by the later one. The one place
/// that says how duplicate keys resolve: the last occurrence of a key (compared unescaped, as
/// JSON readers compare keys: `"\u0061"` repeats `"a"`) wins outright, as the matcher's reader drops the earlier occurrence's values.
fn override_earlier(
    event: &mut Event,
    values: std::ops::Range<usize>,
    arrays: std::ops::Range<usize>,
) {
    for v in &mut event.values[values] {
        v.alive = false;
    }
    for a in &mut event.arrays[arrays] {
        a.alive = false;
    }
}

struct Reader<'b> {
    b: &'b [u8],
    pos: usize,
    out: Event,
    trail: Vec<(u32, u32)>,
    /// How many keys that are exactly `""` lead to the value being read.
    empty_keys: u32,
}

impl Reader<'_> {
    /// Only reached if the validated text does not read back: a bug, reported, not a panic.
    fn broken(&self) -> EventError {
        EventError::new("event could not be read", self.b, self.pos)
    }

    fn ws(&mut self) {
        self.pos = ws(self.b, self.pos);
    }

    fn peek(&self) -> Result<u8, EventError> {
        self.b.get(self.pos).copied().ok_or_else(|| self.broken())
    }

    /// Reads the string at `pos`; returns its unescaped bytes.
    fn string(&mut self) -> Result<Vec<u8>, EventError> {
        let (end, escaped) = string_end(self.b, self.pos).map_err(|_| self.broken())?;
        let raw = &self.b[self.pos + 1..end];
        let mut out = Vec::new();
        if escaped {
            unescape(raw, &mut out).map_err(|_| self.broken())?;
        } else {
            out.extend_from_slice(raw);
        }
        self.pos = end + 1;
        Ok(out)
    }

    fn push(&mut self, path: Option<&str>, start: usize, scalar: Scalar) {
        // A scalar at the top of the event (or in top-level arrays) is on no field path.
        if let Some(path) = path {
            self.out.values.push(Value {
                path: path.to_string(),
                span: (start, self.pos),
                trail: self.trail.clone(),
                scalar,
                alive: true,
                via_empty_key: self.empty_keys > 0,
            });
        }
    }

    fn value(&mut self, path: Option<&str>) -> Result<(), EventError> {
        let start = self.pos;
        match self.peek()? {
            b'{' => self.object(path),
            b'[' => self.array(path),
            b'"' => {
                let s = self.string()?;
                self.push(path, start, Scalar::String(s));
                Ok(())
            }
            b't' | b'f' | b'n' => {
                let (word, scalar): (&[u8], _) = match self.b[start] {
                    b't' => (b"true", Scalar::True),
                    b'f' => (b"false", Scalar::False),
                    _ => (b"null", Scalar::Null),
                };
                if !self.b[start..].starts_with(word) {
                    return Err(self.broken());
                }
                self.pos += word.len();
                self.push(path, start, scalar);
                Ok(())
            }
            _ => {
                self.pos = number_end(self.b, start).map_err(|_| self.broken())?;
                self.push(path, start, Scalar::Number);
                Ok(())
            }
        }
    }

    fn object(&mut self, path: Option<&str>) -> Result<(), EventError> {
        self.pos += 1;
        self.ws();
        // Per key seen: its text, unescaped, and the values and arrays its value produced.
        type Seen = (Vec<u8>, std::ops::Range<usize>, std::ops::Range<usize>);
        let mut seen: Vec<Seen> = Vec::new();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.ws();
            if self.peek()? != b':' {
                return Err(self.broken());
            }
            self.pos += 1;
            self.ws();
            let child = join_path(path, &String::from_utf8_lossy(&key));
            let (v0, a0) = (self.out.values.len(), self.out.arrays.len());
            let empty_key = key.is_empty();
            self.empty_keys += u32::from(empty_key);
            self.value(Some(&child))?;
            self.empty_keys -= u32::from(empty_key);
            let produced = (v0..self.out.values.len(), a0..self.out.arrays.len());
            match seen.iter_mut().find(|(k, _, _)| **k == *key) {
                Some(entry) => {
                    override_earlier(&mut self.out, entry.1.clone(), entry.2.clone());
                    (entry.1, entry.2) = produced;
                }
                None => seen.push((key.to_vec(), produced.0, produced.1)),
            }
            self.ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.ws();
                }
                b'}' => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.broken()),
            }
        }
    }

    fn array(&mut self, path: Option<&str>) -> Result<(), EventError> {
        let id = self.out.arrays.len();
        self.out.arrays.push(Array {
            path: path.map(str::to_string),
            span: (self.pos, self.pos),
            elements: Vec::new(),
            alive: true,
        });
        let start = self.pos;
        self.pos += 1;
        self.ws();
        if self.peek()? == b']' {
            self.pos += 1;
            self.out.arrays[id].span = (start, self.pos);
            return Ok(());
        }
        let mut index = 0u32;
        loop {
            let element_start = self.pos;
            self.trail.push((id as u32, index));
            self.value(path)?;
            self.trail.pop();
            self.out.arrays[id].elements.push((element_start, self.pos));
            index += 1;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.ws();
                }
                b']' => {
                    self.pos += 1;
                    self.out.arrays[id].span = (start, self.pos);
                    return Ok(());
                }
                _ => return Err(self.broken()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(event: &Event) -> Vec<(String, (usize, usize), bool)> {
        event
            .values
            .iter()
            .map(|v| (v.path.clone(), v.span, v.alive))
            .collect()
    }

    #[test]
    fn scalars_get_paths_spans_and_trails() {
        let text = br#"{"a": {"b": [1, "x"]}, "c.d": true, "": {"e": null}}"#;
        let event = read(text).unwrap();
        assert_eq!(
            paths(&event),
            vec![
                ("a.b".into(), (13, 14), true),
                ("a.b".into(), (16, 19), true),
                ("c.d".into(), (30, 34), true),
                (".e".into(), (46, 50), true),
            ]
        );
        assert_eq!(event.values[1].trail, vec![(0, 1)]);
        assert_eq!(event.arrays[0].span, (12, 20));
        assert_eq!(event.arrays[0].elements, vec![(13, 14), (16, 19)]);
        assert!(matches!(&event.values[1].scalar, Scalar::String(s) if s == b"x"));
        // Only the value under the key that is exactly `""` is marked.
        let marked: Vec<bool> = event.values.iter().map(|v| v.via_empty_key).collect();
        assert_eq!(marked, [false, false, false, true]);
        let event = read(br#"{"a.": {"": [{"b": 1}]}, "": 2, "x": {"": {"": 3}}}"#).unwrap();
        let paths: Vec<(&str, bool)> = event
            .values
            .iter()
            .map(|v| (v.path.as_str(), v.via_empty_key))
            .collect();
        assert_eq!(paths, [("a...b", true), ("", true), ("x..", true)]);
    }

    #[test]
    fn a_repeated_key_overrides_the_earlier_values() {
        let event = read(br#"{"a": [1], "b": 2, "a": {"c": 3}}"#).unwrap();
        let alive: Vec<(&str, bool)> = event
            .values
            .iter()
            .map(|v| (v.path.as_str(), v.alive))
            .collect();
        assert_eq!(alive, vec![("a", false), ("b", true), ("a.c", true)]);
        assert!(!event.arrays[0].alive);
        // Keys are compared unescaped: an escaped spelling repeats the key.
        let event = read(br#"{"a": 1, "\u0061": 2}"#).unwrap();
        let alive: Vec<(&str, bool)> = event
            .values
            .iter()
            .map(|v| (v.path.as_str(), v.alive))
            .collect();
        assert_eq!(alive, vec![("a", false), ("a", true)]);
    }

    #[test]
    fn errors_are_the_matchers() {
        for bad in [
            &b"{"[..],
            b"{\"a\": tru}",
            b"[1 2]",
            b"{\"a\": \"\\x\"}",
            b"{} x",
            b"\xff",
        ] {
            let want = validate_event(bad).unwrap_err();
            assert_eq!(read(bad).unwrap_err(), want);
        }
        let deep = "[".repeat(200);
        assert!(read(deep.as_bytes()).is_err());
    }

    #[test]
    fn top_level_scalars_and_arrays() {
        assert!(read(b" 3 ").unwrap().values.is_empty());
        let event = read(br#"[{"a": 1}, 2]"#).unwrap();
        assert_eq!(paths(&event), vec![("a".into(), (7, 8), true)]);
        assert_eq!(event.arrays[0].path, None);
    }
}
