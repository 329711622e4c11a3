//! `weir filter`: grep for events.

use weir::json::Event;
use weir::lambda::{DropReason, FilterCriteria, RecordVerdict, Source};
use weir::{BatchResults, EventReading, JsonlPart, Matcher, Pattern, PatternError, RuleId};

use crate::input::{one_line, read_arg, read_path, refuse_stdin_twice};
use crate::report::{criteria_origin, Stop};
use crate::stream::{base, Engine, Flow, Item, Judge, Verdict};
use crate::{Ctx, FilterArgs, FAILED, MATCHED, NO_MATCH};

/// What decides whether an event is selected.
enum Selector {
    /// Patterns (ORed), compiled; events are matched in batches.
    Pattern(Box<Matcher>),
    /// A FilterCriteria over Lambda records of one source.
    Lambda(Box<FilterCriteria>, Source),
    /// A FilterCriteria over events that may be Lambda records naming their source.
    Infer(Box<Infer>),
}

/// `--filter-criteria` without `--lambda`: a record carrying its `eventSource` is read as a
/// record of that source; an event without one is a plain event (the patterns ORed).
struct Infer {
    criteria: FilterCriteria,
    /// The criteria's patterns, ORed, for plain events.
    plain: Matcher,
    /// One rule per known `eventSource` value, and one for any `eventSource`.
    detect: Matcher,
    /// The source of each rule of `detect` (`None`: any source).
    sources: Vec<Option<Source>>,
    /// What AWS says of the criteria for each source, when it refuses them.
    refusals: Vec<(Source, PatternError)>,
}

/// The `eventSource` values Lambda records carry, and the source each one means.
const EVENT_SOURCES: [(&str, Source); 7] = [
    ("aws:sqs", Source::Sqs),
    ("aws:kinesis", Source::Kinesis),
    ("aws:dynamodb", Source::DynamoDb),
    ("aws:kafka", Source::Kafka),
    ("SelfManagedKafka", Source::Kafka),
    ("aws:amq", Source::Mq),
    ("aws:rmq", Source::Mq),
];

/// The verdicts of one chunk of events.
#[derive(Default)]
pub struct Verdicts {
    results: BatchResults,
    records: Vec<RecordVerdict>,
    /// For `Infer`: each event's reading.
    inferred: Vec<Inferred>,
    plain: Vec<usize>,
}

/// How `Infer` read one event.
enum Inferred {
    /// A plain event: its index in `results`.
    Plain(usize),
    /// A record of this source: its index in `records`.
    Record(Source, usize),
    /// A record whose `eventSource` is none weir knows.
    Unknown,
    /// A record of a source whose rules AWS refuses for the criteria.
    Refused(Source),
}

impl Judge for Selector {
    type Out = Verdicts;

    fn judge(&self, events: &[&[u8]], out: &mut Verdicts) {
        match self {
            Selector::Pattern(matcher) => {
                matcher.match_batch(events.iter().copied(), &mut out.results)
            }
            Selector::Lambda(criteria, source) => {
                criteria.evaluate_batch(*source, events.iter().copied(), &mut out.records)
            }
            Selector::Infer(infer) => infer.judge(events, out),
        }
    }

    fn judge_lines<'m>(
        &self,
        bytes: &'m [u8],
        from: usize,
        max: usize,
        events: &mut Vec<Event<'m>>,
        out: &mut Verdicts,
    ) -> Option<JsonlPart> {
        match self {
            Selector::Pattern(matcher) => {
                Some(matcher.match_jsonl_part(bytes, from, max, events, &mut out.results))
            }
            Selector::Lambda(..) | Selector::Infer(_) => None,
        }
    }
}

impl Infer {
    fn judge(&self, events: &[&[u8]], out: &mut Verdicts) {
        self.detect
            .match_batch(events.iter().copied(), &mut out.results);
        out.inferred.clear();
        out.records.clear();
        out.plain.clear();
        for (i, found) in out.results.iter().enumerate() {
            let ids = found.unwrap_or(&[]);
            let source = ids.iter().find_map(|id| self.sources[id.index()]);
            out.inferred.push(match (source, ids.is_empty()) {
                (Some(source), _) if self.refusals.iter().any(|(s, _)| *s == source) => {
                    Inferred::Refused(source)
                }
                (Some(source), _) => {
                    let verdict = self.criteria.evaluate(source, events[i]);
                    out.records.push(verdict);
                    Inferred::Record(source, out.records.len() - 1)
                }
                (None, false) => Inferred::Unknown,
                (None, true) => {
                    out.plain.push(i);
                    Inferred::Plain(out.plain.len() - 1)
                }
            });
        }
        let plain = out.plain.iter().map(|&i| events[i]);
        self.plain.match_batch(plain, &mut out.results);
    }
}

/// The verdict on the `i`-th event of a chunk, and the source read from it by `Infer`.
fn verdict<'a>(selector: &Selector, out: &'a Verdicts, i: usize) -> (Verdict<'a>, Option<Source>) {
    let from_results = |i: usize| match out.results.get(i) {
        Ok([]) => Verdict::NotMatched,
        Ok(_) => Verdict::Matched,
        Err(e) => Verdict::Invalid(e),
    };
    let from_record = |v: &'a RecordVerdict| match v {
        RecordVerdict::Delivered => Verdict::Matched,
        RecordVerdict::FilteredOut => Verdict::NotMatched,
        RecordVerdict::Dropped {
            reason: DropReason::NotJson(e),
        } => Verdict::Invalid(e),
        RecordVerdict::Dropped { reason } => Verdict::Dropped(reason.to_string()),
        #[allow(unreachable_patterns)]
        _ => Verdict::NotMatched,
    };
    match selector {
        Selector::Pattern(_) => (from_results(i), None),
        Selector::Lambda(_, _) => (from_record(&out.records[i]), None),
        Selector::Infer(_) => match out.inferred[i] {
            Inferred::Plain(j) => (from_results(j), None),
            Inferred::Record(source, j) => (from_record(&out.records[j]), Some(source)),
            Inferred::Unknown => (
                Verdict::Refused(
                    "the record's eventSource is none that Lambda filters (aws:sqs, \
                     aws:kinesis, aws:dynamodb, aws:kafka, SelfManagedKafka, aws:amq, \
                     aws:rmq); give --lambda SOURCE to read it as a record of SOURCE"
                        .to_string(),
                ),
                None,
            ),
            Inferred::Refused(source) => (Verdict::Refused(String::new()), Some(source)),
        },
    }
}

pub fn run(args: &FilterArgs, ctx: &mut Ctx) -> Result<u8, Stop> {
    let mut named = Vec::new();
    if let Some(p) = &args.source.pattern_file {
        named.push(("--pattern-file", p.as_os_str().to_owned()));
    }
    if let Some(p) = &args.source.filter_criteria {
        named.push(("--filter-criteria", p.as_os_str().to_owned()));
    }
    if let Some(p) = &args.source.pattern {
        named.push(("--pattern", p.into()));
    }
    if !refuse_stdin_twice(&named, &args.stream.events, ctx) {
        return Ok(FAILED);
    }
    let Some(selector) = selector(args, ctx) else {
        return Ok(FAILED);
    };
    let mut engine = Engine::new(selector, &ctx.settings(&args.stream));
    let limit = args.stream.limit();
    let quiet = args.stream.quiet;
    let mut told = Vec::new();
    let mut compacted = Vec::new();
    let mut line = Vec::new();
    let many = args.stream.events.len() > 1;
    let criteria_name = args
        .source
        .filter_criteria
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    engine.run(&args.stream.events, ctx, |ctx, name, selector, item| {
        let (event, out, i, not_object) = match item {
            Item::Event {
                event,
                out,
                index,
                not_object,
            } => (event, out, index, not_object),
            Item::Broken(e) => {
                ctx.report.split(name, &e);
                return Ok(Flow::Go);
            }
        };
        if let Some(found) = not_object {
            ctx.report
                .not_object(name, event.bytes, base(&event), found);
            return Ok(Flow::Go);
        }
        let (verdict, inferred) = verdict(selector, out, i);
        if let (Verdict::Refused(_), Some(source), Selector::Infer(infer)) =
            (&verdict, inferred, selector)
        {
            // Once per source: AWS refuses these criteria for its records.
            if !told.contains(&source) {
                told.push(source);
                if let Some((_, e)) = infer.refusals.iter().find(|(s, _)| *s == source) {
                    let origin = criteria_origin(&criteria_name, e);
                    ctx.report
                        .pattern(&format!("{origin} (for {source} records in {name})"), e);
                }
            }
            return Ok(Flow::Go);
        }
        if let Some(source) = inferred {
            if !told.contains(&source) {
                told.push(source);
                ctx.report.notice(&format!(
                    "{name}: records with eventSource {}: filtering them as --lambda {source} \
                     records",
                    event_source_name(event.bytes).unwrap_or_else(|| source.to_string())
                ));
            }
        }
        let matched = match verdict {
            Verdict::Matched => true,
            Verdict::NotMatched => false,
            Verdict::Dropped(reason) => {
                ctx.report.dropped(name, base(&event), &reason);
                false
            }
            Verdict::Invalid(e) => {
                ctx.report.event(name, base(&event), e);
                return Ok(Flow::Go);
            }
            Verdict::Refused(reason) => {
                ctx.report.refused(name, base(&event), &reason);
                return Ok(Flow::Go);
            }
        };
        if matched == args.invert {
            return Ok(Flow::Go);
        }
        ctx.selected += 1;
        if quiet {
            return Ok(Flow::Stop);
        }
        if !args.count {
            let bytes = one_line(&event, &mut compacted);
            if args.stream.line_number {
                line.clear();
                crate::report::numbered(&mut line, many.then_some(name), event.line, "event");
                line.extend_from_slice(bytes);
                line.push(b'}');
                ctx.out.line(&line)?;
            } else {
                ctx.out.line(bytes)?;
            }
        }
        Ok(if limit.is_some_and(|n| ctx.selected >= n) {
            Flow::Stop
        } else {
            Flow::Go
        })
    })?;
    if args.count && !quiet {
        ctx.out.line(ctx.selected.to_string().as_bytes())?;
    }
    Ok(exit_code(ctx, quiet))
}

/// grep's exit status: 0 when something was selected (with `-q`, even after errors), 2 on
/// an error, 1 otherwise.
pub fn exit_code(ctx: &Ctx, quiet: bool) -> u8 {
    if quiet && ctx.selected > 0 {
        MATCHED
    } else if ctx.report.errors() > 0 {
        FAILED
    } else if ctx.selected > 0 {
        MATCHED
    } else {
        NO_MATCH
    }
}

/// The `eventSource` text of a record, when it is a plain string at the top level.
fn event_source_name(record: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(record).ok()?;
    value.get("eventSource")?.as_str().map(str::to_string)
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
            None => Selector::Infer(Box::new(infer(criteria, ctx)?)),
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
        .map_err(|e| ctx.report.pattern_hinted(&input, &e))
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

/// The matchers `Infer` needs for `criteria`.
fn infer(criteria: FilterCriteria, ctx: &Ctx) -> Option<Infer> {
    // Over plain events a FilterCriteria is its patterns ORed; with none, every event
    // passes.
    let mut plain = ctx.matcher();
    for pattern in criteria.patterns() {
        plain.add_pattern("criteria", pattern.clone());
    }
    if criteria.is_empty() {
        plain.add_pattern("criteria", Pattern::match_all());
    }
    let mut detect = Matcher::new();
    // Only `eventSource` is read here; the criteria read (and validate) the record.
    detect.set_reading(EventReading::Lazy);
    let mut sources: Vec<Option<Source>> = Vec::new();
    let mut add = |detect: &mut Matcher, name: String, text: String, source: Option<Source>| {
        let id: RuleId = detect.add_rule(name, &text).ok()?;
        if sources.len() <= id.index() {
            sources.resize(id.index() + 1, None);
        }
        sources[id.index()] = source;
        Some(())
    };
    for (value, source) in EVENT_SOURCES {
        let text = serde_json::json!({ "eventSource": [value] }).to_string();
        add(&mut detect, value.to_string(), text, Some(source))?;
    }
    add(
        &mut detect,
        "any".to_string(),
        r#"{"eventSource": [{"exists": true}]}"#.to_string(),
        None,
    )?;
    let mut refusals = Vec::new();
    for (_, source) in EVENT_SOURCES {
        if refusals.iter().any(|(s, _)| *s == source) {
            continue;
        }
        if let Err(e) = criteria.check_for(source) {
            refusals.push((source, e));
        }
    }
    Some(Infer {
        criteria,
        plain,
        detect,
        sources,
        refusals,
    })
}
