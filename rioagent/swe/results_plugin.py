# ruff: noqa
"""A pytest plugin that writes one JSON line per test phase: the exact node id and its outcome.

The grader copies this file next to the tests' environment and loads it with `-p rioagent_results_plugin`,
so ids are read as pytest knows them (spaces and parameters included) instead of parsed back out of `-rA`
text. It runs inside the instance's environment, so it must work on every Python and pytest SWE-bench uses
(Python 3.6+, pytest 3.3+): no annotations, no f-strings, only hooks that old pytest has.
"""

import json
import os

_PATH = os.environ.get("RIOAGENT_RESULTS_FILE", "")


def _write(record):
    if not _PATH:
        return
    with open(_PATH, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def pytest_runtest_logreport(report):
    _write(
        {
            "nodeid": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "xfail": hasattr(report, "wasxfail"),
        }
    )


def pytest_collectreport(report):
    if report.outcome == "failed":
        _write({"nodeid": report.nodeid, "when": "collect", "outcome": "failed", "xfail": False})
