//! # weir
//!
//! AWS EventBridge and Lambda event-filter patterns, with AWS's exact semantics, compiled into
//! one matcher for many rules.
//!
//! ```
//! let mut matcher = weir::Matcher::new();
//! matcher.add_rule("running", r#"{"detail": {"state": ["running"]}}"#)?;
//! matcher.add_rule("large", r#"{"detail": {"size": [{"numeric": [">", 10]}]}}"#)?;
//!
//! let event = br#"{"detail": {"state": "running", "size": 42}}"#;
//! assert_eq!(matcher.matching_rules(event)?, vec!["running", "large"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Invalid patterns are refused with AWS's reason and the place:
//!
//! ```
//! let err = weir::Pattern::parse(r#"{"detail": {"size": [{"numeric": [">", 0, ">", 5]}]}}"#)
//!     .unwrap_err();
//! assert_eq!(err.reason(), "Bad numeric range operator: >");
//! assert_eq!(err.path(), "detail.size[0].numeric[2]");
//! ```
//!
//! The pipeline, one module a stage: [`syntax`] (text -> tree with spans) -> [`ir`]
//! (validated [`Pattern`]) -> `compile` (many rules -> one structure) -> [`Matcher`] (events
//! -> matching rules), then [`lambda`] (FilterCriteria and per-source record rules), and
//! [`explain`] (why an event did or did not match: [`Pattern::explain`],
//! [`Matcher::explain`]). Each stage uses only the ones before it.

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod compile;
mod envelope;
mod error;
pub mod explain;
pub mod ir;
pub mod json;
pub mod lambda;
mod matcher;
pub mod syntax;

pub use envelope::{check_envelope, ENVELOPE_FIELDS};
pub use error::{
    EventError, EventErrorKind, PatternError, PatternErrorKind, Position, Snippet, Span,
};
pub use explain::{Explanation, RuleExplanation};
pub use ir::{Options, Pattern};
pub use matcher::{BatchResults, Cache, EventReading, JsonlPart, Matcher, RuleId, MAX_EVENT_DEPTH};

/// The README's Rust examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
