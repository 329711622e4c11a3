//! Errors: where a pattern or an event went wrong, and why.

use std::fmt;

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
    /// The position of byte `offset` in `text` (clamped to the text's length).
    ///
    /// # Example
    /// ```
    /// let p = weir::Position::at("ab\ncd", 4);
    /// assert_eq!((p.line, p.column), (2, 2));
    /// ```
    pub fn at(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        crate::json::locate(text.as_bytes(), offset)
    }
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

/// An invalid pattern: AWS's reason text plus where it is.
///
/// `Display` prints the reason, the position and the offending line with carets:
///
/// ```
/// let err = weir::Pattern::parse(r#"{"detail": {"state": []}}"#).unwrap_err();
/// assert_eq!(err.reason(), "Empty arrays are not allowed");
/// assert_eq!(err.path(), "detail.state");
/// let shown = err.to_string();
/// assert!(shown.contains("line 1, column 22"), "{shown}");
/// assert!(shown.contains("^^"), "{shown}");
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
    source_line: Option<String>,
    filter: Option<usize>,
    rule: Option<String>,
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
        let source_line = span.map(|sp| {
            let start = text[..sp.start.offset].rfind('\n').map_or(0, |i| i + 1);
            let end = text[sp.start.offset..]
                .find('\n')
                .map_or(text.len(), |i| sp.start.offset + i);
            text[start..end].trim_end_matches('\r').to_string()
        });
        PatternError(Box::new(Inner {
            kind,
            reason: reason.into(),
            span,
            path: path.into(),
            source_line,
            filter: None,
            rule: None,
        }))
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

    pub(crate) fn in_filter(mut self, index: usize) -> PatternError {
        self.0.filter = Some(index);
        self
    }

    pub(crate) fn in_rule(mut self, name: &str) -> PatternError {
        self.0.rule = Some(name.to_string());
        self
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.reason)?;
        let mut context = Vec::new();
        if let Some(rule) = &self.0.rule {
            context.push(format!("rule {rule:?}"));
        }
        if let Some(filter) = self.0.filter {
            context.push(format!("filter {filter}"));
        }
        if let Some(span) = self.0.span {
            context.push(format!(
                "line {}, column {} (byte {})",
                span.start.line, span.start.column, span.start.offset
            ));
        }
        if !self.0.path.is_empty() {
            context.push(format!("at {}", self.0.path));
        }
        if !context.is_empty() {
            write!(f, "\n  --> {}", context.join(", "))?;
        }
        if let (Some(span), Some(line)) = (self.0.span, &self.0.source_line) {
            let gutter = span.start.line.to_string();
            let pad = " ".repeat(gutter.len());
            let width = if span.end.line == span.start.line {
                span.end.column.saturating_sub(span.start.column).max(1)
            } else {
                line.chars()
                    .count()
                    .saturating_sub(span.start.column - 1)
                    .max(1)
            };
            write!(
                f,
                "\n{pad} |\n{gutter} | {line}\n{pad} | {}{}",
                " ".repeat(span.start.column - 1),
                "^".repeat(width)
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for PatternError {}

/// An event that could not be read: invalid JSON, invalid UTF-8, nested too deep.
///
/// # Example
/// ```
/// let m = weir::Matcher::new();
/// let err = m.matching_rules(br#"{"a": tru}"#).unwrap_err();
/// assert_eq!(err.offset(), 6);
/// assert!(err.to_string().contains("byte 6"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventError(Box<EventInner>);

/// The fields of an [`EventError`], boxed so `Result<_, EventError>` stays one word.
#[derive(Clone, Debug, PartialEq, Eq)]
struct EventInner {
    reason: String,
    offset: usize,
    line: usize,
    column: usize,
}

impl EventError {
    pub(crate) fn new(reason: impl Into<String>, bytes: &[u8], offset: usize) -> EventError {
        let Position {
            offset,
            line,
            column,
        } = crate::json::locate(bytes, offset);
        EventError(Box::new(EventInner {
            reason: reason.into(),
            offset,
            line,
            column,
        }))
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

    /// Byte offset in the event where reading failed.
    ///
    /// # Example
    /// ```
    /// let err = weir::Matcher::new().matching_rules(b"{} x").unwrap_err();
    /// assert_eq!(err.offset(), 3);
    /// ```
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// 1-based line where reading failed.
    ///
    /// # Example
    /// ```
    /// let err = weir::Matcher::new().matching_rules(b"{\n x}").unwrap_err();
    /// assert_eq!(err.line(), 2);
    /// ```
    pub fn line(&self) -> usize {
        self.0.line
    }

    /// 1-based column (in characters) where reading failed.
    ///
    /// # Example
    /// ```
    /// let err = weir::Matcher::new().matching_rules(b"{\n x}").unwrap_err();
    /// assert_eq!(err.column(), 2);
    /// ```
    pub fn column(&self) -> usize {
        self.0.column
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid event: {} at line {}, column {} (byte {})",
            self.0.reason, self.0.line, self.0.column, self.0.offset
        )
    }
}

impl std::error::Error for EventError {}
