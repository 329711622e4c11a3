//! Lambda event filtering: FilterCriteria and the per-source record rules.
//!
//! An event source mapping carries a [`FilterCriteria`]: up to five filters (ten with a raised
//! quota), each a pattern of at most 4096 characters. The filters are ORed; no filters at all
//! lets every record through. Each record is filtered on its own, before batching.
//!
//! ```
//! use weir::lambda::{FilterCriteria, RecordVerdict, Source};
//!
//! let criteria = FilterCriteria::parse(
//!     r#"{"Filters": [{"Pattern": "{\"body\": {\"state\": [\"ready\"]}}"}]}"#,
//! )?;
//! let record = serde_json::json!({"messageId": "1", "body": "{\"state\": \"ready\"}"});
//! assert_eq!(criteria.evaluate(Source::Sqs, &record), RecordVerdict::Delivered);
//! # Ok::<(), weir::PatternError>(())
//! ```
//!
//! # What a filter sees, per source
//!
//! Before matching, the record's data field is decoded; the pattern names it by its key.
//!
//! | source | data key | decoding |
//! |---|---|---|
//! | [`Source::Sqs`] | `body` | a string; parsed when it is a JSON object or array |
//! | [`Source::Kinesis`] | `data` | base64, then JSON |
//! | [`Source::DynamoDb`] | `dynamodb` | none: already JSON, with typed values (`{"S": "x"}`, `{"N": "42"}`) |
//! | [`Source::Kafka`] | `value` | base64, UTF-8, then JSON when it is a JSON object or array |
//! | [`Source::Mq`] | `data` | base64, UTF-8, then JSON when it is a JSON object or array |
//!
//! A Kinesis record may be given in the Lambda event shape (`{"kinesis": {"data": ...,
//! "partitionKey": ...}, "eventSource": ...}`) or as the Kinesis record alone
//! (`{"data": ..., "partitionKey": ...}`); either way the filter sees the Kinesis record, so
//! patterns say `{"data": ...}` and `{"partitionKey": ...}` as in AWS's examples (the outer
//! Lambda envelope fields are not visible to the filter). The other sources' records are seen
//! whole, as Lambda delivers them.
//!
//! "JSON" above means a JSON object or array. A body such as `42` or `"x"` stays a plain
//! string: a JSON pattern on the data names fields inside it, and scalars have none.
//!
//! # Plain-string and JSON patterns on the data
//!
//! What happens when the data does not suit the pattern depends on the pattern's *shape* on
//! the data field, read from its IR ([`crate::Pattern::terms`]): a leaf whose path is the
//! data key itself (`{"body": ["hello"]}`, `{"body": [{"prefix": "x"}]}`) is a
//! **plain-string pattern**; a leaf below it (`{"body": {"state": ["ready"]}}`, or
//! `{"body.state": [...]}`) is a **JSON pattern**; a pattern with neither has **no data
//! pattern** and filters on metadata only. A filter with both kinds (through `$or`) has both
//! shapes, and each rule below applies to it.
//!
//! | source | data | pattern on data | result |
//! |---|---|---|---|
//! | SQS | plain string | JSON | [`RecordVerdict::Dropped`] |
//! | SQS | JSON | plain string | [`RecordVerdict::Dropped`] |
//! | SQS | any | none, or the same format | matched normally |
//! | Kinesis, DynamoDB | not JSON (text or non-UTF-8) | JSON | [`RecordVerdict::Dropped`] |
//! | Kinesis, DynamoDB | any | plain string | [`RecordVerdict::Dropped`] (AWS refuses the filter when the mapping is created) |
//! | Kinesis, DynamoDB | any | none, or JSON on JSON | matched normally |
//! | Kafka, MQ | JSON / text | plain string / JSON (a mismatch) | only the metadata part applies |
//! | Kafka, MQ | not UTF-8 | any | only the metadata part applies |
//! | Kafka, MQ | any | none, or the same format | matched normally |
//!
//! "Only the metadata part applies" means the filter is matched with every condition on the
//! data field removed; a filter that had conditions on the data field only then lets the
//! record through. A record without the data field (or with `null` there, such as a Kafka
//! tombstone) is matched as it is.
//!
//! A record that is not what the source delivers (not a JSON object, an SQS `body` that is
//! not a string, a data field that is not valid base64) is [`RecordVerdict::Dropped`] with the
//! reason, whatever the filters say, unless there are no filters at all.
//!
//! When several filters are given, the record is delivered if any filter matches; otherwise
//! it is dropped if some filter dropped it (the reason names the first such filter), and
//! filtered out if not.

mod document;
mod record;
mod strip;

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::error::{EventError, PatternError};
use crate::ir::{Options, Pattern};
use crate::matcher::Matcher;

use record::{Disposition, Shape};

/// How many filters one FilterCriteria may hold by default (10 with a raised quota; see
/// [`FilterCriteria::parse_with`]).
///
/// # Example
/// ```
/// let six = format!(r#"{{"Filters": [{}]}}"#, vec![r#"{"Pattern": "{}"}"#; 6].join(","));
/// assert!(weir::lambda::FilterCriteria::parse(&six).is_err());
/// assert_eq!(weir::lambda::DEFAULT_MAX_FILTERS, 5);
/// ```
pub const DEFAULT_MAX_FILTERS: usize = 5;

/// The longest pattern a filter may hold, in characters.
///
/// # Example
/// ```
/// let long = format!(r#"{{\"a\": [\"{}\"]}}"#, "x".repeat(weir::lambda::MAX_PATTERN_LENGTH));
/// let doc = serde_json::json!({"Filters": [{"Pattern": long}]}).to_string();
/// let err = weir::lambda::FilterCriteria::parse(&doc).unwrap_err();
/// assert_eq!(err.kind(), weir::PatternErrorKind::FilterCriteria);
/// ```
pub const MAX_PATTERN_LENGTH: usize = 4096;

/// The source a record comes from; it decides how the record's data is decoded.
///
/// Parses from its lowercase name, ignoring case:
///
/// # Example
/// ```
/// use weir::lambda::Source;
/// assert_eq!("DynamoDB".parse::<Source>()?, Source::DynamoDb);
/// assert_eq!(Source::Kafka.to_string(), "kafka");
/// assert!("sns".parse::<Source>().unwrap_err().contains("sqs, kinesis, dynamodb, kafka, mq"));
/// # Ok::<(), String>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Amazon SQS: the `body` string, parsed when it is a JSON object or array.
    Sqs,
    /// Amazon Kinesis Data Streams: the base64 `data` (or `kinesis.data`), then JSON.
    Kinesis,
    /// DynamoDB Streams: the `dynamodb` object, already JSON with typed values.
    DynamoDb,
    /// Kafka (Amazon MSK or self-managed): the base64 `value`, UTF-8, JSON when valid.
    Kafka,
    /// Amazon MQ: the base64 `data`, UTF-8, JSON when valid.
    Mq,
}

const SOURCES: [Source; 5] = [
    Source::Sqs,
    Source::Kinesis,
    Source::DynamoDb,
    Source::Kafka,
    Source::Mq,
];

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Sqs => "sqs",
            Source::Kinesis => "kinesis",
            Source::DynamoDb => "dynamodb",
            Source::Kafka => "kafka",
            Source::Mq => "mq",
        }
    }

    /// The key of the record's data field.
    fn data_key(self) -> &'static str {
        match self {
            Source::Sqs => "body",
            Source::Kinesis | Source::Mq => "data",
            Source::DynamoDb => "dynamodb",
            Source::Kafka => "value",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Source, String> {
        SOURCES
            .into_iter()
            .find(|src| src.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = SOURCES.iter().map(|s| s.name()).collect();
                format!(
                    "unknown event source {s:?}; expected one of: {}",
                    names.join(", ")
                )
            })
    }
}

/// What happens to one record.
///
/// # Example
/// ```
/// use weir::lambda::{FilterCriteria, RecordVerdict, Source};
/// let fc = FilterCriteria::parse(r#"{"Filters": [{"Pattern": "{\"body\": {\"a\": [1]}}"}]}"#)?;
/// let verdict = fc.evaluate(Source::Sqs, &serde_json::json!({"body": "not json"}));
/// assert!(matches!(verdict, RecordVerdict::Dropped { .. }));
/// # Ok::<(), weir::PatternError>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordVerdict {
    /// A filter matched: the record goes to the function (in a batch).
    Delivered,
    /// No filter matched.
    FilteredOut,
    /// The record was discarded without a match being possible: its data does not suit a
    /// filter's pattern (see the module docs), or the record is malformed.
    Dropped {
        /// Why, in words (naming the filter when one is to blame).
        reason: String,
    },
}

/// Which data keys the shapes are kept for, by index.
const DATA_KEYS: [&str; 4] = ["body", "data", "dynamodb", "value"];

fn key_index(key: &str) -> usize {
    DATA_KEYS.iter().position(|k| *k == key).unwrap_or(0)
}

/// The metadata-only matcher of one data key: filters that have conditions on it, each
/// without them.
struct MetadataPart {
    matcher: Matcher,
    /// Filter index for each rule id of `matcher`.
    filters: Vec<usize>,
    /// Filters whose metadata part could not be built, with the reason.
    failed: Vec<(usize, String)>,
}

/// A Lambda FilterCriteria: filters, ORed, compiled into one [`crate::Matcher`].
///
/// # Example
/// ```
/// use weir::lambda::FilterCriteria;
/// let fc = FilterCriteria::parse(r#"{"Filters": [
///     {"Pattern": "{\"kind\": [\"a\"]}"},
///     {"Pattern": "{\"kind\": [\"b\"]}"}
/// ]}"#)?;
/// assert_eq!(fc.patterns().len(), 2);
/// assert!(fc.matches(br#"{"kind": "b"}"#)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FilterCriteria {
    patterns: Vec<Pattern>,
    /// The options each pattern was read with (to re-read its metadata part).
    options: Vec<Options>,
    /// One rule per filter; rule id `i` is filter `i`.
    full: Matcher,
    /// `shapes[i][key_index(k)]`: how filter `i` treats data key `k`.
    shapes: Vec<[Shape; 4]>,
    /// Metadata parts for the Kafka (`value`) and MQ (`data`) keys.
    metadata_value: MetadataPart,
    metadata_data: MetadataPart,
}

impl FilterCriteria {
    /// Parses a FilterCriteria document with EventBridge options and at most
    /// [`DEFAULT_MAX_FILTERS`] filters. `{}` and `{"Filters": []}` let everything through.
    ///
    /// A malformed document gives an error of kind
    /// [`PatternErrorKind::FilterCriteria`](crate::PatternErrorKind::FilterCriteria) with its
    /// position in the document; an invalid pattern gives the pattern's own error (positions
    /// inside the pattern), and either names the filter's index when one is to blame.
    ///
    /// # Example
    /// ```
    /// use weir::lambda::FilterCriteria;
    /// assert!(FilterCriteria::parse("{}")?.is_empty());
    ///
    /// let err = FilterCriteria::parse(r#"{"Filters": [{"Pattern": "{\"a\": []}"}]}"#).unwrap_err();
    /// assert_eq!(err.reason(), "Empty arrays are not allowed");
    /// assert_eq!(err.filter(), Some(0));
    /// assert_eq!(err.span().unwrap().start.offset, 6); // inside the pattern text
    ///
    /// let err = FilterCriteria::parse(r#"{"Filters": [{"pattern": "{}"}]}"#).unwrap_err();
    /// assert_eq!(err.kind(), weir::PatternErrorKind::FilterCriteria);
    /// assert_eq!(err.span().unwrap().start.offset, 14); // in the document
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn parse(json: &str) -> Result<FilterCriteria, PatternError> {
        FilterCriteria::parse_with(json, &Options::default(), DEFAULT_MAX_FILTERS)
    }

    /// Parses a FilterCriteria document, reading its patterns with `options` and allowing up
    /// to `max_filters` filters (10 with a raised quota).
    ///
    /// # Example
    /// ```
    /// use weir::lambda::FilterCriteria;
    /// let strict = weir::Options::new().lambda_strict(true);
    /// let doc = r#"{"Filters": [{"Pattern": "{\"a\": [{\"wildcard\": \"x*\"}]}"}]}"#;
    /// assert!(FilterCriteria::parse(doc).is_ok());
    /// let err = FilterCriteria::parse_with(doc, &strict, 10).unwrap_err();
    /// assert_eq!(err.kind(), weir::PatternErrorKind::Unsupported);
    /// ```
    pub fn parse_with(
        json: &str,
        options: &Options,
        max_filters: usize,
    ) -> Result<FilterCriteria, PatternError> {
        let patterns = document::parse(json, options, max_filters)?;
        let read = options.clone().max_length(usize::MAX);
        let per = vec![read; patterns.len()];
        Ok(FilterCriteria::build(patterns, per))
    }

    /// Criteria made of already validated patterns, one filter each (no limit on their
    /// number).
    ///
    /// # Example
    /// ```
    /// use weir::lambda::FilterCriteria;
    /// let fc = FilterCriteria::from_patterns(vec![weir::Pattern::parse(r#"{"a": [1]}"#)?]);
    /// assert!(fc.matches(br#"{"a": 1}"#)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_patterns(patterns: Vec<Pattern>) -> FilterCriteria {
        let options = patterns.iter().map(strip::options_of).collect();
        FilterCriteria::build(patterns, options)
    }

    fn build(patterns: Vec<Pattern>, options: Vec<Options>) -> FilterCriteria {
        let mut full = Matcher::new();
        for (i, p) in patterns.iter().enumerate() {
            full.add_pattern(i.to_string(), p.clone());
        }
        let shapes = patterns
            .iter()
            .map(|p| {
                let mut s = [Shape::default(); 4];
                for term in p.terms() {
                    for leaf in &term.leaves {
                        for (k, key) in DATA_KEYS.iter().enumerate() {
                            if leaf.path == *key {
                                s[k].plain = true;
                            } else if strip::names_data(&leaf.path, key) {
                                s[k].json = true;
                            }
                        }
                    }
                }
                s
            })
            .collect::<Vec<_>>();
        let metadata = |key: &str| {
            let k = key_index(key);
            let mut part = MetadataPart {
                matcher: Matcher::new(),
                filters: Vec::new(),
                failed: Vec::new(),
            };
            for (i, p) in patterns.iter().enumerate() {
                if !(shapes[i][k].plain || shapes[i][k].json) {
                    continue;
                }
                match strip::metadata_part(p, key, &options[i]) {
                    Ok(m) => {
                        part.matcher.add_pattern(i.to_string(), m);
                        part.filters.push(i);
                    }
                    Err(e) => part.failed.push((i, e.reason().to_string())),
                }
            }
            part
        };
        let metadata_value = metadata("value");
        let metadata_data = metadata("data");
        FilterCriteria {
            patterns,
            options,
            full,
            shapes,
            metadata_value,
            metadata_data,
        }
    }

    /// The filters' patterns, in order.
    ///
    /// # Example
    /// ```
    /// let fc = weir::lambda::FilterCriteria::parse(r#"{"Filters": [{"Pattern": "{\"a\": [1]}"}]}"#)?;
    /// assert_eq!(fc.patterns()[0].text(), r#"{"a": [1]}"#);
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether there are no filters (every record passes).
    ///
    /// # Example
    /// ```
    /// let fc = weir::lambda::FilterCriteria::parse(r#"{"Filters": []}"#)?;
    /// assert!(fc.is_empty());
    /// assert!(fc.matches(br#"{"anything": 1}"#)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether a plain JSON event (no source decoding) matches any filter; with no filters,
    /// `true`. The event must still be valid JSON.
    ///
    /// # Example
    /// ```
    /// let fc = weir::lambda::FilterCriteria::parse(
    ///     r#"{"Filters": [{"Pattern": "{\"n\": [{\"numeric\": [\">\", 1]}]}"}]}"#,
    /// )?;
    /// assert!(fc.matches(br#"{"n": 2}"#)?);
    /// assert!(!fc.matches(br#"{"n": 1}"#)?);
    /// assert!(fc.matches(b"{oops").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matches(&self, event: &[u8]) -> Result<bool, EventError> {
        // An empty matcher still reads (and validates) the whole event; any valid event passes.
        let hit = self.full.is_match(event)?;
        Ok(hit || self.is_empty())
    }

    /// What happens to one record of `source`: its data decoded as the module docs describe,
    /// then the filters applied with the per-source rules.
    ///
    /// # Example
    /// ```
    /// use weir::lambda::{FilterCriteria, RecordVerdict, Source};
    /// use base64::Engine as _;
    ///
    /// let fc = FilterCriteria::parse(r#"{"Filters": [{"Pattern": "{\"data\": {\"t\": [\"x\"]}}"}]}"#)?;
    /// let data = base64::engine::general_purpose::STANDARD.encode(r#"{"t": "x"}"#);
    /// let record = serde_json::json!({"partitionKey": "1", "data": data});
    /// assert_eq!(fc.evaluate(Source::Kinesis, &record), RecordVerdict::Delivered);
    ///
    /// let text = base64::engine::general_purpose::STANDARD.encode("hello");
    /// let record = serde_json::json!({"partitionKey": "1", "data": text});
    /// assert!(matches!(fc.evaluate(Source::Kinesis, &record), RecordVerdict::Dropped { .. }));
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn evaluate(&self, source: Source, record: &Value) -> RecordVerdict {
        if self.is_empty() {
            return RecordVerdict::Delivered;
        }
        let (view, data) = match record::decode(source, record) {
            Ok(decoded) => decoded,
            Err(reason) => return RecordVerdict::Dropped { reason },
        };
        let bytes = match serde_json::to_vec(&view) {
            Ok(b) => b,
            Err(e) => {
                return RecordVerdict::Dropped {
                    reason: format!("the decoded record could not be written as JSON: {e}"),
                }
            }
        };
        let unreadable = |e: EventError| RecordVerdict::Dropped {
            reason: format!("the decoded record cannot be matched: {e}"),
        };
        let full_hits = match self.full.matching_rule_ids(&bytes) {
            Ok(ids) => ids,
            Err(e) => return unreadable(e),
        };
        let k = key_index(source.data_key());
        let mut metadata_hits: Option<Vec<usize>> = None;
        let mut first_drop: Option<String> = None;
        for i in 0..self.patterns.len() {
            match record::disposition(source, data, self.shapes[i][k]) {
                Disposition::Full => {
                    if full_hits.iter().any(|id| id.index() == i) {
                        return RecordVerdict::Delivered;
                    }
                }
                Disposition::Metadata => {
                    let part = if source.data_key() == "value" {
                        &self.metadata_value
                    } else {
                        &self.metadata_data
                    };
                    if let Some((_, reason)) = part.failed.iter().find(|(f, _)| *f == i) {
                        first_drop.get_or_insert_with(|| {
                            format!("filter {i}: its metadata part could not be built: {reason}")
                        });
                        continue;
                    }
                    if metadata_hits.is_none() {
                        match part.matcher.matching_rule_ids(&bytes) {
                            Ok(ids) => {
                                metadata_hits =
                                    Some(ids.iter().map(|id| part.filters[id.index()]).collect())
                            }
                            Err(e) => return unreadable(e),
                        }
                    }
                    if metadata_hits.as_ref().is_some_and(|h| h.contains(&i)) {
                        return RecordVerdict::Delivered;
                    }
                }
                Disposition::Drop(reason) => {
                    first_drop.get_or_insert_with(|| format!("filter {i}: {reason}"));
                }
            }
        }
        match first_drop {
            Some(reason) => RecordVerdict::Dropped { reason },
            None => RecordVerdict::FilteredOut,
        }
    }
}

impl Clone for FilterCriteria {
    fn clone(&self) -> FilterCriteria {
        FilterCriteria::build(self.patterns.clone(), self.options.clone())
    }
}

impl fmt::Debug for FilterCriteria {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilterCriteria")
            .field(
                "patterns",
                &self.patterns.iter().map(Pattern::text).collect::<Vec<_>>(),
            )
            .finish()
    }
}
