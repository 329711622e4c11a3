//! Cutting a buffer or a stream of blocks into events.
//!
//! One state machine ([`Cutter`]) does the work for both the whole-buffer [`Splitter`] and the
//! block-fed [`StreamSplitter`]: it looks at a window of the input (absolute offsets, the
//! window starting at `base`), returns the next event, error or "need more input", and keeps
//! whatever it needs to resume in a few words of state, so no byte is scanned twice however
//! the input is cut.

use std::io::{self, Read};

use super::skip::{walk_container, Walk};
use super::validate::ws;
use crate::error::lead_count;
use crate::error::EventErrorKind;

/// How an input holds its events.
///
/// # Example
/// ```
/// use weir::json::{Layout, Splitter};
/// let input = b"{\"a\": 1}\n{\"a\": 2}\n";
/// let mut events = Splitter::new(input).layout(Layout::Jsonl);
/// assert_eq!(events.next().unwrap()?.line, 1);
/// assert_eq!(events.next().unwrap()?.line, 2);
/// assert!(events.next().is_none());
/// # Ok::<(), weir::json::SplitError>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Decided from the input's start: a top-level array gives its elements (and detection
    /// starts again after it). Otherwise the first value decides: one that ends on its first
    /// line, followed by a line break, makes the input JSONL; one that ends on a later line
    /// makes it a [`Layout::Stream`] (decided, and the value handed out, as soon as it ends);
    /// one that never ends, or is still open where a later line starts with `{` (no pretty
    /// printer writes that inside a value), makes it JSONL (its lines are read one by one;
    /// decided at that line, so a broken first line holds nothing back).
    #[default]
    Auto,
    /// Exactly one JSON value, possibly over many lines. Anything after it is one error.
    Single,
    /// Top-level JSON arrays (usually one) whose elements are the events. An element is the
    /// text between two top-level commas: a broken element is one error and the next element
    /// follows it. A top-level value that is not an array is one error.
    Array,
    /// One event per line (`\n` or `\r\n`); blank lines are skipped; a broken line is one
    /// error and the next line follows it.
    Jsonl,
    /// JSON values separated by whitespace, each over any number of lines (what `jq .`
    /// prints). A value's end is found by its brackets (outside strings); a broken value is
    /// one error and the next value starts after its end. A value whose brackets never close
    /// runs to the end of the input: one error.
    Stream,
}

/// How much the splitter checks of each event.
///
/// # Example
/// ```
/// use weir::json::{Checking, Splitter};
/// let input = b"{\"a\": tru}\n";
/// assert!(Splitter::new(input).next().unwrap().is_err());
/// let lax = Splitter::new(input).checking(Checking::Boundaries).next().unwrap()?;
/// assert_eq!(lax.bytes, b"{\"a\": tru}"); // for the matcher to validate
/// # Ok::<(), weir::json::SplitError>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Checking {
    /// Every event is validated as [`validate`](super::validate()) does (UTF-8, grammar,
    /// escapes, control characters, nesting): a malformed event is an error item.
    #[default]
    Validate,
    /// Only the boundaries are found (brackets outside strings, lines): events go out
    /// unchecked, for a consumer that validates anyway, such as a validating
    /// [`Matcher`](crate::Matcher). Only what breaks the layout itself is an error (an empty
    /// array element, a value that never ends, text after a single value).
    Boundaries,
}

/// One event cut out of an input.
///
/// # Example
/// ```
/// let input = b"[\n  {\"a\": 1},\n  {\"a\": 2}\n]";
/// let events: Vec<_> = weir::json::split(input).collect::<Result<_, _>>()?;
/// assert_eq!(events[1].bytes, b"{\"a\": 2}");
/// assert_eq!((events[1].offset, events[1].line, events[1].column), (16, 3, 3));
/// # Ok::<(), weir::json::SplitError>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// The event's bytes, without surrounding whitespace.
    pub bytes: &'a [u8],
    /// Byte offset of `bytes` in the input.
    pub offset: usize,
    /// 1-based line of the event's first byte.
    pub line: usize,
    /// 1-based column (in characters) of the event's first byte. An error the matcher finds
    /// at line `l`, column `c` of the event is at line `line + l - 1` of the input, and on
    /// the event's first line at column `column + c - 1`.
    pub column: usize,
}

/// An event the splitter could not cut or (with [`Checking::Validate`]) read: why, where
/// (offset, line and column in the whole input) and where the broken event starts.
///
/// # Example
/// ```
/// let input = b"{\"a\": 1}\n{\"a\": tru}\n{\"a\": 3}\n";
/// let items: Vec<_> = weir::json::split(input).collect();
/// let err = items[1].as_ref().unwrap_err();
/// assert_eq!(err.reason(), "expected a JSON value");
/// assert_eq!((err.offset(), err.line(), err.column()), (15, 2, 7));
/// assert_eq!(err.event_offset(), 9);
/// assert!(items[2].is_ok()); // splitting goes on
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitError {
    kind: EventErrorKind,
    reason: &'static str,
    offset: usize,
    line: usize,
    column: usize,
    event_offset: usize,
    event_line: usize,
}

impl SplitError {
    /// Why the event is broken.
    ///
    /// # Example
    /// ```
    /// let err = weir::json::split(b"[1,,2]").nth(1).unwrap().unwrap_err();
    /// assert_eq!(err.reason(), "expected a JSON value (empty array element)");
    /// ```
    pub fn reason(&self) -> &str {
        self.reason
    }

    /// What kind of mistake broke the event (as [`EventError::kind`](crate::EventError::kind)
    /// names it).
    ///
    /// # Example
    /// ```
    /// use weir::EventErrorKind;
    /// let err = weir::json::split(b"{\"a\": 1").find_map(Result::err).unwrap();
    /// assert_eq!(err.kind(), EventErrorKind::UnexpectedEnd);
    /// let err = weir::json::split(b"[1,,2]").find_map(Result::err).unwrap();
    /// assert_eq!(err.kind(), EventErrorKind::Syntax);
    /// ```
    pub fn kind(&self) -> EventErrorKind {
        self.kind
    }

    /// Byte offset of the problem in the input.
    ///
    /// # Example
    /// ```
    /// let err = weir::json::split(b"{\"a\": [1, 2}").next().unwrap().unwrap_err();
    /// assert_eq!(err.offset(), 11);
    /// ```
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// 1-based line of the problem.
    ///
    /// # Example
    /// ```
    /// let err = weir::json::split(b"{\n\"a\": x\n}").next().unwrap().unwrap_err();
    /// assert_eq!(err.line(), 2);
    /// ```
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column (in characters) of the problem.
    ///
    /// # Example
    /// ```
    /// let err = weir::json::split(b"{\n\"a\": x\n}").next().unwrap().unwrap_err();
    /// assert_eq!(err.column(), 6);
    /// ```
    pub fn column(&self) -> usize {
        self.column
    }

    /// Byte offset where the broken event starts (for an empty array element: where the
    /// element should have been).
    ///
    /// # Example
    /// ```
    /// let err = weir::json::split(b"{}\n  {x}\n").nth(1).unwrap().unwrap_err();
    /// assert_eq!((err.event_offset(), err.offset()), (5, 6));
    /// ```
    pub fn event_offset(&self) -> usize {
        self.event_offset
    }

    /// 1-based line where the broken event starts.
    ///
    /// # Example
    /// ```
    /// use weir::json::{Layout, Splitter};
    /// let input = b"{}\n{\n\"a\": x}";
    /// let err = Splitter::new(input).layout(Layout::Stream).nth(1).unwrap().unwrap_err();
    /// assert_eq!((err.event_line(), err.line()), (2, 3));
    /// ```
    pub fn event_line(&self) -> usize {
        self.event_line
    }
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid event: {} at line {}, column {} (byte {})",
            self.reason, self.line, self.column, self.offset
        )
    }
}

impl std::error::Error for SplitError {}

/// Why a cut failed: the kind and the reason text.
type Why = (EventErrorKind, &'static str);

const EOF: Why = (EventErrorKind::UnexpectedEnd, "unexpected end of input");
const EMPTY_ELEMENT: Why = (
    EventErrorKind::Syntax,
    "expected a JSON value (empty array element)",
);
const NOT_AN_ARRAY: Why = (EventErrorKind::Syntax, "expected a JSON array");
const TRAILING: Why = (
    EventErrorKind::TrailingContent,
    "trailing characters after the JSON value",
);

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\t' | b'\r')
}

/// Line and column counting as the cut moves forward: the line of `pos` and where that line
/// starts; and the column's character count up to `col_at` (on the current line, or before
/// it when stale), so that columns are counted incrementally, once per byte, even when a
/// stream has dropped the start of the line.
#[derive(Clone, Copy, Debug)]
struct Lines {
    pos: usize,
    line: usize,
    line_start: usize,
    col_at: usize,
    col: usize,
}

impl Lines {
    fn new() -> Lines {
        Lines {
            pos: 0,
            line: 1,
            line_start: 0,
            col_at: 0,
            col: 0,
        }
    }

    /// Moves to `to` (not before `pos`), counting the line breaks passed.
    #[inline]
    fn advance(&mut self, w: &[u8], base: usize, to: usize) {
        if to <= self.pos {
            return;
        }
        let seg = &w[self.pos - base..to - base];
        if let Some(last) = memchr::memrchr(b'\n', seg) {
            self.line += 1 + memchr::memchr_iter(b'\n', &seg[..last]).count();
            self.line_start = self.pos + last + 1;
        }
        self.pos = to;
    }

    /// The 1-based column of `at`, which [`Lines::advance`] has reached (positions asked
    /// for never go back).
    #[inline]
    fn column(&mut self, w: &[u8], base: usize, at: usize) -> usize {
        if self.col_at < self.line_start {
            self.col_at = self.line_start;
            self.col = 0;
        }
        if at > self.col_at {
            self.col += lead_count(&w[self.col_at - base..at - base]);
            self.col_at = at;
        }
        self.col + 1
    }

    /// Before the window drops everything before `keep`: count up to it.
    fn before_drop(&mut self, w: &[u8], base: usize, keep: usize) {
        self.advance(w, base, keep);
        self.column(w, base, keep);
    }
}

/// A value being scanned: which kind, and where to resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    /// Inside a container at `depth`, in a string or not.
    Container { depth: u64, in_string: bool },
    /// Inside a string.
    Str,
    /// A number, literal or stray text: up to the next delimiter.
    Scalar,
}

/// The result of scanning a value within a window.
enum Scan {
    /// The value ends at this (absolute) offset.
    Done(usize),
    /// The window ended first: resume at this offset in this state.
    More(usize, Tok),
}

/// Where, from `from` on in the window, the first line break followed by `{` is (`true`):
/// the scan of an open first value stops there. Without one, the window's end (`false`), or,
/// when the window ends on a line break whose next byte has not come, that line break
/// (`false`: decided once it comes). Offsets are absolute.
fn unindented_object(w: &[u8], base: usize, from: usize, end: usize, eof: bool) -> (usize, bool) {
    let mut i = from;
    while let Some(k) = memchr::memchr(b'\n', &w[i - base..end - base]) {
        let nl = i + k;
        match w.get(nl + 1 - base) {
            Some(b'{') => return (nl, true),
            None if !eof => return (nl, false),
            _ => i = nl + 1,
        }
    }
    (end, false)
}

/// Starts a value at `at` (a non-whitespace byte `c`): the token and where its scan goes on.
#[inline]
fn start_token(c: u8, at: usize) -> (Tok, usize) {
    match c {
        b'{' | b'[' => (
            Tok::Container {
                depth: 1,
                in_string: false,
            },
            at + 1,
        ),
        b'"' => (Tok::Str, at + 1),
        _ => (Tok::Scalar, at + 1),
    }
}

/// Scans a value from `pos` in state `tok` over the window `w` (starting at `base`); `last`:
/// nothing follows the window, so a scalar ends with it.
#[inline]
fn scan_token(w: &[u8], base: usize, pos: usize, tok: Tok, last: bool) -> Scan {
    let end = base + w.len();
    if pos > end {
        return Scan::More(pos, tok);
    }
    match tok {
        Tok::Container { depth, in_string } => {
            match walk_container(w, pos - base, depth, in_string) {
                Walk::Closed(e) => Scan::Done(base + e),
                Walk::Open {
                    pos,
                    depth,
                    in_string,
                } => Scan::More(base + pos, Tok::Container { depth, in_string }),
            }
        }
        Tok::Str => {
            let mut i = pos - base;
            loop {
                match memchr::memchr2(b'"', b'\\', &w[i..]) {
                    None => return Scan::More(end, Tok::Str),
                    Some(k) if w[i + k] == b'"' => return Scan::Done(base + i + k + 1),
                    Some(k) => {
                        i += k + 2;
                        if i > w.len() {
                            return Scan::More(base + i, Tok::Str);
                        }
                    }
                }
            }
        }
        Tok::Scalar => {
            let rest = &w[pos - base..];
            match rest
                .iter()
                .position(|&b| is_ws(b) || matches!(b, b',' | b']' | b'}' | b'{' | b'[' | b'"'))
            {
                Some(k) => Scan::Done(pos + k),
                None if last => Scan::Done(end),
                None => Scan::More(end, Tok::Scalar),
            }
        }
    }
}

/// Where the cut is.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Nothing read yet (the byte order mark is still to be looked for).
    Start,
    /// Auto: looking at the first value to choose between JSONL and a stream; `tok` is the
    /// first value's scan (`None` once it ended at `pos`), `multiline` once it went on past
    /// its first line.
    Detect {
        start: usize,
        tok: Option<Tok>,
        multiline: bool,
    },
    /// Between top-level values of a stream (or a single value, or arrays).
    Top,
    /// In a top-level value: `start` is its first byte.
    Value { start: usize, tok: Tok },
    /// JSONL: at the start of a line, or (`from`) searching its end.
    Line { from: usize },
    /// In a top-level array, in the element that starts at `start` (`None`: not yet seen a
    /// byte of it), whose last value ended at `last_end`; `tok` while inside a value.
    Element {
        start: Option<usize>,
        last_end: usize,
        tok: Option<Tok>,
        first: bool,
    },
    /// After a single value: only whitespace may follow.
    AfterSingle,
    /// The input is used up (or, for a single value, what follows it was reported).
    Finished,
}

/// The next thing the cut found.
#[derive(Debug)]
pub(crate) enum Step {
    /// Start, end, line and column.
    Event(usize, usize, usize, usize),
    Error(SplitError),
    More,
    End,
}

/// The splitting state machine (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Cutter {
    layout: Layout,
    chosen: Layout,
    checking: Checking,
    phase: Phase,
    pos: usize,
    lines: Lines,
    scratch: Vec<u8>,
    /// How far the searches for line breaks have asked for bytes ahead (an offset).
    asked: usize,
}

impl Cutter {
    pub(crate) fn new(layout: Layout, checking: Checking) -> Cutter {
        Cutter {
            layout,
            chosen: layout,
            checking,
            phase: Phase::Start,
            pos: 0,
            lines: Lines::new(),
            scratch: Vec::new(),
            asked: 0,
        }
    }

    /// The layout in use: the one asked for, or what `Auto` chose once it knows.
    fn current_layout(&self) -> Layout {
        self.chosen
    }

    /// The first offset the cut may still need.
    fn keep_from(&self) -> usize {
        let pending = match self.phase {
            Phase::Detect { start, .. } | Phase::Value { start, .. } => start,
            Phase::Element { start, .. } => start.unwrap_or(self.pos),
            Phase::Line { .. }
            | Phase::Start
            | Phase::Top
            | Phase::AfterSingle
            | Phase::Finished => self.pos,
        };
        pending.min(self.pos)
    }

    fn error(
        &mut self,
        w: &[u8],
        base: usize,
        (kind, reason): Why,
        at: usize,
        start: usize,
    ) -> Step {
        self.lines.advance(w, base, start);
        let event_line = self.lines.line;
        self.lines.advance(w, base, at);
        Step::Error(SplitError {
            kind,
            reason,
            offset: at,
            line: self.lines.line,
            column: self.lines.column(w, base, at),
            event_offset: start,
            event_line,
        })
    }

    /// An event `start..end` (trimmed), validated when asked.
    fn event(&mut self, w: &[u8], base: usize, start: usize, end: usize) -> Step {
        if self.checking == Checking::Validate {
            if let Err((at, why)) = super::check(&w[start - base..end - base], &mut self.scratch) {
                return self.error(w, base, (why.kind(), why.reason()), start + at, start);
            }
        }
        self.lines.advance(w, base, start);
        let column = self.lines.column(w, base, start);
        Step::Event(start, end, self.lines.line, column)
    }

    /// The next event, error, or the need for more input. `w` is the input from `base` on
    /// (everything from [`Cutter::keep_from`] must be in it); `eof`: no more input follows.
    pub(crate) fn next(&mut self, w: &[u8], base: usize, eof: bool) -> Step {
        let end = base + w.len();
        loop {
            match self.phase {
                Phase::Finished => return if eof { Step::End } else { Step::More },
                Phase::AfterSingle => {
                    let at = base + ws(w, self.pos - base);
                    self.pos = at;
                    if at == end {
                        if !eof {
                            return Step::More;
                        }
                        self.phase = Phase::Finished;
                        return Step::End;
                    }
                    // Everything after the value is reported once, and not read.
                    self.pos = end;
                    self.phase = Phase::Finished;
                    return self.error(w, base, TRAILING, at, at);
                }
                Phase::Start => {
                    // A UTF-8 byte order mark at the very start is skipped.
                    const BOM: &[u8] = b"\xEF\xBB\xBF";
                    let have = &w[..w.len().min(3)];
                    if !eof && have.len() < 3 && BOM.starts_with(have) {
                        return Step::More;
                    }
                    if have == BOM {
                        // Offsets and columns still count it, as every other position does.
                        self.pos = 3;
                    }
                    self.phase = self.top_phase();
                }
                Phase::Line { from } => {
                    let line_start = self.pos;
                    let mut asked = self.asked.saturating_sub(base);
                    super::read_ahead(w, from - base, &mut asked);
                    self.asked = base + asked;
                    let Some(nl) = memchr::memchr(b'\n', &w[from - base..]).map(|i| from + i)
                    else {
                        if !eof {
                            self.phase = Phase::Line { from: end };
                            return Step::More;
                        }
                        if line_start == end {
                            self.phase = Phase::Finished;
                            return Step::End;
                        }
                        // The last line, without a line break.
                        self.pos = end;
                        self.phase = Phase::Line { from: end };
                        if let Some((s, e)) = trim(w, base, line_start, end) {
                            return self.event(w, base, s, e);
                        }
                        continue;
                    };
                    self.pos = nl + 1;
                    self.phase = Phase::Line { from: nl + 1 };
                    let found = trim(w, base, line_start, nl);
                    let step = found.map(|(s, e)| self.event(w, base, s, e));
                    // The next line starts after this break.
                    self.lines.advance(w, base, line_start);
                    self.lines.pos = nl + 1;
                    self.lines.line += 1;
                    self.lines.line_start = nl + 1;
                    if let Some(step) = step {
                        return step;
                    }
                }
                Phase::Top => {
                    let at = base + ws(w, self.pos - base);
                    self.pos = at;
                    if at == end {
                        if !eof {
                            return Step::More;
                        }
                        self.phase = Phase::Finished;
                        if self.layout == Layout::Single {
                            // A single value that never came.
                            return self.error(w, base, EOF, at, at);
                        }
                        return Step::End;
                    }
                    let c = w[at - base];
                    match self.chosen {
                        Layout::Auto => {
                            if c == b'[' {
                                self.chosen = Layout::Array;
                                self.open_array(at);
                            } else {
                                let (tok, pos) = start_token(c, at);
                                self.pos = pos;
                                self.phase = Phase::Detect {
                                    start: at,
                                    tok: Some(tok),
                                    multiline: false,
                                };
                            }
                        }
                        Layout::Array if c == b'[' => self.open_array(at),
                        _ => {
                            let (tok, pos) = start_token(c, at);
                            self.pos = pos;
                            self.phase = Phase::Value { start: at, tok };
                        }
                    }
                }
                Phase::Detect {
                    start,
                    tok,
                    multiline,
                } => {
                    // From one byte back: a scan that stopped on a backslash at a block's end
                    // resumes past the byte it escapes, and that byte may be the first line's
                    // break (an escaped raw line break, as the whole buffer sees it).
                    let from = self.pos.min(end).saturating_sub(1).max(start);
                    let line_end = memchr::memchr(b'\n', &w[from - base..]).map(|i| from + i);
                    let chosen = match tok {
                        // A value over several lines makes a stream; one that never ends, or
                        // is still open where a line starts with `{` (no pretty printer writes
                        // that inside a value: a JSONL input whose first line is broken), is
                        // read as lines (each broken line an error, the others events).
                        Some(tok) if multiline => {
                            let (limit, cut) =
                                unindented_object(w, base, self.pos.max(start + 1) - 1, end, eof);
                            match scan_token(
                                &w[..limit - base],
                                base,
                                self.pos,
                                tok,
                                eof && limit == end,
                            ) {
                                Scan::Done(_) => Layout::Stream,
                                Scan::More(..) if cut => Layout::Jsonl,
                                Scan::More(pos, tok) if !(eof && limit == end) => {
                                    self.pos = pos;
                                    self.phase = Phase::Detect {
                                        start,
                                        tok: Some(tok),
                                        multiline,
                                    };
                                    return Step::More;
                                }
                                Scan::More(..) => Layout::Jsonl,
                            }
                        }
                        // Looking along the first line.
                        Some(tok) => {
                            let limit = line_end.unwrap_or(end);
                            match scan_token(
                                &w[..limit - base],
                                base,
                                self.pos,
                                tok,
                                eof || line_end.is_some(),
                            ) {
                                Scan::Done(e) => {
                                    self.pos = e;
                                    self.phase = Phase::Detect {
                                        start,
                                        tok: None,
                                        multiline,
                                    };
                                    continue;
                                }
                                Scan::More(pos, tok) => {
                                    if line_end.is_none() && eof {
                                        Layout::Jsonl
                                    } else {
                                        // Past the first line (or waiting for more of it).
                                        self.pos = pos;
                                        self.phase = Phase::Detect {
                                            start,
                                            tok: Some(tok),
                                            multiline: line_end.is_some(),
                                        };
                                        if line_end.is_none() {
                                            return Step::More;
                                        }
                                        continue;
                                    }
                                }
                            }
                        }
                        None => {
                            let at = base + ws(w, self.pos - base);
                            let nl = line_end.is_some_and(|nl| nl < at);
                            if nl || (at == end && eof) {
                                Layout::Jsonl
                            } else if at == end {
                                self.pos = at;
                                return Step::More;
                            } else {
                                Layout::Stream
                            }
                        }
                    };
                    self.chosen = chosen;
                    self.pos = start;
                    self.phase = match chosen {
                        Layout::Jsonl => Phase::Line { from: start },
                        _ => Phase::Top,
                    };
                }
                Phase::Value { start, tok } => match scan_token(w, base, self.pos, tok, eof) {
                    Scan::Done(e) => {
                        self.pos = e;
                        self.phase = self.after_value();
                        if self.chosen == Layout::Array {
                            return self.error(w, base, NOT_AN_ARRAY, start, start);
                        }
                        return self.event(w, base, start, e);
                    }
                    Scan::More(pos, tok) => {
                        if !eof {
                            self.pos = pos;
                            self.phase = Phase::Value { start, tok };
                            return Step::More;
                        }
                        self.pos = end;
                        self.phase = Phase::Finished;
                        return self.error(w, base, EOF, end, start);
                    }
                },
                Phase::Element {
                    start,
                    last_end,
                    tok,
                    first,
                } => {
                    if let Some(tok) = tok {
                        match scan_token(w, base, self.pos, tok, eof) {
                            Scan::Done(e) => {
                                self.pos = e;
                                self.phase = Phase::Element {
                                    start,
                                    last_end: e,
                                    tok: None,
                                    first,
                                };
                                continue;
                            }
                            Scan::More(pos, tok) => {
                                if !eof {
                                    self.pos = pos;
                                    self.phase = Phase::Element {
                                        start,
                                        last_end,
                                        tok: Some(tok),
                                        first,
                                    };
                                    return Step::More;
                                }
                                self.pos = end;
                                self.phase = Phase::Finished;
                                return self.error(w, base, EOF, end, start.unwrap_or(end));
                            }
                        }
                    }
                    let at = base + ws(w, self.pos - base);
                    self.pos = at;
                    if at == end {
                        if !eof {
                            return Step::More;
                        }
                        self.phase = Phase::Finished;
                        return self.error(w, base, EOF, end, start.unwrap_or(end));
                    }
                    let c = w[at - base];
                    match c {
                        b',' | b']' => {
                            self.pos = at + 1;
                            let closing = c == b']';
                            self.phase = if closing {
                                self.after_array()
                            } else {
                                Phase::Element {
                                    start: None,
                                    last_end: at + 1,
                                    tok: None,
                                    first: false,
                                }
                            };
                            match start {
                                Some(s) => return self.event(w, base, s, last_end),
                                None if closing && first => {}
                                None => return self.error(w, base, EMPTY_ELEMENT, at, at),
                            }
                        }
                        _ => {
                            let (tok, pos) = start_token(c, at);
                            self.pos = pos;
                            self.phase = Phase::Element {
                                start: Some(start.unwrap_or(at)),
                                last_end,
                                tok: Some(tok),
                                first,
                            };
                        }
                    }
                }
            }
        }
    }

    /// The phase at the top level, for the layout asked for.
    fn top_phase(&self) -> Phase {
        match self.layout {
            Layout::Jsonl => Phase::Line { from: self.pos },
            _ => Phase::Top,
        }
    }

    fn open_array(&mut self, at: usize) {
        self.pos = at + 1;
        self.phase = Phase::Element {
            start: None,
            last_end: at + 1,
            tok: None,
            first: true,
        };
    }

    fn after_array(&mut self) -> Phase {
        // Detection starts again after a top-level array.
        self.chosen = self.layout;
        Phase::Top
    }

    /// After a top-level value: a single value allows nothing but whitespace after it.
    fn after_value(&self) -> Phase {
        match self.layout {
            Layout::Single => Phase::AfterSingle,
            _ => Phase::Top,
        }
    }
}

/// `start..end` without surrounding whitespace, unless it is all whitespace.
#[inline]
fn trim(w: &[u8], base: usize, start: usize, end: usize) -> Option<(usize, usize)> {
    let s = base + ws(&w[..end - base], start - base);
    if s == end {
        return None;
    }
    let mut e = end;
    while is_ws(w[e - 1 - base]) {
        e -= 1;
    }
    Some((s, e))
}

/// The events of a whole buffer, in order: an iterator of [`Event`]s, with a [`SplitError`]
/// item for each broken event (splitting goes on after it; see [`Layout`] for where).
///
/// # Example
/// ```
/// use weir::json::{Layout, Splitter};
/// let input = "\u{feff}{\n  \"a\": 1\n}\n{\n  \"a\": [\"]\"]\n}\n";
/// let events: Vec<_> = Splitter::new(input.as_bytes()).collect::<Result<_, _>>()?;
/// assert_eq!(events.len(), 2);
/// assert_eq!((events[1].offset, events[1].line), (16, 4));
/// assert_eq!(Splitter::new(input.as_bytes()).layout(Layout::Stream).count(), 2);
/// # Ok::<(), weir::json::SplitError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Splitter<'a> {
    buf: &'a [u8],
    cutter: Cutter,
}

impl<'a> Splitter<'a> {
    /// Splits `buf` with [`Layout::Auto`] and [`Checking::Validate`].
    ///
    /// # Example
    /// ```
    /// let mut events = weir::json::Splitter::new(b"[{}, {}]");
    /// assert_eq!(events.next().unwrap()?.offset, 1);
    /// # Ok::<(), weir::json::SplitError>(())
    /// ```
    pub fn new(buf: &'a [u8]) -> Splitter<'a> {
        Splitter {
            buf,
            cutter: Cutter::new(Layout::Auto, Checking::Validate),
        }
    }

    /// Splits with `layout` instead (before the first event is taken).
    ///
    /// # Example
    /// ```
    /// use weir::json::{Layout, Splitter};
    /// let events = Splitter::new(b"[1, 2]").layout(Layout::Stream);
    /// assert_eq!(events.count(), 1); // the array itself
    /// ```
    pub fn layout(self, layout: Layout) -> Splitter<'a> {
        Splitter {
            buf: self.buf,
            cutter: Cutter::new(layout, self.cutter.checking),
        }
    }

    /// Checks events as `checking` says (before the first event is taken).
    ///
    /// # Example
    /// ```
    /// use weir::json::{Checking, Splitter};
    /// let mut events = Splitter::new(b"[1, nul]").checking(Checking::Boundaries);
    /// events.next();
    /// assert_eq!(events.next().unwrap()?.bytes, b"nul");
    /// # Ok::<(), weir::json::SplitError>(())
    /// ```
    pub fn checking(self, checking: Checking) -> Splitter<'a> {
        Splitter {
            buf: self.buf,
            cutter: Cutter::new(self.cutter.layout, checking),
        }
    }

    /// Cuts `buf` as [`Layout::Jsonl`] from byte `offset` on, counting the line that starts
    /// there as line `line`: for cutting one JSONL input in parts (each from a line start,
    /// such as after a line break) on several threads. From that line on, events, offsets
    /// and columns are exactly those the whole input gives, and lines are too when `line` is
    /// the right one (a part cut before its line is known can count from 1 and add the
    /// lines before it later). At offset 0 a byte order mark is skipped, as the whole cut
    /// skips it; an `offset` past the end gives nothing.
    ///
    /// # Example
    /// ```
    /// use weir::json::{Layout, Splitter};
    /// let input = b"{\"a\": 1}\n\n  {\"a\": 2}\n{\"a\": 3}";
    /// let whole: Vec<_> = Splitter::new(input).layout(Layout::Jsonl).collect();
    /// let from_line_3: Vec<_> = Splitter::new(input).jsonl_from(10, 3).collect();
    /// assert_eq!(from_line_3, whole[1..]);
    /// assert_eq!(from_line_3[0].as_ref().unwrap().column, 3);
    /// ```
    pub fn jsonl_from(self, offset: usize, line: usize) -> Splitter<'a> {
        let mut cutter = Cutter::new(Layout::Jsonl, self.cutter.checking);
        let offset = offset.min(self.buf.len());
        cutter.pos = offset;
        // At the very start, a byte order mark is still skipped.
        if offset > 0 {
            cutter.phase = Phase::Line { from: offset };
        }
        cutter.lines = Lines {
            pos: offset,
            line,
            line_start: offset,
            col_at: offset,
            col: 0,
        };
        Splitter {
            buf: self.buf,
            cutter,
        }
    }

    /// The layout in use: the one asked for, or for [`Layout::Auto`] what it has found so
    /// far (`Auto` while undecided, and again after each top-level array).
    ///
    /// # Example
    /// ```
    /// use weir::json::{Layout, Splitter};
    /// let mut events = Splitter::new(b"{}\n{}\n");
    /// events.next();
    /// assert_eq!(events.current_layout(), Layout::Jsonl);
    /// ```
    pub fn current_layout(&self) -> Layout {
        self.cutter.current_layout()
    }
}

impl<'a> Iterator for Splitter<'a> {
    type Item = Result<Event<'a>, SplitError>;

    fn next(&mut self) -> Option<Self::Item> {
        take(&mut self.cutter, self.buf, 0, true)
    }
}

impl std::iter::FusedIterator for Splitter<'_> {}

/// One step of `cutter` over the window `w` (from `base`): the next item, `None` when more
/// input is needed or the input is used up.
#[inline]
fn take<'w>(
    cutter: &mut Cutter,
    w: &'w [u8],
    base: usize,
    eof: bool,
) -> Option<Result<Event<'w>, SplitError>> {
    match cutter.next(w, base, eof) {
        Step::Event(start, end, line, column) => Some(Ok(Event {
            bytes: &w[start - base..end - base],
            offset: start,
            line,
            column,
        })),
        Step::Error(e) => Some(Err(e)),
        Step::More | Step::End => None,
    }
}

/// Splits `buf` with [`Layout::Auto`] and [`Checking::Validate`]: shorthand for
/// [`Splitter::new`].
///
/// # Example
/// ```
/// let input = b"{\"a\": 1}\r\n\r\n{\"a\": 2}";
/// let lines: Vec<usize> = weir::json::split(input).map(|e| e.unwrap().line).collect();
/// assert_eq!(lines, [1, 3]);
/// ```
pub fn split(buf: &[u8]) -> Splitter<'_> {
    Splitter::new(buf)
}

/// Block size [`StreamSplitter::fill`] reads by default.
///
/// # Example
/// ```
/// let mut stream = weir::json::StreamSplitter::new();
/// let mut input = std::io::repeat(b' ');
/// assert_eq!(stream.fill(&mut input)?, weir::json::DEFAULT_BLOCK);
/// # Ok::<(), std::io::Error>(())
/// ```
pub const DEFAULT_BLOCK: usize = 64 * 1024;

/// Splits an input that arrives in blocks: [`feed`](StreamSplitter::feed) it blocks (or
/// let [`fill`](StreamSplitter::fill) read them from a [`Read`]), take the events completed so
/// far with [`events`](StreamSplitter::events), and call
/// [`finish`](StreamSplitter::finish) at the end of the input for the last ones.
///
/// Events, errors, offsets and lines are exactly those [`Splitter`] gives for the whole input,
/// however it is cut. An event is handed out as soon as its last byte has arrived (a JSONL
/// line: its line break); only the incomplete tail is kept, so memory is bounded by the
/// largest event plus a block.
///
/// # Example
/// ```
/// let mut stream = weir::json::StreamSplitter::new();
/// let mut seen = Vec::new();
/// for block in [&b"[{\"a\": 1}, {\"a\""[..], b": 2}, {\"a\": 3}", b"]"] {
///     stream.feed(block);
///     for event in stream.events() {
///         seen.push(event?.offset);
///     }
/// }
/// stream.finish();
/// assert!(stream.events().next().is_none());
/// assert_eq!(seen, [1, 11, 21]);
/// # Ok::<(), weir::json::SplitError>(())
/// ```
#[derive(Clone, Debug)]
pub struct StreamSplitter {
    /// The input from `base` on is `buf[start..len]` (`start` is 0 except in a buffer taken
    /// by `feed_buffer`); the rest of `buf` is room already zeroed, so that `fill` reads into
    /// it without clearing it again.
    buf: Vec<u8>,
    start: usize,
    len: usize,
    base: usize,
    eof: bool,
    block: usize,
    cutter: Cutter,
}

impl Default for StreamSplitter {
    fn default() -> StreamSplitter {
        StreamSplitter::new()
    }
}

impl StreamSplitter {
    /// A splitter with [`Layout::Auto`] and [`Checking::Validate`].
    ///
    /// # Example
    /// ```
    /// let stream = weir::json::StreamSplitter::new();
    /// assert_eq!(stream.buffered(), 0);
    /// ```
    pub fn new() -> StreamSplitter {
        StreamSplitter {
            buf: Vec::new(),
            start: 0,
            len: 0,
            base: 0,
            eof: false,
            block: DEFAULT_BLOCK,
            cutter: Cutter::new(Layout::Auto, Checking::Validate),
        }
    }

    /// Splits with `layout` instead (before the first block).
    ///
    /// # Example
    /// ```
    /// use weir::json::{Layout, StreamSplitter};
    /// let mut stream = StreamSplitter::new().layout(Layout::Jsonl);
    /// stream.feed(b"{}\n{");
    /// assert_eq!(stream.events().count(), 1);
    /// ```
    pub fn layout(mut self, layout: Layout) -> StreamSplitter {
        self.cutter = Cutter::new(layout, self.cutter.checking);
        self
    }

    /// Checks events as `checking` says (before the first block).
    ///
    /// # Example
    /// ```
    /// use weir::json::{Checking, StreamSplitter};
    /// let mut stream = StreamSplitter::new().checking(Checking::Boundaries);
    /// stream.feed(b"{\"a\": x}\n");
    /// assert!(stream.events().next().unwrap().is_ok());
    /// ```
    pub fn checking(mut self, checking: Checking) -> StreamSplitter {
        self.cutter = Cutter::new(self.cutter.layout, checking);
        self
    }

    /// Reads blocks of `block` bytes in [`fill`](StreamSplitter::fill) (default
    /// [`DEFAULT_BLOCK`]; at least 1).
    ///
    /// # Example
    /// ```
    /// let mut stream = weir::json::StreamSplitter::new().block_size(4);
    /// let mut input: &[u8] = b"{}\n{}\n";
    /// assert_eq!(stream.fill(&mut input)?, 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn block_size(mut self, block: usize) -> StreamSplitter {
        self.block = block.max(1);
        self
    }

    /// Drops what the cut no longer needs, keeping the incomplete tail.
    fn compact(&mut self) {
        let keep = self.cutter.keep_from().max(self.base);
        let drop = keep - self.base;
        if drop > 0 || self.start > 0 {
            self.cutter
                .lines
                .before_drop(&self.buf[self.start..self.len], self.base, keep);
            self.buf.copy_within(self.start + drop..self.len, 0);
            self.len -= self.start + drop;
            self.start = 0;
            self.base = keep;
        }
    }

    /// Appends a block of input.
    ///
    /// Panics if called after [`finish`](StreamSplitter::finish).
    ///
    /// # Example
    /// ```
    /// let mut stream = weir::json::StreamSplitter::new();
    /// stream.feed(b"{\"a\":");
    /// assert!(stream.events().next().is_none());
    /// stream.feed(b" 1}\n");
    /// assert_eq!(stream.events().next().unwrap()?.bytes, b"{\"a\": 1}");
    /// # Ok::<(), weir::json::SplitError>(())
    /// ```
    pub fn feed(&mut self, block: &[u8]) {
        assert!(!self.eof, "StreamSplitter::feed after finish");
        self.compact();
        self.room(block.len());
        self.buf[self.len..self.len + block.len()].copy_from_slice(block);
        self.len += block.len();
    }

    /// Appends `block[from..]` as the next block of input, taking `block` itself as the
    /// splitter's buffer when its first `from` bytes have room for what the splitter still
    /// holds (the incomplete tail, once the events before it are taken), so that the block's
    /// bytes are not copied; returns the buffer it no longer needs, for reading the next
    /// block into (at `from` again). Otherwise (a tail longer than `from`) it copies
    /// `block[from..]` as [`feed`](StreamSplitter::feed) does and returns `block`. For a
    /// reader on another thread that hands over whole buffers.
    ///
    /// Panics if called after [`finish`](StreamSplitter::finish), or if `from` is past the
    /// end of `block`.
    ///
    /// # Example
    /// ```
    /// let mut stream = weir::json::StreamSplitter::new();
    /// let mut block = vec![0; 16];
    /// block.extend_from_slice(b"{\"a\": 1}\n{\"a\"");
    /// let spare = stream.feed_buffer(block, 16);
    /// assert_eq!(stream.events().next().unwrap()?.bytes, b"{\"a\": 1}");
    /// let mut block = spare; // to read the next block into, after 16 bytes of room
    /// block.clear();
    /// block.resize(16, 0);
    /// block.extend_from_slice(b": 2}\n");
    /// stream.feed_buffer(block, 16);
    /// assert_eq!(stream.events().next().unwrap()?.bytes, b"{\"a\": 2}");
    /// # Ok::<(), weir::json::SplitError>(())
    /// ```
    pub fn feed_buffer(&mut self, mut block: Vec<u8>, from: usize) -> Vec<u8> {
        assert!(!self.eof, "StreamSplitter::feed_buffer after finish");
        assert!(
            from <= block.len(),
            "StreamSplitter::feed_buffer: from past the block"
        );
        self.compact();
        let tail = self.len;
        if tail > from {
            self.feed(&block[from..]);
            return block;
        }
        block[from - tail..from].copy_from_slice(&self.buf[..tail]);
        self.start = from - tail;
        self.len = block.len();
        std::mem::replace(&mut self.buf, block)
    }

    /// Makes room for `more` bytes after the input held.
    fn room(&mut self, more: usize) {
        if self.buf.len() < self.len + more {
            self.buf.resize(self.len + more, 0);
        }
    }

    /// Reads one block from `reader` into the splitter's own buffer (reused from block to
    /// block); returns how many bytes were read. At the end of the input (0 bytes) it calls
    /// [`finish`](StreamSplitter::finish). Interrupted reads are retried.
    ///
    /// # Example
    /// ```
    /// let mut stream = weir::json::StreamSplitter::new();
    /// let mut input: &[u8] = b"{\"a\": 1}\n{\"a\": 2}";
    /// let mut count = 0;
    /// while stream.fill(&mut input)? > 0 {
    ///     count += stream.events().count();
    /// }
    /// count += stream.events().count();
    /// assert_eq!(count, 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fill<R: Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        self.compact();
        self.room(self.block);
        let (len, block) = (self.len, self.block);
        let read = loop {
            match reader.read(&mut self.buf[len..len + block]) {
                Ok(n) => break Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
        };
        self.len += *read.as_ref().unwrap_or(&0);
        if matches!(read, Ok(0)) {
            self.finish();
        }
        read
    }

    /// Marks the end of the input: the events still pending (a last line without a line
    /// break, a last value) and the errors of what never ended come out of the next
    /// [`events`](StreamSplitter::events).
    ///
    /// # Example
    /// ```
    /// let mut stream = weir::json::StreamSplitter::new();
    /// stream.feed(b"{\"a\": 1}\n{\"a\": 2}");
    /// assert_eq!(stream.events().count(), 1);
    /// stream.finish();
    /// assert_eq!(stream.events().count(), 1);
    /// ```
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Whether [`finish`](StreamSplitter::finish) was called.
    ///
    /// # Example
    /// ```
    /// let mut stream = weir::json::StreamSplitter::new();
    /// stream.finish();
    /// assert!(stream.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.eof
    }

    /// How many bytes the splitter holds (the incomplete tail and what is not yet taken).
    ///
    /// # Example
    /// ```
    /// let mut stream = weir::json::StreamSplitter::new();
    /// stream.feed(b"{}\n{\"a\"");
    /// stream.events().count();
    /// stream.feed(b"");
    /// assert_eq!(stream.buffered(), 4);
    /// ```
    pub fn buffered(&self) -> usize {
        self.len - self.start
    }

    /// The layout in use (see [`Splitter::current_layout`]).
    ///
    /// # Example
    /// ```
    /// let mut stream = weir::json::StreamSplitter::new();
    /// stream.feed(b"[");
    /// stream.events().count();
    /// assert_eq!(stream.current_layout(), weir::json::Layout::Array);
    /// ```
    pub fn current_layout(&self) -> Layout {
        self.cutter.current_layout()
    }

    /// The events completed so far (all that remain, after
    /// [`finish`](StreamSplitter::finish)). They borrow the splitter's buffer, so a batch of
    /// them can be collected and matched at once before the next block is fed.
    ///
    /// # Example
    /// ```
    /// let mut stream = weir::json::StreamSplitter::new();
    /// stream.feed(b"{\"a\": 1}\n{\"a\": 2}\n");
    /// let batch: Vec<&[u8]> = stream.events().map(|e| e.unwrap().bytes).collect();
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [2]}"#)?;
    /// let mut results = weir::BatchResults::new();
    /// m.match_batch(batch, &mut results);
    /// assert_eq!(results.matched_count(), 1);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn events(&mut self) -> Events<'_> {
        Events {
            buf: &self.buf[self.start..self.len],
            base: self.base,
            eof: self.eof,
            cutter: &mut self.cutter,
        }
    }
}

/// The events a [`StreamSplitter`] has completed so far (see
/// [`StreamSplitter::events`]).
///
/// # Example
/// ```
/// let mut stream = weir::json::StreamSplitter::new();
/// stream.feed(b"{}\n{}\n{");
/// let events: weir::json::Events<'_> = stream.events();
/// assert_eq!(events.count(), 2);
/// ```
#[derive(Debug)]
pub struct Events<'s> {
    buf: &'s [u8],
    base: usize,
    eof: bool,
    cutter: &'s mut Cutter,
}

impl<'s> Iterator for Events<'s> {
    type Item = Result<Event<'s>, SplitError>;

    fn next(&mut self) -> Option<Self::Item> {
        take(self.cutter, self.buf, self.base, self.eof)
    }
}
