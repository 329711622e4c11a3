//! `weir test`: one event against one pattern, as `aws events test-event-pattern`.

use weir::Pattern;

use crate::input::{read_arg, LineIndex};
use crate::report::{Format, Stop};
use crate::{Ctx, TestArgs, FAILED, MATCHED, NO_MATCH};

pub fn run(args: &TestArgs, ctx: &mut Ctx) -> Result<u8, Stop> {
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
            ctx.report.pattern(&pattern.name, &e);
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
    if args.require_envelope {
        if let Err(e) = weir::check_envelope(&event.bytes) {
            let index = LineIndex::new(&event.bytes);
            ctx.report
                .event(&event.name, &index, e.offset(), e.reason());
            return Ok(FAILED);
        }
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
            Err(e) => {
                let index = LineIndex::new(&event.bytes);
                ctx.report
                    .event(&event.name, &index, e.offset(), e.reason());
                Ok(FAILED)
            }
        };
    }
    match matcher.is_match(&event.bytes) {
        Ok(result) => {
            ctx.out
                .line(format!("{{\"Result\":{result}}}").as_bytes())?;
            Ok(if result { MATCHED } else { NO_MATCH })
        }
        Err(e) => {
            let index = LineIndex::new(&event.bytes);
            ctx.report
                .event(&event.name, &index, e.offset(), e.reason());
            Ok(FAILED)
        }
    }
}
