//! The streaming engine behind `filter` and `route`: inputs are read in blocks into the
//! splitter's reused buffer, complete events are cut as they arrive, matched in batches (on
//! a thread pool when there are enough of them) and handed on in input order, so results are
//! written as soon as they are known and memory stays bounded by the largest event plus a
//! batch.

use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use weir::json::{Checking, Event, SplitError, StreamSplitter};
use weir::{EventError, Position};

use crate::input::io_reason;
use crate::report::Stop;
use crate::Ctx;

/// Bytes read per `read` call.
pub const BLOCK: usize = 256 * 1024;

/// Bytes gathered before a batch is matched (when the input is not interactive).
pub const BATCH: usize = 1024 * 1024;

/// Fewest events per thread worth handing to the pool; smaller batches are matched inline.
const MIN_PER_THREAD: usize = 32;

/// Matches a batch of events; one `Out` holds the results of one chunk of a batch.
pub trait Judge: Sync {
    /// The results of a chunk of events.
    type Out: Send + Default;
    /// Matches `events`, replacing what `out` held.
    fn judge(&self, events: &[&[u8]], out: &mut Self::Out);
}

/// Whether to go on after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read on.
    Go,
    /// Stop reading every input (`-q`, `-m`).
    Stop,
}

/// How the engine runs.
pub struct Settings {
    /// Matching threads (1: match on the reading thread).
    pub threads: usize,
    /// Flush after every batch even for regular files (`--line-buffered`).
    pub line_buffered: bool,
}

/// One input item handed to a consumer: an event and its chunk's results, or a broken event.
pub enum Item<'a, O> {
    /// An event, with the results of its chunk and its index there.
    Event(Event<'a>, &'a O, usize),
    /// An event the splitter could not cut.
    Broken(SplitError),
}

/// The streaming engine.
pub struct Engine<J: Judge> {
    judge: J,
    pool: Option<rayon::ThreadPool>,
    threads: usize,
    line_buffered: bool,
    outs: Vec<J::Out>,
    /// Batches matched so far.
    batches: u64,
    /// Cost of matching one event, as last measured (on a batch matched alone).
    ns_per_event: f64,
}

impl<J: Judge> Engine<J> {
    /// An engine matching with `judge`.
    pub fn new(judge: J, settings: &Settings) -> Result<Engine<J>, String> {
        let threads = settings.threads.max(1);
        // The reading thread matches a chunk too: the pool has one thread fewer.
        let pool = if threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads - 1)
                    .build()
                    .map_err(|e| format!("cannot start {threads} threads: {e}"))?,
            )
        } else {
            None
        };
        Ok(Engine {
            judge,
            pool,
            threads,
            line_buffered: settings.line_buffered,
            outs: Vec::new(),
            batches: 0,
            ns_per_event: f64::INFINITY,
        })
    }

    /// Reads every input in turn (stdin when none is given), handing each event to `each`
    /// in input order with its results. Unreadable inputs are reported and skipped.
    pub fn run(
        &mut self,
        paths: &[PathBuf],
        ctx: &mut Ctx,
        mut each: impl FnMut(&mut Ctx, &str, &J, Item<'_, J::Out>) -> Result<Flow, Stop>,
    ) -> Result<(), Stop> {
        let stdin = [PathBuf::from("-")];
        let paths = if paths.is_empty() { &stdin[..] } else { paths };
        let result = self.all(paths, ctx, &mut each);
        ctx.report.progress_done();
        result
    }

    fn all(
        &mut self,
        paths: &[PathBuf],
        ctx: &mut Ctx,
        each: &mut impl FnMut(&mut Ctx, &str, &J, Item<'_, J::Out>) -> Result<Flow, Stop>,
    ) -> Result<(), Stop> {
        let started = Instant::now();
        let mut totals = (0u64, 0u64);
        for path in paths {
            let (name, mut reader, interactive) = match open(path) {
                Ok(opened) => opened,
                Err(message) => {
                    ctx.report.message("io", &message);
                    continue;
                }
            };
            let interactive = interactive || self.line_buffered;
            let flow = self.one(
                &name,
                &mut *reader,
                interactive,
                ctx,
                each,
                started,
                &mut totals,
            )?;
            if flow == Flow::Stop {
                break;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn one(
        &mut self,
        name: &str,
        reader: &mut (dyn Read + Send),
        interactive: bool,
        ctx: &mut Ctx,
        each: &mut impl FnMut(&mut Ctx, &str, &J, Item<'_, J::Out>) -> Result<Flow, Stop>,
        started: Instant,
        totals: &mut (u64, u64),
    ) -> Result<Flow, Stop> {
        let mut stream = StreamSplitter::new()
            .checking(Checking::Boundaries)
            .block_size(BLOCK);
        let mut ahead = Ahead::default();
        if interactive {
            // What earlier inputs printed goes out before weir waits on this one.
            ctx.out.flush()?;
        }
        loop {
            if ahead.pending {
                // Read on the pool while the last batch was matched.
                ahead.pending = false;
                stream.feed(&ahead.buf[..ahead.len]);
                totals.0 += ahead.len as u64;
                if let Some(e) = ahead.error.take() {
                    ctx.report
                        .message("io", &format!("cannot read {name}: {}", io_reason(&e)));
                    stream.finish();
                } else if ahead.eof {
                    stream.finish();
                }
            } else {
                loop {
                    match stream.fill(reader) {
                        Ok(0) => break,
                        Ok(n) => {
                            totals.0 += n as u64;
                            if interactive || stream.buffered() >= BATCH {
                                break;
                            }
                        }
                        Err(e) => {
                            ctx.report
                                .message("io", &format!("cannot read {name}: {}", io_reason(&e)));
                            stream.finish();
                            break;
                        }
                    }
                }
            }
            let eof = stream.is_finished();
            let items: Vec<Result<Event<'_>, SplitError>> = stream.events().collect();
            let events: Vec<&[u8]> = items
                .iter()
                .filter_map(|item| item.as_ref().ok().map(|e| e.bytes))
                .collect();
            totals.1 += events.len() as u64;
            // A pipe or terminal is never read ahead: results go out before weir waits.
            let read_ahead = (!interactive && !eof).then_some((&mut *reader, &mut ahead));
            let size = self.judge_all(&events, read_ahead);
            let mut k = 0;
            for item in items {
                let item = match item {
                    Ok(event) => {
                        let (chunk, i) = (k / size, k % size);
                        k += 1;
                        Item::Event(event, &self.outs[chunk], i)
                    }
                    Err(e) => Item::Broken(e),
                };
                if each(ctx, name, &self.judge, item)? == Flow::Stop {
                    return Ok(Flow::Stop);
                }
            }
            if interactive {
                ctx.out.flush()?;
            }
            ctx.report
                .progress(started, totals.0, totals.1, ctx.selected);
            if eof {
                return Ok(Flow::Go);
            }
        }
    }

    /// Matches `events` into `self.outs`, in chunks of the returned size. A batch is split
    /// over the threads only when matching it alone takes long enough to be worth waking
    /// them (validating usually is; lazy matching of small events usually is not): the cost
    /// per event is measured on a batch matched alone now and then.
    ///
    /// With `ahead`, a batch matched by this thread alone has the next block read on the
    /// pool meanwhile (into `ahead`, marked pending).
    fn judge_all<R: Read + Send + ?Sized>(
        &mut self,
        events: &[&[u8]],
        ahead: Option<(&mut R, &mut Ahead)>,
    ) -> usize {
        self.batches += 1;
        let worth = self.ns_per_event * events.len() as f64 >= PARALLEL_NS;
        let alone = self.pool.is_none() || !worth || self.batches % PROBE_EVERY == 1;
        let chunks = if alone || events.len() < self.threads * MIN_PER_THREAD {
            1
        } else {
            self.threads
        };
        let size = events.len().div_ceil(chunks).max(1);
        if self.outs.len() < chunks {
            self.outs.resize_with(chunks, Default::default);
        }
        let judge = &self.judge;
        match &self.pool {
            Some(pool) if chunks > 1 => {
                let (first, rest) = self.outs[..chunks].split_at_mut(1);
                let mut parts = events.chunks(size);
                let head = parts.next().unwrap_or_default();
                let started = Instant::now();
                // This thread matches the first chunk; the pool the others.
                pool.in_place_scope(|scope| {
                    for (out, part) in rest.iter_mut().zip(parts) {
                        scope.spawn(move |_| judge.judge(part, out));
                    }
                    judge.judge(head, &mut first[0]);
                });
                // What the batch would have cost alone, at most (the wake-up of the pool
                // counted in): a single slow measurement, such as the cold first batch,
                // must not keep cheap batches on the threads until the next probe.
                let ns = started.elapsed().as_nanos() as f64 * chunks as f64;
                self.ns_per_event = ns / events.len() as f64;
            }
            Some(pool) if !events.is_empty() => {
                let out = &mut self.outs[0];
                let started = Instant::now();
                // Reading ahead costs a copy of the block and a wake-up of the pool: worth
                // it only when matching takes longer than reading.
                let cost = self.ns_per_event * events.len() as f64;
                match ahead.filter(|_| cost >= AHEAD_NS) {
                    Some((reader, ahead)) => pool.in_place_scope(|scope| {
                        scope.spawn(move |_| ahead.read(reader));
                        judge.judge(events, out);
                    }),
                    None => judge.judge(events, out),
                }
                let ns = started.elapsed().as_nanos() as f64 / events.len() as f64;
                self.ns_per_event = ns;
            }
            _ => judge.judge(events, &mut self.outs[0]),
        }
        size
    }
}

/// The next block of a regular file, read on the pool while a batch is matched.
#[derive(Default)]
struct Ahead {
    buf: Vec<u8>,
    len: usize,
    eof: bool,
    error: Option<std::io::Error>,
    /// Whether `buf[..len]` (and `eof`, `error`) are still to be fed to the splitter.
    pending: bool,
}

impl Ahead {
    /// Reads up to a batch from `reader`.
    fn read<R: Read + ?Sized>(&mut self, reader: &mut R) {
        if self.buf.len() < BATCH {
            self.buf.resize(BATCH, 0);
        }
        self.len = 0;
        self.eof = false;
        self.pending = true;
        while self.len < BATCH {
            match reader.read(&mut self.buf[self.len..BATCH]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    break;
                }
            }
        }
    }
}

/// Time (ns) that matching a batch alone must take for the batch to be split over threads.
const PARALLEL_NS: f64 = 300_000.0;

/// Time (ns) that matching a batch alone must take for the next block to be read on the pool
/// meanwhile (about what reading and copying a batch of bytes costs).
const AHEAD_NS: f64 = 150_000.0;

/// Every this many batches one is matched alone, to measure the cost per event again.
const PROBE_EVERY: u64 = 64;

/// Opens an input: its name in messages, a reader, and whether it is interactive (not a
/// regular file: a pipe, a terminal, a socket), so results are flushed as they are known.
fn open(path: &Path) -> Result<(String, Box<dyn Read + Send>, bool), String> {
    if path.as_os_str() == "-" {
        let stdin = std::io::stdin();
        let interactive = stdin.is_terminal() || !stdin_is_file();
        return Ok(("<stdin>".to_string(), Box::new(stdin), interactive));
    }
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| format!("cannot read {name}: {}", io_reason(&e)))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {name}: {}", io_reason(&e)))?;
    if meta.is_dir() {
        return Err(format!("cannot read {name}: Is a directory"));
    }
    Ok((name, Box::new(file), !meta.is_file()))
}

/// Whether stdin is a regular file (redirected from one), rather than a pipe or terminal.
#[cfg(unix)]
fn stdin_is_file() -> bool {
    use std::os::fd::AsFd;
    std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.is_file())
}

#[cfg(not(unix))]
fn stdin_is_file() -> bool {
    false
}

/// The position of an event in its input, for placing errors found inside it.
pub fn base(event: &Event<'_>) -> Position {
    Position {
        offset: event.offset,
        line: event.line,
        column: event.column,
    }
}

/// What an event that is JSON but not an object is, or `None` for an object (or for bytes
/// that are not JSON at all, which the matcher reports).
pub fn not_object(bytes: &[u8]) -> Option<&'static str> {
    match bytes.first()? {
        b'{' => None,
        b'[' => Some("an array"),
        b'"' => Some("a string"),
        b't' | b'f' => Some("a boolean"),
        b'n' => Some("null"),
        b'-' | b'0'..=b'9' => Some("a number"),
        _ => None,
    }
}

/// An event's verdict, as the consumers see it.
pub enum Verdict<'a> {
    /// Matched.
    Matched,
    /// Not matched.
    NotMatched,
    /// Lambda drops the record: why.
    Dropped(String),
    /// The event could not be read.
    Invalid(&'a EventError),
    /// An error without an event error of the library (an unknown record source): the
    /// message.
    Refused(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_an_object() {
        assert_eq!(not_object(b"{\"a\": 1}"), None);
        assert_eq!(not_object(b"[1]"), Some("an array"));
        assert_eq!(not_object(b"\"x\""), Some("a string"));
        assert_eq!(not_object(b"-1"), Some("a number"));
        assert_eq!(not_object(b"7"), Some("a number"));
        assert_eq!(not_object(b"true"), Some("a boolean"));
        assert_eq!(not_object(b"null"), Some("null"));
        // Not JSON at all: the matcher says why.
        assert_eq!(not_object(b"oops"), None);
        assert_eq!(not_object(b""), None);
    }

    /// Counts events; `Out` is the count of the chunk.
    struct Count;

    impl Judge for Count {
        type Out = Vec<usize>;
        fn judge(&self, events: &[&[u8]], out: &mut Vec<usize>) {
            out.clear();
            out.extend(events.iter().map(|e| e.len()));
        }
    }

    #[test]
    fn chunks_cover_the_batch_in_order() {
        for threads in [1, 2, 3] {
            let settings = Settings {
                threads,
                line_buffered: false,
            };
            let mut engine = Engine::new(Count, &settings).unwrap();
            // Make every batch worth splitting.
            engine.ns_per_event = f64::INFINITY;
            engine.batches = 1;
            let owned: Vec<Vec<u8>> = (0..1000).map(|i| vec![b'x'; i % 17 + 1]).collect();
            let events: Vec<&[u8]> = owned.iter().map(|e| &e[..]).collect();
            let size = engine.judge_all::<std::io::Empty>(&events, None);
            let chunks = if threads == 1 { 1 } else { threads };
            assert_eq!(size, 1000usize.div_ceil(chunks));
            let got: Vec<usize> = (0..1000).map(|k| engine.outs[k / size][k % size]).collect();
            let want: Vec<usize> = owned.iter().map(Vec::len).collect();
            assert_eq!(got, want, "{threads} threads");
        }
    }
}
