//! The working memory of matching: what reading an event records (values found on rules'
//! paths, the array elements they sit in, the tests that passed) and what evaluation reuses.
//! Both the reader ([`super::scan`]) and evaluation ([`super::eval`]) use these records; this
//! module uses neither.

use std::fmt;

/// A scalar found on a rule's path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeafRec {
    pub field: u32,
    pub trail_start: u32,
    pub trail_len: u32,
    pub alive: bool,
    /// Reached through a key that is exactly `""`, which rules naming no empty path step do
    /// not read (see `TermInfo::skips_empty_keys`).
    pub via_empty_key: bool,
}

/// A value test that passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Hit {
    pub term: u32,
    pub slot: u16,
    pub leaf: u32,
}

/// Working memory reused from event to event.
#[derive(Clone, Default, Debug)]
pub(crate) struct Scratch {
    pub leaves: Vec<LeafRec>,
    pub trails: Vec<(u32, u32)>,
    pub hits: Vec<Hit>,
    pub stack: Vec<(u32, u32)>,
    pub next_array: u32,
    pub buf: Vec<u8>,
    pub keybuf: Vec<u8>,
    /// The case key of the current value (`crate::ir::push_case_key`).
    pub fold: Vec<u8>,
    /// (key offset, key length, first leaf, end leaf) of needed keys of open objects.
    pub seen_keys: Vec<(u32, u32, u32, u32)>,
    pub present: Vec<u32>,
    /// Per field: the stamp when a value sits there outside every array.
    pub present_flat: Vec<u32>,
    /// Per field: the stamp when a value sits there through a key that is exactly `""`.
    pub present_via_empty: Vec<u32>,
    pub term_stamp: Vec<u32>,
    pub rule_stamp: Vec<u32>,
    pub stamp: u32,
    pub search: Search,
}

impl Scratch {
    pub fn reset(&mut self) {
        self.leaves.clear();
        self.trails.clear();
        self.hits.clear();
        self.stack.clear();
        self.seen_keys.clear();
        self.next_array = 0;
    }
}

/// Working lists of the array-consistency search, reused from term to term and event to event.
#[derive(Clone, Default, Debug)]
pub(crate) struct Search {
    pub choices: Vec<Choice>,
    pub chosen: Vec<u32>,
    pub field_leaves: Vec<u32>,
}

/// One slot for the search: its candidate values (a range of the hits), and, when the field's
/// absence (no value consistent with those chosen before) also satisfies it, the field's
/// values (a range of `Search::field_leaves`).
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub range: std::ops::Range<usize>,
    pub absent: Option<std::ops::Range<usize>>,
}

/// The memory a match works in, held by the caller and reused from call to call (the
/// `*_with` methods of [`Matcher`](crate::Matcher) take one).
///
/// A cache holds no rules and no results between calls: any matcher can use any cache, and
/// the answer never depends on which cache was used or what it served before. It grows to
/// what the largest matcher and event it served need and keeps that memory until dropped, so a
/// warm cache makes matching allocate nothing. The calls without `_with` use a cache of the
/// calling thread's own (a small per-thread pool, so a call made while another is running on
/// the same thread, e.g. from a batch's event iterator, gets a cache of its own).
///
/// A cache is [`Send`]: it can move to another thread with the work it serves. One cache
/// serves one call at a time (`&mut`); give each thread its own.
///
/// # Example
/// ```
/// let mut m = weir::Matcher::new();
/// m.add_rule("r", r#"{"a": [1]}"#)?;
/// let mut cache = m.create_cache();
/// assert!(m.is_match_with(&mut cache, br#"{"a": 1}"#)?);
///
/// // The same cache serves another matcher.
/// let mut other = weir::Matcher::new();
/// other.add_rule("s", r#"{"b": ["x"]}"#)?;
/// assert_eq!(other.matching_rules_with(&mut cache, br#"{"b": "x"}"#)?, vec!["s"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Cache {
    pub(crate) scratch: Scratch,
    /// The rule ids of the last event, for the calls that do not hand them out as they are.
    pub(crate) out: Vec<u32>,
}

impl Cache {
    /// An empty cache; it grows on first use.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [{"exists": false}]}"#)?;
    /// let mut cache = weir::Cache::new();
    /// assert!(m.is_match_with(&mut cache, b"{}")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Cache {
        Cache::default()
    }

    /// Makes room for a structure of `fields` fields, `terms` terms and `rules` rule slots.
    pub(crate) fn reserve(&mut self, fields: usize, terms: usize, rules: usize) {
        let s = &mut self.scratch;
        let grow = |v: &mut Vec<u32>, n: usize| {
            if v.len() < n {
                v.resize(n, 0);
            }
        };
        grow(&mut s.present, fields);
        grow(&mut s.present_flat, fields);
        grow(&mut s.present_via_empty, fields);
        grow(&mut s.term_stamp, terms);
        grow(&mut s.rule_stamp, rules);
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("fields", &self.scratch.present.len())
            .field("terms", &self.scratch.term_stamp.len())
            .field("rules", &self.scratch.rule_stamp.len())
            .finish_non_exhaustive()
    }
}
