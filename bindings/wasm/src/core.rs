//! The binding's work, free of JavaScript: every answer is built here as JSON text (the glue
//! in `lib.rs` parses it into JS values with one `JSON.parse`), and every error as a
//! [`Failure`]. Host unit tests exercise this module directly.

use std::fmt::Write as _;

use weir::json::{Checking, SplitError, Splitter};
use weir::lambda::{DropReason, FilterCriteria, RecordVerdict, Source};
use weir::syntax::NodeKind;
use weir::{EventError, Matcher, Pattern, PatternError, PatternErrorKind, Position};

/// An error as the JS side sees it: an `Error` whose message is `reason`, carrying these
/// fields. Positions are in the text the caller passed (for a FilterCriteria, the document,
/// also for a mistake inside a filter's pattern string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `pattern` (a pattern or a FilterCriteria was refused) or `event` (an event or a record
    /// could not be read).
    pub category: &'static str,
    /// The error's kind (`syntax`, `invalid`, `unsupported`, ... for patterns; `syntax`,
    /// `unexpected_end`, `not_an_object`, ... for events).
    pub kind: &'static str,
    /// Why, in AWS's words where AWS has them.
    pub reason: String,
    /// The reason and the place drawn with carets (the CLI's text).
    pub detail: String,
    /// Where the problem starts, when it has a place.
    pub start: Option<Place>,
    /// Where it ends (exclusive).
    pub end: Option<Place>,
    /// JSON path of the offending pattern node (empty for the root or an event).
    pub path: String,
    /// The filter to blame, inside a FilterCriteria.
    pub filter_index: Option<usize>,
    /// The rule being added, for a matcher's error.
    pub rule: Option<String>,
    /// For a mistake inside a filter's pattern string: the position in the pattern's text.
    pub pattern_start: Option<Position>,
    /// The 0-based index of the event or record that could not be read, in a batch.
    pub event_index: Option<usize>,
}

/// A position with its offset also counted in UTF-16 code units (what JS strings and
/// editors count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// Byte offset, line (1-based) and column (1-based, in characters).
    pub at: Position,
    /// The offset in UTF-16 code units.
    pub offset16: usize,
}

/// UTF-16 offsets of byte offsets in one text, counted incrementally when asked in order.
pub struct Utf16<'t> {
    text: &'t [u8],
    byte: usize,
    units: usize,
}

impl<'t> Utf16<'t> {
    /// Offsets into `text`.
    pub fn new(text: &'t str) -> Utf16<'t> {
        Utf16 {
            text: text.as_bytes(),
            byte: 0,
            units: 0,
        }
    }

    /// The UTF-16 offset of byte `offset` (clamped to the text; a byte inside a character
    /// counts as the character's start).
    pub fn at(&mut self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while offset > 0 && offset < self.text.len() && (self.text[offset] as i8) < -0x40 {
            offset -= 1;
        }
        if offset < self.byte {
            self.byte = 0;
            self.units = 0;
        }
        self.units += units16(&self.text[self.byte..offset]);
        self.byte = offset;
        self.units
    }

    /// `position` with its UTF-16 offset.
    pub fn place(&mut self, position: Position) -> Place {
        Place {
            at: position,
            offset16: self.at(position.offset),
        }
    }
}

/// UTF-16 code units of UTF-8 `bytes` cut at character boundaries: one per character, two for
/// those of four bytes.
fn units16(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .map(|&b| usize::from((b as i8) >= -0x40) + usize::from(b >= 0xF0))
        .sum()
}

/// The error `err` met in `text` (a pattern, or a rule's pattern).
pub fn pattern_failure(err: &PatternError, text: &str) -> Box<Failure> {
    let mut u = Utf16::new(text);
    let span = err.span();
    Box::new(Failure {
        category: "pattern",
        kind: err.kind().name(),
        reason: err.reason().to_string(),
        detail: err.to_string(),
        start: span.map(|s| u.place(s.start)),
        end: span.map(|s| u.place(s.end)),
        path: err.path().to_string(),
        filter_index: err.filter(),
        rule: err.rule().map(str::to_string),
        pattern_start: None,
        event_index: None,
    })
}

/// The error `err` met in the FilterCriteria document `doc`: a mistake inside a filter's
/// pattern string is placed in the document (its position in the pattern stays in
/// `pattern_start`).
pub fn criteria_failure(err: &PatternError, doc: &str) -> Box<Failure> {
    let inside = match (err.filter(), err.span()) {
        (Some(i), Some(span)) if err.kind() != PatternErrorKind::FilterCriteria => {
            let start = pattern_offset_in_document(doc, i, span.start.offset);
            let end = pattern_offset_in_document(doc, i, span.end.offset);
            start.zip(end).map(|(s, e)| (span.start, s, e))
        }
        _ => None,
    };
    let Some((in_pattern, start, end)) = inside else {
        return pattern_failure(err, doc);
    };
    let mut u = Utf16::new(doc);
    let start = u.place(Position::at(doc, start));
    let end = u.place(Position::at(doc, end));
    let snippet = weir::Snippet::new(doc, start.at.offset..end.at.offset).path(err.path());
    let label = format!("filter {}", err.filter().unwrap_or_default());
    Box::new(Failure {
        category: "pattern",
        kind: err.kind().name(),
        reason: err.reason().to_string(),
        detail: format!("{}\n{}", err.reason(), snippet.label(&label)),
        start: Some(start),
        end: Some(end),
        path: err.path().to_string(),
        filter_index: err.filter(),
        rule: None,
        pattern_start: Some(in_pattern),
        event_index: None,
    })
}

/// Where byte `offset` of filter `filter`'s pattern lies in the FilterCriteria document
/// `doc`: the pattern is the decoded value of the string `Filters[filter].Pattern`, so the
/// string's escapes are walked. `None` when the document has no such string.
pub fn pattern_offset_in_document(doc: &str, filter: usize, offset: usize) -> Option<usize> {
    let root = weir::syntax::parse(doc).ok()?;
    let NodeKind::Object(members) = &root.kind else {
        return None;
    };
    let filters = members.iter().find(|m| m.key == "Filters")?;
    let NodeKind::Array(items) = &filters.value.kind else {
        return None;
    };
    let NodeKind::Object(fields) = &items.get(filter)?.kind else {
        return None;
    };
    let pattern = &fields.iter().find(|m| m.key == "Pattern")?.value;
    let NodeKind::String(_) = pattern.kind else {
        return None;
    };
    // The literal without its quotes.
    let first = pattern.start + 1;
    let raw = doc.as_bytes().get(first..pattern.end.checked_sub(1)?)?;
    let (mut i, mut decoded) = (0, 0);
    while i < raw.len() && decoded < offset {
        let (step, out) = if raw[i] == b'\\' {
            match raw.get(i + 1) {
                Some(b'u') => {
                    let unit = hex4(raw.get(i + 2..i + 6)?)?;
                    let low = raw
                        .get(i + 6..i + 8)
                        .filter(|p| *p == b"\\u")
                        .and_then(|_| hex4(raw.get(i + 8..i + 12)?));
                    match (unit, low) {
                        (0xD800..=0xDBFF, Some(0xDC00..=0xDFFF)) => (12, 4),
                        (0..=0x7F, _) => (6, 1),
                        (0x80..=0x7FF, _) => (6, 2),
                        _ => (6, 3),
                    }
                }
                Some(_) => (2, 1),
                None => return None,
            }
        } else {
            let n = match raw[i] {
                0xF0.. => 4,
                0xE0.. => 3,
                0xC0.. => 2,
                _ => 1,
            };
            (n, n)
        };
        i += step;
        decoded += out;
    }
    Some(first + i.min(raw.len()))
}

fn hex4(digits: &[u8]) -> Option<u32> {
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// The position one character after `at` in `text` (on the same line: only the end of a
/// one-character range), without counting from the start.
fn after(text: &[u8], at: Position) -> Position {
    let len = match text.get(at.offset) {
        None => 0,
        Some(0xF0..) => 4,
        Some(0xE0..) => 3,
        Some(0xC0..) => 2,
        Some(_) => 1,
    };
    Position {
        offset: (at.offset + len).min(text.len()),
        line: at.line,
        column: at.column + usize::from(len > 0),
    }
}

/// The error `err` met reading the event that starts at `base` of the text `u` counts in
/// (positions asked of `u` in increasing order keep a batch linear).
pub fn event_failure(
    err: &EventError,
    u: &mut Utf16<'_>,
    base: Position,
    index: Option<usize>,
) -> Box<Failure> {
    let at = err.position().within(base);
    let end = after(u.text, at);
    let snippet = err.snippet().within(base);
    Box::new(Failure {
        category: "event",
        kind: err.kind().name(),
        reason: err.reason().to_string(),
        detail: format!("{}\n{snippet}", err.reason()),
        start: Some(u.place(at)),
        end: Some(u.place(end)),
        path: String::new(),
        filter_index: None,
        rule: None,
        pattern_start: None,
        event_index: index,
    })
}

/// A JSON `event` that is not an object, starting at `base` of the text `u` counts in
/// (`first` is its first byte): the matcher reads any JSON value, but an event is an object,
/// as every `weir` command requires.
fn not_an_object(
    event: &[u8],
    u: &mut Utf16<'_>,
    base: Position,
    first: u8,
    index: Option<usize>,
) -> Box<Failure> {
    let found = match first {
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    };
    let reason = format!("an event must be a JSON object, not {found}");
    let end = after(u.text, base);
    let snippet = weir::Snippet::from_bytes(event, 0..1).within(base);
    Box::new(Failure {
        category: "event",
        kind: weir::EventErrorKind::NotAnObject.name(),
        detail: format!("{reason}\n{snippet}"),
        reason,
        start: Some(u.place(base)),
        end: Some(u.place(end)),
        path: String::new(),
        filter_index: None,
        rule: None,
        pattern_start: None,
        event_index: index,
    })
}

/// The first byte of a JSON value that is not whitespace (valid JSON has one).
fn first_byte(event: &[u8]) -> u8 {
    event
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace())
        .unwrap_or(b'{')
}

/// Whether `pattern` matches the one event `text` (a JSON object).
pub fn pattern_matches(pattern: &Pattern, text: &str) -> Result<bool, Box<Failure>> {
    let origin = Position::at(text, 0);
    let hit = pattern
        .matches(text.as_bytes())
        .map_err(|e| event_failure(&e, &mut Utf16::new(text), origin, None))?;
    object_only(text, origin, None)?;
    Ok(hit)
}

fn object_only(text: &str, base: Position, index: Option<usize>) -> Result<(), Box<Failure>> {
    match first_byte(text.as_bytes()) {
        b'{' => Ok(()),
        b => Err(not_an_object(
            text.as_bytes(),
            &mut Utf16::new(text),
            base,
            b,
            index,
        )),
    }
}

/// [`Pattern::explain`] as JSON: [`weir::Explanation::to_json`]'s object with `text`, the
/// report in words, added.
pub fn explain_pattern(pattern: &Pattern, text: &str) -> Result<String, Box<Failure>> {
    let origin = Position::at(text, 0);
    let why = pattern
        .explain(text.as_bytes())
        .map_err(|e| event_failure(&e, &mut Utf16::new(text), origin, None))?;
    object_only(text, origin, None)?;
    Ok(with_text(why.to_json(), &why.to_string()))
}

/// [`Matcher::explain`] as JSON (`null` for an unknown rule), with `text` added.
pub fn explain_rule(matcher: &Matcher, rule: &str, text: &str) -> Result<String, Box<Failure>> {
    let origin = Position::at(text, 0);
    let why = matcher
        .explain(rule, text.as_bytes())
        .map_err(|e| event_failure(&e, &mut Utf16::new(text), origin, None))?;
    object_only(text, origin, None)?;
    Ok(match why {
        Some(why) => with_text(why.to_json(), &why.to_string()),
        None => "null".to_string(),
    })
}

/// `json` (an object) with a `"text"` member added at its end.
fn with_text(mut json: String, text: &str) -> String {
    json.pop();
    json.push_str(",\"text\":");
    quote(&mut json, text);
    json.push('}');
    json
}

/// The names of the rules of `matcher` that the event `text` matches.
pub fn matching_rules<'m>(matcher: &'m Matcher, text: &str) -> Result<Vec<&'m str>, Box<Failure>> {
    let origin = Position::at(text, 0);
    let names = matcher
        .matching_rules(text.as_bytes())
        .map_err(|e| event_failure(&e, &mut Utf16::new(text), origin, None))?;
    object_only(text, origin, None)?;
    Ok(names)
}

/// One event cut out of a text.
struct Cut<'t> {
    bytes: &'t [u8],
    base: Position,
}

/// The events of `text` (one event, a JSON array of events, JSONL or concatenated values),
/// each cut or why it could not be. Boundaries only: the matcher validates each event.
fn cuts(text: &str) -> impl Iterator<Item = Result<Cut<'_>, SplitError>> + '_ {
    Splitter::new(text.as_bytes())
        .checking(Checking::Boundaries)
        .map(|item| {
            item.map(|e| Cut {
                bytes: e.bytes,
                base: Position {
                    offset: e.offset,
                    line: e.line,
                    column: e.column,
                },
            })
        })
}

/// The split error `e` of the `index`th item of the text `u` counts in: placed from the
/// splitter's own line and column, drawn on its line only.
fn split_failure(e: &SplitError, u: &mut Utf16<'_>, index: usize) -> Box<Failure> {
    let text = u.text;
    let at = Position {
        offset: e.offset(),
        line: e.line(),
        column: e.column(),
    };
    let end = after(text, at);
    let line_start = memchr_back(&text[..at.offset.min(text.len())]);
    let line_end = text[at.offset.min(text.len())..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |n| at.offset + n);
    let snippet = weir::Snippet::from_bytes(
        &text[line_start..line_end],
        at.offset - line_start..end.offset - line_start,
    )
    .within(Position {
        offset: line_start,
        line: at.line,
        column: 1,
    });
    Box::new(Failure {
        category: "event",
        kind: e.kind().name(),
        reason: e.reason().to_string(),
        detail: format!("{}\n{snippet}", e.reason()),
        start: Some(u.place(at)),
        end: Some(u.place(end)),
        path: String::new(),
        filter_index: None,
        rule: None,
        pattern_start: None,
        event_index: Some(index),
    })
}

/// Where the line holding the end of `before` starts.
fn memchr_back(before: &[u8]) -> usize {
    before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
}

/// The events of `text` as JSON: `[{"offset":b,"offset16":u,"end16":u,"line":l,"column":c}
/// | {"error": FAILURE}, ...]`, in the order [`match_many`] answers them.
pub fn split_events(text: &str) -> String {
    let mut out = String::from("[");
    let mut u = Utf16::new(text);
    for (i, cut) in cuts(text).enumerate() {
        if i > 0 {
            out.push(',');
        }
        match cut {
            Ok(c) => {
                let start = u.at(c.base.offset);
                let end = u.at(c.base.offset + c.bytes.len());
                let _ = write!(
                    out,
                    "{{\"offset\":{},\"offset16\":{start},\"end16\":{end},\"line\":{},\"column\":{}}}",
                    c.base.offset, c.base.line, c.base.column
                );
            }
            Err(e) => error_item(&mut out, &split_failure(&e, &mut u, i)),
        }
    }
    out.push(']');
    out
}

fn error_item(out: &mut String, f: &Failure) {
    out.push_str("{\"error\":");
    f.write_json(out);
    out.push('}');
}

/// The matching rules of every event of `text`, as JSON: `[["name", ...] | {"error":
/// FAILURE}, ...]`, one item per event, positions in `text`.
pub fn match_many(matcher: &Matcher, text: &str) -> String {
    let mut out = String::from("[");
    let mut u = Utf16::new(text);
    // Each rule name quoted once.
    let mut quoted: Vec<(&str, String)> = Vec::new();
    for (i, cut) in cuts(text).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let c = match cut {
            Ok(c) => c,
            Err(e) => {
                error_item(&mut out, &split_failure(&e, &mut u, i));
                continue;
            }
        };
        match matcher.matching_rules(c.bytes) {
            Err(e) => error_item(&mut out, &event_failure(&e, &mut u, c.base, Some(i))),
            Ok(_) if first_byte(c.bytes) != b'{' => error_item(
                &mut out,
                &not_an_object(c.bytes, &mut u, c.base, first_byte(c.bytes), Some(i)),
            ),
            Ok(names) => {
                out.push('[');
                for (k, name) in names.into_iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    match quoted.iter().find(|(n, _)| std::ptr::eq(*n, name)) {
                        Some((_, q)) => out.push_str(q),
                        None => {
                            let mut q = String::new();
                            quote(&mut q, name);
                            out.push_str(&q);
                            quoted.push((name, q));
                        }
                    }
                }
                out.push(']');
            }
        }
    }
    out.push(']');
    out
}

/// What happens to each record of `text` (one record, a JSON array of records or JSONL) from
/// `source` under `criteria`, as JSON: one item per record,
/// `{"verdict":"delivered"|"filtered_out"|"dropped","reason":str|null,"dropKind":str|null,
/// "filterIndex":i|null,"error":FAILURE|null,"offset16":u,"end16":u,"line":l}`. `error` is
/// set for a record that is not JSON (positions in `text`). Refuses criteria AWS would refuse
/// for `source` ([`FilterCriteria::check_for`]), placing the error in `document`.
pub fn evaluate(
    criteria: &FilterCriteria,
    document: &str,
    source: Source,
    text: &str,
) -> Result<String, Box<Failure>> {
    criteria
        .check_for(source)
        .map_err(|e| criteria_failure(&e, document))?;
    let mut out = String::from("[");
    let mut u = Utf16::new(text);
    for (i, cut) in cuts(text).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let c = match cut {
            Ok(c) => c,
            Err(e) => {
                let f = split_failure(&e, &mut u, i);
                let (start, end) = (
                    f.start.map_or(0, |p| p.offset16),
                    f.end.map_or(0, |p| p.offset16),
                );
                let line = f.start.map_or(1, |p| p.at.line);
                let _ = write!(out, "{{\"verdict\":\"dropped\",\"reason\":");
                quote(
                    &mut out,
                    &format!("the record is not valid JSON: {}", f.reason),
                );
                let _ = write!(
                    out,
                    ",\"dropKind\":\"not_json\",\"filterIndex\":null,\"error\":"
                );
                f.write_json(&mut out);
                let _ = write!(
                    out,
                    ",\"offset16\":{start},\"end16\":{end},\"line\":{line}}}"
                );
                continue;
            }
        };
        let verdict = criteria.evaluate(source, c.bytes);
        // The record's start, then the error inside it, then its end: the cursor moves
        // forward only.
        let start = u.at(c.base.offset);
        let error = match &verdict {
            RecordVerdict::Dropped {
                reason: DropReason::NotJson(e),
            } => Some(event_failure(e, &mut u, c.base, Some(i))),
            _ => None,
        };
        let end = u.at(c.base.offset + c.bytes.len());
        let (name, reason) = match &verdict {
            RecordVerdict::Delivered => ("delivered", None),
            RecordVerdict::FilteredOut => ("filtered_out", None),
            RecordVerdict::Dropped { reason } => ("dropped", Some(reason)),
            _ => ("other", None),
        };
        let _ = write!(out, "{{\"verdict\":\"{name}\",\"reason\":");
        match reason {
            Some(r) => quote(&mut out, &r.to_string()),
            None => out.push_str("null"),
        }
        out.push_str(",\"dropKind\":");
        match reason {
            Some(r) => {
                let _ = write!(out, "\"{}\"", r.kind());
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"filterIndex\":");
        json_index(&mut out, reason.and_then(DropReason::filter));
        out.push_str(",\"error\":");
        match error {
            Some(f) => f.write_json(&mut out),
            None => out.push_str("null"),
        }
        let _ = write!(
            out,
            ",\"offset16\":{start},\"end16\":{end},\"line\":{}}}",
            c.base.line
        );
    }
    out.push(']');
    Ok(out)
}

/// Appends `s` as a JSON string.
pub fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // U+2028 and U+2029 are valid in JSON; escaped anyway so the text can sit in JS.
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_index(out: &mut String, i: Option<usize>) {
    match i {
        Some(i) => {
            let _ = write!(out, "{i}");
        }
        None => out.push_str("null"),
    }
}

impl Failure {
    /// The failure as a JSON object: `category`, `kind`, `reason`, `detail`, `line`, `column`,
    /// `offset`, `offset16`, `endLine`, `endColumn`, `endOffset`, `endOffset16` (null when it
    /// has no place), `path`, `filterIndex`, `rule`, `patternLine`, `patternColumn`,
    /// `patternOffset`, `eventIndex`.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        let _ = write!(
            out,
            "{{\"category\":\"{}\",\"kind\":\"{}\",\"reason\":",
            self.category, self.kind
        );
        quote(out, &self.reason);
        out.push_str(",\"detail\":");
        quote(out, &self.detail);
        for (prefix, place) in [("", self.start), ("end", self.end)] {
            let key = |k: &str| {
                if prefix.is_empty() {
                    k.to_string()
                } else {
                    let mut c = k.chars();
                    let first = c.next().map(|f| f.to_ascii_uppercase()).unwrap_or_default();
                    format!("{prefix}{first}{}", c.as_str())
                }
            };
            let (line, column, offset, offset16) = match place {
                Some(p) => (
                    Some(p.at.line),
                    Some(p.at.column),
                    Some(p.at.offset),
                    Some(p.offset16),
                ),
                None => (None, None, None, None),
            };
            for (k, v) in [
                ("line", line),
                ("column", column),
                ("offset", offset),
                ("offset16", offset16),
            ] {
                let _ = write!(out, ",\"{}\":", key(k));
                json_index(out, v);
            }
        }
        out.push_str(",\"path\":");
        quote(out, &self.path);
        out.push_str(",\"filterIndex\":");
        json_index(out, self.filter_index);
        out.push_str(",\"rule\":");
        match &self.rule {
            Some(r) => quote(out, r),
            None => out.push_str("null"),
        }
        let p = self.pattern_start;
        out.push_str(",\"patternLine\":");
        json_index(out, p.map(|p| p.line));
        out.push_str(",\"patternColumn\":");
        json_index(out, p.map(|p| p.column));
        out.push_str(",\"patternOffset\":");
        json_index(out, p.map(|p| p.offset));
        out.push_str(",\"eventIndex\":");
        json_index(out, self.event_index);
        out.push('}');
    }
}

/// A Lambda source from its name (`sqs`, `kinesis`, `dynamodb`, `kafka`, `mq`; any case).
pub fn source(name: &str) -> Result<Source, Box<Failure>> {
    name.parse::<Source>().map_err(|e| {
        Box::new(Failure {
            category: "argument",
            kind: "unknown_source",
            reason: e.to_string(),
            detail: e.to_string(),
            start: None,
            end: None,
            path: String::new(),
            filter_index: None,
            rule: None,
            pattern_start: None,
            event_index: None,
        })
    })
}

#[cfg(test)]
mod tests;
