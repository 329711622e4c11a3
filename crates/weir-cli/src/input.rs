//! Reading inputs (files, stdin, inline JSON) and cutting them into events.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use weir::json::Event;

use crate::Ctx;

/// A loaded input: where it came from and its bytes.
pub struct Input {
    /// How errors name it: a file path, `<stdin>`, or the flag it was given to.
    pub name: String,
    /// The raw bytes.
    pub bytes: Vec<u8>,
    /// Whether the bytes were given inline, as a flag's value (not a file or stdin).
    pub inline: bool,
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
                inline: false,
            }),
            Err(e) => Err(format!("cannot read <stdin>: {e}")),
        };
    }
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => Ok(Input {
            name,
            bytes,
            inline: false,
        }),
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
        inline: true,
    })
}

impl Input {
    /// For an inline value that is not JSON but looks like a file name (`--event
    /// event.json`): a hint to write `file://`.
    pub fn path_hint(&self) -> Option<String> {
        if !self.inline {
            return None;
        }
        let text = std::str::from_utf8(&self.bytes).ok()?.trim();
        let first = text.chars().next()?;
        if "{[\"-0123456789".contains(first) || matches!(text, "true" | "false" | "null") {
            return None;
        }
        let looks_like_path = Path::new(text).exists()
            || text.contains('/')
            || text.contains('\\')
            || Path::new(text).extension().is_some();
        looks_like_path.then(|| {
            let exists = if Path::new(text).exists() {
                ""
            } else {
                " (no such file here)"
            };
            format!(
                "{} takes JSON text; to read the file {text:?}{exists}, write file://{text}",
                self.name
            )
        })
    }
}

/// Refuses stdin named twice: by two flags, or by a flag and the event inputs (none given
/// means stdin). Reports the error and returns false.
pub fn refuse_stdin_twice(flags: &[(&str, OsString)], events: &[PathBuf], ctx: &Ctx) -> bool {
    let mut users: Vec<String> = flags
        .iter()
        .filter(|(_, value)| value == "-" || value == "file://-")
        .map(|(flag, _)| format!("{flag} -"))
        .collect();
    let stdin_events = events.iter().filter(|p| p.as_os_str() == "-").count();
    if events.is_empty() && !users.is_empty() {
        users.push("the events (read from stdin when no file is given)".to_string());
    }
    for _ in 0..stdin_events {
        users.push("the events' -".to_string());
    }
    if users.len() < 2 {
        return true;
    }
    ctx.report.message(
        "usage",
        &format!(
            "stdin can be read only once, but {} all name it",
            users.join(" and ")
        ),
    );
    false
}

/// An I/O error's reason without Rust's `(os error N)` suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
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
    fn one_line_form() {
        let input = b"[{\"a\": 1},\n {\"a\": \"x y\",\n  \"b\": [1]}]";
        let items: Vec<_> = weir::json::split(input).collect::<Result<_, _>>().unwrap();
        let mut buf = Vec::new();
        assert_eq!(one_line(&items[1], &mut buf), b"{\"a\":\"x y\",\"b\":[1]}");
        assert_eq!(one_line(&items[0], &mut buf), b"{\"a\": 1}");
    }

    #[test]
    fn path_hints() {
        let hint = |v: &str| read_arg("--event", v).unwrap().path_hint();
        assert!(hint("nosuch.json").unwrap().contains("file://nosuch.json"));
        assert!(hint("dir/ev").unwrap().contains("no such file"));
        assert_eq!(hint("{\"a\": 1"), None);
        assert_eq!(hint("tru"), None);
        assert_eq!(hint("[1"), None);
    }
}
