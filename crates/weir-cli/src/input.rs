//! Reading inputs (files, stdin, inline JSON) and cutting them into events.

use std::io::Read;
use std::path::Path;

use weir::json::Checking;
pub use weir::json::{Event, LineIndex, SplitError};

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

/// The events of an input, in order, as the library cuts them (any layout: one value, a
/// top-level array, JSONL, a stream of values). Only boundaries are found: the matcher
/// validates each event and positions its errors; what breaks the layout itself (an empty
/// array element, a value that never ends) is an error item here.
pub fn split(bytes: &[u8]) -> Vec<Result<Event<'_>, SplitError>> {
    weir::json::split(bytes)
        .checking(Checking::Boundaries)
        .collect()
}

/// An event on one line: its own bytes, or compacted when it spans lines.
pub fn one_line<'a>(event: &Event<'a>, buf: &'a mut Vec<u8>) -> &'a [u8] {
    if event.bytes.contains(&b'\n') || event.bytes.contains(&b'\r') {
        buf.clear();
        weir::json::compact_into(event.bytes, buf);
        buf
    } else {
        event.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_their_one_line_form() {
        let items = split(b"[{\"a\": 1},\n {\"a\": \"x y\",\n  \"b\": [1]}, ]");
        assert_eq!(items.len(), 3);
        let mut buf = Vec::new();
        let second = items[1].as_ref().unwrap();
        assert_eq!(one_line(second, &mut buf), b"{\"a\":\"x y\",\"b\":[1]}");
        let first = items[0].as_ref().unwrap();
        assert_eq!(one_line(first, &mut buf), b"{\"a\": 1}");
        let err = items[2].as_ref().unwrap_err();
        assert!(err.reason().contains("empty array element"), "{err}");
    }
}
