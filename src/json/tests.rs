use super::*;

type Item = Result<(String, usize, usize), (String, usize, usize, usize, usize)>;

fn own(item: Result<Event<'_>, SplitError>) -> Item {
    match item {
        Ok(e) => Ok((
            String::from_utf8_lossy(e.bytes).into_owned(),
            e.offset,
            e.line,
        )),
        Err(e) => Err((
            e.reason().to_string(),
            e.offset(),
            e.line(),
            e.column(),
            e.event_offset(),
        )),
    }
}

/// Checks an event's column against [`locate`] before owning it.
fn own_in(input: &[u8], item: Result<Event<'_>, SplitError>) -> Item {
    if let Ok(e) = &item {
        assert_eq!(e.column, locate(input, e.offset).column, "column of {e:?}");
    }
    own(item)
}

fn whole(input: &[u8], layout: Layout, checking: Checking) -> Vec<Item> {
    Splitter::new(input)
        .layout(layout)
        .checking(checking)
        .map(|i| own_in(input, i))
        .collect()
}

/// The items of `input` fed in blocks cut at `cuts` (ascending offsets).
fn streamed(input: &[u8], cuts: &[usize], layout: Layout, checking: Checking) -> Vec<Item> {
    let mut s = StreamSplitter::new().layout(layout).checking(checking);
    let mut out = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain([&input.len()]) {
        s.feed(&input[from..cut]);
        out.extend(s.events().map(|i| own_in(input, i)));
        from = cut;
    }
    s.finish();
    out.extend(s.events().map(|i| own_in(input, i)));
    out
}

const LAYOUTS: [Layout; 5] = [
    Layout::Auto,
    Layout::Single,
    Layout::Array,
    Layout::Jsonl,
    Layout::Stream,
];
const CHECKINGS: [Checking; 2] = [Checking::Validate, Checking::Boundaries];

/// Every way of cutting `input` in two and in three (small inputs), and byte by byte, gives
/// the whole-buffer items, in every layout and checking.
fn same_however_cut(input: &[u8]) {
    for layout in LAYOUTS {
        for checking in CHECKINGS {
            let want = whole(input, layout, checking);
            let n = input.len();
            let bytes: Vec<usize> = (1..n).collect();
            assert_eq!(
                streamed(input, &bytes, layout, checking),
                want,
                "{layout:?} {checking:?} byte by byte: {:?}",
                String::from_utf8_lossy(input)
            );
            for a in 0..=n {
                assert_eq!(
                    streamed(input, &[a], layout, checking),
                    want,
                    "{layout:?} {checking:?} cut at {a}: {:?}",
                    String::from_utf8_lossy(input)
                );
                if n <= 40 {
                    for b in a..=n {
                        assert_eq!(
                            streamed(input, &[a, b], layout, checking),
                            want,
                            "{layout:?} {checking:?} cut at {a}, {b}"
                        );
                    }
                }
            }
        }
    }
}

fn ok(text: &str, offset: usize, line: usize) -> Item {
    Ok((text.to_string(), offset, line))
}

fn err(reason: &str, offset: usize, line: usize, column: usize, start: usize) -> Item {
    Err((reason.to_string(), offset, line, column, start))
}

fn auto(input: &str) -> Vec<Item> {
    whole(input.as_bytes(), Layout::Auto, Checking::Validate)
}

#[test]
fn jsonl_with_crlf_blank_lines_and_no_final_break() {
    let input = "{\"a\": 1}\r\n\r\n  \n {\"a\": 2} \n{\"a\":3}";
    let want = vec![
        ok("{\"a\": 1}", 0, 1),
        ok("{\"a\": 2}", 16, 4),
        ok("{\"a\":3}", 26, 5),
    ];
    assert_eq!(auto(input), want);
    assert_eq!(
        whole(input.as_bytes(), Layout::Jsonl, Checking::Validate),
        want
    );
    assert_eq!(
        whole(input.as_bytes(), Layout::Stream, Checking::Validate),
        want
    );
    let mut s = Splitter::new(input.as_bytes());
    s.next();
    assert_eq!(s.current_layout(), Layout::Jsonl);
    same_however_cut(input.as_bytes());
}

#[test]
fn a_byte_order_mark_is_skipped_at_the_start_only() {
    let input = "\u{feff}{\"a\": 1}\n\u{feff}{}\n";
    let got = auto(input);
    assert_eq!(got[0], ok("{\"a\": 1}", 3, 1));
    assert_eq!(got[1], err("expected a JSON value", 12, 2, 1, 12));
    assert_eq!(auto("\u{feff}"), vec![]);
    assert_eq!(auto("\u{feff}[1]"), vec![ok("1", 4, 1)]);
    same_however_cut(input.as_bytes());
    same_however_cut(b"\xEF\xBB");
    same_however_cut(b"\xEF\xBB{}");
}

#[test]
fn arrays_give_their_elements() {
    let input = "[{\"a\": \"],\\\"[\"}, 2 ,\n[3, [4]], \"x,y\"\n]\n";
    assert_eq!(
        auto(input),
        vec![
            ok("{\"a\": \"],\\\"[\"}", 1, 1),
            ok("2", 17, 1),
            ok("[3, [4]]", 21, 2),
            ok("\"x,y\"", 31, 2),
        ]
    );
    assert_eq!(auto("[]"), vec![]);
    assert_eq!(auto(" [ \n ] "), vec![]);
    // After a top-level array, detection starts again.
    assert_eq!(
        auto("[1]\n[2, 3]\n{\"a\": 4}\n"),
        vec![
            ok("1", 1, 1),
            ok("2", 5, 2),
            ok("3", 8, 2),
            ok("{\"a\": 4}", 11, 3)
        ]
    );
    same_however_cut(input.as_bytes());
}

#[test]
fn broken_array_elements_are_one_error_each() {
    let input = "[{\"a\": 2},\n {\"a\": x},\n ]";
    assert_eq!(
        auto(input),
        vec![
            ok("{\"a\": 2}", 1, 1),
            err("expected a JSON value", 18, 2, 8, 12),
            err("expected a JSON value (empty array element)", 23, 3, 2, 23),
        ]
    );
    // Boundaries: the element goes out for the matcher to refuse; the empty one is an error.
    let lax = whole(input.as_bytes(), Layout::Array, Checking::Boundaries);
    assert_eq!(lax[1], ok("{\"a\": x}", 12, 2));
    assert_eq!(lax.len(), 3);
    assert_eq!(
        auto("[1 2, 3]"),
        vec![
            err("trailing characters after the JSON value", 3, 1, 4, 1),
            ok("3", 6, 1)
        ]
    );
    assert_eq!(
        auto("[,]"),
        vec![
            err("expected a JSON value (empty array element)", 1, 1, 2, 1),
            err("expected a JSON value (empty array element)", 2, 1, 3, 2),
        ]
    );
    // An array that never closes: its complete elements, then one error at the end.
    assert_eq!(
        auto("[1, {\"a\": [2"),
        vec![ok("1", 1, 1), err("unexpected end of input", 12, 1, 13, 4)]
    );
    assert_eq!(
        auto("[1,"),
        vec![ok("1", 1, 1), err("unexpected end of input", 3, 1, 4, 3)]
    );
    // An explicit array layout refuses other top-level values, and goes on.
    assert_eq!(
        whole(b"{} [1]", Layout::Array, Checking::Validate),
        vec![err("expected a JSON array", 0, 1, 1, 0), ok("1", 4, 1)]
    );
    for input in [
        "[1,,2,]",
        "[1 2, 3]",
        "[,]",
        "[1, {\"a\": [2",
        "[1,",
        "{} [1]",
        input,
    ] {
        same_however_cut(input.as_bytes());
    }
}

#[test]
fn pretty_streams_as_jq_prints_them() {
    let input = "{\n  \"a\": 1,\n  \"s\": \"}{\\\"\\\\\"\n}\n{\n  \"a\": [\n    2\n  ]\n}\n";
    let got = auto(input);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got[0],
        ok("{\n  \"a\": 1,\n  \"s\": \"}{\\\"\\\\\"\n}", 0, 1)
    );
    assert_eq!(got[1], ok("{\n  \"a\": [\n    2\n  ]\n}", 30, 5));
    let mut s = Splitter::new(input.as_bytes());
    s.next();
    assert_eq!(s.current_layout(), Layout::Stream);
    // Several values on a line, and scalars.
    assert_eq!(
        auto("{} {\"b\": 1}\n\"x\" 12 true"),
        vec![
            ok("{}", 0, 1),
            ok("{\"b\": 1}", 3, 1),
            ok("\"x\"", 12, 2),
            ok("12", 16, 2),
            ok("true", 19, 2)
        ]
    );
    same_however_cut(input.as_bytes());
    same_however_cut(b"{} {\"b\": 1}\n\"x\" 12 true");
}

#[test]
fn broken_values_in_a_stream() {
    // A broken value is one error; the next value follows its end.
    let input = "{\n \"a\": tru\n}\n{\n \"a\": 2\n}\n";
    assert_eq!(
        auto(input),
        vec![
            err("expected a JSON value", 8, 2, 7, 0),
            ok("{\n \"a\": 2\n}", 14, 4)
        ]
    );
    // Brackets that never close run to the end: one error there.
    assert_eq!(
        whole(
            b"{}\n{\n \"a\": [1\n}\n{}\n",
            Layout::Stream,
            Checking::Validate
        ),
        vec![ok("{}", 0, 1), err("unexpected end of input", 19, 6, 1, 3)]
    );
    // In the first value, Auto reads such an input as lines instead.
    assert_eq!(
        auto("{\n \"a\": [1\n}\n{}\n"),
        vec![
            err("unexpected end of input", 1, 1, 2, 0),
            err("trailing characters after the JSON value", 6, 2, 5, 3),
            err("expected a JSON value", 11, 3, 1, 11),
            ok("{}", 13, 4)
        ]
    );
    // A mismatched closer ends the value as a closer of the other kind would; the stray
    // closer after it is one more error.
    assert_eq!(
        auto("{\"a\": [1}]} {}"),
        vec![
            err("expected ',' or ']' in an array", 8, 1, 9, 0),
            err("expected a JSON value", 10, 1, 11, 10),
            ok("{}", 12, 1)
        ]
    );
    assert_eq!(
        auto("\"open"),
        vec![err("unexpected end of input", 5, 1, 6, 0)]
    );
    for input in [
        input,
        "{\n \"a\": [1\n}\n{}\n",
        "{\"a\": [1}]} {}",
        "\"open",
        "]]",
        "x\n{}",
    ] {
        same_however_cut(input.as_bytes());
    }
}

#[test]
fn a_broken_first_line_does_not_hold_back_the_lines_after_it() {
    // The first value never closes; the next line starts with `{`, which no pretty printer
    // writes inside a value: the input is JSONL, decided at that line, not at the end.
    let input = "{\"a\": 1, \"b\": [\n{\"a\": 2}\n{\"a\": 3}\n";
    assert_eq!(
        auto(input),
        vec![
            err("unexpected end of input", 15, 1, 16, 0),
            ok("{\"a\": 2}", 16, 2),
            ok("{\"a\": 3}", 25, 3),
        ]
    );
    same_however_cut(input.as_bytes());
    let mut s = StreamSplitter::new();
    s.feed(b"{\"a\": 1, \"b\": [\n");
    assert_eq!(s.events().count(), 0);
    let mut out = 0;
    for _ in 0..10_000 {
        s.feed(b"{\"a\": 1}\n");
        out += s.events().filter(Result::is_ok).count();
        assert!(s.buffered() < 4096, "{} bytes held", s.buffered());
    }
    assert!(out >= 9_999, "{out} events out before the end");
    // A value that goes on over indented lines is still one event of a stream.
    let pretty = "{\n  \"a\": [\n    {\"b\": 1}\n  ]\n}\n{\n  \"a\": 2\n}\n";
    assert_eq!(auto(pretty).len(), 2);
    assert!(auto(pretty).iter().all(Result::is_ok));
}

#[test]
fn an_escaped_line_break_at_a_block_end_is_the_first_line_end() {
    // A raw line break after a backslash in a string of the first value: the same items
    // however the input is cut (it once depended on a block ending at the backslash).
    same_however_cut(b"{\"}\\\n,0\"\" }\n{\"a\": 1}\n");
    same_however_cut(b"{\"a\": \"x\\\ny\"}\n{\"a\": 1}\n");
}

#[test]
fn broken_lines_in_jsonl() {
    let input = "{\"a\": 1}\n{\"a\": \n{\"a\": 3}\n\u{1F600}\n{\"s\": \"\\q\"}\n";
    assert_eq!(
        auto(input),
        vec![
            ok("{\"a\": 1}", 0, 1),
            // Lines are trimmed: the end of the line's JSON is its last non-blank byte.
            err("unexpected end of input", 14, 2, 6, 9),
            ok("{\"a\": 3}", 16, 3),
            err("expected a JSON value", 25, 4, 1, 25),
            err("invalid escape in string", 37, 5, 8, 30),
        ]
    );
    let lax = whole(input.as_bytes(), Layout::Jsonl, Checking::Boundaries);
    assert_eq!(lax.len(), 5);
    assert!(lax.iter().all(Result::is_ok));
    same_however_cut(input.as_bytes());
}

#[test]
fn single_values() {
    assert_eq!(
        whole(b" {\"a\": [1,\n 2]}\n", Layout::Single, Checking::Validate),
        vec![ok("{\"a\": [1,\n 2]}", 1, 1)]
    );
    assert_eq!(
        whole(b"{} {} {}", Layout::Single, Checking::Validate),
        vec![
            ok("{}", 0, 1),
            err("trailing characters after the JSON value", 3, 1, 4, 3)
        ]
    );
    assert_eq!(
        whole(b"  ", Layout::Single, Checking::Validate),
        vec![err("unexpected end of input", 2, 1, 3, 2)]
    );
    assert_eq!(auto(""), vec![]);
    assert_eq!(auto(" \n\n "), vec![]);
    assert_eq!(auto("{\"a\": 1}"), vec![ok("{\"a\": 1}", 0, 1)]);
    same_however_cut(b"{} {} {}");
    same_however_cut(b" {\"a\": [1,\n 2]}\n");
}

#[test]
fn strings_with_brackets_quotes_backslashes_and_escaped_breaks() {
    let values = [
        r#"{"k": "]}[{"}"#,
        r#"{"k": "\"]"}"#,
        r#"{"k": "\\"}"#,
        r#"{"k": "\\\"}\\"}"#,
        r#"{"k": "a\nb\r\n"}"#,
        r#"["\u005d", "\\\\", "\""]"#,
    ];
    for v in values {
        for layout in [Layout::Jsonl, Layout::Stream, Layout::Auto] {
            let input = format!("{v}\n{v} {v}\n");
            let got = whole(input.as_bytes(), Layout::Stream, Checking::Validate);
            assert_eq!(got.len(), 3, "{v}: {got:?}");
            assert!(
                got.iter().all(|g| g.as_ref().is_ok_and(|e| e.0 == v)),
                "{v}: {got:?}"
            );
            same_however_cut(input.as_bytes());
            let _ = layout;
        }
        let array = format!("[{v},{v}]");
        let got = auto(&array);
        assert_eq!(got.len(), 2, "{v}");
    }
}

#[test]
fn events_larger_than_the_block() {
    let big: String = (0..5_000)
        .map(|i| format!(r#"{{"i": {i}, "s": "]\"\\{{"}}"#))
        .collect::<Vec<_>>()
        .join(",\n  ");
    let event = format!("{{\"list\": [{big}]}}");
    let input = format!("{event}\n{{\"after\": 1}}\n[{event}, 7]\n");
    let want = auto(&input);
    // The first event spans lines, so the input is a stream: the array is one event.
    assert_eq!(want.len(), 3);
    assert_eq!(want[0], ok(&event, 0, 1));
    for block in [1usize, 7, 64, 65, 4096] {
        let cuts: Vec<usize> = (block..input.len()).step_by(block).collect();
        assert_eq!(
            streamed(input.as_bytes(), &cuts, Layout::Auto, Checking::Validate),
            want,
            "block {block}"
        );
    }
    // The same from a reader, with a small block.
    let mut s = StreamSplitter::new().block_size(100);
    let mut reader = input.as_bytes();
    let mut got = Vec::new();
    while s.fill(&mut reader).unwrap() > 0 {
        got.extend(s.events().map(own));
    }
    got.extend(s.events().map(own));
    assert_eq!(got, want);
}

#[test]
fn a_long_array_is_not_held_whole() {
    let mut s = StreamSplitter::new();
    s.feed(b"[");
    let element = br#"{"a": [1, 2, {"b": "]"}], "c": "x"}"#;
    let mut count = 0;
    let mut most = 0;
    for i in 0..20_000 {
        if i > 0 {
            s.feed(b",\n");
        }
        s.feed(element);
        count += s.events().inspect(|e| assert!(e.is_ok())).count();
        most = most.max(s.buffered());
    }
    s.feed(b"]");
    s.finish();
    count += s.events().count();
    assert_eq!(count, 20_000);
    assert!(most < 4 * element.len(), "held {most} bytes");
}

#[test]
fn events_come_out_as_soon_as_complete() {
    // A stream value is handed out at its closing bracket; a JSONL line at its break.
    let mut s = StreamSplitter::new().layout(Layout::Stream);
    s.feed(b"{\"a\":\n1}");
    assert_eq!(s.events().next().unwrap().unwrap().bytes, b"{\"a\":\n1}");
    let mut s = StreamSplitter::new();
    s.feed(b"{\"a\": 1}\n{\"a\": 2}");
    assert_eq!(s.events().count(), 1);
    s.feed(b"\n");
    assert_eq!(s.events().count(), 1);
    // Auto: a pretty first value is a stream as soon as its first line ends.
    let mut s = StreamSplitter::new();
    s.feed(b"{\n  \"a\": 1\n}");
    assert_eq!(s.events().count(), 1);
    assert_eq!(s.current_layout(), Layout::Stream);
    // Array elements at their comma or the closing bracket.
    let mut s = StreamSplitter::new();
    s.feed(b"[{\"a\": 1}");
    assert_eq!(s.events().count(), 0);
    s.feed(b",");
    assert_eq!(s.events().count(), 1);
}

#[test]
fn columns_survive_dropped_line_starts() {
    // One long line, fed in small blocks: the error's column counts the dropped bytes.
    let mut input = String::from("[");
    for _ in 0..300 {
        input.push_str("{\"é\": 1},");
    }
    input.push_str("{\"é\": x}]");
    let want = auto(&input);
    let last = want.last().unwrap().clone().unwrap_err();
    assert_eq!(last.3, 300 * 9 + 8);
    let cuts: Vec<usize> = (16..input.len()).step_by(16).collect();
    assert_eq!(
        streamed(input.as_bytes(), &cuts, Layout::Auto, Checking::Validate),
        want
    );
}

#[test]
fn value_end_and_validate_agree_with_the_matcher() {
    let m = crate::Matcher::new();
    for text in [
        &br#"{"a": [1, 2.5e3, "x\u00e9", true, false, null]}"#[..],
        b"{\"a\": tru}",
        b"{\"a\": \"\xff\"}",
        b"[1, 2",
        b"{} x",
        b"\"\\ud800\"",
        b"[\"a\nb\"]",
        b"  {}  ",
    ] {
        let matched = m.matching_rule_ids(text).map(|_| ());
        assert_eq!(
            validate(text),
            matched,
            "{:?}",
            String::from_utf8_lossy(text)
        );
    }
    assert_eq!(value_end(b"  [1, [2]] x", 2).unwrap(), 10);
    assert_eq!(value_end(b"\"a\\\"\" x", 0).unwrap(), 5);
    let e = value_end(b"[\"\xff\", tru]", 0).unwrap_err();
    assert_eq!((e.offset(), e.reason()), (2, "invalid UTF-8"));
    assert!(value_end(b"[1]", 9).is_err());
    let deep = "[".repeat(MAX_EVENT_DEPTH + 1);
    assert_eq!(
        value_end(deep.as_bytes(), 0).unwrap_err().reason(),
        "nesting deeper than 127 levels"
    );
}

#[test]
fn unescape_strict_and_lenient() {
    let mut out = Vec::new();
    assert_eq!(
        unescape(br#"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"#, &mut out),
        Ok(())
    );
    assert_eq!(out, "a\"\\/\u{8}\u{c}\n\r\té\u{1F600}".as_bytes());
    assert_eq!(unescape(br"\ud83d!", &mut out), Err(0));
    assert_eq!(unescape(br"x\ud83d\u0041", &mut out), Err(7));
    assert_eq!(unescape(br"\ude00", &mut out), Err(0));
    assert_eq!(unescape(br"\q", &mut out), Err(0));
    assert_eq!(unescape_with(br"\ud83d!", &mut out, true), Ok(()));
    assert_eq!(out, "\u{FFFD}!".as_bytes());
    assert_eq!(
        unescape_with(br"\ud83d\u0041\ude00", &mut out, true),
        Ok(())
    );
    assert_eq!(out, "\u{FFFD}A\u{FFFD}".as_bytes());
}

#[test]
fn compact_keeps_strings() {
    let mut out = Vec::new();
    compact_into(b"[ 1 ,\r\n \"a \\\" b\" ]", &mut out);
    assert_eq!(out, b"[1,\"a \\\" b\"]");
}

#[test]
fn jsonl_from_a_line_start_gives_the_rest_of_the_whole_cut() {
    let inputs: [&[u8]; 5] = [
        b"{\"a\": 1}\n\n  {\"a\": 2}\r\n{\"a\": tru}\n\t{}\n{\"b\": \"\xc3\xa9\"}",
        b"\xEF\xBB\xBF{}\n{\"a\": 1}\n",
        b"\n\n{}\n",
        b"{\"a\": [1,\n2]}\n{}\n   \n",
        b"",
    ];
    for input in inputs {
        for checking in [Checking::Validate, Checking::Boundaries] {
            let all: Vec<Item> = Splitter::new(input)
                .layout(Layout::Jsonl)
                .checking(checking)
                .map(|item| own_in(input, item))
                .collect();
            let mut starts = vec![(0, 1)];
            for (i, _) in input.iter().enumerate().filter(|(_, &b)| b == b'\n') {
                starts.push((i + 1, starts.len() + 1));
            }
            for (offset, line) in starts {
                let tail: Vec<Item> = Splitter::new(input)
                    .checking(checking)
                    .jsonl_from(offset, line)
                    .map(|item| own_in(input, item))
                    .collect();
                let want: Vec<Item> = all
                    .iter()
                    .filter(|item| match item {
                        Ok((_, at, _)) => *at >= offset,
                        Err((_, _, _, _, start)) => *start >= offset,
                    })
                    .cloned()
                    .collect();
                assert_eq!(tail, want, "{input:?} from {offset} (line {line})");
                // Counting from 1 gives the same lines less those before.
                let counted: Vec<usize> = Splitter::new(input)
                    .checking(checking)
                    .jsonl_from(offset, 1)
                    .filter_map(|item| item.ok().map(|e| e.line + line - 1))
                    .collect();
                let lines: Vec<usize> = want
                    .iter()
                    .filter_map(|item| item.as_ref().ok().map(|(_, _, l)| *l))
                    .collect();
                assert_eq!(counted, lines);
            }
        }
    }
    // Past the end: nothing.
    assert_eq!(Splitter::new(b"{}\n").jsonl_from(9, 1).count(), 0);
}
