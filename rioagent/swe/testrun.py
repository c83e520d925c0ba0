"""Running an instance's tests; each test's outcome is read by its exact id with readers.py."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from rioagent.swe.instances import Instance
from rioagent.swe.readers import PASSING, READERS

PLUGIN_MODULE = "rioagent_results_plugin"
__all__ = ["PASSING", "TestRun", "run_tests"]


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


@dataclass(frozen=True)
class Runner:
    """How one `runner:` of specs.yaml runs tests; per-repository arguments come from the spec's test_args."""

    argv: tuple[str, ...]  # after the interpreter, before test_args
    module_labels: bool = False  # targets as dotted modules under tests/ (Django) instead of file paths
    required: tuple[str, ...] = ()  # arguments the reader depends on, added when test_args lack them


RUNNERS = {
    "pytest": Runner(("-m", "pytest", "-p", PLUGIN_MODULE, "-p", "no:cacheprovider", "-rA", "--tb=short")),
    "django": Runner(("tests/runtests.py",), module_labels=True, required=("--verbosity", "2")),
    "sympy": Runner(("bin/test",), required=("--verbose",)),
}


def directives(instance: Instance, runner: str, workspace: Path) -> list[str]:
    """What to pass the runner: the test files the test patch touches that exist after it is applied."""
    files = [f for f in instance.test_directives if (workspace / f).is_file()]
    if RUNNERS[runner].module_labels:  # tests/a/b.py -> a.b
        return [f.removesuffix(".py").removeprefix("tests/").replace("/", ".") for f in files]
    return files


def command(runner: str, python: str, targets: list[str], test_args: list[str]) -> list[str]:
    spec = RUNNERS[runner]
    extra = [] if not spec.required or spec.required[0] in test_args else list(spec.required)
    return [python, *spec.argv, *extra, *test_args, *targets]


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
    source, reader = READERS[runner]
    if source == "results":
        run.statuses = reader(results.read_text(encoding="utf-8") if results.is_file() else "")
    else:
        run.statuses = reader(output)
    if run.timed_out:
        run.error = f"the tests ran past {timeout:.0f}s"
    elif not run.statuses:
        tail = "\n".join(output.strip().splitlines()[-15:])
        run.error = f"no test results (exit {run.exit_code}); the output ends:\n{tail}"
    return run
