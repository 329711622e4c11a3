//! The metadata part of a pattern: the pattern with everything on the data field removed.
//!
//! Kafka and Amazon MQ apply only the metadata part of a filter when the message does not
//! suit the filter's data pattern. The part is built from the pattern's text: every member
//! of the top-level object (and, recursively, of the alternatives of a top-level `$or`) whose
//! key is the data key or starts with `<data key>.` is left out. Those members are exactly the
//! ones that give the IR leaves on the data field (paths equal to the key or below it), so the
//! result is the IR with those leaves removed. An `$or` alternative left empty is `{}`, which
//! is always satisfied, as an alternative with no conditions should be (user patterns may not
//! hold empty objects; these re-read texts may).

use crate::error::PatternError;
use crate::ir::{Options, Pattern};
use crate::syntax::{self, Member, NodeKind};

/// Whether a top-level key names the data field or something inside it (dot-joining).
pub(super) fn names_data(key: &str, data_key: &str) -> bool {
    key.strip_prefix(data_key)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// Whether a member is an `$or` the way the IR reads one: an array of two or more objects.
fn is_or(m: &Member) -> bool {
    m.key == "$or"
        && matches!(&m.value.kind, NodeKind::Array(alts)
            if alts.len() >= 2 && alts.iter().all(|a| matches!(a.kind, NodeKind::Object(_))))
}

fn strip_object(text: &str, members: &[Member], data_key: &str, out: &mut String) {
    out.push('{');
    let mut first = true;
    for m in members {
        if names_data(&m.key, data_key) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        if is_or(m) {
            out.push_str(&text[m.key_start..m.key_end]);
            out.push_str(":[");
            let NodeKind::Array(alts) = &m.value.kind else {
                unreachable!("is_or checked the array")
            };
            for (i, alt) in alts.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let NodeKind::Object(inner) = &alt.kind {
                    strip_object(text, inner, data_key, out);
                }
            }
            out.push(']');
        } else {
            out.push_str(&text[m.key_start..m.value.end]);
        }
    }
    out.push('}');
}

/// `pattern` without its conditions on `data_key`, read with `options`.
pub(super) fn metadata_part(
    pattern: &Pattern,
    data_key: &str,
    options: &Options,
) -> Result<Pattern, PatternError> {
    let text = pattern.text();
    let ast = syntax::parse(text)?;
    let NodeKind::Object(members) = &ast.kind else {
        // A validated pattern is always an object; keep it whole if not.
        return Ok(pattern.clone());
    };
    let mut out = String::with_capacity(text.len());
    strip_object(text, members, data_key, &mut out);
    Pattern::parse_with(&out, &unlimited(options))
}

/// `options` without the length limit (the stripped text is never longer, but is re-read),
/// accepting the empty objects stripping leaves (always satisfied).
fn unlimited(options: &Options) -> Options {
    let mut o = options.clone().max_length(usize::MAX);
    o.allow_empty_objects = true;
    o
}

/// The options `pattern` was read with, as far as they change what a text means
/// (`lambda_strict`, `numbers_as_strings`): the first combination that reads the text back
/// to the same pattern.
pub(super) fn options_of(pattern: &Pattern) -> Options {
    for strict in [false, true] {
        for as_strings in [false, true] {
            let o = Options::new()
                .lambda_strict(strict)
                .numbers_as_strings(as_strings)
                .max_length(usize::MAX)
                .max_fields(usize::MAX)
                .max_terms(usize::MAX);
            if Pattern::parse_with(pattern.text(), &o).as_ref() == Ok(pattern) {
                return o;
            }
        }
    }
    Options::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(p: &Pattern) -> Vec<Vec<String>> {
        p.terms()
            .iter()
            .map(|t| t.leaves.iter().map(|l| l.path.clone()).collect())
            .collect()
    }

    #[test]
    fn removes_data_members_everywhere_they_can_be() {
        let p = Pattern::parse(
            r#"{"value": {"a": [1]}, "value.b": [2], "valuex": [3], "topic": ["t"],
                "$or": [{"value": ["x"]}, {"partition": [0], "value": {"c": [1]}}]}"#,
        )
        .unwrap();
        let m = metadata_part(&p, "value", &Options::new()).unwrap();
        assert_eq!(
            paths(&m),
            vec![
                vec!["valuex".to_string(), "topic".to_string()],
                vec![
                    "valuex".to_string(),
                    "topic".to_string(),
                    "partition".to_string()
                ],
            ]
        );
    }

    #[test]
    fn only_data_leaves_leave_an_always_true_pattern() {
        let p = Pattern::parse(r#"{"data": {"a": [1]}}"#).unwrap();
        let m = metadata_part(&p, "data", &Options::new()).unwrap();
        assert!(m.matches(br#"{"x": 1}"#).unwrap());
    }

    #[test]
    fn options_are_recovered() {
        let strict = Options::new().lambda_strict(true);
        let p = Pattern::parse_with(r#"{"a": {"b": [1]}, "a": {"c": [2]}}"#, &strict).unwrap();
        assert!(options_of(&p).is_lambda_strict());
        let p =
            Pattern::parse_with(r#"{"a": [1]}"#, &Options::new().numbers_as_strings(true)).unwrap();
        let o = options_of(&p);
        assert_eq!(Pattern::parse_with(p.text(), &o).unwrap(), p);
    }
}
