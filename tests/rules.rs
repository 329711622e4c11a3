//! Rule management in one matcher: identical terms shared between rules, removal, re-adding.

use weir::Matcher;

const EVENT: &[u8] = br#"{"street": "FULTON", "n": 5}"#;

#[test]
fn rules_sharing_identical_terms_match_and_remove_independently() {
    let mut m = Matcher::new();
    let prefix = r#"{"street": [{"prefix": "FU"}]}"#;
    m.add_rule("a", prefix).unwrap();
    m.add_rule("b", prefix).unwrap();
    m.add_rule(
        "c",
        r#"{"$or": [{"street": [{"prefix": "FU"}]}, {"n": [{"numeric": [">", 9]}]}]}"#,
    )
    .unwrap();
    assert_eq!(m.matching_rules(EVENT).unwrap(), ["a", "b", "c"]);
    assert!(m.remove_rule("a"));
    assert_eq!(m.matching_rules(EVENT).unwrap(), ["b", "c"]);
    assert!(m.remove_rule("c"));
    assert_eq!(m.matching_rules(EVENT).unwrap(), ["b"]);
    assert!(m.remove_rule("b"));
    assert!(m.matching_rules(EVENT).unwrap().is_empty());
    // Added again after every user of the term is gone.
    m.add_rule("d", prefix).unwrap();
    assert_eq!(m.matching_rules(EVENT).unwrap(), ["d"]);
    assert!(!m.is_match(br#"{"street": "MASON"}"#).unwrap());
}

#[test]
fn one_rule_with_the_same_pattern_twice_and_other_patterns() {
    let mut m = Matcher::new();
    let numeric = r#"{"n": [{"numeric": ["<", 10]}]}"#;
    m.add_rule("r", numeric).unwrap();
    m.add_rule("r", numeric).unwrap();
    m.add_rule("r", r#"{"street": ["MASON"]}"#).unwrap();
    m.add_rule("s", numeric).unwrap();
    assert_eq!(m.rule_patterns("r").unwrap().count(), 3);
    assert_eq!(m.matching_rules(EVENT).unwrap(), ["r", "s"]);
    assert!(m.remove_rule("s"));
    assert_eq!(m.matching_rules(EVENT).unwrap(), ["r"]);
    assert!(m.is_match(br#"{"street": "MASON"}"#).unwrap());
    assert!(m.remove_rule("r"));
    assert!(!m.is_match(EVENT).unwrap());
    assert_eq!(m.rule_count(), 0);
}

/// Exact and ignore-case values are looked up only for texts of a length some value has:
/// lengths follow the rules as they are added and removed, and lengths from 63 on (which
/// share one mark) still need the lookup to agree.
#[test]
fn value_lookups_follow_the_lengths_of_the_rules_left() {
    let text = |n: usize| "x".repeat(n);
    let exact = |n: usize| format!(r#"{{"s": ["{}"]}}"#, text(n));
    let folded = |n: usize| format!(r#"{{"s": [{{"equals-ignore-case": "{}"}}]}}"#, text(n));
    let event = |s: &str| format!(r#"{{"s": "{s}"}}"#);
    for lazy in [false, true] {
        let mut m = Matcher::new();
        if lazy {
            m.set_reading(weir::EventReading::Lazy);
        }
        for n in [3, 62, 63, 100] {
            m.add_rule(format!("e{n}"), &exact(n)).unwrap();
            m.add_rule(format!("f{n}"), &folded(n)).unwrap();
        }
        let names = |m: &Matcher, s: &str| -> Vec<String> {
            let found = m.matching_rules(event(s).as_bytes()).unwrap();
            found.into_iter().map(String::from).collect()
        };
        for n in [3, 62, 63, 100] {
            let mut want = vec![format!("e{n}"), format!("f{n}")];
            want.sort();
            assert_eq!(names(&m, &text(n)), want, "lazy {lazy}, length {n}");
            assert_eq!(names(&m, &text(n).to_uppercase()), [format!("f{n}")]);
        }
        // Lengths no rule has, below and past 63.
        for n in [2, 4, 61, 64, 99, 101] {
            assert!(names(&m, &text(n)).is_empty(), "lazy {lazy}, length {n}");
        }
        // Removing the rules of a length takes it out; the others stay.
        assert!(m.remove_rule("e3"));
        assert_eq!(names(&m, "xxx"), ["f3"]);
        assert!(m.remove_rule("f3"));
        assert!(names(&m, "xxx").is_empty());
        assert!(m.remove_rule("e100"));
        assert!(m.remove_rule("f100"));
        assert!(names(&m, &text(100)).is_empty());
        assert_eq!(names(&m, &text(63)), ["e63", "f63"]);
        m.add_rule("again", &exact(3)).unwrap();
        assert_eq!(names(&m, "xxx"), ["again"]);
    }
}

/// An ASCII text is still folded for the ignore-case values beyond ASCII when no ASCII value
/// has its length: the Kelvin sign `K` (3 bytes) folds like `k`.
#[test]
fn ascii_texts_meet_ignore_case_values_beyond_ascii_of_other_lengths() {
    let mut m = Matcher::new();
    m.add_rule("kelvin", r#"{"s": [{"equals-ignore-case": "\u212a"}]}"#)
        .unwrap();
    m.add_rule("long", r#"{"s": [{"equals-ignore-case": "abcdef"}]}"#)
        .unwrap();
    let reference = |s: &str| {
        let p = weir::Pattern::parse(r#"{"s": [{"equals-ignore-case": "\u212a"}]}"#).unwrap();
        weir_reference::matches_text(&p, format!(r#"{{"s": "{s}"}}"#).as_bytes()).unwrap()
    };
    for s in ["k", "K", "\u{212a}", "x"] {
        let got = m
            .matching_rules(format!(r#"{{"s": "{s}"}}"#).as_bytes())
            .unwrap()
            .contains(&"kelvin");
        assert_eq!(got, reference(s), "text {s:?}");
    }
    assert!(reference("k"), "the reference folds k with the Kelvin sign");
    // The ASCII values are still looked up beside the one beyond ASCII.
    let names = |s: &str| {
        m.matching_rules(format!(r#"{{"s": "{s}"}}"#).as_bytes())
            .unwrap()
    };
    assert_eq!(names("ABCDEF"), ["long"]);
    assert!(names("abcdeg").is_empty());
    assert!(names("abcde").is_empty());
}

/// More ASCII ignore-case values than are compared in place (so the fold and the hash table
/// decide), lengths past 63, and the count going down to the in-place list and up again.
#[test]
fn many_ignore_case_values_and_the_list_of_few() {
    let text = |n: usize| "x".repeat(n - 1) + "y";
    let rule = |n: usize| format!(r#"{{"s": [{{"equals-ignore-case": "{}"}}]}}"#, text(n));
    let names = |m: &Matcher, s: &str| -> Vec<String> {
        let found = m
            .matching_rules(format!(r#"{{"s": "{s}"}}"#).as_bytes())
            .unwrap();
        found.into_iter().map(String::from).collect()
    };
    let check = |m: &Matcher, live: &[usize]| {
        for n in [3, 5, 62, 63, 64, 100] {
            let want: Vec<String> = if live.contains(&n) {
                vec![format!("r{n}")]
            } else {
                vec![]
            };
            assert_eq!(names(m, &text(n)), want, "length {n}, live {live:?}");
            assert_eq!(names(m, &text(n).to_uppercase()), want, "length {n} upper");
        }
        for n in [4, 61, 101] {
            assert!(names(m, &text(n)).is_empty(), "length {n}");
        }
    };
    for lazy in [false, true] {
        let mut m = Matcher::new();
        if lazy {
            m.set_reading(weir::EventReading::Lazy);
        }
        let mut live = vec![3, 5, 62, 63, 64, 100];
        for &n in &live {
            m.add_rule(format!("r{n}"), &rule(n)).unwrap();
        }
        check(&m, &live);
        // Down to four values, then up to five again, then a second target on one of them.
        assert!(m.remove_rule("r63"));
        assert!(m.remove_rule("r5"));
        live.retain(|&n| n != 63 && n != 5);
        check(&m, &live);
        m.add_rule("r5", &rule(5)).unwrap();
        live.push(5);
        check(&m, &live);
        assert!(m.remove_rule("r5"));
        live.retain(|&n| n != 5);
        m.add_rule("also", &rule(3)).unwrap();
        assert_eq!(names(&m, "XXY"), ["r3", "also"]);
    }
}

/// The verdict on an event with one hit for a one-field rule is the full evaluation's,
/// against the reference interpreter: a value a repeated key replaced (Lambda's rule), a
/// value reached through a `""` key, one in an array, and with rules of other shapes beside.
#[test]
fn one_hit_verdicts_are_the_full_evaluations() {
    let patterns = [
        r#"{"a": ["x"]}"#,
        r#"{"": {"a": ["x"]}}"#,
        r#"{"a.": ["x"]}"#,
        r#"{"b": [{"exists": false}]}"#,
        r#"{"a": ["x"], "c": ["z"]}"#,
        r#"{"a": [{"prefix": "x"}]}"#,
        r#"{"c": ["z"]}"#,
    ];
    let events = [
        r#"{"a": "x"}"#,
        r#"{"a": "x", "a": "y"}"#,
        r#"{"a": "y", "a": "x"}"#,
        r#"{"": {"a": "x"}}"#,
        r#"{"a": {"": "x"}}"#,
        r#"{"a.": "x"}"#,
        r#"{"a": ["y", "x"]}"#,
        r#"{"a": "x", "b": 1}"#,
        r#"{"a": "x", "c": "z"}"#,
        r#"{"c": "z"}"#,
    ];
    for strict in [false, true] {
        let options = weir::Options::new().lambda_strict(strict);
        // Each pattern alone (the one-hit case), pairs without the one that holds without a
        // hit (one hit or two, of one term or two), the same pattern twice (a shared term),
        // and all of them together.
        let mut sets: Vec<Vec<&str>> = patterns.iter().map(|p| vec![*p]).collect();
        sets.push(vec![patterns[0], patterns[6]]);
        sets.push(vec![patterns[0], patterns[5]]);
        sets.push(vec![patterns[5], patterns[0], patterns[0]]);
        sets.push(vec![patterns[2], patterns[0]]);
        sets.push(patterns.to_vec());
        for set in &sets {
            let mut m = Matcher::with_options(options.clone());
            for (i, p) in set.iter().enumerate() {
                m.add_rule(format!("r{i}"), p).unwrap();
            }
            for event in events {
                let got = m.matching_rules(event.as_bytes()).unwrap();
                let want: Vec<String> = set
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| {
                        let p = weir::Pattern::parse_with(p, &options).unwrap();
                        weir_reference::matches_text(&p, event.as_bytes()).unwrap()
                    })
                    .map(|(i, _)| format!("r{i}"))
                    .collect();
                assert_eq!(got, want, "strict {strict}, rules {set:?}, event {event}");
            }
        }
        // A shared term whose rules were removed and added again, out of order: the names
        // still come in rule order.
        let mut m = Matcher::with_options(options.clone());
        for name in ["p", "q", "r"] {
            m.add_rule(name, patterns[0]).unwrap();
        }
        assert!(m.remove_rule("p"));
        m.add_rule("p", patterns[0]).unwrap();
        m.add_rule("o", patterns[0]).unwrap();
        assert_eq!(
            m.matching_rules(br#"{"a": "x"}"#).unwrap(),
            ["q", "r", "p", "o"]
        );
    }
}
