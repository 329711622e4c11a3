"""The Python examples of the READMEs and the package docstring run as written."""

import contextlib
import doctest
import io
import os
import re

import weir
from conftest import REPO


def python_blocks(path):
    """The blocks that use weir (a README may show other Python, e.g. boto3 against weir serve)."""
    text = (REPO / path).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    return [block for block in blocks if "import weir" in block]


def run_blocks(path):
    blocks = python_blocks(path)
    assert blocks, path
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        for block in blocks:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                exec(compile(block, str(path), "exec"), {})
            yield out.getvalue()
    finally:
        os.chdir(cwd)


def test_root_readme():
    (printed,) = run_blocks("README.md")
    assert "no match" in printed and "numeric (10, +inf): does not hold" in printed


def test_package_readme():
    assert list(run_blocks("bindings/python/README.md"))


def test_package_docstring():
    failures, tried = doctest.testmod(weir)
    assert tried >= 3 and failures == 0
