//! After an event is read: which terms got every slot filled, consistently.

use crate::compile::{Compiled, SlotKind, TermInfo};

use super::cache::{Hit, Scratch, Search};

/// Appends to `out` the ids of the rules whose terms the scanned event satisfies, ascending.
pub(crate) fn evaluate(c: &Compiled, s: &mut Scratch, out: &mut Vec<u32>) {
    out.clear();
    s.stamp = s.stamp.wrapping_add(1);
    if s.stamp == 0 {
        s.present.iter_mut().for_each(|x| *x = 0);
        s.term_stamp.iter_mut().for_each(|x| *x = 0);
        s.rule_stamp.iter_mut().for_each(|x| *x = 0);
        s.stamp = 1;
    }
    let stamp = s.stamp;
    if s.present.len() < c.fields.len() {
        s.present.resize(c.fields.len(), 0);
    }
    if s.term_stamp.len() < c.terms.len() {
        s.term_stamp.resize(c.terms.len(), 0);
    }
    if s.rule_stamp.len() < c.rule_slots {
        s.rule_stamp.resize(c.rule_slots, 0);
    }
    for leaf in s.leaves.iter().filter(|l| l.alive) {
        s.present[leaf.field as usize] = stamp;
    }
    let leaves = &s.leaves;
    s.hits.retain(|h| leaves[h.leaf as usize].alive);
    s.hits.sort_unstable();
    s.hits.dedup();

    // The array-consistency search's working lists, taken out of the scratch for the loop.
    let mut search = std::mem::take(&mut s.search);
    let mut i = 0;
    while i < s.hits.len() {
        let term = s.hits[i].term;
        let mut j = i + 1;
        while j < s.hits.len() && s.hits[j].term == term {
            j += 1;
        }
        s.term_stamp[term as usize] = stamp;
        let info = &c.terms[term as usize];
        if info.alive && term_matches(info, &s.hits[i..j], s, stamp, &mut search) {
            for &rule in &info.rules {
                mark(s, rule, stamp, out);
            }
        }
        i = j;
    }
    for &term in &c.unconditional {
        if s.term_stamp[term as usize] == stamp {
            continue;
        }
        let info = &c.terms[term as usize];
        if info.alive && term_matches(info, &[], s, stamp, &mut search) {
            for &rule in &info.rules {
                mark(s, rule, stamp, out);
            }
        }
    }
    s.search = search;
    out.sort_unstable();
}

fn mark(s: &mut Scratch, rule: u32, stamp: u32, out: &mut Vec<u32>) {
    if s.rule_stamp[rule as usize] != stamp {
        s.rule_stamp[rule as usize] = stamp;
        out.push(rule);
    }
}

/// `hits` are this term's, sorted by slot.
fn term_matches(
    info: &TermInfo,
    hits: &[Hit],
    s: &Scratch,
    stamp: u32,
    search: &mut Search,
) -> bool {
    // Every slot is satisfied by some value; the candidate values (ranges of `hits`) of the
    // slots that need one are kept, and whether any sits in an array (only then can array
    // consistency rule a choice out).
    search.choices.clear();
    let mut flat = true;
    for (kind, present, range) in slot_hits(info, hits, s, stamp) {
        match kind {
            SlotKind::Absent if present => return false,
            SlotKind::Absent => {}
            SlotKind::ValueOrAbsent if !present => {}
            _ if range.is_empty() => return false,
            _ => {
                flat &= hits[range.clone()]
                    .iter()
                    .all(|h| s.leaves[h.leaf as usize].trail_len == 0);
                search.choices.push(range);
            }
        }
    }
    if flat {
        return true;
    }
    search.chosen.clear();
    choose(&search.choices, hits, &mut search.chosen, s)
}

/// Per slot of the term: its kind, whether its field is present in the event, and the range
/// of its hits in `hits`.
fn slot_hits<'h>(
    info: &'h TermInfo,
    hits: &'h [Hit],
    s: &'h Scratch,
    stamp: u32,
) -> impl Iterator<Item = (SlotKind, bool, std::ops::Range<usize>)> + 'h {
    let mut h = 0;
    info.slots
        .iter()
        .enumerate()
        .map(move |(slot, &(kind, field))| {
            let start = h;
            while h < hits.len() && hits[h].slot as usize == slot {
                h += 1;
            }
            (kind, s.present[field as usize] == stamp, start..h)
        })
}

fn trail(s: &Scratch, leaf: u32) -> &[(u32, u32)] {
    let l = &s.leaves[leaf as usize];
    &s.trails[l.trail_start as usize..(l.trail_start + l.trail_len) as usize]
}

/// Two values are array-consistent unless they sit in different elements of one array
/// (trails outermost first). Shared with `explain`.
pub(crate) fn consistent(a: &[(u32, u32)], b: &[(u32, u32)]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x.0 != y.0 {
            return true;
        }
        if x.1 != y.1 {
            return false;
        }
    }
    true
}

fn choose(
    choices: &[std::ops::Range<usize>],
    hits: &[Hit],
    chosen: &mut Vec<u32>,
    s: &Scratch,
) -> bool {
    let Some((first, rest)) = choices.split_first() else {
        return true;
    };
    for h in &hits[first.clone()] {
        let t = trail(s, h.leaf);
        if chosen.iter().all(|&o| consistent(trail(s, o), t)) {
            chosen.push(h.leaf);
            if choose(rest, hits, chosen, s) {
                return true;
            }
            chosen.pop();
        }
    }
    false
}
