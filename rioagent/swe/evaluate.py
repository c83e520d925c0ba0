"""`rioagent eval swe` and `rioagent eval grade`: pick instances, skip the finished ones, hand the rest to an
executor, write each result down the moment it arrives, and summarise at the end.

Per-instance work happens in rioagent.swe.runner.run_job, in whatever process the executor chose; this
module only plans and records, so an interrupted run keeps everything that finished before the interrupt.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rioagent.swe.executors import make_executor
from rioagent.swe.harness import HarnessConfig
from rioagent.swe.instances import Instance
from rioagent.swe.outputs import REPORT_MD, GradeDir, RunDir, atomic_write, read_preds
from rioagent.swe.report import markdown_summary, summarize

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class EvalOptions:
    instances: list[Instance]
    out: Path
    harness: HarnessConfig
    executor: str = "local"
    workers: int = 1
    ray_address: str | None = None
    ray_init: dict[str, Any] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)  # the model and limits, as config keys
    model_name: str = ""  # model_name_or_path in preds.json when the agent reports none
    model_factory: str | None = None  # "module:function" building a Model per instance (tests)
    grade: bool = False  # eval swe: grade each prediction as soon as it exists


def _executor(opts: EvalOptions) -> Any:
    executor = make_executor(opts.executor, opts.workers, opts.ray_address)
    if opts.ray_init and hasattr(executor, "init_args"):
        executor.init_args.update(opts.ray_init)
    return executor


def _progress(err: IO[str], done: int, total: int, line: str) -> None:
    print(f"[{done}/{total}] {line}", file=err, flush=True)


def _agent_line(result: dict[str, Any]) -> str:
    tokens = result.get("tokens") or {}
    return (
        f"{result['instance_id']}: {result.get('status', '?')} ({result.get('exit_reason') or '-'}), "
        f"{result.get('steps', 0)} steps, {tokens.get('total', 0)} tokens, "
        f"{result.get('wall_seconds', 0):.0f}s"
    )


def _grade_line(report: dict[str, Any]) -> str:
    f2p, p2p = report.get("f2p") or {}, report.get("p2p") or {}
    counts = (
        f" F2P {f2p.get('passed', 0)}/{f2p.get('total', 0)}, P2P {p2p.get('passed', 0)}/{p2p.get('total', 0)}"
        if f2p or p2p
        else ""
    )
    error = str(report.get("error") or "").strip()
    why = f" ({error.splitlines()[0]})" if error and report["status"] == "error" else ""
    return f"{report['instance_id']}: {report['status']}{counts}{why}"


def _write_report(grades: GradeDir, instances: list[Instance], results: dict[str, Any] | None) -> None:
    ids = {i.instance_id for i in instances}
    summary = summarize({k: v for k, v in grades.grades().items() if k in ids}, results, total=len(instances))
    atomic_write(grades.root / REPORT_MD, markdown_summary(summary, title="SWE-bench grade"))


def run_swe(opts: EvalOptions, err: IO[str] | None = None) -> int:
    """The agent on every selected instance not finished by an earlier run into the same --out."""
    err = err or sys.stderr
    run_dir = RunDir(opts.out)
    run_dir.root.mkdir(parents=True, exist_ok=True)
    done_before = run_dir.finished()
    todo = [i for i in opts.instances if i.instance_id not in done_before]
    skipped = len(opts.instances) - len(todo)
    if skipped:
        print(f"rioagent: {skipped} instance(s) already finished in {opts.out}: skipped", file=err)
    jobs = [
        {
            "harness": opts.harness.to_dict(),
            "instance": inst.to_dict(),
            "out_dir": str(run_dir.root),
            "grade_dir": str(run_dir.root / "grades" / inst.instance_id),
            "flags": opts.flags,
            "agent": True,
            "grade": opts.grade,
            "model_factory": opts.model_factory,
        }
        for inst in todo
    ]
    from rioagent.swe.runner import run_job

    grades = GradeDir(run_dir.root)
    started, count, errors = time.monotonic(), 0, 0
    try:
        for outcome in _executor(opts).map(run_job, jobs):
            count += 1
            result = outcome["result"]
            run_dir.record(result, result.get("model") or opts.model_name)
            errors += result.get("status") == "error"
            line = _agent_line(result)
            if outcome.get("grade"):
                grades.record(outcome["grade"], result.get("patch") or "")
                line += f"; graded {outcome['grade']['status']}"
            _progress(err, count, len(jobs), line)
    except KeyboardInterrupt:
        print(
            f"\nrioagent: interrupted; {count} instance(s) of this run are saved in {opts.out}; "
            "run the same command again to do the rest",
            file=err,
        )
        return EXIT_INTERRUPTED
    finally:
        if opts.grade:
            _write_report(grades, opts.instances, run_dir.results())
    elapsed = time.monotonic() - started
    print(
        f"rioagent: {count} instance(s) in {elapsed:.0f}s ({errors} error(s)); predictions in "
        f"{run_dir.preds_path}",
        file=err,
    )
    return EXIT_OK if errors == 0 else EXIT_FAILED


def load_patches(preds: str, instances: list[Instance]) -> dict[str, str]:
    """The patch to grade per instance: `gold` (the instance's own fix), `empty`, or a predictions file.
    Instances the file has no prediction for get an empty patch (SWE-bench counts them unresolved)."""
    if preds == "gold":
        return {i.instance_id: i.patch for i in instances}
    if preds == "empty":
        return {i.instance_id: "" for i in instances}
    path = Path(preds).expanduser()
    if not path.is_file():
        raise ValueError(f"--preds {preds}: no such file; give a preds.json, or `gold` or `empty`")
    try:
        records = read_preds(path)
    except ValueError as exc:
        raise ValueError(f"--preds {preds}: {exc}") from None
    return {
        i.instance_id: str((records.get(i.instance_id) or {}).get("model_patch") or "") for i in instances
    }


def run_grade(opts: EvalOptions, patches: dict[str, str], err: IO[str] | None = None) -> int:
    """Grade `patches` (by instance id); reports and the summary go to opts.out. Exit 1 when the harness
    could not grade some instance (status "error"), 0 otherwise, whatever was resolved."""
    err = err or sys.stderr
    grades = GradeDir(opts.out)
    grades.root.mkdir(parents=True, exist_ok=True)
    done_before = grades.finished(patches)
    todo = [i for i in opts.instances if i.instance_id not in done_before]
    if len(todo) < len(opts.instances):
        print(
            f"rioagent: {len(opts.instances) - len(todo)} instance(s) already graded with the same patch "
            f"in {opts.out}: skipped",
            file=err,
        )
    jobs = [
        {
            "harness": opts.harness.to_dict(),
            "instance": inst.to_dict(),
            "out_dir": str(grades.root),
            "grade_dir": str(grades.instance_dir(inst.instance_id)),
            "agent": False,
            "grade": True,
            "patch": patches[inst.instance_id],
        }
        for inst in todo
    ]
    from rioagent.swe.runner import run_job

    count = 0
    results = RunDir(opts.out).results() or None
    try:
        for outcome in _executor(opts).map(run_job, jobs):
            count += 1
            report = outcome["grade"]
            grades.record(report, patches[report["instance_id"]])
            _progress(err, count, len(jobs), _grade_line(report))
    except KeyboardInterrupt:
        print(f"\nrioagent: interrupted; {count} report(s) saved in {opts.out}", file=err)
        return EXIT_INTERRUPTED
    finally:
        _write_report(grades, opts.instances, results)
    summary = summarize(
        {k: v for k, v in grades.grades().items() if k in patches}, results, total=len(opts.instances)
    )
    errors = summary["statuses"].get("error", 0)
    print(
        f"rioagent: resolved {summary['resolved']}/{summary['total']} ({summary['resolved_pct']:.1f}%)"
        + (f", {errors} error(s) (the harness could not grade them)" if errors else "")
        + f"; report in {grades.root / REPORT_MD}",
        file=err,
    )
    return EXIT_FAILED if errors else EXIT_OK
