// Every AWS-verified EventBridge case (tests/data/conformance/eventbridge-aws.json) through
// the wasm module in Node: the verdict or the error must be AWS's, and the `weir` CLI's
// (`weir test`, run once per case on the same texts).
// Usage: node bindings/wasm/tests/conformance.mjs [path/to/weir]   (after scripts/build-web;
// the CLI defaults to debug/weir in $CARGO_TARGET_DIR, else in target/)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { initSync, Pattern, Matcher } from "../web/pkg/weir_wasm.js";
import { root, here } from "./lib.mjs";

initSync({ module: fs.readFileSync(path.join(here, "../web/pkg/weir_wasm_bg.wasm")) });

const AWS_PREFIX = "Event pattern is not valid. Reason: ";
const ENVELOPE_ERROR = "Parameter Event is not valid.";

// The cases' JSON re-written compactly with every number as written (`300.0` stays `300.0`,
// as the Rust tests' serde_json writes it; JSON.parse would make it `300`).
class Raw {
  constructor(text) {
    this.text = text;
  }
}
function parseKeepingNumbers(text) {
  let i = 0;
  const ws = () => {
    while (/\s/.test(text[i])) i++;
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const members = [];
      ws();
      if (text[i] === "}") return i++, { members };
      for (;;) {
        ws();
        const key = string();
        ws();
        assert.equal(text[i++], ":");
        members.push([key, value()]);
        ws();
        if (text[i++] === "}") return { members };
      }
    }
    if (c === "[") {
      i++;
      const items = [];
      ws();
      if (text[i] === "]") return i++, items;
      for (;;) {
        items.push(value());
        ws();
        if (text[i++] === "]") return items;
      }
    }
    if (c === '"') return string();
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    assert.ok(m, `JSON at ${i}`);
    i += m[0].length;
    return new Raw(m[0]);
  };
  const string = () => {
    const m = /^"(?:[^"\\]|\\.)*"/s.exec(text.slice(i));
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  return value();
}
function compact(v) {
  if (v instanceof Raw) return v.text;
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(compact).join(",")}]`;
  return `{${v.members.map(([k, x]) => `${JSON.stringify(k)}:${compact(x)}`).join(",")}}`;
}
const member = (obj, key) => obj.members.find(([k]) => k === key)?.[1];

const file = path.join(root, "tests/data/conformance/eventbridge-aws.json");
const doc = parseKeepingNumbers(fs.readFileSync(file, "utf8"));
const cases = member(doc, "cases").map((c) => {
  const raw = (k) => member(c, k);
  const text = (rawKey, key) => (typeof raw(rawKey) === "string" ? raw(rawKey) : compact(raw(key)));
  return {
    name: raw("name"),
    expected: raw("expected"),
    pattern: text("pattern_raw", "pattern"),
    event: text("event_raw", "event"),
    awsError: typeof raw("aws_error_message") === "string" ? raw("aws_error_message") : null,
  };
});

// The CLI's outcome for each case: true, false, or {error: first line of stderr}.
const targetDir = path.resolve(root, process.env.CARGO_TARGET_DIR || "target");
const weir = path.resolve(process.argv[2] ?? path.join(targetDir, "debug/weir"));
assert.ok(fs.existsSync(weir), `${weir} not found: build it with cargo build -p weir-cli`);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "weir-conformance-"));
function cli(c) {
  fs.writeFileSync(path.join(dir, "pattern.json"), c.pattern);
  fs.writeFileSync(path.join(dir, "event.json"), c.event);
  const r = spawnSync(weir, ["test", "--event-pattern", "file://pattern.json", "--event", "file://event.json"], {
    cwd: dir,
    encoding: "utf8",
  });
  if (r.status === 0 && r.stdout === '{"Result":true}\n') return true;
  if (r.status === 1 && r.stdout === '{"Result":false}\n') return false;
  assert.ifError(r.error);
  assert.equal(r.status, 2, `${c.name}: weir exited ${r.status}: ${r.stdout}${r.stderr}`);
  return { error: r.stderr.split("\n")[0] };
}

// The wasm module's outcome, the same way.
function wasm(c) {
  let p;
  try {
    p = new Pattern(c.pattern);
  } catch (e) {
    assert.ok(e instanceof Error, `${c.name}: threw a non-Error`);
    return { error: e.message, stage: "pattern", e };
  }
  try {
    const verdict = p.matches(c.event);
    // Explain and a one-rule matcher must agree with matches().
    assert.equal(p.explain(c.event).matched, verdict, `${c.name}: explain`);
    const m = new Matcher();
    m.addRule(c.name, c.pattern);
    assert.deepEqual(m.matchingRules(c.event), verdict ? [c.name] : [], `${c.name}: matcher`);
    assert.equal(m.explain(c.name, c.event).matched, verdict, `${c.name}: matcher explain`);
    return verdict;
  } catch (e) {
    if (e.code === "ERR_ASSERTION") throw e;
    return { error: e.message, stage: "event", e };
  }
}

const counts = { match: 0, no_match: 0, error: 0, envelope: 0 };
const multi = new Matcher();
const readable = [];
for (const c of cases) {
  const fromCli = cli(c);
  const fromWasm = wasm(c);
  // Agreement with the CLI: the same verdict, or both refuse (the CLI's first line holds
  // the reason the wasm module gives).
  if (typeof fromCli === "boolean") {
    assert.equal(fromWasm, fromCli, `${c.name}: wasm ${JSON.stringify(fromWasm?.error ?? fromWasm)}, CLI ${fromCli}`);
  } else {
    assert.ok(typeof fromWasm === "object", `${c.name}: wasm ${fromWasm}, CLI refused: ${fromCli.error}`);
    assert.ok(fromCli.error.includes(fromWasm.error), `${c.name}: CLI "${fromCli.error}", wasm "${fromWasm.error}"`);
  }
  // Agreement with AWS.
  if (c.awsError === ENVELOPE_ERROR) {
    // Only EventBridge's envelope check refuses these events: the pattern is valid, and the
    // event is matched (false) when it is an object, refused when it is not.
    assert.notEqual(fromWasm?.stage, "pattern", `${c.name}: pattern refused`);
    if (c.event.trimStart().startsWith("{")) assert.equal(fromWasm, false, c.name);
    else assert.equal(fromWasm.e.kind, "not_an_object", c.name);
    counts.envelope++;
    continue;
  }
  if (c.expected === "error") {
    const reason = c.awsError.slice(AWS_PREFIX.length).split("\n")[0];
    assert.ok(c.awsError.startsWith(AWS_PREFIX), c.name);
    assert.equal(fromWasm.stage, "pattern", `${c.name}: not refused`);
    assert.equal(fromWasm.error, reason, c.name);
    assert.equal(fromWasm.e.reason, reason, c.name);
    assert.equal(typeof fromWasm.e.line, "number", `${c.name}: no place`);
    assert.equal(typeof fromWasm.e.offset16, "number", `${c.name}: no UTF-16 place`);
    assert.ok(fromWasm.e.detail.includes("^"), `${c.name}: no caret`);
  } else {
    assert.equal(fromWasm, c.expected === "match", `${c.name}: expected ${c.expected}`);
    multi.addRule(c.name, c.pattern);
    readable.push(c);
  }
  counts[c.expected]++;
}
// All rules in one matcher and all events in one JSONL text: each event matches its own rule
// exactly when AWS says so, and the answers equal one-event matching.
const many = multi.matchMany(readable.map((c) => c.event.replace(/\n/g, " ")).join("\n"));
assert.equal(many.length, readable.length);
readable.forEach((c, i) => {
  assert.ok(Array.isArray(many[i]), `${c.name}: ${JSON.stringify(many[i])}`);
  assert.equal(many[i].includes(c.name), c.expected === "match", `multi: ${c.name}`);
  assert.deepEqual(many[i], multi.matchingRules(c.event), `multi: ${c.name}`);
});
fs.rmSync(dir, { recursive: true, force: true });

assert.deepEqual(counts, { match: 70, no_match: 51, error: 42, envelope: 3 });
console.log(
  `conformance: ${cases.length} AWS-verified cases agree through the wasm module, the CLI and AWS ` +
    `(${counts.match} match, ${counts.no_match} no match, ${counts.error} errors, ${counts.envelope} envelope)`,
);
