// Example rules, events and Lambda records to start from, shaped as AWS delivers them.

const pretty = (v) => JSON.stringify(v, null, 2);
// A pattern as people write one: objects one key a line, arrays on one line.
const inline = (v) =>
  Array.isArray(v)
    ? `[${v.map(inline).join(", ")}]`
    : v && typeof v === "object"
      ? `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${inline(x)}`).join(", ")}}`
      : JSON.stringify(v);
const rule = (v, indent = "") =>
  v && typeof v === "object" && !Array.isArray(v)
    ? `{\n${Object.entries(v)
        .map(([k, x]) => `${indent}  ${JSON.stringify(k)}: ${rule(x, indent + "  ")}`)
        .join(",\n")}\n${indent}}`
    : inline(v);
const jsonl = (list) => list.map((v) => JSON.stringify(v)).join("\n") + "\n";
const b64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
const criteria = (...patterns) =>
  pretty({ Filters: patterns.map((p) => ({ Pattern: JSON.stringify(p) })) });

const envelope = (source, detailType, detail, extra = {}) => ({
  version: "0",
  id: "17793124-05d4-b198-2fde-7ededc63b103",
  "detail-type": detailType,
  source,
  account: "123456789012",
  time: "2025-11-05T14:02:17Z",
  region: "us-east-1",
  resources: [],
  detail,
  ...extra,
});

const s3Event = (key, size) =>
  envelope(
    "aws.s3",
    "Object Created",
    {
      version: "0",
      bucket: { name: "photos-upload" },
      object: { key, size, etag: "b1946ac92492d2347c6235b4d2611184", sequencer: "00617F08299329D189" },
      "request-id": "N4N7GDK58NMKJ12R",
      requester: "123456789012",
      "source-ip-address": "203.0.113.15",
      reason: "PutObject",
    },
    { resources: ["arn:aws:s3:::photos-upload"] },
  );

const ec2Event = (state, id) =>
  envelope(
    "aws.ec2",
    "EC2 Instance State-change Notification",
    { "instance-id": id, state },
    { resources: [`arn:aws:ec2:us-east-1:123456789012:instance/${id}`] },
  );

const sqsRecord = (id, body) => ({
  messageId: id,
  receiptHandle: "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
  body,
  attributes: {
    ApproximateReceiveCount: "1",
    SentTimestamp: "1730815337000",
    SenderId: "AIDAIENQZJOLO23YVJ4VO",
    ApproximateFirstReceiveTimestamp: "1730815337008",
  },
  messageAttributes: {},
  md5OfBody: "e4e68fb7bd0e697a0ae8f1bb342846b3",
  eventSource: "aws:sqs",
  eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:orders",
  awsRegion: "us-east-1",
});

const ddbRecord = (name, seq, image) => ({
  eventID: `c4ca4238a0b923820dcc509a6f75849${seq}`,
  eventName: name,
  eventVersion: "1.1",
  eventSource: "aws:dynamodb",
  awsRegion: "us-east-1",
  dynamodb: {
    ApproximateCreationDateTime: 1730815337,
    Keys: { id: { S: image.id.S } },
    NewImage: image,
    SequenceNumber: `11100000000000000000000${seq}`,
    SizeBytes: 59,
    StreamViewType: "NEW_AND_OLD_IMAGES",
  },
  eventSourceARN: "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2025-11-05T00:00:00.000",
});

const kinesisRecord = (key, seq, data) => ({
  kinesis: {
    kinesisSchemaVersion: "1.0",
    partitionKey: key,
    sequenceNumber: `4959103851586440960402776722914390183829983264040000000${seq}`,
    data: b64(data),
    approximateArrivalTimestamp: 1730815337.123,
  },
  eventSource: "aws:kinesis",
  eventVersion: "1.0",
  eventID: `shardId-000000000000:4959103851586440960402776722914390183829983264040000000${seq}`,
  eventName: "aws:kinesis:record",
  invokeIdentityArn: "arn:aws:iam::123456789012:role/lambda-kinesis-role",
  awsRegion: "us-east-1",
  eventSourceARN: "arn:aws:kinesis:us-east-1:123456789012:stream/sensors",
});

const kafkaRecord = (offset, value) => ({
  topic: "orders",
  partition: 0,
  offset,
  timestamp: 1730815337000,
  timestampType: "CREATE_TIME",
  key: b64(`order-${offset}`),
  value: b64(value),
  headers: [],
});

const mqRecord = (n, data) => ({
  messageID: `ID:b-9bcfa592-423a-4942-879d-eb284b418fc8-1.mq.us-east-1.amazonaws.com-37557-1234520418293-4:1:1:1:${n}`,
  messageType: "jms/text-message",
  deliveryMode: 1,
  replyTo: null,
  type: null,
  expiration: "60000",
  priority: 1,
  correlationId: "myJMSCoID",
  redelivered: false,
  destination: { physicalName: "orders" },
  data: b64(data),
  timestamp: 1730815337000 + n,
  brokerInTime: 1730815337001 + n,
  brokerOutTime: 1730815337002 + n,
  properties: { index: String(n), doAlarm: "false", myCustomProperty: "value" },
});

export const EXAMPLES = [
  {
    id: "s3-created",
    title: "S3 Object Created: .png uploads to one bucket",
    mode: "eventbridge",
    rules: [
      {
        name: "png-uploads",
        text: rule({
          source: ["aws.s3"],
          "detail-type": ["Object Created"],
          detail: {
            bucket: { name: ["photos-upload"] },
            object: { key: [{ suffix: { "equals-ignore-case": ".png" } }] },
          },
        }),
      },
      {
        name: "large-objects",
        text: rule({ source: ["aws.s3"], detail: { object: { size: [{ numeric: [">=", 1048576] }] } } }),
      },
    ],
    events: jsonl([s3Event("2025/holiday/IMG_0042.PNG", 2306110), s3Event("notes/readme.txt", 812)]),
  },
  {
    id: "ec2-state",
    title: "EC2 instance state change: running or stopped",
    mode: "eventbridge",
    rules: [
      {
        name: "running-or-stopped",
        text: rule({
          source: ["aws.ec2"],
          "detail-type": ["EC2 Instance State-change Notification"],
          detail: { state: ["running", "stopped"] },
        }),
      },
      {
        name: "not-from-test-instances",
        text: rule({ detail: { "instance-id": [{ "anything-but": { prefix: "i-test" } }] } }),
      },
    ],
    events: pretty([ec2Event("running", "i-0abcd1234ef567890"), ec2Event("pending", "i-test0000000000001")]),
  },
  {
    id: "orders",
    title: "Custom events: $or, numeric ranges, exists",
    mode: "eventbridge",
    rules: [
      {
        name: "big-or-priority",
        text: rule({
          source: ["com.example.orders"],
          $or: [
            { detail: { total: [{ numeric: [">", 100, "<=", 5000] }] } },
            { detail: { priority: [{ exists: true }] } },
          ],
        }),
      },
    ],
    events: jsonl([
      envelope("com.example.orders", "Order Placed", { orderId: "o-1", total: 250.5, currency: "EUR" }),
      envelope("com.example.orders", "Order Placed", { orderId: "o-2", total: 12, currency: "EUR" }),
      envelope("com.example.orders", "Order Placed", { orderId: "o-3", total: 9, priority: "high" }),
    ]),
  },
  {
    id: "lambda-sqs",
    title: "Lambda, SQS: JSON bodies with status ready",
    mode: "lambda",
    source: "sqs",
    criteria: criteria({ body: { status: ["ready"], attempts: [{ numeric: ["<", 3] }] } }),
    records: jsonl([
      sqsRecord("059f36b4-87a3-44ab-83d2-661975830a7d", JSON.stringify({ status: "ready", attempts: 1 })),
      sqsRecord("2e1424d4-f796-459a-8184-9c92662be6da", JSON.stringify({ status: "pending", attempts: 0 })),
      sqsRecord("a9c1dcfa-27e5-4b3a-9c57-9d1b8b9a8e11", "plain text body"),
    ]),
  },
  {
    id: "lambda-dynamodb",
    title: "Lambda, DynamoDB Streams: inserted active orders",
    mode: "lambda",
    source: "dynamodb",
    criteria: criteria({ eventName: ["INSERT"], dynamodb: { NewImage: { status: { S: ["active"] } } } }),
    records: jsonl([
      ddbRecord("INSERT", 1, { id: { S: "o-1" }, status: { S: "active" }, total: { N: "42.5" } }),
      ddbRecord("MODIFY", 2, { id: { S: "o-2" }, status: { S: "active" }, total: { N: "10" } }),
      ddbRecord("INSERT", 3, { id: { S: "o-3" }, status: { S: "archived" }, total: { N: "7" } }),
    ]),
  },
  {
    id: "lambda-kinesis",
    title: "Lambda, Kinesis: base64 data, temperature above 25",
    mode: "lambda",
    source: "kinesis",
    criteria: criteria({ data: { temperature: [{ numeric: [">", 25] }] } }),
    records: jsonl([
      kinesisRecord("sensor-1", 1, JSON.stringify({ sensor: "s-1", temperature: 31.5 })),
      kinesisRecord("sensor-2", 2, JSON.stringify({ sensor: "s-2", temperature: 19 })),
      kinesisRecord("sensor-3", 3, "temperature=40"),
    ]),
  },
  {
    id: "lambda-kafka",
    title: "Lambda, Kafka: JSON values and a text value",
    mode: "lambda",
    source: "kafka",
    criteria: criteria({ value: { type: ["order"] } }, { topic: ["audit"] }),
    records: jsonl([
      kafkaRecord(15, JSON.stringify({ type: "order", id: 1 })),
      kafkaRecord(16, JSON.stringify({ type: "refund", id: 2 })),
      kafkaRecord(17, "not json at all"),
    ]),
  },
  {
    id: "lambda-mq",
    title: "Lambda, Amazon MQ: high-priority JSON messages",
    mode: "lambda",
    source: "mq",
    criteria: criteria({ priority: [{ numeric: [">=", 1] }], data: { kind: ["order"] } }),
    records: jsonl([
      mqRecord(1, JSON.stringify({ kind: "order", id: "o-1" })),
      mqRecord(2, JSON.stringify({ kind: "heartbeat" })),
      mqRecord(3, "<order id='o-3'/>"),
    ]),
  },
];

export function example(id) {
  return EXAMPLES.find((e) => e.id === id);
}
