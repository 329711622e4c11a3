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
