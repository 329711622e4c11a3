//! The event splitter (`weir::json`): fed in blocks cut anywhere, it gives exactly the items
//! of the whole buffer; validating splitting agrees with boundaries plus `validate`; and a
//! stream of values printed compact, pretty or as an array comes back value by value.

use proptest::prelude::*;
use serde_json::Value;
use weir::json::{self, Checking, Layout, Splitter};

/// The helpers the `split_stream` fuzz target uses (fuzz/checks.rs), shared so that the two
/// cut inputs the same way.
#[allow(dead_code)]
mod checks {
    include!("../fuzz/checks.rs");
}

use checks::{
    own_split_item as own, split_in_buffers as streamed_buffers, split_streamed as streamed,
    SplitItem as Item,
};

const LAYOUTS: [Layout; 5] = [
    Layout::Auto,
    Layout::Single,
    Layout::Array,
    Layout::Jsonl,
    Layout::Stream,
];
const CHECKINGS: [Checking; 2] = [Checking::Validate, Checking::Boundaries];

fn whole(input: &[u8], layout: Layout, checking: Checking) -> Vec<Item> {
    Splitter::new(input)
        .layout(layout)
        .checking(checking)
        .map(own)
        .collect()
}

/// Pieces that make inputs hard to cut: brackets, quotes, escapes, line breaks, a byte order
/// mark, multi-byte and invalid UTF-8, whole values.
const PIECES: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b",",
    b":",
    b" ",
    b"\n",
    b"\r\n",
    b"\t",
    b"a",
    b"1",
    b"-2.5e3",
    b"true",
    b"nul",
    b"\"s\\\"x\"",
    b"\"]}\\\\\"",
    b"{\"a\": [1, \"]\"]}",
    b"{\n  \"k\": {\n    \"z\": null\n  }\n}",
    b"[{\"a\": 1}, {\"b\": \"[\"}]",
    b"\xEF\xBB\xBF",
    "é".as_bytes(),
    b"\xff",
    b"\"\\u00e9\\ud83d\\ude00\"",
];

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|pieces| pieces.concat())
}

fn cuts(len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=len, 0..12).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z\\]\\[{}\",\\\\\n é]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\\]{\"]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn blocks_cut_anywhere_give_the_whole_buffer_items(input in input(), seed in any::<u64>()) {
        let n = input.len();
        let mut rng = seed;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for layout in LAYOUTS {
            for checking in CHECKINGS {
                let want = whole(&input, layout, checking);
                let mut cuts: Vec<usize> = (0..(next() % 10)).map(|_| (next() as usize) % (n + 1)).collect();
                cuts.sort_unstable();
                prop_assert_eq!(&streamed(&input, &cuts, layout, checking), &want, "{:?} {:?} cuts {:?}", layout, checking, cuts);
                // Handed over in buffers, with room for short tails only, or for none.
                for room in [0, (next() % 12) as usize, 64] {
                    prop_assert_eq!(&streamed_buffers(&input, &cuts, layout, checking, room), &want, "{:?} {:?} cuts {:?} room {}", layout, checking, cuts, room);
                    let bytes: Vec<usize> = (1..n).collect();
                    prop_assert_eq!(&streamed_buffers(&input, &bytes, layout, checking, room), &want, "byte by byte, room {}", room);
                }
                // Every single cut position, for small inputs; and byte by byte.
                if n <= 64 {
                    for at in 0..=n {
                        prop_assert_eq!(&streamed(&input, &[at], layout, checking), &want, "{:?} {:?} cut {}", layout, checking, at);
                    }
                }
                let bytes: Vec<usize> = (1..n).collect();
                prop_assert_eq!(&streamed(&input, &bytes, layout, checking), &want);
            }
        }
    }

    #[test]
    fn validating_is_boundaries_then_validate(input in input()) {
        for layout in LAYOUTS {
            let lax: Vec<Item> = whole(&input, layout, Checking::Boundaries);
            let strict: Vec<Item> = whole(&input, layout, Checking::Validate);
            prop_assert_eq!(lax.len(), strict.len());
            for (l, s) in lax.iter().zip(&strict) {
                match l {
                    Item::Error(..) => prop_assert_eq!(l, s),
                    Item::Event(bytes, offset, ..) => match json::validate(bytes) {
                        Ok(()) => prop_assert_eq!(l, s),
                        Err(e) => match s {
                            Item::Error(reason, at, ..) => {
                                prop_assert_eq!(reason.as_str(), e.reason());
                                prop_assert_eq!(*at, offset + e.offset());
                                let p = json::locate(&input, *at);
                                prop_assert_eq!(s, &Item::Error(reason.clone(), *at, p.line, p.column, *offset, json::locate(&input, *offset).line));
                            }
                            Item::Event(..) => prop_assert!(false, "{:?} validated", s),
                        },
                    },
                }
            }
            // Positions are those of the whole input.
            for item in &lax {
                if let Item::Event(bytes, offset, line, column) = item {
                    prop_assert_eq!(&input[*offset..*offset + bytes.len()], bytes.as_slice());
                    let p = json::locate(&input, *offset);
                    prop_assert_eq!((p.line, p.column), (*line, *column));
                }
            }
        }
    }

    #[test]
    fn printed_values_come_back_one_by_one(
        values in prop::collection::vec(value(), 1..8),
        pretty in any::<bool>(),
        as_array in any::<bool>(),
        crlf in any::<bool>(),
        bom in any::<bool>(),
        final_break in any::<bool>(),
        cut in cuts(4096),
    ) {
        let texts: Vec<String> = values
            .iter()
            .map(|v| if pretty { serde_json::to_string_pretty(v) } else { serde_json::to_string(v) }.unwrap())
            .collect();
        let sep = if crlf { "\r\n" } else { "\n" };
        let mut input = String::new();
        if bom {
            input.push('\u{feff}');
        }
        if as_array {
            input.push('[');
            input.push_str(&texts.join(&format!(",{sep}")));
            input.push(']');
        } else {
            input.push_str(&texts.join(sep));
        }
        if final_break {
            input.push_str(sep);
        }
        let input = input.into_bytes();
        // A first value that is an array is unpacked in Auto: give the layout then.
        // (and a pretty first value on one line would make Auto choose JSONL).
        let first_spans_lines = values[0].as_object().is_some_and(|o| !o.is_empty());
        let layout = if as_array {
            Layout::Array
        } else if values[0].is_array() || (pretty && !first_spans_lines) {
            Layout::Stream
        } else {
            Layout::Auto
        };
        let got: Vec<Item> = streamed(&input, &cut, layout, Checking::Validate);
        prop_assert_eq!(got.len(), values.len(), "{:?}", String::from_utf8_lossy(&input));
        for ((item, text), v) in got.iter().zip(&texts).zip(&values) {
            match item {
                Item::Event(bytes, ..) => {
                    // Pretty CRLF output keeps its `\n` inside values.
                    prop_assert_eq!(serde_json::from_slice::<Value>(bytes).unwrap(), v.clone());
                    prop_assert_eq!(bytes.as_slice(), text.as_bytes());
                }
                Item::Error(..) => prop_assert!(false, "{:?}", item),
            }
        }
    }
}

#[test]
fn every_cut_of_a_mixed_input() {
    let input = "\u{feff}{\"a\": 1}\r\n\r\n[1, {\"b\": \"]\\\"\"}]\n{\n \"c\": [\n  true\n ]\n} x \"\\\\\"\n";
    let input = input.as_bytes();
    for layout in LAYOUTS {
        for checking in CHECKINGS {
            let want = whole(input, layout, checking);
            for a in 0..=input.len() {
                for b in (a..=input.len()).step_by(3) {
                    assert_eq!(
                        streamed(input, &[a, b], layout, checking),
                        want,
                        "{layout:?} {checking:?} cuts {a} {b}"
                    );
                }
            }
        }
    }
}
