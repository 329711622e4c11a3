// Every case of tests/data/conformance/lambda-esm-aws.json through the wasm module's
// FilterCriteria.evaluate: SQS records, DynamoDB stream records made from the table puts,
// Kinesis records on two mappings (alone and in the Lambda event shape), and the patterns AWS
// refuses. (The case file's numbers are all read back exactly by JSON.parse.)
// Usage: node bindings/wasm/tests/lambda-conformance.mjs   (after scripts/build-web)
import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { initSync, FilterCriteria } from "../web/pkg/weir_wasm.js";
import { here, root } from "./lib.mjs";

initSync({ module: fs.readFileSync(path.join(here, "../web/pkg/weir_wasm_bg.wasm")) });
const cases = JSON.parse(fs.readFileSync(path.join(root, "tests/data/conformance/lambda-esm-aws.json"), "utf8")).cases;
const criteria = (patternText) => new FilterCriteria(JSON.stringify({ Filters: [{ Pattern: patternText }] }));
const jsonl = (records) => records.map((r) => JSON.stringify(r)).join("\n");
const b64 = (text) => Buffer.from(text, "utf8").toString("base64");
const sqsRecord = (id, body) => ({
  messageId: id,
  receiptHandle: `handle-${id}`,
  body,
  attributes: {
    ApproximateReceiveCount: "1",
    SentTimestamp: "1700000000000",
    SenderId: "AIDAEXAMPLE",
    ApproximateFirstReceiveTimestamp: "1700000000001",
  },
  messageAttributes: {},
  md5OfBody: "0",
  eventSource: "aws:sqs",
  eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:queue",
  awsRegion: "us-east-1",
});
const bodyIsJson = (body) => {
  try {
    const v = JSON.parse(body);
    return typeof v === "object" && v !== null;
  } catch {
    return false;
  }
};

const seen = new Set();
const count = { sqs: 0, error: 0, dynamodb: 0, kinesis: 0, skipped: 0 };

for (const c of cases) {
  if (c.expected === "error") {
    // AWS answers "Invalid filter pattern definition."; weir gives the pattern's own reason,
    // inside filter 0, placed in the document.
    assert.equal(c.aws_error_message, "Invalid filter pattern definition.");
    const doc = JSON.stringify({ Filters: [{ Pattern: c.pattern_raw }] });
    assert.throws(
      () => new FilterCriteria(doc),
      (e) => e.filterIndex === 0 && e.kind !== "filter_criteria" && e.reason.length > 0 && typeof e.offset16 === "number",
      c.id,
    );
    count.error++;
  } else if (c.skipped_upstream) {
    // Not validated against AWS: {"body": "plain-string"} has a scalar leaf, which the rules refuse.
    assert.equal(c.aws_validated, false);
    assert.throws(() => criteria(JSON.stringify(c.pattern)), { reason: '"body" must be an object or an array', filterIndex: 0, path: "body" });
    count.skipped++;
  } else if (c.source === "sqs") {
    const fc = criteria(JSON.stringify(c.pattern));
    const records = c.records.map((r, n) => sqsRecord(`0000000${n}-0000-4000-8000-000000000000`, r.body));
    const verdicts = fc.evaluate(jsonl(records), "sqs");
    assert.equal(verdicts.length, records.length, c.id);
    c.records.forEach((r, n) => {
      // A JSON body that does not match is filtered out; a plain-string one under a JSON
      // pattern on `body` is dropped.
      const want = r.expected === "match" ? "delivered" : bodyIsJson(r.body) ? "filtered_out" : "dropped";
      assert.equal(verdicts[n].verdict, want, `${c.id}: body ${JSON.stringify(r.body)}`);
      if (want === "dropped") assert.equal(verdicts[n].dropKind, "json_pattern_on_text", c.id);
      count.sqs++;
    });
  } else if (c.source === "dynamodb") {
    // The stream records of two puts on a table keyed on `id` (NEW_AND_OLD_IMAGES): INSERT
    // for a new key, MODIFY for a changed item, nothing for an identical one.
    const items = new Map();
    const records = [];
    for (const item of [c.item_put_1, c.item_put_2]) {
      const key = JSON.stringify(item.id);
      const old = items.get(key);
      items.set(key, item);
      if (old && isDeepStrictEqual(old, item)) continue;
      const seq = records.length + 1;
      const dynamodb = {
        ApproximateCreationDateTime: 1700000000 + seq,
        Keys: { id: item.id },
        NewImage: item,
        SequenceNumber: `${seq}00000000000000000000`,
        SizeBytes: JSON.stringify(item).length,
        StreamViewType: "NEW_AND_OLD_IMAGES",
      };
      if (old) dynamodb.OldImage = old;
      records.push({
        eventID: `event-${seq}`,
        eventName: old ? "MODIFY" : "INSERT",
        eventVersion: "1.1",
        eventSource: "aws:dynamodb",
        awsRegion: "us-east-1",
        dynamodb,
        eventSourceARN: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024",
      });
    }
    const verdicts = criteria(JSON.stringify(c.pattern)).evaluate(jsonl(records), "dynamodb");
    for (const v of verdicts) assert.ok(["delivered", "filtered_out"].includes(v.verdict), `${c.id}: ${JSON.stringify(v)}`);
    const invocations = verdicts.filter((v) => v.verdict === "delivered").length;
    assert.equal(invocations, c.expected_invocations, c.id);
    count.dynamodb++;
  } else if (c.source === "kinesis") {
    const mappings = Object.entries(c.patterns_by_mapping).map(([name, p]) => [name, criteria(JSON.stringify(p))]);
    c.records.forEach((r, n) => {
      const inner = {
        kinesisSchemaVersion: "1.0",
        partitionKey: `pk-${n}`,
        sequenceNumber: `4959${n}`,
        data: b64(JSON.stringify(r.data_json)),
        approximateArrivalTimestamp: 1700000000.5,
      };
      const lambdaShaped = {
        kinesis: inner,
        eventSource: "aws:kinesis",
        eventVersion: "1.0",
        eventID: `shardId-000000000000:4959${n}`,
        eventName: "aws:kinesis:record",
        awsRegion: "us-east-1",
        eventSourceARN: "arn:aws:kinesis:us-east-1:000000000000:stream/s",
      };
      for (const record of [inner, lambdaShaped]) {
        const got = mappings.filter(([, fc]) => fc.evaluate(JSON.stringify(record), "kinesis")[0].verdict === "delivered").map(([name]) => name);
        assert.deepEqual(got, r.delivered_to, `${c.id}: record ${n}`);
      }
      count.kinesis++;
    });
  } else {
    assert.fail(`case ${c.id} is not run`);
  }
  seen.add(c.id);
}
assert.equal(seen.size, cases.length);
assert.deepEqual(count, { sqs: 18, error: 6, dynamodb: 9, kinesis: 2, skipped: 1 });
console.log(
  `lambda conformance: all ${cases.length} cases agree through the wasm module ` +
    `(${count.sqs} SQS records, ${count.dynamodb} DynamoDB tables, ${count.kinesis} Kinesis records, ${count.error + count.skipped} refused patterns)`,
);
