//! Matching allocates nothing per event once warmed up: a batch makes no allocation at all on
//! its second pass (scratch memory, the array-consistency search's lists and the results are
//! reused), with every operator and values inside arrays; nor do `is_match` and the `_with`
//! calls with a warm cache. Counted with a counting global allocator.

use std::alloc::System;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use weir::{BatchResults, EventReading, Matcher};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const RULES: &[&str] = &[
    r#"{"detail": {"state": ["running"]}}"#,
    r#"{"detail": {"state": [{"prefix": "run"}]}}"#,
    r#"{"detail": {"state": [{"suffix": "ing"}, {"wildcard": "st*d"}]}}"#,
    r#"{"detail": {"state": [{"equals-ignore-case": "STOPPED"}]}}"#,
    r#"{"detail": {"state": [{"anything-but": {"prefix": "pend"}}]}}"#,
    r#"{"detail": {"size": [{"numeric": [">", 10, "<=", 1e6]}]}}"#,
    r#"{"detail": {"ip": [{"cidr": "10.0.0.0/8"}]}, "source": [{"exists": true}]}"#,
    r#"{"$or": [{"source": ["a"]}, {"detail": {"missing": [{"exists": false}]}}]}"#,
    r#"{"detail": {"items": {"k": ["b"], "v": [{"numeric": [">", 100]}]}}}"#,
];

fn events() -> Vec<String> {
    (0..200)
        .map(|i| {
            let state = ["running", "stopped", "pending", "Stopped", "r\\u00e9sum\\u00e9"][i % 5];
            format!(
                r#"{{"source": "s{i}", "detail": {{"state": "{state}", "size": {}, "ip": "10.0.{}.1", "note": "{}", "items": [{{"k": "a", "v": {i}}}, {{"k": "b", "v": {}}}]}}}}"#,
                i * 997 % 20_000,
                i % 256,
                "x".repeat(i % 90),
                i * 7 % 300
            )
        })
        .collect()
}

#[test]
fn a_warm_batch_allocates_nothing() {
    // The check means something only if the counter counts. (One test in this binary: the
    // counter is global, and a test running beside it would add its allocations.)
    let region = Region::new(GLOBAL);
    let v: Vec<u64> = (0..100).collect();
    assert!(region.change().allocations >= 1);
    drop(v);

    let events = events();
    let refs: Vec<&[u8]> = events.iter().map(|e| e.as_bytes()).collect();
    for reading in [EventReading::Validate, EventReading::Lazy] {
        let mut m = Matcher::new();
        m.set_reading(reading);
        for (i, rule) in RULES.iter().enumerate() {
            m.add_rule(format!("r{i}"), rule).unwrap();
        }
        let mut results = BatchResults::new();
        m.match_batch(refs.iter().copied(), &mut results);
        let matched = results.matched_count();
        assert!(matched > 100, "{reading:?}: only {matched} events matched");
        let array_rule = m.rule_id(&format!("r{}", RULES.len() - 1)).unwrap();
        let array_hits = results
            .iter()
            .filter(|r| r.unwrap().contains(&array_rule))
            .count();
        assert!(
            array_hits > 20 && array_hits < refs.len(),
            "{reading:?}: the array rule matched {array_hits} events"
        );
        let region = Region::new(GLOBAL);
        m.match_batch(refs.iter().copied(), &mut results);
        let stats = region.change();
        assert_eq!(results.matched_count(), matched);
        assert_eq!(
            (stats.allocations, stats.reallocations),
            (0, 0),
            "{reading:?}: a warm batch of {} events allocated",
            refs.len()
        );

        // The same with a cache the caller holds, and one event at a time.
        let mut cache = m.create_cache();
        m.match_batch_with(&mut cache, refs.iter().copied(), &mut results);
        let verdicts: Vec<bool> = refs.iter().map(|e| m.is_match(e).unwrap()).collect();
        for e in &refs {
            m.is_match_with(&mut cache, e).unwrap();
        }
        let region = Region::new(GLOBAL);
        m.match_batch_with(&mut cache, refs.iter().copied(), &mut results);
        let held = results.matched_count();
        let single = refs.iter().map(|e| m.is_match(e).unwrap());
        let single_ok = single.eq(verdicts.iter().copied());
        let with = refs.iter().map(|e| m.is_match_with(&mut cache, e).unwrap());
        let with_ok = with.eq(verdicts.iter().copied());
        let stats = region.change();
        assert_eq!(held, matched);
        assert!(single_ok && with_ok);
        assert_eq!(
            (stats.allocations, stats.reallocations),
            (0, 0),
            "{reading:?}: warm match_batch_with / is_match / is_match_with allocated"
        );
    }
}
