//! Stage 2: syntax tree -> validated pattern (field paths and operators).
//!
//! Validation follows AWS EventBridge (event-ruler) rule by rule, with AWS's reason texts. The
//! result is a [`Pattern`]: a tree of [`Group`]s (leaves ANDed, `$or` alternatives ORed) and
//! its disjunctive normal form, the list of [`Term`]s the matchers work on.

mod casemap;
mod casemap_table;
mod complexity;
mod value;

pub use complexity::DEFAULT_MAX_COMPLEXITY;

use std::fmt;

pub(crate) use casemap::{
    case_key, ends_with_ignore_case_bytes, eq_ignore_case_bytes, push_case_key,
    starts_with_ignore_case_bytes,
};
pub use casemap::{ends_with_ignore_case, eq_ignore_case, starts_with_ignore_case};
pub use value::{
    exact_f64, number_spelling, parse_ip, Cidr, Number, Wildcard, WildcardPiece, TOO_COMPLEX,
};
pub(crate) use value::{finite_f64, is_exact};

use crate::error::{PatternError, PatternErrorKind};
use crate::syntax::{self, Member, Node, NodeKind};

/// How patterns are read. The defaults follow EventBridge.
///
/// # Example
/// ```
/// let strict = weir::Options::new().lambda_strict(true);
/// let err = weir::Pattern::parse_with(r#"{"a": [{"wildcard": "x*"}]}"#, &strict).unwrap_err();
/// assert_eq!(err.kind(), weir::PatternErrorKind::Unsupported);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    lambda_strict: bool,
    numbers_as_strings: bool,
    max_length: usize,
    max_fields: usize,
    max_terms: usize,
    max_complexity: usize,
    /// Accept empty objects (always satisfied): only for patterns weir builds itself, such as
    /// the metadata part of a Lambda filter, never for user text.
    pub(crate) allow_empty_objects: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            lambda_strict: false,
            numbers_as_strings: false,
            max_length: 4096,
            max_fields: 256,
            max_terms: 16_384,
            max_complexity: DEFAULT_MAX_COMPLEXITY,
            allow_empty_objects: false,
        }
    }
}

impl Options {
    /// EventBridge defaults: every operator, numbers compared numerically, AWS's limits.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::Options::new(), weir::Options::default());
    /// ```
    pub fn new() -> Options {
        Options::default()
    }

    /// Reject what Lambda event filtering does not support (`wildcard` and the `anything-but`
    /// variants), and let a repeated key's last value win outright, as Lambda documents.
    ///
    /// # Example
    /// ```
    /// let o = weir::Options::new().lambda_strict(true);
    /// assert!(weir::Pattern::parse_with(r#"{"a": [{"anything-but": {"prefix": "x"}}]}"#, &o).is_err());
    /// ```
    pub fn lambda_strict(mut self, yes: bool) -> Options {
        self.lambda_strict = yes;
        self
    }

    /// Compare number literals by their text, the old Lambda rule (`300` does not match `300.0`).
    ///
    /// # Example
    /// ```
    /// let o = weir::Options::new().numbers_as_strings(true);
    /// let p = weir::Pattern::parse_with(r#"{"n": [300]}"#, &o)?;
    /// assert!(!p.matches(br#"{"n": 300.0}"#)?);
    /// assert!(p.matches(br#"{"n": 300}"#)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn numbers_as_strings(mut self, yes: bool) -> Options {
        self.numbers_as_strings = yes;
        self
    }

    /// Longest pattern text accepted, in characters (AWS: 4096).
    ///
    /// # Example
    /// ```
    /// let o = weir::Options::new().max_length(10);
    /// assert!(weir::Pattern::parse_with(r#"{"abc": ["defgh"]}"#, &o).is_err());
    /// ```
    pub fn max_length(mut self, chars: usize) -> Options {
        self.max_length = chars;
        self
    }

    /// Most leaf fields one pattern may name (event-ruler: 256).
    ///
    /// # Example
    /// ```
    /// let o = weir::Options::new().max_fields(1);
    /// assert!(weir::Pattern::parse_with(r#"{"a": [1], "b": [2]}"#, &o).is_err());
    /// ```
    pub fn max_fields(mut self, fields: usize) -> Options {
        self.max_fields = fields;
        self
    }

    /// Most alternatives the `$or`s of one pattern may expand to.
    ///
    /// # Example
    /// ```
    /// let o = weir::Options::new().max_terms(1);
    /// let err = weir::Pattern::parse_with(r#"{"$or": [{"a": [1]}, {"b": [2]}]}"#, &o).unwrap_err();
    /// assert_eq!(err.kind(), weir::PatternErrorKind::Limit);
    /// ```
    pub fn max_terms(mut self, terms: usize) -> Options {
        self.max_terms = terms;
        self
    }

    /// Highest wildcard complexity accepted (AWS: [`DEFAULT_MAX_COMPLEXITY`], 10): how many
    /// places in a field's `wildcard` and `anything-but` `wildcard` values one input can be
    /// matched at at once, as event-ruler measures it.
    ///
    /// # Example
    /// ```
    /// let text = r#"{"f": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}"#; // complexity 11
    /// assert!(weir::Pattern::parse(text).is_err());
    /// assert!(weir::Pattern::parse_with(text, &weir::Options::new().max_complexity(11)).is_ok());
    /// ```
    pub fn max_complexity(mut self, complexity: usize) -> Options {
        self.max_complexity = complexity;
        self
    }

    /// Whether Lambda-strict mode is on.
    ///
    /// # Example
    /// ```
    /// assert!(!weir::Options::new().is_lambda_strict());
    /// ```
    pub fn is_lambda_strict(&self) -> bool {
        self.lambda_strict
    }
}

/// A literal match value.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"a": [null]}"#)?;
/// assert_eq!(p.terms()[0].leaves[0].matchers[0], weir::ir::Matcher::Exact(weir::ir::Literal::Null));
/// # Ok::<(), weir::PatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Literal {
    /// A string, byte for byte.
    String(String),
    /// A number, compared numerically (or by text when it names no double exactly).
    Number(Number),
    /// A number compared by its text only (the numbers-as-strings option).
    NumberText(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A numeric range; `None` bounds are open.
///
/// # Example
/// ```
/// let r = weir::ir::Range { lower: Some((0.0, false)), upper: Some((5.0, true)) };
/// assert!(r.contains(5.0) && !r.contains(0.0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// Lower bound and whether it is inclusive.
    pub lower: Option<(f64, bool)>,
    /// Upper bound and whether it is inclusive.
    pub upper: Option<(f64, bool)>,
}

impl Range {
    /// Whether `x` lies in the range.
    ///
    /// # Example
    /// ```
    /// let r = weir::ir::Range { lower: None, upper: Some((1.0, false)) };
    /// assert!(r.contains(-1e300) && !r.contains(1.0));
    /// ```
    pub fn contains(&self, x: f64) -> bool {
        let lower_ok = match self.lower {
            None => true,
            Some((b, true)) => x >= b,
            Some((b, false)) => x > b,
        };
        let upper_ok = match self.upper {
            None => true,
            Some((b, true)) => x <= b,
            Some((b, false)) => x < b,
        };
        lower_ok && upper_ok
    }
}

/// What an `anything-but` excludes.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"a": [{"anything-but": {"prefix": "x"}}]}"#)?;
/// let weir::ir::Matcher::AnythingBut(ab) = &p.terms()[0].leaves[0].matchers[0] else { panic!() };
/// assert_eq!(ab, &weir::ir::AnythingBut::Prefix(vec!["x".into()]));
/// # Ok::<(), weir::PatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum AnythingBut {
    /// Values (all strings or all numbers) the field must not equal.
    Literals(Vec<Literal>),
    /// Prefixes a string must not start with.
    Prefix(Vec<String>),
    /// Suffixes a string must not end with.
    Suffix(Vec<String>),
    /// Strings a string must not equal, ignoring case (as written; see [`eq_ignore_case`]).
    EqualsIgnoreCase(Vec<String>),
    /// Wildcards a string must not match.
    Wildcard(Vec<Wildcard>),
}

/// One match condition inside a leaf array.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"a": [{"prefix": "us-"}]}"#)?;
/// assert_eq!(p.terms()[0].leaves[0].matchers[0], weir::ir::Matcher::Prefix("us-".into()));
/// # Ok::<(), weir::PatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Matcher {
    /// A literal, or `{"exactly": ...}`.
    Exact(Literal),
    /// `{"prefix": "..."}`.
    Prefix(String),
    /// `{"prefix": {"equals-ignore-case": "..."}}` (operand as written; see
    /// [`starts_with_ignore_case`]).
    PrefixIgnoreCase(String),
    /// `{"suffix": "..."}`.
    Suffix(String),
    /// `{"suffix": {"equals-ignore-case": "..."}}` (operand as written; see
    /// [`ends_with_ignore_case`]).
    SuffixIgnoreCase(String),
    /// `{"equals-ignore-case": "..."}` (operand as written; see [`eq_ignore_case`]).
    EqualsIgnoreCase(String),
    /// `{"wildcard": "..."}`.
    Wildcard(Wildcard),
    /// `{"anything-but": ...}`.
    AnythingBut(AnythingBut),
    /// `{"numeric": [...]}`.
    Numeric(Range),
    /// `{"cidr": "..."}`.
    Cidr(Cidr),
    /// `{"exists": true|false}`.
    Exists(bool),
}

/// A leaf: a dot-joined field path and the match conditions ORed on it.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"detail": {"state": ["on", "off"]}}"#)?;
/// let leaf = &p.terms()[0].leaves[0];
/// assert_eq!(leaf.path, "detail.state");
/// assert_eq!(leaf.matchers.len(), 2);
/// # Ok::<(), weir::PatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Leaf {
    /// Event field path, keys joined with `.`.
    pub path: String,
    /// Conditions, ORed.
    pub matchers: Vec<Matcher>,
    /// Byte range of the leaf's array in the pattern text.
    pub span: (usize, usize),
}

impl Leaf {
    /// Whether the leaf is `[{"exists": false}]` alone: satisfied by absence, not by a value.
    ///
    /// # Example
    /// ```
    /// let p = weir::Pattern::parse(r#"{"a": [{"exists": false}]}"#)?;
    /// assert!(p.terms()[0].leaves[0].is_absence());
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn is_absence(&self) -> bool {
        self.matchers
            .iter()
            .all(|m| matches!(m, Matcher::Exists(false)))
    }

    /// Whether the leaf can also be satisfied by the field's absence (`exists: false` among
    /// other conditions).
    ///
    /// # Example
    /// ```
    /// let p = weir::Pattern::parse(r#"{"a": ["x", {"exists": false}]}"#)?;
    /// assert!(p.terms()[0].leaves[0].allows_absence());
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn allows_absence(&self) -> bool {
        self.matchers.contains(&Matcher::Exists(false))
    }
}

/// A conjunction of leaves and `$or` groups, as written.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"a": [1], "$or": [{"b": [2]}, {"c": [3]}]}"#)?;
/// assert_eq!(p.group().leaves.len(), 1);
/// assert_eq!(p.group().ors[0].len(), 2);
/// # Ok::<(), weir::PatternError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    /// Leaves, ANDed.
    pub leaves: Vec<Leaf>,
    /// `$or` groups, ANDed; each is a list of alternatives, ORed.
    pub ors: Vec<Vec<Group>>,
}

/// One alternative of a pattern's disjunctive normal form: leaves, all ANDed.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"$or": [{"b": [2]}, {"c": [3]}]}"#)?;
/// assert_eq!(p.terms().len(), 2);
/// # Ok::<(), weir::PatternError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Term {
    /// Leaves, ANDed.
    pub leaves: Vec<Leaf>,
}

/// A validated pattern.
///
/// # Example
/// ```
/// let p = weir::Pattern::parse(r#"{"detail": {"size": [{"numeric": [">", 10]}]}}"#)?;
/// assert!(p.matches(br#"{"detail": {"size": 11}}"#)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    text: String,
    group: Group,
    terms: Vec<Term>,
    /// Per term, the `$or` alternatives it was built from.
    routes: Vec<Route>,
}

/// The `$or` alternatives one term of a pattern was built from: `(or, alternative)` pairs,
/// the `$or`s numbered in text order (the order of a pre-order walk of [`Group`]: a group's
/// `$or`s in order, each followed by its alternatives' own), alternatives by their index.
pub(crate) type Route = Vec<(u32, u32)>;

impl Pattern {
    /// Parses and validates a pattern with EventBridge defaults.
    ///
    /// # Example
    /// ```
    /// let err = weir::Pattern::parse(r#"{"a": "x"}"#).unwrap_err();
    /// assert_eq!(err.reason(), r#""a" must be an object or an array"#);
    /// ```
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        Pattern::parse_with(text, &Options::default())
    }

    /// Parses and validates a pattern with the given options.
    ///
    /// # Example
    /// ```
    /// let o = weir::Options::new().lambda_strict(true);
    /// assert!(weir::Pattern::parse_with(r#"{"a": [{"prefix": "x"}]}"#, &o).is_ok());
    /// ```
    pub fn parse_with(text: &str, options: &Options) -> Result<Pattern, PatternError> {
        let length = text.chars().count();
        if length > options.max_length {
            return Err(PatternError::new(
                PatternErrorKind::Limit,
                format!(
                    "Member must have length less than or equal to {} (the pattern has {length} characters)",
                    options.max_length
                ),
                text,
                None,
                "",
            ));
        }
        let ast = syntax::parse(text)?;
        Pattern::from_ast(text, &ast, options)
    }

    /// Validates an already parsed syntax tree of `text`.
    ///
    /// # Example
    /// ```
    /// let text = r#"{"a": [true]}"#;
    /// let ast = weir::syntax::parse(text)?;
    /// let p = weir::Pattern::from_ast(text, &ast, &weir::Options::new())?;
    /// assert_eq!(p.terms().len(), 1);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn from_ast(text: &str, ast: &Node, options: &Options) -> Result<Pattern, PatternError> {
        let v = Validator {
            text,
            options,
            root: (ast.start, ast.end),
            ors: std::cell::Cell::new(0),
        };
        let NodeKind::Object(members) = &ast.kind else {
            return Err(v.err(
                PatternErrorKind::Invalid,
                "Filter is not an object",
                ast,
                "",
            ));
        };
        if members.is_empty() && !options.allow_empty_objects {
            return Err(v.invalid(EMPTY_OBJECT, ast, ""));
        }
        let mut routed = vec![(Term::default(), Route::new())];
        let group = v.group(members, None, "", &mut routed)?;
        let (terms, routes): (Vec<Term>, Vec<Route>) = routed.into_iter().unzip();
        let fields = count_fields(&group);
        if fields > options.max_fields {
            return Err(v.err(
                PatternErrorKind::Limit,
                format!(
                    "Pattern has {fields} fields; at most {} are allowed",
                    options.max_fields
                ),
                ast,
                "",
            ));
        }
        // Refused above the limit; the measure stops counting just past it.
        let cap = options.max_complexity.saturating_add(1);
        if let Some((c, leaf)) = complexity::measure(&terms, cap) {
            if c.is_none_or(|c| c > options.max_complexity) {
                return Err(PatternError::new(
                    PatternErrorKind::Limit,
                    TOO_COMPLEX,
                    text,
                    Some(leaf.span),
                    &leaf.path,
                ));
            }
        }
        Ok(Pattern {
            text: text.to_string(),
            group,
            terms,
            routes,
        })
    }

    /// The pattern with no conditions, which every event matches (what a FilterCriteria
    /// without filters means). Its text is `{}`, which [`Pattern::parse`] refuses: AWS allows
    /// no empty object in a pattern.
    ///
    /// # Example
    /// ```
    /// let all = weir::Pattern::match_all();
    /// assert!(all.matches(br#"{"any": "thing"}"#)?);
    /// assert!(weir::Pattern::parse(all.text()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn match_all() -> Pattern {
        Pattern {
            text: "{}".to_string(),
            group: Group::default(),
            terms: vec![Term::default()],
            routes: vec![Route::new()],
        }
    }

    /// The pattern text.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::Pattern::parse(r#"{"a": [1]}"#)?.text(), r#"{"a": [1]}"#);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The pattern as written: each object's leaves (one per path, the last written) and its
    /// `$or` groups. Where a path is set both outside and inside an `$or` alternative, the
    /// condition that holds in each alternative is the one written later: only
    /// [`Pattern::terms`] says which.
    ///
    /// # Example
    /// ```
    /// assert!(weir::Pattern::parse(r#"{"$or": [{"a": [1]}, {"b": [2]}]}"#)?.group().leaves.is_empty());
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn group(&self) -> &Group {
        &self.group
    }

    /// The disjunctive normal form: the pattern matches when any term does.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::Pattern::parse(r#"{"a": [1], "b": [2]}"#)?.terms().len(), 1);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Per term of [`Pattern::terms`], the `$or` alternatives it was built from: what says
    /// which alternative a term goes through, even where overriding leaves an alternative
    /// no condition of its own.
    pub(crate) fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Every distinct field path the pattern names.
    ///
    /// # Example
    /// ```
    /// let p = weir::Pattern::parse(r#"{"a": {"b": [1]}, "c.d": [2]}"#)?;
    /// assert_eq!(p.paths(), vec!["a.b", "c.d"]);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn paths(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for term in &self.terms {
            for leaf in &term.leaves {
                if !out.contains(&leaf.path.as_str()) {
                    out.push(&leaf.path);
                }
            }
        }
        out
    }

    /// Whether the pattern reads event keys that are exactly `""`: only when one of its paths
    /// names an empty step (event-ruler reads the keys some rule's path steps name; the
    /// steps of `a.` are just `a`). Otherwise such keys and what is under them are invisible.
    pub(crate) fn reads_empty_keys(&self) -> bool {
        self.terms
            .iter()
            .flat_map(|t| &t.leaves)
            .any(|l| names_empty_step(&l.path))
    }
}

fn count_fields(group: &Group) -> usize {
    group.leaves.len() + group.ors.iter().flatten().map(count_fields).sum::<usize>()
}

/// Orders field paths as event-ruler does (Java strings: by UTF-16 code units).
pub(crate) fn java_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Whether a leaf path names an empty step as event-ruler records a rule's steps (the path
/// split on `.`, trailing empty pieces dropped, so `a.` names only `a`; `""` names `""`).
fn names_empty_step(path: &str) -> bool {
    let steps = path.trim_end_matches('.');
    path.is_empty() || (!steps.is_empty() && steps.split('.').any(str::is_empty))
}

/// Sets `leaf` in `term`: a condition on the same path is replaced (the last one written wins,
/// per flattened path, as event-ruler's rule overriding has it).
fn put(term: &mut Term, leaf: Leaf) {
    match term.leaves.iter_mut().find(|l| l.path == leaf.path) {
        Some(old) => *old = leaf,
        None => term.leaves.push(leaf),
    }
}

/// The path of a leaf under the object whose path is `prefix` (`None` at the top): joined with
/// `.`, except that an empty prefix adds nothing (event-ruler joins `{"": {"a": ..}}` to `a`).
fn leaf_path(prefix: Option<&str>, key: &str) -> String {
    match prefix {
        None | Some("") => key.to_string(),
        Some(p) => format!("{p}.{key}"),
    }
}

/// The path of an object under `prefix`: its keys joined with `.`, empty ones included. Event
/// keys join the same way, every one of them (`{"": {"a": ..}}` is `.a` in an event), which is
/// how `explain` names an event value's path.
pub(crate) fn object_path(prefix: Option<&str>, key: &str) -> String {
    match prefix {
        None => key.to_string(),
        Some(p) => format!("{p}.{key}"),
    }
}

struct Validator<'a> {
    text: &'a str,
    options: &'a Options,
    /// Byte range of the whole pattern (for errors about it as a whole).
    root: (usize, usize),
    /// How many `$or`s were met so far: the next one's number in a [`Route`].
    ors: std::cell::Cell<u32>,
}

/// AWS refuses an empty object anywhere in a pattern, `{}` itself included.
const EMPTY_OBJECT: &str = "Empty objects are not allowed";

/// The first empty object inside `node` (in text order) and its JSON path.
fn first_empty_object<'n>(node: &'n Node, jpath: &str) -> Option<(&'n Node, String)> {
    match &node.kind {
        NodeKind::Object(members) if members.is_empty() => Some((node, jpath.to_string())),
        NodeKind::Object(members) => members
            .iter()
            .find_map(|m| first_empty_object(&m.value, &join_key(jpath, &m.key))),
        NodeKind::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, it)| first_empty_object(it, &format!("{jpath}[{i}]"))),
        _ => None,
    }
}

const ANYTHING_BUT_SHAPE: &str =
    "Value of anything-but must be an array or single string/number value.";

impl<'a> Validator<'a> {
    fn err(
        &self,
        kind: PatternErrorKind,
        reason: impl Into<String>,
        node: &Node,
        jpath: &str,
    ) -> PatternError {
        PatternError::new(kind, reason, self.text, Some((node.start, node.end)), jpath)
    }

    /// An error from a value parser ([`Cidr::parse`], [`Wildcard::parse`]), placed at `node`.
    fn place(&self, e: PatternError, node: &Node, jpath: &str) -> PatternError {
        e.placed(self.text, (node.start, node.end), jpath)
    }

    fn invalid(&self, reason: impl Into<String>, node: &Node, jpath: &str) -> PatternError {
        self.err(PatternErrorKind::Invalid, reason, node, jpath)
    }

    fn unsupported(&self, what: &str, node: &Node, jpath: &str) -> PatternError {
        self.err(
            PatternErrorKind::Unsupported,
            format!("{what} is not supported by Lambda event filtering"),
            node,
            jpath,
        )
    }

    /// Reads one object of the pattern, in text order, as event-ruler does: `prefix` is the
    /// object's field path (`None` at the top). Returns the object as written (its leaves, one
    /// per path, the last written, and its `$or`s) and sets each leaf in every term of `rules`
    /// (the disjunctive normal form so far); an `$or` forks `rules`, one copy per alternative.
    fn group(
        &self,
        members: &[Member],
        prefix: Option<&str>,
        jpath: &str,
        rules: &mut Vec<(Term, Route)>,
    ) -> Result<Group, PatternError> {
        let mut group = Group::default();
        // Lambda-strict: a repeated key's last value wins outright (two real `$or`s still AND).
        let kept: Vec<&Member> = if self.options.lambda_strict {
            members
                .iter()
                .enumerate()
                .filter(|&(i, m)| {
                    is_real_or(m)
                        || !members[i + 1..]
                            .iter()
                            .any(|later| later.key == m.key && !is_real_or(later))
                })
                .map(|(_, m)| m)
                .collect()
        } else {
            members.iter().collect()
        };
        for m in kept {
            let here = join_key(jpath, &m.key);
            if matches!(&m.value.kind, NodeKind::Object(inner) if inner.is_empty()) {
                return Err(self.invalid(EMPTY_OBJECT, &m.value, &here));
            }
            match &m.value.kind {
                NodeKind::Array(alts) if is_real_or(m) => {
                    if !self.options.allow_empty_objects {
                        if let Some((i, alt)) = alts
                            .iter()
                            .enumerate()
                            .find(|(_, a)| matches!(&a.kind, NodeKind::Object(x) if x.is_empty()))
                        {
                            return Err(self.invalid(EMPTY_OBJECT, alt, &format!("{here}[{i}]")));
                        }
                    }
                    let current = std::mem::take(rules);
                    let or = self.ors.get();
                    self.ors.set(or + 1);
                    let mut alternatives = Vec::with_capacity(alts.len());
                    for (i, alt) in alts.iter().enumerate() {
                        let NodeKind::Object(inner) = &alt.kind else {
                            unreachable!("is_real_or checked the alternatives")
                        };
                        let mut forked = current.clone();
                        for (_, route) in &mut forked {
                            route.push((or, i as u32));
                        }
                        alternatives.push(self.group(
                            inner,
                            prefix,
                            &format!("{here}[{i}]"),
                            &mut forked,
                        )?);
                        rules.append(&mut forked);
                        if rules.len() > self.options.max_terms {
                            return Err(PatternError::new(
                                PatternErrorKind::Limit,
                                format!(
                                    "Rule is too complex - its $or alternatives expand to more than {} combinations",
                                    self.options.max_terms
                                ),
                                self.text,
                                Some(self.root),
                                "",
                            ));
                        }
                    }
                    group.ors.push(alternatives);
                }
                NodeKind::Array(values) => {
                    let leaf = self.leaf(leaf_path(prefix, &m.key), &m.value, values, &here)?;
                    for (term, _) in rules.iter_mut() {
                        put(term, leaf.clone());
                    }
                    group.leaves.retain(|l| l.path != leaf.path);
                    group.leaves.push(leaf);
                }
                NodeKind::Object(inner) => {
                    let path = object_path(prefix, &m.key);
                    let nested = self.group(inner, Some(&path), &here, rules)?;
                    for leaf in nested.leaves {
                        group.leaves.retain(|l| l.path != leaf.path);
                        group.leaves.push(leaf);
                    }
                    group.ors.extend(nested.ors);
                }
                _ => {
                    return Err(self.invalid(
                        format!("\"{}\" must be an object or an array", m.key),
                        &m.value,
                        &here,
                    ))
                }
            }
        }
        Ok(group)
    }

    fn leaf(
        &self,
        path: String,
        node: &Node,
        values: &[Node],
        jpath: &str,
    ) -> Result<Leaf, PatternError> {
        if values.is_empty() {
            return Err(self.invalid("Empty arrays are not allowed", node, jpath));
        }
        let mut matchers = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let here = format!("{jpath}[{i}]");
            let m = match &v.kind {
                NodeKind::Object(members) => self.operator(members, v, &here)?,
                NodeKind::Array(_) => {
                    return Err(self.invalid(
                        "Match value must be String, number, true, false, or null",
                        v,
                        &here,
                    ))
                }
                _ => Matcher::Exact(self.literal(v).expect("scalar node")),
            };
            matchers.push(m);
        }
        Ok(Leaf {
            path,
            matchers,
            span: (node.start, node.end),
        })
    }

    fn literal(&self, v: &Node) -> Option<Literal> {
        Some(match &v.kind {
            NodeKind::String(s) => Literal::String(s.clone()),
            NodeKind::Number(n) if self.options.numbers_as_strings => {
                Literal::NumberText(n.clone())
            }
            NodeKind::Number(n) => Literal::Number(Number::new(n)),
            NodeKind::Bool(b) => Literal::Bool(*b),
            NodeKind::Null => Literal::Null,
            _ => return None,
        })
    }

    fn operator(
        &self,
        members: &[Member],
        node: &Node,
        jpath: &str,
    ) -> Result<Matcher, PatternError> {
        let m = match members {
            [m] => m,
            [] => return Err(self.invalid(EMPTY_OBJECT, node, jpath)),
            _ => return Err(self.invalid("Only one key allowed in match expression", node, jpath)),
        };
        let here = join_key(jpath, &m.key);
        let arg = &m.value;
        if let Some((empty, at)) = first_empty_object(arg, &here) {
            return Err(self.invalid(EMPTY_OBJECT, empty, &at));
        }
        let strict = self.options.lambda_strict;
        Ok(match m.key.as_str() {
            "prefix" | "suffix" => {
                let is_prefix = m.key == "prefix";
                match &arg.kind {
                    NodeKind::String(s) if is_prefix => Matcher::Prefix(s.clone()),
                    NodeKind::String(s) => Matcher::Suffix(s.clone()),
                    NodeKind::Object(inner) if matches!(inner.as_slice(), [i] if i.key == "equals-ignore-case") =>
                    {
                        let inner = &inner[0];
                        let NodeKind::String(s) = &inner.value.kind else {
                            return Err(self.invalid(
                                "equals-ignore-case match pattern must be a string",
                                &inner.value,
                                &join_key(&here, &inner.key),
                            ));
                        };
                        if is_prefix {
                            Matcher::PrefixIgnoreCase(s.clone())
                        } else {
                            Matcher::SuffixIgnoreCase(s.clone())
                        }
                    }
                    _ => {
                        return Err(self.invalid(
                            format!("{} match pattern must be a string", m.key),
                            arg,
                            &here,
                        ))
                    }
                }
            }
            "equals-ignore-case" => match &arg.kind {
                NodeKind::String(s) => Matcher::EqualsIgnoreCase(s.clone()),
                _ => {
                    return Err(self.invalid(
                        "equals-ignore-case match pattern must be a string",
                        arg,
                        &here,
                    ))
                }
            },
            "wildcard" => {
                if strict {
                    return Err(self.unsupported("wildcard", arg, &here));
                }
                Matcher::Wildcard(self.wildcard(arg, &here)?)
            }
            "anything-but" => Matcher::AnythingBut(self.anything_but(arg, &here)?),
            "numeric" => Matcher::Numeric(self.numeric(arg, &here)?),
            "cidr" => match &arg.kind {
                NodeKind::String(s) => {
                    Matcher::Cidr(Cidr::parse(s).map_err(|e| self.place(e, arg, &here))?)
                }
                _ => return Err(self.invalid("prefix match pattern must be a string", arg, &here)),
            },
            "exists" => match arg.kind {
                NodeKind::Bool(b) => Matcher::Exists(b),
                _ => {
                    return Err(self.invalid(
                        "exists match pattern must be either true or false.",
                        arg,
                        &here,
                    ))
                }
            },
            "exactly" => match &arg.kind {
                NodeKind::String(s) => Matcher::Exact(Literal::String(s.clone())),
                _ => {
                    return Err(self.invalid("exactly match pattern must be a string", arg, &here))
                }
            },
            other => {
                let key = Node {
                    kind: NodeKind::String(other.to_string()),
                    start: m.key_start,
                    end: m.key_end,
                };
                return Err(self.invalid(format!("Unrecognized match type {other}"), &key, &here));
            }
        })
    }

    fn wildcard(&self, arg: &Node, jpath: &str) -> Result<Wildcard, PatternError> {
        match &arg.kind {
            NodeKind::String(s) => Wildcard::parse(s).map_err(|e| self.place(e, arg, jpath)),
            _ => Err(self.invalid("wildcard match pattern must be a string", arg, jpath)),
        }
    }

    /// A string or a list of strings; `bad` is the reason for anything else.
    fn strings<'n>(
        &self,
        arg: &'n Node,
        jpath: &str,
        bad: &str,
    ) -> Result<Vec<(&'n str, &'n Node, String)>, PatternError> {
        match &arg.kind {
            NodeKind::String(s) => Ok(vec![(s.as_str(), arg, jpath.to_string())]),
            NodeKind::Array(items) if !items.is_empty() => items
                .iter()
                .enumerate()
                .map(|(i, it)| match &it.kind {
                    NodeKind::String(s) => Ok((s.as_str(), it, format!("{jpath}[{i}]"))),
                    _ => Err(self.invalid(bad, it, &format!("{jpath}[{i}]"))),
                })
                .collect(),
            NodeKind::Array(_) => Err(self.invalid("Empty arrays are not allowed", arg, jpath)),
            _ => Err(self.invalid(bad, arg, jpath)),
        }
    }

    /// The double a number operand of `numeric` or `anything-but` names; AWS refuses a number
    /// that is not exactly one double.
    fn comparable(&self, text: &str, node: &Node, jpath: &str) -> Result<f64, PatternError> {
        exact_f64(text)
            .ok_or_else(|| self.invalid(format!("Cannot compare number : {text}"), node, jpath))
    }

    fn anything_but(&self, arg: &Node, jpath: &str) -> Result<AnythingBut, PatternError> {
        match &arg.kind {
            NodeKind::String(_) => Ok(AnythingBut::Literals(vec![self
                .literal(arg)
                .expect("scalar")])),
            NodeKind::Number(n) => {
                self.comparable(n, arg, jpath)?;
                Ok(AnythingBut::Literals(vec![self
                    .literal(arg)
                    .expect("scalar")]))
            }
            NodeKind::Array(items) => {
                if items.is_empty() {
                    return Err(self.invalid("Empty arrays are not allowed", arg, jpath));
                }
                let mut out = Vec::with_capacity(items.len());
                let (mut strings, mut numbers) = (false, false);
                for (i, it) in items.iter().enumerate() {
                    match &it.kind {
                        NodeKind::String(_) => strings = true,
                        NodeKind::Number(n) => {
                            self.comparable(n, it, &format!("{jpath}[{i}]"))?;
                            numbers = true
                        }
                        _ => {
                            return Err(self.invalid(
                                "Inside anything but list, start|null|boolean is not supported.",
                                it,
                                &format!("{jpath}[{i}]"),
                            ))
                        }
                    }
                    out.push(self.literal(it).expect("scalar"));
                }
                if strings && numbers {
                    return Err(self.invalid(
                        "Inside anything but list, either all values are number or string, mixed type is not supported",
                        arg,
                        jpath,
                    ));
                }
                Ok(AnythingBut::Literals(out))
            }
            NodeKind::Object(members) => {
                let m = match members.as_slice() {
                    [m] => m,
                    [] => return Err(self.invalid(ANYTHING_BUT_SHAPE, arg, jpath)),
                    _ => {
                        return Err(self.invalid(
                            "Only one key allowed in match expression",
                            arg,
                            jpath,
                        ))
                    }
                };
                let here = join_key(jpath, &m.key);
                let v = &m.value;
                if self.options.lambda_strict {
                    return Err(self.unsupported(&format!("anything-but/{}", m.key), arg, jpath));
                }
                match m.key.as_str() {
                    "prefix" | "suffix" => {
                        if matches!(v.kind, NodeKind::Object(_)) {
                            return Err(self.invalid(ANYTHING_BUT_SHAPE, v, &here));
                        }
                        let items =
                            self.strings(v, &here, "prefix/suffix match pattern must be a string")?;
                        let mut out = Vec::with_capacity(items.len());
                        for (s, node, p) in items {
                            if s.is_empty() {
                                return Err(self.invalid(
                                    "Null prefix/suffix not allowed",
                                    node,
                                    &p,
                                ));
                            }
                            out.push(s.to_string());
                        }
                        Ok(if m.key == "prefix" {
                            AnythingBut::Prefix(out)
                        } else {
                            AnythingBut::Suffix(out)
                        })
                    }
                    "equals-ignore-case" => {
                        let items = self.strings(
                            v,
                            &here,
                            "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
                        )?;
                        Ok(AnythingBut::EqualsIgnoreCase(
                            items.into_iter().map(|(s, _, _)| s.to_string()).collect(),
                        ))
                    }
                    "wildcard" => {
                        let items =
                            self.strings(v, &here, "wildcard match pattern must be a string")?;
                        let mut out = Vec::with_capacity(items.len());
                        for (_, node, p) in items {
                            out.push(self.wildcard(node, &p)?);
                        }
                        Ok(AnythingBut::Wildcard(out))
                    }
                    other => Err(self.invalid(
                        format!("Unsupported anything-but pattern: {other}"),
                        arg,
                        jpath,
                    )),
                }
            }
            _ => Err(self.invalid(ANYTHING_BUT_SHAPE, arg, jpath)),
        }
    }

    fn numeric(&self, arg: &Node, jpath: &str) -> Result<Range, PatternError> {
        let NodeKind::Array(items) = &arg.kind else {
            return Err(self.invalid("Value of numeric must be an array.", arg, jpath));
        };
        let op_at = |i: usize| -> Result<&str, PatternError> {
            let node = &items[i];
            match &node.kind {
                NodeKind::String(s) if matches!(s.as_str(), "=" | "<" | "<=" | ">" | ">=") => {
                    Ok(s.as_str())
                }
                NodeKind::String(s) => Err(self.invalid(
                    format!("Unrecognized numeric range operator: {s}"),
                    node,
                    &format!("{jpath}[{i}]"),
                )),
                _ => Err(self.invalid(
                    "Value of numeric must be an array of operators and numbers",
                    node,
                    &format!("{jpath}[{i}]"),
                )),
            }
        };
        let value_at = |i: usize, op: &str| -> Result<f64, PatternError> {
            let Some(node) = items.get(i) else {
                return Err(self.invalid(format!("Value of {op} must be numeric"), arg, jpath));
            };
            match &node.kind {
                NodeKind::Number(n) => self.comparable(n, node, &format!("{jpath}[{i}]")),
                _ => Err(self.invalid(
                    format!("Value of {op} must be numeric"),
                    node,
                    &format!("{jpath}[{i}]"),
                )),
            }
        };
        let too_many = |i: usize| {
            self.invalid(
                "Too many elements in numeric expression",
                &items[i],
                &format!("{jpath}[{i}]"),
            )
        };
        if items.is_empty() {
            return Err(self.invalid("Empty arrays are not allowed", arg, jpath));
        }
        let op = op_at(0)?;
        let v = value_at(1, op)?;
        let mut range = Range {
            lower: None,
            upper: None,
        };
        match op {
            "=" => {
                range.lower = Some((v, true));
                range.upper = Some((v, true));
            }
            "<" | "<=" => range.upper = Some((v, op == "<=")),
            _ => range.lower = Some((v, op == ">=")),
        }
        if items.len() > 2 {
            if range.upper.is_some() {
                return Err(too_many(2));
            }
            let op2 = op_at(2)?;
            if !matches!(op2, "<" | "<=") {
                return Err(self.invalid(
                    format!("Bad numeric range operator: {op2}"),
                    &items[2],
                    &format!("{jpath}[2]"),
                ));
            }
            let top = value_at(3, op2)?;
            if items.len() > 4 {
                return Err(too_many(4));
            }
            if v >= top {
                return Err(self.invalid("Bottom must be less than top", arg, jpath));
            }
            range.upper = Some((top, op2 == "<="));
        }
        Ok(range)
    }
}

/// Whether a member is an `$or` operator: the key `$or` with an array of at least two
/// objects (otherwise `$or` is an ordinary field name).
fn is_real_or(m: &Member) -> bool {
    m.key == "$or"
        && matches!(&m.value.kind, NodeKind::Array(a) if a.len() >= 2 && a.iter().all(|x| matches!(x.kind, NodeKind::Object(_))))
}

/// `s` as a JSON string, escaped as serde_json writes it. Serializing the `str` itself rather
/// than a `serde_json::Value` keeps serde_json's number formatting out of builds that need none
/// (the WASM module).
pub(crate) fn json_quoted(s: &str) -> String {
    // Serializing a str cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

fn join_key(jpath: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$');
    match (jpath.is_empty(), simple) {
        (true, true) => key.to_string(),
        (false, true) => format!("{jpath}.{key}"),
        (_, false) => format!("{jpath}[{}]", json_quoted(key)),
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write!(f, "{}", json_quoted(s)),
            Literal::Number(n) => write!(f, "{}", n.text()),
            Literal::NumberText(t) => write!(f, "{t} (as text)"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => write!(f, "null"),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = json_quoted;
        let list = |v: &[String]| v.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", ");
        match self {
            Matcher::Exact(l) => write!(f, "{l}"),
            Matcher::Prefix(s) => write!(f, "prefix {}", quoted(s)),
            Matcher::PrefixIgnoreCase(s) => write!(f, "prefix-ignore-case {}", quoted(s)),
            Matcher::Suffix(s) => write!(f, "suffix {}", quoted(s)),
            Matcher::SuffixIgnoreCase(s) => write!(f, "suffix-ignore-case {}", quoted(s)),
            Matcher::EqualsIgnoreCase(s) => write!(f, "equals-ignore-case {}", quoted(s)),
            Matcher::Wildcard(w) => write!(f, "wildcard {}", quoted(w.text())),
            Matcher::AnythingBut(ab) => match ab {
                AnythingBut::Literals(l) => write!(
                    f,
                    "anything-but [{}]",
                    l.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                AnythingBut::Prefix(v) => write!(f, "anything-but prefix [{}]", list(v)),
                AnythingBut::Suffix(v) => write!(f, "anything-but suffix [{}]", list(v)),
                AnythingBut::EqualsIgnoreCase(v) => {
                    write!(f, "anything-but equals-ignore-case [{}]", list(v))
                }
                AnythingBut::Wildcard(v) => write!(
                    f,
                    "anything-but wildcard [{}]",
                    v.iter()
                        .map(|w| quoted(w.text()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            Matcher::Numeric(r) => {
                let lo = match r.lower {
                    Some((v, true)) => format!("[{v}"),
                    Some((v, false)) => format!("({v}"),
                    None => "(-inf".into(),
                };
                let hi = match r.upper {
                    Some((v, true)) => format!("{v}]"),
                    Some((v, false)) => format!("{v})"),
                    None => "+inf)".into(),
                };
                write!(f, "numeric {lo}, {hi}")
            }
            Matcher::Cidr(c) => write!(f, "cidr {}", c.text()),
            Matcher::Exists(b) => write!(f, "exists {b}"),
        }
    }
}

impl fmt::Display for Pattern {
    /// One line per leaf, terms separated: the form `weir debug ir` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.terms.iter().enumerate() {
            writeln!(f, "term {i}:")?;
            if term.leaves.is_empty() {
                writeln!(f, "  (matches every event)")?;
            }
            for leaf in &term.leaves {
                let ms: Vec<String> = leaf.matchers.iter().map(|m| m.to_string()).collect();
                writeln!(f, "  {} : {}", leaf.path, ms.join(" | "))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
