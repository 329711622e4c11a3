//! Replays every input the fuzz targets (fuzz/fuzz_targets) failed on, through the very checks
//! the targets run: fuzz/checks.rs is `include!`d both here and there.
//!
//! Inputs live in tests/data/fuzz-regressions/<target>/: raw bytes for `parse_pattern`,
//! `match_event` and `split_stream` (its first two bytes pick the layout and block size), a JSON document `{"pattern": "...", "event": "...", "numbers_as_strings":
//! bool}` for `structured_match`. The seeds of fuzz/seeds/<target>/ are replayed too (for
//! `structured_match`, rendered inputs in the same JSON form). docs/FUZZING.md tells how to
//! add an input.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[allow(dead_code)]
mod checks {
    include!("../fuzz/checks.rs");
}

/// Findings still open: (target, file name). The inputs would be replayed by an `#[ignore]`d
/// test of each finding, not by the `*_replay_clean` tests; the fuzz targets step over them.
/// None is open.
const OPEN: &[(&str, &str)] = &[];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, data: &[u8]) {
    match target {
        "parse_pattern" => checks::check_pattern_bytes(data),
        "match_event" => checks::check_event_bytes(&checks::event_rig(), data),
        "structured_match" => {
            let _ = checks::check_structured_json(data);
        }
        "split_stream" => checks::check_split_stream(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// Replays the saved regression inputs of `target` plus `extra`, and fails naming every
/// input that fails (each one's panic message is printed above). Returns how many replayed.
fn replay_all(target: &str, extra: &[PathBuf]) -> usize {
    let saved: Vec<PathBuf> = files_in(&root().join("tests/data/fuzz-regressions").join(target))
        .into_iter()
        .filter(|p| !OPEN.iter().any(|&(t, n)| t == target && p.ends_with(n)))
        .collect();
    let mut failed = Vec::new();
    for path in saved.iter().chain(extra) {
        let data = std::fs::read(path).expect("readable input");
        if catch_unwind(AssertUnwindSafe(|| replay(target, &data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{target}: failing inputs: {failed:#?}");
    saved.len() + extra.len()
}

#[test]
fn parse_pattern_inputs_replay_clean() {
    let seeds = files_in(&root().join("fuzz/seeds/parse_pattern"));
    assert!(!seeds.is_empty(), "fuzz/seeds/parse_pattern is empty");
    replay_all("parse_pattern", &seeds);
}

#[test]
fn match_event_inputs_replay_clean() {
    let seeds = files_in(&root().join("fuzz/seeds/match_event"));
    assert!(!seeds.is_empty(), "fuzz/seeds/match_event is empty");
    assert!(
        replay_all("match_event", &seeds) > seeds.len(),
        "no saved match_event regression"
    );
}

#[test]
fn structured_match_inputs_replay_clean() {
    let seeds = files_in(&root().join("fuzz/seeds/structured_match"));
    assert!(!seeds.is_empty(), "fuzz/seeds/structured_match is empty");
    replay_all("structured_match", &seeds);
}

#[test]
fn split_stream_inputs_replay_clean() {
    let seeds = files_in(&root().join("fuzz/seeds/split_stream"));
    assert!(!seeds.is_empty(), "fuzz/seeds/split_stream is empty");
    replay_all("split_stream", &seeds);
}

/// The shared checks can fail: a compiled/reference disagreement is caught, agreement is not.
#[test]
fn checks_fail_on_a_disagreement() {
    // A pattern error is reported inside the text.
    let err = weir::Pattern::parse(r#"{"a": [}"#).unwrap_err();
    checks::check_pattern_error(r#"{"a": [}"#, &err, "self-test");
    // A rule set whose "reference" patterns differ from the loaded ones must be caught.
    let mut matcher = weir::Matcher::new();
    matcher.add_rule("r", r#"{"a": [1]}"#).unwrap();
    let wrong = [("r", weir::Pattern::parse(r#"{"a": [2]}"#).unwrap())];
    let caught = catch_unwind(AssertUnwindSafe(|| {
        checks::check_rules_on_event(&matcher, &wrong, br#"{"a": 1}"#, "self-test")
    }));
    assert!(
        caught.is_err(),
        "a compiled/reference disagreement went unnoticed"
    );
    let right = [("r", weir::Pattern::parse(r#"{"a": [1]}"#).unwrap())];
    let names = checks::check_rules_on_event(&matcher, &right, br#"{"a": 1}"#, "self-test");
    assert_eq!(names, Ok(vec!["r".to_string()]));
}
