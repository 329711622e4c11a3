//! Caret reports: a place in a text, in words and drawn under the text's line. The one
//! renderer behind [`PatternError`](crate::PatternError)'s and
//! [`EventError`](crate::EventError)'s `Display`, the CLI's messages and the bindings'.

use std::fmt;
use std::ops::Range;

use crate::error::{char_count, lead_count, Position, Span, ORIGIN};

/// Lines longer than this (in characters) are shown as a window of this many characters
/// around the place, `...` marking what is cut.
const MAX_SHOWN: usize = 120;

/// A span of a text, ready to print as a caret report: a header naming the place, then the
/// span's line with `^` under the span.
///
/// ```text
///   --> rule "r", line 1, column 7 (byte 6), at a
///   |
/// 1 | {"a": []}
///   |       ^^
/// ```
///
/// - Positions count lines and characters with [`Position::at`]; a text that is part of a
///   larger document (a pattern inside a rules file, an event inside a JSONL file) is placed in
///   it with [`within`](Snippet::within), so the header and the line number are the
///   document's.
/// - Only the first line of a span is drawn; a span that runs on is underlined to that line's
///   end.
/// - A line longer than 120 characters is cut to a window of 120 around the caret, `...`
///   marking each cut; a line that starts before the text (a text placed mid-line) begins with
///   `...` too.
/// - Tabs are kept, and the caret line repeats them, so the carets stay under the span whatever
///   the tab width; other control characters, and malformed UTF-8, are drawn as `U+FFFD`.
///   Columns count characters, so the carets line up in terminals for characters one cell
///   wide.
///
/// # Example
/// ```
/// let text = "{\n  \"a\": [1],\n  \"b\": []\n}";
/// let at = text.find("[]").unwrap();
/// let snippet = weir::Snippet::new(text, at..at + 2).path("b");
/// assert_eq!((snippet.start().line, snippet.start().column), (3, 8));
/// assert_eq!(
///     snippet.to_string(),
///     "  --> line 3, column 8 (byte 21), at b\n  |\n3 |   \"b\": []\n  |        ^^"
/// );
/// ```
#[derive(Clone, Copy)]
pub struct Snippet<'a> {
    text: &'a [u8],
    /// The span, in bytes of `text`.
    start: usize,
    end: usize,
    /// Where `text` starts in the document.
    base: Position,
    /// The end in the document, when `text` stops before it (an error's excerpt).
    end_at: Option<Position>,
    label: &'a str,
    path: &'a str,
}

impl<'a> Snippet<'a> {
    /// The span `span` (byte offsets) of `text`. Offsets past the end are clamped to it and
    /// offsets inside a character move back to its start; an empty span is drawn as one caret.
    ///
    /// # Example
    /// ```
    /// let snippet = weir::Snippet::new("été", 2..99);
    /// assert_eq!((snippet.start().offset, snippet.end().offset), (2, 5));
    /// assert!(snippet.to_string().ends_with("1 | été\n  |  ^^"));
    /// ```
    pub fn new(text: &'a str, span: Range<usize>) -> Snippet<'a> {
        let start = Position::at(text, span.start).offset;
        let end = Position::at(text, span.end.max(start)).offset;
        Snippet::from_bytes(text.as_bytes(), start..end)
    }

    /// The span `span` (byte offsets, clamped) of `bytes`, which need not be UTF-8 (an
    /// event): malformed sequences count as one character each and are drawn as `U+FFFD`.
    ///
    /// # Example
    /// ```
    /// let snippet = weir::Snippet::from_bytes(b"[\"\xff\", x]", 6..7);
    /// assert_eq!(snippet.start().column, 7);
    /// assert!(snippet.to_string().ends_with("1 | [\"\u{fffd}\", x]\n  |       ^"));
    /// ```
    pub fn from_bytes(bytes: &'a [u8], span: Range<usize>) -> Snippet<'a> {
        let start = span.start.min(bytes.len());
        Snippet {
            text: bytes,
            start,
            end: span.end.clamp(start, bytes.len()),
            base: ORIGIN,
            end_at: None,
            label: "",
            path: "",
        }
    }

    /// Places the text at `base` of a larger document: positions, the header and the line
    /// number become the document's (see [`Position::within`]). Placing twice composes.
    ///
    /// # Example
    /// ```
    /// // The second line of a JSONL file, which starts at byte 9.
    /// let event = r#"{"a": 1,}"#;
    /// let base = weir::Position { offset: 9, line: 2, column: 1 };
    /// let snippet = weir::Snippet::new(event, 8..9).within(base);
    /// assert_eq!((snippet.start().offset, snippet.start().line), (17, 2));
    /// assert!(snippet.to_string().starts_with("  --> line 2, column 9 (byte 17)"));
    /// ```
    pub fn within(mut self, base: Position) -> Snippet<'a> {
        self.base = self.base.within(base);
        self.end_at = self.end_at.map(|p| p.within(base));
        self
    }

    /// What the header names before the position, such as `rule "name"` (nothing by default).
    ///
    /// # Example
    /// ```
    /// let snippet = weir::Snippet::new("{}", 0..2).label("rules.json");
    /// assert!(snippet.to_string().starts_with("  --> rules.json, line 1, column 1 (byte 0)"));
    /// ```
    pub fn label(mut self, label: &'a str) -> Snippet<'a> {
        self.label = label;
        self
    }

    /// The JSON path the header names after the position (`at PATH`; nothing when empty).
    ///
    /// # Example
    /// ```
    /// let snippet = weir::Snippet::new(r#"{"a": []}"#, 6..8).path("a");
    /// assert!(snippet.to_string().starts_with("  --> line 1, column 7 (byte 6), at a\n"));
    /// ```
    pub fn path(mut self, path: &'a str) -> Snippet<'a> {
        self.path = path;
        self
    }

    /// Where the span starts, in the document.
    ///
    /// # Example
    /// ```
    /// let p = weir::Snippet::new("a\nbc", 3..4).start();
    /// assert_eq!((p.offset, p.line, p.column), (3, 2, 2));
    /// ```
    pub fn start(&self) -> Position {
        Position::at_bytes(self.text, self.start).within(self.base)
    }

    /// Where the span ends (exclusive), in the document.
    ///
    /// # Example
    /// ```
    /// let p = weir::Snippet::new("a\nbc", 0..4).end();
    /// assert_eq!((p.offset, p.line, p.column), (4, 2, 3));
    /// ```
    pub fn end(&self) -> Position {
        self.end_at
            .unwrap_or_else(|| Position::at_bytes(self.text, self.end).within(self.base))
    }

    /// The span, in the document.
    ///
    /// # Example
    /// ```
    /// let span = weir::Snippet::new("[1, 2]", 4..5).span();
    /// assert_eq!(span, weir::Span::new("[1, 2]", 4, 5));
    /// ```
    pub fn span(&self) -> Span {
        Span {
            start: self.start(),
            end: self.end(),
        }
    }

    /// The header line alone: `  --> LABEL, line L, column C (byte B), at PATH`.
    ///
    /// # Example
    /// ```
    /// let snippet = weir::Snippet::new("[1, x]", 4..5);
    /// assert_eq!(snippet.header().to_string(), "  --> line 1, column 5 (byte 4)");
    /// ```
    pub fn header(&self) -> impl fmt::Display + 'a {
        let this = *self;
        Show(move |f: &mut fmt::Formatter<'_>| header(f, this.label, Some(this.start()), this.path))
    }

    /// The drawn source alone: the span's line with its number and the carets under the span
    /// (three lines, no line break at the end).
    ///
    /// # Example
    /// ```
    /// let snippet = weir::Snippet::new("[1, x]", 4..5);
    /// assert_eq!(snippet.source().to_string(), "  |\n1 | [1, x]\n  |     ^");
    /// ```
    pub fn source(&self) -> impl fmt::Display + 'a {
        let this = *self;
        Show(move |f: &mut fmt::Formatter<'_>| this.draw(f))
    }

    fn draw(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.text;
        let line_start = memchr::memrchr(b'\n', &text[..self.start]).map_or(0, |i| i + 1);
        let line_end =
            memchr::memchr(b'\n', &text[self.start..]).map_or(text.len(), |i| self.start + i);
        let line = &text[line_start..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let chars: Vec<char> = String::from_utf8_lossy(line)
            .chars()
            .map(|c| {
                if c.is_control() && c != '\t' {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect();
        let n = chars.len();
        let caret = char_count(&text[line_start..self.start]).min(n);
        let span_end = self.end.min(line_start + line.len()).max(self.start);
        let width = char_count(&text[self.start..span_end]).max(1);
        let (from, to) = if n <= MAX_SHOWN {
            (0, n)
        } else {
            let from = caret.saturating_sub(MAX_SHOWN / 2).min(n - MAX_SHOWN);
            (from, from + MAX_SHOWN)
        };
        let cut_left = from > 0 || (line_start == 0 && self.base.column > 1);
        let number = self.start().line.to_string();
        let pad = " ".repeat(number.len());
        write!(f, "{pad} |\n{number} | ")?;
        if cut_left {
            f.write_str("...")?;
        }
        chars[from..to].iter().try_for_each(|&c| write!(f, "{c}"))?;
        if to < n {
            f.write_str("...")?;
        }
        write!(f, "\n{pad} | ")?;
        if cut_left {
            f.write_str("   ")?;
        }
        for &c in &chars[from..caret.max(from)] {
            f.write_str(if c == '\t' { "\t" } else { " " })?;
        }
        let carets = width.min(to.saturating_sub(caret)).max(1);
        (0..carets).try_for_each(|_| f.write_str("^"))
    }
}

impl fmt::Display for Snippet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        header(f, self.label, Some(self.start()), self.path)?;
        f.write_str("\n")?;
        self.draw(f)
    }
}

impl fmt::Debug for Snippet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snippet")
            .field("span", &self.span())
            .field("label", &self.label)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A `Display` made of a closure.
struct Show<F>(F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Show<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

/// Writes text through to `0` with every control character but the line break (C0, DEL, C1)
/// written as a JSON escape (`\u001b`), so text taken from a pattern or an event (a key, a
/// value, a rule name) cannot send escape sequences to a terminal. The one sanitiser of
/// everything weir prints that a user's input wrote.
pub(crate) struct Printable<W>(pub W);

impl<W: fmt::Write> fmt::Write for Printable<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(i) = rest.find(|c: char| c.is_control() && c != '\n') {
            self.0.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            write!(self.0, "\\u{:04x}", c as u32)?;
            rest = &rest[i + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// Writes the header line: `  --> LABEL, line L, column C (byte B), at PATH`, leaving out the
/// parts that are empty (label and path through [`Printable`]).
pub(crate) fn header(
    f: &mut fmt::Formatter<'_>,
    label: &str,
    at: Option<Position>,
    path: &str,
) -> fmt::Result {
    f.write_str("  --> ")?;
    let mut sep = "";
    if !label.is_empty() {
        fmt::Write::write_str(&mut Printable(&mut *f), label)?;
        sep = ", ";
    }
    if let Some(p) = at {
        write!(
            f,
            "{sep}line {}, column {} (byte {})",
            p.line, p.column, p.offset
        )?;
        sep = ", ";
    }
    if !path.is_empty() {
        write!(f, "{sep}at ")?;
        fmt::Write::write_str(&mut Printable(&mut *f), path)?;
    }
    Ok(())
}

/// The part of a text's line around a place, which an error keeps to draw it later without
/// the text: up to [`MAX_SHOWN`] characters before the place and one more than that after it,
/// so that [`Snippet`]'s own cutting marks a cut on either side as it would on the whole line.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Excerpt {
    bytes: Box<[u8]>,
    /// Where `bytes` start in the text.
    base: Position,
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Excerpt")
            .field("text", &String::from_utf8_lossy(&self.bytes))
            .field("base", &self.base)
            .finish()
    }
}

impl Excerpt {
    /// The excerpt of `text` around `at` (a position in `text`).
    pub(crate) fn around(text: &[u8], at: Position) -> Excerpt {
        let line_start = memchr::memrchr(b'\n', &text[..at.offset]).map_or(0, |i| i + 1);
        let line_end =
            memchr::memchr(b'\n', &text[at.offset..]).map_or(text.len(), |i| at.offset + i);
        // Counted back from where the drawing puts the caret: no further than the line's
        // visible end (a `\r` before the line break is not drawn).
        let visible_end = if line_end > line_start && text[line_end - 1] == b'\r' {
            line_end - 1
        } else {
            line_end
        };
        let mut from = at.offset.min(visible_end);
        for _ in 0..MAX_SHOWN {
            if from == line_start {
                break;
            }
            from -= 1;
            // Back to the character's first byte (at most 3 continuation bytes).
            for _ in 0..3 {
                if from > line_start && text[from] & 0xC0 == 0x80 {
                    from -= 1;
                }
            }
        }
        let mut to = at.offset;
        for _ in 0..=MAX_SHOWN {
            if to == line_end {
                break;
            }
            to += 1;
            for _ in 0..3 {
                if to < line_end && text[to] & 0xC0 == 0x80 {
                    to += 1;
                }
            }
        }
        // A `\r` cut off at the excerpt's end would read as the line's own (not drawn): keep
        // the character after it.
        if to < line_end && text[to - 1] == b'\r' {
            to += 1;
            while to < line_end && text[to] & 0xC0 == 0x80 {
                to += 1;
            }
        }
        Excerpt {
            bytes: text[from..to].into(),
            base: Position {
                offset: from,
                line: at.line,
                column: at
                    .column
                    .saturating_sub(lead_count(&text[from..at.offset]))
                    .max(1),
            },
        }
    }

    /// The snippet of `span` (positions in the text the excerpt was cut from).
    pub(crate) fn snippet(&self, span: Span) -> Snippet<'_> {
        let local = |p: Position| p.offset.saturating_sub(self.base.offset);
        let mut snippet =
            Snippet::from_bytes(&self.bytes, local(span.start)..local(span.end)).within(self.base);
        snippet.end_at = Some(span.end);
        snippet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str, span: Range<usize>) -> String {
        Snippet::new(text, span).to_string()
    }

    #[test]
    fn the_header_prints_no_control_character_of_a_path_or_label() {
        let text = "{\"\u{1b}[2J\u{9b}\": []}";
        let drawn = Snippet::new(text, 0..1)
            .path("\u{1b}[2J\u{9b}")
            .label("rule \u{7}")
            .to_string();
        assert!(
            !drawn.chars().any(|c| c.is_control() && c != '\n'),
            "{drawn:?}"
        );
        assert!(drawn.contains(r"at \u001b[2J\u009b"), "{drawn}");
        assert!(drawn.contains(r"rule \u0007"), "{drawn}");
    }

    #[test]
    fn draws_the_line_and_carets() {
        assert_eq!(
            shown(r#"{"a": []}"#, 6..8),
            "  --> line 1, column 7 (byte 6)\n  |\n1 | {\"a\": []}\n  |       ^^"
        );
        // A later line; the gutter widens with the line number.
        let text = format!("{}[1, x]", "\n".repeat(99));
        assert_eq!(
            shown(&text, 103..104),
            "  --> line 100, column 5 (byte 103)\n    |\n100 | [1, x]\n    |     ^"
        );
        // Header parts.
        let s = Snippet::new("{}", 0..2)
            .label("rule \"r\", filter 2")
            .path("a.b[0]");
        assert_eq!(
            s.header().to_string(),
            "  --> rule \"r\", filter 2, line 1, column 1 (byte 0), at a.b[0]"
        );
        assert_eq!(s.to_string(), format!("{}\n{}", s.header(), s.source()));
    }

    #[test]
    fn empty_text_and_spans_at_the_end() {
        assert_eq!(
            shown("", 0..0),
            "  --> line 1, column 1 (byte 0)\n  |\n1 | \n  | ^"
        );
        assert_eq!(shown("", 5..9), shown("", 0..0));
        // At the end of the text: one caret after the last character.
        assert_eq!(
            shown("[1, 2", 5..5),
            "  --> line 1, column 6 (byte 5)\n  |\n1 | [1, 2\n  |      ^"
        );
        // After a final line break: the empty last line.
        assert_eq!(
            shown("[1,\n", 4..4),
            "  --> line 2, column 1 (byte 4)\n  |\n2 | \n  | ^"
        );
        // Past the end: clamped. A reversed span is empty.
        assert_eq!(shown("ab", 1..99), shown("ab", 1..2));
        assert_eq!(shown("ab", Range { start: 2, end: 1 }), shown("ab", 2..2));
    }

    #[test]
    fn multi_byte_characters_count_once() {
        let text = r#"{"été": [{"prefix": 7}]}"#;
        let at = text.find('7').unwrap();
        let s = Snippet::new(text, at..at + 1);
        assert_eq!((s.start().offset, s.start().column), (at, 21));
        let drawn = s.to_string();
        let lines: Vec<&str> = drawn.lines().collect();
        let caret = lines[3].chars().position(|c| c == '^').unwrap();
        assert_eq!(lines[2].chars().nth(caret), Some('7'));
        // A span over multi-byte characters: one caret each.
        assert!(shown("x = ééé;", 4..10).ends_with("\n  |     ^^^"));
        // Offsets inside a character move back to its start.
        assert_eq!(shown("aé", 2..3), shown("aé", 1..3));
        // Four-byte characters.
        assert!(shown("\u{1F600}\u{1F600}x", 8..9).ends_with("  |   ^"));
    }

    #[test]
    fn tabs_are_repeated_under_the_line() {
        assert_eq!(
            shown("\t{\t\"a\": x}", 8..9),
            "  --> line 1, column 9 (byte 8)\n  |\n1 | \t{\t\"a\": x}\n  | \t \t     ^"
        );
    }

    #[test]
    fn control_characters_and_malformed_utf8_are_replaced() {
        assert_eq!(
            Snippet::from_bytes(b"[\"a\x01b\x1b[2J\"]", 3..4)
                .source()
                .to_string(),
            "  |\n1 | [\"a\u{fffd}b\u{fffd}[2J\"]\n  |    ^"
        );
        let s = Snippet::from_bytes(b"\xff\xfe x", 3..4);
        assert_eq!(s.start().column, 4);
        assert_eq!(
            s.source().to_string(),
            "  |\n1 | \u{fffd}\u{fffd} x\n  |    ^"
        );
        // A line break is "\n"; a "\r" before it is not shown.
        assert_eq!(
            shown("[1,\r\n 2 x]\r\n", 8..9),
            "  --> line 2, column 4 (byte 8)\n  |\n2 |  2 x]\n  |    ^"
        );
    }

    #[test]
    fn spans_over_lines_are_underlined_to_the_line_end() {
        let text = "{\"a\": {\"x\": 1,\n \"y\": 2}}";
        let s = Snippet::new(text, 6..text.len() - 1);
        assert!(
            s.to_string()
                .ends_with("1 | {\"a\": {\"x\": 1,\n  |       ^^^^^^^^"),
            "{s}"
        );
        assert_eq!((s.end().line, s.end().column), (2, 9));
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let line = format!("{}X{}", "a".repeat(300), "b".repeat(300));
        let s = shown(&line, 300..301);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "  --> line 1, column 301 (byte 300)");
        let body = lines[2].strip_prefix("1 | ").unwrap();
        assert!(
            body.starts_with("...aaa") && body.ends_with("bbb..."),
            "{body}"
        );
        assert_eq!(body.chars().count(), MAX_SHOWN + 6);
        let caret = lines[3].find('^').unwrap();
        assert_eq!(lines[2].as_bytes()[caret], b'X');
        // Near the start: cut on the right only; near the end: on the left only, and the
        // window is still full.
        let s = shown(&line, 2..3);
        assert!(
            s.contains(&format!("1 | {}...\n", "a".repeat(MAX_SHOWN))),
            "{s}"
        );
        let s = shown(&line, 599..601);
        let body = s.lines().nth(2).unwrap().strip_prefix("1 | ").unwrap();
        assert!(body.starts_with("...") && body.ends_with("bbb"), "{body}");
        assert_eq!(body.chars().count(), MAX_SHOWN + 3);
        // Carets stop at the cut.
        let s = shown(&line, 10..590);
        assert!(
            s.ends_with(&format!("\n  | {}{}", " ".repeat(10), "^".repeat(110))),
            "{s}"
        );
        // At most MAX_SHOWN characters: shown whole.
        let exact = "c".repeat(MAX_SHOWN);
        assert!(shown(&exact, 119..120).contains(&format!("1 | {exact}\n")));
        // Counted in characters, not bytes.
        let wide = "é".repeat(MAX_SHOWN);
        assert!(shown(&wide, 0..2).contains(&format!("1 | {wide}\n")));
    }

    #[test]
    fn placed_within_a_document() {
        // A pattern at line 3, column 11 (byte 40) of a rules file.
        let base = Position {
            offset: 40,
            line: 3,
            column: 11,
        };
        let pattern = "{\"a\": []}";
        let s = Snippet::new(pattern, 6..8).within(base);
        assert_eq!(
            (s.start().offset, s.start().line, s.start().column),
            (46, 3, 17)
        );
        assert_eq!(s.end().offset, 48);
        // The text starts mid-line: its first line is shown after "...".
        assert_eq!(
            s.to_string(),
            "  --> line 3, column 17 (byte 46)\n  |\n3 | ...{\"a\": []}\n  |          ^^"
        );
        // On a later line of the text, columns are the text's own, and nothing is cut.
        let pattern = "{\n\"a\": []}";
        let s = Snippet::new(pattern, 7..9).within(base);
        assert_eq!(
            s.to_string(),
            "  --> line 4, column 6 (byte 47)\n  |\n4 | \"a\": []}\n  |      ^^"
        );
        // Hand-made positions do not overflow.
        let odd = Position {
            offset: usize::MAX,
            line: 0,
            column: 0,
        };
        let s = Snippet::new("a\nb", 2..3).within(odd).within(odd);
        assert_eq!(s.start().offset, usize::MAX);
        assert!(s.to_string().contains("\n1 | b\n"), "{s}");
        // Placing composes, and at the origin changes nothing.
        let twice = Snippet::new("ab\ncd", 4..5)
            .within(Position {
                offset: 10,
                line: 2,
                column: 1,
            })
            .within(base);
        assert_eq!(
            (
                twice.start().offset,
                twice.start().line,
                twice.start().column
            ),
            (54, 5, 2)
        );
        assert_eq!(
            Snippet::new("ab", 1..2).within(ORIGIN).to_string(),
            shown("ab", 1..2)
        );
    }

    proptest::proptest! {
        /// Any bytes, any span: no panic; positions are `Position::at_bytes`'s; an excerpt
        /// draws what the whole text draws.
        #[test]
        fn any_text_any_span(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"a"[..], "é".as_bytes(), "\u{1F600}".as_bytes(), b"\n", b"\t", b"\r",
                    b"\x01", b"\xff", b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                ]),
                0..300,
            ),
            a in 0usize..10_000,
            b in 0usize..10_000,
        ) {
            let text: Vec<u8> = pieces.concat();
            let (a, b) = (a % (text.len() + 2), b % (text.len() + 2));
            let s = Snippet::from_bytes(&text, a..b);
            let start = Position::at_bytes(&text, a);
            proptest::prop_assert_eq!(s.start(), start);
            proptest::prop_assert_eq!(s.end(), Position::at_bytes(&text, b.max(start.offset)));
            let drawn = s.to_string();
            proptest::prop_assert_eq!(drawn.lines().count(), 4);
            let excerpt = Excerpt::around(&text, start);
            let point = Span { start, end: start };
            proptest::prop_assert_eq!(
                excerpt.snippet(point).to_string(),
                Snippet::from_bytes(&text, a..a).to_string()
            );
        }
    }

    #[test]
    fn excerpts_draw_like_the_whole_text() {
        let text = format!("{{\n{}\"k\": tru{}\n}}", "é".repeat(500), "x".repeat(500));
        for offset in [
            0,
            2,
            3,
            500,
            1002,
            1008,
            1013,
            1200,
            text.len() - 1,
            text.len(),
        ] {
            let at = Position::at(&text, offset);
            let excerpt = Excerpt::around(text.as_bytes(), at);
            assert!(excerpt.bytes.len() <= 4 * (2 * MAX_SHOWN + 1));
            let span = Span { start: at, end: at };
            let whole = Snippet::new(&text, at.offset..at.offset);
            assert_eq!(
                excerpt.snippet(span).to_string(),
                whole.to_string(),
                "{offset}"
            );
            assert_eq!(excerpt.snippet(span).start(), at);
        }
    }
}
