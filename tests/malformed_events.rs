//! Malformed events: each one gives an `EventError` (pointing at the right byte, line and
//! column where that is well defined) and never a panic, through every entry point of the
//! compiled matcher — `is_match`, `matching_rules`, `matching_rule_ids`, `match_batch` (where
//! the other events of the batch are still evaluated), `par_match_batch` and `match_jsonl` —
//! and the reference interpreter refuses the same inputs.

use weir::{BatchResults, EventError, Matcher, Pattern, RuleId};

/// A real event, with a nested object, an array of objects, a non-ASCII string, an escape,
/// numbers, booleans and null.
const EVENT: &str = r#"{"id":"7bf73129","source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{"instance":"i-1234","state":"running","size":42.5,"count":-3,"big":1e3,"tags":[{"k":"env","v":"prod"},{"k":"team","v":"caf\u00e9 ü"}],"flag":true,"off":false,"none":null,"ip":"10.0.0.1","empty":[]}}"#;

const GOOD_A: &[u8] = br#"{"a": "x", "detail": {"state": "running"}}"#;
const GOOD_B: &[u8] = br#"{"a": 5}"#;

/// Rules naming the fields the inputs below use, so the matcher reads them closely.
fn near() -> Matcher {
    let mut m = Matcher::new();
    for (name, p) in [
        ("a-exists", r#"{"a": [{"exists": true}]}"#),
        ("a-x", r#"{"a": ["x", {"prefix": "x"}]}"#),
        ("a-num", r#"{"a": [{"numeric": [">", 0]}]}"#),
        ("b-exists", r#"{"b": [{"exists": true}]}"#),
        ("running", r#"{"detail": {"state": ["running"]}}"#),
        (
            "team",
            r#"{"detail": {"tags": {"k": ["team"], "v": [{"suffix": "ü"}]}}}"#,
        ),
        (
            "size",
            r#"{"detail": {"size": [{"numeric": [">", 40, "<", 50]}]}}"#,
        ),
        ("every", r#"{"no-such-key": [{"exists": false}]}"#),
    ] {
        m.add_rule(name, p).unwrap();
    }
    m
}

/// One rule on a field no input uses, plus a catch-all: the matcher must still read, and
/// check, everything.
fn far() -> Matcher {
    let mut m = Matcher::new();
    m.add_rule("zzz", r#"{"zzz": [1]}"#).unwrap();
    m.add_rule("every", r#"{"no-such-key": [{"exists": false}]}"#)
        .unwrap();
    m
}

fn reference_pattern() -> Pattern {
    Pattern::parse(r#"{"a": [{"exists": true}]}"#).unwrap()
}

fn show(input: &[u8]) -> String {
    let text = String::from_utf8_lossy(input);
    if text.len() > 80 {
        format!(
            "{:?}... ({} bytes)",
            &text[..text.char_indices().nth(80).map_or(text.len(), |(i, _)| i)],
            input.len()
        )
    } else {
        format!("{text:?}")
    }
}

/// Asserts `input` is refused by every entry point of `m`, the same way each time, and that
/// the events around it in a batch are still matched. Returns the error.
fn refused_by(m: &Matcher, input: &[u8]) -> EventError {
    let what = show(input);
    let err = match m.matching_rule_ids(input) {
        Err(e) => e,
        Ok(ids) => panic!("{what}: accepted by the matcher, matching {ids:?}"),
    };
    assert_eq!(m.is_match(input).unwrap_err(), err, "is_match on {what}");
    assert_eq!(
        m.matching_rules(input).unwrap_err(),
        err,
        "matching_rules on {what}"
    );
    assert!(
        err.offset() <= input.len(),
        "{what}: offset {} past the end",
        err.offset()
    );
    assert!(err.line() >= 1 && err.column() >= 1);
    assert!(!err.reason().is_empty());
    assert!(
        err.to_string().contains(&format!("byte {}", err.offset())),
        "{err}"
    );

    let good_a = m.matching_rule_ids(GOOD_A).unwrap();
    let good_b = m.matching_rule_ids(GOOD_B).unwrap();
    assert!(!good_a.is_empty() && !good_b.is_empty());
    let check = |results: &BatchResults, via: &str, err: &EventError| {
        assert_eq!(results.len(), 3, "{via} on {what}");
        assert_eq!(
            results.get(0).unwrap(),
            good_a.as_slice(),
            "{via}: event before {what}"
        );
        assert_eq!(results.get(1).unwrap_err(), err, "{via}: {what}");
        assert_eq!(
            results.get(2).unwrap(),
            good_b.as_slice(),
            "{via}: event after {what}"
        );
        assert_eq!(results.matched_count(), 2);
    };
    let mut results = BatchResults::new();
    m.match_batch([GOOD_A, input, GOOD_B], &mut results);
    check(&results, "match_batch", &err);
    check(
        &m.par_match_batch(&[GOOD_A, input, GOOD_B]),
        "par_match_batch",
        &err,
    );

    // JSONL: only inputs that are one non-blank line are one JSONL event.
    let one_line = !input.iter().any(|&b| b == b'\n' || b == b'\r');
    let blank = input.iter().all(u8::is_ascii_whitespace);
    if one_line && !blank {
        let mut buffer = Vec::new();
        for line in [GOOD_A, input, GOOD_B] {
            buffer.extend_from_slice(line);
            buffer.push(b'\n');
        }
        m.match_jsonl(&buffer, &mut results);
        // A JSONL event is its line without surrounding (JSON) whitespace.
        let json_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        let from = input.iter().position(|b| !json_ws(b)).unwrap_or(0);
        let to = input.iter().rposition(|b| !json_ws(b)).map_or(0, |i| i + 1);
        let trimmed = &input[from..to];
        let trimmed_err = m.matching_rule_ids(trimmed).unwrap_err();
        check(&results, "match_jsonl", &trimmed_err);
        assert_eq!(results.lines(), &[1, 2, 3]);
    }
    err
}

/// Asserts both matchers and the reference interpreter refuse `input`; returns the error of
/// the matcher whose rules name the input's fields.
fn refused(input: &[u8]) -> EventError {
    let err = refused_by(&near(), input);
    let far_err = refused_by(&far(), input);
    assert_eq!(
        far_err,
        err,
        "{}: the matchers disagree on the error",
        show(input)
    );
    assert!(
        weir_reference::matches_text(&reference_pattern(), input).is_err(),
        "{}: the reference interpreter accepts it",
        show(input)
    );
    err
}

/// Asserts both matchers and the reference interpreter accept `input` and agree on it.
fn accepted(input: &[u8]) {
    let what = show(input);
    let p = reference_pattern();
    let want = weir_reference::matches_text(&p, input)
        .unwrap_or_else(|e| panic!("{what}: the reference interpreter refuses it: {e}"));
    for m in [near(), far()] {
        let names = m
            .matching_rules(input)
            .unwrap_or_else(|e| panic!("{what}: the matcher refuses it: {e}"));
        assert!(names.contains(&"every"), "{what}");
        if m.rule_id("a-exists").is_some() {
            assert_eq!(names.contains(&"a-exists"), want, "{what}");
        }
    }
}

/// Where `offset` is in `input`: (line, column), columns counting characters.
fn line_column(input: &[u8], offset: usize) -> (usize, usize) {
    let before = &input[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (
        line,
        String::from_utf8_lossy(&before[start..]).chars().count() + 1,
    )
}

fn at(input: &[u8], offset: usize) {
    let err = refused(input);
    assert_eq!(err.offset(), offset, "{}: {err}", show(input));
    assert_eq!(
        (err.line(), err.column()),
        line_column(input, offset),
        "{}: {err}",
        show(input)
    );
}

/// Like [`refused`], for inputs whose mistake sits in a field the `near` rules name (see
/// `bad_escapes_in_fields_no_rule_names` for the others).
fn refused_near(input: &[u8]) -> EventError {
    let err = refused_by(&near(), input);
    assert!(
        weir_reference::matches_text(&reference_pattern(), input).is_err(),
        "{}: the reference interpreter accepts it",
        show(input)
    );
    err
}

fn at_near(input: &[u8], offset: usize) {
    let err = refused_near(input);
    assert_eq!(err.offset(), offset, "{}: {err}", show(input));
    assert_eq!(
        (err.line(), err.column()),
        line_column(input, offset),
        "{}: {err}",
        show(input)
    );
}

// ---------------------------------------------------------------- the real event

#[test]
fn the_real_event_is_read() {
    let m = near();
    assert_eq!(
        m.matching_rules(EVENT.as_bytes()).unwrap(),
        vec!["running", "team", "size", "every"]
    );
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(EVENT).unwrap())
            .unwrap();
    assert_eq!(
        m.matching_rules(pretty.as_bytes()).unwrap(),
        vec!["running", "team", "size", "every"]
    );
    accepted(EVENT.as_bytes());
}

#[test]
fn truncated_at_every_byte() {
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(EVENT).unwrap())
            .unwrap();
    for event in [EVENT, pretty.as_str()] {
        let bytes = event.as_bytes();
        for cut in 0..bytes.len() {
            let prefix = &bytes[..cut];
            let err = refused(prefix);
            // The error is at the end, or at the start of the token the cut broke
            // (`tru`, `-`, half a character).
            assert!(
                err.offset() + 5 >= cut && err.offset() <= cut,
                "cut at {cut}: error at {} ({err})",
                err.offset()
            );
            assert_eq!(
                (err.line(), err.column()),
                line_column(prefix, err.offset()),
                "cut at {cut}"
            );
        }
    }
}

#[test]
fn truncation_offsets() {
    at(br#"{"a": "abc"#, 10);
    at(br#"{"a": [1, 2"#, 11);
    at(br#"{"a""#, 4);
    at_near(br#"{"a": "x\u00"#, 12);
    at(b"{\n  \"a\": [\n", 11);
    at(br#"{"a": tr"#, 6);
    at(br#"{"a": 1."#, 8);
}

// ---------------------------------------------------------------- nesting

#[test]
fn ten_thousand_levels_of_nesting() {
    let arrays = "[".repeat(10_000);
    at(arrays.as_bytes(), 127);
    let balanced = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    at(balanced.as_bytes(), 127);
    let objects = r#"{"a":"#.repeat(10_000);
    at(objects.as_bytes(), 127 * 5);
    let closed = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    at(closed.as_bytes(), 127 * 5);
    // Deep inside a field no rule names.
    let hidden = format!(r#"{{"a": 1, "zz": {}}}"#, "[".repeat(10_000));
    // The object is level 1, so the 127th bracket is level 128.
    at(hidden.as_bytes(), hidden.find('[').unwrap() + 126);
}

#[test]
fn nesting_limit_is_the_same_in_every_engine() {
    assert_eq!(weir::MAX_EVENT_DEPTH, 127);
    for depth in [1, 100, 126, 127] {
        accepted(format!("{}{}", "[".repeat(depth), "]".repeat(depth)).as_bytes());
        let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        accepted(objects.as_bytes());
    }
    for depth in [128, 129, 1000] {
        at(
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)).as_bytes(),
            127,
        );
    }
    // Mixed: 127 levels of objects and arrays is fine, 128 is not.
    let mixed = |n: usize| {
        let mut s = String::new();
        for i in 0..n {
            s.push_str(if i % 2 == 0 { r#"{"a":"# } else { "[" });
        }
        s.push('1');
        for i in (0..n).rev() {
            s.push(if i % 2 == 0 { '}' } else { ']' });
        }
        s
    };
    accepted(mixed(127).as_bytes());
    refused(mixed(128).as_bytes());
}

// ---------------------------------------------------------------- numbers

#[test]
fn huge_numbers_are_valid_json() {
    let digits = "9".repeat(400);
    for n in [
        "1e400",
        "-1e400",
        "1E+400",
        "1e-400",
        digits.as_str(),
        &format!("-{digits}"),
        &format!("0.{digits}"),
    ] {
        let event = format!(r#"{{"a": {n}}}"#);
        accepted(event.as_bytes());
        // No numeric comparison can hold for a number that is not a double...
        let m = near();
        let names = m.matching_rules(event.as_bytes()).unwrap();
        assert!(!names.contains(&"a-num"), "{n}: {names:?}");
        assert!(names.contains(&"a-exists"), "{n}: {names:?}");
        // ...but exact text equality does.
        let p = Pattern::parse(&format!(r#"{{"a": [{n}]}}"#)).unwrap();
        assert!(
            weir_reference::matches_text(&p, event.as_bytes()).unwrap(),
            "{n}"
        );
        let mut m = Matcher::new();
        m.add_rule("same", &format!(r#"{{"a": [{n}]}}"#)).unwrap();
        assert!(m.is_match(event.as_bytes()).unwrap(), "{n}");
    }
}

#[test]
fn malformed_numbers() {
    at(br#"{"a": 01}"#, 7);
    at(br#"{"a": 1.}"#, 8);
    at(br#"{"a": -}"#, 7);
    at(br#"{"a": 1e}"#, 8);
    at(br#"{"a": 1e+}"#, 9);
    refused(br#"{"a": .5}"#);
    refused(br#"{"a": +1}"#);
    refused(br#"{"a": NaN}"#);
    refused(br#"{"a": Infinity}"#);
    refused(br#"{"a": -Infinity}"#);
    refused(br#"{"a": 0x10}"#);
    refused(b"-");
}

// ---------------------------------------------------------------- UTF-8

#[test]
fn invalid_utf8() {
    at(b"{\"a\": \"\xff\"}", 7);
    at(b"{\"\xff\": 1}", 2);
    at(b"{\"a\": \"\x80\"}", 7);
    // Overlong encodings of '/' and of NUL.
    at(b"{\"a\": \"\xc0\xaf\"}", 7);
    at(b"{\"a\": \"\xe0\x80\xaf\"}", 7);
    at(b"{\"a\": \"\xc0\x80\"}", 7);
    // A surrogate encoded as UTF-8, and a code point above U+10FFFF.
    at(b"{\"a\": \"\xed\xa0\x80\"}", 7);
    at(b"{\"a\": \"\xf4\x90\x80\x80\"}", 7);
    // A character cut short at the end of a string.
    at(b"{\"a\": \"\xe2\x82\"}", 7);
    // After valid multi-byte characters: the column counts characters.
    let input = "{\"a\": \"été\u{1F600}"
        .as_bytes()
        .iter()
        .chain(b"\xff\"}")
        .copied()
        .collect::<Vec<u8>>();
    let err = refused(&input);
    assert_eq!(err.offset(), 7 + "été\u{1F600}".len());
    assert_eq!(err.column(), 8 + 4);
    // Outside any string, and in a field no rule names.
    at(b"{\xff}", 1);
    at(b"{\"zz\": [\"ok\", \"\xfe\"]}", 15);
    at(b"\xef\xbb", 0);
}

#[test]
fn a_byte_order_mark_is_not_json() {
    at(b"\xef\xbb\xbf{}", 0);
}

// ---------------------------------------------------------------- escapes

#[test]
fn lone_surrogate_escapes() {
    at_near(br#"{"a": "\ud800"}"#, 7);
    at_near(br#"{"a": "\udbff"}"#, 7);
    at_near(br#"{"a": "\udc00"}"#, 7);
    at_near(br#"{"a": "\udfff"}"#, 7);
    at_near(br#"{"a": "x\ud800y"}"#, 8);
    // Reversed pair: the low half comes first.
    at_near(br#"{"a": "\udc00\ud800"}"#, 7);
    // A high half followed by an escape that is not a low half.
    let err = refused_near(br#"{"a": "\ud800\u0041"}"#);
    assert!((7..=13).contains(&err.offset()), "{err}");
    // In a key the matcher looks up.
    at_near(br#"{"\ud800": 1}"#, 2);
    // A proper pair is fine.
    let m = near();
    assert!(m
        .matching_rules(br#"{"a": "x\ud83d\ude00"}"#)
        .unwrap()
        .contains(&"a-x"));
    accepted(br#"{"a": "\ud83d\ude00"}"#);
}

#[test]
fn bad_escapes() {
    at_near(br#"{"a": "\x"}"#, 7);
    at_near(br#"{"a": "ab\q"}"#, 9);
    at_near(br#"{"a": "\u12"}"#, 7);
    at_near(br#"{"a": "\uZZZZ"}"#, 7);
    at_near(br#"{"a": "\u"}"#, 7);
    at_near(br#"{"\x": 1}"#, 2);
    accepted(br#"{"a": "\"\\\/\b\f\n\r\t\u0041"}"#);
}

/// Escapes are checked in every string of the event, not only in the fields some rule
/// names (the reference interpreter, serde_json, refuses them all).
#[test]
fn bad_escapes_in_fields_no_rule_names() {
    at(br#"{"b": "\x"}"#, 7);
    at(br#"{"zz": "\ud800"}"#, 8);
    at(br#"{"zz": {"\ud800": 1}}"#, 9);
    at(br#"{"zz": ["\u12"]}"#, 9);
    at(br#"{"a": 1, "b": "\x"}"#, 15);
    // A repeated key: the earlier value is read and must be checked too.
    at(br#"{"a": "x", "a": "\ud800"}"#, 17);
}

/// The matcher may stop looking for fields once it has seen every key its rules name; the
/// rest of the event must still be checked.
#[test]
fn mistakes_after_every_named_key() {
    let mut m = Matcher::new();
    m.add_rule("a1", r#"{"a": [1]}"#).unwrap();
    m.add_rule("every", r#"{"no-such-key": [{"exists": false}]}"#)
        .unwrap();
    let p = Pattern::parse(r#"{"a": [1]}"#).unwrap();
    let deep = format!(r#"{{"a": 1, "b": {}{}}}"#, "[".repeat(200), "]".repeat(200));
    let cases: [(&[u8], usize); 9] = [
        (br#"{"a": 1, "b": tru}"#, 14),
        (b"{\"a\": 1, \"b\": \"\xff\"}", 15),
        (br#"{"a": 1} x"#, 9),
        (br#"{"a": 1, "b": [1,}"#, 17),
        (br#"{"a": 1,"#, 8),
        (b"{\"a\": 1, \"b\": \"x\ny\"}", 16),
        (br#"{"a": 1, "b": 01}"#, 15),
        (br#"{"a": 1, "a": 2, "#, 17),
        (deep.as_bytes(), 14 + 126),
    ];
    for (input, offset) in cases {
        let err = refused_by(&m, input);
        assert_eq!(err.offset(), offset, "{}: {err}", show(input));
        assert!(
            weir_reference::matches_text(&p, input).is_err(),
            "{}",
            show(input)
        );
    }
}

// ---------------------------------------------------------------- control characters

#[test]
fn control_characters_in_strings() {
    at(b"{\"a\": \"x\ny\"}", 8);
    at(b"{\"a\": \"x\ty\"}", 8);
    at(b"{\"a\": \"x\ry\"}", 8);
    at(b"{\"a\": \"\x00\"}", 7);
    at(b"{\"a\": \"\x1f\"}", 7);
    at(b"{\"a\x01\": 1}", 3);
    at(b"{\"zz\": \"ok\x02\"}", 10);
    // On the second line of a pretty event.
    at(b"{\n  \"a\": \"x\ty\"\n}", 11);
    let err = refused(b"{\n  \"a\": \"x\ty\"\n}");
    assert_eq!((err.line(), err.column()), (2, 10));
    // DEL and other non-control characters are fine.
    accepted(b"{\"a\": \"x\x7fy\"}");
    accepted("{\"a\": \"\u{85}\u{2028}\"}".as_bytes());
}

// ---------------------------------------------------------------- structure

#[test]
fn trailing_garbage() {
    at(b"{} x", 3);
    at(b"{}}", 2);
    at(b"{}{}", 2);
    at(b"1 2", 2);
    at(br#"{"a": 1},"#, 8);
    at(b"{\"a\": 1}\n{\"a\": 2}", 9);
    let err = refused(b"{\"a\": 1}\n{\"a\": 2}");
    assert_eq!((err.line(), err.column()), (2, 1));
    at(b"{}\x00", 2);
    accepted(b" \t\r\n{} \t\r\n");
}

#[test]
fn empty_and_blank_input() {
    at(b"", 0);
    let err = refused(b"   ");
    assert_eq!(err.offset(), 3);
    let err = refused(b"  \n ");
    assert_eq!((err.offset(), err.line(), err.column()), (4, 2, 2));
    refused(b"\t\r\n");
}

#[test]
fn invalid_json() {
    at(br#"{"a" 1}"#, 5);
    at(br#"{a: 1}"#, 1);
    at(br#"{'a': 1}"#, 1);
    at(br#"{"a": 1,}"#, 8);
    at(br#"{"a": 1 "b": 2}"#, 8);
    at(br#"[1,]"#, 3);
    at(br#"[1 2]"#, 3);
    at(br#"{"a": tru}"#, 6);
    at(br#"{"a": nul}"#, 6);
    at(br#"{"a": True}"#, 6);
    at(br#"{"a": undefined}"#, 6);
    at(br#"{,}"#, 1);
    at(br#"{"a":: 1}"#, 5);
    at(br#"]"#, 0);
    at(br#"}"#, 0);
    at(br#"{"a": [}"#, 7);
    at(br#"{"a": {]}"#, 7);
    refused(br#"{"a": 'x'}"#);
    refused(
        br#"// comment
{}"#,
    );
}

#[test]
fn valid_non_object_events() {
    for input in [
        "[]",
        "[1, {\"a\": 1}]",
        "\"a\"",
        "1",
        "-0.5e-3",
        "true",
        "null",
    ] {
        accepted(input.as_bytes());
    }
}

#[test]
fn errors_do_not_disturb_later_matches() {
    let m = near();
    let want = m.matching_rules(GOOD_A).unwrap();
    let bad: [&[u8]; 5] = [
        b"{",
        b"{\"a\": \"\xff\"}",
        br#"{"a": "\ud800"}"#,
        b"[[[[[[[[",
        br#"{"detail": {"state": "running", "#,
    ];
    for b in bad {
        assert!(m.matching_rules(b).is_err());
        assert_eq!(m.matching_rules(GOOD_A).unwrap(), want);
    }
    // A batch mixing everything: each event's result equals its own single match.
    let events: Vec<&[u8]> = bad
        .iter()
        .copied()
        .chain([GOOD_A, GOOD_B, EVENT.as_bytes()])
        .cycle()
        .take(64)
        .collect();
    let singles: Vec<Result<Vec<RuleId>, EventError>> =
        events.iter().map(|e| m.matching_rule_ids(e)).collect();
    let mut results = BatchResults::new();
    m.match_batch(events.iter().copied(), &mut results);
    let par = m.par_match_batch(&events);
    for (i, single) in singles.iter().enumerate() {
        match single {
            Ok(ids) => {
                assert_eq!(results.get(i).unwrap(), ids.as_slice(), "event {i}");
                assert_eq!(par.get(i).unwrap(), ids.as_slice(), "event {i}");
            }
            Err(e) => {
                assert_eq!(results.get(i).unwrap_err(), e, "event {i}");
                assert_eq!(par.get(i).unwrap_err(), e, "event {i}");
            }
        }
    }
}

// ---------------------------------------------------------------- kinds

/// Each kind of [`weir::EventErrorKind`] from a real malformed event, with its reason and
/// offset, through every entry point of both matchers (see [`refused`]); and what the lazy
/// reader (which checks only what rules need) says of the same inputs when it reads them.
#[test]
fn each_kind_from_a_real_event() {
    use weir::EventErrorKind as K;
    let deep = "[".repeat(200);
    let cases: Vec<(&[u8], K, &str, usize)> = vec![
        (br#"{"a": tru}"#, K::Syntax, "expected a JSON value", 6),
        (
            br#"{"a" 1}"#,
            K::Syntax,
            "expected ':' after an object key",
            5,
        ),
        (
            br#"{"a": 1 "b": 2}"#,
            K::Syntax,
            "expected ',' or '}' in an object",
            8,
        ),
        (b"[1 2]", K::Syntax, "expected ',' or ']' in an array", 3),
        (b"{,}", K::Syntax, "expected a string key", 1),
        (b"[1.]", K::Syntax, "invalid number", 3),
        (br#"{"a": -x}"#, K::Syntax, "invalid number", 7),
        (
            br#"{"a": [1, 2"#,
            K::UnexpectedEnd,
            "unexpected end of input",
            11,
        ),
        (b" \n ", K::UnexpectedEnd, "unexpected end of input", 3),
        (b"", K::UnexpectedEnd, "unexpected end of input", 0),
        (b"{\"a\": \"\xff\"}", K::InvalidUtf8, "invalid UTF-8", 7),
        (
            b"{\"zz\": \"\xe2\x82\"}",
            K::InvalidUtf8,
            "invalid UTF-8",
            8,
        ),
        (
            br#"{"a": "\q"}"#,
            K::InvalidEscape,
            "invalid escape in string",
            7,
        ),
        (
            br#"{"a": "\ud800"}"#,
            K::InvalidEscape,
            "invalid escape in string",
            7,
        ),
        (
            br#"{"\x": 1}"#,
            K::InvalidEscape,
            "invalid escape in string",
            2,
        ),
        (
            b"[\"a\x01b\"]",
            K::ControlCharacter,
            "control character in string",
            3,
        ),
        (
            b"{\"a\": \"x\ny\"}",
            K::ControlCharacter,
            "control character in string",
            8,
        ),
        (
            deep.as_bytes(),
            K::TooDeep,
            "nesting deeper than 127 levels",
            127,
        ),
        (
            b"{} x",
            K::TrailingContent,
            "trailing characters after the JSON value",
            3,
        ),
        (
            b"{\"a\": 1}\n{\"a\": 2}",
            K::TrailingContent,
            "trailing characters after the JSON value",
            9,
        ),
    ];
    for (input, kind, reason, offset) in cases {
        let err = refused(input);
        assert_eq!(
            (err.kind(), err.reason(), err.offset()),
            (kind, reason, offset),
            "{}",
            show(input)
        );
        assert_eq!(err.position(), weir::Position::at_bytes(input, offset));
    }

    // The lazy reader reads an escaped key through the rules' paths, and says so.
    let mut lazy = near();
    lazy.set_reading(weir::EventReading::Lazy);
    let err = lazy.is_match(br#"{"\x": 1, "a": 1}"#).unwrap_err();
    assert_eq!(
        (err.kind(), err.reason(), err.offset()),
        (K::InvalidEscape, "invalid escape in key", 2)
    );
    let err = lazy.is_match(br#"{"a": [1, 2"#).unwrap_err();
    assert_eq!(err.kind(), K::UnexpectedEnd);
    let err = lazy.is_match(b"{\"a\": \"\xff\"}").unwrap_err();
    assert_eq!((err.kind(), err.offset()), (K::InvalidUtf8, 7));
}

/// Invalid UTF-8 is an event's error wherever it is, before or after a grammar error and
/// whether the rules read the bytes or not, in the matcher and in `json::validate` alike
/// (the validating reader checks UTF-8 after the grammar, but reports it first).
#[test]
fn invalid_utf8_is_the_error_before_or_after_a_grammar_error() {
    use weir::EventErrorKind as K;
    let cases: [(&[u8], usize); 4] = [
        // A grammar error (the missing colon) before the bad byte.
        (b"{\"a\" 1, \"b\": \"\xff\"}", 14),
        // The bad byte before a grammar error.
        (b"{\"a\": \"\xc3\", \"b\" 1}", 7),
        // In a value no rule reads, after one they do, in a well-formed event.
        (b"{\"a\": \"x\", \"zz\": [\"\xe2\x82\"]}", 19),
        // In a key.
        (b"{\"\xf0\x9f\": 1}", 2),
    ];
    for (event, at) in cases {
        let valid = weir::json::validate(event).unwrap_err();
        assert_eq!(
            (valid.kind(), valid.offset()),
            (K::InvalidUtf8, at),
            "{event:?}"
        );
        for m in [near(), far()] {
            let err = m.matching_rule_ids(event).unwrap_err();
            assert_eq!(
                (err.kind(), err.offset()),
                (K::InvalidUtf8, at),
                "{event:?}"
            );
        }
    }
}

/// The envelope check's two kinds, beside the reader's.
#[test]
fn envelope_kinds() {
    use weir::EventErrorKind as K;
    let err = weir::check_envelope(b"[1, 2]").unwrap_err();
    assert_eq!(err.kind(), K::NotAnObject);
    assert_eq!(
        err.reason(),
        "Parameter Event is not valid. (the event is not a JSON object)"
    );
    let err = weir::check_envelope(br#"{"id": "1", "source": "s"}"#).unwrap_err();
    assert_eq!(err.kind(), K::MissingField);
    assert_eq!(
        err.reason(),
        "Parameter Event is not valid. (missing field \"detail-type\")"
    );
    // A malformed event is refused by the reader first.
    assert_eq!(
        weir::check_envelope(b"{\"id\": ").unwrap_err().kind(),
        K::UnexpectedEnd
    );
}

/// `Display`: the reason, then the place drawn with a caret, the line counted in the event.
#[test]
fn display_draws_the_place() {
    let err = near()
        .is_match(b"{\n  \"a\": [1,\n\t\"x\" 2]}")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid event: expected ',' or ']' in an array\n  --> line 3, column 6 (byte 18)\n  |\n3 | \t\"x\" 2]}\n  | \t    ^"
    );
    assert_eq!(err.snippet().start(), err.position());
    // A long one-line event: the error keeps a window around the place, drawn as the whole
    // event would be.
    let mut long = br#"{"pad": ""#.to_vec();
    long.extend(std::iter::repeat_n(b'x', 5000));
    long.extend_from_slice(br#"", "a": tru, "more": ""#);
    long.extend(std::iter::repeat_n("é".as_bytes(), 3000).flatten());
    long.extend_from_slice(br#""}"#);
    let err = near().is_match(&long).unwrap_err();
    let at = err.offset();
    assert_eq!(&long[at..at + 3], b"tru");
    assert_eq!(
        err.snippet().to_string(),
        weir::Snippet::from_bytes(&long, at..at).to_string()
    );
    let shown = err.to_string();
    assert!(shown.len() < 600, "{shown}");
    assert!(shown.contains("...xxxx"), "{shown}");
    assert!(shown.contains("tru, \"more\""), "{shown}");
    assert!(shown.contains("ééé..."), "{shown}");
    // Debug names the fields, not the kept bytes.
    assert_eq!(
        format!("{:?}", near().is_match(b"[").unwrap_err()),
        "EventError { kind: UnexpectedEnd, reason: \"unexpected end of input\", offset: 1, line: 1, column: 2 }"
    );
}

/// However long the line and wherever the mistake, the error draws what the whole event
/// would draw.
#[test]
fn kept_windows_draw_like_the_whole_event() {
    let m = far();
    for len in [0usize, 50, 119, 120, 121, 200, 400] {
        for (before, after) in [("x", "y"), ("é", "ü"), ("\u{1F600}", "x")] {
            for at in [0, len / 2, len] {
                let mut event = String::from("[\"");
                event.push_str(&before.repeat(at));
                event.push_str("\", tru, \"");
                event.push_str(&after.repeat(len - at));
                event.push_str("\"]");
                let err = m.is_match(event.as_bytes()).unwrap_err();
                let whole = weir::Snippet::new(&event, err.offset()..err.offset());
                assert_eq!(err.snippet().to_string(), whole.to_string(), "{event}");
                assert_eq!(err.snippet().start(), whole.start());
            }
        }
    }
}

/// Generated events, most of them then broken by a few edits: the validating matcher refuses
/// exactly what `json::validate` refuses, with the same reason at the same offset, whether the
/// rules name the event's fields or not and with the SIMD validation on or off (the matcher
/// reads the objects the rules walk into itself and hands the rest to the validator).
#[test]
fn the_simd_switch_is_restored_after_a_panic() {
    use weir::json::SimdSwitch;
    // On where the CPU has it (and WEIR_SIMD is not off); back as it was when dropped.
    let cpu = SimdSwitch::take().set(true);
    let failed = std::panic::catch_unwind(|| {
        let switch = SimdSwitch::take();
        assert!(!switch.set(false));
        panic!("a comparison failed with the fast path off");
    });
    assert!(failed.is_err());
    // Neither the fast path left off nor the lock left unusable by the panic.
    let switch = SimdSwitch::take();
    assert_eq!(switch.is_on(), cpu);
    assert!(!switch.set(false));
    drop(switch);
    assert_eq!(SimdSwitch::take().is_on(), cpu);
}

#[test]
fn one_simd_switch_at_a_time() {
    use weir::json::SimdSwitch;
    // Threads flipping the switch each way and reading it back: without the lock another
    // thread's flip would come in between.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..2000 {
                    let switch = SimdSwitch::take();
                    let on = switch.set((i + t) % 2 == 0);
                    let valid = weir::json::validate(b"[1, -2.5, {\"a\": 3e2}]").is_ok();
                    std::thread::yield_now();
                    assert!(valid);
                    assert_eq!(switch.is_on(), on, "thread {t}, round {i}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread saw another's flip");
    }
}

mod generated {
    use super::{far, near};
    use proptest::prelude::*;

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "a",
                "b",
                "detail",
                "state",
                "tags",
                "k",
                "v",
                "size",
                "zzz",
                "a.b",
                "\\u0061",
                "",
                "no-such-key",
                "detail.state",
            ])
            .prop_map(str::to_string),
            "[a-z]{0,10}",
        ]
    }

    fn ws() -> impl Strategy<Value = String> {
        prop_oneof![6 => Just(String::new()), 1 => "[ \t\n\r]{1,2}"]
    }

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            "-?(0|[1-9][0-9]{0,6})(\\.[0-9]{1,4})?([eE][+-]?[0-9]{1,2})?",
            "\"[a-z é\\[\\]{}:,]{0,12}\"",
            "\"([a-z]|\\\\[nt\"\\\\/]|\\\\u00e9){0,6}\"",
            Just("true".to_string()),
            Just("false".to_string()),
            Just("null".to_string()),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        scalar().prop_recursive(5, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec((ws(), inner.clone(), ws()), 0..6).prop_map(|v| format!(
                    "[{}]",
                    v.into_iter()
                        .map(|(a, x, b)| format!("{a}{x}{b}"))
                        .collect::<Vec<_>>()
                        .join(",")
                )),
                prop::collection::vec((ws(), key(), ws(), ws(), inner), 0..8).prop_map(|v| {
                    format!(
                        "{{{}}}",
                        v.into_iter()
                            .map(|(a, k, b, c, x)| format!("{a}\"{k}\"{b}:{c}{x}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                }),
            ]
        })
    }

    fn event() -> impl Strategy<Value = String> {
        prop::collection::vec((key(), ws(), value()), 0..8).prop_map(|v| {
            format!(
                "{{{}}}",
                v.into_iter()
                    .map(|(k, a, x)| format!("\"{k}\":{a}{x}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
    }

    /// Replace, insert or delete a few bytes, mostly ones that matter to the grammar.
    fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
        let byte = prop_oneof![
            8 => prop::sample::select(b"{}[]:,\"\\ 0123-+.eEtfnu\n\x01".to_vec()),
            1 => any::<u8>(),
        ];
        prop::collection::vec((any::<usize>(), 0u8..3, byte), 0..4)
    }

    fn mutate(s: &str, edits: &[(usize, u8, u8)]) -> Vec<u8> {
        let mut b = s.as_bytes().to_vec();
        for &(at, kind, byte) in edits {
            let at = at % (b.len() + 1);
            match kind {
                0 if at < b.len() => b[at] = byte,
                1 => b.insert(at, byte),
                _ if at < b.len() => {
                    b.remove(at);
                }
                _ => {}
            }
        }
        b
    }

    fn agree(event: &[u8]) -> Result<(), TestCaseError> {
        let error = |e: weir::EventError| (e.offset(), e.reason().to_string());
        // Held across both runs: no other test thread flips the switch between them, and a
        // failing assertion (a panic) does not leave the fast path off for the others.
        let switch = weir::json::SimdSwitch::take();
        let mut seen = None;
        // AVX-512 compares (where the CPU has them), AVX2 alone, then no fast path.
        for (simd, wide) in [(true, true), (true, false), (false, true)] {
            switch.set(simd);
            switch.set_wide(wide);
            let valid = weir::json::validate(event).map_err(error);
            for m in [near(), far()] {
                let got = m.matching_rule_ids(event).map(|_| ()).map_err(error);
                prop_assert_eq!(
                    &got,
                    &valid,
                    "{:?} (SIMD {}, AVX-512 allowed {})",
                    String::from_utf8_lossy(event),
                    simd,
                    wide
                );
            }
            if let Some(before) = &seen {
                prop_assert_eq!(
                    before,
                    &valid,
                    "SIMD {} (AVX-512 allowed {}) vs the first",
                    simd,
                    wide
                );
            }
            seen = Some(valid);
        }
        Ok(())
    }

    /// An object of many members mostly written `"key":"value",` with no space (the reader
    /// takes those a block's quotes at a time), long enough to cross 64-byte blocks, with
    /// keys the rules name among them and now and then a member written otherwise.
    fn compact_event() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            6 => "[a-zA-Z0-9 .]{0,14}".prop_map(|s| format!("\"{s}\"")),
            1 => prop::sample::select(vec![
                "\"x\"", "\"x\\\"y\"", "\"\\u0078\"", "\"tab\\there\"", "\"\u{e9}\"",
                "1", "-2.5", "true", "null", "[1,\"x\"]", "{\"state\":\"running\"}",
            ])
            .prop_map(str::to_string),
        ];
        let colon = prop_oneof![12 => Just(":"), 1 => Just(": "), 1 => Just(" :")];
        let comma = prop_oneof![12 => Just(","), 1 => Just(", "), 1 => Just(" ,")];
        prop::collection::vec((key(), colon, value, comma), 1..40).prop_map(|members| {
            let mut s = String::from("{");
            for (i, (k, colon, v, comma)) in members.iter().enumerate() {
                if i > 0 {
                    s.push_str(comma);
                }
                s.push_str(&format!("\"{k}\"{colon}{v}"));
            }
            s.push('}');
            s
        })
    }

    /// What both matchers find in `event`, in both readings.
    fn found(event: &[u8]) -> Vec<Result<Vec<String>, String>> {
        let mut out = Vec::new();
        for m in [near(), far()] {
            let mut lazy = m.clone();
            lazy.set_reading(weir::EventReading::Lazy);
            for m in [m, lazy] {
                out.push(
                    m.matching_rule_ids(event)
                        .map(|ids| {
                            let mut names: Vec<String> = ids
                                .iter()
                                .map(|id| m.rule_name(*id).unwrap_or("").to_string())
                                .collect();
                            names.sort();
                            names
                        })
                        .map_err(|e| e.reason().to_string()),
                );
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn matcher_refuses_what_validate_refuses(s in event(), e in edits()) {
            agree(s.as_bytes())?;
            agree(&mutate(&s, &e))?;
        }

        /// Members read a block at a time: the same errors as `validate` (edited or not), and
        /// on every event the same verdicts, in both readings, as with a space after every
        /// colon (which the block-at-a-time reading leaves to the byte loop).
        #[test]
        fn compact_members_read_as_the_byte_loop_reads_them(
            s in compact_event(),
            e in edits(),
        ) {
            agree(s.as_bytes())?;
            agree(&mutate(&s, &e))?;
            let spaced = s.replace("\":", "\": ");
            prop_assert_eq!(found(s.as_bytes()), found(spaced.as_bytes()), "{}", s);
        }
    }
}
