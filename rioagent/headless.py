"""`rioagent run`: one task, no UI. Settings -> model -> Agent -> events to a printer and the session log.

The agent, the model factory and everything heavy are imported inside the functions, so the CLI starts fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rioagent.config import ConfigError, Settings, load_settings, state_dir
from rioagent.events import ApprovalRequested, Event, Finished, SessionStarted
from rioagent.models.base import ModelError, ModelNotFound, ModelUnreachable
from rioagent.output import make_printer
from rioagent.session import SessionError, SessionLog, load_events, new_session_id, resolve_id

EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(Exception):
    """The command line asks for something impossible (a missing folder, a bad batch file): exit 2."""


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, ModelUnreachable):
        return EXIT_UNREACHABLE
    if isinstance(exc, ConfigError | ModelNotFound | SessionError | UsageError):
        return EXIT_USAGE
    return EXIT_FAILED


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ConfigError):
        return f"{exc} (fix that setting, or override it with a flag)"
    return str(exc) or type(exc).__name__


def print_error(message: str, err: IO[str] | None = None) -> None:
    print(f"rioagent: error: {message}", file=err or sys.stderr, flush=True)


def resolve_workspace(repo: str | None) -> Path:
    path = Path(repo).expanduser() if repo else Path.cwd()
    if not path.exists():
        raise UsageError(f"--repo {repo}: no such folder; give the path of an existing repository")
    if not path.is_dir():
        raise UsageError(f"--repo {repo}: not a folder; give the repository's folder, not a file")
    return path.resolve()


class HeadlessApprover:
    """Answers approval requests without a UI: asks y/N on stderr when a person is at the terminal,
    otherwise denies with a note the model can read."""

    def __init__(self, interactive: bool | None = None, err: IO[str] | None = None):
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        self.err = err or sys.stderr
        self._lock = asyncio.Lock()  # concurrent batch runs must not ask at once

    async def __call__(self, request: ApprovalRequested) -> Any:
        from rioagent.approval import HEADLESS_NOTE, ApprovalDecision

        if not self.interactive:
            return ApprovalDecision(False, note=HEADLESS_NOTE)
        async with self._lock:
            self.err.write(
                f"\n{request.name} needs approval: {request.reason}\n{request.preview}\nAllow? [y/N] "
            )
            self.err.flush()
            answer = await asyncio.to_thread(sys.stdin.readline)
        allowed = answer.strip().lower() in ("y", "yes")
        return ApprovalDecision(allowed, note="" if allowed else "denied by the user")


class Interrupts:
    """Ctrl-C: the first asks every running agent to stop (they still write their result);
    the second cancels outright."""

    def __init__(self, err: IO[str] | None = None):
        self.agents: set[Any] = set()
        self.count = 0
        self.err = err or sys.stderr
        self._task: asyncio.Task[Any] | None = None

    def install(self) -> None:
        self._task = asyncio.current_task()
        # Not available off the main thread or on some platforms: Ctrl-C then raises KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self.fire)

    def uninstall(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)

    def fire(self) -> None:
        self.count += 1
        if self.count == 1 and self.agents:
            print("\nrioagent: interrupting (Ctrl-C again to stop at once)", file=self.err, flush=True)
            for agent in list(self.agents):
                agent.interrupt()
        elif self._task is not None:
            self._task.cancel()


@dataclass
class RunResult:
    finished: Finished
    error: BaseException | None = None  # what stopped the run, when something did
    interrupted: bool = False  # Ctrl-C, as opposed to a limit

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.finished.status == "done":
            return EXIT_DONE
        if isinstance(self.error, ModelUnreachable | ModelNotFound):
            return exit_code_for(self.error)
        return EXIT_FAILED


def failed_result(session_id: str, status: str, reason: str, seconds: float = 0.0) -> Finished:
    return Finished(
        status=status,
        reason=reason,
        summary="",
        patch="",
        steps=0,
        usage={},
        seconds=seconds,
        session_id=session_id,
    )


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value


async def run_task(
    task: str,
    workspace: Path,
    settings: Settings,
    *,
    on_event: Callable[[Event], None],
    session_id: str | None = None,
    history: list[Event] | None = None,
    approver: Any = None,
    interrupts: Interrupts | None = None,
    err: IO[str] | None = None,
) -> RunResult:
    """Run one task to its end. Model errors at startup raise (nothing has run yet); anything after that
    ends in a Finished event, which is logged, printed and returned."""
    from rioagent.agent import Agent
    from rioagent.models.factory import create_model

    err = err or sys.stderr
    sid = session_id or new_session_id()
    model = await create_model(settings.model_profile(), think=settings.think)
    agent = None
    log: SessionLog | None = None
    finished: Finished | None = None
    error: BaseException | None = None
    try:
        banner = getattr(model, "banner", None)
        if banner:
            print(banner, file=err, flush=True)
        agent = Agent(
            model,
            settings,
            workspace,
            session_id=sid,
            approver=approver,
            history=history,
            artifacts_dir=state_dir() / "artifacts" / sid,
        )
        if interrupts is not None:
            interrupts.agents.add(agent)
        log = SessionLog(sid)

        def emit(event: Event) -> None:
            if isinstance(event, SessionStarted) and history:
                event.resumed = True
            if isinstance(event, Finished) and not event.session_id:
                event.session_id = sid
            log.append(event)
            on_event(event)

        try:
            async for event in agent.run(task):
                emit(event)
                if isinstance(event, Finished):
                    finished = event
        except asyncio.CancelledError:
            finished = failed_result(sid, "interrupted", "stopped by a second Ctrl-C")
            emit(finished)
            raise
        except Exception as exc:  # a bug in the loop: still end the stream with a result
            error = exc
            finished = failed_result(sid, "error", f"{type(exc).__name__}: {exc}")
            emit(finished)
        if finished is None:
            finished = failed_result(sid, "error", "the agent stopped without a result")
            emit(finished)
        error = error or getattr(agent, "last_error", None)
    finally:
        if interrupts is not None and agent is not None:
            interrupts.agents.discard(agent)
        try:
            if agent is not None:
                await _maybe_await(agent.close())
        finally:
            await model.aclose()
            if log is not None:
                log.close()
    interrupted = bool(interrupts and interrupts.count and finished.status == "interrupted")
    return RunResult(finished, error, interrupted)


@dataclass
class RunOptions:
    task: str
    repo: str | None = None
    output_format: str = "text"
    flags: dict[str, Any] = field(default_factory=dict)
    resume: str | None = None


def load_resume(prefix: str) -> tuple[str, list[Event], str | None]:
    """A session to continue (headless --resume, the TUI's --resume and /resume): its full id, its logged
    events and the folder it ran in (None when the log does not say)."""
    session_id = resolve_id(prefix)
    history = load_events(session_id)
    started = next((e for e in history if isinstance(e, SessionStarted)), None)
    return session_id, history, started.workspace if started else None


def open_session(
    repo: str | None, resume: str | None, flags: dict[str, Any]
) -> tuple[str | None, list[Event] | None, Path, Settings]:
    """Where a run works and with what settings (`run` and the TUI): a resumed session's id and events,
    and the folder it ran in unless `repo` names another."""
    history: list[Event] | None = None
    session_id: str | None = None
    if resume:
        session_id, history, ran_in = load_resume(resume)
        repo = repo or ran_in  # a resumed session goes on where it ran
    workspace = resolve_workspace(repo)
    return session_id, history, workspace, load_settings(workspace, flags=flags)


async def _run_command(opts: RunOptions, out: IO[str], err: IO[str]) -> int:
    session_id, history, workspace, settings = open_session(opts.repo, opts.resume, opts.flags)
    printer = make_printer(opts.output_format, out)
    interrupts = Interrupts(err)
    interrupts.install()
    try:
        result = await run_task(
            opts.task,
            workspace,
            settings,
            on_event=printer.event,
            session_id=session_id,
            history=history,
            approver=HeadlessApprover(err=err),
            interrupts=interrupts,
            err=err,
        )
    except asyncio.CancelledError:
        return EXIT_INTERRUPTED
    finally:
        interrupts.uninstall()
    if result.error is not None and result.finished.status != "done":
        print_error(error_message(result.error), err)
    return result.exit_code


def run_command(opts: RunOptions, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """`rioagent run TASK`: the exit code (errors before the run are printed here too)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        return asyncio.run(_run_command(opts, out, err))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (ConfigError, ModelError, SessionError, UsageError) as exc:
        print_error(error_message(exc), err)
        return exit_code_for(exc)
