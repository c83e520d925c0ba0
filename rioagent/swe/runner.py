"""One instance, start to end: workspace, environment, the agent headless in the sandbox, its patch, and
(optionally) the grade. `run_job` is what executors call, in whatever process or Ray worker they use.

The agent is driven directly (not through `rioagent run`) because the eval needs three things the plain
headless path does not give: the shell started inside the sandbox (ToolContext.shell_prefix), the
session log written into the run's own folder, and every per-instance failure turned into a result
record instead of an exit.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rioagent.swe.executors import failed_job
from rioagent.swe.grading import grade
from rioagent.swe.harness import Harness, HarnessConfig
from rioagent.swe.instances import Instance, instance_from_dict
from rioagent.swe.workspace import model_patch

ModelFactory = Callable[[Instance], Any]  # an instance -> a Model (tests pass a scripted one)


def task_text(instance: Instance, runner: str) -> str:
    from rioagent.prompts import render

    return render(
        "swe.j2",
        repo=instance.repo,
        version=instance.version,
        problem_statement=instance.problem_statement.strip(),
        runner=runner,
    )


def _tokens(usage: dict[str, int]) -> dict[str, int]:
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    thinking = usage.get("reasoning_tokens", 0)
    return {"prompt": prompt, "completion": completion, "thinking": thinking, "total": prompt + completion}


async def _drive_agent(
    instance: Instance,
    workspace: Path,
    scratch: Path,
    prefix: list[str],
    environ: dict[str, str],
    runner: str,
    flags: dict[str, Any],
    log_dir: Path,
    model_factory: ModelFactory | None,
) -> dict[str, Any]:
    """Run the agent on the instance; the result fields of results.jsonl that come from the agent."""
    from rioagent.agent import Agent
    from rioagent.config import load_settings
    from rioagent.events import Finished
    from rioagent.models.factory import create_model
    from rioagent.session import SessionLog

    settings = load_settings(workspace, flags={**flags, "approval": "auto"})
    if model_factory is not None:
        model = model_factory(instance)
    else:
        model = await create_model(settings.model_profile(), think=settings.think)
    log_path = log_dir / f"{instance.instance_id}.jsonl"
    log_path.unlink(missing_ok=True)  # a rerun of an instance that did not finish starts its log anew
    finished: Finished | None = None
    agent = Agent(
        model,
        settings,
        workspace,
        session_id=instance.instance_id,
        artifacts_dir=scratch / "artifacts",
        state_dir=scratch / "state",
    )
    agent.ctx.shell_prefix = prefix
    agent.ctx.env = environ
    try:
        with SessionLog(instance.instance_id, directory=log_dir) as log:
            async for event in agent.run(task_text(instance, runner)):
                log.append(event)
                if isinstance(event, Finished):
                    finished = event
    finally:
        try:
            agent.close()
        finally:
            await model.aclose()
    assert finished is not None  # Agent.run always ends with Finished
    return {
        "model": getattr(model, "name", ""),
        "status": finished.status,
        "exit_reason": finished.reason or ("finish called" if finished.status == "done" else ""),
        "summary": finished.summary,
        "steps": finished.steps,
        "tokens": _tokens(finished.usage),
        "thinking": dict(getattr(finished, "thinking", {}) or {}),
        "agent_seconds": finished.seconds,
        "log": str(log_path),
    }


def _sandbox_env(harness: Harness, env: Any, scratch: Path) -> dict[str, str]:
    """What the agent's shell adds to its environment: the test environment's variables and PATH."""
    environ = harness.environ(env, scratch)
    keys = ("PATH", "HOME", "TMPDIR", "PIP_NO_INDEX", "PYTHONDONTWRITEBYTECODE", *env.variables)
    return {k: environ[k] for k in keys if k in environ}


async def run_instance(
    harness: Harness,
    instance: Instance,
    out_dir: Path,
    flags: dict[str, Any],
    model_factory: ModelFactory | None = None,
) -> dict[str, Any]:
    """results.jsonl's record for one instance (its `patch` included). Never raises for the instance's
    own problems: a workspace, environment or model failure is an `error` record."""
    started = time.monotonic()
    record: dict[str, Any] = {"instance_id": instance.instance_id, "repo": instance.repo, "patch": ""}
    record["worker"] = {"host": socket.gethostname(), "pid": os.getpid()}  # where it ran (Ray: which node)
    times: dict[str, float] = {}
    scratch = harness.scratch(instance, "agent")
    try:
        workspace, env = harness.checkout(instance, scratch, times)
        record["env_reused"] = env.reused
        runner = env.spec.runner if env.spec else "pytest"
        prefix = harness.sandbox(workspace, scratch, env).prefix()
        agent = await _drive_agent(
            instance, workspace, scratch, prefix, _sandbox_env(harness, env, scratch), runner, flags,
            out_dir / "logs", model_factory,
        )  # fmt: skip
        record.update(agent)
        t = time.monotonic()
        record["patch"] = model_patch(workspace, instance.base_commit, exclude=instance.test_files)
        times["diff"] = round(time.monotonic() - t, 3)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # this instance could not run; the others go on
        record.update(status="error", exit_reason=f"{type(exc).__name__}: {exc}")
    finally:
        harness.cleanup(scratch)
    record["harness_seconds"] = times
    record["wall_seconds"] = round(time.monotonic() - started, 3)
    return record


def load_model_factory(spec: str | None) -> ModelFactory | None:
    """ "package.module:function" -> the function (it gets the Instance and returns a Model). Named by an
    import path so that it reaches pool processes and Ray workers, which import it themselves."""
    if not spec:
        return None
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"model factory {spec!r}: expected package.module:function")
    return getattr(importlib.import_module(module), name)


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Executors' entry point: a JSON-able job in, {"instance_id", "result", "grade"} out. A harness bug
    becomes this instance's error record: one bad instance must not stop a pool of hundreds."""
    try:
        return _run_job(job)
    except Exception as exc:
        return failed_job(job, f"harness error: {type(exc).__name__}: {exc}")


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    harness = Harness(HarnessConfig.from_dict(job["harness"]))
    instance = instance_from_dict(job["instance"])
    out_dir = Path(job["out_dir"])
    grade_dir = Path(job.get("grade_dir") or out_dir / "grades" / instance.instance_id)
    if job.get("agent", True):
        factory = load_model_factory(job.get("model_factory"))
        result = asyncio.run(run_instance(harness, instance, out_dir, job.get("flags", {}), factory))
        patch = result["patch"]
    else:
        result, patch = None, job.get("patch", "")
    graded = None
    if job.get("grade", False):
        if result is not None and not patch.strip():  # nothing to test: SWE-bench's "empty patch"
            graded = {"instance_id": instance.instance_id, "repo": instance.repo, "version": instance.version,
                      "resolved": False, "status": "unresolved", "patch_applied": "empty",
                      "note": "the agent left no patch; tests not run"}  # fmt: skip
        else:
            graded = grade(harness, instance, patch, grade_dir)
    return {"instance_id": instance.instance_id, "result": result, "grade": graded}
