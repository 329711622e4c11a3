//! Set-up shared by the CityLots2 benchmarks (`benches/citylots2.rs`, `benches/instructions.rs`):
//! the data set, the rule banks of `benches/data/citylots2-rules.json`, and the count checks that
//! every benchmark runs before it measures anything (a wrong answer must not look fast).
//!
//! Data: `WEIR_CITYLOTS2=/path/file.json[.gz]` if set, else `<target>/citylots2/citylots2.json.gz`,
//! written by `python3 benches/data/gen_citylots2.py` when it is missing. `<target>` is
//! `CARGO_TARGET_DIR` (at run time, else at build time), else `target/` of this package.

#![allow(dead_code)] // each bench binary uses its own part of this module

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use weir::{BatchResults, Matcher, Pattern};

/// Lines in the generated data set; the counts in the rules file are for exactly these lines.
pub const FULL_LINES: usize = 213_068;

/// The rules file, compiled into the bench binary.
const RULES_JSON: &str = include_str!("../data/citylots2-rules.json");

/// One benchmark's rule set: a bank of the rules file or a combo of banks.
#[derive(Clone, Debug)]
pub struct Suite {
    /// Bank or combo name, e.g. `EXACT`, `COMBO`.
    pub name: String,
    /// `(rule name, pattern text, matches over the full data set)`; rule names are `BANK#i`.
    pub rules: Vec<(String, String, u64)>,
}

/// The 14 banks in file order, then `PARTIAL_COMBO` and `COMBO`.
pub fn suites() -> Vec<Suite> {
    let doc: serde_json::Value = serde_json::from_str(RULES_JSON).expect("rules file is JSON");
    let banks = doc["banks"].as_object().expect("rules file has `banks`");
    let mut out = Vec::new();
    for (name, bank) in banks {
        let rules = bank["rules"].as_array().expect("bank has `rules`");
        let matches = bank["matches"].as_array().expect("bank has `matches`");
        assert_eq!(
            rules.len(),
            matches.len(),
            "bank {name}: rules and matches differ in length"
        );
        let rules = rules
            .iter()
            .zip(matches)
            .enumerate()
            .map(|(i, (r, m))| {
                let text = r.as_str().expect("rule is a string").to_string();
                let count = m.as_u64().expect("match count is a number");
                (format!("{name}#{i}"), text, count)
            })
            .collect();
        out.push(Suite {
            name: name.clone(),
            rules,
        });
    }
    let combos = doc["combos"].as_object().expect("rules file has `combos`");
    for (name, members) in combos {
        let mut rules = Vec::new();
        for member in members.as_array().expect("combo is a list") {
            let member = member.as_str().expect("combo member is a bank name");
            let bank = out
                .iter()
                .find(|s| s.name == member)
                .unwrap_or_else(|| panic!("combo {name} names unknown bank {member}"));
            rules.extend(bank.rules.iter().cloned());
        }
        out.push(Suite {
            name: name.clone(),
            rules,
        });
    }
    // Keep the file's order (serde_json's map sorts its keys).
    out.sort_by_key(|s| RULES_JSON.find(&format!("\"{}\"", s.name)));
    out
}

/// The target directory benchmarks write into.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = option_env!("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
}

/// The data file: `WEIR_CITYLOTS2`, or the cached generated file (generated when missing).
pub fn data_path() -> PathBuf {
    if let Some(path) = std::env::var_os("WEIR_CITYLOTS2") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "WEIR_CITYLOTS2={} is not a file",
            path.display()
        );
        return path;
    }
    let path = target_dir().join("citylots2").join("citylots2.json.gz");
    if !path.is_file() {
        generate(&path);
    }
    path
}

/// Runs the generator into a temporary file and renames it, so an interrupted run leaves no
/// half-written cache behind.
fn generate(path: &Path) {
    let dir = path.parent().expect("cache path has a parent");
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data/gen_citylots2.py");
    // Same file name in a side directory: gzip records the name, and the bytes should not vary.
    let side = dir.join("partial");
    std::fs::create_dir_all(&side)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", side.display()));
    let tmp = side.join(path.file_name().expect("cache path has a file name"));
    eprintln!(
        "citylots2: generating {} (about 30 s, once)",
        path.display()
    );
    let status = Command::new("python3")
        .arg(&script)
        .arg(&tmp)
        .status()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
    assert!(status.success(), "{} failed: {status}", script.display());
    std::fs::rename(&tmp, path)
        .unwrap_or_else(|e| panic!("cannot rename {} to {}: {e}", tmp.display(), path.display()));
}

/// The events: lines of the data file (blank lines dropped), at most `limit`.
pub struct Data {
    /// One event per line, without the newline.
    pub lines: Vec<&'static [u8]>,
    /// Where they came from, for the output.
    pub source: String,
    /// Whether these are the whole generated data set, so the rules file's counts apply.
    pub full: bool,
}

/// Reads the data file (gzip or plain), keeping at most `limit` lines. The buffer is leaked:
/// benchmarks hold the events for the whole run.
pub fn load(limit: Option<usize>) -> Data {
    let path = data_path();
    let file = File::open(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let gz = reader
        .fill_buf()
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .unwrap_or(false);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::bufread::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut buf = Vec::new();
    let mut ends = Vec::new();
    let mut eof = false;
    while limit.is_none_or(|n| ends.len() < n) {
        let start = buf.len();
        let n = reader
            .read_until(b'\n', &mut buf)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        if n == 0 {
            eof = true;
            break;
        }
        let mut end = buf.len();
        while end > start && matches!(buf[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        if end > start {
            ends.push((start, end));
        } else {
            buf.truncate(start);
        }
    }
    if !eof {
        let mut probe = [0u8; 1];
        eof = matches!(reader.read(&mut probe), Ok(0));
    }
    let buf: &'static [u8] = Box::leak(buf.into_boxed_slice());
    let lines: Vec<&'static [u8]> = ends.iter().map(|&(s, e)| &buf[s..e]).collect();
    // The file's own counts apply only to the whole generated set, read to its end.
    let full = eof && lines.len() == FULL_LINES;
    Data {
        lines,
        source: path.display().to_string(),
        full,
    }
}

/// Keeps every `k`-th line so that about `n` lines remain, spread over the whole set.
pub fn spread(lines: &[&'static [u8]], n: usize) -> Vec<&'static [u8]> {
    let step = (lines.len() / n.max(1)).max(1);
    lines.iter().step_by(step).take(n).copied().collect()
}

/// Expected match counts of `suite`'s rules on `data`: from the rules file for the whole
/// generated set, else from the reference interpreter (`weir_reference`).
pub struct Oracle {
    /// Events parsed once for the reference interpreter (empty when the file's counts apply).
    values: Vec<serde_json::Value>,
    full: bool,
    cache: HashMap<String, u64>,
}

impl Oracle {
    /// An oracle for `data`.
    pub fn new(data: &Data) -> Oracle {
        Oracle::for_lines(&data.lines, data.full)
    }

    /// An oracle for `lines`; `full` says the rules file's counts apply to them.
    pub fn for_lines(lines: &[&[u8]], full: bool) -> Oracle {
        let values = if full {
            Vec::new()
        } else {
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    serde_json::from_slice(l)
                        .unwrap_or_else(|e| panic!("event {i} is not JSON: {e}"))
                })
                .collect()
        };
        Oracle {
            values,
            full,
            cache: HashMap::new(),
        }
    }

    /// Where the expected counts come from, for the output.
    pub fn describe(&self) -> &'static str {
        if self.full {
            "expected counts: from benches/data/citylots2-rules.json (whole data set)"
        } else {
            "expected counts: NOT from the rules file (not the whole data set); computed with \
             weir_reference on these lines"
        }
    }

    /// The expected counts of `suite`'s rules, in order.
    pub fn expected(&mut self, suite: &Suite) -> Vec<u64> {
        suite
            .rules
            .iter()
            .map(|(_, text, file_count)| {
                if self.full {
                    return *file_count;
                }
                if let Some(&n) = self.cache.get(text) {
                    return n;
                }
                let pattern = Pattern::parse(text)
                    .unwrap_or_else(|e| panic!("rule {text} does not parse: {e}"));
                let n = self
                    .values
                    .iter()
                    .filter(|v| weir_reference::matches(&pattern, v))
                    .count() as u64;
                self.cache.insert(text.clone(), n);
                n
            })
            .collect()
    }
}

/// A matcher holding `rules` (`(name, pattern)`); rule `i` gets the id with index `i`.
pub fn build_matcher<'a>(rules: impl IntoIterator<Item = (&'a str, &'a str)>) -> Matcher {
    let mut m = Matcher::new();
    for (i, (name, text)) in rules.into_iter().enumerate() {
        let id = m
            .add_rule(name, text)
            .unwrap_or_else(|e| panic!("rule {name} = {text} is refused: {e}"));
        assert_eq!(id.index(), i, "rule {name}: unexpected id");
    }
    m
}

/// The matcher of a suite.
pub fn suite_matcher(suite: &Suite) -> Matcher {
    build_matcher(suite.rules.iter().map(|(n, t, _)| (n.as_str(), t.as_str())))
}

/// Per-rule match counts of a batch result; panics on any event error.
pub fn counts_of(results: &BatchResults, rules: usize) -> Vec<u64> {
    let mut counts = vec![0u64; rules];
    for (i, r) in results.iter().enumerate() {
        let ids = r.unwrap_or_else(|e| panic!("event {i} refused: {e}"));
        for id in ids {
            counts[id.index()] += 1;
        }
    }
    counts
}

/// Per-rule match counts of `m` over `lines` (single thread, batch API).
pub fn weir_counts(m: &Matcher, lines: &[&[u8]], rules: usize) -> Vec<u64> {
    let mut results = BatchResults::new();
    m.match_batch(lines.iter().copied(), &mut results);
    counts_of(&results, rules)
}

/// `Err` listing every rule whose count differs from the expected one.
pub fn compare(
    engine: &str,
    suite: &str,
    names: &[&str],
    texts: &[&str],
    expected: &[u64],
    got: &[u64],
) -> Result<(), String> {
    let mut bad = String::new();
    for i in 0..expected.len() {
        if expected[i] != got[i] {
            bad.push_str(&format!(
                "\n  {}: {}  expected {}, got {}",
                names[i], texts[i], expected[i], got[i]
            ));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{engine} gives WRONG match counts on {suite}:{bad}"
        ))
    }
}

/// Checks weir's counts for `suite` on `lines`, panicking loudly on any difference.
pub fn check_weir(suite: &Suite, m: &Matcher, lines: &[&[u8]], expected: &[u64]) {
    let got = weir_counts(m, lines, suite.rules.len());
    let names: Vec<&str> = suite.rules.iter().map(|r| r.0.as_str()).collect();
    let texts: Vec<&str> = suite.rules.iter().map(|r| r.1.as_str()).collect();
    if let Err(msg) = compare("weir", &suite.name, &names, &texts, expected, &got) {
        panic!("{msg}");
    }
}
