//! Stage 4: the compiled matcher. Add named rules, then ask which rules an event matches —
//! one event at a time or in batches, from raw JSON bytes.
//!
//! Module layering, one way only: [`cache`] (the working records) and [`validate`] (grammar
//! checks, unescaping) use no other part; [`scan`] reads events with `validate`, [`skip`] and
//! the cache; [`eval`] judges the cache's records; this module ties them together.

mod cache;
mod eval;
mod jsonl;
mod prefetch;
mod scan;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::compile::{shrink_map, shrink_vec, Compiled, TermId};
use crate::error::{EventError, PatternError};
use crate::ir::{Options, Pattern};

pub use cache::Cache;
use cache::Scratch;
pub(crate) use eval::consistent;
pub(crate) use scan::{literal_tests, number_tests, string_tests};

pub use crate::json::MAX_EVENT_DEPTH;

/// A rule's handle inside one [`Matcher`]; stable while the rule exists.
///
/// # Example
/// ```
/// let mut m = weir::Matcher::new();
/// m.add_rule("r", r#"{"a": [1]}"#)?;
/// let ids = m.matching_rule_ids(br#"{"a": 1}"#)?;
/// assert_eq!(m.rule_name(ids[0]), Some("r"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(u32);

impl RuleId {
    /// The id as a number (dense, from 0).
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [{"exists": false}]}"#)?;
    /// assert_eq!(m.rule_id("r").unwrap().index(), 0);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// How much of each event the matcher reads and checks.
///
/// # Example
/// ```
/// let mut m = weir::Matcher::new();
/// m.add_rule("r", r#"{"a": [1]}"#)?;
/// let truncated = br#"{"a": 1, "b": [1, 2"#;
/// assert!(m.is_match(truncated).is_err());
/// m.set_reading(weir::EventReading::Lazy);
/// assert!(m.is_match(truncated)?); // stops after "a": the tail is never read
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EventReading {
    /// Read and validate the whole event (JSON grammar, UTF-8, nesting); a malformed event is
    /// an error. A key repeated in one object keeps its last value.
    #[default]
    Validate,
    /// Read only what the rules need: skip unneeded values without validating them, and stop
    /// reading an object (at the top level: the event) once every key the rules name in it has
    /// been seen by its own name. Malformed or repeated content the rules never reach goes
    /// unnoticed, and so does a later key that reaches a needed field through dots (`"a.b"`
    /// after `"a"` was read), and what follows a needed value before the next `,` or closing
    /// bracket is not checked (`{"b": 01}` reads `b` as `0`); on well-formed events without
    /// such keys the verdict is the same as with [`EventReading::Validate`].
    Lazy,
}

#[derive(Clone, Debug)]
struct Rule {
    name: Box<str>,
    /// The rule's patterns (the compiled structure holds their tests; `explain` reads them
    /// as they were validated).
    patterns: Vec<Pattern>,
    terms: Vec<TermId>,
    /// When the rule was added, counted over the matcher's life: orders rules by addition
    /// once removed rules' ids have been reused.
    seq: u64,
}

/// The rule table: names, pattern texts and ids.
#[derive(Clone, Debug, Default)]
struct Rules {
    /// By id; `None` for an id whose rule was removed and that no rule took again yet.
    slots: Vec<Option<Rule>>,
    by_name: FxHashMap<Box<str>, u32>,
    /// The ids below `slots.len()` that are free, taken again lowest first.
    free: BTreeSet<u32>,
    /// The live rules in the order they were added: `seq` -> id.
    order: BTreeMap<u64, u32>,
    next_seq: u64,
    /// Whether id order may differ from addition order (an id was reused while a later rule
    /// lived, and the table was not emptied since).
    reordered: bool,
}

impl Rules {
    /// A new, empty rule named `name`; returns its id.
    fn insert(&mut self, name: String) -> u32 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let rule = Rule {
            name: name.as_str().into(),
            patterns: Vec::new(),
            terms: Vec::new(),
            seq,
        };
        let id = match self.free.pop_first() {
            Some(id) => {
                // Every free id lies below a live rule's (trailing free ids are dropped).
                self.reordered = true;
                self.slots[id as usize] = Some(rule);
                id
            }
            None => {
                let id = u32::try_from(self.slots.len()).expect("fewer than 2^32 rules");
                self.slots.push(Some(rule));
                id
            }
        };
        self.by_name.insert(name.into_boxed_str(), id);
        self.order.insert(seq, id);
        id
    }

    /// Removes rule `name`; returns its id and the rule.
    fn remove(&mut self, name: &str) -> Option<(u32, Rule)> {
        let id = self.by_name.remove(name)?;
        let rule = self.slots[id as usize]
            .take()
            .expect("a named rule is live");
        self.order.remove(&rule.seq);
        self.free.insert(id);
        while let Some(None) = self.slots.last() {
            self.slots.pop();
            self.free.remove(&(self.slots.len() as u32));
        }
        if self.slots.is_empty() {
            // (An emptied B-tree keeps its root node.)
            self.order = BTreeMap::new();
            self.free = BTreeSet::new();
            self.reordered = false;
        }
        shrink_vec(&mut self.slots);
        shrink_map(&mut self.by_name);
        Some((id, rule))
    }

    fn get(&self, id: u32) -> Option<&Rule> {
        self.slots.get(id as usize)?.as_ref()
    }
}

/// Many named rules compiled into one structure.
///
/// Adding the same name again adds another pattern to that rule (the rule matches when any
/// of its patterns does). Matching reads the event's bytes once; the cost per event follows
/// the event's size and the fields rules name, not the number of rules.
///
/// A matcher is [`Send`] and [`Sync`]: threads may match with one matcher at once, each with
/// its own [`Cache`] (the calls without `_with` use one of the calling thread's).
///
/// Cloning is cheap, a snapshot: the clone shares the compiled structure and the rule table
/// (reference-counted, immutable while shared). Changing either copy ([`Matcher::add_rule`],
/// [`Matcher::remove_rule`], ...) first copies what it shares (copy on write: a cost
/// proportional to the rules held, once per snapshot); the other copy keeps matching exactly
/// the rules it had. A router can so match with a snapshot while building the next rule set.
///
/// Removing rules gives their memory back: fields, trie nodes, value tests, terms, names and
/// pattern texts no live rule uses are freed or reused, and the id of a removed rule is given
/// to a later one.
///
/// # Example
/// ```
/// let mut m = weir::Matcher::new();
/// m.add_rule("running", r#"{"detail": {"state": ["running"]}}"#)?;
/// m.add_rule("big", r#"{"detail": {"size": [{"numeric": [">", 10]}]}}"#)?;
/// let event = br#"{"detail": {"state": "running", "size": 3}}"#;
/// assert_eq!(m.matching_rules(event)?, vec!["running"]);
///
/// let snapshot = m.clone();
/// assert!(m.remove_rule("running"));
/// assert!(!m.is_match(event)?);
/// assert!(snapshot.is_match(event)?); // the snapshot keeps its rules
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Matcher {
    options: Options,
    reading: EventReading,
    rules: Arc<Rules>,
    compiled: Arc<Compiled>,
}

/// How many caches a thread keeps for calls made while its own cache is in use.
const SPARE_CACHES: usize = 4;

thread_local! {
    /// The cache of the calls without `_with` on this thread.
    static CACHE: RefCell<Cache> = RefCell::new(Cache::new());
    /// Caches for calls made while `CACHE` is in use: a batch's event iterator that matches.
    static SPARE: RefCell<Vec<Cache>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a cache of this thread's: its own cache, or when a call on this thread holds
/// that one already (an event iterator calling back into weir), a spare one. Never panics on
/// re-entry; allocates only when the thread has no free cache left.
#[inline]
fn with_thread_cache<R>(f: impl FnOnce(&mut Cache) -> R) -> R {
    let mut f = Some(f);
    let mut call = |c: &mut Cache| (f.take().expect("called once"))(c);
    let first = CACHE.try_with(|cell| cell.try_borrow_mut().ok().map(|mut c| call(&mut c)));
    if let Ok(Some(r)) = first {
        return r;
    }
    with_spare_cache(call)
}

#[cold]
#[inline(never)]
fn with_spare_cache<R>(call: impl FnOnce(&mut Cache) -> R) -> R {
    // (`try_with`: while the thread ends, its caches may be gone; a fresh one serves.)
    let mut cache = SPARE
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default();
    let r = call(&mut cache);
    let _ = SPARE.try_with(|s| {
        let mut spare = s.borrow_mut();
        if spare.len() < SPARE_CACHES {
            spare.push(cache);
        }
    });
    r
}

/// Matches one event: reads it into `s`, then writes the matching rule ids to `out`.
#[inline]
fn run(
    c: &Compiled,
    lazy: bool,
    s: &mut Scratch,
    event: &[u8],
    out: &mut Vec<u32>,
) -> Result<(), EventError> {
    scan::scan(c, s, event, lazy)?;
    eval::evaluate(c, s, out);
    Ok(())
}

impl Matcher {
    /// An empty matcher with EventBridge defaults.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::Matcher::new().rule_count(), 0);
    /// ```
    pub fn new() -> Matcher {
        Matcher::default()
    }

    /// An empty matcher whose patterns are read with `options`.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::with_options(weir::Options::new().lambda_strict(true));
    /// assert!(m.add_rule("w", r#"{"a": [{"wildcard": "*"}]}"#).is_err());
    /// ```
    pub fn with_options(options: Options) -> Matcher {
        Matcher {
            options,
            ..Matcher::default()
        }
    }

    /// Chooses how events are read (see [`EventReading`]).
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.set_reading(weir::EventReading::Lazy);
    /// assert_eq!(m.reading(), weir::EventReading::Lazy);
    /// ```
    pub fn set_reading(&mut self, reading: EventReading) {
        self.reading = reading;
    }

    /// How events are read.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::Matcher::new().reading(), weir::EventReading::Validate);
    /// ```
    pub fn reading(&self) -> EventReading {
        self.reading
    }

    /// The options patterns are read with.
    ///
    /// # Example
    /// ```
    /// assert!(!weir::Matcher::new().options().is_lambda_strict());
    /// ```
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Parses `pattern` and adds it under `name`. On error nothing is added and the error
    /// names the rule.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("a", r#"{"a": ["x"]}"#)?;
    /// m.add_rule("a", r#"{"b": ["y"]}"#)?; // ORed with the first
    /// assert!(m.is_match(br#"{"b": "y"}"#)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_rule(
        &mut self,
        name: impl Into<String>,
        pattern: &str,
    ) -> Result<RuleId, PatternError> {
        let name = name.into();
        let pattern = Pattern::parse_with(pattern, &self.options).map_err(|e| e.in_rule(&name))?;
        Ok(self.add_pattern(name, pattern))
    }

    /// Adds an already validated pattern under `name`.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// let p = weir::Pattern::parse(r#"{"a": [true]}"#)?;
    /// m.add_pattern("t", p);
    /// assert!(m.is_match(br#"{"a": true}"#)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_pattern(&mut self, name: impl Into<String>, pattern: Pattern) -> RuleId {
        self.insert(name.into(), pattern)
    }

    /// [`Matcher::add_pattern`]: the compiled structure takes the pattern's tests, the rule
    /// keeps the pattern.
    fn insert(&mut self, name: String, pattern: Pattern) -> RuleId {
        let rules = Arc::make_mut(&mut self.rules);
        let id = match rules.by_name.get(name.as_str()) {
            Some(&id) => id,
            None => rules.insert(name),
        };
        let terms =
            Arc::make_mut(&mut self.compiled).add(id, pattern.terms(), !pattern.reads_empty_keys());
        let rule = rules.slots[id as usize].as_mut().expect("live rule");
        rule.terms.extend(terms);
        rule.patterns.push(pattern);
        RuleId(id)
    }

    /// Removes the rule `name` (all its patterns); returns whether it existed. The memory
    /// the rule alone used is given back, and its id may be given to a rule added later.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [{"exists": false}]}"#)?;
    /// assert!(m.remove_rule("r"));
    /// assert!(!m.remove_rule("r"));
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn remove_rule(&mut self, name: &str) -> bool {
        // (Checked first, so that removing a missing rule copies nothing a snapshot shares.)
        if !self.rules.by_name.contains_key(name) {
            return false;
        }
        let rules = Arc::make_mut(&mut self.rules);
        let Some((id, rule)) = rules.remove(name) else {
            return false;
        };
        let compiled = Arc::make_mut(&mut self.compiled);
        compiled.remove(id, &rule.terms);
        compiled.rule_slots = rules.slots.len();
        true
    }

    /// How many rules the matcher holds.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [{"exists": false}]}"#)?;
    /// assert_eq!(m.rule_count(), 1);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn rule_count(&self) -> usize {
        self.rules.by_name.len()
    }

    /// The names of the rules, in the order they were added.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("b", r#"{"a": [{"exists": false}]}"#)?;
    /// m.add_rule("a", r#"{"a": [{"exists": false}]}"#)?;
    /// assert_eq!(m.rule_names().collect::<Vec<_>>(), vec!["b", "a"]);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules
            .order
            .values()
            .filter_map(|&id| self.rules.get(id))
            .map(|r| &*r.name)
    }

    /// The id of rule `name`.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// let id = m.add_rule("r", r#"{"a": [{"exists": false}]}"#)?;
    /// assert_eq!(m.rule_id("r"), Some(id));
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn rule_id(&self, name: &str) -> Option<RuleId> {
        self.rules.by_name.get(name).map(|&i| RuleId(i))
    }

    /// The name of rule `id`, if it still exists.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// let id = m.add_rule("r", r#"{"a": [{"exists": false}]}"#)?;
    /// assert_eq!(m.rule_name(id), Some("r"));
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn rule_name(&self, id: RuleId) -> Option<&str> {
        self.rules.get(id.0).map(|r| &*r.name)
    }

    /// The pattern texts of rule `name`, in the order they were added.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [1]}"#)?;
    /// assert_eq!(m.rule_patterns("r").unwrap().collect::<Vec<_>>(), vec![r#"{"a": [1]}"#]);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn rule_patterns(&self, name: &str) -> Option<impl Iterator<Item = &str>> {
        let id = *self.rules.by_name.get(name)?;
        self.rules
            .get(id)
            .map(|r| r.patterns.iter().map(Pattern::text))
    }

    /// The patterns of rule `name`, as they were validated, in the order they were added.
    pub(crate) fn rule_pattern_list(&self, name: &str) -> Option<&[Pattern]> {
        let id = *self.rules.by_name.get(name)?;
        self.rules.get(id).map(|r| r.patterns.as_slice())
    }

    /// A cache sized for this matcher, for the `*_with` calls (any [`Cache`] serves; this one
    /// has its room made already).
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [1]}"#)?;
    /// let mut cache = m.create_cache();
    /// assert_eq!(m.matching_rules_with(&mut cache, br#"{"a": 1}"#)?, vec!["r"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_cache(&self) -> Cache {
        let mut cache = Cache::new();
        let c = &self.compiled;
        cache.reserve(c.fields.len(), c.terms.len(), c.rule_slots);
        cache
    }

    /// The names of the rules the event matches, in the order the rules were added.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("png", r#"{"key": [{"suffix": ".png"}]}"#)?;
    /// assert_eq!(m.matching_rules(br#"{"key": "a.png"}"#)?, vec!["png"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matching_rules(&self, event: &[u8]) -> Result<Vec<&str>, EventError> {
        with_thread_cache(|cache| self.matching_rules_with(cache, event))
    }

    /// [`Matcher::matching_rules`], working in `cache`.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("png", r#"{"key": [{"suffix": ".png"}]}"#)?;
    /// let mut cache = weir::Cache::new();
    /// assert_eq!(m.matching_rules_with(&mut cache, br#"{"key": "a.png"}"#)?, vec!["png"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matching_rules_with(
        &self,
        cache: &mut Cache,
        event: &[u8],
    ) -> Result<Vec<&str>, EventError> {
        let Cache { scratch, out } = cache;
        run(&self.compiled, self.lazy(), scratch, event, out)?;
        let rules = &*self.rules;
        if !rules.reordered || out.len() < 2 {
            return Ok(out
                .iter()
                .filter_map(|&id| rules.get(id))
                .map(|r| &*r.name)
                .collect());
        }
        // Ids were reused: addition order is the rules' `seq`.
        let mut found: Vec<&Rule> = out.iter().filter_map(|&id| rules.get(id)).collect();
        found.sort_unstable_by_key(|r| r.seq);
        Ok(found.into_iter().map(|r| &*r.name).collect())
    }

    /// The ids of the rules the event matches, ascending.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// let id = m.add_rule("r", r#"{"a": [null]}"#)?;
    /// assert_eq!(m.matching_rule_ids(br#"{"a": null}"#)?, vec![id]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matching_rule_ids(&self, event: &[u8]) -> Result<Vec<RuleId>, EventError> {
        with_thread_cache(|cache| self.matching_rule_ids_with(cache, event))
    }

    /// [`Matcher::matching_rule_ids`], working in `cache`.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// let id = m.add_rule("r", r#"{"a": [null]}"#)?;
    /// let mut cache = m.create_cache();
    /// assert_eq!(m.matching_rule_ids_with(&mut cache, br#"{"a": null}"#)?, vec![id]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matching_rule_ids_with(
        &self,
        cache: &mut Cache,
        event: &[u8],
    ) -> Result<Vec<RuleId>, EventError> {
        let Cache { scratch, out } = cache;
        run(&self.compiled, self.lazy(), scratch, event, out)?;
        Ok(out.iter().map(|&id| RuleId(id)).collect())
    }

    /// Whether the event matches any rule.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [{"exists": false}]}"#)?;
    /// assert!(m.is_match(br#"{"b": 1}"#)?);
    /// assert!(!m.is_match(br#"{"a": 1}"#)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_match(&self, event: &[u8]) -> Result<bool, EventError> {
        with_thread_cache(|cache| self.is_match_with(cache, event))
    }

    /// [`Matcher::is_match`], working in `cache` (a warm cache makes it allocate nothing).
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [{"exists": false}]}"#)?;
    /// let mut cache = m.create_cache();
    /// assert!(m.is_match_with(&mut cache, br#"{"b": 1}"#)?);
    /// assert!(!m.is_match_with(&mut cache, br#"{"a": 1}"#)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_match_with(&self, cache: &mut Cache, event: &[u8]) -> Result<bool, EventError> {
        let Cache { scratch, out } = cache;
        run(&self.compiled, self.lazy(), scratch, event, out)?;
        Ok(!out.is_empty())
    }

    /// Matches many events, one JSON document each, reusing `results`' memory. Malformed
    /// events get an error each; the others are still matched.
    ///
    /// The events may come from an iterator that itself calls into weir (matching with this
    /// or another matcher, a batch included): each call gets a cache of its own.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [1]}"#)?;
    /// let mut results = weir::BatchResults::new();
    /// m.match_batch([&br#"{"a": 1}"#[..], b"{oops", br#"{"a": 2}"#], &mut results);
    /// assert_eq!(results.len(), 3);
    /// assert_eq!(results.get(0).unwrap().len(), 1);
    /// assert!(results.get(1).is_err());
    /// assert!(results.get(2).unwrap().is_empty());
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn match_batch<'e, I>(&self, events: I, results: &mut BatchResults)
    where
        I: IntoIterator<Item = &'e [u8]>,
    {
        with_thread_cache(|cache| self.match_batch_with(cache, events, results))
    }

    /// [`Matcher::match_batch`], working in `cache`.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [1]}"#)?;
    /// let mut cache = m.create_cache();
    /// let mut results = weir::BatchResults::new();
    /// m.match_batch_with(&mut cache, [&br#"{"a": 1}"#[..], br#"{"a": 2}"#], &mut results);
    /// assert_eq!(results.matched_count(), 1);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn match_batch_with<'e, I>(&self, cache: &mut Cache, events: I, results: &mut BatchResults)
    where
        I: IntoIterator<Item = &'e [u8]>,
    {
        results.clear();
        let (c, lazy) = (&*self.compiled, self.lazy());
        let s = &mut cache.scratch;
        for event in prefetch::Ahead::new(events.into_iter()) {
            results.push_from(|out| run(c, lazy, s, event, out));
        }
    }

    /// Matches every line of a JSONL buffer (blank lines are skipped; event `i`'s line number
    /// is `results.lines()[i]`). The events are the lines [`json::Splitter`](crate::json::Splitter)
    /// cuts with [`Layout::Jsonl`](crate::json::Layout::Jsonl): each event is its line without
    /// the line break and surrounding whitespace, and error offsets count from there. Cutting
    /// and matching are one pass (see [`Matcher::match_jsonl_part`]).
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [1]}"#)?;
    /// let mut results = weir::BatchResults::new();
    /// m.match_jsonl(b"{\"a\": 1}\n\n{\"a\": 2}\n", &mut results);
    /// assert_eq!(results.len(), 2);
    /// assert_eq!(results.lines(), &[1, 3]);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn match_jsonl(&self, buffer: &[u8], results: &mut BatchResults) {
        with_thread_cache(|cache| self.match_jsonl_with(cache, buffer, results))
    }

    /// [`Matcher::match_jsonl`], working in `cache`.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [1]}"#)?;
    /// let mut cache = weir::Cache::new();
    /// let mut results = weir::BatchResults::new();
    /// m.match_jsonl_with(&mut cache, b"{\"a\": 1}\n{\"a\": 2}\n", &mut results);
    /// assert_eq!(results.matched_count(), 1);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn match_jsonl_with(&self, cache: &mut Cache, buffer: &[u8], results: &mut BatchResults) {
        results.clear();
        let (c, lazy) = (&*self.compiled, self.lazy());
        let lines = &mut results.lines;
        let mut kept = std::mem::take(lines);
        jsonl::cut_and_match(
            c,
            lazy,
            &mut cache.scratch,
            buffer,
            0,
            usize::MAX,
            results,
            |e| kept.push(e.line),
        );
        results.lines = kept;
    }

    /// Cuts and matches a part of a JSONL buffer: the lines from byte `from` (a line start,
    /// counted as line 1) on, at most `max_events` of them, each event pushed to `events`
    /// (cleared first) as [`json::Splitter::jsonl_from`](crate::json::Splitter::jsonl_from)
    /// with [`Checking::Boundaries`](crate::json::Checking::Boundaries) cuts it, and its
    /// result to `results` (as [`Matcher::match_batch`] gives it for those events). For
    /// matching one large buffer on several threads, each from a line start it found; a
    /// part's lines count from 1 (add the line breaks of the parts before it:
    /// [`JsonlPart::line_breaks`]). After the `max_events`-th event the part ends after that
    /// event's line break; the returned [`JsonlPart::end`] is where the next part starts.
    ///
    /// Validating, each line is read once, where it lies: the object that starts it is read
    /// to its end and only then is the line break looked for, among bytes already in cache
    /// (a line that is not one object alone is read again, cut at its line break, so results
    /// and errors are the cut line's).
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [1]}"#)?;
    /// let buffer = b"{\"a\": 1}\n\n{\"a\": 2}\n  {\"a\": 1}\n";
    /// let (mut events, mut results) = (Vec::new(), weir::BatchResults::new());
    /// let part = m.match_jsonl_part(buffer, 0, 2, &mut events, &mut results);
    /// assert_eq!((events.len(), results.matched_count()), (2, 1));
    /// assert_eq!((events[1].offset, events[1].line), (10, 3));
    /// assert_eq!((part.end, part.line_breaks), (19, 3));
    /// // The rest, from where the part ended: lines count from 1 there.
    /// m.match_jsonl_part(buffer, part.end, usize::MAX, &mut events, &mut results);
    /// assert_eq!((events[0].line, events[0].column, events[0].bytes), (1, 3, &b"{\"a\": 1}"[..]));
    /// assert_eq!(results.matched_count(), 1);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn match_jsonl_part<'a>(
        &self,
        buffer: &'a [u8],
        from: usize,
        max_events: usize,
        events: &mut Vec<crate::json::Event<'a>>,
        results: &mut BatchResults,
    ) -> JsonlPart {
        with_thread_cache(|cache| {
            self.match_jsonl_part_with(cache, buffer, from, max_events, events, results)
        })
    }

    /// [`Matcher::match_jsonl_part`], working in `cache`.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [1]}"#)?;
    /// let mut cache = m.create_cache();
    /// let (mut events, mut results) = (Vec::new(), weir::BatchResults::new());
    /// let part = m.match_jsonl_part_with(&mut cache, b"{\"a\": 1}\n", 0, 10, &mut events, &mut results);
    /// assert_eq!((part.end, part.line_breaks, results.matched_count()), (9, 1, 1));
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn match_jsonl_part_with<'a>(
        &self,
        cache: &mut Cache,
        buffer: &'a [u8],
        from: usize,
        max_events: usize,
        events: &mut Vec<crate::json::Event<'a>>,
        results: &mut BatchResults,
    ) -> JsonlPart {
        results.clear();
        events.clear();
        let (c, lazy) = (&*self.compiled, self.lazy());
        let s = &mut cache.scratch;
        let stop = jsonl::cut_and_match(c, lazy, s, buffer, from, max_events, results, |e| {
            events.push(e)
        });
        JsonlPart {
            end: stop.end,
            line_breaks: stop.breaks,
        }
    }

    /// Matches many events on all cores (rayon), giving the same results as
    /// [`Matcher::match_batch`].
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [1]}"#)?;
    /// let events: Vec<&[u8]> = vec![br#"{"a": 1}"#, br#"{"a": 0}"#];
    /// let results = m.par_match_batch(&events);
    /// assert_eq!(results.matched_count(), 1);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    #[cfg(feature = "parallel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "parallel")))]
    pub fn par_match_batch(&self, events: &[&[u8]]) -> BatchResults {
        use rayon::prelude::*;
        // Small parts, so the threads finish together: a thread left idle while another ends
        // its last part costs up to one part of the run.
        let chunk = (events.len() / (rayon::current_num_threads() * 64)).max(64);
        let parts: Vec<BatchResults> = events
            .par_chunks(chunk)
            .map(|part| {
                let mut r = BatchResults::new();
                self.match_batch(part.iter().copied(), &mut r);
                r
            })
            .collect();
        let mut all = BatchResults::new();
        for part in parts {
            all.append(part);
        }
        all
    }

    #[inline]
    fn lazy(&self) -> bool {
        self.reading == EventReading::Lazy
    }

    /// A printable summary of the compiled structure (what `weir debug matcher` shows).
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [{"prefix": "x"}]}"#)?;
    /// assert!(m.describe().contains("field a"));
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn describe(&self) -> String {
        self.compiled.to_string()
    }
}

/// Matching one pattern on its own. (The block lives here, with the matcher it uses, so the
/// IR does not depend on the stages after it.)
impl Pattern {
    /// Whether one JSON event matches this pattern, by the compiled matcher (the same answer
    /// as a [`Matcher`] holding the pattern as its only rule); a malformed event is an error.
    ///
    /// Each call compiles the pattern into a one-rule [`Matcher`], which costs about what
    /// parsing the pattern did; to match many events, build the [`Matcher`] once and keep it.
    ///
    /// # Example
    /// ```
    /// let p = weir::Pattern::parse(r#"{"a": [{"prefix": "x"}]}"#)?;
    /// assert!(p.matches(br#"{"a": ["y", "xy"]}"#)?);
    /// assert!(!p.matches(br#"{"a": "y"}"#)?);
    /// assert!(p.matches(b"{oops").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matches(&self, event: &[u8]) -> Result<bool, EventError> {
        let mut matcher = Matcher::new();
        matcher.insert(String::new(), self.clone());
        matcher.is_match(event)
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matcher")
            .field("rules", &self.rule_count())
            .field("options", &self.options)
            .field("reading", &self.reading)
            .finish_non_exhaustive()
    }
}

/// Where [`Matcher::match_jsonl_part`] ended.
///
/// # Example
/// ```
/// let m = weir::Matcher::new();
/// let (mut events, mut results) = (Vec::new(), weir::BatchResults::new());
/// let part = m.match_jsonl_part(b"{}\n\n{}\n{}", 0, 2, &mut events, &mut results);
/// assert_eq!((part.end, part.line_breaks), (7, 3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JsonlPart {
    /// The offset after the line break of the part's last line (or the buffer's end): where
    /// the next part starts.
    pub end: usize,
    /// How many line breaks the part holds.
    pub line_breaks: usize,
}

/// The results of a batch: for each event, the matching rule ids or an error. Reused across
/// batches without reallocating.
///
/// # Example
/// ```
/// let mut m = weir::Matcher::new();
/// m.add_rule("r", r#"{"a": [{"exists": false}]}"#)?;
/// let mut results = weir::BatchResults::new();
/// m.match_batch([&b"{}"[..]], &mut results);
/// for (i, r) in results.iter().enumerate() {
///     assert_eq!(r.unwrap().len(), 1, "event {i}");
/// }
/// # Ok::<(), weir::PatternError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct BatchResults {
    ids: Vec<RuleId>,
    /// Per event: the range of its ids in `ids`, or its error.
    ends: Vec<Result<(usize, usize), EventError>>,
    lines: Vec<usize>,
    scratch_out: Vec<u32>,
}

impl BatchResults {
    /// Empty results.
    ///
    /// # Example
    /// ```
    /// assert!(weir::BatchResults::new().is_empty());
    /// ```
    pub fn new() -> BatchResults {
        BatchResults::default()
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.ends.clear();
        self.lines.clear();
    }

    fn push_from(&mut self, run: impl FnOnce(&mut Vec<u32>) -> Result<(), EventError>) {
        self.scratch_out.clear();
        let r = run(&mut self.scratch_out);
        match r {
            Ok(()) => {
                let start = self.ids.len();
                self.ids.extend(self.scratch_out.iter().map(|&i| RuleId(i)));
                self.ends.push(Ok((start, self.ids.len())));
            }
            Err(e) => self.ends.push(Err(e)),
        }
    }

    #[cfg(feature = "parallel")]
    fn append(&mut self, other: BatchResults) {
        let base = self.ids.len();
        self.ids.extend(other.ids);
        self.ends.extend(
            other
                .ends
                .into_iter()
                .map(|r| r.map(|(s, e)| (s + base, e + base))),
        );
        self.lines.extend(other.lines);
    }

    /// Number of events.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::BatchResults::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no events.
    ///
    /// # Example
    /// ```
    /// assert!(weir::BatchResults::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The result of event `i`: its matching rule ids (ascending), or why it could not be
    /// read. Panics if `i >= len()`.
    ///
    /// # Example
    /// ```
    /// let m = weir::Matcher::new();
    /// let mut r = weir::BatchResults::new();
    /// m.match_batch([&b"[1"[..]], &mut r);
    /// assert!(r.get(0).unwrap_err().reason().contains("end of input"));
    /// ```
    pub fn get(&self, i: usize) -> Result<&[RuleId], &EventError> {
        match &self.ends[i] {
            Ok((start, end)) => Ok(&self.ids[*start..*end]),
            Err(e) => Err(e),
        }
    }

    /// Every event's result, in order.
    ///
    /// # Example
    /// ```
    /// let m = weir::Matcher::new();
    /// let mut r = weir::BatchResults::new();
    /// m.match_batch([&b"{}"[..], b"{}"], &mut r);
    /// assert_eq!(r.iter().count(), 2);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = Result<&[RuleId], &EventError>> {
        self.ends.iter().map(move |r| match r {
            Ok((start, end)) => Ok(&self.ids[*start..*end]),
            Err(e) => Err(e),
        })
    }

    /// For [`Matcher::match_jsonl`]: the 1-based line number of each event.
    ///
    /// # Example
    /// ```
    /// let m = weir::Matcher::new();
    /// let mut r = weir::BatchResults::new();
    /// m.match_jsonl(b"\n{}\n", &mut r);
    /// assert_eq!(r.lines(), &[2]);
    /// ```
    pub fn lines(&self) -> &[usize] {
        &self.lines
    }

    /// How many events matched at least one rule.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("r", r#"{"a": [{"exists": false}]}"#)?;
    /// let mut r = weir::BatchResults::new();
    /// m.match_batch([&b"{}"[..], b"x"], &mut r);
    /// assert_eq!(r.matched_count(), 1);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn matched_count(&self) -> usize {
        self.iter()
            .filter(|r| r.is_ok_and(|ids| !ids.is_empty()))
            .count()
    }
}
