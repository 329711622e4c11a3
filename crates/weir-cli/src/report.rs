//! Where output goes: results to stdout (quiet on a closed pipe), errors and notices to
//! stderr as text or JSON.

use std::cell::Cell;
use std::io::{self, BufWriter, StdoutLock, Write};

use serde_json::{json, Value};
use weir::{PatternError, PatternErrorKind, Position};

use crate::input::LineIndex;

/// How errors are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable, with the offending line and carets.
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
}

impl Out {
    /// Locks stdout.
    pub fn new() -> Out {
        Out {
            w: BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
        }
    }

    /// Writes `bytes` and a line break.
    pub fn line(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.w.write_all(bytes)?;
        self.w.write_all(b"\n")?;
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
}

/// Lines longer than this (in characters) are shown as a window around the error.
const MAX_SHOWN: usize = 120;

impl Reporter {
    /// A reporter printing in `format`.
    pub fn new(format: Format) -> Reporter {
        Reporter {
            format,
            errors: Cell::new(0),
        }
    }

    /// How many errors were reported.
    pub fn errors(&self) -> usize {
        self.errors.get()
    }

    fn emit(&self, text: &str, object: Value) {
        let mut err = io::stderr().lock();
        // Nothing sensible is left to do when stderr itself is gone.
        let _ = match self.format {
            Format::Text => writeln!(err, "weir: {text}"),
            Format::Json => writeln!(err, "{object}"),
        };
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
    /// the input.
    pub fn pattern_in(&self, origin: &str, err: &PatternError, index: &LineIndex, base: usize) {
        self.errors.set(self.errors.get() + 1);
        let Some(span) = err.span() else {
            let text = format!("{origin}: {err}");
            self.emit(&text, pattern_json(origin, err, None, None, &text));
            return;
        };
        let locate = |p: Position| index.locate(base + p.offset);
        let (start, end) = (locate(span.start), locate(span.end));
        let mut context = Vec::new();
        if let Some(rule) = err.rule() {
            context.push(format!("rule {rule:?}"));
        }
        if let Some(filter) = err.filter() {
            context.push(format!("filter {filter}"));
        }
        context.push(format!(
            "line {}, column {} (byte {})",
            start.line, start.column, start.offset
        ));
        if !err.path().is_empty() {
            context.push(format!("at {}", err.path()));
        }
        let line = String::from_utf8_lossy(index.line_text(start.line));
        let width = if end.line == start.line {
            end.column.saturating_sub(start.column).max(1)
        } else {
            line.chars().count().saturating_sub(start.column - 1).max(1)
        };
        let text = format!(
            "{origin}: {}\n  --> {}{}",
            err.reason(),
            context.join(", "),
            caret(&line, start.line, start.column, width)
        );
        self.emit(
            &text,
            pattern_json(origin, err, Some(start), Some(end), &text),
        );
    }

    /// An event that could not be read: `offset` is the byte of `origin` where reading failed.
    pub fn event(&self, origin: &str, index: &LineIndex, offset: usize, reason: &str) {
        self.errors.set(self.errors.get() + 1);
        let Position {
            offset,
            line,
            column,
        } = index.locate(offset);
        let text = format!(
            "{origin}:{line}:{column}: invalid event: {reason} (byte {offset}){}",
            caret(
                &String::from_utf8_lossy(index.line_text(line)),
                line,
                column,
                1
            )
        );
        self.emit(
            &text,
            json!({
                "error": "event",
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
    pub fn dropped(&self, origin: &str, index: &LineIndex, offset: usize, reason: &str) {
        let Position {
            offset,
            line,
            column,
        } = index.locate(offset);
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

fn kind_name(kind: PatternErrorKind) -> &'static str {
    match kind {
        PatternErrorKind::Syntax => "syntax",
        PatternErrorKind::Invalid => "invalid",
        PatternErrorKind::Limit => "limit",
        PatternErrorKind::Unsupported => "unsupported",
        PatternErrorKind::FilterCriteria => "filter_criteria",
        _ => "other",
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
        "kind": kind_name(err.kind()),
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

/// The lines showing `line` (numbered `number`) with `width` carets under `column`; long lines
/// are cut to a window around the column.
fn caret(line: &str, number: usize, column: usize, width: usize) -> String {
    let chars: Vec<char> = line.chars().collect();
    let (shown, column, width) = if chars.len() <= MAX_SHOWN {
        (line.to_string(), column, width)
    } else {
        let from = column.saturating_sub(1 + MAX_SHOWN / 2);
        let to = (from + MAX_SHOWN).min(chars.len());
        let mut shown = String::new();
        let mut column = column - from;
        if from > 0 {
            shown.push_str("...");
            column += 3;
        }
        shown.extend(&chars[from..to]);
        if to < chars.len() {
            shown.push_str("...");
        }
        (shown, column, width.min(to + 1 - from))
    };
    let gutter = number.to_string();
    let pad = " ".repeat(gutter.len());
    format!(
        "\n{pad} |\n{gutter} | {shown}\n{pad} | {}{}",
        " ".repeat(column.saturating_sub(1)),
        "^".repeat(width.max(1))
    )
}
