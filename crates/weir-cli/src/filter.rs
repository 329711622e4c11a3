//! `weir filter`: grep for events.

use std::path::PathBuf;

use weir::lambda::{DropReason, FilterCriteria, RecordVerdict, Source};
use weir::{BatchResults, Matcher, Pattern};

use crate::input::{one_line, read_arg, read_path, split, Event, Input, LineIndex};
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
    let mut compacted = Vec::new();
    each_input(&args.events, ctx, |ctx, input| {
        let items = split(&input.bytes);
        let events: Vec<Event<'_>> = items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .copied()
            .collect();
        let mut verdicts = judge(&selector, &events, &mut results).into_iter();
        let index = LineIndex::new(&input.bytes);
        for item in &items {
            let event = match item {
                Ok(event) => event,
                Err(e) => {
                    ctx.report
                        .event(&input.name, &index, e.offset(), e.reason());
                    continue;
                }
            };
            let Some(verdict) = verdicts.next() else {
                break;
            };
            let matched = match verdict {
                Verdict::Matched => true,
                Verdict::NotMatched => false,
                Verdict::Dropped(reason) => {
                    ctx.report
                        .dropped(&input.name, &index, event.offset, &reason);
                    false
                }
                Verdict::Invalid(offset, reason) => {
                    ctx.report
                        .event(&input.name, &index, event.offset + offset, &reason);
                    continue;
                }
            };
            if matched != args.invert {
                selected += 1;
                if !args.count && !args.quiet {
                    ctx.out.line(one_line(event, &mut compacted))?;
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
            Some(source) => {
                // What AWS refuses when the event source mapping is created.
                criteria
                    .check_for(source)
                    .map_err(|e| ctx.report.pattern(&criteria_origin(&input.name, &e), &e))
                    .ok()?;
                Selector::Lambda(Box::new(criteria), source)
            }
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
        Some(source) => {
            let criteria = FilterCriteria::from_patterns(vec![pattern]);
            criteria
                .check_for(source)
                .map_err(|e| ctx.report.pattern(&input.name, &e))
                .ok()?;
            Some(Selector::Lambda(Box::new(criteria), source))
        }
    }
}

/// The verdict on every event, in order.
fn judge(selector: &Selector, events: &[Event<'_>], results: &mut BatchResults) -> Vec<Verdict> {
    match selector {
        Selector::Pattern(matcher) => {
            match_events(matcher, events, results);
            results
                .iter()
                .map(|r| match r {
                    Ok([]) => Verdict::NotMatched,
                    Ok(_) => Verdict::Matched,
                    Err(e) => Verdict::Invalid(e.offset(), e.reason().to_string()),
                })
                .collect()
        }
        Selector::Lambda(criteria, source) => {
            let mut verdicts = Vec::with_capacity(events.len());
            criteria.evaluate_batch(*source, events.iter().map(|e| e.bytes), &mut verdicts);
            verdicts
                .into_iter()
                .map(|v| match v {
                    RecordVerdict::Delivered => Verdict::Matched,
                    RecordVerdict::FilteredOut => Verdict::NotMatched,
                    RecordVerdict::Dropped {
                        reason: DropReason::NotJson(e),
                    } => Verdict::Invalid(e.offset(), e.reason().to_string()),
                    RecordVerdict::Dropped { reason } => Verdict::Dropped(reason.to_string()),
                    #[allow(unreachable_patterns)]
                    _ => Verdict::NotMatched,
                })
                .collect()
        }
    }
}

/// Matches events in a batch; `results` then holds one entry per event.
pub fn match_events(matcher: &Matcher, events: &[Event<'_>], results: &mut BatchResults) {
    matcher.match_batch(events.iter().map(|e| e.bytes), results);
}
