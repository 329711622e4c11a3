//! Rules files: `{"rule name": pattern, ...}`, a pattern being an object (kept as written, so
//! that errors point into the file) or a string holding pattern JSON.

use serde_json::Value;

use weir::json::value_end;

use crate::input::Input;

/// One rule of a rules file.
pub struct RuleSource {
    /// The rule's name.
    pub name: String,
    /// The pattern text.
    pub text: String,
    /// Where `text` starts in the file, when it is a slice of it (not a decoded string).
    pub base: Option<usize>,
}

/// The rules of `input`, in file order.
pub fn parse(input: &Input) -> Result<Vec<RuleSource>, String> {
    let text = input.text()?;
    let name = &input.name;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(_)) => {}
        Ok(_) => {
            return Err(format!(
                "{name}: expected a JSON object mapping rule names to patterns"
            ))
        }
        Err(e) => {
            // The library's reader places the mistake, with a caret.
            return Err(match weir::json::validate(text.as_bytes()) {
                Err(err) => format!("{name}: invalid JSON: {}\n{}", err.reason(), err.snippet()),
                Ok(()) => format!("{name}: invalid JSON: {e}"),
            });
        }
    }
    // The text is a valid JSON object: walk its members to keep each pattern's own text.
    let bytes = text.as_bytes();
    let broken = || format!("{name}: cannot read the rules object");
    let mut rules: Vec<RuleSource> = Vec::new();
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return Err(broken());
    }
    i = skip_ws(bytes, i + 1);
    if bytes.get(i) == Some(&b'}') {
        return Ok(rules);
    }
    loop {
        let key_end = value_end(bytes, i).map_err(|_| broken())?;
        let key: String = serde_json::from_str(&text[i..key_end]).map_err(|_| broken())?;
        i = skip_ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return Err(broken());
        }
        let start = skip_ws(bytes, i + 1);
        if start >= bytes.len() {
            return Err(broken());
        }
        let end = value_end(bytes, start).map_err(|_| broken())?;
        let raw = &text[start..end];
        let (pattern, base) = if raw.starts_with('"') {
            let decoded: String = serde_json::from_str(raw).map_err(|_| broken())?;
            (decoded, None)
        } else {
            (raw.to_string(), Some(start))
        };
        if rules.iter().any(|r| r.name == key) {
            return Err(format!("{name}: rule {key:?} is defined twice"));
        }
        rules.push(RuleSource {
            name: key,
            text: pattern,
            base,
        });
        i = skip_ws(bytes, end);
        match bytes.get(i) {
            Some(b',') => i = skip_ws(bytes, i + 1),
            Some(b'}') => return Ok(rules),
            _ => return Err(broken()),
        }
    }
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Result<Vec<(String, String, Option<usize>)>, String> {
        let input = Input {
            name: "r.json".into(),
            bytes: text.as_bytes().to_vec(),
            inline: false,
        };
        parse(&input).map(|v| v.into_iter().map(|r| (r.name, r.text, r.base)).collect())
    }

    #[test]
    fn objects_and_strings() {
        let got = rules("{\"a\": {\"x\": [1]},\n \"b\\u0021\" : \"{\\\"y\\\": [2]}\"}").unwrap();
        assert_eq!(
            got,
            [
                ("a".into(), "{\"x\": [1]}".into(), Some(6)),
                ("b!".into(), "{\"y\": [2]}".into(), None),
            ]
        );
        assert_eq!(rules(" { } ").unwrap(), []);
        // A non-object pattern is kept for the matcher to refuse.
        assert_eq!(rules("{\"a\": 12}").unwrap()[0].1, "12");
    }

    #[test]
    fn refuses_bad_files() {
        assert!(rules("[1]").unwrap_err().contains("expected a JSON object"));
        let err = rules("{\"a\": ").unwrap_err();
        assert!(err.contains("invalid JSON"), "{err}");
        assert!(err.contains("1 | {\"a\": \n  |       ^"), "{err}");
        assert!(rules("{\"a\": {}, \"a\": {}}")
            .unwrap_err()
            .contains("defined twice"));
    }
}
