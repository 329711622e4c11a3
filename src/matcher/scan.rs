//! Reads an event's bytes once, without building a tree: walks the path trie alongside the
//! JSON, validates everything, and for each scalar on a path some rule names runs that
//! field's value tests, recording hits.

use crate::compile::{len_bit, Compiled, Field, Scan, Target, FEW_FOLDED};
use crate::error::{EventError, Malformed};
use crate::ir::{
    ends_with_ignore_case_bytes, eq_ignore_case_bytes, finite_f64, is_exact, number_spelling,
    parse_ip, push_case_key, starts_with_ignore_case_bytes, AnythingBut, Literal,
};

use super::cache::{Hit, LeafRec, Scratch};
use crate::json::{skip, unescape, validate, MAX_EVENT_DEPTH};

/// The bit of a `seen_keys` length that marks a key written with an escape.
const KEY_ESCAPED: u32 = 1 << 31;

/// Reads `bytes` as one JSON event. With `lazy`, only what rules need is read and checked:
/// unneeded values are skipped without validation and reading stops once every needed key of
/// the top-level object has been seen.
pub(crate) fn scan(
    c: &Compiled,
    s: &mut Scratch,
    bytes: &[u8],
    lazy: bool,
) -> Result<(), EventError> {
    let read = read(c, s, bytes, lazy);
    // Validating, the UTF-8 check comes after the reading, which has brought the event's
    // bytes into cache; an invalid byte is the event's error whatever the reading found (as
    // if it were checked first), and what the reading recorded is then not used.
    if !lazy {
        if let Some(at) = crate::json::utf8_error(bytes) {
            return Err(EventError::malformed(Malformed::Utf8, bytes, at));
        }
    }
    read
}

/// Reads the JSON value at the start of `bytes` as one event, validating, and returns where
/// it ends; whatever follows it is not read as part of it (but may have been looked at).
/// On `Ok(end)`, what `s` holds is what [`scan`] of `&bytes[..end]` gives. On `Err(upto)`
/// the value is broken somewhere and `upto` is how far the reading got; callers read the
/// line again with [`scan`] for its error.
pub(crate) fn scan_prefix(c: &Compiled, s: &mut Scratch, bytes: &[u8]) -> Result<usize, usize> {
    let mut r = Reader::new(c, s, bytes, false);
    if let Err(e) = r.value(Some(0), 0, true) {
        return Err(e.offset().max(r.pos));
    }
    let end = r.pos;
    if crate::json::utf8_error(&bytes[..end]).is_some() {
        return Err(end);
    }
    Ok(end)
}

/// [`scan`] but for the UTF-8 check.
#[inline(always)]
fn read(c: &Compiled, s: &mut Scratch, bytes: &[u8], lazy: bool) -> Result<(), EventError> {
    let mut r = Reader::new(c, s, bytes, lazy);
    r.ws();
    r.value(Some(0), 0, true)?;
    if r.done {
        return Ok(());
    }
    r.ws();
    if r.pos != bytes.len() {
        return Err(r.err(Malformed::Trailing));
    }
    Ok(())
}

struct Reader<'a, 'c> {
    b: &'a [u8],
    pos: usize,
    c: &'c Compiled,
    s: &'c mut Scratch,
    lazy: bool,
    /// Lazy reading found everything it needs: unwind without reading further.
    done: bool,
    /// How many keys that are exactly `""` lead to the value being read.
    empty_keys: u32,
}

impl<'a, 'c> Reader<'a, 'c> {
    /// A reader at the start of `bytes`, with `s` emptied.
    fn new(c: &'c Compiled, s: &'c mut Scratch, bytes: &'a [u8], lazy: bool) -> Self {
        s.reset();
        Reader {
            b: bytes,
            pos: 0,
            c,
            s,
            lazy,
            done: false,
            empty_keys: 0,
        }
    }

    fn err(&self, why: Malformed) -> EventError {
        EventError::malformed(why, self.b, self.pos)
    }

    fn eof(&self) -> EventError {
        EventError::malformed(Malformed::End, self.b, self.b.len())
    }

    #[inline(always)]
    fn ws(&mut self) {
        self.pos = validate::ws(self.b, self.pos);
    }

    #[inline]
    fn peek(&self) -> Result<u8, EventError> {
        self.b.get(self.pos).copied().ok_or_else(|| self.eof())
    }

    /// Reads one value. `last`: in lazy reading, once this value is read every key the rules
    /// need has been seen (no array encloses it and no needed key follows it), so reading can
    /// stop as soon as its own needed keys are seen.
    fn value(&mut self, node: Option<u32>, depth: usize, last: bool) -> Result<(), EventError> {
        if node.is_none() {
            if self.lazy {
                self.pos = skip::skip_value(self.b, self.pos).ok_or_else(|| self.eof())?;
            } else if let Some(&c @ (b'"' | b'-' | b'0'..=b'9')) = self.b.get(self.pos) {
                // The scalars `validate::value` would read, read here without its set-up
                // (the same functions: the same errors at the same offsets).
                let end = if c == b'"' {
                    validate::string(self.b, self.pos, &mut self.s.buf)
                } else {
                    validate::number(self.b, self.pos)
                };
                self.pos = end.map_err(|(at, why)| EventError::malformed(why, self.b, at))?;
            } else {
                let mut buf = std::mem::take(&mut self.s.buf);
                let end = validate::value(self.b, self.pos, depth, &mut buf);
                self.s.buf = buf;
                self.pos = end.map_err(|(at, why)| EventError::malformed(why, self.b, at))?;
            }
            return Ok(());
        }
        match self.peek()? {
            b'{' => self.object(node, depth + 1, last),
            b'[' => self.array(node, depth + 1),
            b'"' => self.string_value(node),
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                self.number()?;
                if let Some(f) = self.field_of(node) {
                    let text = &self.b[start..self.pos];
                    self.number_leaf(f, text);
                }
                Ok(())
            }
            b't' => self.literal(b"true", node),
            b'f' => self.literal(b"false", node),
            b'n' => self.literal(b"null", node),
            _ => Err(self.err(Malformed::ExpectedValue)),
        }
    }

    /// Reads the string at `pos` as the value at trie node `node`, running its field's tests.
    #[inline(always)]
    fn string_value(&mut self, node: Option<u32>) -> Result<(), EventError> {
        let (start, end, escaped) = self.string()?;
        if let Some(f) = self.field_of(node) {
            let raw = &self.b[start..end];
            if self.lazy && !is_ascii(raw) {
                if let Err(e) = std::str::from_utf8(raw) {
                    return Err(EventError::malformed(
                        Malformed::Utf8,
                        self.b,
                        start + e.valid_up_to(),
                    ));
                }
            }
            if escaped {
                let mut buf = std::mem::take(&mut self.s.buf);
                unescape(&self.b[start..end], &mut buf).map_err(|off| {
                    EventError::malformed(Malformed::StringEscape, self.b, start + off)
                })?;
                self.string_leaf(f, &buf);
                self.s.buf = buf;
            } else {
                let raw = &self.b[start..end];
                self.string_leaf(f, raw);
            }
        }
        Ok(())
    }

    #[inline]
    fn field_of(&self, node: Option<u32>) -> Option<u32> {
        self.c.nodes[node? as usize].field
    }

    fn literal(&mut self, word: &[u8], node: Option<u32>) -> Result<(), EventError> {
        if self.b.get(self.pos..self.pos + word.len()) != Some(word) {
            return Err(self.err(Malformed::ExpectedValue));
        }
        self.pos += word.len();
        if let Some(fi) = self.field_of(node) {
            let field: &Field = &self.c.fields[fi as usize];
            let leaf = self.leaf(fi);
            let hits = &mut self.s.hits;
            literal_tests(field, word[0], |targets| push(hits, targets, leaf));
        }
        Ok(())
    }

    fn leaf(&mut self, field: u32) -> u32 {
        let idx = self.s.leaves.len() as u32;
        let trail_start = self.s.trails.len() as u32;
        self.s.trails.extend_from_slice(&self.s.stack);
        self.s.leaves.push(LeafRec {
            field,
            trail_start,
            trail_len: self.s.stack.len() as u32,
            alive: true,
            via_empty_key: self.empty_keys > 0,
        });
        idx
    }

    fn object(&mut self, node: Option<u32>, depth: usize, last: bool) -> Result<(), EventError> {
        if depth > MAX_EVENT_DEPTH {
            return Err(self.err(Malformed::TooDeep));
        }
        self.pos += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(());
        }
        let seen_base = self.s.seen_keys.len();
        // Whether a needed key of this object was written with an escape (then repeats are
        // also looked for unescaped).
        let mut escapes = false;
        let mut direct_seen = 0usize;
        loop {
            // Members whose keys no rule needs, in a tight loop of their own; it stops at
            // the first member it does not settle, which the code below reads.
            let mut found = None;
            if let Some(n) = node {
                let stop = skip_members(
                    &self.c.nodes[n as usize],
                    self.b,
                    self.pos,
                    depth,
                    self.lazy,
                    &mut self.s.buf,
                );
                match stop {
                    Members::Closed(at) => {
                        self.pos = at;
                        break;
                    }
                    Members::Needed { at, end, child } => {
                        self.pos = at;
                        found = Some((end, child));
                    }
                    Members::Other(at) => self.pos = at,
                }
            }
            // The key and its colon, with the position in a local; every error is the one
            // `string`, `ws` and `peek` would give at the same offset.
            let b = self.b;
            let mut pos = self.pos;
            match b.get(pos) {
                Some(b'"') => {}
                Some(_) => return Err(EventError::malformed(Malformed::ExpectedKey, b, pos)),
                None => return Err(self.eof()),
            }
            let start = pos + 1;
            let (end, escaped) = match found {
                Some((end, _)) => (end, false),
                None => validate::string_end(b, pos).map_err(|(at, why)| {
                    self.pos = at;
                    EventError::malformed(why, b, at)
                })?,
            };
            if escaped && !self.lazy {
                unescape(&b[start..end], &mut self.s.buf).map_err(|off| {
                    EventError::malformed(Malformed::StringEscape, b, start + off)
                })?;
            }
            pos = validate::ws(b, end + 1);
            match b.get(pos) {
                Some(b':') => {}
                Some(_) => return Err(EventError::malformed(Malformed::ExpectedColon, b, pos)),
                None => return Err(self.eof()),
            }
            pos = validate::ws(b, pos + 1);
            self.pos = pos;
            let child = match (found, node) {
                (Some((_, child)), _) => Some((child, true)),
                (None, Some(n)) => self.child(n, start, end, escaped)?,
                (None, None) => None,
            };
            if let Some((child, direct)) = child {
                let wanted = node.map_or(0, |n| self.c.nodes[n as usize].children.len());
                let seen = self.seen_key(seen_base, start, end, escaped || escapes);
                escapes |= escaped;
                let final_key =
                    last && self.lazy && direct && seen.is_none() && direct_seen + 1 == wanted;
                let first = self.s.leaves.len() as u32;
                let empty_key = start == end;
                self.empty_keys += u32::from(empty_key);
                // (A string, the most common value of a needed key, without the call.)
                if self.b.get(self.pos) == Some(&b'"') {
                    self.string_value(Some(child))?;
                } else {
                    self.value(Some(child), depth, final_key)?;
                }
                self.empty_keys -= u32::from(empty_key);
                if self.done {
                    return Ok(());
                }
                let end_leaf = self.s.leaves.len() as u32;
                self.note_key(seen, start, end, escaped, first, end_leaf);
                if seen.is_none() && direct && self.lazy {
                    direct_seen += 1;
                    if direct_seen == wanted {
                        self.s.seen_keys.truncate(seen_base);
                        if last {
                            self.done = true;
                            return Ok(());
                        }
                        self.pos = skip::skip_in_container(self.b, self.pos, 1)
                            .ok_or_else(|| self.eof())?;
                        return Ok(());
                    }
                }
                pos = self.pos;
            } else if self.lazy {
                // Inline here: this is the loop over the keys no rule names.
                pos = skip::skip_value(b, pos).ok_or_else(|| self.eof())?;
            } else {
                // Scalars as `validate::value` reads them, without its set-up.
                pos = match b.get(pos) {
                    Some(b'"') => validate::string(b, pos, &mut self.s.buf),
                    Some(b'-' | b'0'..=b'9') => validate::number(b, pos),
                    _ => {
                        self.value(None, depth, false)?;
                        Ok(self.pos)
                    }
                }
                .map_err(|(at, why)| EventError::malformed(why, b, at))?;
            }
            pos = validate::ws(b, pos);
            match b.get(pos) {
                Some(b',') => {
                    self.pos = validate::ws(b, pos + 1);
                }
                Some(b'}') => {
                    self.pos = pos + 1;
                    break;
                }
                Some(_) => {
                    self.pos = pos;
                    return Err(EventError::malformed(Malformed::ObjectSeparator, b, pos));
                }
                None => return Err(self.eof()),
            }
        }
        self.s.seen_keys.truncate(seen_base);
        Ok(())
    }

    /// Where the needed key `start..end` was seen before in the object whose keys start at
    /// `base` of `seen_keys`. Keys are compared as JSON readers compare them, unescaped
    /// (`"\u0061"` repeats `"a"`); the texts are compared directly when neither has an escape.
    /// `escapes`: this key or an earlier needed key of the object has an escape.
    fn seen_key(&mut self, base: usize, start: usize, end: usize, escapes: bool) -> Option<usize> {
        let key = &self.b[start..end];
        let found = (base..self.s.seen_keys.len()).find(|&i| {
            let (ks, kl, _, _) = self.s.seen_keys[i];
            kl & KEY_ESCAPED == 0 && &self.b[ks as usize..(ks + kl) as usize] == key
        });
        if found.is_some() || !escapes {
            return found;
        }
        // An escape on one side (rare): unescape both. Both were checked when read.
        let mut mine = std::mem::take(&mut self.s.buf);
        let mut theirs = std::mem::take(&mut self.s.keybuf);
        let _ = unescape(key, &mut mine);
        let found = (base..self.s.seen_keys.len()).find(|&i| {
            let (ks, kl, _, _) = self.s.seen_keys[i];
            let raw = &self.b[ks as usize..(ks + (kl & !KEY_ESCAPED)) as usize];
            unescape(raw, &mut theirs).is_ok() && theirs == mine
        });
        self.s.buf = mine;
        self.s.keybuf = theirs;
        found
    }

    /// Records a needed key and the leaves its value produced. A repeated key: the last value
    /// wins, as in the JSON readers AWS uses, so the earlier value's leaves are dropped.
    fn note_key(
        &mut self,
        seen: Option<usize>,
        start: usize,
        end: usize,
        escaped: bool,
        first: u32,
        last: u32,
    ) {
        let len = (end - start) as u32 | if escaped { KEY_ESCAPED } else { 0 };
        let entry = (start as u32, len, first, last);
        match seen {
            Some(i) => {
                let (_, _, f, l) = self.s.seen_keys[i];
                for leaf in &mut self.s.leaves[f as usize..l as usize] {
                    leaf.alive = false;
                }
                self.s.seen_keys[i] = entry;
            }
            None => self.s.seen_keys.push(entry),
        }
    }

    /// The trie node an object key leads to from `node`, and whether the key is one segment.
    #[inline(always)]
    fn child(
        &mut self,
        node: u32,
        start: usize,
        end: usize,
        escaped: bool,
    ) -> Result<Option<(u32, bool)>, EventError> {
        if !escaped {
            return Ok(lookup(self.c, node, &self.b[start..end]));
        }
        let mut keybuf = std::mem::take(&mut self.s.keybuf);
        let r = unescape(&self.b[start..end], &mut keybuf)
            .map(|()| lookup(self.c, node, &keybuf))
            .map_err(|off| EventError::malformed(Malformed::KeyEscape, self.b, start + off));
        self.s.keybuf = keybuf;
        r
    }

    fn array(&mut self, node: Option<u32>, depth: usize) -> Result<(), EventError> {
        if depth > MAX_EVENT_DEPTH {
            return Err(self.err(Malformed::TooDeep));
        }
        self.pos += 1;
        self.ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(());
        }
        let id = self.s.next_array;
        self.s.next_array += 1;
        let mut index = 0u32;
        loop {
            if node.is_some() {
                self.s.stack.push((id, index));
                self.value(node, depth, false)?;
                self.s.stack.pop();
                if self.done {
                    return Ok(());
                }
            } else {
                self.value(None, depth, false)?;
            }
            index += 1;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.ws();
                }
                b']' => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err(Malformed::ArraySeparator)),
            }
        }
    }

    /// Reads a string; returns the byte range of its contents and whether it has escapes.
    #[inline(always)]
    fn string(&mut self) -> Result<(usize, usize, bool), EventError> {
        let start = self.pos + 1;
        let (end, escaped) = match validate::string_end(self.b, self.pos) {
            Ok(found) => found,
            Err((at, why)) => {
                self.pos = at;
                return Err(self.err(why));
            }
        };
        self.pos = end + 1;
        if escaped && !self.lazy {
            let mut buf = std::mem::take(&mut self.s.buf);
            let checked = unescape(&self.b[start..end], &mut buf);
            self.s.buf = buf;
            checked.map_err(|off| {
                EventError::malformed(Malformed::StringEscape, self.b, start + off)
            })?;
        }
        Ok((start, end, escaped))
    }

    fn number(&mut self) -> Result<(), EventError> {
        match validate::number(self.b, self.pos) {
            Ok(end) => {
                self.pos = end;
                Ok(())
            }
            Err((at, why)) => {
                self.pos = at;
                Err(self.err(why))
            }
        }
    }

    fn string_leaf(&mut self, fi: u32, bytes: &[u8]) {
        let field = &self.c.fields[fi as usize];
        let leaf = self.leaf(fi);
        let s = &mut *self.s;
        let hits = &mut s.hits;
        string_tests(field, bytes, &mut s.fold, |targets| {
            push(hits, targets, leaf)
        });
    }

    fn number_leaf(&mut self, fi: u32, text: &[u8]) {
        let field = &self.c.fields[fi as usize];
        let leaf = self.leaf(fi);
        let hits = &mut self.s.hits;
        number_tests(field, text, |targets| push(hits, targets, leaf));
    }
}

/// Runs the value tests of `field` on a string (its unescaped UTF-8 bytes), calling `hit`
/// with the targets of every test that passes; `fold` is working memory for the case-folded
/// text. The one statement of what each test accepts from a string: the matcher and
/// `explain` both call it.
#[inline(always)]
pub(crate) fn string_tests(
    field: &Field,
    bytes: &[u8],
    fold: &mut Vec<u8>,
    mut hit: impl FnMut(&[Target]),
) {
    if field.string_lens & len_bit(bytes.len()) != 0 {
        if let Some(list) = field.strings.get(bytes) {
            hit(list);
        }
    }
    if !field.any.is_empty() {
        hit(&field.any);
    }
    // Valid UTF-8 (checked when read; unescaping writes UTF-8): the text is made only for
    // the tests that need characters, and once.
    let mut text_memo: Option<&str> = None;
    let mut text =
        || *text_memo.get_or_insert_with(|| std::str::from_utf8(bytes).unwrap_or_default());
    if !field.ips.is_empty() {
        if let Some(list) = parse_ip(text()).and_then(|ip| field.ips.get(&ip)) {
            hit(list);
        }
    }
    if field.needs_case_key() {
        // ASCII values match ASCII texts of their lower case; the others are candidates
        // under their case key, confirmed one by one.
        fold.clear();
        if is_ascii(bytes) {
            // (The fold is made when an ASCII value of its length could match it, or the
            // values beyond ASCII look it up below.)
            let lookup = field.folded_lens & len_bit(bytes.len()) != 0;
            if field.folded_unicode.is_empty() && field.folded.len() <= FEW_FOLDED {
                // A few values: compared in place, without the fold or a hash.
                if lookup {
                    for (value, list) in &field.folded {
                        if value.len() == bytes.len() && value.eq_ignore_ascii_case(bytes) {
                            hit(list);
                        }
                    }
                }
            } else {
                if lookup || !field.folded_unicode.is_empty() {
                    fold.extend(bytes.iter().map(u8::to_ascii_lowercase));
                }
                if lookup {
                    if let Some(list) = field.folded.get(fold.as_slice()) {
                        hit(list);
                    }
                }
            }
        } else if !field.folded_unicode.is_empty() {
            // (Only values beyond ASCII can accept a text beyond ASCII.)
            push_case_key(text(), fold);
        }
        if !field.folded_unicode.is_empty() {
            for (p, list) in field
                .folded_unicode
                .get(fold.as_slice())
                .into_iter()
                .flatten()
            {
                if eq_ignore_case_bytes(p, bytes) {
                    hit(list);
                }
            }
        }
    }
    for (scan, targets) in &field.scans {
        let pass = match scan {
            // (The first or last bytes first: most texts differ there, and the comparison
            // of the rest is a call.)
            Scan::Prefix(p) => match p.first() {
                Some(c) => bytes.first() == Some(c) && bytes.starts_with(p),
                None => true,
            },
            Scan::Suffix(p) => match p.last() {
                Some(c) => bytes.last() == Some(c) && bytes.ends_with(p),
                None => true,
            },
            Scan::PrefixIgnoreCase(p) => starts_with_ignore_case_bytes(p, bytes),
            Scan::SuffixIgnoreCase(p) => ends_with_ignore_case_bytes(p, bytes),
            Scan::Wildcard(w) => w.matches(text()),
            Scan::Numeric(_) => false,
            Scan::Cidr(c) => c.contains(text()),
            Scan::Not(ab) => match ab {
                AnythingBut::Literals(lits) => !lits.iter().any(|l| match l {
                    Literal::String(s) => {
                        s.as_bytes() == bytes
                            || parse_ip(s).is_some_and(|a| parse_ip(text()) == Some(a))
                    }
                    _ => false,
                }),
                AnythingBut::Prefix(ps) => !ps.iter().any(|p| bytes.starts_with(p.as_bytes())),
                AnythingBut::Suffix(ps) => !ps.iter().any(|p| bytes.ends_with(p.as_bytes())),
                AnythingBut::EqualsIgnoreCase(ps) => {
                    !ps.iter().any(|p| eq_ignore_case_bytes(p, bytes))
                }
                AnythingBut::Wildcard(ws) => !ws.iter().any(|w| w.matches(text())),
            },
        };
        if pass {
            hit(targets);
        }
    }
}

/// Runs the value tests of `field` on a number (its JSON text), calling `hit` with the
/// targets of every test that passes; shared by the matcher and `explain`.
#[inline(always)]
pub(crate) fn number_tests(field: &Field, text: &[u8], mut hit: impl FnMut(&[Target])) {
    let text_str = std::str::from_utf8(text).unwrap_or_default();
    // The nearest double; whether the text names it exactly is only asked when a test
    // would pass (it costs a shortest-form print).
    let approx = finite_f64(text_str);
    let mut exact_memo: Option<bool> = None;
    let mut exact = |v: f64| *exact_memo.get_or_insert_with(|| is_exact(text_str, v));
    if let Some(v) = approx {
        if let Some(list) = field.numbers.get(&v.to_bits()) {
            if exact(v) {
                hit(list);
            }
        }
    }
    if !field.number_texts.is_empty() {
        if let Some(list) = field.number_texts.get(number_spelling(text_str).as_bytes()) {
            hit(list);
        }
    }
    hit(&field.any);
    for (scan, targets) in &field.scans {
        let pass = match scan {
            Scan::Numeric(r) => approx.is_some_and(|v| r.contains(v) && exact(v)),
            Scan::Not(AnythingBut::Literals(lits)) => !lits.iter().any(|l| match l {
                Literal::Number(n) => match (n.value(), approx) {
                    (Some(a), Some(b)) if a == b => exact(b),
                    _ => number_spelling(n.text()) == number_spelling(text_str),
                },
                Literal::NumberText(t) => number_spelling(t) == number_spelling(text_str),
                _ => false,
            }),
            Scan::Not(_) => true,
            _ => false,
        };
        if pass {
            hit(targets);
        }
    }
}

/// Runs the value tests of `field` on `true`, `false` or `null` (told by the first byte of
/// the word), calling `hit` with the targets of every test that passes; shared by the
/// matcher and `explain`.
#[inline(always)]
pub(crate) fn literal_tests(field: &Field, first: u8, mut hit: impl FnMut(&[Target])) {
    let list = match first {
        b't' => &field.trues,
        b'f' => &field.falses,
        _ => &field.nulls,
    };
    hit(list);
    hit(&field.any);
    for (scan, targets) in &field.scans {
        // anything-but of any kind matches booleans and null; nothing else does.
        if matches!(scan, Scan::Not(_)) {
            hit(targets);
        }
    }
}

/// Skips the members of an object from `pos` (at a key's opening quote) for as long as their
/// keys lead nowhere from `here` and they are plainly well formed (a key without escapes, a
/// colon, a value: in validating reading checked as `validate::value` checks it, `depth`
/// containers deep; in lazy reading skipped), each followed by a comma and the next key.
/// Returns where it stopped: after the object's closing brace, at a key that leads to a
/// child, or at the opening quote of another member it did not settle (a dotted key, anything
/// unusual or wrong), or at what follows the last comma when that is no key. It reports
/// nothing: the caller reads from there and finds every error at the same offset as without
/// this loop.
#[inline(always)]
fn skip_members(
    here: &crate::compile::Node,
    b: &[u8],
    mut pos: usize,
    depth: usize,
    lazy: bool,
    buf: &mut Vec<u8>,
) -> Members {
    // Whether the next member may be read with those after it, a block at a time.
    let mut blocks = true;
    loop {
        if b.get(pos) != Some(&b'"') {
            return Members::Other(pos);
        }
        let start = pos + 1;
        let end = validate::string_stop(b, start);
        if b.get(end) != Some(&b'"') {
            return Members::Other(pos);
        }
        if let Some(stop) = stops_at(here, &b[start..end], pos, end) {
            return stop;
        }
        // This member and those after it that are written `"key":"value",`, several from
        // one block's quotes; the first member written otherwise is read below.
        if blocks && b.get(end + 1..end + 3) == Some(b":\"") {
            match compact_members(here, b, pos) {
                Ok(stop) => return stop,
                Err(at) if at == pos => {}
                Err(at) => {
                    pos = at;
                    blocks = false;
                    continue;
                }
            }
        }
        blocks = true;
        let mut i = validate::ws(b, end + 1);
        if b.get(i) != Some(&b':') {
            return Members::Other(pos);
        }
        i = validate::ws(b, i + 1);
        let value_end = if lazy {
            skip::skip_value(b, i)
        } else {
            match b.get(i) {
                Some(b'"') => validate::string(b, i, buf).ok(),
                Some(b'-' | b'0'..=b'9') => validate::number(b, i).ok(),
                Some(_) => validate::value(b, i, depth, buf).ok(),
                None => None,
            }
        };
        let Some(value_end) = value_end else {
            return Members::Other(pos);
        };
        i = validate::ws(b, value_end);
        match b.get(i) {
            Some(b',') => pos = validate::ws(b, i + 1),
            Some(b'}') => return Members::Closed(i + 1),
            _ => return Members::Other(pos),
        }
    }
}

/// Whether `b` is all ASCII: for the short texts of events, in one or two word loads
/// (overlapping) rather than a call.
#[inline(always)]
fn is_ascii(b: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
    match b.len() {
        0..=7 => b.iter().fold(0u8, |acc, &x| acc | x) < 0x80,
        8..=16 => (word(&b[..8]) | word(&b[b.len() - 8..])) & HIGH == 0,
        _ => b.is_ascii(),
    }
}

/// Whether [`skip_members`] stops at the key `key` (without escapes) whose opening quote is
/// at `at` and closing quote at `end`: it leads to a child of `here`, or it holds a dot
/// where a dotted key could lead somewhere (left to the caller).
#[inline(always)]
fn stops_at(here: &crate::compile::Node, key: &[u8], at: usize, end: usize) -> Option<Members> {
    if let Some(child) = here.child(key) {
        return Some(Members::Needed { at, end, child });
    }
    if here.deep && key.contains(&b'.') {
        return Some(Members::Other(at));
    }
    None
}

/// The members of [`skip_members`] from the key at `pos` (already turned away) for as long as
/// they are written `"key":"value",` (no whitespace, no backslash or control byte in either
/// string), found from the quotes of 64 bytes at a time rather than string by string: `Ok`
/// where `skip_members` stops among them (a key it stops at, or the closing brace), else
/// `Err` with the member to read one by one (the first member written otherwise, or the one
/// after a comma written otherwise; `pos` itself when the first member is not written so).
/// Such a
/// member is well formed (the strings hold nothing to unescape or refuse; UTF-8 is checked
/// apart), so both readings take it as the byte loop would, and the byte loop reads any
/// other, finding its errors where it would without this.
#[inline(always)]
fn compact_members(
    here: &crate::compile::Node,
    b: &[u8],
    mut pos: usize,
) -> Result<Members, usize> {
    // Whether the current member's key is still to be judged (the first one is not).
    let mut judge = false;
    while let Some(chunk) = b.get(pos..pos + 64) {
        let chunk: &[u8; 64] = chunk.try_into().expect("64 bytes");
        let (quotes, stops) =
            crate::json::simd_quote_masks(chunk).unwrap_or_else(|| quote_masks(chunk));
        // The quotes from the current member's key on (its opening quote is the lowest).
        let mut q = quotes;
        let mut key = 0usize;
        loop {
            let rest = q & q.wrapping_sub(1);
            let key_end = rest.trailing_zeros() as usize;
            let rest = rest & rest.wrapping_sub(1);
            let value = rest.trailing_zeros() as usize;
            let rest = rest & rest.wrapping_sub(1);
            let value_end = rest.trailing_zeros() as usize;
            let rest = rest & rest.wrapping_sub(1);
            if value_end >= 63 {
                // The member runs past this block.
                break;
            }
            let span = (u64::MAX >> (63 - value_end)) & (u64::MAX << key);
            if chunk[key_end + 1] != b':' || value != key_end + 2 || stops & span != 0 {
                return Err(pos + key);
            }
            let at = pos + key;
            if judge {
                if let Some(stop) = stops_at(here, &chunk[key + 1..key_end], at, pos + key_end) {
                    return Ok(stop);
                }
            }
            // (64 when no quote follows in the block.)
            let next = rest.trailing_zeros() as usize;
            match chunk[value_end + 1] {
                b',' if next == value_end + 2 && next < 64 => {
                    key = next;
                    q = rest;
                    judge = true;
                }
                b',' => return Err(validate::ws(b, pos + value_end + 2)),
                b'}' => return Ok(Members::Closed(pos + value_end + 2)),
                _ => return Err(at),
            }
        }
        if key == 0 {
            return Err(pos);
        }
        // The next block starts with the key not yet judged.
        pos += key;
    }
    Err(pos)
}

/// The quotes of a block, and its backslashes and control bytes, 16 bytes at a time with
/// portable vector compares.
#[inline(always)]
fn quote_masks(chunk: &[u8; 64]) -> (u64, u64) {
    use wide::u8x16;
    let (mut quotes, mut stops) = (0u64, 0u64);
    for (k, lane) in chunk.chunks_exact(16).enumerate() {
        let v = u8x16::new(lane.try_into().expect("16 bytes"));
        let at = 16 * k as u32;
        quotes |= u64::from(v.simd_eq(u8x16::splat(b'"')).to_bitmask()) << at;
        let stop = v.simd_eq(u8x16::splat(b'\\')) | v.min(u8x16::splat(0x1F)).simd_eq(v);
        stops |= u64::from(stop.to_bitmask()) << at;
    }
    (quotes, stops)
}

/// Where [`skip_members`] stopped.
enum Members {
    /// After the object's closing brace.
    Closed(usize),
    /// At the opening quote `at` of a key without escapes ending at `end` (its closing
    /// quote) that leads to the trie node `child` (by itself, no dots).
    Needed { at: usize, end: usize, child: u32 },
    /// At a member it did not settle, or at what follows the last comma.
    Other(usize),
}

/// The trie node `key` leads to from `node` (a dotted key walks several levels, as
/// `{"a.b": ..}` is `{"a": {"b": ..}}`), and whether it is a single segment.
#[inline(always)]
fn lookup(c: &Compiled, node: u32, key: &[u8]) -> Option<(u32, bool)> {
    let nodes = &c.nodes;
    let here = &nodes[node as usize];
    if let Some(child) = here.child(key) {
        return Some((child, true));
    }
    // A dotted key can only lead somewhere below a child that has children, and only if its
    // first segment does.
    if !here.deep {
        return None;
    }
    let dot = key.iter().position(|&b| b == b'.')?;
    let mut n = nodes[node as usize].children.get(&key[..dot])?;
    for segment in key[dot + 1..].split(|&b| b == b'.') {
        n = nodes[n as usize].children.get(segment)?;
    }
    Some((n, false))
}

#[inline]
fn hit(t: Target, leaf: u32) -> Hit {
    Hit {
        term: t.term,
        slot: t.slot,
        leaf,
    }
}

#[inline]
fn push(hits: &mut Vec<Hit>, targets: &[Target], leaf: u32) {
    hits.extend(targets.iter().map(|&t| hit(t, leaf)));
}

#[cfg(test)]
mod tests {
    use super::quote_masks;

    #[test]
    fn is_ascii_is_the_byte_loops() {
        for len in 0..40 {
            let mut b = vec![b'a'; len];
            assert!(super::is_ascii(&b), "{len}");
            for at in 0..len {
                b[at] = 0x80;
                assert!(!super::is_ascii(&b), "{len} {at}");
                b[at] = 0x7F;
                assert!(super::is_ascii(&b), "{len} {at}");
            }
        }
    }

    #[test]
    fn quote_masks_are_the_byte_loops() {
        // Every byte value at every position of a block, among quotes and backslashes; the
        // portable compares, and the vector ones (AVX2 and AVX-512) where the CPU has them.
        let switch = crate::json::SimdSwitch::take();
        let has_fast_path = switch.set(true);
        let fast = |block: &[u8; 64]| {
            let mut all = Vec::new();
            for wide in [false, true] {
                switch.set(true);
                switch.set_wide(wide);
                all.extend(crate::json::simd_quote_masks(block));
            }
            switch.set(false);
            assert_eq!(crate::json::simd_quote_masks(block), None);
            all
        };
        let mut block = [b'a'; 64];
        for at in 0..64 {
            for byte in 0..=255u8 {
                block[at] = byte;
                block[(at + 17) % 64] = b'"';
                block[(at + 40) % 64] = b'\\';
                let (mut quotes, mut stops) = (0u64, 0u64);
                for (k, &x) in block.iter().enumerate() {
                    quotes |= u64::from(x == b'"') << k;
                    stops |= u64::from(x == b'\\' || x < 0x20) << k;
                }
                assert_eq!(quote_masks(&block), (quotes, stops), "{byte:#x} at {at}");
                let vector = fast(&block);
                // (Both versions run wherever the fast path does: AVX2, and AVX-512 or AVX2
                // again.)
                assert_eq!(vector.len(), if has_fast_path { 2 } else { 0 });
                for got in vector {
                    assert_eq!(got, (quotes, stops), "vector: {byte:#x} at {at}");
                }
                block = [b'a'; 64];
            }
        }
    }
}
