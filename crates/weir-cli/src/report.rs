//! Where output goes: results to stdout (quiet on a closed pipe), errors and notices to
//! stderr as text or JSON.

use std::cell::{Cell, RefCell};
use std::io::{self, BufWriter, StdoutLock, Write};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use weir::json::SplitError;
use weir::{EventError, EventErrorKind, PatternError, PatternErrorKind, Position, Snippet};

use crate::input::Input;

/// How errors are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable, with the offending line and carets (drawn by `weir::Snippet`).
    Text,
    /// One JSON object per error.
    Json,
}

/// Why a command stopped before its end.
#[derive(Debug)]
pub enum Stop {
    /// Stdout was closed (as by `| head -1`): stop quietly.
    BrokenPipe,
    /// Stdout could not be written.
    Output(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Stop::BrokenPipe
        } else {
            Stop::Output(e)
        }
    }
}

/// Buffered stdout.
pub struct Out {
    w: BufWriter<StdoutLock<'static>>,
    /// Flush after every line (`--line-buffered`).
    pub line_buffered: bool,
}

impl Out {
    /// Locks stdout.
    pub fn new() -> Out {
        Out {
            w: BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
            line_buffered: false,
        }
    }

    /// Writes `bytes` and a line break.
    pub fn line(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.w.write_all(bytes)?;
        self.w.write_all(b"\n")?;
        if self.line_buffered {
            self.w.flush()?;
        }
        Ok(())
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> Result<(), Stop> {
        self.w.flush()?;
        Ok(())
    }
}

/// Prints errors and notices on stderr and counts the errors.
pub struct Reporter {
    format: Format,
    errors: Cell<usize>,
    /// Whether progress may be shown (stderr is a terminal, no `--no-progress`).
    pub progress_on: bool,
    bar: RefCell<Option<ProgressBar>>,
}

impl Reporter {
    /// A reporter printing in `format`.
    pub fn new(format: Format) -> Reporter {
        Reporter {
            format,
            errors: Cell::new(0),
            progress_on: false,
            bar: RefCell::new(None),
        }
    }

    /// The format errors (and `test --explain` reports) are printed in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// How many errors were reported.
    pub fn errors(&self) -> usize {
        self.errors.get()
    }

    fn emit(&self, text: &str, object: Value) {
        let write = || {
            let mut err = io::stderr().lock();
            // Nothing sensible is left to do when stderr itself is gone.
            let _ = match self.format {
                Format::Text => writeln!(err, "weir: {text}"),
                Format::Json => writeln!(err, "{object}"),
            };
        };
        match self.bar.borrow().as_ref() {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// The line [`message`](Reporter::message) would print, newline included (for a
    /// message that must be ready before it is known to be needed).
    pub fn message_line(&self, category: &str, message: &str) -> String {
        match self.format {
            Format::Text => format!("weir: {message}\n"),
            Format::Json => format!("{}\n", json!({"error": category, "message": message})),
        }
    }

    /// An error without a position, such as `cannot read FILE: reason`. `category` names it
    /// in JSON output.
    pub fn message(&self, category: &str, message: &str) {
        self.errors.set(self.errors.get() + 1);
        self.emit(message, json!({"error": category, "message": message}));
    }

    /// An invalid pattern read from `origin`; the positions are those of the pattern's text.
    pub fn pattern(&self, origin: &str, err: &PatternError) {
        self.errors.set(self.errors.get() + 1);
        let (start, end) = err
            .span()
            .map_or((None, None), |s| (Some(s.start), Some(s.end)));
        let text = format!("{origin}: {err}");
        self.emit(&text, pattern_json(origin, err, start, end, &text));
    }

    /// An invalid pattern cut out of a larger input at byte `base`: positions are given in
    /// the input, and the input's line is shown.
    pub fn pattern_in(&self, origin: &str, err: &PatternError, input: &str, base: usize) {
        self.errors.set(self.errors.get() + 1);
        let Some(snippet) = err.snippet_in(input, base) else {
            let text = format!("{origin}: {err}");
            self.emit(&text, pattern_json(origin, err, None, None, &text));
            return;
        };
        let text = format!("{origin}: {}\n{snippet}", err.reason());
        self.emit(
            &text,
            pattern_json(
                origin,
                err,
                Some(snippet.start()),
                Some(snippet.end()),
                &text,
            ),
        );
    }

    /// An event that could not be read; `base` is where the event starts in `origin`.
    pub fn event(&self, origin: &str, base: Position, err: &EventError) {
        let snippet = err.snippet().within(base);
        self.event_at(origin, snippet, err.reason(), err.kind().name());
    }

    /// An event that is JSON but not an object (`found` says what it is).
    pub fn not_object(&self, origin: &str, event: &[u8], base: Position, found: &str) {
        let snippet = Snippet::from_bytes(event, 0..1).within(base);
        let reason = format!("an event must be a JSON object, not {found}");
        self.event_at(origin, snippet, &reason, EventErrorKind::NotAnObject.name());
    }

    fn event_at(&self, origin: &str, snippet: Snippet<'_>, reason: &str, kind: &str) {
        self.errors.set(self.errors.get() + 1);
        let Position {
            offset,
            line,
            column,
        } = snippet.start();
        let text = format!(
            "{origin}:{line}:{column}: invalid event: {reason} (byte {offset})\n{}",
            snippet.source()
        );
        self.emit(
            &text,
            json!({
                "error": "event",
                "kind": kind,
                "source": origin,
                "reason": reason,
                "line": line,
                "column": column,
                "offset": offset,
                "message": text,
            }),
        );
    }

    /// An event the splitter could not cut out of `origin`.
    pub fn split(&self, origin: &str, err: &SplitError) {
        self.errors.set(self.errors.get() + 1);
        let (line, column, offset) = (err.line(), err.column(), err.offset());
        let reason = err.reason();
        let text = format!("{origin}:{line}:{column}: invalid event: {reason} (byte {offset})");
        self.emit(
            &text,
            json!({
                "error": "event",
                "kind": err.kind().name(),
                "source": origin,
                "reason": reason,
                "line": line,
                "column": column,
                "offset": offset,
                "message": text,
            }),
        );
    }

    /// A record that cannot be filtered as asked (an error): why.
    pub fn refused(&self, origin: &str, base: Position, reason: &str) {
        self.errors.set(self.errors.get() + 1);
        let Position {
            offset,
            line,
            column,
        } = base;
        let text = format!("{origin}:{line}:{column}: {reason}");
        self.emit(
            &text,
            json!({
                "error": "record",
                "source": origin,
                "reason": reason,
                "line": line,
                "column": column,
                "offset": offset,
                "message": text,
            }),
        );
    }

    /// A record that Lambda would drop rather than deliver (not an error).
    pub fn dropped(&self, origin: &str, base: Position, reason: &str) {
        let Position {
            offset,
            line,
            column,
        } = base;
        let text = format!("{origin}:{line}:{column}: record dropped: {reason}");
        self.emit(
            &text,
            json!({
                "notice": "dropped",
                "source": origin,
                "reason": reason,
                "line": line,
                "column": column,
                "offset": offset,
                "message": text,
            }),
        );
    }

    /// A notice that is not an error (what weir inferred).
    pub fn notice(&self, message: &str) {
        self.emit(message, json!({"notice": "info", "message": message}));
    }

    /// An invalid pattern read from `input`, with a hint when an inline value looks like
    /// a file name.
    pub fn pattern_hinted(&self, input: &Input, err: &PatternError) {
        self.pattern(&input.name, err);
        if let Some(hint) = input.path_hint() {
            self.emit(
                &format!("hint: {hint}"),
                json!({"notice": "hint", "message": hint}),
            );
        }
    }

    /// Shows progress on a terminal: `bytes` read and `events` cut since `started`, and
    /// `matched` so far. Shown only after a second, and only when asked for.
    pub fn progress(&self, started: Instant, bytes: u64, events: u64, matched: usize) {
        if !self.progress_on {
            return;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let mut bar = self.bar.borrow_mut();
        if bar.is_none() {
            if elapsed < 1.0 {
                return;
            }
            let shown = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            shown.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            *bar = Some(shown);
        }
        if let Some(shown) = bar.as_ref() {
            let per_s = |n: f64| n / elapsed.max(1e-9);
            shown.set_message(format!(
                "{:.1} MB read ({:.1} MB/s), {events} events ({:.0} events/s), {matched} matched",
                bytes as f64 / 1e6,
                per_s(bytes as f64) / 1e6,
                per_s(events as f64),
            ));
            shown.tick();
        }
    }

    /// Removes the progress line.
    pub fn progress_done(&self) {
        if let Some(bar) = self.bar.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }
}

/// Starts a `-n` output line: `{"line":N,` (and `"input":NAME,` when there are several
/// inputs) and the key of the value that follows.
pub fn numbered(out: &mut Vec<u8>, input: Option<&str>, line: usize, key: &str) {
    out.extend_from_slice(b"{\"line\":");
    out.extend_from_slice(line.to_string().as_bytes());
    if let Some(input) = input {
        out.extend_from_slice(b",\"input\":");
        out.extend_from_slice(Value::from(input).to_string().as_bytes());
    }
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// How to name the place of an error from a FilterCriteria file: an error inside a filter's
/// pattern has positions in the pattern's text, not in the file.
pub fn criteria_origin(file: &str, err: &PatternError) -> String {
    match err.filter() {
        Some(i) if err.kind() != PatternErrorKind::FilterCriteria => {
            format!("{file} (the pattern string of filter {i})")
        }
        _ => file.to_string(),
    }
}

fn pattern_json(
    origin: &str,
    err: &PatternError,
    start: Option<Position>,
    end: Option<Position>,
    text: &str,
) -> Value {
    json!({
        "error": "pattern",
        "source": origin,
        "reason": err.reason(),
        "kind": err.kind().name(),
        "line": start.map(|p| p.line),
        "column": start.map(|p| p.column),
        "offset": start.map(|p| p.offset),
        "end_line": end.map(|p| p.line),
        "end_column": end.map(|p| p.column),
        "end_offset": end.map(|p| p.offset),
        "path": err.path(),
        "rule": err.rule(),
        "filter": err.filter(),
        "aws_message": err.aws_message(),
        "message": text,
    })
}
