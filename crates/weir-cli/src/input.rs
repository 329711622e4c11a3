//! Reading inputs (files, stdin, inline JSON) and cutting them into events.

use std::io::Read;
use std::path::Path;

use weir::{Position, Snippet};

/// A loaded input: where it came from and its bytes.
pub struct Input {
    /// How errors name it: a file path, `<stdin>`, or the flag it was given to.
    pub name: String,
    /// The raw bytes.
    pub bytes: Vec<u8>,
}

impl Input {
    /// The bytes as UTF-8 text, or an error naming the first bad byte.
    pub fn text(&self) -> Result<&str, String> {
        std::str::from_utf8(&self.bytes)
            .map_err(|e| format!("{}: not valid UTF-8 (byte {})", self.name, e.valid_up_to()))
    }
}

/// Reads a file, or stdin for `-`. The error reads `cannot read FILE: reason`.
pub fn read_path(path: &Path) -> Result<Input, String> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        return match std::io::stdin().lock().read_to_end(&mut bytes) {
            Ok(_) => Ok(Input {
                name: "<stdin>".to_string(),
                bytes,
            }),
            Err(e) => Err(format!("cannot read <stdin>: {e}")),
        };
    }
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => Ok(Input { name, bytes }),
        Err(e) => Err(format!("cannot read {name}: {}", io_reason(&e))),
    }
}

/// Reads a flag value that holds JSON inline, `file://PATH`, or `-` for stdin.
pub fn read_arg(flag: &str, value: &str) -> Result<Input, String> {
    if let Some(path) = value.strip_prefix("file://") {
        return read_path(Path::new(path));
    }
    if value == "-" {
        return read_path(Path::new("-"));
    }
    Ok(Input {
        name: flag.to_string(),
        bytes: value.as_bytes().to_vec(),
    })
}

/// An I/O error's reason without Rust's `(os error N)` suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// How an input holds its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One JSON value (possibly spanning lines).
    Single,
    /// A JSON array whose elements are the events.
    Array,
    /// One event per line.
    Jsonl,
}

/// One event cut out of an input.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    /// The event's bytes, surrounding whitespace trimmed.
    pub bytes: &'a [u8],
    /// Byte offset of `bytes` in the input.
    pub offset: usize,
    /// For JSONL inputs, the 1-based line number.
    pub line: Option<usize>,
}

/// The events of an input and how they were laid out. JSONL inputs give one event per
/// non-blank line.
pub fn split(bytes: &[u8]) -> (Layout, Vec<Event<'_>>) {
    let start = skip_ws(bytes, 0);
    if start == bytes.len() {
        return (Layout::Single, Vec::new());
    }
    if let Some(end) = value_end(bytes, start) {
        if skip_ws(bytes, end) == bytes.len() {
            if bytes[start] == b'[' {
                return (Layout::Array, array_elements(bytes, start, end));
            }
            return (
                Layout::Single,
                vec![Event {
                    bytes: &bytes[start..end],
                    offset: start,
                    line: None,
                }],
            );
        }
    }
    let events = lines(bytes)
        // Blank lines are skipped the way `Matcher::match_jsonl` skips them.
        .filter(|(_, _, line)| line.iter().any(|b| !b.is_ascii_whitespace()))
        .map(|(number, offset, line)| {
            let s = skip_ws(line, 0);
            let e = trim_end(line).max(s);
            Event {
                bytes: &line[s..e],
                offset: offset + s,
                line: Some(number),
            }
        })
        .collect();
    (Layout::Jsonl, events)
}

/// Every line of `bytes` as (1-based number, offset of its first byte, bytes without the
/// line break).
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, usize, &[u8])> {
    let mut offset = 0;
    bytes.split(|&b| b == b'\n').enumerate().map(move |(i, l)| {
        let start = offset;
        offset += l.len() + 1;
        (i + 1, start, l.strip_suffix(b"\r").unwrap_or(l))
    })
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && is_ws(bytes[i]) {
        i += 1;
    }
    i
}

fn trim_end(bytes: &[u8]) -> usize {
    let mut e = bytes.len();
    while e > 0 && is_ws(bytes[e - 1]) {
        e -= 1;
    }
    e
}

/// One past the end of the string starting with the quote at `start`, if it is closed.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// One past the end of the JSON value starting at `start` (a non-space byte), judged by
/// structure only: brackets balance outside strings. Validity is left to the matcher, which
/// reports a positioned error.
pub fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match *bytes.get(start)? {
        b'"' => string_end(bytes, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while i < bytes.len() {
                match bytes[i] {
                    b'"' => {
                        i = string_end(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let mut i = start;
            while i < bytes.len() && !is_ws(bytes[i]) && !matches!(bytes[i], b',' | b']' | b'}') {
                i += 1;
            }
            Some(i.max(start + 1))
        }
    }
}

/// The elements of the array `bytes[start..end]` (balanced, as found by [`value_end`]).
fn array_elements(bytes: &[u8], start: usize, end: usize) -> Vec<Event<'_>> {
    let inner_start = start + 1;
    let inner_end = end - 1;
    if skip_ws(bytes, inner_start) >= inner_end {
        return Vec::new();
    }
    let mut events = Vec::new();
    let mut depth = 0usize;
    let mut piece = inner_start;
    let mut i = inner_start;
    let mut push = |from: usize, to: usize| {
        let s = skip_ws(&bytes[..to], from);
        let e = from + trim_end(&bytes[from..to]);
        let e = e.max(s);
        events.push(Event {
            bytes: &bytes[s..e],
            offset: s,
            line: None,
        });
    };
    while i < inner_end {
        match bytes[i] {
            b'"' => {
                // Balanced by construction: the string closes before `end`.
                i = string_end(bytes, i).unwrap_or(inner_end);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                push(piece, i);
                piece = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    push(piece, inner_end);
    events
}

/// Removes whitespace outside strings, so that a multi-line event prints on one line.
pub fn compact(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let end = string_end(bytes, i).unwrap_or(bytes.len());
                out.extend_from_slice(&bytes[i..end]);
                i = end;
                continue;
            }
            b if is_ws(b) => {}
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The line starts of one input, to place a byte offset of it (an error) without counting
/// from the input's start each time.
pub struct LineIndex<'a> {
    bytes: &'a [u8],
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes the line starts of `bytes`.
    pub fn new(bytes: &'a [u8]) -> LineIndex<'a> {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1));
        LineIndex { bytes, starts }
    }

    /// The caret report of bytes `start..end` of the input (clamped to it): the input from the
    /// start's line on, placed at that line, so only that part is counted.
    pub fn snippet(&self, start: usize, end: usize) -> Snippet<'a> {
        let start = start.min(self.bytes.len());
        let line = self.starts.partition_point(|&s| s <= start);
        let line_start = self.starts[line - 1];
        Snippet::from_bytes(
            &self.bytes[line_start..],
            start - line_start..end.max(start) - line_start,
        )
        .within(Position {
            offset: line_start,
            line,
            column: 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(events: &[Event<'a>]) -> Vec<&'a str> {
        events
            .iter()
            .map(|e| std::str::from_utf8(e.bytes).unwrap())
            .collect()
    }

    #[test]
    fn layouts() {
        let (l, e) = split(b" {\"a\": [1,\n 2]}\n");
        assert_eq!(l, Layout::Single);
        assert_eq!(texts(&e), ["{\"a\": [1,\n 2]}"]);
        assert_eq!(e[0].offset, 1);

        let (l, e) = split(b"[{\"a\": \"],\"}, 2 ,\n[3] ]");
        assert_eq!(l, Layout::Array);
        assert_eq!(texts(&e), ["{\"a\": \"],\"}", "2", "[3]"]);
        assert_eq!(e[1].offset, 14);

        let (l, e) = split(b"{\"a\": 1}\n\n  {\"a\": 2}\r\n[1]");
        assert_eq!(l, Layout::Jsonl);
        assert_eq!(texts(&e), ["{\"a\": 1}", "{\"a\": 2}", "[1]"]);
        assert_eq!(e[1].offset, 12);

        assert_eq!(split(b"[]").1.len(), 0);
        assert_eq!(split(b"  \n").1.len(), 0);
        // Unbalanced: read line by line.
        assert_eq!(split(b"{\"a\": \"x\n{}").0, Layout::Jsonl);
        // Empty elements are kept, for the matcher to refuse.
        assert_eq!(texts(&split(b"[1,,2,]").1), ["1", "", "2", ""]);
        assert_eq!(texts(&split(b"\"s\"").1), ["\"s\""]);
        assert_eq!(texts(&split(b"tru").1), ["tru"]);
    }

    #[test]
    fn compacts_outside_strings() {
        assert_eq!(
            compact(b"{\n  \"a b\": [1, \"x\\\" y\"]\n}"),
            b"{\"a b\":[1,\"x\\\" y\"]}"
        );
    }

    #[test]
    fn positions() {
        let bytes = "ab\nçd\n".as_bytes();
        let idx = LineIndex::new(bytes);
        let at = |offset: usize| {
            let p = idx.snippet(offset, offset).start();
            (p.offset, p.line, p.column)
        };
        assert_eq!(at(0), (0, 1, 1));
        assert_eq!(at(3), (3, 2, 1));
        assert_eq!(at(5), (5, 2, 2));
        assert_eq!(at(99), (7, 3, 1));
        // The same as counting from the start.
        for offset in 0..=bytes.len() {
            assert_eq!(
                idx.snippet(offset, offset).start(),
                weir::Position::at_bytes(bytes, offset)
            );
        }
        assert_eq!(
            idx.snippet(5, 6).to_string(),
            "  --> line 2, column 2 (byte 5)\n  |\n2 | çd\n  |  ^"
        );
        assert_eq!(idx.snippet(7, 7).source().to_string(), "  |\n3 | \n  | ^");
    }
}
