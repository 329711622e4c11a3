//! `weir`: test, filter and route JSON events with AWS EventBridge / Lambda event patterns.
//!
//! Exit codes follow grep: 0 when something matched (or every file is valid), 1 when nothing
//! matched, 2 on any error. Results go to stdout, errors to stderr.

mod check;
mod filter;
mod input;
mod lambda;
mod map;
mod report;
mod route;
mod rules;
mod serve;
mod stream;
mod test_event;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use weir::lambda::{Source, DEFAULT_MAX_FILTERS};
use weir::{EventReading, Matcher, Options};

use report::{Format, Out, Reporter, Stop};

/// Exit code: something matched, or everything checked is valid.
pub const MATCHED: u8 = 0;
/// Exit code: nothing matched.
pub const NO_MATCH: u8 = 1;
/// Exit code: an error (bad pattern, bad input, unreadable file, bad flag).
pub const FAILED: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "weir",
    version,
    about = "Test, filter and route JSON events with AWS EventBridge / Lambda event patterns",
    long_about = "Test, filter and route JSON events with AWS EventBridge / Lambda event patterns, \
                  with AWS's exact semantics.\n\n\
                  Exit status: 0 if something matched (or every file is valid), 1 if nothing \
                  matched, 2 on any error.",
    propagate_version = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags every subcommand takes.
#[derive(Args, Debug)]
struct Global {
    /// How errors are printed on stderr (and `test --explain` reports on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    format: Format,
    /// Reject what Lambda event filtering does not support (wildcard, anything-but
    /// prefix/suffix/equals-ignore-case/wildcard); a repeated key's last value wins.
    #[arg(long, global = true)]
    lambda_strict: bool,
    /// Compare number literals by their text, the old Lambda rule (300 does not match 300.0).
    #[arg(long, global = true)]
    numbers_as_strings: bool,
}

/// How events are read (`test`, `filter`, `route`).
#[derive(Args, Debug)]
struct Reading {
    /// Read only what the rules need from each event (fastest): values no rule names are
    /// skipped unvalidated, so malformed content there goes unnoticed.
    #[arg(long)]
    lazy: bool,
}

/// Streaming input and output (`filter`, `route`).
#[derive(Args, Debug)]
struct StreamArgs {
    #[command(flatten)]
    reading: Reading,
    /// Print nothing and stop at the first match; the exit status tells whether something
    /// matched (0, even after errors), as grep -q.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Stop after N matching events (as grep -m).
    #[arg(short = 'm', long, value_name = "N")]
    max_count: Option<usize>,
    /// Wrap each output line as {"line": N, ...} (N: the event's first line in its input;
    /// "input" names it when there are several).
    #[arg(short = 'n', long, conflicts_with = "count")]
    line_number: bool,
    /// Matching threads (default: all cores). Output is the same for any number.
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
    /// Flush every result as soon as it is known, even when reading regular files (results
    /// are always flushed this way when the input is a pipe or a terminal).
    #[arg(long)]
    line_buffered: bool,
    /// Read files with read(2) instead of mapping them into memory (for files another
    /// process may shrink or rewrite while weir reads them: what a mapped file held past
    /// where it shrank is reported as not read).
    #[arg(long)]
    no_mmap: bool,
    /// No progress line on stderr (shown only on a terminal, for inputs taking over a
    /// second).
    #[arg(long)]
    no_progress: bool,
    /// Files of events: JSONL, one JSON value, a JSON array of events, or JSON values
    /// separated by whitespace (pretty-printed ones too); - is stdin (the default).
    #[arg(value_name = "EVENTS")]
    events: Vec<PathBuf>,
}

impl StreamArgs {
    /// The most matching events to read (`-m`; 1 with `-q`).
    fn limit(&self) -> Option<usize> {
        if self.quiet {
            Some(1)
        } else {
            self.max_count
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Test one event against one pattern, like `aws events test-event-pattern`: prints
    /// {"Result":true} or {"Result":false}, or with --explain why.
    Test(TestArgs),
    /// Print the events that match a pattern or FilterCriteria, as JSONL (grep for events).
    ///
    /// Each input holds JSONL, one JSON event, a JSON array of events, or JSON values
    /// separated by whitespace; it is read as a stream and results are written as they are
    /// known. Events are printed as written (multi-line events compacted onto one line).
    /// With --lambda, records that Lambda would drop are reported on stderr with the reason;
    /// with --filter-criteria and no --lambda, records carrying their eventSource are read
    /// as records of that source.
    Filter(FilterArgs),
    /// Print, for each event, the JSON array of the names of the rules it matches.
    ///
    /// Exactly one line per input event, in order: an event that cannot be read gets
    /// `null` (its error goes to stderr).
    Route(RouteArgs),
    /// Validate pattern and FilterCriteria files.
    Check(CheckArgs),
    /// Print a pattern at each stage of the pipeline.
    Debug(DebugArgs),
    /// Run the functions, queues, streams, event buses and event source mappings of a
    /// weir.toml until all work is done, then print the counters as JSON.
    ///
    /// The config is a template's Resources (AWS property names). Sample messages, stream
    /// records (JSONL files or stdin) and bus events are sent at the start; queues with an
    /// Output are written at the end. On a terminal a progress line shows the event source
    /// mappings' counters. SIGINT stops polling, lets running invocations end, and prints the
    /// counters (exit status 130).
    Run(lambda::RunArgs),
    /// Invoke a function of a weir.toml, as `aws lambda invoke` does: prints
    /// {"StatusCode": ..., "FunctionError": ..., "ExecutedVersion": ...}.
    Invoke(lambda::InvokeArgs),
    /// Serve AWS-compatible EventBridge (JSON 1.1) and Lambda (Invoke) endpoints on
    /// 127.0.0.1, for the AWS CLI and SDKs (`--endpoint-url`). Any credentials are accepted:
    /// signatures are not checked. Prints the endpoint's URL as its first line.
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The port on 127.0.0.1; 0 picks a free one (the URL printed tells which).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The region named in ARNs and events.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// A function run as a shell command per invocation (event on stdin, response on
    /// stdout, non-zero exit a function error); may be repeated.
    #[arg(long, value_name = "NAME=COMMAND", value_parser = serve::parse_function)]
    function: Vec<(String, String)>,
    /// The functions' timeout in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=900))]
    timeout: u32,
    /// Keep the asynchronous invocation queue on this Redis (redis://HOST:PORT/), so an
    /// accepted Event invocation survives a restart of weir (of Redis, as far as Redis's
    /// persistence settings keep it) and several weir processes share it;
    /// EventBridge's buses, rules and event source mappings are kept there too, and queue and
    /// stream targets the weir.toml has not are Redis queues and streams there.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// The prefix of weir's keys on Redis.
    #[arg(long, value_name = "PREFIX", default_value = "weir")]
    redis_prefix: String,
    /// Also serve the functions, queues, streams, event buses, rules and event source
    /// mappings of a weir.toml (as `weir run` reads it): its mappings run while weir serves,
    /// PutEvents reaches its buses' rules, and targets put over the API reach its queues and
    /// streams.
    #[arg(long, value_name = "weir.toml")]
    config: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct TestArgs {
    /// The pattern: JSON text, file://PATH, or - for stdin.
    #[arg(long, value_name = "JSON|file://PATH")]
    event_pattern: String,
    /// The event: JSON text, file://PATH, or - for stdin.
    #[arg(long, value_name = "JSON|file://PATH")]
    event: String,
    /// Refuse events without EventBridge's envelope (id, source, detail-type, account,
    /// region, time), as TestEventPattern does.
    #[arg(long)]
    require_envelope: bool,
    /// Print why the event does or does not match instead of {"Result":..}: each field's
    /// values (with byte offsets) and conditions, the $or alternatives, the array elements
    /// (a JSON object with --format json).
    #[arg(long)]
    explain: bool,
    #[command(flatten)]
    reading: Reading,
}

/// Where `filter` takes its pattern from.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct PatternSource {
    /// The pattern as JSON text (or file://PATH).
    #[arg(long, value_name = "JSON")]
    pattern: Option<String>,
    /// A file holding the pattern.
    #[arg(long, value_name = "PATH")]
    pattern_file: Option<PathBuf>,
    /// A Lambda FilterCriteria file: {"Filters": [{"Pattern": "..."}]}.
    #[arg(long, value_name = "PATH")]
    filter_criteria: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct FilterArgs {
    #[command(flatten)]
    source: PatternSource,
    /// Print only the number of selected events.
    #[arg(short = 'c', long)]
    count: bool,
    /// Select the events that do not match.
    #[arg(short = 'v', long)]
    invert: bool,
    /// Treat events as Lambda records of this event source and apply its record rules
    /// (sqs, kinesis, dynamodb, kafka, mq).
    #[arg(long, value_name = "SOURCE", value_parser = parse_source)]
    lambda: Option<Source>,
    /// Most filters a FilterCriteria may hold (Lambda: 5, or 10 with a raised quota).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_FILTERS)]
    max_filters: usize,
    #[command(flatten)]
    stream: StreamArgs,
}

#[derive(Args, Debug)]
struct RouteArgs {
    /// A JSON object mapping rule names to patterns (objects, or strings holding pattern
    /// JSON).
    #[arg(long, value_name = "RULES.json")]
    rules: PathBuf,
    /// Print one JSON object counting the matching events of every rule instead.
    #[arg(short = 'c', long)]
    count: bool,
    #[command(flatten)]
    stream: StreamArgs,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Pattern or FilterCriteria files (a top-level object with a "Filters" key is a
    /// FilterCriteria); - is stdin.
    #[arg(value_name = "PATTERN_FILES", required_unless_present = "rules")]
    files: Vec<PathBuf>,
    /// A rules file (as `route --rules` reads) to check; may be repeated.
    #[arg(long, value_name = "RULES.json")]
    rules: Vec<PathBuf>,
    /// Most filters a FilterCriteria may hold.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_FILTERS)]
    max_filters: usize,
}

/// A stage of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Stage {
    /// The syntax tree, with byte spans.
    Ast,
    /// The validated pattern: field paths and operators.
    Ir,
    /// The compiled matcher.
    Matcher,
}

#[derive(Args, Debug)]
struct DebugArgs {
    /// Which stage to print.
    #[arg(value_enum)]
    stage: Stage,
    /// The pattern: JSON text, file://PATH, or - for stdin.
    #[arg(long, value_name = "JSON|file://PATH")]
    pattern: String,
}

fn parse_source(text: &str) -> Result<Source, String> {
    text.parse::<Source>().map_err(|_| {
        format!("unknown event source {text:?} (expected sqs, kinesis, dynamodb, kafka or mq)")
    })
}

/// What every command works with.
pub struct Ctx {
    /// Pattern options from the flags.
    pub options: Options,
    /// How matchers read events (`--lazy`).
    pub reading: EventReading,
    /// Errors to stderr.
    pub report: Reporter,
    /// Results to stdout.
    pub out: Out,
    /// Events selected (matched) so far.
    pub selected: usize,
}

impl Ctx {
    /// Takes `--lazy`.
    fn read_with(&mut self, reading: &Reading) {
        if reading.lazy {
            self.reading = EventReading::Lazy;
        }
    }

    /// Takes the streaming flags, and the engine's settings from them.
    fn settings(&mut self, args: &StreamArgs) -> stream::Settings {
        self.out.line_buffered = args.line_buffered;
        self.report.progress_on = !args.no_progress && std::io::stderr().is_terminal();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        stream::Settings {
            threads: args.threads.map_or(cores, |n| n as usize),
            line_buffered: args.line_buffered,
            mmap: !args.no_mmap,
        }
    }

    /// An empty matcher with the flags' pattern options and event reading.
    pub fn matcher(&self) -> Matcher {
        let mut matcher = Matcher::with_options(self.options.clone());
        matcher.set_reading(self.reading);
        matcher
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut ctx = Ctx {
        options: Options::new()
            .lambda_strict(cli.global.lambda_strict)
            .numbers_as_strings(cli.global.numbers_as_strings),
        reading: EventReading::Validate,
        report: Reporter::new(cli.global.format),
        out: Out::new(),
        selected: 0,
    };
    match &cli.command {
        Command::Test(args) => ctx.read_with(&args.reading),
        Command::Filter(args) => ctx.read_with(&args.stream.reading),
        Command::Route(args) => ctx.read_with(&args.stream.reading),
        Command::Check(_)
        | Command::Debug(_)
        | Command::Run(_)
        | Command::Invoke(_)
        | Command::Serve(_) => {}
    }
    let result = match &cli.command {
        Command::Test(args) => test_event::run(args, &mut ctx),
        Command::Filter(args) => filter::run(args, &mut ctx),
        Command::Route(args) => route::run(args, &mut ctx),
        Command::Check(args) => check::check(args, &mut ctx),
        Command::Debug(args) => check::debug(args, &mut ctx),
        Command::Run(args) => lambda::run(args, &mut ctx),
        Command::Invoke(args) => lambda::invoke(args, &mut ctx),
        Command::Serve(args) => serve::run(args, &mut ctx),
    };
    let result = result.and_then(|code| ctx.out.flush().map(|()| code));
    match result {
        Ok(code) => ExitCode::from(code),
        // A closed pipe means the reader has seen enough.
        Err(Stop::BrokenPipe) => ExitCode::from(MATCHED),
        Err(Stop::Output(e)) => {
            ctx.report.message(
                "io",
                &format!("cannot write output: {}", input::io_reason(&e)),
            );
            ExitCode::from(FAILED)
        }
    }
}
