//! The streaming engine behind `filter` and `route`: inputs are read in blocks into the
//! splitter's reused buffer, complete events are cut as they arrive, matched in batches (on
//! a thread pool when there are enough of them) and handed on in input order, so results are
//! written as soon as they are known and memory stays bounded by the largest event plus a
//! batch.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::time::Instant;

use weir::json::{Checking, Event, Layout, SplitError, Splitter, StreamSplitter};
use weir::{EventError, JsonlPart, Position};

use crate::input::io_reason;
use crate::map::Map;
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

    /// Cuts the JSONL lines of `bytes` from `from` (a line start) and matches them in one
    /// pass, as [`weir::Matcher::match_jsonl_part`] does (at most `max` events, pushed to
    /// `events`, results to `out`); `None` when this judge cannot, and then the engine cuts
    /// the lines and calls [`Judge::judge`].
    fn judge_lines<'m>(
        &self,
        bytes: &'m [u8],
        from: usize,
        max: usize,
        events: &mut Vec<Event<'m>>,
        out: &mut Self::Out,
    ) -> Option<JsonlPart> {
        let _ = (bytes, from, max, events, out);
        None
    }
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
    /// Read regular files through a map of them (not `--no-mmap`).
    pub mmap: bool,
}

/// One input item handed to a consumer: an event and its chunk's results, or a broken event.
pub enum Item<'a, O> {
    /// An event, with the results of its chunk and its index there.
    Event {
        event: Event<'a>,
        out: &'a O,
        index: usize,
        /// What the event is when it is JSON but not an object ([`not_object`], found where
        /// its bytes were matched, so that handing results on reads none of them).
        not_object: Option<&'static str>,
    },
    /// An event the splitter could not cut.
    Broken(SplitError),
}

/// The streaming engine.
pub struct Engine<J: Judge> {
    judge: J,
    pool: Option<rayon::ThreadPool>,
    threads: usize,
    line_buffered: bool,
    mmap: bool,
    outs: Vec<J::Out>,
    /// Batches matched so far.
    batches: u64,
    /// Cost of matching one event, as last measured (on a batch matched alone).
    ns_per_event: f64,
}

impl<J: Judge> Engine<J> {
    /// An engine matching with `judge` (its threads start when an input needs them).
    pub fn new(judge: J, settings: &Settings) -> Engine<J> {
        let threads = settings.threads.max(1);
        Engine {
            judge,
            pool: None,
            threads,
            line_buffered: settings.line_buffered,
            mmap: settings.mmap,
            outs: Vec::new(),
            batches: 0,
            ns_per_event: f64::INFINITY,
        }
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
            let (name, input) = match open(path) {
                Ok(opened) => opened,
                Err(message) => {
                    ctx.report.message("io", &message);
                    continue;
                }
            };
            let flow = match input {
                Input::File(file) => self.file(&name, file, ctx, each, started, &mut totals)?,
                Input::Stream(mut reader) => {
                    // What earlier inputs printed goes out before weir waits on this one.
                    ctx.out.flush()?;
                    let source = Source::Here(&mut *reader);
                    self.pump(&name, source, true, ctx, each, started, &mut totals)?
                }
            };
            if flow == Flow::Stop {
                break;
            }
        }
        Ok(())
    }

    /// Reads a regular file: through a map of it where the system allows (no copy of its
    /// bytes at all), else (small files, `--no-mmap`, a map refused) on a thread of its own,
    /// blocks ahead of the matching.
    fn file(
        &mut self,
        name: &str,
        mut file: File,
        ctx: &mut Ctx,
        each: &mut impl FnMut(&mut Ctx, &str, &J, Item<'_, J::Out>) -> Result<Flow, Stop>,
        started: Instant,
        totals: &mut (u64, u64),
    ) -> Result<Flow, Stop> {
        let interactive = self.line_buffered;
        let gone = format!("cannot read {name}: the file shrank or failed while it was read, and its pages could not be replaced (--no-mmap reads files instead of mapping them)");
        let map = match self.mmap {
            true => Map::new(&mut file, ctx.report.message_line("io", &gone)),
            false => None,
        };
        if let Some(map) = map {
            let (flow, read) = self.mapped(name, &map, interactive, ctx, each, started, totals)?;
            // A map does not move the file's offset: move it past what was read, as reading
            // would have (stdin may be read on by whatever runs after weir).
            let _ = file.seek(SeekFrom::Start(map.offset() + read as u64));
            return Ok(flow);
        }
        // The receiving end is dropped when `pump` returns (however it returns), which ends
        // the reading thread at its next block, before the scope joins it.
        std::thread::scope(|scope| {
            let ahead = match ReadAhead::start(scope, &mut file) {
                Ok(ahead) => ahead,
                Err(e) => {
                    let message = format!("cannot start a thread to read {name}: {e}");
                    ctx.report.message("threads", &message);
                    return Ok(Flow::Stop);
                }
            };
            self.pump(
                name,
                Source::Ahead(ahead),
                interactive,
                ctx,
                each,
                started,
                totals,
            )
        })
    }

    /// Cuts and matches a mapped file batch by batch, handing its events on: this thread
    /// cuts the batches (once the input is JSONL, only finds where each starts) and hands on
    /// their results while the matching threads match (and cut) whole batches, several in
    /// flight, so cutting and matching overlap. Returns how far the file was read.
    #[allow(clippy::too_many_arguments)]
    fn mapped(
        &mut self,
        name: &str,
        map: &Map,
        interactive: bool,
        ctx: &mut Ctx,
        each: &mut impl FnMut(&mut Ctx, &str, &J, Item<'_, J::Out>) -> Result<Flow, Stop>,
        started: Instant,
        totals: &mut (u64, u64),
    ) -> Result<(Flow, usize), Stop> {
        let judge = &self.judge;
        let bytes = map.bytes();
        let threads = self.threads;
        // Enough batches in flight to keep every matching thread busy while this one hands
        // results on, within a budget of bytes and of events, so that memory does not grow
        // with the threads or with small events.
        let in_flight = (2 * threads + 2).max(MIN_IN_FLIGHT);
        let size = (IN_FLIGHT / in_flight).clamp(MIN_BATCH, BATCH);
        let cap = (EVENTS_IN_FLIGHT / in_flight).clamp(MIN_EVENTS, MAX_EVENTS);
        let mut cut = Cut::new(bytes, size, cap);
        let (jobs, queue) = sync_channel::<Batch<'_, J::Out>>(in_flight);
        let queue = std::sync::Mutex::new(queue);
        let (finished, results) = channel::<Result<Batch<'_, J::Out>, Panicked>>();
        let stopped = AtomicBool::new(false);
        std::thread::scope(|scope| {
            // Dropped when this closure returns, however it returns: the matching threads
            // then take no more batches (the queued ones are dropped unmatched) and end,
            // before the scope joins them.
            let jobs = jobs;
            let _stop = StopOnDrop(&stopped);
            for _ in 0..threads {
                let (queue, finished, stopped) = (&queue, finished.clone(), &stopped);
                let worker = move || loop {
                    // A poisoned lock means another worker panicked: that one reports it.
                    let job = match queue.lock().map(|q| q.recv()) {
                        Ok(Ok(job)) if !stopped.load(Ordering::Relaxed) => job,
                        _ => return,
                    };
                    let mut job = job;
                    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        prepare_and_judge(bytes, judge, &mut job)
                    }));
                    let _ = finished.send(run.map(|()| job).map_err(Panicked));
                };
                if let Err(e) = std::thread::Builder::new().spawn_scoped(scope, worker) {
                    ctx.report
                        .message("threads", &format!("cannot start {threads} threads: {e}"));
                    return Ok((Flow::Stop, 0));
                }
            }
            drop(finished);
            // Batches sent and not yet handed on, by number; those matched out of turn.
            let mut sent = std::collections::VecDeque::new();
            let mut early = std::collections::BTreeMap::new();
            let mut spare: Vec<Batch<'_, J::Out>> = Vec::new();
            let mut eof = false;
            let mut number = 0u64;
            let mut handed = 0u32;
            // Once the input is known to be JSONL, the matching threads cut their batches
            // themselves (from a line start, counting lines from 1): `lines` is where the
            // next batch starts and the line it starts on is, once the batches before it are
            // handed on, `line`.
            let mut lines: Option<usize> = None;
            let mut line = 0;
            // What the last batches held a byte, for sizing the next ones' ranges.
            let mut per_event = size;
            let mut done = 0;
            loop {
                // The window opens as batches are handed on, so that a stop early in the
                // input (`-q`) has cut and matched little beyond it.
                let window = in_flight.min(2 << handed.min(8));
                while !eof && sent.len() < window {
                    let mut batch = spare.pop().unwrap_or_default();
                    // The pages of this batch and the next, mapped in here rather than
                    // faulted in one by one where they are read.
                    map.populate(lines.unwrap_or(cut.done) + 2 * size);
                    match lines {
                        Some(start) => {
                            let want = size.min(per_event.saturating_mul(cap));
                            eof = part(bytes, start, want.max(1), &mut batch);
                            batch.cap = cap;
                            lines = Some(batch.end);
                        }
                        None => {
                            eof = cut.next(&mut batch);
                            // With one matching thread, this thread goes on cutting, so that
                            // one matches while the other reads.
                            if let (false, Some(at), true) =
                                (eof, cut.jsonl_line_start(&batch), threads > 1)
                            {
                                lines = Some(at);
                            }
                        }
                    }
                    batch.number = number;
                    number += 1;
                    sent.push_back(batch.number);
                    if jobs.send(batch).is_err() {
                        break;
                    }
                }
                let Some(next) = sent.pop_front() else {
                    return Ok((Flow::Go, done));
                };
                let mut batch = loop {
                    if let Some(batch) = early.remove(&next) {
                        break batch;
                    }
                    match results.recv() {
                        Ok(Ok(batch)) => {
                            early.insert(batch.number, batch);
                        }
                        Ok(Err(Panicked(payload))) => std::panic::resume_unwind(payload),
                        Err(_) => unreachable!("the matching threads stop only when told"),
                    }
                };
                handed += 1;
                // A batch its matching thread stopped cutting early (too many events) is
                // followed by the rest of its range, cut and matched here.
                let mut rest = batch.rest.take();
                loop {
                    per_event = (batch.end - batch.start) / batch.items.len().max(1) + 1;
                    totals.0 += (batch.end - batch.start) as u64;
                    totals.1 += batch.events.len() as u64;
                    if batch.cut_here {
                        for event in batch.items.iter_mut().flatten() {
                            event.line += line - 1;
                        }
                        line += batch.lines;
                    } else if let Some(Ok(last)) = batch.items.last() {
                        // The first batch cut here: the next starts on the line after its
                        // last event's (if it is cut on the threads).
                        line = last.line + 1;
                    }
                    match hand_on(&mut batch, name, judge, ctx, each, map)? {
                        Handed::All => {}
                        Handed::Stop(at) => return Ok((Flow::Stop, at)),
                        Handed::Gone(at) => {
                            // Pages that went while they were read read as zeros: the events
                            // before them were handed on, the rest is reported.
                            let message = format!(
                                "cannot read {name}: the file shrank or could not be read \
                                 while it was read; what it held from byte {at} on is not read"
                            );
                            ctx.report.message("io", &message);
                            return Ok((Flow::Go, at));
                        }
                    }
                    done = batch.end;
                    let Some(to) = rest.take() else { break };
                    let from = batch.end;
                    lines_range(&mut batch, from, to);
                    prepare_and_judge(bytes, judge, &mut batch);
                    rest = batch.rest.take();
                }
                if interactive {
                    ctx.out.flush()?;
                }
                ctx.report
                    .progress(started, totals.0, totals.1, ctx.selected);
                map.done_with(done);
                spare.push(batch);
            }
        })
    }

    /// Reads one input from `source` to its end (or to a stop), cutting, matching and
    /// handing on its events batch by batch.
    #[allow(clippy::too_many_arguments)]
    fn pump(
        &mut self,
        name: &str,
        mut source: Source<'_>,
        interactive: bool,
        ctx: &mut Ctx,
        each: &mut impl FnMut(&mut Ctx, &str, &J, Item<'_, J::Out>) -> Result<Flow, Stop>,
        started: Instant,
        totals: &mut (u64, u64),
    ) -> Result<Flow, Stop> {
        let mut stream = StreamSplitter::new()
            .checking(Checking::Boundaries)
            .block_size(BLOCK);
        if let Err(message) = self.start_pool() {
            ctx.report.message("threads", &message);
            return Ok(Flow::Stop);
        }
        // Whether the last batch stopped at `MAX_EVENTS` with events still to take.
        let mut pending = false;
        loop {
            match &mut source {
                _ if pending => {}
                Source::Ahead(ahead) => {
                    // At least one block (feeding drops what the last batch took).
                    while !stream.is_finished() {
                        match ahead.next() {
                            Ok(Some(block)) => {
                                totals.0 += (block.len() - ROOM) as u64;
                                // The block becomes the splitter's buffer (the tail of the
                                // last one goes in its room); the old buffer goes back.
                                ahead.recycle(stream.feed_buffer(block, ROOM));
                                if stream.buffered() >= BATCH {
                                    break;
                                }
                            }
                            Ok(None) => stream.finish(),
                            Err(e) => {
                                ctx.report.message(
                                    "io",
                                    &format!("cannot read {name}: {}", io_reason(&e)),
                                );
                                stream.finish();
                            }
                        }
                    }
                }
                Source::Here(reader) => match stream.fill(&mut **reader) {
                    Ok(n) => totals.0 += n as u64,
                    Err(e) => {
                        ctx.report
                            .message("io", &format!("cannot read {name}: {}", io_reason(&e)));
                        stream.finish();
                    }
                },
            }
            let eof = stream.is_finished();
            let items: Vec<Result<Event<'_>, SplitError>> =
                stream.events().take(MAX_EVENTS).collect();
            pending = items.len() == MAX_EVENTS;
            let events: Vec<&[u8]> = items
                .iter()
                .filter_map(|item| item.as_ref().ok().map(|e| e.bytes))
                .collect();
            totals.1 += events.len() as u64;
            let size = self.judge_all(&events);
            let mut k = 0;
            for item in items {
                let item = match item {
                    Ok(event) => {
                        let (chunk, i) = (k / size, k % size);
                        k += 1;
                        Item::Event {
                            not_object: not_object(event.bytes),
                            event,
                            out: &self.outs[chunk],
                            index: i,
                        }
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
            if eof && !pending {
                return Ok(Flow::Go);
            }
        }
    }

    /// Starts the pool `pump` matches batches on (N-1 threads: the reading thread matches a
    /// chunk too), the first time it is needed (a mapped file does not use it).
    fn start_pool(&mut self) -> Result<(), String> {
        if self.threads > 1 && self.pool.is_none() {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(self.threads - 1)
                .build()
                .map_err(|e| format!("cannot start {} threads: {e}", self.threads))?;
            self.pool = Some(pool);
        }
        Ok(())
    }

    /// Matches `events` into `self.outs`, in chunks of the returned size. A batch is split
    /// over the threads only when matching it alone takes long enough to be worth waking
    /// them (validating usually is; lazy matching of small events often is not): the cost
    /// per event is measured on a batch matched alone now and then.
    fn judge_all(&mut self, events: &[&[u8]]) -> usize {
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
        let started = Instant::now();
        match &self.pool {
            Some(pool) if chunks > 1 => {
                let (first, rest) = self.outs[..chunks].split_at_mut(1);
                let mut parts = events.chunks(size);
                let head = parts.next().unwrap_or_default();
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
            _ => {
                judge.judge(events, &mut self.outs[0]);
                if self.pool.is_some() && !events.is_empty() {
                    let ns = started.elapsed().as_nanos() as f64;
                    self.ns_per_event = ns / events.len() as f64;
                }
            }
        }
        size
    }
}

/// A batch of a mapped file: its events (and broken ones) in input order, the results of
/// matching them, and the byte range it covers.
struct Batch<'m, O> {
    number: u64,
    items: Vec<Result<Event<'m>, SplitError>>,
    events: Vec<&'m [u8]>,
    /// The events [`Judge::judge_lines`] cut.
    cut: Vec<Event<'m>>,
    out: O,
    /// [`not_object`] of each event, found on the matching thread.
    shapes: Vec<Option<&'static str>>,
    start: usize,
    end: usize,
    /// Cut on the matching thread ([`part`], [`cut_lines`]): lines count from 1 in it.
    cut_here: bool,
    /// The line breaks in it, when cut on the matching thread.
    lines: usize,
    /// Where its range went on when its matching thread stopped cutting it early.
    rest: Option<usize>,
    /// The most events its matching thread cuts of it.
    cap: usize,
}

impl<O: Default> Default for Batch<'_, O> {
    fn default() -> Self {
        Batch {
            number: 0,
            items: Vec::new(),
            events: Vec::new(),
            cut: Vec::new(),
            out: O::default(),
            shapes: Vec::new(),
            start: 0,
            end: 0,
            cut_here: false,
            lines: 0,
            rest: None,
            cap: MAX_EVENTS,
        }
    }
}

/// Sets `batch` to the lines from `start` (a line start) to the first line break at least
/// `size` bytes on (or to the end), to be cut on a matching thread; true when they are the
/// last.
fn part<O>(bytes: &[u8], start: usize, size: usize, batch: &mut Batch<'_, O>) -> bool {
    let end = match bytes.get(start + size..) {
        Some(rest) => memchr::memchr(b'\n', rest).map_or(bytes.len(), |i| start + size + i + 1),
        None => bytes.len(),
    };
    lines_range(batch, start, end);
    end == bytes.len()
}

/// Sets `batch` to the lines `start..end` (both line starts, or the end), to be cut on a
/// matching thread.
fn lines_range<O>(batch: &mut Batch<'_, O>, start: usize, end: usize) {
    batch.items.clear();
    batch.events.clear();
    batch.start = start;
    batch.end = end;
    batch.cut_here = true;
    batch.rest = None;
}

/// Cuts the lines of a batch set by [`part`], counting lines from 1, and counts its line
/// breaks into `batch.lines`. After `batch.cap` events it stops at the next line start,
/// leaving the rest of the range in `batch.rest`.
fn cut_lines<'m, O>(bytes: &'m [u8], batch: &mut Batch<'m, O>) {
    let split = Splitter::new(&bytes[..batch.end])
        .checking(Checking::Boundaries)
        .jsonl_from(batch.start, 1);
    for item in split {
        if let Ok(event) = &item {
            batch.events.push(event.bytes);
        }
        batch.items.push(item);
        if batch.events.len() == batch.cap {
            let Some(Ok(last)) = batch.items.last() else {
                break;
            };
            let after = last.offset + last.bytes.len();
            if let Some(i) = memchr::memchr(b'\n', &bytes[after..batch.end]) {
                if after + i + 1 < batch.end {
                    batch.rest = Some(batch.end);
                    batch.end = after + i + 1;
                }
            }
            break;
        }
    }
    // Every event is on one line: the lines up to the last one's, and the breaks after it.
    let (before, from) = match batch.items.iter().rev().find_map(|item| item.as_ref().ok()) {
        Some(last) => (last.line - 1, last.offset + last.bytes.len()),
        None => (0, batch.start),
    };
    batch.lines = before + memchr::memchr_iter(b'\n', &bytes[from..batch.end]).count();
}

/// What a matching thread does with a batch: cuts it when it is a range of lines, notes
/// which events are not objects, and matches it.
fn prepare_and_judge<'m, J: Judge>(bytes: &'m [u8], judge: &J, batch: &mut Batch<'m, J::Out>) {
    if batch.cut_here {
        let (from, cap) = (batch.start, batch.cap);
        let whole = &bytes[..batch.end];
        if let Some(part) = judge.judge_lines(whole, from, cap, &mut batch.cut, &mut batch.out) {
            batch.items.clear();
            batch.items.extend(batch.cut.iter().map(|&e| Ok(e)));
            batch.events.clear();
            batch.events.extend(batch.cut.iter().map(|e| e.bytes));
            if part.end < batch.end {
                batch.rest = Some(batch.end);
                batch.end = part.end;
            }
            batch.lines = part.line_breaks;
            note_shapes(batch);
            return;
        }
        cut_lines(bytes, batch);
    }
    note_shapes(batch);
    judge.judge(&batch.events, &mut batch.out);
}

/// Notes which of a batch's events are not objects.
fn note_shapes<O>(batch: &mut Batch<'_, O>) {
    batch.shapes.clear();
    batch
        .shapes
        .extend(batch.events.iter().map(|e| not_object(e)));
}

/// Sets the flag when dropped: the matching threads stop taking batches.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A panic on a matching thread, carried to the thread handing results on.
struct Panicked(Box<dyn std::any::Any + Send>);

/// Cuts a mapped file into batches of about `size` bytes and at most `cap` events.
struct Cut<'m> {
    split: Splitter<'m>,
    bytes: &'m [u8],
    done: usize,
    size: usize,
    cap: usize,
}

impl<'m> Cut<'m> {
    fn new(bytes: &'m [u8], size: usize, cap: usize) -> Cut<'m> {
        Cut {
            split: Splitter::new(bytes).checking(Checking::Boundaries),
            bytes,
            done: 0,
            size,
            cap,
        }
    }

    /// Where the line after `batch`'s last event starts, when the input is JSONL and that
    /// batch was the last one cut here (so cutting can go on from there elsewhere).
    fn jsonl_line_start<O>(&self, batch: &Batch<'m, O>) -> Option<usize> {
        if self.split.current_layout() != Layout::Jsonl {
            return None;
        }
        let Some(Ok(last)) = batch.items.last() else {
            return None;
        };
        let end = last.offset + last.bytes.len();
        memchr::memchr(b'\n', &self.bytes[end..]).map(|i| end + i + 1)
    }

    /// Fills `batch` with the next events; true when they are the last.
    fn next<O>(&mut self, batch: &mut Batch<'m, O>) -> bool {
        batch.cut_here = false;
        batch.rest = None;
        batch.items.clear();
        batch.events.clear();
        batch.start = self.done;
        let mut end = self.done;
        let mut full = false;
        for item in self.split.by_ref() {
            let at = match &item {
                Ok(event) => {
                    batch.events.push(event.bytes);
                    event.offset + event.bytes.len()
                }
                Err(e) => e.offset(),
            };
            end = end.max(at);
            batch.items.push(item);
            if end - self.done >= self.size || batch.events.len() == self.cap {
                full = true;
                break;
            }
        }
        let end = if full { end } else { self.bytes.len() };
        batch.end = end;
        self.done = end;
        !full
    }
}

/// Hands a matched batch's items on to `each`, in order.
fn hand_on<J: Judge>(
    batch: &mut Batch<'_, J::Out>,
    name: &str,
    judge: &J,
    ctx: &mut Ctx,
    each: &mut impl FnMut(&mut Ctx, &str, &J, Item<'_, J::Out>) -> Result<Flow, Stop>,
    map: &Map,
) -> Result<Handed, Stop> {
    let mut k = 0;
    for item in batch.items.drain(..) {
        let (start, end) = match &item {
            Ok(event) => (event.offset, event.offset + event.bytes.len()),
            Err(e) => (e.event_offset(), e.offset() + 1),
        };
        // Checked before each item (an atomic load until pages go), so that no zeros read
        // where the file's pages went are handed on as an event.
        if let Err(valid) = map.valid() {
            if end > valid {
                return Ok(Handed::Gone(start));
            }
        }
        let item = match item {
            Ok(event) => {
                k += 1;
                Item::Event {
                    event,
                    out: &batch.out,
                    index: k - 1,
                    not_object: batch.shapes[k - 1],
                }
            }
            Err(e) => Item::Broken(e),
        };
        if each(ctx, name, judge, item)? == Flow::Stop {
            return Ok(Handed::Stop(end));
        }
    }
    Ok(Handed::All)
}

/// How far [`hand_on`] went.
enum Handed {
    /// Every item of the batch.
    All,
    /// The consumer stopped after the item ending here.
    Stop(usize),
    /// The map's pages went (see [`Map::valid`]) before the item starting here.
    Gone(usize),
}

/// Where `pump` gets an input's bytes.
enum Source<'a> {
    /// Read on this thread, a block at a time (pipes and terminals).
    Here(&'a mut (dyn Read + Send)),
    /// Read ahead on a thread of its own (regular files).
    Ahead(ReadAhead),
}

/// What the reading thread hands on: a block, the end of the input, or why reading stopped.
enum Fed {
    Block(Vec<u8>),
    End,
    Failed(std::io::Error),
}

/// The receiving end of a thread that reads an input ahead, in blocks of [`AHEAD_BLOCK`]
/// bytes after [`ROOM`] free bytes, at most [`AHEAD`] blocks in front of the consumer.
/// Buffers go back to the thread to be read into again ([`ReadAhead::recycle`]), so reading
/// allocates nothing once it runs.
struct ReadAhead {
    blocks: Receiver<Fed>,
    spare: Sender<Vec<u8>>,
}

impl ReadAhead {
    /// Starts reading `reader` on a thread of `scope`. The thread ends at the end of the
    /// input, at a read error, or when the `ReadAhead` is dropped.
    fn start<'scope, 'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        reader: &'env mut (dyn Read + Send),
    ) -> std::io::Result<ReadAhead> {
        let (give, blocks) = sync_channel(AHEAD);
        let (spare, spares) = channel::<Vec<u8>>();
        let read = move || loop {
            let mut block = spares.try_recv().unwrap_or_default();
            block.resize(ROOM + AHEAD_BLOCK, 0);
            let mut len = ROOM;
            let mut end = None;
            while len < ROOM + AHEAD_BLOCK {
                match reader.read(&mut block[len..]) {
                    Ok(0) => {
                        end = Some(Fed::End);
                        break;
                    }
                    Ok(n) => len += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        end = Some(Fed::Failed(e));
                        break;
                    }
                }
            }
            block.truncate(len);
            if len > ROOM && give.send(Fed::Block(block)).is_err() {
                return;
            }
            if let Some(end) = end {
                let _ = give.send(end);
                return;
            }
        };
        std::thread::Builder::new().spawn_scoped(scope, read)?;
        Ok(ReadAhead { blocks, spare })
    }

    /// The next block; `None` at the end of the input.
    fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        match self.blocks.recv() {
            Ok(Fed::Block(block)) => Ok(Some(block)),
            Ok(Fed::Failed(e)) => Err(e),
            // The thread ends after sending the end; a thread gone without it panicked.
            Ok(Fed::End) => Ok(None),
            Err(_) => Err(std::io::Error::other("the reading thread stopped")),
        }
    }

    /// Gives a block back to be read into again (unless it grew to hold a long event:
    /// such a buffer is let go, so that memory returns to a few blocks).
    fn recycle(&mut self, block: Vec<u8>) {
        if block.capacity() <= 2 * (ROOM + AHEAD_BLOCK) {
            let _ = self.spare.send(block);
        }
    }
}

/// Bytes of mapped input in flight at most (cut and waiting, being matched, or matched and
/// waiting to be handed on), over all batches: batches shrink as threads are added.
const IN_FLIGHT: usize = 16 << 20;

/// Batches of a mapped file in flight, at least: the matching threads then have work queued
/// for the few milliseconds the reading thread may wait for a core (it shares them with the
/// matching threads), rather than running dry.
const MIN_IN_FLIGHT: usize = 12;

/// The smallest batch of a mapped file, in bytes.
const MIN_BATCH: usize = 64 << 10;

/// Events in a batch at most: what a batch holds an event (its place, its slice, its results)
/// is ~120 bytes, so that small events do not make batches large. With many threads, batches
/// hold fewer, down to [`MIN_EVENTS`], so that all in flight hold about
/// [`EVENTS_IN_FLIGHT`].
const MAX_EVENTS: usize = 8192;

/// The fewest events a batch of a mapped file may be capped at.
const MIN_EVENTS: usize = 1024;

/// Events of a mapped file in flight, about, over all batches.
const EVENTS_IN_FLIGHT: usize = 64 * 1024;

/// Blocks read ahead of the consumer, at most.
const AHEAD: usize = 4;

/// Bytes of input in a block read ahead: a batch.
const AHEAD_BLOCK: usize = BATCH;

/// Bytes left free before each block read ahead, for the splitter to put the incomplete
/// tail of the last block there instead of copying the block (see
/// `StreamSplitter::feed_buffer`); a longer tail makes it copy.
const ROOM: usize = 64 * 1024;

/// Time (ns) that matching a batch alone must take for the batch to be split over threads.
const PARALLEL_NS: f64 = 300_000.0;

/// Every this many batches one is matched alone, to measure the cost per event again.
const PROBE_EVERY: u64 = 64;

/// An opened input.
enum Input {
    /// A regular file (given by path, or stdin redirected from one).
    File(File),
    /// A pipe, a terminal or a socket: results are flushed as they are known.
    Stream(Box<dyn Read + Send>),
}

/// Opens an input: its name in messages and how to read it.
fn open(path: &Path) -> Result<(String, Input), String> {
    if path.as_os_str() == "-" {
        let name = "<stdin>".to_string();
        return Ok(match stdin_file() {
            Some(file) => (name, Input::File(file)),
            None => (name, Input::Stream(Box::new(std::io::stdin()))),
        });
    }
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| format!("cannot read {name}: {}", io_reason(&e)))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {name}: {}", io_reason(&e)))?;
    if meta.is_dir() {
        return Err(format!("cannot read {name}: Is a directory"));
    }
    let input = match meta.is_file() {
        true => Input::File(file),
        false => Input::Stream(Box::new(file)),
    };
    Ok((name, input))
}

/// Stdin as a file, when it is a regular file (redirected from one) rather than a pipe or
/// terminal.
#[cfg(unix)]
fn stdin_file() -> Option<File> {
    use std::os::fd::AsFd;
    let file = File::from(std::io::stdin().as_fd().try_clone_to_owned().ok()?);
    file.metadata().ok()?.is_file().then_some(file)
}

#[cfg(not(unix))]
fn stdin_file() -> Option<File> {
    None
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
                mmap: true,
            };
            let mut engine = Engine::new(Count, &settings);
            engine.start_pool().unwrap();
            // Make every batch worth splitting.
            engine.ns_per_event = f64::INFINITY;
            engine.batches = 1;
            let owned: Vec<Vec<u8>> = (0..1000).map(|i| vec![b'x'; i % 17 + 1]).collect();
            let events: Vec<&[u8]> = owned.iter().map(|e| &e[..]).collect();
            let size = engine.judge_all(&events);
            let chunks = if threads == 1 { 1 } else { threads };
            assert_eq!(size, 1000usize.div_ceil(chunks));
            let got: Vec<usize> = (0..1000).map(|k| engine.outs[k / size][k % size]).collect();
            let want: Vec<usize> = owned.iter().map(Vec::len).collect();
            assert_eq!(got, want, "{threads} threads");
        }
    }
}
