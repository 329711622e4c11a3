"""A Lambda handler for SQS batches, written for Lambda and run unmodified by weir through
the Runtime API and the official runtime client (python -m awslambdaric orders.handler).

It ships each order of the batch and reports the ones it cannot ship as batch item
failures, so only those return to the queue."""

import json


def handler(event, context):
    failures = []
    for record in event["Records"]:
        order = json.loads(record["body"])
        if order["item"].startswith("broken"):
            print(f"cannot ship order {order['id']}: {order['item']}")
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
