//! Every AWS-verified EventBridge case, through every engine: the reference interpreter, the
//! compiled matcher (one event, batch, JSONL, and all cases loaded as rules of one matcher)
//! and explain.

use serde_json::Value;
use weir::{BatchResults, Matcher, Pattern};

const AWS_PREFIX: &str = "Event pattern is not valid. Reason: ";

struct Case {
    name: String,
    expected: String,
    pattern: String,
    event: String,
    aws_error: Option<String>,
}

fn text_of(case: &Value, raw: &str, parsed: &str) -> String {
    match case.get(raw) {
        Some(Value::String(s)) => s.clone(),
        _ => serde_json::to_string(&case[parsed]).unwrap(),
    }
}

fn cases() -> Vec<Case> {
    let doc: Value =
        serde_json::from_str(include_str!("data/conformance/eventbridge-aws.json")).unwrap();
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_string(),
            expected: c["expected"].as_str().unwrap().to_string(),
            pattern: text_of(c, "pattern_raw", "pattern"),
            event: text_of(c, "event_raw", "event"),
            aws_error: c
                .get("aws_error_message")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
        .collect()
}

/// The three cases that test EventBridge's event-envelope check, not the pattern engine.
fn is_envelope_case(c: &Case) -> bool {
    c.aws_error.as_deref() == Some("Parameter Event is not valid.")
}

#[test]
fn error_cases_fail_with_aws_reason() {
    let mut checked = 0;
    for c in cases()
        .iter()
        .filter(|c| c.expected == "error" && !is_envelope_case(c))
    {
        let err = match Pattern::parse(&c.pattern) {
            Err(e) => e,
            Ok(p) => panic!("{}: pattern accepted: {p}", c.name),
        };
        let aws = c.aws_error.as_deref().unwrap();
        let want = aws
            .strip_prefix(AWS_PREFIX)
            .unwrap()
            .lines()
            .next()
            .unwrap();
        assert_eq!(err.reason(), want, "{}", c.name);
        assert!(err.span().is_some(), "{}: error without a position", c.name);
        // Adding it to a matcher fails the same way and names the rule.
        let mut m = Matcher::new();
        let e2 = m.add_rule(c.name.clone(), &c.pattern).unwrap_err();
        assert_eq!(e2.reason(), err.reason());
        assert_eq!(e2.rule(), Some(c.name.as_str()));
        assert_eq!(m.rule_count(), 0);
        checked += 1;
    }
    assert_eq!(checked, 42);
}

#[test]
fn envelope_cases_have_valid_patterns_and_bad_envelopes() {
    let envelope: Vec<Case> = cases().into_iter().filter(is_envelope_case).collect();
    assert_eq!(envelope.len(), 3);
    for c in envelope {
        Pattern::parse(&c.pattern).unwrap();
        assert!(
            weir::check_envelope(c.event.as_bytes()).is_err(),
            "{}",
            c.name
        );
    }
}

#[test]
fn match_cases_agree_in_every_engine() {
    let all = cases();
    let verdicts: Vec<&Case> = all.iter().filter(|c| c.expected != "error").collect();
    assert_eq!(verdicts.len(), 121);
    let mut multi = Matcher::new();
    for c in &verdicts {
        let want = c.expected == "match";
        let pattern = Pattern::parse(&c.pattern).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        weir::check_envelope(c.event.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        // Reference interpreter.
        assert_eq!(
            weir_reference::matches_text(&pattern, c.event.as_bytes()).unwrap(),
            want,
            "reference: {}",
            c.name
        );
        // Compiled, one rule.
        let mut m = Matcher::new();
        m.add_rule(c.name.clone(), &c.pattern).unwrap();
        assert_eq!(
            m.is_match(c.event.as_bytes()).unwrap(),
            want,
            "compiled: {}",
            c.name
        );
        // Explain, alone and through the matcher.
        let why = pattern.explain(c.event.as_bytes()).unwrap();
        assert_eq!(why.matched, want, "explain: {}\n{why}", c.name);
        let rule = m.explain(&c.name, c.event.as_bytes()).unwrap().unwrap();
        assert_eq!(rule.matched, want, "matcher explain: {}", c.name);
        // Batch of three copies.
        let mut results = BatchResults::new();
        let e = c.event.as_bytes();
        m.match_batch([e, e, e], &mut results);
        assert!(
            results.iter().all(|r| r.unwrap().is_empty() != want),
            "batch: {}",
            c.name
        );
        multi.add_rule(c.name.clone(), &c.pattern).unwrap();
    }
    // All rules in one matcher: each event must match its own rule iff expected, and every
    // rule it matches must agree with the reference interpreter.
    let patterns: Vec<Pattern> = verdicts
        .iter()
        .map(|c| Pattern::parse(&c.pattern).unwrap())
        .collect();
    let mut jsonl = Vec::new();
    for c in &verdicts {
        let got = multi.matching_rules(c.event.as_bytes()).unwrap();
        assert_eq!(
            got.contains(&c.name.as_str()),
            c.expected == "match",
            "multi: {}",
            c.name
        );
        for (other, p) in verdicts.iter().zip(&patterns) {
            let want = weir_reference::matches_text(p, c.event.as_bytes()).unwrap();
            assert_eq!(
                got.contains(&other.name.as_str()),
                want,
                "multi: rule {} on event of {}",
                other.name,
                c.name
            );
        }
        let compact: Value = serde_json::from_str(&c.event).unwrap();
        jsonl.extend(serde_json::to_vec(&compact).unwrap());
        jsonl.push(b'\n');
    }
    let mut results = BatchResults::new();
    multi.match_jsonl(&jsonl, &mut results);
    assert_eq!(results.len(), verdicts.len());
    for (c, r) in verdicts.iter().zip(results.iter()) {
        let names: Vec<&str> = r
            .unwrap()
            .iter()
            .filter_map(|&id| multi.rule_name(id))
            .collect();
        assert_eq!(
            names,
            multi.matching_rules(c.event.as_bytes()).unwrap(),
            "jsonl: {}",
            c.name
        );
    }
}
