//! weir as a user's crate gets it: built without any feature another crate of weir's
//! workspace turns on (serde_json's `arbitrary_precision` in particular, which weir's own test
//! builds see through the reference interpreter). Numbers no double holds exactly must still
//! be compared by their text everywhere weir reads events and records.

#[cfg(test)]
mod tests {
    use weir::lambda::{FilterCriteria, RecordVerdict, Source};
    use weir::{Matcher, Pattern};

    fn criteria(pattern: &str) -> FilterCriteria {
        FilterCriteria::from_patterns(vec![Pattern::parse(pattern).unwrap()])
    }

    #[test]
    fn events_keep_their_number_texts() {
        for (pattern, hit, miss) in [
            (r#"{"x": [1e400]}"#, r#"{"x": 1E+400}"#, r#"{"x": 2e400}"#),
            (
                r#"{"x": [0.30000000000000001]}"#,
                r#"{"x": 0.30000000000000001}"#,
                r#"{"x": 0.3}"#,
            ),
        ] {
            let p = Pattern::parse(pattern).unwrap();
            assert!(p.matches(hit.as_bytes()).unwrap(), "{pattern} {hit}");
            assert!(!p.matches(miss.as_bytes()).unwrap(), "{pattern} {miss}");
            let mut m = Matcher::new();
            m.add_pattern("r", p);
            assert!(m.is_match(hit.as_bytes()).unwrap());
            assert!(!m.is_match(miss.as_bytes()).unwrap());
        }
    }

    #[test]
    fn envelope_values_are_not_read_as_numbers() {
        let event = br#"{"id": 1e400, "source": 0.30000000000000001, "detail-type": "t",
            "account": 12345678901234567890, "region": "r", "time": "t"}"#;
        weir::check_envelope(event).unwrap();
    }

    #[test]
    fn lambda_records_keep_their_number_texts() {
        // Metadata and decoded data, for every source. Base64 of {"x": 1e400} and
        // {"x": 2e400}.
        let (hit64, miss64) = ("eyJ4IjogMWU0MDB9", "eyJ4IjogMmU0MDB9");
        let cases = [
            (
                Source::Sqs,
                r#"{"n": 1e400, "body": "{\"x\": 1e400}"}"#.to_string(),
                r#"{"n": 2e400, "body": "{\"x\": 2e400}"}"#.to_string(),
                "body",
            ),
            (
                Source::Kinesis,
                format!(r#"{{"kinesis": {{"n": 1e400, "data": "{hit64}"}}}}"#),
                format!(r#"{{"kinesis": {{"n": 2e400, "data": "{miss64}"}}}}"#),
                "data",
            ),
            (
                Source::DynamoDb,
                r#"{"n": 1e400, "dynamodb": {"x": 1e400}}"#.to_string(),
                r#"{"n": 2e400, "dynamodb": {"x": 2e400}}"#.to_string(),
                "dynamodb",
            ),
            (
                Source::Kafka,
                format!(r#"{{"n": 1e400, "value": "{hit64}"}}"#),
                format!(r#"{{"n": 2e400, "value": "{miss64}"}}"#),
                "value",
            ),
            (
                Source::Mq,
                format!(r#"{{"n": 1e400, "data": "{hit64}"}}"#),
                format!(r#"{{"n": 2e400, "data": "{miss64}"}}"#),
                "data",
            ),
        ];
        for (source, hit, miss, key) in cases {
            for pattern in [
                r#"{"n": [1e400]}"#.to_string(),
                format!(r#"{{"{key}": {{"x": [1e400]}}}}"#),
            ] {
                let fc = criteria(&pattern);
                fc.check_for(source).unwrap();
                assert_eq!(
                    fc.evaluate(source, hit.as_bytes()),
                    RecordVerdict::Delivered,
                    "{source} {pattern} {hit}"
                );
                assert_eq!(
                    fc.evaluate(source, miss.as_bytes()),
                    RecordVerdict::FilteredOut,
                    "{source} {pattern} {miss}"
                );
            }
        }
    }
}
