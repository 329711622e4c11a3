//! Stage 1: pattern text -> syntax tree with spans (`grammar/pattern.pest`).
//!
//! The tree keeps everything the text says: duplicate keys in order, each number's original
//! text, and the byte range of every node, so later stages can point at mistakes.

use pest::Parser as _;

use crate::error::{PatternError, PatternErrorKind};
use grammar::{PatternParser, Rule};

mod grammar {
    #![allow(missing_docs)]
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/pattern.pest"]
    pub(super) struct PatternParser;
}

/// Deepest nesting of `{` / `[` accepted in a pattern.
///
/// # Example
/// ```
/// let deep = format!("{}1{}", "{\"a\": ".repeat(weir::syntax::MAX_DEPTH + 1), "}".repeat(weir::syntax::MAX_DEPTH + 1));
/// assert!(weir::syntax::parse(&deep).is_err());
/// ```
pub const MAX_DEPTH: usize = 128;

/// One node of the syntax tree.
///
/// # Example
/// ```
/// let ast = weir::syntax::parse(r#"{"a": [1.50]}"#)?;
/// let weir::syntax::NodeKind::Object(members) = &ast.kind else { panic!() };
/// assert_eq!(members[0].key, "a");
/// # Ok::<(), weir::PatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// What the node is.
    pub kind: NodeKind,
    /// Byte range of the node in the pattern text.
    pub start: usize,
    /// One past the node's last byte.
    pub end: usize,
}

/// The kinds of JSON node.
///
/// # Example
/// ```
/// let ast = weir::syntax::parse("[true, null]")?;
/// assert!(matches!(ast.kind, weir::syntax::NodeKind::Array(_)));
/// # Ok::<(), weir::PatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum NodeKind {
    /// `{...}`, members in text order, duplicates kept.
    Object(Vec<Member>),
    /// `[...]`.
    Array(Vec<Node>),
    /// A string, unescaped.
    String(String),
    /// A number, as written.
    Number(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A `"key": value` member of an object.
///
/// # Example
/// ```
/// let ast = weir::syntax::parse(r#"{"k": null}"#)?;
/// let weir::syntax::NodeKind::Object(m) = &ast.kind else { panic!() };
/// assert_eq!((m[0].key_start, m[0].key_end), (1, 4));
/// # Ok::<(), weir::PatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The key, unescaped.
    pub key: String,
    /// Byte offset of the key's opening quote.
    pub key_start: usize,
    /// One past the key's closing quote.
    pub key_end: usize,
    /// The value.
    pub value: Node,
}

impl Node {
    /// A short name of the node's JSON type, as error messages use it.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::syntax::parse("1")?.type_name(), "number");
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Object(_) => "object",
            NodeKind::Array(_) => "array",
            NodeKind::String(_) => "string",
            NodeKind::Number(_) => "number",
            NodeKind::Bool(_) => "boolean",
            NodeKind::Null => "null",
        }
    }
}

/// Parses pattern text into a syntax tree. JSON errors are reported in the words of the JSON
/// reader AWS uses, with the position.
///
/// # Example
/// ```
/// let err = weir::syntax::parse("{'bad': 1}").unwrap_err();
/// assert!(err.reason().starts_with("Unexpected character (''' (code 39))"));
/// assert_eq!(err.span().unwrap().start.column, 2);
/// ```
pub fn parse(text: &str) -> Result<Node, PatternError> {
    check_depth(text)?;
    let mut pairs = PatternParser::parse(Rule::pattern, text).map_err(|e| syntax_error(text, e))?;
    let pattern = pairs.next().expect("grammar: pattern");
    let value = pattern
        .into_inner()
        .next()
        .expect("grammar: pattern holds a value");
    Ok(build(value))
}

fn check_depth(text: &str) -> Result<(), PatternError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(PatternError::new(
                        PatternErrorKind::Limit,
                        format!("Pattern nests deeper than {MAX_DEPTH} levels"),
                        text,
                        Some((i, i + 1)),
                        "",
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn build(pair: pest::iterators::Pair<'_, Rule>) -> Node {
    let span = pair.as_span();
    let (start, end) = (span.start(), span.end());
    let kind = match pair.as_rule() {
        Rule::object => NodeKind::Object(
            pair.into_inner()
                .filter(|p| p.as_rule() == Rule::member)
                .map(|member| {
                    let mut inner = member.into_inner().filter(|p| p.as_rule() != Rule::colon);
                    let key = inner.next().expect("grammar: member key");
                    let value = inner.next().expect("grammar: member value");
                    let key_span = key.as_span();
                    Member {
                        key: unescape(key.into_inner().next().map_or("", |c| c.as_str())),
                        key_start: key_span.start(),
                        key_end: key_span.end(),
                        value: build(value),
                    }
                })
                .collect(),
        ),
        Rule::array => NodeKind::Array(
            pair.into_inner()
                .filter(|p| !matches!(p.as_rule(), Rule::array_sep | Rule::array_end))
                .map(build)
                .collect(),
        ),
        Rule::string => NodeKind::String(unescape(
            pair.into_inner().next().map_or("", |c| c.as_str()),
        )),
        Rule::number => NodeKind::Number(pair.as_str().to_string()),
        Rule::true_lit => NodeKind::Bool(true),
        Rule::false_lit => NodeKind::Bool(false),
        Rule::null_lit => NodeKind::Null,
        other => unreachable!("grammar: unexpected rule {other:?}"),
    };
    Node { kind, start, end }
}

/// Unescapes the inside of a JSON string the grammar has already checked.
/// Lone surrogate escapes become U+FFFD, as a lenient JSON reader would.
pub(crate) fn unescape(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_string();
    }
    let mut out = Vec::with_capacity(raw.len());
    match crate::json::unescape_with(raw.as_bytes(), &mut out, true) {
        Ok(()) => String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        // Not reached: the grammar admits only valid escapes.
        Err(_) => raw.to_string(),
    }
}

/// The first mistake in the string starting at byte `open` (its opening quote), in the JSON
/// reader's words: a control character, a bad escape, or the end of the text.
fn string_problem(text: &str, open: usize) -> Option<(usize, usize, String)> {
    let mut chars = text[open + 1..]
        .char_indices()
        .map(|(i, c)| (open + 1 + i, c));
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return None,
            '\\' => match chars.next() {
                Some((_, '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't')) => {}
                Some((_, 'u')) => {
                    for _ in 0..4 {
                        match chars.next() {
                            Some((_, h)) if h.is_ascii_hexdigit() => {}
                            Some((j, h)) => {
                                return Some((
                                    j,
                                    j + h.len_utf8(),
                                    format!(
                                        "Unexpected character ('{h}' (code {})): expected a hex-digit for character escape sequence",
                                        h as u32
                                    ),
                                ))
                            }
                            None => break,
                        }
                    }
                }
                Some((j, e)) => {
                    return Some((
                        i,
                        j + e.len_utf8(),
                        format!("Unrecognized character escape '{e}' (code {})", e as u32),
                    ))
                }
                None => break,
            },
            c if (c as u32) < 0x20 => {
                return Some((
                    i,
                    i + 1,
                    format!(
                        "Illegal unquoted character ((CTRL-CHAR, code {})): has to be escaped using backslash to be included in string value",
                        c as u32
                    ),
                ))
            }
            _ => {}
        }
    }
    Some((
        text.len(),
        text.len(),
        "Unexpected end-of-input: the JSON text is incomplete".to_string(),
    ))
}

const EXPECTING_VALUE: &str =
    "was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')";

/// Turns pest's "expected ..." into the JSON reader's wording AWS shows.
fn syntax_error(text: &str, err: pest::error::Error<Rule>) -> PatternError {
    let pos = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let positives: &[Rule] = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives,
        _ => &[],
    };
    let expects_key = positives.contains(&Rule::key);
    // An error at the very start is reported against the whole `pattern`.
    let expects_value = positives.iter().any(|r| {
        matches!(
            r,
            Rule::pattern
                | Rule::object
                | Rule::array
                | Rule::string
                | Rule::number
                | Rule::true_lit
                | Rule::false_lit
                | Rule::null_lit
        )
    });
    // pest places a mistake inside a string at the string's opening quote: find it.
    if text[pos..].starts_with('"') && (expects_value || expects_key) {
        if let Some((start, end, reason)) = string_problem(text, pos) {
            return PatternError::new(
                PatternErrorKind::Syntax,
                reason,
                text,
                Some((start, end)),
                "",
            );
        }
    }
    let rest = &text[pos..];
    let Some(c) = rest.chars().next() else {
        return PatternError::new(
            PatternErrorKind::Syntax,
            "Unexpected end-of-input: the JSON text is incomplete",
            text,
            Some((pos, pos)),
            "",
        );
    };
    let token_len: usize = rest
        .char_indices()
        .find(|&(_, ch)| {
            !(ch.is_alphanumeric() || ch == '_' || ch == '$' || ch == '-' || ch == '.')
        })
        .map_or(rest.len(), |(i, _)| i);
    let (reason, len) = if expects_key {
        (
            format!(
                "Unexpected character ('{c}' (code {})): was expecting double-quote to start field name",
                c as u32
            ),
            c.len_utf8(),
        )
    } else if c.is_alphabetic() && token_len > 0 && (expects_value || positives.is_empty()) {
        (
            format!(
                "Unrecognized token '{}': {EXPECTING_VALUE}",
                &rest[..token_len]
            ),
            token_len,
        )
    } else if c.is_control() {
        (
            format!(
                "Illegal unquoted character ((CTRL-CHAR, code {})): has to be escaped using backslash to be included in string value",
                c as u32
            ),
            c.len_utf8(),
        )
    } else {
        let expecting = if expects_value {
            "was expecting a JSON value"
        } else if positives.contains(&Rule::colon) {
            "was expecting a colon to separate field name and value"
        } else if positives.contains(&Rule::array_sep) {
            "was expecting comma to separate Array entries"
        } else if positives.contains(&Rule::object_sep) {
            "was expecting comma to separate Object entries"
        } else {
            "was expecting comma, colon or close marker"
        };
        (
            format!(
                "Unexpected character ('{c}' (code {})): {expecting}",
                c as u32
            ),
            c.len_utf8(),
        )
    };
    PatternError::new(
        PatternErrorKind::Syntax,
        reason,
        text,
        Some((pos, pos + len)),
        "",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_duplicates_and_number_text() {
        let ast = parse(r#"{"a": [1.50, 3e2], "a": ["x\u00e9"]}"#).unwrap();
        let NodeKind::Object(members) = ast.kind else {
            panic!()
        };
        assert_eq!(members.len(), 2);
        let NodeKind::Array(values) = &members[0].value.kind else {
            panic!()
        };
        assert_eq!(values[0].kind, NodeKind::Number("1.50".into()));
        assert_eq!(values[1].kind, NodeKind::Number("3e2".into()));
        let NodeKind::Array(values) = &members[1].value.kind else {
            panic!()
        };
        assert_eq!(values[0].kind, NodeKind::String("xé".into()));
    }

    #[test]
    fn jackson_wording_for_bad_tokens() {
        let err = parse("this is valid json but not a dict").unwrap_err();
        assert_eq!(
            err.reason(),
            format!("Unrecognized token 'this': {EXPECTING_VALUE}")
        );
        let err = parse(r#"{"not": closed mark""#).unwrap_err();
        assert_eq!(
            err.reason(),
            format!("Unrecognized token 'closed': {EXPECTING_VALUE}")
        );
        assert_eq!(err.span().unwrap().start.offset, 8);
        assert_eq!(err.span().unwrap().end.offset, 14);
    }

    #[test]
    fn truncated_and_deep() {
        let err = parse(r#"{"a": ["#).unwrap_err();
        assert!(err.reason().contains("end-of-input"));
        assert_eq!(err.span().unwrap().start.offset, 7);
        let deep = "[".repeat(MAX_DEPTH + 1);
        let err = parse(&deep).unwrap_err();
        assert_eq!(err.kind(), PatternErrorKind::Limit);
        assert_eq!(err.span().unwrap().start.offset, MAX_DEPTH);
    }

    #[test]
    fn surrogate_pairs_unescape() {
        assert_eq!(unescape(r"\ud83d\ude00!"), "😀!");
        assert_eq!(unescape(r"\ud83d!"), "\u{FFFD}!");
        assert_eq!(unescape(r#"a\"b\\c\/"#), "a\"b\\c/");
    }
}
