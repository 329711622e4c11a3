"""A Python Lambda handler, unmodified, as it would be deployed to Lambda; weir runs it
through its Runtime API with the official runtime client: python -m awslambdaric app.handler
"""

import json
import os

# Set at import (the runtime's init), kept while the environment stays warm.
INVOCATIONS = 0


def is_order(record):
    """An order: "kind": "order" in the record, or in its JSON body as SQS delivers it."""
    if record.get("kind") == "order":
        return True
    body = record.get("body")
    if isinstance(body, str):
        try:
            return json.loads(body).get("kind") == "order"
        except (ValueError, AttributeError):
            return False
    return False


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    if "fail" in event:
        raise ValueError(event["fail"])
    if "Records" in event:
        records = event["Records"]
        orders = sum(1 for record in records if is_order(record))
        return {"records": len(records), "orders": orders}
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_arn": context.invoked_function_arn,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "pid": os.getpid(),
        "invocations": INVOCATIONS,
    }
