#!/usr/bin/env python3
"""A minimal custom runtime speaking the Lambda Runtime API (Python standard library only).

The event's "action" says what to do:
  echo       respond with the pid, the event, the invocation's headers and Lambda's variables
  fail       post an invocation error
  exit       exit with event["code"] in the middle of the invocation
  kill       kill itself with SIGKILL in the middle of the invocation
  sleep      sleep event["seconds"], then respond as echo does
  big        respond with event["bytes"] bytes (a JSON string)
  probe      make invalid calls to the API, then respond with their statuses and bodies
  report     respond with what earlier calls whose answers came too late to respond with got
With WEIR_TEST_INIT_ERROR set it posts an init error instead of asking for an invocation.
"""

import http.client
import json
import os
import signal
import sys
import time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.rsplit(":", 1)
CONN = http.client.HTTPConnection(HOST, int(PORT))
BASE = "/2018-06-01/runtime"
LATE = {}


def call(method, path, body=None, headers=None, conn=CONN):
    conn.request(method, BASE + path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def answer(status, data):
    try:
        body = json.loads(data)
    except ValueError:
        body = data.decode("utf-8", "replace")
    return {"status": status, "body": body}


def respond(request_id, value):
    status, _, data = call("POST", "/invocation/%s/response" % request_id, json.dumps(value))
    LATE["last_response"] = answer(status, data)
    return status, data


ENV_KEYS = [
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "LAMBDA_TASK_ROOT",
    "_HANDLER",
    "TZ",
    "WEIR_TEST_EXTRA",
]

if os.environ.get("WEIR_TEST_INIT_ERROR"):
    error = {"errorMessage": "Unable to import module 'app': no module named app", "errorType": "Runtime.ImportModuleError"}
    status, _, data = call(
        "POST",
        "/init/error",
        json.dumps(error),
        {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"},
    )
    report = os.environ.get("WEIR_TEST_REPORT")
    if report:
        with open(report + ".tmp", "w") as out:
            json.dump(answer(status, data), out)
        os.replace(report + ".tmp", report)
    sys.exit(1)

while True:
    status, headers, body = call("GET", "/invocation/next")
    if status != 200:
        sys.exit(2)
    request_id = headers["lambda-runtime-aws-request-id"]
    event = json.loads(body)
    action = event.get("action", "echo")
    if action in ("echo", "sleep"):
        if action == "sleep":
            time.sleep(event["seconds"])
        respond(
            request_id,
            {
                "pid": os.getpid(),
                "cwd": os.getcwd(),
                "event": event,
                "headers": {k: v for k, v in headers.items() if k.startswith("lambda-runtime-")},
                "content_type": headers.get("content-type"),
                "env": {k: os.environ.get(k) for k in ENV_KEYS},
            },
        )
    elif action == "fail":
        error = {"errorMessage": event.get("message", "it failed"), "errorType": "ValueError", "stackTrace": ["line 1"]}
        status, _, data = call(
            "POST",
            "/invocation/%s/error" % request_id,
            json.dumps(error),
            {"Lambda-Runtime-Function-Error-Type": "Unhandled"},
        )
        LATE["last_error"] = answer(status, data)
    elif action == "exit":
        sys.stdout.flush()
        os._exit(event["code"])
    elif action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "big":
        status, data = respond(request_id, "x" * (event["bytes"] - 2))
        LATE["big"] = answer(status, data)
    elif action == "probe":
        other = http.client.HTTPConnection(HOST, int(PORT))
        results = {
            "wrong_id": answer(*call("POST", "/invocation/not-%s/response" % request_id, "{}", conn=other)[::2]),
            "wrong_id_error": answer(*call("POST", "/invocation/not-%s/error" % request_id, "{}", conn=other)[::2]),
            "next_in_flight": answer(*call("GET", "/invocation/next", conn=other)[::2]),
            "init_error_late": answer(*call("POST", "/init/error", "{}", conn=other)[::2]),
            "unknown_path": call("GET", "/nothing", conn=other)[0],
        }
        respond(request_id, results)
        # After the response the request id is spent: answered on the next invocation.
        LATE["twice"] = answer(*call("POST", "/invocation/%s/response" % request_id, "{}", conn=other)[::2])
    elif action == "report":
        respond(request_id, {"pid": os.getpid(), "late": LATE})
