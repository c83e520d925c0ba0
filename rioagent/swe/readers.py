"""Reading each test's outcome by its exact id from what a runner leaves behind.

pytest: the results plugin (results_plugin.py) writes every node id with its outcome as JSON lines; ids are
never parsed back out of `-rA` text, which cuts them at the first space.
Django's tests/runtests.py and sympy's bin/test have no such hook and no machine-readable report (Django's
runner is unittest's TextTestRunner, sympy's its own reporter; SWE-bench runs them as `runtests.py
--verbosity 2` and `bin/test -C --verbose`), so their verbose text is the only source: one line per test,
ids without line breaks. The readers are checked against recorded real runs in tests/data/swe_logs/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

PASSING = ("passed", "xfailed")
_FAILING = ("failed", "error")


def _put(statuses: dict[str, str], test: str, status: str, override: bool = False) -> None:
    """A failure already read is not undone by a later pass of the same id, unless `override`."""
    if override or statuses.get(test) not in _FAILING:
        statuses[test] = status


def pytest_statuses(results: str) -> dict[str, str]:
    """The results plugin's JSON lines: setup/teardown failures are errors whatever the call did."""
    statuses: dict[str, str] = {}
    for line in results.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by a killed run
        node, when, outcome = rec.get("nodeid", ""), rec.get("when"), rec.get("outcome")
        xfail = rec.get("xfail")
        if when == "collect":
            statuses[node] = "error"
        elif when == "call":
            if outcome == "passed":
                status = "xpassed" if xfail else "passed"
            elif outcome == "skipped":
                status = "xfailed" if xfail else "skipped"
            else:
                status = "failed"
            if statuses.get(node) != "error":
                statuses[node] = status
        elif outcome == "failed":
            statuses[node] = "error"
        elif outcome == "skipped" and node not in statuses:
            statuses[node] = "xfailed" if xfail else "skipped"
    return statuses


# unittest's verbosity-2 lines, as Django's runner prints them: `test_x (module.Class) ... ok`, or on
# Python 3.11+ `test_x (module.Class.test_x) ... ok`; a test with a docstring prints `test_x (module.Class)`
# alone, then the docstring's first line followed by ` ... ok` (SWE-bench's lists use that line as the id).
_ID = r"\w+ \([\w.]+\)"
_ID_RE = re.compile(rf"^{_ID}$")
_SUBTEST = re.compile(rf"^({_ID}) \(.*\)$")  # `test_x (m.C) (i=1)`
_SUMMARY = re.compile(rf"^(FAIL|ERROR): ({_ID})(?: \(.*\))?$")
_NEW_STYLE = re.compile(r"^(\w+) \(([\w.]+)\.(\w+)\)$")
_DJANGO_STATUS = {
    "ok": "passed",
    "OK": "passed",
    "FAIL": "failed",
    "ERROR": "error",
    "expected failure": "xfailed",
    "unexpected success": "failed",
}


def _django_status(text: str) -> str | None:
    text = text.strip()
    if text.startswith("skipped"):
        return "skipped"
    return _DJANGO_STATUS.get(text)


def _django_put(statuses: dict[str, str], test: str, status: str, override: bool = False) -> None:
    _put(statuses, test, status, override)
    new = _NEW_STYLE.match(test)
    if new and new.group(1) == new.group(3):  # Python 3.11+ id: also under the pre-3.11 spelling
        _put(statuses, f"{new.group(1)} ({new.group(2)})", status, override)


def django_statuses(output: str) -> dict[str, str]:
    statuses: dict[str, str] = {}
    waiting: list[str] = []  # ids of the test whose status is not printed yet
    doc_next = False  # a bare `test_x (m.C)` line: its docstring line comes next
    lines = output.splitlines()
    for number, raw in enumerate(lines):
        line = raw.strip()
        summary = _SUMMARY.match(line)
        if summary:  # the failure list after the run: covers tests whose line lost its status
            status = "failed" if summary.group(1) == "FAIL" else "error"
            ids = [summary.group(2)]
            following = lines[number + 1].strip() if number + 1 < len(lines) else ""
            if following and not following.startswith("---"):
                ids.append(following)  # the docstring line
            for test in ids:
                _django_put(statuses, test, status, override=True)
            waiting, doc_next = [], False
            continue
        if line.endswith(" ..."):
            line += " "
        if " ... " not in line:
            if _ID_RE.match(line):
                waiting, doc_next = [line], True
            elif waiting and _django_status(line):  # the test printed between `...` and its status
                for test in waiting:
                    _django_put(statuses, test, _django_status(line) or "")
                waiting, doc_next = [], False
            continue
        first, *rest = line.split(" ... ")
        sub = _SUBTEST.match(first)
        if sub:  # Python 3.11+ prints failed subtests: the test fails, and its own status never comes
            if _django_status(rest[-1]) in _FAILING:
                _django_put(statuses, sub.group(1), _django_status(rest[-1]) or "", override=True)
            continue
        waiting = [*waiting, first] if doc_next and not _ID_RE.match(first) else [first]
        doc_next = False
        for segment in rest:
            status = _django_status(segment)
            if status:
                for test in waiting:
                    _django_put(statuses, test, status)
                waiting = []
            elif _ID_RE.match(segment.strip()):  # the previous test ended with no status (failed subtest
                waiting = [segment.strip()]  # before 3.11): the failure list gives it
                doc_next = segment is rest[-1]  # at the line's end: its docstring line comes next
    return statuses


# sympy's reporter with --verbose: `test_x ok` per test (F, E, f, X; `reason s` for skips), the file's
# [OK]/[FAIL] at the end of its last line, and `___ path.py:test_x ___` (`::` in newer sympy) per failure.
_SYMPY_STATUS = {
    "ok": "passed",
    "F": "failed",
    "E": "error",
    "T": "error",
    "f": "xfailed",
    "X": "xpassed",
    "s": "skipped",
    "w": "skipped",
    "K": "skipped",
}
_SYMPY_TEST = re.compile(r"^(test_\w+)(?:\s+(.*))?$")
_SYMPY_SUMMARY = re.compile(r"^_+ \S+?\.py:{1,2}(test_\w+) _+$")


def _sympy_status(text: str) -> str | None:
    words = text.split()
    if words and words[-1] in ("[OK]", "[FAIL]"):
        words.pop()
    return _SYMPY_STATUS.get(words[-1]) if words else None


def sympy_statuses(output: str) -> dict[str, str]:
    statuses: dict[str, str] = {}
    waiting: str | None = None  # a test whose status comes after its own printed output
    for raw in output.splitlines():
        line = raw.strip()
        summary = _SYMPY_SUMMARY.match(line)
        if summary:
            _put(statuses, summary.group(1), "failed", override=statuses.get(summary.group(1)) != "error")
            continue
        match = _SYMPY_TEST.match(line)
        if match:
            status = _sympy_status(match.group(2) or "")
            if status:
                _put(statuses, match.group(1), status)
                waiting = None
            else:
                waiting = match.group(1)
        elif waiting is not None and _sympy_status(line) and len(line.split()) <= 2:
            _put(statuses, waiting, _sympy_status(line) or "")
            waiting = None
    return statuses


# What each runner named in specs.yaml (`runner:`) is read with, and from where: "results" is the plugin's
# file, "output" the run's combined stdout and stderr.
READERS: dict[str, tuple[str, Callable[[str], dict[str, str]]]] = {
    "pytest": ("results", pytest_statuses),
    "django": ("output", django_statuses),
    "sympy": ("output", sympy_statuses),
}
