//! Every case of tests/data/conformance/lambda-esm-aws.json through `weir::lambda`: SQS
//! records, DynamoDB stream records built from the table puts, Kinesis records on two mappings,
//! and the patterns AWS refuses. Each case also runs in its plain-JSON form through
//! `FilterCriteria::matches` where that form means something.

mod common;

use common::sqs_record;

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{json, Value};
use weir::lambda::{FilterCriteria, RecordVerdict, Source};
use weir::PatternErrorKind;

/// `FilterCriteria::evaluate` on a record written as a `serde_json::Value`.
trait EvalValue {
    fn eval(&self, source: Source, record: &Value) -> RecordVerdict;
}

impl EvalValue for FilterCriteria {
    fn eval(&self, source: Source, record: &Value) -> RecordVerdict {
        self.evaluate(source, &serde_json::to_vec(record).unwrap())
    }
}

fn cases() -> Vec<Value> {
    let doc: Value =
        serde_json::from_str(include_str!("data/conformance/lambda-esm-aws.json")).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

fn id(case: &Value) -> &str {
    case["id"].as_str().unwrap()
}

/// A FilterCriteria document with one filter holding `pattern` (as text).
fn criteria_doc(pattern: &str) -> String {
    json!({"Filters": [{"Pattern": pattern}]}).to_string()
}

fn criteria(pattern: &Value) -> FilterCriteria {
    FilterCriteria::parse(&criteria_doc(&pattern.to_string())).unwrap()
}

/// The reference interpreter's answer for the plain-JSON form: any filter matches.
fn reference_matches(fc: &FilterCriteria, event: &Value) -> bool {
    fc.patterns()
        .iter()
        .any(|p| weir_reference::matches(p, event))
}

fn is_error_case(c: &Value) -> bool {
    c.get("expected").and_then(Value::as_str) == Some("error")
}

/// Whether an SQS body is JSON as Lambda reads it (an object or array).
fn body_is_json(body: &str) -> bool {
    matches!(
        serde_json::from_str::<Value>(body),
        Ok(Value::Object(_) | Value::Array(_))
    )
}

#[test]
fn sqs_records() {
    let mut checked = 0;
    for c in cases() {
        if c["source"] != "sqs" || c.get("records").is_none() {
            continue;
        }
        assert_eq!(c["aws_validated"], true, "{}", id(&c));
        let pattern = &c["pattern"];
        let fc = criteria(pattern);
        for (n, r) in c["records"].as_array().unwrap().iter().enumerate() {
            let body = r["body"].as_str().unwrap();
            let verdict = fc.eval(
                Source::Sqs,
                &sqs_record(&format!("0000000{n}-0000-4000-8000-000000000000"), body),
            );
            // Every pattern of these cases is a JSON pattern on `body`. §6: a plain-string
            // body with a JSON pattern on `body` is dropped; a JSON body that does not match
            // is filtered out.
            let want = match (r["expected"].as_str().unwrap(), body_is_json(body)) {
                ("match", _) => RecordVerdict::Delivered,
                ("no_match", true) => RecordVerdict::FilteredOut,
                ("no_match", false) => match &verdict {
                    RecordVerdict::Dropped { reason } => {
                        let reason = reason.to_string();
                        assert!(reason.contains("not JSON"), "{}: {reason}", id(&c));
                        verdict.clone()
                    }
                    other => panic!("{}: {body:?} should be dropped, got {other:?}", id(&c)),
                },
                (other, _) => panic!("{}: unknown expectation {other}", id(&c)),
            };
            assert_eq!(verdict, want, "{}: body {body:?}", id(&c));

            // Plain-JSON form: the record with its body already decoded.
            let mut plain = sqs_record(&format!("0000000{n}-0000-4000-8000-000000000000"), body);
            if body_is_json(body) {
                plain["body"] = serde_json::from_str(body).unwrap();
            }
            let event = serde_json::to_vec(&plain).unwrap();
            assert_eq!(
                fc.matches(&event).unwrap(),
                r["expected"] == "match",
                "{}: plain form of {body:?}",
                id(&c)
            );
            assert_eq!(
                reference_matches(&fc, &plain),
                r["expected"] == "match",
                "{}: reference, plain form of {body:?}",
                id(&c)
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn sqs_plain_string_pattern_case_is_refused() {
    // Not validated against AWS (LocalStack skipped it: "figure out how plain string
    // matching works"). Its pattern `{"body": "plain-string"}` has a scalar leaf, which
    // EventBridge's rules refuse; we assert that it is refused with that reason, in filter 0.
    let c = cases()
        .into_iter()
        .find(|c| c.get("skipped_upstream").is_some())
        .unwrap();
    assert_eq!(c["aws_validated"], false);
    let err = FilterCriteria::parse(&criteria_doc(&c["pattern"].to_string())).unwrap_err();
    assert_eq!(err.reason(), r#""body" must be an object or an array"#);
    assert_eq!(err.kind(), PatternErrorKind::Invalid);
    assert_eq!(err.filter(), Some(0));
    assert_eq!(err.path(), "body");
    assert!(err.span().is_some());
}

#[test]
fn invalid_patterns_are_errors() {
    let mut checked = 0;
    for c in cases().iter().filter(|c| is_error_case(c)) {
        // AWS answers only "Invalid filter pattern definition."; weir gives the pattern's own
        // reason, its place inside the pattern, and the filter's index.
        assert_eq!(c["aws_error_message"], "Invalid filter pattern definition.");
        let raw = c["pattern_raw"].as_str().unwrap();
        let err = FilterCriteria::parse(&criteria_doc(raw)).unwrap_err();
        assert_ne!(err.kind(), PatternErrorKind::FilterCriteria, "{}", id(c));
        assert_eq!(err.filter(), Some(0), "{}", id(c));
        let span = err
            .span()
            .unwrap_or_else(|| panic!("{}: no position", id(c)));
        assert!(
            span.end.offset <= raw.len(),
            "{}: span outside the pattern",
            id(c)
        );
        assert!(!err.reason().is_empty());
        // The same text is refused as a bare pattern, with the same reason.
        assert_eq!(
            weir::Pattern::parse(raw).unwrap_err().reason(),
            err.reason()
        );
        checked += 1;
    }
    assert_eq!(checked, 6);
}

/// A DynamoDB table keyed on `id`, turning puts into stream records the way DynamoDB
/// Streams does with `NEW_AND_OLD_IMAGES`.
#[derive(Default)]
struct Table {
    items: BTreeMap<String, Value>,
    sequence: u64,
}

impl Table {
    /// The stream record a put produces: INSERT for a new key, MODIFY for a changed item,
    /// none for an identical item.
    fn put(&mut self, item: &Value) -> Option<Value> {
        let key = item["id"].to_string();
        let old = self.items.insert(key, item.clone());
        let event_name = match &old {
            None => "INSERT",
            Some(old) if old == item => return None,
            Some(_) => "MODIFY",
        };
        self.sequence += 1;
        let mut dynamodb = json!({
            "ApproximateCreationDateTime": 1_700_000_000 + self.sequence,
            "Keys": {"id": item["id"].clone()},
            "NewImage": item.clone(),
            "SequenceNumber": format!("{}00000000000000000000", self.sequence),
            "SizeBytes": item.to_string().len(),
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        });
        if let Some(old) = old {
            dynamodb["OldImage"] = old;
        }
        Some(json!({
            "eventID": format!("event-{}", self.sequence),
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": dynamodb,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024"
        }))
    }
}

#[test]
fn dynamodb_stream_invocations() {
    let mut checked = 0;
    for c in cases() {
        if c["source"] != "dynamodb" || is_error_case(&c) {
            continue;
        }
        // `content_multiple_filters` is not validated against AWS (LocalStack skipped it as
        // broken); its expected count is what the EventBridge rules give, asserted the same way.
        let fc = criteria(&c["pattern"]);
        let mut table = Table::default();
        let records: Vec<Value> = [&c["item_put_1"], &c["item_put_2"]]
            .into_iter()
            .filter_map(|item| table.put(item))
            .collect();
        assert!(!records.is_empty(), "{}", id(&c));
        // Batch size 1: one invocation per delivered record.
        let mut invocations = 0;
        for r in &records {
            let verdict = fc.eval(Source::DynamoDb, r);
            match verdict {
                RecordVerdict::Delivered => invocations += 1,
                RecordVerdict::FilteredOut => {}
                other => panic!("{}: {other:?} for {r}", id(&c)),
            }
            // The records are plain JSON already: `matches` agrees with `evaluate`.
            let event = serde_json::to_vec(r).unwrap();
            assert_eq!(
                fc.matches(&event).unwrap(),
                verdict == RecordVerdict::Delivered,
                "{}",
                id(&c)
            );
            assert_eq!(
                reference_matches(&fc, r),
                verdict == RecordVerdict::Delivered,
                "{}: reference",
                id(&c)
            );
        }
        assert_eq!(
            invocations,
            c["expected_invocations"].as_u64().unwrap() as usize,
            "{}: records {records:#?}",
            id(&c)
        );
        checked += 1;
    }
    assert_eq!(checked, 9);
}

#[test]
fn dynamodb_identical_put_makes_no_record_and_changed_put_a_modify() {
    // The table model the previous test relies on.
    let mut t = Table::default();
    let item = json!({"id": {"S": "a"}});
    assert_eq!(t.put(&item).unwrap()["eventName"], "INSERT");
    assert!(t.put(&item).is_none());
    let changed = json!({"id": {"S": "a"}, "x": {"N": "1"}});
    let modify = t.put(&changed).unwrap();
    assert_eq!(modify["eventName"], "MODIFY");
    assert_eq!(modify["dynamodb"]["OldImage"], item);
    assert_eq!(modify["dynamodb"]["NewImage"], changed);
}

#[test]
fn kinesis_records_reach_their_mappings() {
    let mut checked = 0;
    for c in cases() {
        if c["source"] != "kinesis" {
            continue;
        }
        let mappings: Vec<(String, FilterCriteria)> = c["patterns_by_mapping"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, p)| (name.clone(), criteria(p)))
            .collect();
        for (n, r) in c["records"].as_array().unwrap().iter().enumerate() {
            let data = &r["data_json"];
            let encoded = base64::engine::general_purpose::STANDARD.encode(data.to_string());
            let inner = json!({
                "kinesisSchemaVersion": "1.0",
                "partitionKey": format!("pk-{n}"),
                "sequenceNumber": format!("4959{n}"),
                "data": encoded,
                "approximateArrivalTimestamp": 1_700_000_000.5
            });
            // The Kinesis record alone, and in the Lambda event shape.
            let lambda_shaped = json!({
                "kinesis": inner.clone(),
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:4959{n}"),
                "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s"
            });
            let want: Vec<&str> = r["delivered_to"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            for record in [&inner, &lambda_shaped] {
                let got: Vec<&str> = mappings
                    .iter()
                    .filter(|(_, fc)| fc.eval(Source::Kinesis, record) == RecordVerdict::Delivered)
                    .map(|(name, _)| name.as_str())
                    .collect();
                assert_eq!(got, want, "{}: record {n}", id(&c));
                for (name, fc) in &mappings {
                    let verdict = fc.eval(Source::Kinesis, record);
                    assert!(
                        matches!(
                            verdict,
                            RecordVerdict::Delivered | RecordVerdict::FilteredOut
                        ),
                        "{}: {name}: {verdict:?}",
                        id(&c)
                    );
                }
            }
            // Plain-JSON form: the data already decoded.
            let plain = json!({"partitionKey": "pk", "data": data});
            let bytes = serde_json::to_vec(&plain).unwrap();
            let got: Vec<&str> = mappings
                .iter()
                .filter(|(_, fc)| fc.matches(&bytes).unwrap())
                .map(|(name, _)| name.as_str())
                .collect();
            assert_eq!(got, want, "{}: plain form of record {n}", id(&c));
            let by_reference: Vec<&str> = mappings
                .iter()
                .filter(|(_, fc)| reference_matches(fc, &plain))
                .map(|(name, _)| name.as_str())
                .collect();
            assert_eq!(by_reference, want, "{}: reference, record {n}", id(&c));
            checked += 1;
        }
    }
    assert_eq!(checked, 2);
}

#[test]
fn every_case_is_covered() {
    // The tests above select cases by shape; make sure no case falls between them.
    let all = cases();
    assert_eq!(all.len(), 26);
    for c in &all {
        let covered = is_error_case(c)
            || c.get("skipped_upstream").is_some()
            || (c["source"] == "sqs" && c.get("records").is_some())
            || (c["source"] == "dynamodb" && c.get("expected_invocations").is_some())
            || (c["source"] == "kinesis" && c.get("patterns_by_mapping").is_some());
        assert!(covered, "case {} is not run by any test", id(c));
    }
}
