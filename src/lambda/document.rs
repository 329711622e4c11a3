//! Reading a FilterCriteria document: `{"Filters": [{"Pattern": "<pattern JSON>"}, ...]}`.
//!
//! Mistakes in the document itself are reported with [`PatternErrorKind::FilterCriteria`]
//! and positions in the document; a pattern that is not valid keeps its own error (positions
//! inside the pattern string), tagged with the filter's index.

use crate::error::{PatternError, PatternErrorKind};
use crate::ir::{Options, Pattern};
use crate::syntax::{self, Member, Node, NodeKind};

use super::MAX_PATTERN_LENGTH;

/// An error about the document, at `node` (or the whole text).
fn doc_error(
    text: &str,
    reason: impl Into<String>,
    node: Option<&Node>,
    path: &str,
) -> PatternError {
    PatternError::new(
        PatternErrorKind::FilterCriteria,
        reason,
        text,
        node.map(|n| (n.start, n.end)),
        path,
    )
}

fn key_error(text: &str, reason: impl Into<String>, member: &Member, path: &str) -> PatternError {
    PatternError::new(
        PatternErrorKind::FilterCriteria,
        reason,
        text,
        Some((member.key_start, member.key_end)),
        path,
    )
}

/// The one member named `name`, refusing unknown and repeated keys.
fn single<'n>(
    text: &str,
    members: &'n [Member],
    name: &str,
    path: &str,
    what: &str,
) -> Result<Option<&'n Member>, PatternError> {
    let mut found: Option<&Member> = None;
    for m in members {
        let here = if path.is_empty() {
            m.key.clone()
        } else {
            format!("{path}.{}", m.key)
        };
        if m.key != name {
            return Err(key_error(
                text,
                format!(
                    "Unknown key {} in {what} (the only key allowed is \"{name}\")",
                    crate::ir::json_quoted(&m.key)
                ),
                m,
                &here,
            ));
        }
        if found.is_some() {
            return Err(key_error(
                text,
                format!("Duplicate key \"{name}\" in {what}"),
                m,
                &here,
            ));
        }
        found = Some(m);
    }
    Ok(found)
}

/// Parses the document into validated patterns, one per filter.
pub(super) fn parse(
    text: &str,
    options: &Options,
    max_filters: usize,
) -> Result<Vec<Pattern>, PatternError> {
    let root = syntax::parse(text).map_err(|e| {
        let range = e.span().map(|s| (s.start.offset, s.end.offset));
        PatternError::new(
            PatternErrorKind::FilterCriteria,
            format!("FilterCriteria is not valid JSON: {}", e.reason()),
            text,
            range,
            e.path(),
        )
    })?;
    let NodeKind::Object(members) = &root.kind else {
        return Err(doc_error(
            text,
            format!(
                "FilterCriteria must be a JSON object like {{\"Filters\": [...]}}, not {}",
                root.type_name()
            ),
            Some(&root),
            "",
        ));
    };
    let Some(filters) = single(text, members, "Filters", "", "a FilterCriteria")? else {
        return Ok(Vec::new());
    };
    let NodeKind::Array(items) = &filters.value.kind else {
        return Err(doc_error(
            text,
            format!(
                "\"Filters\" must be an array, not {}",
                filters.value.type_name()
            ),
            Some(&filters.value),
            "Filters",
        ));
    };
    if items.len() > max_filters {
        return Err(doc_error(
            text,
            format!(
                "Too many filters: {} given, at most {max_filters} are allowed",
                items.len()
            ),
            Some(&items[max_filters]),
            &format!("Filters[{max_filters}]"),
        )
        .in_filter(max_filters));
    }
    let mut patterns = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let here = format!("Filters[{i}]");
        let NodeKind::Object(fields) = &item.kind else {
            return Err(doc_error(
                text,
                format!(
                    "A filter must be an object like {{\"Pattern\": \"...\"}}, not {}",
                    item.type_name()
                ),
                Some(item),
                &here,
            )
            .in_filter(i));
        };
        let member =
            single(text, fields, "Pattern", &here, "a filter").map_err(|e| e.in_filter(i))?;
        let Some(member) = member else {
            return Err(
                doc_error(text, "A filter must have a \"Pattern\"", Some(item), &here).in_filter(i),
            );
        };
        let at = format!("{here}.Pattern");
        let NodeKind::String(pattern) = &member.value.kind else {
            return Err(doc_error(
                text,
                format!(
                    "\"Pattern\" must be a string holding the pattern's JSON text, not {}",
                    member.value.type_name()
                ),
                Some(&member.value),
                &at,
            )
            .in_filter(i));
        };
        let length = pattern.chars().count();
        if length > MAX_PATTERN_LENGTH {
            return Err(doc_error(
                text,
                format!(
                    "Pattern is {length} characters long; at most {MAX_PATTERN_LENGTH} are allowed"
                ),
                Some(&member.value),
                &at,
            )
            .in_filter(i));
        }
        patterns.push(Pattern::parse_with(pattern, options).map_err(|e| e.in_filter(i))?);
    }
    Ok(patterns)
}
