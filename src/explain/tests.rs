use super::*;
use crate::{Matcher, Options};

fn explain(pattern: &str, event: &str) -> Explanation {
    let p = Pattern::parse(pattern).unwrap();
    let why = p.explain(event.as_bytes()).unwrap();
    // The verdict is always the matcher's.
    let mut m = Matcher::new();
    m.add_rule("r", pattern).unwrap();
    assert_eq!(
        why.matched,
        m.is_match(event.as_bytes()).unwrap(),
        "{pattern} / {event}"
    );
    why
}

/// The text of the event at a span.
fn text(event: &str, (start, end): (usize, usize)) -> &str {
    &event[start..end]
}

#[test]
fn fields_have_paths_values_and_spans() {
    let pattern = r#"{"detail": {"state": ["running"], "tags": [{"prefix": "eu-"}]}, "a.b": [1]}"#;
    let event = r#"{"detail": {"state": "stopped", "tags": ["us-1", "eu-2"]}, "a": {"b": 1.0}}"#;
    let why = explain(pattern, event);
    assert!(!why.matched);
    let fields = &why.group.fields;
    let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["detail.state", "detail.tags", "a.b"]);
    let state = &fields[0];
    assert!(!state.held);
    assert_eq!(text(event, state.values[0].span), r#""stopped""#);
    assert_eq!(state.values[0].text, r#""stopped""#);
    assert_eq!(text(pattern, state.pattern_span), r#"["running"]"#);
    let tags = &fields[1];
    assert_eq!(tags.values.len(), 2);
    assert_eq!(text(event, tags.values[1].span), r#""eu-2""#);
    assert_eq!(tags.conditions[0].condition, r#"prefix "eu-""#);
    assert_eq!(tags.conditions[0].held_for, vec![1]);
    // A dotted pattern key meets nested event keys; 1 and 1.0 are the same number.
    assert!(fields[2].held);
    assert_eq!(fields[2].values[0].text, "1.0");
    // No match: nothing was used.
    assert!(fields.iter().all(|f| f.used.is_none()));
}

#[test]
fn missing_fields_and_exists() {
    let why = explain(
        r#"{"id": [{"exists": true}], "gone": [{"exists": false}], "opt": ["x", {"exists": false}]}"#,
        r#"{"other": 1}"#,
    );
    assert!(!why.matched);
    let [id, gone, opt] = &why.group.fields[..] else {
        panic!("three fields")
    };
    assert!(id.values.is_empty() && !id.held && !id.conditions[0].held);
    assert!(gone.values.is_empty() && gone.held && gone.conditions[0].held);
    // Value-or-absent: absent holds through the exists:false condition alone.
    assert!(opt.held);
    assert_eq!(
        opt.conditions.iter().map(|c| c.held).collect::<Vec<_>>(),
        [false, true]
    );

    let why = explain(r#"{"gone": [{"exists": false}]}"#, r#"{"gone": [null]}"#);
    assert!(!why.matched);
    assert!(!why.group.fields[0].held);
    assert_eq!(why.group.fields[0].values[0].text, "null");
}

#[test]
fn conditions_report_which_values_they_held_for() {
    let event = r#"{"n": [0.5, 3e2, 42, "42"], "s": ["Alice", "bob"], "ip": "10.0.0.7"}"#;
    let why = explain(
        r#"{
            "n": [{"numeric": [">", 1, "<=", 300]}, {"anything-but": [42]}, 300],
            "s": [{"equals-ignore-case": "ALICE"}, {"anything-but": {"prefix": "b"}}, {"suffix": "ob"}],
            "ip": [{"cidr": "10.0.0.0/24"}, "10.0.0.8"]
        }"#,
        event,
    );
    assert!(why.matched);
    let [n, s, ip] = &why.group.fields[..] else {
        panic!("three fields")
    };
    let held_for = |f: &FieldReport| -> Vec<Vec<usize>> {
        f.conditions.iter().map(|c| c.held_for.clone()).collect()
    };
    // numeric: 3e2 and 42; anything-but 42: 0.5, 3e2 and the string "42" (anything-but a
    // number list accepts strings); 300: 3e2.
    assert_eq!(held_for(n), [vec![1, 2], vec![0, 1, 3], vec![1]]);
    assert_eq!(held_for(s), [vec![0], vec![0], vec![1]]);
    assert_eq!(held_for(ip), [vec![0], vec![]]);
    assert_eq!(n.conditions[0].condition, "numeric (1, 300]");
    assert_eq!(n.conditions[1].condition, "anything-but [42]");
    assert_eq!(s.conditions[1].condition, r#"anything-but prefix ["b"]"#);
    // The match used the first accepted value of each field.
    assert_eq!((n.used, s.used, ip.used), (Some(0), Some(0), Some(0)));
}

#[test]
fn numbers_that_name_no_double_exactly_compare_by_text() {
    let why = explain(r#"{"n": [0.1]}"#, r#"{"n": [0.10000000000000001, 0.1]}"#);
    assert_eq!(why.group.fields[0].conditions[0].held_for, vec![1]);
    let why = explain(
        r#"{"n": [{"numeric": [">", 0]}]}"#,
        r#"{"n": 9007199254740993}"#,
    );
    assert!(!why.matched);
}

#[test]
fn or_alternatives() {
    let pattern = r#"{"a": [1], "$or": [{"b": [2]}, {"c": [3], "$or": [{"d": [4]}, {"e": [5]}]}]}"#;
    let why = explain(pattern, r#"{"a": 1, "c": 3, "e": 5}"#);
    assert!(why.matched);
    let or = &why.group.ors[0];
    assert!(or.held);
    assert_eq!(or.used, Some(1));
    assert!(!or.alternatives[0].held);
    let inner = &or.alternatives[1].ors[0];
    assert_eq!(inner.used, Some(1));
    assert_eq!(or.alternatives[1].fields[0].used, Some(0));

    let why = explain(pattern, r#"{"a": 1, "c": 3}"#);
    assert!(!why.matched);
    let or = &why.group.ors[0];
    assert!(!or.held);
    assert_eq!(or.used, None);
    assert!(!or.alternatives[1].held);
    assert!(or.alternatives[1].fields[0].held);

    // An alternative holding on its own while the pattern fails elsewhere.
    let why = explain(pattern, r#"{"a": 2, "b": 2}"#);
    assert!(!why.matched);
    assert!(why.group.ors[0].held);
    assert_eq!(why.group.ors[0].used, None);
    assert!(why.group.ors[0].alternatives[0].held);
}

#[test]
fn arrays_of_objects_say_which_element_or_what_each_lacked() {
    let pattern = r#"{"e": {"f": ["Anna"], "l": ["Jones"]}}"#;
    let event = r#"{"e": [{"f": "Anna", "l": "Smith"}, {"f": "Peter"}, {"l": "Jones"}]}"#;
    let why = explain(pattern, event);
    assert!(!why.matched);
    assert!(why.group.fields.iter().all(|f| f.held));
    let [array] = &why.group.arrays[..] else {
        panic!("one array")
    };
    assert_eq!(array.path.as_deref(), Some("e"));
    assert_eq!(text(event, array.span), &event[6..event.len() - 1]);
    assert_eq!(array.fields, ["e.f", "e.l"]);
    assert_eq!(array.satisfied_by, None);
    let lacks: Vec<Vec<String>> = array.elements.iter().map(|e| e.lacks.clone()).collect();
    assert_eq!(lacks, [vec!["e.l"], vec!["e.f", "e.l"], vec!["e.f"]]);
    assert_eq!(text(event, array.elements[1].span), r#"{"f": "Peter"}"#);

    let event = r#"{"e": [{"f": "Anna", "l": "Smith"}, {"l": "Jones", "f": "Anna"}]}"#;
    let why = explain(pattern, event);
    assert!(why.matched);
    assert_eq!(why.group.arrays[0].satisfied_by, Some(1));
    assert_eq!(why.group.fields[0].used, Some(1));
    assert_eq!(why.group.fields[1].used, Some(1));

    // A field outside the array never lacks; an array holding one field is not reported.
    let why = explain(
        r#"{"top": ["t"], "e": {"f": ["Anna"]}}"#,
        r#"{"top": "t", "e": [{"f": "x"}, {"f": "Anna"}]}"#,
    );
    assert!(why.matched);
    assert!(why.group.arrays.is_empty());
}

#[test]
fn arrays_in_or_alternatives_and_top_level_arrays() {
    let why = explain(
        r#"{"e": {"f": ["Anna"]}, "$or": [{"e": {"l": ["Jones"]}}, {"x": [1]}]}"#,
        r#"{"e": [{"f": "Anna"}, {"l": "Jones"}]}"#,
    );
    assert!(!why.matched);
    assert!(why.group.ors[0].held);
    assert_eq!(why.group.arrays.len(), 1);
    assert_eq!(why.group.arrays[0].elements[0].lacks, ["e.l"]);

    let why = explain(r#"{"a": [1], "b": [2]}"#, r#"[{"a": 1}, {"b": 2}]"#);
    assert!(!why.matched);
    assert_eq!(why.group.arrays[0].path, None);
}

#[test]
fn a_repeated_event_key_keeps_its_last_value() {
    let why = explain(r#"{"a": [1]}"#, r#"{"a": 1, "a": 2}"#);
    assert!(!why.matched);
    assert_eq!(why.group.fields[0].values.len(), 1);
    assert_eq!(why.group.fields[0].values[0].text, "2");
    let why = explain(r#"{"a": {"b": [1]}}"#, r#"{"a": {"b": 1}, "a": {"c": 1}}"#);
    assert!(why.group.fields[0].values.is_empty());
}

#[test]
fn malformed_events_get_the_matchers_error() {
    let p = Pattern::parse(r#"{"a": [1]}"#).unwrap();
    let mut m = Matcher::new();
    m.add_pattern("r", p.clone());
    for bad in [
        &b"{\"a\": 1"[..],
        b"{\"a\": [1,]}",
        b"{\"a\": \"\xff\"}",
        b"{} {}",
    ] {
        let want = m.is_match(bad).unwrap_err();
        assert_eq!(p.explain(bad).unwrap_err(), want);
        assert_eq!(m.explain("r", bad).unwrap_err(), want);
    }
}

#[test]
fn matcher_explains_every_pattern_of_a_rule() {
    let mut m = Matcher::with_options(Options::new().numbers_as_strings(true));
    m.add_rule("r", r#"{"n": [300]}"#).unwrap();
    m.add_rule("r", r#"{"s": ["x"]}"#).unwrap();
    m.add_rule("other", r#"{"n": [300.0]}"#).unwrap();
    let event = br#"{"n": 300.0}"#;
    let why = m.explain("r", event).unwrap().unwrap();
    assert_eq!(why.rule, "r");
    // Numbers as text: 300 is not 300.0, as the matcher decides.
    assert!(!why.matched);
    assert_eq!(why.patterns.len(), 2);
    assert_eq!(why.patterns[1].pattern, r#"{"s": ["x"]}"#);
    assert!(m.explain("other", event).unwrap().unwrap().matched);
    assert_eq!(m.explain("nope", b"not even json").unwrap(), None);
}

#[test]
fn display_reads_like_a_report() {
    let why = explain(
        r#"{"source": ["aws.ec2"], "detail": {"size": [{"numeric": [">", 10]}, 0]}}"#,
        r#"{"detail": {"size": [3, 0]}}"#,
    );
    assert_eq!(
        why.to_string(),
        r#"no match
  source: missing, fails
    "aws.ec2": does not hold
  detail.size: 3 at 21..22, 0 at 24..25, holds
    numeric (10, +inf): does not hold
    0: holds for 0 at 24..25
"#
    );

    let why = explain(
        r#"{"e": {"f": ["Anna"], "l": ["Jones"]}, "$or": [{"x": [1]}, {"y": [{"exists": false}]}]}"#,
        r#"{"e": [{"f": "Anna"}, {"l": "Jones"}]}"#,
    );
    assert_eq!(
        why.to_string(),
        r#"no match
  e.f: "Anna" at 13..19, holds
    "Anna": holds
  e.l: "Jones" at 28..35, holds
    "Jones": holds
  $or: alternative 1 holds
    alternative 0, fails
      x: missing, fails
        1: does not hold
    alternative 1, holds
      y: missing, holds
        exists false: holds
  array e at 6..37: no element has e.f and e.l together
    element 0 at 7..20: lacks e.l
    element 1 at 22..36: lacks e.f
"#
    );

    let why = explain(
        r#"{"e": {"f": ["Anna"], "l": ["Jones"]}}"#,
        r#"{"e": [{"f": "Anna"}, {"l": "Jones", "f": "Anna"}]}"#,
    );
    assert_eq!(
        why.to_string(),
        r#"match
  e.f: "Anna" at 13..19, "Anna" at 42..48, holds
    "Anna": holds for "Anna" at 13..19, "Anna" at 42..48
  e.l: "Jones" at 28..35, holds
    "Jones": holds
  array e at 6..50: element 1 has e.f and e.l together
"#
    );

    let mut m = Matcher::new();
    m.add_rule("two", r#"{"a": [1]}"#).unwrap();
    m.add_pattern("two", Pattern::match_all());
    let why = m.explain(
        "two",
        br#"{"a": "a very long string value, longer than the limit"}"#,
    );
    assert_eq!(
        why.unwrap().unwrap().to_string(),
        r#"rule "two": match
pattern 0: no match
  a: "a very long string value, longer than t... at 6..55, fails
    1: does not hold
pattern 1: match
  the pattern names no field: every event matches
"#
    );
}

#[test]
fn json_escapes_and_shape() {
    let why = explain(r#"{"k\"ey": ["a\nb"]}"#, r#"{"k\"ey": "a\nb"}"#);
    let json = why.to_json();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["matched"], true);
    assert_eq!(value["pattern"], r#"{"k\"ey": ["a\nb"]}"#);
    let field = &value["group"]["fields"][0];
    assert_eq!(field["path"], "k\"ey");
    assert_eq!(field["values"][0]["text"], r#""a\nb""#);
    assert_eq!(field["values"][0]["span"], serde_json::json!([10, 16]));
    assert_eq!(field["conditions"][0]["condition"], r#""a\nb""#);
    assert_eq!(field["used"], 0);
    let mut m = Matcher::new();
    m.add_rule("tab\there", r#"{"e": {"f": [1], "g": [2]}}"#)
        .unwrap();
    let why = m
        .explain("tab\there", br#"{"e": [{"f": 1}, {"g": 2}]}"#)
        .unwrap()
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&why.to_json()).unwrap();
    assert_eq!(value["rule"], "tab\there");
    assert_eq!(value["matched"], false);
    let array = &value["patterns"][0]["group"]["arrays"][0];
    assert_eq!(array["path"], "e");
    assert_eq!(array["satisfied_by"], serde_json::Value::Null);
    assert_eq!(array["elements"][1]["lacks"], serde_json::json!(["e.f"]));
    assert_eq!(array["elements"][1]["unwanted"], serde_json::json!([]));
    assert_eq!(array["judged_first"], serde_json::json!([]));
    assert_eq!(
        value["patterns"][0]["group"]["term"],
        serde_json::Value::Null
    );

    // The new facts: the term a held group is about, overridden fields, exists:false values
    // per element and absences judged first.
    let why = explain(
        r#"{"k": ["a"], "$or": [{"k": ["b"]}, {"x": [1]}]}"#,
        r#"{"k": "b"}"#,
    );
    let value: serde_json::Value = serde_json::from_str(&why.to_json()).unwrap();
    let group = &value["group"];
    assert_eq!(group["term"], 0);
    assert_eq!(
        group["fields"][0]["overridden_by"],
        serde_json::json!([[27, 32]])
    );
    assert_eq!(group["ors"][0]["alternatives"][0]["term"], 0);
    assert_eq!(
        group["ors"][0]["alternatives"][1]["term"],
        serde_json::Value::Null
    );
    let why = explain(
        r#"{"o": {"a": [{"exists": false}], "k": ["x"]}}"#,
        r#"{"o": [{"k": "x"}, {"a": 1}]}"#,
    );
    let value: serde_json::Value = serde_json::from_str(&why.to_json()).unwrap();
    let array = &value["group"]["arrays"][0];
    assert_eq!(array["judged_first"], serde_json::json!(["o.a"]));
    assert_eq!(array["elements"][1]["unwanted"], serde_json::json!(["o.a"]));
    assert_eq!(array["elements"][1]["lacks"], serde_json::json!(["o.k"]));
}

#[test]
fn an_or_alternative_overrides_an_outer_condition_on_its_path() {
    let pattern =
        r#"{"name": ["a", "b"], "$or": [{"name": [{"anything-but": "a"}]}, {"c": ["x"]}]}"#;
    let outer = pattern.find(r#"["a", "b"]"#).unwrap();
    let inner = pattern.find(r#"[{"anything-but"#).unwrap();
    let outer_span = (outer, outer + 10);
    let inner_span = (inner, inner + 23);
    assert_eq!(text(pattern, inner_span), r#"[{"anything-but": "a"}]"#);

    // "c" matches through alternative 0, where the inner condition replaces the outer one.
    let why = explain(pattern, r#"{"name": "c"}"#);
    assert!(why.matched);
    let name = &why.group.fields[0];
    assert_eq!(name.pattern_span, outer_span);
    assert_eq!(name.overridden_by, [inner_span]);
    assert!(!name.held && name.used.is_none());
    let or = &why.group.ors[0];
    assert_eq!(or.used, Some(0));
    let alt = &or.alternatives[0];
    assert_eq!(alt.term, why.group.term);
    assert!(alt.fields[0].held && alt.fields[0].overridden_by.is_empty());
    assert_eq!(alt.fields[0].used, Some(0));
    let p = Pattern::parse(pattern).unwrap();
    assert_eq!(
        p.terms()[why.group.term.unwrap()].leaves[0].span,
        inner_span
    );
    let report = why.to_string();
    assert!(
        report.contains(&format!(
            "name: \"c\" at 9..12, overridden here by the later condition at pattern {}..{}",
            inner_span.0, inner_span.1
        )),
        "{report}"
    );

    // "a" with "c": alternative 1, where the outer condition holds and is used.
    let why = explain(pattern, r#"{"name": "a", "c": "x"}"#);
    assert!(why.matched);
    assert_eq!(why.group.ors[0].used, Some(1));
    assert!(why.group.fields[0].overridden_by.is_empty());
    assert_eq!(why.group.fields[0].used, Some(0));
    // Alternative 0 on its own: its condition fails "a".
    assert!(!why.group.ors[0].alternatives[0].held);

    // No match: the outer condition counts in some terms (alternative 1's), so it is not
    // marked overridden for the pattern's group as a whole.
    let why = explain(pattern, r#"{"name": "a"}"#);
    assert!(!why.matched);
    assert!(why.group.fields[0].overridden_by.is_empty());
    assert!(why.group.fields[0].held);
    assert_eq!(why.group.term, None);

    // A condition written after the `$or` replaces the alternative's in every term: the
    // alternative adds nothing of its own, and holds.
    let pattern = r#"{"$or": [{"a": ["x"]}, {"b": ["y"]}], "a": ["z"]}"#;
    let why = explain(pattern, r#"{"a": "z"}"#);
    assert!(why.matched);
    let alt = &why.group.ors[0].alternatives[0];
    assert!(alt.held);
    assert_eq!(
        alt.fields[0].overridden_by,
        [why.group.fields[0].pattern_span]
    );
    let why = explain(pattern, r#"{"a": "x"}"#);
    assert!(!why.matched);
    // Failing, the alternative's "a" is still replaced in every term through it.
    let alt = &why.group.ors[0].alternatives[0];
    assert_eq!(
        alt.fields[0].overridden_by,
        [why.group.fields[0].pattern_span]
    );
    assert!(
        alt.held,
        "on its own, nothing of alternative 0 is left to fail"
    );
    assert!(!why.group.fields[0].held);

    // The generated case that the old report got wrong: nested alternatives whose field is
    // replaced by the outer one written last.
    let pattern =
        r#"{"$or":[{"$or":[{"a":["x"]},{"a":["x"]}],"a.b":["x"]},{"a":["x"]}],"a":["x"]}"#;
    let why = explain(pattern, r#"{"a":"x","a.b":["null","x"]}"#);
    assert!(why.matched);
    let or = &why.group.ors[0];
    assert_eq!(or.used, Some(0));
    let inner = &or.alternatives[0].ors[0];
    assert!(inner.used.is_some());
    let used = &inner.alternatives[inner.used.unwrap()];
    assert!(used.held);
    assert_eq!(
        used.fields[0].overridden_by,
        [why.group.fields[0].pattern_span]
    );
    assert_eq!(or.alternatives[0].fields[0].used, Some(1));
}

#[test]
fn empty_keys_join_and_hide_as_in_the_matcher() {
    // Pattern side: an empty key adds nothing at the top (`{"": {"a": ..}}` is `a`).
    let why = explain(r#"{"": {"a": ["v"]}}"#, r#"{"a": "v"}"#);
    assert!(why.matched);
    assert_eq!(why.group.fields[0].path, "a");
    // Event side: every key joins, so `{"": {"a": ..}}` is `.a`, and it sits under a key that
    // is exactly "": invisible to this pattern, which names no empty step.
    let why = explain(r#"{"": {"a": ["v"]}}"#, r#"{"": {"a": "v"}}"#);
    assert!(!why.matched);
    assert!(why.group.fields[0].values.is_empty());
    // A pattern naming an empty step reads such keys.
    let why = explain(r#"{".a": ["v"]}"#, r#"{"": {"a": "v"}}"#);
    assert!(why.matched);
    assert_eq!(why.group.fields[0].values[0].span, (11, 14));
    // `a.` names only the step `a`: `{"a": {"": ..}}` is hidden, the key `a.` is not.
    let why = explain(r#"{"a.": ["v"]}"#, r#"{"a": {"": "v"}}"#);
    assert!(!why.matched);
    assert!(why.group.fields[0].values.is_empty());
    let why = explain(r#"{"a.": ["v"]}"#, r#"{"a.": "v"}"#);
    assert!(why.matched);
    // exists:false does not see a hidden value either.
    let why = explain(r#"{"a.": [{"exists": false}]}"#, r#"{"a": {"": "v"}}"#);
    assert!(why.matched);
    assert!(why.group.fields[0].held && why.group.fields[0].values.is_empty());
    // Another path of the same pattern naming an empty step makes them visible.
    let why = explain(
        r#"{"a.": [{"exists": false}], "x..y": [1]}"#,
        r#"{"a": {"": "v"}, "x": {"": {"y": 1}}}"#,
    );
    assert!(!why.matched);
    assert_eq!(why.group.fields[0].values[0].text, r#""v""#);
    assert!(why.group.fields[1].held);
}

#[test]
fn exists_false_is_judged_per_element_against_the_fields_before_it() {
    // o.k comes before o.z (path order): element 0 has k and no z.
    let pattern = r#"{"o": {"k": ["a"], "z": [{"exists": false}]}}"#;
    let event = r#"{"o": [{"k": "a"}, {"z": 1}]}"#;
    let why = explain(pattern, event);
    assert!(why.matched);
    let [k, z] = &why.group.fields[..] else {
        panic!("two fields")
    };
    assert_eq!(k.used, Some(0));
    // z has a value, in element 1; in the match its absence held (judged against k's value).
    assert_eq!(z.values[0].text, "1");
    assert!(z.held && z.conditions[0].held && z.used.is_none());
    let [array] = &why.group.arrays[..] else {
        panic!("one array")
    };
    assert_eq!(array.fields, ["o.k", "o.z"]);
    assert_eq!(array.satisfied_by, Some(0));
    assert!(array.elements[0].lacks.is_empty() && array.elements[0].unwanted.is_empty());
    assert_eq!(array.elements[1].lacks, ["o.k"]);
    assert_eq!(array.elements[1].unwanted, ["o.z"]);

    // Both elements have z: each lacks what it lacks.
    let event = r#"{"o": [{"k": "a", "z": 1}, {"z": 2}]}"#;
    let why = explain(pattern, event);
    assert!(!why.matched);
    assert!(!why.group.fields[1].held);
    let array = &why.group.arrays[0];
    assert_eq!(array.satisfied_by, None);
    assert_eq!(array.elements[0].unwanted, ["o.z"]);
    assert!(array.elements[0].lacks.is_empty());
    assert_eq!(array.elements[1].lacks, ["o.k"]);
    assert_eq!(
        why.to_string(),
        r#"no match
  o.k: "a" at 13..16, holds
    "a": holds
  o.z: 1 at 23..24, 2 at 33..34, fails
    exists false: does not hold
  array o at 6..36: no element has o.k and lacks o.z
    element 0 at 7..25: has o.z (exists false)
    element 1 at 27..35: lacks o.k, has o.z (exists false)
"#
    );

    // o.a comes before o.k: it is judged before any value is chosen, so element 1's value
    // fails it although element 0 has k and no a.
    let pattern = r#"{"o": {"a": [{"exists": false}], "k": ["x"]}}"#;
    let why = explain(pattern, r#"{"o": [{"k": "x"}, {"a": 1}]}"#);
    assert!(!why.matched);
    let array = &why.group.arrays[0];
    assert_eq!(array.fields, ["o.a", "o.k"]);
    assert!(array.elements[0].lacks.is_empty() && array.elements[0].unwanted.is_empty());
    assert_eq!(array.judged_first, ["o.a"]);
    assert!(
        why.to_string().contains(
            "element 0 at 7..17: has each, but o.a is judged first (path order), before a value \
             in this array is chosen, and a value in another element fails it"
        ),
        "{why}"
    );
    // Written the other way round (o.k before o.z), nothing is judged first.
    let why = explain(
        r#"{"o": {"k": ["x"], "z": [{"exists": false}]}}"#,
        r#"{"o": [{"k": "x"}, {"z": 1}]}"#,
    );
    assert!(why.matched);
    assert!(why.group.arrays[0].judged_first.is_empty());

    // Value-or-absent inside an array: element 0 has no "t", element 1 a value it accepts.
    let why = explain(
        r#"{"o": {"k": ["a"], "t": ["y", {"exists": false}]}}"#,
        r#"{"o": [{"k": "b", "t": "n"}, {"k": "a"}]}"#,
    );
    assert!(why.matched);
    assert_eq!(why.group.arrays[0].satisfied_by, Some(1));
    assert_eq!(why.group.arrays[0].elements[0].lacks, ["o.k"]);
    assert_eq!(why.group.arrays[0].elements[0].unwanted, ["o.t"]);
}

#[test]
fn matcher_explains_patterns_as_validated() {
    // A pattern added under other options than the matcher's is explained as it was read.
    let strict = Options::new().numbers_as_strings(true);
    let p = Pattern::parse_with(r#"{"n": [300]}"#, &strict).unwrap();
    let mut m = Matcher::new();
    m.add_pattern("r", p.clone());
    let event = br#"{"n": 300.0}"#;
    assert!(!m.is_match(event).unwrap());
    let why = m.explain("r", event).unwrap().unwrap();
    assert!(!why.matched);
    assert_eq!(why.patterns, [p.explain(event).unwrap()]);
    // A pattern weir builds itself (text `{}`, which parsing refuses) is kept too.
    m.add_pattern("all", Pattern::match_all());
    assert!(m.explain("all", b"{}").unwrap().unwrap().matched);
}

#[test]
fn the_report_prints_no_control_character_of_the_input() {
    // ESC and the one-byte C1 escape start (U+009B) in a key and in a value.
    let why = explain(
        r#"{"\u001b[2J": [{"prefix": "x"}]}"#,
        r#"{"\u001b[2J": "\u009b2J"}"#,
    );
    let text = why.to_string();
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    assert!(text.contains(r"\u001b[2J: "), "{text}");
    assert!(text.contains(r"\u009b2J"), "{text}");
    let mut m = Matcher::new();
    m.add_rule("r\u{1b}", r#"{"a": [1]}"#).unwrap();
    let text = m
        .explain("r\u{1b}", br#"{"a": 1}"#)
        .unwrap()
        .unwrap()
        .to_string();
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
}

#[test]
fn an_element_satisfies_exists_false_by_lacking_the_field() {
    let why = explain(
        r#"{"o": {"k": ["a"], "z": [{"exists": false}]}}"#,
        r#"{"o": [{"k": "a"}, {"z": 1}]}"#,
    );
    assert!(why.matched);
    let text = why.to_string();
    assert!(
        text.contains("array o at 6..28: element 0 has o.k and lacks o.z\n"),
        "{text}"
    );
}
