//! The `weir` binary as a stream filter: results written as events arrive, one `route` line
//! per event, every input layout, `-q`/`-m`/`-n`, threads, events that are not objects, and
//! Lambda sources inferred from `eventSource`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod harness;

use harness::{spawn, Run};

/// Runs weir in `dir` with `stdin` piped in.
fn weir(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    harness::run(dir, args, Some(stdin))
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

const RULES: &str = r#"{"one": {"a": [1]}, "two": {"a": [2]}}"#;

fn with_rules() -> tempfile::TempDir {
    let dir = tmp();
    std::fs::write(dir.path().join("rules.json"), RULES).unwrap();
    dir
}

/// Reads stdout lines on a thread, so a test can wait for one with a timeout.
fn line_reader(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn results_arrive_before_the_next_line_is_written() {
    let dir = with_rules();
    for args in [
        &["filter", "--pattern", r#"{"a": [1, 2]}"#][..],
        &["route", "--rules", "rules.json"][..],
        &["route", "-j2", "--rules", "rules.json"][..],
        &["filter", "-n", "--lazy", "--pattern", r#"{"a": [1, 2]}"#][..],
    ] {
        let mut child = spawn(dir.path(), args);
        let lines = line_reader(&mut child);
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"{\"a\": 1}\n").unwrap();
        stdin.flush().unwrap();
        let first = lines.recv_timeout(WAIT).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("{args:?}: no result for the first line while stdin stays open")
        });
        assert!(
            first.contains('1') || first.contains("one"),
            "{args:?}: {first}"
        );
        stdin.write_all(b"{\"a\": 2}\n").unwrap();
        stdin.flush().unwrap();
        let second = lines.recv_timeout(WAIT).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("{args:?}: no result for the second event")
        });
        assert!(
            second.contains('2') || second.contains("two"),
            "{args:?}: {second}"
        );
        drop(stdin);
        assert!(child.wait().unwrap().success(), "{args:?}");
        assert!(lines.recv_timeout(WAIT).is_err(), "{args:?}: more output");
    }
    // A pretty-printed event is complete at its closing brace.
    let mut child = spawn(dir.path(), &["route", "--rules", "rules.json"]);
    let lines = line_reader(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\n  \"a\": 2\n}\n").unwrap();
    stdin.flush().unwrap();
    let first = lines.recv_timeout(WAIT);
    if first.is_err() {
        let _ = child.kill();
    }
    assert_eq!(first.as_deref(), Ok("[\"two\"]"));
    stdin.write_all(b"{\n  \"a\": 1\n}").unwrap();
    drop(stdin);
    assert_eq!(lines.recv_timeout(WAIT).as_deref(), Ok("[\"one\"]"));
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_file_s_results_are_out_before_weir_waits_on_stdin() {
    let dir = with_rules();
    std::fs::write(dir.path().join("a.jsonl"), "{\"a\": 1}\n{\"a\": 3}\n").unwrap();
    let mut child = spawn(
        dir.path(),
        &["route", "--rules", "rules.json", "a.jsonl", "-"],
    );
    let lines = line_reader(&mut child);
    let stdin = child.stdin.take().unwrap();
    for want in ["[\"one\"]", "[]"] {
        let got = lines.recv_timeout(WAIT);
        if got.is_err() {
            let _ = child.kill();
        }
        assert_eq!(
            got.as_deref(),
            Ok(want),
            "a.jsonl's lines before stdin ends"
        );
    }
    drop(stdin);
    assert!(child.wait().unwrap().code() == Some(0));
}

#[test]
fn route_prints_one_line_per_event() {
    let dir = with_rules();
    let input = "{\"a\": 1}\n{oops}\n[1, 2]\n\"str\"\n42\n{\"a\": 2}\n{\"a\": \"\\x\"}\n{\"b\": 0}\n{\"a\": 1";
    let r = weir(
        dir.path(),
        &["route", "--rules", "rules.json"],
        input.as_bytes(),
    );
    assert_eq!(
        r.lines(),
        [
            "[\"one\"]",
            "null",
            "null",
            "null",
            "null",
            "[\"two\"]",
            "null",
            "[]",
            "null"
        ],
        "{}",
        r.stderr
    );
    assert_eq!(r.code, 2);
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("weir:"))
        .collect();
    assert_eq!(errors.len(), 6, "{}", r.stderr);
    for (line, what) in [
        (2, "expected a string key"),
        (3, "not an array"),
        (4, "not a string"),
    ] {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&format!("weir: <stdin>:{line}:")) && e.contains(what)),
            "line {line}: {}",
            r.stderr
        );
    }
    // An array with a broken element: the element gets its line too.
    let r = weir(
        dir.path(),
        &["route", "--rules", "rules.json"],
        b"[{\"a\": 2}, , {\"a\": 1}, 7]",
    );
    assert_eq!(
        r.lines(),
        ["[\"two\"]", "null", "[\"one\"]", "null"],
        "{}",
        r.stderr
    );
    // With -n each line names its event's line.
    let r = weir(
        dir.path(),
        &["route", "-n", "--rules", "rules.json"],
        b"{\"a\": 1}\n\n{oops}\n{\"a\": 2}\n",
    );
    assert_eq!(
        r.lines(),
        [
            r#"{"line":1,"rules":["one"]}"#,
            r#"{"line":3,"rules":null}"#,
            r#"{"line":4,"rules":["two"]}"#
        ]
    );
    for line in r.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

#[test]
fn every_input_layout() {
    let dir = with_rules();
    let big = format!(
        "{{\"pad\": \"{}\", \"a\": 2}}",
        "x".repeat(3 * 1024 * 1024) // larger than a read block and a batch
    );
    let layouts: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "jsonl",
            "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3}\n".into(),
            vec!["one", "two", ""],
        ),
        (
            "no trailing newline",
            "{\"a\": 1}\n{\"a\": 2}".into(),
            vec!["one", "two"],
        ),
        (
            "crlf and blank lines",
            "\r\n{\"a\": 1}\r\n\r\n\n{\"a\": 2}\r\n".into(),
            vec!["one", "two"],
        ),
        (
            "bom",
            "\u{feff}{\"a\": 2}\n{\"a\": 1}\n".into(),
            vec!["two", "one"],
        ),
        ("one value", "{\n  \"a\": 1\n}".into(), vec!["one"]),
        (
            "array",
            "[\n  {\"a\": 1},\n  {\"a\": 3},\n  {\"a\": 2}\n]\n".into(),
            vec!["one", "", "two"],
        ),
        (
            "pretty stream",
            "{\n  \"a\": 1\n}\n{\n  \"a\": 2\n}\n  {\"a\": 1}".into(),
            vec!["one", "two", "one"],
        ),
        (
            "big event",
            format!("{{\"a\": 1}}\n{big}\n{{\"a\": 1}}\n"),
            vec!["one", "two", "one"],
        ),
        (
            "big in an array",
            format!("[{big}, {{\"a\": 1}}]"),
            vec!["two", "one"],
        ),
    ];
    for (what, input, want) in &layouts {
        let want: Vec<String> = want
            .iter()
            .map(|r| {
                if r.is_empty() {
                    "[]".to_string()
                } else {
                    format!("[\"{r}\"]")
                }
            })
            .collect();
        // Through a pipe, and from a file.
        let r = weir(
            dir.path(),
            &["route", "--rules", "rules.json"],
            input.as_bytes(),
        );
        assert_eq!(r.lines(), want, "{what} (stdin): {}", r.stderr);
        assert_eq!(r.code, 0, "{what}: {}", r.stderr);
        std::fs::write(dir.path().join("in.json"), input).unwrap();
        let r = weir(
            dir.path(),
            &["route", "-j2", "--rules", "rules.json", "in.json"],
            b"",
        );
        assert_eq!(r.lines(), want, "{what} (file): {}", r.stderr);
    }
    // filter prints multi-line events on one line.
    let r = weir(
        dir.path(),
        &["filter", "--pattern", r#"{"a": [2]}"#],
        b"{\n  \"a\": 2,\n  \"b\": \"x y\"\n}\n",
    );
    assert_eq!(r.lines(), [r#"{"a":2,"b":"x y"}"#]);
}

#[test]
fn quiet_and_max_count_stop_reading() {
    let dir = with_rules();
    let input = "{\"a\": 1, \"n\": 1}\n{\"a\": 2}\n{\"a\": 1, \"n\": 2}\n{\"a\": 1, \"n\": 3}\n";
    let pattern = r#"{"a": [1]}"#;
    let r = weir(
        dir.path(),
        &["filter", "-m", "2", "--pattern", pattern],
        input.as_bytes(),
    );
    assert_eq!(r.lines(), ["{\"a\": 1, \"n\": 1}", "{\"a\": 1, \"n\": 2}"]);
    assert_eq!(r.code, 0);
    let r = weir(
        dir.path(),
        &["filter", "-c", "-m", "2", "--pattern", pattern],
        input.as_bytes(),
    );
    assert_eq!(r.lines(), ["2"]);
    let r = weir(
        dir.path(),
        &["filter", "-q", "--pattern", pattern],
        input.as_bytes(),
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    let r = weir(
        dir.path(),
        &["filter", "-q", "--pattern", r#"{"a": [9]}"#],
        input.as_bytes(),
    );
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
    // route -m: lines up to the N-th matching event.
    let r = weir(
        dir.path(),
        &["route", "-m", "1", "--rules", "rules.json"],
        b"{\"b\": 1}\n{\"a\": 2}\n{\"a\": 1}\n",
    );
    assert_eq!(r.lines(), ["[]", "[\"two\"]"]);
    // -q stops at the first match: an endless input still ends.
    let mut child = spawn(dir.path(), &["filter", "-q", "--pattern", pattern]);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let line = b"{\"a\": 0}\n".repeat(1000);
        let mut sent = 0;
        // Stops when weir has gone (a broken pipe), or after 2 GB.
        while sent < (2usize << 30) && stdin.write_all(&line).is_ok() {
            if sent == 100 * line.len() {
                let _ = stdin.write_all(b"{\"a\": 1}\n");
            }
            sent += line.len();
        }
        sent
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("weir -q did not stop");
    assert_eq!(status.unwrap().code(), Some(0));
    assert!(writer.join().unwrap() < (2usize << 30));
    // -q exits 0 on a match even after an error, as grep.
    let r = weir(
        dir.path(),
        &["filter", "-q", "--pattern", pattern],
        b"{oops}\n{\"a\": 1}\n",
    );
    assert_eq!(r.code, 0);
}

#[test]
fn line_numbers_wrap_filter_output() {
    let dir = with_rules();
    let r = weir(
        dir.path(),
        &["filter", "-n", "--pattern", r#"{"a": [1]}"#],
        b"{\n \"a\": 2\n}\n\n{\n \"a\": 1\n}\n",
    );
    assert_eq!(r.lines(), [r#"{"line":5,"event":{"a":1}}"#]);
    std::fs::write(dir.path().join("x.jsonl"), "{\"a\": 1}\n").unwrap();
    let r = weir(
        dir.path(),
        &["filter", "-n", "--pattern", r#"{"a": [1]}"#, "x.jsonl", "-"],
        b"{\"a\": 2}\n{\"a\": 1}\n",
    );
    assert_eq!(
        r.lines(),
        [
            r#"{"line":1,"input":"x.jsonl","event":{"a": 1}}"#,
            r#"{"line":2,"input":"<stdin>","event":{"a": 1}}"#
        ]
    );
    // -n says nothing with -c: clap refuses the pair.
    let r = weir(
        dir.path(),
        &["route", "-n", "-c", "--rules", "rules.json"],
        b"",
    );
    assert_eq!(r.code, 2);
}

#[test]
fn events_must_be_objects_in_every_command() {
    let dir = with_rules();
    for event in ["[1,2]", "\"str\"", "42", "true", "null", "[{\"a\": 1}]"] {
        let r = weir(
            dir.path(),
            &[
                "test",
                "--event-pattern",
                r#"{"a": [{"exists": false}]}"#,
                "--event",
                event,
            ],
            b"",
        );
        assert_eq!((r.code, r.stdout.as_str()), (2, ""), "test {event}");
        assert!(
            r.stderr.contains("an event must be a JSON object"),
            "{}",
            r.stderr
        );
    }
    // In a stream, a top-level array is a list of events; an array on a JSONL line is one
    // event.
    for event in ["\"str\"", "42", "true", "null", "[1, 2]", "[{\"a\": 1}]"] {
        let line = format!("{{\"a\": 3}}\n{event}\n");
        let r = weir(
            dir.path(),
            &["filter", "--pattern", r#"{"b": [{"exists": false}]}"#],
            line.as_bytes(),
        );
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (2, "{\"a\": 3}\n"),
            "filter {event}"
        );
        assert!(
            r.stderr
                .contains("<stdin>:2:1: invalid event: an event must be a JSON object"),
            "{}",
            r.stderr
        );
        let r = weir(
            dir.path(),
            &["filter", "-v", "--pattern", r#"{"a": [1]}"#],
            line.as_bytes(),
        );
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (2, "{\"a\": 3}\n"),
            "filter -v {event}"
        );
        let r = weir(
            dir.path(),
            &["route", "--lazy", "--rules", "rules.json"],
            line.as_bytes(),
        );
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (2, "[]\nnull\n"),
            "route {event}"
        );
        let r = weir(
            dir.path(),
            &[
                "filter",
                "--lambda",
                "sqs",
                "--pattern",
                r#"{"b": [{"exists": false}]}"#,
            ],
            line.as_bytes(),
        );
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (2, "{\"a\": 3}\n"),
            "filter --lambda {event}"
        );
    }
    // In JSON, the error has its kind.
    let r = weir(
        dir.path(),
        &["--format", "json", "route", "--rules", "rules.json"],
        b"42\n",
    );
    let err: serde_json::Value = serde_json::from_str(r.stderr.lines().next().unwrap()).unwrap();
    assert_eq!(err["kind"], "not_an_object");
    assert_eq!(err["line"], 1);
}

/// About `n` lines spread over the CityLots2 data set (the benchmarks' file,
/// `<target>/citylots2/citylots2.json.gz`, generated once when missing), written to
/// `dir/citylots2.json`.
fn citylots_slice(dir: &Path, n: usize) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let gz = target.join("citylots2").join("citylots2.json.gz");
    if !gz.is_file() {
        let side = target.join("citylots2").join("partial");
        std::fs::create_dir_all(&side).unwrap();
        let tmp = side.join("citylots2.json.gz");
        let status = Command::new("python3")
            .arg(root.join("benches/data/gen_citylots2.py"))
            .arg(&tmp)
            .stdout(Stdio::null())
            .status()
            .expect("python3 runs the CityLots2 generator");
        assert!(status.success());
        std::fs::rename(&tmp, &gz).unwrap();
    }
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(&gz)
        .output()
        .expect("gzip decompresses the data set");
    assert!(out.status.success());
    let lines: Vec<&[u8]> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let step = (lines.len() / n).max(1);
    let mut slice = Vec::new();
    for line in lines.iter().step_by(step).take(n) {
        slice.extend_from_slice(line);
        slice.push(b'\n');
    }
    let path = dir.join("citylots2.json");
    std::fs::write(&path, slice).unwrap();
    path
}

#[test]
fn one_thread_and_two_give_the_same_output() {
    let dir = tmp();
    let data = citylots_slice(dir.path(), 6000);
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/data/citylots2-rules.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut rules = serde_json::Map::new();
    for (bank, body) in doc["banks"].as_object().unwrap() {
        for (i, rule) in body["rules"].as_array().unwrap().iter().enumerate() {
            let pattern: serde_json::Value = serde_json::from_str(rule.as_str().unwrap()).unwrap();
            rules.insert(format!("{bank}#{i}"), pattern);
        }
    }
    std::fs::write(
        dir.path().join("rules.json"),
        serde_json::Value::Object(rules).to_string(),
    )
    .unwrap();
    let data = data.to_str().unwrap();
    let mut some_matched = false;
    for extra in [&[][..], &["--lazy"][..], &["-c"][..]] {
        let run = |threads: &str| {
            let mut args = vec!["route", threads, "--rules", "rules.json", data];
            args.extend_from_slice(extra);
            weir(dir.path(), &args, b"")
        };
        let one = run("-j1");
        let two = run("-j2");
        assert_eq!(one.code, 0, "{}", one.stderr);
        if extra.is_empty() {
            assert_eq!(one.lines().len(), 6000);
            some_matched = one.lines().iter().any(|l| *l != "[]");
        }
        assert_eq!(one.stdout, two.stdout, "{extra:?}");
        assert_eq!(one.stderr, two.stderr);
    }
    assert!(some_matched);
    // And filter, through a pipe.
    let bytes = std::fs::read(data).unwrap();
    let pattern = r#"{"properties": {"STREET": [{"prefix": "FU"}]}}"#;
    let one = weir(dir.path(), &["filter", "-j1", "--pattern", pattern], &bytes);
    let two = weir(dir.path(), &["filter", "-j2", "--pattern", pattern], &bytes);
    assert!(!one.stdout.is_empty());
    assert_eq!(one.stdout, two.stdout);
}

#[test]
fn filter_criteria_infer_the_lambda_source() {
    let dir = tmp();
    std::fs::write(
        dir.path().join("fc.json"),
        r#"{"Filters": [{"Pattern": "{\"body\": {\"kind\": [\"order\"]}}"}]}"#,
    )
    .unwrap();
    let sqs = |id: &str, body: &str| {
        serde_json::json!({"messageId": id, "eventSource": "aws:sqs", "body": body}).to_string()
    };
    let input = format!(
        "{}\n{}\n{}\n",
        sqs("1", r#"{"kind": "order"}"#),
        sqs("2", r#"{"kind": "refund"}"#),
        sqs("3", r#"{"kind": "order"}"#),
    );
    let r = weir(
        dir.path(),
        &["filter", "--filter-criteria", "fc.json"],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.lines().len(), 2);
    assert!(r.lines()[0].contains("\"messageId\":\"1\""));
    // Said once on stderr, not as an error.
    let notices: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(notices.len(), 1, "{}", r.stderr);
    assert!(
        notices[0].contains("aws:sqs") && notices[0].contains("--lambda sqs"),
        "{}",
        r.stderr
    );
    // Other sources.
    let kinesis = serde_json::json!({
        "eventSource": "aws:kinesis",
        "kinesis": {"data": "eyJraW5kIjogIm9yZGVyIn0="}
    });
    std::fs::write(
        dir.path().join("fck.json"),
        r#"{"Filters": [{"Pattern": "{\"data\": {\"kind\": [\"order\"]}}"}]}"#,
    )
    .unwrap();
    let r = weir(
        dir.path(),
        &["filter", "-c", "--filter-criteria", "fck.json"],
        format!("{kinesis}\n").as_bytes(),
    );
    assert_eq!(r.lines(), ["1"], "{}", r.stderr);
    assert!(r.stderr.contains("--lambda kinesis"), "{}", r.stderr);
    // An unknown source is an error with a hint; a plain event is matched as it is.
    let input =
        "{\"eventSource\": \"aws:sns\", \"body\": \"{}\"}\n{\"body\": {\"kind\": \"order\"}}\n";
    let r = weir(
        dir.path(),
        &["filter", "--filter-criteria", "fc.json"],
        input.as_bytes(),
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.lines(), ["{\"body\": {\"kind\": \"order\"}}"]);
    assert!(
        r.stderr.contains("<stdin>:1:1:") && r.stderr.contains("--lambda SOURCE"),
        "{}",
        r.stderr
    );
    // --lambda given: nothing is inferred.
    let r = weir(
        dir.path(),
        &["filter", "--lambda", "sqs", "--filter-criteria", "fc.json"],
        sqs("1", r#"{"kind": "order"}"#).as_bytes(),
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
}

#[test]
fn helpful_errors() {
    let dir = with_rules();
    // stdin named twice.
    let r = weir(dir.path(), &["route", "--rules", "-", "-"], b"{}");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("stdin can be read only once"),
        "{}",
        r.stderr
    );
    let r = weir(dir.path(), &["route", "--rules", "-"], b"{}");
    assert!(
        r.stderr.contains("stdin can be read only once"),
        "{}",
        r.stderr
    );
    let r = weir(
        dir.path(),
        &[
            "filter",
            "--pattern",
            r#"{"b": [{"exists": false}]}"#,
            "-",
            "-",
        ],
        b"{}",
    );
    assert!(
        r.stderr.contains("stdin can be read only once"),
        "{}",
        r.stderr
    );
    let r = weir(dir.path(), &["filter", "--pattern", "file://-"], b"{}");
    assert!(
        r.stderr.contains("stdin can be read only once"),
        "{}",
        r.stderr
    );
    let r = weir(
        dir.path(),
        &["test", "--event-pattern", "-", "--event", "-"],
        b"{}",
    );
    assert!(
        r.stderr.contains("stdin can be read only once"),
        "{}",
        r.stderr
    );
    // A path given where JSON is expected.
    let r = weir(
        dir.path(),
        &[
            "test",
            "--event-pattern",
            r#"{"a": [{"exists": false}]}"#,
            "--event",
            "rules.json",
        ],
        b"",
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("write file://rules.json"), "{}", r.stderr);
    let r = weir(dir.path(), &["filter", "--pattern", "pattern.json"], b"");
    assert!(
        r.stderr.contains("write file://pattern.json"),
        "{}",
        r.stderr
    );
    // Rules files: invalid JSON gets a caret; weir check reads them.
    std::fs::write(
        dir.path().join("bad.json"),
        "{\n  \"r\": {\"a\": [1]},\n  \"s\": {\"a\": [2]]\n}",
    )
    .unwrap();
    let r = weir(dir.path(), &["route", "--rules", "bad.json"], b"");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("3 |   \"s\": {\"a\": [2]]\n  |                 ^"),
        "{}",
        r.stderr
    );
    let r = weir(dir.path(), &["check", "--rules", "rules.json"], b"");
    assert_eq!((r.code, r.lines()), (0, vec!["ok: rules.json (2 rules)"]));
    std::fs::write(
        dir.path().join("badrule.json"),
        r#"{"r": {"a": [1]}, "s": {"a": 2}}"#,
    )
    .unwrap();
    let r = weir(dir.path(), &["check", "--rules", "badrule.json"], b"");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("badrule.json"), "{}", r.stderr);
    // Long lines are cut around the caret.
    let long = format!("{{\"pad\": \"{}\", \"a\": tru}}\n", "x".repeat(5000));
    let r = weir(
        dir.path(),
        &["route", "--rules", "rules.json"],
        long.as_bytes(),
    );
    assert!(r.stderr.len() < 1000, "{}", r.stderr.len());
    assert!(
        r.stderr.contains("...") && r.stderr.contains("tru"),
        "{}",
        r.stderr
    );
    let long_pattern = format!("{{\"pad\": [\"{}\"], \"a\": [1,]}}", "x".repeat(5000));
    let r = weir(dir.path(), &["filter", "--pattern", &long_pattern], b"");
    assert_eq!(r.code, 2);
    assert!(r.stderr.len() < 1000, "{}", r.stderr);
    // Flags that do nothing for a command are not offered.
    let r = weir(dir.path(), &["check", "--lazy", "rules.json"], b"");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--lazy"), "{}", r.stderr);
    let r = weir(dir.path(), &["route", "-v", "--rules", "rules.json"], b"");
    assert_eq!(r.code, 2);
}

#[test]
fn threads_flag_is_checked() {
    let dir = with_rules();
    let r = weir(
        dir.path(),
        &["route", "-j", "0", "--rules", "rules.json"],
        b"",
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--threads"), "{}", r.stderr);
    let r = weir(
        dir.path(),
        &[
            "route",
            "--threads",
            "3",
            "--no-progress",
            "--rules",
            "rules.json",
        ],
        b"{\"a\": 1}",
    );
    assert_eq!(r.lines(), ["[\"one\"]"]);
}

/// Files over the size weir maps are cut on the matching threads once they are JSONL: the
/// output (with line numbers) and the errors are those of one thread, of `--no-mmap` and of
/// a pipe, with blank lines, CRLF, indented, broken and non-object lines, and a line longer
/// than a batch, in every layout.
#[test]
fn mapped_files_give_what_reading_gives() {
    let dir = with_rules();
    let pad = "x".repeat(900);
    let mut jsonl = String::new();
    let mut events = 0;
    for i in 0..6000 {
        events += 1;
        match i % 97 {
            5 => jsonl.push_str(&format!("{{\"a\": {}, \"pad\": \"{pad}\"}}\r\n", i % 3)),
            17 => jsonl.push_str(&format!("   {{\"a\": {}}}  \n\n", i % 3)),
            29 => jsonl.push_str("{\"a\": tru}\n"),
            41 => jsonl.push_str("[1, 2]\n"),
            53 => jsonl.push_str(&format!(
                "{{\"a\": 1, \"long\": \"{}\"}}\n",
                "y".repeat(1_500_000)
            )),
            _ => jsonl.push_str(&format!("{{\"a\": {}, \"pad\": \"{pad}\"}}\n", i % 3)),
        }
    }
    jsonl.push_str("{\"a\": 2}");
    events += 1;
    assert!(jsonl.len() > 8 << 20);
    let pretty: String = (0..3000)
        .map(|i| format!("{{\n  \"a\": {},\n  \"pad\": \"{pad}\"\n}}\n", i % 3))
        .collect();
    let array = format!(
        "[\n{}\n]\n",
        (0..3000)
            .map(|i| format!("  {{\"a\": {}, \"pad\": \"{pad}\"}}", i % 3))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    // Many small events: a range cut on a matching thread holds more than it may cut, so
    // the rest of the range is cut and matched where results are handed on.
    let small: String = (0..300_000)
        .map(|i| match i % 1000 {
            7 => "{\"a\": tru}\n".to_string(),
            8 => "[1]\n".to_string(),
            _ => format!("{{\"a\": {}}}\n", i % 3),
        })
        .collect();
    for (file, body, count) in [
        ("small.jsonl", &small, 300_000),
        ("in.jsonl", &jsonl, events),
        ("pretty.json", &pretty, 3000),
        ("array.json", &array, 3000),
    ] {
        std::fs::write(dir.path().join(file), body).unwrap();
        let base = weir(
            dir.path(),
            &["route", "-n", "-j1", "--rules", "rules.json", file],
            b"",
        );
        assert_eq!(base.lines().len(), count, "{file}");
        assert!(base.lines().iter().any(|l| l.contains("\"one\"")));
        for args in [
            &["-j2"][..],
            &["-j3"],
            &["-j2", "--no-mmap"],
            &["-j1", "--no-mmap"],
        ] {
            let mut all = vec!["route", "-n", "--rules", "rules.json", file];
            all.extend_from_slice(args);
            let other = weir(dir.path(), &all, b"");
            assert_eq!(other.stdout, base.stdout, "{file} {args:?}");
            assert_eq!(other.stderr, base.stderr, "{file} {args:?}");
            assert_eq!(other.code, base.code);
        }
        let piped = weir(
            dir.path(),
            &["route", "-n", "-j2", "--rules", "rules.json"],
            body.as_bytes(),
        );
        assert_eq!(piped.stdout, base.stdout, "{file} through a pipe");
    }
    // Stopping early on a mapped file: the same matches, whatever the threads.
    for stop in [&["-m", "700"][..], &["-q"]] {
        let run = |threads: &str| {
            let mut args = vec!["filter", threads, "--pattern", r#"{"a": [2]}"#, "in.jsonl"];
            args.extend_from_slice(stop);
            weir(dir.path(), &args, b"")
        };
        let (one, two) = (run("-j1"), run("-j2"));
        // Broken lines come before the 700th match: exit 2 with -m, 0 with -q (as grep).
        assert_eq!(
            one.code,
            if stop == ["-q"] { 0 } else { 2 },
            "{}",
            one.stderr
        );
        assert_eq!(one.stdout, two.stdout, "{stop:?}");
        assert_eq!((two.code, &two.stderr), (one.code, &one.stderr));
        let want = if stop == ["-q"] { 0 } else { 700 };
        assert_eq!(two.lines().len(), want);
    }
    // The broken lines are reported at their lines (counted across the parts).
    let r = weir(
        dir.path(),
        &["route", "-j2", "--rules", "rules.json", "in.jsonl"],
        b"",
    );
    let first_broken = jsonl.lines().position(|l| l == "{\"a\": tru}").unwrap() + 1;
    assert!(
        r.stderr
            .contains(&format!("in.jsonl:{first_broken}:7: invalid event")),
        "{}",
        &r.stderr[..r.stderr.len().min(600)]
    );
}

/// A mapped file that another process shrinks while weir reads it: every event up to the new
/// end is printed, then the file is reported (exit 2), and nothing is printed past it. weir
/// is held back by not reading its output until the file is cut.
#[test]
fn a_file_that_shrinks_while_mapped_is_reported_after_what_it_still_holds() {
    let dir = tmp();
    let line = format!("{{\"a\": 1, \"pad\": \"{}\"}}\n", "x".repeat(1000));
    let lines = 24_000;
    let keep = lines / 2;
    for threads in ["-j1", "-j2"] {
        std::fs::write(dir.path().join("big.jsonl"), line.repeat(lines)).unwrap();
        let args = ["filter", threads, "--pattern", r#"{"a": [1]}"#, "big.jsonl"];
        let mut child = spawn(dir.path(), &args);
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert_eq!(first, line);
        // weir now waits on the full pipe, a few MB in; the file loses its second half.
        std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("big.jsonl"))
            .unwrap()
            .set_len((keep * line.len()) as u64)
            .unwrap();
        let printed = 1 + out
            .lines()
            .map(|l| assert_eq!(l.unwrap() + "\n", line))
            .count();
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(printed, keep, "{threads}: {stderr}");
        assert_eq!(status.code(), Some(2), "{threads}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "big.jsonl: the file shrank or could not be read while it was read; what it held from byte {} on is not read",
                keep * line.len()
            )),
            "{threads}: {stderr}"
        );
    }
}

/// A mapped stdin is left at its end, as reading it would leave it, for what runs next.
#[test]
fn a_mapped_stdin_is_left_where_reading_stopped() {
    use std::io::Seek;
    let dir = with_rules();
    let body = "{\"a\": 1}\n".repeat(300_000);
    std::fs::write(dir.path().join("in.jsonl"), &body).unwrap();
    let file = std::fs::File::open(dir.path().join("in.jsonl")).unwrap();
    let mut shared = file.try_clone().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["route", "--count", "--rules", "rules.json"])
        .current_dir(dir.path())
        .stdin(Stdio::from(file))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"one\":300000,\"two\":0}\n"
    );
    assert_eq!(shared.stream_position().unwrap(), body.len() as u64);
}
