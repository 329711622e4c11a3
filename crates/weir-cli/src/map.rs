//! Regular files read through a memory map: the events are cut and matched straight from
//! the file's pages in the page cache, with no copy of their bytes, and the pages behind the
//! batch being read are let go as reading moves on, so memory stays bounded however large
//! the file.
//!
//! A file that shrinks while it is mapped (another process truncates it), or whose pages
//! cannot be read (an I/O error), makes the system raise `SIGBUS` at the next read of a page
//! that is gone. Rather than dying of the signal, weir puts zero pages where the file's
//! pages were (see [`on_sigbus`]) and notes it ([`Map::valid`]): the reader hands on what it
//! read before the file's new end, reports the file and goes on with the next input.
//! `--no-mmap` reads files with `read` instead, for files that are expected to shrink.

use std::cell::Cell;
use std::fs::File;
use std::io::Seek;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Once;

use memmap2::{Advice, Mmap, MmapOptions, UncheckedAdvice};

/// Files smaller than this are read, not mapped (a map costs more than it saves).
const MIN_MAPPED: u64 = 1 << 20;

/// Bytes read past before their pages are let go.
const RELEASE_STEP: usize = 8 << 20;

/// A read-only map of a regular file from its current offset to its end.
pub struct Map {
    map: Mmap,
    /// Where in the file the map starts.
    offset: u64,
    /// The pages before this offset have been let go ([`Map::done_with`]).
    released: Cell<usize>,
    /// The pages before this offset have been mapped in ([`Map::populate`]).
    populated: Cell<usize>,
    /// The error line printed if the file's pages go while it is read and cannot be
    /// replaced (see [`on_sigbus`]).
    _message: Box<[u8]>,
    /// The file, to ask its size again once its pages went.
    file: File,
}

/// The mapped range and the error line of the map in use, for the `SIGBUS` handler: at most
/// one file is mapped at a time (inputs are read one after the other).
static MAPPED_START: AtomicUsize = AtomicUsize::new(0);
static MAPPED_LEN: AtomicUsize = AtomicUsize::new(0);
static MESSAGE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static MESSAGE_LEN: AtomicUsize = AtomicUsize::new(0);
/// Set by the handler once pages of the map went (the file shrank or could not be read).
static GONE: AtomicBool = AtomicBool::new(false);
/// Where (from the map's start) the first page that went is: the zero pages start there.
static GONE_FROM: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The page size, for the handler.
static PAGE: AtomicUsize = AtomicUsize::new(4096);
/// The action `SIGBUS` had before weir's, for faults that are not weir's.
static PREVIOUS: std::sync::OnceLock<libc::sigaction> = std::sync::OnceLock::new();

impl Map {
    /// Maps `file` from its current offset on, or `None` when it is better read (small, or
    /// a map is refused: the caller then reads it). `message` is the whole line printed on
    /// stderr if the file shrinks while it is read.
    pub fn new(file: &mut File, message: String) -> Option<Map> {
        let len = file.metadata().ok()?.len();
        let offset = file.stream_position().ok()?;
        if len.saturating_sub(offset) < MIN_MAPPED || usize::try_from(len).is_err() {
            return None;
        }
        let handle = file.try_clone().ok()?;
        install_handler();
        // SAFETY: the map is read-only and shared, and weir never writes to the file, so
        // the only way its bytes change while they are borrowed as `&[u8]` is another
        // process writing the file meanwhile. That is the one condition a map cannot rule
        // out; weir, like other tools that map what they read, documents it (`--no-mmap`
        // is for files being rewritten) rather than copying every file. The common case of
        // a file shrinking (truncated and rewritten, as log rotation does) makes reads of
        // the pages past the new end raise SIGBUS, which `on_sigbus` answers with zero pages
        // and `Map::valid` then reports; appending to the file does not touch the range.
        let map = unsafe { MmapOptions::new().offset(offset).map(&*file) }.ok()?;
        // Read ahead of the cursor, and let pages go sooner.
        let _ = map.advise(Advice::Sequential);
        let message: Box<[u8]> = message.into_bytes().into_boxed_slice();
        MESSAGE_LEN.store(message.len(), Ordering::SeqCst);
        MESSAGE.store(message.as_ptr().cast_mut(), Ordering::SeqCst);
        GONE.store(false, Ordering::SeqCst);
        GONE_FROM.store(usize::MAX, Ordering::SeqCst);
        MAPPED_LEN.store(map.len(), Ordering::SeqCst);
        MAPPED_START.store(map.as_ptr() as usize, Ordering::SeqCst);
        Some(Map {
            map,
            offset,
            released: Cell::new(0),
            populated: Cell::new(0),
            _message: message,
            file: handle,
        })
    }

    /// Where in the file the map starts (the file's offset when it was mapped).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// `Ok` while every page read so far was the file's; once pages went (the file shrank
    /// or could not be read), `Err` with how many bytes from the map's start are still
    /// known good: below both the file's size now and the first page that went (pages
    /// after it read zeros even if the file grew back).
    pub fn valid(&self) -> Result<(), usize> {
        if !GONE.load(Ordering::SeqCst) {
            return Ok(());
        }
        let size = self.file.metadata().map_or(0, |m| m.len());
        let left = usize::try_from(size.saturating_sub(self.offset)).unwrap_or(usize::MAX);
        Err(left
            .min(GONE_FROM.load(Ordering::SeqCst))
            .min(self.map.len()))
    }

    /// Maps in the pages up to `to` (from where the last call stopped) in one call, so that
    /// reading them takes no page faults one by one (on the thread that asks, which is not
    /// a matching thread). Systems without it just take the faults.
    pub fn populate(&self, to: usize) {
        let (from, to) = (self.populated.get(), to.min(self.map.len()));
        if to > from {
            let _ = self.map.advise_range(Advice::PopulateRead, from, to - from);
            self.populated.set(to);
        }
    }

    /// Reading has moved past `..to`: lets its whole pages leave memory, in steps of
    /// [`RELEASE_STEP`] (each release interrupts the other threads to forget the pages).
    pub fn done_with(&self, to: usize) {
        if to - self.released.get().min(to) < RELEASE_STEP {
            return;
        }
        let page = page_size();
        let start = self.released.get().div_ceil(page) * page;
        let end = to.min(self.map.len()) / page * page;
        self.released.set(to);
        if end > start {
            // SAFETY: DONTNEED on a read-only shared map of a file drops the pages from this
            // process; a later read of them maps the file's page-cache pages again, with the
            // same bytes (which happens: memmap2 widens the range to whole pages, so the
            // last page can hold the start of a batch still being read, and it faults back
            // in). Nothing of the map is written, so no write can be lost, and every borrow
            // of the map stays valid.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        MAPPED_LEN.store(0, Ordering::SeqCst);
        MAPPED_START.store(0, Ordering::SeqCst);
        MESSAGE.store(std::ptr::null_mut(), Ordering::SeqCst);
        MESSAGE_LEN.store(0, Ordering::SeqCst);
        GONE.store(false, Ordering::SeqCst);
        GONE_FROM.store(usize::MAX, Ordering::SeqCst);
    }
}

/// The system's page size.
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; it returns -1 (handled) for an unknown name.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .unwrap_or(4096)
}

/// Installs [`on_sigbus`] once, keeping the action it replaces for the faults that are not
/// weir's.
fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        PAGE.store(page_size(), Ordering::SeqCst);
        // SAFETY: a zeroed sigaction is a valid value (no flags, empty mask) before the
        // fields set here; `on_sigbus` has the three-argument signature SA_SIGINFO asks for
        // and does only async-signal-safe work. The previous action is stored before the
        // handler is installed, so the handler always finds it.
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous);
            let _ = PREVIOUS.set(previous);
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        }
    });
}

/// The `SIGBUS` handler. A fault inside the mapped file means its pages from there on are
/// gone: they are replaced by zero pages (an anonymous map over them), the loss is noted for
/// [`Map::valid`], and the read goes on (reading zeros). If that map is refused, the map's
/// error line is printed and weir exits with status 2. Any other `SIGBUS` goes to the action
/// weir's replaced (by default, the process dies of it).
extern "C" fn on_sigbus(_signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the system passes a valid siginfo_t for a signal delivered with SA_SIGINFO.
    let (address, code) = unsafe { ((*info).si_addr() as usize, (*info).si_code) };
    let start = MAPPED_START.load(Ordering::SeqCst);
    let len = MAPPED_LEN.load(Ordering::SeqCst);
    // A fault (not a signal sent by a process, whose code is 0 or less) inside the map.
    if code > 0 && start != 0 && address.wrapping_sub(start) < len {
        let page = PAGE.load(Ordering::SeqCst);
        let from = address & !(page - 1);
        let end = (start + len).div_ceil(page) * page;
        // SAFETY: `from..end` is inside the live map (whole pages: the map starts on a
        // page and its last page is whole in memory); mmap is a plain system call, safe in
        // a handler. MAP_FIXED replaces those pages of the map with private zero pages,
        // read-only as the map is; the map's own munmap later unmaps them with the rest.
        let zeroed = unsafe {
            libc::mmap(
                from as *mut libc::c_void,
                end - from,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if zeroed != libc::MAP_FAILED {
            GONE_FROM.fetch_min(from.saturating_sub(start), Ordering::SeqCst);
            GONE.store(true, Ordering::SeqCst);
            return;
        }
        let message = MESSAGE.load(Ordering::SeqCst);
        let message_len = MESSAGE_LEN.load(Ordering::SeqCst);
        // SAFETY: `message` points at `message_len` bytes owned by the live `Map` (its
        // `Drop` clears the pointer before the bytes are freed); write and _exit are
        // async-signal-safe.
        unsafe {
            if !message.is_null() {
                libc::write(2, message.cast(), message_len);
            }
            libc::_exit(2);
        }
    }
    // SAFETY: sigaction and raise are async-signal-safe; `PREVIOUS` was set before this
    // handler was installed. Restoring the previous action and returning re-runs a faulting
    // access, which then goes to that action; a signal sent by a process is raised again.
    unsafe {
        match PREVIOUS.get() {
            Some(previous) => libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut()),
            None => {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
                0
            }
        };
        if code <= 0 {
            libc::raise(libc::SIGBUS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_from_the_offset_and_lets_pages_go() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let body: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
        tmp.write_all(&body).unwrap();
        let mut file = File::open(tmp.path()).unwrap();
        file.seek(std::io::SeekFrom::Start(10)).unwrap();
        let map = Map::new(&mut file, "gone\n".into()).unwrap();
        assert_eq!(map.bytes(), &body[10..]);
        map.populate(1 << 20);
        map.populate(usize::MAX);
        map.done_with(2 << 20);
        map.done_with(usize::MAX);
        // The pages let go read the same bytes again.
        assert_eq!(map.bytes(), &body[10..]);
        drop(map);
        assert_eq!(MAPPED_START.load(Ordering::SeqCst), 0);
    }

    /// A mapped file truncated under weir: reading a page that is gone reads zeros, and the
    /// map then tells how much of it is still the file's (run in a child process: the test
    /// binary again, told by the environment to do the truncating, as the handler is the
    /// process's).
    #[test]
    fn a_file_that_shrinks_reads_zeros_and_says_so() {
        const CHILD: &str = "WEIR_MAP_TEST_TRUNCATE";
        if let Some(path) = std::env::var_os(CHILD) {
            let resize = |len| {
                let file = std::fs::OpenOptions::new().write(true).open(&path);
                file.unwrap().set_len(len).unwrap();
            };
            let mut file = File::open(&path).unwrap();
            let map = Map::new(&mut file, "weir: gone\n".into()).unwrap();
            assert_eq!(map.valid(), Ok(()));
            assert_eq!(map.bytes()[(2 << 20) + 5], b'x');
            resize(1 << 20);
            let byte = std::hint::black_box(map.bytes()[(2 << 20) + 5]);
            let last = std::hint::black_box(map.bytes()[(3 << 20) - 1]);
            println!("read {byte} {last} {:?} {}", map.valid(), map.bytes()[10]);
            // Grown back, the file's pages past where they went are still zeros in the map:
            // only what is before the first page that went is good.
            resize(3 << 20);
            println!("grown {:?}", map.valid());
            std::process::exit(0);
        }
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(&vec![b'x'; 3 << 20]).unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "map::tests::a_file_that_shrinks_reads_zeros_and_says_so",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD, tmp.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stdout} {stderr}");
        assert!(
            stdout.contains(&format!(
                "read 0 0 Err({}) 120\ngrown Err({})",
                1 << 20,
                2 << 20
            )),
            "{stdout} {stderr}"
        );
    }

    #[test]
    fn small_files_are_read() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(b"{}\n").unwrap();
        assert!(Map::new(&mut File::open(tmp.path()).unwrap(), String::new()).is_none());
    }
}
