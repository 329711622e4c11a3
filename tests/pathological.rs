//! Pathological patterns compile in bounded time and memory, or are refused with a clear
//! "too complex" error; matching with them stays linear in the event. (No timing here: a hang
//! would show as a test that never ends.)

use weir::{Matcher, Options, Pattern, PatternErrorKind};

/// Options without the 4096-character limit, so that huge patterns reach the other limits.
fn unlimited() -> Options {
    Options::new().max_length(usize::MAX)
}

#[test]
fn many_wildcards_are_refused_or_matched_linearly() {
    // Stars followed by the same character again and again: refused, in AWS's words.
    let repeated = format!("{}end", "*a".repeat(50));
    let err = Pattern::parse(&format!(r#"{{"f": [{{"wildcard": "{repeated}"}}]}}"#)).unwrap_err();
    assert_eq!(err.kind(), PatternErrorKind::Limit);
    assert!(err.reason().starts_with("Rule is too complex"), "{err}");

    // Many stars between distinct characters: refused by AWS's measure too, accepted with the
    // limit raised, and matching a long value is linear.
    let letters: String = ('a'..='z').map(|c| format!("*{c}")).collect();
    let pattern = format!(r#"{{"f": [{{"wildcard": "{letters}*"}}]}}"#);
    let err = Pattern::parse(&pattern).unwrap_err();
    assert_eq!(err.kind(), PatternErrorKind::Limit);
    let lenient = Options::new().max_complexity(1000);
    let mut m = Matcher::with_options(lenient.clone());
    m.add_rule("stars", &pattern).unwrap();
    let hit: String = ('a'..='z').collect::<String>().repeat(4000);
    let miss = "a".repeat(100_000);
    assert!(m
        .is_match(format!(r#"{{"f": "{hit}"}}"#).as_bytes())
        .unwrap());
    assert!(!m
        .is_match(format!(r#"{{"f": "{miss}"}}"#).as_bytes())
        .unwrap());
    let p = Pattern::parse_with(&pattern, &lenient).unwrap();
    assert!(weir_reference::matches_text(&p, format!(r#"{{"f": "x{hit}"}}"#).as_bytes()).unwrap());
}

#[test]
fn wildcard_complexity_is_measured_in_bounded_time() {
    // The measure explores the sets of automaton states inputs reach: at the default limit it
    // stops as soon as a set counts past 10; without a limit, a fixed work budget ends it
    // (and the pattern counts as too complex).
    let stars = format!("{}x", "*a*b*aa".repeat(500));
    for options in [unlimited(), unlimited().max_complexity(usize::MAX)] {
        let err = Pattern::parse_with(
            &format!(r#"{{"f": [{{"wildcard": "{stars}"}}]}}"#),
            &options,
        )
        .unwrap_err();
        assert_eq!(err.kind(), PatternErrorKind::Limit);
    }
    // Many values in one anything-but wildcard list, and many fields: each measured quickly.
    let values: Vec<String> = (0..3000).map(|i| format!("\"v{i}*\"")).collect();
    let list = format!(
        r#"{{"f": [{{"anything-but": {{"wildcard": [{}]}}}}]}}"#,
        values.join(",")
    );
    // (They share their states up to the star: a low measure.)
    Pattern::parse_with(&list, &unlimited()).unwrap();
    let fields: Vec<String> = (0..256)
        .map(|i| format!(r#""f{i}": [{{"wildcard": "*a*b*c*d"}}]"#))
        .collect();
    Pattern::parse_with(&format!("{{{}}}", fields.join(",")), &unlimited()).unwrap();
}

#[test]
fn huge_anything_but_lists_compile_and_match() {
    let excluded: Vec<String> = (0..10_000).map(|i| format!("\"v{i}\"")).collect();
    let pattern = format!(r#"{{"f": [{{"anything-but": [{}]}}]}}"#, excluded.join(","));
    assert!(Pattern::parse(&pattern).is_err(), "over 4096 characters");
    let mut m = Matcher::with_options(unlimited());
    m.add_rule("big", &pattern).unwrap();
    assert!(!m.is_match(br#"{"f": "v9999"}"#).unwrap());
    assert!(m.is_match(br#"{"f": "v10000"}"#).unwrap());
    assert!(!m.is_match(br#"{"g": "x"}"#).unwrap());
}

#[test]
fn ten_thousand_or_alternatives_compile() {
    let alternatives: Vec<String> = (0..10_000)
        .map(|i| format!(r#"{{"k{i}": [{i}]}}"#))
        .collect();
    let pattern = format!(r#"{{"$or": [{}]}}"#, alternatives.join(","));
    let mut m = Matcher::with_options(unlimited().max_fields(usize::MAX));
    m.add_rule("ors", &pattern).unwrap();
    assert!(m.is_match(br#"{"k9999": 9999}"#).unwrap());
    assert!(!m.is_match(br#"{"k9999": 1}"#).unwrap());
    let p = Pattern::parse_with(&pattern, &unlimited().max_fields(usize::MAX)).unwrap();
    assert_eq!(p.terms().len(), 10_000);
}

#[test]
fn or_products_beyond_the_limit_are_refused() {
    // Eight $or groups of four alternatives: 4^8 = 65,536 combinations.
    let group = |g: usize| {
        let alts: Vec<String> = (0..4).map(|i| format!(r#"{{"g{g}": [{i}]}}"#)).collect();
        format!(r#""$or": [{}]"#, alts.join(","))
    };
    let pattern = format!(
        "{{{}}}",
        (0..8)
            .map(|g| format!(r#""n{g}": {{{}}}"#, group(g)))
            .collect::<Vec<_>>()
            .join(",")
    );
    let err = Pattern::parse_with(&pattern, &unlimited()).unwrap_err();
    assert_eq!(err.kind(), PatternErrorKind::Limit);
    assert!(err.reason().starts_with("Rule is too complex"), "{err}");
    // Within the limit (4^7 = 16,384) it compiles.
    let seven = format!(
        "{{{}}}",
        (0..7)
            .map(|g| format!(r#""n{g}": {{{}}}"#, group(g)))
            .collect::<Vec<_>>()
            .join(",")
    );
    let p = Pattern::parse_with(&seven, &unlimited()).unwrap();
    assert_eq!(p.terms().len(), 16_384);
}

#[test]
fn deep_array_consistency_search_stays_bounded() {
    // Two fields, each present in every element of a 2,000-element array but never both
    // matching in one element: the consistency search must not try all pairs blindly.
    let pattern = r#"{"e": {"a": [1], "b": [1]}}"#;
    let mut m = Matcher::new();
    m.add_rule("pair", pattern).unwrap();
    let elements: Vec<String> = (0..2000)
        .map(|i| {
            if i % 2 == 0 {
                r#"{"a": 1, "b": 0}"#.to_string()
            } else {
                r#"{"a": 0, "b": 1}"#.to_string()
            }
        })
        .collect();
    let event = format!(r#"{{"e": [{}]}}"#, elements.join(","));
    assert!(!m.is_match(event.as_bytes()).unwrap());
    let with_pair = event.replacen(r#"{"a": 1, "b": 0}"#, r#"{"a": 1, "b": 1}"#, 1);
    assert!(m.is_match(with_pair.as_bytes()).unwrap());
}

#[test]
fn absence_in_big_arrays_stays_bounded() {
    // Every element has both fields, so each candidate for `k` needs an absence check of `z`
    // against it: the search checks only `z`'s values, and stops at the first consistent one.
    let pattern = r#"{"o": {"k": ["a"], "z": [{"exists": false}]}}"#;
    let mut m = Matcher::new();
    m.add_rule("abs", pattern).unwrap();
    let p = Pattern::parse(pattern).unwrap();
    let elements = vec![r#"{"k": "a", "z": 1}"#; 3000].join(",");
    let event = format!(r#"{{"o": [{elements}]}}"#);
    assert!(!m.is_match(event.as_bytes()).unwrap());
    assert!(!weir_reference::matches_text(&p, event.as_bytes()).unwrap());
    let with_gap = format!(r#"{{"o": [{elements}, {{"k": "a"}}]}}"#);
    assert!(m.is_match(with_gap.as_bytes()).unwrap());
    assert!(weir_reference::matches_text(&p, with_gap.as_bytes()).unwrap());
}
