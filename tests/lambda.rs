//! `weir::lambda`: FilterCriteria documents (errors, limits, empty criteria, OR of filters)
//! and the per-source decoding, drop and metadata-only rules of DESIGN.md (Lambda).

use base64::Engine as _;
use serde_json::{json, Value};
use weir::lambda::{
    DropReason, FilterCriteria, RecordVerdict, Source, DEFAULT_MAX_FILTERS, MAX_PATTERN_LENGTH,
};
use weir::{Options, Pattern, PatternError, PatternErrorKind};

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A document with one filter per pattern text.
fn doc(patterns: &[&str]) -> String {
    let filters: Vec<Value> = patterns.iter().map(|p| json!({"Pattern": p})).collect();
    json!({"Filters": filters}).to_string()
}

fn fc(patterns: &[&str]) -> FilterCriteria {
    FilterCriteria::parse(&doc(patterns)).unwrap()
}

/// `FilterCriteria::evaluate` on a record written as a `serde_json::Value`.
trait EvalValue {
    fn eval(&self, source: Source, record: &Value) -> RecordVerdict;
}

impl EvalValue for FilterCriteria {
    fn eval(&self, source: Source, record: &Value) -> RecordVerdict {
        self.evaluate(source, &serde_json::to_vec(record).unwrap())
    }
}

fn dropped(v: &RecordVerdict) -> &DropReason {
    match v {
        RecordVerdict::Dropped { reason } => reason,
        other => panic!("expected Dropped, got {other:?}"),
    }
}

/// The document error for `text`, checked to be of the FilterCriteria kind with a position.
fn doc_error(text: &str) -> PatternError {
    let err = FilterCriteria::parse(text).unwrap_err();
    assert_eq!(
        err.kind(),
        PatternErrorKind::FilterCriteria,
        "{text}: {err}"
    );
    assert!(err.span().is_some(), "{text}: no position");
    err
}

/// The byte offset of the first occurrence of `needle` in `text`.
fn at(text: &str, needle: &str) -> usize {
    text.find(needle).unwrap()
}

// ---------------------------------------------------------------- documents

#[test]
fn document_that_is_not_json() {
    let text = r#"{"Filters": [}"#;
    let err = doc_error(text);
    assert!(
        err.reason().starts_with("FilterCriteria is not valid JSON"),
        "{err}"
    );
    assert_eq!(err.span().unwrap().start.offset, 13);
    assert_eq!(err.filter(), None);
}

#[test]
fn document_that_is_not_an_object() {
    let err = doc_error(r#"[{"Pattern": "{\"a\": [1]}"}]"#);
    assert!(err.reason().contains("must be a JSON object"), "{err}");
    assert_eq!(err.span().unwrap().start.offset, 0);
}

#[test]
fn filters_that_are_not_an_array() {
    let text = r#"{"Filters": {"Pattern": "{\"a\": [1]}"}}"#;
    let err = doc_error(text);
    assert!(
        err.reason().contains("\"Filters\" must be an array"),
        "{err}"
    );
    assert_eq!(err.span().unwrap().start.offset, at(text, "{\"Pattern"));
    assert_eq!(err.path(), "Filters");
}

#[test]
fn unknown_and_misspelt_keys_are_refused() {
    // A lower-case "filters" would otherwise silently mean "no filters": everything passes.
    let text = r#"{"filters": [{"Pattern": "{\"a\": [1]}"}]}"#;
    let err = doc_error(text);
    assert!(err.reason().contains(r#"Unknown key "filters""#), "{err}");
    assert_eq!(err.span().unwrap().start.offset, 1);

    let text =
        r#"{"Filters": [{"Pattern": "{\"a\": [1]}"}, {"Pattern": "{\"a\": [1]}", "Extra": 1}]}"#;
    let err = doc_error(text);
    assert_eq!(err.filter(), Some(1));
    assert_eq!(err.span().unwrap().start.offset, at(text, "\"Extra"));
    assert_eq!(err.path(), "Filters[1].Extra");
}

#[test]
fn repeated_keys_are_refused() {
    let text = r#"{"Filters": [], "Filters": []}"#;
    let err = doc_error(text);
    assert!(err.reason().contains("Duplicate key"), "{err}");
    assert_eq!(err.span().unwrap().start.offset, 16);

    let text = r#"{"Filters": [{"Pattern": "{\"a\": [1]}", "Pattern": "{\"a\": [1]}"}]}"#;
    let err = doc_error(text);
    assert_eq!(err.filter(), Some(0));
    assert_eq!(err.span().unwrap().start.offset, 41);
}

#[test]
fn filter_without_a_pattern() {
    let text = r#"{"Filters": [{"Pattern": "{\"a\": [1]}"}, {}]}"#;
    let err = doc_error(text);
    assert!(err.reason().contains("must have a \"Pattern\""), "{err}");
    assert_eq!(err.filter(), Some(1));
    assert_eq!(err.span().unwrap().start.offset, 42);
    assert_eq!(err.path(), "Filters[1]");
}

#[test]
fn filter_that_is_not_an_object() {
    let text = r#"{"Filters": ["{\"a\": [1]}"]}"#;
    let err = doc_error(text);
    assert!(err.reason().contains("A filter must be an object"), "{err}");
    assert_eq!(err.filter(), Some(0));
    assert_eq!(err.span().unwrap().start.offset, 13);
}

#[test]
fn pattern_that_is_not_a_string() {
    // The pattern must be JSON text inside a string, not inline JSON.
    let text = r#"{"Filters": [{"Pattern": {"a": [1]}}]}"#;
    let err = doc_error(text);
    assert!(
        err.reason().contains("\"Pattern\" must be a string"),
        "{err}"
    );
    assert!(err.reason().contains("not object"), "{err}");
    assert_eq!(err.filter(), Some(0));
    assert_eq!(err.span().unwrap().start.offset, 25);
    assert_eq!(err.path(), "Filters[0].Pattern");
}

#[test]
fn invalid_pattern_keeps_its_own_error_and_names_the_filter() {
    let bad = r#"{"b": [{"numeric": [">", 5, ">", 9]}]}"#;
    let text = doc(&[r#"{"a": [1]}"#, r#"{"a": [1]}"#, bad]);
    let err = FilterCriteria::parse(&text).unwrap_err();
    assert_eq!(err.kind(), PatternErrorKind::Invalid);
    assert_eq!(err.reason(), "Bad numeric range operator: >");
    assert_eq!(err.filter(), Some(2));
    assert_eq!(err.path(), "b[0].numeric[2]");
    // Positions are inside the pattern string.
    assert_eq!(err.span().unwrap().start.offset, at(bad, r#"">", 9"#));
    assert!(err.to_string().contains("filter 2"), "{err}");

    let err = FilterCriteria::parse(&doc(&["{\"a\": [1]}", "not json"])).unwrap_err();
    assert_eq!(err.kind(), PatternErrorKind::Syntax);
    assert_eq!(err.filter(), Some(1));
    assert_eq!(err.span().unwrap().start.offset, 0);
}

// ---------------------------------------------------------------- limits

#[test]
fn at_most_five_filters_by_default() {
    let five = vec![r#"{"a": [1]}"#; DEFAULT_MAX_FILTERS];
    assert_eq!(fc(&five).patterns().len(), 5);

    let six = vec![r#"{"a": [1]}"#; 6];
    let text = doc(&six);
    let err = doc_error(&text);
    assert!(err.reason().contains("Too many filters: 6"), "{err}");
    assert_eq!(err.filter(), Some(5));
    // Points at the sixth filter.
    let sixth = text.match_indices("{\"Pattern\"").nth(5).unwrap().0;
    assert_eq!(err.span().unwrap().start.offset, sixth);
}

#[test]
fn ten_filters_with_a_raised_quota() {
    let ten = doc(&[r#"{"a": [1]}"#; 10]);
    assert!(FilterCriteria::parse(&ten).is_err());
    let fc = FilterCriteria::parse_with(&ten, &Options::new(), 10).unwrap();
    assert_eq!(fc.patterns().len(), 10);
    let eleven = doc(&[r#"{"a": [1]}"#; 11]);
    let err = FilterCriteria::parse_with(&eleven, &Options::new(), 10).unwrap_err();
    assert_eq!(err.kind(), PatternErrorKind::FilterCriteria);
    assert_eq!(err.filter(), Some(10));
}

/// A valid pattern exactly `len` characters long (`len` >= 12).
fn pattern_of_length(len: usize) -> String {
    let p = format!(r#"{{"a": ["{}"]}}"#, "é".repeat(len - 11));
    assert_eq!(p.chars().count(), len);
    p
}

#[test]
fn patterns_up_to_4096_characters() {
    // Counted in characters: "é" is two bytes.
    let longest = pattern_of_length(MAX_PATTERN_LENGTH);
    let fc = FilterCriteria::parse(&doc(&[r#"{"a": [1]}"#, &longest])).unwrap();
    assert_eq!(fc.patterns()[1].text(), longest);

    let too_long = pattern_of_length(MAX_PATTERN_LENGTH + 1);
    let text = doc(&[r#"{"a": [1]}"#, &too_long]);
    let err = doc_error(&text);
    assert!(err.reason().contains("4097 characters"), "{err}");
    assert_eq!(err.filter(), Some(1));
    assert_eq!(err.path(), "Filters[1].Pattern");
    assert_eq!(err.span().unwrap().start.offset, text.rfind("\"{").unwrap());
}

#[test]
fn options_reach_the_patterns() {
    let text = doc(&[r#"{"n": [300]}"#]);
    let numeric = FilterCriteria::parse(&text).unwrap();
    assert!(numeric.matches(br#"{"n": 300.0}"#).unwrap());
    let as_strings =
        FilterCriteria::parse_with(&text, &Options::new().numbers_as_strings(true), 5).unwrap();
    assert!(!as_strings.matches(br#"{"n": 300.0}"#).unwrap());
    assert!(as_strings.matches(br#"{"n": 300}"#).unwrap());
}

// ---------------------------------------------------------------- empty and OR

#[test]
fn empty_criteria_pass_everything() {
    for text in ["{}", r#"{"Filters": []}"#, " { \"Filters\" : [ ] } "] {
        let fc = FilterCriteria::parse(text).unwrap();
        assert!(fc.is_empty());
        assert!(fc.matches(br#"{"x": 1}"#).unwrap());
        assert!(fc.matches(b"{}").unwrap());
        assert!(
            fc.matches(b"{oops").is_err(),
            "an invalid event is still an error"
        );
        for source in [
            Source::Sqs,
            Source::Kinesis,
            Source::DynamoDb,
            Source::Kafka,
            Source::Mq,
        ] {
            assert_eq!(
                fc.eval(source, &json!({"body": "x", "data": "!!", "value": "!!"})),
                RecordVerdict::Delivered
            );
        }
    }
    assert!(FilterCriteria::from_patterns(Vec::new()).is_empty());
}

#[test]
fn filters_are_ored() {
    let fc = fc(&[r#"{"a": [1]}"#, r#"{"b": [2]}"#]);
    assert!(!fc.is_empty());
    assert!(fc.matches(br#"{"a": 1}"#).unwrap());
    assert!(fc.matches(br#"{"b": 2}"#).unwrap());
    assert!(fc.matches(br#"{"a": 1, "b": 2}"#).unwrap());
    assert!(!fc.matches(br#"{"a": 2, "b": 1}"#).unwrap());
    assert_eq!(
        fc.eval(Source::DynamoDb, &json!({"b": 2})),
        RecordVerdict::Delivered
    );
    assert_eq!(
        fc.eval(Source::DynamoDb, &json!({"b": 3})),
        RecordVerdict::FilteredOut
    );
}

#[test]
fn from_patterns_and_clone_behave_like_parse() {
    let strict = Options::new().lambda_strict(true);
    // Lambda-strict: the last "value" object wins outright, so only value.b is required.
    let p = Pattern::parse_with(
        r#"{"value": {"a": [1]}, "value": {"b": [2]}, "topic": ["t"]}"#,
        &strict,
    )
    .unwrap();
    let fc =
        FilterCriteria::from_patterns(vec![p.clone(), Pattern::parse(r#"{"x": [1]}"#).unwrap()]);
    assert_eq!(fc.patterns().len(), 2);
    assert_eq!(fc.patterns()[0], p);
    let record = json!({"topic": "t", "value": b64(r#"{"b": 2}"#)});
    assert_eq!(fc.eval(Source::Kafka, &record), RecordVerdict::Delivered);
    let copy = fc.clone();
    assert_eq!(copy.eval(Source::Kafka, &record), RecordVerdict::Delivered);
    assert!(copy.matches(br#"{"x": 1}"#).unwrap());
    assert!(format!("{copy:?}").contains("topic"));
}

#[test]
fn source_names() {
    for (name, source) in [
        ("sqs", Source::Sqs),
        ("Kinesis", Source::Kinesis),
        ("DYNAMODB", Source::DynamoDb),
        ("kafka", Source::Kafka),
        ("mq", Source::Mq),
    ] {
        assert_eq!(name.parse::<Source>().unwrap(), source);
        assert_eq!(source.to_string(), name.to_lowercase());
    }
    let err = "dynamo".parse::<Source>().unwrap_err();
    assert!(err.to_string().contains("\"dynamo\""), "{err}");
    assert!(
        err.to_string()
            .contains("sqs, kinesis, dynamodb, kafka, mq"),
        "{err}"
    );
}

// ---------------------------------------------------------------- SQS

const SQS_JSON: &str = r#"{"body": {"k": ["v"]}}"#;
const SQS_PLAIN: &str = r#"{"body": ["hello"]}"#;

#[test]
fn sqs_json_body_and_json_pattern() {
    let fc = fc(&[SQS_JSON]);
    assert_eq!(
        fc.eval(Source::Sqs, &json!({"body": r#"{"k": "v"}"#})),
        RecordVerdict::Delivered
    );
    assert_eq!(
        fc.eval(Source::Sqs, &json!({"body": r#"{"k": "w"}"#})),
        RecordVerdict::FilteredOut
    );
    // Whitespace around the JSON is still JSON.
    assert_eq!(
        fc.eval(Source::Sqs, &json!({"body": " \n{\"k\": \"v\"}\r\n "})),
        RecordVerdict::Delivered
    );
    // A JSON-encoded string inside the body is not parsed again.
    assert_eq!(
        fc.eval(Source::Sqs, &json!({"body": r#"{"k": "\"v\""}"#})),
        RecordVerdict::FilteredOut
    );
}

#[test]
fn sqs_plain_body_and_json_pattern_is_dropped() {
    let fc = fc(&[SQS_JSON]);
    let reason = dropped(&fc.eval(Source::Sqs, &json!({"body": "hello"}))).to_string();
    assert!(
        reason.contains("filter 0") && reason.contains("not JSON"),
        "{reason}"
    );
    // A JSON scalar body is a plain string, not JSON.
    dropped(&fc.eval(Source::Sqs, &json!({"body": "42"})));
    dropped(&fc.eval(Source::Sqs, &json!({"body": "{\"k\": \"v\""})));
}

#[test]
fn sqs_plain_body_and_plain_pattern() {
    let fc = fc(&[SQS_PLAIN]);
    assert_eq!(
        fc.eval(Source::Sqs, &json!({"body": "hello"})),
        RecordVerdict::Delivered
    );
    assert_eq!(
        fc.eval(Source::Sqs, &json!({"body": "bye"})),
        RecordVerdict::FilteredOut
    );
    let prefix = self::fc(&[r#"{"body": [{"prefix": "4"}]}"#]);
    assert_eq!(
        prefix.eval(Source::Sqs, &json!({"body": "42"})),
        RecordVerdict::Delivered
    );
}

#[test]
fn sqs_json_body_and_plain_pattern_is_dropped() {
    let fc = fc(&[SQS_PLAIN]);
    let reason = dropped(&fc.eval(Source::Sqs, &json!({"body": "{\"hello\": 1}"}))).to_string();
    assert!(reason.contains("plain string"), "{reason}");
    dropped(&fc.eval(Source::Sqs, &json!({"body": "[\"hello\"]"})));
}

#[test]
fn sqs_without_a_body_pattern_filters_on_metadata() {
    let fc = fc(&[r#"{"attributes": {"SenderId": ["me"]}}"#]);
    for body in ["hello", "{\"k\": 1}", "\u{0}binary-ish"] {
        assert_eq!(
            fc.eval(
                Source::Sqs,
                &json!({"body": body, "attributes": {"SenderId": "me"}})
            ),
            RecordVerdict::Delivered,
            "{body:?}"
        );
        assert_eq!(
            fc.eval(
                Source::Sqs,
                &json!({"body": body, "attributes": {"SenderId": "you"}})
            ),
            RecordVerdict::FilteredOut,
            "{body:?}"
        );
    }
}

#[test]
fn sqs_dotted_key_counts_as_json_pattern() {
    let fc = fc(&[r#"{"body.k": ["v"]}"#]);
    assert_eq!(
        fc.eval(Source::Sqs, &json!({"body": "{\"k\": \"v\"}"})),
        RecordVerdict::Delivered
    );
    dropped(&fc.eval(Source::Sqs, &json!({"body": "k=v"})));
}

#[test]
fn one_filter_matching_wins_over_another_dropping() {
    let fc = fc(&[SQS_JSON, SQS_PLAIN]);
    assert_eq!(
        fc.eval(Source::Sqs, &json!({"body": "hello"})),
        RecordVerdict::Delivered
    );
    assert_eq!(
        fc.eval(Source::Sqs, &json!({"body": "{\"k\": \"v\"}"})),
        RecordVerdict::Delivered
    );
    // Neither matches: the first dropping filter is named.
    let reason = dropped(&fc.eval(Source::Sqs, &json!({"body": "bye"}))).to_string();
    assert!(reason.starts_with("filter 0"), "{reason}");
    let reason = dropped(&fc.eval(Source::Sqs, &json!({"body": "{\"k\": 1}"}))).to_string();
    assert!(reason.starts_with("filter 1"), "{reason}");
}

#[test]
fn sqs_malformed_records_are_dropped() {
    let fc = fc(&[SQS_JSON]);
    let reason = dropped(&fc.eval(Source::Sqs, &json!({"body": {"k": "v"}}))).to_string();
    assert!(
        reason.contains("`body` must be a string") && reason.contains("an object"),
        "{reason}"
    );
    let reason = dropped(&fc.eval(Source::Sqs, &json!(["body"]))).to_string();
    assert!(reason.contains("must be a JSON object"), "{reason}");
    // No body at all: the pattern is matched against the record as it is.
    assert_eq!(
        fc.eval(Source::Sqs, &json!({"messageId": "1"})),
        RecordVerdict::FilteredOut
    );
}

// ---------------------------------------------------------------- Kinesis

const KINESIS_JSON: &str = r#"{"data": {"t": ["x"]}}"#;

#[test]
fn kinesis_json_data() {
    let fc = fc(&[KINESIS_JSON]);
    let record = json!({"partitionKey": "1", "data": b64(r#"{"t": "x"}"#)});
    assert_eq!(fc.eval(Source::Kinesis, &record), RecordVerdict::Delivered);
    let record = json!({"partitionKey": "1", "data": b64(r#"{"t": "y"}"#)});
    assert_eq!(
        fc.eval(Source::Kinesis, &record),
        RecordVerdict::FilteredOut
    );
    // The Lambda event shape: the filter sees the Kinesis record inside.
    let record = json!({"eventSource": "aws:kinesis", "kinesis": {"partitionKey": "1", "data": b64(r#"{"t": "x"}"#)}});
    assert_eq!(fc.eval(Source::Kinesis, &record), RecordVerdict::Delivered);
}

#[test]
fn kinesis_non_json_data_with_json_pattern_is_dropped() {
    let fc = fc(&[KINESIS_JSON]);
    let reason = dropped(&fc.eval(Source::Kinesis, &json!({"data": b64("t=x")}))).to_string();
    assert!(reason.contains("`data` is not JSON"), "{reason}");
    dropped(&fc.eval(Source::Kinesis, &json!({"data": b64([0xff, 0xfe, 0x00])})));
    dropped(&fc.eval(Source::Kinesis, &json!({"kinesis": {"data": b64("plain")}})));
}

#[test]
fn kinesis_non_json_data_without_data_pattern_filters_on_metadata() {
    let fc = fc(&[r#"{"partitionKey": ["1"]}"#]);
    for data in [b64("t=x"), b64([0xff, 0xfe]), b64(r#"{"t": "x"}"#)] {
        assert_eq!(
            fc.eval(Source::Kinesis, &json!({"partitionKey": "1", "data": data})),
            RecordVerdict::Delivered
        );
        assert_eq!(
            fc.eval(Source::Kinesis, &json!({"partitionKey": "2", "data": data})),
            RecordVerdict::FilteredOut
        );
    }
}

#[test]
fn kinesis_plain_string_data_pattern_is_never_allowed() {
    let fc = fc(&[r#"{"data": ["t=x"]}"#]);
    // Refused when the mapping is created; evaluated anyway, every record is dropped.
    assert_eq!(fc.check_for(Source::Kinesis).unwrap_err().filter(), Some(0));
    for data in [b64("t=x"), b64(r#"{"t": "x"}"#)] {
        let reason = dropped(&fc.eval(Source::Kinesis, &json!({"data": data}))).to_string();
        assert!(
            reason.contains("plain string") && reason.contains("kinesis"),
            "{reason}"
        );
    }
}

#[test]
fn kinesis_invalid_base64_is_dropped() {
    let fc = fc(&[r#"{"partitionKey": ["1"]}"#]);
    // Plain JSON where base64 is expected: a common mistake, named clearly.
    let reason = dropped(&fc.eval(
        Source::Kinesis,
        &json!({"partitionKey": "1", "data": "{\"t\": \"x\"}"}),
    ))
    .to_string();
    assert!(reason.contains("not valid base64"), "{reason}");
    let reason =
        dropped(&fc.eval(Source::Kinesis, &json!({"partitionKey": "1", "data": 5}))).to_string();
    assert!(reason.contains("must be a base64 string"), "{reason}");
}

// ---------------------------------------------------------------- DynamoDB

#[test]
fn dynamodb_typed_values() {
    let fc = fc(&[r#"{"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 1]}]}}}}"#]);
    // N values are strings: numeric never matches them.
    let record = json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"n": {"N": "42"}}}});
    assert_eq!(
        fc.eval(Source::DynamoDb, &record),
        RecordVerdict::FilteredOut
    );
    let fc = self::fc(&[r#"{"dynamodb": {"NewImage": {"n": {"N": ["42"]}}}}"#]);
    assert_eq!(fc.eval(Source::DynamoDb, &record), RecordVerdict::Delivered);
}

#[test]
fn dynamodb_non_json_data_with_json_pattern_is_dropped() {
    let fc = fc(&[r#"{"dynamodb": {"Keys": {"id": {"S": ["1"]}}}}"#]);
    let reason =
        dropped(&fc.eval(Source::DynamoDb, &json!({"dynamodb": "{\"Keys\": {}}"}))).to_string();
    assert!(reason.contains("`dynamodb` is not JSON"), "{reason}");
    // Without a data pattern, metadata only.
    let meta = self::fc(&[r#"{"eventName": ["INSERT"]}"#]);
    assert_eq!(
        meta.eval(
            Source::DynamoDb,
            &json!({"eventName": "INSERT", "dynamodb": "text"})
        ),
        RecordVerdict::Delivered
    );
}

#[test]
fn dynamodb_plain_string_pattern_is_never_allowed() {
    let fc = fc(&[r#"{"dynamodb": [{"exists": true}]}"#]);
    assert_eq!(
        fc.check_for(Source::DynamoDb).unwrap_err().path(),
        "dynamodb"
    );
    dropped(&fc.eval(Source::DynamoDb, &json!({"dynamodb": {"Keys": {}}})));
}

// ---------------------------------------------------------------- Kafka and MQ

/// A record of `source` with metadata `meta` and raw data bytes.
fn broker_record(source: Source, meta: &str, data: impl AsRef<[u8]>) -> Value {
    match source {
        Source::Kafka => json!({"topic": meta, "partition": 0, "offset": 7, "value": b64(data)}),
        _ => json!({"messageType": meta, "messageID": "ID:1", "data": b64(data)}),
    }
}

/// Patterns for `source`: (metadata only, metadata + JSON data, metadata + plain data).
fn broker_patterns(source: Source) -> (String, String, String) {
    let (meta, key) = match source {
        Source::Kafka => ("topic", "value"),
        _ => ("messageType", "data"),
    };
    (
        format!(r#"{{"{meta}": ["m"]}}"#),
        format!(r#"{{"{meta}": ["m"], "{key}": {{"t": ["x"]}}}}"#),
        format!(r#"{{"{meta}": ["m"], "{key}": ["t=x"]}}"#),
    )
}

#[test]
fn kafka_and_mq_matching_formats_filter_normally() {
    for source in [Source::Kafka, Source::Mq] {
        let (_, json_p, plain_p) = broker_patterns(source);
        let json_fc = fc(&[&json_p]);
        let plain_fc = fc(&[&plain_p]);
        let ok = broker_record(source, "m", r#"{"t": "x"}"#);
        let no = broker_record(source, "m", r#"{"t": "y"}"#);
        assert_eq!(
            json_fc.eval(source, &ok),
            RecordVerdict::Delivered,
            "{source}"
        );
        assert_eq!(
            json_fc.eval(source, &no),
            RecordVerdict::FilteredOut,
            "{source}"
        );
        assert_eq!(
            plain_fc.eval(source, &broker_record(source, "m", "t=x")),
            RecordVerdict::Delivered
        );
        assert_eq!(
            plain_fc.eval(source, &broker_record(source, "m", "t=y")),
            RecordVerdict::FilteredOut
        );
        assert_eq!(
            json_fc.eval(source, &broker_record(source, "other", r#"{"t": "x"}"#)),
            RecordVerdict::FilteredOut
        );
    }
}

#[test]
fn kafka_and_mq_format_mismatch_applies_only_the_metadata_part() {
    for source in [Source::Kafka, Source::Mq] {
        let (_, json_p, plain_p) = broker_patterns(source);
        let json_fc = fc(&[&json_p]);
        let plain_fc = fc(&[&plain_p]);
        // Text data, JSON pattern: the data condition is ignored, the metadata still counts.
        assert_eq!(
            json_fc.eval(source, &broker_record(source, "m", "t=y")),
            RecordVerdict::Delivered,
            "{source}"
        );
        assert_eq!(
            json_fc.eval(source, &broker_record(source, "n", "t=y")),
            RecordVerdict::FilteredOut,
            "{source}"
        );
        // JSON data, plain pattern: likewise.
        assert_eq!(
            plain_fc.eval(source, &broker_record(source, "m", r#"{"t": "y"}"#)),
            RecordVerdict::Delivered
        );
        assert_eq!(
            plain_fc.eval(source, &broker_record(source, "n", r#"{"t": "y"}"#)),
            RecordVerdict::FilteredOut
        );
    }
}

#[test]
fn kafka_and_mq_non_utf8_data_applies_only_the_metadata_part() {
    let bytes = [0x80, 0xff, b'{', b'}'];
    for source in [Source::Kafka, Source::Mq] {
        let (meta_p, json_p, plain_p) = broker_patterns(source);
        for p in [&meta_p, &json_p, &plain_p] {
            let fc = fc(&[p]);
            assert_eq!(
                fc.eval(source, &broker_record(source, "m", bytes)),
                RecordVerdict::Delivered,
                "{source} {p}"
            );
            assert_eq!(
                fc.eval(source, &broker_record(source, "n", bytes)),
                RecordVerdict::FilteredOut,
                "{source} {p}"
            );
        }
    }
}

#[test]
fn kafka_metadata_part_keeps_or_alternatives_without_data() {
    // $or: (value.t = x) OR (partition = 1). With text data only the metadata remains:
    // the first alternative becomes empty, i.e. always satisfied.
    let fc = fc(&[r#"{"topic": ["m"], "$or": [{"value": {"t": ["x"]}}, {"partition": [1]}]}"#]);
    let record = json!({"topic": "m", "partition": 0, "value": b64("text")});
    assert_eq!(fc.eval(Source::Kafka, &record), RecordVerdict::Delivered);
    let record = json!({"topic": "n", "partition": 0, "value": b64("text")});
    assert_eq!(fc.eval(Source::Kafka, &record), RecordVerdict::FilteredOut);
    // With JSON data the whole pattern applies.
    let record = json!({"topic": "m", "partition": 0, "value": b64(r#"{"t": "y"}"#)});
    assert_eq!(fc.eval(Source::Kafka, &record), RecordVerdict::FilteredOut);
}

#[test]
fn kafka_and_mq_invalid_base64_is_dropped() {
    for source in [Source::Kafka, Source::Mq] {
        let (meta_p, _, _) = broker_patterns(source);
        let fc = fc(&[&meta_p]);
        let mut record = broker_record(source, "m", "x");
        let key = if source == Source::Kafka {
            "value"
        } else {
            "data"
        };
        record[key] = json!("%%%");
        let reason = dropped(&fc.eval(source, &record)).to_string();
        assert!(
            reason.contains("not valid base64") && reason.contains(key),
            "{reason}"
        );
    }
}

#[test]
fn kafka_tombstone_is_matched_as_is() {
    let fc = fc(&[r#"{"topic": ["m"], "value": [null]}"#]);
    assert_eq!(
        fc.eval(Source::Kafka, &json!({"topic": "m", "value": null})),
        RecordVerdict::Delivered
    );
    let fc = self::fc(&[r#"{"value": {"t": ["x"]}}"#]);
    assert_eq!(
        fc.eval(Source::Kafka, &json!({"topic": "m"})),
        RecordVerdict::FilteredOut
    );
}

/// serde_json (with the `arbitrary_precision` feature the reference interpreter uses) reads an
/// object keyed `$serde_json::private::Number` as a number; for weir it is an ordinary key.
#[test]
fn reserved_serde_key_is_an_ordinary_key() {
    let event = br#"{"$serde_json::private::Number": "dev", "n": 2}"#;
    let empty = FilterCriteria::parse(r#"{"Filters": []}"#).unwrap();
    assert!(empty.matches(event).unwrap());
    assert!(empty.matches(b"{\"a\": ").is_err());
    assert!(fc(&[r#"{"n": [2]}"#]).matches(event).unwrap());
    assert!(!fc(&[r#"{"n": [3]}"#]).matches(event).unwrap());
    let envelope = br#"{"$serde_json::private::Number": "dev", "id": "1", "source": "s",
        "detail-type": "t", "account": "1", "region": "r", "time": "t"}"#;
    weir::check_envelope(envelope).unwrap();
    let err = weir::check_envelope(br#"{"id": "1"}"#).unwrap_err();
    assert!(err.reason().contains("missing field \"source\""), "{err}");
    let err = weir::check_envelope(b"[1]").unwrap_err();
    assert!(err.reason().contains("not a JSON object"), "{err}");
    let err = weir::check_envelope(b"{\"id\": tru}").unwrap_err();
    assert!(!err.reason().contains("not a JSON object"), "{err}");
    // Values are checked as strictly as the matcher checks events: escapes, nesting, UTF-8.
    let full = |extra: &[u8]| {
        let mut e = br#"{"id": "1", "source": "s", "detail-type": "t", "account": "1", "region": "r", "time": "t", "x": "#.to_vec();
        e.extend_from_slice(extra);
        e.push(b'}');
        e
    };
    weir::check_envelope(&full(b"[1]")).unwrap();
    let deep = [vec![b'['; 300], vec![b']'; 300]].concat();
    for bad in [&br#""\ud800""#[..], &deep, b"\"\xff\""] {
        let event = full(bad);
        assert!(
            weir::check_envelope(&event).is_err(),
            "{}",
            String::from_utf8_lossy(&event)
        );
        assert!(weir::Matcher::new().is_match(&event).is_err());
    }
}

// ---------------------------------------------------------------- the byte API

/// Every source, with a record carrying `meta` as its metadata field `n` and `data` (a JSON
/// text) in its data field, encoded as the source delivers it.
fn records_with(meta: &str, data: &str) -> Vec<(Source, String)> {
    let quoted = serde_json::to_string(data).unwrap();
    let encoded = b64(data);
    vec![
        (Source::Sqs, format!(r#"{{"n": {meta}, "body": {quoted}}}"#)),
        (
            Source::Kinesis,
            format!(r#"{{"kinesis": {{"n": {meta}, "data": "{encoded}"}}}}"#),
        ),
        (
            Source::DynamoDb,
            format!(r#"{{"n": {meta}, "dynamodb": {data}}}"#),
        ),
        (
            Source::Kafka,
            format!(r#"{{"n": {meta}, "value": "{encoded}"}}"#),
        ),
        (
            Source::Mq,
            format!(r#"{{"n": {meta}, "data": "{encoded}"}}"#),
        ),
    ]
}

fn data_key(source: Source) -> &'static str {
    match source {
        Source::Sqs => "body",
        Source::DynamoDb => "dynamodb",
        Source::Kafka => "value",
        _ => "data",
    }
}

#[test]
fn numbers_are_matched_as_written_in_metadata_and_data() {
    // Numbers no double holds exactly are compared by their text: the record must reach the
    // matcher as written, not through a number type.
    for (number, same, other) in [
        ("1e400", "1E+400", "2e400"),
        ("0.30000000000000001", "0.30000000000000001", "0.3"),
        (
            "12345678901234567890",
            "12345678901234567890",
            "12345678901234567891",
        ),
    ] {
        for (source, record) in records_with(same, &format!(r#"{{"x": {same}}}"#)) {
            let key = data_key(source);
            let meta = fc(&[&format!(r#"{{"n": [{number}]}}"#)]);
            let data = fc(&[&format!(r#"{{"{key}": {{"x": [{number}]}}}}"#)]);
            let bytes = record.as_bytes();
            assert_eq!(
                meta.evaluate(source, bytes),
                RecordVerdict::Delivered,
                "{source} {record}"
            );
            assert_eq!(
                data.evaluate(source, bytes),
                RecordVerdict::Delivered,
                "{source} {record}"
            );
        }
        for (source, record) in records_with(other, &format!(r#"{{"x": {other}}}"#)) {
            let key = data_key(source);
            let meta = fc(&[&format!(r#"{{"n": [{number}]}}"#)]);
            let data = fc(&[&format!(r#"{{"{key}": {{"x": [{number}]}}}}"#)]);
            let bytes = record.as_bytes();
            assert_eq!(
                meta.evaluate(source, bytes),
                RecordVerdict::FilteredOut,
                "{source} {record}"
            );
            assert_eq!(
                data.evaluate(source, bytes),
                RecordVerdict::FilteredOut,
                "{source} {record}"
            );
        }
    }
}

#[test]
fn evaluate_on_bytes_agrees_with_matches_on_the_decoded_form() {
    let fc = fc(&[
        r#"{"n": [{"numeric": [">", 1]}], "body": {"k": ["v"]}}"#,
        r#"{"body": {"z": [{"exists": true}]}}"#,
    ]);
    for (record, decoded, want) in [
        (
            r#"{"n": 2, "body": "{\"k\": \"v\"}"}"#,
            r#"{"n": 2, "body": {"k": "v"}}"#,
            true,
        ),
        (
            r#"{"n": 1, "body": "{\"k\": \"v\"}"}"#,
            r#"{"n": 1, "body": {"k": "v"}}"#,
            false,
        ),
        (
            r#"{"body": "[{\"z\": 1e400}]", "n": 0}"#,
            r#"{"body": [{"z": 1e400}], "n": 0}"#,
            true,
        ),
    ] {
        let verdict = fc.evaluate(Source::Sqs, record.as_bytes());
        assert_eq!(fc.matches(decoded.as_bytes()).unwrap(), want, "{decoded}");
        let expected = if want {
            RecordVerdict::Delivered
        } else {
            RecordVerdict::FilteredOut
        };
        assert_eq!(verdict, expected, "{record}");
    }
}

#[test]
fn records_that_are_not_json_are_dropped_with_the_place() {
    let fc = fc(&[r#"{"a": [1]}"#]);
    let empty = FilterCriteria::parse("{}").unwrap();
    for criteria in [&fc, &empty] {
        let verdict = criteria.evaluate(Source::Sqs, br#"{"a": 1, "body": tru}"#);
        let RecordVerdict::Dropped {
            reason: DropReason::NotJson(e),
        } = &verdict
        else {
            panic!("{verdict:?}");
        };
        assert_eq!(e.offset(), 17);
        let shown = dropped(&verdict).to_string();
        assert!(
            shown.contains("not valid JSON") && shown.contains("byte 17"),
            "{shown}"
        );
    }
    assert_eq!(
        dropped(&fc.evaluate(Source::Kafka, b"[1]")),
        &DropReason::NotAnObject {
            source: Source::Kafka,
            found: weir::lambda::ValueKind::Array
        }
    );
}

#[test]
fn decoded_data_nesting_too_deep_is_unreadable() {
    // 127 levels are fine on their own; inside the record they are one too many.
    let deep = format!("{}{}", "[".repeat(127), "]".repeat(127));
    let fc = fc(&[r#"{"body": {"k": ["v"]}}"#]);
    let record = json!({ "body": deep }).to_string();
    let verdict = fc.evaluate(Source::Sqs, record.as_bytes());
    assert!(
        matches!(
            verdict,
            RecordVerdict::Dropped {
                reason: DropReason::Unreadable(_)
            }
        ),
        "{verdict:?}"
    );
    let shallow = json!({ "body": format!("{}{}", "[".repeat(126), "]".repeat(126)) }).to_string();
    assert_eq!(
        fc.evaluate(Source::Sqs, shallow.as_bytes()),
        RecordVerdict::FilteredOut
    );
}

#[test]
fn repeated_and_escaped_keys() {
    let fc = fc(&[r#"{"body": {"k": ["v"]}}"#]);
    // The last `body` counts, as the matcher keeps a repeated key's last value.
    let last = br#"{"body": "{\"k\": \"w\"}", "body": "{\"k\": \"v\"}"}"#;
    assert_eq!(fc.evaluate(Source::Sqs, last), RecordVerdict::Delivered);
    let first = br#"{"body": "{\"k\": \"v\"}", "body": "{\"k\": \"w\"}"}"#;
    assert_eq!(fc.evaluate(Source::Sqs, first), RecordVerdict::FilteredOut);
    // A key written with escapes is the same key.
    let escaped = br#"{"b\u006fdy": "{\"k\": \"v\"}"}"#;
    assert_eq!(fc.evaluate(Source::Sqs, escaped), RecordVerdict::Delivered);
    // serde_json's reserved key is an ordinary key of the record.
    let reserved = br#"{"$serde_json::private::Number": "1", "body": "{\"k\": \"v\"}"}"#;
    assert_eq!(fc.evaluate(Source::Sqs, reserved), RecordVerdict::Delivered);
    // Kinesis: the Lambda envelope's last `kinesis` object is the record.
    let fc = self::fc(&[KINESIS_JSON]);
    let record = format!(
        r#"{{"kinesis": {{"data": "{}"}}, "kinesis": {{"data": "{}"}}}}"#,
        b64(r#"{"t": "y"}"#),
        b64(r#"{"t": "x"}"#)
    );
    assert_eq!(
        fc.evaluate(Source::Kinesis, record.as_bytes()),
        RecordVerdict::Delivered
    );
}

#[test]
fn decoded_text_is_written_as_a_json_string() {
    // Kafka text data with quotes, backslashes and control characters reaches the matcher as
    // the string it is.
    let text = "say \"hi\"\\\n\u{1}é";
    let fc = fc(&[&json!({"value": [text]}).to_string()]);
    let record = json!({"topic": "t", "value": b64(text)}).to_string();
    assert_eq!(
        fc.evaluate(Source::Kafka, record.as_bytes()),
        RecordVerdict::Delivered
    );
    let record = json!({"topic": "t", "value": b64("say")}).to_string();
    assert_eq!(
        fc.evaluate(Source::Kafka, record.as_bytes()),
        RecordVerdict::FilteredOut
    );
}

#[test]
fn evaluate_batch_gives_each_record_its_verdict() {
    let fc = fc(&[SQS_JSON, r#"{"attributes": {"SenderId": ["me"]}}"#]);
    let records: Vec<Vec<u8>> = [
        json!({"body": r#"{"k": "v"}"#}),
        json!({"body": r#"{"k": "w"}"#}),
        json!({"body": "hello"}),
        json!({"body": "hello", "attributes": {"SenderId": "me"}}),
        json!({"body": {"k": "v"}}),
        json!(["body"]),
    ]
    .iter()
    .map(|r| serde_json::to_vec(r).unwrap())
    .chain([b"{oops".to_vec()])
    .collect();
    let mut out = vec![RecordVerdict::Delivered; 2];
    fc.evaluate_batch(Source::Sqs, records.iter().map(Vec::as_slice), &mut out);
    assert_eq!(out.len(), records.len());
    for (r, verdict) in records.iter().zip(&out) {
        assert_eq!(
            *verdict,
            fc.evaluate(Source::Sqs, r),
            "{}",
            String::from_utf8_lossy(r)
        );
    }
    assert_eq!(out[0], RecordVerdict::Delivered);
    assert_eq!(out[1], RecordVerdict::FilteredOut);
    assert!(matches!(
        &out[2],
        RecordVerdict::Dropped {
            reason: DropReason::JsonPatternOnText { filter: 0, .. }
        }
    ));
    assert_eq!(out[3], RecordVerdict::Delivered);
    // Reusing `out`: it holds the new batch only.
    fc.evaluate_batch(Source::Sqs, [records[3].as_slice()], &mut out);
    assert_eq!(out, vec![RecordVerdict::Delivered]);
    fc.evaluate_batch(Source::Sqs, std::iter::empty(), &mut out);
    assert!(out.is_empty());
}

#[test]
fn check_for_refuses_plain_data_patterns_on_kinesis_and_dynamodb() {
    let doc_text = doc(&[
        r#"{"partitionKey": ["1"]}"#,
        r#"{"data": {"t": ["x"]}, "dynamodb": {"Keys": [{"exists": true}]}}"#,
        r#"{"$or": [{"eventName": ["INSERT"]}, {"data": [{"prefix": "t="}]}]}"#,
        r#"{"dynamodb": [{"exists": true}]}"#,
    ]);
    let fc = FilterCriteria::parse(&doc_text).unwrap();
    for source in [Source::Sqs, Source::Kafka, Source::Mq] {
        fc.check_for(source).unwrap();
    }
    let err = fc.check_for(Source::Kinesis).unwrap_err();
    assert_eq!(err.filter(), Some(2));
    assert_eq!(err.kind(), PatternErrorKind::Unsupported);
    assert_eq!(err.path(), "data");
    assert!(
        err.reason().contains("kinesis") && err.reason().contains("plain string"),
        "{err}"
    );
    let pattern = fc.patterns()[2].text();
    let span = err.span().unwrap();
    assert_eq!(
        &pattern[span.start.offset..span.end.offset],
        r#"[{"prefix": "t="}]"#
    );
    assert!(err.to_string().contains("filter 2"), "{err}");

    let err = fc.check_for(Source::DynamoDb).unwrap_err();
    assert_eq!(err.filter(), Some(3));
    assert_eq!(err.path(), "dynamodb");

    // JSON patterns on the data and metadata patterns pass.
    let ok = self::fc(&[KINESIS_JSON, r#"{"partitionKey": ["1"]}"#]);
    ok.check_for(Source::Kinesis).unwrap();
    ok.check_for(Source::DynamoDb).unwrap();
    FilterCriteria::parse("{}")
        .unwrap()
        .check_for(Source::Kinesis)
        .unwrap();
}

#[test]
fn drop_reasons_read_as_before() {
    // The texts the reasons had as strings, now the `Display` of `DropReason`.
    let sqs = fc(&[SQS_JSON, SQS_PLAIN]);
    let kinesis = fc(&[r#"{"partitionKey": ["1"]}"#, r#"{"data": ["t=x"]}"#]);
    let cases: Vec<(RecordVerdict, &str)> = vec![
        (
            sqs.evaluate(Source::Sqs, br#"{"body": "{\"k\": 1}"}"#),
            "filter 1: the body is JSON but the filter matches `body` as a plain string",
        ),
        (
            sqs.evaluate(Source::Sqs, br#"{"body": "bye"}"#),
            "filter 0: the body is not JSON but the filter has a JSON pattern on `body`",
        ),
        (
            sqs.evaluate(Source::Sqs, br#"{"body": 1}"#),
            "the SQS `body` must be a string (the message body as sent), not a number",
        ),
        (
            sqs.evaluate(Source::Sqs, b"true"),
            "a sqs record must be a JSON object, not a boolean",
        ),
        (
            kinesis.evaluate(Source::Kinesis, br#"{"partitionKey": "2", "data": "eA=="}"#),
            "filter 1: the filter matches `data` as a plain string, which kinesis does not \
             allow (AWS refuses such a filter when the event source mapping is created)",
        ),
        (
            fc(&[KINESIS_JSON]).evaluate(Source::Kinesis, br#"{"data": "eA=="}"#),
            "filter 0: `data` is not JSON but the filter has a JSON pattern on `data`",
        ),
        (
            kinesis.evaluate(
                Source::Kinesis,
                br#"{"data": null, "kinesis": {"data": []}}"#,
            ),
            "the kinesis `data` must be a base64 string, not an array",
        ),
        (
            kinesis.evaluate(Source::Mq, br#"{"data": "%"}"#),
            "the mq `data` is not valid base64 (Invalid symbol 37, offset 0.)",
        ),
    ];
    for (verdict, want) in cases {
        assert_eq!(dropped(&verdict).to_string(), want);
    }
}
