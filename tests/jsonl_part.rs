//! Cutting and matching JSONL in one pass (`Matcher::match_jsonl_part`, `match_jsonl`) gives
//! exactly what cutting the lines with `Splitter` and matching them with `match_batch` gives:
//! the same events (bytes, offsets, lines, columns), the same results and errors, and parts
//! that end where the cut would, on inputs full of lines that are not one object alone.

use proptest::prelude::*;
use weir::json::{Checking, Event, Splitter};
use weir::{BatchResults, EventError, EventReading, Matcher, RuleId};

fn matchers() -> Vec<Matcher> {
    let mut m = Matcher::new();
    for (name, p) in [
        ("a1", r#"{"a": [1]}"#),
        ("b-x", r#"{"b": [{"prefix": "x"}]}"#),
        ("no-a", r#"{"a": [{"exists": false}]}"#),
        ("c-d", r#"{"c": {"d": ["y", {"suffix": "é"}]}}"#),
    ] {
        m.add_rule(name, p).unwrap();
    }
    let mut lazy = m.clone();
    lazy.set_reading(EventReading::Lazy);
    vec![m, lazy]
}

/// Lines and pieces of lines: whole objects, broken ones (some that the next lines seem to
/// continue), values that are not objects, several values on a line, blank space, a byte
/// order mark, invalid UTF-8.
const PIECES: &[&[u8]] = &[
    br#"{"a": 1}"#,
    br#"{"a":1,"b":"xyz"}"#,
    br#"{"b": "x\u00e9", "c": {"d": "y"}}"#,
    br#"{"c":{"d":"caf\u00e9"},"a":[1,2]}"#,
    "{\"c\":{\"d\":\"é\"}}".as_bytes(),
    br#"{"a": 1"#,
    br#"{"a": ["#,
    br#"{"a": {"#,
    br#"1, 2,"#,
    br#"]}"#,
    br#"}"#,
    br#"{"b": "x"#,
    br#"[1, 2]"#,
    br#""text""#,
    b"42",
    b"{}",
    b"{} {}",
    br#"{"a": 1} x"#,
    b"{\"b\": \"\xff\"}",
    b"{\"\xff\":",
    // Keys the rules do not need, and members enough to be read a 64-byte block at a time,
    // so the in-place reading looks past the object's end into the next line.
    br#"{"z":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","y":"q"}"#,
    br#"{"z":[1,{"q":2}],"a":1}"#,
    br#"{"zz":"aaaaaaaa","yy":"bbbbbbbb","xx":"cccccccc","ww":"dddddddd","vv":"e","b":"xy"}"#,
    br#"{"zz":"aaaaaaaa","yy":"bbbbbbbb","xx":"cccccccc","ww":"dddddddd","vv":"e","b":"#,
    br#"{"z":{"y":[1,2,3],"x":"w"}}"#,
    b"\xEF\xBB\xBF",
    b"\xEF\xBB\xBF{}",
    b" ",
    b"\t",
    b"\r",
    b"\n",
    b"\n",
    b"\r\n",
    b"\n\n",
];

fn input() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(0..PIECES.len(), 0..40).prop_map(|picks| {
        picks
            .iter()
            .flat_map(|&i| PIECES[i].iter().copied())
            .collect()
    })
}

type Outcome = Result<Vec<RuleId>, EventError>;

fn outcomes(results: &BatchResults) -> Vec<Outcome> {
    results
        .iter()
        .map(|r| r.map(|ids| ids.to_vec()).map_err(Clone::clone))
        .collect()
}

/// The line starts of `input`: 0 and the offset after each line break.
fn line_starts(input: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(
        input
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i + 1),
    );
    starts
}

/// What the two-pass way gives for the part of `input` from `from`, at most `max` events:
/// the events, their results, where the part ends and its line breaks.
fn two_pass<'a>(
    m: &Matcher,
    input: &'a [u8],
    from: usize,
    max: usize,
) -> (Vec<Event<'a>>, Vec<Outcome>, usize, usize) {
    let events: Vec<Event<'a>> = Splitter::new(input)
        .checking(Checking::Boundaries)
        .jsonl_from(from, 1)
        .take(max)
        .map(|item| item.expect("a JSONL cut has no errors"))
        .collect();
    let mut results = BatchResults::new();
    m.match_batch(events.iter().map(|e| e.bytes), &mut results);
    let end = match events.last() {
        _ if max == 0 => from.min(input.len()),
        Some(last) if events.len() == max => {
            let after = last.offset + last.bytes.len();
            memchr_nl(&input[after..]).map_or(input.len(), |i| after + i + 1)
        }
        _ => input.len(),
    };
    let breaks = input[from.min(end)..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    (events, outcomes(&results), end, breaks)
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

fn check_part(m: &Matcher, input: &[u8], from: usize, max: usize) {
    let (want_events, want, want_end, want_breaks) = two_pass(m, input, from, max);
    // (What an earlier call left is replaced.)
    let (mut events, mut results) = (Vec::new(), BatchResults::new());
    m.match_jsonl_part(b"{}\n[]\n", 0, 5, &mut events, &mut results);
    let part = m.match_jsonl_part(input, from, max, &mut events, &mut results);
    let show = String::from_utf8_lossy(input);
    assert_eq!(
        events, want_events,
        "events of {show:?} from {from}, max {max}"
    );
    assert_eq!(
        outcomes(&results),
        want,
        "results of {show:?} from {from}, max {max}"
    );
    assert_eq!(
        (part.end, part.line_breaks),
        (want_end, want_breaks),
        "end of {show:?} from {from}, max {max}"
    );
}

fn check_all(input: &[u8]) {
    for m in matchers() {
        for from in line_starts(input) {
            for max in [0, 1, 2, 3, usize::MAX] {
                check_part(&m, input, from, max);
            }
        }
        // A part may start anywhere (that place counts as a line start), or past the end.
        for from in [1, input.len() / 2, input.len(), input.len() + 3] {
            check_part(&m, input, from, usize::MAX);
        }
        // The whole buffer through `match_jsonl`.
        let (events, want, _, _) = two_pass(&m, input, 0, usize::MAX);
        let mut results = BatchResults::new();
        m.match_jsonl(input, &mut results);
        assert_eq!(outcomes(&results), want);
        let lines: Vec<usize> = events.iter().map(|e| e.line).collect();
        assert_eq!(results.lines(), &lines[..]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn one_pass_is_the_cut_and_the_batch(input in input()) {
        check_all(&input);
    }
}

#[test]
fn hand_picked_inputs() {
    for input in [
        &b""[..],
        b"\n\n",
        b"{\"a\": 1}",
        b"{\"a\": 1}\n",
        b"  {\"a\": 1}  \r\n\t{\"b\": \"xy\"}\n",
        b"\xEF\xBB\xBF {\"a\": 1}\n{}",
        // A broken line the next ones seem to continue: each line is still its own event.
        b"{\"a\": [\n1,\n2]}\n{\"a\": 1}\n",
        b"{\"a\": {\n\"b\": 1}}\n",
        b"{\"a\": 1}{\"a\": 1}\n{\"a\": 1} \n",
        b"[1]\n\"s\"\n7\n{\"a\": 1}\n",
    ] {
        check_all(input);
    }
}

/// Many broken lines that seem to continue one another: still every line its own event, and
/// the part ends where the cut would.
#[test]
fn broken_lines_that_run_on() {
    let mut input = Vec::new();
    for i in 0..2000 {
        input.extend_from_slice(if i % 3 == 0 { b"{\"a\": [\n" } else { b"1,\n" });
    }
    input.extend_from_slice(b"{\"a\": 1}\n");
    for m in matchers() {
        for max in [1, 7, usize::MAX] {
            check_part(&m, &input, 0, max);
        }
    }
}
