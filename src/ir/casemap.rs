//! Ignore-case matching as AWS's engine does it: the event text is not folded; each character
//! `c` of the pattern accepts exactly two texts, Java's `toLowerCase` and `toUpperCase` of `c`
//! (`Locale.ROOT`, full mappings, Java 17's Unicode 13.0), and nothing else — not even `c`
//! itself when it is neither (a titlecase `ǅ` accepts `ǆ` and `Ǆ`). The mappings are in the
//! generated `casemap_table.rs`.
//!
//! Two facts of the table (checked when it is generated, and by the tests here) make matching
//! simple: a character's two texts are never a prefix or suffix of one another, so at most one
//! fits at any place of a text and matching walks once, without backtracking; and every text a
//! pattern accepts has the pattern's [key](push_case_key), so `equals-ignore-case` values can be
//! found by hashing the key of the event text, then confirmed with [`eq_ignore_case`].

use super::casemap_table::{Run, KEY, LOWER, STRINGS, UPPER};

/// What a table maps one code point to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mapped {
    /// The code point itself.
    Same,
    /// Another code point.
    Char(char),
    /// Several code points.
    Str(&'static str),
}

fn lookup(table: &[Run], c: char) -> Mapped {
    let cp = c as u32;
    let i = table.partition_point(|r| r.0 <= cp);
    let Some(&(first, last, step, delta)) = i.checked_sub(1).map(|i| &table[i]) else {
        return Mapped::Same;
    };
    if cp > last {
        return Mapped::Same;
    }
    if step == 0 {
        return Mapped::Str(STRINGS[delta as usize]);
    }
    if !(cp - first).is_multiple_of(step) {
        return Mapped::Same;
    }
    // The generator only writes deltas that land on a code point.
    match char::from_u32(cp.wrapping_add_signed(delta)) {
        Some(m) => Mapped::Char(m),
        None => Mapped::Same,
    }
}

/// One text a pattern character accepts, as UTF-8.
#[derive(Clone, Copy)]
enum Alt {
    Inline([u8; 4], u8),
    Static(&'static [u8]),
}

impl Alt {
    fn new(c: char, m: Mapped) -> Alt {
        let one = |c: char| {
            let mut b = [0; 4];
            let n = c.encode_utf8(&mut b).len();
            Alt::Inline(b, n as u8)
        };
        match m {
            Mapped::Same => one(c),
            Mapped::Char(m) => one(m),
            Mapped::Str(s) => Alt::Static(s.as_bytes()),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Alt::Inline(b, n) => &b[..*n as usize],
            Alt::Static(s) => s,
        }
    }
}

/// The texts pattern character `c` accepts: its lower and upper case (the same text twice
/// when they agree).
fn alternatives(c: char) -> [Alt; 2] {
    [
        Alt::new(c, lookup(&LOWER, c)),
        Alt::new(c, lookup(&UPPER, c)),
    ]
}

/// How many bytes at the start of `rest` pattern character `p` accepts, if any.
#[inline]
fn fit_start(p: char, rest: &[u8]) -> Option<usize> {
    if p.is_ascii() {
        return rest
            .first()
            .is_some_and(|b| b.eq_ignore_ascii_case(&(p as u8)))
            .then_some(1);
    }
    alternatives(p)
        .iter()
        .map(Alt::bytes)
        .find(|a| rest.starts_with(a))
        .map(<[u8]>::len)
}

/// How many bytes at the end of `rest` pattern character `p` accepts, if any.
#[inline]
fn fit_end(p: char, rest: &[u8]) -> Option<usize> {
    if p.is_ascii() {
        return rest
            .last()
            .is_some_and(|b| b.eq_ignore_ascii_case(&(p as u8)))
            .then_some(1);
    }
    alternatives(p)
        .iter()
        .map(Alt::bytes)
        .find(|a| rest.ends_with(a))
        .map(<[u8]>::len)
}

/// The length of the start of `text` that `pattern` accepts, if it accepts one.
fn accepted_start(pattern: &str, text: &[u8]) -> Option<usize> {
    let mut at = 0;
    for p in pattern.chars() {
        at += fit_start(p, &text[at..])?;
    }
    Some(at)
}

/// Whether `text` equals `pattern` ignoring case, as `{"equals-ignore-case": pattern}` (and
/// `anything-but`'s `equals-ignore-case` list) decide it: `text` must be a sequence of one
/// accepted text per character of `pattern`, where a character accepts its Java lower case and
/// its Java upper case (full mappings, Unicode 13.0). The text is not folded, so a
/// character's other case relatives do not match: the Kelvin sign (U+212A) accepts `k` and itself,
/// but a pattern `k` accepts `k` and `K` only.
///
/// # Example
/// ```
/// use weir::ir::eq_ignore_case;
/// assert!(eq_ignore_case("Straße", "STRASSE")); // ß upper-cases to SS
/// assert!(!eq_ignore_case("STRASSE", "Straße")); // but S does not lower-case to ß
/// assert!(eq_ignore_case("ǅ", "ǆ") && eq_ignore_case("ǅ", "Ǆ") && !eq_ignore_case("ǅ", "ǅ"));
/// assert!(eq_ignore_case("İ", "i\u{307}")); // İ lower-cases to i + combining dot above
/// ```
pub fn eq_ignore_case(pattern: &str, text: &str) -> bool {
    eq_ignore_case_bytes(pattern, text.as_bytes())
}

/// [`eq_ignore_case`] of a text given as its UTF-8 bytes.
#[inline]
pub(crate) fn eq_ignore_case_bytes(pattern: &str, text: &[u8]) -> bool {
    if pattern.is_ascii() {
        return pattern.as_bytes().eq_ignore_ascii_case(text);
    }
    accepted_start(pattern, text) == Some(text.len())
}

/// Whether `text` starts with a text `pattern` accepts ignoring case, as
/// `{"prefix": {"equals-ignore-case": pattern}}` decides it (see [`eq_ignore_case`] for what
/// each character accepts).
///
/// # Example
/// ```
/// use weir::ir::starts_with_ignore_case;
/// assert!(starts_with_ignore_case("EvEnT", "eventbridge"));
/// assert!(starts_with_ignore_case("ß", "SSx"));
/// assert!(!starts_with_ignore_case("ß", "Sx"));
/// ```
pub fn starts_with_ignore_case(pattern: &str, text: &str) -> bool {
    starts_with_ignore_case_bytes(pattern, text.as_bytes())
}

/// [`starts_with_ignore_case`] of a text given as its UTF-8 bytes.
#[inline]
pub(crate) fn starts_with_ignore_case_bytes(pattern: &str, text: &[u8]) -> bool {
    if pattern.is_ascii() {
        return text
            .get(..pattern.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(pattern.as_bytes()));
    }
    accepted_start(pattern, text).is_some()
}

/// Whether `text` ends with a text `pattern` accepts ignoring case, as
/// `{"suffix": {"equals-ignore-case": pattern}}` decides it (see [`eq_ignore_case`] for what
/// each character accepts).
///
/// # Example
/// ```
/// use weir::ir::ends_with_ignore_case;
/// assert!(ends_with_ignore_case(".PNG", "image.png"));
/// assert!(ends_with_ignore_case("Ω", "ohm: \u{3c9}")); // Ω (Omega) lower-cases to ω
/// assert!(!ends_with_ignore_case("Ω", "ohm: \u{2126}")); // the Ohm sign is another character
/// ```
pub fn ends_with_ignore_case(pattern: &str, text: &str) -> bool {
    ends_with_ignore_case_bytes(pattern, text.as_bytes())
}

/// [`ends_with_ignore_case`] of a text given as its UTF-8 bytes.
#[inline]
pub(crate) fn ends_with_ignore_case_bytes(pattern: &str, text: &[u8]) -> bool {
    if pattern.is_ascii() {
        return text
            .len()
            .checked_sub(pattern.len())
            .is_some_and(|at| text[at..].eq_ignore_ascii_case(pattern.as_bytes()));
    }
    let mut end = text.len();
    for p in pattern.chars().rev() {
        match fit_end(p, &text[..end]) {
            Some(n) => end -= n,
            None => return false,
        }
    }
    true
}

/// Appends the case key of `text` to `out`: every code point replaced by its key (for ASCII,
/// its lower case). Every text [`eq_ignore_case`] accepts for a pattern has the pattern's key,
/// so the key finds the candidate patterns of a text, which [`eq_ignore_case`] then confirms
/// (the key is coarser: `k`, `K` and the Kelvin sign share one).
pub(crate) fn push_case_key(text: &str, out: &mut Vec<u8>) {
    if text.is_ascii() {
        out.extend(text.bytes().map(|b| b.to_ascii_lowercase()));
        return;
    }
    for c in text.chars() {
        if c.is_ascii() {
            out.push((c as u8).to_ascii_lowercase());
            continue;
        }
        match lookup(&KEY, c) {
            Mapped::Same => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            Mapped::Char(k) => out.extend_from_slice(k.encode_utf8(&mut [0; 4]).as_bytes()),
            Mapped::Str(s) => out.extend_from_slice(s.as_bytes()),
        }
    }
}

/// The case key of `text` (see [`push_case_key`]).
pub(crate) fn case_key(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    push_case_key(text, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_chars() -> impl Iterator<Item = char> {
        (0..=0x10FFFF).filter_map(char::from_u32)
    }

    fn text(m: Mapped, c: char) -> String {
        match m {
            Mapped::Same => c.to_string(),
            Mapped::Char(m) => m.to_string(),
            Mapped::Str(s) => s.to_string(),
        }
    }

    fn lower(c: char) -> String {
        text(lookup(&LOWER, c), c)
    }

    fn upper(c: char) -> String {
        text(lookup(&UPPER, c), c)
    }

    fn key(s: &str) -> Vec<u8> {
        case_key(s)
    }

    #[test]
    fn tables_are_sorted_without_overlap_and_deltas_land_on_characters() {
        for table in [&LOWER[..], &UPPER[..], &KEY[..]] {
            for pair in table.windows(2) {
                assert!(pair[0].1 < pair[1].0, "{pair:?}");
            }
            for &(first, last, step, delta) in table {
                assert!(first <= last);
                if step == 0 {
                    assert_eq!(first, last);
                    assert!(STRINGS[delta as usize].chars().count() > 1);
                } else {
                    for cp in (first..=last).step_by(step as usize) {
                        let to = cp.wrapping_add_signed(delta);
                        assert!(char::from_u32(to).is_some(), "{cp:X} -> {to:X}");
                        assert_ne!(to, cp);
                    }
                }
            }
        }
    }

    /// The facts matching relies on, for every code point: the two cases of a character
    /// never overlap at either end, and both have the character's key.
    #[test]
    fn every_character_cases_are_apart_and_share_its_key() {
        for c in all_chars() {
            let (lo, up) = (lower(c), upper(c));
            if lo != up {
                for (a, b) in [(&lo, &up), (&up, &lo)] {
                    assert!(!a.starts_with(b.as_str()), "{c:?}: {a:?} starts with {b:?}");
                    assert!(!a.ends_with(b.as_str()), "{c:?}: {a:?} ends with {b:?}");
                }
            }
            let k = key(&c.to_string());
            assert_eq!(key(&lo), k, "{c:?} lower {lo:?}");
            assert_eq!(key(&up), k, "{c:?} upper {up:?}");
            // The predicates accept exactly the two cases of a one-character pattern.
            let p = c.to_string();
            assert!(eq_ignore_case(&p, &lo) && eq_ignore_case(&p, &up), "{c:?}");
        }
    }

    #[test]
    fn ascii_is_the_ascii_case_pair() {
        for b in 0u8..0x80 {
            let c = b as char;
            assert_eq!(lower(c), c.to_ascii_lowercase().to_string());
            assert_eq!(upper(c), c.to_ascii_uppercase().to_string());
            assert_eq!(key(&c.to_string()), [b.to_ascii_lowercase()]);
        }
    }

    /// Agrees with a plain implementation of the rule: try every split of the text.
    fn slow_eq(pattern: &[char], text: &str) -> bool {
        let Some((&p, rest)) = pattern.split_first() else {
            return text.is_empty();
        };
        [lower(p), upper(p)].iter().any(|a| {
            text.strip_prefix(a.as_str())
                .is_some_and(|t| slow_eq(rest, t))
        })
    }

    const SAMPLES: &[&str] = &[
        "",
        "a",
        "A",
        "k",
        "K",
        "\u{212A}",
        "s",
        "S",
        "ſ",
        "ß",
        "SS",
        "ss",
        "ẞ",
        "İ",
        "i",
        "I",
        "ı",
        "i\u{307}",
        "ǅ",
        "ǆ",
        "Ǆ",
        "Ω",
        "ω",
        "\u{2126}",
        "Σ",
        "σ",
        "ς",
        "𐐀",
        "𐐨",
        "ﬃ",
        "FFI",
        "ᾼ",
        "ᾳ",
        "ΑΙ",
        "ΐ",
        "\u{399}\u{308}\u{301}",
        "é",
        "É",
        "e\u{301}",
        "x",
    ];

    #[test]
    fn predicates_agree_with_trying_every_split() {
        let mut words: Vec<String> = SAMPLES.iter().map(|s| s.to_string()).collect();
        for a in SAMPLES {
            for b in SAMPLES.iter().take(12) {
                words.push(format!("{a}{b}"));
            }
        }
        for p in &words {
            let pc: Vec<char> = p.chars().collect();
            for t in &words {
                let eq = slow_eq(&pc, t);
                assert_eq!(eq_ignore_case(p, t), eq, "{p:?} {t:?}");
                if eq {
                    assert_eq!(key(p), key(t), "{p:?} {t:?}");
                }
                let starts = (0..=t.len())
                    .filter(|&i| t.is_char_boundary(i))
                    .any(|i| slow_eq(&pc, &t[..i]));
                assert_eq!(starts_with_ignore_case(p, t), starts, "prefix {p:?} {t:?}");
                let ends = (0..=t.len())
                    .filter(|&i| t.is_char_boundary(i))
                    .any(|i| slow_eq(&pc, &t[i..]));
                assert_eq!(ends_with_ignore_case(p, t), ends, "suffix {p:?} {t:?}");
            }
        }
    }

    #[test]
    fn dotted_capital_i_lower_cases_to_two_code_points() {
        assert!(eq_ignore_case("İ", "İ"));
        assert!(eq_ignore_case("İ", "i\u{307}"));
        assert!(!eq_ignore_case("İ", "i"));
        assert!(!eq_ignore_case("İ", "I"));
        // `i` and `I` upper- and lower-case to each other only (no Turkish rules).
        assert!(!eq_ignore_case("i", "İ"));
        assert!(!eq_ignore_case("I", "ı"));
        assert!(!starts_with_ignore_case("İs", "istanbul"));
        assert!(starts_with_ignore_case("İS", "i\u{307}stanbul"));
        assert!(ends_with_ignore_case("Lİ", "li\u{307}"));
        assert!(!ends_with_ignore_case("İ", "\u{307}"));
    }

    #[test]
    fn titlecase_matches_its_lower_and_upper_case_but_not_itself() {
        assert!(eq_ignore_case("ǅ", "ǆ"));
        assert!(eq_ignore_case("ǅ", "Ǆ"));
        assert!(!eq_ignore_case("ǅ", "ǅ"));
        assert!(!eq_ignore_case("ǆ", "ǅ"));
        assert!(!eq_ignore_case("Ǆ", "ǅ"));
        assert!(eq_ignore_case("ǆ", "Ǆ"));
        assert!(!starts_with_ignore_case("ǅa", "ǅA"));
        assert!(ends_with_ignore_case("ǅ", "xǄ"));
        assert!(!ends_with_ignore_case("ǅ", "xǅ"));
    }

    #[test]
    fn ohm_sign_and_omega_are_different_characters() {
        // The Ohm sign lower-cases to ω and upper-cases to itself.
        assert!(eq_ignore_case("\u{2126}", "ω"));
        assert!(eq_ignore_case("\u{2126}", "\u{2126}"));
        assert!(!eq_ignore_case("\u{2126}", "Ω"));
        // Omega accepts ω and Ω, not the Ohm sign; ω accepts ω and Ω.
        assert!(eq_ignore_case("Ω", "ω") && eq_ignore_case("ω", "Ω"));
        assert!(!eq_ignore_case("Ω", "\u{2126}"));
        assert!(!eq_ignore_case("ω", "\u{2126}"));
    }

    #[test]
    fn sharp_s_upper_cases_to_two_letters() {
        assert!(eq_ignore_case("ß", "ß"));
        assert!(eq_ignore_case("ß", "SS"));
        assert!(!eq_ignore_case("ß", "ss"));
        assert!(!eq_ignore_case("ß", "Ss"));
        assert!(!eq_ignore_case("SS", "ß"));
        assert!(!eq_ignore_case("ss", "ß"));
        // The capital sharp s lower-cases to ß and upper-cases to itself.
        assert!(eq_ignore_case("ẞ", "ß") && eq_ignore_case("ẞ", "ẞ"));
        assert!(!eq_ignore_case("ẞ", "SS"));
        assert!(starts_with_ignore_case("ß", "SSE"));
        assert!(ends_with_ignore_case("ße", "STRASSE"));
        assert!(!ends_with_ignore_case("ße", "STRASE"));
    }

    #[test]
    fn greek_sigmas() {
        // One character alone: Σ lower-cases to σ (no word for a final form), ς upper-cases
        // to Σ.
        assert!(eq_ignore_case("Σ", "σ") && eq_ignore_case("Σ", "Σ"));
        assert!(!eq_ignore_case("Σ", "ς"));
        assert!(eq_ignore_case("ς", "Σ") && eq_ignore_case("ς", "ς"));
        assert!(!eq_ignore_case("ς", "σ"));
        assert!(eq_ignore_case("ΟΔΟΣ", "οδοσ"));
        assert!(!eq_ignore_case("ΟΔΟΣ", "οδος"));
        assert!(eq_ignore_case("οδος", "ΟΔΟΣ"));
    }

    #[test]
    fn kelvin_sign() {
        assert!(eq_ignore_case("\u{212A}", "k"));
        assert!(eq_ignore_case("\u{212A}", "\u{212A}"));
        assert!(!eq_ignore_case("\u{212A}", "K"));
        assert!(eq_ignore_case("k", "K") && !eq_ignore_case("k", "\u{212A}"));
        assert!(!eq_ignore_case("K", "\u{212A}"));
        // The key is shared; equality is not.
        assert_eq!(key("\u{212A}"), key("K"));
    }

    #[test]
    fn characters_beyond_the_basic_plane() {
        // Deseret capital and small long I: one code point each, a surrogate pair in Java.
        assert!(eq_ignore_case("𐐀", "𐐨") && eq_ignore_case("𐐀", "𐐀"));
        assert!(eq_ignore_case("𐐨", "𐐀"));
        assert!(!eq_ignore_case("𐐀", "??"));
        assert!(eq_ignore_case("a𐐀B", "A𐐨b"));
        assert!(starts_with_ignore_case("𐐀", "𐐨x"));
        assert!(ends_with_ignore_case("x𐐨", "X𐐀"));
        // No case: only itself.
        assert!(eq_ignore_case("😀", "😀") && !eq_ignore_case("😀", "😁"));
    }

    #[test]
    fn mixed_ascii_and_other_letters() {
        assert!(eq_ignore_case("Élan", "éLAN"));
        assert!(eq_ignore_case("CAFÉ", "café"));
        assert!(!eq_ignore_case("CAFÉ", "cafe\u{301}"));
        assert!(!eq_ignore_case("abc", "abcd"));
        assert!(!eq_ignore_case("abc", "ab"));
        assert!(!eq_ignore_case("ABC", "ÀBC"));
        // Long s upper-cases to S: the pattern ſ accepts S but not s, and s never accepts ſ.
        assert!(eq_ignore_case("ſ", "S") && !eq_ignore_case("ſ", "s"));
        assert!(!eq_ignore_case("s", "ſ"));
        assert!(starts_with_ignore_case("", "anything"));
        assert!(ends_with_ignore_case("", ""));
        assert!(eq_ignore_case("", ""));
        assert!(!eq_ignore_case("", "a"));
        // A byte of a longer character is not a character of an ASCII pattern.
        assert!(!starts_with_ignore_case("a", "á"));
        assert!(!ends_with_ignore_case("a", "\u{1E01}"));
    }
}
