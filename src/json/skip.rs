//! Fast skipping of JSON the rules do not need (lazy reading).
//!
//! Containers are skipped 64 bytes at a time: per block, bit masks of quotes and brackets
//! (vector compares), the in-string mask from a prefix XOR of the quotes, then the brackets
//! outside strings walked bit by bit to follow the depth. A block holding a backslash is
//! walked byte by byte.
//! Nothing is validated beyond what finding the end needs. The walk is resumable
//! ([`walk_container`]), so the event splitter finds the ends of events cut across blocks
//! with the same code.

pub(crate) const BLOCK: usize = 64;

/// Where a skip ended: the position after the value, or `None` when the input ends first.
pub(crate) type Skip = Option<usize>;

#[inline]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

/// Bit masks of one block, 16 bytes at a time with portable SIMD compares (`wide`: SSE2,
/// NEON or WASM simd128 where the target has them).
#[inline]
fn masks(block: &[u8; BLOCK]) -> Masks {
    use wide::u8x16;
    let (q, bs, op, cl, case) = (
        u8x16::splat(b'"'),
        u8x16::splat(b'\\'),
        u8x16::splat(b'{'),
        u8x16::splat(b'}'),
        u8x16::splat(0x20),
    );
    let (mut quote, mut backslash, mut open, mut close) = (0u64, 0u64, 0u64, 0u64);
    for (k, lane) in block.chunks_exact(16).enumerate() {
        let v = u8x16::new(lane.try_into().expect("16 bytes"));
        let folded = v | case;
        let shift = 16 * k as u32;
        quote |= u64::from(v.simd_eq(q).to_bitmask()) << shift;
        backslash |= u64::from(v.simd_eq(bs).to_bitmask()) << shift;
        open |= u64::from(folded.simd_eq(op).to_bitmask()) << shift;
        close |= u64::from(folded.simd_eq(cl).to_bitmask()) << shift;
    }
    Masks {
        quote,
        backslash,
        open,
        close,
    }
}

/// Where a container walk stopped: after the closing bracket that brought the depth to 0,
/// or at the end of the input, with what is needed to resume when more input arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Walk {
    /// The position after the closing bracket.
    Closed(usize),
    /// The input ended first: resume at `pos` (one past the end when the last byte was a
    /// backslash in a string: the escaped byte is still to come), at `depth`, inside a
    /// string or not.
    Open {
        pos: usize,
        depth: u64,
        in_string: bool,
    },
}

/// Skips the rest of a container whose opening bracket is already consumed: `pos` is inside
/// it at nesting `depth` (1 = directly inside), not inside a string. Returns the position
/// after the closing bracket that brings the depth to 0.
pub(crate) fn skip_in_container(b: &[u8], pos: usize, depth: u64) -> Skip {
    match walk_container(b, pos, depth, false) {
        Walk::Closed(end) => Some(end),
        Walk::Open { .. } => None,
    }
}

/// The walk of [`skip_in_container`], resumable: starts at `pos` at nesting `depth`, inside a
/// string when `in_string`; brackets of both kinds count alike (nothing is validated). With
/// AVX2 where the CPU has it ([`super::simd::walk`], the same walk with 32-byte compares and
/// counted brackets), else 16 bytes at a time with portable compares.
#[inline(always)]
pub(crate) fn walk_container(b: &[u8], pos: usize, depth: u64, in_string: bool) -> Walk {
    if let Some(walk) = super::simd::walk(b, pos, depth, in_string) {
        return walk;
    }
    walk_portable(b, pos, depth, in_string)
}

/// [`walk_container`] with portable 16-byte compares.
#[inline(always)]
pub(crate) fn walk_portable(b: &[u8], mut pos: usize, mut depth: u64, mut in_string: bool) -> Walk {
    let mut padded = [b' '; BLOCK];
    while pos < b.len() {
        let block = block_at(b, pos, &mut padded);
        let m = masks(block);
        if m.backslash != 0 {
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
        let strings = prefix_xor(m.quote) ^ carry;
        in_string = strings >> 63 == 1;
        let open = m.open & !strings;
        let close = m.close & !strings;
        // Bracket by bracket: skipped JSON has a few brackets a block, and the baseline
        // x86_64 target has no population-count instruction to count them at once.
        match walk_brackets(b.len(), pos, open, close, &mut depth) {
            Brackets::Closed(end) => return Walk::Closed(end),
            Brackets::Open | Brackets::Past => {}
        }
        // A padded last block ends the input: padding holds no quote, so `in_string` is
        // the state after the last real byte.
        pos = (pos + BLOCK).min(b.len());
    }
    Walk::Open {
        pos,
        depth,
        in_string,
    }
}

/// The 64 bytes at `pos`, or the rest of the input padded with spaces in `padded`.
#[inline(always)]
pub(crate) fn block_at<'a>(
    b: &'a [u8],
    pos: usize,
    padded: &'a mut [u8; BLOCK],
) -> &'a [u8; BLOCK] {
    match b.get(pos..pos + BLOCK) {
        Some(s) => s.try_into().expect("64 bytes"),
        None => {
            let rest = &b[pos..];
            padded[..rest.len()].copy_from_slice(rest);
            padded[rest.len()..].fill(b' ');
            padded
        }
    }
}

/// The walk of one block that holds a backslash, byte by byte: `Err(end)` after the closing
/// bracket that brings the depth to 0, else `Ok(next)`, where the walk goes on (an escape may
/// run past the block).
#[inline(never)]
pub(crate) fn walk_bytes(
    b: &[u8],
    pos: usize,
    depth: &mut u64,
    in_string: &mut bool,
) -> Result<usize, usize> {
    let end = (pos + BLOCK).min(b.len());
    let mut i = pos;
    while i < end {
        let c = b[i];
        if *in_string {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                *in_string = false;
            }
        } else {
            match c {
                b'"' => *in_string = true,
                b'{' | b'[' => *depth += 1,
                b'}' | b']' => {
                    *depth -= 1;
                    if *depth == 0 {
                        return Err(i + 1);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    Ok(i)
}

/// What the brackets of a block did.
pub(crate) enum Brackets {
    /// The depth reached 0 at a bracket ending at this position (within the input).
    Closed(usize),
    /// The depth reached 0 past the end of the input (in padding: never, padding holds no
    /// bracket); the block's other brackets were not walked.
    Past,
    /// The depth is still above 0.
    Open,
}

/// Walks the brackets outside strings of the block at `pos` (`open`, `close`: their bits),
/// bracket by bracket, following `depth`.
#[inline(always)]
pub(crate) fn walk_brackets(
    len: usize,
    pos: usize,
    open: u64,
    close: u64,
    depth: &mut u64,
) -> Brackets {
    let mut brackets = open | close;
    while brackets != 0 {
        let bit = brackets.trailing_zeros();
        if open >> bit & 1 == 1 {
            *depth += 1;
        } else {
            *depth -= 1;
            if *depth == 0 {
                let end = pos + bit as usize + 1;
                if end <= len {
                    return Brackets::Closed(end);
                }
                return Brackets::Past;
            }
        }
        brackets &= brackets - 1;
    }
    Brackets::Open
}

/// Skips one value starting at `pos` (no leading whitespace).
#[inline(always)]
pub(crate) fn skip_value(b: &[u8], pos: usize) -> Skip {
    match *b.get(pos)? {
        b'{' | b'[' => skip_in_container(b, pos + 1, 1),
        b'"' => skip_string(b, pos + 1),
        _ => {
            let mut i = pos;
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
            {
                i += 1;
            }
            (i > pos).then_some(i)
        }
    }
}

/// Skips a string body starting after its opening quote; returns the position after the
/// closing quote.
#[inline(always)]
pub(crate) fn skip_string(b: &[u8], mut pos: usize) -> Skip {
    loop {
        pos = quote_or_backslash(b, pos)?;
        if b[pos] == b'"' {
            return Some(pos + 1);
        }
        pos += 2;
        if pos > b.len() {
            return None;
        }
    }
}

/// The position of the first quote or backslash at or after `i`. Short strings are the
/// common case: 16 bytes at a time with vector compares where the target has 16-byte vectors
/// (SSE2 on x86_64, NEON on aarch64), elsewhere 8 bytes at a time in a word, for the first 32
/// bytes (a longer search's set-up costs more), then `memchr2`.
#[inline(always)]
fn quote_or_backslash(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    for _ in 0..2 {
        use wide::u8x16;
        let Some(chunk) = b.get(i..i + 16) else { break };
        let v = u8x16::new(chunk.try_into().expect("16 bytes"));
        let hit = v.simd_eq(u8x16::splat(b'"')) | v.simd_eq(u8x16::splat(b'\\'));
        let mask = hit.to_bitmask();
        if mask != 0 {
            return Some(i + mask.trailing_zeros() as usize);
        }
        i += 16;
    }
    for _ in 0..4 {
        let Some(w) = b.get(i..i + 8) else { break };
        let x = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        // A zero byte of either word sets its high bit (borrows only flag bytes after a
        // true zero, never before it).
        let hit =
            (quote.wrapping_sub(ONES) & !quote | backslash.wrapping_sub(ONES) & !backslash) & HIGHS;
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i + 8 > b.len() {
        while i < b.len() {
            if matches!(b[i], b'"' | b'\\') {
                return Some(i);
            }
            i += 1;
        }
        return None;
    }
    memchr::memchr2(b'"', b'\\', &b[i..]).map(|k| i + k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_of(s: &str) -> Skip {
        skip_value(s.as_bytes(), 0)
    }

    #[test]
    fn finds_the_end_of_each_kind() {
        assert_eq!(end_of(r#"{"a": [1, 2]} tail"#), Some(13));
        assert_eq!(end_of(r#""x\"y" tail"#), Some(6));
        assert_eq!(end_of("-12.5e3, 1"), Some(7));
        assert_eq!(end_of("[[[]]]"), Some(6));
        assert_eq!(end_of("[[["), None);
        assert_eq!(end_of(r#""open"#), None);
    }

    #[test]
    fn brackets_in_strings_and_escapes_across_blocks() {
        for pad in 0..140 {
            let filler = "x".repeat(pad);
            let s = format!(r#"[{{"k": "{filler}]}}\\\"\\", "v": ["]", "{{"]}}, 3] tail"#);
            let want = s.find(" tail").unwrap();
            assert_eq!(end_of(&s), Some(want), "pad {pad}");
        }
    }

    #[test]
    fn string_ends_agree_with_a_byte_loop() {
        let mut s: Vec<u8> = Vec::new();
        for n in 0..80usize {
            s.clear();
            s.extend((0..n).map(|k| b"ab\xc3\xa9\x00\xff\x22\x5c"[k % 8]));
            for tail in [&b"\""[..], b"\\\"x\"", b"\\", b""] {
                let mut t = s.clone();
                t.extend_from_slice(tail);
                for start in 0..t.len() {
                    let mut i = start;
                    let want = loop {
                        match t.get(i) {
                            None => break None,
                            Some(b'"') => break Some(i + 1),
                            Some(b'\\') => i += 2,
                            Some(_) => i += 1,
                        }
                    };
                    assert_eq!(skip_string(&t, start), want, "{t:?} from {start}");
                }
            }
        }
    }

    #[test]
    fn long_arrays_with_many_blocks() {
        let inner: Vec<String> = (0..500)
            .map(|i| format!(r#"{{"x": {i}, "s": "a]b"}}"#))
            .collect();
        let s = format!("[{}] tail", inner.join(","));
        assert_eq!(end_of(&s), Some(s.len() - 5));
        assert_eq!(skip_in_container(s.as_bytes(), 1, 1), Some(s.len() - 5));
    }
}
