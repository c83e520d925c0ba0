"""Where instances run: here (inline), a local process pool, or Ray tasks on a cluster.

Every executor takes a picklable function and JSON-able jobs and yields results as they complete, so the
caller writes each one down at once: an interrupted run keeps everything already finished.
Ctrl-C stops the executor: nothing new starts, running instances are stopped (their workers unwind and
close their sandboxes), and the caller sees KeyboardInterrupt after the last finished result.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator
from typing import Any

Job = dict[str, Any]
JobFn = Callable[[Job], dict[str, Any]]
EXECUTORS = ("local", "ray", "inline")


class ExecutorError(RuntimeError):
    """The executor cannot start (Ray missing, no cluster at the address); the message says what to do."""


def _worker_init() -> None:
    # Ctrl-C belongs to the parent, which decides what stops; SIGTERM (pool.terminate) unwinds the worker
    # through its finally blocks so that sandboxed shells are closed, not orphaned.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


class InlineExecutor:
    """One at a time in this process: for debugging and for tests that inject a model object."""

    name = "inline"

    def map(self, fn: JobFn, jobs: list[Job]) -> Iterator[dict[str, Any]]:
        for job in jobs:
            yield fn(job)


class LocalExecutor:
    """A pool of `workers` processes (spawned, so no thread or lock state is inherited)."""

    name = "local"

    def __init__(self, workers: int):
        self.workers = max(1, workers)

    def map(self, fn: JobFn, jobs: list[Job]) -> Iterator[dict[str, Any]]:
        if not jobs:
            return
        context = multiprocessing.get_context("spawn")
        pool = context.Pool(min(self.workers, len(jobs)), initializer=_worker_init)
        try:
            yield from pool.imap_unordered(fn, jobs)
        except BaseException:
            pool.terminate()
            raise
        else:
            pool.close()
        finally:
            pool.join()


class RayExecutor:
    """Ray tasks, `workers` in flight at once (each asks for one CPU); on `address`'s cluster, or a local
    one started for the run. Every task builds its own workspace and environment on its node."""

    name = "ray"

    def __init__(self, workers: int, address: str | None = None, init_args: dict[str, Any] | None = None):
        self.workers = max(1, workers)
        self.address = address
        self.init_args = dict(init_args or {})

    def _init(self) -> Any:
        try:
            import ray
        except ModuleNotFoundError:
            raise ExecutorError("--executor ray needs Ray: pip install 'rioagent[eval]'") from None
        if not ray.is_initialized():
            args = {"include_dashboard": False, "log_to_driver": False, **self.init_args}
            try:
                ray.init(address=self.address, **args)
            except (ConnectionError, RuntimeError) as exc:
                where = f"at {self.address}" if self.address else "locally"
                raise ExecutorError(f"could not start or reach a Ray cluster {where}: {exc}") from None
        return ray

    def map(self, fn: JobFn, jobs: list[Job]) -> Iterator[dict[str, Any]]:
        if not jobs:
            return
        ray = self._init()
        remote = ray.remote(num_cpus=1, max_retries=0)(fn)
        queue = list(jobs)
        pending: dict[Any, Job] = {}
        try:
            while queue or pending:
                while queue and len(pending) < self.workers:
                    job = queue.pop(0)
                    pending[remote.remote(job)] = job
                done, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(done[0])
                try:
                    yield ray.get(done[0])
                except ray.exceptions.RayError as exc:  # the worker died (OOM, node lost): that job only
                    yield failed_job(job, f"the Ray task failed: {type(exc).__name__}: {exc}")
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise


def failed_job(job: Job, error: str) -> dict[str, Any]:
    """The record of a job whose worker died before it could write one."""
    iid = job.get("instance", {}).get("instance_id", "?")
    result = {"instance_id": iid, "status": "error", "exit_reason": error, "patch": ""}
    graded = {"instance_id": iid, "resolved": False, "status": "error", "error": error}
    return {
        "instance_id": iid,
        "result": result if job.get("agent", True) else None,
        "grade": graded if job.get("grade") else None,
    }


def make_executor(kind: str, workers: int, ray_address: str | None = None) -> Any:
    if kind == "inline":
        return InlineExecutor()
    if kind == "ray":
        return RayExecutor(workers, ray_address)
    if kind == "local":
        return LocalExecutor(workers)
    raise ExecutorError(f"unknown executor {kind!r}; use one of {', '.join(EXECUTORS)}")
