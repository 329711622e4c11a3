//! Explain: why an event did or did not match a pattern.
//!
//! [`Pattern::explain`] and [`Matcher::explain`](crate::Matcher::explain) read the event (as
//! the matcher's default, validating reading does) and return a structured account: for each
//! field of the pattern the event values found on its path (with byte spans) or none, each
//! condition and the values it held for, which `$or` alternative held, and for arrays of
//! objects which element satisfied the fields together or what each element lacked. The
//! verdict is decided exactly as the compiled matcher decides it (the same value tests, the
//! same term-by-term evaluation over [`Pattern::terms`]), so it always equals the matcher's.
//! The report has the pattern's shape as written, but a group that holds is reported on the
//! term it holds through ([`GroupReport::term`]): a condition that term does not hold, because
//! a later condition on the same path replaced it (rule overriding, as inside an `$or`
//! alternative naming a path also named outside), is marked
//! ([`FieldReport::overridden_by`]), never counted as needed.
//!
//! ```
//! let p = weir::Pattern::parse(r#"{"detail": {"size": [{"numeric": [">", 10]}]}}"#)?;
//! let why = p.explain(br#"{"detail": {"size": 3}}"#)?;
//! assert!(!why.matched);
//! assert_eq!(why.to_string(), "\
//! no match
//!   detail.size: 3 at 20..21, fails
//!     numeric (10, +inf): does not hold
//! ");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod eval;
mod read;

use std::fmt::{self, Write as _};

use crate::error::{EventError, Printable};
use crate::ir::Pattern;

/// Why one event did or did not match one pattern.
///
/// `Display` prints a short report; [`Explanation::to_json`] the same as JSON.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"state": ["running"], "id": [{"exists": true}]}"#)?;
/// let why = p.explain(br#"{"state": "running"}"#)?;
/// assert!(!why.matched);
/// assert!(why.group.fields[0].held);
/// assert!(why.group.fields[1].values.is_empty()); // "id" is missing
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Explanation {
    /// Whether the event matches the pattern (the matcher's verdict).
    pub matched: bool,
    /// The pattern's text.
    pub pattern: String,
    /// The pattern as written: its fields and `$or`s.
    pub group: GroupReport,
}

/// The fields and `$or`s of one object of a pattern (the pattern itself or an `$or`
/// alternative), ANDed.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"a": [1], "$or": [{"b": [2]}, {"c": [3]}]}"#)?;
/// let g = p.explain(br#"{"a": 1, "c": 3}"#)?.group;
/// assert!(g.held);
/// assert_eq!((g.fields.len(), g.ors.len()), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupReport {
    /// Whether the group holds. For the pattern's own group, the verdict; for an `$or`
    /// alternative the match went through, true; for any other alternative, whether it holds
    /// on its own: some term built through it (with its `$or` choices and rule overriding
    /// settled, [`Pattern::terms`]) has every condition written inside the alternative
    /// satisfied by array-consistent values.
    pub held: bool,
    /// The term (index into [`Pattern::terms`], as `weir debug ir` numbers them) the group
    /// holds through, which the rest of its report is about; `None` when it does not hold.
    pub term: Option<usize>,
    /// The group's fields, in the pattern's order.
    pub fields: Vec<FieldReport>,
    /// The group's `$or`s.
    pub ors: Vec<OrReport>,
    /// The arrays of the event where array consistency decided the group: which element
    /// satisfied the fields together, or what each element lacked. Empty when no array held
    /// values of two of the group's fields.
    pub arrays: Vec<ArrayReport>,
}

/// One `$or` of a pattern.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"$or": [{"b": [2]}, {"c": [3]}]}"#)?;
/// let or = &p.explain(br#"{"c": 3}"#)?.group.ors[0];
/// assert_eq!(or.used, Some(1));
/// assert!(!or.alternatives[0].held && or.alternatives[1].held);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrReport {
    /// Whether some alternative holds on its own.
    pub held: bool,
    /// When the enclosing group holds: the alternative its match went through.
    pub used: Option<usize>,
    /// Each alternative's report.
    pub alternatives: Vec<GroupReport>,
}

/// One field (leaf) of a pattern: what the event holds on its path and what each condition
/// made of it.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"tag": [{"prefix": "eu-"}, "us-east-1"]}"#)?;
/// let event = br#"{"tag": ["eu-west-1", "ap-south-1"]}"#;
/// let f = &p.explain(event)?.group.fields[0];
/// assert_eq!(f.path, "tag");
/// assert_eq!(f.values[0].text, r#""eu-west-1""#);
/// assert_eq!(f.values[0].span, (9, 20));
/// assert_eq!(f.conditions[0].held_for, vec![0]);
/// assert!(!f.conditions[1].held);
/// assert_eq!(f.used, Some(0));
///
/// // Inside the alternative the match went through, its later condition on `tag` replaces
/// // the outer one.
/// let p = weir::Pattern::parse(r#"{"tag": ["a"], "$or": [{"tag": ["b"]}, {"x": [1]}]}"#)?;
/// let g = p.explain(br#"{"tag": "b"}"#)?.group;
/// assert_eq!(g.fields[0].overridden_by, vec![(31, 36)]);
/// assert_eq!(g.ors[0].alternatives[0].fields[0].used, Some(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldReport {
    /// The field path, keys joined with `.`.
    pub path: String,
    /// Byte range of the field's condition array in the pattern text.
    pub pattern_span: (usize, usize),
    /// Whether the field holds: in a group that holds, whether it held in the match (every
    /// field not overridden does); otherwise on its own, as a pattern of this field alone
    /// (a value some condition accepts; for `exists: false`, no value at all).
    pub held: bool,
    /// The scalars the event holds on the path, in event order; empty when it is missing.
    pub values: Vec<EventValue>,
    /// Each condition of the field, in the pattern's order (ORed).
    pub conditions: Vec<ConditionReport>,
    /// When the group holds: the value (index into `values`) its match used.
    pub used: Option<usize>,
    /// Where the field's condition does not count: the pattern spans (byte ranges of
    /// condition arrays) of the later conditions on the same path that replace it (rule
    /// overriding: inside an `$or` alternative, whichever of an outer and an inner condition
    /// on a path is written later holds). In a group that holds, the condition of the term it
    /// holds through; in a group that does not, the conditions replacing it in every term
    /// built through the group. Empty when the field counts.
    pub overridden_by: Vec<(usize, usize)>,
}

/// A scalar of the event.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"n": [1]}"#)?;
/// let v = &p.explain(br#"{"n": 1.0}"#)?.group.fields[0].values[0];
/// assert_eq!((v.text.as_str(), v.span), ("1.0", (6, 9)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventValue {
    /// The value as written in the event (a string with its quotes and escapes).
    pub text: String,
    /// Its byte range in the event.
    pub span: (usize, usize),
}

/// One condition of a field.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"n": [{"anything-but": [1, 2]}]}"#)?;
/// let c = &p.explain(br#"{"n": [2, 3]}"#)?.group.fields[0].conditions[0];
/// assert_eq!(c.condition, "anything-but [1, 2]");
/// assert_eq!(c.held_for, vec![1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConditionReport {
    /// The condition, as `weir debug ir` prints it.
    pub condition: String,
    /// Whether it held: it accepts some value (`exists: false`: the field is missing).
    pub held: bool,
    /// The values (indexes into the field's `values`) it accepts.
    pub held_for: Vec<usize>,
}

/// An array of the event where array consistency decided: the fields of one sub-pattern
/// must all be satisfied inside one element.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"e": {"f": ["Anna"], "l": ["Jones"]}}"#)?;
/// let event = br#"{"e": [{"f": "Anna", "l": "Smith"}, {"f": "Peter", "l": "Jones"}]}"#;
/// let why = p.explain(event)?;
/// assert!(!why.matched);
/// let a = &why.group.arrays[0];
/// assert_eq!(a.path.as_deref(), Some("e"));
/// assert_eq!(a.satisfied_by, None);
/// assert_eq!(a.elements[0].lacks, vec!["e.l"]);
/// assert_eq!(a.elements[1].lacks, vec!["e.f"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArrayReport {
    /// The array's field path; `None` for an array at the top of the event.
    pub path: Option<String>,
    /// Its byte range in the event.
    pub span: (usize, usize),
    /// The fields that have accepted values inside the array.
    pub fields: Vec<String>,
    /// When the group holds: the element its match used.
    pub satisfied_by: Option<usize>,
    /// The `exists: false` fields (of `fields`) with values inside the array that come, in
    /// path order, before every field of `fields` that can take a value inside it. An
    /// absence is judged against the values chosen for the fields before it, so these are
    /// judged before any value inside the array is chosen: their value in any element counts
    /// against every element (unless an outer array keeps it apart).
    pub judged_first: Vec<String>,
    /// Every element, with what it lacks.
    pub elements: Vec<ElementReport>,
}

/// One element of an [`ArrayReport`].
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"e": {"f": ["Anna"], "l": ["Jones"]}}"#)?;
/// let event = br#"{"e": [{"f": "Anna"}, {"f": "Anna", "l": "Jones"}]}"#;
/// let a = &p.explain(event)?.group.arrays[0];
/// assert_eq!(a.satisfied_by, Some(1));
/// assert_eq!((a.elements[1].index, a.elements[1].span), (1, (22, 49)));
/// assert!(a.elements[1].lacks.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ElementReport {
    /// The element's index in the array.
    pub index: usize,
    /// Its byte range in the event.
    pub span: (usize, usize),
    /// The fields (of the array's `fields`) that need a value and have no accepted value in
    /// this element.
    pub lacks: Vec<String>,
    /// The `exists: false` fields (of the array's `fields`) this element has a value for
    /// that no condition of the field accepts. (Absence is judged against the values chosen
    /// for the fields before it in path order, so such a value need not rule the element out
    /// when an inner array keeps it apart from them.)
    pub unwanted: Vec<String>,
}

/// Why one event did or did not match a rule of a [`Matcher`](crate::Matcher): one
/// [`Explanation`] per pattern of the rule (the rule matches when any does).
///
/// # Example
/// ```
/// let mut m = weir::Matcher::new();
/// m.add_rule("r", r#"{"a": [1]}"#)?;
/// m.add_rule("r", r#"{"b": [2]}"#)?;
/// let why = m.explain("r", br#"{"b": 2}"#)?.expect("rule r exists");
/// assert!(why.matched);
/// assert_eq!(why.patterns.len(), 2);
/// assert!(!why.patterns[0].matched && why.patterns[1].matched);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleExplanation {
    /// The rule's name.
    pub rule: String,
    /// Whether the event matches the rule (the matcher's verdict).
    pub matched: bool,
    /// Each pattern of the rule, in the order they were added.
    pub patterns: Vec<Explanation>,
}

impl Pattern {
    /// Explains why `event` does or does not match the pattern. The event is read and
    /// validated as the matcher's default reading does (a malformed event is the same
    /// error); the verdict is the matcher's.
    ///
    /// # Example
    /// ```
    /// let p = weir::Pattern::parse(r#"{"source": ["aws.ec2"]}"#)?;
    /// let why = p.explain(br#"{"source": "aws.s3"}"#)?;
    /// assert!(!why.matched);
    /// assert_eq!(why.group.fields[0].values[0].text, r#""aws.s3""#);
    /// assert!(p.explain(b"{oops").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn explain(&self, event: &[u8]) -> Result<Explanation, EventError> {
        let read = read::read(event)?;
        Ok(eval::Explainer::new(self, event, &read).explain())
    }
}

impl crate::Matcher {
    /// Explains why `event` does or does not match the rule `rule`: one explanation per
    /// pattern of the rule. `Ok(None)` when the matcher holds no rule of that name (the
    /// event is then not read).
    ///
    /// Each pattern is explained as the matcher holds it (validated with the options it was
    /// read with). The event is read as
    /// [`EventReading::Validate`](crate::EventReading::Validate) reads it, whatever the
    /// matcher's reading.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_rule("big", r#"{"size": [{"numeric": [">", 10]}]}"#)?;
    /// let why = m.explain("big", br#"{"size": 42}"#)?.unwrap();
    /// assert!(why.matched);
    /// assert!(m.explain("unknown", b"{}")?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn explain(&self, rule: &str, event: &[u8]) -> Result<Option<RuleExplanation>, EventError> {
        let Some(held) = self.rule_pattern_list(rule) else {
            return Ok(None);
        };
        let read = read::read(event)?;
        let patterns: Vec<Explanation> = held
            .iter()
            .map(|p| eval::Explainer::new(p, event, &read).explain())
            .collect();
        Ok(Some(RuleExplanation {
            rule: rule.to_string(),
            matched: patterns.iter().any(|p| p.matched),
            patterns,
        }))
    }
}

// ---------------------------------------------------------------- JSON

/// Appends `s` as a JSON string.
fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn span(out: &mut String, (start, end): (usize, usize)) {
    let _ = write!(out, "[{start},{end}]");
}

fn list<T>(out: &mut String, items: &[T], mut item: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        item(out, x);
    }
    out.push(']');
}

fn index(out: &mut String, i: Option<usize>) {
    match i {
        Some(i) => {
            let _ = write!(out, "{i}");
        }
        None => out.push_str("null"),
    }
}

impl Explanation {
    /// The explanation as one line of JSON:
    ///
    /// ```text
    /// {"matched":bool,"pattern":"...","group":GROUP}
    /// GROUP     {"held":bool,"term":i|null,"fields":[FIELD...],"ors":[OR...],
    ///            "arrays":[ARRAY...]}
    /// FIELD     {"path":"a.b","pattern_span":[s,e],"held":bool,
    ///            "values":[{"text":"...","span":[s,e]}...],
    ///            "conditions":[{"condition":"...","held":bool,"held_for":[i...]}...],
    ///            "used":i|null,"overridden_by":[[s,e]...]}
    /// OR        {"held":bool,"used":i|null,"alternatives":[GROUP...]}
    /// ARRAY     {"path":"a"|null,"span":[s,e],"fields":["..."],"satisfied_by":i|null,
    ///            "judged_first":["..."],"elements":[{"index":i,"span":[s,e],"lacks":["..."],"unwanted":["..."]}...]}
    /// ```
    ///
    /// Spans are byte ranges (start inclusive, end exclusive): `pattern_span` and
    /// `overridden_by` in the pattern text, the others in the event.
    ///
    /// # Example
    /// ```
    /// let p = weir::Pattern::parse(r#"{"a": [1]}"#)?;
    /// assert_eq!(
    ///     p.explain(br#"{"a": 2}"#)?.to_json(),
    ///     concat!(
    ///         r#"{"matched":false,"pattern":"{\"a\": [1]}","group":{"held":false,"term":null,"#,
    ///         r#""fields":[{"path":"a","pattern_span":[6,9],"held":false,"values":[{"text":"2","span":[6,7]}],"#,
    ///         r#""conditions":[{"condition":"1","held":false,"held_for":[]}],"used":null,"overridden_by":[]}],"#,
    ///         r#""ors":[],"arrays":[]}}"#
    ///     )
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        let _ = write!(out, "{{\"matched\":{},\"pattern\":", self.matched);
        quote(out, &self.pattern);
        out.push_str(",\"group\":");
        self.group.write_json(out);
        out.push('}');
    }
}

impl GroupReport {
    fn write_json(&self, out: &mut String) {
        let _ = write!(out, "{{\"held\":{},\"term\":", self.held);
        index(out, self.term);
        out.push_str(",\"fields\":");
        list(out, &self.fields, |out, f| f.write_json(out));
        out.push_str(",\"ors\":");
        list(out, &self.ors, |out, or| {
            let _ = write!(out, "{{\"held\":{},\"used\":", or.held);
            index(out, or.used);
            out.push_str(",\"alternatives\":");
            list(out, &or.alternatives, |out, g| g.write_json(out));
            out.push('}');
        });
        out.push_str(",\"arrays\":");
        list(out, &self.arrays, |out, a| a.write_json(out));
        out.push('}');
    }
}

impl FieldReport {
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"path\":");
        quote(out, &self.path);
        out.push_str(",\"pattern_span\":");
        span(out, self.pattern_span);
        let _ = write!(out, ",\"held\":{},\"values\":", self.held);
        list(out, &self.values, |out, v| {
            out.push_str("{\"text\":");
            quote(out, &v.text);
            out.push_str(",\"span\":");
            span(out, v.span);
            out.push('}');
        });
        out.push_str(",\"conditions\":");
        list(out, &self.conditions, |out, c| {
            out.push_str("{\"condition\":");
            quote(out, &c.condition);
            let _ = write!(out, ",\"held\":{},\"held_for\":", c.held);
            list(out, &c.held_for, |out, i| {
                let _ = write!(out, "{i}");
            });
            out.push('}');
        });
        out.push_str(",\"used\":");
        index(out, self.used);
        out.push_str(",\"overridden_by\":");
        list(out, &self.overridden_by, |out, s| span(out, *s));
        out.push('}');
    }
}

impl ArrayReport {
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"path\":");
        match &self.path {
            Some(p) => quote(out, p),
            None => out.push_str("null"),
        }
        out.push_str(",\"span\":");
        span(out, self.span);
        out.push_str(",\"fields\":");
        list(out, &self.fields, |out, f| quote(out, f));
        out.push_str(",\"satisfied_by\":");
        index(out, self.satisfied_by);
        out.push_str(",\"judged_first\":");
        list(out, &self.judged_first, |out, f| quote(out, f));
        out.push_str(",\"elements\":");
        list(out, &self.elements, |out, e| {
            let _ = write!(out, "{{\"index\":{},\"span\":", e.index);
            span(out, e.span);
            out.push_str(",\"lacks\":");
            list(out, &e.lacks, |out, f| quote(out, f));
            out.push_str(",\"unwanted\":");
            list(out, &e.unwanted, |out, f| quote(out, f));
            out.push('}');
        });
        out.push('}');
    }
}

impl RuleExplanation {
    /// The explanation as one line of JSON:
    /// `{"rule":"name","matched":bool,"patterns":[EXPLANATION...]}`, each pattern as
    /// [`Explanation::to_json`] writes it.
    ///
    /// # Example
    /// ```
    /// let mut m = weir::Matcher::new();
    /// m.add_pattern("r", weir::Pattern::match_all());
    /// let json = m.explain("r", b"{}")?.unwrap().to_json();
    /// assert!(json.starts_with(r#"{"rule":"r","matched":true,"patterns":[{"matched":true,"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"rule\":");
        quote(&mut out, &self.rule);
        let _ = write!(out, ",\"matched\":{},\"patterns\":", self.matched);
        list(&mut out, &self.patterns, |out, p| p.write_json(out));
        out.push('}');
        out
    }
}

// ---------------------------------------------------------------- text

/// Longest event value shown in full, in characters; longer ones are cut with `...`.
const SHOWN: usize = 40;

fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

fn verdict(held: bool) -> &'static str {
    if held {
        "holds"
    } else {
        "fails"
    }
}

fn at((start, end): (usize, usize)) -> String {
    format!("at {start}..{end}")
}

impl GroupReport {
    fn write_text(&self, f: &mut impl fmt::Write, indent: usize) -> fmt::Result {
        let pad = " ".repeat(indent);
        for field in &self.fields {
            field.write_text(f, indent)?;
        }
        for or in &self.ors {
            let held: Vec<String> = or
                .alternatives
                .iter()
                .enumerate()
                .filter(|(_, a)| a.held)
                .map(|(i, _)| i.to_string())
                .collect();
            match (or.used, held.len()) {
                (Some(i), _) => writeln!(f, "{pad}$or: alternative {i} holds")?,
                (None, 0) => writeln!(f, "{pad}$or: no alternative holds")?,
                (None, 1) => writeln!(f, "{pad}$or: alternative {} holds", held[0])?,
                (None, _) => writeln!(f, "{pad}$or: alternatives {} hold", held.join(", "))?,
            }
            for (i, alternative) in or.alternatives.iter().enumerate() {
                writeln!(f, "{pad}  alternative {i}, {}", verdict(alternative.held))?;
                alternative.write_text(f, indent + 4)?;
            }
        }
        for array in &self.arrays {
            let name = match &array.path {
                Some(p) => format!("array {p}"),
                None => "top-level array".to_string(),
            };
            // A field whose every condition is `exists: false` is satisfied by lacking it.
            let absence = |path: &String| {
                self.fields.iter().any(|field| {
                    &field.path == path
                        && !field.conditions.is_empty()
                        && field
                            .conditions
                            .iter()
                            .all(|c| c.condition == "exists false")
                })
            };
            let (lacked, had): (Vec<&String>, Vec<&String>) =
                array.fields.iter().partition(|p| absence(p));
            let join = |v: &[&String]| {
                v.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            };
            let together = match (had.is_empty(), lacked.is_empty()) {
                (false, true) => format!("has {} together", join(&had)),
                (false, false) => format!("has {} and lacks {}", join(&had), join(&lacked)),
                (true, _) => format!("lacks {}", join(&lacked)),
            };
            match array.satisfied_by {
                Some(i) => writeln!(f, "{pad}{name} {}: element {i} {together}", at(array.span))?,
                None => {
                    writeln!(f, "{pad}{name} {}: no element {together}", at(array.span))?;
                    for e in &array.elements {
                        let mut why = Vec::new();
                        if !e.lacks.is_empty() {
                            why.push(format!("lacks {}", e.lacks.join(" and ")));
                        }
                        if !e.unwanted.is_empty() {
                            why.push(format!("has {} (exists false)", e.unwanted.join(" and ")));
                        }
                        let why = match (why.is_empty(), array.judged_first.is_empty()) {
                            (false, _) => why.join(", "),
                            (true, false) => format!(
                                "has each, but {} is judged first (path order), before a value \
                                 in this array is chosen, and a value in another element fails it",
                                array.judged_first.join(" and ")
                            ),
                            (true, true) => {
                                "has each, not together (another array keeps them apart)"
                                    .to_string()
                            }
                        };
                        writeln!(f, "{pad}  element {} {}: {why}", e.index, at(e.span))?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl FieldReport {
    fn write_text(&self, f: &mut impl fmt::Write, indent: usize) -> fmt::Result {
        let pad = " ".repeat(indent);
        let values = if self.values.is_empty() {
            "missing".to_string()
        } else {
            self.values
                .iter()
                .map(|v| format!("{} {}", shown(&v.text), at(v.span)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.overridden_by.is_empty() {
            writeln!(f, "{pad}{}: {values}, {}", self.path, verdict(self.held))?;
        } else {
            let by: Vec<String> = self
                .overridden_by
                .iter()
                .map(|&(s, e)| format!("{s}..{e}"))
                .collect();
            writeln!(
                f,
                "{pad}{}: {values}, overridden here by the later condition at pattern {}",
                self.path,
                by.join(", ")
            )?;
        }
        for c in &self.conditions {
            let outcome = match (c.held, self.values.len()) {
                (false, _) => "does not hold".to_string(),
                (true, 0 | 1) => "holds".to_string(),
                (true, _) => {
                    let which: Vec<String> = c
                        .held_for
                        .iter()
                        .filter_map(|&i| self.values.get(i))
                        .map(|v| format!("{} {}", shown(&v.text), at(v.span)))
                        .collect();
                    format!("holds for {}", which.join(", "))
                }
            };
            writeln!(f, "{pad}  {}: {outcome}", c.condition)?;
        }
        Ok(())
    }
}

impl fmt::Display for Explanation {
    /// A short report: the verdict, then per field its values and each condition's outcome,
    /// the `$or`s with their alternatives, and the arrays where consistency decided.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys and values are the event's and the pattern's text: no control character of
        // theirs reaches a terminal.
        let f = &mut Printable(f);
        writeln!(f, "{}", if self.matched { "match" } else { "no match" })?;
        if self.group.fields.is_empty() && self.group.ors.is_empty() {
            writeln!(f, "  the pattern names no field: every event matches")?;
        }
        self.group.write_text(f, 2)
    }
}

impl fmt::Display for RuleExplanation {
    /// The rule's verdict, then each pattern's report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut name = String::new();
        quote(&mut name, &self.rule);
        let f = &mut Printable(f);
        writeln!(
            f,
            "rule {name}: {}",
            if self.matched { "match" } else { "no match" }
        )?;
        for (i, p) in self.patterns.iter().enumerate() {
            write!(f, "pattern {i}: {p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
