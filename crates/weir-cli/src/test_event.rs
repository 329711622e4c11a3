//! `weir test`: one event against one pattern, as `aws events test-event-pattern`.

use weir::{EventError, Pattern, Position};

use std::path::PathBuf;

use crate::input::{read_arg, refuse_stdin_twice};
use crate::report::{Format, Stop};
use crate::stream::not_object;
use crate::{Ctx, TestArgs, FAILED, MATCHED, NO_MATCH};

pub fn run(args: &TestArgs, ctx: &mut Ctx) -> Result<u8, Stop> {
    let named = [
        ("--event-pattern", args.event_pattern.clone().into()),
        ("--event", args.event.clone().into()),
    ];
    if !refuse_stdin_twice(&named, &[PathBuf::from("x")], ctx) {
        return Ok(FAILED);
    }
    let pattern = match read_arg("--event-pattern", &args.event_pattern) {
        Ok(p) => p,
        Err(message) => {
            ctx.report.message("io", &message);
            return Ok(FAILED);
        }
    };
    let text = match pattern.text() {
        Ok(t) => t,
        Err(message) => {
            ctx.report.message("pattern", &message);
            return Ok(FAILED);
        }
    };
    let parsed = match Pattern::parse_with(text, &ctx.options) {
        Ok(p) => p,
        Err(e) => {
            ctx.report.pattern_hinted(&pattern, &e);
            return Ok(FAILED);
        }
    };
    let explain = args.explain.then(|| parsed.clone());
    let mut matcher = ctx.matcher();
    matcher.add_pattern("pattern", parsed);

    let event = match read_arg("--event", &args.event) {
        Ok(e) => e,
        Err(message) => {
            ctx.report.message("io", &message);
            return Ok(FAILED);
        }
    };
    let origin = Position {
        offset: 0,
        line: 1,
        column: 1,
    };
    let refuse = |ctx: &Ctx, e: &EventError| {
        ctx.report.event(&event.name, origin, e);
        if let Some(hint) = event.path_hint() {
            ctx.report.notice(&format!("hint: {hint}"));
        }
        Ok(FAILED)
    };
    // An event must be JSON first, then an object.
    if let Err(e) = weir::json::validate(&event.bytes) {
        return refuse(ctx, &e);
    }
    if args.require_envelope {
        if let Err(e) = weir::check_envelope(&event.bytes) {
            return refuse(ctx, &e);
        }
    }
    let bytes = event.bytes.trim_ascii();
    let start = event.bytes.len() - event.bytes.trim_ascii_start().len();
    if let Some(found) = not_object(bytes) {
        let at = weir::json::locate(&event.bytes, start);
        ctx.report.not_object(&event.name, bytes, at, found);
        return Ok(FAILED);
    }
    if let Some(pattern) = explain {
        return match pattern.explain(&event.bytes) {
            Ok(why) => {
                match ctx.report.format() {
                    Format::Text => ctx.out.line(why.to_string().trim_end().as_bytes())?,
                    Format::Json => ctx.out.line(why.to_json().as_bytes())?,
                }
                Ok(if why.matched { MATCHED } else { NO_MATCH })
            }
            Err(e) => refuse(ctx, &e),
        };
    }
    match matcher.is_match(&event.bytes) {
        Ok(result) => {
            ctx.out
                .line(format!("{{\"Result\":{result}}}").as_bytes())?;
            Ok(if result { MATCHED } else { NO_MATCH })
        }
        Err(e) => refuse(ctx, &e),
    }
}
