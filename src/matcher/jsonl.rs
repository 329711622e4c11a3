//! Cutting and matching JSONL in one pass: the events are the lines
//! [`Splitter`](crate::json::Splitter) cuts with [`Layout::Jsonl`](crate::json::Layout::Jsonl)
//! and [`Checking::Boundaries`](crate::json::Checking::Boundaries), the results those of
//! matching each of them, and reading validates each line where it lies instead of first
//! searching it for its line break.
//!
//! Validating, an event's bytes are read once from memory: the reader reads the object that
//! starts the line up to its closing bracket, and the search for the line break then runs
//! over bytes already in cache (it also checks that the value did not go on past its line).
//! Anything unusual on a line (it does not start with `{`, the value is broken or is not
//! alone on its line) is read again the plain way, cut at its line break, so results and
//! errors are exactly those of the cut lines. A value that runs on past its line (a broken
//! line that the next lines seem to continue) costs the bytes read beyond the line: those
//! are charged to an allowance of 1 MiB plus the bytes read in place so far, no reading is
//! given more bytes than the allowance holds, and once it is spent the rest of the call cuts
//! first; so a call reads its input at most about three times, plus 1 MiB. Lazy reading,
//! which stops early in an event, cuts each line first.

use super::cache::Scratch;
use super::{eval, run, scan, BatchResults};
use crate::compile::Compiled;
use crate::json::Event;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The bytes the in-place reading may read past lines' ends before it has read any line.
const OVER_READ: usize = 1 << 20;

/// The most bytes one in-place reading is given (a longer line is cut first).
const MAX_IN_PLACE: usize = 64 << 20;

/// Where a call stopped: the offset after the last line break it read (or the end of the
/// buffer) and how many line breaks it read.
pub(super) struct Stop {
    pub end: usize,
    pub breaks: usize,
}

/// Cuts and matches the lines of `buf` from `from` (a line start, counted as line 1; at
/// offset 0 a byte order mark is skipped), at most `max` events, pushing each to `each`
/// and its result to `results`. After the `max`-th event, stops after its line break.
#[allow(clippy::too_many_arguments)]
pub(super) fn cut_and_match<'a>(
    c: &Compiled,
    lazy: bool,
    s: &mut Scratch,
    buf: &'a [u8],
    from: usize,
    max: usize,
    results: &mut BatchResults,
    mut each: impl FnMut(Event<'a>),
) -> Stop {
    if max == 0 {
        return Stop {
            end: from.min(buf.len()),
            breaks: 0,
        };
    }
    let mut pos = from.min(buf.len());
    let mut line = 1;
    let mut line_start = pos;
    // Characters before `pos` on its line that are not one byte each (the byte order mark:
    // three bytes, one character).
    let mut wide = 0;
    if pos == 0 && buf.starts_with(BOM) {
        pos = BOM.len();
        wide = BOM.len() - 1;
    }
    let mut in_place = !lazy;
    // Bytes the in-place reading may still read beyond lines' ends: it grows with the bytes
    // read in place, and one reading is given no more than it (so positions also stay far
    // below what the reader's `u32` offsets hold).
    let mut budget = OVER_READ;
    // How far the searches for line breaks have asked for bytes ahead.
    let mut asked = 0;
    let mut n = 0;
    while n < max {
        // Blank space and blank lines up to the next event.
        loop {
            match buf.get(pos) {
                Some(b'\n') => {
                    pos += 1;
                    line += 1;
                    line_start = pos;
                    wide = 0;
                }
                Some(&b) if blank(b) => pos += 1,
                _ => break,
            }
        }
        if pos == buf.len() {
            return Stop {
                end: pos,
                breaks: line - 1,
            };
        }
        let start = pos;
        let mut read = None;
        if in_place && buf[start] == b'{' {
            let limit = buf.len().min(start + budget);
            let (got, beyond) = read_in_place(c, s, &buf[start..limit], limit == buf.len());
            read = got;
            budget -= beyond.min(budget);
            if let Some((_, next)) = read {
                budget = (budget + next).min(MAX_IN_PLACE);
            }
            in_place = budget > 0;
        }
        let (end, next) = match read {
            Some((end, next)) => {
                results.push_from(|out| {
                    eval::evaluate(c, s, out);
                    Ok(())
                });
                (start + end, start + next)
            }
            None => {
                crate::json::read_ahead(buf, start, &mut asked);
                let nl = memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |i| start + i);
                let mut end = nl;
                while blank(buf[end - 1]) {
                    end -= 1;
                }
                results.push_from(|out| run(c, lazy, s, &buf[start..end], out));
                (end, nl)
            }
        };
        each(Event {
            bytes: &buf[start..end],
            offset: start,
            line,
            column: start - line_start - wide + 1,
        });
        n += 1;
        pos = next;
    }
    // After the last event allowed: its line break, if it has one.
    if pos < buf.len() {
        pos += 1;
        line += 1;
    }
    Stop {
        end: pos,
        breaks: line - 1,
    }
}

/// Reads the object that starts `line` (and what follows it, up to the end of the buffer or
/// the reading's allowance, `at_end` telling which) in place: `Some((end, line_end))` when
/// it is valid and alone on its line (the event is `..end`, its line break or the buffer's
/// end at `line_end`), with its reading in `s`; and how many bytes past the line's end were
/// read (a broken line the next lines seem to continue).
fn read_in_place(
    c: &Compiled,
    s: &mut Scratch,
    line: &[u8],
    at_end: bool,
) -> (Option<(usize, usize)>, usize) {
    let (end, ok) = match scan::scan_prefix(c, s, line) {
        Ok(end) => (end, true),
        Err(upto) => (upto, false),
    };
    // The bytes up to `end` were just read: searching them again is cheap.
    let nl = match memchr::memchr(b'\n', line) {
        Some(nl) => nl,
        None if at_end => line.len(),
        // The line goes on past the allowance: it is read the plain way.
        None => return (None, 0),
    };
    if nl < end {
        return (None, end - nl);
    }
    if !ok || !line[end..nl].iter().all(|&b| blank(b)) {
        return (None, 0);
    }
    (Some((end, nl)), 0)
}

/// JSON whitespace other than a line break: what may stand around an event on its line.
#[inline]
fn blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r')
}
