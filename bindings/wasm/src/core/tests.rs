use super::*;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn utf16_offsets_count_surrogate_pairs() {
    let text = "a\u{e9}\u{1F600}b";
    let mut u = Utf16::new(text);
    assert_eq!(u.at(1), 1);
    assert_eq!(u.at(3), 2); // after é (two bytes, one unit)
    assert_eq!(u.at(7), 4); // after the emoji (four bytes, two units)
    assert_eq!(u.at(8), 5);
    assert_eq!(u.at(2), 1, "going back recounts");
    assert_eq!(u.at(100), 5, "clamped");
    assert_eq!(u.at(8), text.encode_utf16().count());
}

#[test]
fn pattern_errors_carry_the_place_in_both_units() {
    let text = "{\"\u{1F600}\": []}";
    let err = Pattern::parse(text).unwrap_err();
    let f = pattern_failure(&err, text);
    assert_eq!(f.reason, "Empty arrays are not allowed");
    let start = f.start.unwrap();
    assert_eq!(start.at.offset, 9);
    assert_eq!(start.at.column, 7);
    assert_eq!(start.offset16, 7);
    assert_eq!(&text[start.at.offset..f.end.unwrap().at.offset], "[]");
    let v = json(&f.to_json());
    assert_eq!(v["offset16"], 7);
    assert_eq!(v["endOffset16"], 9);
    assert_eq!(v["line"], 1);
    assert_eq!(v["path"], "[\"\u{1F600}\"]");
    assert_eq!(v["filterIndex"], serde_json::Value::Null);
    assert!(v["detail"].as_str().unwrap().contains('^'));
}

#[test]
fn filter_pattern_errors_are_placed_in_the_document() {
    let doc = "{\"Filters\": [\n  {\"Pattern\": \"{\\\"a\\\": [1]}\"},\n  {\"Pattern\": \"{\\\"t\\\\u00e9\\\": [], \\\"\\ud83d\\ude00\\\": 1}\"}\n]}";
    // Filter 1's pattern is {"t\u00e9": [], "😀": 1}: the first mistake is the empty array.
    let err = FilterCriteria::parse(doc).unwrap_err();
    assert_eq!(err.filter(), Some(1));
    let f = criteria_failure(&err, doc);
    let start = f.start.unwrap();
    assert_eq!(&doc[start.at.offset..f.end.unwrap().at.offset], "[]");
    assert_eq!(start.at.line, 3);
    assert_eq!(
        f.pattern_start.unwrap().offset,
        err.span().unwrap().start.offset
    );
    assert!(f.detail.contains("filter 1"), "{}", f.detail);

    // A mistake after a surrogate pair escape, and one after a two-byte character.
    let doc = "{\"Filters\": [{\"Pattern\": \"{\\\"\\ud83d\\ude00\u{e9}\\\": 1}\"}]}";
    let err = FilterCriteria::parse(doc).unwrap_err();
    let f = criteria_failure(&err, doc);
    assert_eq!(&doc[f.start.unwrap().at.offset..][..1], "1");

    // Document errors keep their own place.
    let doc = "{\"Filters\": [{\"pattern\": \"{}\"}]}";
    let err = FilterCriteria::parse(doc).unwrap_err();
    let f = criteria_failure(&err, doc);
    assert_eq!(f.start.unwrap().at.offset, 14);
    assert_eq!(f.pattern_start, None);
}

#[test]
fn check_for_refusals_are_placed_in_the_document() {
    let doc = r#"{"Filters": [{"Pattern": "{\"data\": [\"x\"]}"}]}"#;
    let fc = FilterCriteria::parse(doc).unwrap();
    let f = evaluate(&fc, doc, Source::Kinesis, "{}").unwrap_err();
    assert_eq!(f.kind, "unsupported");
    assert_eq!(f.filter_index, Some(0));
    let start = f.start.unwrap().at.offset;
    assert!(doc[start..].starts_with("[\\\"x\\\"]"), "{}", &doc[start..]);
    assert!(evaluate(&fc, doc, Source::Sqs, "{}").is_ok());
}

#[test]
fn match_many_takes_jsonl_arrays_and_single_events() {
    let mut m = Matcher::new();
    m.add_rule("one", r#"{"a": [1]}"#).unwrap();
    m.add_rule("any", r#"{"a": [{"exists": true}]}"#).unwrap();
    assert_eq!(
        json(&match_many(&m, "{\"a\": 1}\n{\"a\": 2}\n{\"b\": 1}\n")),
        json(r#"[["one","any"],["any"],[]]"#)
    );
    assert_eq!(
        json(&match_many(&m, "[{\"a\": 1}, {\"a\": 2}]")),
        json(r#"[["one","any"],["any"]]"#)
    );
    assert_eq!(
        json(&match_many(&m, "{\n  \"a\": 1\n}\n")),
        json(r#"[["one","any"]]"#)
    );
}

#[test]
fn match_many_places_errors_in_the_whole_text() {
    let m = Matcher::new();
    let text = "{\"a\": 1}\n{\"\u{e9}\": tru}\n[1]\n{}\n";
    let v = json(&match_many(&m, text));
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0], json("[]"));
    let e = &items[1]["error"];
    assert_eq!(e["line"], 2);
    assert_eq!(e["column"], 7);
    assert_eq!(e["offset"], 16);
    assert_eq!(e["offset16"], 15);
    assert_eq!(e["eventIndex"], 1);
    assert_eq!(items[2]["error"]["kind"], "not_an_object");
    assert_eq!(items[2]["error"]["line"], 3);
    assert_eq!(items[3], json("[]"));
    // splitEvents cuts the same events.
    let cuts = json(&split_events(text));
    assert_eq!(cuts.as_array().unwrap().len(), 4);
    assert_eq!(cuts[3]["line"], 4);
    assert_eq!(
        cuts[3]["offset16"],
        text[..text.rfind("{}").unwrap()].encode_utf16().count()
    );
}

#[test]
fn single_event_calls_refuse_non_objects_and_bad_json() {
    let p = Pattern::parse(r#"{"a": [1]}"#).unwrap();
    assert!(pattern_matches(&p, r#"{"a": 1}"#).unwrap());
    assert!(!pattern_matches(&p, r#"{"a": 2}"#).unwrap());
    assert_eq!(
        pattern_matches(&p, "[1]").unwrap_err().kind,
        "not_an_object"
    );
    let f = pattern_matches(&p, "{\n \"a\": x}").unwrap_err();
    assert_eq!(
        (f.start.unwrap().at.line, f.start.unwrap().at.column),
        (2, 7)
    );
    let why = json(&explain_pattern(&p, r#"{"a": 2}"#).unwrap());
    assert_eq!(why["matched"], false);
    assert!(why["text"].as_str().unwrap().starts_with("no match"));
}

#[test]
fn evaluate_gives_a_verdict_per_record() {
    let doc = r#"{"Filters": [{"Pattern": "{\"body\": {\"a\": [1]}}"}]}"#;
    let fc = FilterCriteria::parse(doc).unwrap();
    let records = concat!(
        r#"{"messageId": "1", "body": "{\"a\": 1}"}"#,
        "\n",
        r#"{"messageId": "2", "body": "{\"a\": 2}"}"#,
        "\n",
        r#"{"messageId": "3", "body": "plain"}"#,
        "\n",
        r#"{"messageId": "4", "body": x}"#,
        "\n"
    );
    let v = json(&evaluate(&fc, doc, Source::Sqs, records).unwrap());
    let verdicts: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["delivered", "filtered_out", "dropped", "dropped"]
    );
    assert_eq!(v[2]["dropKind"], "json_pattern_on_text");
    assert_eq!(v[2]["filterIndex"], 0);
    assert_eq!(v[3]["dropKind"], "not_json");
    assert_eq!(v[3]["error"]["line"], 4);
    assert_eq!(v[1]["line"], 2);
}

#[test]
fn unknown_sources_are_refused() {
    let f = source("sns").unwrap_err();
    assert_eq!(f.kind, "unknown_source");
    assert!(f.reason.contains("sqs"));
    assert_eq!(source("DynamoDB").unwrap(), Source::DynamoDb);
}

#[test]
fn many_errors_in_one_batch_are_each_placed() {
    // Broken lines, non-objects and good events, with characters of every UTF-8 length: each
    // error's place must be what counting from the start gives.
    let m = Matcher::new();
    let mut text = String::new();
    for i in 0..300 {
        match i % 3 {
            0 => text.push_str(&format!("{{\"é\u{1F600}{i}\": tru}}\n")),
            1 => text.push_str("[\"\u{4e2d}\"]\n"),
            _ => text.push_str("{\"ok\": \"\u{1F600}\"}\n"),
        }
    }
    let v = json(&match_many(&m, &text));
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 300);
    for (i, item) in items.iter().enumerate() {
        if i % 3 == 2 {
            assert_eq!(item, &json("[]"));
            continue;
        }
        let e = &item["error"];
        let offset = e["offset"].as_u64().unwrap() as usize;
        let want = Position::at(&text, offset);
        assert_eq!(e["line"], want.line, "{i}");
        assert_eq!(e["column"], want.column, "{i}");
        assert_eq!(e["offset16"], text[..offset].encode_utf16().count(), "{i}");
        assert_eq!(e["eventIndex"], i);
        let expected_char = if i % 3 == 0 { "t" } else { "[" };
        let end = e["endOffset"].as_u64().unwrap() as usize;
        assert_eq!(&text[offset..end], expected_char, "{i}");
    }
    // The same records through Lambda evaluation: the same places.
    let doc = r#"{"Filters": [{"Pattern": "{\"ok\": [{\"exists\": true}]}"}]}"#;
    let fc = FilterCriteria::parse(doc).unwrap();
    let r = json(&evaluate(&fc, doc, Source::Sqs, &text).unwrap());
    for (i, rec) in r.as_array().unwrap().iter().enumerate() {
        let start = rec["offset16"].as_u64().unwrap() as usize;
        let line_start = text
            .split_inclusive('\n')
            .take(i)
            .map(str::len)
            .sum::<usize>();
        assert_eq!(start, text[..line_start].encode_utf16().count(), "{i}");
        if i % 3 == 0 {
            assert_eq!(rec["error"]["offset"], items[i]["error"]["offset"], "{i}");
            assert_eq!(
                rec["error"]["offset16"], items[i]["error"]["offset16"],
                "{i}"
            );
        }
    }
}

#[test]
fn split_errors_are_drawn_on_their_line() {
    let m = Matcher::new();
    let text = "[\n  {\"a\": 1},,\n  {}\n]";
    let v = json(&match_many(&m, text));
    let e = v
        .as_array()
        .unwrap()
        .iter()
        .find_map(|x| x.get("error"))
        .unwrap();
    assert_eq!(e["line"], 2);
    let detail = e["detail"].as_str().unwrap();
    assert!(detail.contains("2 |   {\"a\": 1},,"), "{detail}");
    assert!(detail.contains('^'), "{detail}");
}
