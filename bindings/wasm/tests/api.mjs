// The JS API in Node: the names the page and users call, and the fields of its errors.
// Usage: node bindings/wasm/tests/api.mjs   (after scripts/build-web)
import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { initSync, Pattern, Matcher, FilterCriteria, splitEvents, version } from "../web/pkg/weir_wasm.js";
import { here } from "./lib.mjs";

initSync({ module: fs.readFileSync(path.join(here, "../web/pkg/weir_wasm_bg.wasm")) });
assert.match(version(), /^\d+\.\d+\.\d+/);

// Pattern: matches, explain, options.
const p = new Pattern('{"detail": {"size": [{"numeric": [">", 10]}]}}');
assert.equal(p.matches('{"detail": {"size": 42}}'), true);
assert.equal(p.matches('{"detail": {"size": 3}}'), false);
const why = p.explain('{"detail": {"size": 3}}');
assert.equal(why.matched, false);
assert.equal(why.group.fields[0].path, "detail.size");
assert.deepEqual(why.group.fields[0].values[0], { text: "3", span: [20, 21] });
assert.match(why.text, /^no match\n {2}detail\.size: 3 at 20\.\.21, fails/);
assert.equal(new Pattern('{"n": [300]}').matches('{"n": 300.0}'), true);
assert.equal(new Pattern('{"n": [300]}', { numbersAsStrings: true }).matches('{"n": 300.0}'), false);
assert.throws(() => new Pattern('{"a": [{"wildcard": "x*"}]}', { lambdaStrict: true }), { kind: "unsupported" });
assert.throws(() => new Pattern("{}", { lambdaStrict: "yes" }), { category: "argument", message: "options.lambdaStrict must be a boolean" });
assert.throws(() => new Pattern("{}", 5), { category: "argument" });

// Errors are Errors with the place, also in UTF-16 units.
let err;
try {
  new Pattern('{"\u{1F600}": [],\n "b": 1}');
} catch (e) {
  err = e;
}
assert.ok(err instanceof Error);
assert.equal(err.message, "Empty arrays are not allowed");
assert.equal(err.reason, err.message);
assert.equal(err.kind, "invalid");
assert.deepEqual([err.line, err.column, err.offset, err.offset16], [1, 7, 9, 7]);
assert.deepEqual([err.endOffset, err.endOffset16], [11, 9]);
assert.equal(err.path, '["\u{1F600}"]');
assert.equal(err.filterIndex, null);
assert.match(err.detail, /\^\^/);
assert.throws(() => p.matches('{"detail": tru}'), { category: "event", kind: "syntax", line: 1, column: 12 });
assert.throws(() => p.matches("[1, 2]"), { kind: "not_an_object" });

// Matcher.
const m = new Matcher();
m.addRule("big", '{"size": [{"numeric": [">", 10]}]}');
m.addRule("any", '{"size": [{"exists": true}]}');
assert.equal(m.ruleCount, 2);
assert.deepEqual(m.ruleNames(), ["big", "any"]);
assert.deepEqual(m.matchingRules('{"size": 42}'), ["big", "any"]);
assert.throws(() => m.addRule("broken", '{"size": []}'), { rule: "broken", reason: "Empty arrays are not allowed", column: 10 });
assert.equal(m.ruleCount, 2);
assert.equal(m.explain("big", '{"size": 1}').matched, false);
assert.equal(m.explain("nope", "{}"), null);
const many = m.matchMany('{"size": 42}\n{"size": 1}\n{"size": x}\n{}\n');
assert.deepEqual(many.slice(0, 2), [["big", "any"], ["any"]]);
assert.deepEqual([many[2].error.line, many[2].error.column, many[2].error.eventIndex], [3, 10, 2]);
assert.deepEqual(many[3], []);
assert.deepEqual(m.matchMany('[{"size": 42}, {"size": 1}]'), [["big", "any"], ["any"]]);
assert.deepEqual(m.matchMany('{\n  "size": 42\n}\n'), [["big", "any"]]);
const cuts = splitEvents('{"size": 42}\n\u00e9\n{}');
assert.equal(cuts.length, 3);
assert.deepEqual([cuts[2].line, cuts[2].offset, cuts[2].offset16, cuts[2].end16], [3, 16, 15, 17]);
// A BOM is skipped at the start of a batch input only; a single event's text must be JSON.
assert.deepEqual(m.matchMany('\uFEFF{"size": 42}'), [["big", "any"]]);
assert.deepEqual(splitEvents('\uFEFF{}')[0].offset16, 1);
assert.equal(m.matchMany('{}\n\uFEFF{}')[1].error.kind, "syntax");
assert.throws(() => m.matchingRules('\uFEFF{"size": 42}'), { kind: "syntax", offset: 0 });
assert.throws(() => p.matches('\uFEFF{"detail": {"size": 42}}'), { kind: "syntax", offset: 0 });
assert.equal(m.removeRule("big"), true);
assert.equal(m.removeRule("big"), false);
assert.deepEqual(m.matchingRules('{"size": 42}'), ["any"]);

// FilterCriteria: verdicts per record, refusals placed in the document.
const doc = '{"Filters": [{"Pattern": "{\\"body\\": {\\"a\\": [1]}}"}]}';
const fc = new FilterCriteria(doc);
assert.equal(fc.filterCount, 1);
const verdicts = fc.evaluate('{"body": "{\\"a\\": 1}"}\n{"body": "{\\"a\\": 2}"}\n{"body": "text"}\n{"body": }\n', "sqs");
assert.deepEqual(verdicts.map((v) => v.verdict), ["delivered", "filtered_out", "dropped", "dropped"]);
assert.equal(verdicts[2].dropKind, "json_pattern_on_text");
assert.equal(verdicts[2].filterIndex, 0);
assert.equal(verdicts[3].dropKind, "not_json");
assert.equal(verdicts[3].error.line, 4);
assert.throws(() => fc.evaluate("{}", "sns"), { kind: "unknown_source" });
const bad = '{"Filters": [{"Pattern": "{\\"a\\": [1]}"}, {"Pattern": "{\\"a\\": []}"}]}';
try {
  new FilterCriteria(bad);
  assert.fail("accepted");
} catch (e) {
  assert.equal(e.filterIndex, 1);
  assert.equal(bad.slice(e.offset16, e.endOffset16), "[]");
  assert.equal(e.patternOffset, 6);
}
const plain = new FilterCriteria('{"Filters": [{"Pattern": "{\\"data\\": [\\"x\\"]}"}]}');
assert.throws(() => plain.checkFor("kinesis"), { kind: "unsupported", filterIndex: 0 });
assert.throws(() => plain.evaluate("{}", "kinesis"), { kind: "unsupported" });
assert.equal(plain.evaluate("{}", "dynamodb").length, 1); // `data` is no data field of DynamoDB
plain.checkFor("sqs");
assert.throws(() => new FilterCriteria("{}", { maxFilters: -1 }), { category: "argument" });
const six = JSON.stringify({ Filters: Array(6).fill({ Pattern: '{"a": [1]}' }) });
assert.throws(() => new FilterCriteria(six), { kind: "filter_criteria" });
assert.equal(new FilterCriteria(six, { maxFilters: 10 }).filterCount, 6);
console.log("api: the JS API answers and errors as documented");
