//! `weir check` (validate pattern and FilterCriteria files) and `weir debug` (print a
//! pattern at each stage).

use serde_json::Value;
use weir::lambda::FilterCriteria;
use weir::Pattern;

use crate::input::{read_arg, read_path};
use crate::report::{criteria_origin, Stop};
use crate::{rules, CheckArgs, Ctx, DebugArgs, Stage, FAILED, MATCHED};

pub fn check(args: &CheckArgs, ctx: &mut Ctx) -> Result<u8, Stop> {
    for path in &args.rules {
        if let Some((matcher, _)) = crate::route::load(path, ctx) {
            let name = path.display();
            let rules = matcher.rule_count();
            ctx.out
                .line(format!("ok: {name} ({rules} rules)").as_bytes())?;
        }
    }
    for path in &args.files {
        let input = match read_path(path) {
            Ok(input) => input,
            Err(message) => {
                ctx.report.message("io", &message);
                continue;
            }
        };
        let text = match input.text() {
            Ok(text) => text,
            Err(message) => {
                ctx.report.message("pattern", &message);
                continue;
            }
        };
        let is_criteria = matches!(
            serde_json::from_str::<Value>(text),
            Ok(Value::Object(map)) if map.contains_key("Filters")
        );
        let result = if is_criteria {
            FilterCriteria::parse_with(text, &ctx.options, args.max_filters)
                .map(|_| ())
                .map_err(|e| (criteria_origin(&input.name, &e), e))
        } else {
            Pattern::parse_with(text, &ctx.options)
                .map(|_| ())
                .map_err(|e| (input.name.clone(), e))
        };
        match result {
            Ok(()) => ctx.out.line(format!("ok: {}", input.name).as_bytes())?,
            Err((origin, e)) => {
                ctx.report.pattern(&origin, &e);
                if !is_criteria && rules::parse(&input).is_ok_and(|r| !r.is_empty()) {
                    ctx.report.notice(&format!(
                        "hint: {} reads as a rules file: check it with weir check --rules {}",
                        input.name, input.name
                    ));
                }
            }
        }
    }
    Ok(if ctx.report.errors() > 0 {
        FAILED
    } else {
        MATCHED
    })
}

pub fn debug(args: &DebugArgs, ctx: &mut Ctx) -> Result<u8, Stop> {
    let input = match read_arg("--pattern", &args.pattern) {
        Ok(input) => input,
        Err(message) => {
            ctx.report.message("io", &message);
            return Ok(FAILED);
        }
    };
    let text = match input.text() {
        Ok(text) => text,
        Err(message) => {
            ctx.report.message("pattern", &message);
            return Ok(FAILED);
        }
    };
    let shown = match args.stage {
        Stage::Ast => weir::syntax::parse(text).map(|ast| format!("{ast:#?}")),
        Stage::Ir => Pattern::parse_with(text, &ctx.options).map(|p| p.to_string()),
        Stage::Matcher => Pattern::parse_with(text, &ctx.options).map(|p| {
            let mut matcher = ctx.matcher();
            matcher.add_pattern("pattern", p);
            matcher.describe()
        }),
    };
    match shown {
        Ok(shown) => {
            ctx.out.line(shown.trim_end().as_bytes())?;
            Ok(MATCHED)
        }
        Err(e) => {
            ctx.report.pattern(&input.name, &e);
            Ok(FAILED)
        }
    }
}
