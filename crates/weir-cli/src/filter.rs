//! `weir filter`: grep for events.

use std::path::PathBuf;

use serde_json::Value;
use weir::lambda::{FilterCriteria, RecordVerdict, Source};
use weir::{BatchResults, Matcher, Pattern};

use crate::input::{compact, lines, read_arg, read_path, split, Event, Input, Layout, LineIndex};
use crate::report::{criteria_origin, Stop};
use crate::{Ctx, FilterArgs, FAILED, MATCHED, NO_MATCH};

/// What decides whether an event is selected.
enum Selector {
    /// Patterns (ORed), compiled; events are matched in batches.
    Pattern(Box<Matcher>),
    /// A FilterCriteria over Lambda records of one source.
    Lambda(Box<FilterCriteria>, Source),
}

/// The verdict on one event.
enum Verdict {
    Matched,
    NotMatched,
    /// Lambda drops the record (with the reason); it is not delivered.
    Dropped(String),
    /// The event could not be read: byte offset in the event, reason.
    Invalid(usize, String),
}

pub fn run(args: &FilterArgs, ctx: &mut Ctx) -> Result<u8, Stop> {
    let Some(selector) = selector(args, ctx) else {
        return Ok(FAILED);
    };
    let mut selected = 0usize;
    let mut results = BatchResults::new();
    each_input(&args.events, ctx, |ctx, input| {
        let (layout, events) = split(&input.bytes);
        let verdicts = judge(&selector, input, layout, &events, &mut results);
        let index = LineIndex::new(&input.bytes);
        for (event, verdict) in events.iter().zip(verdicts) {
            let matched = match verdict {
                Verdict::Matched => true,
                Verdict::NotMatched => false,
                Verdict::Dropped(reason) => {
                    ctx.report
                        .dropped(&input.name, &index, event.offset, &reason);
                    false
                }
                Verdict::Invalid(offset, reason) => {
                    let reason = event_reason(event, &reason);
                    ctx.report
                        .event(&input.name, &index, event.offset + offset, reason);
                    continue;
                }
            };
            if matched != args.invert {
                selected += 1;
                if !args.count && !args.quiet {
                    print_event(ctx, event)?;
                }
            }
        }
        Ok(())
    })?;
    if args.count && !args.quiet {
        ctx.out.line(selected.to_string().as_bytes())?;
    }
    Ok(if ctx.report.errors() > 0 {
        FAILED
    } else if selected > 0 {
        MATCHED
    } else {
        NO_MATCH
    })
}

/// Reads each event file in turn (stdin when none is given), reports the ones that cannot be
/// read, and hands the others to `each`.
pub fn each_input(
    paths: &[PathBuf],
    ctx: &mut Ctx,
    mut each: impl FnMut(&mut Ctx, &Input) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let stdin = [PathBuf::from("-")];
    let paths = if paths.is_empty() { &stdin[..] } else { paths };
    for path in paths {
        match read_path(path) {
            Ok(input) => each(ctx, &input)?,
            Err(message) => ctx.report.message("io", &message),
        }
    }
    Ok(())
}

/// Why an event could not be read: an empty array element says so rather than giving the
/// reader's end-of-input message.
pub fn event_reason<'r>(event: &Event<'_>, reason: &'r str) -> &'r str {
    if event.bytes.is_empty() {
        "expected a JSON value (empty array element)"
    } else {
        reason
    }
}

/// Prints an event on one line: its own bytes, or compacted when it spans lines.
fn print_event(ctx: &mut Ctx, event: &Event<'_>) -> Result<(), Stop> {
    if event.bytes.contains(&b'\n') || event.bytes.contains(&b'\r') {
        ctx.out.line(&compact(event.bytes))
    } else {
        ctx.out.line(event.bytes)
    }
}

fn selector(args: &FilterArgs, ctx: &Ctx) -> Option<Selector> {
    let source = &args.source;
    if let Some(path) = &source.filter_criteria {
        let input = read_path(path)
            .map_err(|m| ctx.report.message("io", &m))
            .ok()?;
        let text = input
            .text()
            .map_err(|m| ctx.report.message("pattern", &m))
            .ok()?;
        let criteria = FilterCriteria::parse_with(text, &ctx.options, args.max_filters)
            .map_err(|e| ctx.report.pattern(&criteria_origin(&input.name, &e), &e))
            .ok()?;
        return Some(match args.lambda {
            Some(source) => Selector::Lambda(Box::new(criteria), source),
            None => {
                // Over plain events a FilterCriteria is its patterns ORed; with none, every
                // event passes.
                let mut matcher = ctx.matcher();
                for pattern in criteria.patterns() {
                    matcher.add_pattern("criteria", pattern.clone());
                }
                if criteria.is_empty() {
                    matcher.add_pattern("criteria", Pattern::match_all());
                }
                Selector::Pattern(Box::new(matcher))
            }
        });
    }
    let input = match (&source.pattern, &source.pattern_file) {
        (Some(text), _) => read_arg("--pattern", text),
        (None, Some(path)) => read_path(path),
        (None, None) => {
            Err("give a pattern: --pattern, --pattern-file or --filter-criteria".into())
        }
    }
    .map_err(|m| ctx.report.message("io", &m))
    .ok()?;
    let text = input
        .text()
        .map_err(|m| ctx.report.message("pattern", &m))
        .ok()?;
    let pattern = Pattern::parse_with(text, &ctx.options)
        .map_err(|e| ctx.report.pattern(&input.name, &e))
        .ok()?;
    match args.lambda {
        None => {
            let mut matcher = ctx.matcher();
            matcher.add_pattern("pattern", pattern);
            Some(Selector::Pattern(Box::new(matcher)))
        }
        // One pattern is a FilterCriteria of one filter.
        Some(source) => Some(Selector::Lambda(
            Box::new(FilterCriteria::from_patterns(vec![pattern])),
            source,
        )),
    }
}

/// The verdict on every event of an input, in order.
fn judge(
    selector: &Selector,
    input: &Input,
    layout: Layout,
    events: &[Event<'_>],
    results: &mut BatchResults,
) -> Vec<Verdict> {
    match selector {
        Selector::Pattern(matcher) => {
            match_events(matcher, input, layout, events, results);
            results
                .iter()
                .map(|r| match r {
                    Ok([]) => Verdict::NotMatched,
                    Ok(_) => Verdict::Matched,
                    Err(e) => Verdict::Invalid(e.offset(), e.reason().to_string()),
                })
                .collect()
        }
        Selector::Lambda(criteria, source) => events
            .iter()
            .map(|e| match serde_json::from_slice::<Value>(e.bytes) {
                Err(err) => Verdict::Invalid(
                    offset_of(e.bytes, err.line(), err.column()),
                    json_reason(&err),
                ),
                Ok(record) => match criteria.evaluate(*source, &record) {
                    RecordVerdict::Delivered => Verdict::Matched,
                    RecordVerdict::FilteredOut => Verdict::NotMatched,
                    RecordVerdict::Dropped { reason } => Verdict::Dropped(reason),
                    #[allow(unreachable_patterns)]
                    _ => Verdict::NotMatched,
                },
            })
            .collect(),
    }
}

/// Matches the events of one input in a batch; `results` then holds one entry per event.
pub fn match_events(
    matcher: &Matcher,
    input: &Input,
    layout: Layout,
    events: &[Event<'_>],
    results: &mut BatchResults,
) {
    if layout == Layout::Jsonl {
        matcher.match_jsonl(&input.bytes, results);
        let same_lines = results.lines().len() == events.len()
            && results
                .lines()
                .iter()
                .zip(events)
                .all(|(&n, e)| e.line == Some(n));
        if same_lines {
            return;
        }
    }
    matcher.match_batch(events.iter().map(|e| e.bytes), results);
}

/// The byte offset of serde_json's 1-based (line, column) in `bytes`.
fn offset_of(bytes: &[u8], line: usize, column: usize) -> usize {
    let start = lines(bytes)
        .nth(line.saturating_sub(1))
        .map_or(bytes.len(), |(_, offset, _)| offset);
    (start + column.saturating_sub(1)).min(bytes.len())
}

/// serde_json's message without its trailing ` at line L column C`.
fn json_reason(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
