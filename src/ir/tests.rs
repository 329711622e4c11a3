use super::*;

fn reason(p: &str) -> String {
    Pattern::parse(p).unwrap_err().reason().to_string()
}

#[test]
fn placeholder_errors() {
    assert_eq!(reason(r#"{"a": []}"#), "Empty arrays are not allowed");
}
