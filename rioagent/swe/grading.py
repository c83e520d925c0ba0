"""Grading one prediction the way SWE-bench does, without Docker.

A fresh workspace at the base commit, the instance's environment, then:
1. the model's patch: `git apply`, else `git apply --3way`, else `patch --fuzz=5` (the first that applies);
2. the test files restored to the base and the test patch applied;
3. the touched test files run inside the sandbox (no network), every test read by its exact id;
4. SWE-bench's rule: resolved when every FAIL_TO_PASS and every PASS_TO_PASS test passes.

Statuses: resolved; partial (some, not all, FAIL_TO_PASS pass and PASS_TO_PASS all pass); unresolved;
patch failed (no method applied it); error (the harness could not produce results: no environment, a
test patch that does not apply, a run that timed out or produced no results).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rioagent.swe.gitutil import git
from rioagent.swe.harness import Harness
from rioagent.swe.instances import Instance, diff_files
from rioagent.swe.testrun import PASSING, TestRun, run_tests
from rioagent.swe.workspace import reset_workspace

STATUSES = ("resolved", "partial", "unresolved", "patch failed", "error")


@dataclass
class Counts:
    passed: int = 0
    total: int = 0
    failing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "total": self.total, "failing": self.failing}


def is_test_id(test: str, runner: str) -> bool:
    """False for entries of SWE-bench's lists that name no test (bits of `-rA` text such as "[100%]")."""
    return runner != "pytest" or "::" in test or test.endswith(".py")


def is_passing(test: str, statuses: dict[str, str]) -> bool:
    """Whether `test` passed. An id cut at its first space (as `-rA` parsing cuts them) stands for every
    test it is the start of: all of them must pass. A test with no result did not pass."""
    if test in statuses:
        return statuses[test] in PASSING
    matches = [s for t, s in statuses.items() if " " in t and t.split(" ", 1)[0] == test]
    return bool(matches) and all(s in PASSING for s in matches)


def count(tests: list[str], statuses: dict[str, str]) -> Counts:
    counts = Counts(total=len(tests))
    for test in tests:
        if is_passing(test, statuses):
            counts.passed += 1
        else:
            counts.failing.append(test)
    return counts


def verdict(f2p: Counts, p2p: Counts) -> str:
    if f2p.passed == f2p.total and p2p.passed == p2p.total:
        return "resolved"
    if 0 < f2p.passed < f2p.total and p2p.passed == p2p.total:
        return "partial"
    return "unresolved"


def judge(instance: Instance, runner: str, statuses: dict[str, str]) -> tuple[str, Counts, Counts, list[str]]:
    """SWE-bench's rule on one run's statuses: the verdict, F2P and P2P counts, and the ids ignored."""
    f2p_ids = [t for t in instance.fail_to_pass if is_test_id(t, runner)]
    p2p_ids = [t for t in instance.pass_to_pass if is_test_id(t, runner)]
    ignored = [t for t in instance.fail_to_pass + instance.pass_to_pass if not is_test_id(t, runner)]
    f2p, p2p = count(f2p_ids, statuses), count(p2p_ids, statuses)
    return verdict(f2p, p2p), f2p, p2p, ignored


def apply_patch(workspace: Path, patch: str, base: str, scratch: Path, log: list[str]) -> str | None:
    """Apply `patch` with the first method that works; the method's name, or None (workspace reset)."""
    path = scratch / "model.patch"
    path.write_text(patch, encoding="utf-8")
    methods = (
        ("git apply", ["git", "apply", "--verbose", "--whitespace=nowarn", str(path)]),
        ("git apply --3way", ["git", "apply", "--verbose", "--3way", "--whitespace=nowarn", str(path)]),
        ("patch --fuzz", ["patch", "--batch", "--forward", "--fuzz=5", "-p1", "-i", str(path)]),
    )
    for name, cmd in methods:
        proc = subprocess.run(cmd, cwd=workspace, capture_output=True, check=False)
        log.append(
            f"$ {' '.join(cmd)}  -> {proc.returncode}\n{(proc.stdout + proc.stderr).decode(errors='replace')}"
        )
        if proc.returncode == 0:
            return name
        _undo(workspace, base, patch)
    return None


def _undo(workspace: Path, base: str, patch: str) -> None:
    """Back to the base after a failed attempt, new files of the patch included; build output stays."""
    reset_workspace(workspace, base)
    for rel in diff_files(patch):
        target = workspace / rel
        tracked = git("ls-files", "--error-unmatch", "--", rel, cwd=workspace, check=False).returncode == 0
        if not tracked and target.is_file():
            target.unlink()
    for leftover in workspace.rglob("*.rej"):
        leftover.unlink()
    for leftover in workspace.rglob("*.orig"):
        rel = str(leftover.relative_to(workspace))
        if git("ls-files", "--error-unmatch", "--", rel, cwd=workspace, check=False).returncode != 0:
            leftover.unlink()


def apply_test_patch(workspace: Path, instance: Instance, scratch: Path) -> str | None:
    """Test files back to the base (the model must not shape the tests), then the test patch: error text
    or None."""
    for rel in instance.test_files:
        exists = git("cat-file", "-e", f"{instance.base_commit}:{rel}", cwd=workspace, check=False)
        if exists.returncode == 0:
            git("checkout", instance.base_commit, "--", rel, cwd=workspace)
        elif (workspace / rel).is_file():
            (workspace / rel).unlink()
    path = scratch / "test.patch"
    path.write_text(instance.test_patch, encoding="utf-8")
    proc = git("apply", "--verbose", "--whitespace=nowarn", str(path), cwd=workspace, check=False)
    if proc.returncode != 0:
        return "the test patch does not apply: " + proc.stderr.decode(errors="replace").strip()[-800:]
    return None


def _record(instance: Instance, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "instance_id": instance.instance_id,
        "repo": instance.repo,
        "version": instance.version,
        "resolved": status == "resolved",
        "status": status,
        **extra,
    }


def grade(harness: Harness, instance: Instance, patch: str, log_dir: Path) -> dict[str, Any]:
    """Grade `patch` for `instance`; logs go to `log_dir`. Never raises for a per-instance problem."""
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    times: dict[str, float] = {}
    scratch = harness.scratch(instance, "grade")
    notes: list[str] = []
    try:
        try:
            workspace, env = harness.checkout(instance, scratch, times)
        except Exception as exc:  # no environment: nothing can be said about the patch
            return _record(instance, "error", error=f"{type(exc).__name__}: {exc}", seconds=times)
        method = "empty"
        if patch.strip():
            method = apply_patch(workspace, patch, instance.base_commit, scratch, notes)
            (log_dir / "patch.log").write_text("\n".join(notes), encoding="utf-8")
            if method is None:
                return _record(
                    instance,
                    "patch failed",
                    patch_applied=None,
                    seconds=times,
                    error="no method applied the patch; see patch.log",
                )
        problem = apply_test_patch(workspace, instance, scratch)
        if problem is not None:
            return _record(instance, "error", patch_applied=method, error=problem, seconds=times)
        spec = env.spec
        runner = spec.runner if spec else "pytest"
        run: TestRun = run_tests(
            instance,
            runner,
            env.python,
            workspace,
            scratch,
            harness.environ(env, scratch),
            harness.sandbox(workspace, scratch, env).prefix(),
            spec.test_args if spec else [],
            harness.config.test_timeout,
            log_dir / "test_output.txt",
        )
        times["tests"] = run.seconds
        status, f2p, p2p, ignored = judge(instance, runner, run.statuses)
        (log_dir / "statuses.json").write_text(json.dumps(run.statuses, indent=1), encoding="utf-8")
        status = "error" if run.error else status
        extra: dict[str, Any] = {"patch_applied": method, "f2p": f2p.to_dict(), "p2p": p2p.to_dict()}
        if ignored:
            extra["ignored_ids"] = ignored
        if run.error:
            extra["error"] = run.error
        if spec is not None and spec.network_tests:
            extra["warning"] = "this repository's tests need the network, which the sandbox cuts"
        return _record(instance, status, seconds=times, **extra)
    finally:  # `times` is the record's "seconds" dict: the total lands in whichever record was returned
        times["total"] = round(time.monotonic() - started, 3)
        harness.cleanup(scratch)
