"""Shared set-up of weir's Python tests: the conformance data of the repository and a guard
that fails the run when no test was collected (an empty run must not look green)."""

import json
import os
import pathlib

import pytest

import weir

REPO = pathlib.Path(__file__).resolve().parents[3]
CONFORMANCE = REPO / "tests" / "data" / "conformance"


def load(name):
    with open(CONFORMANCE / name, encoding="utf-8") as f:
        return json.load(f)["cases"]


@pytest.fixture(scope="session")
def eventbridge_cases():
    return load("eventbridge-aws.json")


@pytest.fixture(scope="session")
def lambda_cases():
    return load("lambda-esm-aws.json")


def pytest_collection_finish(session):
    if not session.items:
        raise pytest.UsageError("no tests collected: the Python suite must run")


def pytest_report_header(config):
    # The tests must run against the installed package, not a source tree.
    return f"weir {weir.__version__} from {os.path.dirname(weir.__file__)}"
