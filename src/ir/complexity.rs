//! "Rule is too complex": AWS's measure of how much work a pattern's wildcards can cost.
//!
//! event-ruler matches a field's values with one byte automaton per field (per state of the
//! fields before it) and measures, over every input a field could hold, the largest number of
//! places in its wildcard patterns a reader of that input can be at once. AWS refuses a pattern
//! when that number passes a limit (weir: [`DEFAULT_MAX_COMPLEXITY`]). This module computes
//! the same number for weir's IR:
//!
//! 1. Group the wildcard conditions the way event-ruler's machine would hold them: each term's
//!    leaves in path order (Java string order), a field's conditions reached from the state the
//!    earlier fields lead to. A condition already present in a group leads where it led before;
//!    the new conditions of one leaf share one next state.
//! 2. For each group, build the automaton of its distinct `wildcard` and `anything-but`
//!    `wildcard` conditions over the quoted value bytes (`"` + value + `"`): a state per
//!    position, a star a state of its own that loops on every byte, and the positions after a
//!    star reachable both from the star and from the position before it. The values of one
//!    `anything-but` list share their states up to and including their first star.
//! 3. Explore the sets of states every input reaches; a set counts its states, plus, for each
//!    state whose next step is a star not in the set, that star. The measure is the largest
//!    count, over all groups.
//!
//! The exploration stops as soon as the count reaches the limit, and after a fixed amount of
//! work (the pattern is then refused as too complex), so compile time stays bounded.

use std::collections::{HashMap, HashSet};

use super::{AnythingBut, Leaf, Matcher, Term, Wildcard, WildcardPiece};

/// The default limit: a pattern whose wildcard measure is above it is refused.
pub const DEFAULT_MAX_COMPLEXITY: usize = 10;

/// Subset-exploration steps after which a pattern counts as too complex.
const WORK_BUDGET: usize = 4_000_000;

/// A wildcard condition as event-ruler counts it: one pattern with one or more values.
type WildPattern<'p> = Vec<&'p Wildcard>;

/// The wildcard measure of `terms`, capped at `cap` (`None` past the work budget); with the
/// leaf that reaches it last (for the error's position). `None` when no leaf holds a wildcard.
pub(super) fn measure(terms: &[Term], cap: usize) -> Option<(Option<usize>, &Leaf)> {
    if !terms
        .iter()
        .flat_map(|t| &t.leaves)
        .any(|l| l.matchers.iter().any(|m| wild_values(m).is_some()))
    {
        return None;
    }
    let groups = group(terms);
    let mut worst: Option<(Option<usize>, &Leaf)> = None;
    for (patterns, leaf) in groups {
        let c = automaton_measure(&patterns, cap);
        if worst.is_none_or(|(w, _)| w.is_some_and(|w| c.is_none_or(|c| c > w))) {
            worst = Some((c, leaf));
        }
        if c.is_none_or(|c| c >= cap) {
            break;
        }
    }
    worst
}

/// The values of a condition that counts (`wildcard`, `anything-but` `wildcard`).
fn wild_values(m: &Matcher) -> Option<WildPattern<'_>> {
    match m {
        Matcher::Wildcard(w) => Some(vec![w]),
        Matcher::AnythingBut(AnythingBut::Wildcard(ws)) => Some(ws.iter().collect()),
        _ => None,
    }
}

/// One field's conditions at one machine state: the conditions with the state each leads to.
#[derive(Default)]
struct Field<'p> {
    conditions: Vec<(&'p Matcher, usize)>,
    index: HashMap<String, usize>,
}

/// Step 1: the wildcard conditions of each (state, field) group, with a leaf holding one.
fn group(terms: &[Term]) -> Vec<(Vec<WildPattern<'_>>, &Leaf)> {
    // fields[(state, path)] = conditions added there.
    let mut fields: HashMap<(usize, &str), Field<'_>> = HashMap::new();
    let mut order: Vec<(usize, &str)> = Vec::new();
    let mut last_leaf: HashMap<(usize, &str), &Leaf> = HashMap::new();
    let mut states = 1usize; // state 0 is the start
    for term in terms {
        let mut leaves: Vec<&Leaf> = term.leaves.iter().collect();
        leaves.sort_by(|a, b| super::java_order(&a.path, &b.path));
        let mut current: Vec<usize> = vec![0];
        for leaf in leaves {
            let mut next: Vec<usize> = Vec::new();
            for &state in &current {
                let key = (state, leaf.path.as_str());
                let field = fields.entry(key).or_insert_with(|| {
                    order.push(key);
                    Field::default()
                });
                let mut shared: Option<usize> = None;
                for m in &leaf.matchers {
                    let id = format!("{m:?}");
                    let to = match field.index.get(&id) {
                        Some(&i) => field.conditions[i].1,
                        None => {
                            let to = *shared.get_or_insert_with(|| {
                                states += 1;
                                states - 1
                            });
                            field.index.insert(id, field.conditions.len());
                            field.conditions.push((m, to));
                            to
                        }
                    };
                    shared = Some(to);
                    if !next.contains(&to) {
                        next.push(to);
                    }
                }
                if leaf.matchers.iter().any(|m| wild_values(m).is_some()) {
                    last_leaf.insert(key, leaf);
                }
            }
            current = next;
        }
    }
    order
        .into_iter()
        .filter_map(|key| {
            let leaf = last_leaf.get(&key)?;
            let patterns = fields[&key]
                .conditions
                .iter()
                .filter_map(|(m, _)| wild_values(m))
                .collect();
            Some((patterns, *leaf))
        })
        .collect()
}

/// One byte of a quoted wildcard value, or a star.
#[derive(Clone, Copy, PartialEq)]
enum Token {
    Byte(u8),
    Star,
}

fn tokens(w: &Wildcard) -> Vec<Token> {
    let mut out = vec![Token::Byte(b'"')];
    for piece in w.pieces() {
        match piece {
            WildcardPiece::Literal(l) => out.extend(l.bytes().map(Token::Byte)),
            WildcardPiece::Star => out.push(Token::Star),
        }
    }
    out.push(Token::Byte(b'"'));
    out
}

/// Step 2's automaton: per state, its byte edges and its every-byte edge.
#[derive(Default)]
struct Automaton {
    bytes: Vec<Vec<(u8, u32)>>,
    any: Vec<Option<u32>>,
    /// Literal bytes anywhere (other bytes all behave alike).
    alphabet: HashSet<u8>,
}

impl Automaton {
    fn state(&mut self) -> u32 {
        self.bytes.push(Vec::new());
        self.any.push(None);
        (self.bytes.len() - 1) as u32
    }

    fn add_byte(&mut self, from: u32, byte: u8, to: u32) {
        let edges = &mut self.bytes[from as usize];
        if !edges.contains(&(byte, to)) {
            edges.push((byte, to));
        }
        self.alphabet.insert(byte);
    }
}

/// Where each position of one value lives: `P` (a position) or `W` (a star's loop), keyed by
/// the shared prefix or by (value, position).
#[derive(Clone, PartialEq, Eq, Hash)]
enum Place {
    Shared(bool, Vec<u8>),
    Own(bool, usize, usize),
}

/// Adds one pattern (its values) to `a`; returns its start state.
fn add_pattern(a: &mut Automaton, values: &[&Wildcard]) -> u32 {
    let mut places: HashMap<Place, u32> = HashMap::new();
    let matched = a.state();
    let start = a.state();
    places.insert(Place::Shared(false, Vec::new()), start);
    for (vi, w) in values.iter().enumerate() {
        let t = tokens(w);
        let n = t.len();
        let first_star = t.iter().position(|x| *x == Token::Star).unwrap_or(n);
        let prefix = |k: usize| -> Vec<u8> {
            t[..k]
                .iter()
                .map(|x| match x {
                    Token::Byte(b) => *b,
                    Token::Star => b'*',
                })
                .collect()
        };
        let place = |star: bool, k: usize| {
            if k <= first_star {
                Place::Shared(star, prefix(k))
            } else {
                Place::Own(star, vi, k)
            }
        };
        let mut state_of =
            |a: &mut Automaton, p: Place| *places.entry(p).or_insert_with(|| a.state());
        // The edges "of position k", given to `from`.
        fn edges_of(
            a: &mut Automaton,
            t: &[Token],
            k: usize,
            from: u32,
            matched: u32,
            state_of: &mut dyn FnMut(&mut Automaton, bool, usize) -> u32,
        ) {
            match t.get(k) {
                None => {}
                Some(Token::Byte(b)) => {
                    let to = if k + 1 == t.len() {
                        matched
                    } else {
                        state_of(a, false, k + 1)
                    };
                    a.add_byte(from, *b, to);
                }
                Some(Token::Star) => {
                    let star = state_of(a, true, k);
                    a.any[from as usize] = Some(star);
                    edges_of(a, t, k + 1, from, matched, state_of);
                }
            }
        }
        let mut lookup = |a: &mut Automaton, star: bool, k: usize| state_of(a, place(star, k));
        for k in 0..n {
            if k > 0 && t[k - 1] == Token::Star {
                continue;
            }
            let from = lookup(a, false, k);
            edges_of(a, &t, k, from, matched, &mut lookup);
            if t[k] == Token::Star {
                let star = lookup(a, true, k);
                a.any[star as usize] = Some(star);
                edges_of(a, &t, k + 1, star, matched, &mut lookup);
            }
        }
    }
    start
}

/// Step 3: the largest count over the state sets inputs reach, capped at `cap`; `None` when
/// the exploration runs out of work budget.
fn automaton_measure(patterns: &[WildPattern<'_>], cap: usize) -> Option<usize> {
    // `patterns` are distinct conditions (a `wildcard` and an `anything-but` list of the same
    // value are two).
    let mut a = Automaton::default();
    let mut start: Vec<u32> = patterns.iter().map(|p| add_pattern(&mut a, p)).collect();
    start.sort_unstable();
    // A byte no literal uses stands for all of them.
    let other = (0..=255u8).find(|b| !a.alphabet.contains(b));
    let mut alphabet: Vec<u8> = a.alphabet.iter().copied().chain(other).collect();
    alphabet.sort_unstable();
    let mut seen: HashSet<Vec<u32>> = HashSet::new();
    seen.insert(start.clone());
    let mut queue = vec![start];
    let mut best = 0;
    let mut work = 0usize;
    let mut next: Vec<u32> = Vec::new();
    while let Some(set) = queue.pop() {
        for &byte in &alphabet {
            work += 1 + set.len();
            if work > WORK_BUDGET {
                return None;
            }
            next.clear();
            for &s in &set {
                let s = s as usize;
                next.extend(
                    a.bytes[s]
                        .iter()
                        .filter(|(b, _)| *b == byte)
                        .map(|(_, to)| *to),
                );
                next.extend(a.any[s]);
            }
            if next.is_empty() {
                continue;
            }
            next.sort_unstable();
            next.dedup();
            let stars_ahead = next
                .iter()
                .filter_map(|&s| a.any[s as usize])
                .filter(|star| next.binary_search(star).is_err())
                .count();
            let size = next.len() + stars_ahead;
            if size >= cap {
                return Some(cap);
            }
            best = best.max(size);
            if !seen.contains(&next) {
                seen.insert(next.clone());
                queue.push(next.clone());
            }
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The measure of one field holding the given conditions: each plain value a `wildcard`,
    /// the values marked `!` together one `anything-but` `wildcard` list.
    fn field(values: &[&str]) -> usize {
        let parse = |v: &str| Wildcard::parse(v).unwrap();
        let plain: Vec<Wildcard> = values
            .iter()
            .filter(|v| !v.starts_with('!'))
            .map(|v| parse(v))
            .collect();
        let but: Vec<Wildcard> = values
            .iter()
            .filter_map(|v| v.strip_prefix('!'))
            .map(parse)
            .collect();
        let mut patterns: Vec<WildPattern<'_>> = plain.iter().map(|w| vec![w]).collect();
        if !but.is_empty() {
            patterns.push(but.iter().collect());
        }
        automaton_measure(&patterns, 1000).unwrap()
    }

    /// Values event-ruler's evaluator gives for the same byte machines.
    #[test]
    fn measures_agree_with_event_ruler() {
        let cases: &[(&[&str], usize)] = &[
            (&["/Users/*/dir/dir/dir/dir/dir/doc.txt"], 7),
            (&["*:*:*:*:*:event-bus/*"], 11),
            (&["arn:aws:events:*:*:event-bus/*"], 5),
            (&["a*"], 2),
            (&["*"], 2),
            (&["a*b"], 2),
            (&["*a*b*c"], 4),
            (&["a*", "a*b*"], 5),
            (&["*a", "*a*"], 5),
            (&["*a", "!*a"], 4),
            (&["x*y*z", "!x*y", "!*z"], 6),
            // One anything-but list: its values share states up to their first star.
            (&["!a*", "!a*b*"], 3),
            (&["!*a", "!*ab"], 3),
            (&["!*a", "!*ab*"], 4),
            (&["!a", "!a*"], 2),
            (&[r"!\\*", r"!*a\\ü\*", r"!*aü*aü\*"], 6),
            (&["!*a", "!*ébüü*"], 4),
        ];
        for (values, want) in cases {
            assert_eq!(field(values), *want, "{values:?}");
        }
    }

    #[test]
    fn exploration_stops_at_the_cap() {
        let w = Wildcard::parse(&"*a".repeat(2000)).unwrap();
        assert_eq!(automaton_measure(&[vec![&w]], 10), Some(10));
        let w = Wildcard::parse(&format!("{}*", "*é".repeat(2000))).unwrap();
        assert_eq!(automaton_measure(&[vec![&w]], 11), Some(11));
        // Without a useful cap, the work budget ends the exploration.
        let w = Wildcard::parse(&"*a*b*aa".repeat(500)).unwrap();
        assert_eq!(automaton_measure(&[vec![&w]], usize::MAX), None);
    }
}
