//! Structural validation 64 bytes at a time (AVX2, or AVX-512 where the CPU has it, chosen
//! at run time).
//!
//! [`container`] checks an object or array against the JSON grammar without walking its
//! tokens one by one. Per 64-byte block, vector compares (two 32-byte AVX2 halves, or one
//! AVX-512 compare into a mask register) give bit masks of the byte classes
//! (quotes, brackets, commas, colons, whitespace, control bytes, and the characters of
//! numbers); the in-string mask is a carry-less prefix XOR of the quotes. The grammar is
//! then checked on whole masks at once: for each kind of token, the position of the next
//! token after it (found by an addition that carries across whitespace) must hold a token
//! that may follow it, and the numbers are checked by bit rules on their characters. Only
//! the brackets are walked one by one, to follow the nesting and the kind of container.
//!
//! The fast path only ever says "valid, ending here" or "not sure": when it returns `None`
//! (an error, a `\u` escape of a surrogate, nesting beyond the limit or 64 levels within the
//! value) the caller runs the byte loop of
//! [`super::validate`], which finds the error and its offset. So errors and offsets are
//! always the byte loop's, and a verdict of the fast path is checked against the byte loop
//! by the property tests.

// The x86_64 SIMD intrinsics (AVX2, PCLMULQDQ, POPCNT) need `unsafe`; each use says why it
// is sound.
#![allow(unsafe_code)]
// Off x86_64 only the byte loop runs: the portable half of the fast path is unused there.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_imports))]

use super::skip::Walk;
use super::MAX_EVENT_DEPTH;

#[cfg(target_arch = "x86_64")]
use std::sync::atomic::{AtomicU8, Ordering};

/// 0: not yet known; 1: no fast path; 2: AVX2, PCLMULQDQ and POPCNT; 3: those and AVX-512
/// F and BW.
#[cfg(target_arch = "x86_64")]
static STATE: AtomicU8 = AtomicU8::new(0);

/// Whether AVX-512 is allowed where the CPU has it (tests turn it off to compare the AVX2
/// path with it).
#[cfg(target_arch = "x86_64")]
static WIDE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// The state of [`STATE`] this CPU and the environment allow: `WEIR_SIMD=off` turns the fast
/// path off, `WEIR_SIMD=avx2` keeps it to AVX2 (both read once per process).
#[cfg(target_arch = "x86_64")]
fn cpu_state() -> u8 {
    static CPU: AtomicU8 = AtomicU8::new(0);
    match CPU.load(Ordering::Relaxed) {
        0 => {
            let env = std::env::var_os("WEIR_SIMD");
            let avx2 = std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("pclmulqdq")
                && std::is_x86_feature_detected!("popcnt")
                && env.as_ref().is_none_or(|v| v != "off");
            let avx512 = avx2
                && std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && env.as_ref().is_none_or(|v| v != "avx2");
            let state = 1 + u8::from(avx2) + u8::from(avx512);
            CPU.store(state, Ordering::Relaxed);
            state
        }
        state => state,
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn state() -> u8 {
    match STATE.load(Ordering::Relaxed) {
        0 => {
            let mut state = cpu_state();
            if !WIDE.load(Ordering::Relaxed) {
                state = state.min(2);
            }
            STATE.store(state, Ordering::Relaxed);
            state
        }
        state => state,
    }
}

/// Whether the fast path runs on this CPU: AVX2, PCLMULQDQ and POPCNT are present and the
/// environment variable `WEIR_SIMD` is not `off` (read once per process).
#[inline]
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        state() >= 2
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the fast path compares with AVX-512 (F and BW): the CPU has them, `WEIR_SIMD` is
/// neither `off` nor `avx2`, and [`set_wide`] did not turn them off.
#[inline]
pub(crate) fn wide() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        state() == 3
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether AVX-512 is allowed (by [`set_wide`]) where the CPU has it.
pub(crate) fn wide_allowed() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        WIDE.load(Ordering::Relaxed)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        true
    }
}

/// Turns the fast path off or back on for the whole process (on only where the CPU has it);
/// returns whether it is on now. For tests and fuzz targets comparing the two paths.
pub(crate) fn set_enabled(on: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let mut state = if on { cpu_state() } else { 1 };
        if !WIDE.load(Ordering::Relaxed) {
            state = state.min(2);
        }
        STATE.store(state, Ordering::Relaxed);
        state >= 2
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = on;
        false
    }
}

/// Allows AVX-512 (where the CPU has it and the fast path is on) or keeps the fast path to
/// AVX2; returns whether AVX-512 runs now. For tests comparing the two.
pub(crate) fn set_wide(on: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let enabled = available();
        WIDE.store(on, Ordering::Relaxed);
        set_enabled(enabled);
        wide()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = on;
        false
    }
}

/// [`container`] with AVX2 compares and with AVX-512 compares, each where the CPU has them
/// (`None` where it does not), whatever [`set_enabled`] and [`set_wide`] say: for tests
/// comparing the two.
#[cfg(test)]
pub(crate) fn container_each(
    b: &[u8],
    i: usize,
    depth: usize,
) -> (Option<Option<usize>>, Option<Option<usize>>) {
    #[cfg(target_arch = "x86_64")]
    {
        if !matches!(b.get(i), Some(b'{' | b'[')) {
            return (None, None);
        }
        let cpu = cpu_state();
        // SAFETY: `cpu_state` checked at run time that this CPU has the target features of
        // each function called (state 2: AVX2 and PCLMULQDQ; 3: those and AVX-512 F, BW).
        unsafe {
            (
                (cpu >= 2).then(|| avx2::container(b, i, depth)),
                (cpu == 3).then(|| avx2::container512(b, i, depth)),
            )
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (b, i, depth);
        (None, None)
    }
}

/// [`walk`] with AVX2 compares and with AVX-512 compares, each where the CPU has them: for
/// tests comparing both with the portable walk.
#[cfg(test)]
fn walk_each(b: &[u8], pos: usize, depth: u64, in_string: bool) -> Vec<Walk> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let cpu = cpu_state();
        // SAFETY: as in `container_each`, each walk runs only where `cpu_state` found its
        // target features (AVX2, PCLMULQDQ and POPCNT; AVX-512 F and BW besides).
        unsafe {
            if cpu >= 2 {
                out.push(avx2::walk(b, pos, depth, in_string));
            }
            if cpu == 3 {
                out.push(avx2::walk512(b, pos, depth, in_string));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (b, pos, depth, in_string);
    out
}

/// The walk's masks of a block ([`avx2::Lanes::brackets`]) with AVX2 compares and with
/// AVX-512 compares, each where the CPU has them.
#[cfg(test)]
fn brackets_each(block: &[u8; 64]) -> Vec<[u64; 4]> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use avx2::Lanes;
        let cpu = cpu_state();
        // SAFETY: as in `masks_each`.
        unsafe {
            if cpu >= 2 {
                out.push(<[core::arch::x86_64::__m256i; 2]>::load(block).brackets());
            }
            if cpu == 3 {
                out.push(avx512::Vector::load(block).brackets());
            }
        }
    }
    out
}

/// The masks of a block with AVX2 compares and with AVX-512 compares, each where the CPU has
/// them: for tests comparing both with a byte loop.
#[cfg(test)]
fn masks_each(block: &[u8; 64]) -> Vec<(Masks, Digits)> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use avx2::Lanes;
        let cpu = cpu_state();
        // SAFETY: as in `container_each`: each set of lanes runs only where `cpu_state`
        // found its target features.
        unsafe {
            let all = |m: Masks, d: Digits, (plus, exp): (u64, u64)| (m, Digits { plus, exp, ..d });
            if cpu >= 2 {
                let v = <[core::arch::x86_64::__m256i; 2]>::load(block);
                let k = <[core::arch::x86_64::__m256i; 2]>::splats();
                out.push(all(v.masks(&k), v.digits(&k), v.marks()));
            }
            if cpu == 3 {
                let v = avx512::Vector::load(block);
                out.push(all(v.masks(&()), v.digits(&()), v.marks()));
            }
        }
    }
    out
}

/// How far past a line being searched for its break the bytes to come are asked for, and
/// how many of them.
pub(crate) const READ_AHEAD: usize = 2048;
pub(crate) const READ_AHEAD_SPAN: usize = 1024;

/// Asks the CPU to start loading the [`READ_AHEAD_SPAN`] bytes [`READ_AHEAD`] past `pos` of
/// `b` (those of `b` only) into cache, but none below `*asked`, and moves `*asked` past what
/// it asked for, so that searches over many short lines ask for each byte once; returns how
/// many 64-byte lines it asked for (none on targets other than x86_64). For the searches
/// for line breaks, which read every byte of memory not yet in cache: the hardware
/// prefetcher stops at each 4 KiB page and left them waiting at every page. A hint only,
/// whatever `SIMD` says: it changes no value and never faults.
#[inline(always)]
pub(crate) fn read_ahead(b: &[u8], pos: usize, asked: &mut usize) -> usize {
    let from = pos.saturating_add(READ_AHEAD).max(*asked);
    let to = pos
        .saturating_add(READ_AHEAD + READ_AHEAD_SPAN)
        .min(b.len());
    if from >= to {
        return 0;
    }
    *asked = to;
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let mut lines = 0;
        let mut at = from;
        while at < to {
            // SAFETY: `_mm_prefetch` needs only SSE, which every x86_64 CPU has (it is in the
            // target's baseline features). The instruction is a hint: it reads nothing into
            // any value and never faults; `at` is inside `b` anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(b[at..].as_ptr().cast::<i8>()) };
            at += 64;
            lines += 1;
        }
        lines
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// Whether `b` is all ASCII (no byte with its top bit set), with vector loads: `None` where
/// the fast path does not run. Most events are ASCII, and then they need no UTF-8 check.
#[inline]
pub(crate) fn ascii(b: &[u8]) -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    {
        match state() {
            // SAFETY: state 3 says this CPU has AVX-512 F and BW (checked at run time), the
            // target features of `avx2::ascii512`; it reads `b` only through slices.
            3 => Some(unsafe { avx2::ascii512(b) }),
            // SAFETY: state 2 says AVX2, the target feature of `avx2::ascii`.
            2 => Some(unsafe { avx2::ascii(b) }),
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = b;
        None
    }
}

/// The quotes of a 64-byte block (bit `k` for byte `k`), and its backslashes and control
/// bytes (below 0x20) together, with one or two vector compares each: `None` where the fast
/// path does not run. The member reader of the matcher finds members from them.
#[inline]
pub(crate) fn quote_masks(block: &[u8; 64]) -> Option<(u64, u64)> {
    #[cfg(target_arch = "x86_64")]
    {
        match state() {
            // SAFETY: state 3 says this CPU has AVX-512 F and BW (checked at run time), the
            // target features of `avx2::quote_masks512`; it reads only `block`.
            3 => Some(unsafe { avx2::quote_masks512(block) }),
            // SAFETY: state 2 says AVX2, the target feature of `avx2::quote_masks`.
            2 => Some(unsafe { avx2::quote_masks(block) }),
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = block;
        None
    }
}

/// Checks the object or array whose opening bracket is at `i`, nested in `depth` containers:
/// `Some(end)` (the position after its closing bracket) when it is valid JSON, exactly as
/// [`super::validate::value`] would return `Ok(end)`; `None` when it is not, or when this
/// path does not decide (surrogate escapes, nesting beyond [`MAX_EVENT_DEPTH`], no fast
/// path on this CPU), and the byte loop must.
#[inline]
pub(crate) fn container(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        if !matches!(b.get(i), Some(b'{' | b'[')) {
            return None;
        }
        match state() {
            // SAFETY: state 3 was set only after checking at run time that this CPU has
            // AVX2, AVX-512 F and BW and PCLMULQDQ, the target features
            // `avx2::container512` is compiled with; it reads `b` only through
            // bounds-checked slices.
            3 => unsafe { avx2::container512(b, i, depth) },
            // SAFETY: state 2 likewise says AVX2 and PCLMULQDQ, `avx2::container`'s.
            2 => unsafe { avx2::container(b, i, depth) },
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (b, i, depth);
        None
    }
}

/// The lazy skipper's container walk ([`super::skip::walk_portable`]: the same walk, to the
/// same result) with AVX2 compares and the brackets of a block counted at once when they
/// cannot bring the depth to 0 in it; `None` where the fast path does not run.
#[inline]
pub(crate) fn walk(b: &[u8], pos: usize, depth: u64, in_string: bool) -> Option<Walk> {
    #[cfg(target_arch = "x86_64")]
    {
        match state() {
            // SAFETY: state 3 was set only after checking at run time that this CPU has
            // AVX2, AVX-512 F and BW, PCLMULQDQ and POPCNT, the target features
            // `avx2::walk512` is compiled with; it reads `b` only through bounds-checked
            // slices.
            3 => Some(unsafe { avx2::walk512(b, pos, depth, in_string) }),
            // SAFETY: state 2 likewise says AVX2, PCLMULQDQ and POPCNT, `avx2::walk`'s.
            2 => Some(unsafe { avx2::walk(b, pos, depth, in_string) }),
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (b, pos, depth, in_string);
        None
    }
}

/// The bit masks of one 64-byte block, bit `k` for byte `k`.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
struct Masks {
    quote: u64,
    backslash: u64,
    ws: u64,
    open: u64,
    close: u64,
    /// Bytes with bit 5 set: among the brackets, `{` and `}`.
    curly: u64,
    comma: u64,
    colon: u64,
    control: u64,
}

/// The characters of numbers in one block.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
struct Digits {
    digit: u64,
    zero: u64,
    minus: u64,
    dot: u64,
    /// `+` and the exponent marks `e`, `E`: read (by the caller's `marks`) only for a block
    /// whose runs hold more than digits, minus signs and dots.
    plus: u64,
    exp: u64,
}

/// What one block passes to the next: the state at its end and the last bit of the masks
/// whose shifted or added forms reach into the next block.
#[derive(Default)]
struct Carry {
    /// All ones when the block ended inside a string.
    in_string: u64,
    /// 1 when the block's last byte is a backslash that escapes the next block's first byte.
    escape: u64,
    /// Whether the innermost open container at the end of the block is an object.
    object: bool,
    /// Top bits (as 0 or 1) of the masks shifted by one into the next block.
    lbrace: u64,
    lbrack: u64,
    ocomma: u64,
    to_value: u64,
    key_close: u64,
    value_end: u64,
    run: u64,
    digit: u64,
    exp: u64,
    sign: u64,
    dot: u64,
    first_zero: u64,
    start_minus: u64,
    /// Carries out of the additions.
    add_lbrace: bool,
    add_lbrack: bool,
    add_ocomma: bool,
    add_to_value: bool,
    add_key_close: bool,
    add_key: bool,
    add_value_end: bool,
    add_literal: bool,
    add_dot: bool,
    add_exp: bool,
    /// Any of the whitespace searches' carries (`add_lbrace`, `add_lbrack`, `add_ocomma`,
    /// `add_to_value`, `add_key_close`, `add_value_end`) set: one flag for the compact-block
    /// test, kept by [`avx2::container`] after each block that may set them.
    ws_search: bool,
    /// `exp`, `add_literal` or `add_exp` set (something of an exponent or a literal carried
    /// into the next block): one flag for the plain-number test, kept by [`block_ok`].
    rare: bool,
}

/// The bytes escaped by a backslash (the byte after each backslash that is not itself
/// escaped), given the block's backslashes; `carry` (0 or 1) says that the first byte is
/// escaped by the previous block's last backslash, and is set for the next block.
#[inline(always)]
fn escapes(backslash: u64, carry: &mut u64) -> u64 {
    const ODD: u64 = 0xAAAA_AAAA_AAAA_AAAA;
    // Backslashes that start an escape: not themselves escaped.
    let starts = backslash & !*carry;
    // Runs of backslashes starting at an even position escape the byte after an odd-length
    // run when it ends at an odd position, and vice versa: subtracting the run starts from
    // the odd bits marks the escaping backslashes and the escaped bytes.
    let code = ((starts << 1 | ODD).wrapping_sub(starts)) ^ ODD;
    let escaped = code ^ (backslash | *carry);
    let escape = code & backslash;
    *carry = escape >> 63;
    escaped
}

/// Whether every escaped byte (bit `k` of `escaped` is byte `base + k`) makes an escape the
/// byte loop accepts without question: `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, or `\u`
/// with four hex digits naming no surrogate (surrogate pairs are left to the byte loop).
#[inline(never)]
fn escapes_ok(b: &[u8], base: usize, mut escaped: u64) -> bool {
    while escaped != 0 {
        let at = base + escaped.trailing_zeros() as usize;
        escaped &= escaped - 1;
        match b.get(at) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
            Some(b'u') => {
                let Some(hex) = b.get(at + 1..at + 5) else {
                    return false;
                };
                let mut unit = 0u32;
                for &h in hex {
                    match (h as char).to_digit(16) {
                        Some(d) => unit = unit << 4 | d,
                        None => return false,
                    }
                }
                if (0xD800..0xE000).contains(&unit) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// `a + b + carry`, setting `carry` to the carry out of bit 63.
#[inline(always)]
fn add(a: u64, b: u64, carry: &mut bool) -> u64 {
    let (s, o1) = a.overflowing_add(b);
    let (s, o2) = s.overflowing_add(u64::from(*carry));
    *carry = o1 | o2;
    s
}

/// `x` moved one position on (bit `k` to `k + 1`), with the previous block's top bit in
/// bit 0; keeps `x`'s top bit in `prev` for the next block.
#[inline(always)]
fn shift(x: u64, prev: &mut u64) -> u64 {
    let s = x << 1 | *prev;
    *prev = x >> 63;
    s
}

/// The first position outside whitespace `w` at or after each bit of `from` (`from` holds
/// no whitespace bit that an earlier bit's search passes through). `COMPACT`: the block has
/// no whitespace and no search is carried into it, so every position is its own answer.
#[inline(always)]
fn skip_ws<const COMPACT: bool>(from: u64, w: u64, carry: &mut bool) -> u64 {
    if COMPACT {
        from
    } else {
        add(from, w, carry) & !w
    }
}

/// The literal word starting at `p`, if it is exactly `true`, `false` or `null` followed by a
/// byte that ends a token (or the end of the input).
#[inline]
fn literal_ok(b: &[u8], p: usize) -> bool {
    let word: &[u8] = match b[p] {
        b't' => b"true",
        b'f' => b"false",
        b'n' => b"null",
        _ => return false,
    };
    b.get(p..p + word.len()) == Some(word)
        && b.get(p + word.len()).is_none_or(|&c| {
            matches!(
                c,
                b' ' | b'\t' | b'\n' | b'\r' | b',' | b':' | b'[' | b']' | b'{' | b'}' | b'"'
            )
        })
}

/// The grammar checks of one block given its masks; `upto` marks the bytes that belong to
/// the value. Returns whether nothing is wrong. `object` marks the bytes whose innermost
/// container is an object.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_ok<const COMPACT: bool>(
    b: &[u8],
    base: usize,
    m: &Masks,
    strings: u64,
    object: u64,
    upto: u64,
    digits: impl FnOnce() -> Digits,
    marks: impl FnOnce() -> (u64, u64),
    c: &mut Carry,
) -> bool {
    let quote_open = m.quote & strings;
    let quote_close = m.quote & !strings;
    let outside = !strings;
    let w = m.ws & outside;
    let open = m.open & outside;
    let close = m.close & outside;
    let comma = m.comma & outside;
    let colon = m.colon & outside;
    let lbrace = open & m.curly;
    let lbrack = open & !m.curly;
    let rbrace = close & m.curly;
    let rbrack = close & !m.curly;
    // Scalar runs: bytes outside strings that are no quote, whitespace or punctuation.
    let run = !(strings | m.quote | m.ws | m.open | m.close | m.comma | m.colon);
    let run_prev = shift(run, &mut c.run);
    let run_start = run & !run_prev;
    let after_run = !run & run_prev;
    let value_start = open | quote_open | run_start;

    let mut bad = 0u64;
    let n_lbrace = skip_ws::<COMPACT>(shift(lbrace, &mut c.lbrace), w, &mut c.add_lbrace);
    bad |= n_lbrace & !(quote_open | rbrace);
    let n_lbrack = skip_ws::<COMPACT>(shift(lbrack, &mut c.lbrack), w, &mut c.add_lbrack);
    bad |= n_lbrack & !(value_start | rbrack);
    let n_ocomma = skip_ws::<COMPACT>(shift(comma & object, &mut c.ocomma), w, &mut c.add_ocomma);
    bad |= n_ocomma & !quote_open;
    let to_value = (comma & !object) | colon;
    let n_to_value = skip_ws::<COMPACT>(shift(to_value, &mut c.to_value), w, &mut c.add_to_value);
    bad |= n_to_value & !value_start;
    // Keys: the strings opened where a key is due; their closing quotes by an addition that
    // carries along the string.
    let key_open = quote_open & (n_lbrace | n_ocomma);
    let key_close = add(key_open, strings, &mut c.add_key) & !strings;
    let n_key = skip_ws::<COMPACT>(shift(key_close, &mut c.key_close), w, &mut c.add_key_close);
    bad |= n_key & !colon;
    let value_end = close | (quote_close & !key_close);
    let n_end = skip_ws::<COMPACT>(
        shift(value_end, &mut c.value_end) | after_run,
        w,
        &mut c.add_value_end,
    );
    bad |= n_end & !(comma | close);

    // (A block without scalar bytes skips the number checks once nothing of a number is
    // carried into it; what it would carry on is then nothing.)
    if run == 0 && c.exp | c.digit | c.sign | c.dot | c.first_zero | c.start_minus == 0 {
        c.add_literal = false;
        c.add_dot = false;
        c.add_exp = false;
        c.rare = false;
    } else {
        let d = digits();
        // Most blocks hold plain numbers only: no run byte other than digits, minus signs
        // and dots (so no literal, `+` or exponent mark), and nothing of an exponent or a
        // literal carried in. Their rules are what the full rules leave with those masks
        // empty; the rest read the rarer masks and take the full rules.
        let plain = run & !(d.digit | d.minus | d.dot) == 0 && !c.rare;
        if plain {
            bad |= plain_number_rules(run, run_start, &d, c);
        } else {
            let (plus, exp) = marks();
            let d = Digits { plus, exp, ..d };
            // Runs not starting like a number must be a literal word; mark their bytes.
            let literal_start = run_start & !(d.digit | d.minus) & upto;
            if !number_rules(b, base, run, run_start, literal_start, &d, c, &mut bad) {
                return false;
            }
            c.rare = c.exp != 0 || c.add_literal || c.add_exp;
        }
    }
    bad & upto == 0
}

/// The number and literal rules of [`block_ok`] for the scalar runs `run` of a block, adding
/// what is wrong to `bad`; false when a literal word is wrong.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn number_rules(
    b: &[u8],
    base: usize,
    run: u64,
    run_start: u64,
    literal_start: u64,
    d: &Digits,
    c: &mut Carry,
    bad: &mut u64,
) -> bool {
    let (plus, exp_mark) = (d.plus, d.exp);
    let mut ls = literal_start;
    while ls != 0 {
        if !literal_ok(b, base + ls.trailing_zeros() as usize) {
            return false;
        }
        ls &= ls - 1;
    }
    let literal = run & !add(run, literal_start, &mut c.add_literal);
    let num = run & !literal;
    let digit = d.digit & num;
    let minus = d.minus & num;
    let sign = (d.minus | plus) & num;
    let dot = d.dot & num;
    let exp = exp_mark & num;
    let mut bad_here = num & !(digit | sign | dot | exp);
    let digit_prev = shift(digit, &mut c.digit);
    let exp_prev = shift(exp, &mut c.exp);
    // A sign right after an exponent mark, or a minus starting the number; a digit after.
    bad_here |= sign & !(exp_prev | (minus & run_start));
    bad_here |= shift(sign, &mut c.sign) & !digit;
    // A dot or an exponent mark between a digit and a digit (or the exponent's sign).
    bad_here |= (dot | exp) & !digit_prev;
    bad_here |= shift(dot, &mut c.dot) & !digit;
    bad_here |= exp_prev & !(digit | sign);
    // No digit after a leading zero.
    let start_minus_next = shift(minus & run_start, &mut c.start_minus);
    let first = digit & (run_start | start_minus_next);
    bad_here |= shift(first & d.zero, &mut c.first_zero) & digit;
    // At most one dot and one exponent a number, the dot first: adding the marks to the
    // run clears the bits after the first mark (a second mark stays set).
    bad_here |= dot & add(num, dot, &mut c.add_dot);
    let after_exp = add(num, exp, &mut c.add_exp);
    bad_here |= (exp & after_exp) | (dot & !after_exp);
    *bad |= bad_here;
    true
}

/// [`number_rules`] for a block whose runs hold no literal, no `+` and no exponent mark,
/// with no exponent mark, literal or exponent's run carried in (`c.exp`, `c.add_literal`,
/// `c.add_exp` all clear): those masks are 0, and what is left of the rules is this (the
/// carries it does not touch stay clear, as the full rules would leave them). Returns the
/// bits that are wrong.
#[inline(always)]
fn plain_number_rules(run: u64, run_start: u64, d: &Digits, c: &mut Carry) -> u64 {
    let digit = d.digit & run;
    let minus = d.minus & run;
    let dot = d.dot & run;
    let mut bad = run & !(digit | minus | dot);
    let digit_prev = shift(digit, &mut c.digit);
    // A minus only starts a number, and a digit follows it.
    bad |= minus & !run_start;
    bad |= shift(minus, &mut c.sign) & !digit;
    // A dot between a digit and a digit.
    bad |= dot & !digit_prev;
    bad |= shift(dot, &mut c.dot) & !digit;
    // No digit after a leading zero.
    let start_minus_next = shift(minus & run_start, &mut c.start_minus);
    let first = digit & (run_start | start_minus_next);
    bad |= shift(first & d.zero, &mut c.first_zero) & digit;
    // At most one dot a number.
    bad |= dot & add(run, dot, &mut c.add_dot);
    bad
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{block_ok, escapes, escapes_ok, Carry, Digits, Masks, Walk, MAX_EVENT_DEPTH};
    use core::arch::x86_64::*;

    const BLOCK: usize = 64;

    /// The byte vectors the masks compare with, made once per value rather than once per
    /// block: kept in memory (see [`container`]), each compare reads its vector as an operand
    /// instead of building it again first.
    #[derive(Clone, Copy)]
    pub(super) struct Splats {
        quote: __m256i,
        backslash: __m256i,
        ws_table: __m256i,
        bit5: __m256i,
        lbrace: __m256i,
        rbrace: __m256i,
        comma: __m256i,
        colon: __m256i,
        low: __m256i,
        zero: __m256i,
        nine: __m256i,
        minus: __m256i,
        dot: __m256i,
    }

    impl Splats {
        #[target_feature(enable = "avx2")]
        unsafe fn new() -> Splats {
            let set = |c: u8| _mm256_set1_epi8(c as i8);
            // Byte `x` is whitespace when the entry at its low nibble equals it (bytes with
            // the top bit set look up 0).
            let mut table = [0u8; 32];
            for half in [0, 16] {
                table[half] = b' ';
                table[half + 9] = b'\t';
                table[half + 10] = b'\n';
                table[half + 13] = b'\r';
            }
            Splats {
                quote: set(b'"'),
                backslash: set(b'\\'),
                // SAFETY: `table` is 32 readable bytes; unaligned loads are allowed.
                ws_table: _mm256_loadu_si256(table.as_ptr().cast()),
                bit5: set(0x20),
                lbrace: set(b'{'),
                rbrace: set(b'}'),
                comma: set(b','),
                colon: set(b':'),
                low: set(0x1F),
                zero: set(b'0'),
                nine: set(9),
                minus: set(b'-'),
                dot: set(b'.'),
            }
        }
    }

    /// The masks of the block `v` (two 32-byte halves).
    #[target_feature(enable = "avx2")]
    unsafe fn masks(v: &[__m256i; 2], k: &Splats) -> Masks {
        let mut m = Masks::default();
        for (half, &x) in v.iter().enumerate() {
            let at = 32 * half as u32;
            let bits = |y: __m256i| u64::from(_mm256_movemask_epi8(y) as u32) << at;
            let eq = |c: __m256i| _mm256_cmpeq_epi8(x, c);
            let fold = _mm256_or_si256(x, k.bit5);
            m.quote |= bits(eq(k.quote));
            m.backslash |= bits(eq(k.backslash));
            m.ws |= bits(_mm256_cmpeq_epi8(_mm256_shuffle_epi8(k.ws_table, x), x));
            m.open |= bits(_mm256_cmpeq_epi8(fold, k.lbrace));
            m.close |= bits(_mm256_cmpeq_epi8(fold, k.rbrace));
            m.curly |= bits(_mm256_slli_epi16::<2>(x));
            m.comma |= bits(eq(k.comma));
            m.colon |= bits(eq(k.colon));
            m.control |= bits(_mm256_cmpeq_epi8(_mm256_min_epu8(x, k.low), x));
        }
        m
    }

    /// The masks of the digits, zeros, minus signs and dots in the block `v` (`plus` and
    /// `exp` are left 0: see [`marks`]).
    #[target_feature(enable = "avx2")]
    unsafe fn digits(v: &[__m256i; 2], k: &Splats) -> Digits {
        let mut d = Digits::default();
        for (half, &x) in v.iter().enumerate() {
            let at = 32 * half as u32;
            let bits = |y: __m256i| u64::from(_mm256_movemask_epi8(y) as u32) << at;
            let eq = |c: __m256i| _mm256_cmpeq_epi8(x, c);
            let off = _mm256_sub_epi8(x, k.zero);
            d.digit |= bits(_mm256_cmpeq_epi8(_mm256_min_epu8(off, k.nine), off));
            d.zero |= bits(eq(k.zero));
            d.minus |= bits(eq(k.minus));
            d.dot |= bits(eq(k.dot));
        }
        d
    }

    /// The masks of `+` and of the exponent marks `e`, `E` in the block `v`.
    #[target_feature(enable = "avx2")]
    unsafe fn marks(v: &[__m256i; 2]) -> (u64, u64) {
        let (mut plus, mut exp) = (0u64, 0u64);
        for (half, &x) in v.iter().enumerate() {
            let at = 32 * half as u32;
            let bits = |y: __m256i| u64::from(_mm256_movemask_epi8(y) as u32) << at;
            plus |= bits(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(b'+' as i8)));
            let fold = _mm256_or_si256(x, _mm256_set1_epi8(0x20));
            exp |= bits(_mm256_cmpeq_epi8(fold, _mm256_set1_epi8(b'e' as i8)));
        }
        (plus, exp)
    }

    /// Prefix XOR of `x` (bit `k` = XOR of bits `0..=k`): one carry-less multiplication by
    /// all ones.
    #[target_feature(enable = "pclmulqdq")]
    unsafe fn prefix_xor(x: u64) -> u64 {
        let product = _mm_clmulepi64_si128::<0>(_mm_set_epi64x(0, x as i64), _mm_set1_epi8(-1));
        _mm_cvtsi128_si64(product) as u64
    }

    /// The brackets of a block at once when they are all of one kind and alternate between
    /// closing and opening brackets at one level (`},{"x":1},{` in an array of objects,
    /// `],[1,2],[` in an array of arrays), none of them closing the value: updates the open
    /// containers (`kinds`, `open`, `cur`) as the walk of [`container`] would and returns the
    /// `object` mask it would give (bit `k`: the innermost container after byte `k` is an
    /// object). `None` (nothing changed) for any other block, or where the walk would refuse
    /// (a closing bracket of the wrong kind, nesting too deep), which the walk then decides.
    /// Safety: the CPU must have AVX2 and PCLMULQDQ.
    #[inline]
    #[target_feature(enable = "avx2,pclmulqdq")]
    unsafe fn alternating(
        brackets: u64,
        opens: u64,
        curly: u64,
        kinds: &mut u64,
        open: &mut usize,
        cur: &mut bool,
        depth: usize,
    ) -> Option<u64> {
        let curly = brackets & curly;
        let kind = if curly == brackets {
            true
        } else if curly == 0 {
            false
        } else {
            return None;
        };
        let kind_mask = if kind { u64::MAX } else { 0 };
        // Bit `k`: an odd number of the block's brackets at or before byte `k`; the 1st, 3rd, ...
        // brackets are the odd ones.
        let x = prefix_xor(brackets);
        let (odd, even) = (brackets & x, brackets & !x);
        let closes = brackets & !opens;
        let ends_odd = x >> 63 == 1;
        if opens & brackets & brackets.wrapping_neg() != 0 {
            // Opening first: `{ } { ...`, each closing bracket closing the one before it, so
            // the level never drops below this block's starting one (at least 1: the value
            // does not end here). After an opening bracket (`x` set) the innermost kind is
            // `kind`, after a closing one the starting one again.
            if odd & closes != 0 || even & opens != 0 {
                return None;
            }
            if *open == 0 || depth + *open + 1 > MAX_EVENT_DEPTH || *open == 64 {
                return None;
            }
            let outer = if *cur { u64::MAX } else { 0 };
            let object = (x & kind_mask) | (!x & outer);
            if ends_odd {
                *kinds = *kinds << 1 | u64::from(kind);
                *open += 1;
                *cur = kind;
            }
            Some(object)
        } else {
            // Closing first: `} { } ...`, each closing the innermost container (which must be
            // of `kind`) and the opening bracket after it opening one of `kind` in its place,
            // one level up (at least 1 open container there: the value does not end here).
            // After a closing bracket (`x` set) the innermost kind is that level's.
            if odd & opens != 0 || even & closes != 0 {
                return None;
            }
            if *open < 2 || (*kinds & 1 == 1) != kind {
                return None;
            }
            let parent = *kinds >> 1 & 1 == 1;
            let outer = if parent { u64::MAX } else { 0 };
            let object = (x & outer) | (!x & kind_mask);
            if ends_odd {
                *kinds >>= 1;
                *open -= 1;
                *cur = parent;
            }
            Some(object)
        }
    }

    /// See [`super::walk`]. Safety: the CPU must have AVX2, PCLMULQDQ and POPCNT.
    #[target_feature(enable = "avx2,pclmulqdq,popcnt")]
    pub(super) unsafe fn walk(b: &[u8], pos: usize, depth: u64, in_string: bool) -> Walk {
        walk_with::<[__m256i; 2]>(b, pos, depth, in_string)
    }

    /// [`walk`] with AVX-512 compares. Safety: the CPU must have AVX2, AVX-512 F and BW,
    /// PCLMULQDQ and POPCNT.
    #[target_feature(enable = "avx2,avx512f,avx512bw,pclmulqdq,popcnt")]
    pub(super) unsafe fn walk512(b: &[u8], pos: usize, depth: u64, in_string: bool) -> Walk {
        walk_with::<super::avx512::Vector>(b, pos, depth, in_string)
    }

    /// The body of [`walk`] and [`walk512`], compiled into each with its lanes. Safety: the
    /// CPU must have PCLMULQDQ, POPCNT and the lanes' target features.
    #[inline(always)]
    unsafe fn walk_with<L: Lanes>(
        b: &[u8],
        mut pos: usize,
        mut depth: u64,
        mut in_string: bool,
    ) -> Walk {
        use crate::json::skip::{block_at, walk_brackets, walk_bytes, Brackets};
        let mut padded = [b' '; BLOCK];
        while pos < b.len() {
            ahead(b, pos);
            let block = block_at(b, pos, &mut padded);
            let [quote, backslash, open, close] = L::load(block).brackets();
            if backslash != 0 {
                // Rare: walk this block byte by byte.
                match walk_bytes(b, pos, &mut depth, &mut in_string) {
                    Ok(next) => {
                        pos = next;
                        continue;
                    }
                    Err(end) => return Walk::Closed(end),
                }
            }
            let carry = if in_string { u64::MAX } else { 0 };
            let strings = prefix_xor(quote) ^ carry;
            in_string = strings >> 63 == 1;
            let open = open & !strings;
            let close = close & !strings;
            // Fewer closing brackets than the depth: it stays above 0 throughout the block,
            // so the brackets are counted, not walked.
            let closes = u64::from(close.count_ones());
            if closes < depth {
                depth = depth + u64::from(open.count_ones()) - closes;
            } else if let Brackets::Closed(end) =
                walk_brackets(b.len(), pos, open, close, &mut depth)
            {
                return Walk::Closed(end);
            }
            pos = (pos + BLOCK).min(b.len());
        }
        Walk::Open {
            pos,
            depth,
            in_string,
        }
    }

    /// See [`super::quote_masks`]. Safety: the CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn quote_masks(block: &[u8; 64]) -> (u64, u64) {
        let half = |at: usize| {
            let chunk: &[u8; 32] = block[at..at + 32].try_into().expect("32 bytes");
            // SAFETY: `chunk` is 32 readable bytes; unaligned loads are allowed.
            let v = _mm256_loadu_si256(chunk.as_ptr().cast());
            let quote = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'"' as i8));
            let backslash = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\\' as i8));
            // Bytes below 0x20: equal to their minimum with 0x1F.
            let control = _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1F)), v);
            let mask = |x: __m256i| u64::from(_mm256_movemask_epi8(x) as u32);
            (mask(quote), mask(_mm256_or_si256(backslash, control)))
        };
        let ((q0, s0), (q1, s1)) = (half(0), half(32));
        (q0 | q1 << 32, s0 | s1 << 32)
    }

    /// See [`super::quote_masks`]. Safety: the CPU must have AVX-512 F and BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn quote_masks512(block: &[u8; 64]) -> (u64, u64) {
        // SAFETY: `block` is 64 readable bytes; unaligned loads are allowed.
        let v = _mm512_loadu_si512(block.as_ptr().cast());
        let quote = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'"' as i8));
        let backslash = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\\' as i8));
        let control = _mm512_cmple_epu8_mask(v, _mm512_set1_epi8(0x1F));
        (quote, backslash | control)
    }

    /// See [`super::ascii`]. Safety: the CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn ascii(b: &[u8]) -> bool {
        let Some(last) = b.len().checked_sub(32) else {
            return b.iter().fold(0, |acc, &x| acc | x) < 0x80;
        };
        let load = |at: usize| {
            let chunk: &[u8; 32] = b[at..at + 32].try_into().expect("32 bytes");
            // SAFETY: `chunk` is 32 readable bytes; unaligned loads are allowed.
            _mm256_loadu_si256(chunk.as_ptr().cast())
        };
        // The last 32 bytes overlap the chunks before them, which changes no OR.
        let mut acc = load(last);
        let mut at = 0;
        while at + 64 <= last {
            acc = _mm256_or_si256(acc, _mm256_or_si256(load(at), load(at + 32)));
            at += 64;
        }
        while at < last {
            acc = _mm256_or_si256(acc, load(at));
            at += 32;
        }
        _mm256_movemask_epi8(acc) == 0
    }

    /// See [`super::ascii`]. Safety: the CPU must have AVX-512 F and BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn ascii512(b: &[u8]) -> bool {
        let Some(last) = b.len().checked_sub(64) else {
            // SAFETY: the CPU has AVX2 wherever it has AVX-512 F and BW (the state that
            // calls this checked both).
            return unsafe { ascii(b) };
        };
        let load = |at: usize| {
            let chunk: &[u8; 64] = b[at..at + 64].try_into().expect("64 bytes");
            // SAFETY: `chunk` is 64 readable bytes; unaligned loads are allowed.
            _mm512_loadu_si512(chunk.as_ptr().cast())
        };
        // The last 64 bytes overlap the chunks before them, which changes no OR.
        let mut acc = load(last);
        let mut at = 0;
        while at < last {
            acc = _mm512_or_si512(acc, load(at));
            at += 64;
        }
        _mm512_movepi8_mask(acc) == 0
    }

    /// The compares of one 64-byte block: two 32-byte AVX2 halves or one AVX-512 vector.
    /// The masks they give are the same bits either way.
    pub(super) trait Lanes: Copy {
        /// What the compares compare with, made once per value.
        type Splats: Copy;
        /// Safety (all four): the CPU must have the lanes' target features.
        unsafe fn splats() -> Self::Splats;
        unsafe fn load(block: &[u8; BLOCK]) -> Self;
        unsafe fn masks(self, k: &Self::Splats) -> Masks;
        unsafe fn digits(self, k: &Self::Splats) -> Digits;
        unsafe fn marks(self) -> (u64, u64);
        /// The quotes, backslashes, opening and closing brackets (both kinds alike), for
        /// the lazy walk.
        unsafe fn brackets(self) -> [u64; 4];
    }

    impl Lanes for [__m256i; 2] {
        type Splats = Splats;
        #[inline(always)]
        unsafe fn splats() -> Splats {
            // In memory (`black_box`), not in registers: the compiler would otherwise rebuild
            // each vector inside the loop, one instruction more per compare.
            core::hint::black_box(Splats::new())
        }
        #[inline(always)]
        unsafe fn load(block: &[u8; BLOCK]) -> Self {
            // SAFETY (both loads): `block` is 64 readable bytes; unaligned loads are allowed.
            [
                _mm256_loadu_si256(block.as_ptr().cast()),
                _mm256_loadu_si256(block.as_ptr().add(32).cast()),
            ]
        }
        #[inline(always)]
        unsafe fn masks(self, k: &Splats) -> Masks {
            masks(&self, k)
        }
        #[inline(always)]
        unsafe fn digits(self, k: &Splats) -> Digits {
            digits(&self, k)
        }
        #[inline(always)]
        unsafe fn marks(self) -> (u64, u64) {
            marks(&self)
        }
        #[inline(always)]
        unsafe fn brackets(self) -> [u64; 4] {
            let mut out = [0u64; 4];
            for (half, &x) in self.iter().enumerate() {
                let at = 32 * half as u32;
                let bits = |y: __m256i| u64::from(_mm256_movemask_epi8(y) as u32) << at;
                let fold = _mm256_or_si256(x, _mm256_set1_epi8(0x20));
                out[0] |= bits(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(b'"' as i8)));
                out[1] |= bits(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(b'\\' as i8)));
                out[2] |= bits(_mm256_cmpeq_epi8(fold, _mm256_set1_epi8(b'{' as i8)));
                out[3] |= bits(_mm256_cmpeq_epi8(fold, _mm256_set1_epi8(b'}' as i8)));
            }
            out
        }
    }

    /// How far ahead of the block being read [`ahead`] asks for bytes: 16 cache lines. The
    /// hardware prefetcher alone leaves the block loops waiting on memory for about a fifth
    /// of their time on events that are not in cache; asking this far ahead (rather than
    /// 4-8 lines) was the fastest distance measured, for AVX2 and AVX-512 alike.
    const AHEAD: usize = 1024;

    /// Asks the CPU to start loading the cache line [`AHEAD`] bytes past `pos` of `b`
    /// (usually past the value, in the events that follow it in a batch).
    #[inline(always)]
    fn ahead(b: &[u8], pos: usize) {
        // (`wrapping_add`: the address may lie past `b`, and no pointer is read from it.)
        let line = b.as_ptr().wrapping_add(pos + AHEAD).cast::<i8>();
        // SAFETY: `_mm_prefetch` needs only SSE, which every x86_64 CPU has. The instruction
        // is a hint: it reads nothing into any value and never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line) };
    }

    /// See [`super::container`]. Safety: the CPU must have AVX2 and PCLMULQDQ.
    #[target_feature(enable = "avx2,pclmulqdq")]
    pub(super) unsafe fn container(b: &[u8], start: usize, depth: usize) -> Option<usize> {
        container_with::<[__m256i; 2]>(b, start, depth)
    }

    /// [`container`] with one AVX-512 compare a mask. Safety: the CPU must have AVX2,
    /// AVX-512 F and BW, and PCLMULQDQ.
    #[target_feature(enable = "avx2,avx512f,avx512bw,pclmulqdq")]
    pub(super) unsafe fn container512(b: &[u8], start: usize, depth: usize) -> Option<usize> {
        container_with::<super::avx512::Vector>(b, start, depth)
    }

    /// The body of [`container`] and [`container512`], compiled into each with its lanes.
    /// Safety: the CPU must have PCLMULQDQ and the lanes' target features.
    #[inline(always)]
    unsafe fn container_with<L: Lanes>(b: &[u8], start: usize, depth: usize) -> Option<usize> {
        let mut c = Carry::default();
        // The open containers, innermost in bit 0 (1 = object), and how many (at most 64
        // here: deeper values are left to the byte loop).
        let mut kinds: u64 = 0;
        let mut open = 0usize;
        let mut pos = start;
        let mut padded = [b' '; BLOCK];
        let splats = L::splats();
        while pos < b.len() {
            let block: &[u8; BLOCK] = match b.get(pos..pos + BLOCK) {
                Some(s) => s.try_into().ok()?,
                None => {
                    let rest = &b[pos..];
                    padded[..rest.len()].copy_from_slice(rest);
                    padded[rest.len()..].fill(b' ');
                    &padded
                }
            };
            ahead(b, pos);
            let v = L::load(block);
            let m = v.masks(&splats);
            let mut quote = m.quote;
            let mut escaped = 0;
            if m.backslash | c.escape != 0 {
                escaped = escapes(m.backslash, &mut c.escape);
                quote &= !escaped;
            }
            let strings = prefix_xor(quote) ^ c.in_string;
            let m = Masks { quote, ..m };
            // The brackets outside strings, one by one: nesting, kinds, where the value ends,
            // and where the innermost kind changes (for the commas).
            let outside = !strings;
            let open_bits = m.open & outside;
            let mut brackets = (open_bits | m.close) & outside;
            let mut toggles = 0u64;
            let mut cur = c.object;
            let start_kind = if cur { u64::MAX } else { 0 };
            let mut end = None;
            let shortcut = if brackets == 0 {
                Some(start_kind)
            } else {
                // SAFETY: this function runs only where AVX2 and PCLMULQDQ are present (its
                // contract: both wrappers enable them).
                unsafe {
                    alternating(
                        brackets, open_bits, m.curly, &mut kinds, &mut open, &mut cur, depth,
                    )
                }
            };
            if shortcut.is_some() {
                brackets = 0;
            }
            while brackets != 0 {
                let k = brackets.trailing_zeros();
                let curly = m.curly >> k & 1 == 1;
                let now = if open_bits >> k & 1 == 1 {
                    if depth + open + 1 > MAX_EVENT_DEPTH || open == 64 {
                        return None;
                    }
                    kinds = kinds << 1 | u64::from(curly);
                    open += 1;
                    curly
                } else {
                    if open == 0 || (kinds & 1 == 1) != curly {
                        return None;
                    }
                    kinds >>= 1;
                    open -= 1;
                    if open == 0 {
                        end = Some(k);
                        break;
                    }
                    kinds & 1 == 1
                };
                toggles |= u64::from(now ^ cur) << k;
                cur = now;
                brackets &= brackets - 1;
            }
            let object = match shortcut {
                Some(object) => object,
                None if toggles == 0 => start_kind,
                None => prefix_xor(toggles) ^ start_kind,
            };
            // Bits 0..=k for a value ending at byte k of the block.
            let upto = match end {
                Some(k) => u64::MAX >> (63 - k),
                None => u64::MAX,
            };
            // No control byte in a string; backslashes only in strings, each escape one the
            // byte loop accepts without question.
            if m.control & strings & upto != 0 {
                return None;
            }
            if escaped & upto != 0
                && (m.backslash & !strings & upto != 0 || !escapes_ok(b, pos, escaped & upto))
            {
                return None;
            }
            // SAFETY: this function runs only where the lanes' features are present (its
            // contract).
            let digits = || unsafe { v.digits(&splats) };
            // SAFETY: as for `digits`.
            let marks = || unsafe { v.marks() };
            // (A compact block leaves the whitespace searches' carries clear, as it found them.)
            let compact = m.ws & outside == 0 && !c.ws_search;
            let ok = if compact {
                block_ok::<true>(b, pos, &m, strings, object, upto, digits, marks, &mut c)
            } else {
                let ok =
                    block_ok::<false>(b, pos, &m, strings, object, upto, digits, marks, &mut c);
                c.ws_search = c.add_lbrace
                    | c.add_lbrack
                    | c.add_ocomma
                    | c.add_to_value
                    | c.add_key_close
                    | c.add_value_end;
                ok
            };
            if !ok {
                return None;
            }
            if let Some(k) = end {
                let end = pos + k as usize + 1;
                return (end <= b.len()).then_some(end);
            }
            c.in_string = if strings >> 63 == 1 { u64::MAX } else { 0 };
            c.object = cur;
            pos += BLOCK;
        }
        None
    }
}

/// The AVX-512 lanes of [`avx2::container512`]: one 64-byte vector a block, one compare
/// a mask (AVX-512 BW compares give the mask directly).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::avx2::Lanes;
    use super::{Digits, Masks};
    use core::arch::x86_64::*;

    #[derive(Clone, Copy)]
    pub(super) struct Vector(__m512i);

    /// The whitespace table of the `shuffle` test, in each 16-byte lane: byte `x` is
    /// whitespace when the entry at its low nibble equals it (bytes with the top bit set
    /// look up 0).
    const WS_TABLE: [u8; 64] = {
        let mut t = [0u8; 64];
        let mut lane = 0;
        while lane < 64 {
            t[lane] = b' ';
            t[lane + 9] = b'\t';
            t[lane + 10] = b'\n';
            t[lane + 13] = b'\r';
            lane += 16;
        }
        t
    };

    impl Lanes for Vector {
        type Splats = ();
        #[inline(always)]
        unsafe fn splats() {}
        #[inline(always)]
        unsafe fn load(block: &[u8; 64]) -> Vector {
            // SAFETY: `block` is 64 readable bytes; unaligned loads are allowed.
            Vector(_mm512_loadu_si512(block.as_ptr().cast()))
        }
        #[inline(always)]
        unsafe fn masks(self, _: &()) -> Masks {
            let x = self.0;
            let set = |c: u8| _mm512_set1_epi8(c as i8);
            let eq = |c: u8| _mm512_cmpeq_epi8_mask(x, set(c));
            let fold = _mm512_or_si512(x, set(0x20));
            // SAFETY: `WS_TABLE` is 64 readable bytes.
            let table = _mm512_loadu_si512(WS_TABLE.as_ptr().cast());
            Masks {
                quote: eq(b'"'),
                backslash: eq(b'\\'),
                ws: _mm512_cmpeq_epi8_mask(_mm512_shuffle_epi8(table, x), x),
                open: _mm512_cmpeq_epi8_mask(fold, set(b'{')),
                close: _mm512_cmpeq_epi8_mask(fold, set(b'}')),
                curly: _mm512_test_epi8_mask(x, set(0x20)),
                comma: eq(b','),
                colon: eq(b':'),
                control: _mm512_cmple_epu8_mask(x, set(0x1F)),
            }
        }
        #[inline(always)]
        unsafe fn digits(self, _: &()) -> Digits {
            let x = self.0;
            let set = |c: u8| _mm512_set1_epi8(c as i8);
            let off = _mm512_sub_epi8(x, set(b'0'));
            Digits {
                digit: _mm512_cmple_epu8_mask(off, set(9)),
                zero: _mm512_cmpeq_epi8_mask(x, set(b'0')),
                minus: _mm512_cmpeq_epi8_mask(x, set(b'-')),
                dot: _mm512_cmpeq_epi8_mask(x, set(b'.')),
                plus: 0,
                exp: 0,
            }
        }
        #[inline(always)]
        unsafe fn marks(self) -> (u64, u64) {
            let x = self.0;
            let set = |c: u8| _mm512_set1_epi8(c as i8);
            let fold = _mm512_or_si512(x, set(0x20));
            (
                _mm512_cmpeq_epi8_mask(x, set(b'+')),
                _mm512_cmpeq_epi8_mask(fold, set(b'e')),
            )
        }
        #[inline(always)]
        unsafe fn brackets(self) -> [u64; 4] {
            let x = self.0;
            let set = |c: u8| _mm512_set1_epi8(c as i8);
            let fold = _mm512_or_si512(x, set(0x20));
            [
                _mm512_cmpeq_epi8_mask(x, set(b'"')),
                _mm512_cmpeq_epi8_mask(x, set(b'\\')),
                _mm512_cmpeq_epi8_mask(fold, set(b'{')),
                _mm512_cmpeq_epi8_mask(fold, set(b'}')),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::validate::value;

    fn scalar(s: &[u8]) -> Option<usize> {
        value(s, 0, 0, &mut Vec::new()).ok()
    }

    fn fast(s: &[u8]) -> Option<usize> {
        container(s, 0, 0)
    }

    #[test]
    fn read_ahead_asks_for_the_bytes_ahead_once() {
        let b = vec![b'x'; READ_AHEAD + READ_AHEAD_SPAN + 100];
        let lines = |n| if cfg!(target_arch = "x86_64") { n } else { 0 };
        let mut asked = 0;
        assert_eq!(read_ahead(&b, 0, &mut asked), lines(READ_AHEAD_SPAN / 64));
        assert_eq!(asked, READ_AHEAD + READ_AHEAD_SPAN);
        // Again from the same place, or a little further: only what was not asked for.
        assert_eq!(read_ahead(&b, 0, &mut asked), 0);
        assert_eq!(read_ahead(&b, 64, &mut asked), lines(1));
        // Near the end, only the bytes there are: none past the end.
        let mut asked = 0;
        assert_eq!(
            read_ahead(&b, 100 + READ_AHEAD_SPAN - 64, &mut asked),
            lines(1)
        );
        assert_eq!(asked, b.len());
        let mut asked = 0;
        assert_eq!(read_ahead(&b, b.len(), &mut asked), 0);
        assert_eq!(read_ahead(&b, usize::MAX, &mut asked), 0);
        assert_eq!(read_ahead(&[], 0, &mut asked), 0);
    }

    /// Whether this machine runs the fast path (the tests below check more when it does).
    fn runs() -> bool {
        available()
    }

    #[test]
    fn accepts_what_the_byte_loop_accepts() {
        let cases = [
            r#"{"a": [1, -2.5e3, "x", true, false, null, {}, []]}"#,
            r#"[0, -0, 0.5, 1E+5, 1e-5, 12.34e56, -0.0e0, 10, 100]"#,
            r#"{"type":"Feature","properties":{"MAPBLKLOT":"0753062","ODD_EVEN":null},"geometry":{"type":"Polygon","coordinates":[[{"x":-122.36434963611487,"y":37.72794614531054,"z":0.0},{"x":-122.36488586200593,"y":37.727805731110834,"z":0.0}]]}}"#,
            "[ \t\n\r1 , \"a b\" ,{ \"k\" : [ ] } ]",
            "{}",
            "[]",
            "[[[[[[]]]]]]",
            r#"{"":""}"#,
            r#"["é", "{[]}:,"]"#,
        ];
        for s in cases {
            let want = scalar(s.as_bytes());
            assert!(want.is_some(), "{s}");
            if runs() {
                assert_eq!(fast(s.as_bytes()), want, "{s}");
                // The same value at every offset within a block, and with a tail after it.
                for pad in 0..70 {
                    let t = format!("{}{s}, 1]", " ".repeat(pad));
                    assert_eq!(container(t.as_bytes(), pad, 0), Some(pad + s.len()), "{t}");
                }
            }
        }
    }

    #[test]
    fn refuses_what_the_byte_loop_refuses() {
        let cases = [
            "[01]",
            "[1.]",
            "[.5]",
            "[+1]",
            "[-]",
            "[1e]",
            "[1e+]",
            "[1.5.3]",
            "[1e5e3]",
            "[1e5.3]",
            "[1-2]",
            "[--1]",
            "[tru]",
            "[truex]",
            "[nul]",
            "[nullnull]",
            "[1 2]",
            "[1,]",
            "[,1]",
            "[1,,2]",
            "{,}",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{\"a\":1 \"b\":2}",
            "[\"a\":1]",
            "[1, \"a\": 2]",
            "{\"a\":1, 2}",
            "[}",
            "{]",
            "[[]",
            "[\"a\nb\"]",
            "[1x]",
            "[\"a\"\"b\"]",
            "[1\"a\"]",
            "{:1}",
            "[1:2]",
            "[é]",
            "[\u{1}]",
            "[true false]",
            "{\"a\":{\"b\":1]}",
        ];
        for s in cases {
            assert_eq!(fast(s.as_bytes()), None, "{s}");
            // Also when the error sits at a block boundary.
            for pad in 0..70 {
                let t = format!("[{}{s}]", " ".repeat(pad));
                assert_eq!(fast(t.as_bytes()), None, "{t}");
                assert!(scalar(t.as_bytes()).is_none(), "{t}");
            }
        }
    }

    #[test]
    fn alternating_brackets_of_the_wrong_kind_are_refused() {
        // `},{},{},` closing an array (or `],[],[` an object), in a block of its own wherever
        // the numbers before it put it.
        for pad in 0..70 {
            let ones = "1,".repeat(40);
            let lead = "1,".repeat(pad);
            for s in [
                format!("[[{lead}{ones}1}},{{}},{{}},{ones}1]]"),
                format!("{{\"a\":{{\"b\":1{lead}],[],[],{ones}1}}}}"),
                format!("[{{\"a\":1{}],[],[],{ones}1]", " ".repeat(80 + pad)),
            ] {
                assert!(scalar(s.as_bytes()).is_none(), "{s}");
                assert_eq!(fast(s.as_bytes()), None, "{s}");
            }
        }
    }

    #[test]
    fn escapes_agree_with_a_byte_loop() {
        // Every mix of backslashes, quotes and letters over two blocks, from both carries.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            let mut bytes = [b'a'; 128];
            for x in bytes.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *x = match seed % 4 {
                    0 | 1 => b'\\',
                    2 => b'"',
                    _ => b'a',
                };
            }
            for start_escaped in [0u64, 1] {
                let mut want = [0u64; 2];
                let mut next = start_escaped == 1;
                for (k, &x) in bytes.iter().enumerate() {
                    if next {
                        want[k / 64] |= 1 << (k % 64);
                        next = false;
                    } else if x == b'\\' {
                        next = true;
                    }
                }
                let mut carry = start_escaped;
                for (half, chunk) in bytes.chunks(64).enumerate() {
                    let bs = chunk
                        .iter()
                        .enumerate()
                        .fold(0u64, |m, (k, &x)| m | u64::from(x == b'\\') << k);
                    assert_eq!(
                        escapes(bs, &mut carry),
                        want[half],
                        "{bytes:?} {start_escaped}"
                    );
                }
            }
        }
    }

    #[test]
    fn decides_plain_escapes_and_leaves_surrogates_and_bad_ones_to_the_byte_loop() {
        for s in [
            r#"["a\"b", "\\", "\/\b\f\n\r\t", "\u00e9\uFFFF", "x\\\"]\\"]"#,
            r#"{"k\"": "\\\\", "\u0041": 1}"#,
        ] {
            assert_eq!(scalar(s.as_bytes()), Some(s.len()), "{s}");
            if runs() {
                assert_eq!(fast(s.as_bytes()), Some(s.len()), "{s}");
                for pad in 0..70 {
                    let t = format!("[\"{}\", {s}]", "x".repeat(pad));
                    assert_eq!(fast(t.as_bytes()), Some(t.len()), "{t}");
                }
            }
        }
        for s in [
            r#"["\ud83d\ude00"]"#,
            r#"["\x"]"#,
            r#"["\u12"]"#,
            "[\"\\\u{1}\"]",
            r#"[\"a"]"#,
        ] {
            assert_eq!(fast(s.as_bytes()), None, "{s}");
        }
        assert!(scalar(br#"["\ud83d\ude00"]"#).is_some());
    }

    #[test]
    fn leaves_deep_nesting_to_the_byte_loop() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        if runs() {
            assert_eq!(fast(deep(64).as_bytes()), Some(128));
        }
        assert_eq!(fast(deep(65).as_bytes()), None);
        assert_eq!(scalar(deep(65).as_bytes()), Some(130));
        assert_eq!(
            container(deep(64).as_bytes(), 0, MAX_EVENT_DEPTH - 63),
            None
        );
        assert_eq!(
            container(deep(64).as_bytes(), 0, MAX_EVENT_DEPTH - 64),
            Some(128)
        );
        // The same limits where the opening bracket is in a block of alternating brackets
        // (`{},{},{}` between 80 bytes of numbers on each side), which are taken without the
        // walk.
        let flat = |n: usize| {
            let (open, close, ones) = ("[".repeat(n), "]".repeat(n), "1,".repeat(40));
            format!("{open}{ones}{{}},{{}},{{}},{ones}1{close}")
        };
        for (n, depth, decided) in [
            (1, MAX_EVENT_DEPTH - 2, true),
            (1, MAX_EVENT_DEPTH - 1, false),
            (63, 0, true),
            (64, 0, false),
            (63, MAX_EVENT_DEPTH - 64, true),
            (63, MAX_EVENT_DEPTH - 63, false),
        ] {
            let s = flat(n);
            let want = (decided && runs()).then_some(s.len());
            assert_eq!(container(s.as_bytes(), 0, depth), want, "{n} {depth}");
        }
    }

    #[test]
    fn numbers_with_and_without_signs_exponents_and_literals_across_blocks() {
        // Blocks of plain numbers between blocks with a sign, an exponent or a literal, and a
        // mistake in either kind of block, at every offset from a block's start.
        let plain = "[-122.36434963611487,37.72794614531054,0.0,10,-0.5]";
        for (tail, valid) in [
            ("1e5", true),
            ("-2.5E+3", true),
            ("true", true),
            ("false", true),
            ("null", true),
            ("1.5.3", false),
            ("1e5e3", false),
            ("01", false),
            ("-", false),
            ("1.", false),
            ("+1", false),
            ("1e", false),
            ("truex", false),
        ] {
            for pad in 0..70 {
                let s = format!(
                    "[{}{plain},{plain},{tail},{plain},{tail},{plain}]",
                    " ".repeat(pad)
                );
                let want = scalar(s.as_bytes());
                assert_eq!(want.is_some(), valid, "{s}");
                if runs() {
                    assert_eq!(fast(s.as_bytes()), want, "{s}");
                }
            }
        }
    }

    #[test]
    fn walk_agrees_with_the_portable_walk() {
        use crate::json::skip::walk_portable;
        // Brackets, quotes and backslashes in every mix, from every start and state, cut at
        // every length (so the padded last block and resuming are covered too).
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for round in 0..3_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 200) as usize;
            let mut bytes = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Few backslashes in most rounds, so most blocks take the counting path.
                let alphabet: &[u8] = if round % 4 == 0 {
                    b"{}[]\"\\ a,"
                } else {
                    b"{}[]\"{[ a,:1}]"
                };
                bytes.push(alphabet[(seed >> 20) as usize % alphabet.len()]);
            }
            for start in [0, 1, len / 2] {
                for depth in [1u64, 2, 3, 70] {
                    for in_string in [false, true] {
                        for cut in [len, len.saturating_sub(1), len / 3] {
                            if start > cut {
                                continue;
                            }
                            let b = &bytes[..cut];
                            let want = walk_portable(b, start, depth, in_string);
                            if walk(b, start, depth, in_string).is_none() {
                                assert!(!runs());
                            }
                            for got in walk_each(b, start, depth, in_string) {
                                assert_eq!(
                                    got,
                                    want,
                                    "{:?} from {start} at depth {depth}, in string {in_string}",
                                    String::from_utf8_lossy(b)
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn long_values_cross_many_blocks() {
        let inner: Vec<String> = (0..300)
            .map(|i| format!(r#"{{"x": -{i}.{i}e-{i}, "s": "a]}}{{[b", "t": [true, null]}}"#))
            .collect();
        let s = format!("[{}]", inner.join(","));
        assert_eq!(scalar(s.as_bytes()), Some(s.len()));
        if runs() {
            assert_eq!(fast(s.as_bytes()), Some(s.len()));
        }
        let cut = &s.as_bytes()[..s.len() - 1];
        assert_eq!(fast(cut), None);
    }

    mod generated {
        use super::*;
        use crate::json::validate::value_scalar;
        use proptest::prelude::*;

        /// Number texts, most valid, some just off (a leading zero, a missing digit, a
        /// doubled mark).
        fn number() -> impl Strategy<Value = String> {
            prop_oneof![
                "-?(0|[1-9][0-9]{0,18})(\\.[0-9]{1,17})?([eE][+-]?[0-9]{1,3})?",
                "[-+]?[0-9.eE+-]{1,8}",
                // Valid pieces, some doubled or in the wrong order.
                (
                    "-?(0|[1-9][0-9]?|0[0-9])",
                    prop::collection::vec(
                        prop_oneof!["\\.[0-9]{1,2}", "[eE][+-]?[0-9]{1,2}"],
                        0..3
                    ),
                )
                    .prop_map(|(int, rest)| format!("{int}{}", rest.concat())),
            ]
        }

        fn string() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-z {}\\[\\]:,é\u{1F600}]{0,12}".prop_map(|s| format!("\"{s}\"")),
                "[a-z\"\\\\/nu0-9]{0,10}".prop_map(|s| format!("\"{s}\"")),
            ]
        }

        fn ws() -> impl Strategy<Value = String> {
            prop_oneof![4 => Just(String::new()), 1 => "[ \t\n\r]{1,3}"]
        }

        /// Long arrays and objects of plain numbers (`-?\d+(\.\d+)?`) only, the blocks the
        /// plain-number rules take: runs of up to 31 bytes, 4 to 60 of them, after 0 to 63
        /// spaces, so that runs cross the 32- and 64-byte edges at every offset.
        fn plain_numbers() -> impl Strategy<Value = String> {
            // Built from integers (faster than from a pattern): a sign, up to 15 digits of
            // integer, up to 14 of fraction.
            let number = (
                any::<bool>(),
                any::<u64>(),
                0u32..16,
                prop::option::of((any::<u64>(), 1u32..15)),
            )
                .prop_map(|(minus, int, digits, frac)| {
                    let int = int % 10u64.pow(digits).max(1);
                    let sign = if minus { "-" } else { "" };
                    match frac {
                        Some((f, w)) => {
                            let f = f % 10u64.pow(w);
                            format!("{sign}{int}.{f:0w$}", w = w as usize)
                        }
                        None => format!("{sign}{int}"),
                    }
                });
            let sep = prop_oneof![3 => Just(","), 1 => Just(", "), 1 => Just(",\n  ")];
            (
                prop::collection::vec((number, sep), 4..60),
                any::<bool>(),
                0usize..64,
            )
                .prop_map(|(v, object, pad)| {
                    let items = v.iter().enumerate().map(|(i, (x, sep))| {
                        let sep = if i == 0 { "" } else { sep };
                        if object {
                            format!("{sep}\"k{}\":{x}", i % 10)
                        } else {
                            format!("{sep}{x}")
                        }
                    });
                    let body: String = items.collect();
                    let pad = " ".repeat(pad);
                    if object {
                        format!("{{{pad}{body}}}")
                    } else {
                        format!("[{pad}{body}]")
                    }
                })
        }

        /// Long arrays of small flat objects or arrays (`[{"x":1,"y":2},{"x":3}]`,
        /// `[[1,2],[3,4]]`), inside up to three more arrays or objects: blocks whose brackets
        /// alternate between closing and opening ones at one level.
        fn flat_containers() -> impl Strategy<Value = String> {
            let member = prop_oneof![
                3 => (0u32..100_000).prop_map(|n| format!("{n}.5")),
                1 => Just("\"s]{\"".to_string()),
                1 => Just("[]".to_string()),
                1 => Just("{}".to_string()),
            ];
            let item =
                (any::<bool>(), prop::collection::vec(member, 0..4)).prop_map(|(object, v)| {
                    if object {
                        let m: Vec<String> = v
                            .iter()
                            .enumerate()
                            .map(|(i, x)| format!("\"k{i}\":{x}"))
                            .collect();
                        format!("{{{}}}", m.join(","))
                    } else {
                        format!("[{}]", v.join(","))
                    }
                });
            let sep = prop_oneof![3 => Just(","), 1 => Just(", ")];
            (
                prop::collection::vec((item, sep), 2..40),
                prop::collection::vec(any::<bool>(), 0..4),
                0usize..64,
            )
                .prop_map(|(v, outer, pad)| {
                    let items = v.iter().enumerate().map(|(i, (x, sep))| {
                        let sep = if i == 0 { "" } else { sep };
                        format!("{sep}{x}")
                    });
                    let mut s = format!("[{}{}]", " ".repeat(pad), items.collect::<String>());
                    for object in outer {
                        s = if object {
                            format!("{{\"g\":{s}}}")
                        } else {
                            format!("[{s}]")
                        };
                    }
                    s
                })
        }

        /// Edits of brackets: replace, insert or delete one.
        fn bracket_edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
            let byte = prop::sample::select(b"{}[],".to_vec());
            prop::collection::vec((any::<usize>(), 0u8..3, byte), 1..3)
        }

        fn json() -> impl Strategy<Value = String> {
            // Some leaves are long runs of plain numbers, and so are some whole values.
            let leaf = prop_oneof![
                1 => plain_numbers(),
                6 => number(),
                6 => string(),
                2 => Just("true".to_string()),
                2 => Just("false".to_string()),
                2 => Just("null".to_string()),
            ];
            let nested = leaf.prop_recursive(6, 80, 8, |inner| {
                prop_oneof![
                    prop::collection::vec((ws(), inner.clone(), ws()), 0..8).prop_map(|v| {
                        let items: Vec<String> = v
                            .into_iter()
                            .map(|(a, x, b)| format!("{a}{x}{b}"))
                            .collect();
                        format!("[{}]", items.join(","))
                    }),
                    prop::collection::vec((string(), ws(), inner, ws()), 0..8).prop_map(|v| {
                        let items: Vec<String> = v
                            .into_iter()
                            .map(|(k, a, x, b)| format!("{k}{a}:{b}{x}"))
                            .collect();
                        format!("{{{}}}", items.join(","))
                    }),
                ]
            });
            prop_oneof![1 => plain_numbers(), 4 => nested]
        }

        /// Edits: (position, kind, byte) — replace, insert or delete a byte, mostly with the
        /// bytes that matter to the grammar.
        fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
            let byte = prop_oneof![
                8 => prop::sample::select(b"{}[]:,\"\\ 0123-+.eEtfn\n\x01".to_vec()),
                1 => any::<u8>(),
            ];
            prop::collection::vec((any::<usize>(), 0u8..3, byte), 0..4)
        }

        /// Edits for runs of numbers: replace or insert one of the bytes a number may hold
        /// (or a leading zero), anywhere; on [`plain_numbers`] most land inside a number.
        fn number_edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
            let byte = prop::sample::select(b"-.0e+".to_vec());
            prop::collection::vec((any::<usize>(), 0u8..2, byte), 1..4)
        }

        fn mutate(s: &str, edits: &[(usize, u8, u8)]) -> Vec<u8> {
            let mut b = s.as_bytes().to_vec();
            for &(at, kind, byte) in edits {
                let at = at % (b.len() + 1);
                match kind {
                    0 if at < b.len() => b[at] = byte,
                    1 => b.insert(at, byte),
                    _ if at < b.len() => {
                        b.remove(at);
                    }
                    _ => {}
                }
            }
            b
        }

        fn agree(b: &[u8]) -> Result<(), TestCaseError> {
            for start in [0, 1] {
                if start >= b.len() {
                    continue;
                }
                for depth in [0, MAX_EVENT_DEPTH - 3] {
                    let fast = value(b, start, depth, &mut Vec::new());
                    let slow = value_scalar(b, start, depth, &mut Vec::new());
                    prop_assert_eq!(fast, slow, "{:?} at {}", String::from_utf8_lossy(b), start);
                    if let Some(end) = container(b, start, depth) {
                        prop_assert_eq!(slow, Ok(end));
                    }
                    // AVX2 and AVX-512 compares give the same verdict.
                    if let (Some(narrow), Some(wide)) = container_each(b, start, depth) {
                        prop_assert_eq!(narrow, wide);
                    }
                }
            }
            // Whole buffers, as validation and the splitter check events.
            let mut scratch = Vec::new();
            let whole = crate::json::check(b, &mut scratch);
            let slow = || {
                if let Err(e) = std::str::from_utf8(b) {
                    return Err((e.valid_up_to(), crate::error::Malformed::Utf8));
                }
                let start = crate::json::validate::ws(b, 0);
                let end = value_scalar(b, start, 0, &mut Vec::new())?;
                let end = crate::json::validate::ws(b, end);
                if end != b.len() {
                    return Err((end, crate::error::Malformed::Trailing));
                }
                Ok(())
            };
            prop_assert_eq!(whole, slow());
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            #[test]
            fn simd_and_scalar_agree_on_generated_values(s in json()) {
                agree(s.as_bytes())?;
                // Valid and free of surrogate escapes: the fast path decides it itself.
                if runs() && !s.contains("\\u") && s.starts_with(['[', '{']) {
                    if let Ok(end) = value_scalar(s.as_bytes(), 0, 0, &mut Vec::new()) {
                        prop_assert_eq!(container(s.as_bytes(), 0, 0), Some(end));
                    }
                }
            }

            #[test]
            fn simd_and_scalar_agree_on_mutated_values(s in json(), e in edits()) {
                agree(&mutate(&s, &e))?;
            }

            #[test]
            fn simd_and_scalar_agree_on_mutated_runs_of_plain_numbers(
                s in plain_numbers(),
                e in number_edits(),
            ) {
                if runs() {
                    prop_assert_eq!(container(s.as_bytes(), 0, 0), Some(s.len()), "{}", s);
                }
                agree(&mutate(&s, &e))?;
            }

            #[test]
            fn simd_and_scalar_agree_on_mutated_arrays_of_flat_containers(
                s in flat_containers(),
                e in bracket_edits(),
            ) {
                if runs() {
                    prop_assert_eq!(container(s.as_bytes(), 0, 0), Some(s.len()), "{}", s);
                }
                agree(&mutate(&s, &e))?;
            }

            #[test]
            fn simd_and_scalar_agree_on_long_mutated_values(
                v in prop::collection::vec(json(), 1..12),
                e in edits(),
            ) {
                let s = format!("[{}]", v.join(", "));
                agree(&mutate(&s, &e))?;
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn detection_follows_the_cpu() {
        let cpu = std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("pclmulqdq")
            && std::is_x86_feature_detected!("popcnt")
            && std::env::var_os("WEIR_SIMD").is_none_or(|v| v != "off");
        assert_eq!(available(), cpu);
        // AVX-512 where the CPU has F and BW, unless `WEIR_SIMD` keeps it to AVX2.
        let wide_cpu = cpu
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::env::var_os("WEIR_SIMD").is_none_or(|v| v != "avx2");
        assert_eq!(cpu_state() == 3, wide_cpu);
    }

    /// The masks of a block by a byte loop, as the vector compares should give them.
    fn masks_by_bytes(block: &[u8; 64]) -> (Masks, Digits) {
        let mut m = Masks::default();
        let mut d = Digits::default();
        for (k, &x) in block.iter().enumerate() {
            let bit = 1u64 << k;
            let set = |mask: &mut u64, on: bool| *mask |= if on { bit } else { 0 };
            set(&mut m.quote, x == b'"');
            set(&mut m.backslash, x == b'\\');
            set(&mut m.ws, matches!(x, b' ' | b'\t' | b'\n' | b'\r'));
            set(&mut m.open, matches!(x, b'{' | b'['));
            set(&mut m.close, matches!(x, b'}' | b']'));
            set(&mut m.curly, x & 0x20 != 0);
            set(&mut m.comma, x == b',');
            set(&mut m.colon, x == b':');
            set(&mut m.control, x < 0x20);
            set(&mut d.digit, x.is_ascii_digit());
            set(&mut d.zero, x == b'0');
            set(&mut d.minus, x == b'-');
            set(&mut d.dot, x == b'.');
            set(&mut d.plus, x == b'+');
            set(&mut d.exp, matches!(x, b'e' | b'E'));
        }
        (m, d)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Both sets of lanes give every mask the byte loop gives, on blocks of JSON's
        /// characters, their neighbours in the byte table, and any other byte.
        #[test]
        fn avx2_and_avx512_masks_are_the_byte_loops(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(
                        b"\"\\ \t\n\r{}[],:0123456789-+.eE/|;<^_`~\x00\x1f\x7f\x80\xff\x09\x0b\x0c\x0d\x20\x21\x29\x2d\x4d\x5b\x5d\x7b\x7d\xa0\xbb\xdb\xfb\xfd".to_vec()
                    ),
                    proptest::num::u8::ANY,
                ],
                64,
            )
        ) {
            let block: [u8; 64] = bytes.try_into().expect("64 bytes");
            let want = masks_by_bytes(&block);
            for got in masks_each(&block) {
                proptest::prop_assert_eq!(got, want);
            }
            for got in brackets_each(&block) {
                let (m, _) = want;
                proptest::prop_assert_eq!(got, [m.quote, m.backslash, m.open, m.close]);
            }
        }
    }

    /// [`ascii`] with AVX2 and with AVX-512, each where the CPU has them.
    fn ascii_each(b: &[u8]) -> Vec<bool> {
        let mut out = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            let cpu = cpu_state();
            // SAFETY: as in `container_each`: each runs only where `cpu_state` found its
            // target features.
            unsafe {
                if cpu >= 2 {
                    out.push(avx2::ascii(b));
                }
                if cpu == 3 {
                    out.push(avx2::ascii512(b));
                }
            }
        }
        out
    }

    #[test]
    fn ascii_is_the_byte_loops() {
        for len in 0..300 {
            let mut b: Vec<u8> = (0..len).map(|k| (k * 7 % 128) as u8).collect();
            assert!(ascii(&b).unwrap_or(true), "{len}");
            assert!(ascii_each(&b).iter().all(|&a| a), "{len}");
            for at in 0..len {
                b[at] |= 0x80;
                assert_eq!(ascii(&b), available().then_some(false), "{len} {at}");
                assert!(ascii_each(&b).iter().all(|&a| !a), "{len} {at}");
                b[at] &= 0x7F;
            }
        }
    }
}
