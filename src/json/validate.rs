//! Validating skip: checks a value no rule needs against the JSON grammar without looking
//! at what it holds, in one loop with an explicit stack (no recursion, no per-value calls).
//! Used by the matcher's validating reading and by [`super::validate`](fn@super::validate);
//! reports the same errors, at the same offsets, as the matching reader.

use super::{unescape, MAX_EVENT_DEPTH};
use crate::error::Malformed;

/// Where and why a value is not JSON.
pub(crate) type Invalid = (usize, Malformed);

/// Bytes that end the plain part of a string: quote, backslash, control characters.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

#[inline]
fn load8(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..i + 8)
        .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
}

/// The position of the first byte at or after `i` that is not an ASCII digit; 8 bytes at a
/// time. (A carry from a non-digit byte may spoil the bytes after it, never the ones before.)
#[inline]
pub(crate) fn digits_end(b: &[u8], mut i: usize) -> usize {
    while let Some(x) = load8(b, i) {
        let high = x & 0xF0F0_F0F0_F0F0_F0F0;
        let plus6 = x.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0;
        let bad = (high ^ 0x3030_3030_3030_3030) | (plus6 ^ 0x3030_3030_3030_3030);
        if bad != 0 {
            return i + (bad.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while matches!(b.get(i), Some(b'0'..=b'9')) {
        i += 1;
    }
    i
}

/// The position of the first quote, backslash or control character at or after `i`: 16
/// bytes at a time with vector compares where the target has 16-byte vectors (SSE2 on
/// x86_64, NEON on aarch64), then 8 bytes at a time in a word. (Borrows in the word loop only
/// flag bytes after a true match, never before it.)
#[inline(always)]
pub(crate) fn string_stop(b: &[u8], mut i: usize) -> usize {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        use wide::u8x16;
        while let Some(chunk) = b.get(i..i + 16) {
            let v = u8x16::new(chunk.try_into().expect("16 bytes"));
            let hit = v.simd_eq(u8x16::splat(b'"'))
                | v.simd_eq(u8x16::splat(b'\\'))
                | v.min(u8x16::splat(0x1F)).simd_eq(v);
            let mask = hit.to_bitmask();
            if mask != 0 {
                return i + mask.trailing_zeros() as usize;
            }
            i += 16;
        }
    }
    while let Some(x) = load8(b, i) {
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let zero_q = quote.wrapping_sub(ONES) & !quote;
        let zero_b = backslash.wrapping_sub(ONES) & !backslash;
        let control = x.wrapping_sub(ONES * 0x20) & !x;
        let hit = (zero_q | zero_b | control) & HIGHS;
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !STRING_STOP[b[i] as usize] {
        i += 1;
    }
    i
}

/// Skips whitespace. Most values follow their separator directly, so one compare (every
/// whitespace byte is at most a space) usually settles it.
#[inline(always)]
pub(crate) fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        if c > b' ' || !matches!(c, b' ' | b'\n' | b'\t' | b'\r') {
            break;
        }
        i += 1;
    }
    i
}

#[inline]
fn at(b: &[u8], i: usize) -> Result<u8, Invalid> {
    b.get(i).copied().ok_or((b.len(), Malformed::End))
}

/// Finds the end of the string whose opening quote is at `i`, refusing control characters:
/// returns the position of the closing quote and whether the string holds escapes (which the
/// caller checks with [`unescape`] when it needs to).
#[inline(always)]
pub(crate) fn string_end(b: &[u8], i: usize) -> Result<(usize, bool), Invalid> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        j = string_stop(b, j);
        match b.get(j) {
            None => return Err((b.len(), Malformed::End)),
            Some(b'"') => return Ok((j, escaped)),
            Some(b'\\') => {
                escaped = true;
                j += 2;
            }
            Some(_) => return Err((j, Malformed::ControlCharacter)),
        }
    }
}

/// Validates the string whose opening quote is at `i`; returns the position after it.
#[inline(always)]
pub(crate) fn string(b: &[u8], i: usize, buf: &mut Vec<u8>) -> Result<usize, Invalid> {
    let (end, escaped) = string_end(b, i)?;
    if escaped {
        unescape(&b[i + 1..end], buf).map_err(|off| (i + 1 + off, Malformed::StringEscape))?;
    }
    Ok(end + 1)
}

/// Validates the number starting at `i`; returns the position after it.
#[inline]
pub(crate) fn number(b: &[u8], mut i: usize) -> Result<usize, Invalid> {
    let digits = digits_end;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(b, i + 1),
        _ => return Err((i, Malformed::Number)),
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !matches!(b.get(i), Some(b'0'..=b'9')) {
            return Err((i, Malformed::Number));
        }
        i = digits(b, i);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !matches!(b.get(i), Some(b'0'..=b'9')) {
            return Err((i, Malformed::Number));
        }
        i = digits(b, i);
    }
    Ok(i)
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Result<usize, Invalid> {
    if b.get(i..i + word.len()) == Some(word) {
        Ok(i + word.len())
    } else {
        Err((i, Malformed::ExpectedValue))
    }
}

/// After `{` or `,` in an object: the key and its colon; returns the position of the value.
fn key(b: &[u8], i: usize, buf: &mut Vec<u8>) -> Result<usize, Invalid> {
    let i = ws(b, i);
    if at(b, i)? != b'"' {
        return Err((i, Malformed::ExpectedKey));
    }
    let i = ws(b, string(b, i, buf)?);
    if at(b, i)? != b':' {
        return Err((i, Malformed::ExpectedColon));
    }
    Ok(ws(b, i + 1))
}

/// Validates the value at `i` (no leading whitespace), nested at `depth` (the number of
/// containers around it); returns the position after it. Objects and arrays go through the
/// SIMD fast path where the CPU has one ([`super::simd`]); when it does not decide, or finds
/// the value wrong, the byte loop ([`value_scalar`]) reads it and reports the error.
#[inline]
pub(crate) fn value(b: &[u8], i: usize, depth: usize, buf: &mut Vec<u8>) -> Result<usize, Invalid> {
    if let Some(end) = super::simd::container(b, i, depth) {
        return Ok(end);
    }
    value_scalar(b, i, depth, buf)
}

/// [`value`] by the byte loop alone: the reference for every verdict, error and offset.
pub(crate) fn value_scalar(
    b: &[u8],
    mut i: usize,
    depth: usize,
    buf: &mut Vec<u8>,
) -> Result<usize, Invalid> {
    // The open containers, innermost in bit 0 (1 = object, 0 = array), and how many: the
    // depth limit keeps them within 128 bits, so nothing is allocated.
    let mut kinds: u128 = 0;
    let mut open = 0usize;
    'value: loop {
        match at(b, i)? {
            c @ (b'{' | b'[') => {
                if depth + open + 1 > MAX_EVENT_DEPTH {
                    return Err((i, Malformed::TooDeep));
                }
                let object = c == b'{';
                let close = if object { b'}' } else { b']' };
                i = ws(b, i + 1);
                if at(b, i)? == close {
                    i += 1;
                } else {
                    kinds = kinds << 1 | u128::from(object);
                    open += 1;
                    if object {
                        i = key(b, i, buf)?;
                    }
                    continue 'value;
                }
            }
            b'"' => i = string(b, i, buf)?,
            b'-' | b'0'..=b'9' => i = number(b, i)?,
            b't' => i = literal(b, i, b"true")?,
            b'f' => i = literal(b, i, b"false")?,
            b'n' => i = literal(b, i, b"null")?,
            _ => return Err((i, Malformed::ExpectedValue)),
        }
        // After a value: a comma or the closer of the innermost container.
        loop {
            if open == 0 {
                return Ok(i);
            }
            let object = kinds & 1 == 1;
            i = ws(b, i);
            match at(b, i)? {
                b',' => {
                    i = ws(b, i + 1);
                    if object {
                        i = key(b, i, buf)?;
                    }
                    continue 'value;
                }
                b'}' if object => {
                    kinds >>= 1;
                    open -= 1;
                    i += 1;
                }
                b']' if !object => {
                    kinds >>= 1;
                    open -= 1;
                    i += 1;
                }
                _ if object => return Err((i, Malformed::ObjectSeparator)),
                _ => return Err((i, Malformed::ArraySeparator)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) -> Result<usize, Invalid> {
        value(s.as_bytes(), 0, 0, &mut Vec::new())
    }

    #[test]
    fn accepts_json_and_ends_at_the_value() {
        assert_eq!(
            check(r#"{"a": [1, -2.5e3, "x\"\u00e9", true, false, null, {}, []]} x"#),
            Ok(58)
        );
        assert_eq!(check("[[[]]]"), Ok(6));
        assert_eq!(check("0"), Ok(1));
    }

    #[test]
    fn word_at_a_time_scans_agree_with_byte_loops() {
        let samples: Vec<Vec<u8>> = vec![
            b"1234567890123456789x".to_vec(),
            b"12345678".to_vec(),
            b"9/:0".to_vec(),
            (0u8..=255).collect(),
            b"abcdefgh\\ijk\"".to_vec(),
            b"abc\x01defghijklmnop".to_vec(),
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\"".bytes().collect(),
        ];
        for s in &samples {
            for start in 0..s.len() {
                let mut d = start;
                while d < s.len() && s[d].is_ascii_digit() {
                    d += 1;
                }
                assert_eq!(digits_end(s, start), d, "{s:?} from {start}");
                let mut q = start;
                while q < s.len() && !STRING_STOP[s[q] as usize] {
                    q += 1;
                }
                assert_eq!(string_stop(s, start), q, "{s:?} from {start}");
            }
        }
    }

    #[test]
    fn refuses_with_position() {
        assert_eq!(check(r#"{"a": tru}"#), Err((6, Malformed::ExpectedValue)));
        assert_eq!(check(r#"{"a" 1}"#), Err((5, Malformed::ExpectedColon)));
        assert_eq!(
            check(r#"{"a": 1 "b": 2}"#),
            Err((8, Malformed::ObjectSeparator))
        );
        assert_eq!(check("[1 2]"), Err((3, Malformed::ArraySeparator)));
        assert_eq!(check("[01]"), Err((2, Malformed::ArraySeparator)));
        assert_eq!(check("[1.]"), Err((3, Malformed::Number)));
        assert_eq!(check(r#"["\x"]"#), Err((2, Malformed::StringEscape)));
        assert_eq!(check("[\"a\nb\"]"), Err((3, Malformed::ControlCharacter)));
        assert_eq!(check("[1,"), Err((3, Malformed::End)));
        assert_eq!(check("{,}"), Err((1, Malformed::ExpectedKey)));
        let deep = "[".repeat(MAX_EVENT_DEPTH + 1);
        assert_eq!(check(&deep), Err((MAX_EVENT_DEPTH, Malformed::TooDeep)));
    }
}
