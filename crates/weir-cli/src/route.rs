//! `weir route`: which rules each event matches.

use std::path::Path;

use weir::json::Event;
use weir::{BatchResults, JsonlPart, Matcher};

use crate::filter::exit_code;
use crate::input::{read_path, refuse_stdin_twice};
use crate::report::{self, Stop};
use crate::stream::{base, Engine, Flow, Item, Judge};
use crate::{rules, Ctx, RouteArgs, FAILED};

/// Matches each chunk of events with the rules.
struct Rules(Matcher);

impl Judge for Rules {
    type Out = BatchResults;

    fn judge(&self, events: &[&[u8]], out: &mut BatchResults) {
        self.0.match_batch(events.iter().copied(), out);
    }

    fn judge_lines<'m>(
        &self,
        bytes: &'m [u8],
        from: usize,
        max: usize,
        events: &mut Vec<Event<'m>>,
        out: &mut BatchResults,
    ) -> Option<JsonlPart> {
        Some(self.0.match_jsonl_part(bytes, from, max, events, out))
    }
}

pub fn run(args: &RouteArgs, ctx: &mut Ctx) -> Result<u8, Stop> {
    let named = [("--rules", args.rules.as_os_str().to_owned())];
    if !refuse_stdin_twice(&named, &args.stream.events, ctx) {
        return Ok(FAILED);
    }
    let Some((matcher, names)) = load(&args.rules, ctx) else {
        return Ok(FAILED);
    };
    let mut engine = Engine::new(Rules(matcher), &ctx.settings(&args.stream));
    let mut counts = vec![0usize; names.len()];
    let limit = args.stream.limit();
    let quiet = args.stream.quiet;
    let print = !args.count && !quiet;
    let many = args.stream.events.len() > 1;
    let mut line = Vec::new();
    engine.run(&args.stream.events, ctx, |ctx, name, _, item| {
        // Every event gets its line: `null` when it cannot be read.
        let (event_line, ids) = match item {
            Item::Broken(e) => {
                ctx.report.split(name, &e);
                (e.event_line(), None)
            }
            Item::Event {
                event,
                out: results,
                index: i,
                not_object,
            } => {
                if let Some(found) = not_object {
                    ctx.report
                        .not_object(name, event.bytes, base(&event), found);
                    (event.line, None)
                } else {
                    match results.get(i) {
                        Ok(ids) => (event.line, Some(ids)),
                        Err(e) => {
                            ctx.report.event(name, base(&event), e);
                            (event.line, None)
                        }
                    }
                }
            }
        };
        let matched = ids.is_some_and(|ids| !ids.is_empty());
        if args.count {
            for id in ids.unwrap_or(&[]) {
                counts[id.index()] += 1;
            }
        }
        if print {
            line.clear();
            if args.stream.line_number {
                report::numbered(&mut line, many.then_some(name), event_line, "rules");
            }
            match ids {
                Some(ids) => {
                    let matched: Vec<&str> =
                        ids.iter().map(|&id| names[id.index()].as_str()).collect();
                    // Serializing a list of strings cannot fail.
                    serde_json::to_writer(&mut line, &matched).unwrap_or_default();
                }
                None => line.extend_from_slice(b"null"),
            }
            if args.stream.line_number {
                line.push(b'}');
            }
            ctx.out.line(&line)?;
        }
        if !matched {
            return Ok(Flow::Go);
        }
        ctx.selected += 1;
        Ok(if quiet || limit.is_some_and(|n| ctx.selected >= n) {
            Flow::Stop
        } else {
            Flow::Go
        })
    })?;
    if args.count && !quiet {
        // Written by hand to keep the rules file's order.
        let mut ordered = String::from("{");
        for (i, (name, count)) in names.iter().zip(&counts).enumerate() {
            if i > 0 {
                ordered.push(',');
            }
            ordered.push_str(&serde_json::Value::from(name.as_str()).to_string());
            ordered.push(':');
            ordered.push_str(&count.to_string());
        }
        ordered.push('}');
        ctx.out.line(ordered.as_bytes())?;
    }
    Ok(exit_code(ctx, quiet))
}

/// The matcher of every rule of the rules file, and the rule names by rule id. Reports every
/// bad rule.
pub fn load(path: &Path, ctx: &Ctx) -> Option<(Matcher, Vec<String>)> {
    let input = read_path(path)
        .map_err(|m| ctx.report.message("io", &m))
        .ok()?;
    let rules = rules::parse(&input)
        .map_err(|m| ctx.report.message("rules", &m))
        .ok()?;
    // `rules::parse` read the file as text.
    let document = std::str::from_utf8(&input.bytes).unwrap_or_default();
    let mut matcher = ctx.matcher();
    let mut names = Vec::with_capacity(rules.len());
    let mut ok = true;
    for rule in rules {
        match matcher.add_rule(rule.name.as_str(), &rule.text) {
            Ok(id) => {
                if names.len() <= id.index() {
                    names.resize(id.index() + 1, String::new());
                }
                names[id.index()] = rule.name;
            }
            Err(e) => {
                ok = false;
                match rule.base {
                    Some(base) => ctx.report.pattern_in(&input.name, &e, document, base),
                    None => ctx.report.pattern(
                        &format!(
                            "{} (the pattern string of rule {:?})",
                            input.name, rule.name
                        ),
                        &e,
                    ),
                }
            }
        }
    }
    ok.then_some((matcher, names))
}
