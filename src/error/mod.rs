//! Errors: where a pattern or an event went wrong, and why.

use std::borrow::Cow;
use std::fmt;

mod snippet;

pub(crate) use snippet::Printable;
pub use snippet::Snippet;
use snippet::{header, Excerpt};

/// A place in a text: byte offset plus 1-based line and column (columns count characters).
///
/// # Example
/// ```
/// let err = weir::Pattern::parse(r#"{"a": 1}"#).unwrap_err();
/// let pos = err.span().unwrap().start;
/// assert_eq!((pos.offset, pos.line, pos.column), (6, 1, 7));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Position {
    /// Byte offset from the start of the text.
    pub offset: usize,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text` (clamped to the text's length, and moved back to
    /// the start of the character it falls in).
    ///
    /// This is weir's one line and column calculation: every position in an error, a
    /// [`Snippet`](crate::Snippet) or the CLI's output comes from it.
    ///
    /// # Example
    /// ```
    /// let p = weir::Position::at("ab\ncd", 4);
    /// assert_eq!((p.line, p.column), (2, 2));
    /// let p = weir::Position::at("été", 4); // inside the second `é`
    /// assert_eq!((p.offset, p.column), (3, 3));
    /// ```
    pub fn at(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        Position::at_bytes(text.as_bytes(), offset)
    }

    /// The position of byte `offset` in `bytes`, which need not be UTF-8 (an event's bytes):
    /// clamped to their length; columns count characters by their leading bytes, so a
    /// malformed sequence counts by its leading bytes (`weir::json::locate` is this).
    ///
    /// # Example
    /// ```
    /// let p = weir::Position::at_bytes(b"{\n  \xff x", 5);
    /// assert_eq!((p.offset, p.line, p.column), (5, 2, 4));
    /// ```
    pub fn at_bytes(bytes: &[u8], offset: usize) -> Position {
        let offset = offset.min(bytes.len());
        let before = &bytes[..offset];
        let line = memchr::memchr_iter(b'\n', before).count() + 1;
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        Position {
            offset,
            line,
            column: lead_count(&before[line_start..]) + 1,
        }
    }

    /// This position, counted in a text that starts at `base` of a larger document, as a
    /// position in that document: offsets add, lines add, and columns add on the text's first
    /// line.
    ///
    /// # Example
    /// ```
    /// use weir::Position;
    /// // A pattern that starts at line 3, column 5 (byte 20) of a rules file:
    /// let base = Position { offset: 20, line: 3, column: 5 };
    /// let first = Position::at("{\"a\": []}", 6).within(base);
    /// assert_eq!((first.offset, first.line, first.column), (26, 3, 11));
    /// let later = Position::at("{\n  \"a\": []}", 9).within(base);
    /// assert_eq!((later.offset, later.line, later.column), (29, 4, 8));
    /// ```
    pub fn within(self, base: Position) -> Position {
        // Saturating: positions are plain data, and one made by hand may hold 0 or huge values.
        Position {
            offset: base.offset.saturating_add(self.offset),
            line: base.line.saturating_add(self.line).saturating_sub(1),
            column: if self.line <= 1 {
                base.column.saturating_add(self.column).saturating_sub(1)
            } else {
                self.column
            },
        }
    }
}

/// The start of every text: byte 0, line 1, column 1.
pub(crate) const ORIGIN: Position = Position {
    offset: 0,
    line: 1,
    column: 1,
};

/// How many characters `bytes` holds, counting each byte that does not continue a UTF-8
/// sequence (so a malformed sequence counts by its leading bytes): the one column count of
/// every position, additive over any cut of the bytes (the streaming splitter relies on it).
#[inline]
pub(crate) fn lead_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b as i8) >= -0x40).count()
}

/// The characters `bytes` shows when decoded lossily, each malformed UTF-8 sequence counting
/// as one (one `U+FFFD`): the width of drawn text, for placing carets.
pub(crate) fn char_count(bytes: &[u8]) -> usize {
    bytes
        .utf8_chunks()
        .map(|c| c.valid().chars().count() + usize::from(!c.invalid().is_empty()))
        .sum()
}

/// A range of a text, from `start` (inclusive) to `end` (exclusive).
///
/// # Example
/// ```
/// let span = weir::Span::new("[1, 2]", 4, 5);
/// assert_eq!((span.start.column, span.end.column), (5, 6));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte of the span.
    pub start: Position,
    /// One past the last byte of the span.
    pub end: Position,
}

impl Span {
    /// The span of bytes `start..end` of `text`.
    ///
    /// # Example
    /// ```
    /// let span = weir::Span::new("abc", 1, 2);
    /// assert_eq!(span.start.offset, 1);
    /// ```
    pub fn new(text: &str, start: usize, end: usize) -> Span {
        Span {
            start: Position::at(text, start),
            end: Position::at(text, end.max(start)),
        }
    }
}

/// What kind of mistake a [`PatternError`] reports.
///
/// # Example
/// ```
/// let err = weir::Pattern::parse("{").unwrap_err();
/// assert_eq!(err.kind(), weir::PatternErrorKind::Syntax);
/// assert_eq!(err.kind().name(), "syntax");
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatternErrorKind {
    /// The text is not JSON.
    Syntax,
    /// The JSON is not a valid pattern (AWS's `InvalidEventPatternException`).
    Invalid,
    /// The pattern is valid JSON and grammar but exceeds a limit (length, fields, complexity).
    Limit,
    /// The pattern uses something Lambda event filtering does not support (Lambda-strict mode).
    Unsupported,
    /// A FilterCriteria document is malformed (not the pattern inside it).
    FilterCriteria,
}

impl PatternErrorKind {
    /// A stable lower-case name for machine-readable output: `syntax`, `invalid`, `limit`,
    /// `unsupported`, `filter_criteria`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::PatternErrorKind::FilterCriteria.name(), "filter_criteria");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            PatternErrorKind::Syntax => "syntax",
            PatternErrorKind::Invalid => "invalid",
            PatternErrorKind::Limit => "limit",
            PatternErrorKind::Unsupported => "unsupported",
            PatternErrorKind::FilterCriteria => "filter_criteria",
        }
    }
}

/// An invalid pattern: AWS's reason text plus where it is.
///
/// `Display` prints the reason, then the place (a [`Snippet`]): the position and the offending
/// line with carets.
///
/// ```
/// let err = weir::Pattern::parse(r#"{"detail": {"state": []}}"#).unwrap_err();
/// assert_eq!(err.reason(), "Empty arrays are not allowed");
/// assert_eq!(err.path(), "detail.state");
/// assert_eq!(
///     err.to_string(),
///     r#"Empty arrays are not allowed
///   --> line 1, column 22 (byte 21), at detail.state
///   |
/// 1 | {"detail": {"state": []}}
///   |                      ^^"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError(Box<Inner>);

/// The fields of a [`PatternError`], boxed so `Result<_, PatternError>` stays small.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Inner {
    kind: PatternErrorKind,
    reason: String,
    span: Option<Span>,
    path: String,
    /// The line around the span's start, to show it.
    excerpt: Option<Excerpt>,
    filter: Option<usize>,
    rule: Option<String>,
    /// `rule "name", filter N`: what the header names before the position.
    label: String,
}

impl PatternError {
    pub(crate) fn new(
        kind: PatternErrorKind,
        reason: impl Into<String>,
        text: &str,
        range: Option<(usize, usize)>,
        path: impl Into<String>,
    ) -> PatternError {
        let span = range.map(|(s, e)| Span::new(text, s, e));
        PatternError(Box::new(Inner {
            kind,
            reason: reason.into(),
            span,
            path: path.into(),
            excerpt: span.map(|sp| Excerpt::around(text.as_bytes(), sp.start)),
            filter: None,
            rule: None,
            label: String::new(),
        }))
    }

    /// An error without a place (as [`Cidr::parse`](crate::ir::Cidr::parse) gives), to be
    /// [`placed`](PatternError::placed) by the caller that knows where the value sits.
    pub(crate) fn bare(kind: PatternErrorKind, reason: impl Into<String>) -> PatternError {
        PatternError::new(kind, reason, "", None, "")
    }

    /// The same error at bytes `range` of `text`, JSON path `path`.
    pub(crate) fn placed(self, text: &str, range: (usize, usize), path: &str) -> PatternError {
        let Inner {
            kind,
            reason,
            filter,
            rule,
            ..
        } = *self.0;
        let mut placed = PatternError::new(kind, reason, text, Some(range), path);
        placed.0.filter = filter;
        placed.0.rule = rule;
        placed.relabel();
        placed
    }

    /// The kind of mistake.
    ///
    /// # Example
    /// ```
    /// let err = weir::Pattern::parse(r#"{"a": [{"FOO": 1}]}"#).unwrap_err();
    /// assert_eq!(err.kind(), weir::PatternErrorKind::Invalid);
    /// ```
    pub fn kind(&self) -> PatternErrorKind {
        self.0.kind
    }

    /// The reason, in AWS's words where AWS has them (without AWS's
    /// `Event pattern is not valid. Reason: ` prefix).
    ///
    /// # Example
    /// ```
    /// let err = weir::Pattern::parse(r#"{"a": [{"FOO": 1}]}"#).unwrap_err();
    /// assert_eq!(err.reason(), "Unrecognized match type FOO");
    /// ```
    pub fn reason(&self) -> &str {
        &self.0.reason
    }

    /// Where in the pattern text the problem is, when it has a place.
    ///
    /// # Example
    /// ```
    /// let err = weir::Pattern::parse(r#"{"a": [{"FOO": 1}]}"#).unwrap_err();
    /// assert_eq!(err.span().unwrap().start.offset, 8);
    /// ```
    pub fn span(&self) -> Option<Span> {
        self.0.span
    }

    /// The JSON path of the offending node, such as `detail.state[0]`; empty for the root.
    ///
    /// # Example
    /// ```
    /// let err = weir::Pattern::parse(r#"{"a": {"b": ["x", {"prefix": 1}]}}"#).unwrap_err();
    /// assert_eq!(err.path(), "a.b[1].prefix");
    /// ```
    pub fn path(&self) -> &str {
        &self.0.path
    }

    /// For an error inside a FilterCriteria, the 0-based index of the filter.
    ///
    /// # Example
    /// ```
    /// let fc = r#"{"Filters": [{"Pattern": "{\"a\": [1]}"}, {"Pattern": "{\"a\": 1}"}]}"#;
    /// let err = weir::lambda::FilterCriteria::parse(fc).unwrap_err();
    /// assert_eq!(err.filter(), Some(1));
    /// ```
    pub fn filter(&self) -> Option<usize> {
        self.0.filter
    }

    /// For an error met while adding a named rule, the rule's name.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// let err = m.add_rule("broken", r#"{"a": []}"#).unwrap_err();
    /// assert_eq!(err.rule(), Some("broken"));
    /// ```
    pub fn rule(&self) -> Option<&str> {
        self.0.rule.as_deref()
    }

    /// The message AWS EventBridge would give: `Event pattern is not valid. Reason: ...`.
    ///
    /// # Example
    /// ```
    /// let err = weir::Pattern::parse(r#"{"a": []}"#).unwrap_err();
    /// assert_eq!(err.aws_message(), "Event pattern is not valid. Reason: Empty arrays are not allowed");
    /// ```
    pub fn aws_message(&self) -> String {
        format!("Event pattern is not valid. Reason: {}", self.0.reason)
    }

    /// The place of the error drawn with carets, in the pattern's own text (what `Display`
    /// prints after the reason); `None` when the error has no place.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// let err = m.add_rule("r", r#"{"a": []}"#).unwrap_err();
    /// let snippet = err.snippet().unwrap();
    /// assert_eq!(snippet.start().column, 7);
    /// assert_eq!(
    ///     snippet.to_string(),
    ///     "  --> rule \"r\", line 1, column 7 (byte 6), at a\n  |\n1 | {\"a\": []}\n  |       ^^"
    /// );
    /// ```
    pub fn snippet(&self) -> Option<Snippet<'_>> {
        let (span, excerpt) = (self.0.span?, self.0.excerpt.as_ref()?);
        Some(
            excerpt
                .snippet(span)
                .label(&self.0.label)
                .path(&self.0.path),
        )
    }

    /// The place of the error in a larger `document` whose bytes from `base` on are the
    /// pattern's text (a pattern written inside a rules file): positions are the document's and
    /// the document's line is shown. `None` when the error has no place.
    ///
    /// # Example
    /// ```
    /// let file = "{\n  \"broken\": {\"a\": []}\n}";
    /// let base = file.find("{\"a\"").unwrap();
    /// let err = weir::Pattern::parse(&file[base..file.len() - 2]).unwrap_err();
    /// let snippet = err.snippet_in(file, base).unwrap();
    /// assert_eq!((snippet.start().line, snippet.start().column), (2, 19));
    /// assert!(snippet.to_string().ends_with("2 |   \"broken\": {\"a\": []}\n  |                   ^^"));
    /// ```
    pub fn snippet_in<'a>(&'a self, document: &'a str, base: usize) -> Option<Snippet<'a>> {
        let span = self.0.span?;
        Some(
            Snippet::new(document, base + span.start.offset..base + span.end.offset)
                .label(&self.0.label)
                .path(&self.0.path),
        )
    }

    pub(crate) fn in_filter(mut self, index: usize) -> PatternError {
        self.0.filter = Some(index);
        self.relabel();
        self
    }

    pub(crate) fn in_rule(mut self, name: &str) -> PatternError {
        self.0.rule = Some(name.to_string());
        self.relabel();
        self
    }

    fn relabel(&mut self) {
        let inner = &mut *self.0;
        inner.label.clear();
        if let Some(rule) = &inner.rule {
            inner.label = format!("rule {rule:?}");
        }
        if let Some(filter) = inner.filter {
            if !inner.label.is_empty() {
                inner.label.push_str(", ");
            }
            inner.label.push_str(&format!("filter {filter}"));
        }
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.reason)?;
        match self.snippet() {
            Some(snippet) => write!(f, "\n{snippet}"),
            None if self.0.label.is_empty() && self.0.path.is_empty() => Ok(()),
            None => {
                f.write_str("\n")?;
                header(f, &self.0.label, None, &self.0.path)
            }
        }
    }
}

impl std::error::Error for PatternError {}

/// What kind of mistake an [`EventError`] reports. The [reason](EventError::reason) says more
/// (which character was expected, for example).
///
/// # Example
/// ```
/// use weir::EventErrorKind;
/// let m = weir::Matcher::new();
/// let kind = |event: &[u8]| m.is_match(event).unwrap_err().kind();
/// assert_eq!(kind(br#"{"a": tru}"#), EventErrorKind::Syntax);
/// assert_eq!(kind(br#"{"a": [1, 2"#), EventErrorKind::UnexpectedEnd);
/// assert_eq!(kind(br#"{"a": "\q"}"#), EventErrorKind::InvalidEscape);
/// assert_eq!(kind(b"{} {}"), EventErrorKind::TrailingContent);
/// assert_eq!(kind(b"{} {}").name(), "trailing_content");
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventErrorKind {
    /// Not JSON at this point: a value, a key, `:`, `,` or a closing bracket was expected, or
    /// a number or a literal (`true`, `false`, `null`) is misspelt.
    Syntax,
    /// The text ends inside a value, or holds no value at all (nothing but whitespace).
    UnexpectedEnd,
    /// The bytes are not UTF-8.
    InvalidUtf8,
    /// A string or key holds a bad escape: an unknown one, a short `\u`, or a lone surrogate.
    InvalidEscape,
    /// A string holds a raw control character (below U+0020), which JSON requires escaped.
    ControlCharacter,
    /// Objects and arrays are nested deeper than [`MAX_EVENT_DEPTH`](crate::MAX_EVENT_DEPTH).
    TooDeep,
    /// Something other than whitespace follows the event's value.
    TrailingContent,
    /// The event is JSON but not an object, where an object is required
    /// ([`check_envelope`](crate::check_envelope)).
    NotAnObject,
    /// The event lacks a field it must carry ([`check_envelope`](crate::check_envelope)).
    MissingField,
}

impl EventErrorKind {
    /// A stable lower-case name for machine-readable output: `syntax`, `unexpected_end`,
    /// `invalid_utf8`, `invalid_escape`, `control_character`, `too_deep`, `trailing_content`,
    /// `not_an_object`, `missing_field`.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::EventErrorKind::InvalidUtf8.name(), "invalid_utf8");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            EventErrorKind::Syntax => "syntax",
            EventErrorKind::UnexpectedEnd => "unexpected_end",
            EventErrorKind::InvalidUtf8 => "invalid_utf8",
            EventErrorKind::InvalidEscape => "invalid_escape",
            EventErrorKind::ControlCharacter => "control_character",
            EventErrorKind::TooDeep => "too_deep",
            EventErrorKind::TrailingContent => "trailing_content",
            EventErrorKind::NotAnObject => "not_an_object",
            EventErrorKind::MissingField => "missing_field",
        }
    }
}

/// Why weir's JSON readers refuse an event's bytes: the reason text and its kind, one
/// variant per text. Copy and one byte, so the readers' `Result`s stay small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Malformed {
    End,
    ExpectedValue,
    ExpectedKey,
    ExpectedColon,
    ObjectSeparator,
    ArraySeparator,
    Number,
    StringEscape,
    KeyEscape,
    ControlCharacter,
    TooDeep,
    Utf8,
    Trailing,
}

impl Malformed {
    /// The reason text (what [`EventError::reason`] gives).
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Malformed::End => "unexpected end of input",
            Malformed::ExpectedValue => "expected a JSON value",
            Malformed::ExpectedKey => "expected a string key",
            Malformed::ExpectedColon => "expected ':' after an object key",
            Malformed::ObjectSeparator => "expected ',' or '}' in an object",
            Malformed::ArraySeparator => "expected ',' or ']' in an array",
            Malformed::Number => "invalid number",
            Malformed::StringEscape => "invalid escape in string",
            Malformed::KeyEscape => "invalid escape in key",
            Malformed::ControlCharacter => "control character in string",
            Malformed::TooDeep => "nesting deeper than 127 levels",
            Malformed::Utf8 => "invalid UTF-8",
            Malformed::Trailing => "trailing characters after the JSON value",
        }
    }

    pub(crate) fn kind(self) -> EventErrorKind {
        match self {
            Malformed::End => EventErrorKind::UnexpectedEnd,
            Malformed::ExpectedValue
            | Malformed::ExpectedKey
            | Malformed::ExpectedColon
            | Malformed::ObjectSeparator
            | Malformed::ArraySeparator
            | Malformed::Number => EventErrorKind::Syntax,
            Malformed::StringEscape | Malformed::KeyEscape => EventErrorKind::InvalidEscape,
            Malformed::ControlCharacter => EventErrorKind::ControlCharacter,
            Malformed::TooDeep => EventErrorKind::TooDeep,
            Malformed::Utf8 => EventErrorKind::InvalidUtf8,
            Malformed::Trailing => EventErrorKind::TrailingContent,
        }
    }
}

/// An event that could not be read: invalid JSON, invalid UTF-8, nested too deep; or one that
/// lacks what [`check_envelope`](crate::check_envelope) requires.
///
/// `Display` prints the reason, then the place (a [`Snippet`]): the position and the event's
/// line around it, with a caret. The error keeps only that part of the line (at most 120
/// characters either side of the place), however long the event.
///
/// # Example
/// ```
/// let m = weir::Matcher::new();
/// let err = m.matching_rules(br#"{"a": tru}"#).unwrap_err();
/// assert_eq!(err.kind(), weir::EventErrorKind::Syntax);
/// assert_eq!(err.offset(), 6);
/// assert_eq!(
///     err.to_string(),
///     r#"invalid event: expected a JSON value
///   --> line 1, column 7 (byte 6)
///   |
/// 1 | {"a": tru}
///   |       ^"#
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EventError(Box<EventInner>);

/// The fields of an [`EventError`], boxed so `Result<_, EventError>` stays one word.
#[derive(Clone, PartialEq, Eq)]
struct EventInner {
    kind: EventErrorKind,
    reason: Cow<'static, str>,
    at: Position,
    excerpt: Excerpt,
}

impl EventError {
    /// A reader's refusal of `bytes` at byte `offset`.
    pub(crate) fn malformed(why: Malformed, bytes: &[u8], offset: usize) -> EventError {
        EventError::with_kind(why.kind(), why.reason(), bytes, offset)
    }

    /// An error of kind `kind` at byte `offset` of `bytes`.
    pub(crate) fn with_kind(
        kind: EventErrorKind,
        reason: impl Into<Cow<'static, str>>,
        bytes: &[u8],
        offset: usize,
    ) -> EventError {
        let at = Position::at_bytes(bytes, offset);
        EventError(Box::new(EventInner {
            kind,
            reason: reason.into(),
            at,
            excerpt: Excerpt::around(bytes, at),
        }))
    }

    /// An error from a reader that does not classify its errors (serde_json, in the reference
    /// interpreter): [`EventErrorKind::Syntax`].
    pub(crate) fn new(reason: impl Into<String>, bytes: &[u8], offset: usize) -> EventError {
        EventError::with_kind(EventErrorKind::Syntax, reason.into(), bytes, offset)
    }

    /// The kind of mistake.
    ///
    /// # Example
    /// ```
    /// let err = weir::Matcher::new().matching_rules(b"[1, 2").unwrap_err();
    /// assert_eq!(err.kind(), weir::EventErrorKind::UnexpectedEnd);
    /// ```
    pub fn kind(&self) -> EventErrorKind {
        self.0.kind
    }

    /// Why the event could not be read.
    ///
    /// # Example
    /// ```
    /// let err = weir::Matcher::new().matching_rules(b"[").unwrap_err();
    /// assert!(err.reason().contains("end of input"));
    /// ```
    pub fn reason(&self) -> &str {
        &self.0.reason
    }

    /// Where reading failed, in the event's bytes.
    ///
    /// # Example
    /// ```
    /// let err = weir::Matcher::new().matching_rules(b"{\n x}").unwrap_err();
    /// let at = err.position();
    /// assert_eq!((at.offset, at.line, at.column), (3, 2, 2));
    /// ```
    pub fn position(&self) -> Position {
        self.0.at
    }

    /// Byte offset in the event where reading failed.
    ///
    /// # Example
    /// ```
    /// let err = weir::Matcher::new().matching_rules(b"{} x").unwrap_err();
    /// assert_eq!(err.offset(), 3);
    /// ```
    pub fn offset(&self) -> usize {
        self.0.at.offset
    }

    /// 1-based line where reading failed.
    ///
    /// # Example
    /// ```
    /// let err = weir::Matcher::new().matching_rules(b"{\n x}").unwrap_err();
    /// assert_eq!(err.line(), 2);
    /// ```
    pub fn line(&self) -> usize {
        self.0.at.line
    }

    /// 1-based column (in characters) where reading failed.
    ///
    /// # Example
    /// ```
    /// let err = weir::Matcher::new().matching_rules(b"{\n x}").unwrap_err();
    /// assert_eq!(err.column(), 2);
    /// ```
    pub fn column(&self) -> usize {
        self.0.at.column
    }

    /// The place of the error drawn with a caret (what `Display` prints after the reason).
    /// For an event that sits inside a larger input (a line of a JSONL file), place it there
    /// with [`Snippet::within`].
    ///
    /// # Example
    /// ```
    /// let err = weir::Matcher::new().matching_rules(br#"{"a": tru}"#).unwrap_err();
    /// // The event is line 40 of a file, starting at byte 1000.
    /// let base = weir::Position { offset: 1000, line: 40, column: 1 };
    /// let snippet = err.snippet().within(base);
    /// assert_eq!(snippet.start().offset, 1006);
    /// assert_eq!(
    ///     snippet.to_string(),
    ///     "  --> line 40, column 7 (byte 1006)\n   |\n40 | {\"a\": tru}\n   |       ^"
    /// );
    /// ```
    pub fn snippet(&self) -> Snippet<'_> {
        let at = self.0.at;
        self.0.excerpt.snippet(Span { start: at, end: at })
    }
}

impl fmt::Debug for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventError")
            .field("kind", &self.0.kind)
            .field("reason", &self.0.reason)
            .field("offset", &self.0.at.offset)
            .field("line", &self.0.at.line)
            .field("column", &self.0.at.column)
            .finish()
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid event: {}\n{}", self.0.reason, self.snippet())
    }
}

impl std::error::Error for EventError {}
