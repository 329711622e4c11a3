//! `weir serve`: AWS-compatible EventBridge and Lambda endpoints on 127.0.0.1.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use weir_route::{CommandHandler, FunctionConfig, ProcessSpec, Router};
use weir_serve::{DurableInvoker, RedisAsyncConfig, RedisAsyncQueue, RedisMappings, Service};

use crate::report::Stop;
use crate::{Ctx, ServeArgs, FAILED, MATCHED};

/// A `--function NAME=COMMAND` flag: the name and the shell command.
pub fn parse_function(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, command)) if !name.is_empty() && !command.is_empty() => {
            Ok((name.to_string(), command.to_string()))
        }
        _ => Err(format!("expected NAME=COMMAND, got {text:?}")),
    }
}

pub fn run(args: &ServeArgs, ctx: &mut Ctx) -> Result<u8, Stop> {
    // A weir.toml's functions, queues, streams, buses, rules and mappings (those on Redis
    // included), served beside the --function ones.
    let config = match &args.config {
        None => None,
        Some(path) => match load_with_redis(path, &args.redis_prefix, ctx) {
            Some(loaded) => Some(loaded),
            None => return Ok(FAILED),
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            ctx.report
                .message("io", &format!("cannot start the server's runtime: {e}"));
            return Ok(FAILED);
        }
    };
    let result: std::io::Result<()> = runtime.block_on(async {
        // The invocation layer: functions with their timeouts, and its asynchronous queue
        // (retries, destinations) for Event invocations and bus targets.
        let functions = Router::new();
        let timeout = Duration::from_secs(args.timeout.into());
        for (name, command) in &args.function {
            let spec = ProcessSpec::new("sh").arg("-c").arg(command.as_str());
            let mut config = FunctionConfig::new(name.as_str());
            config.timeout = timeout;
            functions
                .create_function(config, CommandHandler::new(spec))
                .map_err(|e| std::io::Error::other(format!("function {name}: {}", e.message())))?;
        }
        let mut redis_run = None;
        let mut redis_layer = None;
        let mut mappings_task = None;
        let stop_mappings = Arc::new(tokio::sync::Notify::new());
        if let Some((config, plan)) = &config {
            // Redis queues and streams as destinations, and the functions' asynchronous
            // queues on Redis (worked by this process too), before the rest is built.
            let mut attached = plan
                .attach(&functions)
                .await
                .map_err(|e| std::io::Error::other(format!("config: {e}")))?;
            let deployment = config
                .build(&functions, true)
                .map_err(|e| std::io::Error::other(format!("config: {e}")))?;
            for warning in &deployment.warnings {
                eprintln!("weir: note: {warning}");
            }
            attached.start(Arc::new(functions.clone()));
            redis_layer = Some(attached);
            deployment.feed(&functions).await?;
            if !plan.is_empty() {
                redis_run = Some(
                    plan.start(Arc::new(functions.clone()))
                        .await
                        .map_err(|e| std::io::Error::other(format!("config: {e}")))?,
                );
            }
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
        let address = listener.local_addr()?;
        // The first line of stdout is the endpoint, for scripts that start weir on port 0.
        let mut stdout = std::io::stdout();
        writeln!(stdout, "http://{address}")?;
        stdout.flush()?;
        let layer = functions.clone();
        let durable_stop = tokio::sync::watch::channel(false).0;
        let mut durable_worker = None;
        let app = match &args.redis {
            None => Service::new(Arc::new(functions), &args.region)
                .event_buses(layer)
                .router(),
            Some(url) => {
                // Event invocations (and the deliveries of the rules put over the API) are
                // kept on Redis until run, so an accepted one survives a restart; this process
                // works the queue too. The deliveries of a weir.toml's bus rules go through the
                // invocation layer's in-memory queue.
                let mut config = RedisAsyncConfig::new(format!("{}:async", args.redis_prefix));
                config.lease = timeout * 2 + Duration::from_secs(5);
                let queue = RedisAsyncQueue::connect(url, config)
                    .await
                    .map_err(|e| std::io::Error::other(format!("cannot connect to {url}: {e}")))?;
                let worker = queue.clone();
                let router = functions.clone();
                // Stopped with the server: running events get their grace, the rest stay
                // on Redis for the next process.
                let mut stopped = durable_stop.subscribe();
                durable_worker = Some(tokio::spawn(async move {
                    let stop = async move {
                        let _ = stopped.wait_for(|stopped| *stopped).await;
                    };
                    worker.run(&router, stop).await
                }));
                // Event source mappings are kept on Redis too: every weir serve on this Redis
                // runs each of them (a consumer per process, sharing the work).
                let mappings = RedisMappings::connect(
                    url,
                    &args.redis_prefix,
                    &args.region,
                    Arc::new(functions.clone()),
                )
                .await
                .map_err(|e| std::io::Error::other(format!("cannot connect to {url}: {e}")))?;
                let supervisor = mappings.clone();
                let stop = stop_mappings.clone();
                mappings_task = Some(tokio::spawn(async move {
                    supervisor.supervise(stop.notified()).await
                }));
                let durable = DurableInvoker::new(Arc::new(functions), queue);
                // Rules and targets on Redis too, shared by every weir serve on it.
                Service::new(Arc::new(durable), &args.region)
                    .mappings(mappings)
                    .event_buses(layer)
                    .rules_on_redis(url, &args.redis_prefix)
                    .await
                    .map_err(|e| std::io::Error::other(format!("cannot connect to {url}: {e}")))?
                    .router()
            }
        };
        let served = weir_serve::serve(listener, app, shutdown_signal()).await;
        // Every part is told to stop first, then all are waited for together: the mappings'
        // consumers finish the batches in hand (checkpointing them) while the asynchronous
        // workers give their running events the grace and put back the rest. Stopped one
        // after another, a later part would keep claiming work until the earlier ones end
        // (a batch can take a function's timeout), past a supervisor's kill timeout.
        stop_mappings.notify_one();
        durable_stop.send_replace(true);
        if let Some(run) = &redis_run {
            run.signal_stop();
        }
        if let Some(redis_layer) = &redis_layer {
            redis_layer.signal_stop();
        }
        tokio::join!(
            async {
                if let Some(task) = mappings_task {
                    let _ = task.await;
                }
            },
            async {
                if let Some(worker) = durable_worker {
                    let _ = worker.await;
                }
            },
            async {
                if let Some(run) = redis_run {
                    run.join().await;
                }
            },
            async {
                if let Some(redis_layer) = redis_layer {
                    redis_layer.join().await;
                }
            },
        );
        served
    });
    match result {
        Ok(()) => Ok(MATCHED),
        Err(e) => {
            ctx.report
                .message("io", &format!("weir serve on 127.0.0.1:{}: {e}", args.port));
            Ok(FAILED)
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// `weir run`'s config: the invocation layer's part of the file, and its Redis sources and
/// mappings (resources with `Weir.Redis`), which run as Redis consumers.
pub fn load_with_redis(
    path: &std::path::Path,
    redis_prefix: &str,
    ctx: &Ctx,
) -> Option<(
    weir_route::config::Config,
    weir_serve::redis_config::RedisPlan,
)> {
    let fail = |message: String| {
        ctx.report.message("config", &message);
        None
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return fail(format!("{}: cannot read: {e}", path.display())),
    };
    let base = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let (rest, mut plan) = match weir_serve::redis_config::split(&text, &base) {
        Ok(split) => split,
        Err(e) => return fail(format!("{}: {e}", path.display())),
    };
    plan.set_prefix(redis_prefix);
    let config = if plan.is_empty() {
        weir_route::config::Config::load(path).map_err(|e| e.to_string())
    } else {
        weir_route::config::Config::parse(&rest, &base)
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    match config {
        Ok(config) => Some((config, plan)),
        Err(e) => fail(e),
    }
}
