//! The library's own single-thread `match_batch_with` throughput on a JSONL file, for every
//! bank and combo of a CityLots2-style rules file, after checking every rule's match count.
//! `scripts/bench-cli` runs it next to the `weir` binary, so both figures come from one run.
//!
//! Usage: `cargo run --release --example throughput -- EVENTS.jsonl RULES.json [RUNS [SUITES]]`
//!
//! Prints one tab-separated line per suite: name, events, validating events/s, lazy events/s
//! (best of RUNS, default 3). SUITES, a comma-separated list of bank and combo names, runs only
//! those (the Python package's benchmark times each suite next to its own). Exits non-zero
//! when a count is wrong.

use std::time::{Duration, Instant};

use weir::{BatchResults, EventReading, Matcher};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: throughput EVENTS.jsonl RULES.json [RUNS [SUITES]]".into());
    }
    let data = std::fs::read(&args[1])?;
    let rules: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&args[2])?)?;
    let runs: usize = args.get(3).map_or(Ok(3), |r| r.parse())?;
    let only: Option<Vec<&str>> = args.get(4).map(|s| s.split(',').collect());
    let lines: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();

    // Suites: each bank, then each combo (a list of banks), with expected counts.
    let banks = rules["banks"].as_object().ok_or("no banks")?;
    let mut suites: Vec<(String, Vec<(String, u64)>)> = Vec::new();
    for (name, bank) in banks {
        let patterns = bank["rules"].as_array().ok_or("no rules")?;
        let counts = bank["matches"].as_array().ok_or("no matches")?;
        let rules = patterns
            .iter()
            .zip(counts)
            .map(|(p, c)| {
                (
                    p.as_str().unwrap_or("").to_string(),
                    c.as_u64().unwrap_or(0),
                )
            })
            .collect();
        suites.push((name.clone(), rules));
    }
    if let Some(combos) = rules["combos"].as_object() {
        for (name, members) in combos {
            let mut all = Vec::new();
            for member in members.as_array().ok_or("combo is not a list")? {
                let member = member.as_str().ok_or("combo member")?;
                let bank = suites
                    .iter()
                    .find(|(n, _)| n == member)
                    .ok_or("unknown bank")?;
                all.extend(bank.1.iter().cloned());
            }
            suites.push((name.clone(), all));
        }
    }

    if let Some(only) = &only {
        if let Some(unknown) = only.iter().find(|o| !suites.iter().any(|(n, _)| n == *o)) {
            return Err(format!("unknown suite {unknown}").into());
        }
        suites.retain(|(name, _)| only.contains(&name.as_str()));
    }

    let mut wrong = false;
    for (name, rules) in &suites {
        let mut rates = Vec::new();
        for reading in [EventReading::Validate, EventReading::Lazy] {
            let mut m = Matcher::new();
            m.set_reading(reading);
            for (i, (pattern, _)) in rules.iter().enumerate() {
                m.add_rule(format!("{name}#{i}"), pattern)?;
            }
            let mut cache = m.create_cache();
            let mut results = BatchResults::new();
            m.match_batch_with(&mut cache, lines.iter().copied(), &mut results);
            let mut counts = vec![0u64; rules.len()];
            for ids in results.iter().flatten() {
                for id in ids {
                    counts[id.index()] += 1;
                }
            }
            let expected: Vec<u64> = rules.iter().map(|r| r.1).collect();
            if counts != expected {
                eprintln!("{name} ({reading:?}): WRONG counts {counts:?}, expected {expected:?}");
                wrong = true;
            }
            let mut best = Duration::MAX;
            for _ in 0..runs.max(1) {
                let started = Instant::now();
                m.match_batch_with(&mut cache, lines.iter().copied(), &mut results);
                best = best.min(started.elapsed());
            }
            rates.push(lines.len() as f64 / best.as_secs_f64());
        }
        println!("{name}\t{}\t{:.0}\t{:.0}", lines.len(), rates[0], rates[1]);
    }
    if wrong {
        return Err("wrong match counts".into());
    }
    Ok(())
}
