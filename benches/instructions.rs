//! Instruction counts (gungraun on valgrind's callgrind) of one `Matcher::match_batch` pass over
//! a fixed 2,000-line slice of CityLots2 for every bank and combo, validating (`bank`) and
//! reading lazily (`bank_lazy`). Instruction counts barely
//! move with machine noise, so `scripts/check-instructions` compares them with the committed
//! baseline `benches/baseline/instructions.json`.
//!
//! Run through `scripts/check-instructions` (it installs the runner when missing). Before any
//! measurement, the main set-up (native, not under valgrind) writes the slice and checks that
//! weir's count of every rule on it equals `weir_reference`'s; a wrong count aborts the run.

mod common;

use std::hint::black_box;
use std::path::PathBuf;

use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};
use weir::{BatchResults, EventReading, Matcher};

/// Lines in the slice: every k-th line of the data set, spread over all of it.
const SLICE_LINES: usize = 2_000;

fn slice_path() -> PathBuf {
    common::target_dir()
        .join("citylots2")
        .join("instructions-slice.jsonl")
}

/// Writes the slice and checks every rule's count on it (runs once, before all benchmarks).
fn prepare() {
    let data = common::load(None);
    let lines = common::spread(&data.lines, SLICE_LINES);
    assert_eq!(lines.len(), SLICE_LINES, "data set too small for the slice");
    let mut text = lines.join(&b'\n');
    text.push(b'\n');
    let path = slice_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    }
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    let mut oracle = common::Oracle::for_lines(&lines, false);
    for suite in common::suites() {
        let mut m = common::suite_matcher(&suite);
        let expected = oracle.expected(&suite);
        common::check_weir(&suite, &m, &lines, &expected);
        m.set_reading(EventReading::Lazy);
        common::check_weir(&suite, &m, &lines, &expected);
    }
    eprintln!(
        "instructions: {} lines of {}: every rule's count equals weir_reference's",
        lines.len(),
        data.source
    );
}

/// The validating matcher of `name`, the slice, and reusable results (set-up: not counted).
fn setup(name: &str) -> Pass {
    setup_reading(name, EventReading::Validate)
}

/// The same with lazy reading.
fn setup_lazy(name: &str) -> Pass {
    setup_reading(name, EventReading::Lazy)
}

fn setup_reading(name: &str, reading: EventReading) -> Pass {
    let path = slice_path();
    let text =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let text: &'static [u8] = Box::leak(text.into_boxed_slice());
    let lines: Vec<&'static [u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let suite = common::suites()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no bank {name}"));
    let mut m = common::suite_matcher(&suite);
    m.set_reading(reading);
    let mut results = BatchResults::new();
    // Warm the thread's cache and the results' buffers, as in a long-running matcher.
    m.match_batch(lines.iter().copied(), &mut results);
    (m, lines, results)
}

/// A bank's matcher, the slice, and reusable results.
type Pass = (Matcher, Vec<&'static [u8]>, BatchResults);

/// One pass. Returns its inputs so that dropping them is not counted.
#[inline(always)]
fn one_pass(input: Pass) -> Pass {
    let (m, lines, mut results) = input;
    m.match_batch(black_box(lines.iter().copied()), &mut results);
    black_box(results.len());
    (m, lines, results)
}

// One pass, validating.
#[library_benchmark]
#[bench::exact(setup = setup, args = ("EXACT"))]
#[bench::wildcard(setup = setup, args = ("WILDCARD"))]
#[bench::prefix(setup = setup, args = ("PREFIX"))]
#[bench::prefix_equals_ignore_case(setup = setup, args = ("PREFIX_EQUALS_IGNORE_CASE"))]
#[bench::suffix(setup = setup, args = ("SUFFIX"))]
#[bench::suffix_equals_ignore_case(setup = setup, args = ("SUFFIX_EQUALS_IGNORE_CASE"))]
#[bench::equals_ignore_case(setup = setup, args = ("EQUALS_IGNORE_CASE"))]
#[bench::complex_arrays(setup = setup, args = ("COMPLEX_ARRAYS"))]
#[bench::numeric(setup = setup, args = ("NUMERIC"))]
#[bench::anything_but(setup = setup, args = ("ANYTHING_BUT"))]
#[bench::anything_but_ignore_case(setup = setup, args = ("ANYTHING_BUT_IGNORE_CASE"))]
#[bench::anything_but_prefix(setup = setup, args = ("ANYTHING_BUT_PREFIX"))]
#[bench::anything_but_suffix(setup = setup, args = ("ANYTHING_BUT_SUFFIX"))]
#[bench::anything_but_wildcard(setup = setup, args = ("ANYTHING_BUT_WILDCARD"))]
#[bench::partial_combo(setup = setup, args = ("PARTIAL_COMBO"))]
#[bench::combo(setup = setup, args = ("COMBO"))]
fn bank(input: Pass) -> Pass {
    one_pass(input)
}

// One pass with lazy reading.
#[library_benchmark]
#[bench::exact_lazy(setup = setup_lazy, args = ("EXACT"))]
#[bench::wildcard_lazy(setup = setup_lazy, args = ("WILDCARD"))]
#[bench::prefix_lazy(setup = setup_lazy, args = ("PREFIX"))]
#[bench::prefix_equals_ignore_case_lazy(setup = setup_lazy, args = ("PREFIX_EQUALS_IGNORE_CASE"))]
#[bench::suffix_lazy(setup = setup_lazy, args = ("SUFFIX"))]
#[bench::suffix_equals_ignore_case_lazy(setup = setup_lazy, args = ("SUFFIX_EQUALS_IGNORE_CASE"))]
#[bench::equals_ignore_case_lazy(setup = setup_lazy, args = ("EQUALS_IGNORE_CASE"))]
#[bench::complex_arrays_lazy(setup = setup_lazy, args = ("COMPLEX_ARRAYS"))]
#[bench::numeric_lazy(setup = setup_lazy, args = ("NUMERIC"))]
#[bench::anything_but_lazy(setup = setup_lazy, args = ("ANYTHING_BUT"))]
#[bench::anything_but_ignore_case_lazy(setup = setup_lazy, args = ("ANYTHING_BUT_IGNORE_CASE"))]
#[bench::anything_but_prefix_lazy(setup = setup_lazy, args = ("ANYTHING_BUT_PREFIX"))]
#[bench::anything_but_suffix_lazy(setup = setup_lazy, args = ("ANYTHING_BUT_SUFFIX"))]
#[bench::anything_but_wildcard_lazy(setup = setup_lazy, args = ("ANYTHING_BUT_WILDCARD"))]
#[bench::partial_combo_lazy(setup = setup_lazy, args = ("PARTIAL_COMBO"))]
#[bench::combo_lazy(setup = setup_lazy, args = ("COMBO"))]
fn bank_lazy(input: Pass) -> Pass {
    one_pass(input)
}

library_benchmark_group!(name = banks, benchmarks = [bank, bank_lazy]);

main!(
    config = LibraryBenchmarkConfig::default().pass_through_envs([
        "CARGO_TARGET_DIR",
        "WEIR_CITYLOTS2",
        "PATH"
    ]),
    setup = prepare(),
    library_benchmark_groups = banks
);
