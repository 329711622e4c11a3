//! Peak memory of the `weir` binary over a 2 GB stream written into its stdin (never to
//! disk), and over a 256 MiB file: it must not grow with the input.
//!
//! Ignored by `cargo test` (a debug build would take minutes); `scripts/test-all` runs it on
//! the release build: `cargo test --release -p weir-cli --test memory -- --ignored`.

use std::io::{Read, Write};

mod harness;

/// The bound: peak resident memory, beyond the largest event (a few hundred bytes here).
const BOUND_KB: u64 = 64 * 1024;

/// Input written: 2 GiB.
const TOTAL: usize = 2 << 30;

/// 1 MiB of varied events (JSONL), `matches` of which match the rule `{"k": ["hit"]}`.
fn chunk(array: bool) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut matches = 0;
    let mut i = 0u64;
    while out.len() < (1 << 20) - 512 {
        let k = if i.is_multiple_of(7) { "hit" } else { "miss" };
        matches += usize::from(k == "hit");
        let line = format!(
            "{{\"id\": {i}, \"k\": \"{k}\", \"nested\": {{\"a\": [1, 2.5, \"x{}\"], \"b\": null}}, \"t\": \"2026-01-01T00:00:{:02}Z\"}}",
            i * 31 % 1000,
            i % 60
        );
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(if array { b",\n" } else { b"\n" });
        i += 1;
    }
    (out, matches)
}

/// `VmHWM` (peak resident set) of process `pid`, in kB.
fn peak_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc status");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB")
}

/// Streams 2 GiB through `weir ARGS` and returns (stdout, peak kB, expected matches).
fn stream(args: &[&str], array: bool) -> (String, u64, usize) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.json"), r#"{"hit": {"k": ["hit"]}}"#).unwrap();
    let mut child = harness::spawn(dir.path(), args);
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).unwrap();
        out
    });
    let (block, per_block) = chunk(array);
    let mut stdin = child.stdin.take().unwrap();
    let blocks = TOTAL / block.len();
    if array {
        stdin.write_all(b"[").unwrap();
    }
    for _ in 0..blocks {
        stdin.write_all(&block).unwrap();
    }
    if array {
        stdin.write_all(b"{\"k\": \"end\"}]").unwrap();
    }
    stdin.flush().unwrap();
    // The peak so far, read while weir still runs (it exits once stdin is closed).
    let peak = peak_kb(pid);
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{args:?}: {status}");
    (reader.join().unwrap(), peak, blocks * per_block)
}

#[test]
#[ignore = "2 GB through the release binary: scripts/test-all runs it with --release --ignored"]
fn peak_memory_does_not_grow_with_the_input() {
    for (args, array) in [
        (&["route", "--count", "--rules", "rules.json"][..], false),
        (
            &["filter", "-c", "-j1", "--pattern", r#"{"k": ["hit"]}"#][..],
            true,
        ),
        (
            &["route", "--lazy", "--count", "--rules", "rules.json"][..],
            false,
        ),
    ] {
        let started = std::time::Instant::now();
        let (out, peak, expected) = stream(args, array);
        let want = if args[0] == "route" {
            format!("{{\"hit\":{expected}}}\n")
        } else {
            format!("{expected}\n")
        };
        assert_eq!(out, want, "{args:?}");
        eprintln!(
            "{args:?} (array: {array}): 2 GiB in {:.1} s, peak RSS {peak} kB",
            started.elapsed().as_secs_f64()
        );
        assert!(
            peak < BOUND_KB,
            "{args:?}: peak RSS {peak} kB over 2 GiB, bound {BOUND_KB} kB"
        );
    }
}

#[test]
#[ignore = "a 256 MiB file through the release binary: scripts/test-all runs it with --release --ignored"]
fn peak_memory_on_a_file_stays_small() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.json"), r#"{"hit": {"k": ["hit"]}}"#).unwrap();
    let (block, per_block) = chunk(false);
    let events_per_block = block.iter().filter(|&&b| b == b'\n').count();
    let blocks = 256;
    {
        let mut file = std::fs::File::create(dir.path().join("big.jsonl")).unwrap();
        for _ in 0..blocks {
            file.write_all(&block).unwrap();
        }
    }
    for threads in ["-j1", "-j2", "-j16"] {
        // The file, then stdin kept open: once every line of the file is out, weir waits
        // on stdin and its peak can be read.
        let args = ["route", threads, "--rules", "rules.json", "big.jsonl", "-"];
        let mut child = harness::spawn(dir.path(), &args);
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        let (mut seen, mut hits) = (0, 0);
        while seen < blocks * events_per_block {
            let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(120)) else {
                let _ = child.kill();
                panic!("{threads}: only {seen} lines while weir waits on stdin");
            };
            hits += usize::from(line == "[\"hit\"]");
            seen += 1;
        }
        let peak = peak_kb(child.id());
        drop(stdin);
        assert!(lines.recv().is_err(), "more lines than events");
        assert!(child.wait().unwrap().success());
        assert_eq!(hits, blocks * per_block);
        eprintln!("route {threads} over a 256 MiB file: peak RSS {peak} kB");
        assert!(
            peak < BOUND_KB,
            "{threads}: peak RSS {peak} kB, bound {BOUND_KB} kB"
        );
    }
}

/// A 64 MiB file of the smallest events there are (`{}`, 3 bytes a line, 22M of them): what
/// weir holds an event must not add up to more than the bound, whatever the threads. The
/// file, then stdin kept open: once every line of the file is out, weir waits on stdin and
/// its peak can be read.
#[test]
#[ignore = "a 64 MiB file through the release binary: scripts/test-all runs it with --release --ignored"]
fn peak_memory_on_tiny_events_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.json"), r#"{"hit": {"k": ["hit"]}}"#).unwrap();
    let lines = (64 << 20) / 3;
    std::fs::write(dir.path().join("tiny.jsonl"), b"{}\n".repeat(lines)).unwrap();
    for args in [
        &["-j1"][..],
        &["-j2"],
        &["-j16"],
        &["-j2", "--no-mmap"],
        &["-j2", "--lazy"],
    ] {
        let mut all = vec!["route", "--rules", "rules.json", "tiny.jsonl", "-"];
        all.extend_from_slice(args);
        let mut child = harness::spawn(dir.path(), &all);
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (mut seen, mut buf) = (0, vec![0u8; 1 << 16]);
        while seen < lines {
            let n = stdout.read(&mut buf).unwrap();
            assert!(n > 0, "{args:?}: only {seen} lines");
            assert!(buf[..n].iter().all(|&b| b"[]\n".contains(&b)), "{args:?}");
            seen += buf[..n].iter().filter(|&&b| b == b'\n').count();
        }
        let peak = peak_kb(child.id());
        drop(stdin);
        assert_eq!(
            stdout.read(&mut buf).unwrap(),
            0,
            "{args:?}: more lines than events"
        );
        assert_eq!(child.wait().unwrap().code(), Some(1));
        eprintln!("route {args:?} over 64 MiB of {{}} lines: peak RSS {peak} kB");
        assert!(
            peak < BOUND_KB,
            "{args:?}: peak RSS {peak} kB, bound {BOUND_KB} kB"
        );
    }
}
