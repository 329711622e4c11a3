//! After an event is read: which terms got every slot filled, consistently.

use crate::compile::{Compiled, SlotKind, TermInfo};

use super::cache::{Choice, Hit, Scratch, Search};

/// Appends to `out` the ids of the rules whose terms the scanned event satisfies, ascending.
pub(crate) fn evaluate(c: &Compiled, s: &mut Scratch, out: &mut Vec<u32>) {
    out.clear();
    if shortcut(c, s, out) {
        // Debug builds (every test) check the shortcut against the full evaluation.
        #[cfg(debug_assertions)]
        {
            let mut full = Vec::new();
            evaluate_all(c, s, &mut full);
            debug_assert_eq!(
                *out, full,
                "the shortcut's verdict is the full evaluation's"
            );
        }
        return;
    }
    evaluate_all(c, s, out);
}

/// The verdicts of the common events that need no search, into the empty `out`: true when
/// it decided. Most events of most rule sets pass no value test: with no hit and no term that
/// holds without one, no rule matches. One hit for a term of one value slot (as most rules of
/// one field are) holds when its value may count, which is what the search decides for it too,
/// with nothing to be consistent with. (The stamps are only read for the terms of hits; the
/// next event takes a new stamp anyway.)
#[inline]
fn shortcut(c: &Compiled, s: &Scratch, out: &mut Vec<u32>) -> bool {
    if !c.unconditional.is_empty() {
        return false;
    }
    match s.hits[..] {
        [] => true,
        [h] => {
            let info = &c.terms[h.term as usize];
            let leaf = &s.leaves[h.leaf as usize];
            let holds = matches!(info.slots[..], [(SlotKind::Value, _)])
                && info.alive
                && leaf.alive
                && !(leaf.via_empty_key && info.skips_empty_keys);
            if holds {
                out.extend_from_slice(&info.rules);
                out.sort_unstable();
                out.dedup();
            }
            holds
        }
        _ => false,
    }
}

/// [`evaluate`] without the shortcut: every term of a hit (and every unconditional term)
/// through the array-consistency search.
fn evaluate_all(c: &Compiled, s: &mut Scratch, out: &mut Vec<u32>) {
    out.clear();
    s.stamp = s.stamp.wrapping_add(1);
    if s.stamp == 0 {
        s.present.iter_mut().for_each(|x| *x = 0);
        s.present_flat.iter_mut().for_each(|x| *x = 0);
        s.present_via_empty.iter_mut().for_each(|x| *x = 0);
        s.term_stamp.iter_mut().for_each(|x| *x = 0);
        s.rule_stamp.iter_mut().for_each(|x| *x = 0);
        s.stamp = 1;
    }
    let stamp = s.stamp;
    for stamps in [
        &mut s.present,
        &mut s.present_flat,
        &mut s.present_via_empty,
    ] {
        if stamps.len() < c.fields.len() {
            stamps.resize(c.fields.len(), 0);
        }
    }
    if s.term_stamp.len() < c.terms.len() {
        s.term_stamp.resize(c.terms.len(), 0);
    }
    if s.rule_stamp.len() < c.rule_slots {
        s.rule_stamp.resize(c.rule_slots, 0);
    }
    for leaf in s.leaves.iter().filter(|l| l.alive) {
        let f = leaf.field as usize;
        if leaf.via_empty_key {
            s.present_via_empty[f] = stamp;
        } else {
            s.present[f] = stamp;
            if leaf.trail_len == 0 {
                s.present_flat[f] = stamp;
            }
        }
    }
    let leaves = &s.leaves;
    s.hits.retain(|h| {
        let l = &leaves[h.leaf as usize];
        l.alive && !(l.via_empty_key && c.terms[h.term as usize].skips_empty_keys)
    });
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
///
/// The slots are in path order, the order event-ruler walks a rule's fields: a value slot takes
/// one value, array-consistent with those taken before it; an `exists: false` slot holds when
/// no value at its path is array-consistent with the values taken for the slots before it.
fn term_matches(
    info: &TermInfo,
    hits: &[Hit],
    s: &Scratch,
    stamp: u32,
    search: &mut Search,
) -> bool {
    // Every slot is satisfied by some value or absence; the slots that need the search are
    // kept, and whether any value sits in an array (only then can array consistency rule a
    // choice out).
    search.choices.clear();
    search.field_leaves.clear();
    let mut flat = true;
    for (kind, field, range) in slot_hits(info, hits) {
        if kind != SlotKind::Value {
            let f = field as usize;
            let seen = s.present[f] == stamp
                || (!info.skips_empty_keys && s.present_via_empty[f] == stamp);
            if !seen {
                continue;
            }
            // A value outside every array is consistent with any choice: absence fails.
            let absence_fails = s.present_flat[f] == stamp;
            if kind == SlotKind::Absent && absence_fails {
                return false;
            }
            if kind == SlotKind::Absent || !absence_fails {
                flat = false;
                // The field's values, for the absence checks of the search.
                let start = search.field_leaves.len();
                search
                    .field_leaves
                    .extend((0..s.leaves.len() as u32).filter(|&i| {
                        let l = &s.leaves[i as usize];
                        l.alive && l.field == field && !(l.via_empty_key && info.skips_empty_keys)
                    }));
                search.choices.push(Choice {
                    range,
                    absent: Some(start..search.field_leaves.len()),
                });
                continue;
            }
        }
        if range.is_empty() {
            return false;
        }
        flat &= hits[range.clone()]
            .iter()
            .all(|h| s.leaves[h.leaf as usize].trail_len == 0);
        search.choices.push(Choice {
            range,
            absent: None,
        });
    }
    if flat {
        return true;
    }
    search.chosen.clear();
    choose(
        &search.choices,
        &search.field_leaves,
        hits,
        &mut search.chosen,
        s,
    )
}

/// Per slot of the term: its kind, its field, and the range of its hits in `hits`.
fn slot_hits<'h>(
    info: &'h TermInfo,
    hits: &'h [Hit],
) -> impl Iterator<Item = (SlotKind, u32, std::ops::Range<usize>)> + 'h {
    let mut h = 0;
    info.slots
        .iter()
        .enumerate()
        .map(move |(slot, &(kind, field))| {
            let start = h;
            while h < hits.len() && hits[h].slot as usize == slot {
                h += 1;
            }
            (kind, field, start..h)
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
    choices: &[Choice],
    field_leaves: &[u32],
    hits: &[Hit],
    chosen: &mut Vec<u32>,
    s: &Scratch,
) -> bool {
    let Some((first, rest)) = choices.split_first() else {
        return true;
    };
    if let Some(values) = &first.absent {
        let seen = field_leaves[values.clone()]
            .iter()
            .any(|&i| chosen.iter().all(|&o| consistent(trail(s, o), trail(s, i))));
        if !seen && choose(rest, field_leaves, hits, chosen, s) {
            return true;
        }
    }
    for h in &hits[first.range.clone()] {
        let t = trail(s, h.leaf);
        if chosen.iter().all(|&o| consistent(trail(s, o), t)) {
            chosen.push(h.leaf);
            if choose(rest, field_leaves, hits, chosen, s) {
                return true;
            }
            chosen.pop();
        }
    }
    false
}
