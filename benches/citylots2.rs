//! CityLots2 benchmarks (criterion): every rule bank and both combos over the data set, weir
//! beside the `quamina` crate, weir's validating reading beside serde_json checking the same
//! lines, 1 vs 2 threads, rule-count scaling, compile time and memory per rule. See
//! docs/PERFORMANCE.md.
//!
//! `cargo bench --bench citylots2` runs it all; `WEIR_BENCH_LINES=20000 cargo bench --bench
//! citylots2` takes only the first N lines (expected counts then come from `weir_reference`).
//! Every benchmark first checks each rule's match count and panics on a wrong one.

mod common;

use std::alloc::System;
use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use common::{Data, Oracle, Suite};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use weir::{BatchResults, EventReading};

/// Counts every allocation of this bench binary, for the memory-per-rule report.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Lines used when the binary runs as a test (`cargo test --benches`), to stay quick.
const TEST_MODE_LINES: usize = 2_000;

fn main() {
    check_allocator_counts();
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let limit = match std::env::var("WEIR_BENCH_LINES") {
        Ok(v) => Some(
            v.trim()
                .parse::<usize>()
                .unwrap_or_else(|_| panic!("WEIR_BENCH_LINES={v:?} is not a number of lines")),
        ),
        Err(_) if !bench_mode => Some(TEST_MODE_LINES),
        Err(_) => None,
    };
    let data = common::load(limit);
    let mut oracle = Oracle::new(&data);
    println!(
        "citylots2: {} events from {}",
        data.lines.len(),
        data.source
    );
    println!("citylots2: {}", oracle.describe());
    let measured = commit();
    println!("citylots2: weir at commit {measured}");

    // Quick runs keep their estimates apart, so criterion never compares them with full runs.
    let out_dir = match (data.full, limit) {
        (false, Some(n)) => common::target_dir().join(format!("criterion-first-{n}-lines")),
        _ => common::target_dir().join("criterion"),
    };
    let mut c = Criterion::default()
        .output_directory(&out_dir)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut run = Run {
        out_dir,
        start: SystemTime::now(),
        filter: Filter::from_args(),
        summary: String::new(),
    };
    let suites = common::suites();

    banks(&mut c, &mut run, &data, &mut oracle, &suites);
    validation(&mut c, &mut run, &data, &mut oracle, &suites);
    threads(&mut c, &mut run, &data, &mut oracle, &suites);
    scaling_exact(&mut c, &mut run, &data);
    scaling_mixed(&mut c, &mut run, &data, &mut oracle, &suites);
    compile(&mut c, &mut run, &data, &suites);
    memory(&mut run, &data, &suites);

    c.final_summary();
    let path = common::target_dir().join("citylots2").join("last-run.md");
    let header = format!(
        "# citylots2 bench run\n\nweir commit {} (when the run started); {} events; {}\n",
        measured,
        data.lines.len(),
        oracle.describe()
    );
    if std::fs::write(&path, header + &run.summary).is_ok() {
        println!("citylots2: tables written to {}", path.display());
    }
}

/// What this run knows beyond criterion: where its estimates go and which ids are selected.
struct Run {
    out_dir: PathBuf,
    start: SystemTime,
    filter: Filter,
    summary: String,
}

impl Run {
    /// Median time of one iteration of `group/id`, if criterion measured it in this run.
    fn median(&self, group: &str, id: &str) -> Option<Duration> {
        let path = self
            .out_dir
            .join(group)
            .join(id)
            .join("new")
            .join("estimates.json");
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        if modified < self.start {
            return None;
        }
        let text = std::fs::read_to_string(&path).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        let ns = v["median"]["point_estimate"].as_f64()?;
        Some(Duration::from_secs_f64(ns / 1e9))
    }

    /// Prints a table and keeps it for the summary file.
    fn table(&mut self, title: &str, header: &[&str], rows: &[Vec<String>]) {
        if rows.is_empty() {
            return;
        }
        let mut t = format!(
            "\n## {title}\n\n| {} |\n|{}\n",
            header.join(" | "),
            "---|".repeat(header.len())
        );
        for r in rows {
            t.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        println!("{t}");
        self.summary.push_str(&t);
    }
}

/// The benchmark-name filter given on the command line, read the way criterion reads it
/// closely enough to skip expensive set-up of benchmarks that will not run. A filter with
/// regex syntax selects everything (criterion then does the real filtering).
struct Filter(Option<String>);

impl Filter {
    fn from_args() -> Filter {
        const WITH_VALUE: &[&str] = &[
            "--save-baseline",
            "-s",
            "--baseline",
            "-b",
            "--baseline-lenient",
            "--load-baseline",
            "--sample-size",
            "--warm-up-time",
            "--measurement-time",
            "--nresamples",
            "--noise-threshold",
            "--confidence-level",
            "--significance-level",
            "--plotting-backend",
            "--output-format",
            "--color",
            "-c",
            "--format",
            "--profile-time",
        ];
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            if WITH_VALUE.contains(&a.as_str()) {
                args.next();
            } else if !a.starts_with('-') {
                return Filter(Some(a));
            }
        }
        Filter(None)
    }

    fn selects(&self, id: &str) -> bool {
        match &self.0 {
            None => true,
            Some(f) if f.chars().any(|c| "\\.^$*+?()[]{}|".contains(c)) => true,
            Some(f) => id.contains(f.as_str()),
        }
    }

    /// Whether some benchmark of `group` may be selected (conservative).
    fn group(&self, group: &str) -> bool {
        match &self.0 {
            None => true,
            Some(f) => self.selects(group) || f.contains(group) || f.contains('/'),
        }
    }
}

/// The commit measured (best effort, for the output).
fn commit() -> String {
    std::process::Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// A group whose every iteration is one pass over `events` events (flat sampling: each pass
/// takes long enough on its own).
fn pass_group<'c>(c: &'c mut Criterion, name: &str, events: usize) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(events as u64));
    g
}

/// Times `match_batch` of `m` over `lines` as benchmark `id`, after checking every rule's
/// count of `suite` once, before anything is timed.
fn bench_batch(
    g: &mut BenchmarkGroup<WallTime>,
    id: BenchmarkId,
    suite: &Suite,
    m: &weir::Matcher,
    lines: &[&[u8]],
    expected: &[u64],
) {
    let mut checked = false;
    let mut results = BatchResults::new();
    g.bench_function(id, |b| {
        if !checked {
            common::check_weir(suite, m, lines, expected);
            checked = true;
        }
        b.iter(|| {
            m.match_batch(lines.iter().copied(), &mut results);
            black_box(results.len())
        })
    });
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else {
        format!("{:.0}K", r / 1e3)
    }
}

/// Quamina over a suite: `Err` when it refuses a rule.
fn quamina_for(suite: &Suite) -> Result<quamina::Quamina<usize>, String> {
    let mut q = quamina::Quamina::<usize>::new();
    for (i, (name, text, _)) in suite.rules.iter().enumerate() {
        q.add_pattern(i, text)
            .map_err(|e| format!("refuses {name} = {text}: {e}"))?;
    }
    Ok(q)
}

fn quamina_counts(
    q: &quamina::Quamina<usize>,
    lines: &[&[u8]],
    rules: usize,
) -> Result<Vec<u64>, String> {
    let mut counts = vec![0u64; rules];
    for (i, l) in lines.iter().enumerate() {
        let ids = q
            .matches_for_event(l)
            .map_err(|e| format!("refuses event {i}: {e}"))?;
        for id in ids {
            counts[id] += 1;
        }
    }
    Ok(counts)
}

/// Every bank and combo with weir, and with quamina where quamina gives the right counts;
/// then the events/s and weir/quamina tables from this run's medians.
fn banks(c: &mut Criterion, run: &mut Run, data: &Data, oracle: &mut Oracle, suites: &[Suite]) {
    const GROUP: &str = "banks";
    let lines = &data.lines;
    let mut g = pass_group(c, GROUP, lines.len());
    let mut quamina_status: Vec<(String, String)> = Vec::new();
    for suite in suites {
        let expected = oracle.expected(suite);
        // weir twice: validating every event (the default) and reading lazily (only what
        // the rules need, as quamina does).
        for (label, reading) in [
            ("weir", EventReading::Validate),
            ("weir-lazy", EventReading::Lazy),
        ] {
            let id = format!("{label}/{}", suite.name);
            if !run.filter.selects(&format!("{GROUP}/{id}")) {
                continue;
            }
            let mut m = common::suite_matcher(suite);
            m.set_reading(reading);
            let id = BenchmarkId::new(label, &suite.name);
            bench_batch(&mut g, id, suite, &m, lines, &expected);
        }
        let qid = format!("{GROUP}/quamina/{}", suite.name);
        if !run.filter.selects(&qid) {
            continue;
        }
        let verdict = quamina_for(suite).and_then(|q| {
            let got = quamina_counts(&q, lines, suite.rules.len())?;
            let names: Vec<&str> = suite.rules.iter().map(|r| r.0.as_str()).collect();
            let texts: Vec<&str> = suite.rules.iter().map(|r| r.1.as_str()).collect();
            common::compare("quamina", &suite.name, &names, &texts, &expected, &got)?;
            Ok(q)
        });
        match verdict {
            Ok(q) => {
                quamina_status.push((suite.name.clone(), "supported, counts right".into()));
                g.bench_function(BenchmarkId::new("quamina", &suite.name), |b| {
                    b.iter(|| {
                        let mut n = 0usize;
                        for l in lines.iter() {
                            n += q.matches_for_event(l).map_or(0, |v| v.len());
                        }
                        black_box(n)
                    })
                });
            }
            Err(why) => {
                println!("quamina: {} UNSUPPORTED, not timed: {why}", suite.name);
                let short = why.lines().next().unwrap_or("").to_string();
                quamina_status.push((suite.name.clone(), format!("unsupported: {short}")));
            }
        }
    }
    g.finish();

    let mut rows = Vec::new();
    for suite in suites {
        let w = run.median(GROUP, &format!("weir/{}", suite.name));
        let l = run.median(GROUP, &format!("weir-lazy/{}", suite.name));
        let q = run.median(GROUP, &format!("quamina/{}", suite.name));
        if w.is_none() && l.is_none() && q.is_none() {
            continue;
        }
        let rate =
            |d: Option<Duration>| d.map_or("-".into(), |d| fmt_rate(per_sec(lines.len(), d)));
        let unsupported = quamina_status
            .iter()
            .any(|(n, s)| *n == suite.name && s.starts_with("unsupported"));
        let ratio = |w: Option<Duration>| match (w, q) {
            (Some(w), Some(q)) => format!("{:.2}", q.as_secs_f64() / w.as_secs_f64()),
            _ if unsupported => "unsupported".into(),
            _ => "-".into(),
        };
        let ruler = EVENT_RULER
            .iter()
            .find(|(n, _)| *n == suite.name)
            .map(|&(_, r)| r);
        let vs_ruler = |d: Option<Duration>| match (d, ruler) {
            (Some(d), Some(r)) => format!("{:.1}x", per_sec(lines.len(), d) / r),
            _ => "-".into(),
        };
        rows.push(vec![
            suite.name.clone(),
            rate(w),
            rate(l),
            rate(q),
            ratio(w),
            ratio(l),
            vs_ruler(w),
            vs_ruler(l),
        ]);
    }
    run.table(
        "Banks: events/s (median of this run) and speed ratios to quamina (>1: weir faster); \
         weir validates every event, weir-lazy reads only what the rules need; \
         *event-ruler is not run here: its events/s are fixed reference figures (EVENT_RULER)",
        &[
            "bank",
            "weir events/s",
            "weir-lazy events/s",
            "quamina events/s",
            "weir/quamina",
            "weir-lazy/quamina",
            "weir/event-ruler*",
            "weir-lazy/event-ruler*",
        ],
        &rows,
    );

    let unsupported: Vec<Vec<String>> = quamina_status
        .into_iter()
        .filter(|(_, s)| s.starts_with("unsupported"))
        .map(|(n, s)| vec![n, s.replace('|', "\\|")])
        .collect();
    run.table("quamina: banks not timed", &["bank", "why"], &unsupported);
}

/// aws/event-ruler's events/s on the banks (event-ruler 2.0.1, OpenJDK 17, the same data on a
/// 2-core machine of the same class, best of several passes): reference figures for scale.
const EVENT_RULER: &[(&str, f64)] = &[
    ("EXACT", 215e3),
    ("WILDCARD", 181e3),
    ("PREFIX", 238e3),
    ("SUFFIX", 231e3),
    ("EQUALS_IGNORE_CASE", 222e3),
    ("COMPLEX_ARRAYS", 26e3),
    ("NUMERIC", 141e3),
    ("ANYTHING_BUT", 135e3),
    ("PARTIAL_COMBO", 49e3),
    ("COMBO", 13e3),
];

/// `match_batch` on this thread vs `par_match_batch` on rayon pools of 1 and 2 threads.
/// Validating reading against a yardstick that only checks JSON: weir matching the EXACT bank
/// while validating every byte, beside serde_json deserializing each line into `IgnoredAny`
/// (which checks the whole grammar and builds nothing).
fn validation(
    c: &mut Criterion,
    run: &mut Run,
    data: &Data,
    oracle: &mut Oracle,
    suites: &[Suite],
) {
    const GROUP: &str = "validation";
    let ids = ["weir-EXACT", "serde_json-IgnoredAny"].map(|f| format!("{GROUP}/{f}"));
    if !ids.iter().any(|id| run.filter.selects(id)) {
        return;
    }
    let lines = &data.lines;
    let suite = suites
        .iter()
        .find(|s| s.name == "EXACT")
        .expect("EXACT bank");
    let expected = oracle.expected(suite);
    let m = common::suite_matcher(suite);
    let mut g = pass_group(c, GROUP, lines.len());
    let id = BenchmarkId::from_parameter("weir-EXACT");
    bench_batch(&mut g, id, suite, &m, lines, &expected);
    let serde_ok = |l: &[u8]| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok();
    let mut checked = false;
    g.bench_function("serde_json-IgnoredAny", |b| {
        if !checked {
            let valid = lines.iter().filter(|l| serde_ok(l)).count();
            assert_eq!(valid, lines.len(), "serde_json refuses some lines");
            checked = true;
        }
        b.iter(|| black_box(lines.iter().filter(|l| serde_ok(l)).count()))
    });
    g.finish();
    let weir = run.median(GROUP, "weir-EXACT");
    let serde = run.median(GROUP, "serde_json-IgnoredAny");
    if let (Some(weir), Some(serde)) = (weir, serde) {
        run.table(
            "Validation: weir matching EXACT while validating every byte, beside serde_json only checking the same lines",
            &["weir events/s", "serde_json events/s", "weir/serde_json"],
            &[vec![
                fmt_rate(per_sec(lines.len(), weir)),
                fmt_rate(per_sec(lines.len(), serde)),
                format!("{:.2}", serde.as_secs_f64() / weir.as_secs_f64()),
            ]],
        );
    }
}

fn threads(c: &mut Criterion, run: &mut Run, data: &Data, oracle: &mut Oracle, suites: &[Suite]) {
    const GROUP: &str = "threads";
    let lines = &data.lines;
    let pools: Vec<(usize, rayon::ThreadPool)> = [1usize, 2]
        .into_iter()
        .map(|n| {
            (
                n,
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .expect("rayon pool"),
            )
        })
        .collect();
    let mut g = pass_group(c, GROUP, lines.len());
    let picked: Vec<&Suite> = suites
        .iter()
        .filter(|s| s.name == "EXACT" || s.name == "COMBO")
        .collect();
    for suite in &picked {
        let ids = ["match_batch", "par_1", "par_2"].map(|f| format!("{GROUP}/{f}/{}", suite.name));
        if !ids.iter().any(|id| run.filter.selects(id)) {
            continue;
        }
        let expected = oracle.expected(suite);
        let m = common::suite_matcher(suite);
        let id = BenchmarkId::new("match_batch", &suite.name);
        bench_batch(&mut g, id, suite, &m, lines, &expected);
        for (n, pool) in &pools {
            let mut checked = false;
            g.bench_function(BenchmarkId::new(format!("par_{n}"), &suite.name), |b| {
                if !checked {
                    let r = pool.install(|| m.par_match_batch(lines));
                    assert_eq!(r.len(), lines.len(), "par_match_batch lost events");
                    let got = common::counts_of(&r, suite.rules.len());
                    assert_eq!(
                        got, expected,
                        "par_match_batch on {n} threads: WRONG counts on {}",
                        suite.name
                    );
                    checked = true;
                }
                b.iter(|| black_box(pool.install(|| m.par_match_batch(lines)).len()))
            });
        }
    }
    g.finish();
    let mut rows = Vec::new();
    for suite in &picked {
        let one = run.median(GROUP, &format!("match_batch/{}", suite.name));
        let p1 = run.median(GROUP, &format!("par_1/{}", suite.name));
        let p2 = run.median(GROUP, &format!("par_2/{}", suite.name));
        if let (Some(one), Some(p1), Some(p2)) = (one, p1, p2) {
            rows.push(vec![
                suite.name.clone(),
                fmt_rate(per_sec(lines.len(), one)),
                fmt_rate(per_sec(lines.len(), p1)),
                fmt_rate(per_sec(lines.len(), p2)),
                format!("{:.2}", one.as_secs_f64() / p2.as_secs_f64()),
            ]);
        }
    }
    run.table(
        "Threads: events/s",
        &[
            "bank",
            "match_batch (1 thread)",
            "par_match_batch, 1 thread",
            "par_match_batch, 2 threads",
            "2 threads / match_batch",
        ],
        &rows,
    );
}

/// `properties.MAPBLKLOT` of every event (the naive oracle of the exact-rule scaling).
fn mapblklots(lines: &[&[u8]]) -> Vec<Option<String>> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).expect("event is JSON");
            v["properties"]["MAPBLKLOT"].as_str().map(str::to_string)
        })
        .collect()
}

/// `n` exact rules on `properties.MAPBLKLOT`: even ones take values seen in the data (spread
/// over it), odd ones a value that is not there. Returns `(name, pattern, value)`.
fn exact_rules(distinct: &[&str], n: usize) -> Vec<(String, String, String)> {
    let present = n.div_ceil(2).max(1);
    let step = (distinct.len() / present).max(1);
    (0..n)
        .map(|i| {
            let base = distinct[(i / 2 * step) % distinct.len()];
            let value = if i % 2 == 0 {
                base.to_string()
            } else {
                format!("{base}-absent{i}")
            };
            let text = serde_json::json!({"properties": {"MAPBLKLOT": [value]}}).to_string();
            (format!("exact{i}"), text, value)
        })
        .collect()
}

const EXACT_SIZES: [usize; 4] = [1, 100, 10_000, 100_000];
const MIXED_SIZES: [usize; 4] = [1, 10, 100, 1_000];

/// The distinct MAPBLKLOT values in order of first appearance, and how often each occurs.
fn mapblklot_counts(data: &Data) -> (Vec<String>, HashMap<String, u64>) {
    let mut order = Vec::new();
    let mut counts: HashMap<String, u64> = HashMap::new();
    for v in mapblklots(&data.lines).into_iter().flatten() {
        let e = counts.entry(v.clone()).or_insert(0);
        if *e == 0 {
            order.push(v);
        }
        *e += 1;
    }
    (order, counts)
}

/// One pass over the data with 1 .. 100k exact rules, counts checked against a naive count.
fn scaling_exact(c: &mut Criterion, run: &mut Run, data: &Data) {
    const GROUP: &str = "scaling_exact";
    if !run.filter.group(GROUP) {
        return;
    }
    let lines = &data.lines;
    let (order, counts) = mapblklot_counts(data);
    let distinct: Vec<&str> = order.iter().map(String::as_str).collect();
    let mut g = pass_group(c, GROUP, lines.len());
    for n in EXACT_SIZES {
        if !run.filter.selects(&format!("{GROUP}/rules/{n}")) {
            continue;
        }
        let rules = exact_rules(&distinct, n);
        let expected: Vec<u64> = rules
            .iter()
            .map(|(_, _, v)| counts.get(v).copied().unwrap_or(0))
            .collect();
        bench_rules(&mut g, lines, &rules, &expected, "rules");
    }
    g.finish();
    scaling_table(
        run,
        GROUP,
        "Exact rules on properties.MAPBLKLOT: events/s by rule count",
        &EXACT_SIZES,
        lines.len(),
    );
}

/// One benchmark of a set of `(name, pattern, _)` rules: every rule's count is checked against
/// `expected` before the passes are timed.
fn bench_rules<T>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    lines: &[&[u8]],
    rules: &[(String, String, T)],
    expected: &[u64],
    kind: &str,
) {
    let n = rules.len();
    let m = common::build_matcher(rules.iter().map(|(a, b, _)| (a.as_str(), b.as_str())));
    let mut checked = false;
    let mut results = BatchResults::new();
    g.bench_function(BenchmarkId::new("rules", n), |b| {
        if !checked {
            let got = common::weir_counts(&m, lines, n);
            for (i, (name, text, _)) in rules.iter().enumerate() {
                assert_eq!(
                    got[i], expected[i],
                    "weir gives a WRONG count for {name} = {text} with {n} {kind}"
                );
            }
            checked = true;
        }
        b.iter(|| {
            m.match_batch(lines.iter().copied(), &mut results);
            black_box(results.len())
        })
    });
}

/// Rule `i` of the mixed set: the bank rules in turn, each copy under a new name.
fn mixed_rules(suites: &[Suite], n: usize) -> Vec<(String, String, usize)> {
    let pool: Vec<(usize, usize)> = suites
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.name.contains("COMBO"))
        .flat_map(|(si, s)| (0..s.rules.len()).map(move |ri| (si, ri)))
        .collect();
    (0..n)
        .map(|i| {
            let (si, ri) = pool[i % pool.len()];
            (
                format!("mixed{i}"),
                suites[si].rules[ri].1.clone(),
                si * 1000 + ri,
            )
        })
        .collect()
}

/// One pass with 1 .. 1,000 rules drawn in turn from all banks.
fn scaling_mixed(
    c: &mut Criterion,
    run: &mut Run,
    data: &Data,
    oracle: &mut Oracle,
    suites: &[Suite],
) {
    const GROUP: &str = "scaling_mixed";
    if !run.filter.group(GROUP) {
        return;
    }
    let lines = &data.lines;
    let expected_by_suite: Vec<Vec<u64>> = suites.iter().map(|s| oracle.expected(s)).collect();
    let mut g = pass_group(c, GROUP, lines.len());
    for n in MIXED_SIZES {
        if !run.filter.selects(&format!("{GROUP}/rules/{n}")) {
            continue;
        }
        let rules = mixed_rules(suites, n);
        let expected: Vec<u64> = rules
            .iter()
            .map(|&(_, _, k)| expected_by_suite[k / 1000][k % 1000])
            .collect();
        bench_rules(&mut g, lines, &rules, &expected, "mixed rules");
    }
    g.finish();
    scaling_table(
        run,
        GROUP,
        "Mixed rules from all banks: events/s by rule count",
        &MIXED_SIZES,
        lines.len(),
    );
}

fn scaling_table(run: &mut Run, group: &str, title: &str, sizes: &[usize], events: usize) {
    let base = run.median(group, "rules/1");
    let mut rows = Vec::new();
    for &n in sizes {
        if let Some(d) = run.median(group, &format!("rules/{n}")) {
            let rel = base.map_or("-".into(), |b| {
                format!("{:.2}", b.as_secs_f64() / d.as_secs_f64())
            });
            rows.push(vec![n.to_string(), fmt_rate(per_sec(events, d)), rel]);
        }
    }
    run.table(title, &["rules", "events/s", "speed vs 1 rule"], &rows);
}

/// Time to add N rules to an empty matcher (rules/s).
fn compile(c: &mut Criterion, run: &mut Run, data: &Data, suites: &[Suite]) {
    const GROUP: &str = "compile";
    if !run.filter.group(GROUP) {
        return;
    }
    let (order, _) = mapblklot_counts(data);
    let distinct: Vec<&str> = order.iter().map(String::as_str).collect();
    let sets: Vec<(String, Vec<(String, String)>)> = [1_000usize, 10_000]
        .into_iter()
        .map(|n| {
            (
                format!("exact/{n}"),
                exact_rules(&distinct, n)
                    .into_iter()
                    .map(|(a, b, _)| (a, b))
                    .collect(),
            )
        })
        .chain([70usize, 1_000].into_iter().map(|n| {
            (
                format!("mixed/{n}"),
                mixed_rules(suites, n)
                    .into_iter()
                    .map(|(a, b, _)| (a, b))
                    .collect(),
            )
        }))
        .collect();
    let mut g = c.benchmark_group(GROUP);
    g.sampling_mode(SamplingMode::Flat);
    for (id, rules) in &sets {
        g.throughput(Throughput::Elements(rules.len() as u64));
        let (kind, n) = id.split_once('/').expect("kind/n");
        g.bench_function(BenchmarkId::new(kind, n), |b| {
            b.iter_with_large_drop(|| {
                common::build_matcher(rules.iter().map(|(a, t)| (a.as_str(), t.as_str())))
            })
        });
    }
    g.finish();
    let mut rows = Vec::new();
    for (id, rules) in &sets {
        if let Some(d) = run.median(GROUP, id) {
            rows.push(vec![
                id.clone(),
                format!("{:.2}", d.as_secs_f64() * 1e6 / rules.len() as f64),
                fmt_rate(per_sec(rules.len(), d)),
            ]);
        }
    }
    run.table(
        "Compile: time to add rules to an empty matcher",
        &["rules", "µs per rule", "rules/s"],
        &rows,
    );
}

/// Bytes a matcher keeps per rule, counted by the global allocator (not timed by criterion).
fn memory(run: &mut Run, data: &Data, suites: &[Suite]) {
    if !run.filter.group("memory") {
        return;
    }
    let (order, _) = mapblklot_counts(data);
    let distinct: Vec<&str> = order.iter().map(String::as_str).collect();
    let mut rows = Vec::new();
    let mut measure = |label: String, rules: Vec<(String, String)>| {
        let region = Region::new(GLOBAL);
        let t = Instant::now();
        let m = common::build_matcher(rules.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        let took = t.elapsed();
        let s = region.change();
        // realloc growth and shrinkage are already in bytes_allocated / bytes_deallocated.
        let net = s.bytes_allocated as i64 - s.bytes_deallocated as i64;
        assert_eq!(m.rule_count(), rules.len());
        drop(m);
        rows.push(vec![
            label,
            rules.len().to_string(),
            net.to_string(),
            format!("{:.0}", net as f64 / rules.len() as f64),
            format!("{:.2}", took.as_secs_f64() * 1e6 / rules.len() as f64),
        ]);
    };
    for n in EXACT_SIZES {
        measure(
            format!("exact/{n}"),
            exact_rules(&distinct, n)
                .into_iter()
                .map(|(a, b, _)| (a, b))
                .collect(),
        );
    }
    for n in [70usize, 1_000] {
        measure(
            format!("mixed/{n}"),
            mixed_rules(suites, n)
                .into_iter()
                .map(|(a, b, _)| (a, b))
                .collect(),
        );
    }
    run.table(
        "Memory: bytes a matcher keeps (allocated - freed while adding the rules); one-shot build time",
        &["rules", "count", "bytes", "bytes per rule", "µs per rule (one build)"],
        &rows,
    );
}

/// The counting allocator must see what is allocated, grown and freed, or the memory table lies.
fn check_allocator_counts() {
    let net = |r: &Region<System>| {
        let s = r.change();
        s.bytes_allocated as i64 - s.bytes_deallocated as i64
    };
    let region = Region::new(GLOBAL);
    let v: Vec<u8> = black_box(vec![1u8; 1 << 20]);
    assert_eq!(
        net(&region),
        1 << 20,
        "counting allocator missed a 1 MiB allocation"
    );
    drop(v);
    assert_eq!(net(&region), 0, "counting allocator missed a 1 MiB free");
    let mut grown: Vec<u64> = Vec::with_capacity(1);
    for i in 0..100_000u64 {
        grown.push(black_box(i));
    }
    assert_eq!(
        net(&region),
        grown.capacity() as i64 * 8,
        "counting allocator miscounts reallocs"
    );
    drop(grown);
    assert_eq!(
        net(&region),
        0,
        "counting allocator miscounts frees after reallocs"
    );
}
