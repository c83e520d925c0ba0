"""Running an instance's tests and reading each test's outcome by its exact id.

pytest: the results plugin (results_plugin.py) writes every node id with its outcome as JSON lines; ids
are never parsed back out of `-rA` text, which cuts them at the first space.
Django's runtests.py and sympy's bin/test have no such hook: their verbose output is line-based and their
ids hold no line breaks, so it is read line by line. Django ids for tests with a docstring are the
docstring's first line in SWE-bench's lists: both that and `test_x (module.Class)` are recorded.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from rioagent.swe.instances import Instance

PLUGIN_MODULE = "rioagent_results_plugin"
PASSING = ("passed", "xfailed")


@dataclass
class TestRun:
    statuses: dict[str, str] = field(
        default_factory=dict
    )  # test id -> passed|failed|error|skipped|xfailed|xpassed
    exit_code: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    command: list[str] = field(default_factory=list)
    error: str = ""  # why no results could be read


def directives(instance: Instance, runner: str, workspace: Path) -> list[str]:
    """What to pass the runner: the test files the test patch touches that exist after it is applied."""
    files = [f for f in instance.test_directives if (workspace / f).is_file()]
    if runner == "django":  # module labels: tests/a/b.py -> a.b
        return [f.removesuffix(".py").removeprefix("tests/").replace("/", ".") for f in files]
    return files


def command(runner: str, python: str, targets: list[str], test_args: list[str]) -> list[str]:
    if runner == "django":
        return [python, "tests/runtests.py", *test_args, *targets]
    if runner == "sympy":
        return [python, "bin/test", *test_args, *targets]
    return [
        python,
        "-m",
        "pytest",
        "-p",
        PLUGIN_MODULE,
        "-p",
        "no:cacheprovider",
        "-rA",
        "--tb=short",
        *test_args,
        *targets,
    ]


def _pytest_statuses(lines: list[str]) -> dict[str, str]:
    statuses: dict[str, str] = {}
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by a killed run
        node, when, outcome, xfail = (
            rec.get("nodeid", ""),
            rec.get("when"),
            rec.get("outcome"),
            rec.get("xfail"),
        )
        if when == "collect":
            statuses[node] = "error"
        elif when == "call":
            if outcome == "passed":
                status = "xpassed" if xfail else "passed"
            elif outcome == "skipped":
                status = "xfailed" if xfail else "skipped"
            else:
                status = "failed"
            if statuses.get(node) not in ("error",):
                statuses[node] = status
        elif outcome == "failed":  # setup or teardown: an error whatever the call did
            statuses[node] = "error"
        elif outcome == "skipped" and node not in statuses:
            statuses[node] = "xfailed" if xfail else "skipped"
    return statuses


_DJANGO_STATUS = {
    "ok": "passed",
    "OK": "passed",
    "FAIL": "failed",
    "ERROR": "error",
    "expected failure": "xfailed",
    "unexpected success": "failed",
}
_DJANGO_LINE = re.compile(
    r"^(?P<test>.+?) \.\.\. (?P<status>ok|OK|FAIL|ERROR|skipped.*|expected failure|"
    r"unexpected success)\s*$"
)
_DJANGO_HEAD = re.compile(r"^(\w+ \([\w.]+\))(?: \.\.\. .*)?$")


def django_statuses(output: str) -> dict[str, str]:
    statuses: dict[str, str] = {}
    pending: str | None = None  # "test_x (mod.Class)" printed without its status yet
    for line in output.splitlines():
        match = _DJANGO_LINE.match(line)
        if match:
            word = match.group("status")
            status = "skipped" if word.startswith("skipped") else _DJANGO_STATUS[word]
            test = match.group("test")
            statuses[test] = status
            if pending is not None and not _DJANGO_HEAD.match(test):  # `test` was the docstring line
                statuses[pending] = status
            pending = None
            continue
        head = _DJANGO_HEAD.match(line)
        if head:
            pending = head.group(1)
        elif pending is not None and line.strip() in _DJANGO_STATUS:  # test output came between
            statuses[pending] = _DJANGO_STATUS[line.strip()]
            pending = None
    return statuses


_SYMPY_STATUS = {
    "ok": "passed",
    "F": "failed",
    "E": "error",
    "f": "xfailed",
    "X": "xpassed",
    "s": "skipped",
    "Skipped": "skipped",
}
_SYMPY_LINE = re.compile(r"^(test_\w+)\s+(ok|F|E|f|X|s|Skipped)\b")


def sympy_statuses(output: str) -> dict[str, str]:
    statuses: dict[str, str] = {}
    for line in output.splitlines():
        match = _SYMPY_LINE.match(line.strip())
        if match:
            statuses[match.group(1)] = _SYMPY_STATUS[match.group(2)]
    return statuses


def run_tests(
    instance: Instance,
    runner: str,
    python: str,
    workspace: Path,
    scratch: Path,
    environ: dict[str, str],
    prefix: list[str],
    test_args: list[str] | None = None,
    timeout: float = 1800,
    log: Path | None = None,
) -> TestRun:
    """Run the touched test files inside `prefix` (the sandbox) and read every test's outcome."""
    targets = directives(instance, runner, workspace)
    run = TestRun()
    if not targets:
        run.error = "the test patch touches no test file that exists after it is applied"
        return run
    env = dict(environ)
    results = scratch / "tmp" / "rioagent-test-results.jsonl"  # tmp: writable inside the sandbox
    results.unlink(missing_ok=True)
    if runner == "pytest":
        plugin_dir = scratch / "plugin"
        plugin_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(__file__).with_name("results_plugin.py"), plugin_dir / f"{PLUGIN_MODULE}.py")
        env["PYTHONPATH"] = ":".join(p for p in (str(plugin_dir), env.get("PYTHONPATH", "")) if p)
        env["RIOAGENT_RESULTS_FILE"] = str(results)
    run.command = command(runner, python, targets, list(test_args or []))
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [*prefix, *run.command],
            cwd=workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
        output, run.exit_code = proc.stdout.decode("utf-8", errors="replace"), proc.returncode
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode("utf-8", errors="replace")
        run.timed_out = True
    run.seconds = round(time.monotonic() - started, 3)
    if log is not None:
        log.write_text(f"$ {' '.join(run.command)}\n{output}", encoding="utf-8")
    if runner == "pytest":
        lines = results.read_text(encoding="utf-8").splitlines() if results.is_file() else []
        run.statuses = _pytest_statuses(lines)
    elif runner == "django":
        run.statuses = django_statuses(output)
    else:
        run.statuses = sympy_statuses(output)
    if run.timed_out:
        run.error = f"the tests ran past {timeout:.0f}s"
    elif not run.statuses:
        tail = "\n".join(output.strip().splitlines()[-15:])
        run.error = f"no test results (exit {run.exit_code}); the output ends:\n{tail}"
    return run
