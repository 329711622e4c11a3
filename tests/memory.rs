//! `remove_rule` gives memory back, and add/remove cycles do not grow memory: the bytes a
//! matcher holds are counted with a counting global allocator.
//!
//! The counter is global: the tests of this binary take a lock so that none counts another's
//! allocations.

use std::alloc::System;
use std::sync::Mutex;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use weir::{Cache, Matcher};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

static ALONE: Mutex<()> = Mutex::new(());

/// The bytes allocated and not freed since `region` began (the counter adds what a
/// reallocation grows or shrinks to the bytes allocated or freed).
fn held(region: &Region<'_, System>) -> isize {
    let s = region.change();
    s.bytes_allocated as isize - s.bytes_deallocated as isize
}

/// Rule `i`: its own paths (new trie nodes and fields), values, every kind of test, tests
/// shared with other rules, `$or`, `exists: false`, arrays of objects.
fn pattern(i: usize) -> String {
    let k = i % 7;
    match k {
        0 => format!(r#"{{"detail": {{"f{i}": ["v{i}", {i}, true, null]}}}}"#),
        1 => format!(
            r#"{{"detail": {{"s{}": [{{"prefix": "p{i}"}}, {{"suffix": "s{i}"}}]}}, "src": ["shared"]}}"#,
            i % 13
        ),
        2 => format!(
            r#"{{"n{i}": {{"deep{i}": {{"x": [{{"numeric": [">", {i}, "<=", {}]}}]}}}}}}"#,
            i + 10
        ),
        3 => format!(
            r#"{{"$or": [{{"a{i}": [{{"wildcard": "*x{i}*"}}]}}, {{"b": [{{"anything-but": ["w{i}"]}}]}}]}}"#
        ),
        4 => format!(
            r#"{{"ip{i}": [{{"cidr": "10.{}.0.0/16"}}], "gone{i}": [{{"exists": false}}]}}"#,
            i % 256
        ),
        5 => format!(
            r#"{{"items": {{"k{}": [{{"equals-ignore-case": "K{i}"}}], "v": [{{"anything-but": {{"prefix": "q{i}"}}}}]}}}}"#,
            i % 5
        ),
        // The same scanned test in many rules: one shared term.
        _ => r#"{"shared": [{"prefix": "common"}], "also": [{"exists": true}]}"#.to_string(),
    }
}

const EVENT: &[u8] = br#"{"detail": {"f0": "v0", "s1": "p1..."}, "src": "shared", "shared": "common!", "also": 1, "b": "z"}"#;

#[test]
fn removing_every_rule_gives_the_memory_back() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let names: Vec<String> = (0..3000)
        .map(|i| format!("rule-{i}-{}", "n".repeat(i % 40)))
        .collect();
    let region = Region::new(GLOBAL);
    let mut m = Matcher::new();
    let empty = held(&region);

    for (i, name) in names.iter().enumerate() {
        m.add_rule(name.as_str(), &pattern(i)).unwrap();
        if i % 3 == 0 {
            // A second pattern for some rules.
            m.add_rule(name.as_str(), &pattern(i + 1)).unwrap();
        }
    }
    // (A cache of its own, dropped: the thread's cache would stay grown.)
    let mut cache = Cache::new();
    assert!(m.is_match_with(&mut cache, EVENT).unwrap());
    drop(cache);
    let full = held(&region);
    assert!(
        full - empty > 1_000_000,
        "3000 rules should hold much memory: {} bytes",
        full - empty
    );

    for name in &names {
        assert!(m.remove_rule(name));
    }
    assert_eq!(m.rule_count(), 0);
    let mut cache = Cache::new();
    assert!(!m.is_match_with(&mut cache, EVENT).unwrap());
    drop(cache);
    let after = held(&region);
    // (Near: a table may keep room for an entry or two.)
    assert!(
        after - empty <= 512,
        "after removing every rule the matcher holds {} bytes more than an empty one ({} with the rules)",
        after - empty,
        full - empty
    );
    drop(m);
    drop(names);
}

#[test]
fn add_remove_cycles_do_not_grow_memory() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let region = Region::new(GLOBAL);
    let mut m = Matcher::new();
    // A window of 200 live rules slides over 6000 rules: every rule is added once and removed
    // later, each with its own name and mostly its own paths and values.
    const LIVE: usize = 200;
    let name = |i: usize| format!("rule-{i}");
    let mut peak_early = 0isize;
    let mut peak_late = 0isize;
    for i in 0..6000 {
        m.add_rule(name(i), &pattern(i)).unwrap();
        if i >= LIVE {
            assert!(m.remove_rule(&name(i - LIVE)));
        }
        let now = held(&region);
        if (1000..2000).contains(&i) {
            peak_early = peak_early.max(now);
        }
        if i >= 5000 {
            peak_late = peak_late.max(now);
        }
    }
    assert_eq!(m.rule_count(), LIVE);
    assert!(
        peak_late <= peak_early + peak_early / 10,
        "memory grew over add/remove cycles: {peak_early} bytes at most after 1000-2000 rules, {peak_late} after 5000-6000"
    );
    // The same names added and removed again and again.
    let mut again = Matcher::new();
    let before = held(&region);
    let mut peaks = Vec::new();
    for round in 0..30 {
        for i in 0..100 {
            again.add_rule(name(i), &pattern(i + round)).unwrap();
        }
        peaks.push(held(&region) - before);
        for i in 0..100 {
            assert!(again.remove_rule(&name(i)));
        }
    }
    assert!(
        peaks[29] <= peaks[2] + peaks[2] / 10,
        "memory grew over rounds of the same rules: {peaks:?}"
    );
    assert!(held(&region) - before <= 512);
}

#[test]
fn a_clone_allocates_nothing_until_it_changes() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let mut m = Matcher::new();
    for i in 0..500 {
        m.add_rule(format!("r{i}"), &pattern(i)).unwrap();
    }
    let region = Region::new(GLOBAL);
    let snapshot = m.clone();
    let stats = region.change();
    assert_eq!((stats.allocations, stats.reallocations), (0, 0));
    // The first change copies what the two share.
    let region = Region::new(GLOBAL);
    m.remove_rule("r0");
    assert!(
        held(&region) > 10_000,
        "the first change copies the shared structure"
    );
    assert_eq!(snapshot.rule_count(), 500);
    assert_eq!(m.rule_count(), 499);
}
