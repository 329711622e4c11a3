//! Matching state: caches held by the caller, calls made from inside a batch's event
//! iterator (as a Python generator makes them), thread safety, and snapshots by `Clone`.

use std::cell::Cell;

use weir::{BatchResults, Cache, EventReading, Matcher, RuleId};

const EVENTS: [&[u8]; 6] = [
    br#"{"a": 1, "b": "x"}"#,
    br#"{"a": 2, "b": "y"}"#,
    b"{oops",
    br#"{"a": [3, 1], "b": "xyz"}"#,
    br#"{"c": {"d": "deep"}}"#,
    br#"{"a": 1}"#,
];

fn first() -> Matcher {
    let mut m = Matcher::new();
    m.add_rule("a1", r#"{"a": [1]}"#).unwrap();
    m.add_rule("bx", r#"{"b": [{"prefix": "x"}]}"#).unwrap();
    m.add_rule("nob", r#"{"b": [{"exists": false}]}"#).unwrap();
    m
}

fn second() -> Matcher {
    let mut m = Matcher::new();
    m.add_rule("deep", r#"{"c": {"d": ["deep"]}}"#).unwrap();
    m.add_rule("big", r#"{"a": [{"numeric": [">", 1]}]}"#)
        .unwrap();
    m
}

/// Each event's matching rule names, or `None` for an error, one call per event.
fn one_by_one(m: &Matcher, events: &[&[u8]]) -> Vec<Option<Vec<String>>> {
    events
        .iter()
        .map(|e| {
            m.matching_rules(e)
                .ok()
                .map(|names| names.into_iter().map(String::from).collect())
        })
        .collect()
}

fn named(m: &Matcher, results: &BatchResults) -> Vec<Option<Vec<String>>> {
    results
        .iter()
        .map(|r| {
            r.ok().map(|ids| {
                ids.iter()
                    .map(|&id| m.rule_name(id).unwrap().to_string())
                    .collect()
            })
        })
        .collect()
}

#[test]
fn the_with_calls_give_what_the_simple_calls_give() {
    let (m, n) = (first(), second());
    // One cache for both matchers, in turns, and a fresh one.
    let mut shared = Cache::new();
    for reading in [EventReading::Validate, EventReading::Lazy] {
        let (mut m, mut n) = (m.clone(), n.clone());
        m.set_reading(reading);
        n.set_reading(reading);
        for _ in 0..2 {
            for matcher in [&m, &n] {
                for e in EVENTS {
                    let want = matcher.matching_rules(e).ok();
                    assert_eq!(matcher.matching_rules_with(&mut shared, e).ok(), want);
                    let mut fresh = matcher.create_cache();
                    assert_eq!(matcher.matching_rules_with(&mut fresh, e).ok(), want);
                    assert_eq!(
                        matcher.matching_rule_ids_with(&mut shared, e).ok(),
                        matcher.matching_rule_ids(e).ok()
                    );
                    assert_eq!(
                        matcher.is_match_with(&mut shared, e).ok(),
                        want.map(|w| !w.is_empty())
                    );
                }
                let mut a = BatchResults::new();
                let mut b = BatchResults::new();
                matcher.match_batch(EVENTS, &mut a);
                matcher.match_batch_with(&mut shared, EVENTS, &mut b);
                assert_eq!(named(matcher, &a), named(matcher, &b));
                assert_eq!(named(matcher, &b), one_by_one(matcher, &EVENTS));
                let jsonl = b"{\"a\": 1}\n\n{\"a\": 5, \"b\": \"x\"}\n[\n";
                matcher.match_jsonl(jsonl, &mut a);
                matcher.match_jsonl_with(&mut shared, jsonl, &mut b);
                assert_eq!(named(matcher, &a), named(matcher, &b));
                assert_eq!(a.lines(), b.lines());
                assert_eq!(b.lines(), &[1, 3, 4]);
            }
        }
    }
}

#[test]
fn a_cache_grown_by_a_large_matcher_serves_a_small_one() {
    let mut large = Matcher::new();
    for i in 0..300 {
        large
            .add_rule(
                format!("r{i}"),
                &format!(r#"{{"f{i}": [{i}], "g": [{{"exists": false}}]}}"#),
            )
            .unwrap();
    }
    let small = first();
    let mut cache = large.create_cache();
    let event = br#"{"f7": 7, "f299": 299}"#;
    assert_eq!(
        large.matching_rules_with(&mut cache, event).unwrap(),
        ["r7", "r299"]
    );
    assert_eq!(
        small
            .matching_rules_with(&mut cache, br#"{"a": 1}"#)
            .unwrap(),
        ["a1", "nob"]
    );
    assert_eq!(
        large.matching_rules_with(&mut cache, event).unwrap(),
        ["r7", "r299"]
    );
}

/// An iterator over `events` that, before yielding each, calls `inside` (as a Python generator
/// that matches other events would).
struct CallingBack<'e, F> {
    events: std::slice::Iter<'e, &'e [u8]>,
    inside: F,
}

impl<'e, F: FnMut(usize)> Iterator for CallingBack<'e, F> {
    type Item = &'e [u8];
    fn next(&mut self) -> Option<&'e [u8]> {
        let e = self.events.next()?;
        (self.inside)(self.events.len());
        Some(*e)
    }
}

#[test]
fn an_event_iterator_may_call_back_into_the_same_and_other_matchers() {
    let (m, n) = (first(), second());
    let want_m = one_by_one(&m, &EVENTS);
    let want_n = one_by_one(&n, &EVENTS);
    let calls = Cell::new(0);
    let mut results = BatchResults::new();
    let events = CallingBack {
        events: EVENTS.iter(),
        inside: |left: usize| {
            // Single calls on the matcher whose batch is running, and on another one.
            let e = EVENTS[left % EVENTS.len()];
            assert_eq!(
                m.matching_rules(e).ok(),
                want_m[left % EVENTS.len()]
                    .as_ref()
                    .map(|w| w.iter().map(String::as_str).collect())
            );
            assert_eq!(
                n.is_match(e).ok(),
                want_n[left % EVENTS.len()].as_ref().map(|w| !w.is_empty())
            );
            assert!(m.matching_rule_ids(b"[").is_err());
            calls.set(calls.get() + 1);
        },
    };
    m.match_batch(events, &mut results);
    assert_eq!(calls.get(), EVENTS.len());
    assert_eq!(named(&m, &results), want_m);
}

#[test]
fn batches_nest_inside_batches() {
    let (m, n) = (first(), second());
    let want_m = one_by_one(&m, &EVENTS);
    let want_n = one_by_one(&n, &EVENTS);
    let inner_batches = Cell::new(0);
    let innermost = Cell::new(0);
    let mut outer = BatchResults::new();
    let events = CallingBack {
        events: EVENTS.iter(),
        inside: |_| {
            // A batch on the same matcher, whose own iterator runs batches on the other
            // matcher and JSONL on the first: three levels deep.
            let mut inner = BatchResults::new();
            let events = CallingBack {
                events: EVENTS.iter(),
                inside: |_| {
                    let mut deepest = BatchResults::new();
                    n.match_batch(EVENTS, &mut deepest);
                    assert_eq!(named(&n, &deepest), want_n);
                    m.match_jsonl(b"{\"a\": 1}\n{\"b\": \"x\"}\n", &mut deepest);
                    assert_eq!(deepest.matched_count(), 2);
                    innermost.set(innermost.get() + 1);
                },
            };
            m.match_batch(events, &mut inner);
            assert_eq!(named(&m, &inner), want_m);
            inner_batches.set(inner_batches.get() + 1);
        },
    };
    m.match_batch(events, &mut outer);
    assert_eq!(named(&m, &outer), want_m);
    assert_eq!(inner_batches.get(), EVENTS.len());
    assert_eq!(innermost.get(), EVENTS.len() * EVENTS.len());
    // The thread's caches still work afterwards.
    assert_eq!(one_by_one(&m, &EVENTS), want_m);
}

#[test]
fn a_batch_with_a_held_cache_may_call_back_with_the_simple_calls() {
    let m = first();
    let want = one_by_one(&m, &EVENTS);
    let mut cache = m.create_cache();
    let mut results = BatchResults::new();
    let events = CallingBack {
        events: EVENTS.iter(),
        inside: |_| {
            let mut inner = BatchResults::new();
            m.match_batch(EVENTS, &mut inner);
            assert_eq!(named(&m, &inner), want);
        },
    };
    m.match_batch_with(&mut cache, events, &mut results);
    assert_eq!(named(&m, &results), want);
}

#[test]
fn matcher_is_send_and_sync_and_cache_is_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Matcher>();
    send::<Cache>();
    send_sync::<BatchResults>();
    send_sync::<RuleId>();

    // And used so: one matcher shared by threads, each with its own cache.
    let m = first();
    let want = one_by_one(&m, &EVENTS);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let mut cache = Cache::new();
                for e in EVENTS {
                    let got = m.matching_rules_with(&mut cache, e).ok();
                    let simple = m.matching_rules(e).ok();
                    assert_eq!(got, simple);
                }
                assert_eq!(one_by_one(&m, &EVENTS), want);
            });
        }
    });
    // A cache moves to another thread.
    let mut cache = m.create_cache();
    assert!(m.is_match_with(&mut cache, EVENTS[0]).unwrap());
    let m2 = m.clone();
    std::thread::spawn(move || assert!(m2.is_match_with(&mut cache, EVENTS[0]).unwrap()))
        .join()
        .unwrap();
}

#[test]
fn a_clone_keeps_its_rules_when_the_original_changes_and_the_other_way_round() {
    let event_a = br#"{"a": 1, "b": "zzz"}"#;
    let event_c = br#"{"c": {"d": "deep"}}"#;
    let mut original = first();
    let snapshot = original.clone();
    original.remove_rule("a1");
    original
        .add_rule("deep", r#"{"c": {"d": ["deep"]}}"#)
        .unwrap();
    assert_eq!(snapshot.matching_rules(event_a).unwrap(), ["a1"]);
    assert_eq!(snapshot.matching_rules(event_c).unwrap(), ["nob"]);
    assert_eq!(
        snapshot.rule_names().collect::<Vec<_>>(),
        ["a1", "bx", "nob"]
    );
    assert!(original.matching_rules(event_a).unwrap().is_empty());
    assert_eq!(original.matching_rules(event_c).unwrap(), ["nob", "deep"]);
    assert_eq!(
        original.rule_names().collect::<Vec<_>>(),
        ["bx", "nob", "deep"]
    );

    // The other way round: the clone changes, the original keeps its rules.
    let original = first();
    let mut copy = original.clone();
    copy.add_rule("a1", r#"{"b": ["zzz"]}"#).unwrap(); // a second pattern for a1
    copy.remove_rule("nob");
    assert_eq!(copy.matching_rules(br#"{"b": "zzz"}"#).unwrap(), ["a1"]);
    assert_eq!(
        original.matching_rules(br#"{"b": "zzz"}"#).unwrap(),
        Vec::<&str>::new()
    );
    assert_eq!(
        original.matching_rules(br#"{"a": 1}"#).unwrap(),
        ["a1", "nob"]
    );
    assert_eq!(original.rule_patterns("a1").unwrap().count(), 1);
    assert_eq!(copy.rule_patterns("a1").unwrap().count(), 2);

    // Removing a rule the snapshot does not have changes nothing.
    let mut again = original.clone();
    assert!(!again.remove_rule("missing"));
    assert_eq!(one_by_one(&again, &EVENTS), one_by_one(&original, &EVENTS));
}

#[test]
fn a_removed_rules_id_is_reused_and_names_keep_the_order_of_adding() {
    let mut m = Matcher::new();
    for name in ["p", "q", "r", "s"] {
        m.add_rule(name, r#"{"a": [1]}"#).unwrap();
    }
    let q = m.rule_id("q").unwrap();
    assert!(m.remove_rule("q"));
    assert_eq!(m.rule_name(q), None);
    let t = m.add_rule("t", r#"{"a": [1]}"#).unwrap();
    assert_eq!(t, q, "the free id is taken again");
    assert_eq!(m.rule_name(t), Some("t"));
    let event = br#"{"a": 1}"#;
    // Names in the order the rules were added; ids ascending.
    assert_eq!(m.matching_rules(event).unwrap(), ["p", "r", "s", "t"]);
    assert_eq!(m.rule_names().collect::<Vec<_>>(), ["p", "r", "s", "t"]);
    let ids: Vec<usize> = m
        .matching_rule_ids(event)
        .unwrap()
        .iter()
        .map(|id| id.index())
        .collect();
    assert_eq!(ids, [0, 1, 2, 3]);
    // The last id freed is dropped: the next rule takes the next id, in order again.
    assert!(m.remove_rule("s"));
    let u = m.add_rule("u", r#"{"a": [1]}"#).unwrap();
    assert_eq!(u.index(), 3);
    assert_eq!(m.matching_rules(event).unwrap(), ["p", "r", "t", "u"]);
}
