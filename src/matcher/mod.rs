//! Stage 4: the compiled matcher. Add named rules, then ask which rules an event matches —
//! one event at a time or in batches, from raw JSON bytes.

mod eval;
mod prefetch;
mod scan;
mod skip;
mod validate;

use std::cell::RefCell;
use std::fmt;

use rustc_hash::FxHashMap;

use crate::compile::{Compiled, TermId};
use crate::error::{EventError, PatternError};
use crate::ir::{Options, Pattern};

pub(crate) use scan::Scratch;
pub use scan::MAX_EVENT_DEPTH;

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
    /// after `"a"` was read); on other well-formed events the verdict is the same as with
    /// [`EventReading::Validate`].
    Lazy,
}

#[derive(Debug)]
struct Rule {
    name: Box<str>,
    /// The texts of the rule's patterns (the compiled structure holds their tests).
    patterns: Vec<Box<str>>,
    terms: Vec<TermId>,
}

/// Many named rules compiled into one structure.
///
/// Adding the same name again adds another pattern to that rule (the rule matches when any
/// of its patterns does). Matching reads the event's bytes once; the cost per event follows
/// the event's size and the fields rules name, not the number of rules.
///
/// # Example
/// ```
/// let mut m = weir::Matcher::new();
/// m.add_rule("running", r#"{"detail": {"state": ["running"]}}"#)?;
/// m.add_rule("big", r#"{"detail": {"size": [{"numeric": [">", 10]}]}}"#)?;
/// let event = br#"{"detail": {"state": "running", "size": 3}}"#;
/// assert_eq!(m.matching_rules(event)?, vec!["running"]);
/// assert!(m.remove_rule("running"));
/// assert!(!m.is_match(event)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Matcher {
    options: Options,
    reading: EventReading,
    rules: Vec<Option<Rule>>,
    by_name: FxHashMap<Box<str>, u32>,
    compiled: Compiled,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
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
        let name = name.into();
        let id = match self.by_name.get(name.as_str()) {
            Some(&id) => id,
            None => {
                let id = self.rules.len() as u32;
                self.rules.push(Some(Rule {
                    name: name.as_str().into(),
                    patterns: Vec::new(),
                    terms: Vec::new(),
                }));
                self.by_name.insert(name.into_boxed_str(), id);
                id
            }
        };
        let terms = self
            .compiled
            .add(id, pattern.terms(), !pattern.reads_empty_keys());
        let rule = self.rules[id as usize].as_mut().expect("live rule");
        rule.terms.extend(terms);
        rule.patterns.push(pattern.text().into());
        RuleId(id)
    }

    /// Removes the rule `name` (all its patterns); returns whether it existed.
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
        let Some(id) = self.by_name.remove(name) else {
            return false;
        };
        if let Some(rule) = self.rules[id as usize].take() {
            self.compiled.remove(id, &rule.terms);
        }
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
        self.by_name.len()
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
        self.rules.iter().flatten().map(|r| &*r.name)
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
        self.by_name.get(name).map(|&i| RuleId(i))
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
        self.rules.get(id.index())?.as_ref().map(|r| &*r.name)
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
        let id = *self.by_name.get(name)?;
        self.rules[id as usize]
            .as_ref()
            .map(|r| r.patterns.iter().map(|p| &**p))
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
        let ids = self.matching_rule_ids(event)?;
        Ok(ids
            .into_iter()
            .filter_map(|id| self.rule_name(id))
            .collect())
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
        let mut out = Vec::new();
        SCRATCH.with(|s| self.run(&mut s.borrow_mut(), event, &mut out))?;
        Ok(out.into_iter().map(RuleId).collect())
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
        Ok(!self.matching_rule_ids(event)?.is_empty())
    }

    /// Matches many events, one JSON document each, reusing `results`' memory. Malformed
    /// events get an error each; the others are still matched.
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
        results.clear();
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            for event in prefetch::Ahead::new(events.into_iter()) {
                results.push_from(|out| self.run(&mut s, event, out));
            }
        });
    }

    /// Matches every line of a JSONL buffer (blank lines are skipped; a line's number is its
    /// index in `results.lines()`).
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
        results.clear();
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            for (line_no, line) in jsonl_lines(buffer) {
                results.lines.push(line_no);
                results.push_from(|out| self.run(&mut s, line, out));
            }
        });
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

    fn run(&self, s: &mut Scratch, event: &[u8], out: &mut Vec<u32>) -> Result<(), EventError> {
        scan::scan(&self.compiled, s, event, self.reading == EventReading::Lazy)?;
        eval::evaluate(&self.compiled, s, out);
        Ok(())
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

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matcher")
            .field("rules", &self.rule_count())
            .field("options", &self.options)
            .field("reading", &self.reading)
            .finish_non_exhaustive()
    }
}

/// Checks that `event` is one well-formed JSON document, exactly as validating reading does
/// (UTF-8, grammar, escapes, nesting), without matching anything.
pub(crate) fn validate_event(event: &[u8]) -> Result<(), EventError> {
    scan::scan(&Compiled::default(), &mut Scratch::default(), event, false)
}

/// Splits a JSONL buffer into (1-based line number, line) pairs, skipping blank lines.
pub(crate) fn jsonl_lines(buffer: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    // `split` on '\n', with memchr finding the newlines many bytes at a time.
    let mut rest = Some(buffer);
    let lines = std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr(b'\n', r) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    });
    lines
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| l.iter().any(|b| !b.is_ascii_whitespace()))
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

#[cfg(test)]
mod tests {
    use super::jsonl_lines;

    #[test]
    fn jsonl_lines_splits_like_split_on_newline() {
        let buffers: [&[u8]; 8] = [
            b"",
            b"\n",
            b"{}",
            b"{}\n",
            b"{}\r\n\r\n  \n{\"a\":1}",
            b"\n\n{}\n\t\n{}\r",
            b"{\"s\":\"a\\nb\"}\n[]\n",
            b"x\ny\nz",
        ];
        for buffer in buffers {
            let want: Vec<(usize, &[u8])> = buffer
                .split(|&b| b == b'\n')
                .enumerate()
                .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
                .filter(|(_, l)| l.iter().any(|b| !b.is_ascii_whitespace()))
                .collect();
            let got: Vec<(usize, &[u8])> = jsonl_lines(buffer).collect();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(buffer));
        }
        let lines: Vec<usize> = jsonl_lines(b"\n\n{}\n\t\n{}\r").map(|(n, _)| n).collect();
        assert_eq!(lines, [3, 5]);
    }
}
