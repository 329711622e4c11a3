//! `weir run` and `weir invoke`: the invocation layer (crate `weir-route`) driven by a
//! `weir.toml`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use weir_route::config::{totals, Deployment};
use weir_route::{InvocationType, Router};

use crate::report::Stop;
use crate::{Ctx, FAILED, MATCHED};

/// Exit code of `weir run` stopped by SIGINT (after a clean drain).
pub const INTERRUPTED: u8 = 130;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The config file: functions, queues, streams, buses, rules and event source mappings
    /// as a template's Resources (AWS property names).
    #[arg(long, value_name = "weir.toml")]
    config: PathBuf,
    /// No progress line on stderr (shown only on a terminal).
    #[arg(long)]
    no_progress: bool,
    /// The prefix of weir's keys on Redis (a weir.toml's Weir.Redis resources), as `weir
    /// serve --redis-prefix`.
    #[arg(long, value_name = "PREFIX", default_value = "weir")]
    redis_prefix: String,
}

/// `--invocation-type`, as `aws lambda invoke` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InvocationTypeArg {
    /// Wait for the response (status 200).
    #[value(name = "RequestResponse")]
    RequestResponse,
    /// Queue for asynchronous invocation (202); weir then waits for the retries to end.
    #[value(name = "Event")]
    Event,
    /// Check the request only (204).
    #[value(name = "DryRun")]
    DryRun,
}

#[derive(Args, Debug)]
pub struct InvokeArgs {
    /// The config file.
    #[arg(long, value_name = "weir.toml")]
    config: PathBuf,
    /// The function: its name or its logical id in the config.
    #[arg(value_name = "FUNCTION")]
    function: String,
    /// The event: JSON text, or file://PATH (default: {}).
    #[arg(long, value_name = "JSON|file://PATH")]
    payload: Option<String>,
    /// How to invoke.
    #[arg(long, value_enum, default_value_t = InvocationTypeArg::RequestResponse)]
    invocation_type: InvocationTypeArg,
    /// Where the response payload goes (- for stdout), as `aws lambda invoke`; without it,
    /// the payload is the output's "Payload" field.
    #[arg(value_name = "OUTFILE")]
    outfile: Option<PathBuf>,
    /// The prefix of weir's keys on Redis (a weir.toml's Weir.Redis resources), as `weir
    /// serve --redis-prefix`.
    #[arg(long, value_name = "PREFIX", default_value = "weir")]
    redis_prefix: String,
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn out_err(e: std::io::Error) -> Stop {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Stop::BrokenPipe
    } else {
        Stop::Output(e)
    }
}

/// `weir run`: builds everything, feeds the sample sources, waits until all work is done
/// (or SIGINT, then drains), writes the `Output` queues and prints the counters as JSON.
pub fn run(args: &RunArgs, ctx: &mut Ctx) -> Result<u8, Stop> {
    // Queues and streams with Weir.Redis run on Redis (crate weir-serve).
    let Some((config, redis_plan)) =
        crate::serve::load_with_redis(&args.config, &args.redis_prefix, ctx)
    else {
        return Ok(FAILED);
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            ctx.report
                .message("io", &format!("cannot start the runtime: {e}"));
            return Ok(FAILED);
        }
    };
    let progress = !args.no_progress && std::io::stderr().is_terminal();
    let options = ctx.options.clone();
    let result = rt.block_on(async {
        let router = Router::new();
        router.set_pattern_options(options.clone());
        // Redis queues and streams as destinations, and the functions' asynchronous queues on
        // Redis, in place before the rest of the file refers to them.
        let config_error = |e: String| ("config", e);
        let mut layer = redis_plan.attach(&router).await.map_err(config_error)?;
        let deployment = match config.build(&router, true) {
            Ok(d) => d,
            Err(e) => return Err(config_error(e.to_string())),
        };
        for warning in &deployment.warnings {
            eprintln!("weir: note: {warning}");
        }
        layer.start(std::sync::Arc::new(router.clone()));
        let redis = match redis_plan.is_empty() {
            true => None,
            false => Some(
                redis_plan
                    .start(std::sync::Arc::new(router.clone()))
                    .await
                    .map_err(config_error)?,
            ),
        };
        let bar = progress.then(|| start_progress(&router, &deployment));
        let interrupted = tokio::select! {
            fed = async {
                deployment.feed(&router).await.map_err(|e| config_error(e.to_string()))?;
                // In memory, in the Redis mappings and on the Redis asynchronous queues, work
                // can make more work on another side: done when one full pass finds all three
                // quiet. A Redis that stops answering ends the wait with its error.
                loop {
                    // The router's bus deliveries retry a Redis queue that refuses events:
                    // that Redis gone for good ends the wait too.
                    tokio::select! {
                        _ = router.wait_idle() => {}
                        e = layer.unreachable() => return Err(("redis", e)),
                    }
                    if let Some(redis) = &redis {
                        redis.wait_drained().await.map_err(|e| ("redis", e))?;
                    }
                    layer.wait_done().await.map_err(|e| ("redis", e))?;
                    let drained = match &redis {
                        Some(redis) => redis.is_drained().await,
                        None => true,
                    };
                    if router.is_idle() && drained && layer.pending().await == Ok(0) {
                        break;
                    }
                }
                Ok::<(), (&str, String)>(())
            } => {
                if let Err(e) = fed {
                    // Stop what runs before answering the error.
                    if let Some(redis) = &redis {
                        redis.signal_stop();
                    }
                    layer.signal_stop();
                    tokio::join!(
                        async {
                            if let Some(redis) = redis {
                                redis.join().await;
                            }
                        },
                        layer.join(),
                    );
                    router.shutdown().await;
                    return Err(e);
                }
                false
            }
            _ = tokio::signal::ctrl_c() => true,
        };
        // Stop polling; let running invocations end. The Redis mappings and the Redis
        // asynchronous workers are told to stop together, then waited for together (one's
        // long batch does not keep the other claiming); the invocation layer, which they
        // invoke, after them.
        if let Some(redis) = &redis {
            redis.signal_stop();
        }
        layer.signal_stop();
        let (redis_metrics, ()) = tokio::join!(
            async {
                match redis {
                    Some(redis) => redis.join().await,
                    None => serde_json::Map::new(),
                }
            },
            layer.join(),
        );
        router.shutdown().await;
        if let Some((bar, ticker)) = bar {
            ticker.abort();
            bar.finish_and_clear();
        }
        Ok((router, deployment, interrupted, redis_metrics))
    });
    // After SIGINT, a stream fed from stdin may still be blocked reading it on the
    // runtime's blocking pool, which dropping the runtime would wait for (until stdin
    // closes). Every invocation has ended by now, so nothing is cut short.
    rt.shutdown_timeout(Duration::from_millis(500));
    let (router, deployment, interrupted, redis_metrics) = match result {
        Ok(done) => done,
        Err((category, e)) => {
            ctx.report.message(category, &e);
            return Ok(FAILED);
        }
    };
    let mut stdout = std::io::stdout().lock();
    deployment
        .write_outputs(&router, &mut stdout)
        .map_err(out_err)?;
    // The Redis mappings' counters beside the invocation layer's.
    let mut metrics = serde_json::to_value(deployment.metrics(&router)).unwrap_or_default();
    if let Some(serde_json::Value::Object(mappings)) = metrics.get_mut("EventSourceMappings") {
        mappings.extend(redis_metrics);
    }
    writeln!(
        stdout,
        "{}",
        serde_json::to_string_pretty(&metrics).unwrap_or_default()
    )
    .map_err(out_err)?;
    stdout.flush().map_err(out_err)?;
    Ok(if interrupted { INTERRUPTED } else { MATCHED })
}

fn start_progress(router: &Router, d: &Deployment) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let (router, mappings, shown) = (router.clone(), d.mappings.clone(), bar.clone());
    let rules = d.rules.clone();
    let ticker = tokio::spawn(async move {
        loop {
            let t = totals(&router, &mappings);
            // Lambda's names; counters still at 0 left out (PolledEventCount always shown),
            // the line cut to the terminal's width.
            let all = [
                ("PolledEventCount", t.polled),
                ("FilteredOutEventCount", t.filtered_out),
                ("InvokedEventCount", t.invoked),
                ("FailedInvokeEventCount", t.failed_invoke),
                ("DroppedEventCount", t.dropped),
                (
                    "OnFailureDestinationDeliveredEventCount",
                    t.on_failure_delivered,
                ),
                ("DeletedEventCount", t.deleted),
                (
                    "FailedInvocations",
                    rules
                        .iter()
                        .filter_map(|(_, bus, name)| router.rule_metrics(bus, name))
                        .map(|m| m.failed_invocations)
                        .sum(),
                ),
            ];
            let shown_counters: Vec<String> = all
                .iter()
                .enumerate()
                .filter(|(i, (_, n))| *i == 0 || *n > 0)
                .map(|(_, (name, n))| format!("{name} {n}"))
                .collect();
            shown.set_message(shown_counters.join("  "));
            shown.tick();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    (bar, ticker)
}

fn read_payload(text: &str) -> Result<Vec<u8>, String> {
    match text.strip_prefix("file://") {
        Some(path) => std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}")),
        None => Ok(text.as_bytes().to_vec()),
    }
}

/// `weir invoke`: one invocation, printed as `aws lambda invoke` prints it.
pub fn invoke(args: &InvokeArgs, ctx: &mut Ctx) -> Result<u8, Stop> {
    let Some((config, redis_plan)) =
        crate::serve::load_with_redis(&args.config, &args.redis_prefix, ctx)
    else {
        return Ok(FAILED);
    };
    let payload = match args.payload.as_deref().map(read_payload).transpose() {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => {
            ctx.report.message("io", &e);
            return Ok(FAILED);
        }
    };
    let invocation_type = match args.invocation_type {
        InvocationTypeArg::RequestResponse => InvocationType::RequestResponse,
        InvocationTypeArg::Event => InvocationType::Event,
        InvocationTypeArg::DryRun => InvocationType::DryRun,
    };
    let options = ctx.options.clone();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            ctx.report
                .message("io", &format!("cannot start the runtime: {e}"));
            return Ok(FAILED);
        }
    };
    let result = rt.block_on(async {
        let router = Router::new();
        router.set_pattern_options(options.clone());
        let mut layer = redis_plan.attach(&router).await?;
        let deployment = config.build(&router, false).map_err(|e| e.to_string())?;
        let name = deployment
            .functions
            .iter()
            .find(|(id, _)| *id == args.function)
            .map_or(args.function.as_str(), |(_, name)| name.as_str())
            .to_string();
        // Only the invoked function's Redis queue is worked, and only for an Event: other
        // events there are left to the processes that run them.
        if invocation_type == InvocationType::Event {
            layer.start_for(std::sync::Arc::new(router.clone()), &name);
        }
        let out = router.invoke(&name, invocation_type, payload).await;
        // An asynchronous invocation runs (and retries) before weir exits, on Redis too:
        // weir waits for that event alone; SIGINT ends the wait.
        let waited = tokio::select! {
            waited = async {
                router.wait_idle().await;
                if let (Ok(accepted), InvocationType::Event) = (&out, invocation_type) {
                    layer.wait_event(&name, &accepted.request_id).await?;
                    router.wait_idle().await;
                }
                Ok::<(), String>(())
            } => waited.map(|()| false),
            _ = tokio::signal::ctrl_c() => Ok(true),
        };
        layer.stop().await;
        router.shutdown().await;
        Ok::<_, String>((router, deployment, out, waited))
    });
    let (router, deployment, out, waited) = match result {
        Ok(r) => r,
        Err(e) => {
            ctx.report.message("config", &e);
            return Ok(FAILED);
        }
    };
    let interrupted = match waited {
        Ok(interrupted) => interrupted,
        Err(e) => {
            ctx.report.message(
                "redis",
                &format!("the invocation was accepted, but weir cannot see it end: {e}"),
            );
            return Ok(FAILED);
        }
    };
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            ctx.report.message(
                e.error_type(),
                &format!(
                    "An error occurred ({}) when calling the Invoke operation: {}",
                    e.error_type(),
                    e.message()
                ),
            );
            return Ok(FAILED);
        }
    };
    let mut meta = serde_json::Map::new();
    meta.insert("StatusCode".into(), out.status_code.into());
    if let Some(fe) = &out.function_error {
        meta.insert("FunctionError".into(), fe.clone().into());
    }
    meta.insert(
        "ExecutedVersion".into(),
        out.executed_version.clone().into(),
    );
    let mut stdout = std::io::stdout().lock();
    match &args.outfile {
        Some(path) if path.as_os_str() == "-" => {
            stdout.write_all(&out.payload).map_err(out_err)?;
            writeln!(stdout).map_err(out_err)?;
        }
        Some(path) => {
            if let Err(e) = std::fs::write(path, &out.payload) {
                ctx.report
                    .message("io", &format!("cannot write {}: {e}", path.display()));
                return Ok(FAILED);
            }
        }
        None => {
            let payload = serde_json::from_slice::<serde_json::Value>(&out.payload)
                .unwrap_or_else(|_| String::from_utf8_lossy(&out.payload).into_owned().into());
            if !out.payload.is_empty() {
                meta.insert("Payload".into(), payload);
            }
        }
    }
    writeln!(
        stdout,
        "{}",
        serde_json::to_string_pretty(&serde_json::Value::Object(meta)).unwrap_or_default()
    )
    .map_err(out_err)?;
    deployment
        .write_outputs(&router, &mut stdout)
        .map_err(out_err)?;
    stdout.flush().map_err(out_err)?;
    drop(rt);
    Ok(if interrupted { INTERRUPTED } else { MATCHED })
}
