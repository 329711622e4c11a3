//! weir in JavaScript: AWS EventBridge and Lambda event-filter patterns, matched exactly as
//! AWS matches them, compiled to WebAssembly with wasm-bindgen.
//!
//! ```js
//! import init, { Pattern, Matcher, FilterCriteria } from "./weir_wasm.js";
//! await init();
//! const p = new Pattern('{"detail": {"state": ["running"]}}');
//! p.matches('{"detail": {"state": "running"}}');        // true
//! p.explain('{"detail": {"state": "stopped"}}').text;   // why not, in words
//!
//! const m = new Matcher();
//! m.addRule("running", '{"detail": {"state": ["running"]}}');
//! m.matchMany('{"detail": {"state": "running"}}\n{"detail": {}}'); // [["running"], []]
//!
//! const fc = new FilterCriteria('{"Filters": [{"Pattern": "{\\"body\\": {\\"a\\": [1]}}"}]}');
//! fc.evaluate('{"messageId": "1", "body": "{\\"a\\": 1}"}', "sqs")[0].verdict; // "delivered"
//! ```
//!
//! Every error is thrown as a JS `Error` whose message is the reason (AWS's words) and which
//! carries `category`, `kind`, `reason`, `detail` (the reason with the place drawn),
//! `line`, `column` (1-based, in characters), `offset` (bytes of the UTF-8 text), `offset16`
//! (UTF-16 code units, what editors count), the same four for the end (`endLine`, ...),
//! `path`, `filterIndex`, `rule`, `eventIndex`, and for a mistake inside a filter's pattern
//! string `patternLine`, `patternColumn`, `patternOffset` (its place in the pattern's text;
//! `line`, `column` and `offset` are then in the FilterCriteria document).
//!
//! The JS-free work is in [`core`], which the host tests exercise; this module is the glue.

#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod core;

use js_sys::{Object, Reflect, JSON};
use wasm_bindgen::prelude::*;

use crate::core::Failure;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Options of a Pattern or a Matcher (both default to false). */
export interface PatternOptions { lambdaStrict?: boolean; numbersAsStrings?: boolean }
/** Options of a FilterCriteria: the pattern options and the most filters allowed (default 5). */
export interface CriteriaOptions extends PatternOptions { maxFilters?: number }
/** What every thrown Error carries (null where it does not apply). */
export interface WeirError extends Error {
  category: "pattern" | "event" | "argument"; kind: string; reason: string; detail: string;
  line: number | null; column: number | null; offset: number | null; offset16: number | null;
  endLine: number | null; endColumn: number | null; endOffset: number | null; endOffset16: number | null;
  path: string; filterIndex: number | null; rule: string | null; eventIndex: number | null;
  patternLine: number | null; patternColumn: number | null; patternOffset: number | null;
}
/** An explanation (weir's Explanation::to_json) with the report in words. */
export interface Explanation { matched: boolean; pattern: string; group: object; text: string }
/** A rule's explanation: one per pattern of the rule. */
export interface RuleExplanation { rule: string; matched: boolean; patterns: Explanation[]; text: string }
/** Where one event of a text is, or why it could not be cut. */
export type EventPlace =
  | { offset: number; offset16: number; end16: number; line: number; column: number }
  | { error: WeirError };
/** What happens to one Lambda record. */
export interface RecordVerdict {
  verdict: "delivered" | "filtered_out" | "dropped"; reason: string | null; dropKind: string | null;
  filterIndex: number | null; error: WeirError | null; offset16: number; end16: number; line: number;
}
/** A Lambda event source. */
export type Source = "sqs" | "kinesis" | "dynamodb" | "kafka" | "mq";
"#;

/// `failure` as a JS `Error` carrying its fields.
fn throw(failure: impl AsRef<Failure>) -> JsValue {
    let failure = failure.as_ref();
    let error = js_sys::Error::new(&failure.reason);
    if let Ok(fields) = JSON::parse(&failure.to_json()) {
        Object::assign(&error, &Object::from(fields));
    }
    error.into()
}

/// A JS `Error` about the arguments, with `category` `argument` and this `kind`.
fn argument_error(kind: &'static str, reason: String) -> JsValue {
    throw(Box::new(Failure {
        category: "argument",
        kind,
        detail: reason.clone(),
        reason,
        start: None,
        end: None,
        path: String::new(),
        filter_index: None,
        rule: None,
        pattern_start: None,
        event_index: None,
    }))
}

fn parsed(json: &str) -> Result<JsValue, JsValue> {
    JSON::parse(json)
}

/// The boolean option `name` of `options` (an object, or `undefined`/`null` for none).
fn flag(options: &JsValue, name: &str) -> Result<bool, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(false);
    }
    if !options.is_object() {
        return Err(argument_error(
            "invalid_options",
            "options must be an object such as {lambdaStrict: true}".to_string(),
        ));
    }
    let value = Reflect::get(options, &JsValue::from_str(name))?;
    if value.is_undefined() || value.is_null() {
        return Ok(false);
    }
    value.as_bool().ok_or_else(|| {
        argument_error(
            "invalid_options",
            format!("options.{name} must be a boolean"),
        )
    })
}

/// The pattern options `{lambdaStrict, numbersAsStrings}` (both default to false).
fn options(options: &JsValue) -> Result<weir::Options, JsValue> {
    Ok(weir::Options::new()
        .lambda_strict(flag(options, "lambdaStrict")?)
        .numbers_as_strings(flag(options, "numbersAsStrings")?))
}

/// One EventBridge pattern: `new Pattern(text, {lambdaStrict, numbersAsStrings})`.
#[wasm_bindgen(js_name = Pattern)]
pub struct JsPattern {
    inner: weir::Pattern,
}

#[wasm_bindgen(js_class = Pattern)]
impl JsPattern {
    /// Reads and validates a pattern; throws AWS's reason with the place when it is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(
        text: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "PatternOptions")] opts: JsValue,
    ) -> Result<JsPattern, JsValue> {
        let options = options(&opts)?;
        weir::Pattern::parse_with(text, &options)
            .map(|inner| JsPattern { inner })
            .map_err(|e| throw(core::pattern_failure(&e, text)))
    }

    /// Whether the event (JSON object text) matches; throws when the event is not one.
    pub fn matches(&self, event: &str) -> Result<bool, JsValue> {
        core::pattern_matches(&self.inner, event).map_err(throw)
    }

    /// Why the event does or does not match: `{matched, pattern, group, text}`, `text` being
    /// the report in words (the JSON shape is weir's `Explanation::to_json`).
    #[wasm_bindgen(unchecked_return_type = "Explanation")]
    pub fn explain(&self, event: &str) -> Result<JsValue, JsValue> {
        parsed(&core::explain_pattern(&self.inner, event).map_err(throw)?)
    }

    /// The pattern's text.
    #[wasm_bindgen(getter)]
    pub fn text(&self) -> String {
        self.inner.text().to_string()
    }

    /// The pattern as weir reads it (its IR, one line).
    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        self.inner.to_string()
    }
}

/// Many named rules matched at once: `new Matcher({lambdaStrict, numbersAsStrings})`.
#[wasm_bindgen(js_name = Matcher)]
pub struct JsMatcher {
    inner: weir::Matcher,
}

#[wasm_bindgen(js_class = Matcher)]
impl JsMatcher {
    /// An empty matcher; its rules are read with these options.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "PatternOptions")] opts: JsValue,
    ) -> Result<JsMatcher, JsValue> {
        Ok(JsMatcher {
            inner: weir::Matcher::with_options(options(&opts)?),
        })
    }

    /// Adds the pattern `text` to the rule `name` (a rule may hold several patterns; it
    /// matches when any does). Throws, naming the rule, when the pattern is invalid.
    #[wasm_bindgen(js_name = addRule)]
    pub fn add_rule(&mut self, name: &str, text: &str) -> Result<(), JsValue> {
        self.inner
            .add_rule(name, text)
            .map(|_| ())
            .map_err(|e| throw(core::pattern_failure(&e, text)))
    }

    /// Removes the rule `name`; whether it was there.
    #[wasm_bindgen(js_name = removeRule)]
    pub fn remove_rule(&mut self, name: &str) -> bool {
        self.inner.remove_rule(name)
    }

    /// The names of the rules the event matches, in the order they were added.
    #[wasm_bindgen(js_name = matchingRules)]
    pub fn matching_rules(&self, event: &str) -> Result<Vec<String>, JsValue> {
        core::matching_rules(&self.inner, event)
            .map(|names| names.into_iter().map(str::to_string).collect())
            .map_err(throw)
    }

    /// The matching rules of every event of `text` (one event, a JSON array of events, or
    /// JSONL): one item per event, the names (`string[]`) or `{error}` for an event that
    /// could not be read (positions in `text`).
    #[wasm_bindgen(js_name = matchMany, unchecked_return_type = "(string[] | { error: WeirError })[]")]
    pub fn match_many(&self, text: &str) -> Result<JsValue, JsValue> {
        parsed(&core::match_many(&self.inner, text))
    }

    /// Why the event does or does not match the rule `rule`: `{rule, matched, patterns,
    /// text}`, or `null` when there is no such rule.
    #[wasm_bindgen(unchecked_return_type = "RuleExplanation | null")]
    pub fn explain(&self, rule: &str, event: &str) -> Result<JsValue, JsValue> {
        parsed(&core::explain_rule(&self.inner, rule, event).map_err(throw)?)
    }

    /// The rules' names, in the order they were added.
    #[wasm_bindgen(js_name = ruleNames)]
    pub fn rule_names(&self) -> Vec<String> {
        self.inner.rule_names().map(str::to_string).collect()
    }

    /// How many rules the matcher holds.
    #[wasm_bindgen(getter, js_name = ruleCount)]
    pub fn rule_count(&self) -> usize {
        self.inner.rule_count()
    }
}

/// A Lambda event source mapping's FilterCriteria:
/// `new FilterCriteria(text, {lambdaStrict, numbersAsStrings, maxFilters})`.
#[wasm_bindgen(js_name = FilterCriteria)]
pub struct JsFilterCriteria {
    inner: weir::lambda::FilterCriteria,
    document: String,
}

#[wasm_bindgen(js_class = FilterCriteria)]
impl JsFilterCriteria {
    /// Reads `{"Filters": [{"Pattern": "..."}]}` (at most `maxFilters` filters, default 5).
    /// Throws for a malformed document or an invalid pattern, placed in the document.
    #[wasm_bindgen(constructor)]
    pub fn new(
        text: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "CriteriaOptions")] opts: JsValue,
    ) -> Result<JsFilterCriteria, JsValue> {
        let options = options(&opts)?;
        let mut max = weir::lambda::DEFAULT_MAX_FILTERS;
        if opts.is_object() {
            let value = Reflect::get(&opts, &JsValue::from_str("maxFilters"))?;
            if !value.is_undefined() && !value.is_null() {
                max = value
                    .as_f64()
                    .filter(|n| n.fract() == 0.0 && (0.0..=1000.0).contains(n))
                    .map(|n| n as usize)
                    .ok_or_else(|| {
                        argument_error(
                            "invalid_options",
                            "options.maxFilters must be a whole number from 0 to 1000".to_string(),
                        )
                    })?;
            }
        }
        weir::lambda::FilterCriteria::parse_with(text, &options, max)
            .map(|inner| JsFilterCriteria {
                inner,
                document: text.to_string(),
            })
            .map_err(|e| throw(core::criteria_failure(&e, text)))
    }

    /// What happens to each record of `records` (one record, a JSON array of records, or
    /// JSONL) from `source` (`sqs`, `kinesis`, `dynamodb`, `kafka`, `mq`): one
    /// `{verdict: "delivered"|"filtered_out"|"dropped", reason, dropKind, filterIndex, error,
    /// offset16, end16, line}` per record. Throws when AWS would refuse these criteria for the
    /// source (a plain-string filter on Kinesis or DynamoDB data).
    #[wasm_bindgen(unchecked_return_type = "RecordVerdict[]")]
    pub fn evaluate(
        &self,
        records: &str,
        #[wasm_bindgen(unchecked_param_type = "Source")] source: &str,
    ) -> Result<JsValue, JsValue> {
        let source = core::source(source).map_err(throw)?;
        parsed(&core::evaluate(&self.inner, &self.document, source, records).map_err(throw)?)
    }

    /// Throws what AWS answers when a mapping of `source` is created with these criteria, if
    /// it refuses them.
    #[wasm_bindgen(js_name = checkFor)]
    pub fn check_for(&self, source: &str) -> Result<(), JsValue> {
        let source = core::source(source).map_err(throw)?;
        self.inner
            .check_for(source)
            .map_err(|e| throw(core::criteria_failure(&e, &self.document)))
    }

    /// How many filters the criteria hold.
    #[wasm_bindgen(getter, js_name = filterCount)]
    pub fn filter_count(&self) -> usize {
        self.inner.patterns().len()
    }
}

/// Where the events of `text` are, as `matchMany` cuts them: one item per event,
/// `{offset, offset16, end16, line, column}` or `{error}`.
#[wasm_bindgen(js_name = splitEvents, unchecked_return_type = "EventPlace[]")]
pub fn split_events(text: &str) -> Result<JsValue, JsValue> {
    parsed(&core::split_events(text))
}

/// The version of weir this module was built from.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
