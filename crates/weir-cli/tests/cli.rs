//! The `weir` binary: every subcommand, flag, exit code and input format, run as a user would.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A pattern every test event matches (AWS allows no empty object, so not `{}`).
const EVERY: &str = r#"{"no-such-key": [{"exists": false}]}"#;

use serde_json::Value;

mod harness;

use harness::Run;

fn weir_in(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    harness::run(dir, args, stdin)
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Runs weir in the examples directory.
fn weir(args: &[&str]) -> Run {
    weir_in(&examples(), args, None)
}

fn weir_stdin(args: &[&str], stdin: &str) -> Run {
    weir_in(&examples(), args, Some(stdin.as_bytes()))
}

/// The `id` of every printed event.
fn ids(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            v["id"]
                .as_str()
                .or(v["messageId"].as_str())
                .unwrap()
                .to_string()
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).unwrap();
    name.to_string()
}

// ---------------------------------------------------------------- test

#[test]
fn test_prints_result_and_exit_code() {
    let r = weir(&[
        "test",
        "--event-pattern",
        r#"{"a": [300]}"#,
        "--event",
        r#"{"a": 3e2}"#,
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "{\"Result\":true}\n"));
    let r = weir(&[
        "test",
        "--event-pattern",
        r#"{"a": [300]}"#,
        "--event",
        r#"{"a": "300"}"#,
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (1, "{\"Result\":false}\n"));
    assert_eq!(r.stderr, "");
}

#[test]
fn test_explain_prints_why() {
    let pattern = r#"{"e": {"f": ["Anna"], "l": ["Jones"]}, "n": [{"numeric": [">", 1]}]}"#;
    let event = r#"{"n": 2, "e": [{"f": "Anna"}, {"l": "Jones"}]}"#;
    let r = weir(&[
        "test",
        "--explain",
        "--event-pattern",
        pattern,
        "--event",
        event,
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "");
    assert_eq!(
        r.stdout,
        r#"no match
  e.f: "Anna" at 21..27, holds
    "Anna": holds
  e.l: "Jones" at 36..43, holds
    "Jones": holds
  n: 2 at 6..7, holds
    numeric (1, +inf): holds
  array e at 14..45: no element has e.f and e.l together
    element 0 at 15..28: lacks e.l
    element 1 at 30..44: lacks e.f
"#
    );

    // JSON, one object on one line; the exit status is the verdict.
    let event = r#"{"n": 2, "e": [{"f": "Anna", "l": "Jones"}]}"#;
    let r = weir(&[
        "--format",
        "json",
        "test",
        "--explain",
        "--event-pattern",
        pattern,
        "--event",
        event,
    ]);
    assert_eq!(r.code, 0);
    assert_eq!(r.lines().len(), 1);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["matched"], true);
    assert_eq!(v["pattern"], pattern);
    assert_eq!(v["group"]["arrays"][0]["satisfied_by"], 0);
    let n = &v["group"]["fields"][2];
    assert_eq!(n["path"], "n");
    assert_eq!(n["values"][0]["span"], serde_json::json!([6, 7]));
    assert_eq!(n["used"], 0);

    // A malformed event is an error, as without --explain.
    let r = weir(&[
        "test",
        "--explain",
        "--event-pattern",
        pattern,
        "--event",
        "{",
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (2, ""));
    assert!(r.stderr.contains("unexpected end of input"), "{}", r.stderr);
}

#[test]
fn test_reads_files_and_stdin() {
    let first = std::fs::read_to_string(examples().join("events.jsonl")).unwrap();
    let first = first.lines().next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let event = write(dir.path(), "event.json", first);
    let pattern = examples().join("pattern.json");
    let pattern = format!("file://{}", pattern.display());
    let r = weir_in(
        dir.path(),
        &[
            "test",
            "--event-pattern",
            &pattern,
            "--event",
            &format!("file://{event}"),
        ],
        None,
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "{\"Result\":true}\n"),
        "{}",
        r.stderr
    );
    let r = weir_stdin(
        &["test", "--event-pattern", &pattern, "--event", "-"],
        first,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = weir(&[
        "test",
        "--event-pattern",
        "file://no/such.json",
        "--event",
        "{}",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cannot read no/such.json: "),
        "{}",
        r.stderr
    );
}

#[test]
fn test_invalid_pattern_shows_caret() {
    let r = weir(&[
        "test",
        "--event-pattern",
        r#"{"detail": {"state": []}}"#,
        "--event",
        "{}",
    ]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains("Empty arrays are not allowed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("line 1, column 22 (byte 21)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("at detail.state"), "{}", r.stderr);
    let caret = r.stderr.lines().last().unwrap();
    assert_eq!(caret.find('^'), Some(4 + 21), "{}", r.stderr);
}

#[test]
fn test_json_error_object() {
    let pattern = "{\n  \"size\": [{\"numeric\": [\">\", 0, \">\", 5]}]\n}";
    let r = weir(&[
        "--format",
        "json",
        "test",
        "--event-pattern",
        pattern,
        "--event",
        "{}",
    ]);
    assert_eq!(r.code, 2);
    let errors = r.json_errors();
    assert_eq!(errors.len(), 1);
    let e = &errors[0];
    assert_eq!(e["error"], "pattern");
    assert_eq!(e["reason"], "Bad numeric range operator: >");
    assert_eq!(
        e["aws_message"],
        "Event pattern is not valid. Reason: Bad numeric range operator: >"
    );
    assert_eq!(e["kind"], "invalid");
    assert_eq!(e["path"], "size[0].numeric[2]");
    assert_eq!(e["line"], 2);
    assert_eq!(e["column"], 33);
    let offset = e["offset"].as_u64().unwrap() as usize;
    assert_eq!(&pattern[offset..offset + 3], "\">\"");
    assert_eq!(e["source"], "--event-pattern");
    // The flag also works after the subcommand; syntax errors have their own kind.
    let r = weir(&[
        "test",
        "--event-pattern",
        "{'bad': 1}",
        "--event",
        "{}",
        "--format",
        "json",
    ]);
    let e = &r.json_errors()[0];
    assert_eq!(e["kind"], "syntax");
    assert_eq!(e["column"], 2);
}

#[test]
fn test_invalid_event_is_positioned() {
    let r = weir(&[
        "test",
        "--event-pattern",
        EVERY,
        "--event",
        "{\"a\":\n  tru}",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--event:2:3: invalid event"),
        "{}",
        r.stderr
    );
    let r = weir(&[
        "--format",
        "json",
        "test",
        "--event-pattern",
        EVERY,
        "--event",
        "{\"a\": 1",
    ]);
    let e = &r.json_errors()[0];
    assert_eq!(
        (e["error"].as_str(), e["line"].as_u64()),
        (Some("event"), Some(1))
    );
    assert_eq!(e["offset"], 7);
}

#[test]
fn test_envelope_only_on_request() {
    let args = [
        "test",
        "--event-pattern",
        r#"{"a": [1]}"#,
        "--event",
        r#"{"a": 1}"#,
    ];
    assert_eq!(weir(&args).code, 0);
    let mut strict = args.to_vec();
    strict.push("--require-envelope");
    let r = weir(&strict);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("Parameter Event is not valid."),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("\"id\""), "{}", r.stderr);
    let event = r#"{"id": "1", "source": "s", "detail-type": "t", "account": "1", "region": "r", "time": "t", "a": 1}"#;
    let r = weir(&[
        "test",
        "--require-envelope",
        "--event-pattern",
        r#"{"a": [1]}"#,
        "--event",
        event,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn option_flags_change_semantics() {
    let wildcard = r#"{"k": [{"wildcard": "a*"}]}"#;
    assert_eq!(
        weir(&[
            "test",
            "--event-pattern",
            wildcard,
            "--event",
            r#"{"k": "ab"}"#
        ])
        .code,
        0
    );
    let r = weir(&[
        "--format",
        "json",
        "test",
        "--lambda-strict",
        "--event-pattern",
        wildcard,
        "--event",
        "{}",
    ]);
    assert_eq!(r.code, 2);
    assert_eq!(r.json_errors()[0]["kind"], "unsupported");

    let args = [
        "test",
        "--event-pattern",
        r#"{"n": [300]}"#,
        "--event",
        r#"{"n": 300.0}"#,
    ];
    assert_eq!(weir(&args).code, 0);
    let mut as_strings = args.to_vec();
    as_strings.push("--numbers-as-strings");
    assert_eq!(weir(&as_strings).code, 1);

    // The same flags reach filter and route.
    let r = weir_stdin(
        &[
            "filter",
            "--numbers-as-strings",
            "--pattern",
            r#"{"n": [300]}"#,
        ],
        "{\"n\": 300.0}\n{\"n\": 300}\n",
    );
    assert_eq!(r.lines(), ["{\"n\": 300}"]);
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "r.json", &format!("{{\"w\": {wildcard}}}"));
    let r = weir_in(
        dir.path(),
        &["route", "--lambda-strict", "--rules", &rules],
        Some(b"{}"),
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("rule \"w\""), "{}", r.stderr);
}

// ---------------------------------------------------------------- filter

#[test]
fn filter_jsonl_file() {
    let r = weir(&["filter", "--pattern-file", "pattern.json", "events.jsonl"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ids(&r), ["e1", "e4"]);
    // Lines are printed as they were written.
    let source = std::fs::read_to_string(examples().join("events.jsonl")).unwrap();
    for line in r.lines() {
        assert!(source.lines().any(|l| l == line));
    }
    let r = weir(&["filter", "--pattern", "file://pattern.json", "events.jsonl"]);
    assert_eq!(ids(&r), ["e1", "e4"]);
}

#[test]
fn filter_count_invert_quiet() {
    let s3 = r#"{"source": ["aws.s3"]}"#;
    let r = weir(&["filter", "-c", "--pattern", s3, "events.jsonl"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "4\n"));
    let r = weir(&[
        "filter",
        "--count",
        "--invert",
        "--pattern",
        s3,
        "events.jsonl",
    ]);
    assert_eq!(r.stdout, "16\n");
    let r = weir(&["filter", "-v", "--pattern", s3, "events.jsonl"]);
    assert_eq!(r.lines().len(), 16);
    assert!(!ids(&r).iter().any(|id| id.starts_with('s')));
    let r = weir(&["filter", "-q", "--pattern", s3, "events.jsonl"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    let r = weir(&[
        "filter",
        "-c",
        "--pattern",
        r#"{"source": ["nothing"]}"#,
        "events.jsonl",
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (1, "0\n"));
    let r = weir(&["filter", "-cv", "--pattern", EVERY, "events.jsonl"]);
    assert_eq!((r.code, r.stdout.as_str()), (1, "0\n"));
}

#[test]
fn filter_input_layouts() {
    let pattern = r#"{"a": [2]}"#;
    // A JSON array of events, spread over lines: printed compact, one per line.
    let r = weir_stdin(
        &["filter", "--pattern", pattern],
        "[{\"a\": 1},\n {\"a\": 2,\n  \"b\": [1, \" x \"]}\n]",
    );
    assert_eq!(
        (r.code, r.lines()),
        (0, vec!["{\"a\":2,\"b\":[1,\" x \"]}"])
    );
    // One pretty-printed event.
    let r = weir_stdin(&["filter", "--pattern", pattern], "{\n  \"a\": 2\n}\n");
    assert_eq!(r.lines(), ["{\"a\":2}"]);
    // JSONL, blank lines and CRLF included; `-` names stdin. An array on a line is an
    // event that is not an object: an error.
    let r = weir_stdin(
        &["filter", "--pattern", pattern, "-"],
        "{\"a\": 2, \"n\": 1}\r\n\n{\"a\": 1}\n[{\"a\": 2}]\n{\"a\":2,\"n\":3}",
    );
    assert_eq!(r.lines(), ["{\"a\": 2, \"n\": 1}", "{\"a\":2,\"n\":3}"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("<stdin>:4:1: invalid event: an event must be a JSON object, not an array"),
        "{}",
        r.stderr
    );
    // Several files, in order.
    let r = weir(&[
        "filter",
        "--pattern",
        r#"{"id": ["m-1", "e20", "p1"]}"#,
        "sqs-records.json",
        "events.jsonl",
    ]);
    assert_eq!(
        (r.code, ids(&r)),
        (0, vec!["p1".to_string()]),
        "SQS records have no `id`"
    );
    let r = weir(&[
        "filter",
        "--pattern",
        r#"{"messageId": ["m-2"]}"#,
        "events.jsonl",
        "sqs-records.json",
    ]);
    assert_eq!(ids(&r), ["m-2"]);
    // Empty input: nothing matched.
    let r = weir_stdin(&["filter", "--pattern", EVERY], "  \n");
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
    let r = weir_stdin(&["filter", "--pattern", EVERY], "[]");
    assert_eq!(r.code, 1);
}

#[test]
fn filter_reports_malformed_events_and_goes_on() {
    let input = "{\"a\": 2}\n{\"a\": tru}\n\n{\"a\": 2, \"z\": 1}\n";
    let r = weir_stdin(&["filter", "--pattern", r#"{"a": [2]}"#], input);
    assert_eq!(r.code, 2);
    assert_eq!(r.lines(), ["{\"a\": 2}", "{\"a\": 2, \"z\": 1}"]);
    assert!(
        r.stderr.contains("<stdin>:2:7: invalid event"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("2 | {\"a\": tru}"), "{}", r.stderr);

    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "arr.json", "[{\"a\": 2},\n {\"a\": x},\n ]");
    let r = weir_in(
        dir.path(),
        &[
            "--format",
            "json",
            "filter",
            "--pattern",
            r#"{"a": [2]}"#,
            &file,
        ],
        None,
    );
    assert_eq!((r.code, r.lines()), (2, vec!["{\"a\": 2}"]));
    let errors = r.json_errors();
    assert_eq!(errors.len(), 2, "{}", r.stderr);
    assert_eq!(errors[0]["error"], "event");
    assert_eq!(errors[0]["source"], "arr.json");
    assert_eq!(
        (errors[0]["line"].as_u64(), errors[0]["column"].as_u64()),
        (Some(2), Some(8))
    );
    assert_eq!(errors[0]["offset"], 18);
    assert!(errors[1]["reason"]
        .as_str()
        .unwrap()
        .contains("empty array element"));
    assert_eq!(errors[1]["line"], 3);
}

#[test]
fn filter_missing_and_unreadable_files() {
    let r = weir(&["filter", "--pattern", EVERY, "nope.jsonl", "events.jsonl"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.lines().len(), 20, "the readable file is still filtered");
    assert!(
        r.stderr.contains("cannot read nope.jsonl: "),
        "{}",
        r.stderr
    );
    let r = weir(&["filter", "--pattern-file", "nope.json"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read nope.json: "), "{}", r.stderr);
    let r = weir(&["filter", "--pattern", EVERY, "."]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read .: "), "{}", r.stderr);
    let r = weir(&[
        "--format",
        "json",
        "filter",
        "--pattern",
        EVERY,
        "nope.jsonl",
    ]);
    let e = &r.json_errors()[0];
    assert_eq!(e["error"], "io");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .starts_with("cannot read nope.jsonl: "));
}

#[test]
fn filter_invalid_pattern() {
    let r = weir(&[
        "filter",
        "--pattern",
        r#"{"a": [{"prefix": 1}]}"#,
        "events.jsonl",
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (2, ""));
    assert!(
        r.stderr.contains("prefix match pattern must be a string"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("^"), "{}", r.stderr);
}

#[test]
fn filter_with_filter_criteria_on_plain_events() {
    let dir = tempfile::tempdir().unwrap();
    let fc = write(
        dir.path(),
        "fc.json",
        r#"{"Filters": [{"Pattern": "{\"a\": [1]}"}, {"Pattern": "{\"b\": [{\"exists\": true}]}"}]}"#,
    );
    let input = "{\"a\": 1}\n{\"a\": 2}\n{\"b\": null}\n";
    let r = weir_in(
        dir.path(),
        &["filter", "--filter-criteria", &fc],
        Some(input.as_bytes()),
    );
    assert_eq!(r.lines(), ["{\"a\": 1}", "{\"b\": null}"]);
    let empty = write(dir.path(), "empty.json", r#"{"Filters": []}"#);
    let r = weir_in(
        dir.path(),
        &["filter", "-c", "--filter-criteria", &empty],
        Some(input.as_bytes()),
    );
    assert_eq!(r.stdout, "3\n");
    // A bad filter is named.
    let bad = write(
        dir.path(),
        "bad.json",
        r#"{"Filters": [{"Pattern": "{\"b\": [1]}"}, {"Pattern": "{\"a\": []}"}]}"#,
    );
    let r = weir_in(
        dir.path(),
        &["--format", "json", "filter", "--filter-criteria", &bad],
        Some(b"{}"),
    );
    assert_eq!(r.code, 2);
    let e = &r.json_errors()[0];
    assert_eq!(
        (e["filter"].as_u64(), e["reason"].as_str()),
        (Some(1), Some("Empty arrays are not allowed"))
    );
    // Too many filters, unless allowed.
    let six = format!(
        r#"{{"Filters": [{}]}}"#,
        [r#"{"Pattern": "{\"b\": [{\"exists\": false}]}"}"#; 6].join(",")
    );
    let six = write(dir.path(), "six.json", &six);
    assert_eq!(
        weir_in(
            dir.path(),
            &["filter", "--filter-criteria", &six],
            Some(b"{}")
        )
        .code,
        2
    );
    let r = weir_in(
        dir.path(),
        &["filter", "--max-filters", "10", "--filter-criteria", &six],
        Some(b"{}"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn filter_lambda_sqs_records() {
    let r = weir(&[
        "filter",
        "--filter-criteria",
        "filter-criteria.json",
        "--lambda",
        "sqs",
        "sqs-records.json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ids(&r), ["m-1", "m-3"]);
    // The plain-text body cannot match a JSON body pattern: dropped, and said so.
    let dropped: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("record dropped"))
        .collect();
    assert_eq!(dropped.len(), 1, "{}", r.stderr);
    assert!(
        dropped[0].starts_with("weir: sqs-records.json:38:"),
        "{}",
        r.stderr
    );
    // Inverted: the records not delivered.
    let r = weir(&[
        "filter",
        "-v",
        "--filter-criteria",
        "filter-criteria.json",
        "--lambda",
        "sqs",
        "sqs-records.json",
    ]);
    assert_eq!(ids(&r), ["m-2", "m-4", "m-5"]);
    // A single pattern with --lambda.
    let r = weir(&[
        "filter",
        "--lambda",
        "sqs",
        "--pattern",
        r#"{"body": {"amount": [40]}}"#,
        "sqs-records.json",
    ]);
    assert_eq!(ids(&r), ["m-2", "m-3", "m-4"]);
    // In JSON format the drop is a notice object.
    let r = weir(&[
        "--format",
        "json",
        "filter",
        "-c",
        "--lambda",
        "sqs",
        "--pattern",
        r#"{"body": {"amount": [40]}}"#,
        "sqs-records.json",
    ]);
    assert_eq!(r.stdout, "3\n");
    let notice = &r.json_errors()[0];
    assert_eq!(
        (notice["notice"].as_str(), notice["line"].as_u64()),
        (Some("dropped"), Some(38))
    );
    // A record that is not JSON is an input error.
    let r = weir_stdin(
        &["filter", "--lambda", "sqs", "--pattern", EVERY],
        "{\"body\": \"x\"}\n{\"body\": }\n",
    );
    assert_eq!((r.code, r.lines()), (2, vec!["{\"body\": \"x\"}"]));
    assert!(
        r.stderr.contains("<stdin>:2:10: invalid event"),
        "{}",
        r.stderr
    );
}

#[test]
fn filter_lambda_other_sources() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let records = format!(
        "{}\n{}\n",
        serde_json::json!({"partitionKey": "1", "data": b64(r#"{"t": "x"}"#)}),
        serde_json::json!({"partitionKey": "2", "data": b64(r#"{"t": "y"}"#)}),
    );
    let r = weir_stdin(
        &[
            "filter",
            "--lambda",
            "kinesis",
            "--pattern",
            r#"{"data": {"t": ["x"]}}"#,
        ],
        &records,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines(), [records.lines().next().unwrap()]);
    let ddb = r#"{"eventName": "INSERT", "dynamodb": {"NewImage": {"n": {"N": "42"}}}}"#;
    let r = weir_stdin(
        &[
            "filter",
            "--lambda",
            "dynamodb",
            "--pattern",
            r#"{"dynamodb": {"NewImage": {"n": {"N": ["42"]}}}}"#,
        ],
        ddb,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = weir(&["filter", "--lambda", "sns", "--pattern", EVERY]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown event source"), "{}", r.stderr);
}

#[test]
fn filter_lambda_refuses_what_aws_refuses_at_mapping_creation() {
    // A plain-string pattern on Kinesis `data`: refused before any record is read.
    let record = r#"{"partitionKey": "1", "data": "eA=="}"#;
    let r = weir_stdin(
        &[
            "filter",
            "--lambda",
            "kinesis",
            "--pattern",
            r#"{"data": ["x"]}"#,
        ],
        record,
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains("plain string") && r.stderr.contains("kinesis"),
        "{}",
        r.stderr
    );
    // The same pattern is fine for SQS.
    let r = weir_stdin(
        &[
            "filter",
            "--lambda",
            "sqs",
            "--pattern",
            r#"{"body": ["x"]}"#,
        ],
        r#"{"body": "x"}"#,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn filter_needs_exactly_one_pattern_source() {
    let r = weir(&["filter", "events.jsonl"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--pattern"), "{}", r.stderr);
    let r = weir(&[
        "filter",
        "--pattern",
        EVERY,
        "--filter-criteria",
        "filter-criteria.json",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
}

// ---------------------------------------------------------------- route

#[test]
fn route_lists_rules_per_event() {
    let r = weir(&["route", "--rules", "rules.json", "events.jsonl"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<Vec<String>> = r
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20);
    assert_eq!(lines[0], ["ec2-starting"]);
    assert_eq!(lines[2], ["ec2-starting", "outside-us"]);
    assert_eq!(lines[4], ["failures"]);
    assert_eq!(lines[6], ["png-uploads"], "equals-ignore-case suffix");
    assert_eq!(lines[9], ["big-orders", "gold-customers"]);
    assert!(lines[11].is_empty());
    assert_eq!(
        lines[16],
        ["internal-logins", "logins-without-mfa", "outside-us"]
    );
}

#[test]
fn route_count_lists_every_rule() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "rules.json",
        r#"{"zeta": {"a": [1]}, "never": {"a": [99]}, "alpha": "{\"b\": [{\"exists\": true}]}"}"#,
    );
    let input = "{\"a\": 1}\n{\"a\": 1, \"b\": 0}\n{\"b\": 2}\n{\"c\": 3}\n";
    let r = weir_in(
        dir.path(),
        &["route", "--count", "--rules", &rules],
        Some(input.as_bytes()),
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "{\"zeta\":2,\"never\":0,\"alpha\":2}\n")
    );
    let r = weir_in(
        dir.path(),
        &["route", "--rules", &rules],
        Some(input.as_bytes()),
    );
    assert_eq!(
        r.lines(),
        ["[\"zeta\"]", "[\"zeta\",\"alpha\"]", "[\"alpha\"]", "[]"]
    );
    let r = weir_in(
        dir.path(),
        &["route", "--rules", &rules],
        Some(b"{\"c\": 1}"),
    );
    assert_eq!((r.code, r.stdout.as_str()), (1, "[]\n"));
}

#[test]
fn route_bad_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "rules.json",
        "{\n  \"fine\": {\"a\": [1]},\n  \"broken\": {\"a\": [{\"numeric\": [\"<\", \"x\"]}]},\n  \"text\": \"{\\\"b\\\": []}\"\n}\n",
    );
    let r = weir_in(dir.path(), &["route", "--rules", &rules], Some(b"{}"));
    assert_eq!((r.code, r.stdout.as_str()), (2, ""));
    assert!(r.stderr.contains("rule \"broken\""), "{}", r.stderr);
    assert!(
        r.stderr.contains("Value of < must be numeric"),
        "{}",
        r.stderr
    );
    // Positions are in the rules file.
    assert!(r.stderr.contains("line 3, column 38"), "{}", r.stderr);
    assert!(r.stderr.contains("3 |   \"broken\""), "{}", r.stderr);
    // A pattern given as a string is named too.
    assert!(r.stderr.contains("rule \"text\""), "{}", r.stderr);
    assert!(
        r.stderr.contains("Empty arrays are not allowed"),
        "{}",
        r.stderr
    );

    let r = weir_in(
        dir.path(),
        &["--format", "json", "route", "--rules", &rules],
        Some(b"{}"),
    );
    let errors = r.json_errors();
    assert_eq!(errors.len(), 2);
    assert_eq!(
        (errors[0]["rule"].as_str(), errors[0]["line"].as_u64()),
        (Some("broken"), Some(3))
    );
    assert_eq!(errors[0]["path"], "a[0].numeric[1]");
    assert_eq!(errors[1]["rule"], "text");

    for (text, want) in [
        ("[1]", "expected a JSON object"),
        ("{\"a\": ", "invalid JSON"),
        ("{\"a\": {}, \"a\": {}}", "defined twice"),
    ] {
        let file = write(dir.path(), "bad.json", text);
        let r = weir_in(dir.path(), &["route", "--rules", &file], Some(b"{}"));
        assert_eq!(r.code, 2, "{text}");
        assert!(r.stderr.contains(want), "{text}: {}", r.stderr);
    }
    let r = weir_in(
        dir.path(),
        &["route", "--rules", "missing.json"],
        Some(b"{}"),
    );
    assert!(
        r.stderr.contains("cannot read missing.json: "),
        "{}",
        r.stderr
    );
}

#[test]
fn route_malformed_event() {
    let r = weir_stdin(
        &["route", "--rules", "rules.json"],
        "{\"detail\": {\"mfa\": false}, \"detail-type\": \"UserSignedIn\"}\n{oops}\n",
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.lines(), ["[\"logins-without-mfa\"]", "null"]);
    assert!(
        r.stderr.contains("<stdin>:2:2: invalid event"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------- check and debug

#[test]
fn check_files() {
    let r = weir(&["check", "pattern.json", "filter-criteria.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines(), ["ok: pattern.json", "ok: filter-criteria.json"]);

    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.json",
        "{\n  \"a\": [\"x\", {\"suffix\": 5}]\n}\n",
    );
    let fc = write(
        dir.path(),
        "fc.json",
        r#"{"Filters": [{"Pattern": "{\"a\": [{\"wildcard\": \"x*\"}]}"}]}"#,
    );
    let r = weir_in(dir.path(), &["check", &bad, &fc, "missing.json"], None);
    assert_eq!(r.code, 2);
    assert_eq!(r.lines(), ["ok: fc.json"]);
    assert!(
        r.stderr
            .contains("bad.json: suffix match pattern must be a string"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("at a[1].suffix"), "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot read missing.json: "),
        "{}",
        r.stderr
    );
    // FilterCriteria files are read as such: Lambda-strict refuses the wildcard, naming the filter.
    let r = weir_in(
        dir.path(),
        &["--format", "json", "check", "--lambda-strict", &fc],
        None,
    );
    assert_eq!(r.code, 2);
    let e = &r.json_errors()[0];
    assert_eq!(
        (e["kind"].as_str(), e["filter"].as_u64()),
        (Some("unsupported"), Some(0))
    );
    let r = weir_in(dir.path(), &["check", "--lambda-strict", &fc], None);
    assert!(
        r.stderr
            .starts_with("weir: fc.json (the pattern string of filter 0): "),
        "{}",
        r.stderr
    );
    // A malformed FilterCriteria document.
    let doc = write(
        dir.path(),
        "doc.json",
        r#"{"Filters": [{"pattern": "{}"}]}"#,
    );
    let r = weir_in(dir.path(), &["--format", "json", "check", &doc], None);
    assert_eq!(r.json_errors()[0]["kind"], "filter_criteria");
    // Stdin.
    let r = weir_stdin(&["check", "-"], r#"{"a": [1]}"#);
    assert_eq!(r.lines(), ["ok: <stdin>"]);
    // At least one file is required.
    assert_eq!(weir(&["check"]).code, 2);
}

#[test]
fn debug_stages() {
    let pattern = r#"{"a": [{"prefix": "x"}, 1.50]}"#;
    let r = weir(&["debug", "ast", "--pattern", pattern]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("Object") && r.stdout.contains("\"1.50\""),
        "{}",
        r.stdout
    );
    let r = weir(&["debug", "ir", "--pattern", pattern]);
    assert!(r.stdout.starts_with("term 0:"), "{}", r.stdout);
    assert!(r.stdout.contains("a :"), "{}", r.stdout);
    let r = weir(&["debug", "matcher", "--pattern", pattern]);
    assert!(r.stdout.contains("field a"), "{}", r.stdout);
    let r = weir(&["debug", "ir", "--pattern", r#"{"a": 1}"#]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("\"a\" must be an object or an array"),
        "{}",
        r.stderr
    );
    let r = weir(&["debug", "ast", "--pattern", "file://pattern.json"]);
    assert!(r.stdout.contains("aws.ec2"), "{}", r.stdout);
    assert_eq!(weir(&["debug", "bytecode", "--pattern", EVERY]).code, 2);
}

// ---------------------------------------------------------------- robustness

#[test]
fn bad_flags_get_clap_errors() {
    let r = weir(&["filter", "--pattern", EVERY, "--bogus"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unexpected argument '--bogus'"),
        "{}",
        r.stderr
    );
    let r = weir(&["--format", "yaml", "check", "pattern.json"]);
    assert_eq!(r.code, 2);
    assert_eq!(weir(&[]).code, 2);
    assert_eq!(weir(&["frobnicate"]).code, 2);
    let r = weir(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("filter") && r.stdout.contains("route"));
    assert_eq!(weir(&["--version"]).code, 0);
}

#[test]
fn closed_pipe_is_quiet() {
    let events = std::fs::read_to_string(examples().join("events.jsonl")).unwrap();
    let big = events.repeat(2_000); // about 1.5 MB, far more than a pipe holds
    for args in [
        vec!["filter", "--pattern", EVERY],
        vec!["route", "--rules", "rules.json"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(&args)
            .current_dir(examples())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = big.clone();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(!first.is_empty());
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr, "", "{args:?}");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
    }
}

#[test]
fn no_panics_on_odd_input() {
    let dir = tempfile::tempdir().unwrap();
    let deep = "[".repeat(100_000);
    let odd: Vec<Vec<u8>> = vec![
        b"\xff\xfe{}".to_vec(),
        deep.clone().into_bytes(),
        format!("{deep}{}", "]".repeat(100_000)).into_bytes(),
        b"{\"a\": \"\\ud800\"}".to_vec(),
        b"\"unterminated".to_vec(),
        b"]]]]".to_vec(),
        b"[,]".to_vec(),
        b"{\"a\": 1}}".to_vec(),
        b"1e999999".to_vec(),
        b"\x00".to_vec(),
        "{\"é\": \"\u{1F600}\"}\n{\"é\"".as_bytes().to_vec(),
    ];
    for bytes in &odd {
        std::fs::write(dir.path().join("odd"), bytes).unwrap();
        for args in [
            vec!["filter", "--pattern", EVERY, "odd"],
            vec![
                "filter",
                "--lambda",
                "sqs",
                "--pattern",
                r#"{"body": {"a": [1]}}"#,
                "odd",
            ],
            vec!["route", "--rules", "odd"],
            vec!["check", "odd"],
            vec!["debug", "ast", "--pattern", "file://odd"],
            vec!["test", "--event-pattern", "file://odd", "--event", "{}"],
            vec![
                "test",
                "--event-pattern",
                EVERY,
                "--event",
                "file://odd",
                "--require-envelope",
            ],
            vec!["filter", "--filter-criteria", "odd", "odd"],
        ] {
            let r = weir_in(dir.path(), &args, None);
            assert!(
                (0..=2).contains(&r.code),
                "{args:?} on {bytes:?}: {}",
                r.code
            );
        }
    }
}

#[test]
fn lazy_reading_trades_validation_for_speed() {
    // Same verdicts on well-formed events.
    let full = weir(&["filter", "--pattern-file", "pattern.json", "events.jsonl"]);
    let lazy = weir(&[
        "filter",
        "--lazy",
        "--pattern-file",
        "pattern.json",
        "events.jsonl",
    ]);
    assert_eq!(lazy.code, 0, "{}", lazy.stderr);
    assert_eq!(ids(&lazy), ids(&full));
    let counts = weir(&[
        "route",
        "--lazy",
        "--rules",
        "rules.json",
        "--count",
        "events.jsonl",
    ]);
    let validated = weir(&["route", "--rules", "rules.json", "--count", "events.jsonl"]);
    assert_eq!(counts.stdout, validated.stdout);
    // A tail the rule never needs is not read with --lazy, and is an error without it.
    let truncated = "{\"a\": 1, \"b\": [1,\n";
    let r = weir_stdin(&["filter", "--pattern", r#"{"a": [1]}"#], truncated);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unexpected end of input"), "{}", r.stderr);
    let r = weir_stdin(
        &["filter", "--lazy", "--pattern", r#"{"a": [1]}"#],
        truncated,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines(), [truncated.trim_end()]);
}
