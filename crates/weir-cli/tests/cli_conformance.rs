//! The AWS-verified conformance cases, through the `weir` binary: every EventBridge case with
//! `weir test`, the SQS cases of the Lambda event-source-mapping suite with `weir filter
//! --lambda sqs`.

#[path = "../../../tests/common/mod.rs"]
mod common;

use common::sqs_record;

use std::path::Path;

use serde_json::{json, Value};

const AWS_PREFIX: &str = "Event pattern is not valid. Reason: ";
const ENVELOPE_ERROR: &str = "Parameter Event is not valid.";

mod harness;

use harness::Run;

fn weir(dir: &Path, args: &[&str]) -> Run {
    harness::run(dir, args, None)
}

fn load(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/conformance")
        .join(name);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

/// The case's raw text when it has one (duplicate keys, invalid JSON), else its JSON.
fn text_of(case: &Value, raw: &str, parsed: &str) -> String {
    match case.get(raw) {
        Some(Value::String(s)) => s.clone(),
        _ => serde_json::to_string(&case[parsed]).unwrap(),
    }
}

#[test]
fn eventbridge_cases_through_weir_test() {
    let dir = tempfile::tempdir().unwrap();
    let (mut matched, mut unmatched, mut errors, mut envelope) = (0, 0, 0, 0);
    for case in load("eventbridge-aws.json") {
        let name = case["name"].as_str().unwrap();
        let expected = case["expected"].as_str().unwrap();
        std::fs::write(
            dir.path().join("pattern.json"),
            text_of(&case, "pattern_raw", "pattern"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("event.json"),
            text_of(&case, "event_raw", "event"),
        )
        .unwrap();
        let args = [
            "test",
            "--event-pattern",
            "file://pattern.json",
            "--event",
            "file://event.json",
        ];
        let plain = weir(dir.path(), &args);
        let mut with_envelope = args.to_vec();
        with_envelope.push("--require-envelope");
        let strict = weir(dir.path(), &with_envelope);
        let aws_error = case["aws_error_message"].as_str();

        if aws_error == Some(ENVELOPE_ERROR) {
            // Only EventBridge's envelope check refuses these events; the pattern is valid.
            assert_eq!(strict.code, 2, "{name}: {}", strict.stdout);
            assert!(
                strict.stderr.contains(ENVELOPE_ERROR),
                "{name}: {}",
                strict.stderr
            );
            assert_eq!(strict.stdout, "", "{name}");
            let event = text_of(&case, "event_raw", "event");
            if event.trim_start().starts_with('{') {
                assert_eq!(
                    (plain.code, plain.stdout.as_str()),
                    (1, "{\"Result\":false}\n"),
                    "{name}: {}",
                    plain.stderr
                );
            } else {
                // An event that is not an object is refused by every command.
                assert_eq!((plain.code, plain.stdout.as_str()), (2, ""), "{name}");
                assert!(
                    plain.stderr.contains("an event must be a JSON object"),
                    "{name}: {}",
                    plain.stderr
                );
            }
            envelope += 1;
            continue;
        }
        for run in [&plain, &strict] {
            match expected {
                "match" | "no_match" => {
                    let want = if expected == "match" {
                        (0, "{\"Result\":true}\n")
                    } else {
                        (1, "{\"Result\":false}\n")
                    };
                    assert_eq!(
                        (run.code, run.stdout.as_str()),
                        want,
                        "{name}: {}",
                        run.stderr
                    );
                    assert_eq!(run.stderr, "", "{name}");
                }
                "error" => {
                    let reason = aws_error
                        .and_then(|m| m.strip_prefix(AWS_PREFIX))
                        .and_then(|r| r.lines().next())
                        .unwrap_or_else(|| panic!("{name}: no AWS reason"));
                    assert_eq!((run.code, run.stdout.as_str()), (2, ""), "{name}");
                    let first = run.stderr.lines().next().unwrap_or_default();
                    assert!(
                        first.ends_with(reason),
                        "{name}: want {reason:?}, got:\n{}",
                        run.stderr
                    );
                    assert!(
                        run.stderr.contains('^'),
                        "{name}: no caret:\n{}",
                        run.stderr
                    );
                }
                other => panic!("{name}: unknown expectation {other}"),
            }
        }
        match expected {
            "match" => matched += 1,
            "no_match" => unmatched += 1,
            _ => errors += 1,
        }
    }
    assert_eq!((matched, unmatched, errors, envelope), (70, 51, 42, 3));
}

#[test]
fn lambda_sqs_cases_through_weir_filter() {
    let dir = tempfile::tempdir().unwrap();
    let (mut record_cases, mut error_cases, mut unverified) = (0, 0, 0);
    for case in load("lambda-esm-aws.json") {
        if case["source"] != "sqs" {
            continue;
        }
        let id = case["id"].as_str().unwrap();
        let pattern = text_of(&case, "pattern_raw", "pattern");
        let criteria = json!({"Filters": [{"Pattern": pattern}]}).to_string();
        std::fs::write(dir.path().join("fc.json"), &criteria).unwrap();

        if case["expected"] == "error" {
            let r = weir(
                dir.path(),
                &[
                    "filter",
                    "--filter-criteria",
                    "fc.json",
                    "--lambda",
                    "sqs",
                    "-",
                ],
            );
            assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{id}");
            assert!(r.stderr.starts_with("weir: fc.json"), "{id}: {}", r.stderr);
            assert!(r.stderr.contains("filter 0"), "{id}: {}", r.stderr);
            let r = weir(dir.path(), &["check", "fc.json"]);
            assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{id}");
            error_cases += 1;
            continue;
        }
        let Some(records) = case["records"].as_array() else {
            // Not verified against AWS and without records: nothing to run.
            assert_eq!(case["aws_validated"], false, "{id}");
            unverified += 1;
            continue;
        };
        let mut jsonl = String::new();
        let mut want = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let message = format!("msg-{i}");
            jsonl.push_str(&sqs_record(&message, record["body"].as_str().unwrap()).to_string());
            jsonl.push('\n');
            match record["expected"].as_str() {
                Some("match") => want.push(message),
                Some("no_match") => {}
                other => panic!("{id}: record expectation {other:?}"),
            }
        }
        std::fs::write(dir.path().join("records.jsonl"), jsonl).unwrap();
        let r = weir(
            dir.path(),
            &[
                "filter",
                "--filter-criteria",
                "fc.json",
                "--lambda",
                "sqs",
                "records.jsonl",
            ],
        );
        let got: Vec<String> = r
            .stdout
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["messageId"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(got, want, "{id}: {}", r.stderr);
        assert_eq!(
            r.code,
            if want.is_empty() { 1 } else { 0 },
            "{id}: {}",
            r.stderr
        );
        // The same records as one JSON array give the same answer.
        let array = format!(
            "[{}]",
            std::fs::read_to_string(dir.path().join("records.jsonl"))
                .unwrap()
                .trim_end()
                .replace('\n', ",\n")
        );
        std::fs::write(dir.path().join("records.json"), array).unwrap();
        let r2 = weir(
            dir.path(),
            &[
                "filter",
                "--filter-criteria",
                "fc.json",
                "--lambda",
                "sqs",
                "records.json",
            ],
        );
        assert_eq!((r2.code, &r2.stdout), (r.code, &r.stdout), "{id}");
        record_cases += 1;
    }
    assert_eq!((record_cases, error_cases, unverified), (9, 4, 1));
}
