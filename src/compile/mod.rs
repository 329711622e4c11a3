//! Stage 3: many validated patterns -> one matching structure.
//!
//! Every field path any rule names becomes a node of a path trie (keys split on `.`, so
//! `{"a": {"b": ..}}` and `{"a.b": ..}` meet at the same node) carrying a [`Field`]: the value
//! tests of every rule on that path, indexed so an event value is looked up, not compared with
//! each rule. Each conjunction ([`crate::ir::Term`]) of each rule gets a term id; a value test
//! that passes yields `(term, slot)` targets. The matcher then checks which terms got every slot
//! filled by array-consistent values.
//!
//! The structure is updated in place by [`Compiled::add`] and [`Compiled::remove`]. Removal
//! gives memory back: a term, field or trie node no live rule uses is freed (its slot reused
//! by a later one, or dropped when last), and emptied tables shrink.

use std::fmt;

use rustc_hash::FxHashMap;

use crate::ir::{
    case_key, number_spelling, parse_ip, AnythingBut, Cidr, Leaf, Literal, Matcher, Range, Term,
    Wildcard,
};

/// Index of a term (one conjunction of one rule).
pub(crate) type TermId = u32;

/// What a passing value test feeds: slot `slot` of term `term`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub term: TermId,
    pub slot: u16,
}

/// How a slot of a term is satisfied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotKind {
    /// A value on the path must pass.
    Value,
    /// The path must be absent (`exists: false` alone).
    Absent,
    /// A value must pass, or the path be absent (`exists: false` beside other tests).
    ValueOrAbsent,
}

impl SlotKind {
    /// How `leaf` is satisfied: the one place that reads `exists: false` for both the
    /// matcher and `explain`.
    pub fn of(leaf: &Leaf) -> SlotKind {
        if leaf.is_absence() {
            SlotKind::Absent
        } else if leaf.allows_absence() {
            SlotKind::ValueOrAbsent
        } else {
            SlotKind::Value
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct TermInfo {
    /// The rules this term belongs to (several when rules share an identical term).
    pub rules: Vec<u32>,
    pub alive: bool,
    /// Whether the term is in `Compiled::shared`.
    shared: bool,
    /// Per slot, in path order (Java string order, as event-ruler walks a rule's fields): its
    /// kind and field. Empty once the term is dead.
    pub slots: Vec<(SlotKind, u32)>,
    /// The rule names no empty path step, so event keys that are exactly `""` are invisible to
    /// it (event-ruler reads only the keys some rule's path steps name).
    pub skips_empty_keys: bool,
}

/// The value tests of every rule on one field path.
#[derive(Clone, Default, Debug)]
pub(crate) struct Field {
    pub path: String,
    pub strings: FxHashMap<Box<[u8]>, Vec<Target>>,
    /// Numbers that name a double exactly, by the double's bits (`-0` stored as `0`).
    pub numbers: FxHashMap<u64, Vec<Target>>,
    /// Numbers compared by text: over-precise literals and the numbers-as-strings option.
    pub number_texts: FxHashMap<Box<[u8]>, Vec<Target>>,
    pub ips: FxHashMap<[u8; 16], Vec<Target>>,
    pub trues: Vec<Target>,
    pub falses: Vec<Target>,
    pub nulls: Vec<Target>,
    /// `exists: true`: any value.
    pub any: Vec<Target>,
    /// `equals-ignore-case` values written in ASCII, by their ASCII lower case: they match
    /// exactly the ASCII texts of that lower case.
    pub folded: FxHashMap<Box<[u8]>, Vec<Target>>,
    /// The other `equals-ignore-case` values, by their case key (`crate::ir::case_key`), each
    /// distinct value with the targets it feeds: a text with the key is a candidate, confirmed
    /// with `crate::ir::eq_ignore_case`.
    pub folded_unicode: FxHashMap<Box<[u8]>, Vec<IgnoreCaseValue>>,
    /// Bit [`len_bit`] of the length of each key of `strings`: a text of another length is
    /// not looked up.
    pub string_lens: u64,
    /// The same for the keys of `folded` (an ASCII text folds to its own length).
    pub folded_lens: u64,
    /// Tests checked one by one (prefix, suffix, wildcard, numeric, anything-but, cidr), each
    /// distinct test once with every target it feeds.
    pub scans: Vec<(Scan, Vec<Target>)>,
    /// Where each distinct scanned test is in `scans`, by its printed form.
    scan_index: FxHashMap<String, usize>,
    /// How many slots of live terms name this field; 0 for a free field.
    uses: u32,
}

/// An `equals-ignore-case` value as written, with the targets it feeds.
pub(crate) type IgnoreCaseValue = (Box<str>, Vec<Target>);

/// A value test that is not a lookup.
#[derive(Clone, Debug)]
pub(crate) enum Scan {
    Prefix(Box<[u8]>),
    Suffix(Box<[u8]>),
    /// `prefix` with `equals-ignore-case`: the operand as written.
    PrefixIgnoreCase(String),
    /// `suffix` with `equals-ignore-case`: the operand as written.
    SuffixIgnoreCase(String),
    Wildcard(Wildcard),
    Numeric(Range),
    Cidr(Cidr),
    Not(AnythingBut),
}

/// A node of the path trie. A node other than the root has a field or children: one left
/// with neither is taken out of the trie.
#[derive(Clone, Default, Debug)]
pub(crate) struct Node {
    pub children: Children,
    pub field: Option<u32>,
    /// Whether some child has children: only then can a dotted event key (`"a.b"`) lead
    /// anywhere from here.
    pub deep: bool,
    /// Bit `min(n, 63)` is set when some child's key is `n` bytes long: most keys of an
    /// event that no rule names are turned away by their length alone.
    pub key_lens: u64,
    /// Bit [`key_head`] of each child's key is set: with `key_lens`, the keys of the same
    /// length as a child's but of another first byte are turned away without a lookup.
    pub key_heads: u64,
}

impl Node {
    /// The child for the key segment `key`, turning most other keys away by their length
    /// and first byte before any lookup.
    #[inline(always)]
    pub fn child(&self, key: &[u8]) -> Option<u32> {
        if self.key_lens & len_bit(key.len()) != 0 && self.key_heads >> key_head(key) & 1 == 1 {
            self.children.get(key)
        } else {
            None
        }
    }
}

/// Up to how many ASCII `equals-ignore-case` values of a field (with none beyond ASCII) a
/// text is compared with one by one rather than folded and looked up in [`Field::folded`].
pub(crate) const FEW_FOLDED: usize = 4;

/// The bit of a text or key of `len` bytes in [`Node::key_lens`], [`Field::string_lens`] and
/// [`Field::folded_lens`] (all lengths from 63 on share the top bit).
#[inline(always)]
pub(crate) fn len_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// The bit of `key` in [`Node::key_heads`]: its first byte's low 6 bits (0 for `""`).
#[inline(always)]
pub(crate) fn key_head(key: &[u8]) -> u32 {
    key.first().map_or(0, |&b| u32::from(b & 63))
}

/// Up to this many children are searched in a list; more go into a hash map.
const SMALL_CHILDREN: usize = 8;

/// The children of a trie node by key segment: a short list (most nodes have a handful of
/// children, and comparing a few short keys beats hashing) or a hash map.
#[derive(Clone, Debug)]
pub(crate) enum Children {
    Few(Vec<(Box<[u8]>, u32)>),
    Many(FxHashMap<Box<[u8]>, u32>),
}

impl Default for Children {
    fn default() -> Children {
        Children::Few(Vec::new())
    }
}

/// Whether two keys are equal, without a call for the short keys events are made of: two
/// overlapping word loads cover 4 to 16 bytes.
#[inline(always)]
fn same_key(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8"));
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4"));
    match n {
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

impl Children {
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<u32> {
        match self {
            Children::Few(list) => list.iter().find(|(k, _)| same_key(k, key)).map(|&(_, c)| c),
            Children::Many(map) => map.get(key).copied(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Children::Few(list) => list.len(),
            Children::Many(map) => map.len(),
        }
    }

    fn insert(&mut self, key: &[u8], child: u32) {
        match self {
            Children::Few(list) if list.len() < SMALL_CHILDREN => list.push((key.into(), child)),
            Children::Few(list) => {
                let mut map: FxHashMap<Box<[u8]>, u32> = list.drain(..).collect();
                map.insert(key.into(), child);
                *self = Children::Many(map);
            }
            Children::Many(map) => {
                map.insert(key.into(), child);
            }
        }
    }

    fn remove(&mut self, key: &[u8]) {
        match self {
            Children::Few(list) => {
                if let Some(i) = list.iter().position(|(k, _)| **k == *key) {
                    list.swap_remove(i);
                }
                shrink_vec(list);
            }
            Children::Many(map) => {
                map.remove(key);
                if map.len() <= SMALL_CHILDREN {
                    *self = Children::Few(map.drain().collect());
                } else {
                    shrink_map(map);
                }
            }
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], u32)) {
        match self {
            Children::Few(list) => list.iter().for_each(|(k, c)| f(k, *c)),
            Children::Many(map) => map.iter().for_each(|(k, c)| f(k, *c)),
        }
    }
}

/// Every rule's tests, indexed for lookup.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub nodes: Vec<Node>,
    pub fields: Vec<Field>,
    pub terms: Vec<TermInfo>,
    /// Terms with no `Value` slot: checked for every event.
    pub unconditional: Vec<TermId>,
    /// One more than the largest rule id registered.
    pub rule_slots: usize,
    /// Live terms holding a scanned test, by their printed form: a rule repeating such a term
    /// shares it (one check feeds every rule), as scanned tests are the costly ones.
    shared: FxHashMap<String, TermId>,
    /// Free slots of `terms`, `fields` and `nodes` (below their lengths), taken by the next
    /// ones made.
    free_terms: Vec<TermId>,
    free_fields: Vec<u32>,
    free_nodes: Vec<u32>,
}

impl Default for Compiled {
    fn default() -> Compiled {
        Compiled {
            nodes: vec![Node::default()],
            fields: Vec::new(),
            terms: Vec::new(),
            unconditional: Vec::new(),
            rule_slots: 0,
            shared: FxHashMap::default(),
            free_terms: Vec::new(),
            free_fields: Vec::new(),
            free_nodes: Vec::new(),
        }
    }
}

impl Compiled {
    fn field_for(&mut self, path: &str) -> u32 {
        let mut node = 0usize;
        let segments = path.split('.').count();
        for (depth, segment) in path.split('.').enumerate() {
            // Every node of the path but the last two has a grandchild on it.
            if depth + 1 < segments {
                self.nodes[node].deep = true;
            }
            let child = match self.nodes[node].children.get(segment.as_bytes()) {
                Some(c) => c,
                None => {
                    let next = take_slot(&mut self.nodes, &mut self.free_nodes);
                    self.nodes[node].children.insert(segment.as_bytes(), next);
                    self.nodes[node].key_lens |= len_bit(segment.len());
                    self.nodes[node].key_heads |= 1 << key_head(segment.as_bytes());
                    next
                }
            };
            node = child as usize;
        }
        match self.nodes[node].field {
            Some(f) => f,
            None => {
                let f = take_slot(&mut self.fields, &mut self.free_fields);
                self.fields[f as usize].path = path.to_string();
                self.nodes[node].field = Some(f);
                f
            }
        }
    }

    /// Registers the terms of one rule; returns their ids. `skips_empty_keys`: see
    /// [`TermInfo::skips_empty_keys`].
    pub fn add(&mut self, rule: u32, terms: &[Term], skips_empty_keys: bool) -> Vec<TermId> {
        let mut ids = Vec::with_capacity(terms.len());
        self.rule_slots = self.rule_slots.max(rule as usize + 1);
        for term in terms {
            let key = share_key(term).map(|k| format!("{}{k}", u8::from(skips_empty_keys)));
            if let Some(&id) = key.as_ref().and_then(|k| self.shared.get(k)) {
                let rules = &mut self.terms[id as usize].rules;
                if !rules.contains(&rule) {
                    rules.push(rule);
                }
                ids.push(id);
                continue;
            }
            let id = take_slot(&mut self.terms, &mut self.free_terms);
            let mut slots = Vec::with_capacity(term.leaves.len());
            let mut ordered: Vec<&crate::ir::Leaf> = term.leaves.iter().collect();
            ordered.sort_by(|a, b| crate::ir::java_order(&a.path, &b.path));
            for (slot, leaf) in ordered.into_iter().enumerate() {
                let field = self.field_for(&leaf.path);
                self.fields[field as usize].uses += 1;
                let kind = SlotKind::of(leaf);
                slots.push((kind, field));
                let target = Target {
                    term: id,
                    slot: slot as u16,
                };
                for m in &leaf.matchers {
                    self.fields[field as usize].add(m, target);
                }
            }
            if !slots.iter().any(|(k, _)| *k == SlotKind::Value) {
                self.unconditional.push(id);
            }
            self.terms[id as usize] = TermInfo {
                rules: vec![rule],
                alive: true,
                shared: key.is_some(),
                slots,
                skips_empty_keys,
            };
            if let Some(key) = key {
                self.shared.insert(key, id);
            }
            ids.push(id);
        }
        ids
    }

    /// Unregisters the terms `ids` of `rule`; a term shared with other rules stays for them.
    /// What no live term uses any more is freed: the dead terms, the fields only they named
    /// (their trie nodes too), and the value-index entries that fed them.
    pub fn remove(&mut self, rule: u32, ids: &[TermId]) {
        let mut fields: Vec<u32> = Vec::new();
        let mut dead: Vec<TermId> = Vec::new();
        // (Whether the lists over all terms need a pass: most removals touch neither.)
        let (mut unconditional, mut shared) = (false, false);
        for &id in ids {
            let info = &mut self.terms[id as usize];
            info.rules.retain(|&r| r != rule);
            shrink_vec(&mut info.rules);
            if info.rules.is_empty() && info.alive {
                info.alive = false;
                fields.extend(info.slots.iter().map(|s| s.1));
                unconditional |= !info.slots.iter().any(|(k, _)| *k == SlotKind::Value);
                shared |= info.shared;
                dead.push(id);
            }
        }
        if dead.is_empty() {
            return;
        }
        fields.sort_unstable();
        fields.dedup();
        dead.sort_unstable();
        let is_dead = |t: &Target| dead.binary_search(&t.term).is_ok();
        for &f in &fields {
            self.fields[f as usize].retain(|t| !is_dead(t));
        }
        if unconditional {
            self.unconditional
                .retain(|t| dead.binary_search(t).is_err());
            shrink_vec(&mut self.unconditional);
        }
        if shared {
            self.shared.retain(|_, t| dead.binary_search(t).is_err());
            shrink_map(&mut self.shared);
        }
        for &id in &dead {
            let info = std::mem::take(&mut self.terms[id as usize]);
            for (_, f) in info.slots {
                self.fields[f as usize].uses -= 1;
            }
            self.free_terms.push(id);
        }
        for f in fields {
            if self.fields[f as usize].uses == 0 {
                self.free_field(f);
            }
        }
        release_tail(&mut self.terms, &mut self.free_terms, 0, |t| !t.alive);
        release_tail(&mut self.fields, &mut self.free_fields, 0, |f| f.uses == 0);
        // (The root stays, whatever it holds.)
        release_tail(&mut self.nodes, &mut self.free_nodes, 1, |n| {
            n.field.is_none() && n.children.len() == 0
        });
    }

    /// Frees field `f`, which no live term names: takes its node off the trie, and with it the
    /// nodes above left with neither field nor children; refreshes what the nodes on its path
    /// know of their children.
    fn free_field(&mut self, f: u32) {
        let path = std::mem::take(&mut self.fields[f as usize]).path;
        self.free_fields.push(f);
        let segments: Vec<&str> = path.split('.').collect();
        let mut chain: Vec<u32> = vec![0];
        for segment in &segments {
            let here = *chain.last().expect("the root");
            match self.nodes[here as usize].children.get(segment.as_bytes()) {
                Some(child) => chain.push(child),
                None => unreachable!("a field's path leads to its node"),
            }
        }
        let last = *chain.last().expect("the root");
        self.nodes[last as usize].field = None;
        for (i, segment) in segments.iter().enumerate().rev() {
            let (parent, node) = (chain[i], chain[i + 1]);
            let n = &self.nodes[node as usize];
            if n.field.is_none() && n.children.len() == 0 {
                self.nodes[parent as usize]
                    .children
                    .remove(segment.as_bytes());
                self.nodes[node as usize] = Node::default();
                self.free_nodes.push(node);
            }
            self.refresh(parent);
        }
    }

    /// Recomputes what node `n` knows of its children (`deep`, `key_lens`, `key_heads`).
    fn refresh(&mut self, n: u32) {
        let (mut deep, mut key_lens, mut key_heads) = (false, 0u64, 0u64);
        self.nodes[n as usize].children.for_each(|key, child| {
            key_lens |= len_bit(key.len());
            key_heads |= 1 << key_head(key);
            deep |= self.nodes[child as usize].children.len() > 0;
        });
        let node = &mut self.nodes[n as usize];
        node.deep = deep;
        node.key_lens = key_lens;
        node.key_heads = key_heads;
    }
}

/// A free slot of `table` (from `free`) or a new one at its end, holding the default value.
fn take_slot<T: Default>(table: &mut Vec<T>, free: &mut Vec<u32>) -> u32 {
    match free.pop() {
        Some(i) => {
            table[i as usize] = T::default();
            i
        }
        None => {
            table.push(T::default());
            u32::try_from(table.len() - 1).expect("fewer than 2^32 entries")
        }
    }
}

/// Drops the free entries at the end of `table`, keeping at least `keep` (and their slots
/// from `free`), and shrinks both when they hold much more room than entries.
fn release_tail<T>(
    table: &mut Vec<T>,
    free: &mut Vec<u32>,
    keep: usize,
    is_free: impl Fn(&T) -> bool,
) {
    let before = table.len();
    while table.len() > keep && table.last().is_some_and(&is_free) {
        table.pop();
    }
    if table.len() < before {
        let len = table.len() as u32;
        free.retain(|&i| i < len);
    }
    shrink_vec(table);
    shrink_vec(free);
}

/// Gives back most of a vector's room once it holds under a quarter of it (amortised: the
/// vector must lose half its entries again before the next shrink).
pub(crate) fn shrink_vec<T>(v: &mut Vec<T>) {
    if v.len() <= v.capacity() / 4 {
        v.shrink_to(v.len() * 2);
    }
}

/// [`shrink_vec`] for hash maps.
pub(crate) fn shrink_map<K: std::hash::Hash + Eq, V>(m: &mut FxHashMap<K, V>) {
    if m.len() <= m.capacity() / 4 {
        m.shrink_to(m.len() * 2);
    }
}

/// The key under which a term is shared between rules: its printed leaves, for terms with a
/// scanned test (others are lookups, cheap to repeat; not keeping their keys saves memory).
fn share_key(term: &Term) -> Option<String> {
    let scanned = term.leaves.iter().flat_map(|l| &l.matchers).any(|m| {
        !matches!(
            m,
            Matcher::Exact(_) | Matcher::EqualsIgnoreCase(_) | Matcher::Exists(_)
        )
    });
    scanned.then(|| {
        term.leaves
            .iter()
            .map(|l| format!("{}\u{0}{:?}", l.path, l.matchers))
            .collect::<Vec<_>>()
            .join("\u{1}")
    })
}

fn spelled(text: &str) -> Box<[u8]> {
    number_spelling(text).as_bytes().into()
}

/// An ignore-case operand in one spelling of its meaning, so that tests differing only in
/// the case of ASCII letters are one scanned test: an ASCII letter accepts the same two texts
/// in either case, so ASCII letters are lower-cased; other characters are kept as written (`ǅ`
/// does not accept what `ǆ` accepts).
fn same_case(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn push_to<K: std::hash::Hash + Eq>(map: &mut FxHashMap<K, Vec<Target>>, key: K, t: Target) {
    map.entry(key).or_default().push(t);
}

fn retain_map<K: std::hash::Hash + Eq>(
    map: &mut FxHashMap<K, Vec<Target>>,
    keep: &impl Fn(&Target) -> bool,
) {
    map.retain(|_, v| {
        v.retain(keep);
        shrink_vec(v);
        !v.is_empty()
    });
    shrink_map(map);
}

impl Field {
    /// The tests of one leaf alone, condition `i` feeding slot `i` of term 0: what `explain`
    /// runs an event value through, to learn which conditions accept it exactly as the
    /// matcher decides.
    pub fn of_conditions(path: &str, matchers: &[Matcher]) -> Field {
        let mut field = Field {
            path: path.to_string(),
            ..Field::default()
        };
        for (i, m) in matchers.iter().enumerate() {
            let slot = u16::try_from(i).unwrap_or(u16::MAX);
            field.add(m, Target { term: 0, slot });
        }
        field
    }

    fn add(&mut self, m: &Matcher, t: Target) {
        match m {
            Matcher::Exact(Literal::String(s)) => {
                if let Some(ip) = parse_ip(s) {
                    push_to(&mut self.ips, ip, t);
                }
                self.string_lens |= len_bit(s.len());
                push_to(&mut self.strings, s.as_bytes().into(), t);
            }
            Matcher::Exact(Literal::Number(n)) => match n.value() {
                Some(v) => push_to(&mut self.numbers, v.to_bits(), t),
                None => push_to(&mut self.number_texts, spelled(n.text()), t),
            },
            Matcher::Exact(Literal::NumberText(text)) => {
                push_to(&mut self.number_texts, spelled(text), t)
            }
            Matcher::Exact(Literal::Bool(true)) => self.trues.push(t),
            Matcher::Exact(Literal::Bool(false)) => self.falses.push(t),
            Matcher::Exact(Literal::Null) => self.nulls.push(t),
            Matcher::EqualsIgnoreCase(s) if s.is_ascii() => {
                self.folded_lens |= len_bit(s.len());
                push_to(
                    &mut self.folded,
                    s.to_ascii_lowercase().into_bytes().into(),
                    t,
                );
            }
            Matcher::EqualsIgnoreCase(s) => {
                let groups = self.folded_unicode.entry(case_key(s).into()).or_default();
                match groups.iter_mut().find(|(p, _)| **p == **s) {
                    Some((_, targets)) => targets.push(t),
                    None => groups.push((s.as_str().into(), vec![t])),
                }
            }
            Matcher::Exists(true) => self.any.push(t),
            Matcher::Exists(false) => {}
            Matcher::Prefix(p) => self.add_scan(Scan::Prefix(p.as_bytes().into()), t),
            Matcher::Suffix(p) => self.add_scan(Scan::Suffix(p.as_bytes().into()), t),
            Matcher::PrefixIgnoreCase(p) => self.add_scan(Scan::PrefixIgnoreCase(same_case(p)), t),
            Matcher::SuffixIgnoreCase(p) => self.add_scan(Scan::SuffixIgnoreCase(same_case(p)), t),
            Matcher::Wildcard(w) => self.add_scan(Scan::Wildcard(w.clone()), t),
            Matcher::Numeric(r) => self.add_scan(Scan::Numeric(*r), t),
            Matcher::Cidr(c) => self.add_scan(Scan::Cidr(c.clone()), t),
            Matcher::AnythingBut(AnythingBut::EqualsIgnoreCase(v)) => self.add_scan(
                Scan::Not(AnythingBut::EqualsIgnoreCase(
                    v.iter().map(|s| same_case(s)).collect(),
                )),
                t,
            ),
            Matcher::AnythingBut(ab) => self.add_scan(Scan::Not(ab.clone()), t),
        }
    }

    fn add_scan(&mut self, scan: Scan, t: Target) {
        let key = format!("{scan:?}");
        match self.scan_index.get(&key) {
            Some(&i) => self.scans[i].1.push(t),
            None => {
                self.scan_index.insert(key, self.scans.len());
                self.scans.push((scan, vec![t]));
            }
        }
    }

    fn retain(&mut self, keep: impl Fn(&Target) -> bool) {
        retain_map(&mut self.strings, &keep);
        retain_map(&mut self.numbers, &keep);
        retain_map(&mut self.number_texts, &keep);
        retain_map(&mut self.ips, &keep);
        retain_map(&mut self.folded, &keep);
        self.string_lens = self.strings.keys().fold(0, |m, k| m | len_bit(k.len()));
        self.folded_lens = self.folded.keys().fold(0, |m, k| m | len_bit(k.len()));
        self.folded_unicode.retain(|_, groups| {
            groups.retain_mut(|(_, targets)| {
                targets.retain(&keep);
                !targets.is_empty()
            });
            !groups.is_empty()
        });
        for list in [
            &mut self.trues,
            &mut self.falses,
            &mut self.nulls,
            &mut self.any,
        ] {
            list.retain(&keep);
            shrink_vec(list);
        }
        self.scans.retain_mut(|(_, targets)| {
            targets.retain(&keep);
            shrink_vec(targets);
            !targets.is_empty()
        });
        shrink_vec(&mut self.scans);
        self.scan_index = self
            .scans
            .iter()
            .enumerate()
            .map(|(i, (scan, _))| (format!("{scan:?}"), i))
            .collect();
    }

    /// Whether any test on this field looks values up by their case key.
    pub fn needs_case_key(&self) -> bool {
        !self.folded.is_empty() || !self.folded_unicode.is_empty()
    }

    fn test_count(&self) -> usize {
        let maps = self.strings.values().map(Vec::len).sum::<usize>()
            + self.numbers.values().map(Vec::len).sum::<usize>()
            + self.number_texts.values().map(Vec::len).sum::<usize>()
            + self.folded.values().map(Vec::len).sum::<usize>()
            + self
                .folded_unicode
                .values()
                .flatten()
                .map(|(_, t)| t.len())
                .sum::<usize>();
        maps + self.trues.len()
            + self.falses.len()
            + self.nulls.len()
            + self.any.len()
            + self.scans.iter().map(|(_, t)| t.len()).sum::<usize>()
    }
}

impl fmt::Display for Compiled {
    /// The form `weir debug matcher` prints: the path trie with each field's tests.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alive = self.terms.iter().filter(|t| t.alive).count();
        writeln!(
            f,
            "{} trie nodes, {} fields, {} live terms ({} unconditional)",
            self.nodes.len() - self.free_nodes.len(),
            self.fields.len() - self.free_fields.len(),
            alive,
            self.unconditional.len()
        )?;
        for field in self.fields.iter().filter(|f| f.uses > 0) {
            writeln!(
                f,
                "field {}: {} tests ({} strings, {} numbers, {} folded, {} scanned)",
                field.path,
                field.test_count(),
                field.strings.len(),
                field.numbers.len() + field.number_texts.len(),
                field.folded.len() + field.folded_unicode.values().map(Vec::len).sum::<usize>(),
                field.scans.len()
            )?;
            for (scan, targets) in &field.scans {
                let to: Vec<String> = targets
                    .iter()
                    .map(|t| format!("term {} slot {}", t.term, t.slot))
                    .collect();
                writeln!(f, "  scan {scan:?} -> {}", to.join(", "))?;
            }
        }
        Ok(())
    }
}
