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
//! let record = br#"{"messageId": "1", "body": "{\"state\": \"ready\"}"}"#;
//! assert_eq!(criteria.evaluate(Source::Sqs, record), RecordVerdict::Delivered);
//! # Ok::<(), weir::PatternError>(())
//! ```
//!
//! # What a filter sees, per source
//!
//! Before matching, the record's data field is decoded; the pattern names it by its key.
//! Records are read as bytes: only the data field's text is replaced by its decoded form (the
//! record is never rebuilt), so every other value, numbers such as `1e400` or
//! `0.30000000000000001` included, is matched exactly as written. When a record repeats a
//! key, the last one counts, as it does for events.
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
//! | Kinesis, DynamoDB | any | plain string | refused by [`FilterCriteria::check_for`], as AWS refuses it when the mapping is created |
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
//! [`DropReason`], whatever the filters say, unless there are no filters at all. Bytes that
//! are not one JSON document are always dropped ([`DropReason::NotJson`], with the place).
//!
//! When several filters are given, the record is delivered if any filter matches; otherwise
//! it is dropped if some filter dropped it (the reason names the first such filter), and
//! filtered out if not.
//!
//! A filter that [`FilterCriteria::check_for`] refuses for a source (AWS would not have
//! created the mapping) still gets a verdict from [`FilterCriteria::evaluate`]: it drops the
//! record with [`DropReason::PlainPatternNotAllowed`] rather than matching it silently.
//!
//! Many records: [`FilterCriteria::evaluate_batch`] reuses its buffers from record to record.

mod document;
mod record;
mod strip;

use std::fmt;
use std::str::FromStr;

use crate::error::{EventError, PatternError, PatternErrorKind};
use crate::ir::{Options, Pattern};
use crate::json::validate as validate_event;
use crate::matcher::{BatchResults, Matcher, RuleId};

use record::{Buffers, Disposition, Shape, View};

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
/// let err = "sns".parse::<Source>().unwrap_err();
/// assert!(err.to_string().contains("sqs, kinesis, dynamodb, kafka, mq"));
/// # Ok::<(), weir::lambda::UnknownSource>(())
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
    type Err = UnknownSource;

    fn from_str(s: &str) -> Result<Source, UnknownSource> {
        SOURCES
            .into_iter()
            .find(|src| src.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownSource(s.into()))
    }
}

/// A name that is no [`Source`] (what parsing a source name refuses); its `Display` lists the
/// names there are.
///
/// # Example
/// ```
/// use weir::lambda::Source;
/// let err = "sns".parse::<Source>().unwrap_err();
/// assert_eq!(err.name(), "sns");
/// assert!(err.to_string().starts_with(r#"unknown event source "sns"; expected one of: sqs"#));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSource(Box<str>);

impl UnknownSource {
    /// The name that was given.
    ///
    /// # Example
    /// ```
    /// assert_eq!("x".parse::<weir::lambda::Source>().unwrap_err().name(), "x");
    /// ```
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnknownSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = SOURCES.iter().map(|s| s.name()).collect();
        write!(
            f,
            "unknown event source {:?}; expected one of: {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownSource {}

/// What happens to one record.
///
/// # Example
/// ```
/// use weir::lambda::{DropReason, FilterCriteria, RecordVerdict, Source};
/// let fc = FilterCriteria::parse(r#"{"Filters": [{"Pattern": "{\"body\": {\"a\": [1]}}"}]}"#)?;
/// let verdict = fc.evaluate(Source::Sqs, br#"{"body": "not json"}"#);
/// assert!(matches!(
///     verdict,
///     RecordVerdict::Dropped { reason: DropReason::JsonPatternOnText { filter: 0, .. } }
/// ));
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
        /// Why (naming the filter when one is to blame).
        reason: DropReason,
    },
}

/// The kind of a JSON value, as [`DropReason`]s name what they found.
///
/// # Example
/// ```
/// use weir::lambda::ValueKind;
/// assert_eq!(ValueKind::Array.to_string(), "an array");
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueKind::Null => "null",
            ValueKind::Boolean => "a boolean",
            ValueKind::Number => "a number",
            ValueKind::String => "a string",
            ValueKind::Array => "an array",
            ValueKind::Object => "an object",
        })
    }
}

/// Why a data field is not valid base64 (the decoder's own words).
///
/// # Example
/// ```
/// use weir::lambda::{DropReason, FilterCriteria, RecordVerdict, Source};
/// let fc = FilterCriteria::parse(r#"{"Filters": [{"Pattern": "{\"partitionKey\": [\"1\"]}"}]}"#)?;
/// let RecordVerdict::Dropped { reason: DropReason::InvalidBase64 { error, .. } } =
///     fc.evaluate(Source::Kinesis, br#"{"partitionKey": "1", "data": "%%"}"#)
/// else {
///     panic!("not dropped")
/// };
/// assert!(error.to_string().contains("Invalid symbol"), "{error}");
/// # Ok::<(), weir::PatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Base64Error(base64::DecodeError);

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Base64Error {}

/// Why a record is dropped. `Display` gives the reason in words, naming the filter when one is
/// to blame.
///
/// # Example
/// ```
/// use weir::lambda::{DropReason, FilterCriteria, RecordVerdict, Source, ValueKind};
/// let fc = FilterCriteria::parse(r#"{"Filters": [{"Pattern": "{\"body\": [\"x\"]}"}]}"#)?;
/// let verdict = fc.evaluate(Source::Sqs, br#"{"body": {"k": 1}}"#);
/// let RecordVerdict::Dropped { reason } = verdict else { panic!("{verdict:?}") };
/// assert_eq!(reason, DropReason::BodyNotAString { found: ValueKind::Object });
/// assert!(reason.to_string().contains("must be a string"));
/// assert_eq!(reason.filter(), None);
/// # Ok::<(), weir::PatternError>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The record is not one JSON document.
    NotJson(EventError),
    /// The record is not a JSON object.
    NotAnObject {
        /// The record's source.
        source: Source,
        /// What the record is instead.
        found: ValueKind,
    },
    /// An SQS `body` that is not a string (Lambda delivers the message body as sent).
    BodyNotAString {
        /// What the body is instead.
        found: ValueKind,
    },
    /// A Kinesis, Kafka or MQ data field that is not a string.
    DataNotAString {
        /// The record's source.
        source: Source,
        /// What the data field is instead.
        found: ValueKind,
    },
    /// A Kinesis, Kafka or MQ data field that is not valid base64.
    InvalidBase64 {
        /// The record's source.
        source: Source,
        /// The decoder's reason.
        error: Base64Error,
    },
    /// SQS: the body is JSON but the filter matches it as a plain string.
    PlainPatternOnJson {
        /// The filter's index.
        filter: usize,
        /// The record's source.
        source: Source,
    },
    /// The data is not JSON but the filter has a JSON pattern on it (SQS, Kinesis, DynamoDB).
    JsonPatternOnText {
        /// The filter's index.
        filter: usize,
        /// The record's source.
        source: Source,
    },
    /// Kinesis, DynamoDB: the filter matches the data as a plain string, which AWS refuses
    /// when the mapping is created ([`FilterCriteria::check_for`] says so up front).
    PlainPatternNotAllowed {
        /// The filter's index.
        filter: usize,
        /// The record's source.
        source: Source,
    },
    /// Kafka, MQ: the filter's metadata part (the pattern without its data conditions) could
    /// not be built.
    MetadataPart {
        /// The filter's index.
        filter: usize,
        /// Why the metadata part was refused.
        error: PatternError,
    },
    /// The decoded record could not be matched (it nests too deep once decoded).
    Unreadable(EventError),
}

impl DropReason {
    /// The filter to blame, if one is.
    ///
    /// # Example
    /// ```
    /// use weir::lambda::{FilterCriteria, RecordVerdict, Source};
    /// let fc = FilterCriteria::parse(r#"{"Filters": [
    ///     {"Pattern": "{\"a\": [1]}"}, {"Pattern": "{\"body\": {\"k\": [1]}}"}
    /// ]}"#)?;
    /// let RecordVerdict::Dropped { reason } = fc.evaluate(Source::Sqs, br#"{"body": "text"}"#)
    /// else { panic!() };
    /// assert_eq!(reason.filter(), Some(1));
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn filter(&self) -> Option<usize> {
        match self {
            DropReason::PlainPatternOnJson { filter, .. }
            | DropReason::JsonPatternOnText { filter, .. }
            | DropReason::PlainPatternNotAllowed { filter, .. }
            | DropReason::MetadataPart { filter, .. } => Some(*filter),
            _ => None,
        }
    }

    /// A stable snake_case name for the reason's kind, for fronts that report it as data
    /// (`"not_json"`, `"not_an_object"`, `"body_not_a_string"`, `"data_not_a_string"`,
    /// `"invalid_base64"`, `"plain_pattern_on_json"`, `"json_pattern_on_text"`,
    /// `"plain_pattern_not_allowed"`, `"metadata_part"`, `"unreadable"`).
    ///
    /// # Example
    /// ```
    /// use weir::lambda::{FilterCriteria, RecordVerdict, Source};
    /// let fc = FilterCriteria::parse(r#"{"Filters": [{"Pattern": "{\"body\": [\"x\"]}"}]}"#)?;
    /// let RecordVerdict::Dropped { reason } = fc.evaluate(Source::Sqs, br#"{"body": {"k": 1}}"#)
    /// else { panic!() };
    /// assert_eq!(reason.kind(), "body_not_a_string");
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            DropReason::NotJson(_) => "not_json",
            DropReason::NotAnObject { .. } => "not_an_object",
            DropReason::BodyNotAString { .. } => "body_not_a_string",
            DropReason::DataNotAString { .. } => "data_not_a_string",
            DropReason::InvalidBase64 { .. } => "invalid_base64",
            DropReason::PlainPatternOnJson { .. } => "plain_pattern_on_json",
            DropReason::JsonPatternOnText { .. } => "json_pattern_on_text",
            DropReason::PlainPatternNotAllowed { .. } => "plain_pattern_not_allowed",
            DropReason::MetadataPart { .. } => "metadata_part",
            DropReason::Unreadable(_) => "unreadable",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::NotJson(e) => write!(
                f,
                "the record is not valid JSON: {} at line {}, column {} (byte {})",
                e.reason(),
                e.line(),
                e.column(),
                e.offset()
            ),
            DropReason::NotAnObject { source, found } => {
                write!(f, "a {source} record must be a JSON object, not {found}")
            }
            DropReason::BodyNotAString { found } => write!(
                f,
                "the SQS `body` must be a string (the message body as sent), not {found}"
            ),
            DropReason::DataNotAString { source, found } => write!(
                f,
                "the {source} `{}` must be a base64 string, not {found}",
                source.data_key()
            ),
            DropReason::InvalidBase64 { source, error } => write!(
                f,
                "the {source} `{}` is not valid base64 ({error})",
                source.data_key()
            ),
            DropReason::PlainPatternOnJson { filter, source } => write!(
                f,
                "filter {filter}: the {} is JSON but the filter matches `{}` as a plain string",
                data_name(*source),
                source.data_key()
            ),
            DropReason::JsonPatternOnText { filter, source } => {
                let key = source.data_key();
                if *source == Source::Sqs {
                    write!(
                        f,
                        "filter {filter}: the body is not JSON but the filter has a JSON \
                         pattern on `{key}`"
                    )
                } else {
                    write!(
                        f,
                        "filter {filter}: `{key}` is not JSON but the filter has a JSON \
                         pattern on `{key}`"
                    )
                }
            }
            DropReason::PlainPatternNotAllowed { filter, source } => write!(
                f,
                "filter {filter}: the filter matches `{}` as a plain string, which {source} \
                 does not allow (AWS refuses such a filter when the event source mapping is \
                 created)",
                source.data_key()
            ),
            DropReason::MetadataPart { filter, error } => write!(
                f,
                "filter {filter}: its metadata part could not be built: {}",
                error.reason()
            ),
            DropReason::Unreadable(e) => write!(f, "the decoded record cannot be matched: {e}"),
        }
    }
}

/// How the module docs name a source's data field in words.
fn data_name(source: Source) -> &'static str {
    match source {
        Source::Sqs => "body",
        _ => "data",
    }
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
    failed: Vec<(usize, PatternError)>,
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
    /// [`PatternErrorKind::FilterCriteria`] with its
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
                    Err(e) => part.failed.push((i, e)),
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

    /// Checks what AWS checks when an event source mapping of `source` is created with these
    /// criteria: Kinesis and DynamoDB refuse a filter that matches the data field (`data`,
    /// `dynamodb`) as a plain string (AWS answers `Invalid filter pattern definition.`). The
    /// error, of kind [`PatternErrorKind::Unsupported`],
    /// names the first such filter and points at the condition in its pattern. SQS, Kafka
    /// and MQ accept every valid filter.
    ///
    /// # Example
    /// ```
    /// use weir::lambda::{FilterCriteria, Source};
    /// let fc = FilterCriteria::parse(r#"{"Filters": [
    ///     {"Pattern": "{\"partitionKey\": [\"1\"]}"},
    ///     {"Pattern": "{\"data\": [\"t=x\"]}"}
    /// ]}"#)?;
    /// assert!(fc.check_for(Source::Sqs).is_ok());
    /// let err = fc.check_for(Source::Kinesis).unwrap_err();
    /// assert_eq!(err.filter(), Some(1));
    /// assert_eq!(err.path(), "data");
    /// assert_eq!(err.kind(), weir::PatternErrorKind::Unsupported);
    /// assert!(err.reason().contains("Invalid filter pattern definition."));
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn check_for(&self, source: Source) -> Result<(), PatternError> {
        if !matches!(source, Source::Kinesis | Source::DynamoDb) {
            return Ok(());
        }
        let key = source.data_key();
        for (i, p) in self.patterns.iter().enumerate() {
            let plain = p
                .terms()
                .iter()
                .flat_map(|t| &t.leaves)
                .find(|leaf| leaf.path == key);
            if let Some(leaf) = plain {
                let reason = format!(
                    "A {source} filter cannot match `{key}` as a plain string: only JSON \
                     patterns on `{key}` are allowed (AWS refuses the filter when the event \
                     source mapping is created: Invalid filter pattern definition.)"
                );
                return Err(PatternError::new(
                    PatternErrorKind::Unsupported,
                    reason,
                    p.text(),
                    Some(leaf.span),
                    key,
                )
                .in_filter(i));
            }
        }
        Ok(())
    }

    /// What happens to one record of `source`, given as its JSON bytes: its data decoded as
    /// the module docs describe, then the filters applied with the per-source rules. Every
    /// value outside the data field is matched as written (the record is not rebuilt). Call
    /// [`FilterCriteria::check_for`] once, when the criteria are set up.
    ///
    /// # Example
    /// ```
    /// use weir::lambda::{DropReason, FilterCriteria, RecordVerdict, Source};
    /// use base64::Engine as _;
    ///
    /// let fc = FilterCriteria::parse(r#"{"Filters": [{"Pattern": "{\"data\": {\"t\": [\"x\"]}}"}]}"#)?;
    /// fc.check_for(Source::Kinesis)?;
    /// let data = base64::engine::general_purpose::STANDARD.encode(r#"{"t": "x"}"#);
    /// let record = format!(r#"{{"partitionKey": "1", "data": "{data}"}}"#);
    /// assert_eq!(fc.evaluate(Source::Kinesis, record.as_bytes()), RecordVerdict::Delivered);
    ///
    /// let text = base64::engine::general_purpose::STANDARD.encode("hello");
    /// let record = format!(r#"{{"partitionKey": "1", "data": "{text}"}}"#);
    /// assert_eq!(
    ///     fc.evaluate(Source::Kinesis, record.as_bytes()),
    ///     RecordVerdict::Dropped { reason: DropReason::JsonPatternOnText { filter: 0, source: Source::Kinesis } }
    /// );
    /// assert!(matches!(
    ///     fc.evaluate(Source::Kinesis, b"{oops"),
    ///     RecordVerdict::Dropped { reason: DropReason::NotJson(_) }
    /// ));
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn evaluate(&self, source: Source, record: &[u8]) -> RecordVerdict {
        self.evaluate_with(source, record, &mut Work::default())
    }

    /// [`FilterCriteria::evaluate`] for many records, one verdict each in `out` (cleared
    /// first), reusing the decoding and matching buffers from record to record.
    ///
    /// # Example
    /// ```
    /// use weir::lambda::{FilterCriteria, RecordVerdict, Source};
    /// let fc = FilterCriteria::parse(r#"{"Filters": [{"Pattern": "{\"body\": {\"n\": [1e400]}}"}]}"#)?;
    /// let records: [&[u8]; 3] = [
    ///     br#"{"body": "{\"n\": 1e400}"}"#,
    ///     br#"{"body": "{\"n\": 2e400}"}"#,
    ///     br#"{"body": 5}"#,
    /// ];
    /// let mut verdicts = Vec::new();
    /// fc.evaluate_batch(Source::Sqs, records, &mut verdicts);
    /// assert_eq!(verdicts[0], RecordVerdict::Delivered);
    /// assert_eq!(verdicts[1], RecordVerdict::FilteredOut);
    /// assert!(matches!(verdicts[2], RecordVerdict::Dropped { .. }));
    /// # Ok::<(), weir::PatternError>(())
    /// ```
    pub fn evaluate_batch<'r, I>(&self, source: Source, records: I, out: &mut Vec<RecordVerdict>)
    where
        I: IntoIterator<Item = &'r [u8]>,
    {
        out.clear();
        let mut work = Work::default();
        for record in records {
            out.push(self.evaluate_with(source, record, &mut work));
        }
    }

    fn evaluate_with(&self, source: Source, record: &[u8], work: &mut Work) -> RecordVerdict {
        let dropped = |reason| RecordVerdict::Dropped { reason };
        if let Err(e) = validate_event(record) {
            return dropped(DropReason::NotJson(e));
        }
        if self.is_empty() {
            return RecordVerdict::Delivered;
        }
        let (view, data) = match record::decode(source, record, &mut work.bufs) {
            Ok(decoded) => decoded,
            Err(reason) => return dropped(reason),
        };
        let doc: &[u8] = match view {
            View::Record(range) => &record[range],
            View::Buffer => &work.bufs.doc,
        };
        let full_hits = match matching(&self.full, doc, &mut work.full) {
            Ok(ids) => ids,
            Err(e) => return dropped(DropReason::Unreadable(e)),
        };
        let k = key_index(source.data_key());
        let mut metadata_hits: Option<&[RuleId]> = None;
        let mut first_drop: Option<DropReason> = None;
        for i in 0..self.patterns.len() {
            match record::disposition(source, data, self.shapes[i][k], i) {
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
                    if let Some((_, error)) = part.failed.iter().find(|(f, _)| *f == i) {
                        first_drop.get_or_insert_with(|| DropReason::MetadataPart {
                            filter: i,
                            error: error.clone(),
                        });
                        continue;
                    }
                    if metadata_hits.is_none() {
                        match matching(&part.matcher, doc, &mut work.metadata) {
                            Ok(ids) => metadata_hits = Some(ids),
                            Err(e) => return dropped(DropReason::Unreadable(e)),
                        }
                    }
                    let hit = metadata_hits
                        .is_some_and(|ids| ids.iter().any(|id| part.filters[id.index()] == i));
                    if hit {
                        return RecordVerdict::Delivered;
                    }
                }
                Disposition::Drop(reason) => {
                    first_drop.get_or_insert(reason);
                }
            }
        }
        match first_drop {
            Some(reason) => dropped(reason),
            None => RecordVerdict::FilteredOut,
        }
    }
}

/// The buffers one evaluation uses, kept from record to record in a batch.
#[derive(Default)]
struct Work {
    bufs: Buffers,
    full: BatchResults,
    metadata: BatchResults,
}

/// The ids of the rules of `matcher` that `doc` matches, in `results`' reused memory.
fn matching<'r>(
    matcher: &Matcher,
    doc: &[u8],
    results: &'r mut BatchResults,
) -> Result<&'r [RuleId], EventError> {
    matcher.match_batch([doc], results);
    results.get(0).map_err(EventError::clone)
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
