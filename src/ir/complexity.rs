//! "Rule is too complex": AWS's measure of how much work a pattern's wildcards can cost.
//!
//! event-ruler matches a field's values with one byte automaton per field (per state of the
//! fields before it) and measures, over every input a field could hold, the largest number of
//! places in its wildcard patterns a reader of that input can be at once. AWS refuses a pattern
//! when that number passes a limit (weir: [`DEFAULT_MAX_COMPLEXITY`]). This module computes
//! the same number for weir's IR:
//!
//! 1. Build the machine as event-ruler builds it from the pattern's terms: each term's leaves
//!    in path order (Java string order); a field's conditions live in a machine reached from
//!    the state the earlier fields lead to. A condition already there leads where it led
//!    before, and the new conditions of one leaf share one next state ("last next state").
//! 2. In each field machine, every time a `wildcard` or `anything-but` `wildcard` condition is
//!    added (an `anything-but` list's values in Java `HashSet` order), its quoted value
//!    (`"` + value + `"`) is added to one byte automaton: a state per position, a star a state
//!    of its own that loops on every byte, the position after a star reachable from the star and
//!    from the position before it. Like event-ruler, a value follows the states already there
//!    while it may reuse them (always before the first star; after one, only through a star,
//!    or a byte that neither leaves a state with a star ahead nor starts a character with case
//!    forms), then builds the rest anew. A value that reuses everything, up to a match of its
//!    condition, leads to that match's state; otherwise to the leaf's shared next state.
//! 3. Explore the sets of states every input reaches (a match is one state per condition and
//!    next machine state, as event-ruler's byte matches compare); a set counts, for each state,
//!    the conditions whose match it can still reach, plus, for each state whose next step is a star
//!    not in the set, the star's. The measure is the largest count over all machines reached
//!    through value conditions (event-ruler's evaluator does not follow `exists: false`).
//!
//! The exploration stops as soon as the count reaches the limit, and after a fixed amount of
//! work (the pattern is then refused as too complex), so compile time stays bounded.

use std::collections::{HashMap, HashSet};

use super::{AnythingBut, Leaf, Matcher, Term, Wildcard, WildcardPiece};

/// The default limit: a pattern whose wildcard measure is above it is refused.
///
/// # Example
/// ```
/// // Measures 10: accepted at the limit; one more star-and-letter measures 11.
/// assert!(weir::Pattern::parse(r#"{"f": [{"wildcard": "*a*b*c*d*e*f*g*h*i"}]}"#).is_ok());
/// assert!(weir::Pattern::parse(r#"{"f": [{"wildcard": "*a*b*c*d*e*f*g*h*i*j"}]}"#).is_err());
/// assert_eq!(weir::ir::DEFAULT_MAX_COMPLEXITY, 10);
/// ```
pub const DEFAULT_MAX_COMPLEXITY: usize = 10;

/// Subset-exploration steps after which a pattern counts as too complex.
const WORK_BUDGET: usize = 4_000_000;

/// A wildcard condition's values: one for `wildcard`, the list for `anything-but`.
type WildPattern<'p> = Vec<&'p Wildcard>;

#[cfg(test)]
/// One field machine's wildcard additions, in event-ruler's order: (condition, values).
type Additions<'p> = Vec<(usize, WildPattern<'p>)>;

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
    for (automaton, start, leaf) in groups {
        let c = explore(&automaton, start, cap);
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

/// One field's machine at one machine state: its non-wildcard conditions with the state each
/// leads to, and the byte automaton of its wildcard conditions.
struct Field {
    index: HashMap<String, usize>,
    automaton: Automaton,
    start: u32,
    wild: bool,
}

impl Default for Field {
    fn default() -> Field {
        let mut automaton = Automaton::default();
        let start = automaton.state(false);
        Field {
            index: HashMap::new(),
            automaton,
            start,
            wild: false,
        }
    }
}

/// Step 1 and 2: the automaton of each (state, field) machine holding wildcard conditions
/// (reachable by value conditions), with a leaf holding one.
fn group(terms: &[Term]) -> Vec<(Automaton, u32, &Leaf)> {
    // fields[(state, path)]: the machine of that field at that state.
    let mut fields: HashMap<(usize, &str), Field> = HashMap::new();
    let mut order: Vec<(usize, &str)> = Vec::new();
    let mut last_leaf: HashMap<(usize, &str), &Leaf> = HashMap::new();
    let mut states = 0usize; // state 0 is the start
                             // Conditions are told apart by their printed form; `ids` numbers them.
    let mut ids: HashMap<String, u32> = HashMap::new();
    // States a value condition (not `exists: false`) leads to, by the state it leads from.
    let mut value_edges: HashMap<usize, Vec<usize>> = HashMap::new();
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
                // event-ruler's "last next state": new conditions of one leaf share one state.
                let mut shared: Option<usize> = None;
                for m in &leaf.matchers {
                    let id = format!("{m:?}");
                    let to = match wild_values(m) {
                        Some(values) => {
                            let known = ids.len() as u32;
                            let cond = *ids.entry(id).or_insert(known);
                            let values = match m {
                                Matcher::AnythingBut(_) => hash_set_order(&values),
                                _ => values,
                            };
                            field.wild = true;
                            let mut to = shared;
                            for w in values {
                                to = Some(field.automaton.add_value(
                                    &tokens(w),
                                    field.start,
                                    cond,
                                    to,
                                    &mut || {
                                        states += 1;
                                        states
                                    },
                                ));
                            }
                            to.unwrap_or_else(|| {
                                states += 1;
                                states
                            })
                        }
                        None => match field.index.get(&id) {
                            Some(&to) => to,
                            None => {
                                let to = *shared.get_or_insert_with(|| {
                                    states += 1;
                                    states
                                });
                                field.index.insert(id, to);
                                to
                            }
                        },
                    };
                    shared = Some(to);
                    if *m != Matcher::Exists(false) {
                        value_edges.entry(state).or_default().push(to);
                    }
                    if !next.contains(&to) {
                        next.push(to);
                    }
                }
                if field.wild {
                    last_leaf.insert(key, leaf);
                }
            }
            current = next;
        }
    }
    // event-ruler's evaluator follows value matches only: a field reached only through an
    // `exists: false` is not measured.
    let mut reachable: HashSet<usize> = HashSet::from([0]);
    let mut queue = vec![0];
    while let Some(state) = queue.pop() {
        for &to in value_edges.get(&state).into_iter().flatten() {
            if reachable.insert(to) {
                queue.push(to);
            }
        }
    }
    order
        .into_iter()
        .filter(|(state, _)| reachable.contains(state))
        .filter_map(|key| {
            let leaf = *last_leaf.get(&key)?;
            let field = fields.remove(&key)?;
            Some((field.automaton, field.start, leaf))
        })
        .collect()
}

/// One byte of a quoted wildcard value, or a star; for a byte, whether it starts a character
/// and whether that character has case forms (event-ruler shares states differently then).
#[derive(Clone, Copy, PartialEq)]
enum Token {
    Byte { b: u8, starts: bool, cased: bool },
    Star,
}

fn tokens(w: &Wildcard) -> Vec<Token> {
    let byte = |b: u8| Token::Byte {
        b,
        starts: true,
        cased: false,
    };
    let mut out = vec![byte(b'"')];
    for piece in w.pieces() {
        match piece {
            WildcardPiece::Literal(l) => {
                for c in l.chars() {
                    // As event-ruler decides it: the lower and upper case forms of the Java
                    // `char` differ (never for a character outside the BMP, whose surrogates
                    // have no case).
                    let cased = u32::from(c) <= 0xFFFF && c.to_lowercase().ne(c.to_uppercase());
                    let mut buf = [0u8; 4];
                    for (i, &b) in c.encode_utf8(&mut buf).as_bytes().iter().enumerate() {
                        out.push(Token::Byte {
                            b,
                            starts: i == 0,
                            cased: i == 0 && cased,
                        });
                    }
                }
            }
            WildcardPiece::Star => out.push(Token::Star),
        }
    }
    out.push(byte(b'"'));
    out
}

/// Step 2's automaton, shared by all conditions of one field as event-ruler's byte machine is.
#[derive(Default)]
struct Automaton {
    /// Per state: byte edges (a byte may lead to several states).
    bytes: Vec<Vec<(u8, u32)>>,
    /// Per state: its every-byte edge (to a star's looping state).
    any: Vec<Option<u32>>,
    /// Per state: created after a star (event-ruler's "indeterminate prefix").
    after_star: Vec<bool>,
    /// Per state: the condition it is the match of, and the machine state that match leads to.
    matches: Vec<Option<(u32, usize)>>,
    /// The match state of each (condition, machine state).
    match_of: HashMap<(u32, usize), u32>,
    /// Literal bytes anywhere (other bytes all behave alike).
    alphabet: HashSet<u8>,
}

impl Automaton {
    fn state(&mut self, after_star: bool) -> u32 {
        self.bytes.push(Vec::new());
        self.any.push(None);
        self.after_star.push(after_star);
        self.matches.push(None);
        (self.bytes.len() - 1) as u32
    }

    fn add_byte(&mut self, from: u32, byte: u8, to: u32) {
        let edges = &mut self.bytes[from as usize];
        if !edges.contains(&(byte, to)) {
            edges.push((byte, to));
        }
        self.alphabet.insert(byte);
    }

    /// Adds one value of condition `cond` the way event-ruler's byte machine does: it follows
    /// the states already there as long as it may reuse them, then builds the rest anew. Returns
    /// the machine state the value leads to: that of the condition's match it ends on when it
    /// was all reused, else `next` (or a new one from `new_state`).
    fn add_value(
        &mut self,
        t: &[Token],
        start: u32,
        cond: u32,
        next: Option<usize>,
        new_state: &mut dyn FnMut() -> usize,
    ) -> usize {
        let n = t.len();
        let (mut at, mut before, mut i) = (start, None::<u32>, 0);
        while i + 1 < n {
            let next = match t[i] {
                Token::Star => self.any[at as usize].filter(|&w| w != at),
                Token::Byte { b, starts, cased } => {
                    let pre_star = self.any[at as usize].is_some_and(|w| w != at);
                    self.bytes[at as usize]
                        .iter()
                        .filter(|&&(x, to)| x == b && to != at)
                        .map(|&(_, to)| to)
                        .find(|&to| {
                            !self.after_star[to as usize] || !(starts && (pre_star || cased))
                        })
                }
            };
            let Some(next) = next else { break };
            before = Some(at);
            at = next;
            i += 1;
        }
        if i + 1 == n {
            if let Token::Byte { b, .. } = t[i] {
                let found = self.bytes[at as usize]
                    .iter()
                    .filter(|&&(x, _)| x == b)
                    .find_map(|&(_, to)| self.matches[to as usize].filter(|(c, _)| *c == cond));
                if let Some((_, state)) = found {
                    return state;
                }
            }
        }
        let target = next.unwrap_or_else(new_state);
        let mut after_star = t[..i].contains(&Token::Star);
        let mut pre = before.filter(|_| i > 0 && t[i - 1] == Token::Star);
        let mut cur = at;
        for (k, tok) in t.iter().enumerate().skip(i) {
            match *tok {
                Token::Star => {
                    let w = self.state(true);
                    self.any[cur as usize] = Some(w);
                    self.any[w as usize] = Some(w);
                    pre = Some(cur);
                    cur = w;
                    after_star = true;
                }
                Token::Byte { b, .. } => {
                    // A match is its condition and the state it leads to (event-ruler's byte
                    // matches are equal, and count once, when both are).
                    let to = if k + 1 == n {
                        match self.match_of.get(&(cond, target)) {
                            Some(&m) => m,
                            None => {
                                let m = self.state(false);
                                self.matches[m as usize] = Some((cond, target));
                                self.match_of.insert((cond, target), m);
                                m
                            }
                        }
                    } else {
                        self.state(after_star)
                    };
                    self.add_byte(cur, b, to);
                    if let Some(p) = pre.take() {
                        self.add_byte(p, b, to);
                    }
                    cur = to;
                }
            }
        }
        target
    }
}

/// Java's `String.hashCode`.
fn java_hash(s: &str) -> u32 {
    s.encode_utf16()
        .fold(0u32, |h, u| h.wrapping_mul(31).wrapping_add(u32::from(u)))
}

/// An `anything-but` list's values in the order event-ruler adds them: a Java `HashSet` of the
/// quoted values, iterated bucket by bucket.
fn hash_set_order<'w>(values: &[&'w Wildcard]) -> Vec<&'w Wildcard> {
    let mut distinct: Vec<&Wildcard> = Vec::new();
    for w in values {
        if !distinct.iter().any(|d| d.text() == w.text()) {
            distinct.push(w);
        }
    }
    let mut capacity = 16usize;
    while distinct.len() * 4 > capacity * 3 {
        capacity *= 2;
    }
    let bucket = |w: &Wildcard| {
        let h = java_hash(&format!("\"{}\"", w.text()));
        (h ^ (h >> 16)) as usize & (capacity - 1)
    };
    distinct.sort_by_key(|w| bucket(w));
    distinct
}

/// The measure of one field holding `additions`: (condition, values) in the order
/// event-ruler adds them.
#[cfg(test)]
fn automaton_measure(additions: &[(usize, Vec<&Wildcard>)], cap: usize) -> Option<usize> {
    let mut a = Automaton::default();
    let start = a.state(false);
    let mut states = 0usize;
    for (condition, values) in additions {
        let mut next = None;
        for w in values {
            next = Some(
                a.add_value(&tokens(w), start, *condition as u32, next, &mut || {
                    states += 1;
                    states
                }),
            );
        }
    }
    explore(&a, start, cap)
}

/// Step 3: the largest count over the state sets inputs reach, capped at `cap`; `None` when
/// the exploration runs out of work budget.
fn explore(a: &Automaton, start: u32, cap: usize) -> Option<usize> {
    // How many conditions each state can still reach a match of. Edges only go deeper (or
    // loop), so states are settled deepest first: a state's successors were created after it
    // or are itself.
    let states = a.bytes.len();
    let mut reach: Vec<Vec<u32>> = a
        .matches
        .iter()
        .map(|m| m.iter().map(|&(c, _)| c).collect())
        .collect();
    for x in (0..states).rev() {
        if a.matches[x].is_some() {
            continue;
        }
        let mut r: Vec<u32> = Vec::new();
        for to in a.bytes[x].iter().map(|&(_, to)| to).chain(a.any[x]) {
            if to as usize != x {
                r.extend_from_slice(&reach[to as usize]);
            }
        }
        r.sort_unstable();
        r.dedup();
        reach[x] = r;
    }
    let weight = |x: u32| reach[x as usize].len();
    // A byte no literal uses stands for all of them.
    let other = (0..=255u8).find(|b| !a.alphabet.contains(b));
    let mut alphabet: Vec<u8> = a.alphabet.iter().copied().chain(other).collect();
    alphabet.sort_unstable();
    let mut seen: HashSet<Vec<u32>> = HashSet::new();
    seen.insert(vec![start]);
    let mut queue = vec![vec![start]];
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
            let stars_ahead: usize = next
                .iter()
                .filter_map(|&s| a.any[s as usize])
                .filter(|star| next.binary_search(star).is_err())
                .map(weight)
                .sum();
            let size = next.iter().map(|&s| weight(s)).sum::<usize>() + stars_ahead;
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
        let all: Vec<Wildcard> = values
            .iter()
            .map(|v| parse(v.strip_prefix('!').unwrap_or(v)))
            .collect();
        // Plain values: one condition per distinct text, one addition each, in order; the
        // marked values: one anything-but list, added last.
        let mut additions: Additions<'_> = Vec::new();
        let mut ids: Vec<&str> = Vec::new();
        for (v, w) in values.iter().zip(&all) {
            if !v.starts_with('!') {
                let id = ids.iter().position(|x| x == v).unwrap_or_else(|| {
                    ids.push(v);
                    ids.len() - 1
                });
                additions.push((id, vec![w]));
            }
        }
        let but: Vec<&Wildcard> = values
            .iter()
            .zip(&all)
            .filter(|(v, _)| v.starts_with('!'))
            .map(|(_, w)| w)
            .collect();
        if !but.is_empty() {
            additions.push((usize::MAX, hash_set_order(&but)));
        }
        automaton_measure(&additions, 1000).unwrap()
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
            // A repeated condition adds its states again, except what it can share.
            (&["*a*a", "*a*a"], 7),
            (&["*a*a", "*a*a", "*a*a"], 10),
            (&["x*y*z*", "x*y*z*"], 7),
            (&["*:*:*", "*:*:*"], 5),
            (&["a*", "a*"], 2),
            (&["*é", "*é"], 3),
            (&["!*a*a", "!*a*a"], 4),
            // Case decides the sharing after a star; characters outside the BMP never have it.
            (&["*\u{10400}", "*\u{10400}"], 2),
            (&["*e", "*e"], 3),
            (&["*1", "*1"], 2),
        ];
        for (values, want) in cases {
            assert_eq!(field(values), *want, "{values:?}");
        }
    }

    #[test]
    fn exploration_stops_at_the_cap() {
        let w = Wildcard::parse(&"*a".repeat(2000)).unwrap();
        assert_eq!(automaton_measure(&[(0, vec![&w])], 10), Some(10));
        let w = Wildcard::parse(&format!("{}*", "*é".repeat(2000))).unwrap();
        assert_eq!(automaton_measure(&[(0, vec![&w])], 11), Some(11));
        // Without a useful cap, the work budget ends the exploration.
        let w = Wildcard::parse(&"*a*b*aa".repeat(500)).unwrap();
        assert_eq!(automaton_measure(&[(0, vec![&w])], usize::MAX), None);
    }
}
