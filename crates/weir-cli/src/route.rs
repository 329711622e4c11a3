//! `weir route`: which rules each event matches.

use weir::{BatchResults, Matcher};

use crate::filter::{each_input, match_events};
use crate::input::{read_path, split, Event, LineIndex};
use crate::report::Stop;
use crate::{rules, Ctx, RouteArgs, FAILED, MATCHED, NO_MATCH};

pub fn run(args: &RouteArgs, ctx: &mut Ctx) -> Result<u8, Stop> {
    let Some((matcher, names)) = load(args, ctx) else {
        return Ok(FAILED);
    };
    let mut counts = vec![0usize; names.len()];
    let mut any = false;
    let mut results = BatchResults::new();
    let mut line = Vec::new();
    each_input(&args.events, ctx, |ctx, input| {
        let items = split(&input.bytes);
        let events: Vec<Event<'_>> = items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .copied()
            .collect();
        match_events(&matcher, &events, &mut results);
        let mut index = None;
        let mut results_iter = events.iter().zip(results.iter());
        for item in &items {
            if let Err(e) = item {
                let index = index.get_or_insert_with(|| LineIndex::new(&input.bytes));
                ctx.report.event(&input.name, index, e.offset(), e.reason());
                continue;
            }
            let Some((event, result)) = results_iter.next() else {
                break;
            };
            let ids = match result {
                Ok(ids) => ids,
                Err(e) => {
                    let index = index.get_or_insert_with(|| LineIndex::new(&input.bytes));
                    ctx.report
                        .event(&input.name, index, event.offset + e.offset(), e.reason());
                    continue;
                }
            };
            any |= !ids.is_empty();
            if args.count {
                for id in ids {
                    counts[id.index()] += 1;
                }
            } else {
                let matched: Vec<&str> = ids.iter().map(|&id| names[id.index()].as_str()).collect();
                line.clear();
                // Serializing a list of strings cannot fail.
                serde_json::to_writer(&mut line, &matched).unwrap_or_default();
                ctx.out.line(&line)?;
            }
        }
        Ok(())
    })?;
    if args.count {
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
    Ok(if ctx.report.errors() > 0 {
        FAILED
    } else if any {
        MATCHED
    } else {
        NO_MATCH
    })
}

/// The matcher of every rule of the rules file, and the rule names by rule id. Reports every
/// bad rule.
fn load(args: &RouteArgs, ctx: &Ctx) -> Option<(Matcher, Vec<String>)> {
    let input = read_path(&args.rules)
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
