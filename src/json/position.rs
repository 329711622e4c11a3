//! Line and column of a byte offset: the one calculator every error position comes from.

use crate::error::{lead_count, Position, Snippet};

/// The position of byte `offset` of `buf` (clamped to its length): 1-based line, and
/// 1-based column counted in characters from the start of the line (by their leading bytes,
/// so a malformed UTF-8 sequence counts by its leading bytes). The one line/column
/// calculator: every error position is counted this way.
///
/// # Example
/// ```
/// let p = weir::json::locate("ab\nçd".as_bytes(), 5);
/// assert_eq!((p.offset, p.line, p.column), (5, 2, 2));
/// ```
pub fn locate(buf: &[u8], offset: usize) -> Position {
    Position::at_bytes(buf, offset)
}

/// The line starts of one buffer, for locating many offsets in it quickly.
///
/// # Example
/// ```
/// let text = "{\n  \"a\": x\n}";
/// let index = weir::json::LineIndex::new(text.as_bytes());
/// let p = index.locate(9);
/// assert_eq!((p.line, p.column), (2, 8));
/// assert_eq!(index.line_text(2), b"  \"a\": x");
/// ```
#[derive(Clone, Debug)]
pub struct LineIndex<'a> {
    bytes: &'a [u8],
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes the line starts of `bytes`.
    ///
    /// # Example
    /// ```
    /// let index = weir::json::LineIndex::new(b"a\nb\n");
    /// assert_eq!(index.line_count(), 3);
    /// ```
    pub fn new(bytes: &'a [u8]) -> LineIndex<'a> {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1));
        LineIndex { bytes, starts }
    }

    /// How many lines the buffer has (a final line break starts an empty last line).
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::json::LineIndex::new(b"x").line_count(), 1);
    /// ```
    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// The position of byte `offset` (clamped to the buffer), as [`locate`] gives it.
    ///
    /// # Example
    /// ```
    /// let index = weir::json::LineIndex::new(b"ab\ncd");
    /// assert_eq!(index.locate(4), weir::json::locate(b"ab\ncd", 4));
    /// ```
    pub fn locate(&self, offset: usize) -> Position {
        let offset = offset.min(self.bytes.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        Position {
            offset,
            line,
            column: lead_count(&self.bytes[start..offset]) + 1,
        }
    }

    /// The bytes of line `line` (1-based), without its line break (`\n` or `\r\n`); empty for
    /// a line past the end.
    ///
    /// # Example
    /// ```
    /// let index = weir::json::LineIndex::new(b"a\r\nb");
    /// assert_eq!(index.line_text(1), b"a");
    /// assert_eq!(index.line_text(9), b"");
    /// ```
    pub fn line_text(&self, line: usize) -> &'a [u8] {
        let Some(&start) = line.checked_sub(1).and_then(|i| self.starts.get(i)) else {
            return b"";
        };
        let end = self
            .starts
            .get(line)
            .map_or(self.bytes.len(), |&next| next - 1);
        let text = &self.bytes[start..end.max(start)];
        text.strip_suffix(b"\r").unwrap_or(text)
    }

    /// The caret report ([`Snippet`]) of bytes `start..end` of the buffer (clamped to it),
    /// placed at its line: only the buffer from that line on is looked at, so reporting many
    /// errors of one large input costs no recount from its start.
    ///
    /// # Example
    /// ```
    /// let index = weir::json::LineIndex::new("ab\nçd\n".as_bytes());
    /// assert_eq!(
    ///     index.snippet(5, 6).to_string(),
    ///     "  --> line 2, column 2 (byte 5)\n  |\n2 | çd\n  |  ^"
    /// );
    /// ```
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

    #[test]
    fn index_agrees_with_locate() {
        let text = "ab\nçd\n\n\u{1F600}x\r\ny".as_bytes();
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(
                index.locate(offset),
                locate(text, offset),
                "offset {offset}"
            );
        }
        assert_eq!(
            locate(text, 5),
            Position {
                offset: 5,
                line: 2,
                column: 2
            }
        );
        assert_eq!(locate(text, 12).column, 2);
        assert_eq!(index.line_text(4), "\u{1F600}x".as_bytes());
        assert_eq!(index.line_text(0), b"");
    }

    #[test]
    fn lead_count_counts_leading_bytes() {
        assert_eq!(lead_count("aé\u{1F600}".as_bytes()), 3);
        assert_eq!(lead_count(b"\xff\xfe"), 2);
    }
}
